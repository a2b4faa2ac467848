/*
 * sp_listen.c — opening, moving, inheriting and closing a generation's
 * listening sockets (see sp_listen.h).
 */
#include "sp_listen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/un.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sp_net.h"

#define SP_STATS_BACKLOG 512

int
sp_listen_slot_stats_addr(const struct sp_conf_addr *base, uint32_t slot,
                          struct sp_conf_addr *out, char *path, size_t pathlen)
{
    *out = *base;
    if (base->is_unix) {
        struct sockaddr_un *un = (struct sockaddr_un *)&out->sa;
        int n = snprintf(path, pathlen, "%s.%u", base->host, slot);

        if (n < 0 || (size_t)n >= pathlen || (size_t)n >= sizeof(un->sun_path)) {
            return -1;
        }
        memcpy(un->sun_path, path, (size_t)n + 1);
        out->host = path;
        return 0;
    }
    if ((unsigned)base->port + slot > 65535) {
        return -1;
    }
    out->port = (uint16_t)(base->port + slot);
    if (out->sa.ss_family == AF_INET) {
        ((struct sockaddr_in *)&out->sa)->sin_port = htons(out->port);
    } else {
        ((struct sockaddr_in6 *)&out->sa)->sin6_port = htons(out->port);
    }
    snprintf(path, pathlen, "%s", base->host);
    out->host = path;
    return 0;
}

/* A worker's own stats socket, opened on its address. */
static int
sp_listen_slot_stats(const struct sp_listen_spec *spec, uint32_t slot,
                     struct sp_log *log)
{
    char err[SP_NET_ERRLEN], path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct sp_conf_addr addr;
    int fd;

    if (sp_listen_slot_stats_addr(spec->slot_stats, slot, &addr, path,
                                  sizeof(path)) != 0) {
        sp_log_error(log, 0, "worker_stats_listen '%s': no address for "
                     "worker %u (port or path out of range)",
                     spec->slot_stats_text, slot);
        return -1;
    }
    fd = sp_net_listen(&addr, SP_STATS_BACKLOG, false, err, sizeof(err));
    if (fd < 0) {
        sp_log_error(log, 0, "stats of worker %u: cannot listen on "
                     "'%s' (+%u): %s", slot, spec->slot_stats_text, slot, err);
    }
    return fd;
}

/* The key a worker's stats socket is passed on under (upgrade). */
static void
sp_listen_slot_stats_key(const char *text, uint32_t slot, char *key,
                         size_t len)
{
    snprintf(key, len, "wstats:%u:%s", slot, text);
}

/* "inet:127.0.0.1:22121", "inet:[::1]:22121", "unix:/path". */
static void
sp_listen_key(const struct sp_conf_addr *addr, char *key, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";

    if (addr->is_unix) {
        snprintf(key, len, "unix:%s", addr->host);
        return;
    }
    getnameinfo((const struct sockaddr *)&addr->sa, addr->salen, host,
                sizeof(host), NULL, 0, NI_NUMERICHOST);
    snprintf(key, len, addr->sa.ss_family == AF_INET6 ? "inet:[%s]:%u"
                                                       : "inet:%s:%u",
             host, (unsigned)addr->port);
}

/* Take a socket named key from the previous binary's, or -1. */
static int
sp_listen_take_inherited(struct sp_listen_inherited *inh, const char *key)
{
    for (uint32_t i = 0; inh != NULL && i < inh->n; i++) {
        if (inh->fds[i].fd >= 0 && strcmp(inh->fds[i].key, key) == 0) {
            int fd = inh->fds[i].fd;
            inh->fds[i].fd = -1;
            fcntl(fd, F_SETFD, FD_CLOEXEC);
            return fd;
        }
    }
    return -1;
}

/* The previous generation's pool at key (whatever its kind: a socket per
 * worker or one shared, its sockets serve either way). */
static struct sp_listen_pool *
sp_listen_find(struct sp_listen_set *from, const char *key)
{
    for (uint32_t i = 0; from != NULL && i < from->npools; i++) {
        if (from->pools[i].fds != NULL && strcmp(from->pools[i].key, key) == 0) {
            return &from->pools[i];
        }
    }
    return NULL;
}

static int
sp_listen_pool_open(struct sp_listen_pool *lp, const struct sp_conf_pool *pool,
                    const struct sp_listen_spec *spec, struct sp_log *log,
                    struct sp_listen_set *from,
                    struct sp_listen_inherited *inh)
{
    char err[SP_NET_ERRLEN];
    bool per_slot = spec->per_slot && !pool->listen.is_unix;
    struct sp_listen_pool *old;
    uint32_t kept = 0, inherited = 0;

    lp->shared = !per_slot;
    lp->nfds = per_slot ? spec->nslots : 1;
    sp_listen_key(&pool->listen, lp->key, sizeof(lp->key));
    lp->fds = malloc(lp->nfds * sizeof(*lp->fds));
    if (lp->fds == NULL) {
        lp->nfds = 0;
        sp_log_error(log, 0, "pool '%s': out of memory", pool->name);
        return -1;
    }
    old = sp_listen_find(from, lp->key);
    for (uint32_t i = 0; i < lp->nfds; i++) {
        lp->fds[i] = -1;
        if (old != NULL && i < old->nfds && old->fds[i] >= 0) {
            lp->fds[i] = old->fds[i];       /* moves: never closed */
            old->fds[i] = -1;
            kept++;
        } else if ((lp->fds[i] = sp_listen_take_inherited(inh, lp->key)) >= 0) {
            inherited++;
        }
    }
    if (pool->listen.is_unix && pool->listen.perm != 0 && (kept || inherited)) {
        chmod(pool->listen.host, pool->listen.perm);   /* perm may change */
    }
    if (kept == 0 && inherited == 0
        && sp_net_probe_free(&pool->listen, err, sizeof(err)) != 0) {
        sp_log_error(log, 0, "pool '%s': cannot listen on %s: %s", pool->name,
                     pool->listen_pname, err);
        return -1;
    }
    for (uint32_t i = 0; i < lp->nfds; i++) {
        if (lp->fds[i] >= 0) {
            continue;
        }
        /* SO_REUSEPORT on every TCP listener: a reload that changes the
         * worker count or accept_mode opens new sockets beside the old */
        lp->fds[i] = sp_net_listen(&pool->listen, pool->backlog,
                                   !pool->listen.is_unix, err, sizeof(err));
        if (lp->fds[i] < 0) {
            sp_log_error(log, 0, "pool '%s': cannot listen on %s: %s",
                         pool->name, pool->listen_pname, err);
            return -1;
        }
    }
    /* accepted sockets inherit these from the listener (Linux): the
     * workers spare a setsockopt per connection */
    for (uint32_t i = 0; !pool->listen.is_unix && i < lp->nfds; i++) {
        int on = 1, keep = pool->tcpkeepalive ? 1 : 0;
        setsockopt(lp->fds[i], IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        setsockopt(lp->fds[i], SOL_SOCKET, SO_KEEPALIVE, &keep, sizeof(keep));
    }
    sp_log_notice(log, "pool '%s' listening on %s (%s, %u server%s%s)%s",
                  pool->name, pool->listen_pname,
                  pool->redis ? "redis" : "memcache", pool->nservers,
                  pool->nservers == 1 ? "" : "s",
                  per_slot ? ", a socket per worker" : "",
                  kept == lp->nfds ? ": sockets kept"
                  : inherited == lp->nfds ? ": sockets inherited" : "");
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

/* A stats socket moved from `from_fd`, or inherited as key; -1: neither. */
static int
sp_listen_stats_reuse(int *from_fd, struct sp_listen_inherited *inh,
                      const char *key)
{
    int fd;

    if (from_fd != NULL && *from_fd >= 0) {
        fd = *from_fd;
        *from_fd = -1;
        return fd;
    }
    return sp_listen_take_inherited(inh, key);
}

/* Give what was moved back to `from` (a failed open). */
static void
sp_listen_give_back(struct sp_listen_set *set, struct sp_listen_set *from)
{
    for (uint32_t i = 0; from != NULL && i < set->npools; i++) {
        struct sp_listen_pool *lp = &set->pools[i];
        struct sp_listen_pool *old;

        if (lp->fds == NULL
            || (old = sp_listen_find(from, lp->key)) == NULL) {
            continue;
        }
        for (uint32_t j = 0; j < lp->nfds && j < old->nfds; j++) {
            if (old->fds[j] < 0) {
                old->fds[j] = lp->fds[j];
                lp->fds[j] = -1;
            }
        }
    }
    if (from != NULL && from->stats_fd < 0) {
        from->stats_fd = set->stats_fd;
        set->stats_fd = -1;
    }
    for (uint32_t i = 0; from != NULL && from->slot_stats_fds != NULL
                         && set->slot_stats_fds != NULL
                         && i < from->nslot_stats && i < set->nslot_stats; i++) {
        if (from->slot_stats_fds[i] < 0) {
            from->slot_stats_fds[i] = set->slot_stats_fds[i];
            set->slot_stats_fds[i] = -1;
        }
    }
}

int
sp_listen_open(struct sp_listen_set *set, const struct sp_conf *conf,
               const struct sp_listen_spec *spec, struct sp_log *log,
               struct sp_listen_set *from, struct sp_listen_inherited *inh)
{
    char key[SP_LISTEN_KEYLEN];

    memset(set, 0, sizeof(*set));
    set->npools = conf->npools;
    set->nslots = spec->nslots;
    set->stats_fd = -1;
    set->pools = calloc(conf->npools + 1, sizeof(*set->pools));
    if (set->pools == NULL) {
        sp_log_error(log, 0, "listeners: out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < conf->npools; i++) {
        if (sp_listen_pool_open(&set->pools[i], &conf->pools[i], spec, log,
                                from, inh) != 0) {
            goto fail;
        }
    }
    if (spec->stats_addr == NULL) {
        return 0;
    }
    set->stats_fd = sp_listen_stats_reuse(from != NULL ? &from->stats_fd
                                                        : NULL, inh, "stats");
    if (set->stats_fd < 0) {
        set->stats_fd = sp_listen_stats(spec->stats_addr, spec->stats_port,
                                        log);
    }
    if (set->stats_fd < 0) {
        goto fail;
    }
    if (spec->slot_stats == NULL) {
        return 0;
    }
    /* the workers' own, when configured: reused only for the same address */
    bool same = from != NULL && from->slot_stats_text != NULL
                && strcmp(from->slot_stats_text, spec->slot_stats_text) == 0;
    set->slot_stats_text = strdup(spec->slot_stats_text);
    set->slot_stats_fds = malloc(spec->nslots * sizeof(int));
    if (set->slot_stats_text == NULL || set->slot_stats_fds == NULL) {
        goto fail;
    }
    set->nslot_stats = spec->nslots;
    for (uint32_t i = 0; i < spec->nslots; i++) {
        set->slot_stats_fds[i] = -1;
    }
    for (uint32_t i = 0; i < spec->nslots; i++) {
        int *old = same && from->slot_stats_fds != NULL
                   && i < from->nslot_stats ? &from->slot_stats_fds[i] : NULL;
        sp_listen_slot_stats_key(spec->slot_stats_text, i, key, sizeof(key));
        set->slot_stats_fds[i] = sp_listen_stats_reuse(old, inh, key);
        if (set->slot_stats_fds[i] < 0) {
            set->slot_stats_fds[i] = sp_listen_slot_stats(spec, i, log);
        }
        if (set->slot_stats_fds[i] < 0) {
            goto fail;
        }
    }
    sp_log_notice(log, "stats on %s:%u, workers' own on '%s' (+ worker)",
                  spec->stats_addr, (unsigned)spec->stats_port,
                  spec->slot_stats_text);
    return 0;

fail:
    sp_listen_give_back(set, from);
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
    for (uint32_t i = 0; set->slot_stats_fds != NULL && i < set->nslot_stats;
         i++) {
        if (set->slot_stats_fds[i] >= 0) {
            close(set->slot_stats_fds[i]);
        }
    }
    free(set->slot_stats_fds);
    free(set->slot_stats_text);
    set->slot_stats_text = NULL;
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
    if (set->slot_stats_fds != NULL && slot < set->nslot_stats) {
        set->slot_stats_fds[slot] = -1;
    }
    sp_listen_close(set);
}

void
sp_listen_close_slot(struct sp_listen_set *set, uint32_t slot)
{
    for (uint32_t i = 0; set->pools != NULL && i < set->npools; i++) {
        struct sp_listen_pool *lp = &set->pools[i];
        if (!lp->shared && lp->fds[slot] >= 0) {
            close(lp->fds[slot]);
            lp->fds[slot] = -1;
        }
    }
    if (set->slot_stats_fds != NULL && slot < set->nslot_stats
        && set->slot_stats_fds[slot] >= 0) {
        close(set->slot_stats_fds[slot]);
        set->slot_stats_fds[slot] = -1;
    }
}

/* ---- USR2: naming the sockets for the next binary ----------------------------- */

static int
sp_listen_export_one(char **out, size_t *len, size_t *cap, int fd,
                     const char *key)
{
    char entry[SP_LISTEN_KEYLEN + 32];
    int n;

    if (fd < 0) {
        return 0;
    }
    fcntl(fd, F_SETFD, 0);          /* survives the exec */
    n = snprintf(entry, sizeof(entry), "%s%d=%s", *len > 0 ? ";" : "", fd, key);
    if (n < 0) {
        return -1;
    }
    if (*len + (size_t)n + 1 > *cap) {
        size_t want = (*cap + (size_t)n + 1) * 2;
        char *grown = realloc(*out, want);
        if (grown == NULL) {
            return -1;
        }
        *out = grown;
        *cap = want;
    }
    memcpy(*out + *len, entry, (size_t)n + 1);
    *len += (size_t)n;
    return 0;
}

char *
sp_listen_export(const struct sp_listen_set *set)
{
    char *out = NULL, key[SP_LISTEN_KEYLEN];
    size_t len = 0, cap = 0;
    int rc = 0;

    for (uint32_t i = 0; i < set->npools; i++) {
        for (uint32_t j = 0; j < set->pools[i].nfds; j++) {
            rc |= sp_listen_export_one(&out, &len, &cap, set->pools[i].fds[j],
                                       set->pools[i].key);
        }
    }
    rc |= sp_listen_export_one(&out, &len, &cap, set->stats_fd, "stats");
    for (uint32_t i = 0; set->slot_stats_fds != NULL && i < set->nslot_stats;
         i++) {
        sp_listen_slot_stats_key(set->slot_stats_text, i, key, sizeof(key));
        rc |= sp_listen_export_one(&out, &len, &cap, set->slot_stats_fds[i],
                                   key);
    }
    if (rc != 0 || out == NULL) {
        free(out);
        return rc != 0 ? NULL : strdup("");
    }
    return out;
}

int
sp_listen_inherit(struct sp_listen_inherited *inh, const char *env)
{
    const char *p = env;

    memset(inh, 0, sizeof(*inh));
    if (env == NULL || *env == '\0') {
        return 0;
    }
    while (*p != '\0') {
        const char *end = strchr(p, ';'), *eq = strchr(p, '=');
        size_t klen;
        char *num_end;
        long fd;

        if (end == NULL) {
            end = p + strlen(p);
        }
        if (eq == NULL || eq > end) {
            return -1;
        }
        fd = strtol(p, &num_end, 10);
        klen = (size_t)(end - eq - 1);
        if (num_end != eq || fd < 0 || klen == 0 || klen >= SP_LISTEN_KEYLEN) {
            return -1;
        }
        void *grown = realloc(inh->fds, (inh->n + 1) * sizeof(*inh->fds));
        if (grown == NULL) {
            return -1;
        }
        inh->fds = grown;
        inh->fds[inh->n].fd = (int)fd;
        memcpy(inh->fds[inh->n].key, eq + 1, klen);
        inh->fds[inh->n].key[klen] = '\0';
        inh->n++;
        p = *end == ';' ? end + 1 : end;
    }
    return 0;
}

void
sp_listen_inherited_free(struct sp_listen_inherited *inh)
{
    for (uint32_t i = 0; i < inh->n; i++) {
        if (inh->fds[i].fd >= 0) {
            close(inh->fds[i].fd);      /* the new configuration dropped it */
        }
    }
    free(inh->fds);
    memset(inh, 0, sizeof(*inh));
}
