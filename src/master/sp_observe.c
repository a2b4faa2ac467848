/*
 * sp_observe.c — rates, skew and hot keys for operators (see
 * sp_observe.h).
 */
#include "sp_observe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_slowlog.h"
#include "sp_stats_report.h"

#define SP_OBSERVE_SLOTS (SP_OBSERVE_WINDOW + 1)

void
sp_observe_free(struct sp_observe *obs)
{
    free(obs->ring);
    free(obs->rate);
    free(obs->alerted_ms);
    memset(obs, 0, sizeof(*obs));
}

int
sp_observe_reset(struct sp_observe *obs, const struct sp_conf *conf)
{
    uint32_t nservers = 0;

    sp_observe_free(obs);
    for (uint32_t i = 0; i < conf->npools; i++) {
        nservers += conf->pools[i].nservers;
    }
    obs->conf = conf;
    obs->nservers = nservers;
    obs->ring = calloc((size_t)SP_OBSERVE_SLOTS * (nservers + 1),
                       sizeof(*obs->ring));
    obs->rate = calloc(nservers + 1, sizeof(*obs->rate));
    obs->alerted_ms = calloc(conf->npools + 1, sizeof(*obs->alerted_ms));
    if (obs->ring == NULL || obs->rate == NULL || obs->alerted_ms == NULL) {
        sp_observe_free(obs);
        return -1;
    }
    return 0;
}

void
sp_observe_pool(const struct sp_observe *obs, uint32_t pool, double *rate,
                double *skew, uint32_t *busiest, double *share)
{
    uint32_t at = 0, n;
    double sum = 0, max = -1;

    for (uint32_t i = 0; i < pool; i++) {
        at += obs->conf->pools[i].nservers;
    }
    n = obs->conf->pools[pool].nservers;
    *busiest = 0;
    for (uint32_t s = 0; s < n; s++) {
        double r = obs->rate[at + s];
        sum += r;
        if (r > max) {
            max = r;
            *busiest = s;
        }
    }
    *rate = sum;
    *skew = sum > 0 ? max / (sum / n) : 0;
    *share = sum > 0 ? max / sum : 0;
}

void
sp_observe_tick(struct sp_observe *obs, const struct sp_totals *totals,
                uint64_t now_ms, int share_pct, struct sp_log *log)
{
    uint32_t head = obs->head, oldest;
    int64_t *snap = &obs->ring[(size_t)head * (obs->nservers + 1)];

    if (obs->ring == NULL || totals->conf != obs->conf) {
        return;
    }
    for (uint32_t s = 0; s < obs->nservers; s++) {
        snap[s] = totals->servers[s].requests;
    }
    obs->ring_ms[head] = now_ms;
    obs->head = (head + 1) % SP_OBSERVE_SLOTS;
    if (obs->filled < SP_OBSERVE_SLOTS) {
        obs->filled++;
    }
    if (obs->filled < 2) {
        return;
    }
    oldest = obs->filled < SP_OBSERVE_SLOTS ? 0 : obs->head;
    const int64_t *old = &obs->ring[(size_t)oldest * (obs->nservers + 1)];
    double secs = (double)(now_ms - obs->ring_ms[oldest]) / 1000.0;
    for (uint32_t s = 0; s < obs->nservers; s++) {
        obs->rate[s] = secs > 0 ? (double)(snap[s] - old[s]) / secs : 0;
    }
    if (share_pct <= 0) {
        return;
    }
    for (uint32_t p = 0; p < obs->conf->npools; p++) {
        const struct sp_conf_pool *pool = &obs->conf->pools[p];
        double rate, skew, share;
        uint32_t busiest;

        if (pool->nservers < 2) {
            continue;
        }
        sp_observe_pool(obs, p, &rate, &skew, &busiest, &share);
        if (rate < SP_OBSERVE_MIN_RATE || share * 100.0 < share_pct
            || (obs->alerted_ms[p] != 0
                && now_ms - obs->alerted_ms[p] < SP_OBSERVE_ALERT_MS)) {
            continue;
        }
        obs->alerted_ms[p] = now_ms;
        sp_log_notice(log, "pool '%s': server '%s' takes %.0f%% of the pool's "
                      "%.0f requests/s (hot_server_share %d%%, skew %.2f)",
                      pool->name, pool->servers[busiest].name, share * 100.0,
                      rate, share_pct, skew);
    }
}

static int
sp_observe_by_rate(const void *a, const void *b)
{
    const struct sp_hot_key *x = a, *y = b;

    return x->rate < y->rate ? 1 : x->rate > y->rate ? -1 : 0;
}

uint32_t
sp_observe_hot(const struct sp_generation *gen, uint32_t pool,
               struct sp_hot_key *out)
{
    struct sp_hot_key all[SP_HOT_PUBLISH * 64];
    uint32_t n = 0;
    struct sp_hot_view view;

    for (uint32_t slot = 0; slot < gen->nprocs; slot++) {
        if (sp_hot_read(sp_shared_pool_hot(&gen->shared, slot, pool), &view)
            != 0) {
            continue;
        }
        for (uint32_t i = 0; i < view.n; i++) {
            const struct sp_hot_entry *e = &view.e[i];
            struct sp_hot_key *k = &all[n < SP_HOT_PUBLISH * 64 ? n : 0];
            uint32_t j = 0;

            if (n == sizeof(all) / sizeof(all[0])) {
                continue;
            }
            k->server = e->server;
            k->rate = sp_hot_rate(e, view.window_ms);
            sp_slowlog_key_text((const uint8_t *)e->key,
                                e->len < SP_HOT_KEYLEN ? e->len : SP_HOT_KEYLEN,
                                e->len, k->key, sizeof(k->key));
            /* merged by what is shown: the same key from another worker,
             * or keys that only differ past the bytes kept, are one line */
            while (j < n && (all[j].server != k->server
                             || strcmp(all[j].key, k->key) != 0)) {
                j++;
            }
            if (j < n) {
                all[j].rate += k->rate;
                continue;
            }
            n++;
        }
    }
    qsort(all, n, sizeof(all[0]), sp_observe_by_rate);
    n = n < SP_HOT_PUBLISH ? n : SP_HOT_PUBLISH;
    memcpy(out, all, n * sizeof(all[0]));
    return n;
}

/* Server s of pool (its first at `first` across pools) by its name now. */
static const char *
sp_observe_name(const struct sp_conf_pool *pool, char *const *names,
                uint32_t first, uint32_t s)
{
    const char *name = names != NULL ? names[first + s] : NULL;

    return name != NULL && name[0] != '\0' ? name : pool->servers[s].name;
}

int
sp_observe_json(const struct sp_observe *obs, const struct sp_generation *gen,
                const struct sp_totals *totals, char **out_pools,
                char **out_servers, char *const *names)
{
    const struct sp_conf *conf = totals->conf;
    struct sp_hot_key hot[SP_HOT_PUBLISH];
    uint32_t at = 0;
    int rc = 0;

    if (sp_stats_report_latency(conf, totals->pools, totals->servers,
                                out_pools, out_servers) != 0) {
        return -1;
    }
    for (uint32_t p = 0; p < conf->npools && obs->conf == conf; p++) {
        const struct sp_conf_pool *pool = &conf->pools[p];
        struct sp_stats_buf buf = { 0 };
        double rate, skew, share;
        uint32_t busiest, nhot;

        sp_observe_pool(obs, p, &rate, &skew, &busiest, &share);
        sp_stats_buf_printf(&buf, "%s, \"request_rate\":%.0f, \"skew\":%.2f, "
                            "\"busiest_server\":", out_pools[p], rate, skew);
        sp_stats_buf_string(&buf, sp_observe_name(pool, names, at, busiest));
        sp_stats_buf_printf(&buf, ", \"busiest_share\":%.3f, \"hot_keys\":[",
                            share);
        nhot = gen->conf == conf ? sp_observe_hot(gen, p, hot) : 0;
        for (uint32_t i = 0; i < nhot; i++) {
            sp_stats_buf_printf(&buf, "%s{\"key\":", i == 0 ? "" : ", ");
            sp_stats_buf_string(&buf, hot[i].key);
            sp_stats_buf_printf(&buf, ", \"server\":");
            sp_stats_buf_string(&buf, hot[i].server < pool->nservers
                                      ? sp_observe_name(pool, names, at,
                                                        hot[i].server)
                                      : "?");
            sp_stats_buf_printf(&buf, ", \"rate\":%.0f}", hot[i].rate);
        }
        sp_stats_buf_printf(&buf, "]");
        sp_stats_report_buckets(&buf, "latency", &totals->pools[p].latency);
        for (uint32_t s = 0; s < pool->nservers; s++, at++) {
            struct sp_stats_buf sbuf = { 0 };
            sp_stats_buf_printf(&sbuf, "%s, \"request_rate\":%.0f",
                                out_servers[at], obs->rate[at]);
            sp_stats_report_buckets(&sbuf, "rtt", &totals->servers[at].rtt);
            if (sbuf.failed) {
                rc = -1;
                sp_stats_buf_free(&sbuf);
                continue;
            }
            free(out_servers[at]);
            out_servers[at] = sbuf.data;
        }
        if (buf.failed) {
            rc = -1;
            sp_stats_buf_free(&buf);
            continue;
        }
        free(out_pools[p]);
        out_pools[p] = buf.data;
    }
    return rc;
}
