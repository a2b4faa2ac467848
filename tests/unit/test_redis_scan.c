/*
 * test_redis_scan.c — the proxy's SCAN cursor (sp_redis.h): the server's
 * cursor times the number of servers plus the server's index; every
 * server's walk follows the one before, 0 ends the whole; cursors that
 * would not fit are refused; and a walk simulated over servers with cursors
 * of any size visits each server's every cursor once, in order.
 */
#include <stdint.h>

#include "sp_redis.h"
#include "sp_test.h"

START_TEST(test_scan_cursor_decode)
{
    uint32_t server;
    uint64_t cur;

    ck_assert(sp_redis_scan_cursor_decode(0, 3, &server, &cur));
    ck_assert_uint_eq(server, 0);
    ck_assert_uint_eq(cur, 0);
    ck_assert(sp_redis_scan_cursor_decode(2, 3, &server, &cur));
    ck_assert_uint_eq(server, 2);
    ck_assert_uint_eq(cur, 0);
    ck_assert(sp_redis_scan_cursor_decode(3 * 1234 + 1, 3, &server, &cur));
    ck_assert_uint_eq(server, 1);
    ck_assert_uint_eq(cur, 1234);
    ck_assert(sp_redis_scan_cursor_decode(UINT64_MAX, 1, &server, &cur));
    ck_assert_uint_eq(server, 0);
    ck_assert(cur == UINT64_MAX);
    ck_assert(!sp_redis_scan_cursor_decode(5, 0, &server, &cur));
}
END_TEST

START_TEST(test_scan_cursor_next)
{
    uint64_t c;

    /* a server's walk goes on: its cursor, with its index */
    ck_assert(sp_redis_scan_cursor_next(1, 1234, 3, &c));
    ck_assert(c == 3 * 1234 + 1);
    /* a server's walk ends: the next one begins */
    ck_assert(sp_redis_scan_cursor_next(0, 0, 3, &c));
    ck_assert(c == 1);
    ck_assert(sp_redis_scan_cursor_next(1, 0, 3, &c));
    ck_assert(c == 2);
    /* the last one's end is the end */
    ck_assert(sp_redis_scan_cursor_next(2, 0, 3, &c));
    ck_assert(c == 0);
    ck_assert(sp_redis_scan_cursor_next(0, 0, 1, &c));
    ck_assert(c == 0);
    /* one server: the cursor is the server's own */
    ck_assert(sp_redis_scan_cursor_next(0, UINT64_MAX, 1, &c));
    ck_assert(c == UINT64_MAX);
    /* too large to encode; a server index out of range */
    ck_assert(!sp_redis_scan_cursor_next(2, UINT64_MAX / 3, 3, &c));
    ck_assert(sp_redis_scan_cursor_next(2, (UINT64_MAX - 2) / 3, 3, &c));
    ck_assert(c == UINT64_MAX - 1);
    ck_assert(!sp_redis_scan_cursor_next(3, 1, 3, &c));
}
END_TEST

/* Each server walks cursors 0 -> steps[s][0] -> ... -> 0; the proxy's
 * walk, decoded and re-encoded at each step, must visit them all in
 * order, server after server, and end at 0. */
START_TEST(test_scan_cursor_walk)
{
    static const uint64_t steps[4][4] = {
        { 8, 4, 12, 0 },
        { 0 },                                  /* an empty server */
        { UINT64_C(1) << 40, 17, 0 },
        { 1, 2, 3, 0 },
    };
    uint32_t at[4] = { 0 }, visits = 0;
    uint64_t cursor = 0;

    do {
        uint32_t server;
        uint64_t cur, next;

        ck_assert(sp_redis_scan_cursor_decode(cursor, 4, &server, &cur));
        /* each server's cursor is the one its last step gave */
        ck_assert(cur == (at[server] == 0 ? 0 : steps[server][at[server] - 1]));
        for (uint32_t s = 0; s < server; s++) {
            ck_assert(at[s] > 0 && steps[s][at[s] - 1] == 0);  /* done */
        }
        next = steps[server][at[server]++];
        ck_assert(sp_redis_scan_cursor_next(server, next, 4, &cursor));
        ck_assert_uint_lt(++visits, 100);
    } while (cursor != 0);
    ck_assert_uint_eq(visits, 4 + 1 + 3 + 4);
    for (uint32_t s = 0; s < 4; s++) {
        ck_assert(steps[s][at[s] - 1] == 0);
    }
}
END_TEST

Suite *
sp_test_redis_scan_suite(void)
{
    Suite *s = suite_create("redis_scan");
    TCase *tc = tcase_create("cursor");

    tcase_add_test(tc, test_scan_cursor_decode);
    tcase_add_test(tc, test_scan_cursor_next);
    tcase_add_test(tc, test_scan_cursor_walk);
    suite_add_tcase(s, tc);
    return s;
}
