/*
 * sp_accept.c — arming listeners per accept mode, the accept lock, pauses
 * (see sp_accept.h).
 */
#include "sp_accept.h"

#include <errno.h>
#include <unistd.h>

#include "sp_client.h"
#include "sp_pool.h"
#include "sp_shared.h"
#include "sp_worker.h"

#define SP_ACCEPT_RETRY_MS  100     /* after EMFILE / ENFILE */
#define SP_ACCEPT_DRAIN_MAX 4096    /* retiring: queued connections taken */

static uint32_t
sp_accept_interest(const struct sp_worker *worker, const struct sp_pool *pool)
{
    uint32_t interest = SP_EV_READ | SP_EV_LEVEL;

    if (worker->accept_lock) {
        interest |= SP_EV_FIRST;
    } else if (pool->listen_shared) {
        interest |= SP_EV_EXCLUSIVE;
    }
    return interest;
}

static void
sp_accept_arm(struct sp_worker *worker, struct sp_pool *pool)
{
    struct sp_conn *listener = pool->listener;

    if (listener == NULL || pool->listen_armed || listener->timer.armed) {
        return;
    }
    if (sp_event_add(worker->loop, listener->fd,
                     sp_accept_interest(worker, pool), sp_worker_on_event,
                     listener) != 0) {
        sp_log_error(worker->log, errno, "pool '%s': cannot watch the "
                     "listener", pool->conf->name);
        return;
    }
    pool->listen_armed = true;
}

static void
sp_accept_disarm(struct sp_worker *worker, struct sp_pool *pool)
{
    if (pool->listener == NULL || !pool->listen_armed) {
        return;
    }
    sp_event_del(worker->loop, pool->listener->fd);
    pool->listen_armed = false;
}

int
sp_accept_start(struct sp_worker *worker)
{
    if (worker->accept_lock) {
        sp_event_set_first_pass_hook(worker->loop, sp_accept_unlock, worker);
        return 0;       /* armed by sp_accept_cycle when the lock is ours */
    }
    for (uint32_t i = 0; i < worker->npools; i++) {
        worker->has_shared |= worker->pools[i].listen_shared;
        sp_accept_arm(worker, &worker->pools[i]);
        if (!worker->pools[i].listen_armed) {
            return -1;
        }
    }
    return 0;
}

/* Not too far ahead of the least loaded other worker (lock mode). */
static bool
sp_accept_fair(const struct sp_worker *worker)
{
    const struct sp_shared_header *h = worker->shared->header;
    int64_t least = -1, slack;

    for (uint32_t i = 0; i < h->nslots; i++) {
        const struct sp_stats_slot *slot = sp_shared_slot(worker->shared, i);
        if (i != worker->index && slot->pid != 0
            && (least < 0 || slot->clients < least)) {
            least = slot->clients;
        }
    }
    if (least < 0) {
        return true;            /* alone */
    }
    slack = least / 8 > SP_ACCEPT_SLACK ? least / 8 : SP_ACCEPT_SLACK;
    return (int64_t)worker->nclients < least + slack;
}

bool
sp_accept_has_room(const struct sp_worker *worker, const struct sp_pool *pool)
{
    if (worker->accept_threshold != 0
        && worker->nclients >= worker->accept_threshold) {
        return false;
    }
    return !(worker->accept_lock || pool->listen_shared)
           || sp_accept_fair(worker);
}

static bool
sp_accept_trylock(struct sp_worker *worker)
{
    atomic_int *lock = &worker->shared->header->accept_lock;
    int expected = 0;

    return atomic_compare_exchange_strong(lock, &expected, (int)worker->pid);
}

int
sp_accept_cycle(struct sp_worker *worker)
{
    bool take, fair;
    int wait_ms = -1;

    if (worker->draining || !(worker->accept_lock || worker->has_shared)) {
        return -1;
    }
    fair = (worker->accept_threshold == 0
            || worker->nclients < worker->accept_threshold)
           && sp_accept_fair(worker);
    if (worker->accept_lock) {
        take = fair && sp_accept_trylock(worker);
        worker->lock_held = take;
        for (uint32_t i = 0; i < worker->npools; i++) {
            if (take) {
                sp_accept_arm(worker, &worker->pools[i]);
            } else {
                sp_accept_disarm(worker, &worker->pools[i]);
            }
        }
        /* without the lock, look again soon: the holder may fill up */
        return take ? -1 : SP_ACCEPT_LOCK_DELAY_MS;
    }
    /* reuseport mode: a shared (Unix) listener is armed only while this
     * worker is not ahead of the others; look again soon when it is not */
    for (uint32_t i = 0; i < worker->npools; i++) {
        struct sp_pool *pool = &worker->pools[i];
        if (!pool->listen_shared) {
            continue;
        }
        if (fair) {
            sp_accept_arm(worker, pool);
        } else {
            sp_accept_disarm(worker, pool);
            wait_ms = SP_ACCEPT_LOCK_DELAY_MS;
        }
    }
    return wait_ms;
}

void
sp_accept_unlock(void *data)
{
    struct sp_worker *worker = data;
    atomic_int *lock = &worker->shared->header->accept_lock;
    int expected = (int)worker->pid;

    if (worker->lock_held) {
        atomic_compare_exchange_strong(lock, &expected, 0);
        worker->lock_held = false;
    }
}

static void
sp_accept_resume(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_conn *listener = timer->data;

    (void)loop;
    if (!listener->worker->draining
        && (!listener->worker->accept_lock || listener->worker->lock_held)) {
        sp_accept_arm(listener->worker, listener->pool);
    }
}

void
sp_accept_pause(struct sp_conn *listener, int err)
{
    struct sp_worker *worker = listener->worker;

    sp_log_error(worker->log, err, "pool '%s': accept4() failed; pausing "
                 "accepts for %d ms", listener->pool->conf->name,
                 SP_ACCEPT_RETRY_MS);
    sp_accept_disarm(worker, listener->pool);
    sp_timer_add(worker->loop, &listener->timer, SP_ACCEPT_RETRY_MS,
                 sp_accept_resume, listener);
}

/*
 * A retiring worker may hold the last copy of a socket the new generation
 * dropped (an address removed, a worker slot fewer): what waits in its
 * queue is taken now and handed over with the rest, not reset at close.
 */
static void
sp_accept_drain_queue(struct sp_worker *worker, struct sp_pool *pool)
{
    for (int n = 0; n < SP_ACCEPT_DRAIN_MAX; n++) {
        int fd = accept4(pool->listener->fd, NULL, NULL,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;             /* EAGAIN: the queue is empty */
        }
        atomic_fetch_add(&worker->shared->pool_clients[pool->index], 1);
        if (sp_client_open(pool, fd, false) == NULL) {
            atomic_fetch_sub(&worker->shared->pool_clients[pool->index], 1);
            close(fd);
        }
    }
}

void
sp_accept_stop(struct sp_worker *worker)
{
    sp_accept_unlock(worker);
    for (uint32_t i = 0; i < worker->npools; i++) {
        struct sp_pool *pool = &worker->pools[i];
        if (pool->listener != NULL && worker->handoff) {
            sp_accept_drain_queue(worker, pool);
        }
        if (pool->listener != NULL) {
            sp_accept_disarm(worker, pool);
            /* closes this process's copy only: the master keeps the socket
             * and what is queued in it */
            sp_conn_free(pool->listener);
            pool->listener = NULL;
        }
    }
}
