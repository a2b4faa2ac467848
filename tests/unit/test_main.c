/*
 * test_main.c — the unit-test runner: every module's Check suite in one
 * run; exit status 0 only when all pass.
 */
#include <stdlib.h>

#include "sp_test.h"

int
main(void)
{
    static Suite *(*const suites[])(void) = {
        sp_test_hash_suite, sp_test_dist_suite, sp_test_event_suite,
        sp_test_conf_suite, sp_test_cli_suite, sp_test_log_suite,
        sp_test_mbuf_suite, sp_test_memcache_suite, sp_test_redis_suite,
        sp_test_redis_cmdtab_suite, sp_test_redis_pubsub_suite,
        sp_test_redis_scan_suite,
        sp_test_seg_suite, sp_test_stats_suite, sp_test_channel_suite,
        sp_test_observe_suite, sp_test_defer_suite, sp_test_reserve_suite,
        sp_test_stat_suite, sp_test_resp_suite, sp_test_cluster_map_suite,
        sp_test_msg_suite,
    };
    SRunner *runner = srunner_create(suites[0]());
    int failed;

    for (size_t i = 1; i < NELEMS(suites); i++) {
        srunner_add_suite(runner, suites[i]());
    }
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
