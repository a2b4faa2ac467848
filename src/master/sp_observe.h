/*
 * sp_observe.h — what the master derives for operators from the summed
 * counters and the workers' hot-key sketches: per-server request rates over
 * the last SP_OBSERVE_WINDOW seconds, each pool's skew (the busiest
 * server's rate over the mean) and busiest share, the pool's hottest keys
 * merged over workers, and a notice when a server takes more than
 * hot_server_share percent of its pool's requests.
 */
#ifndef SP_OBSERVE_H
#define SP_OBSERVE_H

#include <stdint.h>

#include "sp_conf.h"
#include "sp_generation.h"
#include "sp_hotkeys.h"
#include "sp_log.h"
#include "sp_stats.h"
#include "sp_totals.h"

#define SP_OBSERVE_WINDOW   10      /* seconds of rate history */
#define SP_OBSERVE_ALERT_MS 60000   /* one notice a minute per pool at most */
#define SP_OBSERVE_MIN_RATE 100     /* req/s below which no skew is alarming */

struct sp_observe {
    const struct sp_conf *conf;     /* the layout below */
    uint32_t              nservers;
    int64_t              *ring;     /* SP_OBSERVE_WINDOW + 1 snapshots */
    uint64_t              ring_ms[SP_OBSERVE_WINDOW + 1];
    uint32_t              head;     /* next snapshot */
    uint32_t              filled;
    double               *rate;     /* per server, req/s */
    uint64_t             *alerted_ms;   /* per pool */
};

/* A hot key merged over workers. */
struct sp_hot_key {
    char     key[SP_HOT_KEYLEN * 4 + 8];    /* escaped, truncated */
    uint32_t server;
    double   rate;              /* req/s, estimated */
};

/* (Re)start for conf: rates start over. 0, or -1 (ENOMEM). */
int sp_observe_reset(struct sp_observe *obs, const struct sp_conf *conf);
void sp_observe_free(struct sp_observe *obs);

/* Once a second: take the requests of totals (laid out for obs->conf),
 * update the rates, log what passes share_pct (0: never). */
void sp_observe_tick(struct sp_observe *obs, const struct sp_totals *totals,
                     uint64_t now_ms, int share_pct, struct sp_log *log);

/* Pool `pool`'s rate (sum), skew, busiest server and share. */
void sp_observe_pool(const struct sp_observe *obs, uint32_t pool,
                     double *rate, double *skew, uint32_t *busiest,
                     double *share);

/* Up to SP_HOT_PUBLISH hottest keys of pool over gen's workers, by rate. */
uint32_t sp_observe_hot(const struct sp_generation *gen, uint32_t pool,
                        struct sp_hot_key *out);

/* The pool and server JSON extras of the master's stats (latency
 * percentiles and bucket counts, rates, skew, hot keys): malloc'd strings in
 * out_pools[npools] / out_servers[nservers]. 0, or -1. */
int sp_observe_json(const struct sp_observe *obs,
                    const struct sp_generation *gen,
                    const struct sp_totals *totals, char **out_pools,
                    char **out_servers,
                    char *const *names);

#endif /* SP_OBSERVE_H */
