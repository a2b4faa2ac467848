/*
 * sp_test.c — the helpers every unit-test module shares (sp_test.h):
 * suites from lists of tests, the sample buffer and filled mbufs.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_mbuf.h"
#include "sp_test.h"

/* ---- suites ------------------------------------------------------------- */

TCase *
sp_test_case(Suite *s, const char *name, unsigned timeout,
             const TTest *const *tests)
{
    TCase *tc = tcase_create(name);

    if (timeout > 0) {
        tcase_set_timeout(tc, timeout);
    }
    for (size_t i = 0; tests[i] != NULL; i++) {
        tcase_add_test(tc, tests[i]);
    }
    suite_add_tcase(s, tc);
    return tc;
}

Suite *
sp_test_suite(const char *name, const TTest *const *tests)
{
    Suite *s = suite_create(name);

    sp_test_case(s, name, 0, tests);
    return s;
}

/* ---- building samples --------------------------------------------------- */

void
tb_put(struct tbuf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;

        while (cap < b->len + n) {
            cap *= 2;
        }
        b->data = realloc(b->data, cap);
        CHECK(b->data != NULL);
        b->cap = cap;
    }
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
}

void
tb_str(struct tbuf *b, const char *s)
{
    tb_put(b, s, strlen(s));
}

void
tb_printf(struct tbuf *b, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    ck_assert(n > 0 && (size_t)n < sizeof(text));
    tb_put(b, text, (size_t)n);
}

void
tb_fill(struct tbuf *b, int c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = (uint8_t)c;

        tb_put(b, &ch, 1);
    }
}

void
tb_free(struct tbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

uint64_t
tb_find(const struct tbuf *b, const char *needle, size_t from)
{
    size_t n = strlen(needle);

    for (size_t i = from; i + n <= b->len; i++) {
        if (memcmp(b->data + i, needle, n) == 0) {
            return i;
        }
    }
    ck_abort_msg("'%s' not in sample", needle);
    return 0;
}

struct sp_mbuf *
mbuf_filled(struct sp_mbuf_pool *pool, const char *text)
{
    struct sp_mbuf *m = sp_mbuf_get(pool);
    size_t len = strlen(text);

    memcpy(m->last, text, len);
    m->last += len;
    return m;
}
