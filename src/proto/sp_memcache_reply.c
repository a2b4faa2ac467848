/*
 * sp_memcache_reply.c — the resumable memcached reply parser (see
 * sp_memcache.h).
 *
 * It frames one reply at a time, fed chunk by chunk, knowing the command it
 * answers (sp_memcache_reply_expect). A reply is one line, or for a get one
 * VALUE item (line and data block) after another and then END, or for a
 * meta VA a line and a data block. Of each line the parser reads the first
 * word and, for VALUE and VA lines, the tokens that say how long the data
 * block is; data blocks are stepped over.
 *
 *   START --> LINE --CRLF--+-- VALUE: DATA -> DATA_CR -> DATA_LF --+
 *              ^           |                                       |
 *              |           +-- VA: DATA ... DATA_LF: DONE           |
 *              |           +-- any other: DONE                      |
 *              +------- NEXT_LINE (the get reply goes on) <---------+
 *
 * Lines are split into tokens at spaces only, as memcached writes them; a
 * CR inside a line (not before its LF) belongs to a token, as a key or an
 * opaque holding one comes back in the reply.
 *
 * Two ways through a line, with the same results: a line whose CRLF is in
 * the chunk at hand and that is a sound reply line is read in one go
 * (sp_reply_fast: tokens found by scanning for spaces, and for a VALUE
 * item its data block and CRLF stepped over too when they are there,
 * item after item); any other line (cut by the chunk's end, malformed, not
 * allowed for the command) goes byte run by byte run through the state
 * machine, which says what is wrong with it. The unit tests feed every
 * sample whole and cut at every byte, and compare.
 */
#include "sp_memcache.h"

#include <string.h>

enum sp_memcache_reply_state {
    SP_MC_REPLY_START,      /* a reply begins with the next byte */
    SP_MC_REPLY_NEXT_LINE,  /* another line of the same reply begins */
    SP_MC_REPLY_LINE,
    SP_MC_REPLY_DATA,
    SP_MC_REPLY_DATA_CR,
    SP_MC_REPLY_DATA_LF,
    SP_MC_REPLY_FAILED
};

/* A VALUE line, which is no reply type of its own (p->line). */
#define SP_MC_LINE_VALUE    (-1)
#define SP_MC_LINE_UNKNOWN  (-2)

#define SP_MC_ERR_UNEXPECTED "unexpected reply"
#define SP_MC_ERR_LINE       "reply line too long"
#define SP_MC_ERR_CRLF       "expected CRLF"
#define SP_MC_ERR_VALUE      "invalid VALUE line"
#define SP_MC_ERR_VA         "invalid VA line"
#define SP_MC_ERR_DATA       "expected CRLF after data block"

#define SP_MC_WORD(w) w, sizeof(w) - 1

static const struct {
    const char *word;
    uint8_t     len;
    int         type;
} sp_mc_reply_words[] = {
    { SP_MC_WORD("VALUE"), SP_MC_LINE_VALUE },
    { SP_MC_WORD("END"), SP_MEMCACHE_REPLY_END },
    { SP_MC_WORD("ERROR"), SP_MEMCACHE_REPLY_ERROR },
    { SP_MC_WORD("CLIENT_ERROR"), SP_MEMCACHE_REPLY_CLIENT_ERROR },
    { SP_MC_WORD("SERVER_ERROR"), SP_MEMCACHE_REPLY_SERVER_ERROR },
    { SP_MC_WORD("STORED"), SP_MEMCACHE_REPLY_STORED },
    { SP_MC_WORD("NOT_STORED"), SP_MEMCACHE_REPLY_NOT_STORED },
    { SP_MC_WORD("EXISTS"), SP_MEMCACHE_REPLY_EXISTS },
    { SP_MC_WORD("NOT_FOUND"), SP_MEMCACHE_REPLY_NOT_FOUND },
    { SP_MC_WORD("DELETED"), SP_MEMCACHE_REPLY_DELETED },
    { SP_MC_WORD("TOUCHED"), SP_MEMCACHE_REPLY_TOUCHED },
    { SP_MC_WORD("VERSION"), SP_MEMCACHE_REPLY_VERSION },
    { SP_MC_WORD("OK"), SP_MEMCACHE_REPLY_OK },
    { SP_MC_WORD("HD"), SP_MEMCACHE_REPLY_HD },
    { SP_MC_WORD("NS"), SP_MEMCACHE_REPLY_NS },
    { SP_MC_WORD("EX"), SP_MEMCACHE_REPLY_EX },
    { SP_MC_WORD("NF"), SP_MEMCACHE_REPLY_NF },
    { SP_MC_WORD("EN"), SP_MEMCACHE_REPLY_EN },
    { SP_MC_WORD("MN"), SP_MEMCACHE_REPLY_MN },
    { SP_MC_WORD("VA"), SP_MEMCACHE_REPLY_VA },
    { SP_MC_WORD("ME"), SP_MEMCACHE_REPLY_ME },
};

#define SP_MC_WORD_MAX  (sizeof(((struct sp_memcache_reply_parser *)0)->word) - 1)

void
sp_memcache_reply_init(struct sp_memcache_reply_parser *p, uint64_t offset,
                       struct sp_memcache_item *items, uint32_t items_cap)
{
    memset(p, 0, sizeof(*p));
    p->offset = offset;
    p->start = p->end = offset;
    p->items = items;
    p->items_cap = items_cap;
    p->state = SP_MC_REPLY_START;
}

void
sp_memcache_reply_expect(struct sp_memcache_reply_parser *p,
                         const struct sp_memcache_command *command)
{
    p->command = command;
}

static sp_parse_status_t
sp_reply_fail(struct sp_memcache_reply_parser *p, const char *error)
{
    p->state = SP_MC_REPLY_FAILED;
    p->error = error;
    return SP_PARSE_ERROR;
}

/* A line begins at stream offset `at`. */
static void
sp_reply_line_begin(struct sp_memcache_reply_parser *p, uint64_t at)
{
    p->line = SP_MC_LINE_UNKNOWN;
    p->line_start = at;
    p->ntokens = 0;
    p->in_token = false;
    p->cr_pending = false;
    p->line_bad = false;
    p->word[0] = '\0';
    p->state = SP_MC_REPLY_LINE;
}

/* Whether the command being answered can get a line of type `line`. */
static bool
sp_reply_allowed(const struct sp_memcache_reply_parser *p, int line)
{
    const struct sp_memcache_command *cmd = p->command;

    if (line == SP_MEMCACHE_REPLY_ERROR
        || line == SP_MEMCACHE_REPLY_CLIENT_ERROR
        || line == SP_MEMCACHE_REPLY_SERVER_ERROR) {
        return true;
    }
    if (cmd == NULL || line == SP_MC_LINE_UNKNOWN) {
        return false;
    }
    if (line == SP_MC_LINE_VALUE) {
        line = SP_MEMCACHE_REPLY_END;       /* VALUE items come before END */
    }
    return (cmd->replies & SP_MEMCACHE_REPLY_BIT(line)) != 0;
}

/* The first word has ended: what the line is. */
static int
sp_reply_classify(const struct sp_memcache_reply_parser *p)
{
    if (p->digits > 0 && !p->num_bad) {
        return SP_MEMCACHE_REPLY_NUMBER;
    }
    if (p->token_len > SP_MC_WORD_MAX) {
        return SP_MC_LINE_UNKNOWN;
    }
    for (size_t i = 0; i < sizeof(sp_mc_reply_words)
                           / sizeof(sp_mc_reply_words[0]); i++) {
        /* by length: a NUL inside the word must not end it early */
        const char *word = sp_mc_reply_words[i].word;
        if (sp_mc_reply_words[i].len == p->token_len
            && memcmp(p->word, word, p->token_len) == 0) {
            return sp_mc_reply_words[i].type;
        }
    }
    return SP_MC_LINE_UNKNOWN;
}

/* Bytes s[0..n) of a token, the first at stream offset `at`. */
static void
sp_reply_token_bytes(struct sp_memcache_reply_parser *p, const uint8_t *s,
                     size_t n, uint64_t at)
{
    if (!p->in_token) {
        p->in_token = true;
        p->token_start = at;
        if (p->ntokens == 0) {
            p->word_start = at;     /* an item starts at its VALUE */
        }
        p->token_len = 0;
        p->num = 0;
        p->digits = 0;
        p->num_bad = false;
    }
    for (size_t i = 0; p->ntokens == 0 && i < n; i++) {
        size_t k = p->token_len + i;

        if (k < SP_MC_WORD_MAX) {
            p->word[k] = (char)s[i];
            p->word[k + 1] = '\0';
        }
    }
    /* numbers: the first word (incr's reply), VALUE and VA tokens */
    for (size_t i = 0; i < n && !p->num_bad; i++) {
        uint64_t d = (uint64_t)(s[i] - '0');

        if (s[i] < '0' || s[i] > '9' || p->num > (UINT64_MAX - d) / 10) {
            p->num_bad = true;
        } else {
            p->num = p->num * 10 + d;
            p->digits++;
        }
    }
    p->token_len += (uint32_t)n;
}

static bool
sp_reply_number_ok(const struct sp_memcache_reply_parser *p, uint64_t limit)
{
    return p->digits > 0 && !p->num_bad && p->num <= limit;
}

/* The token being read has ended; ERROR if the line cannot be this reply. */
static sp_parse_status_t
sp_reply_token_end(struct sp_memcache_reply_parser *p)
{
    uint32_t i = p->ntokens++;

    p->in_token = false;
    if (i == 0) {
        p->line = sp_reply_classify(p);
        if (p->line == SP_MEMCACHE_REPLY_NUMBER) {
            p->number = p->num;
        }
        return sp_reply_allowed(p, p->line) ? SP_PARSE_AGAIN
                                            : sp_reply_fail(p,
                                                  SP_MC_ERR_UNEXPECTED);
    }
    if (p->line == SP_MC_LINE_VALUE) {
        /* VALUE <key> <flags> <bytes> [<cas unique>] */
        if (i == 1) {
            p->key_offset = p->token_start;
            p->key_len = p->token_len;
        } else if (i == 2) {
            p->line_bad |= !sp_reply_number_ok(p, UINT32_MAX);
        } else if (i == 3) {
            p->line_bad |= !sp_reply_number_ok(p, SP_MEMCACHE_VALUE_LIMIT);
            p->data_left = p->num;
        } else if (i == 4) {
            p->line_bad |= !sp_reply_number_ok(p, UINT64_MAX);
        } else {
            p->line_bad = true;
        }
    } else if (p->line == SP_MEMCACHE_REPLY_VA && i == 1) {
        /* VA <size> <flags>* */
        p->line_bad |= !sp_reply_number_ok(p, SP_MEMCACHE_VALUE_LIMIT);
        p->data_left = p->num;
    }
    return SP_PARSE_AGAIN;
}

static sp_parse_status_t
sp_reply_done(struct sp_memcache_reply_parser *p, int type, uint64_t last)
{
    p->type = (sp_memcache_reply_type_t)type;
    p->end = last + 1;
    p->state = SP_MC_REPLY_START;
    return SP_PARSE_DONE;
}

/* The line ended with the LF at stream offset `at`. */
static sp_parse_status_t
sp_reply_line_end(struct sp_memcache_reply_parser *p, uint64_t at)
{
    if (p->line == SP_MC_LINE_VALUE) {
        if (p->ntokens < 4 || p->line_bad) {
            return sp_reply_fail(p, SP_MC_ERR_VALUE);
        }
    } else if (p->line == SP_MEMCACHE_REPLY_VA) {
        if (p->ntokens < 2 || p->line_bad) {
            return sp_reply_fail(p, SP_MC_ERR_VA);
        }
        p->number = p->data_left;
    } else {
        return sp_reply_done(p, p->line, at);
    }
    p->state = p->data_left > 0 ? SP_MC_REPLY_DATA : SP_MC_REPLY_DATA_CR;
    return SP_PARSE_AGAIN;
}

/* A data block's CRLF ended with the LF at stream offset `at`. */
static sp_parse_status_t
sp_reply_data_end(struct sp_memcache_reply_parser *p, uint64_t at)
{
    if (p->line == SP_MEMCACHE_REPLY_VA) {
        return sp_reply_done(p, SP_MEMCACHE_REPLY_VA, at);
    }
    if (p->nitems < p->items_cap) {
        struct sp_memcache_item *item = &p->items[p->nitems++];

        item->offset = p->word_start;
        item->len = (uint32_t)(at + 1 - p->word_start);
        item->key_offset = p->key_offset;
        item->key_len = p->key_len;
    } else {
        p->items_truncated = true;
    }
    p->state = SP_MC_REPLY_NEXT_LINE;
    return SP_PARSE_AGAIN;
}

/* The line ended with the LF at stream offset `at` (its CR before it). */
static sp_parse_status_t
sp_reply_lf(struct sp_memcache_reply_parser *p, uint64_t at)
{
    sp_parse_status_t status = SP_PARSE_AGAIN;

    p->cr_pending = false;
    if (p->in_token) {
        status = sp_reply_token_end(p);
    } else if (p->ntokens == 0) {
        status = sp_reply_fail(p, SP_MC_ERR_UNEXPECTED);    /* blank */
    }
    return status == SP_PARSE_AGAIN ? sp_reply_line_end(p, at) : status;
}

/*
 * One step of a line at data[*pos] (stream offset `at`): a delimiter, or a
 * run of token bytes. Advances *pos past what it used, except when it fails.
 *
 * A line ends at CRLF. A CR not followed by LF is a byte of its token, as
 * memcached writes it back: a key or an opaque that holds a CR is echoed
 * as it came ("mg a\rb k O\r1" gets "EN ka\rb O\r1"), so the CR is held
 * back (cr_pending) until the next byte says which it is. A LF with no CR
 * before it is a framing error: memcached never sends one (a request line
 * ends at its first LF, so no token it echoes holds one).
 */
static sp_parse_status_t
sp_reply_line(struct sp_memcache_reply_parser *p, const uint8_t *data,
              size_t len, size_t *pos, uint64_t at)
{
    uint8_t ch = data[*pos];
    sp_parse_status_t status = SP_PARSE_AGAIN;
    uint64_t room;
    size_t n;

    if (ch == '\n') {
        if (!p->cr_pending) {
            return sp_reply_fail(p, SP_MC_ERR_CRLF);
        }
        status = sp_reply_lf(p, at);
        if (status != SP_PARSE_ERROR) {
            (*pos)++;
        }
        return status;
    }
    if (at - p->line_start >= SP_MEMCACHE_MAX_LINE) {
        return sp_reply_fail(p, SP_MC_ERR_LINE);
    }
    if (p->cr_pending) {
        /* the CR before this byte does not end the line: it is a token's */
        p->cr_pending = false;
        sp_reply_token_bytes(p, (const uint8_t *)"\r", 1, at - 1);
    }
    if (ch == '\r') {
        p->cr_pending = true;
        (*pos)++;
        return SP_PARSE_AGAIN;
    }
    if (ch == ' ') {
        if (p->in_token) {
            status = sp_reply_token_end(p);
        }
        if (status == SP_PARSE_AGAIN) {
            (*pos)++;
        }
        return status;
    }
    room = SP_MEMCACHE_MAX_LINE - (at - p->line_start);
    n = 1;
    while (n < len - *pos && n < room && data[*pos + n] != ' '
           && data[*pos + n] != '\r' && data[*pos + n] != '\n') {
        n++;
    }
    sp_reply_token_bytes(p, data + *pos, n, at);
    *pos += n;
    return SP_PARSE_AGAIN;
}

/* ---- whole lines in one go ---------------------------------------------- */

#define SP_MC_FAST_TOKENS   6   /* VALUE <key> <flags> <bytes> [<cas>]: 5,
                                   and one more says "too many" */

/* s[0..n) as a number: digits only, within `limit`. */
static bool
sp_reply_fast_number(const uint8_t *s, uint32_t n, uint64_t limit,
                     uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0) {
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint64_t d = (uint64_t)(s[i] - '0');

        if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *out = v;
    return v <= limit;
}

/* What a first word s[0..n) is, as sp_reply_classify reads it. */
static int
sp_reply_fast_classify(const uint8_t *s, uint32_t n, uint64_t *number)
{
    if (s[0] >= '0' && s[0] <= '9') {
        return sp_reply_fast_number(s, n, UINT64_MAX, number)
               ? SP_MEMCACHE_REPLY_NUMBER : SP_MC_LINE_UNKNOWN;
    }
    if (n == 5 && memcmp(s, "VALUE", 5) == 0) {
        return SP_MC_LINE_VALUE;            /* most lines: compared inline */
    }
    for (size_t i = 0; i < sizeof(sp_mc_reply_words)
                           / sizeof(sp_mc_reply_words[0]); i++) {
        const char *word = sp_mc_reply_words[i].word;

        if (sp_mc_reply_words[i].len == n && word[0] == (char)s[0]
            && memcmp(s, word, n) == 0) {
            return sp_mc_reply_words[i].type;
        }
    }
    return SP_MC_LINE_UNKNOWN;
}

/*
 * The line starting at data[*pos] (stream offset `at`, line begun), read
 * whole when its CRLF is in the chunk and it is a sound line the command
 * can get: the state is then as the byte steps leave it after its LF,
 * *status what they return, and *pos past the LF. Returns false, having
 * changed nothing, for any other line (the byte steps take it).
 */
static bool
sp_reply_fast_line(struct sp_memcache_reply_parser *p, const uint8_t *data,
                   size_t len, size_t *pos, uint64_t at,
                   sp_parse_status_t *status)
{
    const uint8_t *s = data + *pos;
    size_t avail = len - *pos;
    const uint8_t *lf = memchr(s, '\n', avail < SP_MEMCACHE_MAX_LINE + 1
                                        ? avail : SP_MEMCACHE_MAX_LINE + 1);
    uint32_t tok_at[SP_MC_FAST_TOKENS], tok_len[SP_MC_FAST_TOKENS];
    uint32_t ntok = 0, n, i = 0;
    uint64_t number = 0, v;
    int line;

    if (lf == NULL || lf == s || lf[-1] != '\r') {
        return false;
    }
    n = (uint32_t)(lf - 1 - s);             /* the line before its CR */
    while (i < n) {
        uint32_t from = i;

        if (s[i] == ' ') {
            i++;
            continue;
        }
        do {
            i++;
        } while (i < n && s[i] != ' ');
        if (ntok < SP_MC_FAST_TOKENS) {
            tok_at[ntok] = from;
            tok_len[ntok] = i - from;
        }
        ntok++;
    }
    if (ntok == 0) {
        return false;
    }
    line = sp_reply_fast_classify(s + tok_at[0], tok_len[0], &number);
    if (!sp_reply_allowed(p, line)) {
        return false;
    }
    if (line == SP_MC_LINE_VALUE) {
        if (ntok < 4 || ntok > 5
            || !sp_reply_fast_number(s + tok_at[2], tok_len[2], UINT32_MAX, &v)
            || !sp_reply_fast_number(s + tok_at[3], tok_len[3],
                                     SP_MEMCACHE_VALUE_LIMIT, &number)
            || (ntok == 5 && !sp_reply_fast_number(s + tok_at[4], tok_len[4],
                                                   UINT64_MAX, &v))) {
            return false;
        }
        p->key_offset = at + tok_at[1];
        p->key_len = tok_len[1];
        p->data_left = number;
    } else if (line == SP_MEMCACHE_REPLY_VA) {
        if (ntok < 2 || !sp_reply_fast_number(s + tok_at[1], tok_len[1],
                                               SP_MEMCACHE_VALUE_LIMIT,
                                               &number)) {
            return false;
        }
        p->data_left = number;
    } else if (line == SP_MEMCACHE_REPLY_NUMBER) {
        p->number = number;
    }
    p->line = line;
    p->word_start = at + tok_at[0];
    p->ntokens = ntok;
    *pos += (size_t)(lf - s) + 1;
    *status = sp_reply_line_end(p, at + (uint64_t)(lf - s));
    return true;
}

/*
 * Lines from data[*pos] (stream offset `at`) at a line's start, each read
 * whole while it can be (sp_reply_fast_line), a VALUE item's data block
 * and CRLF with it when they are in the chunk; the first line that cannot
 * be, or a data block that is not all there, is left to the byte steps.
 */
static sp_parse_status_t
sp_reply_lines(struct sp_memcache_reply_parser *p, const uint8_t *data,
               size_t len, size_t *pos, uint64_t at)
{
    uint64_t base = at - *pos;      /* stream offset of data[0] */

    for (;;) {
        sp_parse_status_t status;

        sp_reply_line_begin(p, base + *pos);
        if (!sp_reply_fast_line(p, data, len, pos, base + *pos, &status)) {
            return sp_reply_line(p, data, len, pos, base + *pos);
        }
        if (status != SP_PARSE_AGAIN || p->line != SP_MC_LINE_VALUE) {
            return status;          /* done (END, ...), or a VA's data */
        }
        if (len - *pos < p->data_left + 2
            || data[*pos + p->data_left] != '\r'
            || data[*pos + p->data_left + 1] != '\n') {
            return SP_PARSE_AGAIN;  /* the byte steps read the data */
        }
        *pos += (size_t)p->data_left + 2;
        p->data_left = 0;
        status = sp_reply_data_end(p, base + *pos - 1);
        if (*pos == len) {
            return status;
        }
    }
}

/*
 * One step at data[*pos] (stream offset `at`). Advances *pos past what it
 * used, except when it fails.
 */
static sp_parse_status_t
sp_reply_step(void *parser, const uint8_t *data, size_t len, size_t *pos,
              uint64_t at)
{
    struct sp_memcache_reply_parser *p = parser;
    uint8_t ch = data[*pos];

    switch (p->state) {
    case SP_MC_REPLY_START:
        p->type = SP_MEMCACHE_REPLY_NONE;
        p->start = p->end = at;
        p->number = 0;
        p->nitems = 0;
        p->items_truncated = false;
        p->error = NULL;
        return sp_reply_lines(p, data, len, pos, at);

    case SP_MC_REPLY_NEXT_LINE:
        return sp_reply_lines(p, data, len, pos, at);

    case SP_MC_REPLY_LINE:
        return sp_reply_line(p, data, len, pos, at);

    case SP_MC_REPLY_DATA: {
        size_t n = len - *pos;

        if ((uint64_t)n > p->data_left) {
            n = (size_t)p->data_left;
        }
        p->data_left -= n;
        if (p->data_left == 0) {
            p->state = SP_MC_REPLY_DATA_CR;
        }
        *pos += n;
        return SP_PARSE_AGAIN;
    }

    case SP_MC_REPLY_DATA_CR:
        if (ch != '\r') {
            return sp_reply_fail(p, SP_MC_ERR_DATA);
        }
        p->state = SP_MC_REPLY_DATA_LF;
        (*pos)++;
        return SP_PARSE_AGAIN;

    case SP_MC_REPLY_DATA_LF:
        if (ch != '\n') {
            return sp_reply_fail(p, SP_MC_ERR_DATA);
        }
        (*pos)++;
        return sp_reply_data_end(p, at);

    default:
        return SP_PARSE_ERROR;
    }
}

sp_parse_status_t
sp_memcache_reply_parse(struct sp_memcache_reply_parser *p,
                        const uint8_t *data, size_t len, size_t *consumed)
{
    return sp_parse_run(p, &p->offset, p->state == SP_MC_REPLY_FAILED, sp_reply_step,
                        data, len, consumed);
}
