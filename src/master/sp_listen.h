/*
 * sp_listen.h — the listening sockets of one generation, opened by the
 * master (or by the single process) and never by a worker.
 *
 * Per pool, by accept mode:
 *   reuseport, TCP   one SO_REUSEPORT socket per worker slot (the kernel
 *                    balances new connections over them);
 *   lock, TCP        one socket shared by every worker;
 *   Unix socket      bound once, shared by every worker, whatever the mode.
 * Stats: the master's port (the sum over workers; the only stats socket
 * by default, as nutcracker binds one) and, when `worker_stats_listen` is
 * configured, one socket per worker: worker i serves its own stats on
 * port + i of that address, or on the Unix socket "<path>.<i>".
 *
 * The master keeps every socket open for the life of the generation, so a
 * worker that dies and is respawned gets back the very sockets it had,
 * with the connections queued in them.
 *
 * Sockets outlive generations: a reload opens the new generation's set
 * from the old one, moving every socket whose address (its key,
 * "inet:127.0.0.1:22121" or "unix:/path") and kind still match, so those
 * are never closed and reopened and nothing queued in them is lost. A new
 * binary (USR2) inherits them the same way, named in the environment:
 *   SHARDPROXY_LISTEN_FDS="5=inet:127.0.0.1:22121;6=stats;7=wstats:0;..."
 */
#ifndef SP_LISTEN_H
#define SP_LISTEN_H

#include <stdbool.h>
#include <stdint.h>

#include "sp_conf.h"
#include "sp_log.h"

#define SP_LISTEN_ENV    "SHARDPROXY_LISTEN_FDS"
#define SP_LISTEN_KEYLEN 160

struct sp_listen_pool {
    int     *fds;           /* one per slot, or one shared */
    uint32_t nfds;
    bool     shared;
    char     key[SP_LISTEN_KEYLEN];
};

struct sp_listen_set {
    struct sp_listen_pool *pools;
    uint32_t               npools;
    uint32_t               nslots;
    int                    stats_fd;        /* -1: no stats port */
    int                   *slot_stats_fds;  /* nslots, or NULL */
    uint32_t               nslot_stats;
    char                  *slot_stats_text; /* worker_stats_listen they
                                               were opened for */
};

struct sp_listen_spec {
    uint32_t    nslots;         /* worker slots (1 for a single process) */
    bool        per_slot;       /* reuseport mode: a TCP socket per slot */
    const char *stats_addr;     /* NULL: no stats port */
    uint16_t    stats_port;
    const char *slot_stats_text;            /* worker_stats_listen; NULL:
                                               no stats socket per worker */
    const struct sp_conf_addr *slot_stats;  /* ... parsed */
};

/* Sockets handed down by the previous binary (USR2), from the environment. */
struct sp_listen_inherited {
    struct {
        int  fd;
        char key[SP_LISTEN_KEYLEN];
    }       *fds;
    uint32_t n;
};

/*
 * Open everything spec asks for conf, taking matching sockets from `from`
 * (the previous generation; those move, the rest of it is left alone) and
 * from `inherited` first. 0, or -1 after logging (nothing new stays open,
 * nothing moved is lost: it goes back).
 */
int sp_listen_open(struct sp_listen_set *set, const struct sp_conf *conf,
                   const struct sp_listen_spec *spec, struct sp_log *log,
                   struct sp_listen_set *from,
                   struct sp_listen_inherited *inherited);
void sp_listen_close(struct sp_listen_set *set);

/* The socket slot uses for pool. */
int sp_listen_fd(const struct sp_listen_set *set, uint32_t pool,
                 uint32_t slot);

/*
 * The descriptors of `slot` now belong to a worker (in this process): close
 * every other one (other slots', the master's stats port unless it was
 * handed over too: keep_stats) and free the set without closing the
 * slot's.
 */
void sp_listen_hand_over(struct sp_listen_set *set, uint32_t slot,
                         bool keep_stats);

/*
 * No worker will serve `slot` again: close its own sockets (a reuseport
 * socket nobody accepts on would keep taking its share of connections).
 */
void sp_listen_close_slot(struct sp_listen_set *set, uint32_t slot);

/* The stats address of worker slot: base's port + slot, or the Unix path
 * "<path>.<slot>" (into a copy that shares nothing with base). 0, or -1
 * when the port or path is out of range. */
int sp_listen_slot_stats_addr(const struct sp_conf_addr *base, uint32_t slot,
                              struct sp_conf_addr *out, char *path,
                              size_t pathlen);

/*
 * For exec: "fd=key;..." naming every socket of set (into a malloc'd
 * string), and clear their close-on-exec flags. NULL: ENOMEM.
 */
char *sp_listen_export(const struct sp_listen_set *set);

/* Parse SP_LISTEN_ENV (absent: nothing inherited). 0, or -1 if malformed. */
int sp_listen_inherit(struct sp_listen_inherited *inh, const char *env);

/* Close what nobody took and free. */
void sp_listen_inherited_free(struct sp_listen_inherited *inh);

#endif /* SP_LISTEN_H */
