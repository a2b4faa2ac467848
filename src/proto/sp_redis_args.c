/*
 * sp_redis_args.c — the arguments of a whole multibulk request held in a
 * message's segment list (an inline one re-encoded), walked by their
 * headers, bulk data stepped over (see sp_redis_proxy.h).
 */
#include "sp_redis_proxy.h"

/*
 * Argument positions (relative to the request start) of a complete
 * multibulk request held in a segment list (an inline one was re-encoded),
 * walked by its headers, skipping bulk data.
 */
struct sp_cursor {
    const struct sp_seglist *list;
    uint32_t seg;                   /* segment of ptr */
    const uint8_t *ptr, *end;       /* the rest of that segment */
    uint64_t pos;                   /* offset of ptr in the list */
};

/* Move on to the next segment with bytes; false at the list's end. */
static bool
sp_cursor_next(struct sp_cursor *c)
{
    while (c->ptr == c->end) {
        if (c->seg + 1 >= sp_seglist_n(c->list)) {
            return false;
        }
        c->seg++;
        c->ptr = sp_seglist_segs(c->list)[c->seg].data;
        c->end = c->ptr + sp_seglist_segs(c->list)[c->seg].len;
    }
    return true;
}

static void
sp_cursor_init(struct sp_cursor *c, const struct sp_seglist *list)
{
    c->list = list;
    c->seg = 0;
    c->pos = 0;
    c->ptr = c->end = NULL;
    if (sp_seglist_n(list) > 0) {
        c->ptr = sp_seglist_segs(list)[0].data;
        c->end = c->ptr + sp_seglist_segs(list)[0].len;
    }
}

static inline int
sp_cursor_byte(struct sp_cursor *c)
{
    if (c->ptr == c->end && !sp_cursor_next(c)) {
        return -1;
    }
    c->pos++;
    return *c->ptr++;
}

static void
sp_cursor_skip(struct sp_cursor *c, uint64_t n)
{
    while (n > (uint64_t)(c->end - c->ptr)) {
        n -= (uint64_t)(c->end - c->ptr);
        c->pos += (uint64_t)(c->end - c->ptr);
        c->ptr = c->end;
        if (!sp_cursor_next(c)) {
            return;
        }
    }
    c->ptr += n;
    c->pos += n;
}

/* A decimal number ended by CRLF, after the type byte. */
static int64_t
sp_cursor_number(struct sp_cursor *c)
{
    int64_t value = 0;
    int ch;

    while ((ch = sp_cursor_byte(c)) >= '0' && ch <= '9') {
        value = value * 10 + (ch - '0');
    }
    sp_cursor_byte(c);          /* the \n after \r */
    return value;
}

/*
 * The spans of n arguments from request offset *off (at a '$'); *off moves
 * past them. -1: the bytes are not the multibulk the parser passed.
 */
int
sp_redis_scan_args(const struct sp_msg *msg, uint64_t *off,
                   struct sp_span *args, uint32_t n)
{
    struct sp_cursor c;

    sp_cursor_init(&c, &msg->req);
    sp_cursor_skip(&c, *off);
    for (uint32_t i = 0; i < n; i++) {
        if (sp_cursor_byte(&c) != '$') {
            return -1;
        }
        int64_t len = sp_cursor_number(&c);
        args[i].offset = c.pos;
        args[i].len = (uint32_t)len;
        sp_cursor_skip(&c, (uint64_t)len + 2);
    }
    *off = c.pos;
    return 0;
}

/* The offset of the first argument after the command name. -1: as above. */
int
sp_redis_first_arg(const struct sp_msg *msg, uint64_t *off)
{
    struct sp_cursor c;
    struct sp_span name;

    sp_cursor_init(&c, &msg->req);
    if (sp_cursor_byte(&c) != '*') {
        return -1;
    }
    sp_cursor_number(&c);
    *off = c.pos;
    return sp_redis_scan_args(msg, off, &name, 1);
}

int
sp_redis_request_args(const struct sp_msg *msg, uint32_t nargs,
                      struct sp_span *argv)
{
    struct sp_cursor c;
    uint64_t off;

    sp_cursor_init(&c, &msg->req);
    if (sp_cursor_byte(&c) != '*') {
        return -1;
    }
    sp_cursor_number(&c);
    off = c.pos;
    return sp_redis_scan_args(msg, &off, argv, nargs);
}
