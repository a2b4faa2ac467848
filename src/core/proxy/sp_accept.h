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
 * and it puts them back as soon as neither holds. The least loaded worker
 * never yields, so when every worker is past the threshold it still
 * accepts: the threshold balances, it never hangs a client. A worker
 * yields only to others that are accepting and whose loop turned within
 * SP_ACCEPT_STALE_MS.
 *
 * The look: balance must not make a connection wait long for a worker
 * that does not take it, nor let the shared queue overflow (a dropped SYN
 * costs the client a second). A yielding worker looks at the queue of each
 * listener it left (a TCP listener's length and backlog from TCP_INFO; a
 * Unix one: readable or not), at once when it leaves and then every
 * SP_ACCEPT_QUEUED_MS while something waits, and notes how many
 * connections the other workers have taken off it so far (pool_accepted
 * in the shared memory, less its own). While they have taken fewer than
 * were waiting, the rest of those are still there (the queue is first in,
 * first out): it takes them. Whenever the queue is half full it takes
 * what is over a quarter. If the others have taken nothing at all for
 * SP_ACCEPT_IDLE_MS while connections wait, it watches the socket again
 * ("holds" it) until they take one. That covers every way a connection
 * can be left: the others are busy or short of CPU (a neighbour on their
 * core: they take some, it takes what has waited), stopped (SIGSTOP, a
 * debugger: they take nothing, it holds the socket until they run again),
 * or the connection woke only this worker just before it left (the kernel
 * wakes no one else for it: the same). A connection waits for the others
 * SP_ACCEPT_QUEUED_MS to twice that while it is looked at; a stall of
 * theirs costs the balance, not a second. A yielding worker looks again at
 * every turn of its loop, when a look is due, and at the latest after a
 * quarter of the time it has yielded so far, within SP_ACCEPT_YIELD_MIN_MS
 * ..SP_ACCEPT_YIELD_MAX_MS (an idle yielding worker wakes
 * 1000 / SP_ACCEPT_YIELD_MAX_MS times a second). Nothing is ever held by a
 * worker that cannot run.
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
#define SP_ACCEPT_QUEUED_MS     5       /* a yielding worker looks at
                                           the queue it left this often
                                           while something waits there,
                                           and takes what waited as long */
#define SP_ACCEPT_IDLE_MS       20      /* the others took nothing for
                                           this long: it holds the socket */
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

/* A connection was taken off pool's listener (counted for the look when
 * the listener is shared). */
void sp_accept_taken(struct sp_pool *pool);

/* EMFILE: answer one queued client with an error through the spare
 * descriptor. 0: one was answered; 1: none was queued; -1: no spare (pause). */
int sp_accept_refuse_spare(struct sp_conn *listener);

/* ENFILE and friends: disarm listener for a moment. */
void sp_accept_pause(struct sp_conn *listener, int err);

/* Stop accepting for good (drain): disarm, close our copies. */
void sp_accept_stop(struct sp_worker *worker);

#endif /* SP_ACCEPT_H */
