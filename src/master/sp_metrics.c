/*
 * sp_metrics.c — the Prometheus text format (see sp_metrics.h).
 *
 * Names: shardproxy_<what>, counters end in _total, durations are in
 * seconds; every nutcracker field keeps its name inside ours
 * (server_eof -> shardproxy_server_eof_total{pool,server}).
 */
#include "sp_metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "sp_proto.h"
#include "sp_stats_fields.h"

/* A label value: backslash, quote and newline escaped. */
static void
sp_metrics_label(struct sp_stats_buf *out, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '\\': sp_stats_buf_printf(out, "\\\\"); break;
        case '"':  sp_stats_buf_printf(out, "\\\""); break;
        case '\n': sp_stats_buf_printf(out, "\\n"); break;
        default:   sp_stats_buf_printf(out, "%c", *s); break;
        }
    }
}

static void
sp_metrics_family(struct sp_stats_buf *out, const char *name, const char *type,
                  const char *help)
{
    sp_stats_buf_printf(out, "# HELP %s ", name);
    for (const char *p = help; *p != '\0'; p++) {
        sp_stats_buf_printf(out, *p == '\\' ? "\\\\" : *p == '\n' ? "\\n" : "%c",
                            *p);
    }
    sp_stats_buf_printf(out, "\n# TYPE %s %s\n", name, type);
}

static void
sp_metrics_pool_labels(struct sp_stats_buf *out, const char *pool,
                       const char *server)
{
    sp_stats_buf_printf(out, "{pool=\"");
    sp_metrics_label(out, pool);
    if (server != NULL) {
        sp_stats_buf_printf(out, "\",server=\"");
        sp_metrics_label(out, server);
    }
    sp_stats_buf_printf(out, "\"");
}

static void
sp_metrics_scalar(struct sp_stats_buf *out, const char *name, const char *type,
                  const char *help, double value)
{
    sp_metrics_family(out, name, type, help);
    sp_stats_buf_printf(out, "%s %.17g\n", name, value);
}

/* The histogram h (us) as seconds, under labels already open ("{...\""). */
static void
sp_metrics_hist(struct sp_stats_buf *out, const char *name, const char *pool,
                const char *server, const struct sp_hist *h)
{
    int64_t cum = 0;

    for (int i = 0; i < SP_HIST_BUCKETS; i++) {
        cum += h->buckets[i];
        sp_stats_buf_printf(out, "%s_bucket", name);
        sp_metrics_pool_labels(out, pool, server);
        if (i < SP_HIST_BOUNDS) {
            sp_stats_buf_printf(out, ",le=\"%g\"} %lld\n",
                                sp_hist_bounds_us[i] / 1e6, (long long)cum);
        } else {
            sp_stats_buf_printf(out, ",le=\"+Inf\"} %lld\n", (long long)cum);
        }
    }
    sp_stats_buf_printf(out, "%s_sum", name);
    sp_metrics_pool_labels(out, pool, server);
    sp_stats_buf_printf(out, "} %.6f\n%s_count", (double)h->sum_us / 1e6, name);
    sp_metrics_pool_labels(out, pool, server);
    sp_stats_buf_printf(out, "} %lld\n", (long long)cum);
}

#define SP_METRICS_TYPE_COUNTER   "counter"
#define SP_METRICS_TYPE_GAUGE     "gauge"
#define SP_METRICS_TYPE_TIMESTAMP "gauge"
#define SP_METRICS_SUFFIX_COUNTER   "_total"
#define SP_METRICS_SUFFIX_GAUGE     ""
#define SP_METRICS_SUFFIX_TIMESTAMP "_seconds"
#define SP_METRICS_SCALE_COUNTER    1.0
#define SP_METRICS_SCALE_GAUGE      1.0
#define SP_METRICS_SCALE_TIMESTAMP  1e-6

/* Server s of pool p (at across pools) by its name now; NULL: left out. */
static const char *
sp_metrics_server(const struct sp_metrics_input *in, uint32_t p, uint32_t s,
                  uint32_t at)
{
    const char *name = in->names != NULL ? in->names[at] : NULL;

    if (name == NULL) {
        return in->totals->conf->pools[p].servers[s].name;
    }
    return name[0] != '\0' ? name : NULL;
}

static void
sp_metrics_pools(struct sp_stats_buf *out, const struct sp_metrics_input *in)
{
    const struct sp_conf *conf = in->totals->conf;

#define SP_POOL_METRIC(field, kind, desc)                                     \
    sp_metrics_family(out, "shardproxy_pool_" #field                         \
                      SP_METRICS_SUFFIX_##kind, SP_METRICS_TYPE_##kind, desc); \
    for (uint32_t p = 0; p < conf->npools; p++) {                            \
        sp_stats_buf_printf(out, "shardproxy_pool_" #field                   \
                            SP_METRICS_SUFFIX_##kind);                       \
        sp_metrics_pool_labels(out, conf->pools[p].name, NULL);              \
        sp_stats_buf_printf(out, "} %.17g\n", (double)in->totals->pools[p].field \
                            * SP_METRICS_SCALE_##kind);                      \
    }
    SP_STATS_POOL_FIELDS(SP_POOL_METRIC)
    SP_STATS_POOL_OWN_FIELDS(SP_POOL_METRIC)
#undef SP_POOL_METRIC

#define SP_SERVER_METRIC(field, kind, desc)                                   \
    sp_metrics_family(out, "shardproxy_server_" #field                       \
                      SP_METRICS_SUFFIX_##kind, SP_METRICS_TYPE_##kind, desc); \
    for (uint32_t p = 0, at = 0; p < conf->npools; p++) {                    \
        for (uint32_t s = 0; s < conf->pools[p].nservers; s++, at++) {       \
            const char *sname = sp_metrics_server(in, p, s, at);             \
            if (sname == NULL) {                                             \
                continue;                                                    \
            }                                                                \
            sp_stats_buf_printf(out, "shardproxy_server_" #field             \
                                SP_METRICS_SUFFIX_##kind);                   \
            sp_metrics_pool_labels(out, conf->pools[p].name, sname);         \
            sp_stats_buf_printf(out, "} %.17g\n",                            \
                                (double)in->totals->servers[at].field        \
                                * SP_METRICS_SCALE_##kind);                  \
        }                                                                    \
    }
    SP_STATS_SERVER_FIELDS(SP_SERVER_METRIC)
    SP_STATS_SERVER_OWN_FIELDS(SP_SERVER_METRIC)
#undef SP_SERVER_METRIC
}

/* TLS pools only: their counters, and when their certificate expires. */
static void
sp_metrics_tls(struct sp_stats_buf *out, const struct sp_metrics_input *in)
{
    const struct sp_conf *conf = in->totals->conf;
    bool any = false;

    for (uint32_t p = 0; p < conf->npools; p++) {
        any = any || conf->pools[p].tls.enabled || conf->pools[p].server_tls.enabled;
    }
    if (!any) {
        return;
    }
#define SP_TLS_METRIC(field, kind, desc)                                      \
    sp_metrics_family(out, "shardproxy_pool_" #field                         \
                      SP_METRICS_SUFFIX_##kind, SP_METRICS_TYPE_##kind, desc); \
    for (uint32_t p = 0; p < conf->npools; p++) {                            \
        if (!conf->pools[p].tls.enabled && !conf->pools[p].server_tls.enabled) { \
            continue;                                                        \
        }                                                                    \
        sp_stats_buf_printf(out, "shardproxy_pool_" #field                   \
                            SP_METRICS_SUFFIX_##kind);                       \
        sp_metrics_pool_labels(out, conf->pools[p].name, NULL);              \
        sp_stats_buf_printf(out, "} %.17g\n",                                \
                            (double)in->totals->pools[p].tls.field);         \
    }
    SP_STATS_TLS_FIELDS(SP_TLS_METRIC)
#undef SP_TLS_METRIC
    sp_metrics_family(out, "shardproxy_pool_tls_cert_expiry_timestamp_seconds",
                      "gauge", "when the certificate clients see expires "
                      "(notAfter of tls_cert_file), s since the epoch");
    for (uint32_t p = 0; p < conf->npools; p++) {
        if (!conf->pools[p].tls.enabled) {
            continue;
        }
        sp_stats_buf_printf(out, "shardproxy_pool_tls_cert_expiry_timestamp_seconds");
        sp_metrics_pool_labels(out, conf->pools[p].name, NULL);
        sp_stats_buf_printf(out, "} %lld\n", (long long)conf->pools[p].tls.cert_expiry);
    }
}

static void
sp_metrics_latency(struct sp_stats_buf *out, const struct sp_metrics_input *in)
{
    const struct sp_conf *conf = in->totals->conf;

    sp_metrics_family(out, "shardproxy_request_duration_seconds", "histogram",
                      "requests from received to reply written, by pool");
    for (uint32_t p = 0; p < conf->npools; p++) {
        sp_metrics_hist(out, "shardproxy_request_duration_seconds",
                        conf->pools[p].name, NULL, &in->totals->pools[p].latency);
    }
    sp_metrics_family(out, "shardproxy_server_duration_seconds", "histogram",
                      "server round trips, from written to reply read");
    for (uint32_t p = 0, at = 0; p < conf->npools; p++) {
        for (uint32_t s = 0; s < conf->pools[p].nservers; s++, at++) {
            const char *sname = sp_metrics_server(in, p, s, at);
            if (sname == NULL) {
                continue;
            }
            sp_metrics_hist(out, "shardproxy_server_duration_seconds",
                            conf->pools[p].name, sname,
                            &in->totals->servers[at].rtt);
        }
    }
}

static void
sp_metrics_skew(struct sp_stats_buf *out, const struct sp_metrics_input *in)
{
    const struct sp_conf *conf = in->totals->conf;
    const struct sp_observe *obs = in->observe;
    struct sp_hot_key hot[SP_HOT_PUBLISH];

    if (obs->conf != conf) {
        return;
    }
    sp_metrics_family(out, "shardproxy_server_request_rate", "gauge",
                      "requests per second to the server over the last 10 s");
    for (uint32_t p = 0, at = 0; p < conf->npools; p++) {
        for (uint32_t s = 0; s < conf->pools[p].nservers; s++, at++) {
            const char *sname = sp_metrics_server(in, p, s, at);
            if (sname == NULL) {
                continue;
            }
            sp_stats_buf_printf(out, "shardproxy_server_request_rate");
            sp_metrics_pool_labels(out, conf->pools[p].name, sname);
            sp_stats_buf_printf(out, "} %.3f\n", obs->rate[at]);
        }
    }
    sp_metrics_family(out, "shardproxy_pool_skew", "gauge",
                      "the busiest server's request rate over the pool's mean");
    for (uint32_t p = 0; p < conf->npools; p++) {
        double rate, skew, share;
        uint32_t busiest;
        sp_observe_pool(obs, p, &rate, &skew, &busiest, &share);
        sp_stats_buf_printf(out, "shardproxy_pool_skew");
        sp_metrics_pool_labels(out, conf->pools[p].name, NULL);
        sp_stats_buf_printf(out, "} %.3f\n", skew);
    }
    sp_metrics_family(out, "shardproxy_hot_key_request_rate", "gauge",
                      "estimated requests per second of the pool's hottest "
                      "keys (sampled top-K sketch)");
    for (uint32_t p = 0; p < conf->npools && in->gen->conf == conf; p++) {
        uint32_t n = sp_observe_hot(in->gen, p, hot);
        for (uint32_t i = 0; i < n; i++) {
            const struct sp_conf_pool *pool = &conf->pools[p];
            sp_stats_buf_printf(out, "shardproxy_hot_key_request_rate");
            sp_metrics_pool_labels(out, pool->name,
                                   hot[i].server < pool->nservers
                                   ? pool->servers[hot[i].server].name : "?");
            sp_stats_buf_printf(out, ",key=\"");
            sp_metrics_label(out, hot[i].key);
            sp_stats_buf_printf(out, "\"} %.3f\n", hot[i].rate);
        }
    }
}

/* The per-worker families: one sample per worker slot of a field. */
static const struct sp_metrics_worker_field {
    const char *name;
    const char *type;
    const char *help;
    size_t      offset;     /* of an int64_t in struct sp_stats_slot */
} sp_metrics_worker_fields[] = {
    { "shardproxy_worker_clients", "gauge",
      "client connections a worker holds",
      offsetof(struct sp_stats_slot, clients) },
    { "shardproxy_worker_connections_total", "counter",
      "connections a worker's slot has opened (clients, servers)",
      offsetof(struct sp_stats_slot, total_connections) },
    { "shardproxy_worker_clients_held", "gauge",
      "clients a worker does not read now (flow control)",
      offsetof(struct sp_stats_slot, clients_held) },
    { "shardproxy_worker_clients_paused_total", "counter",
      "times a client went over its high watermark",
      offsetof(struct sp_stats_slot, clients_paused) },
    { "shardproxy_worker_budget_pauses_total", "counter",
      "times a client was stopped for the worker's memory budget",
      offsetof(struct sp_stats_slot, budget_pauses) },
    { "shardproxy_worker_server_waits_total", "counter",
      "times a client waited for a server's full queue",
      offsetof(struct sp_stats_slot, server_waits) },
    { "shardproxy_worker_memory_budget_bytes", "gauge",
      "the worker's memory budget (worker_memory_budget)",
      offsetof(struct sp_stats_slot, memory_budget) },
    { "shardproxy_worker_memory_used_bytes", "gauge",
      "what the worker's memory budget counts",
      offsetof(struct sp_stats_slot, memory_used) },
    { "shardproxy_worker_pubsub_clients", "gauge",
      "clients of a worker with a subscription",
      offsetof(struct sp_stats_slot, pubsub_clients) },
    { "shardproxy_worker_pubsub_channels", "gauge",
      "channels and shard channels a worker's clients subscribe to",
      offsetof(struct sp_stats_slot, pubsub_channels) },
    { "shardproxy_worker_pubsub_patterns", "gauge",
      "patterns a worker's clients subscribe to",
      offsetof(struct sp_stats_slot, pubsub_patterns) },
    { "shardproxy_worker_subscriber_connections", "gauge",
      "a worker's subscriber connections to servers",
      offsetof(struct sp_stats_slot, subscriber_connections) },
    { "shardproxy_worker_pubsub_messages_total", "counter",
      "pub/sub messages a worker delivered to its clients",
      offsetof(struct sp_stats_slot, pubsub_messages) },
};

/* Per worker, over its servers (sp_totals_slot_traffic). */
static const struct sp_metrics_traffic_field {
    const char *name;
    const char *help;
    size_t      offset;     /* of an int64_t in struct sp_totals_traffic */
} sp_metrics_traffic_fields[] = {
    { "shardproxy_worker_requests_total",
      "requests a worker sent to servers",
      offsetof(struct sp_totals_traffic, requests) },
    { "shardproxy_worker_request_bytes_total",
      "request bytes a worker sent to servers",
      offsetof(struct sp_totals_traffic, request_bytes) },
    { "shardproxy_worker_response_bytes_total",
      "response bytes a worker read from servers",
      offsetof(struct sp_totals_traffic, response_bytes) },
    { "shardproxy_worker_server_errors_total",
      "server errors and timeouts a worker saw",
      offsetof(struct sp_totals_traffic, errors) },
};

static void
sp_metrics_workers(struct sp_stats_buf *out, const struct sp_metrics_input *in)
{
    const struct sp_generation *gen = in->gen;

    for (size_t f = 0; f < sizeof(sp_metrics_traffic_fields)
                           / sizeof(sp_metrics_traffic_fields[0]); f++) {
        const struct sp_metrics_traffic_field *field =
            &sp_metrics_traffic_fields[f];

        sp_metrics_family(out, field->name, "counter", field->help);
        for (uint32_t i = 0; i < gen->nprocs; i++) {
            struct sp_totals_traffic t;
            int64_t value;

            sp_totals_slot_traffic(&gen->shared, i, &t);
            memcpy(&value, (const char *)&t + field->offset, sizeof(value));
            sp_stats_buf_printf(out, "%s{worker=\"%u\"} %lld\n", field->name,
                                i, (long long)value);
        }
    }

    for (size_t f = 0; f < sizeof(sp_metrics_worker_fields)
                           / sizeof(sp_metrics_worker_fields[0]); f++) {
        const struct sp_metrics_worker_field *field =
            &sp_metrics_worker_fields[f];

        sp_metrics_family(out, field->name, field->type, field->help);
        for (uint32_t i = 0; i < gen->nprocs; i++) {
            const char *slot = (const char *)sp_shared_slot(&gen->shared, i);
            int64_t value;
            memcpy(&value, slot + field->offset, sizeof(value));
            sp_stats_buf_printf(out, "%s{worker=\"%u\"} %lld\n", field->name,
                                i, (long long)value);
        }
    }
}

/* Refused requests by reason, and by command (those refused at least once:
 * the names are the proxy's command table's, so the label set is bounded;
 * an unknown command is counted by its reason only). */
static void
sp_metrics_refused(struct sp_stats_buf *out, const struct sp_refused *r)
{
    static const char *const reasons[] = { "unknown", "unsupported",
                                           "crossserver" };
    const int64_t counts[] = { r->unknown, r->unsupported, r->crossserver };

    sp_metrics_family(out, "shardproxy_refused_total", "counter",
                      "requests refused by the proxy, by reason (unknown "
                      "command, command not served, keys on several servers)");
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        sp_stats_buf_printf(out, "shardproxy_refused_total{reason=\"%s\"} "
                            "%lld\n", reasons[i], (long long)counts[i]);
    }
    sp_metrics_family(out, "shardproxy_refused_command_total", "counter",
                      "requests refused by the proxy, by command");
    for (uint32_t i = 0; i < SP_REFUSED_IDS; i++) {
        const char *name = r->by_id[i] != 0 ? sp_proto_refused_name(i) : NULL;

        if (name != NULL) {
            sp_stats_buf_printf(out, "shardproxy_refused_command_total"
                                "{command=\"");
            sp_metrics_label(out, name);
            sp_stats_buf_printf(out, "\"} %lld\n", (long long)r->by_id[i]);
        }
    }
}

void
sp_metrics_render(struct sp_stats_buf *out, const struct sp_metrics_input *in)
{
    const struct sp_stats_slot *proc = &in->totals->proc;

    sp_metrics_scalar(out, "shardproxy_uptime_seconds", "gauge",
                      "seconds since the master started", (double)in->uptime_s);
    sp_metrics_scalar(out, "shardproxy_connections_total", "counter",
                      "connections opened (nutcracker's total_connections)",
                      (double)proc->total_connections);
    sp_metrics_scalar(out, "shardproxy_connections", "gauge",
                      "connections open (nutcracker's curr_connections)",
                      (double)proc->curr_connections);
    sp_metrics_scalar(out, "shardproxy_workers", "gauge",
                      "workers serving", (double)sp_generation_serving(in->gen));
    sp_metrics_scalar(out, "shardproxy_respawns_total", "counter",
                      "workers respawned after dying", (double)in->respawns);
    sp_metrics_scalar(out, "shardproxy_watchdog_kills_total", "counter",
                      "hung workers killed and replaced (worker_watchdog)",
                      (double)in->watchdog_kills);
    sp_metrics_scalar(out, "shardproxy_reloads_total", "counter",
                      "configuration reloads", (double)in->reloads);
    sp_metrics_scalar(out, "shardproxy_reload_failed_total", "counter",
                      "reloads refused (invalid configuration)",
                      (double)in->reload_failed);
    sp_metrics_scalar(out, "shardproxy_handoffs_total", "counter",
                      "client connections handed from worker to worker",
                      (double)in->handoffs);
    sp_metrics_refused(out, &proc->refused);
    sp_metrics_pools(out, in);
    sp_metrics_tls(out, in);
    sp_metrics_latency(out, in);
    sp_metrics_skew(out, in);
    sp_metrics_workers(out, in);
}
