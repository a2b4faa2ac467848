/*
 * sp_redis_reply.c — the resumable Redis reply parser, RESP2 and RESP3
 * (see sp_redis.h).
 *
 * It frames one reply at a time, fed chunk by chunk, so the proxy knows
 * where a server's reply ends and, for a top-level array, where each of its
 * elements lies. Nothing is copied: bulk payloads are stepped over; only
 * the numbers of ':', '$' and '*' lines are read. Open arrays live on the
 * caller's stack (elements left per level), so nesting costs no recursion
 * and is bounded by the caller.
 *
 *   TYPE -'+' '-'-> LINE -CR-> LINE_LF -LF-> value ends
 *     +--':' '$' '*'-> NUM -CR-> NUM_LF -LF-+- :N, $-1, *-1, *0 -> value ends
 *                                           +- $N -> BULK_DATA -> BULK_CR
 *                                           |        -> BULK_LF -> value ends
 *                                           +- *N -> push N -> TYPE
 *   value ends -> pop every array it completes -> TYPE, or DONE at depth 0
 *
 * RESP3's types take the same paths: null '_', boolean '#', double ',' and
 * big number '(' are lines; blob error '!' and verbatim '=' are bulks; set
 * '~' and push '>' are arrays, and a map '%' of N pairs is an array of 2N
 * values. Attributes ('|') are refused: Redis 7 never sends them.
 */
#include "sp_redis.h"

#include <string.h>

enum sp_redis_reply_state {
    SP_REPLY_TYPE,
    SP_REPLY_LINE,
    SP_REPLY_LINE_LF,
    SP_REPLY_NUM,
    SP_REPLY_NUM_LF,
    SP_REPLY_BULK_DATA,
    SP_REPLY_BULK_CR,
    SP_REPLY_BULK_LF,
    SP_REPLY_FAILED
};

#define SP_REPLY_MAX_ARRAY  ((uint64_t)UINT32_MAX)
#define SP_INT64_MIN_MAGNITUDE ((uint64_t)INT64_MAX + 1)

void
sp_redis_reply_init(struct sp_redis_reply_parser *p, uint64_t offset,
                    int64_t *stack, uint32_t stack_cap,
                    struct sp_span *elements, uint32_t elements_cap)
{
    memset(p, 0, sizeof(*p));
    p->offset = offset;
    p->start = p->end = offset;
    p->stack = stack;
    p->stack_cap = stack_cap;
    p->elements = elements;
    p->elements_cap = elements_cap;
    p->state = SP_REPLY_TYPE;
}

void
sp_redis_reply_stack(struct sp_redis_reply_parser *p, int64_t *stack,
                     uint32_t stack_cap)
{
    p->stack = stack;
    p->stack_cap = stack_cap;
    p->need_stack = false;
}

static sp_parse_status_t
sp_reply_fail(struct sp_redis_reply_parser *p, const char *error)
{
    p->state = SP_REPLY_FAILED;
    p->error = error;
    return SP_PARSE_ERROR;
}

/* The top-level type a type byte begins. */
static sp_redis_reply_type_t
sp_reply_type_of(uint8_t ch)
{
    switch (ch) {
    case '+': return SP_REDIS_REPLY_STATUS;
    case '-':
    case '!': return SP_REDIS_REPLY_ERROR;
    case ':': return SP_REDIS_REPLY_INTEGER;
    case '$':
    case '=': return SP_REDIS_REPLY_BULK;
    case '*': return SP_REDIS_REPLY_ARRAY;
    case '_': return SP_REDIS_REPLY_NULL;
    case '%': return SP_REDIS_REPLY_MAP;
    case '~': return SP_REDIS_REPLY_SET;
    case '>': return SP_REDIS_REPLY_PUSH;
    default:  return SP_REDIS_REPLY_SCALAR;     /* # , ( */
    }
}

/* Blob types carry a length and that many bytes; aggregates a count. */
static bool
sp_reply_is_blob(char first)
{
    return first == '$' || first == '!' || first == '=';
}

static bool
sp_reply_is_aggregate(char first)
{
    return first == '*' || first == '%' || first == '~' || first == '>';
}

/* A value begins with its type byte at stream offset `at`. */
static sp_parse_status_t
sp_reply_type(struct sp_redis_reply_parser *p, uint8_t ch, uint64_t at)
{
    if (p->depth == 0) {
        p->start = p->end = at;
        p->nil = false;
        p->integer = 0;
        p->nelements = 0;
        p->error = NULL;
    } else if (p->depth == 1) {
        p->element_start = at;
    }
    switch (ch) {
    case '+':
    case '-':
    case '_':
    case '#':
    case ',':
    case '(':
        p->bulk_left = SP_REDIS_MAX_BULK;   /* the line's length budget */
        p->state = SP_REPLY_LINE;
        break;
    case ':':
    case '$':
    case '*':
    case '!':
    case '=':
    case '%':
    case '~':
    case '>':
        p->number = 0;
        p->digits = 0;
        p->negative = false;
        p->state = SP_REPLY_NUM;
        break;
    default:
        return sp_reply_fail(p, "invalid reply type");
    }
    p->first = (char)ch;
    if (p->depth == 0) {
        p->type = sp_reply_type_of(ch);
        p->nil = ch == '_';
    }
    return SP_PARSE_AGAIN;
}

/* The error for a malformed number of the current value's type. */
static const char *
sp_reply_number_error(const struct sp_redis_reply_parser *p)
{
    return p->first == ':' ? "invalid integer"
         : sp_reply_is_blob(p->first) ? "invalid bulk length"
         : "invalid multibulk length";
}

/* The largest magnitude the current number may have. */
static uint64_t
sp_reply_number_limit(const struct sp_redis_reply_parser *p)
{
    if (p->first == ':') {
        return p->negative ? SP_INT64_MIN_MAGNITUDE : (uint64_t)INT64_MAX;
    }
    if (p->negative) {
        /* only $-1 and *-1 (RESP2's nils) */
        return p->first == '$' || p->first == '*' ? 1 : 0;
    }
    if (sp_reply_is_blob(p->first)) {
        return (uint64_t)SP_REDIS_MAX_BULK;
    }
    /* a map's count is of pairs */
    return p->first == '%' ? SP_REPLY_MAX_ARRAY / 2 : SP_REPLY_MAX_ARRAY;
}

static sp_parse_status_t
sp_reply_num_byte(struct sp_redis_reply_parser *p, uint8_t ch)
{
    uint64_t limit, d;

    if (ch == '\r' && p->digits > 0 && !(p->negative && p->number == 0)) {
        p->state = SP_REPLY_NUM_LF;
        return SP_PARSE_AGAIN;
    }
    if (ch == '-' && p->digits == 0 && !p->negative) {
        p->negative = true;
        return SP_PARSE_AGAIN;
    }
    if (ch < '0' || ch > '9') {
        return sp_reply_fail(p, sp_reply_number_error(p));
    }
    d = (uint64_t)(ch - '0');
    limit = sp_reply_number_limit(p);
    if (d > limit || p->number > (limit - d) / 10) {
        return sp_reply_fail(p, sp_reply_number_error(p));
    }
    p->number = p->number * 10 + d;
    p->digits++;
    return SP_PARSE_AGAIN;
}

/* The value of the number just read, in range by construction. */
static int64_t
sp_reply_number_value(const struct sp_redis_reply_parser *p)
{
    if (!p->negative) {
        return (int64_t)p->number;
    }
    if (p->number == SP_INT64_MIN_MAGNITUDE) {
        return INT64_MIN;
    }
    return -(int64_t)p->number;
}

/*
 * A value ends with the byte at stream offset `last`. Records it if it is a
 * top-level element, closes every array it completes, and says whether the
 * whole reply is done.
 */
static sp_parse_status_t
sp_reply_value_end(struct sp_redis_reply_parser *p, uint64_t last)
{
    for (;;) {
        if (p->depth == 0) {
            p->end = last + 1;
            p->state = SP_REPLY_TYPE;
            return SP_PARSE_DONE;
        }
        if (p->depth == 1 && p->nelements < p->elements_cap) {
            uint64_t len = last + 1 - p->element_start;

            if (len > UINT32_MAX) {
                return sp_reply_fail(p, "reply element too long");
            }
            p->elements[p->nelements].offset = p->element_start;
            p->elements[p->nelements].len = (uint32_t)len;
            p->nelements++;
        }
        if (--p->stack[p->depth - 1] > 0) {
            p->state = SP_REPLY_TYPE;
            return SP_PARSE_AGAIN;
        }
        p->depth--;                         /* that array ends here too */
    }
}

/* The number line of a ':', '$' or '*' value ends at stream offset `last`. */
static sp_parse_status_t
sp_reply_num_done(struct sp_redis_reply_parser *p, uint64_t last)
{
    int64_t n = sp_reply_number_value(p);

    if (p->depth == 0) {
        p->integer = n;
        p->nil = n < 0 && p->first != ':';
    }
    if (sp_reply_is_blob(p->first) && n >= 0) {
        p->bulk_left = n;
        p->state = n > 0 ? SP_REPLY_BULK_DATA : SP_REPLY_BULK_CR;
        return SP_PARSE_AGAIN;
    }
    if (!sp_reply_is_aggregate(p->first) || n == -1 || n == 0) {
        return sp_reply_value_end(p, last);     /* :N, $-1, *-1, *0 */
    }
    if (p->first == '%') {
        n *= 2;                                 /* key, value, ... */
    }
    if (p->depth >= SP_REDIS_REPLY_MAX_DEPTH) {
        return sp_reply_fail(p, "reply nested too deep");
    }
    if (p->depth == p->stack_cap) {
        /* not an error: the state stays at this '\n', fed again once the
         * caller has grown the stack */
        p->need_stack = true;
        return SP_PARSE_ERROR;
    }
    p->stack[p->depth++] = n;
    p->state = SP_REPLY_TYPE;
    return SP_PARSE_AGAIN;
}

/*
 * After a '$' type byte at data[*pos] (stream offset `at`): a whole,
 * well-formed "$-1\r\n" or "$<len>\r\n<bytes>\r\n" in the chunk is read
 * at once, with the effects the byte states would have (a wide MGET's
 * reply is a million of them). False, with nothing more read, for anything
 * else: the byte states go on from the type byte.
 */
static bool
sp_reply_bulk_whole(struct sp_redis_reply_parser *p, const uint8_t *data,
                    size_t len, size_t *pos, uint64_t at,
                    sp_parse_status_t *status)
{
    const uint8_t *s = data + *pos, *end = data + len, *q = s + 1, *body;
    uint64_t n;
    uint32_t ndigits;

    if (end - q >= 4 && q[0] == '-' && q[1] == '1' && q[2] == '\r'
        && q[3] == '\n') {
        p->number = 1;
        p->digits = 1;
        p->negative = true;
        *status = sp_reply_num_done(p, at + 4);
        if (*status != SP_PARSE_ERROR) {
            *pos += 5;
        }
        return true;
    }
    if (!sp_redis_bulk_whole_at(s, end, false, &n, &ndigits, &body)) {
        return false;
    }
    p->number = n;
    p->digits = ndigits;
    p->negative = false;
    p->bulk_left = 0;
    if (p->depth == 0) {
        p->integer = (int64_t)n;
        p->nil = false;
    }
    size_t used = (size_t)(body - s) + (size_t)n + 2;
    *status = sp_reply_value_end(p, at + used - 1);
    if (*status != SP_PARSE_ERROR) {
        *pos += used;
    }
    return true;
}

/*
 * One step at data[*pos] (stream offset `at`): a single byte, or in
 * BULK_DATA as much of the payload as the chunk holds. Advances *pos past
 * what it used, except when it fails.
 */
static sp_parse_status_t
sp_reply_step(void *parser, const uint8_t *data, size_t len, size_t *pos,
              uint64_t at)
{
    struct sp_redis_reply_parser *p = parser;
    uint8_t ch = data[*pos];
    sp_parse_status_t status = SP_PARSE_AGAIN;

    switch (p->state) {
    case SP_REPLY_TYPE:
        status = sp_reply_type(p, ch, at);
        if (ch == '$' && status == SP_PARSE_AGAIN
            && sp_reply_bulk_whole(p, data, len, pos, at, &status)) {
            return status;
        }
        break;

    case SP_REPLY_LINE:
        if (ch == '\r') {
            p->state = SP_REPLY_LINE_LF;
        } else if (ch == '\n') {
            return sp_reply_fail(p, "expected CRLF");
        } else if (--p->bulk_left < 0) {
            return sp_reply_fail(p, "reply line too long");
        }
        break;

    case SP_REPLY_NUM:
        status = sp_reply_num_byte(p, ch);
        break;

    case SP_REPLY_LINE_LF:
    case SP_REPLY_NUM_LF:
        if (ch != '\n') {
            return sp_reply_fail(p, "expected CRLF");
        }
        status = p->state == SP_REPLY_LINE_LF ? sp_reply_value_end(p, at)
                                              : sp_reply_num_done(p, at);
        break;

    case SP_REPLY_BULK_DATA: {
        size_t n = len - *pos;

        if ((uint64_t)n > (uint64_t)p->bulk_left) {
            n = (size_t)p->bulk_left;
        }
        p->bulk_left -= (int64_t)n;
        if (p->bulk_left == 0) {
            p->state = SP_REPLY_BULK_CR;
        }
        *pos += n;
        return SP_PARSE_AGAIN;
    }

    case SP_REPLY_BULK_CR:
        if (ch != '\r') {
            return sp_reply_fail(p, "expected CRLF after bulk data");
        }
        p->state = SP_REPLY_BULK_LF;
        break;

    case SP_REPLY_BULK_LF:
        if (ch != '\n') {
            return sp_reply_fail(p, "expected CRLF after bulk data");
        }
        status = sp_reply_value_end(p, at);
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
sp_redis_reply_parse(struct sp_redis_reply_parser *p, const uint8_t *data,
                     size_t len, size_t *consumed)
{
    return sp_parse_run(p, &p->offset, p->state == SP_REPLY_FAILED, sp_reply_step,
                        data, len, consumed);
}
