/*
 * test_resp.c — the master's small RESP client's parser (sp_resp_conn.h)
 * and the in-place element reader under it (sp_resp_walk.h): the replies
 * the Sentinel follower reads, whole, cut short and malformed;
 * the shared region's server address and replica slots (sp_shared.h);
 * and SENTINEL REPLICAS answers (sp_sentinel_replicas.h).
 */
#include <stdio.h>
#include <string.h>

#include "sp_resp_conn.h"
#include "sp_sentinel_replicas.h"
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

static struct sp_resp_walk
walk(const char *s, size_t len)
{
    struct sp_resp_walk w = { .buf = s, .len = len, .depth_max = 4 };

    return w;
}

static struct sp_resp_walk
walk_str(const char *s)
{
    return walk(s, strlen(s));
}

START_TEST(test_walk)
{
    const char *r = "*3\r\n$5\r\nhello\r\n*2\r\n:1\r\n+x\r\n$-1\r\n";
    struct sp_resp_walk w = walk(r, strlen(r));
    struct sp_resp_elem e;

    /* header by header */
    ck_assert_int_eq(sp_resp_walk_next(&w, &e), 1);
    ck_assert_int_eq(e.type, '*');
    ck_assert_int_eq(e.n, 3);
    ck_assert_int_eq(sp_resp_walk_next(&w, &e), 1);
    ck_assert_int_eq(e.type, '$');
    ck_assert_uint_eq(e.len, 5);
    ck_assert_int_eq(memcmp(e.s, "hello", 5), 0);
    /* a nested array whole: its header, its elements stepped over */
    ck_assert_int_eq(sp_resp_walk_whole(&w, 1, &e), 1);
    ck_assert_int_eq(e.type, '*');
    ck_assert_int_eq(e.n, 2);
    ck_assert_int_eq(sp_resp_walk_next(&w, &e), 1);
    ck_assert_int_eq(e.type, 0);                     /* nil */
    ck_assert_uint_eq(w.pos, strlen(r));
    ck_assert_int_eq(sp_resp_walk_next(&w, &e), 0);  /* nothing left */

    /* cut at every byte: "not yet", and the cursor stays for the retry */
    for (size_t n = 0; n < strlen(r); n++) {
        w = walk(r, n);
        ck_assert_int_eq(sp_resp_walk_skip(&w, 0), 0);
        ck_assert_uint_eq(w.pos, 0);
    }
    w = walk(r, strlen(r));
    ck_assert_int_eq(sp_resp_walk_skip(&w, 0), 1);
    ck_assert_uint_eq(w.pos, strlen(r));
}
END_TEST

START_TEST(test_walk_bad_and_limits)
{
    struct sp_resp_walk w;
    struct sp_resp_elem e;
    const char *nested = "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:7\r\n";

    /* a bulk string not followed by CRLF is no RESP */
    w = walk_str("$3\r\nabcd\r\n");
    ck_assert_int_eq(sp_resp_walk_next(&w, &e), -1);
    /* a lone CR inside a line */
    w = walk_str("+a\rb\r\n");
    ck_assert_int_eq(sp_resp_walk_next(&w, &e), -1);
    w = walk_str(":+1\r\n");
    ck_assert_int_eq(sp_resp_walk_next(&w, &e), -1);
    w = walk_str(":1234567890123456789\r\n");
    ck_assert_int_eq(sp_resp_walk_next(&w, &e), -1);
    w = walk_str("*-2\r\n");
    ck_assert_int_eq(sp_resp_walk_next(&w, &e), -1);
    /* deeper than depth_max (4): levels 0..3 may be arrays */
    w = walk(nested, strlen(nested));
    ck_assert_int_eq(sp_resp_walk_skip(&w, 0), -1);
    w = walk(nested, strlen(nested));
    w.depth_max = 5;
    ck_assert_int_eq(sp_resp_walk_skip(&w, 0), 1);
    /* a bulk string over bulk_max, before its bytes came */
    w = walk_str("$100\r\nab");
    ck_assert_int_eq(sp_resp_walk_next(&w, &e), 0);
    w.bulk_max = 99;
    ck_assert_int_eq(sp_resp_walk_next(&w, &e), -1);
    /* a line over line_max, with or without its CRLF yet */
    w = walk_str("+0123456789\r\n");
    w.line_max = 8;
    ck_assert_int_eq(sp_resp_walk_next(&w, &e), -1);
    w = walk_str("+0123456789012");
    w.line_max = 8;
    ck_assert_int_eq(sp_resp_walk_next(&w, &e), -1);
    w.line_max = 64;
    ck_assert_int_eq(sp_resp_walk_next(&w, &e), 0);
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

/* One replica's entry as redis-sentinel 7 lists it (most fields). */
static void
replica_entry(char *buf, size_t size, const char *ip, const char *port,
              const char *flags, const char *link)
{
    const char *kv[] = {
        "name", NULL, "ip", ip, "port", port, "runid", "4b5c0e1d2f",
        "flags", flags, "link-pending-commands", "0", "link-refcount", "1",
        "last-ping-sent", "0", "last-ok-ping-reply", "311",
        "last-ping-reply", "311", "down-after-milliseconds", "1000",
        "info-refresh", "5422", "role-reported", "slave",
        "role-reported-time", "87321", "master-link-down-time", "0",
        "master-link-status", link, "master-host", "127.0.0.1",
        "master-port", "6379", "slave-priority", "100",
        "slave-repl-offset", "123456", "replica-announced", "1",
    };
    size_t n = sizeof(kv) / sizeof(kv[0]), at;
    char name[64];

    snprintf(name, sizeof(name), "%s:%s", ip, port);
    kv[1] = name;
    at = (size_t)snprintf(buf, size, "*%zu\r\n", n);
    for (size_t i = 0; i < n; i++) {
        at += (size_t)snprintf(buf + at, size - at, "$%zu\r\n%s\r\n",
                               strlen(kv[i]), kv[i]);
    }
}

START_TEST(test_sentinel_replicas)
{
    char entries[5][1024], reply[8192];
    struct sp_hostport got[SP_SHARED_REPLICAS];
    uint32_t listed;

    replica_entry(entries[0], sizeof(entries[0]), "127.0.0.1", "7002",
                  "slave", "ok");
    replica_entry(entries[1], sizeof(entries[1]), "127.0.0.1", "7001",
                  "slave", "ok");
    replica_entry(entries[2], sizeof(entries[2]), "127.0.0.1", "7003",
                  "s_down,slave,disconnected", "err");
    replica_entry(entries[3], sizeof(entries[3]), "10.0.0.9", "7004",
                  "slave", "err");         /* its link to the master down */
    replica_entry(entries[4], sizeof(entries[4]), "::1", "7005",
                  "o_down,slave", "ok");
    snprintf(reply, sizeof(reply), "*5\r\n%s%s%s%s%s", entries[0],
             entries[1], entries[2], entries[3], entries[4]);
    ck_assert_int_eq(sp_sentinel_replicas_parse(reply, strlen(reply), got,
                                                SP_SHARED_REPLICAS, &listed),
                     2);
    ck_assert_uint_eq(listed, 5);
    /* sorted: the same set reads the same whatever the sentinel's order */
    ck_assert_str_eq(got[0].host, "127.0.0.1");
    ck_assert_uint_eq(got[0].port, 7001);
    ck_assert_uint_eq(got[1].port, 7002);
    /* more healthy than room: counted, the first max kept */
    ck_assert_int_eq(sp_sentinel_replicas_parse(reply, strlen(reply), got, 1,
                                                NULL), 2);
    /* none */
    ck_assert_int_eq(sp_sentinel_replicas_parse("*0\r\n", 4, got,
                                                SP_SHARED_REPLICAS, &listed),
                     0);
    ck_assert_uint_eq(listed, 0);
    /* not an answer: an error, cut short, an odd field list */
    ck_assert_int_eq(sp_sentinel_replicas_parse("-ERR No such master with "
                                                "that name\r\n", 38, got, 8,
                                                NULL), -1);
    ck_assert_int_eq(sp_sentinel_replicas_parse(reply, strlen(reply) - 3,
                                                got, 8, NULL), -1);
    ck_assert_int_eq(sp_sentinel_replicas_parse("*1\r\n*1\r\n$2\r\nip\r\n",
                                                19, got, 8, NULL), -1);
    /* flags are whole words: "s_downish" is not s_down */
    ck_assert(sp_sentinel_replica_healthy("slave,s_downish", 15, "ok", 2));
    ck_assert(!sp_sentinel_replica_healthy("slave,s_down", 12, "ok", 2));
    ck_assert(!sp_sentinel_replica_healthy("disconnected", 12, "ok", 2));
    ck_assert(!sp_sentinel_replica_healthy("slave", 5, "err", 3));
    /* the whole reply is handed over with its bytes (sp_resp_parse) */
    struct sp_resp_reply r;
    ck_assert_int_eq(sp_resp_parse(reply, strlen(reply), &r),
                     (long)strlen(reply));
    ck_assert_ptr_eq(r.raw, reply);
    ck_assert_uint_eq(r.raw_len, strlen(reply));
}
END_TEST

START_TEST(test_shared_replicas)
{
    struct sp_conf_server servers[2] = { { 0 } };
    struct sp_conf_pool pool = { 0 };
    struct sp_conf conf = { 0 };
    struct sp_shared shared;
    struct sp_shared_replicas_copy got;
    struct sp_hostport list[SP_SHARED_REPLICAS + 2];

    pool.servers = servers;
    pool.nservers = 2;
    conf.pools = &pool;
    conf.npools = 1;
    ck_assert_int_eq(sp_shared_create(&shared, &conf, 1), 0);
    struct sp_shared_replicas *slot = sp_shared_replicas(&shared, 1);
    ck_assert_uint_eq(sp_shared_replicas_version(slot), 0);
    for (uint32_t i = 0; i < SP_SHARED_REPLICAS + 2; i++) {
        snprintf(list[i].host, sizeof(list[i].host), "10.0.0.%u", i);
        list[i].port = (uint16_t)(7000 + i);
    }
    sp_shared_replicas_set(slot, list, 2);
    sp_shared_replicas_get(slot, &got);
    ck_assert_uint_eq(got.version, 2);
    ck_assert_uint_eq(got.count, 2);
    ck_assert_str_eq(got.replica[1].host, "10.0.0.1");
    ck_assert_uint_eq(got.replica[1].port, 7001);
    ck_assert_uint_eq(sp_shared_replicas_version(slot), 2);
    /* more than a slot holds: cut */
    sp_shared_replicas_set(slot, list, SP_SHARED_REPLICAS + 2);
    sp_shared_replicas_get(slot, &got);
    ck_assert_uint_eq(got.count, SP_SHARED_REPLICAS);
    sp_shared_replicas_set(slot, list, 0);
    sp_shared_replicas_get(slot, &got);
    ck_assert_uint_eq(got.count, 0);
    ck_assert_uint_eq(got.version, 6);
    /* the other server's slot and the address slots are apart */
    sp_shared_replicas_get(sp_shared_replicas(&shared, 0), &got);
    ck_assert_uint_eq(got.version, 0);
    ck_assert_uint_eq(got.count, 0);
    struct sp_shared_addr_copy addr;
    sp_shared_addr_get(sp_shared_addr(&shared, 1), &addr);
    ck_assert_uint_eq(addr.version, 0);
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
    tcase_add_test(tc, test_walk);
    tcase_add_test(tc, test_walk_bad_and_limits);
    tcase_add_test(tc, test_shared_addr);
    tcase_add_test(tc, test_sentinel_replicas);
    tcase_add_test(tc, test_shared_replicas);
    suite_add_tcase(s, tc);
    return s;
}
