/*
 * fuzz_mc_req.c — libFuzzer target for the Memcached request parser
 * (sp_memcache_req_init / sp_memcache_req_parse).
 *
 * Input: see fuzz_split.h (split control, parameters, chunk sizes, stream);
 * parameter bits 0-2 choose keys_cap (8 0 1 2 3 4 8 8), bits 3-5 the
 * max_value given to init (0 = the default, 1, 4, 16, 64, 1024, 0, the
 * limit), so that values above it are exercised with short inputs.
 *
 * Checks:
 * - differential: the stream parsed whole, one byte at a time, and in the
 *   input's chunks (rest of a chunk re-fed after each DONE) gives the same
 *   events: status, stream offset reached, and for each request start, end,
 *   command, ntokens, nkeys and the keys, keys_truncated, arg1, value,
 *   noreply, quiet, key_base64 and the error text; for a framing error, its
 *   text and offset. abort() on any difference.
 * - API: consumed <= len, AGAIN consumes all, DONE ends in the chunk, an
 *   ERROR stays (consumed 0, same text), p->offset tracks the stream.
 * - invariants of each request: start < end, requests tile the stream
 *   (each starts where the last ended), the line ends in LF, nkeys <=
 *   keys_cap, keys, arg1 and value inside [start, end), keys in order, no
 *   key above 250 bytes in a request without an error, a value ends with
 *   the request less its CRLF, every error text is one of sp_memcache.h's.
 * - a reference model of the whole-stream parse (the line split into
 *   tokens as the header describes memcached's tokenizer, then judged from
 *   the token list): every event, and that the stream's unparsed tail is an
 *   incomplete request, must match it exactly.
 * - the frame alone, parsed by a fresh parser from its start, gives the
 *   same request.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_split.h"
#include "sp_memcache.h"

#define KEYS_MAX   8
#define EVENTS_MAX (FUZZ_MAX_STREAM + 4)        /* "\n" is a request */

static const uint32_t keys_caps[8] = { 8, 0, 1, 2, 3, 4, 8, 8 };
static const uint32_t max_values[8] = {
    0, 1, 4, 16, 64, 1024, 0, SP_MEMCACHE_VALUE_LIMIT
};

struct req_event {
    uint32_t status;
    uint32_t ntokens;
    uint64_t at;                    /* absolute offset after the call */
    uint64_t start, end;
    const struct sp_memcache_command *command;
    uint32_t nkeys;
    uint8_t  keys_truncated;
    uint8_t  noreply;
    uint8_t  quiet;
    uint8_t  key_base64;
    uint64_t arg1_offset, arg1_len;
    uint64_t value_offset, value_len;
    uint64_t key_offset[KEYS_MAX], key_len[KEYS_MAX];
    char     error[96];
};

struct req_ctx {
    struct sp_memcache_req_parser p;
    struct sp_span      keys[KEYS_MAX];
    uint32_t                 keys_cap;
    uint32_t                 max_value;
    const struct fuzz_input *in;
    struct fuzz_rec          rec;
    uint64_t                 last_end;      /* end of the last request */
    struct req_event         last_error;
};

static struct req_event events[EVENTS_MAX];

/* Every line sp_memcache.h says the parser may answer or fail with. */
static const char *const known_errors[] = {
    SP_MEMCACHE_ERR_UNKNOWN, SP_MEMCACHE_ERR_FORMAT, SP_MEMCACHE_ERR_DELETE,
    SP_MEMCACHE_ERR_EXPTIME, SP_MEMCACHE_ERR_DELTA, SP_MEMCACHE_ERR_FLAGS,
    SP_MEMCACHE_ERR_CHUNK, SP_MEMCACHE_ERR_TOO_LARGE, SP_MEMCACHE_ERR_LINE,
    SP_MEMCACHE_ERR_STATS, SP_MEMCACHE_ERR_BINARY,
};

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
    fprintf(stderr, " [%llu,%llu) command %s ntokens %u arg1 %llu+%llu "
            "value %llu+%llu%s%s%s error %s%s%s nkeys %u%s keys",
            (unsigned long long)e->start, (unsigned long long)e->end,
            e->command != NULL ? e->command->name : "(none)", e->ntokens,
            (unsigned long long)e->arg1_offset,
            (unsigned long long)e->arg1_len,
            (unsigned long long)e->value_offset,
            (unsigned long long)e->value_len,
            e->noreply ? " noreply" : "", e->quiet ? " quiet" : "",
            e->key_base64 ? " base64" : "",
            e->error[0] != '\0' ? "\"" : "",
            e->error[0] != '\0' ? e->error : "(none)",
            e->error[0] != '\0' ? "\"" : "",
            e->nkeys, e->keys_truncated ? " (truncated)" : "");
    for (uint32_t i = 0; i < e->nkeys && i < KEYS_MAX; i++) {
        fprintf(stderr, " %llu+%llu", (unsigned long long)e->key_offset[i],
                (unsigned long long)e->key_len[i]);
    }
    fprintf(stderr, "\n");
}

static void
error_copy(struct req_event *e, const char *error)
{
    bool known = false;

    FUZZ_CHECK(strlen(error) < sizeof(e->error));
    for (size_t i = 0; i < sizeof(known_errors) / sizeof(known_errors[0]);
         i++) {
        known |= strcmp(error, known_errors[i]) == 0;
    }
    FUZZ_CHECK(known);
    snprintf(e->error, sizeof(e->error), "%s", error);
}

static void
req_event_fill(struct req_event *e, const struct sp_memcache_req_parser *p,
               enum fuzz_status st, uint64_t at)
{
    memset(e, 0, sizeof(*e));
    e->status = (uint32_t)st;
    e->at = at;
    if (st == FUZZ_ERROR) {
        FUZZ_CHECK(p->error != NULL);
        error_copy(e, p->error);
        return;
    }
    e->start = p->start;
    e->end = p->end;
    e->command = p->command;
    e->ntokens = p->ntokens;
    FUZZ_CHECK(p->nkeys <= p->keys_cap);
    e->nkeys = p->nkeys;
    e->keys_truncated = p->keys_truncated;
    e->noreply = p->noreply;
    e->quiet = p->quiet;
    e->key_base64 = p->key_base64;
    e->arg1_offset = p->arg1.offset;
    e->arg1_len = p->arg1.len;
    e->value_offset = p->value.offset;
    e->value_len = p->value.len;
    for (uint32_t i = 0; i < p->nkeys && i < KEYS_MAX; i++) {
        e->key_offset[i] = p->keys[i].offset;
        e->key_len[i] = p->keys[i].len;
    }
    if (p->error != NULL) {
        error_copy(e, p->error);
    }
    /* an unknown command or an empty line is always answered ERROR */
    FUZZ_CHECK(p->command != NULL || p->error != NULL);
}

/* ---- the reference model ------------------------------------------------- */

/*
 * Written from sp_memcache.h's description, not from the parser: the line
 * is found first (LF; one CR before it dropped; the length limits), then
 * split into tokens, then judged from the token list.
 */

struct ref_tok {
    size_t from;        /* stream index */
    size_t len;
};

#define REF_TOKS_MAX (FUZZ_MAX_STREAM / 2 + 2)
static struct ref_tok ref_toks[REF_TOKS_MAX];

static bool
tok_is(const struct fuzz_input *in, const struct ref_tok *t, const char *s)
{
    size_t n = strlen(s);

    return t->len == n && memcmp(in->stream + t->from, s, n) == 0;
}

/* A token read as memcached's numbers, strictly (see sp_memcache.h). */
struct ref_num {
    bool     ok;        /* [+-]?[0-9]+ within 64 bits */
    char     sign;
    uint64_t value;
};

static struct ref_num
ref_number(const struct fuzz_input *in, const struct ref_tok *t)
{
    const uint8_t *s = in->stream + t->from;
    struct ref_num n = { false, 0, 0 };
    size_t i = 0;

    if (t->len > 0 && (s[0] == '+' || s[0] == '-')) {
        n.sign = (char)s[0];
        i = 1;
    }
    if (i == t->len) {
        return n;
    }
    for (; i < t->len; i++) {
        uint64_t d;

        if (s[i] < '0' || s[i] > '9') {
            return n;
        }
        d = (uint64_t)(s[i] - '0');
        if (n.value > (UINT64_MAX - d) / 10) {
            return n;
        }
        n.value = n.value * 10 + d;
    }
    n.ok = true;
    return n;
}

/* flags, cas, <bytes>, a delta: no '-' */
static bool
ref_unsigned(const struct fuzz_input *in, const struct ref_tok *t,
             uint64_t max)
{
    struct ref_num n = ref_number(in, t);

    return n.ok && n.sign != '-' && n.value <= max;
}

/* an exptime: memcached's long */
static bool
ref_signed(const struct fuzz_input *in, const struct ref_tok *t)
{
    struct ref_num n = ref_number(in, t);

    return n.ok && n.value <= (n.sign == '-' ? (uint64_t)INT64_MAX + 1
                                             : (uint64_t)INT64_MAX);
}

/* The tokens of the line s[from..to) (to: its LF, a CR before it dropped). */
static size_t
ref_tokenize(const struct fuzz_input *in, size_t from, size_t to)
{
    const uint8_t *s = in->stream;
    size_t n = 0, i = from;

    if (to > from && s[to - 1] == '\r') {
        to--;
    }
    while (i < to && s[i] != '\0') {
        size_t t;

        if (s[i] == ' ') {
            i++;
            continue;
        }
        t = i;
        while (i < to && s[i] != ' ' && s[i] != '\0') {
            i++;
        }
        FUZZ_CHECK(n < REF_TOKS_MAX);
        ref_toks[n].from = t;
        ref_toks[n].len = i - t;
        n++;
    }
    return n;
}

static void
ref_key(const struct req_ctx *c, struct req_event *e, const struct ref_tok *t,
        uint32_t *count, bool *bad_key)
{
    if (t->len > SP_MEMCACHE_MAX_KEY) {
        *bad_key = true;
    }
    if (*count < c->keys_cap && *count < KEYS_MAX) {
        e->key_offset[*count] = c->in->base + t->from;
        e->key_len[*count] = t->len;
    }
    (*count)++;
}

/*
 * The event the request starting at stream index `from` should give, or
 * false when the stream ends before the parser can know.
 */
static bool
ref_request(const struct req_ctx *c, size_t from, struct req_event *e)
{
    const struct fuzz_input *in = c->in;
    const uint8_t *s = in->stream;
    const struct sp_memcache_command *cmd;
    const struct ref_tok *tok = ref_toks;
    const char *error = NULL;
    size_t limit = SP_MEMCACHE_MAX_LINE, lf, n, i;
    uint32_t count = 0;
    bool bad_key = false, count_ok, data = false;
    uint64_t bytes = 0;

    memset(e, 0, sizeof(*e));

    /* the binary protocol's magic as a request's first byte: refused */
    if (from < in->len && s[from] == SP_MEMCACHE_BINARY_REQUEST) {
        e->status = FUZZ_ERROR;
        e->at = in->base + from;
        error_copy(e, SP_MEMCACHE_ERR_BINARY);
        return true;
    }

    /* a get/gets line may be longer once its name has ended (' ' or NUL) */
    for (i = from; i < in->len && s[i] == ' '; i++) {
    }
    {
        size_t t = i;

        while (i < in->len && s[i] != ' ' && s[i] != '\0' && s[i] != '\n') {
            i++;
        }
        if (i < in->len && (s[i] == ' ' || s[i] == '\0')
            && i - from < SP_MEMCACHE_MAX_LINE
            && ((i - t == 3 && memcmp(s + t, "get", 3) == 0)
                || (i - t == 4 && memcmp(s + t, "gets", 4) == 0))) {
            limit = SP_MEMCACHE_MAX_GET_LINE;
        }
    }
    /* the LF; a line is at most `limit` bytes before it */
    for (lf = from; ; lf++) {
        if (lf == in->len) {
            return false;
        }
        if (s[lf] == '\n') {
            break;
        }
        if (lf - from >= limit) {
            e->status = FUZZ_ERROR;
            e->at = in->base + lf;
            error_copy(e, SP_MEMCACHE_ERR_LINE);
            return true;
        }
    }

    n = ref_tokenize(in, from, lf);
    cmd = n > 0 ? sp_memcache_command_lookup((const char *)s + tok[0].from,
                                             tok[0].len)
                : NULL;
    e->status = FUZZ_DONE;
    e->start = in->base + from;
    e->end = in->base + lf + 1;
    e->command = cmd;
    e->ntokens = (uint32_t)n;
    if (n >= 2) {
        e->arg1_offset = in->base + tok[1].from;
        e->arg1_len = tok[1].len;
    }
    if (cmd == NULL) {
        error = SP_MEMCACHE_ERR_UNKNOWN;
        goto done;
    }
    count_ok = n >= cmd->min_tokens
               && (cmd->max_tokens == 0 || n <= cmd->max_tokens);
    /* noreply may be flush_all's and verbosity's first argument; for the
     * others it comes after the key */
    {
        size_t first = cmd->syntax == SP_MEMCACHE_SYNTAX_FLUSH
                       || cmd->syntax == SP_MEMCACHE_SYNTAX_VERBOSITY ? 1 : 2;

        e->noreply = cmd->noreply && count_ok && n > first
                     && tok_is(in, &tok[n - 1], "noreply");
    }

    switch (cmd->syntax) {
    case SP_MEMCACHE_SYNTAX_STORE:
    case SP_MEMCACHE_SYNTAX_CAS: {
        bool cas = cmd->syntax == SP_MEMCACHE_SYNTAX_CAS;

        if (n >= 2) {
            ref_key(c, e, &tok[1], &count, &bad_key);
        }
        if (!count_ok) {
            error = SP_MEMCACHE_ERR_UNKNOWN;
            goto framing;
        }
        if (!ref_unsigned(in, &tok[4], (uint64_t)INT32_MAX - 2)) {
            error = SP_MEMCACHE_ERR_FORMAT;
            goto framing;
        }
        bytes = ref_number(in, &tok[4]).value;
        data = true;
        if (bad_key || !ref_unsigned(in, &tok[2], UINT64_MAX)
            || !ref_signed(in, &tok[3])
            || (cas && !ref_unsigned(in, &tok[5], UINT64_MAX))) {
            error = SP_MEMCACHE_ERR_FORMAT;
        }
        break;
    }
    case SP_MEMCACHE_SYNTAX_META_SET:
        if (n >= 2) {
            ref_key(c, e, &tok[1], &count, &bad_key);
        }
        for (size_t k = 3; k < n; k++) {
            e->quiet |= s[tok[k].from] == 'q';
            e->key_base64 |= s[tok[k].from] == 'b';
        }
        if (n < 2) {
            error = SP_MEMCACHE_ERR_UNKNOWN;
            goto framing;
        }
        {
            bool bytes_ok = n >= 3 && ref_unsigned(in, &tok[2],
                                                   (uint64_t)INT32_MAX - 2);

            /* the answer memcached gives first (process_mset_command) */
            error = bad_key || n < 3 ? SP_MEMCACHE_ERR_FORMAT
                  : n > SP_MEMCACHE_META_MAX_TOKENS ? SP_MEMCACHE_ERR_FLAGS
                  : !bytes_ok ? SP_MEMCACHE_ERR_FORMAT : NULL;
            if (!bytes_ok) {
                goto framing;       /* with that answer */
            }
        }
        bytes = ref_number(in, &tok[2]).value;
        data = true;
        break;
    case SP_MEMCACHE_SYNTAX_GET:
        for (size_t k = 1; k < n; k++) {
            ref_key(c, e, &tok[k], &count, &bad_key);
        }
        error = !count_ok ? SP_MEMCACHE_ERR_UNKNOWN
              : bad_key ? SP_MEMCACHE_ERR_FORMAT : NULL;
        break;
    case SP_MEMCACHE_SYNTAX_GAT:
        for (size_t k = 2; k < n; k++) {
            ref_key(c, e, &tok[k], &count, &bad_key);
        }
        error = !count_ok ? SP_MEMCACHE_ERR_UNKNOWN
              : !ref_signed(in, &tok[1]) ? SP_MEMCACHE_ERR_EXPTIME
              : bad_key ? SP_MEMCACHE_ERR_FORMAT : NULL;
        break;
    case SP_MEMCACHE_SYNTAX_DELETE: {
        bool ok;

        if (n >= 2) {
            ref_key(c, e, &tok[1], &count, &bad_key);
        }
        /* delete <key> [0] [noreply] */
        ok = n == 2
             || (n == 3 && (tok_is(in, &tok[2], "0")
                            || tok_is(in, &tok[2], "noreply")))
             || (n == 4 && tok_is(in, &tok[2], "0")
                 && tok_is(in, &tok[3], "noreply"));
        error = !count_ok ? SP_MEMCACHE_ERR_UNKNOWN
              : !ok ? SP_MEMCACHE_ERR_DELETE
              : bad_key ? SP_MEMCACHE_ERR_FORMAT : NULL;
        break;
    }
    case SP_MEMCACHE_SYNTAX_ARITH:
        if (n >= 2) {
            ref_key(c, e, &tok[1], &count, &bad_key);
        }
        error = !count_ok ? SP_MEMCACHE_ERR_UNKNOWN
              : bad_key ? SP_MEMCACHE_ERR_FORMAT
              : !ref_unsigned(in, &tok[2], UINT64_MAX) ? SP_MEMCACHE_ERR_DELTA
              : NULL;
        break;
    case SP_MEMCACHE_SYNTAX_TOUCH:
        if (n >= 2) {
            ref_key(c, e, &tok[1], &count, &bad_key);
        }
        error = !count_ok ? SP_MEMCACHE_ERR_UNKNOWN
              : bad_key ? SP_MEMCACHE_ERR_FORMAT
              : !ref_signed(in, &tok[2]) ? SP_MEMCACHE_ERR_EXPTIME : NULL;
        break;
    case SP_MEMCACHE_SYNTAX_META:
        if (n >= 2) {
            ref_key(c, e, &tok[1], &count, &bad_key);
        }
        for (size_t k = 2; k < n; k++) {
            e->quiet |= s[tok[k].from] == 'q';
            e->key_base64 |= s[tok[k].from] == 'b';
        }
        error = !count_ok ? SP_MEMCACHE_ERR_UNKNOWN
              : bad_key ? SP_MEMCACHE_ERR_FORMAT : NULL;
        break;
    case SP_MEMCACHE_SYNTAX_META_DEBUG:
        if (n >= 2) {
            ref_key(c, e, &tok[1], &count, &bad_key);
        }
        e->key_base64 = n >= 3 && tok_is(in, &tok[2], "b");
        error = !count_ok || bad_key ? SP_MEMCACHE_ERR_FORMAT : NULL;
        break;
    case SP_MEMCACHE_SYNTAX_FLUSH:
        /* flush_all [delay] [noreply]: a delay unless the one argument is
         * noreply */
        error = !count_ok ? SP_MEMCACHE_ERR_UNKNOWN
              : n > (e->noreply ? 2u : 1u) && !ref_signed(in, &tok[1])
                ? SP_MEMCACHE_ERR_EXPTIME : NULL;
        break;
    case SP_MEMCACHE_SYNTAX_VERBOSITY:
        error = !count_ok ? SP_MEMCACHE_ERR_UNKNOWN
              : !ref_unsigned(in, &tok[1], UINT64_MAX)
                ? SP_MEMCACHE_ERR_FORMAT : NULL;
        break;
    case SP_MEMCACHE_SYNTAX_STATS:
        error = n > 1 ? SP_MEMCACHE_ERR_STATS : NULL;
        break;
    case SP_MEMCACHE_SYNTAX_BARE:
        break;
    }

    if (data) {
        /* <bytes> of data, then two bytes that must be CRLF */
        uint32_t max = max_values[(in->params >> 3) & 7];

        if (max == 0) {
            max = SP_MEMCACHE_VALUE_DEFAULT;
        }
        if (lf + 3 + bytes > in->len) {
            return false;
        }
        e->value_offset = in->base + lf + 1;
        e->value_len = bytes;
        e->end = in->base + lf + 3 + bytes;
        if (error == NULL && bytes > max) {
            error = SP_MEMCACHE_ERR_TOO_LARGE;
        }
        if (error == NULL && (s[lf + 1 + bytes] != '\r'
                              || s[lf + 2 + bytes] != '\n')) {
            error = SP_MEMCACHE_ERR_CHUNK;
        }
    }
done:
    e->at = e->end;
    e->keys_truncated = count > c->keys_cap;
    e->nkeys = count < c->keys_cap ? count : c->keys_cap;
    if (error != NULL) {
        error_copy(e, error);
    }
    return true;

framing:
    /* where its data ends cannot be known: the line fails at its LF */
    memset(e, 0, sizeof(*e));
    e->status = FUZZ_ERROR;
    e->at = in->base + lf;
    error_copy(e, error);
    return true;
}

static void
ref_compare(const struct req_ctx *c, const struct req_event *got,
            const struct req_event *want)
{
    if (memcmp(got, want, sizeof(*got)) == 0) {
        return;
    }
    fprintf(stderr, "REFERENCE MISMATCH: event %zu, stream %zu bytes from "
            "offset %llu, keys_cap %u, max_value %u\n  reference:",
            c->rec.n, c->in->len, (unsigned long long)c->in->base,
            c->keys_cap, c->max_value);
    req_event_print(want);
    fprintf(stderr, "  parser:   ");
    req_event_print(got);
    abort();
}

/* The frame alone, from a fresh parser, gives the same request. */
static void
reparse_check(const struct req_ctx *c, const struct req_event *e)
{
    static struct sp_memcache_req_parser p;
    static struct sp_span keys[KEYS_MAX];
    struct req_event again;
    const uint8_t *frame = c->in->stream + (e->start - c->in->base);
    size_t len = (size_t)(e->end - e->start), consumed = SIZE_MAX;

    sp_memcache_req_init(&p, e->start, keys, c->keys_cap, c->max_value);
    FUZZ_CHECK(sp_memcache_req_parse(&p, frame, len, &consumed)
               == SP_PARSE_DONE);
    FUZZ_CHECK(consumed == len);
    req_event_fill(&again, &p, FUZZ_DONE, e->at);
    FUZZ_CHECK(memcmp(&again, e, sizeof(again)) == 0);
}

/* ---- feeding ----------------------------------------------------------- */

FUZZ_FEED(req_feed, struct req_ctx, sp_memcache_req_parse)

static void
req_event(void *ctx, enum fuzz_status st, size_t at)
{
    struct req_ctx *c = ctx;
    const struct fuzz_input *in = c->in;
    struct req_event e, want;

    req_event_fill(&e, &c->p, fuzz_filled_as(st), in->base + at);
    if (st != FUZZ_ERROR_REPEAT && c->rec.mode == FUZZ_WHOLE) {
        FUZZ_CHECK(ref_request(c, (size_t)(c->last_end - in->base), &want));
        ref_compare(c, &e, &want);
    }
    if (fuzz_rec_error(&c->rec, st, &e, e.at, &c->last_error, c->last_end)) {
        return;
    }

    /* invariants of a request */
    FUZZ_CHECK(e.end == e.at);
    FUZZ_CHECK(e.start == c->last_end);     /* requests tile the stream */
    FUZZ_CHECK(e.start < e.end);
    FUZZ_CHECK(e.nkeys <= c->keys_cap);
    FUZZ_CHECK(!e.keys_truncated || e.nkeys == c->keys_cap);
    FUZZ_CHECK(e.command != NULL || e.nkeys == 0);
    for (uint32_t i = 0; i < e.nkeys && i < KEYS_MAX; i++) {
        FUZZ_CHECK(e.key_offset[i] > e.start);
        FUZZ_CHECK(e.key_offset[i] + e.key_len[i] < e.end);
        FUZZ_CHECK(e.key_len[i] > 0);
        FUZZ_CHECK(e.error[0] != '\0' || e.key_len[i] <= SP_MEMCACHE_MAX_KEY);
        if (i > 0) {
            FUZZ_CHECK(e.key_offset[i] > e.key_offset[i - 1]
                                         + e.key_len[i - 1]);
        }
    }
    if (e.ntokens >= 2) {
        FUZZ_CHECK(e.arg1_offset > e.start && e.arg1_len > 0);
        FUZZ_CHECK(e.arg1_offset + e.arg1_len < e.end);
    } else {
        FUZZ_CHECK(e.arg1_offset == 0 && e.arg1_len == 0);
    }
    if (e.command != NULL && e.command->data) {
        FUZZ_CHECK(e.value_offset > e.start);
        FUZZ_CHECK(e.value_offset + e.value_len + 2 == e.end);
        FUZZ_CHECK(in->stream[e.value_offset - 1 - in->base] == '\n');
    } else {
        FUZZ_CHECK(e.value_offset == 0 && e.value_len == 0);
        FUZZ_CHECK(in->stream[e.end - 1 - in->base] == '\n');
    }
    FUZZ_CHECK(!e.noreply || (e.command != NULL && e.command->noreply));
    c->last_end = e.end;

    if (c->rec.mode == FUZZ_WHOLE) {
        reparse_check(c, &e);
    }
    fuzz_rec_event(&c->rec, &e);
}

static void
req_start(void *ctx)
{
    struct req_ctx *c = ctx;

    sp_memcache_req_init(&c->p, c->in->base, c->keys, c->keys_cap,
                         c->max_value);
    c->last_end = c->in->base;
}

/* What is left is a request the stream ends inside. */
static void
req_whole_end(void *ctx)
{
    struct req_ctx *c = ctx;
    struct req_event want;

    FUZZ_CHECK(!ref_request(c, (size_t)(c->last_end - c->in->base), &want));
}

static bool
req_setup(void *ctx, struct fuzz_input *in)
{
    struct req_ctx *c = ctx;

    c->in = in;
    c->keys_cap = keys_caps[in->params & 7];
    c->max_value = max_values[(in->params >> 3) & 7];
    return true;
}

static const struct fuzz_target req_target = {
    req_setup, req_start, req_feed, req_event, req_whole_end,
    events, sizeof(events[0]), EVENTS_MAX, req_event_print
};

FUZZ_MAIN(struct req_ctx, req_target)
