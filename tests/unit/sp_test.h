/*
 * sp_test.h — the Check suites of the unit-test runner, one per module
 * (tests/unit/test_<module>.c), and small helpers they share.
 */
#ifndef SP_TEST_H
#define SP_TEST_H

#include <check.h>

Suite *sp_test_channel_suite(void);
Suite *sp_test_cli_suite(void);
Suite *sp_test_conf_suite(void);
Suite *sp_test_dist_suite(void);
Suite *sp_test_event_suite(void);
Suite *sp_test_hash_suite(void);
Suite *sp_test_log_suite(void);
Suite *sp_test_mbuf_suite(void);
Suite *sp_test_observe_suite(void);
Suite *sp_test_memcache_suite(void);
Suite *sp_test_redis_suite(void);
Suite *sp_test_seg_suite(void);
Suite *sp_test_stats_suite(void);

#endif /* SP_TEST_H */
