/*
 * sp_totals.h — stats summed across generations, in the layout of one
 * configuration: what the master's stats port shows.
 *
 * A reload replaces the workers, and with them the shared memory their
 * counters live in; the master folds every generation's counters into
 * totals matched by pool and server names (a pool or server that no longer
 * exists drops out), so the summed counters never go backwards across a
 * reload and exporters see no reset.
 */
#ifndef SP_TOTALS_H
#define SP_TOTALS_H

#include <stdint.h>

#include "sp_conf.h"
#include "sp_shared.h"
#include "sp_stats.h"

struct sp_totals {
    const struct sp_conf   *conf;
    struct sp_stats_slot    proc;
    struct sp_stats_pool   *pools;      /* conf->npools */
    struct sp_stats_server *servers;    /* over all pools, in order */
    uint32_t                nservers;
};

/* Zeroed totals for conf. 0, or -1 (ENOMEM). */
int sp_totals_init(struct sp_totals *t, const struct sp_conf *conf);
void sp_totals_free(struct sp_totals *t);

/* t += src (laid out for src_conf), by names. */
void sp_totals_add(struct sp_totals *t, const struct sp_conf *src_conf,
                   const struct sp_stats_slot *proc,
                   const struct sp_stats_pool *pools,
                   const struct sp_stats_server *servers);

/* t += every slot of shared (laid out for its conf). 0 or -1 (ENOMEM). */
int sp_totals_add_shared(struct sp_totals *t, const struct sp_conf *conf,
                         const struct sp_shared *shared);

/* What one worker slot of shared has done, over its servers: requests,
 * bytes each way, errors (server_err + server_timedout). */
struct sp_totals_traffic {
    int64_t requests;
    int64_t request_bytes;
    int64_t response_bytes;
    int64_t errors;
};

void sp_totals_slot_traffic(const struct sp_shared *shared, uint32_t slot,
                            struct sp_totals_traffic *out);

/* Lay t out anew for conf, by names. 0, or -1 (t unchanged). */
int sp_totals_relayout(struct sp_totals *t, const struct sp_conf *conf);

#endif /* SP_TOTALS_H */
