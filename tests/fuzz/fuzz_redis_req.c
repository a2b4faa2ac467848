/*
 * fuzz_redis_req.c — libFuzzer target for the Redis request parser
 * (sp_redis_req_init / sp_redis_req_parse).
 *
 * Input: see fuzz_split.h (split control, parameters, chunk sizes, stream);
 * parameter bits 0-2 choose keys_cap (8 0 1 2 3 4 8 8).
 *
 * Checks:
 * - differential: the stream parsed whole, one byte at a time, and in the
 *   input's chunks (rest of a chunk re-fed after each DONE) gives the same
 *   events: status, stream offset reached, and for each request command,
 *   name, nargs, start, end, inline form, arg1, nkeys, keys, truncation;
 *   for an error, its text and offset. abort() on any difference.
 * - API: consumed <= len, AGAIN consumes all, DONE ends in the chunk, an
 *   ERROR stays (consumed 0, same text), p->offset tracks the stream.
 * - invariants of each request: start < end, requests in stream order,
 *   the frame ends in LF (CRLF for multibulk), nkeys <= keys_cap, every
 *   key and arg1 inside [start, end), keys in order.
 * - a reference walk of each multibulk request the whole-stream parse
 *   reports (a framed request is simple to walk): its arguments, then name,
 *   command, nargs, arg1 and the keys the command table's row implies must
 *   match; and the frame alone, parsed by a fresh parser from its start,
 *   gives the same result.
 * - an inline request (no keys, no arg1: its words are decoded) re-encoded
 *   by sp_redis_inline_encode is one whole multibulk request whose parse has
 *   the same nargs, name and command; the encoder writes no further than it
 *   says.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_split.h"
#include "sp_redis.h"

#define KEYS_MAX   8
#define EVENTS_MAX (FUZZ_MAX_STREAM / 2 + 4)

static const uint32_t keys_caps[8] = { 8, 0, 1, 2, 3, 4, 8, 8 };

struct req_event {
    uint32_t status;
    uint32_t nargs;
    uint64_t at;                    /* absolute offset after the call */
    uint64_t start, end;
    const struct sp_redis_command *command;
    uint32_t name_len;
    uint32_t nkeys;
    uint8_t  inline_form;
    uint8_t  keys_truncated;
    char     name[SP_REDIS_MAX_NAME + 1];
    uint64_t arg1_offset, arg1_len;
    uint64_t key_offset[KEYS_MAX], key_len[KEYS_MAX];
    char     error[64];
};

struct req_ctx {
    struct sp_redis_req_parser p;
    struct sp_span        keys[KEYS_MAX];
    uint32_t                   keys_cap;
    const struct fuzz_input   *in;
    struct fuzz_rec            rec;
    uint64_t                   last_end;    /* end of the last request */
    struct req_event           last_error;
};

static struct req_event events[EVENTS_MAX];

static void
req_event_print(const void *ev)
{
    const struct req_event *e = ev;

    fprintf(stderr, " status %u at %llu", e->status,
            (unsigned long long)e->at);
    if (e->status == FUZZ_ERROR) {
        fprintf(stderr, " error \"%s\"\n", e->error);
        return;
    }
    fprintf(stderr, " [%llu,%llu) %s nargs %u name_len %u name ",
            (unsigned long long)e->start, (unsigned long long)e->end,
            e->inline_form ? "inline" : "multibulk", e->nargs, e->name_len);
    fuzz_print_bytes((const uint8_t *)e->name, strlen(e->name), 40);
    fprintf(stderr, " command %s arg1 %llu+%llu nkeys %u%s keys",
            e->command != NULL ? e->command->name : "(none)",
            (unsigned long long)e->arg1_offset,
            (unsigned long long)e->arg1_len, e->nkeys,
            e->keys_truncated ? " (truncated)" : "");
    for (uint32_t i = 0; i < e->nkeys && i < KEYS_MAX; i++) {
        fprintf(stderr, " %llu+%llu", (unsigned long long)e->key_offset[i],
                (unsigned long long)e->key_len[i]);
    }
    fprintf(stderr, "\n");
}

static void
req_event_fill(struct req_event *e, const struct sp_redis_req_parser *p,
               enum fuzz_status st, uint64_t at)
{
    memset(e, 0, sizeof(*e));
    e->status = (uint32_t)st;
    e->at = at;
    if (st == FUZZ_ERROR) {
        FUZZ_CHECK(p->error != NULL);
        snprintf(e->error, sizeof(e->error), "%s", p->error);
        return;
    }
    e->nargs = p->nargs;
    e->start = p->start;
    e->end = p->end;
    e->command = p->command;
    e->name_len = p->name_len;
    e->nkeys = p->nkeys;
    e->inline_form = p->inline_form;
    e->keys_truncated = p->keys_truncated;
    /* the name as far as it is defined (later bytes are stale) */
    memcpy(e->name, p->name, p->name_len < SP_REDIS_MAX_NAME
                             ? p->name_len : SP_REDIS_MAX_NAME);
    FUZZ_CHECK(p->name[p->name_len < SP_REDIS_MAX_NAME
                       ? p->name_len : SP_REDIS_MAX_NAME] == '\0');
    e->arg1_offset = p->arg1.offset;
    e->arg1_len = p->arg1.len;
    FUZZ_CHECK(p->nkeys <= p->keys_cap);
    for (uint32_t i = 0; i < p->nkeys && i < KEYS_MAX; i++) {
        e->key_offset[i] = p->keys[i].offset;
        e->key_len[i] = p->keys[i].len;
    }
}

/* ---- the reference walk of one framed request ---------------------------- */

struct ref_arg {
    uint64_t offset;    /* absolute */
    uint64_t len;
};

#define REF_ARGS_MAX (FUZZ_MAX_STREAM / 2 + 2)
static struct ref_arg ref_args[REF_ARGS_MAX];

static uint8_t
lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c;
}

/* Decimal digits s[*i..) up to '\r', as a length; at '\r\n' after them. */
static uint64_t
ref_number(const uint8_t *s, size_t *i, size_t end, bool *negative)
{
    uint64_t n = 0;

    *negative = false;
    if (*i < end && s[*i] == '-') {
        *negative = true;
        (*i)++;
    }
    FUZZ_CHECK(*i < end && s[*i] >= '0' && s[*i] <= '9');
    while (*i < end && s[*i] >= '0' && s[*i] <= '9') {
        FUZZ_CHECK(n <= UINT64_MAX / 10);
        n = n * 10 + (uint64_t)(s[*i] - '0');
        (*i)++;
    }
    FUZZ_CHECK(*i + 1 < end && s[*i] == '\r' && s[*i + 1] == '\n');
    *i += 2;
    return n;
}

/*
 * The arguments of the request framed at stream[from..to) (stream indexes);
 * offsets absolute. Returns how many.
 */
static size_t
ref_walk(const struct fuzz_input *in, size_t from, size_t to, bool inline_form)
{
    const uint8_t *s = in->stream;
    size_t n = 0, i = from;
    bool negative;

    if (!inline_form) {
        uint64_t count;

        FUZZ_CHECK(s[i] == '*');
        i++;
        count = ref_number(s, &i, to, &negative);
        FUZZ_CHECK(!negative && count > 0);
        for (uint64_t a = 0; a < count; a++) {
            uint64_t len;

            FUZZ_CHECK(i < to && s[i] == '$');
            i++;
            len = ref_number(s, &i, to, &negative);
            FUZZ_CHECK(!negative && len <= to - i);
            FUZZ_CHECK(n < REF_ARGS_MAX);
            ref_args[n].offset = in->base + i;
            ref_args[n].len = len;
            n++;
            i += (size_t)len;
            FUZZ_CHECK(i + 2 <= to);
            FUZZ_CHECK(s[i] == '\r' && s[i + 1] == '\n');
            i += 2;
        }
        FUZZ_CHECK(i == to);        /* the frame is exactly the request */
        return n;
    }
    FUZZ_CHECK(!"inline requests are checked by inline_check");
    return n;
}

/* EVAL's numkeys as Redis's string2ll reads it, at most SP_REDIS_MAX_ARGS. */
static bool
ref_numkeys(const struct fuzz_input *in, const struct ref_arg *a,
            uint64_t *out)
{
    const uint8_t *s = in->stream + (a->offset - in->base);
    uint64_t n = 0;

    if (a->len == 0 || (a->len > 1 && s[0] == '0')) {
        return false;
    }
    for (uint64_t i = 0; i < a->len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        n = n * 10 + (uint64_t)(s[i] - '0');
        if (n > SP_REDIS_MAX_ARGS) {
            return false;
        }
    }
    *out = n;
    return true;
}

/* An inline request against the parse of its multibulk form. */
static void
inline_check(const struct req_ctx *c, const struct req_event *e)
{
    static uint8_t out[FUZZ_MAX_STREAM * 8 + SP_REDIS_INLINE_SLACK + 64];
    static struct sp_redis_req_parser p;
    static struct sp_span keys[KEYS_MAX];
    const uint8_t *line = c->in->stream + (e->start - c->in->base);
    size_t len = (size_t)(e->end - e->start), size, consumed = SIZE_MAX;
    uint32_t nargs = 0;

    FUZZ_CHECK(e->nkeys == 0 && !e->keys_truncated);
    FUZZ_CHECK(e->arg1_offset == 0 && e->arg1_len == 0);
    size = sp_redis_inline_size(line, len, &nargs);
    FUZZ_CHECK(size > 0 && nargs == e->nargs);
    FUZZ_CHECK(size + SP_REDIS_INLINE_SLACK <= sizeof(out));
    memset(out, 0xa5, size + SP_REDIS_INLINE_SLACK + 1);
    FUZZ_CHECK(sp_redis_inline_encode(line, len, out) == size);
    FUZZ_CHECK(out[size + SP_REDIS_INLINE_SLACK] == 0xa5);
    sp_redis_req_init(&p, 0, keys, c->keys_cap);
    FUZZ_CHECK(sp_redis_req_parse(&p, out, size, &consumed) == SP_PARSE_DONE);
    FUZZ_CHECK(consumed == size && !p.inline_form);
    FUZZ_CHECK(p.nargs == e->nargs && p.name_len == e->name_len);
    FUZZ_CHECK(p.command == e->command);
    FUZZ_CHECK(memcmp(p.name, e->name, sizeof(p.name)) == 0);
}

/* Check the whole-stream event e against a walk of its frame. */
static void
ref_check(const struct req_ctx *c, const struct req_event *e)
{
    const struct fuzz_input *in = c->in;
    size_t from = (size_t)(e->start - in->base), to = (size_t)(e->end - in->base);
    size_t nargs;

    if (e->inline_form) {
        inline_check(c, e);
        return;
    }
    nargs = ref_walk(in, from, to, e->inline_form);
    const uint8_t *name = in->stream + (ref_args[0].offset - in->base);
    const struct sp_redis_command *cmd;
    size_t nexpected = 0;
    uint32_t first;

    FUZZ_CHECK(nargs == e->nargs);
    FUZZ_CHECK(nargs >= 1);
    FUZZ_CHECK(ref_args[0].len == e->name_len);
    for (size_t i = 0; i < ref_args[0].len && i < SP_REDIS_MAX_NAME; i++) {
        FUZZ_CHECK((uint8_t)e->name[i] == lower(name[i]));
    }
    cmd = sp_redis_command_lookup((const char *)name, (size_t)ref_args[0].len);
    FUZZ_CHECK(cmd == e->command);
    if (cmd != NULL) {
        FUZZ_CHECK(strlen(cmd->name) == e->name_len);
        FUZZ_CHECK(memcmp(cmd->name, e->name, e->name_len) == 0);
    }
    if (nargs >= 2) {
        FUZZ_CHECK(e->arg1_offset == ref_args[1].offset);
        FUZZ_CHECK(e->arg1_len == ref_args[1].len);
    } else {
        FUZZ_CHECK(e->arg1_offset == 0 && e->arg1_len == 0);
    }

    /* the keys the row names, in argument order */
    if (cmd == NULL || cmd->first_key <= 0 || nargs <= (size_t)cmd->first_key) {
        FUZZ_CHECK(e->nkeys == 0 && !e->keys_truncated);
        return;
    }
    first = (uint32_t)cmd->first_key;
    if (cmd->keys_from_numkeys) {
        uint64_t numkeys;

        if (ref_numkeys(in, &ref_args[first - 1], &numkeys)) {
            nexpected = numkeys < nargs - first ? (size_t)numkeys
                                                : nargs - first;
        }
        for (size_t k = 0; k < nexpected && k < KEYS_MAX; k++) {
            if (k < e->nkeys) {
                FUZZ_CHECK(e->key_offset[k] == ref_args[first + k].offset);
                FUZZ_CHECK(e->key_len[k] == ref_args[first + k].len);
            }
        }
    } else {
        int64_t last = cmd->last_key >= 0 ? cmd->last_key
                                          : (int64_t)nargs + cmd->last_key;

        if (last > (int64_t)nargs - 1) {
            last = (int64_t)nargs - 1;
        }
        for (int64_t a = first; a <= last; a += cmd->key_step) {
            if (nexpected < e->nkeys && nexpected < KEYS_MAX) {
                FUZZ_CHECK(e->key_offset[nexpected] == ref_args[a].offset);
                FUZZ_CHECK(e->key_len[nexpected] == ref_args[a].len);
            }
            nexpected++;
        }
    }
    FUZZ_CHECK(e->keys_truncated == (nexpected > c->keys_cap));
    FUZZ_CHECK(e->nkeys == (nexpected > c->keys_cap ? c->keys_cap
                                                     : nexpected));
}

/* The frame alone, from a fresh parser, gives the same request. */
static void
reparse_check(const struct req_ctx *c, const struct req_event *e)
{
    static struct sp_redis_req_parser p;
    static struct sp_span keys[KEYS_MAX];
    struct req_event again;
    const uint8_t *frame = c->in->stream + (e->start - c->in->base);
    size_t len = (size_t)(e->end - e->start), consumed = SIZE_MAX;

    sp_redis_req_init(&p, e->start, keys, c->keys_cap);
    FUZZ_CHECK(sp_redis_req_parse(&p, frame, len, &consumed)
               == SP_PARSE_DONE);
    FUZZ_CHECK(consumed == len);
    req_event_fill(&again, &p, FUZZ_DONE, e->at);
    FUZZ_CHECK(memcmp(&again, e, sizeof(again)) == 0);
}

/* ---- feeding ----------------------------------------------------------- */

FUZZ_FEED(req_feed, struct req_ctx, sp_redis_req_parse)

static void
req_event(void *ctx, enum fuzz_status st, size_t at)
{
    struct req_ctx *c = ctx;
    const struct fuzz_input *in = c->in;
    const struct sp_redis_req_parser *p = &c->p;
    struct req_event e;

    req_event_fill(&e, p, fuzz_filled_as(st), in->base + at);
    if (fuzz_rec_error(&c->rec, st, &e, e.at, &c->last_error, c->last_end)) {
        return;
    }

    /* invariants of a request */
    FUZZ_CHECK(e.end == e.at);
    FUZZ_CHECK(e.start >= c->last_end && e.start < e.end);
    FUZZ_CHECK(e.nargs >= 1);
    FUZZ_CHECK(e.nkeys <= c->keys_cap);
    FUZZ_CHECK(!e.keys_truncated || e.nkeys == c->keys_cap);
    {
        const uint8_t *s = in->stream;
        size_t from = (size_t)(e.start - in->base);
        size_t to = (size_t)(e.end - in->base);

        FUZZ_CHECK(s[to - 1] == '\n');
        FUZZ_CHECK((s[from] == '*') == !e.inline_form);
        if (!e.inline_form) {
            FUZZ_CHECK(to - from >= 4 && s[to - 2] == '\r');
        }
    }
    for (uint32_t i = 0; i < e.nkeys && i < KEYS_MAX; i++) {
        FUZZ_CHECK(e.key_offset[i] >= e.start);
        FUZZ_CHECK(e.key_offset[i] + e.key_len[i] < e.end);
        if (i > 0) {
            FUZZ_CHECK(e.key_offset[i] > e.key_offset[i - 1]
                                         + e.key_len[i - 1]);
        }
    }
    if (e.nargs >= 2 && !e.inline_form) {
        FUZZ_CHECK(e.arg1_offset > e.start);
        FUZZ_CHECK(e.arg1_offset + e.arg1_len < e.end);
    }
    for (uint32_t i = 0; i < e.name_len && i < SP_REDIS_MAX_NAME; i++) {
        FUZZ_CHECK(!(e.name[i] >= 'A' && e.name[i] <= 'Z'));
    }
    c->last_end = e.end;

    if (c->rec.mode == FUZZ_WHOLE) {
        ref_check(c, &e);
        reparse_check(c, &e);
    }
    fuzz_rec_event(&c->rec, &e);
}

static void
req_start(void *ctx)
{
    struct req_ctx *c = ctx;

    sp_redis_req_init(&c->p, c->in->base, c->keys, c->keys_cap);
    c->last_end = c->in->base;
}

static bool
req_setup(void *ctx, struct fuzz_input *in)
{
    struct req_ctx *c = ctx;

    c->in = in;
    c->keys_cap = keys_caps[in->params & 7];
    return true;
}

static const struct fuzz_target req_target = {
    req_setup, req_start, req_feed, req_event, NULL,
    events, sizeof(events[0]), EVENTS_MAX, req_event_print
};

FUZZ_MAIN(struct req_ctx, req_target)
