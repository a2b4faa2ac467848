/*
 * sp_accept.h — when a worker's listeners are armed: the accept modes, the
 * accept lock, the pause after EMFILE, and stopping for a drain.
 *
 *   reuseport  every worker has its own SO_REUSEPORT socket per TCP address
 *              (the kernel balances) and keeps it armed; a listener shared
 *              by all workers (a Unix socket) is armed with EPOLLEXCLUSIVE,
 *              so a connection wakes one worker, not all, and only while
 *              the worker is not ahead of the others (the balance rule
 *              below), since the kernel tends to wake the same one.
 *   lock       one socket per address, shared. Before each wait a worker
 *              that is under its threshold of live clients tries the lock
 *              (non-blocking, in shared memory): holding it, it arms the
 *              listeners; failing, it disarms them and waits at most
 *              SP_ACCEPT_LOCK_DELAY_MS before trying again. Accept events
 *              are dispatched first in a wake-up (SP_EV_FIRST), then the
 *              lock is released, then the rest of the batch (nginx's
 *              accept_mutex). A worker over its threshold stops competing
 *              until it falls back under; so does one holding more than
 *              SP_ACCEPT_SLACK (or 1/8) clients over the least loaded
 *              other worker, so connections spread over the workers at any
 *              load, not only near the threshold (nginx's accept_mutex sends
 *              every connection of a light load to one worker).
 *
 * A listener paused after EMFILE/ENFILE stays disarmed for
 * SP_ACCEPT_RETRY_MS whatever the mode.
 */
#ifndef SP_ACCEPT_H
#define SP_ACCEPT_H

#include <stdbool.h>

struct sp_conn;
struct sp_worker;

#define SP_ACCEPT_LOCK_DELAY_MS 10
#define SP_ACCEPT_SLACK         8

/* Start accepting (creation): arm listeners as the mode says. 0 / -1. */
int sp_accept_start(struct sp_worker *worker);

/*
 * Before each wait, in lock mode: take or give up the lock and arm or disarm
 * accordingly. Returns the longest the wait may last (-1: no limit).
 */
int sp_accept_cycle(struct sp_worker *worker);

/* Between the two dispatch passes: release the lock (lock mode). */
void sp_accept_unlock(void *worker);

/* Whether the worker may take one more client of pool now (threshold,
 * and the balance of a lock or a shared listener). */
struct sp_pool;
bool sp_accept_has_room(const struct sp_worker *worker,
                        const struct sp_pool *pool);

/* EMFILE and friends: disarm listener for a moment. */
void sp_accept_pause(struct sp_conn *listener, int err);

/* Stop accepting for good (drain): disarm, release, close our copies. */
void sp_accept_stop(struct sp_worker *worker);

#endif /* SP_ACCEPT_H */
