/*
 * test_main.c — the unit-test runner: every module's Check suite in one
 * run; exit status 0 only when all pass.
 */
#include <stdlib.h>

#include "sp_test.h"

int
main(void)
{
    SRunner *runner = srunner_create(sp_test_hash_suite());
    int failed;

    srunner_add_suite(runner, sp_test_dist_suite());
    srunner_add_suite(runner, sp_test_event_suite());
    srunner_add_suite(runner, sp_test_conf_suite());
    srunner_add_suite(runner, sp_test_cli_suite());
    srunner_add_suite(runner, sp_test_log_suite());
    srunner_add_suite(runner, sp_test_mbuf_suite());
    srunner_add_suite(runner, sp_test_memcache_suite());
    srunner_add_suite(runner, sp_test_redis_suite());
    srunner_add_suite(runner, sp_test_seg_suite());
    srunner_add_suite(runner, sp_test_stats_suite());
    srunner_add_suite(runner, sp_test_channel_suite());
    srunner_add_suite(runner, sp_test_observe_suite());
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
