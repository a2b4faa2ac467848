/*
 * sp_resp_conn.c — the master's small RESP client (see sp_resp_conn.h):
 * the connection on the event loop, and a flat RESP2 reply parser on
 * sp_resp_walk.c.
 */
#include "sp_resp_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "sp_conf.h"
#include "sp_net.h"

#define SP_RESP_DEPTH     8
#define SP_RESP_LINE_MAX  65536                 /* a header or simple line */
#define SP_RESP_BULK_MAX  (64 * 1024 * 1024)    /* one bulk string */

/* ---- parsing ------------------------------------------------------------- */

long
sp_resp_parse(const char *buf, size_t len, struct sp_resp_reply *out)
{
    struct sp_resp_walk w = {
        .buf = buf, .len = len, .line_max = SP_RESP_LINE_MAX,
        .bulk_max = SP_RESP_BULK_MAX, .depth_max = SP_RESP_DEPTH
    };
    int rc;

    memset(out, 0, sizeof(*out));
    rc = sp_resp_walk_next(&w, &out->top);
    if (rc != 1) {
        return rc;
    }
    if (out->top.type == '*') {
        for (int64_t i = 0; i < out->top.n; i++) {
            struct sp_resp_elem skipped;
            struct sp_resp_elem *item = i < SP_RESP_ITEMS ? &out->items[i] : &skipped;

            rc = sp_resp_walk_whole(&w, 1, item);
            if (rc != 1) {
                return rc;
            }
        }
        out->nitems = out->top.n < SP_RESP_ITEMS ? (uint32_t)out->top.n
                                                 : SP_RESP_ITEMS;
    }
    out->raw = buf;
    out->raw_len = w.pos;
    return (long)w.pos;
}

bool
sp_resp_item_is(const struct sp_resp_elem *item, const char *s)
{
    size_t len = strlen(s);

    return (item->type == '+' || item->type == '$') && item->len == len
           && strncasecmp(item->s, s, len) == 0;
}

/* ---- the connection ------------------------------------------------------ */

static void sp_resp_event(struct sp_event_loop *loop, int fd, uint32_t ready,
                          void *data);

void
sp_resp_init(struct sp_resp_conn *c, struct sp_event_loop *loop)
{
    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->fd = -1;
    c->in_max = SP_RESP_IN;
}

void
sp_resp_set_input(struct sp_resp_conn *c, size_t bytes)
{
    c->in_max = bytes > SP_RESP_IN ? bytes : SP_RESP_IN;
}

void
sp_resp_forget(struct sp_resp_conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    free(c->in);
    c->in = NULL;
    c->in_cap = 0;
}

static void
sp_resp_timeout(struct sp_event_loop *loop, struct sp_timer *timer);

/* The deadline runs while a reply is awaited or the connect is under way. */
static void
sp_resp_arm(struct sp_resp_conn *c)
{
    if (c->expect > 0 || c->connecting) {
        if (!c->timer.armed) {
            sp_timer_add(c->loop, &c->timer, (uint64_t)c->timeout_ms,
                         sp_resp_timeout, c);
        }
    } else if (c->timer.armed) {
        sp_timer_del(c->loop, &c->timer);
    }
}

static void
sp_resp_interest(struct sp_resp_conn *c)
{
    uint32_t want = SP_EV_READ | SP_EV_LEVEL;

    if (c->connecting || c->out_sent < c->out_len) {
        want |= SP_EV_WRITE;
    }
    sp_event_modify(c->loop, c->fd, want);
}

void
sp_resp_close(struct sp_resp_conn *c)
{
    if (c->fd < 0) {
        return;
    }
    sp_event_del(c->loop, c->fd);
    close(c->fd);
    c->fd = -1;
    if (c->timer.armed) {
        sp_timer_del(c->loop, &c->timer);
    }
    c->serial++;
    c->expect = 0;
    c->out_len = c->out_sent = c->in_len = 0;
    c->connecting = false;
    free(c->in);
    c->in = NULL;
    c->in_cap = 0;
}

static void
sp_resp_fail(struct sp_resp_conn *c, const char *why)
{
    sp_resp_close(c);
    c->on_fail(c, why, c->data);
}

static void
sp_resp_timeout(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_resp_conn *c = timer->data;

    (void)loop;
    sp_resp_fail(c, c->connecting ? "connect timed out" : "timed out");
}

int
sp_resp_open(struct sp_resp_conn *c, const char *host, uint16_t port,
             int timeout_ms, sp_resp_reply_fn on_reply,
             sp_resp_fail_fn on_fail, void *data)
{
    struct sp_conf_addr addr = { .host = (char *)host, .port = port };

    sp_resp_close(c);
    c->timeout_ms = timeout_ms;
    c->on_reply = on_reply;
    c->on_fail = on_fail;
    c->data = data;
    snprintf(c->peer, sizeof(c->peer), strchr(host, ':') != NULL
             ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
    c->fd = sp_net_connect(&addr);
    if (c->fd < 0) {
        return -1;
    }
    if (sp_event_add(c->loop, c->fd, SP_EV_READ | SP_EV_WRITE | SP_EV_LEVEL,
                     sp_resp_event, c) != 0) {
        close(c->fd);
        c->fd = -1;
        free(c->in);
        c->in = NULL;
        return -1;
    }
    c->serial++;
    c->connecting = true;
    sp_resp_arm(c);
    return 0;
}

int
sp_resp_command(struct sp_resp_conn *c, int argc, const char *const *argv)
{
    size_t at = c->out_len;
    int n;

    if (c->fd < 0) {
        return -1;
    }
    n = snprintf(c->out + at, SP_RESP_OUT - at, "*%d\r\n", argc);
    if (n < 0 || (size_t)n >= SP_RESP_OUT - at) {
        return -1;
    }
    at += (size_t)n;
    for (int i = 0; i < argc; i++) {
        size_t len = strlen(argv[i]);
        n = snprintf(c->out + at, SP_RESP_OUT - at, "$%zu\r\n", len);
        if (n < 0 || (size_t)n + len + 2 >= SP_RESP_OUT - at) {
            return -1;
        }
        at += (size_t)n;
        memcpy(c->out + at, argv[i], len);
        at += len;
        memcpy(c->out + at, "\r\n", 2);
        at += 2;
    }
    c->out_len = at;
    c->expect++;
    sp_resp_arm(c);
    if (!c->connecting) {
        sp_resp_interest(c);
    }
    return 0;
}

static int
sp_resp_write(struct sp_resp_conn *c)
{
    while (c->out_sent < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_sent,
                          c->out_len - c->out_sent);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                break;
            }
            return -1;
        }
        c->out_sent += (size_t)n;
    }
    if (c->out_sent == c->out_len) {
        c->out_sent = c->out_len = 0;
    }
    sp_resp_interest(c);
    return 0;
}

/* Hand over every whole reply; 0, or -1 after a failure (c closed). */
static int
sp_resp_replies(struct sp_resp_conn *c)
{
    size_t used = 0;
    uint64_t serial = c->serial;

    while (used < c->in_len) {
        struct sp_resp_reply reply;
        long n = sp_resp_parse(c->in + used, c->in_len - used, &reply);

        if (n < 0) {
            sp_resp_fail(c, "sent a reply that is not RESP");
            return -1;
        }
        if (n == 0) {
            break;
        }
        reply.raw = c->in + used;
        reply.raw_len = (size_t)n;
        used += (size_t)n;
        if (c->expect > 0) {
            c->expect--;
        }
        if (c->timer.armed) {
            sp_timer_del(c->loop, &c->timer);   /* the next reply's deadline */
        }
        sp_resp_arm(c);
        c->on_reply(c, &reply, c->data);
        if (c->serial != serial) {
            return -1;          /* closed (or reopened) by the callback */
        }
    }
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    return 0;
}

static void
sp_resp_event(struct sp_event_loop *loop, int fd, uint32_t ready, void *data)
{
    struct sp_resp_conn *c = data;

    (void)loop;
    (void)fd;
    if (c->connecting) {
        int err = sp_net_socket_error(c->fd);
        if (err != 0) {
            errno = err;
            sp_resp_fail(c, strerror(err));
            return;
        }
        if ((ready & (SP_EV_WRITE | SP_EV_ERROR)) == 0) {
            return;
        }
        c->connecting = false;
        if (c->timer.armed) {
            sp_timer_del(c->loop, &c->timer);
        }
        sp_resp_arm(c);
    }
    if (sp_resp_write(c) != 0) {
        sp_resp_fail(c, strerror(errno));
        return;
    }
    if ((ready & (SP_EV_READ | SP_EV_ERROR | SP_EV_RDHUP)) == 0) {
        return;
    }
    for (;;) {
        if (c->in_len == c->in_cap) {
            size_t cap = c->in_cap == 0 ? SP_RESP_IN : c->in_cap * 2;
            char *in;

            if (c->in_cap >= c->in_max) {
                sp_resp_fail(c, "sent a reply longer than expected");
                return;
            }
            cap = cap < c->in_max ? cap : c->in_max;
            if ((in = realloc(c->in, cap)) == NULL) {
                sp_resp_fail(c, "out of memory for its reply");
                return;
            }
            c->in = in;
            c->in_cap = cap;
        }
        ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                return;
            }
            sp_resp_fail(c, strerror(errno));
            return;
        }
        if (n == 0) {
            sp_resp_fail(c, "closed the connection");
            return;
        }
        c->in_len += (size_t)n;
        if (sp_resp_replies(c) != 0) {
            return;
        }
    }
}
