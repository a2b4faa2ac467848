/*
 * sp_totals.c — stats folded across generations by names (see
 * sp_totals.h).
 */
#include "sp_totals.h"

#include <stdlib.h>
#include <string.h>

static uint32_t
sp_totals_nservers(const struct sp_conf *conf)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < conf->npools; i++) {
        n += conf->pools[i].nservers;
    }
    return n;
}

int
sp_totals_init(struct sp_totals *t, const struct sp_conf *conf)
{
    memset(t, 0, sizeof(*t));
    t->conf = conf;
    t->nservers = sp_totals_nservers(conf);
    t->pools = calloc(conf->npools + 1, sizeof(*t->pools));
    t->servers = calloc(t->nservers + 1, sizeof(*t->servers));
    if (t->pools == NULL || t->servers == NULL) {
        sp_totals_free(t);
        return -1;
    }
    return 0;
}

void
sp_totals_free(struct sp_totals *t)
{
    free(t->pools);
    free(t->servers);
    t->pools = NULL;
    t->servers = NULL;
}

static int64_t
sp_totals_pool_index(const struct sp_conf *conf, const char *name,
                     uint32_t *first_server)
{
    uint32_t at = 0;

    for (uint32_t i = 0; i < conf->npools; i++) {
        if (strcmp(conf->pools[i].name, name) == 0) {
            *first_server = at;
            return i;
        }
        at += conf->pools[i].nservers;
    }
    return -1;
}

void
sp_totals_add(struct sp_totals *t, const struct sp_conf *src_conf,
              const struct sp_stats_slot *proc,
              const struct sp_stats_pool *pools,
              const struct sp_stats_server *servers)
{
    uint32_t src_at = 0;

    sp_stats_slot_add(&t->proc, proc);
    for (uint32_t i = 0; i < src_conf->npools; i++) {
        const struct sp_conf_pool *sp = &src_conf->pools[i];
        uint32_t dst_at = 0;
        int64_t d = sp_totals_pool_index(t->conf, sp->name, &dst_at);

        if (d >= 0) {
            const struct sp_conf_pool *dp = &t->conf->pools[d];
            sp_stats_pool_add(&t->pools[d], &pools[i]);
            for (uint32_t s = 0; s < sp->nservers; s++) {
                for (uint32_t k = 0; k < dp->nservers; k++) {
                    if (strcmp(dp->servers[k].name, sp->servers[s].name) == 0) {
                        sp_stats_server_add(&t->servers[dst_at + k],
                                            &servers[src_at + s]);
                        break;
                    }
                }
            }
        }
        src_at += sp->nservers;
    }
}

int
sp_totals_add_shared(struct sp_totals *t, const struct sp_conf *conf,
                     const struct sp_shared *shared)
{
    const struct sp_shared_header *h = shared->header;
    struct sp_stats_pool *pools = calloc(h->npools + 1, sizeof(*pools));
    struct sp_stats_server *servers = calloc(h->nservers + 1, sizeof(*servers));
    struct sp_stats_slot proc;

    if (pools == NULL || servers == NULL) {
        free(pools);
        free(servers);
        return -1;
    }
    sp_shared_sum(shared, &proc, pools, servers);
    sp_totals_add(t, conf, &proc, pools, servers);
    free(pools);
    free(servers);
    return 0;
}

int
sp_totals_relayout(struct sp_totals *t, const struct sp_conf *conf)
{
    struct sp_totals fresh;

    if (sp_totals_init(&fresh, conf) != 0) {
        return -1;
    }
    sp_totals_add(&fresh, t->conf, &t->proc, t->pools, t->servers);
    sp_totals_free(t);
    *t = fresh;
    return 0;
}

void
sp_totals_slot_traffic(const struct sp_shared *shared, uint32_t slot,
                       struct sp_totals_traffic *out)
{
    memset(out, 0, sizeof(*out));
    for (uint32_t i = 0; i < shared->header->nservers; i++) {
        const struct sp_stats_server *st = sp_shared_server_stats(shared, slot,
                                                                  i);
        out->requests += st->requests;
        out->request_bytes += st->request_bytes;
        out->response_bytes += st->response_bytes;
        out->errors += st->server_err + st->server_timedout;
    }
}
