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

static const struct {
    const char *word;
    int         type;
} sp_mc_reply_words[] = {
    { "VALUE", SP_MC_LINE_VALUE },
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
        if (strlen(word) == p->token_len
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
        sp_reply_line_begin(p, at);
        return sp_reply_line(p, data, len, pos, at);

    case SP_MC_REPLY_NEXT_LINE:
        sp_reply_line_begin(p, at);
        return sp_reply_line(p, data, len, pos, at);

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
