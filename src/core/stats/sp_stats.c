/*
 * sp_stats.c — the stats JSON writer and the per-field sum (see sp_stats.h).
 */
#include "sp_stats.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
sp_stats_buf_free(struct sp_stats_buf *buf)
{
    free(buf->data);
    memset(buf, 0, sizeof(*buf));
}

void
sp_stats_buf_printf(struct sp_stats_buf *buf, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (buf->failed) {
        return;
    }
    for (;;) {
        size_t room = buf->cap - buf->len;

        va_start(ap, fmt);
        n = vsnprintf(buf->data != NULL ? buf->data + buf->len : NULL, room,
                      fmt, ap);
        va_end(ap);
        if (n < 0) {
            buf->failed = 1;
            return;
        }
        if ((size_t)n < room) {
            buf->len += (size_t)n;
            return;
        }
        size_t cap = buf->cap == 0 ? 4096 : buf->cap * 2;
        while (cap - buf->len <= (size_t)n) {
            cap *= 2;
        }
        char *data = realloc(buf->data, cap);
        if (data == NULL) {
            buf->failed = 1;
            return;
        }
        buf->data = data;
        buf->cap = cap;
    }
}

/* A JSON string body: names come from the configuration, so escape them. */
void
sp_stats_buf_string(struct sp_stats_buf *buf, const char *s)
{
    sp_stats_buf_printf(buf, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            sp_stats_buf_printf(buf, "\\%c", *p);
        } else if (*p < 0x20) {
            sp_stats_buf_printf(buf, "\\u%04x", *p);
        } else {
            sp_stats_buf_printf(buf, "%c", *p);
        }
    }
    sp_stats_buf_printf(buf, "\"");
}

static void
sp_stats_server_json(struct sp_stats_buf *buf,
                     const struct sp_stats_server_view *server, bool own)
{
    const struct sp_stats_server *st = server->stats;
    const char *sep = "";

    sp_stats_buf_string(buf, server->name);
    sp_stats_buf_printf(buf, ": {");
#define SP_FIELD_JSON(name, kind, desc)                                      \
    sp_stats_buf_printf(buf, "%s\"" #name "\":%" PRId64, sep, st->name);          \
    sep = ", ";
    SP_STATS_SERVER_FIELDS(SP_FIELD_JSON)
    if (own) {
        SP_STATS_SERVER_OWN_FIELDS(SP_FIELD_JSON)
    }
#undef SP_FIELD_JSON
    if (server->extra != NULL) {
        sp_stats_buf_printf(buf, "%s", server->extra);
    }
    sp_stats_buf_printf(buf, "}");
}

static void
sp_stats_pool_json(struct sp_stats_buf *buf,
                   const struct sp_stats_pool_view *pool, bool own)
{
    const struct sp_stats_pool *st = pool->stats;
    const char *sep = "";

    sp_stats_buf_string(buf, pool->name);
    sp_stats_buf_printf(buf, ": {");
#define SP_FIELD_JSON(name, kind, desc)                                      \
    sp_stats_buf_printf(buf, "%s\"" #name "\":%" PRId64, sep, st->name);          \
    sep = ", ";
    SP_STATS_POOL_FIELDS(SP_FIELD_JSON)
    if (own) {
        SP_STATS_POOL_OWN_FIELDS(SP_FIELD_JSON)
    }
#undef SP_FIELD_JSON
    if (pool->extra != NULL) {
        sp_stats_buf_printf(buf, "%s", pool->extra);
    }
    for (uint32_t i = 0; i < pool->nservers; i++) {
        /* nutcracker: ", " before the first server, "," between servers */
        sp_stats_buf_printf(buf, i == 0 ? ", " : ",");
        sp_stats_server_json(buf, &pool->servers[i], own);
    }
    sp_stats_buf_printf(buf, "}");
}

int
sp_stats_json(struct sp_stats_buf *buf, const struct sp_stats_view *view)
{
    sp_stats_buf_printf(buf, "{\"service\":");
    sp_stats_buf_string(buf, view->service);
    sp_stats_buf_printf(buf, ", \"source\":");
    sp_stats_buf_string(buf, view->source);
    sp_stats_buf_printf(buf, ", \"version\":");
    sp_stats_buf_string(buf, view->version);
    sp_stats_buf_printf(buf, ", \"uptime\":%" PRId64 ", \"timestamp\":%" PRId64
                    ", \"total_connections\":%" PRId64
                    ", \"curr_connections\":%" PRId64,
                    view->uptime, view->timestamp, view->total_connections,
                    view->curr_connections);
    for (uint32_t i = 0; i < view->nextras; i++) {
        sp_stats_buf_printf(buf, ", ");
        sp_stats_buf_string(buf, view->extras[i].name);
        sp_stats_buf_printf(buf, ":%" PRId64, view->extras[i].value);
    }
    if (view->top_write != NULL) {
        view->top_write(buf, view->top_ctx);
    }
    for (uint32_t i = 0; i < view->npools; i++) {
        /* nutcracker: ", " before the first pool, "," between pools */
        sp_stats_buf_printf(buf, i == 0 ? ", " : ",");
        sp_stats_pool_json(buf, &view->pools[i], view->own_fields);
    }
    sp_stats_buf_printf(buf, "}");
    return buf->failed ? -1 : 0;
}

#define SP_SUM_COUNTER(a, b)    ((a) + (b))
#define SP_SUM_GAUGE(a, b)      ((a) + (b))
#define SP_SUM_TIMESTAMP(a, b)  ((a) > (b) ? (a) : (b))

void
sp_stats_pool_add(struct sp_stats_pool *dst, const struct sp_stats_pool *src)
{
#define SP_FIELD_ADD(name, kind, desc) \
    dst->name = SP_SUM_##kind(dst->name, src->name);
    SP_STATS_POOL_FIELDS(SP_FIELD_ADD)
    SP_STATS_POOL_OWN_FIELDS(SP_FIELD_ADD)
#undef SP_FIELD_ADD
    sp_hist_add(&dst->latency, &src->latency);
#define SP_FIELD_ADD(name, kind, desc) \
    dst->tls.name = SP_SUM_##kind(dst->tls.name, src->tls.name);
    SP_STATS_TLS_FIELDS(SP_FIELD_ADD)
#undef SP_FIELD_ADD
}

void
sp_stats_server_add(struct sp_stats_server *dst,
                    const struct sp_stats_server *src)
{
#define SP_FIELD_ADD(name, kind, desc) \
    dst->name = SP_SUM_##kind(dst->name, src->name);
    SP_STATS_SERVER_FIELDS(SP_FIELD_ADD)
    SP_STATS_SERVER_OWN_FIELDS(SP_FIELD_ADD)
#undef SP_FIELD_ADD
    sp_hist_add(&dst->rtt, &src->rtt);
}

#define SP_ZERO_COUNTER(x)      (void)(x)
#define SP_ZERO_GAUGE(x)        (x) = 0
#define SP_ZERO_TIMESTAMP(x)    (void)(x)

void
sp_stats_pool_zero_gauges(struct sp_stats_pool *st)
{
#define SP_FIELD_ZERO(name, kind, desc) SP_ZERO_##kind(st->name);
    SP_STATS_POOL_FIELDS(SP_FIELD_ZERO)
    SP_STATS_POOL_OWN_FIELDS(SP_FIELD_ZERO)
#undef SP_FIELD_ZERO
#define SP_FIELD_ZERO(name, kind, desc) SP_ZERO_##kind(st->tls.name);
    SP_STATS_TLS_FIELDS(SP_FIELD_ZERO)
#undef SP_FIELD_ZERO
}

void
sp_stats_server_zero_gauges(struct sp_stats_server *st)
{
#define SP_FIELD_ZERO(name, kind, desc) SP_ZERO_##kind(st->name);
    SP_STATS_SERVER_FIELDS(SP_FIELD_ZERO)
    SP_STATS_SERVER_OWN_FIELDS(SP_FIELD_ZERO)
#undef SP_FIELD_ZERO
}
