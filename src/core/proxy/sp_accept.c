/*
 * sp_accept.c — arming listeners per accept mode, the balance of a shared
 * listener, the spare descriptor for EMFILE, pauses (see sp_accept.h).
 */
#include "sp_accept.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sp_client.h"
#include "sp_pool.h"
#include "sp_shared.h"
#include "sp_worker.h"

#define SP_ACCEPT_RETRY_MS  100     /* after EMFILE with no spare, ENFILE */
#define SP_ACCEPT_DRAIN_MAX 4096    /* retiring: queued connections taken */

static uint32_t
sp_accept_interest(const struct sp_pool *pool)
{
    uint32_t interest = SP_EV_READ | SP_EV_LEVEL;

    if (pool->listen_shared) {
        interest |= SP_EV_EXCLUSIVE;    /* one worker woken, not all */
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
    if (sp_event_add(worker->loop, listener->fd, sp_accept_interest(pool),
                     sp_worker_on_event, listener) != 0) {
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

/* The loop turns: the heartbeat the master's watchdog reads too. */
static void
sp_accept_turned(struct sp_worker *worker, uint64_t now)
{
    atomic_store_explicit(worker->heartbeat, (long long)now,
                          memory_order_relaxed);
}

int
sp_accept_start(struct sp_worker *worker)
{
    for (uint32_t i = 0; i < worker->npools; i++) {
        worker->has_shared |= worker->pools[i].listen_shared;
        sp_accept_arm(worker, &worker->pools[i]);
        if (!worker->pools[i].listen_armed) {
            return -1;
        }
    }
    worker->slot->accepting = worker->has_shared;
    sp_accept_turned(worker, sp_event_now_ms(worker->loop));
    return 0;
}

/* A connection waits in a shared listener (we are yielding: someone else
 * should have been woken for it). */
static bool
sp_accept_queued(const struct sp_worker *worker)
{
    for (uint32_t i = 0; i < worker->npools; i++) {
        const struct sp_pool *pool = &worker->pools[i];
        struct pollfd pfd;
        if (!pool->listen_shared || pool->listener == NULL) {
            continue;
        }
        pfd = (struct pollfd){ .fd = pool->listener->fd, .events = POLLIN };
        if (poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN)) {
            return true;
        }
    }
    return false;
}

/* The process is stopped (SIGSTOP, a debugger): /proc/PID/stat says T/t. */
static bool
sp_accept_stopped(int64_t pid)
{
    char path[64], buf[512], *paren;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%lld/stat", (long long)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return false;
    }
    buf[n] = '\0';
    paren = strrchr(buf, ')');      /* "pid (comm) S ...": comm may hold ')' */
    return paren != NULL && paren[1] == ' '
           && (paren[2] == 'T' || paren[2] == 't');
}

/* Whether the worker should leave the shared listeners to the others now
 * (the balance, sp_accept.h). */
static bool
sp_accept_should_yield(const struct sp_worker *worker)
{
    const struct sp_shared_header *h = worker->shared->header;
    int64_t now = (int64_t)sp_event_now_ms(worker->loop);
    int64_t mine = worker->nclients, least = -1, slack;
    int64_t threshold = worker->accept_threshold;
    bool other_below = false, other_accepting = false, queued = false;

    /* a waiting connection wakes a live worker at once: if it waits and
     * one has not turned for SP_ACCEPT_QUEUED_MS, is it stopped? */
    if (worker->yielding) {
        queued = sp_accept_queued(worker);
    }
    for (uint32_t i = 0; i < h->nslots; i++) {
        const struct sp_stats_slot *slot = sp_shared_slot(worker->shared, i);
        int64_t turned = (int64_t)atomic_load_explicit(
            sp_shared_heartbeat(worker->shared, i), memory_order_relaxed);
        if (i == worker->index || slot->pid == 0
            || now - turned > SP_ACCEPT_STALE_MS
            || (queued && now - turned > SP_ACCEPT_QUEUED_MS
                && sp_accept_stopped(slot->pid))) {
            continue;                   /* none, or one that cannot run */
        }
        if (least < 0 || slot->clients < least) {
            least = slot->clients;
        }
        other_below |= threshold != 0 && slot->clients < threshold;
        other_accepting |= slot->accepting != 0;
    }
    if (least < 0 || !other_accepting) {
        return false;                   /* nobody else would take them */
    }
    if (threshold != 0 && mine >= threshold && other_below) {
        return true;                    /* past ours, another is under its */
    }
    slack = least / 16 > SP_ACCEPT_SLACK ? least / 16 : SP_ACCEPT_SLACK;
    return mine >= least + slack;
}

/*
 * Leave pool's shared listener to the others: out of the epoll set first,
 * so new connections wake another worker, then take what is queued already
 * (it woke us, or would have: the kernel wakes no one else for it). If the
 * queue cannot be emptied in one batch, stay.
 */
static void
sp_accept_yield(struct sp_worker *worker, struct sp_pool *pool)
{
    if (!pool->listen_armed) {
        return;
    }
    sp_accept_disarm(worker, pool);
    if (!sp_client_accept(pool->listener) && pool->listener != NULL
        && !pool->listener->timer.armed) {
        sp_accept_arm(worker, pool);
    }
}

int
sp_accept_cycle(struct sp_worker *worker)
{
    uint64_t now = sp_event_now_ms(worker->loop), wait;
    bool yield, accepting = true;

    sp_accept_turned(worker, now);
    if (worker->draining || !worker->has_shared) {
        return -1;
    }
    yield = sp_accept_should_yield(worker);
    for (uint32_t i = 0; i < worker->npools; i++) {
        struct sp_pool *pool = &worker->pools[i];
        if (!pool->listen_shared) {
            continue;
        }
        if (yield) {
            sp_accept_yield(worker, pool);
        } else {
            sp_accept_arm(worker, pool);
        }
        accepting &= pool->listen_armed;
    }
    if (yield && !worker->yielding) {
        worker->yield_since_ms = now;
    }
    worker->yielding = yield;
    worker->slot->accepting = accepting;
    if (!yield) {
        return -1;
    }
    /* look again soon (a storm moves fast), then less often the longer it
     * lasts: whoever we left them to may fill up, stop, or yield at the
     * same moment as we did */
    wait = (now - worker->yield_since_ms) / 4;
    return (int)(wait < SP_ACCEPT_YIELD_MIN_MS ? SP_ACCEPT_YIELD_MIN_MS
                 : wait > SP_ACCEPT_YIELD_MAX_MS ? SP_ACCEPT_YIELD_MAX_MS
                 : wait);
}

/*
 * The descriptor limit: give the spare up, take one client, tell it, close
 * it, take the spare back (nginx/HAProxy). 0: a client was answered; 1: the
 * queue is empty (accept4 says EMFILE before it looks); -1: no spare.
 */
int
sp_accept_refuse_spare(struct sp_conn *listener)
{
    struct sp_worker *worker = listener->worker;
    struct sp_pool *pool = listener->pool;
    const char *full = sp_client_full_reply(pool);
    char sink[512];
    int fd, err;

    if (worker->spare_fd < 0) {
        worker->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        return -1;
    }
    close(worker->spare_fd);
    worker->spare_fd = -1;
    fd = accept4(listener->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    err = errno;
    if (fd >= 0) {
        /* what it sent already is read, so the close is a FIN, not a reset
         * that could destroy the reply in the client's kernel */
        while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0) {
        }
        if (write(fd, full, strlen(full)) < 0) {
            /* nothing to do: it goes anyway */
        }
        shutdown(fd, SHUT_WR);
        close(fd);
        pool->stats->client_err++;
        if (sp_event_now_ms(worker->loop) - worker->refused_log_ms >= 1000
            || worker->refused_log_ms == 0) {
            worker->refused_log_ms = sp_event_now_ms(worker->loop);
            sp_log_warn(worker->log, EMFILE, "pool '%s': descriptor limit "
                        "reached: new clients are told \"max number of "
                        "clients reached\" (logged once a second at most)",
                        pool->conf->name);
        }
    }
    worker->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        return 0;
    }
    return err == EAGAIN || err == EWOULDBLOCK ? 1 : -1;
}

static void
sp_accept_resume(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_conn *listener = timer->data;
    struct sp_worker *worker = listener->worker;

    (void)loop;
    if (!worker->draining
        && !(worker->yielding && listener->pool->listen_shared)) {
        sp_accept_arm(worker, listener->pool);
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
    if (listener->pool->listen_shared) {
        worker->slot->accepting = 0;
    }
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
    worker->slot->accepting = 0;
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
