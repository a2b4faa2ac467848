/*
 * sp_listen.c — opening and closing a generation's listening sockets (see
 * sp_listen.h).
 */
#include "sp_listen.h"

#include <stdlib.h>
#include <unistd.h>

#include "sp_net.h"

#define SP_STATS_BACKLOG 512

unsigned
sp_listen_slot_stats_port(uint16_t stats_port, uint32_t slot)
{
    return (unsigned)stats_port + 1 + slot;
}

static int
sp_listen_pool_open(struct sp_listen_pool *lp, const struct sp_conf_pool *pool,
                    const struct sp_listen_spec *spec, struct sp_log *log)
{
    char err[SP_NET_ERRLEN];
    bool per_slot = spec->per_slot && !pool->listen.is_unix;

    lp->shared = !per_slot;
    lp->nfds = per_slot ? spec->nslots : 1;
    lp->fds = malloc(lp->nfds * sizeof(*lp->fds));
    if (lp->fds == NULL) {
        lp->nfds = 0;
        sp_log_error(log, 0, "pool '%s': out of memory", pool->name);
        return -1;
    }
    for (uint32_t i = 0; i < lp->nfds; i++) {
        lp->fds[i] = -1;
    }
    for (uint32_t i = 0; i < lp->nfds; i++) {
        lp->fds[i] = sp_net_listen(&pool->listen, pool->backlog,
                                   per_slot || pool->reuseport, err,
                                   sizeof(err));
        if (lp->fds[i] < 0) {
            sp_log_error(log, 0, "pool '%s': cannot listen on %s: %s",
                         pool->name, pool->listen_pname, err);
            return -1;
        }
    }
    sp_log_notice(log, "pool '%s' listening on %s (%s, %u server%s%s)",
                  pool->name, pool->listen_pname,
                  pool->redis ? "redis" : "memcache", pool->nservers,
                  pool->nservers == 1 ? "" : "s",
                  per_slot ? ", a socket per worker" : "");
    return 0;
}

static int
sp_listen_stats(const char *addr, unsigned port, struct sp_log *log)
{
    char err[SP_NET_ERRLEN];
    int fd;

    if (port > 65535) {
        sp_log_error(log, 0, "stats: port %u is out of range", port);
        return -1;
    }
    fd = sp_net_listen_host(addr, port, SP_STATS_BACKLOG, err, sizeof(err));
    if (fd < 0) {
        sp_log_error(log, 0, "stats: cannot listen on %s:%u: %s", addr, port,
                     err);
    }
    return fd;
}

int
sp_listen_open(struct sp_listen_set *set, const struct sp_conf *conf,
               const struct sp_listen_spec *spec, struct sp_log *log)
{
    set->npools = conf->npools;
    set->nslots = spec->nslots;
    set->stats_fd = -1;
    set->slot_stats_fds = NULL;
    set->pools = calloc(conf->npools + 1, sizeof(*set->pools));
    if (set->pools == NULL) {
        sp_log_error(log, 0, "listeners: out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < conf->npools; i++) {
        if (sp_listen_pool_open(&set->pools[i], &conf->pools[i], spec,
                                log) != 0) {
            goto fail;
        }
    }
    if (spec->stats_addr == NULL) {
        return 0;
    }
    set->stats_fd = sp_listen_stats(spec->stats_addr, spec->stats_port, log);
    if (set->stats_fd < 0) {
        goto fail;
    }
    sp_log_notice(log, "stats on %s:%u", spec->stats_addr,
                  (unsigned)spec->stats_port);
    if (!spec->slot_stats) {
        return 0;
    }
    set->slot_stats_fds = malloc(spec->nslots * sizeof(int));
    if (set->slot_stats_fds == NULL) {
        goto fail;
    }
    for (uint32_t i = 0; i < spec->nslots; i++) {
        set->slot_stats_fds[i] = -1;
    }
    for (uint32_t i = 0; i < spec->nslots; i++) {
        unsigned port = sp_listen_slot_stats_port(spec->stats_port, i);
        set->slot_stats_fds[i] = sp_listen_stats(spec->stats_addr, port, log);
        if (set->slot_stats_fds[i] < 0) {
            goto fail;
        }
    }
    sp_log_notice(log, "worker stats on %s:%u-%u", spec->stats_addr,
                  sp_listen_slot_stats_port(spec->stats_port, 0),
                  sp_listen_slot_stats_port(spec->stats_port, spec->nslots - 1));
    return 0;

fail:
    sp_listen_close(set);
    return -1;
}

void
sp_listen_close(struct sp_listen_set *set)
{
    for (uint32_t i = 0; set->pools != NULL && i < set->npools; i++) {
        for (uint32_t j = 0; j < set->pools[i].nfds; j++) {
            if (set->pools[i].fds[j] >= 0) {
                close(set->pools[i].fds[j]);
            }
        }
        free(set->pools[i].fds);
    }
    free(set->pools);
    set->pools = NULL;
    if (set->stats_fd >= 0) {
        close(set->stats_fd);
        set->stats_fd = -1;
    }
    for (uint32_t i = 0; set->slot_stats_fds != NULL && i < set->nslots; i++) {
        if (set->slot_stats_fds[i] >= 0) {
            close(set->slot_stats_fds[i]);
        }
    }
    free(set->slot_stats_fds);
    set->slot_stats_fds = NULL;
}

int
sp_listen_fd(const struct sp_listen_set *set, uint32_t pool, uint32_t slot)
{
    const struct sp_listen_pool *lp = &set->pools[pool];

    return lp->shared ? lp->fds[0] : lp->fds[slot];
}

void
sp_listen_hand_over(struct sp_listen_set *set, uint32_t slot, bool keep_stats)
{
    for (uint32_t i = 0; i < set->npools; i++) {
        struct sp_listen_pool *lp = &set->pools[i];
        lp->fds[lp->shared ? 0 : slot] = -1;
    }
    if (keep_stats) {
        set->stats_fd = -1;
    }
    if (set->slot_stats_fds != NULL) {
        set->slot_stats_fds[slot] = -1;
    }
    sp_listen_close(set);
}

void
sp_listen_close_slot(struct sp_listen_set *set, uint32_t slot)
{
    for (uint32_t i = 0; i < set->npools; i++) {
        struct sp_listen_pool *lp = &set->pools[i];
        if (!lp->shared && lp->fds[slot] >= 0) {
            close(lp->fds[slot]);
            lp->fds[slot] = -1;
        }
    }
    if (set->slot_stats_fds != NULL && set->slot_stats_fds[slot] >= 0) {
        close(set->slot_stats_fds[slot]);
        set->slot_stats_fds[slot] = -1;
    }
}
