/*
 * sp_parse.h — what every stream parser shares (Redis and Memcached,
 * requests and replies): the status it returns, the span it reports a
 * position with, and the one driver that feeds a chunk to a parser's
 * byte-step function.
 *
 * The parsers are resumable state machines over a connection's byte
 * stream: they are fed contiguous chunks in stream order and may stop
 * between any two bytes. Positions are absolute stream offsets (bytes since
 * the connection opened), so the caller maps them onto its buffer chain and
 * the parser never sees buffers. The core knows these types and nothing of
 * a protocol; the protocols (src/proto) build on them.
 */
#ifndef SP_PARSE_H
#define SP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum sp_parse_status {
    SP_PARSE_AGAIN,     /* consumed the whole chunk; feed more */
    SP_PARSE_DONE,      /* a whole message ends at *consumed bytes into chunk */
    SP_PARSE_ERROR      /* framing error: see the parser's error; close after
                           the reply */
} sp_parse_status_t;

/* A run of bytes in a stream: an argument, a key, a reply element. */
struct sp_span {
    uint64_t offset;    /* stream offset of its first byte */
    uint32_t len;
};

/*
 * A parser's step: take data[*pos] (stream offset `at`), advance *pos past
 * what it consumed (it may take more than one byte, as a bulk body), and
 * say whether a message ended there. Returns SP_PARSE_ERROR without
 * advancing when the byte is a framing error.
 */
typedef sp_parse_status_t (*sp_parse_step_fn)(void *parser,
                                              const uint8_t *data, size_t len,
                                              size_t *pos, uint64_t at);

/*
 * Feed the chunk data[0..len), which starts at stream offset *offset, to
 * `step` until a message ends, an error is found or the chunk is used up.
 * *offset follows the stream. On SP_PARSE_DONE *consumed is the number of
 * bytes of this chunk that belong to the finished message (feed the rest
 * again for the next one); on SP_PARSE_AGAIN it is len; on SP_PARSE_ERROR it
 * counts the bytes before the offending one. A parser that failed before
 * (`failed`) fails again at once, consuming nothing.
 *
 * Inline, so each parser's call with its own step function compiles to its
 * own loop with the step inlined: one driver in the source, no indirect
 * call per byte.
 */
static inline sp_parse_status_t
sp_parse_run(void *parser, uint64_t *offset, bool failed,
             sp_parse_step_fn step, const uint8_t *data, size_t len,
             size_t *consumed)
{
    uint64_t base = *offset;
    size_t pos = 0;

    if (failed) {
        *consumed = 0;
        return SP_PARSE_ERROR;
    }
    while (pos < len) {
        sp_parse_status_t status = step(parser, data, len, &pos, base + pos);

        if (status != SP_PARSE_AGAIN) {
            *offset = base + pos;
            *consumed = pos;
            return status;
        }
    }
    *offset = base + len;
    *consumed = len;
    return SP_PARSE_AGAIN;
}

#endif /* SP_PARSE_H */
