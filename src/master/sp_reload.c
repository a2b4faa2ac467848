/*
 * sp_reload.c — replacing what serves without losing a reply: a reload
 * (HUP) as a new generation whose predecessor retires once it serves, the
 * binary upgrade (USR2) and WINCH.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sp_master_int.h"
#include "sp_cluster.h"
#include "sp_sentinel.h"
#include "sp_channel.h"
#include "sp_event.h"
#include "sp_generation.h"
#include "sp_listen.h"
#include "sp_process.h"
#include "sp_shared.h"
#include "sp_signal.h"
#include "sp_stats_report.h"
#include "sp_totals.h"
#include "sp_upgrade.h"
#include "sp_worker.h"
#include "sp_worker_process.h"

/* ---- reload (HUP) and upgrade (USR2, WINCH) -------------------------------------- */

int
sp_master_check_user(const struct sp_conf *conf, struct sp_log *log)
{
    if (conf->global.user != NULL && getpwnam(conf->global.user) == NULL) {
        sp_log_error(log, 0, "user '%s' does not exist", conf->global.user);
        return -1;
    }
    if (conf->global.group != NULL && getgrnam(conf->global.group) == NULL) {
        sp_log_error(log, 0, "group '%s' does not exist", conf->global.group);
        return -1;
    }
    return 0;
}

struct sp_listen_spec
sp_master_spec(const struct sp_master *master, const struct sp_conf *conf,
               uint32_t nworkers)
{
    struct sp_listen_spec spec = {
        .nslots = nworkers,
        .per_slot = conf->global.accept_mode == SP_ACCEPT_REUSEPORT,
        .stats_addr = master->opts->stats_addr,
        .stats_port = master->opts->stats_port,
        .slot_stats_text = conf->global.worker_stats_listen,
        .slot_stats = conf->global.worker_stats_listen != NULL
                      ? &conf->global.worker_stats_addr : NULL,
    };
    return spec;
}

static void
sp_master_reload_failed(struct sp_master *master, const char *why)
{
    master->reload_failed++;
    sp_log_error(master->log, 0, "reload failed: %s; still serving "
                 "generation %u", why, master->current->id);
}

void
sp_master_reload(struct sp_master *master)
{
    struct sp_generation *old = master->current, *gen;
    struct sp_conf *conf = NULL;
    char err[SP_CONF_ERRLEN];
    uint32_t nworkers;

    sp_log_rotate(master->log);
    sp_master_tell(master, SP_CHANNEL_REOPEN, 0, SIGUSR1);
    if (sp_conf_load(master->opts->conf_file, &conf, err, sizeof(err)) != 0) {
        sp_master_reload_failed(master, err);
        return;
    }
    sp_worker_backend_check(conf, master->log);
    nworkers = sp_worker_count(conf);
    if (nworkers == 0) {
        sp_conf_free(conf);
        sp_master_reload_failed(master, "worker_processes 0 (a single "
                                "process) takes a restart");
        return;
    }
    if (sp_master_check_user(conf, master->log) != 0) {
        sp_conf_free(conf);
        sp_master_reload_failed(master, "no such user or group");
        return;
    }
    const char *was = old->conf->global.metrics_listen,
               *now = conf->global.metrics_listen;
    if ((was == NULL) != (now == NULL)
        || (was != NULL && strcmp(was, now) != 0)) {
        sp_log_warn(master->log, 0, "reload: metrics_listen changes take a "
                    "restart; the endpoint stays on %s",
                    was != NULL ? was : "(none)");
    }
    struct sp_listen_spec spec = sp_master_spec(master, conf, nworkers);
    gen = sp_generation_create(master->next_gen_id, conf, true, nworkers,
                               &spec, &old->listen, NULL, master->log);
    if (gen == NULL) {
        sp_conf_free(conf);
        sp_master_reload_failed(master, "the new generation could not be "
                                "set up (see above)");
        return;
    }
    if (sp_totals_relayout(&master->retired, conf) != 0) {
        sp_log_warn(master->log, ENOMEM, "earlier generations' counters are "
                    "lost");
        sp_totals_free(&master->retired);
        sp_totals_init(&master->retired, conf);
    }
    master->next_gen_id++;
    master->current = gen;
    struct sp_sentinel *follower = master->sentinel;
    master->sentinel = sp_sentinel_start(master, gen, follower);
    sp_sentinel_stop(follower);
    struct sp_cluster *clusters = master->cluster;
    master->cluster = sp_cluster_start(master, gen, clusters);
    sp_cluster_stop(clusters);
    sp_master_stats_reload(master);
    master->winched = false;
    master->reloads++;
    /* the old generation's sockets that moved are the new one's; what is
     * left there (removed addresses, surplus slots) nobody accepts on */
    sp_listen_close(&old->listen);
    old->retiring = true;
    old->next = master->retiring;
    master->retiring = old;
    for (uint32_t i = 0; i < old->nprocs; i++) {
        if (old->procs[i].state == SP_PROCESS_WAITING) {
            old->procs[i].state = SP_PROCESS_EMPTY;     /* no respawn */
        }
    }
    for (uint32_t i = 0; i < gen->nprocs; i++) {
        if (sp_master_spawn(master, &gen->procs[i]) != 0) {
            gen->procs[i].state = SP_PROCESS_WAITING;      /* try again */
            gen->procs[i].respawn_at_ms = sp_event_now_ms(master->loop)
                                          + SP_MASTER_SPAWN_RETRY_MS;
        }
    }
    sp_log_notice(master->log, "reloaded '%s': generation %u with %u "
                  "worker%s; generation %u hands its clients over and retires "
                  "once it serves", master->opts->conf_file, gen->id, nworkers,
                  nworkers == 1 ? "" : "s", old->id);
    sp_master_respawn(master);
    sp_master_retire_check(master);
    sp_master_bury(master);
}

static void sp_master_retire_due(struct sp_event_loop *loop,
                                 struct sp_timer *timer);

/*
 * Retiring generations are told to hand their clients over only once the
 * current one serves (a worker has set up): if the new workers cannot
 * start (a bad CPU list, a limit they may not raise), the old ones simply
 * keep serving.
 */
void
sp_master_retire_check(struct sp_master *master)
{
    bool pending = false;

    for (struct sp_generation *g = master->retiring; g != NULL; g = g->next) {
        if (g->retire_sent) {
            continue;
        }
        if (sp_generation_serving(master->current) == 0) {
            pending = true;
            continue;
        }
        g->retire_sent = true;
        sp_master_tell_gen(master, g, SP_CHANNEL_RETIRE, 0, SIGQUIT);
        if (g->conf->global.worker_shutdown_timeout > 0) {
            sp_timer_add(master->loop, &g->kill_timer,
                         (uint64_t)g->conf->global.worker_shutdown_timeout * 1000
                         + SP_MASTER_KILL_AFTER_MS, sp_master_kill_retired, g);
        }
    }
    if (pending && !master->retire_timer.armed) {
        sp_timer_add(master->loop, &master->retire_timer, SP_MASTER_RETRY_MS,
                     sp_master_retire_due, master);
    }
}

static void
sp_master_retire_due(struct sp_event_loop *loop, struct sp_timer *timer)
{
    (void)loop;
    sp_master_retire_check(timer->data);
}

void
sp_master_upgrade(struct sp_master *master)
{
    if (master->upgrade_pid != 0 || master->peer_fd >= 0) {
        sp_log_warn(master->log, 0, "upgrade: one is already under way (the "
                    "other master still runs); finish it first");
        return;
    }
    pid_t pid = sp_upgrade_start(master->exe, master->argv,
                                 &master->current->listen,
                                 master->opts->pid_file, sp_master_signal_set,
                                 &master->peer_fd, master->log);
    if (pid > 0) {
        master->upgrade_pid = pid;
        if (sp_event_add(master->loop, master->peer_fd,
                         SP_EV_READ | SP_EV_LEVEL, sp_master_peer_event,
                         master) != 0) {
            sp_log_error(master->log, errno, "upgrade: cannot watch the "
                         "channel to the new master");
        }
    }
}

void
sp_master_winch(struct sp_master *master)
{
    if (master->winched) {
        return;
    }
    master->winched = true;
    sp_log_notice(master->log, "WINCH: the workers finish what they read%s "
                  "and exit; this master stays (HUP starts them again)",
                  master->peer_fd >= 0 ? ", hand their clients over to the new "
                                         "master" : "");
    sp_master_tell_gen(master, master->current,
                       master->peer_fd >= 0 ? SP_CHANNEL_RETIRE : SP_CHANNEL_QUIT,
                       0, SIGQUIT);
}

