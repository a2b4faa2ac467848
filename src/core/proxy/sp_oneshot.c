/*
 * sp_oneshot.c — answers written through the loop (see sp_oneshot.h).
 */
#include "sp_oneshot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
sp_oneshot_end(struct sp_oneshot *o)
{
    if (o->loop != NULL) {
        sp_timer_del(o->loop, &o->timer);
        sp_event_del(o->loop, o->fd);
    }
    close(o->fd);
    TAILQ_REMOVE(o->list, o, link);
    sp_stats_buf_free(&o->buf);
    free(o);
}

/* Write what is left; true when done (all written, or the peer failed). */
static bool
sp_oneshot_write(struct sp_oneshot *o)
{
    while (o->off < o->buf.len) {
        ssize_t n = write(o->fd, o->buf.data + o->off, o->buf.len - o->off);
        if (n > 0) {
            o->off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    }
    return true;
}

static void
sp_oneshot_writable(struct sp_event_loop *loop, int fd, uint32_t ready,
                    void *data)
{
    (void)loop;
    (void)fd;
    (void)ready;
    if (sp_oneshot_write(data)) {
        sp_oneshot_end(data);
    }
}

static void
sp_oneshot_expired(struct sp_event_loop *loop, struct sp_timer *timer)
{
    (void)loop;
    sp_oneshot_end(timer->data);        /* the peer does not read */
}

void
sp_oneshot_send(struct sp_event_loop *loop, struct sp_oneshot_list *list,
                int fd, struct sp_stats_buf *buf, int timeout_ms)
{
    struct sp_oneshot *o = calloc(1, sizeof(*o));

    if (o == NULL) {
        close(fd);
        sp_stats_buf_free(buf);
        return;
    }
    o->loop = loop;
    o->fd = fd;
    o->buf = *buf;
    memset(buf, 0, sizeof(*buf));
    o->list = list;
    TAILQ_INSERT_TAIL(list, o, link);
    if (sp_oneshot_write(o)
        || sp_event_add(loop, fd, SP_EV_WRITE | SP_EV_LEVEL, sp_oneshot_writable,
                        o) != 0) {
        sp_oneshot_end(o);
        return;
    }
    sp_timer_add(loop, &o->timer, (uint64_t)timeout_ms, sp_oneshot_expired, o);
}

void
sp_oneshot_drop_all(struct sp_oneshot_list *list)
{
    while (!TAILQ_EMPTY(list)) {
        sp_oneshot_end(TAILQ_FIRST(list));
    }
}

void
sp_oneshot_forget_all(struct sp_oneshot_list *list)
{
    while (!TAILQ_EMPTY(list)) {
        struct sp_oneshot *o = TAILQ_FIRST(list);
        o->loop = NULL;
        sp_oneshot_end(o);
    }
}
