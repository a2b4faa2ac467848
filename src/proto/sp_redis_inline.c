/*
 * sp_redis_inline.c — inline requests split as Redis splits them (see
 * sp_redis.h): one lexer, fed a byte at a time, and the multibulk
 * re-encoding of a whole line built on it.
 *
 * The lexer is Redis's sdssplitargs() turned into a resumable byte machine.
 * Where sdssplitargs peeks ahead (a closing quote must be followed by a
 * blank or the end; "\xHH" needs two hex digits; a CR right before the LF
 * is not part of the line), the lexer keeps the byte it saw in its state and
 * decides on the next one, replaying what it held back:
 *
 *   SPACE -blank-> SPACE   -LF-> line ends   -'"'-> DQ   -'\''-> SQ
 *     +-other-> WORD -blank-> SPACE (word ends)  -'"'-> DQ  -'\''-> SQ
 *   DQ -'\\'-> DQ_ESC -x-> DQ_HEX1 -hex-> DQ_HEX2 -hex-> DQ (one byte)
 *      -'"'-> CLOSED -blank or LF-> word ends; anything else: unbalanced
 *      -CR-> DQ_CR -LF-> unbalanced (the quote never closed); else CR, DQ
 *   SQ -'\\'-> SQ_ESC -'\''-> a quote; else a backslash and the byte again
 *      -'\''-> CLOSED
 *
 * A NUL byte is an error anywhere: Redis looks for the end of an inline
 * line with strchr(), which stops at the NUL, so it would wait forever.
 */
#include "sp_redis.h"

#include <string.h>

enum sp_inline_state {
    SP_INLINE_SPACE,
    SP_INLINE_WORD,
    SP_INLINE_DQ,
    SP_INLINE_DQ_ESC,
    SP_INLINE_DQ_ESC_CR,
    SP_INLINE_DQ_HEX1,
    SP_INLINE_DQ_HEX2,
    SP_INLINE_DQ_CR,
    SP_INLINE_SQ,
    SP_INLINE_SQ_ESC,
    SP_INLINE_SQ_CR,
    SP_INLINE_CLOSED,
    SP_INLINE_FAILED
};

void
sp_redis_inline_init(struct sp_redis_inline *lx)
{
    lx->state = SP_INLINE_SPACE;
    lx->hex = 0;
}

/* isspace() in the C locale, less the LF that ends the line. */
static bool
sp_inline_blank(uint8_t ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

static int
sp_inline_hex(uint8_t ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

static unsigned
sp_inline_fail(struct sp_redis_inline *lx, unsigned why)
{
    lx->state = SP_INLINE_FAILED;
    lx->hex = (uint8_t)why;
    return why;
}

/* sdssplitargs's escapes in double quotes ("\x" is handled apart). */
static uint8_t
sp_inline_escape(uint8_t ch)
{
    switch (ch) {
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'b': return '\b';
    case 'a': return '\a';
    default:  return ch;
    }
}

unsigned
sp_redis_inline_byte(struct sp_redis_inline *lx, uint8_t ch,
                     uint8_t out[SP_REDIS_INLINE_OUT], uint32_t *nout)
{
    uint32_t n = 0;
    unsigned bits = 0;

    *nout = 0;
    if (lx->state == SP_INLINE_FAILED) {
        return lx->hex;
    }
    if (ch == '\0') {
        return sp_inline_fail(lx, SP_INLINE_BAD_NUL);
    }
    for (;;) {                      /* twice at most: a held byte replayed */
        switch (lx->state) {
        case SP_INLINE_SPACE:
            if (ch == '\n') {
                bits |= SP_INLINE_LINE_END;
                break;
            }
            if (sp_inline_blank(ch)) {
                break;
            }
            bits |= SP_INLINE_WORD_BEGIN;
            if (ch == '"') {
                lx->state = SP_INLINE_DQ;
            } else if (ch == '\'') {
                lx->state = SP_INLINE_SQ;
            } else {
                out[n++] = ch;
                lx->state = SP_INLINE_WORD;
            }
            break;

        case SP_INLINE_WORD:
            if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
                bits |= SP_INLINE_WORD_END;
                bits |= ch == '\n' ? SP_INLINE_LINE_END : 0;
                lx->state = SP_INLINE_SPACE;
            } else if (ch == '"') {
                lx->state = SP_INLINE_DQ;       /* a"b c" is one word: ab c */
            } else if (ch == '\'') {
                lx->state = SP_INLINE_SQ;
            } else {
                out[n++] = ch;                  /* \v \f too, inside a word */
            }
            break;

        case SP_INLINE_DQ:
        case SP_INLINE_SQ: {
            bool dq = lx->state == SP_INLINE_DQ;

            if (ch == '\n') {
                return sp_inline_fail(lx, SP_INLINE_BAD_QUOTES);
            }
            if (ch == '\\') {
                lx->state = dq ? SP_INLINE_DQ_ESC : SP_INLINE_SQ_ESC;
            } else if (ch == (dq ? '"' : '\'')) {
                lx->state = SP_INLINE_CLOSED;
            } else if (ch == '\r') {
                lx->state = dq ? SP_INLINE_DQ_CR : SP_INLINE_SQ_CR;
            } else {
                out[n++] = ch;
            }
            break;
        }

        case SP_INLINE_DQ_CR:
        case SP_INLINE_SQ_CR:
        case SP_INLINE_DQ_ESC_CR:
            /* a CR inside quotes is a byte of the word, unless it is the
             * CR of the line's CRLF: then the quote never closed */
            if (ch == '\n') {
                return sp_inline_fail(lx, SP_INLINE_BAD_QUOTES);
            }
            out[n++] = '\r';
            lx->state = lx->state == SP_INLINE_SQ_CR ? SP_INLINE_SQ
                                                     : SP_INLINE_DQ;
            continue;                           /* and ch again */

        case SP_INLINE_DQ_ESC:
            if (ch == '\n') {                   /* a backslash ends the line */
                return sp_inline_fail(lx, SP_INLINE_BAD_QUOTES);
            }
            if (ch == 'x') {
                lx->state = SP_INLINE_DQ_HEX1;
            } else if (ch == '\r') {
                lx->state = SP_INLINE_DQ_ESC_CR;
            } else {
                out[n++] = sp_inline_escape(ch);
                lx->state = SP_INLINE_DQ;
            }
            break;

        case SP_INLINE_DQ_HEX1:
            if (sp_inline_hex(ch) >= 0) {
                lx->hex = ch;
                lx->state = SP_INLINE_DQ_HEX2;
                break;
            }
            out[n++] = 'x';                     /* "\x" alone is an x */
            lx->state = SP_INLINE_DQ;
            continue;

        case SP_INLINE_DQ_HEX2:
            lx->state = SP_INLINE_DQ;
            if (sp_inline_hex(ch) >= 0) {
                out[n++] = (uint8_t)(sp_inline_hex(lx->hex) * 16
                                     + sp_inline_hex(ch));
                break;
            }
            out[n++] = 'x';
            out[n++] = lx->hex;
            continue;

        case SP_INLINE_SQ_ESC:
            lx->state = SP_INLINE_SQ;
            if (ch == '\'') {
                out[n++] = '\'';
                break;
            }
            out[n++] = '\\';
            continue;

        case SP_INLINE_CLOSED:
            if (ch != '\n' && !sp_inline_blank(ch)) {
                return sp_inline_fail(lx, SP_INLINE_BAD_QUOTES);
            }
            bits |= SP_INLINE_WORD_END;
            bits |= ch == '\n' ? SP_INLINE_LINE_END : 0;
            lx->state = SP_INLINE_SPACE;
            break;

        default:
            return sp_inline_fail(lx, SP_INLINE_BAD_QUOTES);
        }
        break;
    }
    *nout = n;
    return bits;
}

/* ---- the multibulk form of a line ---------------------------------------- */

size_t
sp_redis_inline_size(const uint8_t *line, size_t len, uint32_t *nargs)
{
    struct sp_redis_inline lx;
    uint8_t out[SP_REDIS_INLINE_OUT];
    uint64_t word = 0, size = 0;
    uint32_t n, count = 0;

    sp_redis_inline_init(&lx);
    for (size_t i = 0; i < len; i++) {
        unsigned bits = sp_redis_inline_byte(&lx, line[i], out, &n);

        if (bits & (SP_INLINE_BAD_QUOTES | SP_INLINE_BAD_NUL)) {
            return 0;
        }
        if (bits & SP_INLINE_WORD_BEGIN) {
            word = 0;
        }
        word += n;
        if (bits & SP_INLINE_WORD_END) {
            size += 1 + sp_decimal_digits(word) + 2 + word + 2;
            count++;
        }
        if (bits & SP_INLINE_LINE_END) {
            if (i + 1 != len || count == 0) {
                return 0;               /* not one line with a word */
            }
            *nargs = count;
            return (size_t)(size + 1 + sp_decimal_digits(count) + 2);
        }
    }
    return 0;                           /* no LF */
}

size_t
sp_redis_inline_encode(const uint8_t *line, size_t len, uint8_t *out)
{
    struct sp_redis_inline lx;
    uint32_t nargs, n;
    size_t size = sp_redis_inline_size(line, len, &nargs);
    size_t at, word = 0;

    if (size == 0) {
        return 0;
    }
    at = sp_resp_head(out, '*', nargs);
    sp_redis_inline_init(&lx);
    for (size_t i = 0; i < len; i++) {
        /* a word's bytes go SP_REDIS_INLINE_SLACK ahead of its header, and
         * move back once its length (so its header's) is known */
        uint8_t *to = out + at + SP_REDIS_INLINE_SLACK;
        unsigned bits = sp_redis_inline_byte(&lx, line[i], to + word, &n);

        word += n;
        if (bits & SP_INLINE_WORD_END) {
            size_t head = sp_resp_head(out + at, '$', word);

            memmove(out + at + head, to, word);
            at += head + word;
            out[at++] = '\r';
            out[at++] = '\n';
            word = 0;
        }
    }
    return at;
}
