/*
 * sp_stats_report.c — the stats document of a configuration (see
 * sp_stats_report.h).
 */
#include "sp_stats_report.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "sp_cli.h"


void
sp_stats_report_hist(struct sp_stats_buf *buf, const char *prefix,
                     const struct sp_hist *h)
{
    static const struct {
        const char *name;
        double      q;
    } qs[] = { { "p50", 0.5 }, { "p90", 0.9 }, { "p99", 0.99 },
               { "p999", 0.999 } };

    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        sp_stats_buf_printf(buf, ", \"%s_%s_us\":%llu", prefix, qs[i].name,
                            (unsigned long long)sp_hist_quantile_us(h, qs[i].q));
    }
}

void
sp_stats_report_buckets(struct sp_stats_buf *buf, const char *prefix,
                        const struct sp_hist *h)
{
    sp_stats_buf_printf(buf, ", \"%s_buckets\":[", prefix);
    for (int i = 0; i < SP_HIST_BUCKETS; i++) {
        sp_stats_buf_printf(buf, "%s%lld", i == 0 ? "" : ",",
                            (long long)h->buckets[i]);
    }
    sp_stats_buf_printf(buf, "]");
}

static char *
sp_stats_report_hist_string(const char *prefix, const struct sp_hist *h)
{
    struct sp_stats_buf buf = { 0 };

    sp_stats_report_hist(&buf, prefix, h);
    if (buf.failed) {
        sp_stats_buf_free(&buf);
        return NULL;
    }
    return buf.data;        /* NUL-terminated by vsnprintf */
}

int
sp_stats_report_latency(const struct sp_conf *conf,
                        const struct sp_stats_pool *pools,
                        const struct sp_stats_server *servers,
                        char **out_pools, char **out_servers)
{
    uint32_t at = 0;
    int rc = 0;

    for (uint32_t i = 0; i < conf->npools; i++) {
        out_pools[i] = sp_stats_report_hist_string("latency", &pools[i].latency);
        rc |= out_pools[i] == NULL ? -1 : 0;
        for (uint32_t s = 0; s < conf->pools[i].nservers; s++, at++) {
            out_servers[at] = sp_stats_report_hist_string("rtt",
                                                          &servers[at].rtt);
            rc |= out_servers[at] == NULL ? -1 : 0;
        }
    }
    return rc;
}

int
sp_stats_report_tls(const struct sp_conf *conf,
                    const struct sp_stats_pool *pools, char **out_pools)
{
    int rc = 0;

    for (uint32_t i = 0; i < conf->npools; i++) {
        const struct sp_conf_pool *pool = &conf->pools[i];
        const struct sp_stats_tls *st = &pools[i].tls;
        struct sp_stats_buf buf = { 0 };

        if (!pool->tls.enabled && !pool->server_tls.enabled) {
            continue;
        }
        sp_stats_buf_printf(&buf, "%s", out_pools[i] != NULL ? out_pools[i]
                                                             : "");
#define SP_TLS_JSON(name, kind, desc) \
        sp_stats_buf_printf(&buf, ", \"" #name "\":%lld", (long long)st->name);
        SP_STATS_TLS_FIELDS(SP_TLS_JSON)
#undef SP_TLS_JSON
        sp_stats_buf_printf(&buf, ", \"tls_cert_expiry\":%lld",
                            (long long)pool->tls.cert_expiry);
        if (buf.failed) {
            sp_stats_buf_free(&buf);
            rc = -1;
            continue;
        }
        free(out_pools[i]);
        out_pools[i] = buf.data;
    }
    return rc;
}

int
sp_stats_report_append(char **field, const char *fmt, ...)
{
    struct sp_stats_buf buf = { 0 };
    char text[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    sp_stats_buf_printf(&buf, "%s%s", *field != NULL ? *field : "", text);
    if (buf.failed) {
        sp_stats_buf_free(&buf);
        return -1;
    }
    free(*field);
    *field = buf.data;
    return 0;
}

void
sp_stats_report_extras_free(char **strings, uint32_t n)
{
    for (uint32_t i = 0; strings != NULL && i < n; i++) {
        free(strings[i]);
    }
}

/* The refusal counters, after the top-level extras. */
struct sp_stats_report_refused {
    const struct sp_refused *counts;
    sp_refused_name_fn       name;
    const char              *more;      /* the caller's top_json */
};

static void
sp_stats_report_refused(struct sp_stats_buf *buf, const void *ctx)
{
    const struct sp_stats_report_refused *r = ctx;

    if (r->name != NULL) {
        sp_refused_json(buf, r->counts, r->name);
    }
    if (r->more != NULL) {
        sp_stats_buf_printf(buf, "%s", r->more);
    }
}

int
sp_stats_report(struct sp_stats_buf *buf, const struct sp_conf *conf,
                const struct sp_stats_slot *proc,
                const struct sp_stats_pool *pools,
                const struct sp_stats_server *servers, int64_t uptime,
                const struct sp_stats_report_extra *extra)
{
    struct sp_stats_pool_view *pviews = calloc(conf->npools + 1, sizeof(*pviews));
    struct sp_stats_server_view *sviews = NULL;
    uint32_t nservers = 0, at = 0, shown = 0;
    char host[256] = "unknown";
    int rc = -1;

    for (uint32_t i = 0; i < conf->npools; i++) {
        nservers += conf->pools[i].nservers;
    }
    sviews = calloc(nservers + 1, sizeof(*sviews));
    if (pviews == NULL || sviews == NULL) {
        goto out;
    }
    gethostname(host, sizeof(host) - 1);
    for (uint32_t i = 0; i < conf->npools; i++) {
        const struct sp_conf_pool *pool = &conf->pools[i];
        pviews[i].name = pool->name;
        pviews[i].stats = &pools[i];
        pviews[i].servers = &sviews[shown];
        pviews[i].nservers = 0;
        pviews[i].extra = extra != NULL && extra->pools != NULL
                          ? extra->pools[i] : NULL;
        for (uint32_t s = 0; s < pool->nservers; s++, at++) {
            const char *name = extra != NULL && extra->names != NULL
                               ? extra->names[at] : NULL;
            if (name != NULL && name[0] == '\0') {
                continue;       /* room for a cluster node nobody takes */
            }
            sviews[shown].name = name != NULL ? name : pool->servers[s].name;
            sviews[shown].stats = &servers[at];
            sviews[shown].extra = extra != NULL && extra->servers != NULL
                                  ? extra->servers[at] : NULL;
            shown++;
            pviews[i].nservers++;
        }
    }
    struct sp_stats_report_refused refused = {
        &proc->refused, extra != NULL ? extra->refused_name : NULL,
        extra != NULL ? extra->top_json : NULL
    };
    struct sp_stats_view view = {
        .service = "shardproxy",
        .source = host,
        .version = SP_VERSION_STRING,
        .uptime = uptime,
        .timestamp = (int64_t)time(NULL),
        .total_connections = proc->total_connections,
        .curr_connections = proc->curr_connections,
        .pools = pviews,
        .npools = conf->npools,
        .own_fields = true,
        .extras = extra != NULL ? extra->top : NULL,
        .nextras = extra != NULL ? extra->ntop : 0,
        .top_write = refused.name != NULL || refused.more != NULL
                     ? sp_stats_report_refused : NULL,
        .top_ctx = &refused,
    };
    rc = sp_stats_json(buf, &view);
out:
    free(pviews);
    free(sviews);
    return rc;
}
