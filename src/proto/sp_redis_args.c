/*
 * sp_redis_args.c — the one reader of a request's arguments: a whole
 * multibulk request held in a message's segment list (an inline one
 * re-encoded), walked by its headers, bulk data stepped over (see
 * sp_redis_proxy.h); and an argument read as a word, a string or a number
 * (sp_redis.h), copied only into the caller's small buffer.
 */
#include "sp_redis_proxy.h"

#include <string.h>

#include "sp_array.h"
#include "sp_worker.h"

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

int64_t
sp_redis_args_read(const struct sp_msg *msg, struct sp_span *argv,
                   uint32_t cap, struct sp_redis_args *args)
{
    struct sp_cursor c;
    uint64_t off;
    int64_t nargs;

    args->req = &msg->req;
    args->argv = argv;
    args->argc = 0;
    sp_cursor_init(&c, &msg->req);
    if (sp_cursor_byte(&c) != '*' || (nargs = sp_cursor_number(&c)) < 1) {
        return -1;
    }
    off = c.pos;
    args->argc = nargs < (int64_t)cap ? (uint32_t)nargs : cap;
    if (sp_redis_scan_args(msg, &off, argv, args->argc) != 0) {
        args->argc = 0;
        return -1;
    }
    return nargs;
}

int64_t
sp_redis_args_all(struct sp_worker *worker, const struct sp_msg *msg,
                  struct sp_redis_args *args)
{
    int64_t nargs = sp_redis_args_read(msg, worker->args, worker->args_cap,
                                       args);

    if (nargs > (int64_t)args->argc) {
        if (sp_array_grow((void **)&worker->args, &worker->args_cap,
                          (uint32_t)nargs, sizeof(*worker->args)) != 0) {
            return -1;
        }
        nargs = sp_redis_args_read(msg, worker->args, worker->args_cap, args);
    }
    return nargs;
}

/* ---- one argument --------------------------------------------------------- */

/* Room for a keyword or a number: longer arguments are neither. */
#define SP_ARG_WORD 24

bool
sp_redis_arg_str(const struct sp_redis_args *args, uint32_t i, char *buf,
                 size_t cap)
{
    const struct sp_span *a = &args->argv[i];

    if (i >= args->argc || a->len >= cap) {
        return false;
    }
    sp_seglist_copy(args->req, a->offset, (uint8_t *)buf, a->len);
    buf[a->len] = '\0';
    return memchr(buf, '\0', a->len) == NULL;
}

bool
sp_redis_arg_is(const struct sp_redis_args *args, uint32_t i,
                const char *lower)
{
    char buf[SP_ARG_WORD + 1];
    size_t len = strlen(lower);

    if (i >= args->argc || args->argv[i].len != len || len > SP_ARG_WORD) {
        return false;
    }
    sp_seglist_copy(args->req, args->argv[i].offset, (uint8_t *)buf,
                    (uint32_t)len);
    for (size_t k = 0; k < len; k++) {
        char c = buf[k];
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (c != lower[k]) {
            return false;
        }
    }
    return true;
}

bool
sp_redis_arg_int(const struct sp_redis_args *args, uint32_t i, int64_t *value)
{
    char buf[SP_ARG_WORD + 1];
    bool negative = false;
    uint64_t v = 0;
    size_t k = 0, n;

    if (!sp_redis_arg_str(args, i, buf, sizeof(buf)) || buf[0] == '\0') {
        return false;
    }
    n = strlen(buf);
    if (buf[0] == '-') {
        negative = true;
        k = 1;
    }
    if (k == n || (buf[k] == '0' && n - k > 1) || (negative && buf[k] == '0')) {
        return false;
    }
    for (; k < n; k++) {
        if (buf[k] < '0' || buf[k] > '9') {
            return false;
        }
        uint64_t d = (uint64_t)(buf[k] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    if (v > (uint64_t)INT64_MAX + (negative ? 1 : 0)) {
        return false;
    }
    *value = negative ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}
