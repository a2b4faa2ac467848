/*
 * fuzz_mc_reply.c — libFuzzer target for the Memcached reply parser
 * (sp_memcache_reply_init / sp_memcache_reply_expect /
 * sp_memcache_reply_parse).
 *
 * Input: see fuzz_split.h (split control, parameters, chunk sizes, stream).
 * Parameter bits 0-2 choose items_cap (8 0 1 2 3 4 8 8); bits 3-6 say how
 * many bytes at the front of the stream (1..16) are the command sequence,
 * not replies: reply number k answers the command in row
 * (cmds[k % ncmds] % sp_memcache_command_count()) of the table, named to
 * the parser with sp_memcache_reply_expect after init and after each DONE,
 * as a caller does; bit 7 set: only when it differs from the last one (the
 * command stays until changed).
 *
 * Checks:
 * - differential: the replies parsed whole, one byte at a time, and in the
 *   input's chunks (rest of a chunk re-fed after each DONE) give the same
 *   events: status, offset reached, and for each reply type, start, end,
 *   number, nitems, items_truncated and the items; for an error, its text
 *   and offset. abort() on any difference.
 * - API: consumed <= len, AGAIN consumes all, DONE ends in the chunk, an
 *   ERROR stays (consumed 0, same text), p->offset tracks the stream.
 * - invariants of each reply: replies tile the stream, the type is one the
 *   command can get (its row's replies or an error line), the frame ends in
 *   CRLF, nitems <= items_cap, items lie back to back from the reply's
 *   start, each key inside its item.
 * - a reference model of the whole-stream parse (lines, first words, VALUE
 *   and VA lines and their data blocks, as sp_memcache.h describes them):
 *   every event (an error's offset, not its text), and that the unparsed
 *   tail is an incomplete reply, must match it.
 * - the frame alone, parsed by a fresh parser expecting the same command,
 *   gives the same reply.
 * Its first findings (a NUL inside a first word, an item's offset before
 * leading spaces) were fixed in sp_memcache_reply.c; their inputs are in
 * corpus/fuzz_mc_reply/ as regression seeds.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_split.h"
#include "sp_memcache.h"

#define ITEMS_MAX  8
#define CMDS_MAX   16
#define EVENTS_MAX (FUZZ_MAX_STREAM / 3 + 4)    /* "0\r\n" is a reply */

static const uint32_t items_caps[8] = { 8, 0, 1, 2, 3, 4, 8, 8 };

struct reply_event {
    uint32_t status;
    uint32_t type;
    uint64_t at;                    /* absolute offset after the call */
    uint64_t start, end;
    uint64_t number;
    const struct sp_memcache_command *command;  /* the one expected */
    uint32_t nitems;
    uint32_t items_truncated;
    uint64_t it_offset[ITEMS_MAX], it_key_offset[ITEMS_MAX];
    uint32_t it_len[ITEMS_MAX], it_key_len[ITEMS_MAX];
    char     error[64];
};

struct reply_ctx {
    struct sp_memcache_reply_parser p;
    struct sp_memcache_item  items[ITEMS_MAX];
    uint32_t                 items_cap;
    const struct sp_memcache_command *cmds[CMDS_MAX];
    size_t                   ncmds;
    bool                     expect_on_change;
    const struct sp_memcache_command *expected;  /* last named to p */
    size_t                   nreplies;           /* DONE so far */
    const struct fuzz_input *in;
    struct fuzz_rec          rec;
    uint64_t                 last_end;
    struct reply_event       last_error;
};

static struct reply_event events[EVENTS_MAX];

/* The memcached reply words and the type each line is. */
#define LINE_VALUE   (-1)
#define LINE_UNKNOWN (-2)

static const struct {
    const char *word;
    int         type;
} reply_words[] = {
    { "VALUE", LINE_VALUE },
    { "END", SP_MEMCACHE_REPLY_END },
    { "ERROR", SP_MEMCACHE_REPLY_ERROR },
    { "CLIENT_ERROR", SP_MEMCACHE_REPLY_CLIENT_ERROR },
    { "SERVER_ERROR", SP_MEMCACHE_REPLY_SERVER_ERROR },
    { "STORED", SP_MEMCACHE_REPLY_STORED },
    { "NOT_STORED", SP_MEMCACHE_REPLY_NOT_STORED },
    { "EXISTS", SP_MEMCACHE_REPLY_EXISTS },
    { "NOT_FOUND", SP_MEMCACHE_REPLY_NOT_FOUND },
    { "DELETED", SP_MEMCACHE_REPLY_DELETED },
    { "TOUCHED", SP_MEMCACHE_REPLY_TOUCHED },
    { "VERSION", SP_MEMCACHE_REPLY_VERSION },
    { "OK", SP_MEMCACHE_REPLY_OK },
    { "HD", SP_MEMCACHE_REPLY_HD },
    { "NS", SP_MEMCACHE_REPLY_NS },
    { "EX", SP_MEMCACHE_REPLY_EX },
    { "NF", SP_MEMCACHE_REPLY_NF },
    { "EN", SP_MEMCACHE_REPLY_EN },
    { "MN", SP_MEMCACHE_REPLY_MN },
    { "VA", SP_MEMCACHE_REPLY_VA },
    { "ME", SP_MEMCACHE_REPLY_ME },
};

#define NWORDS (sizeof(reply_words) / sizeof(reply_words[0]))

static const char *
type_name(uint32_t type)
{
    if (type == SP_MEMCACHE_REPLY_NONE) {
        return "NONE";
    }
    if (type == SP_MEMCACHE_REPLY_NUMBER) {
        return "NUMBER";
    }
    for (size_t i = 0; i < NWORDS; i++) {
        if (reply_words[i].type == (int)type) {
            return reply_words[i].word;
        }
    }
    return "?";
}

static void
reply_event_print(const void *ev)
{
    const struct reply_event *e = ev;

    fprintf(stderr, " status %u at %llu (expecting %s)", e->status,
            (unsigned long long)e->at,
            e->command != NULL ? e->command->name : "?");
    if (e->status == FUZZ_ERROR) {
        fprintf(stderr, " error \"%s\"\n", e->error);
        return;
    }
    fprintf(stderr, " [%llu,%llu) %s number %llu nitems %u%s:",
            (unsigned long long)e->start, (unsigned long long)e->end,
            type_name(e->type), (unsigned long long)e->number, e->nitems,
            e->items_truncated ? " (truncated)" : "");
    for (uint32_t i = 0; i < e->nitems && i < ITEMS_MAX; i++) {
        fprintf(stderr, " %llu+%u key %llu+%u",
                (unsigned long long)e->it_offset[i], e->it_len[i],
                (unsigned long long)e->it_key_offset[i], e->it_key_len[i]);
    }
    fprintf(stderr, "\n");
}

static void
reply_event_fill(struct reply_event *e,
                 const struct sp_memcache_reply_parser *p,
                 const struct sp_memcache_command *cmd, enum fuzz_status st,
                 uint64_t at)
{
    memset(e, 0, sizeof(*e));
    e->status = (uint32_t)st;
    e->at = at;
    e->command = cmd;
    if (st == FUZZ_ERROR) {
        FUZZ_CHECK(p->error != NULL && p->error[0] != '\0');
        snprintf(e->error, sizeof(e->error), "%s", p->error);
        return;
    }
    e->type = (uint32_t)p->type;
    e->start = p->start;
    e->end = p->end;
    e->number = p->number;
    FUZZ_CHECK(p->nitems <= p->items_cap);
    e->nitems = p->nitems;
    e->items_truncated = p->items_truncated;
    for (uint32_t i = 0; i < p->nitems && i < ITEMS_MAX; i++) {
        e->it_offset[i] = p->items[i].offset;
        e->it_key_offset[i] = p->items[i].key_offset;
        e->it_len[i] = p->items[i].len;
        e->it_key_len[i] = p->items[i].key_len;
    }
}

/* ---- the reference model ------------------------------------------------- */

/*
 * Written from sp_memcache.h and the memcached protocol, not from the
 * parser: a reply is lines of space-separated tokens ending in CRLF (at
 * most SP_MEMCACHE_MAX_LINE bytes before the CR; a CR anywhere else is a
 * byte of its token, a LF without CR an error); the first word says what
 * the line is, and must be one the expected command can get (known as soon
 * as the word ends); VALUE <key> <flags> <bytes> [<cas>] and VA <size>
 * <flags>* lines are followed by that many bytes and CRLF; VALUE items go
 * on until another line ends the get reply.
 */

struct ref_tok {
    size_t from;
    size_t len;
};

/* digits only, within 64 bits, at most max */
static bool
ref_number(const struct fuzz_input *in, const struct ref_tok *t,
           uint64_t max, uint64_t *out)
{
    const uint8_t *s = in->stream + t->from;
    uint64_t n = 0;

    if (t->len == 0) {
        return false;
    }
    for (size_t i = 0; i < t->len; i++) {
        uint64_t d = (uint64_t)(s[i] - '0');

        if (s[i] < '0' || s[i] > '9' || n > (UINT64_MAX - d) / 10) {
            return false;
        }
        n = n * 10 + d;
    }
    if (n > max) {
        return false;
    }
    *out = n;
    return true;
}

static int
ref_classify(const struct fuzz_input *in, const struct ref_tok *t)
{
    const uint8_t *s = in->stream + t->from;
    size_t len = t->len;
    uint64_t n;

    if (ref_number(in, t, UINT64_MAX, &n)) {
        return SP_MEMCACHE_REPLY_NUMBER;
    }
    for (size_t i = 0; i < NWORDS; i++) {
        if (strlen(reply_words[i].word) == len
            && memcmp(reply_words[i].word, s, len) == 0) {
            return reply_words[i].type;
        }
    }
    return LINE_UNKNOWN;
}

static bool
ref_allowed(const struct sp_memcache_command *cmd, int line)
{
    if (line == SP_MEMCACHE_REPLY_ERROR
        || line == SP_MEMCACHE_REPLY_CLIENT_ERROR
        || line == SP_MEMCACHE_REPLY_SERVER_ERROR) {
        return true;
    }
    if (line == LINE_UNKNOWN) {
        return false;
    }
    if (line == LINE_VALUE) {
        line = SP_MEMCACHE_REPLY_END;
    }
    return (cmd->replies & SP_MEMCACHE_REPLY_BIT(line)) != 0;
}

static bool
ref_fail(const struct fuzz_input *in, struct reply_event *e, size_t at)
{
    const struct sp_memcache_command *cmd = e->command;

    memset(e, 0, sizeof(*e));
    e->status = FUZZ_ERROR;
    e->at = in->base + at;
    e->command = cmd;
    return true;
}

/*
 * A data block of `size` bytes after the LF at `lf`, then CRLF. Returns
 * 1 (*next: the index after it), 0: the stream ends first, -1: failed.
 */
static int
ref_data(const struct fuzz_input *in, struct reply_event *e, size_t lf,
         uint64_t size, size_t *next)
{
    size_t cr = lf + 1 + (size_t)size;

    if (cr >= in->len) {
        return 0;
    }
    if (in->stream[cr] != '\r') {
        ref_fail(in, e, cr);
        return -1;
    }
    if (cr + 1 >= in->len) {
        return 0;
    }
    if (in->stream[cr + 1] != '\n') {
        ref_fail(in, e, cr + 1);
        return -1;
    }
    *next = cr + 2;
    return 1;
}

/*
 * The event the reply starting at stream index `from` to `cmd` should give
 * (an error's offset only), or false when the stream ends first.
 */
static bool
ref_reply(const struct reply_ctx *c, size_t from,
          const struct sp_memcache_command *cmd, struct reply_event *e)
{
    const struct fuzz_input *in = c->in;
    const uint8_t *s = in->stream;
    size_t i = from;
    uint32_t total = 0;

    memset(e, 0, sizeof(*e));
    e->command = cmd;
    e->start = in->base + from;
    for (;;) {
        size_t line_start = i, ntok = 0, tstart = SIZE_MAX, lf;
        struct ref_tok tok[5];
        int line = LINE_UNKNOWN;
        uint64_t size = 0;
        size_t next = 0;
        int rc;

        /* the line up to its CRLF; a CR before any other byte is a
         * token's */
        for (;; i++) {
            uint8_t ch;
            bool eol;
            size_t tend;

            if (i == in->len) {
                return false;
            }
            ch = s[i];
            eol = ch == '\n';
            if (eol && (i == line_start || s[i - 1] != '\r')) {
                return ref_fail(in, e, i);          /* LF without CR */
            }
            if (!eol && i - line_start >= SP_MEMCACHE_MAX_LINE) {
                return ref_fail(in, e, i);          /* too long */
            }
            if (ch != ' ' && !eol) {
                if (tstart == SIZE_MAX) {
                    tstart = i;
                }
                continue;
            }
            tend = eol ? i - 1 : i;                 /* not the CR of CRLF */
            if (tstart != SIZE_MAX && tstart < tend) {
                if (ntok < 5) {
                    tok[ntok].from = tstart;
                    tok[ntok].len = tend - tstart;
                }
                if (ntok == 0) {
                    line = ref_classify(in, &tok[0]);
                    if (!ref_allowed(cmd, line)) {
                        return ref_fail(in, e, i);  /* unexpected */
                    }
                }
                ntok++;
            } else if (eol && ntok == 0) {
                return ref_fail(in, e, i);          /* a blank line */
            }
            tstart = SIZE_MAX;
            if (eol) {
                break;
            }
        }
        lf = i;

        if (line == LINE_VALUE) {
            uint64_t unused;

            if (ntok < 4 || ntok > 5
                || !ref_number(in, &tok[2], UINT32_MAX, &unused)
                || !ref_number(in, &tok[3], SP_MEMCACHE_VALUE_LIMIT, &size)
                || (ntok == 5
                    && !ref_number(in, &tok[4], UINT64_MAX, &unused))) {
                return ref_fail(in, e, lf);
            }
            rc = ref_data(in, e, lf, size, &next);
            if (rc <= 0) {
                return rc < 0;
            }
            if (total < c->items_cap && total < ITEMS_MAX) {
                size_t at = tok[0].from;

                e->it_offset[total] = in->base + at;
                e->it_len[total] = (uint32_t)(next - at);
                e->it_key_offset[total] = in->base + tok[1].from;
                e->it_key_len[total] = (uint32_t)tok[1].len;
            }
            total++;
            i = next;
            continue;
        }
        if (line == SP_MEMCACHE_REPLY_VA) {
            if (ntok < 2
                || !ref_number(in, &tok[1], SP_MEMCACHE_VALUE_LIMIT, &size)) {
                return ref_fail(in, e, lf);
            }
            rc = ref_data(in, e, lf, size, &next);
            if (rc <= 0) {
                return rc < 0;
            }
            e->number = size;
            e->end = in->base + next;
        } else {
            if (line == SP_MEMCACHE_REPLY_NUMBER) {
                FUZZ_CHECK(ref_number(in, &tok[0], UINT64_MAX, &e->number));
            }
            e->end = in->base + lf + 1;
        }
        e->status = FUZZ_DONE;
        e->type = (uint32_t)line;
        e->at = e->end;
        e->nitems = total < c->items_cap ? total : c->items_cap;
        e->items_truncated = total > c->items_cap;
        return true;
    }
}

static void
ref_compare(const struct reply_ctx *c, const struct reply_event *got,
            struct reply_event *want)
{
    if (want->status == FUZZ_ERROR) {
        memcpy(want->error, got->error, sizeof(want->error));
    }
    if (memcmp(got, want, sizeof(*got)) == 0) {
        return;
    }
    fprintf(stderr, "REFERENCE MISMATCH: reply %zu, stream %zu bytes from "
            "offset %llu, items_cap %u\n  reference:", c->nreplies,
            c->in->len, (unsigned long long)c->in->base, c->items_cap);
    reply_event_print(want);
    fprintf(stderr, "  parser:   ");
    reply_event_print(got);
    abort();
}

/* The frame alone, from a fresh parser, gives the same reply. */
static void
reparse_check(const struct reply_ctx *c, const struct reply_event *e)
{
    static struct sp_memcache_reply_parser p;
    static struct sp_memcache_item items[ITEMS_MAX];
    struct reply_event again;
    const uint8_t *frame = c->in->stream + (e->start - c->in->base);
    size_t len = (size_t)(e->end - e->start), consumed = SIZE_MAX;

    sp_memcache_reply_init(&p, e->start, items, c->items_cap);
    sp_memcache_reply_expect(&p, e->command);
    FUZZ_CHECK(sp_memcache_reply_parse(&p, frame, len, &consumed)
               == SP_PARSE_DONE);
    FUZZ_CHECK(consumed == len);
    reply_event_fill(&again, &p, e->command, FUZZ_DONE, e->at);
    FUZZ_CHECK(memcmp(&again, e, sizeof(again)) == 0);
}

/* ---- feeding ----------------------------------------------------------- */

static const struct sp_memcache_command *
reply_command(const struct reply_ctx *c, size_t k)
{
    return c->cmds[k % c->ncmds];
}

static void
reply_expect(struct reply_ctx *c)
{
    const struct sp_memcache_command *cmd = reply_command(c, c->nreplies);

    if (!c->expect_on_change || cmd != c->expected) {
        sp_memcache_reply_expect(&c->p, cmd);
        c->expected = cmd;
    }
}

FUZZ_FEED(reply_feed, struct reply_ctx, sp_memcache_reply_parse)

static void
reply_event(void *ctx, enum fuzz_status st, size_t at)
{
    struct reply_ctx *c = ctx;
    const struct fuzz_input *in = c->in;
    const struct sp_memcache_command *cmd = reply_command(c, c->nreplies);
    struct reply_event e, want;

    reply_event_fill(&e, &c->p, cmd, fuzz_filled_as(st), in->base + at);
    if (st != FUZZ_ERROR_REPEAT && c->rec.mode == FUZZ_WHOLE) {
        FUZZ_CHECK(ref_reply(c, (size_t)(c->last_end - in->base), cmd,
                             &want));
        ref_compare(c, &e, &want);
    }
    if (fuzz_rec_error(&c->rec, st, &e, e.at, &c->last_error, c->last_end)) {
        return;
    }

    /* invariants of a reply */
    FUZZ_CHECK(e.end == e.at);
    FUZZ_CHECK(e.start == c->last_end);     /* replies tile the stream */
    FUZZ_CHECK(e.start < e.end);
    FUZZ_CHECK(e.type != SP_MEMCACHE_REPLY_NONE);
    FUZZ_CHECK(e.type == SP_MEMCACHE_REPLY_ERROR
               || e.type == SP_MEMCACHE_REPLY_CLIENT_ERROR
               || e.type == SP_MEMCACHE_REPLY_SERVER_ERROR
               || (cmd->replies & SP_MEMCACHE_REPLY_BIT(e.type)) != 0);
    FUZZ_CHECK(e.end - e.start >= 3);
    FUZZ_CHECK(in->stream[e.end - 2 - in->base] == '\r'
               && in->stream[e.end - 1 - in->base] == '\n');
    FUZZ_CHECK(e.nitems <= c->items_cap);
    FUZZ_CHECK(!e.items_truncated || e.nitems == c->items_cap);
    FUZZ_CHECK(e.nitems == 0 || (cmd->replies
                                 & SP_MEMCACHE_REPLY_BIT(
                                       SP_MEMCACHE_REPLY_END)) != 0);
    {
        uint64_t next = e.start;

        for (uint32_t i = 0; i < e.nitems && i < ITEMS_MAX; i++) {
            size_t v = (size_t)(e.it_offset[i] - in->base);

            FUZZ_CHECK(e.it_offset[i] >= next);
            for (uint64_t k = next; k < e.it_offset[i]; k++) {
                FUZZ_CHECK(in->stream[k - in->base] == ' ');
            }
            FUZZ_CHECK(memcmp(in->stream + v, "VALUE", 5) == 0);
            FUZZ_CHECK(in->stream[v + 5] == ' ');
            next = e.it_offset[i] + e.it_len[i];
            FUZZ_CHECK(next < e.end);
            FUZZ_CHECK(e.it_key_offset[i] > e.it_offset[i]
                       && e.it_key_len[i] > 0
                       && e.it_key_offset[i] + e.it_key_len[i] < next);
        }
    }
    c->last_end = e.end;
    if (c->rec.mode == FUZZ_WHOLE) {
        reparse_check(c, &e);
    }
    fuzz_rec_event(&c->rec, &e);

    /* the next reply answers the next command */
    c->nreplies++;
    reply_expect(c);
}

static void
reply_start(void *ctx)
{
    struct reply_ctx *c = ctx;

    sp_memcache_reply_init(&c->p, c->in->base, c->items, c->items_cap);
    c->nreplies = 0;
    c->expected = NULL;
    reply_expect(c);
    c->last_end = c->in->base;
}

/* What is left is a reply the stream ends inside. */
static void
reply_whole_end(void *ctx)
{
    struct reply_ctx *c = ctx;
    struct reply_event want;

    FUZZ_CHECK(!ref_reply(c, (size_t)(c->last_end - c->in->base),
                          reply_command(c, c->nreplies), &want));
}

static bool
reply_setup(void *ctx, struct fuzz_input *in)
{
    struct reply_ctx *c = ctx;
    size_t want_cmds = (size_t)((in->params >> 3) & 15) + 1;
    size_t ncmds = sp_memcache_command_count();

    /* the command sequence: the front of the stream */
    c->ncmds = 0;
    while (c->ncmds < want_cmds && in->len > 0) {
        c->cmds[c->ncmds++] = sp_memcache_command_at(in->stream[0] % ncmds);
        in->stream++;
        in->len--;
    }
    if (c->ncmds == 0) {
        return false;                       /* nothing to parse */
    }
    c->expect_on_change = (in->params & 0x80) != 0;
    c->in = in;
    c->items_cap = items_caps[in->params & 7];
    return true;
}

static const struct fuzz_target reply_target = {
    reply_setup, reply_start, reply_feed, reply_event, reply_whole_end,
    events, sizeof(events[0]), EVENTS_MAX, reply_event_print
};

FUZZ_MAIN(struct reply_ctx, reply_target)
