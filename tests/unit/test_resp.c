/*
 * test_resp.c — the master's small RESP client's parser (sp_resp_conn.h):
 * the replies the Sentinel follower reads, whole, cut short and malformed;
 * and the shared region's server address slots (sp_shared.h).
 */
#include <string.h>

#include "sp_resp_conn.h"
#include "sp_shared.h"
#include "sp_test.h"

static long
parse(const char *s, struct sp_resp_reply *r)
{
    return sp_resp_parse(s, strlen(s), r);
}

START_TEST(test_scalars)
{
    struct sp_resp_reply r;

    ck_assert_int_eq(parse("+OK\r\n", &r), 5);
    ck_assert_int_eq(r.top.type, '+');
    ck_assert(sp_resp_item_is(&r.top, "ok"));
    ck_assert_int_eq(parse("-NOAUTH Authentication required.\r\n", &r), 34);
    ck_assert_int_eq(r.top.type, '-');
    ck_assert_int_eq(parse(":-42\r\n", &r), 6);
    ck_assert_int_eq(r.top.n, -42);
    ck_assert_int_eq(parse("$5\r\nhello\r\n", &r), 11);
    ck_assert(sp_resp_item_is(&r.top, "HELLO"));
    ck_assert_int_eq(parse("$-1\r\n", &r), 5);
    ck_assert_int_eq(r.top.type, 0);
    ck_assert_int_eq(parse("*-1\r\n", &r), 5);
    ck_assert_int_eq(r.top.type, 0);
}
END_TEST

START_TEST(test_arrays)
{
    struct sp_resp_reply r;
    const char *addr = "*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n";
    const char *role = "*3\r\n$6\r\nmaster\r\n:4507\r\n"
                       "*1\r\n*3\r\n$9\r\n127.0.0.1\r\n$4\r\n6381\r\n$1\r\n0\r\n";
    const char *msg = "*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n"
                      "$37\r\nshard-a 127.0.0.1 6379 127.0.0.1 6380\r\n";

    ck_assert_int_eq(parse(addr, &r), (long)strlen(addr));
    ck_assert_int_eq(r.nitems, 2);
    ck_assert_int_eq(r.items[0].len, 9);
    ck_assert(memcmp(r.items[1].s, "6380", 4) == 0);
    ck_assert_int_eq(parse(role, &r), (long)strlen(role));
    ck_assert_int_eq(r.nitems, 3);
    ck_assert(sp_resp_item_is(&r.items[0], "master"));
    ck_assert_int_eq(r.items[2].type, '*');
    ck_assert_int_eq(r.items[2].n, 1);
    ck_assert_int_eq(parse(msg, &r), (long)strlen(msg));
    ck_assert(sp_resp_item_is(&r.items[1], "+switch-master"));
    ck_assert_int_eq(r.items[2].len, 37);
}
END_TEST

START_TEST(test_partial_and_bad)
{
    struct sp_resp_reply r;
    const char *role = "*3\r\n$6\r\nmaster\r\n:4507\r\n*0\r\n";

    for (size_t n = 0; n < strlen(role); n++) {
        ck_assert_int_eq(sp_resp_parse(role, n, &r), 0);
    }
    ck_assert_int_eq(parse("?what\r\n", &r), -1);
    ck_assert_int_eq(parse(":12x\r\n", &r), -1);
    ck_assert_int_eq(parse("$-7\r\n", &r), -1);
    ck_assert_int_eq(parse("*1\r\n%1\r\n", &r), -1);
    /* nested deeper than the parser follows */
    ck_assert_int_eq(parse("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n"
                           "*1\r\n*1\r\n:1\r\n", &r), -1);
}
END_TEST

START_TEST(test_shared_addr)
{
    struct sp_conf_server servers[3] = { { 0 } };
    struct sp_conf_pool pools[2] = { { 0 } };
    struct sp_conf conf = { 0 };
    struct sp_shared shared;
    struct sp_shared_addr_copy got;

    pools[0].servers = servers;
    pools[0].nservers = 2;
    pools[1].servers = servers + 2;
    pools[1].nservers = 1;
    conf.pools = pools;
    conf.npools = 2;
    ck_assert_int_eq(sp_shared_create(&shared, &conf, 2), 0);
    for (uint32_t i = 0; i < 3; i++) {
        sp_shared_addr_get(sp_shared_addr(&shared, i), &got);
        ck_assert_uint_eq(got.version, 0);      /* unset: the config's */
    }
    sp_shared_addr_set(sp_shared_addr(&shared, 2), "10.1.2.3", 6380);
    sp_shared_addr_get(sp_shared_addr(&shared, 2), &got);
    ck_assert_uint_eq(got.version, 2);
    ck_assert_str_eq(got.host, "10.1.2.3");
    ck_assert_uint_eq(got.port, 6380);
    sp_shared_addr_set(sp_shared_addr(&shared, 2), "::1", 7000);
    sp_shared_addr_get(sp_shared_addr(&shared, 2), &got);
    ck_assert_uint_eq(got.version, 4);
    ck_assert_str_eq(got.host, "::1");
    sp_shared_addr_get(sp_shared_addr(&shared, 1), &got);
    ck_assert_uint_eq(got.version, 0);
    /* the slots do not overlap the stats slots */
    memset(sp_shared_slot(&shared, 0), 0xff, shared.header->slot_size);
    sp_shared_addr_get(sp_shared_addr(&shared, 2), &got);
    ck_assert_str_eq(got.host, "::1");
    sp_shared_destroy(&shared);
}
END_TEST

Suite *
sp_test_resp_suite(void)
{
    Suite *s = suite_create("resp");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_scalars);
    tcase_add_test(tc, test_arrays);
    tcase_add_test(tc, test_partial_and_bad);
    tcase_add_test(tc, test_shared_addr);
    suite_add_tcase(s, tc);
    return s;
}
