/*
 * sp_stats.h — stats counters of pools and servers, their sum over workers,
 * and the JSON object the stats port serves.
 *
 * Counters are plain integers in the worker's memory (no atomics: one
 * worker, one thread). The field lists come from sp_stats_fields.h, so a
 * field is one line there. The JSON is nutcracker 0.5's, byte for byte in
 * layout and field order:
 *
 *   {"service":"shardproxy", "source":"host", "version":"0.1.0",
 *    "uptime":12, "timestamp":1795219371, "total_connections":3,
 *    "curr_connections":3, "POOL": {"client_eof":0, ..., "SERVER": {...}},
 *    "POOL2": {...}}
 *
 * (one line, no newline inside; the stats port sends it followed by "\n",
 * as nutcracker does), so every exporter that reads nutcracker reads us. Extra fields go beside nutcracker's, never instead of them: with
 * own_fields, shardproxy's pool and server fields (sp_stats_fields.h)
 * follow nutcracker's in each object.
 */
#ifndef SP_STATS_H
#define SP_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sp_hist.h"
#include "sp_stats_fields.h"

#define SP_STATS_FIELD(name, kind, desc) int64_t name;
struct sp_stats_tls {
    SP_STATS_TLS_FIELDS(SP_STATS_FIELD)
};
struct sp_stats_pool {
    SP_STATS_POOL_FIELDS(SP_STATS_FIELD)
    SP_STATS_POOL_OWN_FIELDS(SP_STATS_FIELD)
    struct sp_hist latency;     /* request received -> reply written */
    struct sp_stats_tls tls;    /* written for TLS pools only */
};
struct sp_stats_server {
    SP_STATS_SERVER_FIELDS(SP_STATS_FIELD)
    SP_STATS_SERVER_OWN_FIELDS(SP_STATS_FIELD)
    struct sp_hist rtt;         /* request written -> reply read */
};
#undef SP_STATS_FIELD

/* What the JSON describes: read-only views of names and counters. */
struct sp_stats_server_view {
    const char                   *name;
    const struct sp_stats_server *stats;
    const char                   *extra;    /* ", \"k\":v..." after the fields */
};

struct sp_stats_pool_view {
    const char                        *name;
    const struct sp_stats_pool        *stats;
    const struct sp_stats_server_view *servers;
    uint32_t                           nservers;
    const char                        *extra;   /* ", \"k\":v..." before
                                                   the servers */
};

/* A shardproxy-only top-level number, written after nutcracker's fields. */
struct sp_stats_extra {
    const char *name;
    int64_t     value;
};

struct sp_stats_buf;

struct sp_stats_view {
    const char                      *service;       /* "shardproxy" */
    const char                      *source;        /* hostname */
    const char                      *version;
    int64_t                          uptime;        /* s */
    int64_t                          timestamp;     /* s since the epoch */
    int64_t                          total_connections;
    int64_t                          curr_connections;
    const struct sp_stats_pool_view *pools;
    uint32_t                         npools;
    const struct sp_stats_extra     *extras;        /* may be NULL */
    uint32_t                         nextras;
    /* more top-level fields (", \"k\":v..."), written after the extras */
    void (*top_write)(struct sp_stats_buf *buf, const void *ctx);
    const void                      *top_ctx;
    bool                             own_fields;    /* shardproxy's pool and
                                                       server fields after
                                                       nutcracker's */
};

/* A growable output buffer (the stats port is not a hot path). */
struct sp_stats_buf {
    char   *data;
    size_t  len;
    size_t  cap;
    int     failed;     /* out of memory: data holds what fit */
};

void sp_stats_buf_free(struct sp_stats_buf *buf);

/* Append to buf: formatted text; a JSON string (quoted, escaped). */
void sp_stats_buf_printf(struct sp_stats_buf *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sp_stats_buf_string(struct sp_stats_buf *buf, const char *s);

/* Append the JSON object of view to buf. Returns 0, or -1 on ENOMEM. */
int sp_stats_json(struct sp_stats_buf *buf, const struct sp_stats_view *view);

/*
 * dst += src, field by field: counters and gauges are summed, timestamps
 * (server_ejected_at) take the maximum — the master's sum over workers.
 */
void sp_stats_pool_add(struct sp_stats_pool *dst,
                       const struct sp_stats_pool *src);
void sp_stats_server_add(struct sp_stats_server *dst,
                         const struct sp_stats_server *src);

/* Zero the gauges (live connections, queues); counters and timestamps stay. */
void sp_stats_pool_zero_gauges(struct sp_stats_pool *st);
void sp_stats_server_zero_gauges(struct sp_stats_server *st);

#endif /* SP_STATS_H */
