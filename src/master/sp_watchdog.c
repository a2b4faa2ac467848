/*
 * sp_watchdog.c — the master's watchdog: a worker whose event loop has not
 * turned for worker_watchdog ms is hung (a SIGSTOP, a loop stuck in a bug,
 * a page-in that never ends); the master logs it and SIGKILLs it, and the
 * reaper respawns the slot (sp_master_procs.c) as after any other death.
 *
 *   worker: each loop turn ─► heartbeat[slot] = its loop clock (one store)
 *   master: every period   ─► now - heartbeat > worker_watchdog ?
 *                               log (pid, slot, how long), SIGKILL
 *           SIGCHLD        ─► reap: lock freed, gauges vacated, respawn
 *
 * The new worker inherits the slot's listening sockets, which the master
 * keeps (sp_listen.c): the clients queued in their backlog are served, not
 * reset. An idle worker still turns once a second (its tick), a draining
 * one every SP_DRAIN_TICK_MS, and a starting one is measured from its fork
 * (the master writes the heartbeat before forking), so none is taken for
 * hung; the key's minimum (SP_CONF_WATCHDOG_MIN) is twice the tick.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>

#include "sp_master_int.h"
#include "sp_event.h"
#include "sp_generation.h"
#include "sp_process.h"
#include "sp_shared.h"

#define SP_WATCHDOG_PERIOD_MAX_MS   1000    /* checks: a quarter of the */
#define SP_WATCHDOG_PERIOD_MIN_MS   100     /* shortest limit, within these */

static void
sp_watchdog_check_gen(struct sp_master *master, struct sp_generation *gen,
                      uint64_t now)
{
    int limit = gen->conf->global.worker_watchdog;

    if (limit <= 0) {
        return;
    }
    for (uint32_t i = 0; i < gen->nprocs; i++) {
        struct sp_process *proc = &gen->procs[i];

        if (proc->state != SP_PROCESS_RUNNING || proc->pid <= 0
            || proc->watchdog_killed) {
            continue;
        }
        long long beat = atomic_load_explicit(
            sp_shared_heartbeat(&gen->shared, proc->slot),
            memory_order_relaxed);
        if (beat < 0 || (uint64_t)beat >= now
            || now - (uint64_t)beat < (uint64_t)limit) {
            continue;
        }
        sp_log_at(master->log, SP_LOG_ALERT, 0, "worker #%u (pid %ld, "
                  "generation %u) is hung: its event loop has not turned for "
                  "%llu ms (worker_watchdog %d ms): SIGKILL; a new worker "
                  "takes slot %u and its listening sockets", proc->slot,
                  (long)proc->pid, gen->id,
                  (unsigned long long)(now - (uint64_t)beat), limit,
                  proc->slot);
        if (kill(proc->pid, SIGKILL) != 0 && errno != ESRCH) {
            sp_log_error(master->log, errno, "kill(%ld, SIGKILL) failed",
                         (long)proc->pid);
            continue;
        }
        proc->watchdog_killed = true;   /* once: the reaper takes it */
        master->watchdog_kills++;
    }
}

static uint64_t
sp_watchdog_period(const struct sp_master *master)
{
    int limit = master->current->conf->global.worker_watchdog;
    uint64_t period = SP_WATCHDOG_PERIOD_MAX_MS;

    for (const struct sp_generation *g = master->retiring; g != NULL;
         g = g->next) {
        if (g->conf->global.worker_watchdog > 0
            && (limit <= 0 || g->conf->global.worker_watchdog < limit)) {
            limit = g->conf->global.worker_watchdog;
        }
    }
    if (limit > 0 && (uint64_t)limit / 4 < period) {
        period = (uint64_t)limit / 4;
    }
    return period < SP_WATCHDOG_PERIOD_MIN_MS ? SP_WATCHDOG_PERIOD_MIN_MS
                                              : period;
}

static void
sp_watchdog_tick(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_master *master = timer->data;
    uint64_t now;

    sp_event_update_time(loop);
    now = sp_event_now_ms(loop);
    sp_watchdog_check_gen(master, master->current, now);
    for (struct sp_generation *g = master->retiring; g != NULL; g = g->next) {
        sp_watchdog_check_gen(master, g, now);
    }
    sp_timer_add(loop, &master->watchdog_timer, sp_watchdog_period(master),
                 sp_watchdog_tick, master);
}

void
sp_master_watchdog_start(struct sp_master *master)
{
    sp_timer_add(master->loop, &master->watchdog_timer,
                 sp_watchdog_period(master), sp_watchdog_tick, master);
}

void
sp_master_watchdog_spawned(struct sp_master *master, struct sp_process *proc)
{
    /* a starting worker is measured from its fork */
    sp_event_update_time(master->loop);
    atomic_store_explicit(sp_shared_heartbeat(&proc->gen->shared, proc->slot),
                          (long long)sp_event_now_ms(master->loop),
                          memory_order_relaxed);
    proc->watchdog_killed = false;
}
