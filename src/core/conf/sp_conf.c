/*
 * sp_conf.c — YAML -> struct sp_conf (see sp_conf.h).
 *
 * libyaml loads the whole document with positions; we walk it once. Each
 * mapping (a pool, `global:`) is read through a table of keys: a key is one
 * row naming its setter and its field, so a new key is one row. Setters see
 * the value node and write the field or fail with a message; the walker adds
 * the file, line, column and pool. The key tables and setters live in
 * sp_conf_keys.c, the rules that span keys and pools in sp_conf_check.c.
 * Every field starts at its default, so a key not given keeps it.
 */
#include "sp_conf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "sp_conf_int.h"
#include "sp_conf_value.h"
#include "sp_tls.h"

/* ---- messages ---------------------------------------------------------- */

int
sp_conf_fail(struct sp_conf_loader *ld, const yaml_node_t *node,
             const char *fmt, ...)
{
    va_list ap;
    int n = 0;

    if (node != NULL) {
        n = snprintf(ld->err, ld->errlen, "%s:%zu:%zu: ", ld->path,
                     node->start_mark.line + 1, node->start_mark.column + 1);
    } else {
        n = snprintf(ld->err, ld->errlen, "%s: ", ld->path);
    }
    if (n > 0 && (size_t)n < ld->errlen && ld->section != NULL) {
        n += snprintf(ld->err + n, ld->errlen - (size_t)n, "%s: ",
                      ld->section);
    }
    if (n > 0 && (size_t)n < ld->errlen) {
        va_start(ap, fmt);
        vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    /* one line, whatever the file's names and values hold */
    for (char *c = ld->err; *c != '\0'; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            *c = ' ';
        }
    }
    return -1;
}

const char *
sp_conf_node_kind(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_SCALAR_NODE:
        return "a single value";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "nothing";
    }
}

/* ---- walking ----------------------------------------------------------- */

yaml_node_t *
sp_conf_node(struct sp_conf_loader *ld, int id)
{
    return yaml_document_get_node(&ld->doc, id);
}

static const char *
sp_conf_key_text(const yaml_node_t *node)
{
    return node->type == YAML_SCALAR_NODE
           ? (const char *)node->data.scalar.value : NULL;
}

yaml_node_pair_t *
sp_conf_mapping_pair(struct sp_conf_loader *ld, yaml_node_t *map,
                     const char *name)
{
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++) {
        const char *text = sp_conf_key_text(sp_conf_node(ld, pair->key));
        if (text != NULL && strcmp(text, name) == 0) {
            return pair;
        }
    }
    return NULL;
}

yaml_node_t *
sp_conf_mapping_get(struct sp_conf_loader *ld, yaml_node_t *map,
                    const char *name)
{
    yaml_node_pair_t *pair = sp_conf_mapping_pair(ld, map, name);

    return pair != NULL ? sp_conf_node(ld, pair->value) : NULL;
}

/*
 * Read a mapping through a key table into `base` (the struct the offsets are
 * relative to; setters with offset 0 that need the whole struct get base).
 */
static int
sp_conf_read_section(struct sp_conf_loader *ld, yaml_node_t *map,
                     const struct sp_conf_key *keys, size_t nkeys, void *base)
{
    int seen_line[SP_CONF_MAX_KEYS] = { 0 };

    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++) {
        yaml_node_t *knode = sp_conf_node(ld, pair->key);
        yaml_node_t *vnode = sp_conf_node(ld, pair->value);
        const char *name = sp_conf_key_text(knode);
        size_t k;

        if (name == NULL) {
            return sp_conf_fail(ld, knode, "a key must be a name, not %s",
                                sp_conf_node_kind(knode));
        }
        for (k = 0; k < nkeys; k++) {
            if (strcmp(keys[k].name, name) == 0) {
                break;
            }
        }
        if (k == nkeys) {
            return sp_conf_fail(ld, knode, "unknown key '%s'", name);
        }
        if (seen_line[k] != 0) {
            return sp_conf_fail(ld, knode, "%s is given twice (first on line "
                                "%d)", name, seen_line[k]);
        }
        seen_line[k] = (int)knode->start_mark.line + 1;
        if (keys[k].set(ld, &keys[k], vnode, (char *)base + keys[k].offset)
            != 0) {
            return -1;
        }
    }
    return 0;
}

/* nutcracker 0.5's defaults */
static void
sp_conf_pool_defaults(struct sp_conf_pool *pool)
{
    pool->hash = SP_CONF_DEFAULT_HASH;
    pool->distribution = SP_CONF_DEFAULT_DIST;
    pool->timeout = SP_CONF_DEFAULT_TIMEOUT;
    pool->backlog = SP_CONF_DEFAULT_BACKLOG;
    pool->client_connections = SP_CONF_DEFAULT_CLIENT_CONNECTIONS;
    pool->redis = false;
    pool->redis_db = SP_CONF_DEFAULT_REDIS_DB;
    pool->sentinel_refresh_interval = SP_CONF_DEFAULT_SENTINEL_REFRESH;
    pool->cluster_refresh_interval = SP_CONF_DEFAULT_CLUSTER_REFRESH;
    pool->cluster_max_redirects = SP_CONF_DEFAULT_CLUSTER_REDIRECTS;
    pool->cluster_max_nodes = SP_CONF_DEFAULT_CLUSTER_NODES;
    pool->read_from = SP_READ_PRIMARY;
    pool->preconnect = false;
    pool->auto_eject_hosts = false;
    pool->server_connections = SP_CONF_DEFAULT_SERVER_CONNECTIONS;
    pool->server_retry_timeout = SP_CONF_DEFAULT_SERVER_RETRY_TIMEOUT;
    pool->server_failure_limit = SP_CONF_DEFAULT_SERVER_FAILURE_LIMIT;
    pool->tcpkeepalive = false;
    pool->reuseport = false;
    pool->client_buffer_limit = SP_CONF_DEFAULT_CLIENT_BUFFER_LIMIT;
    pool->client_output_limit = SP_CONF_DEFAULT_CLIENT_OUTPUT_LIMIT;
    pool->client_high_watermark = SP_CONF_DEFAULT_CLIENT_HIGH_WATERMARK;
    pool->client_low_watermark = SP_CONF_DEFAULT_CLIENT_LOW_WATERMARK;
    pool->server_high_watermark = SP_CONF_DEFAULT_SERVER_HIGH_WATERMARK;
    pool->server_low_watermark = SP_CONF_DEFAULT_SERVER_LOW_WATERMARK;
    pool->tls_handshake_timeout = SP_CONF_DEFAULT_TLS_HANDSHAKE_TIMEOUT;
    pool->server_tls.verify = true;
    pool->client_timeout = 0;
    pool->blocking_connections = SP_CONF_DEFAULT_BLOCKING_CONNECTIONS;
}

static int
sp_conf_read_pool(struct sp_conf_loader *ld, yaml_node_t *knode,
                  yaml_node_t *vnode)
{
    struct sp_conf *conf = ld->conf;
    struct sp_conf_pool *pool;
    const char *name = (const char *)knode->data.scalar.value;
    char section[160];
    int rc;

    /* grown as pools are met: how many there are depends on how each
     * top-level entry reads (a pool, or a section holding pools) */
    if (conf->npools == ld->pools_cap) {
        uint32_t cap = ld->pools_cap == 0 ? 8 : ld->pools_cap * 2;
        struct sp_conf_pool *pools = realloc(conf->pools,
                                             cap * sizeof(*pools));
        if (pools == NULL) {
            return sp_conf_fail(ld, knode, "out of memory");
        }
        conf->pools = pools;
        ld->pools_cap = cap;
    }
    pool = &conf->pools[conf->npools];
    memset(pool, 0, sizeof(*pool));
    conf->npools++;     /* counted now so sp_conf_free releases it */
    pool->name = strdup(name);
    if (pool->name == NULL) {
        return sp_conf_fail(ld, knode, "out of memory");
    }
    pool->line = (int)knode->start_mark.line + 1;
    if (vnode->type != YAML_MAPPING_NODE) {
        return sp_conf_fail(ld, vnode, "pool '%s' must be a mapping of keys, "
                            "not %s", name, sp_conf_node_kind(vnode));
    }
    sp_conf_pool_defaults(pool);

    snprintf(section, sizeof(section), "pool '%s'", name);
    ld->section = section;
    rc = sp_conf_read_section(ld, vnode, sp_conf_pool_keys,
                              sp_conf_npool_keys, pool);
    if (rc == 0) {
        rc = sp_conf_check_pool(ld, pool, knode, vnode);
    }
    ld->section = NULL;
    return rc;
}

static int
sp_conf_read_global(struct sp_conf_loader *ld, yaml_node_t *vnode)
{
    int rc;

    ld->section = "global";
    rc = sp_conf_read_section(ld, vnode, sp_conf_global_keys,
                              sp_conf_nglobal_keys, &ld->conf->global);
    ld->section = NULL;
    return rc;
}

/* Is this top-level entry a section (global:, pools:) rather than a pool? */
static bool
sp_conf_is_section(struct sp_conf_loader *ld, const char *name,
                   yaml_node_t *vnode)
{
    if (vnode->type != YAML_MAPPING_NODE) {
        return false;
    }
    if (strcmp(name, "global") != 0 && strcmp(name, "pools") != 0) {
        return false;
    }
    return sp_conf_mapping_get(ld, vnode, "listen") == NULL;
}

static int
sp_conf_read_pools_of(struct sp_conf_loader *ld, yaml_node_t *map)
{
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++) {
        yaml_node_t *knode = sp_conf_node(ld, pair->key);
        yaml_node_t *vnode = sp_conf_node(ld, pair->value);

        if (sp_conf_key_text(knode) == NULL) {
            return sp_conf_fail(ld, knode, "a pool name must be a name, not "
                                "%s", sp_conf_node_kind(knode));
        }
        for (uint32_t i = 0; i < ld->conf->npools; i++) {
            if (strcmp(ld->conf->pools[i].name, sp_conf_key_text(knode)) == 0) {
                return sp_conf_fail(ld, knode, "pool '%s' is defined twice "
                                    "(first on line %d)",
                                    sp_conf_key_text(knode),
                                    ld->conf->pools[i].line);
            }
        }
        if (sp_conf_read_pool(ld, knode, vnode) != 0) {
            return -1;
        }
    }
    return 0;
}

static int
sp_conf_read_root(struct sp_conf_loader *ld)
{
    yaml_node_t *root = yaml_document_get_root_node(&ld->doc);
    bool seen_global = false, seen_pools = false;

    if (root == NULL) {
        return sp_conf_fail(ld, NULL, "no pools are defined (the file is "
                            "empty)");
    }
    if (root->type != YAML_MAPPING_NODE) {
        return sp_conf_fail(ld, root, "the top level must be a mapping of "
                            "pool names to pools, not %s",
                            sp_conf_node_kind(root));
    }

    for (yaml_node_pair_t *pair = root->data.mapping.pairs.start;
         pair < root->data.mapping.pairs.top; pair++) {
        yaml_node_t *knode = sp_conf_node(ld, pair->key);
        yaml_node_t *vnode = sp_conf_node(ld, pair->value);
        const char *name = sp_conf_key_text(knode);
        int rc;

        if (name == NULL) {
            return sp_conf_fail(ld, knode, "a pool name must be a name, not "
                                "%s", sp_conf_node_kind(knode));
        }
        if (!sp_conf_is_section(ld, name, vnode)) {
            yaml_node_pair_t one = *pair;
            yaml_node_t single;

            /* read this one entry as a mapping of one pool */
            single = *root;
            single.data.mapping.pairs.start = &one;
            single.data.mapping.pairs.top = &one + 1;
            rc = sp_conf_read_pools_of(ld, &single);
        } else if (strcmp(name, "global") == 0) {
            if (seen_global) {
                return sp_conf_fail(ld, knode, "global is given twice");
            }
            seen_global = true;
            rc = sp_conf_read_global(ld, vnode);
        } else {
            if (seen_pools) {
                return sp_conf_fail(ld, knode, "pools is given twice");
            }
            seen_pools = true;
            rc = sp_conf_read_pools_of(ld, vnode);
        }
        if (rc != 0) {
            return -1;
        }
    }
    if (ld->conf->npools == 0) {
        return sp_conf_fail(ld, root, "no pools are defined");
    }
    sp_conf_order(ld->conf);
    return 0;
}

static void
sp_conf_global_defaults(struct sp_conf_global *global)
{
    memset(global, 0, sizeof(*global));
    global->worker_processes = SP_CONF_WORKERS_AUTO;
    global->worker_memory_budget = SP_CONF_MEMORY_AUTO;
    global->affinity = SP_AFFINITY_AUTO;
    global->accept_mode = SP_ACCEPT_REUSEPORT;
    global->event_backend = SP_EVENT_BACKEND_EPOLL;
    global->worker_shutdown_timeout = SP_CONF_DEFAULT_SHUTDOWN_TIMEOUT;
    global->worker_watchdog = SP_CONF_DEFAULT_WATCHDOG;
    global->latency_histograms = true;
    global->hot_keys = true;
}

int
sp_conf_load_buffer(const char *path, const char *data, size_t len,
                    struct sp_conf **out, char *err, size_t errlen)
{
    struct sp_conf_loader ld;
    yaml_parser_t parser;
    int rc;

    memset(&ld, 0, sizeof(ld));
    ld.path = path;
    ld.err = err;
    ld.errlen = errlen;
    err[0] = '\0';

    ld.conf = calloc(1, sizeof(*ld.conf));
    if (ld.conf == NULL || (ld.conf->path = strdup(path)) == NULL) {
        free(ld.conf);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    sp_conf_global_defaults(&ld.conf->global);

    if (!yaml_parser_initialize(&parser)) {
        sp_conf_free(ld.conf);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &ld.doc)) {
        snprintf(err, errlen, "%s:%zu:%zu: YAML: %s%s%s", path,
                 parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                 parser.problem != NULL ? parser.problem : "malformed",
                 parser.context != NULL ? " " : "",
                 parser.context != NULL ? parser.context : "");
        yaml_parser_delete(&parser);
        sp_conf_free(ld.conf);
        return -1;
    }

    rc = sp_conf_read_root(&ld);
    yaml_document_delete(&ld.doc);
    yaml_parser_delete(&parser);
    if (rc != 0) {
        sp_conf_free(ld.conf);
        return -1;
    }
    *out = ld.conf;
    return 0;
}

int
sp_conf_load(const char *path, struct sp_conf **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    size_t len = 0, cap = 0;
    int rc;

    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        if (len == cap) {
            size_t ncap = cap == 0 ? 4096 : cap * 2;
            char *ndata = ncap <= (64u << 20) ? realloc(data, ncap) : NULL;
            if (ndata == NULL) {
                free(data);
                fclose(f);
                snprintf(err, errlen, "%s: too large or out of memory", path);
                return -1;
            }
            data = ndata;
            cap = ncap;
        }
        size_t n = fread(data + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            break;
        }
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        free(data);
        fclose(f);
        return -1;
    }
    fclose(f);
    rc = sp_conf_load_buffer(path, data, len, out, err, errlen);
    free(data);
    return rc;
}

static void
sp_conf_addr_free(struct sp_conf_addr *addr)
{
    free(addr->host);
}

void
sp_conf_free(struct sp_conf *conf)
{
    if (conf == NULL) {
        return;
    }
    for (uint32_t i = 0; i < conf->npools; i++) {
        struct sp_conf_pool *pool = &conf->pools[i];

        for (uint32_t s = 0; s < pool->nservers; s++) {
            free(pool->servers[s].pname);
            free(pool->servers[s].name);
            sp_conf_addr_free(&pool->servers[s].addr);
        }
        free(pool->servers);
        free(pool->name);
        free(pool->listen_pname);
        sp_conf_addr_free(&pool->listen);
        free(pool->redis_auth);
        free(pool->redis_auth_user);
        for (uint32_t k = 0; k < pool->nsentinels; k++) {
            sp_conf_addr_free(&pool->sentinels[k]);
        }
        free(pool->sentinels);
        free(pool->sentinel_auth);
        free(pool->sentinel_auth_user);
        sp_tls_conf_free(&pool->tls);
        sp_tls_conf_free(&pool->server_tls);
    }
    free(conf->pools);
    free(conf->global.cpus);
    free(conf->global.user);
    free(conf->global.group);
    free(conf->global.metrics_listen);
    sp_conf_addr_free(&conf->global.metrics_addr);
    free(conf->global.worker_stats_listen);
    sp_conf_addr_free(&conf->global.worker_stats_addr);
    free(conf->path);
    free(conf);
}

const struct sp_conf_pool *
sp_conf_pool_find(const struct sp_conf *conf, const char *name)
{
    for (uint32_t i = 0; i < conf->npools; i++) {
        if (strcmp(conf->pools[i].name, name) == 0) {
            return &conf->pools[i];
        }
    }
    return NULL;
}

void
sp_conf_addr_format(const struct sp_conf_addr *addr, char *buf, size_t len)
{
    if (addr->is_unix) {
        snprintf(buf, len, "%s", addr->host);
    } else if (strchr(addr->host, ':') != NULL) {
        snprintf(buf, len, "[%s]:%u", addr->host, (unsigned)addr->port);
    } else {
        snprintf(buf, len, "%s:%u", addr->host, (unsigned)addr->port);
    }
}
