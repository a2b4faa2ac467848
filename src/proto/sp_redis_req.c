/*
 * sp_redis_req.c — the resumable Redis request parser (see sp_redis.h).
 *
 * One state machine over the bytes of a connection, fed chunk by chunk; it
 * keeps everything it needs in the parser, so a request may be split
 * anywhere, down to one byte per call. Bulk payloads are stepped over, not
 * scanned, except for the arguments the parser must read: the command
 * name (copied, lower-cased, into p->name as it streams past), a container's
 * subcommand (the same, into p->sub) and, for EVAL-like commands, the key
 * count (its digits read as they stream past).
 *
 *   START -'*'-> MB_COUNT -CR-> MB_COUNT_LF -LF-+- count <= 0: skipped -> START
 *     |                                          v
 *     |          +--> BULK_DOLLAR -'$'-> BULK_LEN -CR-> BULK_LEN_LF -LF-+
 *     |          |                                                     v
 *     |          +-- more args <-- BULK_LF <-CR- BULK_CR <---- BULK_DATA
 *     |                               +-- last arg --> DONE, START
 *     +-other-> INLINE (each byte through the sdssplitargs lexer,
 *                       sp_redis_inline.c) -LF-> DONE, START
 *                    +-- LF, no word: skipped --> START
 *
 * Lengths are validated as Redis's string2ll does (optional '-', no
 * leading zeros, no '+', no spaces), and the error texts are those of
 * Redis's processMultibulkBuffer / processInlineBuffer where it has one.
 */
#include "sp_redis.h"

#include <stdio.h>
#include <string.h>

enum sp_redis_req_state {
    SP_REQ_START,
    SP_REQ_MB_COUNT,
    SP_REQ_MB_COUNT_LF,
    SP_REQ_BULK_DOLLAR,
    SP_REQ_BULK_LEN,
    SP_REQ_BULK_LEN_LF,
    SP_REQ_BULK_DATA,
    SP_REQ_BULK_CR,
    SP_REQ_BULK_LF,
    SP_REQ_INLINE,
    SP_REQ_FAILED
};

#define SP_ERR_MB_LEN      "invalid multibulk length"
#define SP_ERR_BULK_LEN    "invalid bulk length"
#define SP_ERR_BULK_CRLF   "expected CRLF after bulk data"
#define SP_ERR_INLINE_BIG  "too big inline request"
#define SP_ERR_QUOTES      "unbalanced quotes in request"
#define SP_ERR_INLINE_NUL  "null byte in inline request"

#define SP_INT64_MIN_MAGNITUDE ((uint64_t)INT64_MAX + 1)

void
sp_redis_req_init(struct sp_redis_req_parser *p, uint64_t offset,
                  struct sp_span *keys, uint32_t keys_cap)
{
    memset(p, 0, sizeof(*p));
    p->offset = offset;
    p->start = p->end = offset;
    p->keys = keys;
    p->keys_cap = keys_cap;
    p->state = SP_REQ_START;
}

bool
sp_redis_req_idle(const struct sp_redis_req_parser *p)
{
    return p->state == SP_REQ_START;
}

static bool
sp_is_digit(uint8_t ch)
{
    return ch >= '0' && ch <= '9';
}

static uint8_t
sp_lower(uint8_t ch)
{
    return ch >= 'A' && ch <= 'Z' ? (uint8_t)(ch - 'A' + 'a') : ch;
}

/*
 * One more digit of a length (as Redis's string2ll reads it: no leading
 * zeros, no "-0"); false once the number is malformed or its magnitude
 * passes `limit`.
 */
static bool
sp_req_digit(struct sp_redis_req_parser *p, uint8_t ch, uint64_t limit)
{
    uint64_t d = (uint64_t)(ch - '0');

    if (p->digits > 0 && p->number == 0) {
        return false;                       /* "00", "01" */
    }
    if (p->digits == 0 && d == 0 && p->negative) {
        return false;                       /* "-0" */
    }
    if (d > limit || p->number > (limit - d) / 10) {
        return false;
    }
    p->number = p->number * 10 + d;
    p->digits++;
    return true;
}

static void
sp_req_number_reset(struct sp_redis_req_parser *p)
{
    p->number = 0;
    p->digits = 0;
    p->negative = false;
}

/* The request begins at stream offset `at`: clear the last results. */
static void
sp_req_begin(struct sp_redis_req_parser *p, uint64_t at)
{
    p->command = NULL;
    p->name[0] = '\0';
    p->name_len = 0;
    p->sub[0] = '\0';
    p->sub_len = 0;
    p->nargs = 0;
    p->start = at;
    p->end = at;
    p->inline_form = false;
    p->nkeys = 0;
    p->keys_truncated = false;
    p->arg1.offset = 0;
    p->arg1.len = 0;
    p->error = NULL;
    p->count = 0;
    p->arg_index = 0;
    p->numkeys = 0;
    p->numkeys_ok = false;
}

/* Whether the argument being read is the key count of an EVAL-like row. */
static bool
sp_req_at_numkeys(const struct sp_redis_req_parser *p)
{
    const struct sp_redis_command *cmd = p->command;

    return cmd != NULL && cmd->keys_from_numkeys
           && p->arg_index + 1 == (uint32_t)cmd->first_key;
}

/*
 * Whether argument `i` is a key. A negative last_key counts from the end,
 * which an inline request does not know yet: such keys are recorded up to
 * the last argument and trimmed when the request ends.
 */
static bool
sp_req_is_key(const struct sp_redis_req_parser *p, uint32_t i)
{
    const struct sp_redis_command *cmd = p->command;
    uint32_t first;

    if (cmd == NULL || cmd->first_key <= 0) {
        return false;
    }
    first = (uint32_t)cmd->first_key;
    if (i < first) {
        return false;
    }
    if (cmd->keys_from_numkeys) {
        return p->numkeys_ok && i - first < p->numkeys;
    }
    if (cmd->last_key >= 0 && i > (uint32_t)cmd->last_key) {
        return false;
    }
    return (i - first) % (uint32_t)cmd->key_step == 0;
}

/* The number of keys a whole request of nargs arguments has. */
static uint32_t
sp_req_expected_keys(const struct sp_redis_req_parser *p)
{
    const struct sp_redis_command *cmd = p->command;
    int64_t first, last;

    if (cmd == NULL || cmd->first_key <= 0
        || p->nargs <= (uint32_t)cmd->first_key) {
        return 0;
    }
    first = cmd->first_key;
    if (cmd->keys_from_numkeys) {
        uint32_t avail = p->nargs - (uint32_t)first;

        if (!p->numkeys_ok) {
            return 0;
        }
        return p->numkeys < avail ? p->numkeys : avail;
    }
    last = cmd->last_key >= 0 ? cmd->last_key
                              : (int64_t)p->nargs + cmd->last_key;
    if (last > (int64_t)p->nargs - 1) {
        last = (int64_t)p->nargs - 1;
    }
    if (last < first) {
        return 0;
    }
    return (uint32_t)((last - first) / cmd->key_step + 1);
}

/* An argument starts at stream offset `at`. */
static void
sp_req_arg_begin(struct sp_redis_req_parser *p, uint64_t at)
{
    p->arg_start = at;
    if (sp_req_at_numkeys(p)) {
        sp_req_number_reset(p);
    }
}

/* Bytes of the argument being read that the parser must look at. */
static void
sp_req_arg_bytes(struct sp_redis_req_parser *p, const uint8_t *data,
                 size_t n)
{
    if (p->arg_index == 0) {
        for (size_t i = 0; i < n && p->name_len < SP_REDIS_MAX_NAME; i++) {
            p->name[p->name_len++] = (char)sp_lower(data[i]);
        }
    } else if (p->arg_index == 1 && p->command != NULL
               && p->command->nsubs > 0) {
        for (size_t i = 0; i < n && p->sub_len < SP_REDIS_MAX_NAME; i++) {
            p->sub[p->sub_len++] = (char)sp_lower(data[i]);
        }
    } else if (sp_req_at_numkeys(p)) {
        /* a count above SP_REDIS_MAX_ARGS exceeds any request's keys */
        for (size_t i = 0; i < n && p->number != UINT64_MAX; i++) {
            if (!sp_is_digit(data[i])
                || !sp_req_digit(p, data[i], SP_REDIS_MAX_ARGS)) {
                p->number = UINT64_MAX;     /* not a usable count */
            }
        }
    }
}

/* The argument being read, `len` bytes (decoded, inline), is complete:
 * the command from the first, the key count of an EVAL-like row. */
static void
sp_req_arg_done(struct sp_redis_req_parser *p, uint32_t len)
{
    if (p->arg_index == 0) {
        p->name_len = len;
        p->name[len < SP_REDIS_MAX_NAME ? len : SP_REDIS_MAX_NAME] = '\0';
        p->command = sp_redis_command_lookup(p->name, len);
    } else if (p->arg_index == 1 && p->command != NULL
               && p->command->nsubs > 0) {
        const struct sp_redis_command *sub;

        p->sub_len = len;
        p->sub[len < SP_REDIS_MAX_NAME ? len : SP_REDIS_MAX_NAME] = '\0';
        sub = sp_redis_subcommand_lookup(p->command, p->sub, len);
        if (sub != NULL) {
            p->command = sub;
        }
    } else if (sp_req_at_numkeys(p)) {
        p->numkeys_ok = p->digits > 0 && p->number != UINT64_MAX;
        p->numkeys = p->numkeys_ok ? (uint32_t)p->number : 0;
    }
}

/* The bulk argument being read ends at stream offset `end` (exclusive). */
static void
sp_req_arg_end(struct sp_redis_req_parser *p, uint64_t end)
{
    uint32_t i = p->arg_index;
    uint32_t len = (uint32_t)(end - p->arg_start);

    sp_req_arg_done(p, len);
    if (i == 1) {
        p->arg1.offset = p->arg_start;
        p->arg1.len = len;
    }
    if (sp_req_is_key(p, i)) {
        if (p->nkeys < p->keys_cap) {
            p->keys[p->nkeys].offset = p->arg_start;
            p->keys[p->nkeys].len = len;
        }
        p->nkeys++;
    }
    p->arg_index++;
}

/* The request ends with the byte at stream offset `last`. */
static void
sp_req_finish(struct sp_redis_req_parser *p, uint64_t last)
{
    uint32_t expected;

    p->nargs = p->arg_index;
    p->end = last + 1;
    if (p->inline_form) {
        p->nkeys = 0;                       /* from the multibulk form */
        p->keys_truncated = false;
        return;
    }
    expected = sp_req_expected_keys(p);
    p->keys_truncated = expected > p->keys_cap;
    p->nkeys = p->keys_truncated ? p->keys_cap : expected;
}

static sp_parse_status_t
sp_req_fail(struct sp_redis_req_parser *p, const char *error)
{
    p->state = SP_REQ_FAILED;
    p->error = error;
    return SP_PARSE_ERROR;
}

/* Redis: "expected '$', got '%c'", newlines shown as spaces. */
static sp_parse_status_t
sp_req_fail_dollar(struct sp_redis_req_parser *p, uint8_t ch)
{
    if (ch == '\r' || ch == '\n' || ch == '\0') {
        ch = ' ';
    }
    snprintf(p->error_buf, sizeof(p->error_buf), "expected '$', got '%c'",
             (char)ch);
    return sp_req_fail(p, p->error_buf);
}

/*
 * One byte of a length line ('*' count or '$' length, after the type
 * byte). Returns AGAIN to go on, ERROR when it is malformed; at '\r' it
 * moves to `lf_state`.
 */
static sp_parse_status_t
sp_req_length_byte(struct sp_redis_req_parser *p, uint8_t ch, bool count,
                   int lf_state)
{
    const char *error = count ? SP_ERR_MB_LEN : SP_ERR_BULK_LEN;
    uint64_t limit;

    if (ch == '\r') {
        if (p->digits == 0) {
            return sp_req_fail(p, error);
        }
        p->state = lf_state;
        return SP_PARSE_AGAIN;
    }
    if (ch == '-' && count && p->digits == 0 && !p->negative) {
        p->negative = true;                 /* skipped, as Redis does */
        return SP_PARSE_AGAIN;
    }
    if (!sp_is_digit(ch)) {
        return sp_req_fail(p, error);       /* also a bulk's '-' */
    }
    if (p->negative) {
        limit = SP_INT64_MIN_MAGNITUDE;
    } else {
        limit = count ? SP_REDIS_MAX_ARGS : (uint64_t)SP_REDIS_MAX_BULK;
    }
    if (!sp_req_digit(p, ch, limit)) {
        return sp_req_fail(p, error);
    }
    return SP_PARSE_AGAIN;
}

/* One inline byte at stream offset `at`; DONE when the line ends it. */
static sp_parse_status_t
sp_req_inline_byte(struct sp_redis_req_parser *p, uint8_t ch, uint64_t at)
{
    uint8_t out[SP_REDIS_INLINE_OUT];
    uint32_t n;
    unsigned bits;

    if (ch != '\n' && at - p->start >= SP_REDIS_MAX_INLINE) {
        return sp_req_fail(p, SP_ERR_INLINE_BIG);
    }
    bits = sp_redis_inline_byte(&p->lex, ch, out, &n);
    if (bits & SP_INLINE_BAD_NUL) {
        return sp_req_fail(p, SP_ERR_INLINE_NUL);
    }
    if (bits & SP_INLINE_BAD_QUOTES) {
        return sp_req_fail(p, SP_ERR_QUOTES);
    }
    if (bits & SP_INLINE_WORD_BEGIN) {
        sp_req_arg_begin(p, at);
        p->word_len = 0;
    }
    sp_req_arg_bytes(p, out, n);
    p->word_len += n;
    if (bits & SP_INLINE_WORD_END) {
        sp_req_arg_done(p, p->word_len);
        p->arg_index++;
    }
    if (!(bits & SP_INLINE_LINE_END)) {
        return SP_PARSE_AGAIN;
    }
    p->state = SP_REQ_START;
    if (p->arg_index == 0) {
        return SP_PARSE_AGAIN;              /* a blank line: skipped */
    }
    sp_req_finish(p, at);
    return SP_PARSE_DONE;
}

/* The multibulk count line is complete. */
static void
sp_req_count_done(struct sp_redis_req_parser *p)
{
    if (p->negative || p->number == 0) {
        p->state = SP_REQ_START;            /* *0, *-1: no request */
        return;
    }
    p->count = (uint32_t)p->number;
    p->state = SP_REQ_BULK_DOLLAR;
}

/* The last argument's CRLF ends the request; otherwise read the next one. */
static sp_parse_status_t
sp_req_bulk_done(struct sp_redis_req_parser *p, uint64_t at)
{
    if (p->arg_index < p->count) {
        p->state = SP_REQ_BULK_DOLLAR;
        return SP_PARSE_AGAIN;
    }
    p->state = SP_REQ_START;
    sp_req_finish(p, at);
    return SP_PARSE_DONE;
}

/*
 * At a '$': a whole, well-formed argument "$<len>\r\n<bytes>\r\n" in the
 * chunk is read at once, with the effects the byte states below would have
 * (a wide MGET is a million of them). False, with nothing read, for
 * anything else: the byte states take it, and say what is wrong.
 */
static bool
sp_req_bulk_whole(struct sp_redis_req_parser *p, const uint8_t *data,
                  size_t len, size_t *pos, uint64_t at,
                  sp_parse_status_t *status)
{
    const uint8_t *s = data + *pos, *body;
    uint64_t n;
    uint32_t ndigits;

    if (!sp_redis_bulk_whole_at(s, data + len, true, &n, &ndigits, &body)) {
        return false;
    }
    uint64_t body_at = at + (uint64_t)(body - s);

    p->number = n;
    p->digits = ndigits;
    p->negative = false;
    p->bulk_left = 0;
    sp_req_arg_begin(p, body_at);
    sp_req_arg_bytes(p, body, (size_t)n);
    sp_req_arg_end(p, body_at + n);
    *status = sp_req_bulk_done(p, body_at + n + 1);
    *pos += (size_t)(body - s) + (size_t)n + 2;
    return true;
}

/*
 * One step at data[*pos] (stream offset `at`): a single byte, or in
 * BULK_DATA as much of the payload as the chunk holds. Advances *pos past
 * what it used, except when it fails.
 */
static sp_parse_status_t
sp_req_step(void *parser, const uint8_t *data, size_t len, size_t *pos,
            uint64_t at)
{
    struct sp_redis_req_parser *p = parser;
    uint8_t ch = data[*pos];
    sp_parse_status_t status = SP_PARSE_AGAIN;

    switch (p->state) {
    case SP_REQ_START:
        sp_req_begin(p, at);
        if (ch == '*') {
            sp_req_number_reset(p);
            p->state = SP_REQ_MB_COUNT;
            break;
        }
        p->inline_form = true;
        p->state = SP_REQ_INLINE;
        sp_redis_inline_init(&p->lex);
        return sp_req_step(p, data, len, pos, at);

    case SP_REQ_MB_COUNT:
        status = sp_req_length_byte(p, ch, true, SP_REQ_MB_COUNT_LF);
        break;

    case SP_REQ_MB_COUNT_LF:
        if (ch != '\n') {
            return sp_req_fail(p, SP_ERR_MB_LEN);
        }
        sp_req_count_done(p);
        break;

    case SP_REQ_BULK_DOLLAR:
        if (ch != '$') {
            return sp_req_fail_dollar(p, ch);
        }
        if (sp_req_bulk_whole(p, data, len, pos, at, &status)) {
            return status;
        }
        sp_req_number_reset(p);
        p->state = SP_REQ_BULK_LEN;
        break;

    case SP_REQ_BULK_LEN:
        status = sp_req_length_byte(p, ch, false, SP_REQ_BULK_LEN_LF);
        break;

    case SP_REQ_BULK_LEN_LF:
        if (ch != '\n') {
            return sp_req_fail(p, SP_ERR_BULK_LEN);
        }
        p->bulk_left = (int64_t)p->number;
        sp_req_arg_begin(p, at + 1);
        p->state = p->bulk_left > 0 ? SP_REQ_BULK_DATA : SP_REQ_BULK_CR;
        break;

    case SP_REQ_BULK_DATA: {
        size_t n = len - *pos;

        if ((uint64_t)n > (uint64_t)p->bulk_left) {
            n = (size_t)p->bulk_left;
        }
        sp_req_arg_bytes(p, data + *pos, n);
        p->bulk_left -= (int64_t)n;
        if (p->bulk_left == 0) {
            p->state = SP_REQ_BULK_CR;
        }
        *pos += n;
        return SP_PARSE_AGAIN;
    }

    case SP_REQ_BULK_CR:
        if (ch != '\r') {
            return sp_req_fail(p, SP_ERR_BULK_CRLF);
        }
        sp_req_arg_end(p, at);
        p->state = SP_REQ_BULK_LF;
        break;

    case SP_REQ_BULK_LF:
        if (ch != '\n') {
            return sp_req_fail(p, SP_ERR_BULK_CRLF);
        }
        status = sp_req_bulk_done(p, at);
        break;

    case SP_REQ_INLINE:
        status = sp_req_inline_byte(p, ch, at);
        break;

    default:
        return SP_PARSE_ERROR;
    }
    if (status != SP_PARSE_ERROR) {
        (*pos)++;
    }
    return status;
}

sp_parse_status_t
sp_redis_req_parse(struct sp_redis_req_parser *p, const uint8_t *data,
                   size_t len, size_t *consumed)
{
    return sp_parse_run(p, &p->offset, p->state == SP_REQ_FAILED, sp_req_step,
                        data, len, consumed);
}
