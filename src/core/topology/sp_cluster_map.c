/*
 * sp_cluster_map.c — hash slots, and the cluster map read from CLUSTER
 * SHARDS / CLUSTER SLOTS (see sp_cluster_map.h). The reply is walked in
 * place, element by element, with no tree built (sp_resp_walk.c).
 */
#include "sp_cluster_map.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sp_array.h"
#include "sp_hash.h"
#include "sp_resp_walk.h"

#define SP_CLUSTER_DEPTH 16

uint16_t
sp_cluster_slot(const uint8_t *key, size_t len)
{
    const uint8_t *open = memchr(key, '{', len);

    if (open != NULL) {
        size_t from = (size_t)(open - key) + 1;
        const uint8_t *close = memchr(key + from, '}', len - from);

        if (close != NULL && close > key + from) {
            key += from;
            len = (size_t)(close - key);
        }
    }
    /* the low 16 bits of nutcracker's crc16 are CRC-16/XMODEM's */
    return (uint16_t)(sp_hash_crc16(key, len) & (SP_CLUSTER_SLOTS - 1));
}

/* ---- a reply's length ------------------------------------------------------ */

long
sp_cluster_reply_len(const char *buf, size_t len)
{
    struct sp_resp_walk w = { .buf = buf, .len = len, .depth_max = SP_CLUSTER_DEPTH };
    int rc = sp_resp_walk_skip(&w, 0);

    return rc == 1 ? (long)w.pos : rc;
}

static bool
sp_elem_is(const struct sp_resp_elem *e, const char *s)
{
    size_t n = strlen(s);

    return (e->type == '$' || e->type == '+') && e->len == n
           && strncasecmp(e->s, s, n) == 0;
}

static void
sp_elem_copy(const struct sp_resp_elem *e, char *dst, size_t cap)
{
    size_t n = 0;

    if (e->type == '$' || e->type == '+') {
        n = e->len < cap - 1 ? e->len : cap - 1;
        memcpy(dst, e->s, n);
    }
    dst[n] = '\0';
}

/* ---- the map ----------------------------------------------------------------- */

void
sp_cluster_map_init(struct sp_cluster_map *map)
{
    memset(map, 0, sizeof(*map));
    for (uint32_t s = 0; s < SP_CLUSTER_SLOTS; s++) {
        map->slots[s] = SP_CLUSTER_NO_NODE;
    }
}

void
sp_cluster_map_free(struct sp_cluster_map *map)
{
    free(map->nodes);
    map->nodes = NULL;
    map->nnodes = map->cap = 0;
}

int64_t
sp_cluster_map_find(const struct sp_cluster_map *map, const char *host,
                    uint16_t port)
{
    for (uint32_t i = 0; i < map->nnodes; i++) {
        if (map->nodes[i].port == port && strcmp(map->nodes[i].host, host) == 0) {
            return i;
        }
    }
    return -1;
}

uint32_t
sp_cluster_map_slots_of(const struct sp_cluster_map *map, uint32_t index)
{
    uint32_t n = 0;

    for (uint32_t s = 0; s < SP_CLUSTER_SLOTS; s++) {
        n += map->slots[s] == index;
    }
    return n;
}

static int
sp_map_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* The node host:port (added when new); its index, or -1 (no memory). */
static int64_t
sp_map_node(struct sp_cluster_map *map, const char *host, uint16_t port,
            const char *asked_host)
{
    int64_t at;

    if (host[0] == '\0' || strcmp(host, "?") == 0) {
        host = asked_host;
    }
    if ((at = sp_cluster_map_find(map, host, port)) >= 0) {
        return at;
    }
    if (map->nnodes >= SP_CLUSTER_NO_NODE
        || sp_array_grow((void **)&map->nodes, &map->cap, map->nnodes + 1,
                         sizeof(*map->nodes)) != 0) {
        return -1;
    }
    struct sp_cluster_node *node = &map->nodes[map->nnodes];
    memset(node, 0, sizeof(*node));
    snprintf(node->host, sizeof(node->host), "%s", host);
    node->port = port;
    node->primary_of = SP_CLUSTER_NO_NODE;
    return map->nnodes++;
}

static int
sp_map_assign(struct sp_cluster_map *map, int64_t from, int64_t to,
              uint32_t primary)
{
    if (from < 0 || to >= SP_CLUSTER_SLOTS || from > to) {
        return -1;
    }
    for (int64_t s = from; s <= to; s++) {
        if (map->slots[s] == SP_CLUSTER_NO_NODE) {
            map->nserved++;
        }
        map->slots[s] = (uint16_t)primary;
    }
    return 0;
}

/* CLUSTER SLOTS: [start, end, [ip, port, id, ...], replicas ...] each. */
static int
sp_map_parse_slots(struct sp_cluster_map *map, struct sp_resp_walk *w,
                   const char *asked, char *err, size_t errlen)
{
    struct sp_resp_elem top, range, e;

    if (sp_resp_walk_next(w, &top) != 1 || top.type != '*') {
        return sp_map_fail(err, errlen, "CLUSTER SLOTS: not an array");
    }
    for (int64_t r = 0; r < top.n; r++) {
        struct sp_resp_elem from, to;
        uint32_t primary = SP_CLUSTER_NO_NODE;

        if (sp_resp_walk_next(w, &range) != 1 || range.type != '*' || range.n < 3
            || sp_resp_walk_next(w, &from) != 1 || from.type != ':'
            || sp_resp_walk_next(w, &to) != 1 || to.type != ':') {
            return sp_map_fail(err, errlen, "CLUSTER SLOTS: range %lld is "
                               "not [start, end, node ...]", (long long)r);
        }
        for (int64_t k = 2; k < range.n; k++) {
            struct sp_resp_elem ip, port;
            char host[SP_CLUSTER_HOST];

            if (sp_resp_walk_next(w, &e) != 1 || e.type != '*' || e.n < 2
                || sp_resp_walk_next(w, &ip) != 1
                || sp_resp_walk_next(w, &port) != 1 || port.type != ':'
                || port.n <= 0 || port.n > 65535) {
                return sp_map_fail(err, errlen, "CLUSTER SLOTS: range %lld: "
                                   "a node is not [ip, port, ...]",
                                   (long long)r);
            }
            sp_elem_copy(&ip, host, sizeof(host));
            int64_t idx = sp_map_node(map, host, (uint16_t)port.n, asked);
            if (idx < 0) {
                return sp_map_fail(err, errlen, "out of memory");
            }
            struct sp_cluster_node *node = &map->nodes[idx];
            if (e.n >= 3) {
                struct sp_resp_elem id;
                if (sp_resp_walk_next(w, &id) != 1) {
                    return sp_map_fail(err, errlen, "CLUSTER SLOTS: bad id");
                }
                sp_elem_copy(&id, node->id, sizeof(node->id));
            }
            for (int64_t x = 3; x < e.n; x++) {
                if (sp_resp_walk_skip(w, 0) != 1) {
                    return sp_map_fail(err, errlen, "CLUSTER SLOTS: bad node");
                }
            }
            if (k == 2) {
                primary = (uint32_t)idx;
                node->primary = true;
                node->primary_of = SP_CLUSTER_NO_NODE;
            } else if (!node->primary) {
                node->primary_of = primary;
            }
        }
        if (sp_map_assign(map, from.n, to.n, primary) != 0) {
            return sp_map_fail(err, errlen, "CLUSTER SLOTS: range %lld-%lld "
                               "is out of 0-16383", (long long)from.n,
                               (long long)to.n);
        }
    }
    return 0;
}

/* One node of a shard (a flat map): its index, or -1; *primary set when
 * its role is master. */
static int64_t
sp_map_shard_node(struct sp_cluster_map *map, struct sp_resp_walk *w,
                  const char *asked, bool *primary, bool *failed)
{
    struct sp_resp_elem m, k, v;
    char host[SP_CLUSTER_HOST] = "", endpoint[SP_CLUSTER_HOST] = "";
    char id[SP_CLUSTER_ID] = "";
    int64_t port = 0;

    *primary = false;
    *failed = false;
    if (sp_resp_walk_next(w, &m) != 1 || m.type != '*' || m.n % 2 != 0) {
        return -1;
    }
    for (int64_t i = 0; i < m.n / 2; i++) {
        if (sp_resp_walk_next(w, &k) != 1) {
            return -1;
        }
        if (sp_elem_is(&k, "ip") || sp_elem_is(&k, "endpoint")
            || sp_elem_is(&k, "id") || sp_elem_is(&k, "port")
            || sp_elem_is(&k, "role") || sp_elem_is(&k, "health")) {
            if (sp_resp_walk_next(w, &v) != 1) {
                return -1;
            }
            if (sp_elem_is(&k, "ip")) {
                sp_elem_copy(&v, host, sizeof(host));
            } else if (sp_elem_is(&k, "endpoint")) {
                sp_elem_copy(&v, endpoint, sizeof(endpoint));
            } else if (sp_elem_is(&k, "id")) {
                sp_elem_copy(&v, id, sizeof(id));
            } else if (sp_elem_is(&k, "port")) {
                port = v.type == ':' ? v.n : 0;
            } else if (sp_elem_is(&k, "role")) {
                *primary = sp_elem_is(&v, "master");
            } else {
                *failed = !sp_elem_is(&v, "online");
            }
            if (v.type == '*') {
                for (int64_t x = 0; x < v.n; x++) {
                    if (sp_resp_walk_skip(w, 1) != 1) {
                        return -1;
                    }
                }
            }
        } else if (sp_resp_walk_skip(w, 0) != 1) {
            return -1;
        }
    }
    if (port <= 0 || port > 65535) {
        return -1;
    }
    int64_t idx = sp_map_node(map, host[0] != '\0' ? host : endpoint,
                              (uint16_t)port, asked);
    if (idx >= 0) {
        memcpy(map->nodes[idx].id, id, sizeof(id));
        map->nodes[idx].failed = *failed;
    }
    return idx;
}

/* CLUSTER SHARDS: per shard a flat map with "slots" and "nodes". */
static int
sp_map_parse_shards(struct sp_cluster_map *map, struct sp_resp_walk *w,
                    const char *asked, char *err, size_t errlen)
{
    struct sp_resp_elem top, shard, k, v;
    int64_t *ranges = NULL;
    uint32_t ranges_cap = 0;
    int rc = -1;

    if (sp_resp_walk_next(w, &top) != 1 || top.type != '*') {
        return sp_map_fail(err, errlen, "CLUSTER SHARDS: not an array");
    }
    for (int64_t s = 0; s < top.n; s++) {
        uint32_t nranges = 0;
        uint32_t primary = SP_CLUSTER_NO_NODE;
        uint32_t members[64];
        uint32_t nmembers = 0;

        if (sp_resp_walk_next(w, &shard) != 1 || shard.type != '*'
            || shard.n % 2 != 0) {
            sp_map_fail(err, errlen, "CLUSTER SHARDS: shard %lld is not a map",
                        (long long)s);
            goto out;
        }
        for (int64_t f = 0; f < shard.n / 2; f++) {
            if (sp_resp_walk_next(w, &k) != 1) {
                goto bad;
            }
            if (sp_elem_is(&k, "slots")) {
                if (sp_resp_walk_next(w, &v) != 1 || v.type != '*' || v.n % 2 != 0
                    || sp_array_grow((void **)&ranges, &ranges_cap,
                                     (uint32_t)v.n, sizeof(*ranges)) != 0) {
                    goto bad;
                }
                for (int64_t i = 0; i < v.n; i++) {
                    struct sp_resp_elem num;
                    if (sp_resp_walk_next(w, &num) != 1 || num.type != ':') {
                        goto bad;
                    }
                    ranges[nranges++] = num.n;
                }
            } else if (sp_elem_is(&k, "nodes")) {
                if (sp_resp_walk_next(w, &v) != 1 || v.type != '*') {
                    goto bad;
                }
                for (int64_t i = 0; i < v.n; i++) {
                    bool is_primary, failed;
                    int64_t idx = sp_map_shard_node(map, w, asked,
                                                    &is_primary, &failed);
                    if (idx < 0) {
                        goto bad;
                    }
                    map->nodes[idx].primary = is_primary;
                    if (is_primary && (primary == SP_CLUSTER_NO_NODE
                                       || map->nodes[primary].failed)) {
                        primary = (uint32_t)idx;
                    }
                    if (nmembers < sizeof(members) / sizeof(members[0])) {
                        members[nmembers++] = (uint32_t)idx;
                    }
                }
            } else if (sp_resp_walk_skip(w, 0) != 1) {
                goto bad;
            }
        }
        for (uint32_t i = 0; i < nmembers; i++) {
            struct sp_cluster_node *node = &map->nodes[members[i]];
            node->primary_of = members[i] == primary ? SP_CLUSTER_NO_NODE
                                                     : primary;
            if (members[i] != primary) {
                node->primary = false;
            }
        }
        for (uint32_t i = 0; i + 1 < nranges; i += 2) {
            if (primary != SP_CLUSTER_NO_NODE
                && sp_map_assign(map, ranges[i], ranges[i + 1], primary) != 0) {
                sp_map_fail(err, errlen, "CLUSTER SHARDS: range %lld-%lld is "
                            "out of 0-16383", (long long)ranges[i],
                            (long long)ranges[i + 1]);
                goto out;
            }
        }
    }
    rc = 0;
    goto out;
bad:
    sp_map_fail(err, errlen, "CLUSTER SHARDS: a shard is not {slots, nodes}");
out:
    free(ranges);
    return rc;
}

int
sp_cluster_map_parse(struct sp_cluster_map *map, bool shards, const char *buf,
                     size_t len, const char *asked_host, char *err,
                     size_t errlen)
{
    struct sp_resp_walk w = { .buf = buf, .len = len, .depth_max = SP_CLUSTER_DEPTH };
    int rc;

    map->nnodes = 0;
    map->nserved = 0;
    for (uint32_t s = 0; s < SP_CLUSTER_SLOTS; s++) {
        map->slots[s] = SP_CLUSTER_NO_NODE;
    }
    if (len > 0 && buf[0] == '-') {
        return sp_map_fail(err, errlen, "%.*s", (int)(len > 3 ? len - 3 : 0),
                           buf + 1);
    }
    rc = shards ? sp_map_parse_shards(map, &w, asked_host, err, errlen)
                : sp_map_parse_slots(map, &w, asked_host, err, errlen);
    if (rc == 0 && w.pos != len) {
        return sp_map_fail(err, errlen, "bytes after the reply");
    }
    return rc;
}
