/*
 * sp_accept.h — when a worker's listeners are armed: the accept modes, the
 * balance of a shared listener, the descriptor limit, stopping for a drain.
 *
 *   reuseport  every worker has its own SO_REUSEPORT socket per TCP address
 *              (the kernel balances) and keeps it armed. A listener every
 *              worker shares (a Unix socket) is balanced as in lock mode.
 *   lock       one socket per address, shared by every worker. There is no
 *              lock any more (the name stays for the configuration): each
 *              worker watches the socket with EPOLLEXCLUSIVE, so the kernel
 *              wakes one worker waiting in epoll_wait per connection, not
 *              all (no thundering herd), and a worker that is busy or
 *              stopped is not waiting, so the next one is woken (no stall).
 *              A woken worker accepts until EAGAIN, at most SP_ACCEPT_BATCH
 *              per wake-up (level-triggered: the rest wakes it again), as
 *              does a reuseport worker on its own socket.
 *
 * Balance (nginx's accept_mutex thresholds, without the mutex): before each
 * wait a worker compares its live clients with the other workers' (shared
 * memory, one slot each) and takes the shared listeners out of its epoll
 * set (EPOLL_CTL_DEL) — it "yields" — when
 *   - it is at or past accept_lock_threshold and another worker is under
 *     it, or
 *   - it holds SP_ACCEPT_SLACK (or 1/16) clients more than the least loaded
 *     other worker,
 * and it puts them back as soon as neither holds. A woken worker takes
 * what woke it (the kernel woke no other for it), and a yielding one takes
 * what is queued right after leaving the epoll set (later connections wake
 * the others), so no connection is left where no worker will look; the
 * overshoot is what was queued. The least loaded worker never yields, so when
 * every worker is past the threshold it still accepts: the threshold
 * balances, it never hangs a client. A worker yields only to others that
 * are accepting and whose loop turned within SP_ACCEPT_STALE_MS, and that
 * are not stopped (SIGSTOP: /proc/PID/stat, looked at only when a
 * connection waits in the socket and the worker it was left to has not
 * turned for SP_ACCEPT_QUEUED_MS): a stopped or hung worker is not waited
 * for. A yielding worker looks again at
 * every turn of its loop, and at the latest after a quarter of the time it
 * has yielded so far, within SP_ACCEPT_YIELD_MIN_MS..SP_ACCEPT_YIELD_MAX_MS
 * (a storm moves in milliseconds; two that yield at the same moment find
 * out soon; an idle yielding worker wakes 1000 / SP_ACCEPT_YIELD_MAX_MS
 * times a second). Nothing is ever held by a worker that cannot run.
 *
 * The hard limits refuse with an error reply and close: a pool's
 * client_connections (sp_client.c), and the descriptor limit — at EMFILE a
 * worker closes its spare descriptor, accepts, answers "max number of
 * clients reached", closes, and takes the spare back (nginx/HAProxy). With
 * no spare (ENFILE, ENOMEM), the listener pauses SP_ACCEPT_RETRY_MS.
 */
#ifndef SP_ACCEPT_H
#define SP_ACCEPT_H

#include <stdbool.h>
#include <stdint.h>

struct sp_conn;
struct sp_pool;
struct sp_worker;

#define SP_ACCEPT_BATCH         256     /* accepts per wake-up at most */
#define SP_ACCEPT_SLACK         8       /* clients over the least loaded */
#define SP_ACCEPT_STALE_MS      1500    /* a loop that has not turned for
                                           this long cannot run (the tick
                                           turns an idle one each second) */
#define SP_ACCEPT_QUEUED_MS     5       /* a connection waits this long
                                           for a worker that may be
                                           stopped: look */
#define SP_ACCEPT_YIELD_MIN_MS  1       /* a yielding worker looks again */
#define SP_ACCEPT_YIELD_MAX_MS  100     /* after a quarter of the time it
                                           has been yielding, within these */

/* Start accepting (creation): arm every listener. 0 / -1. */
int sp_accept_start(struct sp_worker *worker);

/*
 * Before each wait: mark the loop's turn, and arm or disarm the shared
 * listeners as the balance says. Returns the longest the wait may last
 * (-1: no limit).
 */
int sp_accept_cycle(struct sp_worker *worker);

/* EMFILE: answer one queued client with an error through the spare
 * descriptor. 0: one was answered; 1: none was queued; -1: no spare (pause). */
int sp_accept_refuse_spare(struct sp_conn *listener);

/* ENFILE and friends: disarm listener for a moment. */
void sp_accept_pause(struct sp_conn *listener, int err);

/* Stop accepting for good (drain): disarm, close our copies. */
void sp_accept_stop(struct sp_worker *worker);

#endif /* SP_ACCEPT_H */
