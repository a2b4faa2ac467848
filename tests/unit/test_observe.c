/*
 * test_observe.c — the observability pieces: histogram buckets and
 * quantiles, the space-saving sketch (heavy hitters survive a stream of
 * distinct keys; the published view reads back), and the slow log's key
 * extraction from RESP, inline and memcache requests.
 */
#include <stdio.h>
#include <string.h>

#include "sp_hist.h"
#include "sp_hotkeys.h"
#include "sp_slowlog.h"
#include "sp_test.h"

START_TEST(test_hist_buckets_and_quantiles)
{
    struct sp_hist h;

    memset(&h, 0, sizeof(h));
    ck_assert_int_eq(sp_hist_quantile_us(&h, 0.5), 0);
    sp_hist_observe(&h, 50);            /* <= 100 us */
    sp_hist_observe(&h, 100);           /* <= 100 us: bounds are inclusive */
    sp_hist_observe(&h, 101);           /* <= 200 us */
    sp_hist_observe(&h, 20000000);      /* over 10 s */
    ck_assert_int_eq(h.buckets[0], 2);
    ck_assert_int_eq(h.buckets[1], 1);
    ck_assert_int_eq(h.buckets[SP_HIST_BOUNDS], 1);
    ck_assert_int_eq(sp_hist_count(&h), 4);
    ck_assert_int_eq(h.sum_us, 50 + 100 + 101 + 20000000);
    /* the median falls in the first bucket: interpolated in [0, 100] */
    ck_assert_uint_le(sp_hist_quantile_us(&h, 0.5), 100);
    ck_assert_uint_gt(sp_hist_quantile_us(&h, 0.7), 100);
    ck_assert_uint_le(sp_hist_quantile_us(&h, 0.7), 200);
    ck_assert_uint_eq(sp_hist_quantile_us(&h, 0.999), 10000000);

    /* 1000 values 1..1000 us: quantiles within their bucket */
    memset(&h, 0, sizeof(h));
    for (uint64_t us = 1; us <= 1000; us++) {
        sp_hist_observe(&h, us);
    }
    uint64_t p50 = sp_hist_quantile_us(&h, 0.5), p99 = sp_hist_quantile_us(&h, 0.99);
    ck_assert_uint_ge(p50, 200);
    ck_assert_uint_le(p50, 500);
    ck_assert_uint_ge(p99, 500);
    ck_assert_uint_le(p99, 1000);

    struct sp_hist sum;
    memset(&sum, 0, sizeof(sum));
    sp_hist_add(&sum, &h);
    sp_hist_add(&sum, &h);
    ck_assert_int_eq(sp_hist_count(&sum), 2000);
    ck_assert_int_eq(sum.sum_us, 2 * h.sum_us);
}
END_TEST

START_TEST(test_sketch_keeps_the_heavy_hitters)
{
    static struct sp_hot_sketch s;
    static struct sp_hot_view v, copy;
    char key[32];

    memset(&s, 0, sizeof(s));
    memset(&v, 0, sizeof(v));
    /* 3 keys take 30% of 100,000 samples; 70,000 are all different */
    for (int i = 0; i < 100000; i++) {
        int n;
        if (i % 10 < 3) {
            n = snprintf(key, sizeof(key), "hot:%d", i % 10);
        } else {
            n = snprintf(key, sizeof(key), "cold:%d", i);
        }
        sp_hot_add(&s, (const uint8_t *)key, (size_t)n, (uint32_t)(i % 10 < 3 ? i % 10 : 7));
    }
    ck_assert_uint_eq(s.n, SP_HOT_K);       /* bounded memory */
    sp_hot_publish(&s, &v, 5000);
    ck_assert_uint_eq(s.n, 0);              /* a new window */
    ck_assert_int_eq(sp_hot_read(&v, &copy), 0);
    ck_assert_uint_eq(copy.n, SP_HOT_PUBLISH);
    for (int i = 0; i < 3; i++) {
        const struct sp_hot_entry *e = &copy.e[i];
        ck_assert(strncmp(e->key, "hot:", 4) == 0);
        ck_assert_uint_eq(e->server, (uint32_t)(e->key[4] - '0'));
        /* 10,000 samples each; the guaranteed part is most of them */
        ck_assert_uint_ge(e->count - e->err, 9000);
        ck_assert_uint_le(e->count - e->err, 10000);
    }
    /* the rest is noise: far below the hitters */
    ck_assert_uint_lt(copy.e[3].count - copy.e[3].err, 100);
    ck_assert(sp_hot_rate(&copy.e[0], 5000) > 0);
}
END_TEST

static void
key_of(const char *req, int index, const char *want)
{
    char out[4 * SP_SLOWLOG_KEYLEN + 8];

    sp_slowlog_key((const uint8_t *)req, strlen(req), index, out, sizeof(out));
    ck_assert_str_eq(out, want);
}

START_TEST(test_slowlog_key_extraction)
{
    key_of("*2\r\n$3\r\nGET\r\n$6\r\nuser:1\r\n", 1, "user:1");
    key_of("*5\r\n$4\r\nEVAL\r\n$8\r\nreturn 1\r\n$1\r\n1\r\n$3\r\nkey\r\n$1\r\nv\r\n",
           3, "key");
    key_of("*1\r\n$4\r\nPING\r\n", 0, "");
    key_of("GET inline:key\r\n", 1, "inline:key");
    key_of("get mc:key other\r\n", 1, "mc:key");
    key_of("*2\r\n$3\r\nGET\r\n$4\r\na'\x01\\\r\n", 1, "a\\x27\\x01\\x5c");
    /* long keys are cut with "..." */
    char req[256], want[80];
    memset(want, 'k', SP_SLOWLOG_KEYLEN);
    strcpy(want + SP_SLOWLOG_KEYLEN, "...");
    snprintf(req, sizeof(req), "*2\r\n$3\r\nGET\r\n$100\r\n%0100d\r\n", 0);
    memset(req + strlen("*2\r\n$3\r\nGET\r\n$100\r\n"), 'k', 100);
    key_of(req, 1, want);
    /* a request cut short: what is there */
    key_of("*2\r\n$3\r\nGET\r\n$10\r\nabc", 1, "abc...");
    key_of("*2\r\n$3\r\nGE", 1, "");
}
END_TEST

Suite *
sp_test_observe_suite(void)
{
    return SP_TEST_SUITE("observe", test_hist_buckets_and_quantiles,
                         test_sketch_keeps_the_heavy_hitters,
                         test_slowlog_key_extraction);
}
