/*
 * test_stats.c — the stats JSON is nutcracker 0.5's byte for byte (the
 * expected text was captured from Debian's nutcracker serving pools a, zz,
 * yyy, with only the service name and version changed), names are escaped,
 * and summing over workers adds counters and gauges and keeps the latest
 * ejection timestamp.
 */
#include <string.h>

#include "sp_stats.h"
#include "sp_test.h"

#define ZERO_POOL "\"client_eof\":0, \"client_err\":0, \"client_connections\":0, " \
    "\"server_ejects\":0, \"forward_error\":0, \"fragments\":0"
#define ZERO_SERVER "{\"server_eof\":0, \"server_err\":0, \"server_timedout\":0, " \
    "\"server_connections\":0, \"server_ejected_at\":0, \"requests\":0, " \
    "\"request_bytes\":0, \"responses\":0, \"response_bytes\":0, " \
    "\"in_queue\":0, \"in_queue_bytes\":0, \"out_queue\":0, \"out_queue_bytes\":0}"

START_TEST(test_json_matches_nutcracker)
{
    static const char expect[] =
        "{\"service\":\"shardproxy\", \"source\":\"vm\", \"version\":\"0.1.0\", "
        "\"uptime\":0, \"timestamp\":1795219371, \"total_connections\":3, "
        "\"curr_connections\":3, "
        "\"a\": {" ZERO_POOL ", \"127.0.0.1:6999\": " ZERO_SERVER "},"
        "\"zz\": {" ZERO_POOL ", \"b\": " ZERO_SERVER ",\"aa\": " ZERO_SERVER "},"
        "\"yyy\": {" ZERO_POOL ", \"127.0.0.1:6999\": " ZERO_SERVER "}}";
    struct sp_stats_pool pool = { 0 };
    struct sp_stats_server server = { 0 };
    struct sp_stats_server_view a_servers[] = { { "127.0.0.1:6999", &server } };
    struct sp_stats_server_view zz_servers[] = { { "b", &server },
                                                 { "aa", &server } };
    struct sp_stats_pool_view pools[] = {
        { "a", &pool, a_servers, 1 },
        { "zz", &pool, zz_servers, 2 },
        { "yyy", &pool, a_servers, 1 },
    };
    struct sp_stats_view view = {
        "shardproxy", "vm", "0.1.0", 0, 1795219371, 3, 3, pools, 3,
    };
    struct sp_stats_buf buf = { 0 };

    ck_assert_int_eq(sp_stats_json(&buf, &view), 0);
    ck_assert_uint_eq(buf.len, strlen(expect));
    ck_assert_str_eq(buf.data, expect);
    sp_stats_buf_free(&buf);
}
END_TEST

START_TEST(test_values_and_escaping)
{
    struct sp_stats_pool pool = { .client_connections = 7, .fragments = -1 };
    struct sp_stats_server server = { .requests = 123456789012345LL };
    struct sp_stats_server_view servers[] = { { "we\"ird\\name\n", &server } };
    struct sp_stats_pool_view pools[] = { { "p", &pool, servers, 1 } };
    struct sp_stats_view view = { "shardproxy", "h", "v", 1, 2, 3, 4, pools, 1 };
    struct sp_stats_buf buf = { 0 };

    ck_assert_int_eq(sp_stats_json(&buf, &view), 0);
    ck_assert_ptr_nonnull(strstr(buf.data, "\"client_connections\":7, "));
    ck_assert_ptr_nonnull(strstr(buf.data, "\"fragments\":-1, "));
    ck_assert_ptr_nonnull(strstr(buf.data, "\"requests\":123456789012345, "));
    ck_assert_ptr_nonnull(strstr(buf.data, "\"we\\\"ird\\\\name\\u000a\": {"));
    sp_stats_buf_free(&buf);
}
END_TEST

START_TEST(test_no_pools)
{
    struct sp_stats_view view = { "shardproxy", "h", "v", 0, 0, 0, 0, NULL, 0 };
    struct sp_stats_buf buf = { 0 };

    ck_assert_int_eq(sp_stats_json(&buf, &view), 0);
    ck_assert_str_eq(buf.data, "{\"service\":\"shardproxy\", \"source\":\"h\", "
                     "\"version\":\"v\", \"uptime\":0, \"timestamp\":0, "
                     "\"total_connections\":0, \"curr_connections\":0}");
    sp_stats_buf_free(&buf);
}
END_TEST

START_TEST(test_extra_fields_beside_nutcrackers)
{
    struct sp_stats_extra extras[] = { { "buffers_allocated", 12 },
                                       { "messages_free", 3 } };
    struct sp_stats_view view = { "shardproxy", "h", "v", 0, 0, 0, 0, NULL, 0,
                                  extras, 2 };
    struct sp_stats_buf buf = { 0 };

    ck_assert_int_eq(sp_stats_json(&buf, &view), 0);
    ck_assert_str_eq(buf.data, "{\"service\":\"shardproxy\", \"source\":\"h\", "
                     "\"version\":\"v\", \"uptime\":0, \"timestamp\":0, "
                     "\"total_connections\":0, \"curr_connections\":0, "
                     "\"buffers_allocated\":12, \"messages_free\":3}");
    sp_stats_buf_free(&buf);
}
END_TEST

START_TEST(test_own_fields_after_nutcrackers)
{
    struct sp_stats_pool pool = { .blocked_clients = 4, .fragments = 1 };
    struct sp_stats_server server = { .lent_connections = 4,
                                      .blocking_connections = 6 };
    struct sp_stats_server_view servers[] = { { "s", &server } };
    struct sp_stats_pool_view pools[] = { { "p", &pool, servers, 1 } };
    struct sp_stats_view view = { "shardproxy", "h", "v", 0, 0, 0, 0, pools, 1,
                                  .own_fields = true };
    struct sp_stats_buf buf = { 0 };

    ck_assert_int_eq(sp_stats_json(&buf, &view), 0);
    ck_assert_ptr_nonnull(strstr(buf.data, "\"fragments\":1, "
                                 "\"blocked_clients\":4, "
                                 "\"blocking_refused\":0, \"s\": {"));
    ck_assert_ptr_nonnull(strstr(buf.data, "\"out_queue_bytes\":0, "
                                 "\"blocking_connections\":6, "
                                 "\"lent_connections\":4, \"moved\":0, \"ask\":0}"));
    sp_stats_buf_free(&buf);
}
END_TEST

START_TEST(test_sum_over_workers)
{
    struct sp_stats_pool total = { 0 };
    struct sp_stats_pool w0 = { .client_eof = 2, .client_connections = 5,
                                .blocked_clients = 2 };
    struct sp_stats_pool w1 = { .client_eof = 3, .client_connections = 1,
                                .blocked_clients = 1 };
    struct sp_stats_server stotal = { 0 };
    struct sp_stats_server s0 = { .requests = 10, .server_ejected_at = 500,
                                  .in_queue = 2 };
    struct sp_stats_server s1 = { .requests = 5, .server_ejected_at = 900,
                                  .in_queue = 1 };

    sp_stats_pool_add(&total, &w0);
    sp_stats_pool_add(&total, &w1);
    ck_assert_int_eq(total.client_eof, 5);
    ck_assert_int_eq(total.client_connections, 6);
    ck_assert_int_eq(total.blocked_clients, 3);
    sp_stats_server_add(&stotal, &s1);
    sp_stats_server_add(&stotal, &s0);
    ck_assert_int_eq(stotal.requests, 15);
    ck_assert_int_eq(stotal.in_queue, 3);
    ck_assert_int_eq(stotal.server_ejected_at, 900);     /* max, not sum */
}
END_TEST

Suite *
sp_test_stats_suite(void)
{
    return SP_TEST_SUITE("stats", test_json_matches_nutcracker,
                         test_values_and_escaping, test_no_pools,
                         test_extra_fields_beside_nutcrackers,
                         test_own_fields_after_nutcrackers,
                         test_sum_over_workers);
}
