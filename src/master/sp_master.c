/*
 * sp_master.c — the master's life: its loop, the signals it acts on,
 * telling workers, stopping (see sp_master.h). Spawning and reaping are in
 * sp_master_procs.c, handoffs in sp_handoff.c, reload and upgrade in
 * sp_reload.c, what it shows in sp_master_stats.c.
 *
 *   master ── current generation (conf, sockets, shared memory, workers)
 *          └─ retiring generations, newest first, each freed when its last
 *             worker has exited; their workers send each client, at its
 *             next request boundary, here (HANDOFF) and the master passes
 *             it on to a current worker (ADOPT) with SCM_RIGHTS
 */
#include "sp_master.h"
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sp_master_int.h"
#include "sp_channel.h"
#include "sp_event.h"
#include "sp_cluster.h"
#include "sp_sentinel.h"
#include "sp_generation.h"
#include "sp_listen.h"
#include "sp_process.h"
#include "sp_shared.h"
#include "sp_signal.h"
#include "sp_stats_report.h"
#include "sp_totals.h"
#include "sp_upgrade.h"
#include "sp_worker_process.h"

const int sp_master_signal_set[] = {
    SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU,
    SIGWINCH, SIGCHLD, 0
};

/* ---- telling workers ------------------------------------------------------ */

void
sp_master_tell_gen(struct sp_master *master, struct sp_generation *gen,
                   uint32_t command, int64_t arg, int signo)
{
    for (uint32_t i = 0; i < gen->nprocs; i++) {
        struct sp_process *proc = &gen->procs[i];
        struct sp_channel_msg msg = { command, (int32_t)i, proc->pid, arg };

        if (proc->state != SP_PROCESS_RUNNING) {
            continue;
        }
        if (proc->channel < 0
            || sp_channel_send(proc->channel, &msg, -1) != 0) {
            /* a full or broken channel: the signal says the same */
            if (signo != 0 && kill(proc->pid, signo) != 0 && errno != ESRCH) {
                sp_log_error(master->log, errno, "kill(%ld, %d) failed",
                             (long)proc->pid, signo);
            }
        }
    }
}

void
sp_master_tell(struct sp_master *master, uint32_t command, int64_t arg,
               int signo)
{
    sp_master_tell_gen(master, master->current, command, arg, signo);
    for (struct sp_generation *g = master->retiring; g != NULL; g = g->next) {
        sp_master_tell_gen(master, g, command, arg, signo);
    }
}

/* ---- stopping ------------------------------------------------------------------ */

static void
sp_master_kill_gen(struct sp_master *master, struct sp_generation *gen)
{
    for (uint32_t i = 0; i < gen->nprocs; i++) {
        struct sp_process *proc = &gen->procs[i];
        if (proc->state == SP_PROCESS_RUNNING) {
            sp_log_warn(master->log, 0, "worker #%u (pid %ld, generation %u) "
                        "is still running: SIGKILL", proc->slot,
                        (long)proc->pid, gen->id);
            kill(proc->pid, SIGKILL);
        }
    }
}

static void
sp_master_kill_rest(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_master *master = timer->data;

    (void)loop;
    sp_master_kill_gen(master, master->current);
    for (struct sp_generation *g = master->retiring; g != NULL; g = g->next) {
        sp_master_kill_gen(master, g);
    }
}

void
sp_master_kill_retired(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_generation *gen = timer->data;

    sp_master_kill_gen(sp_event_loop_owner(loop), gen);
}

static void
sp_master_kill_current(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_master *master = timer->data;

    (void)loop;
    sp_master_kill_gen(master, master->current);
}

void
sp_master_terminate(struct sp_master *master)
{
    if (master->terminating) {
        return;
    }
    master->terminating = true;
    sp_master_tell(master, SP_CHANNEL_TERMINATE, 0, SIGTERM);
    sp_timer_add(master->loop, &master->kill_timer, SP_MASTER_KILL_AFTER_MS,
                 sp_master_kill_rest, master);
}

void
sp_master_quit(struct sp_master *master)
{
    int timeout = master->current->conf->global.worker_shutdown_timeout;

    if (master->quitting || master->terminating) {
        return;
    }
    master->quitting = true;
    if (master->peer_fd >= 0) {
        /* the other master of an upgrade serves on: every client goes to
         * it at its next request boundary (a rollback loses nothing) */
        sp_log_notice(master->log, "QUIT: handing the clients over to the "
                      "other master");
        sp_master_tell(master, SP_CHANNEL_RETIRE, 0, SIGQUIT);
    } else {
        sp_master_tell(master, SP_CHANNEL_QUIT, 0, SIGQUIT);
    }
    /* each generation drains under its own worker_shutdown_timeout */
    if (timeout > 0) {
        sp_timer_add(master->loop, &master->kill_timer,
                     (uint64_t)timeout * 1000 + SP_MASTER_KILL_AFTER_MS,
                     sp_master_kill_current, master);
    }
    for (struct sp_generation *g = master->retiring; g != NULL; g = g->next) {
        int gt = g->conf->global.worker_shutdown_timeout;
        if (!g->kill_timer.armed && gt > 0) {
            sp_timer_add(master->loop, &g->kill_timer,
                         (uint64_t)gt * 1000 + SP_MASTER_KILL_AFTER_MS,
                         sp_master_kill_retired, g);
        }
    }
}

/* ---- signals ------------------------------------------------------------------- */

static void
sp_master_signals(struct sp_master *master)
{
    int signo;

    while ((signo = sp_signals_next(&master->signals, sp_master_signal_set,
                                    master->log)) != 0) {
        switch (signo) {
        case SIGCHLD:
            sp_master_reap(master);
            break;
        case SIGINT:
        case SIGTERM:
            sp_master_terminate(master);
            break;
        case SIGQUIT:
            sp_master_quit(master);
            break;
        case SIGHUP:
            if (!master->quitting && !master->terminating) {
                sp_master_reload(master);
            }
            break;
        case SIGUSR2:
            if (!master->quitting && !master->terminating) {
                sp_master_upgrade(master);
            }
            break;
        case SIGWINCH:
            sp_master_winch(master);
            break;
        case SIGUSR1:
            sp_log_rotate(master->log);
            sp_master_tell(master, SP_CHANNEL_REOPEN, 0, SIGUSR1);
            break;
        case SIGTTIN:
        case SIGTTOU:
            sp_log_level_step(master->log, signo == SIGTTIN ? 1 : -1);
            sp_master_tell(master, SP_CHANNEL_LOG_LEVEL,
                           signo == SIGTTIN ? 1 : -1, signo);
            break;
        default:
            break;
        }
    }
}

/* ---- life ------------------------------------------------------------------------ */

static int
sp_master_init(struct sp_master *master, struct sp_conf *conf,
               uint32_t nworkers, struct sp_listen_inherited *inherited)
{
    struct sp_listen_spec spec = sp_master_spec(master, conf, nworkers);

    master->started_s = (int64_t)time(NULL);
    master->next_gen_id = 1;
    if (sp_master_check_user(conf, master->log) != 0) {
        return -1;
    }
    /* the master holds clients in flight during handoffs: it gets the
     * workers' descriptor limit too (before its loop sizes itself) */
    if (conf->global.max_openfiles > 0) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
            rl.rlim_cur = (rlim_t)conf->global.max_openfiles;
            if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur) {
                rl.rlim_max = rl.rlim_cur;
            }
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
                sp_log_warn(master->log, errno, "setrlimit(RLIMIT_NOFILE, %d) "
                            "failed; the master keeps its limit",
                            conf->global.max_openfiles);
            }
        }
    }
    if (sp_signals_install(&master->signals, sp_master_signal_set,
                           master->log->fd) != 0) {
        sp_log_error(master->log, errno, "sigaction() failed");
        return -1;
    }
    if (sp_totals_init(&master->retired, conf) != 0) {
        sp_log_error(master->log, ENOMEM, "cannot set up the stats");
        return -1;
    }
    master->current = sp_generation_create(master->next_gen_id++, conf, false,
                                           nworkers, &spec, NULL, inherited,
                                           master->log);
    if (inherited != NULL) {
        sp_listen_inherited_free(inherited);    /* what the config dropped */
    }
    if (master->current == NULL) {
        return -1;
    }
    master->loop = sp_event_loop_create(0, 0, master->log);
    if (master->loop == NULL) {
        sp_log_error(master->log, errno, "cannot create the event loop");
        return -1;
    }
    sp_event_set_owner(master->loop, master);
    sp_event_set_wait_sigmask(master->loop, &master->signals.wait_mask);
    if (master->peer_fd >= 0
        && sp_event_add(master->loop, master->peer_fd, SP_EV_READ | SP_EV_LEVEL,
                        sp_master_peer_event, master) != 0) {
        sp_log_error(master->log, errno, "upgrade: cannot watch the channel "
                     "to the old master");
        return -1;
    }
    if (master->current->listen.stats_fd >= 0
        && sp_event_add(master->loop, master->current->listen.stats_fd,
                        SP_EV_READ | SP_EV_LEVEL, sp_master_stats_accept,
                        master) != 0) {
        sp_log_error(master->log, errno, "stats: cannot watch the listener");
        return -1;
    }
    return 0;
}

void
sp_master_free_all(struct sp_master *master)
{
    sp_sentinel_stop(master->sentinel);
    master->sentinel = NULL;
    sp_cluster_stop(master->cluster);
    master->cluster = NULL;
    sp_master_stats_stop(master);
    for (uint32_t i = 0; i < master->nhandoffs; i++) {
        close(master->handoffs[i].fd);
    }
    free(master->handoffs);
    master->handoffs = NULL;
    master->nhandoffs = 0;
    if (master->loop != NULL) {
        sp_timer_del(master->loop, &master->respawn_timer);
        sp_timer_del(master->loop, &master->kill_timer);
        sp_timer_del(master->loop, &master->handoff_timer);
        sp_timer_del(master->loop, &master->watchdog_timer);
        sp_timer_del(master->loop, &master->retire_timer);
        for (struct sp_generation *g = master->retiring; g != NULL; g = g->next) {
            sp_timer_del(master->loop, &g->kill_timer);
        }
        sp_event_loop_destroy(master->loop);
        master->loop = NULL;
    }
    while (master->retiring != NULL) {
        struct sp_generation *g = master->retiring;
        master->retiring = g->next;
        sp_generation_free(g);
    }
    sp_generation_free(master->current);
    master->current = NULL;
    sp_totals_free(&master->retired);
    if (master->peer_fd >= 0) {
        close(master->peer_fd);
        master->peer_fd = -1;
    }
}

static bool
sp_master_done(struct sp_master *master, int *rc)
{
    if (sp_master_count(master, SP_PROCESS_RUNNING) > 0
        || sp_master_count(master, SP_PROCESS_WAITING) > 0
        || master->nhandoffs > 0) {
        return false;
    }
    if (master->quitting || master->terminating) {
        return true;
    }
    if (master->winched) {
        return false;           /* on purpose: HUP starts workers again */
    }
    sp_log_at(master->log, SP_LOG_ALERT, 0, "no worker is left running: "
              "exiting");
    *rc = EXIT_FAILURE;
    return true;
}

int
sp_master_run(const struct sp_master_args *args)
{
    struct sp_master master = {
        .opts = args->opts, .log = args->log, .title = args->title,
        .exe = args->exe, .argv = args->argv, .peer_fd = args->peer_fd,
        .metrics_fd = -1,
    };
    char text[512];
    int rc = EXIT_SUCCESS;

    if (sp_master_init(&master, args->conf, args->nworkers, args->inherited)
        != 0 || sp_master_stats_start(&master) != 0) {
        sp_master_free_all(&master);
        return EXIT_FAILURE;
    }
    if (args->opts->pid_file != NULL
        && sp_pid_file_write(args->opts->pid_file, args->log) != 0) {
        sp_master_free_all(&master);
        return EXIT_FAILURE;
    }
    snprintf(text, sizeof(text), "master process %s",
             args->title->cmdline != NULL ? args->title->cmdline : "");
    sp_proctitle_set(args->title, text);
    sp_log_notice(args->log, "shardproxy-%s master started on pid %ld: %u "
                  "worker%s, accept_mode %s, event_backend %s",
                  SP_VERSION_STRING,
                  (long)getpid(), args->nworkers, args->nworkers == 1 ? "" : "s",
                  args->conf->global.accept_mode == SP_ACCEPT_LOCK ? "lock"
                                                                   : "reuseport",
                  args->conf->global.event_backend == SP_EVENT_BACKEND_URING
                  ? "io_uring" : "epoll");
    master.sentinel = sp_sentinel_start(&master, master.current, NULL);
    master.cluster = sp_cluster_start(&master, master.current, NULL);
    for (uint32_t i = 0; i < master.current->nprocs; i++) {
        if (sp_master_spawn(&master, &master.current->procs[i]) != 0) {
            sp_master_terminate(&master);
            rc = EXIT_FAILURE;
            break;
        }
    }
    sp_master_watchdog_start(&master);

    while (!sp_master_done(&master, &rc)) {
        if (sp_event_poll(master.loop, -1) < 0) {
            sp_log_error(args->log, errno, "master loop failed");
            sp_master_terminate(&master);
            rc = EXIT_FAILURE;
        }
        sp_master_signals(&master);
        sp_master_retire_check(&master);
    }
    if (master.unclean) {
        sp_log_error(args->log, 0, "a worker did not stop cleanly");
        rc = EXIT_FAILURE;
    }
    sp_log_notice(args->log, "shardproxy master exiting");
    if (args->opts->pid_file != NULL) {
        char oldbin[4096];
        /* after an upgrade our pid file is the .oldbin one */
        sp_upgrade_oldbin_path(args->opts->pid_file, oldbin, sizeof(oldbin));
        unlink(master.upgrade_pid != 0 ? oldbin : args->opts->pid_file);
    }
    sp_master_free_all(&master);
    return rc;
}
