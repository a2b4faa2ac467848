/*
 * sp_test_parse.h — feeding a protocol parser (Redis or Memcached, request
 * or reply) a sample every way a connection could deliver it: whole, split
 * in two at every byte position or at a few, and in fixed-size chunks; each
 * way must give the same results as the whole sample. test_redis.c and
 * test_memcache.c say only what a parser is and what it must record.
 */
#ifndef SP_TEST_PARSE_H
#define SP_TEST_PARSE_H

#include <stdbool.h>

#include "sp_parse.h"
#include "sp_test.h"

/* The chunk sizes every sample is also fed in (1: a byte at a time). */
extern const size_t sp_test_steps[6];

/* ---- a run: what one feeding of a sample gave --------------------------- */

#define SP_TEST_RUN_FIELDS                                                  \
    size_t   n;                 /* messages recorded */                     \
    sp_parse_status_t status;   /* ERROR, or AGAIN: no error */             \
    char     error[128];        /* the error text, on ERROR */              \
    uint64_t offset;            /* where the parser stopped */              \
    struct sp_test_copy *copies /* what sp_test_copy made for it */

struct sp_test_copy;

struct sp_test_run {
    SP_TEST_RUN_FIELDS;
};

/*
 * The first member of a test's run record (its fields then read as
 * run.status, ...), followed by the messages it recorded.
 */
#define SP_TEST_RUN_HEAD                                                    \
    union {                                                                 \
        struct sp_test_run head;                                            \
        struct {                                                            \
            SP_TEST_RUN_FIELDS;                                             \
        };                                                                  \
    }

/*
 * A copy, owned by `run`, of the n elements of `size` bytes at `src` (the
 * keys or items the parser gave one message), with room for one more.
 */
void *sp_test_copy(void *run, const void *src, size_t n, size_t size);

/* Frees what a run holds. */
void sp_test_run_free(void *run);

/* ---- feeding one sample ------------------------------------------------- */

typedef sp_parse_status_t (*sp_test_step_fn)(void *parser,
                                             const uint8_t *data, size_t len,
                                             size_t *used);

/* Defines `name`, parser step `fn` of `type` as sp_test_feed calls it. */
#define SP_TEST_STEP(name, type, fn)                                        \
    static sp_parse_status_t                                                \
    name(void *parser, const uint8_t *data, size_t len, size_t *used)       \
    {                                                                       \
        return fn((type *)parser, data, len, used);                         \
    }

struct sp_test_feed {
    sp_test_step_fn step;
    void           *parser;     /* fresh, at stream offset `base` */
    const uint64_t *offset;     /* the parser's stream offset */
    const char *const *error;   /* its error text */
    uint64_t        base;
    const void     *cfg;        /* the test's settings, for done() */
    /* records in `run` the message a DONE ended at stream offset `end` */
    void          (*done)(const struct sp_test_feed *f, void *run,
                          uint64_t end);
};

/*
 * Feeds data[0..len) to f->parser in chunks: two, split at `split`, when
 * split > 0; otherwise of `step` bytes. Each DONE's rest of chunk is fed
 * again, as a caller does. Checks as it goes that a call uses no more than
 * its chunk and the offset follows, that an ERROR has a text and stays,
 * that AGAIN used the whole chunk and DONE used something; fills the head
 * of `run` (zeroing the rest first).
 */
void sp_test_feed(const struct sp_test_feed *f, const uint8_t *data,
                  size_t len, size_t split, size_t step, void *run,
                  size_t run_size);

/* ---- feeding it every way ----------------------------------------------- */

/* Within a comparison of runs fed split at `split` or in `step` chunks. */
#define SP_SAME(cond) \
    SP_CHECK_MSG(cond, "split %zu step %zu: %s", split, step, #cond)

/* A test's parser as sp_test_every_way runs it. */
struct sp_test_way {
    size_t size;                /* of a run record */
    size_t out_offset;          /* of its array of messages */
    size_t out_size;            /* of one message */
    /* feeds a sample, as sp_test_feed, with the test's settings `cfg` */
    void (*run)(const void *cfg, const uint8_t *data, size_t len,
                size_t split, size_t step, void *run);
    /* checks that two runs recorded the same message (SP_SAME) */
    void (*same)(const void *a, const void *b, size_t split, size_t step);
};

/* The way of a run record `run_type` whose messages are its `out` array. */
#define SP_TEST_WAY(run_type, run, same)                                    \
    { sizeof(run_type), offsetof(run_type, out),                            \
      sizeof(((run_type *)NULL)->out[0]), (run), (same) }

/*
 * Parses a sample whole into *whole, then every other way, all of which
 * must agree with it; every_split: at every byte position, else a few.
 */
void sp_test_every_way(const struct sp_test_way *way, const void *cfg,
                       const struct tbuf *b, bool every_split, void *whole);

/*
 * A sample data[0..len) that, fed every way, must fail with `error` at
 * buffer offset `at`.
 */
void sp_test_expect_error(const struct sp_test_way *way, const void *cfg,
                          const char *sample, size_t len, const char *error,
                          uint64_t at);

#endif /* SP_TEST_PARSE_H */
