/*
 * sp_master.h — the master process: it opens the listeners and the shared
 * memory, forks the workers, supervises them through their channels and
 * signals, respawns the ones that die, and serves the stats summed over
 * all workers. It carries no client traffic.
 *
 *   signals (handlers set flags) ──► master loop: epoll_pwait with the
 *   signals unblocked only inside the wait (sigsuspend's guarantee), plus
 *   the stats port and the respawn timer
 *      CHLD         reap; respawn (backoff if a worker keeps dying)
 *      QUIT         workers drain, then everyone exits
 *      TERM, INT    workers exit now; the master when they are gone
 *      HUP          reload: a new generation (sp_generation.h); clients
 *                   are handed over to it at their request boundaries
 *      USR2         start the new binary with our sockets (sp_upgrade.h)
 *      WINCH        workers drain; the master stays (HUP brings them back)
 *      USR1         reopen the logs (master and workers)
 *      TTIN, TTOU   log level up / down (master and workers)
 */
#ifndef SP_MASTER_H
#define SP_MASTER_H

#include "sp_cli.h"
#include "sp_conf.h"
#include "sp_log.h"
#include "sp_proctitle.h"

struct sp_listen_inherited;

struct sp_master_args {
    const struct sp_options    *opts;
    struct sp_conf             *conf;       /* the first generation's */
    struct sp_log              *log;
    const struct sp_proctitle  *title;
    uint32_t                    nworkers;
    const char                 *exe;        /* the binary on disk (USR2) */
    char *const                *argv;       /* our arguments (USR2) */
    struct sp_listen_inherited *inherited;  /* sockets of the previous
                                               binary; unused ones closed */
    int                         peer_fd;    /* channel to the old master
                                               (we are its upgrade), or -1 */
};

/* Serve until stopped; returns the exit code. */
int sp_master_run(const struct sp_master_args *args);

#endif /* SP_MASTER_H */
