/*
 * sp_master_procs.c — the master's workers: spawning one into its slot
 * (what the child keeps and closes), reaping, respawning with backoff, and
 * burying a retired generation.
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
#include "sp_worker_process.h"

/* ---- spawning and reaping --------------------------------------------------- */

int
sp_master_spawn(struct sp_master *master, struct sp_process *proc)
{
    struct sp_generation *gen = proc->gen;
    int channel[2];
    pid_t pid;

    if (sp_channel_open(channel) != 0) {
        sp_log_error(master->log, errno, "socketpair() failed");
        return -1;
    }
    sp_master_watchdog_spawned(master, proc);
    pid = fork();
    if (pid < 0) {
        sp_log_error(master->log, errno, "fork() failed");
        close(channel[0]);
        close(channel[1]);
        return -1;
    }
    if (pid == 0) {
        struct sp_worker_process wp = {
            .conf = gen->conf,
            .opts = master->opts,
            .log = master->log,
            .listen = &gen->listen,
            .shared = &gen->shared,
            .title = master->title,
            .slot = proc->slot,
            .nslots = gen->nprocs,
            .channel_fd = channel[1],
            .master_pid = getppid(),
        };
        int rc;

        close(channel[0]);
        /* nothing of the master's stays in a worker but its own sockets:
         * another worker's channel end held here would hide its EOF */
        for (struct sp_generation *g = master->current; g != NULL;
             g = g == master->current ? master->retiring : g->next) {
            for (uint32_t i = 0; i < g->nprocs; i++) {
                if (g->procs[i].channel >= 0) {
                    close(g->procs[i].channel);
                    g->procs[i].channel = -1;
                }
            }
        }
        sp_event_loop_destroy(master->loop);    /* never shared across fork */
        master->loop = NULL;
        if (master->peer_fd >= 0) {
            close(master->peer_fd);
            master->peer_fd = -1;
        }
        if (master->metrics_fd >= 0) {
            close(master->metrics_fd);
            master->metrics_fd = -1;
        }
        /* clients queued for a handoff are not this worker's to hold: a
         * copy here would keep them open after their new worker closes */
        for (uint32_t i = 0; i < master->nhandoffs; i++) {
            close(master->handoffs[i].fd);
        }
        master->nhandoffs = 0;
        sp_master_stats_forget(master);
        sp_sentinel_forget(master->sentinel);
        master->sentinel = NULL;
        sp_cluster_forget(master->cluster);
        master->cluster = NULL;
        for (struct sp_generation *g = master->retiring; g != NULL; g = g->next) {
            if (g->listen.pools != NULL) {
                sp_listen_close(&g->listen);
            }
        }
        rc = sp_worker_process_run(&wp);
        sp_master_free_all(master);
        exit(rc);
    }
    close(channel[1]);
    proc->channel = channel[0];
    proc->pid = pid;
    proc->state = SP_PROCESS_RUNNING;
    proc->started_ms = sp_event_now_ms(master->loop);
    if (sp_event_add(master->loop, proc->channel, SP_EV_READ | SP_EV_LEVEL,
                     sp_master_channel_event, proc) != 0) {
        sp_log_error(master->log, errno, "cannot watch worker #%u's channel",
                     proc->slot);
    }
    sp_log_notice(master->log, "worker #%u started: pid %ld (generation %u)",
                  proc->slot, (long)pid, gen->id);
    return 0;
}

static void sp_master_respawn_due(struct sp_event_loop *loop,
                                  struct sp_timer *timer);

/* Spawn the waiting slots whose time has come; arm the timer for the rest. */
void
sp_master_respawn(struct sp_master *master)
{
    struct sp_generation *gen = master->current;
    uint64_t now = sp_event_now_ms(master->loop), next = 0;

    for (uint32_t i = 0; i < gen->nprocs; i++) {
        struct sp_process *proc = &gen->procs[i];
        if (proc->state != SP_PROCESS_WAITING) {
            continue;
        }
        if (master->quitting || master->terminating || master->winched) {
            proc->state = SP_PROCESS_EMPTY;
            continue;
        }
        if (proc->respawn_at_ms <= now) {
            proc->respawns++;
            master->respawns++;
            if (sp_master_spawn(master, proc) != 0) {
                proc->respawn_at_ms = now + SP_PROCESS_BACKOFF_MAX_MS;
            }
        }
        if (proc->state == SP_PROCESS_WAITING
            && (next == 0 || proc->respawn_at_ms < next)) {
            next = proc->respawn_at_ms;
        }
    }
    if (next != 0) {
        sp_timer_add(master->loop, &master->respawn_timer, next - now,
                     sp_master_respawn_due, master);
    }
}

static void
sp_master_respawn_due(struct sp_event_loop *loop, struct sp_timer *timer)
{
    (void)loop;
    sp_master_respawn(timer->data);
}

/* Unregister and close a channel of the master's, and forget it. */
static void
sp_master_close_fd(struct sp_master *master, int *fd)
{
    if (*fd >= 0) {
        if (master->loop != NULL) {
            sp_event_del(master->loop, *fd);
        }
        close(*fd);
        *fd = -1;
    }
}

void
sp_master_close_channel(struct sp_master *master, struct sp_process *proc)
{
    sp_master_close_fd(master, &proc->channel);
}

void
sp_master_close_peer(struct sp_master *master)
{
    sp_master_close_fd(master, &master->peer_fd);
}

/* A retiring generation whose last worker is gone: fold and free it. */
void
sp_master_bury(struct sp_master *master)
{
    struct sp_generation **link = &master->retiring;

    while (*link != NULL) {
        struct sp_generation *gen = *link;
        if (sp_generation_count(gen, SP_PROCESS_RUNNING) > 0) {
            link = &gen->next;
            continue;
        }
        *link = gen->next;
        if (sp_totals_add_shared(&master->retired, gen->conf, &gen->shared)
            != 0) {
            sp_log_warn(master->log, ENOMEM, "generation %u's counters are "
                        "lost", gen->id);
        }
        sp_timer_del(master->loop, &gen->kill_timer);
        sp_log_notice(master->log, "generation %u has retired", gen->id);
        sp_generation_free(gen);
    }
}

struct sp_process *
sp_master_find(struct sp_master *master, pid_t pid)
{
    struct sp_process *proc = sp_generation_find(master->current, pid);

    for (struct sp_generation *g = master->retiring; proc == NULL && g != NULL;
         g = g->next) {
        proc = sp_generation_find(g, pid);
    }
    return proc;
}

void
sp_master_reap(struct sp_master *master)
{
    uint64_t now = sp_event_now_ms(master->loop);
    char text[256];
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == master->upgrade_pid) {
            sp_log_at(master->log, SP_LOG_ALERT, 0, "upgrade: the new binary "
                      "(pid %ld) exited with status %d; this master serves on",
                      (long)pid, status);
            master->upgrade_pid = 0;
            sp_master_close_peer(master);
            sp_upgrade_abandon(master->opts->pid_file, master->log);
            continue;
        }
        struct sp_process *proc = sp_master_find(master, pid);
        if (proc == NULL) {
            continue;
        }
        bool current = proc->gen == master->current;
        bool respawn = current && !master->quitting && !master->terminating
                       && !master->winched;
        sp_master_close_channel(master, proc);
        /* its connections died with it: its gauges go, its counters stay */
        sp_shared_slot_vacate(&proc->gen->shared, proc->slot);
        if ((master->quitting || master->terminating)
            && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            master->unclean = true;     /* the exit code says so */
        }
        switch (sp_process_ended(proc, status, now, respawn, text,
                                 sizeof(text))) {
        case SP_PROCESS_DONE:
            sp_log_at(master->log, WIFEXITED(status) && WEXITSTATUS(status) == 0
                      ? SP_LOG_NOTICE : SP_LOG_ALERT, 0, "%s", text);
            break;
        case SP_PROCESS_RESPAWN:
            sp_log_at(master->log, SP_LOG_ALERT, 0, "%s", text);
            break;
        case SP_PROCESS_GIVE_UP:
            sp_log_at(master->log, SP_LOG_ALERT, 0, "%s", text);
            /* its share of new connections goes to the others */
            sp_listen_close_slot(&proc->gen->listen, proc->slot);
            break;
        }
    }
    sp_master_bury(master);
    sp_master_respawn(master);
}

uint32_t
sp_master_count(const struct sp_master *master, sp_process_state_t state)
{
    uint32_t n = sp_generation_count(master->current, state);

    for (const struct sp_generation *g = master->retiring; g != NULL;
         g = g->next) {
        n += sp_generation_count(g, state);
    }
    return n;
}

