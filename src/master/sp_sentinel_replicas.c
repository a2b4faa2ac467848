/*
 * sp_sentinel_replicas.c — SENTINEL REPLICAS answers (see
 * sp_sentinel_replicas.h): a small walk over RESP2 arrays of strings.
 */
#include "sp_sentinel_replicas.h"

#include <stdlib.h>
#include <string.h>

/* A cursor over the reply. */
struct sp_walk {
    const char *buf;
    size_t      len;
    size_t      pos;
};

/* The number on the line after a type byte ("*3\r\n"); -1: malformed. */
static int
sp_walk_number(struct sp_walk *w, char type, int64_t *out)
{
    int64_t n = 0;
    bool neg = false;
    size_t i;

    if (w->pos >= w->len || w->buf[w->pos] != type) {
        return -1;
    }
    i = w->pos + 1;
    if (i < w->len && w->buf[i] == '-') {
        neg = true;
        i++;
    }
    size_t digits = 0;
    while (i < w->len && w->buf[i] >= '0' && w->buf[i] <= '9') {
        if (++digits > 12) {
            return -1;
        }
        n = n * 10 + (w->buf[i] - '0');
        i++;
    }
    if (digits == 0 || i + 1 >= w->len || w->buf[i] != '\r'
        || w->buf[i + 1] != '\n') {
        return -1;
    }
    w->pos = i + 2;
    *out = neg ? -n : n;
    return 0;
}

/* One string element ('$' bulk, '+' simple, ':' integer as its digits). */
static int
sp_walk_string(struct sp_walk *w, const char **s, size_t *len)
{
    if (w->pos >= w->len) {
        return -1;
    }
    char type = w->buf[w->pos];
    if (type == '+' || type == ':') {
        const char *start = w->buf + w->pos + 1;
        const char *end = memchr(start, '\r', w->len - w->pos - 1);
        if (end == NULL || (size_t)(end - w->buf) + 1 >= w->len
            || end[1] != '\n') {
            return -1;
        }
        *s = start;
        *len = (size_t)(end - start);
        w->pos = (size_t)(end - w->buf) + 2;
        return 0;
    }
    int64_t n;
    if (sp_walk_number(w, '$', &n) != 0 || n < 0
        || (uint64_t)n + 2 > w->len - w->pos) {
        return -1;
    }
    *s = w->buf + w->pos;
    *len = (size_t)n;
    if (w->buf[w->pos + (size_t)n] != '\r'
        || w->buf[w->pos + (size_t)n + 1] != '\n') {
        return -1;
    }
    w->pos += (size_t)n + 2;
    return 0;
}

static bool
sp_is(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(s, word, len) == 0;
}

bool
sp_sentinel_replica_healthy(const char *flags, size_t flags_len,
                            const char *link, size_t link_len)
{
    size_t i = 0;

    if (!sp_is(link, link_len, "ok")) {
        return false;
    }
    while (i < flags_len) {
        size_t start = i;
        while (i < flags_len && flags[i] != ',') {
            i++;
        }
        const char *f = flags + start;
        size_t n = i - start;
        if (sp_is(f, n, "s_down") || sp_is(f, n, "o_down")
            || sp_is(f, n, "disconnected")) {
            return false;
        }
        i++;
    }
    return true;
}

uint16_t
sp_sentinel_port(const char *s, size_t len)
{
    unsigned port = 0;

    if (len == 0 || len > 5) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
        port = port * 10 + (unsigned)(s[i] - '0');
    }
    return port <= 65535 ? (uint16_t)port : 0;
}

static int
sp_hostport_cmp(const void *a, const void *b)
{
    const struct sp_hostport *x = a, *y = b;
    int c = strcmp(x->host, y->host);

    return c != 0 ? c : (int)x->port - (int)y->port;
}

int
sp_sentinel_replicas_parse(const char *buf, size_t len,
                           struct sp_hostport *out, uint32_t max,
                           uint32_t *listed)
{
    struct sp_walk w = { buf, len, 0 };
    int64_t nreplicas;
    uint32_t healthy = 0, kept = 0;

    if (listed != NULL) {
        *listed = 0;
    }
    if (sp_walk_number(&w, '*', &nreplicas) != 0 || nreplicas < 0) {
        return -1;
    }
    for (int64_t r = 0; r < nreplicas; r++) {
        int64_t nfields;
        const char *ip = NULL, *port = NULL, *flags = "", *link = "";
        size_t ip_len = 0, port_len = 0, flags_len = 0, link_len = 0;

        if (sp_walk_number(&w, '*', &nfields) != 0 || nfields < 0
            || nfields % 2 != 0) {
            return -1;
        }
        for (int64_t f = 0; f < nfields; f += 2) {
            const char *k, *v;
            size_t klen, vlen;

            if (sp_walk_string(&w, &k, &klen) != 0
                || sp_walk_string(&w, &v, &vlen) != 0) {
                return -1;
            }
            if (sp_is(k, klen, "ip")) {
                ip = v;
                ip_len = vlen;
            } else if (sp_is(k, klen, "port")) {
                port = v;
                port_len = vlen;
            } else if (sp_is(k, klen, "flags")) {
                flags = v;
                flags_len = vlen;
            } else if (sp_is(k, klen, "master-link-status")) {
                link = v;
                link_len = vlen;
            }
        }
        if (ip == NULL || port == NULL || ip_len == 0
            || ip_len >= SP_SHARED_HOST || sp_sentinel_port(port, port_len) == 0
            || !sp_sentinel_replica_healthy(flags, flags_len, link,
                                            link_len)) {
            continue;
        }
        healthy++;
        if (kept < max) {
            memcpy(out[kept].host, ip, ip_len);
            out[kept].host[ip_len] = '\0';
            out[kept].port = sp_sentinel_port(port, port_len);
            kept++;
        }
    }
    if (listed != NULL) {
        *listed = (uint32_t)nreplicas;
    }
    qsort(out, kept, sizeof(*out), sp_hostport_cmp);
    return (int)healthy;
}
