/*
 * sp_again.h — requests sent to a server again, after a pause: the seam
 * behind the redirections the proxy follows for its clients. A request
 * answered with a reply that says "not here" or "not now" (Redis Cluster's
 * -MOVED to a node the map lacks yet, -TRYAGAIN, -CLUSTERDOWN; a Sentinel
 * master's -READONLY or -LOADING after it was demoted) leaves its server's
 * queues, waits in its pool's list, and is sent again when it is due:
 *
 *   later(msg, delay)        at now + delay
 *   after_change(msg)        once the pool's topology for it moved (a
 *                            cluster pool's map, a Sentinel server's
 *                            published address), or at ext->give_up_ms
 *
 * to the node serving ext->again_slot (a cluster pool, slot >= 0) or to
 * the server it went to (msg->server; after a switch its connections go
 * to the new address). The request stays pending to its client (a
 * fragment: to its parent) meanwhile; when its pool goes, it fails.
 */
#ifndef SP_AGAIN_H
#define SP_AGAIN_H

#include <stdint.h>

#include "sp_event.h"
#include "sp_msg.h"

struct sp_pool;

struct sp_again {
    struct sp_msg_queue waiting;    /* linked by slink */
    struct sp_timer     timer;      /* the first of them is due */
};

void sp_again_init(struct sp_again *again);

/* Fail every request waiting in pool's list (the pool goes). */
void sp_again_free(struct sp_pool *pool);

/* Send msg (its ext taken) again after delay_ms; slot: see above. */
void sp_again_later(struct sp_pool *pool, struct sp_msg *msg, int32_t slot,
                    uint32_t delay_ms);

/* Send msg again once its topology moved (or at ext->give_up_ms, which
 * the caller sets). */
void sp_again_after_change(struct sp_pool *pool, struct sp_msg *msg,
                           int32_t slot);

#endif /* SP_AGAIN_H */
