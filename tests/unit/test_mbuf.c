/*
 * test_mbuf.c — buffers: sizes, references, recycling without allocation,
 * the free list shrinking back after an idle period, chains and copies
 * across buffer boundaries.
 */
#include <string.h>

#include "sp_mbuf.h"
#include "sp_test.h"

START_TEST(test_sizes_and_markers)
{
    struct sp_mbuf_pool pool;
    struct sp_mbuf *m;

    sp_mbuf_pool_init(&pool, 512);
    m = sp_mbuf_get(&pool);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(pool.data_size, 512 - sizeof(struct sp_mbuf));
    ck_assert_uint_eq(sp_mbuf_room(m), pool.data_size);
    ck_assert_uint_eq(sp_mbuf_length(m), 0);
    memcpy(m->last, "hello", 5);
    m->last += 5;
    ck_assert_uint_eq(sp_mbuf_length(m), 5);
    ck_assert_uint_eq(sp_mbuf_room(m), pool.data_size - 5);
    sp_mbuf_unref(&pool, m);
    sp_mbuf_pool_destroy(&pool);
}
END_TEST

START_TEST(test_recycling_allocates_nothing)
{
    struct sp_mbuf_pool pool;
    struct sp_mbuf *held[64];

    sp_mbuf_pool_init(&pool, 1024);
    for (int i = 0; i < 64; i++) {
        held[i] = sp_mbuf_get(&pool);
    }
    for (int i = 0; i < 64; i++) {
        sp_mbuf_unref(&pool, held[i]);
    }
    ck_assert_uint_eq(pool.nalloc, 64);
    /* steady state: 160,000 get/put cycles of up to 64 buffers */
    for (int round = 0; round < 5000; round++) {
        int n = 1 + round % 64;
        for (int i = 0; i < n; i++) {
            held[i] = sp_mbuf_get(&pool);
            ck_assert_uint_eq(sp_mbuf_length(held[i]), 0);
            ck_assert_uint_eq(held[i]->refs, 1);
        }
        for (int i = 0; i < n; i++) {
            sp_mbuf_unref(&pool, held[i]);
        }
    }
    ck_assert_uint_eq(pool.nalloc, 64);
    ck_assert_uint_eq(pool.nused, 0);
    ck_assert_uint_eq(pool.nfree, 64);
    sp_mbuf_pool_destroy(&pool);
}
END_TEST

START_TEST(test_refcount_shares)
{
    struct sp_mbuf_pool pool;
    struct sp_mbuf *m;

    sp_mbuf_pool_init(&pool, 512);
    m = sp_mbuf_get(&pool);
    sp_mbuf_ref(m);
    sp_mbuf_unref(&pool, m);
    ck_assert_uint_eq(pool.nused, 1);       /* still referenced */
    ck_assert_uint_eq(pool.nfree, 0);
    sp_mbuf_unref(&pool, m);
    ck_assert_uint_eq(pool.nused, 0);
    ck_assert_uint_eq(pool.nfree, 1);
    sp_mbuf_pool_destroy(&pool);
}
END_TEST

/* Take `n` buffers and give them back: one period's peak need. */
static void
need(struct sp_mbuf_pool *pool, int n)
{
    struct sp_mbuf *held[128];

    for (int i = 0; i < n; i++) {
        held[i] = sp_mbuf_get(pool);
    }
    for (int i = 0; i < n; i++) {
        sp_mbuf_unref(pool, held[i]);
    }
}

START_TEST(test_trim_shrinks_after_idle_window)
{
    struct sp_mbuf_pool pool;

    sp_mbuf_pool_init(&pool, 512);
    need(&pool, 100);                       /* a burst needs 100 */
    ck_assert_uint_eq(pool.nalloc, 100);
    ck_assert_uint_eq(sp_mbuf_pool_trim(&pool, 0), 0);  /* its period ends */
    /* load drops to 10: the 90 stay for the whole window */
    for (int period = 0; period < SP_TRIM_PERIODS - 1; period++) {
        need(&pool, 10);
        ck_assert_uint_eq(sp_mbuf_pool_trim(&pool, 0), 0);
    }
    need(&pool, 10);
    ck_assert_uint_eq(pool.nfree, 100);
    /* the burst's period leaves the window: 90 were never needed since */
    ck_assert_uint_eq(sp_mbuf_pool_trim(&pool, 0), 90);
    ck_assert_uint_eq(pool.nfree, 10);
    /* idle from now on: the rest goes down to `keep` a window later */
    for (int period = 0; period < SP_TRIM_PERIODS - 1; period++) {
        ck_assert_uint_eq(sp_mbuf_pool_trim(&pool, 4), 0);
    }
    ck_assert_uint_eq(sp_mbuf_pool_trim(&pool, 4), 6);
    ck_assert_uint_eq(pool.nfree, 4);
    ck_assert_uint_eq(sp_mbuf_pool_trim(&pool, 4), 0);
    sp_mbuf_pool_destroy(&pool);
    ck_assert_uint_eq(pool.nfree, 0);
}
END_TEST

START_TEST(test_trim_keeps_what_a_bursty_load_needs)
{
    struct sp_mbuf_pool pool;

    sp_mbuf_pool_init(&pool, 512);
    /* a steady load whose peak comes every few periods, never in all */
    for (int period = 0; period < 5 * SP_TRIM_PERIODS; period++) {
        need(&pool, period % 4 == 0 ? 100 : 20);
        sp_mbuf_pool_trim(&pool, 0);
    }
    ck_assert_uint_eq(pool.nalloc, 100);    /* never freed, never again */
    ck_assert_uint_eq(pool.nfree, 100);
    sp_mbuf_pool_destroy(&pool);
}
END_TEST

START_TEST(test_chain_copy_across_buffers)
{
    struct sp_mbuf_pool pool;
    struct sp_mbuf_chain chain;
    uint8_t out[32];

    sp_mbuf_pool_init(&pool, 512);
    sp_mbuf_chain_init(&chain);
    sp_mbuf_chain_append(&chain, mbuf_filled(&pool, "xxabc"));
    sp_mbuf_chain_append(&chain, mbuf_filled(&pool, "defg"));
    sp_mbuf_chain_append(&chain, mbuf_filled(&pool, "hij"));
    chain.head->pos += 2;                   /* "xx" already consumed */
    ck_assert_uint_eq(sp_mbuf_chain_length(&chain), 10);

    ck_assert_uint_eq(sp_mbuf_chain_copy(&chain, 0, out, 10), 10);
    ck_assert(memcmp(out, "abcdefghij", 10) == 0);
    ck_assert_uint_eq(sp_mbuf_chain_copy(&chain, 2, out, 6), 6);
    ck_assert(memcmp(out, "cdefgh", 6) == 0);
    ck_assert_uint_eq(sp_mbuf_chain_copy(&chain, 7, out, 10), 3);
    ck_assert(memcmp(out, "hij", 3) == 0);
    ck_assert_uint_eq(sp_mbuf_chain_copy(&chain, 10, out, 1), 0);

    struct sp_mbuf *head = sp_mbuf_chain_pop(&chain);
    ck_assert_ptr_nonnull(head);
    ck_assert_ptr_null(head->next);
    sp_mbuf_unref(&pool, head);
    ck_assert_uint_eq(sp_mbuf_chain_length(&chain), 7);
    sp_mbuf_chain_release(&pool, &chain);
    ck_assert_ptr_null(chain.head);
    ck_assert_ptr_null(chain.tail);
    ck_assert_uint_eq(pool.nused, 0);
    sp_mbuf_pool_destroy(&pool);
}
END_TEST

Suite *
sp_test_mbuf_suite(void)
{
    Suite *s = suite_create("mbuf");

    /* sanitizer builds are slow */
    SP_TEST_CASE(s, "mbuf", 60, test_sizes_and_markers,
                 test_recycling_allocates_nothing, test_refcount_shares,
                 test_trim_shrinks_after_idle_window,
                 test_trim_keeps_what_a_bursty_load_needs,
                 test_chain_copy_across_buffers);
    return s;
}
