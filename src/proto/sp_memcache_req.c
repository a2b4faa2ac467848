/*
 * sp_memcache_req.c — the resumable memcached request parser (see
 * sp_memcache.h).
 *
 * One state machine over the bytes of a client connection, fed chunk by
 * chunk; everything it needs lives in the parser, so a request may be split
 * anywhere, down to one byte per call. A command line is read token by
 * token as memcached's tokenize_command splits it; of each token the parser
 * keeps only what the command's syntax needs (the name, copied; a number's
 * value; whether it is "noreply"; a meta flag's first byte) plus its place
 * in the stream. Runs of token bytes are taken in one step, data blocks are
 * stepped over.
 *
 *   START --> LINE --LF--+-- no data block: DONE --> START
 *     |        |         +-- <bytes>: DATA --> DATA_CR --> DATA_LF: DONE
 *     |        +-- too long, or storage line with no sound <bytes>: FAILED
 *     +-- 0x80, the binary protocol's magic: FAILED (ERR_BINARY)
 *
 * A CR is held back (cr_pending) until the next byte shows whether it ends
 * the line (LF follows) or belongs to a token. The line is judged when it
 * ends, in the order memcached checks it, so the answer is the one
 * memcached gives first.
 *
 * A request whose whole line is in the chunk at hand (up to
 * SP_MEMCACHE_MAX_LINE bytes) is read in one go (sp_req_fast): its tokens
 * are found by scanning for their ends and given whole to the same token
 * functions, and a data block that is there too is stepped over with its
 * CRLF; the results are those of the byte steps, which take every other
 * line. The unit tests feed every sample whole and cut at every byte, and
 * compare.
 */
#include "sp_memcache.h"

#include <string.h>

enum sp_memcache_req_state {
    SP_MC_REQ_START,
    SP_MC_REQ_LINE,
    SP_MC_REQ_DATA,
    SP_MC_REQ_DATA_CR,
    SP_MC_REQ_DATA_LF,
    SP_MC_REQ_FAILED
};

#define SP_MC_NOREPLY       "noreply"
#define SP_MC_NOREPLY_LEN   7
#define SP_MC_NO_MATCH      0xff            /* noreply_match: not "noreply" */
#define SP_MC_MAX_BYTES     ((uint64_t)INT32_MAX - 2) /* memcached's vlen */

void
sp_memcache_req_init(struct sp_memcache_req_parser *p, uint64_t offset,
                     struct sp_span *keys, uint32_t keys_cap,
                     uint32_t max_value)
{
    memset(p, 0, sizeof(*p));
    p->offset = offset;
    p->start = p->end = offset;
    p->keys = keys;
    p->keys_cap = keys_cap;
    if (max_value == 0) {
        max_value = SP_MEMCACHE_VALUE_DEFAULT;
    }
    p->max_value = max_value < SP_MEMCACHE_VALUE_LIMIT
                   ? max_value : SP_MEMCACHE_VALUE_LIMIT;
    p->state = SP_MC_REQ_START;
}

bool
sp_memcache_req_idle(const struct sp_memcache_req_parser *p)
{
    return p->state == SP_MC_REQ_START;
}

/* The request begins at stream offset `at`: clear the last results. */
static void
sp_req_begin(struct sp_memcache_req_parser *p, uint64_t at)
{
    p->command = NULL;
    p->start = p->end = at;
    p->ntokens = 0;
    p->nkeys = 0;
    p->keys_truncated = false;
    p->arg1.offset = p->value.offset = 0;
    p->arg1.len = p->value.len = 0;
    p->noreply = p->quiet = p->key_base64 = p->binary = false;
    p->error = NULL;
    p->line_limit = SP_MEMCACHE_MAX_LINE;
    p->in_token = p->cr_pending = p->nul_seen = false;
    p->last_noreply = false;
    p->bad_key = p->bad_format = p->bad_exptime = p->bad_delta = false;
    p->hold_zero = p->bytes_ok = p->data_bad = false;
    p->bytes = 0;
    p->name_len = 0;
    p->state = SP_MC_REQ_LINE;
}

static sp_parse_status_t
sp_req_fail(struct sp_memcache_req_parser *p, const char *error)
{
    p->state = SP_MC_REQ_FAILED;
    p->error = error;
    return SP_PARSE_ERROR;
}

/* ---- tokens ------------------------------------------------------------- */

/* Whether token `i` of the current command is read as a number. */
static bool
sp_req_wants_number(const struct sp_memcache_command *cmd, uint32_t i)
{
    switch (cmd->syntax) {
    case SP_MEMCACHE_SYNTAX_STORE:
    case SP_MEMCACHE_SYNTAX_CAS:
        return i >= 2 && i <= 5;        /* flags exptime bytes [cas] */
    case SP_MEMCACHE_SYNTAX_GAT:
    case SP_MEMCACHE_SYNTAX_FLUSH:
    case SP_MEMCACHE_SYNTAX_VERBOSITY:
        return i == 1;
    case SP_MEMCACHE_SYNTAX_ARITH:
    case SP_MEMCACHE_SYNTAX_TOUCH:
    case SP_MEMCACHE_SYNTAX_META_SET:
        return i == 2;
    default:
        return false;
    }
}

/*
 * The first token that may be "noreply": after the key; flush_all's and
 * verbosity's first argument (memcached's set_noreply_maybe looks at the
 * last token whatever it is; "delete noreply" deletes the key "noreply").
 */
static uint32_t
sp_req_noreply_from(const struct sp_memcache_command *cmd)
{
    return cmd->syntax == SP_MEMCACHE_SYNTAX_FLUSH
           || cmd->syntax == SP_MEMCACHE_SYNTAX_VERBOSITY ? 1 : 2;
}

/* A token begins with byte `first` at stream offset `at`. */
static void
sp_req_token_begin(struct sp_memcache_req_parser *p, uint8_t first,
                   uint64_t at)
{
    const struct sp_memcache_command *cmd = p->command;

    p->in_token = true;
    p->token_start = at;
    p->token_len = 0;
    p->token_first = first;
    p->number = 0;
    p->digits = 0;
    p->sign = 0;
    /* only the tokens that may mean a number or "noreply" are looked at */
    p->number_bad = cmd == NULL || !sp_req_wants_number(cmd, p->ntokens);
    p->noreply_match = cmd != NULL && cmd->noreply
                       && p->ntokens >= sp_req_noreply_from(cmd)
                       ? 0 : SP_MC_NO_MATCH;
}

/* One more byte of a number token: [+-]?[0-9]+ within 64 bits. */
static void
sp_req_number_byte(struct sp_memcache_req_parser *p, uint8_t ch, bool first)
{
    uint64_t d;

    if (first && (ch == '+' || ch == '-')) {
        p->sign = (char)ch;
        return;
    }
    if (ch < '0' || ch > '9') {
        p->number_bad = true;
        return;
    }
    d = (uint64_t)(ch - '0');
    if (p->number > (UINT64_MAX - d) / 10) {
        p->number_bad = true;
        return;
    }
    p->number = p->number * 10 + d;
    p->digits++;
}

/* Bytes s[0..n) of a token, the first at stream offset `at`. */
static void
sp_req_token_bytes(struct sp_memcache_req_parser *p, const uint8_t *s,
                   size_t n, uint64_t at)
{
    if (!p->in_token) {
        sp_req_token_begin(p, s[0], at);
    }
    /* the name is copied; name_len stops at MAX_NAME + 1: too long */
    for (size_t i = 0; p->ntokens == 0 && i < n
                       && p->name_len <= SP_MEMCACHE_MAX_NAME; i++) {
        if (p->name_len < SP_MEMCACHE_MAX_NAME) {
            p->name[p->name_len] = (char)s[i];
        }
        p->name_len++;
    }
    for (size_t i = 0; i < n && !p->number_bad; i++) {
        sp_req_number_byte(p, s[i], p->token_len + i == 0);
    }
    for (size_t i = 0; i < n && p->noreply_match != SP_MC_NO_MATCH; i++) {
        size_t k = p->token_len + i;

        p->noreply_match = k < SP_MC_NOREPLY_LEN && s[i] == SP_MC_NOREPLY[k]
                           ? (uint8_t)(k + 1) : SP_MC_NO_MATCH;
    }
    p->token_len += (uint32_t)n;
}

static bool
sp_req_unsigned_ok(const struct sp_memcache_req_parser *p)
{
    return p->digits > 0 && !p->number_bad && p->sign != '-';
}

/* exptime: memcached reads a long (and truncates it to 32 bits) */
static bool
sp_req_signed_ok(const struct sp_memcache_req_parser *p)
{
    uint64_t limit = p->sign == '-' ? (uint64_t)INT64_MAX + 1
                                    : (uint64_t)INT64_MAX;

    return p->digits > 0 && !p->number_bad && p->number <= limit;
}

/* The token just ended is a key. */
static void
sp_req_key(struct sp_memcache_req_parser *p)
{
    if (p->token_len > SP_MEMCACHE_MAX_KEY) {
        p->bad_key = true;
    }
    if (p->nkeys < p->keys_cap) {
        p->keys[p->nkeys].offset = p->token_start;
        p->keys[p->nkeys].len = p->token_len;
    }
    p->nkeys++;         /* at most a line's length / 2: no overflow */
}

/* The token just ended is <bytes> of a storage command. */
static void
sp_req_bytes(struct sp_memcache_req_parser *p)
{
    p->bytes_ok = sp_req_unsigned_ok(p) && p->number <= SP_MC_MAX_BYTES;
    p->bytes = p->bytes_ok ? (uint32_t)p->number : 0;
}

/* The token just ended is a meta flag. */
static void
sp_req_meta_flag(struct sp_memcache_req_parser *p)
{
    if (p->token_first == 'q') {
        p->quiet = true;
    } else if (p->token_first == 'b') {
        p->key_base64 = true;
    }
}

/* What token `i` of each syntax means. */
static void
sp_req_token_meaning(struct sp_memcache_req_parser *p, uint32_t i)
{
    switch (p->command->syntax) {
    case SP_MEMCACHE_SYNTAX_STORE:
    case SP_MEMCACHE_SYNTAX_CAS:
        if (i == 1) {
            sp_req_key(p);
        } else if (i == 2 || (i == 5 && p->command->syntax
                                        == SP_MEMCACHE_SYNTAX_CAS)) {
            p->bad_format |= !sp_req_unsigned_ok(p);    /* flags, cas */
        } else if (i == 3) {
            p->bad_format |= !sp_req_signed_ok(p);      /* exptime */
        } else if (i == 4) {
            sp_req_bytes(p);
        }
        break;
    case SP_MEMCACHE_SYNTAX_GET:
        sp_req_key(p);
        break;
    case SP_MEMCACHE_SYNTAX_GAT:
        if (i == 1) {
            p->bad_exptime = !sp_req_signed_ok(p);
        } else {
            sp_req_key(p);
        }
        break;
    case SP_MEMCACHE_SYNTAX_DELETE:
        if (i == 1) {
            sp_req_key(p);
        } else if (i == 2) {
            p->hold_zero = p->token_len == 1 && p->token_first == '0';
        }
        break;
    case SP_MEMCACHE_SYNTAX_ARITH:
    case SP_MEMCACHE_SYNTAX_TOUCH:
        if (i == 1) {
            sp_req_key(p);
        } else if (i == 2 && p->command->syntax == SP_MEMCACHE_SYNTAX_ARITH) {
            p->bad_delta = !sp_req_unsigned_ok(p);
        } else if (i == 2) {
            p->bad_exptime = !sp_req_signed_ok(p);
        }
        break;
    case SP_MEMCACHE_SYNTAX_META:
        if (i == 1) {
            sp_req_key(p);
        } else {
            sp_req_meta_flag(p);
        }
        break;
    case SP_MEMCACHE_SYNTAX_META_SET:
        if (i == 1) {
            sp_req_key(p);
        } else if (i == 2) {
            sp_req_bytes(p);
        } else {
            sp_req_meta_flag(p);
        }
        break;
    case SP_MEMCACHE_SYNTAX_META_DEBUG:
        if (i == 1) {
            sp_req_key(p);
        } else if (i == 2 && p->token_len == 1 && p->token_first == 'b') {
            p->key_base64 = true;               /* me <key> b, exactly */
        }
        break;
    case SP_MEMCACHE_SYNTAX_FLUSH:
        if (i == 1) {
            p->bad_exptime = !sp_req_signed_ok(p);      /* the delay */
        }
        break;
    case SP_MEMCACHE_SYNTAX_VERBOSITY:
        if (i == 1) {
            p->bad_format = !sp_req_unsigned_ok(p);     /* the level */
        }
        break;
    case SP_MEMCACHE_SYNTAX_STATS:
    case SP_MEMCACHE_SYNTAX_BARE:
        break;
    }
}

/* The token being read has ended. */
static void
sp_req_token_end(struct sp_memcache_req_parser *p)
{
    uint32_t i = p->ntokens++;

    p->in_token = false;
    p->last_noreply = p->noreply_match == SP_MC_NOREPLY_LEN
                      && p->token_len == SP_MC_NOREPLY_LEN;
    if (i == 0) {
        p->command = p->name_len <= SP_MEMCACHE_MAX_NAME
                     ? sp_memcache_command_lookup(p->name, p->name_len)
                     : NULL;
        if (p->command != NULL && p->command->long_line) {
            p->line_limit = SP_MEMCACHE_MAX_GET_LINE;
        }
        return;
    }
    if (i == 1) {
        p->arg1.offset = p->token_start;
        p->arg1.len = p->token_len;
    }
    if (p->command != NULL) {
        sp_req_token_meaning(p, i);
    }
}

/* ---- ends of lines and requests ---------------------------------------- */

static sp_parse_status_t
sp_req_done(struct sp_memcache_req_parser *p, const char *error)
{
    p->error = error;
    p->keys_truncated = p->nkeys > p->keys_cap;
    if (p->keys_truncated) {
        p->nkeys = p->keys_cap;
    }
    p->state = SP_MC_REQ_START;
    return SP_PARSE_DONE;
}

/* A data block of p->bytes follows the LF at stream offset `at`. */
static sp_parse_status_t
sp_req_data_begin(struct sp_memcache_req_parser *p, uint64_t at,
                  const char *error)
{
    if (error == NULL && p->bytes > p->max_value) {
        error = SP_MEMCACHE_ERR_TOO_LARGE;
    }
    p->error = error;                   /* the data is swallowed if set */
    p->value.offset = at + 1;
    p->value.len = p->bytes;
    p->data_left = p->bytes;
    p->state = p->bytes > 0 ? SP_MC_REQ_DATA : SP_MC_REQ_DATA_CR;
    return SP_PARSE_AGAIN;
}

/* A classic storage line is complete. */
static sp_parse_status_t
sp_req_store_line(struct sp_memcache_req_parser *p, uint64_t at,
                  bool count_ok)
{
    if (!count_ok) {
        return sp_req_fail(p, SP_MEMCACHE_ERR_UNKNOWN);
    }
    if (!p->bytes_ok) {
        return sp_req_fail(p, SP_MEMCACHE_ERR_FORMAT);
    }
    return sp_req_data_begin(p, at, p->bad_key || p->bad_format
                                    ? SP_MEMCACHE_ERR_FORMAT : NULL);
}

/* An ms line is complete (memcached's process_mset_command order). */
static sp_parse_status_t
sp_req_meta_set_line(struct sp_memcache_req_parser *p, uint64_t at)
{
    uint32_t n = p->ntokens;
    const char *error = NULL;

    if (n < 2) {
        return sp_req_fail(p, SP_MEMCACHE_ERR_UNKNOWN);
    }
    if (p->bad_key || n < 3) {
        error = SP_MEMCACHE_ERR_FORMAT;
    } else if (n > SP_MEMCACHE_META_MAX_TOKENS) {
        error = SP_MEMCACHE_ERR_FLAGS;
    } else if (!p->bytes_ok) {
        error = SP_MEMCACHE_ERR_FORMAT;
    }
    if (n < 3 || !p->bytes_ok) {
        return sp_req_fail(p, error);
    }
    return sp_req_data_begin(p, at, error);
}

/* delete <key> [0] [noreply]: memcached's process_delete_command. */
static bool
sp_req_delete_ok(const struct sp_memcache_req_parser *p)
{
    uint32_t n = p->ntokens;

    return n == 2 || (n == 3 && (p->hold_zero || p->last_noreply))
           || (n == 4 && p->hold_zero && p->last_noreply);
}

/* The line ended with the LF at stream offset `at`. */
static sp_parse_status_t
sp_req_line_end(struct sp_memcache_req_parser *p, uint64_t at)
{
    const struct sp_memcache_command *cmd;
    const char *error = NULL;
    bool count_ok;
    uint32_t n;

    if (p->in_token) {
        sp_req_token_end(p);
    }
    p->cr_pending = false;
    p->end = at + 1;
    cmd = p->command;
    if (cmd == NULL) {
        return sp_req_done(p, SP_MEMCACHE_ERR_UNKNOWN);
    }
    n = p->ntokens;
    count_ok = n >= cmd->min_tokens
               && (cmd->max_tokens == 0 || n <= cmd->max_tokens);
    /*
     * memcached's set_noreply_maybe: once the count is right, the last
     * token, if it is "noreply" and not the key ("delete noreply" deletes
     * the key "noreply"; "touch k noreply" is a bad exptime, unanswered)
     */
    p->noreply = cmd->noreply && count_ok && n > sp_req_noreply_from(cmd)
                 && p->last_noreply;

    switch (cmd->syntax) {
    case SP_MEMCACHE_SYNTAX_STORE:
    case SP_MEMCACHE_SYNTAX_CAS:
        return sp_req_store_line(p, at, count_ok);
    case SP_MEMCACHE_SYNTAX_META_SET:
        return sp_req_meta_set_line(p, at);
    case SP_MEMCACHE_SYNTAX_GET:
    case SP_MEMCACHE_SYNTAX_META:
        error = !count_ok ? SP_MEMCACHE_ERR_UNKNOWN
              : p->bad_key ? SP_MEMCACHE_ERR_FORMAT : NULL;
        break;
    case SP_MEMCACHE_SYNTAX_GAT:
        error = !count_ok ? SP_MEMCACHE_ERR_UNKNOWN
              : p->bad_exptime ? SP_MEMCACHE_ERR_EXPTIME
              : p->bad_key ? SP_MEMCACHE_ERR_FORMAT : NULL;
        break;
    case SP_MEMCACHE_SYNTAX_DELETE:
        error = !count_ok ? SP_MEMCACHE_ERR_UNKNOWN
              : !sp_req_delete_ok(p) ? SP_MEMCACHE_ERR_DELETE
              : p->bad_key ? SP_MEMCACHE_ERR_FORMAT : NULL;
        break;
    case SP_MEMCACHE_SYNTAX_ARITH:
        error = !count_ok ? SP_MEMCACHE_ERR_UNKNOWN
              : p->bad_key ? SP_MEMCACHE_ERR_FORMAT
              : p->bad_delta ? SP_MEMCACHE_ERR_DELTA : NULL;
        break;
    case SP_MEMCACHE_SYNTAX_TOUCH:
        error = !count_ok ? SP_MEMCACHE_ERR_UNKNOWN
              : p->bad_key ? SP_MEMCACHE_ERR_FORMAT
              : p->bad_exptime ? SP_MEMCACHE_ERR_EXPTIME : NULL;
        break;
    case SP_MEMCACHE_SYNTAX_META_DEBUG:
        /* memcached's process_meta_command: no key is a CLIENT_ERROR */
        error = !count_ok || p->bad_key ? SP_MEMCACHE_ERR_FORMAT : NULL;
        break;
    case SP_MEMCACHE_SYNTAX_FLUSH:
        /* a delay unless the one argument is noreply ("flush_all noreply
         * noreply": a bad delay, unanswered) */
        error = !count_ok ? SP_MEMCACHE_ERR_UNKNOWN
              : n > (p->noreply ? 2u : 1u) && p->bad_exptime
                ? SP_MEMCACHE_ERR_EXPTIME : NULL;
        break;
    case SP_MEMCACHE_SYNTAX_VERBOSITY:
        /* "verbosity noreply": a bad level, unanswered */
        error = !count_ok ? SP_MEMCACHE_ERR_UNKNOWN
              : p->bad_format ? SP_MEMCACHE_ERR_FORMAT : NULL;
        break;
    case SP_MEMCACHE_SYNTAX_STATS:
        error = n > 1 ? SP_MEMCACHE_ERR_STATS : NULL;
        break;
    case SP_MEMCACHE_SYNTAX_BARE:
        break;
    }
    return sp_req_done(p, error);
}

static bool
sp_req_delimiter(uint8_t ch)
{
    return ch == ' ' || ch == '\r' || ch == '\n' || ch == '\0';
}

/*
 * One step of a command line at data[*pos] (stream offset `at`): a
 * delimiter, or a run of token bytes. Advances *pos past what it used,
 * except when it fails.
 */
static sp_parse_status_t
sp_req_line(struct sp_memcache_req_parser *p, const uint8_t *data,
            size_t len, size_t *pos, uint64_t at)
{
    uint8_t ch = data[*pos];
    uint64_t room;
    size_t n;

    if (ch == '\n') {
        sp_parse_status_t status = sp_req_line_end(p, at);

        if (status != SP_PARSE_ERROR) {
            (*pos)++;
        }
        return status;
    }
    if (at - p->start >= p->line_limit) {
        return sp_req_fail(p, SP_MEMCACHE_ERR_LINE);
    }
    if (p->cr_pending) {
        /* the CR before this byte does not end the line: it is a token's */
        p->cr_pending = false;
        sp_req_token_bytes(p, (const uint8_t *)"\r", 1, at - 1);
    }
    if (p->nul_seen) {
        (*pos)++;                       /* ignored up to the LF */
        return SP_PARSE_AGAIN;
    }
    if (ch == '\r') {
        p->cr_pending = true;
        (*pos)++;
        return SP_PARSE_AGAIN;
    }
    if (ch == ' ' || ch == '\0') {
        if (p->in_token) {
            sp_req_token_end(p);
        }
        p->nul_seen = ch == '\0';
        (*pos)++;
        return SP_PARSE_AGAIN;
    }
    room = p->line_limit - (at - p->start);
    n = 1;
    while (n < len - *pos && n < room && !sp_req_delimiter(data[*pos + n])) {
        n++;
    }
    sp_req_token_bytes(p, data + *pos, n, at);
    *pos += n;
    return SP_PARSE_AGAIN;
}

/* ---- whole requests in one go -------------------------------------------- */

/*
 * The request starting at data[*pos] (stream offset `at`, begun), read
 * whole when its line is in the chunk: tokens as the byte steps split them
 * (at spaces; a NUL ends them; a CR is a token's byte unless it is the
 * last before the LF), each given whole to sp_req_token_bytes and
 * sp_req_token_end, then the line judged by sp_req_line_end; a data block
 * and its two bytes after it are taken too when they are in the chunk.
 * Returns false, having changed nothing, when the line is not all there or
 * is longer than SP_MEMCACHE_MAX_LINE (the byte steps take it); else sets
 * *status as the byte steps would return it, *pos past what was used (an
 * error: at the LF, as the byte steps stop).
 */
static bool
sp_req_fast(struct sp_memcache_req_parser *p, const uint8_t *data,
            size_t len, size_t *pos, uint64_t at, sp_parse_status_t *status)
{
    const uint8_t *s = data + *pos;
    size_t avail = len - *pos;
    const uint8_t *lf = memchr(s, '\n', avail < SP_MEMCACHE_MAX_LINE + 1
                                        ? avail : SP_MEMCACHE_MAX_LINE + 1);
    const uint8_t *nul;
    uint32_t n, i = 0;

    if (lf == NULL) {
        return false;
    }
    n = (uint32_t)(lf - s);
    if (n > 0 && s[n - 1] == '\r') {
        n--;                                /* the CR that ends the line */
    }
    nul = memchr(s, '\0', n);
    if (nul != NULL) {
        n = (uint32_t)(nul - s);            /* the rest is ignored */
    }
    while (i < n) {
        uint32_t from;
        const uint8_t *space;

        if (s[i] == ' ') {
            i++;
            continue;
        }
        from = i;
        space = memchr(s + i, ' ', n - i);
        i = space != NULL ? (uint32_t)(space - s) : n;
        if (p->ntokens > 0 && p->command != NULL
            && p->command->syntax == SP_MEMCACHE_SYNTAX_GET) {
            /* a get's key: what sp_req_token_end makes of it, directly */
            p->token_start = at + from;
            p->token_len = i - from;
            p->last_noreply = false;        /* get takes no noreply */
            if (p->ntokens++ == 1) {
                p->arg1.offset = p->token_start;
                p->arg1.len = p->token_len;
            }
            sp_req_key(p);
            continue;
        }
        sp_req_token_bytes(p, s + from, i - from, at + from);
        sp_req_token_end(p);
    }
    *status = sp_req_line_end(p, at + (uint64_t)(lf - s));
    if (*status == SP_PARSE_ERROR) {
        *pos += (size_t)(lf - s);           /* stopped at the LF */
        return true;
    }
    *pos += (size_t)(lf - s) + 1;
    if (*status == SP_PARSE_AGAIN && p->state == SP_MC_REQ_DATA
        && len - *pos >= p->data_left + 2) {
        const uint8_t *d = data + *pos + p->data_left;

        *pos += (size_t)p->data_left + 2;
        p->data_left = 0;
        p->end = at + (*pos - (size_t)(s - data));
        *status = sp_req_done(p, p->error == NULL
                                 && (d[0] != '\r' || d[1] != '\n')
                                 ? SP_MEMCACHE_ERR_CHUNK : p->error);
    } else if (*status == SP_PARSE_AGAIN && p->state == SP_MC_REQ_DATA_CR
               && len - *pos >= 2) {
        const uint8_t *d = data + *pos;

        *pos += 2;
        p->end = at + (*pos - (size_t)(s - data));
        *status = sp_req_done(p, p->error == NULL
                                 && (d[0] != '\r' || d[1] != '\n')
                                 ? SP_MEMCACHE_ERR_CHUNK : p->error);
    }
    return true;
}

/*
 * One step at data[*pos] (stream offset `at`). Advances *pos past what it
 * used, except when it fails.
 */
static sp_parse_status_t
sp_req_step(void *parser, const uint8_t *data, size_t len, size_t *pos,
            uint64_t at)
{
    struct sp_memcache_req_parser *p = parser;
    uint8_t ch = data[*pos];

    switch (p->state) {
    case SP_MC_REQ_START:
        sp_req_begin(p, at);
        if (ch == SP_MEMCACHE_BINARY_REQUEST) {
            p->binary = true;
            return sp_req_fail(p, SP_MEMCACHE_ERR_BINARY);
        }
        {
            sp_parse_status_t status;

            if (sp_req_fast(p, data, len, pos, at, &status)) {
                return status;
            }
        }
        return sp_req_line(p, data, len, pos, at);

    case SP_MC_REQ_LINE:
        return sp_req_line(p, data, len, pos, at);

    case SP_MC_REQ_DATA: {
        size_t n = len - *pos;

        if ((uint64_t)n > p->data_left) {
            n = (size_t)p->data_left;
        }
        p->data_left -= n;
        if (p->data_left == 0) {
            p->state = SP_MC_REQ_DATA_CR;
        }
        *pos += n;
        return SP_PARSE_AGAIN;
    }

    case SP_MC_REQ_DATA_CR:
        /* memcached reads the two bytes after the data whatever they are */
        p->data_bad = ch != '\r';
        p->state = SP_MC_REQ_DATA_LF;
        (*pos)++;
        return SP_PARSE_AGAIN;

    case SP_MC_REQ_DATA_LF:
        (*pos)++;
        p->end = at + 1;
        if (p->error == NULL && (p->data_bad || ch != '\n')) {
            return sp_req_done(p, SP_MEMCACHE_ERR_CHUNK);
        }
        return sp_req_done(p, p->error);

    default:
        return SP_PARSE_ERROR;
    }
}

sp_parse_status_t
sp_memcache_req_parse(struct sp_memcache_req_parser *p, const uint8_t *data,
                      size_t len, size_t *consumed)
{
    return sp_parse_run(p, &p->offset, p->state == SP_MC_REQ_FAILED, sp_req_step,
                        data, len, consumed);
}
