/*
 * sp_metrics.h — the Prometheus text exposition (format 0.0.4) of
 * everything the master knows: nutcracker's counters and gauges summed over
 * workers (pool and server labels), the latency histograms, rates, skew and
 * hot keys, and per-worker figures (worker label).
 */
#ifndef SP_METRICS_H
#define SP_METRICS_H

#include <stdint.h>

#include "sp_generation.h"
#include "sp_observe.h"
#include "sp_stats.h"
#include "sp_totals.h"

struct sp_metrics_input {
    const struct sp_totals     *totals;     /* laid out for gen->conf */
    const struct sp_generation *gen;        /* the current one */
    const struct sp_observe    *observe;
    uint64_t                    respawns;
    uint64_t                    watchdog_kills;
    uint64_t                    reloads;
    uint64_t                    reload_failed;
    uint64_t                    handoffs;
    int64_t                     uptime_s;
    char *const                *names;      /* per server: its name now (a
                                               cluster node's address; "":
                                               left out), or NULL */
};

void sp_metrics_render(struct sp_stats_buf *out,
                       const struct sp_metrics_input *in);

#endif /* SP_METRICS_H */
