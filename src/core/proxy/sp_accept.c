/*
 * sp_accept.c — arming listeners per accept mode, the balance of a shared
 * listener, the spare descriptor for EMFILE, pauses (see sp_accept.h).
 */
#include "sp_accept.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
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

/* Count a connection taken off pool's shared listener (the look). */
void
sp_accept_taken(struct sp_pool *pool)
{
    if (pool->listen_shared) {
        pool->taken_here++;
        atomic_fetch_add_explicit(
            &pool->worker->shared->pool_accepted[pool->index], 1,
            memory_order_relaxed);
    }
}

/* What the other workers have taken off pool's shared listener so far. */
static int64_t
sp_accept_others(const struct sp_pool *pool)
{
    return atomic_load_explicit(
               &pool->worker->shared->pool_accepted[pool->index],
               memory_order_relaxed) - pool->taken_here;
}

/* Connections waiting in pool's shared listener, and how many it holds
 * at most: a TCP listener's accept queue (TCP_INFO); a Unix one: 1 if it
 * is readable (its length cannot be read; the oldest is what counts), its
 * capacity unknown (0). */
static int64_t
sp_accept_queue_len(const struct sp_pool *pool, int64_t *max)
{
    int fd = pool->listener->fd;
    struct pollfd pfd = { .fd = fd, .events = POLLIN };

    *max = 0;
    if (!pool->conf->listen.is_unix) {
        struct tcp_info info;
        socklen_t len = sizeof(info);
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0
            && len >= offsetof(struct tcp_info, tcpi_sacked)
                      + sizeof(info.tcpi_sacked)) {
            *max = info.tcpi_sacked;    /* a listener's: its backlog */
            return info.tcpi_unacked;   /* and its accept queue */
        }
    }
    return poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN) ? 1 : 0;
}

/* Note what waits in pool's listener now and what the others have taken
 * so far: the look that is judged SP_ACCEPT_QUEUED_MS later. */
static void
sp_accept_note(struct sp_pool *pool, int64_t queued, uint64_t now)
{
    pool->look_ms = queued > 0 ? now : 0;
    pool->look_queued = queued;
    pool->look_others = sp_accept_others(pool);
}

/*
 * The look at a listener this worker left to the others (sp_accept.h), at
 * most every SP_ACCEPT_QUEUED_MS. Whenever the queue is half full, take
 * what is over a quarter. Else, if the others have taken fewer than were
 * waiting at the last look, the rest of those have waited that long (the
 * queue is first in, first out): take them — or, if the others have taken
 * nothing at all for SP_ACCEPT_IDLE_MS, hold the listener (watch it again)
 * until they take one. Returns the ms until the next look is due, or -1
 * (nothing waits).
 */
static int
sp_accept_look(struct sp_worker *worker, struct sp_pool *pool, uint64_t now)
{
    int64_t queued, max, others, take = 0;

    if (now - pool->looked_ms < SP_ACCEPT_QUEUED_MS) {
        return pool->look_ms == 0 ? -1
               : (int)(pool->looked_ms + SP_ACCEPT_QUEUED_MS - now);
    }
    pool->looked_ms = now;
    queued = sp_accept_queue_len(pool, &max);
    others = sp_accept_others(pool);
    if (others != pool->others_seen) {
        pool->others_seen = others;
        pool->others_moved_ms = now;
    }
    if (max > 0 && queued * 2 >= max) {
        take = queued - max / 4;    /* the queue would overflow: a dropped
                                       SYN costs the client a second */
    } else if (pool->look_ms != 0 && queued > 0) {
        take = pool->look_queued - (others - pool->look_others);
        if (take > 0 && now - pool->others_moved_ms >= SP_ACCEPT_IDLE_MS) {
            pool->held = true;      /* they take nothing: stopped, or
                                       never woken for these */
            pool->held_others = others;
            pool->look_ms = 0;
            return -1;
        }
    }
    if (take > 0) {
        (void)sp_client_accept(pool->listener, (uint32_t)(
            take < SP_ACCEPT_BATCH ? take : SP_ACCEPT_BATCH));
        queued = sp_accept_queue_len(pool, &max);
        worker->yield_since_ms = now;   /* they lag: look often */
    }
    sp_accept_note(pool, queued, now);
    return pool->look_ms == 0 ? -1 : SP_ACCEPT_QUEUED_MS;
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
    bool other_below = false, other_accepting = false;

    for (uint32_t i = 0; i < h->nslots; i++) {
        const struct sp_stats_slot *slot = sp_shared_slot(worker->shared, i);
        int64_t turned = (int64_t)atomic_load_explicit(
            sp_shared_heartbeat(worker->shared, i), memory_order_relaxed);
        if (i == worker->index || slot->pid == 0
            || now - turned > SP_ACCEPT_STALE_MS) {
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

int
sp_accept_cycle(struct sp_worker *worker)
{
    uint64_t now = sp_event_now_ms(worker->loop), wait;
    bool yield, accepting = true;
    int look = -1;

    sp_accept_turned(worker, now);
    if (worker->draining || !worker->has_shared) {
        return -1;
    }
    yield = sp_accept_should_yield(worker);
    if (yield && !worker->yielding) {
        worker->yield_since_ms = now;
    }
    for (uint32_t i = 0; i < worker->npools; i++) {
        struct sp_pool *pool = &worker->pools[i];
        if (!pool->listen_shared || pool->listener == NULL) {
            continue;
        }
        if (pool->held && sp_accept_others(pool) != pool->held_others) {
            pool->held = false;         /* they take again: look often */
            worker->yield_since_ms = now;
        }
        if (yield && !pool->held && !pool->listener->timer.armed) {
            if (pool->listen_armed) {
                /* leave: new connections wake the others; what woke us
                 * and is still queued is looked at at once */
                sp_accept_disarm(worker, pool);
                pool->looked_ms = 0;
                pool->look_ms = 0;
                pool->others_seen = sp_accept_others(pool);
                pool->others_moved_ms = now;
            }
            int due = sp_accept_look(worker, pool, now);
            if (due >= 0 && (look < 0 || due < look)) {
                look = due;
            }
        }
        if (!yield || pool->held) {
            pool->look_ms = 0;
            sp_accept_arm(worker, pool);
        }
        accepting &= pool->listen_armed;
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
    wait = wait < SP_ACCEPT_YIELD_MIN_MS ? SP_ACCEPT_YIELD_MIN_MS
           : wait > SP_ACCEPT_YIELD_MAX_MS ? SP_ACCEPT_YIELD_MAX_MS : wait;
    return look >= 0 && (uint64_t)look < wait ? look : (int)wait;
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
        sp_accept_taken(pool);
        /* what it sent already is read, so the close is a FIN, not a reset
         * that could destroy the reply in the client's kernel */
        while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0) {
        }
        if (pool->conf->tls.enabled) {
            /* a TLS client could not read it: the close says it */
        } else if (write(fd, full, strlen(full)) < 0) {
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
        sp_client_accepted(pool, fd);   /* a TLS one starts its handshake */
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
