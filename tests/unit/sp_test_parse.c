/*
 * sp_test_parse.c — feeding a protocol parser a sample every way
 * (sp_test_parse.h), for the Redis and Memcached parser tests.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_test_parse.h"

const size_t sp_test_steps[6] = { 1, 2, 3, 7, 64, 4096 };

struct sp_test_copy {
    struct sp_test_copy *next;
    max_align_t data[];
};

void *
sp_test_copy(void *run, const void *src, size_t n, size_t size)
{
    struct sp_test_run *r = run;
    struct sp_test_copy *c = calloc(1, sizeof(*c) + (n + 1) * size);

    CHECK(c != NULL);
    memcpy(c->data, src, n * size);
    c->next = r->copies;
    r->copies = c;
    return c->data;
}

void
sp_test_run_free(void *run)
{
    struct sp_test_run *r = run;

    while (r->copies != NULL) {
        struct sp_test_copy *c = r->copies;

        r->copies = c->next;
        free(c);
    }
}

void
sp_test_feed(const struct sp_test_feed *f, const uint8_t *data, size_t len,
             size_t split, size_t step, void *run, size_t run_size)
{
    struct sp_test_run *r = run;
    size_t at = 0;

    memset(run, 0, run_size);
    r->status = SP_PARSE_AGAIN;
    while (at < len && r->status != SP_PARSE_ERROR) {
        size_t end = split > 0 ? (at < split ? split : len)
                               : (len - at > step ? at + step : len);

        while (at < end) {
            size_t used = SIZE_MAX;

            r->status = f->step(f->parser, data + at, end - at, &used);
            CHECK(used <= end - at);
            at += used;
            CHECK(*f->offset == f->base + at);
            if (r->status == SP_PARSE_ERROR) {
                CHECK(*f->error != NULL);
                snprintf(r->error, sizeof(r->error), "%s", *f->error);
                /* the error stays */
                CHECK(f->step(f->parser, data + at, end - at, &used)
                      == SP_PARSE_ERROR);
                CHECK(used == 0);
                break;
            }
            if (r->status == SP_PARSE_AGAIN) {
                CHECK(at == end);
                break;
            }
            CHECK(used > 0);
            f->done(f, run, f->base + at);
        }
    }
    if (r->status == SP_PARSE_DONE) {
        r->status = SP_PARSE_AGAIN;         /* nothing pending either way */
    }
    r->offset = *f->offset;
}

static void
same(const struct sp_test_way *way, const void *a, const void *b,
     size_t split, size_t step)
{
    const struct sp_test_run *x = a, *y = b;
    const char *xo = (const char *)a + way->out_offset;
    const char *yo = (const char *)b + way->out_offset;

    SP_SAME(x->n == y->n);
    SP_SAME(x->status == y->status);
    SP_SAME(strcmp(x->error, y->error) == 0);
    SP_SAME(x->offset == y->offset);
    for (size_t i = 0; i < x->n; i++) {
        way->same(xo + i * way->out_size, yo + i * way->out_size, split,
                  step);
    }
}

static void
other_way(const struct sp_test_way *way, const void *cfg,
          const struct tbuf *b, size_t split, size_t step, const void *whole,
          void *other)
{
    way->run(cfg, b->data, b->len, split, step, other);
    same(way, whole, other, split, step);
    sp_test_run_free(other);
}

void
sp_test_every_way(const struct sp_test_way *way, const void *cfg,
                  const struct tbuf *b, bool every_split, void *whole)
{
    void *other = malloc(way->size);
    size_t few[] = { 1, 2, b->len / 3, b->len / 2, b->len - 2, b->len - 1 };

    CHECK(other != NULL);
    way->run(cfg, b->data, b->len, 0, b->len, whole);
    for (size_t k = 1; every_split && k < b->len; k++) {
        other_way(way, cfg, b, k, 0, whole, other);
    }
    for (size_t i = 0; !every_split && i < NELEMS(few); i++) {
        if (few[i] > 0 && few[i] < b->len) {
            other_way(way, cfg, b, few[i], 0, whole, other);
        }
    }
    for (size_t i = 0; i < NELEMS(sp_test_steps); i++) {
        other_way(way, cfg, b, 0, sp_test_steps[i], whole, other);
    }
    free(other);
}

void
sp_test_expect_error(const struct sp_test_way *way, const void *cfg,
                     const char *sample, size_t len, const char *error,
                     uint64_t at)
{
    struct tbuf b = { 0 };
    struct sp_test_run *run = malloc(way->size);

    ck_assert_ptr_nonnull(run);
    tb_put(&b, sample, len);
    sp_test_every_way(way, cfg, &b, true, run);
    ck_assert_msg(run->status == SP_PARSE_ERROR, "%s: no error", sample);
    ck_assert_str_eq(run->error, error);
    ck_assert_uint_eq(run->offset, at);
    sp_test_run_free(run);
    free(run);
    tb_free(&b);
}
