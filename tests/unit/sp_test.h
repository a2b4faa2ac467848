/*
 * sp_test.h — the Check suites of the unit-test runner, one per module
 * (tests/unit/test_<module>.c), and small helpers they share (sp_test.c):
 * building a suite from a list of tests, a cheap assertion for hot loops,
 * and a growable buffer for building samples, or a filled mbuf.
 */
#ifndef SP_TEST_H
#define SP_TEST_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

Suite *sp_test_channel_suite(void);
Suite *sp_test_cli_suite(void);
Suite *sp_test_conf_suite(void);
Suite *sp_test_defer_suite(void);
Suite *sp_test_dist_suite(void);
Suite *sp_test_event_suite(void);
Suite *sp_test_hash_suite(void);
Suite *sp_test_log_suite(void);
Suite *sp_test_mbuf_suite(void);
Suite *sp_test_observe_suite(void);
Suite *sp_test_resp_suite(void);
Suite *sp_test_cluster_map_suite(void);
Suite *sp_test_memcache_suite(void);
Suite *sp_test_msg_suite(void);
Suite *sp_test_redis_suite(void);
Suite *sp_test_redis_cmdtab_suite(void);
Suite *sp_test_redis_pubsub_suite(void);
Suite *sp_test_redis_scan_suite(void);
Suite *sp_test_reserve_suite(void);
Suite *sp_test_stat_suite(void);
Suite *sp_test_seg_suite(void);
Suite *sp_test_stats_suite(void);

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/*
 * For the loops that feed samples millions of times: Check's ck_assert
 * records a mark point (a write to the runner) even when it holds.
 */
#define SP_CHECK_MSG(cond, ...)                                             \
    do {                                                                    \
        if (!(cond)) {                                                      \
            ck_abort_msg(__VA_ARGS__);                                      \
        }                                                                   \
    } while (0)
#define CHECK(cond) SP_CHECK_MSG(cond, "%s:%d: %s", __FILE__, __LINE__, #cond)

/* ---- suites ------------------------------------------------------------- */

/*
 * Adds to `s` a test case `name` of the NULL-ended `tests`, with a timeout
 * of `timeout` seconds (0: Check's default); returns it for loop tests.
 */
TCase *sp_test_case(Suite *s, const char *name, unsigned timeout,
                    const TTest *const *tests);

/* A suite `name` of one case, also `name`, of the tests named. */
Suite *sp_test_suite(const char *name, const TTest *const *tests);

#define SP_TEST_LIST(...)  ((const TTest *const[]){ __VA_ARGS__, NULL })
#define SP_TEST_CASE(s, name, timeout, ...) \
    sp_test_case((s), (name), (timeout), SP_TEST_LIST(__VA_ARGS__))
#define SP_TEST_SUITE(name, ...) \
    sp_test_suite((name), SP_TEST_LIST(__VA_ARGS__))

/* ---- building samples --------------------------------------------------- */

struct tbuf {
    uint8_t *data;
    size_t   len;
    size_t   cap;
};

void tb_put(struct tbuf *b, const void *p, size_t n);
void tb_str(struct tbuf *b, const char *s);
void tb_printf(struct tbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tb_fill(struct tbuf *b, int c, size_t n);
void tb_free(struct tbuf *b);
/* Offset of the first `needle` at or after `from` in the sample. */
uint64_t tb_find(const struct tbuf *b, const char *needle, size_t from);

struct sp_mbuf;
struct sp_mbuf_pool;

/* A buffer from `pool` holding `text`. */
struct sp_mbuf *mbuf_filled(struct sp_mbuf_pool *pool, const char *text);

#endif /* SP_TEST_H */
