/*
 * sp_oneshot.h — a whole answer written to a socket through the event
 * loop, then the socket closed: the stats ports and the Prometheus
 * endpoint. The write is tried at once (it usually fits the socket
 * buffer); what is left goes out as the peer reads, so a client that never
 * reads costs no waiting — it is closed at the deadline.
 */
#ifndef SP_ONESHOT_H
#define SP_ONESHOT_H

#include <stddef.h>
#include <sys/queue.h>

#include "sp_event.h"
#include "sp_stats.h"

struct sp_oneshot {
    struct sp_event_loop   *loop;
    int                     fd;
    struct sp_stats_buf     buf;
    size_t                  off;
    struct sp_timer         timer;
    TAILQ_ENTRY(sp_oneshot) link;
    struct sp_oneshot_list *list;
};

TAILQ_HEAD(sp_oneshot_list, sp_oneshot);

/*
 * Send buf (taken over: freed here) on fd (non-blocking; closed here),
 * within timeout_ms. Answers still going out are kept on list.
 */
void sp_oneshot_send(struct sp_event_loop *loop, struct sp_oneshot_list *list,
                     int fd, struct sp_stats_buf *buf, int timeout_ms);

/* Drop every answer still going out (the owner stops). */
void sp_oneshot_drop_all(struct sp_oneshot_list *list);

/* In a child after fork: close and free them without touching the loop
 * (it is the parent's). */
void sp_oneshot_forget_all(struct sp_oneshot_list *list);

#endif /* SP_ONESHOT_H */
