/*
 * fuzz_redis_reply.c — libFuzzer target for the Redis reply parser, RESP2
 * and RESP3 (sp_redis_reply_init / sp_redis_reply_parse).
 *
 * Input: see fuzz_split.h (split control, parameters, chunk sizes, stream);
 * parameter bits 0-2 choose elements_cap (8 0 1 2 3 4 8 8), bits 3-5 the
 * stack_cap the parser starts with (nesting levels: 64 0 1 2 3 8 64 64).
 * A full stack is grown as the proxy grows it (sp_redis_reply_stack, then
 * the same byte fed again), up to STACK_MAX levels, which stands for the
 * proxy's bound: past it, a terminal error "stack full".
 *
 * Checks:
 * - differential: the stream parsed whole, one byte at a time, and in the
 *   input's chunks (rest of a chunk re-fed after each DONE) gives the same
 *   events: status, offset reached, and for each reply type, nil, integer,
 *   start, end, nelements and the recorded elements; for an error, its
 *   text and offset. abort() on any difference.
 * - API: consumed <= len, AGAIN consumes all, DONE ends in the chunk, an
 *   ERROR stays (consumed 0, same text).
 * - invariants of each reply: replies tile the stream (each starts where
 *   the last ended), the type byte and CRLF ending are where they should
 *   be, :N equals the number written, a bulk spans its header, N bytes and
 *   CRLF, an array's elements lie back to back from right after its header
 *   (and end where it ends when all were recorded), nelements <= cap.
 * - the frame alone, and each recorded element alone, parsed by a fresh
 *   parser from its start, is one whole reply ending exactly at its end
 *   (the frame with the same results).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_split.h"
#include "sp_redis.h"

#define ELEMENTS_MAX 8
#define STACK_MAX    64
#define EVENTS_MAX   (FUZZ_MAX_STREAM / 3 + 4)

static const uint32_t elements_caps[8] = { 8, 0, 1, 2, 3, 4, 8, 8 };
static const uint32_t stack_caps[8] = { 64, 0, 1, 2, 3, 8, 64, 64 };

struct reply_event {
    uint32_t status;
    uint32_t type;
    uint64_t at;                    /* absolute offset after the call */
    int64_t  integer;
    uint64_t start, end;
    uint32_t nelements;
    uint32_t nil;
    uint64_t el_offset[ELEMENTS_MAX], el_len[ELEMENTS_MAX];
    char     error[64];
};

struct reply_ctx {
    struct sp_redis_reply_parser p;
    int64_t                  stack[STACK_MAX];
    struct sp_span      elements[ELEMENTS_MAX];
    uint32_t                 elements_cap, stack_cap;
    const struct fuzz_input *in;
    struct fuzz_rec          rec;
    uint64_t                 last_end;
    struct reply_event       last_error;
};

static struct reply_event events[EVENTS_MAX];

static const char *const type_names[] = {
    "status", "error", "integer", "bulk", "array", "null", "map", "set",
    "push", "scalar"
};
#define NTYPES (sizeof(type_names) / sizeof(type_names[0]))

/* Whether a reply of type `type` may begin with byte b. */
static bool
type_byte_ok(uint32_t type, uint8_t b)
{
    static const char *const bytes[] = {
        "+", "-!", ":", "$=", "*", "_", "%", "~", ">", "#,("
    };

    return type < NTYPES && b != 0 && strchr(bytes[type], b) != NULL;
}

static void
reply_event_print(const void *ev)
{
    const struct reply_event *e = ev;

    fprintf(stderr, " status %u at %llu", e->status,
            (unsigned long long)e->at);
    if (e->status == FUZZ_ERROR) {
        fprintf(stderr, " error \"%s\"\n", e->error);
        return;
    }
    fprintf(stderr, " [%llu,%llu) %s%s integer %lld nelements %u:",
            (unsigned long long)e->start, (unsigned long long)e->end,
            e->type < NTYPES ? type_names[e->type] : "?", e->nil ? " nil" : "",
            (long long)e->integer, e->nelements);
    for (uint32_t i = 0; i < e->nelements && i < ELEMENTS_MAX; i++) {
        fprintf(stderr, " %llu+%llu", (unsigned long long)e->el_offset[i],
                (unsigned long long)e->el_len[i]);
    }
    fprintf(stderr, "\n");
}

static void
reply_event_fill(struct reply_event *e, const struct sp_redis_reply_parser *p,
                 enum fuzz_status st, uint64_t at)
{
    memset(e, 0, sizeof(*e));
    e->status = (uint32_t)st;
    e->at = at;
    if (st == FUZZ_ERROR) {
        FUZZ_CHECK(p->need_stack || p->error != NULL);
        snprintf(e->error, sizeof(e->error), "%s",
                 p->need_stack ? "stack full" : p->error);
        return;
    }
    e->type = (uint32_t)p->type;
    e->nil = p->nil;
    e->integer = p->integer;
    e->start = p->start;
    e->end = p->end;
    e->nelements = p->nelements;
    FUZZ_CHECK(p->nelements <= p->elements_cap);
    for (uint32_t i = 0; i < p->nelements && i < ELEMENTS_MAX; i++) {
        e->el_offset[i] = p->elements[i].offset;
        e->el_len[i] = p->elements[i].len;
    }
}

/* sp_redis_reply_parse, growing a full stack (within the STACK_MAX levels
 * of `stack`) and going on from the byte where it stopped. */
static sp_parse_status_t
parse_growing(struct sp_redis_reply_parser *p, int64_t *stack,
              const uint8_t *data, size_t len, size_t *consumed)
{
    size_t used = 0;

    for (;;) {
        size_t n = SIZE_MAX;
        sp_parse_status_t st = sp_redis_reply_parse(p, data + used,
                                                    len - used, &n);

        FUZZ_CHECK(n <= len - used);
        used += n;
        if (st != SP_PARSE_ERROR || !p->need_stack) {
            *consumed = used;
            return st;
        }
        FUZZ_CHECK(p->error == NULL && p->stack_cap <= STACK_MAX);
        if (p->stack_cap == STACK_MAX) {
            *consumed = used;
            return SP_PARSE_ERROR;          /* "stack full": terminal here */
        }
        sp_redis_reply_stack(p, stack, p->stack_cap * 2 + 1 < STACK_MAX
                                       ? p->stack_cap * 2 + 1 : STACK_MAX);
    }
}

/*
 * Parse stream[from..to) alone with a fresh parser starting at its own
 * offset: it must be exactly one reply. Returns the parser for its results.
 */
static const struct sp_redis_reply_parser *
reparse(const struct reply_ctx *c, size_t from, size_t to)
{
    static struct sp_redis_reply_parser p;
    static int64_t stack[STACK_MAX];
    static struct sp_span elements[ELEMENTS_MAX];
    size_t consumed = SIZE_MAX;

    sp_redis_reply_init(&p, c->in->base + from, stack, c->stack_cap,
                        elements, c->elements_cap);
    FUZZ_CHECK(parse_growing(&p, stack, c->in->stream + from, to - from,
                             &consumed) == SP_PARSE_DONE);
    FUZZ_CHECK(consumed == to - from);
    return &p;
}

/* Stream index of the LF ending the line that starts at `from`. */
static size_t
line_end(const struct fuzz_input *in, size_t from, size_t to)
{
    const uint8_t *lf = memchr(in->stream + from, '\n', to - from);

    FUZZ_CHECK(lf != NULL);
    return (size_t)(lf - in->stream);
}

/* The integer of a ":N" / "$N" / "*N" line s[from+1..lf-1), as written. */
static int64_t
line_number(const struct fuzz_input *in, size_t from, size_t lf)
{
    const uint8_t *s = in->stream;
    size_t i = from + 1;
    bool negative = false;
    uint64_t n = 0;

    if (s[i] == '-') {
        negative = true;
        i++;
    }
    FUZZ_CHECK(i < lf - 1);
    for (; i < lf - 1; i++) {
        FUZZ_CHECK(s[i] >= '0' && s[i] <= '9');
        FUZZ_CHECK(n <= (UINT64_C(1) << 63) / 10);
        n = n * 10 + (uint64_t)(s[i] - '0');
        FUZZ_CHECK(n <= (UINT64_C(1) << 63));
    }
    FUZZ_CHECK(s[lf - 1] == '\r');
    if (negative) {
        return n == (UINT64_C(1) << 63) ? INT64_MIN : -(int64_t)n;
    }
    FUZZ_CHECK(n <= (uint64_t)INT64_MAX);
    return (int64_t)n;
}

static void
reply_check(const struct reply_ctx *c, const struct reply_event *e)
{
    const struct fuzz_input *in = c->in;
    const uint8_t *s = in->stream;
    size_t from = (size_t)(e->start - in->base);
    size_t to = (size_t)(e->end - in->base);
    size_t lf = line_end(in, from, to);
    const struct sp_redis_reply_parser *rp;
    struct reply_event again;
    bool blob = s[from] == '$' || s[from] == '!' || s[from] == '=';

    FUZZ_CHECK(type_byte_ok(e->type, s[from]));
    FUZZ_CHECK(to - from >= 3 && s[to - 2] == '\r' && s[to - 1] == '\n');
    FUZZ_CHECK(e->nelements <= c->elements_cap);

    switch (blob ? SP_REDIS_REPLY_BULK : e->type) {
    case SP_REDIS_REPLY_STATUS:
    case SP_REDIS_REPLY_ERROR:
    case SP_REDIS_REPLY_NULL:
    case SP_REDIS_REPLY_SCALAR:
        FUZZ_CHECK(lf == to - 1);   /* one line, no CR or LF inside */
        FUZZ_CHECK(memchr(s + from, '\r', to - 2 - from) == NULL);
        FUZZ_CHECK(e->nil == (e->type == SP_REDIS_REPLY_NULL));
        FUZZ_CHECK(e->integer == 0 && e->nelements == 0);
        break;
    case SP_REDIS_REPLY_INTEGER:
        FUZZ_CHECK(lf == to - 1);
        FUZZ_CHECK(line_number(in, from, lf) == e->integer);
        FUZZ_CHECK(!e->nil && e->nelements == 0);
        break;
    case SP_REDIS_REPLY_BULK:               /* also ! and = (RESP3) */
        FUZZ_CHECK(line_number(in, from, lf) == e->integer);
        FUZZ_CHECK(e->nil == (e->integer < 0) && e->nelements == 0);
        if (e->nil) {
            FUZZ_CHECK(s[from] == '$');     /* only RESP2 has $-1 */
            FUZZ_CHECK(e->integer == -1 && lf == to - 1);
        } else {
            FUZZ_CHECK(to - (lf + 1) == (uint64_t)e->integer + 2);
        }
        break;
    case SP_REDIS_REPLY_ARRAY:
    case SP_REDIS_REPLY_MAP:
    case SP_REDIS_REPLY_SET:
    case SP_REDIS_REPLY_PUSH: {
        uint64_t at = in->base + lf + 1;
        /* a map of N pairs holds 2N values */
        uint64_t values = (uint64_t)e->integer
                          * (e->type == SP_REDIS_REPLY_MAP ? 2 : 1);

        FUZZ_CHECK(line_number(in, from, lf) == e->integer);
        FUZZ_CHECK(e->nil == (e->integer < 0));
        if (e->integer <= 0) {
            FUZZ_CHECK(e->integer >= -1);
            FUZZ_CHECK(e->integer == 0 || s[from] == '*');  /* only *-1 */
            FUZZ_CHECK(lf == to - 1 && e->nelements == 0);
            break;
        }
        FUZZ_CHECK(e->nelements == (values < c->elements_cap
                                    ? values : c->elements_cap));
        for (uint32_t i = 0; i < e->nelements; i++) {
            size_t efrom = (size_t)(e->el_offset[i] - in->base);

            FUZZ_CHECK(e->el_offset[i] == at && e->el_len[i] > 0);
            at += e->el_len[i];
            FUZZ_CHECK(at <= e->end);
            reparse(c, efrom, efrom + (size_t)e->el_len[i]);
        }
        if (values == e->nelements) {
            FUZZ_CHECK(at == e->end);
        } else {
            FUZZ_CHECK(at < e->end);
        }
        break;
    }
    default:
        FUZZ_CHECK(!"bad reply type");
    }

    /* the frame alone: the same reply */
    rp = reparse(c, from, to);
    reply_event_fill(&again, rp, FUZZ_DONE, e->at);
    FUZZ_CHECK(memcmp(&again, e, sizeof(again)) == 0);
}

/* ---- feeding ----------------------------------------------------------- */

static enum fuzz_status
reply_feed(void *ctx, const uint8_t *data, size_t len, size_t *consumed)
{
    struct reply_ctx *c = ctx;
    uint64_t before = c->p.offset;
    sp_parse_status_t st = parse_growing(&c->p, c->stack, data, len,
                                         consumed);

    switch (st) {
    case SP_PARSE_AGAIN:
        FUZZ_CHECK(c->p.offset == before + len);
        return FUZZ_AGAIN;
    case SP_PARSE_DONE:
        FUZZ_CHECK(c->p.offset == before + *consumed);
        return FUZZ_DONE;
    case SP_PARSE_ERROR:
        return FUZZ_ERROR;
    }
    FUZZ_CHECK(!"unknown sp_parse_status_t");
    return FUZZ_ERROR;
}

static void
reply_event(void *ctx, enum fuzz_status st, size_t at)
{
    struct reply_ctx *c = ctx;
    struct reply_event e;

    reply_event_fill(&e, &c->p, fuzz_filled_as(st), c->in->base + at);
    if (fuzz_rec_error(&c->rec, st, &e, e.at, &c->last_error, c->last_end)) {
        return;
    }
    FUZZ_CHECK(e.end == e.at);
    FUZZ_CHECK(e.start == c->last_end);     /* replies tile the stream */
    FUZZ_CHECK(e.start < e.end);
    c->last_end = e.end;
    if (c->rec.mode == FUZZ_WHOLE) {
        reply_check(c, &e);
    }
    fuzz_rec_event(&c->rec, &e);
}

static void
reply_start(void *ctx)
{
    struct reply_ctx *c = ctx;

    sp_redis_reply_init(&c->p, c->in->base, c->stack, c->stack_cap,
                        c->elements, c->elements_cap);
    c->last_end = c->in->base;
}

static bool
reply_setup(void *ctx, struct fuzz_input *in)
{
    struct reply_ctx *c = ctx;

    c->in = in;
    c->elements_cap = elements_caps[in->params & 7];
    c->stack_cap = stack_caps[(in->params >> 3) & 7];
    return true;
}

static const struct fuzz_target reply_target = {
    reply_setup, reply_start, reply_feed, reply_event, NULL,
    events, sizeof(events[0]), EVENTS_MAX, reply_event_print
};

FUZZ_MAIN(struct reply_ctx, reply_target)
