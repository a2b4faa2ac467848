/*
 * fuzz_split.h — shared by the protocol fuzz targets (fuzz_redis_req.c,
 * fuzz_redis_reply.c, and the Memcached ones to come): how a fuzz input
 * becomes a byte stream plus a way of cutting it into chunks, the loop that
 * feeds a resumable parser as a real caller does, and the recorder that
 * compares what one feeding mode saw with what another saw.
 *
 * Input layout (every protocol target):
 *
 *   byte 0     split control: bits 0-2 = number of chunk-size bytes - 1
 *              (1..8), bits 3-4 = the stream offset the parser starts at
 *              (0, 1, just below 2^32, above 2^40), bit 5 = expand runs
 *              (below, with FUZZ_EXPAND=1), bits 6-7 unused
 *   byte 1     target parameters (key / element / stack capacities, ...)
 *   bytes 2..  the chunk-size bytes, used in turn, cyclically: 0 feeds an
 *              empty chunk and then one byte; 1..127 that many bytes;
 *              128..255 (b - 127) * 64 bytes
 *   the rest   the stream (at most FUZZ_MAX_STREAM bytes are used)
 *
 * Expanding runs is for a separate pass at the length limits, enabled by
 * FUZZ_EXPAND=1 in the environment (bit 5 is ignored otherwise). The stream
 * is then decoded first: 0x01 N C (N > 0) stands for N copies of byte C,
 * 0x01 0x00 M C for M * 256 copies (M = 0: 65536); every other byte stands
 * for itself. So a short input can hold a 64 KiB inline line or a large
 * bulk payload. It is off by default because libFuzzer, finding that long
 * runs reach new loop-count features cheaply, fills its corpus with them,
 * and a 64 KiB stream costs as much as a thousand short inputs (every byte
 * of an inline line is a parser step and a few traced compares, in each
 * feeding mode): throughput drops from ~18000 to ~1000 inputs/s.
 *
 * Each target parses the stream three ways -- whole (one chunk), one byte
 * per chunk, and in the chunks above -- with a fresh parser each time.
 * (A stream longer than 2 * FUZZ_BYTES_EDGE, which only run expansion
 * makes, is fed one byte at a time over its first and last FUZZ_BYTES_EDGE
 * bytes and in FUZZ_BYTES_MIDDLE-byte chunks between, to keep such inputs
 * affordable.) After DONE the rest of the chunk is fed again; after ERROR
 * the parser is fed once more and must fail the same way, consuming
 * nothing. The sequence of
 * events (every DONE and the ERROR, with what the parser reported) must be
 * the same in all three modes; the first mode records it, the others compare
 * against the record as they go. Everything lives in fixed-size static
 * storage: nothing is allocated per input.
 *
 * A target supplies a feed function (one parser call; status as FUZZ_*,
 * most simply by FUZZ_FEED), an event function (reads the parser's results
 * into an event struct, leaves errors to fuzz_rec_error and hands the rest
 * to fuzz_rec_event), and setup and start functions (its parameters from
 * the input; a fresh parser for each mode): fuzz_one_input does the rest.
 */
#ifndef FUZZ_SPLIT_H
#define FUZZ_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_parse.h"

#define FUZZ_MAX_STREAM   (128 * 1024)
#define FUZZ_BYTES_EDGE   4096     /* see fuzz_chunk_size */
#define FUZZ_BYTES_MIDDLE 509

/* FUZZ_ERROR_REPEAT: only passed to event functions, for the second call
 * after an error, whose results must equal the first's. */
enum fuzz_status { FUZZ_AGAIN, FUZZ_DONE, FUZZ_ERROR, FUZZ_ERROR_REPEAT };
enum fuzz_mode { FUZZ_WHOLE, FUZZ_BYTES, FUZZ_SPLIT, FUZZ_NMODES };

static const char *const fuzz_mode_names[FUZZ_NMODES] = {
    "whole", "byte-at-a-time", "split"
};

/* Abort with a message: a crash libFuzzer records as an artifact. */
#define FUZZ_CHECK(cond)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,          \
                    __LINE__, #cond);                                       \
            abort();                                                        \
        }                                                                   \
    } while (0)

struct fuzz_input {
    uint64_t       base;                /* stream offset of stream[0] */
    uint8_t        params;              /* byte 1, for the target */
    const uint8_t *sizes;
    size_t         nsizes;
    const uint8_t *stream;
    size_t         len;
};

static const uint64_t fuzz_bases[4] = {
    0, 1, UINT64_C(0xFFFFFFFF) - 5, (UINT64_C(1) << 40) + 7
};

/* Decode runs (see the top) of src[0..len) into a static buffer. */
static inline const uint8_t *
fuzz_expand(const uint8_t *src, size_t len, size_t *out_len)
{
    static uint8_t buf[FUZZ_MAX_STREAM];
    size_t n = 0;

    for (size_t i = 0; i < len && n < sizeof(buf); i++) {
        size_t run;
        uint8_t c;

        if (src[i] == 0x01 && len - i >= 3 && src[i + 1] != 0) {
            run = src[i + 1];
            c = src[i + 2];
            i += 2;
        } else if (src[i] == 0x01 && len - i >= 4 && src[i + 1] == 0) {
            run = (src[i + 2] != 0 ? (size_t)src[i + 2] : 256) * 256;
            c = src[i + 3];
            i += 3;
        } else {
            buf[n++] = src[i];
            continue;
        }
        if (run > sizeof(buf) - n) {
            run = sizeof(buf) - n;
        }
        memset(buf + n, c, run);
        n += run;
    }
    *out_len = n;
    return buf;
}

static inline bool
fuzz_expand_enabled(void)
{
    static int enabled = -1;

    if (enabled < 0) {
        const char *env = getenv("FUZZ_EXPAND");

        enabled = env != NULL && env[0] != '\0' && strcmp(env, "0") != 0;
    }
    return enabled == 1;
}

/* Split a fuzz input into its parts; false when it is too short. */
static inline bool
fuzz_input_parse(const uint8_t *data, size_t size, struct fuzz_input *in)
{
    size_t nsizes;

    if (size < 2) {
        return false;
    }
    nsizes = (size_t)(data[0] & 7) + 1;
    if (size < 2 + nsizes) {
        return false;
    }
    in->base = fuzz_bases[(data[0] >> 3) & 3];
    in->params = data[1];
    in->sizes = data + 2;
    in->nsizes = nsizes;
    in->stream = data + 2 + nsizes;
    in->len = size - 2 - nsizes;
    if ((data[0] & 0x20) && fuzz_expand_enabled()) {
        in->stream = fuzz_expand(in->stream, in->len, &in->len);
    }
    if (in->len > FUZZ_MAX_STREAM) {
        in->len = FUZZ_MAX_STREAM;
    }
    return true;
}

/* ---- feeding ----------------------------------------------------------- */

/* One parser call: status, *consumed as the parser says. */
typedef enum fuzz_status (*fuzz_feed_fn)(void *ctx, const uint8_t *data,
                                         size_t len, size_t *consumed);

/*
 * A DONE, ERROR or ERROR_REPEAT: `at` is the stream index (0-based,
 * relative to stream[0]) just past what the parser consumed.
 */
typedef void (*fuzz_event_fn)(void *ctx, enum fuzz_status status,
                              size_t at);

/*
 * A parser call's status as FUZZ_*, checking that its stream offset moved
 * from `before` to `after` by what it consumed (all of the chunk on AGAIN).
 */
static inline enum fuzz_status
fuzz_parse_status(sp_parse_status_t st, uint64_t before, uint64_t after,
                  size_t len, size_t consumed)
{
    if (st == SP_PARSE_ERROR) {
        return FUZZ_ERROR;
    }
    FUZZ_CHECK(st == SP_PARSE_AGAIN || st == SP_PARSE_DONE);
    FUZZ_CHECK(after == before + (st == SP_PARSE_AGAIN ? len : consumed));
    return st == SP_PARSE_AGAIN ? FUZZ_AGAIN : FUZZ_DONE;
}

/*
 * Defines `name`, a fuzz_feed_fn calling parse(&ctx->p, ...) on the
 * parser `p` of a context of `ctx_type`.
 */
#define FUZZ_FEED(name, ctx_type, parse)                                    \
    static enum fuzz_status                                                 \
    name(void *ctx, const uint8_t *data, size_t len, size_t *consumed)      \
    {                                                                       \
        ctx_type *c = ctx;                                                  \
        uint64_t before = c->p.offset;                                      \
        sp_parse_status_t st = parse(&c->p, data, len, consumed);           \
                                                                            \
        return fuzz_parse_status(st, before, c->p.offset, len, *consumed);  \
    }

/*
 * The size of chunk number i, at stream index pos, in `mode`; *empty: feed
 * an empty one first.
 */
static inline size_t
fuzz_chunk_size(const struct fuzz_input *in, enum fuzz_mode mode, size_t i,
                size_t pos, bool *empty)
{
    uint8_t b;

    *empty = false;
    switch (mode) {
    case FUZZ_WHOLE:
        return in->len;
    case FUZZ_BYTES:
        return pos >= FUZZ_BYTES_EDGE && in->len - pos > FUZZ_BYTES_EDGE
               ? FUZZ_BYTES_MIDDLE : 1;
    default:
        b = in->sizes[i % in->nsizes];
        if (b == 0) {
            *empty = true;
            return 1;
        }
        return b < 128 ? b : (size_t)(b - 127) * 64;
    }
}

/*
 * Feed the stream in `mode`, as a caller does: chunk after chunk; after a
 * DONE the rest of the same chunk again; stop at the first ERROR (after
 * checking that a second call fails too, consuming nothing). Checks what
 * the API promises of *consumed. Returns the stream index where feeding
 * stopped (in->len unless an ERROR came first).
 */
static inline size_t
fuzz_drive(const struct fuzz_input *in, enum fuzz_mode mode,
           fuzz_feed_fn feed, fuzz_event_fn event, void *ctx)
{
    size_t pos = 0;

    for (size_t i = 0; pos < in->len; i++) {
        bool empty;
        size_t n = fuzz_chunk_size(in, mode, i, pos, &empty);
        size_t consumed;

        if (n > in->len - pos) {
            n = in->len - pos;
        }
        if (empty) {
            consumed = SIZE_MAX;
            FUZZ_CHECK(feed(ctx, in->stream + pos, 0, &consumed)
                       == FUZZ_AGAIN);
            FUZZ_CHECK(consumed == 0);
        }
        while (n > 0) {
            enum fuzz_status st;

            consumed = SIZE_MAX;
            st = feed(ctx, in->stream + pos, n, &consumed);
            FUZZ_CHECK(consumed <= n);
            switch (st) {
            case FUZZ_AGAIN:
                FUZZ_CHECK(consumed == n);
                pos += n;
                n = 0;
                break;
            case FUZZ_DONE:
                FUZZ_CHECK(consumed > 0);   /* the last byte is in here */
                pos += consumed;
                n -= consumed;
                event(ctx, st, pos);
                break;
            case FUZZ_ERROR:
                FUZZ_CHECK(consumed < n);   /* the offending byte is here */
                pos += consumed;
                n -= consumed;
                event(ctx, st, pos);
                /* it stays failed: same error, nothing consumed */
                consumed = SIZE_MAX;
                FUZZ_CHECK(feed(ctx, in->stream + pos, n, &consumed)
                           == FUZZ_ERROR);
                FUZZ_CHECK(consumed == 0);
                event(ctx, FUZZ_ERROR_REPEAT, pos);
                return pos;
            default:
                FUZZ_CHECK(!"unknown status");
            }
        }
    }
    return pos;
}

/* ---- recording and comparing events ------------------------------------ */

/*
 * Events are fixed-size structs the target zero-fills before filling, so
 * they compare with memcmp. In FUZZ_WHOLE they are stored; in the other
 * modes each is compared with the stored one of the same index.
 */
struct fuzz_rec {
    void          *events;      /* target's static array */
    size_t         event_size;
    size_t         cap;
    size_t         n;           /* recorded in FUZZ_WHOLE */
    size_t         next;        /* compared so far in other modes */
    enum fuzz_mode mode;
    void         (*print)(const void *event);
    const struct fuzz_input *in;
};

/* Records events of `event_size` bytes in events[0..cap) for `in`. */
static inline void
fuzz_rec_init(struct fuzz_rec *r, void *events, size_t event_size,
              size_t cap, void (*print)(const void *event),
              const struct fuzz_input *in)
{
    *r = (struct fuzz_rec){ .events = events, .event_size = event_size,
                            .cap = cap, .print = print, .in = in };
}

static inline void
fuzz_rec_start(struct fuzz_rec *r, enum fuzz_mode mode)
{
    r->mode = mode;
    r->next = 0;
    if (mode == FUZZ_WHOLE) {
        r->n = 0;
    }
}

static inline void
fuzz_rec_mismatch(const struct fuzz_rec *r, const void *got, const char *why)
{
    fprintf(stderr, "DIFFERENTIAL MISMATCH (%s): mode %s, event %zu, "
            "stream %zu bytes from offset %llu, chunk sizes", why,
            fuzz_mode_names[r->mode], r->next, r->in->len,
            (unsigned long long)r->in->base);
    for (size_t i = 0; i < r->in->nsizes; i++) {
        fprintf(stderr, " %u", (unsigned)r->in->sizes[i]);
    }
    fprintf(stderr, "\n");
    if (r->next < r->n) {
        fprintf(stderr, "  whole:");
        r->print((const char *)r->events + r->next * r->event_size);
    } else {
        fprintf(stderr, "  whole: (no such event)\n");
    }
    if (got != NULL) {
        fprintf(stderr, "  %s:", fuzz_mode_names[r->mode]);
        r->print(got);
    } else {
        fprintf(stderr, "  %s: (no such event)\n", fuzz_mode_names[r->mode]);
    }
    abort();
}

static inline void
fuzz_rec_event(struct fuzz_rec *r, const void *event)
{
    if (r->mode == FUZZ_WHOLE) {
        FUZZ_CHECK(r->n < r->cap);
        memcpy((char *)r->events + r->n * r->event_size, event,
               r->event_size);
        r->n++;
        return;
    }
    if (r->next >= r->n) {
        fuzz_rec_mismatch(r, event, "an event more than whole");
    }
    if (memcmp((const char *)r->events + r->next * r->event_size, event,
               r->event_size) != 0) {
        fuzz_rec_mismatch(r, event, "events differ");
    }
    r->next++;
}

static inline void
fuzz_rec_end(struct fuzz_rec *r)
{
    if (r->mode != FUZZ_WHOLE && r->next != r->n) {
        fuzz_rec_mismatch(r, NULL, "fewer events than whole");
    }
}

/* The status an event of `st` is filled as: a repeat as its error. */
static inline enum fuzz_status
fuzz_filled_as(enum fuzz_status st)
{
    return st == FUZZ_ERROR_REPEAT ? FUZZ_ERROR : st;
}

/*
 * The errors of a target's event function, given event `e` filled as
 * fuzz_filled_as(st) and ending at stream offset e_at: a repeat must be
 * what the error was; an error, at or past the end of the last message
 * (last_end), is kept in *last_error and recorded. Returns false for a
 * DONE, which is the caller's to check.
 */
static inline bool
fuzz_rec_error(struct fuzz_rec *r, enum fuzz_status st, const void *e,
               uint64_t e_at, void *last_error, uint64_t last_end)
{
    switch (st) {
    case FUZZ_ERROR_REPEAT:
        FUZZ_CHECK(memcmp(e, last_error, r->event_size) == 0);
        return true;
    case FUZZ_ERROR:
        FUZZ_CHECK(e_at >= last_end);
        memcpy(last_error, e, r->event_size);
        fuzz_rec_event(r, e);
        return true;
    default:
        return false;
    }
}

/* ---- running every mode ------------------------------------------------- */

/* A target's parser as fuzz_one_input drives it. */
struct fuzz_target {
    /* reads the target's parameters from `in` (which it may trim) into its
     * context; false: nothing to parse */
    bool        (*setup)(void *ctx, struct fuzz_input *in);
    /* readies a fresh parser, at the stream's base, for another mode */
    void        (*start)(void *ctx);
    fuzz_feed_fn  feed;
    fuzz_event_fn event;
    /* optional: after a FUZZ_WHOLE run that fed the whole stream */
    void        (*whole_end)(void *ctx);
    /* the events recorded (see struct fuzz_rec) */
    void         *events;
    size_t        event_size;
    size_t        cap;
    void        (*print)(const void *event);
};

/*
 * One fuzz input: parses it (fuzz_input_parse, then t->setup), then the
 * stream in every mode, recording in FUZZ_WHOLE and comparing in the others
 * (*rec); *offset is the parser's stream offset, which starts at the base
 * and ends past the stream unless an error stopped it. Returns 0, as
 * LLVMFuzzerTestOneInput does.
 */
static inline int
fuzz_one_input(const uint8_t *data, size_t size, const struct fuzz_target *t,
               void *ctx, struct fuzz_rec *rec, const uint64_t *offset)
{
    struct fuzz_input in;

    if (!fuzz_input_parse(data, size, &in) || !t->setup(ctx, &in)) {
        return 0;
    }
    fuzz_rec_init(rec, t->events, t->event_size, t->cap, t->print, &in);
    for (int m = FUZZ_WHOLE; m < FUZZ_NMODES; m++) {
        enum fuzz_mode mode = (enum fuzz_mode)m;
        size_t stop;

        t->start(ctx);
        FUZZ_CHECK(*offset == in.base);
        fuzz_rec_start(rec, mode);
        stop = fuzz_drive(&in, mode, t->feed, t->event, ctx);
        fuzz_rec_end(rec);
        if (stop == in.len) {
            FUZZ_CHECK(*offset == in.base + in.len);
            if (mode == FUZZ_WHOLE && t->whole_end != NULL) {
                t->whole_end(ctx);
            }
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Defines LLVMFuzzerTestOneInput for `target`, whose context, of
 * `ctx_type`, holds its recorder `rec` and its parser `p`.
 */
#define FUZZ_MAIN(ctx_type, target)                                         \
    int                                                                     \
    LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                \
    {                                                                       \
        static ctx_type c;                                                  \
                                                                            \
        return fuzz_one_input(data, size, &(target), &c, &c.rec,            \
                              &c.p.offset);                                 \
    }

/* Printable bytes for messages: the first n of data, escaped. */
static inline void
fuzz_print_bytes(const uint8_t *data, size_t len, size_t n)
{
    fputc('"', stderr);
    for (size_t i = 0; i < len && i < n; i++) {
        if (data[i] >= 0x20 && data[i] < 0x7f && data[i] != '"'
            && data[i] != '\\') {
            fputc(data[i], stderr);
        } else {
            fprintf(stderr, "\\x%02x", data[i]);
        }
    }
    fputc('"', stderr);
    if (len > n) {
        fprintf(stderr, "...(%zu bytes)", len);
    }
}

#endif /* FUZZ_SPLIT_H */
