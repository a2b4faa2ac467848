/*
 * test_seg.c — segment lists: references taken and dropped, adjacent bytes
 * of one buffer merged, chain ranges and slices across buffer boundaries,
 * contiguity, copies, and iovec/advance bookkeeping for partial writes.
 */
#include <string.h>

#include "sp_seg.h"
#include "sp_test.h"

static void
chain3(struct sp_mbuf_pool *pool, struct sp_mbuf_chain *chain)
{
    sp_mbuf_chain_init(chain);
    sp_mbuf_chain_append(chain, mbuf_filled(pool, "abcd"));
    sp_mbuf_chain_append(chain, mbuf_filled(pool, "efgh"));
    sp_mbuf_chain_append(chain, mbuf_filled(pool, "ijkl"));
}

START_TEST(test_refs_and_merge)
{
    struct sp_mbuf_pool pool;
    struct sp_seglist list = { 0 };
    struct sp_mbuf *m;

    sp_mbuf_pool_init(&pool, 512);
    m = mbuf_filled(&pool, "hello world");
    ck_assert_int_eq(sp_seglist_push(&list, m, m->pos, 5), 0);
    ck_assert_int_eq(sp_seglist_push(&list, m, m->pos + 5, 6), 0);
    ck_assert_uint_eq(list.n, 1);               /* contiguous: merged */
    ck_assert_uint_eq(list.bytes, 11);
    ck_assert_uint_eq(m->refs, 2);              /* one for the list */
    ck_assert_int_eq(sp_seglist_push(&list, NULL, (const uint8_t *)"!", 1), 0);
    ck_assert_int_eq(sp_seglist_push(&list, NULL, (const uint8_t *)"", 0), 0);
    ck_assert_uint_eq(list.n, 2);
    sp_seglist_clear(&pool, &list);
    ck_assert_uint_eq(m->refs, 1);
    ck_assert_uint_eq(list.n, 0);
    ck_assert_uint_ge(list.cap, 2);             /* the array is kept */
    sp_mbuf_unref(&pool, m);
    ck_assert_uint_eq(pool.nused, 0);
    sp_seglist_free(&pool, &list);
    sp_mbuf_pool_destroy(&pool);
}
END_TEST

START_TEST(test_chain_range_and_slice)
{
    struct sp_mbuf_pool pool;
    struct sp_mbuf_chain chain;
    struct sp_seglist list = { 0 }, part = { 0 };
    uint8_t out[16];

    sp_mbuf_pool_init(&pool, 512);
    chain3(&pool, &chain);
    /* stream offsets: the chain's head starts at 100 */
    ck_assert_int_eq(sp_seglist_from_chain(&list, &chain, 100, 102, 110), 0);
    ck_assert_uint_eq(list.n, 3);
    ck_assert_uint_eq(list.bytes, 8);
    ck_assert_uint_eq(sp_seglist_copy(&list, 0, out, 16), 8);
    ck_assert(memcmp(out, "cdefghij", 8) == 0);

    ck_assert_int_eq(sp_seglist_slice(&part, &list, 1, 5), 0);
    ck_assert_uint_eq(part.bytes, 5);
    ck_assert_uint_eq(sp_seglist_copy(&part, 0, out, 16), 5);
    ck_assert(memcmp(out, "defgh", 5) == 0);

    ck_assert_ptr_nonnull(sp_seglist_contiguous(&list, 2, 4));   /* efgh */
    ck_assert_ptr_null(sp_seglist_contiguous(&list, 1, 3));      /* d|ef */
    ck_assert(memcmp(sp_seglist_contiguous(&list, 2, 4), "efgh", 4) == 0);

    sp_mbuf_chain_release(&pool, &chain);
    ck_assert_uint_gt(pool.nused, 0);           /* the lists hold them */
    sp_seglist_free(&pool, &list);
    sp_seglist_free(&pool, &part);
    ck_assert_uint_eq(pool.nused, 0);
    sp_mbuf_pool_destroy(&pool);
}
END_TEST

START_TEST(test_iov_and_partial_writes)
{
    struct sp_seglist list = { 0 };
    struct iovec iov[4];
    uint32_t seg = 0, off = 0;

    sp_seglist_push(&list, NULL, (const uint8_t *)"aaa", 3);
    sp_seglist_push(&list, NULL, (const uint8_t *)"bb", 2);
    sp_seglist_push(&list, NULL, (const uint8_t *)"c", 1);
    ck_assert_int_eq(sp_seglist_iov(&list, seg, off, iov, 4), 3);
    ck_assert_uint_eq(sp_seglist_advance(&list, &seg, &off, 4), 0);
    ck_assert_uint_eq(seg, 1);
    ck_assert_uint_eq(off, 1);
    ck_assert_int_eq(sp_seglist_iov(&list, seg, off, iov, 4), 2);
    ck_assert_uint_eq(iov[0].iov_len, 1);
    ck_assert(memcmp(iov[0].iov_base, "b", 1) == 0);
    ck_assert_int_eq(sp_seglist_iov(&list, seg, off, iov, 1), 1);
    /* more written than the list holds: the rest is reported back */
    ck_assert_uint_eq(sp_seglist_advance(&list, &seg, &off, 10), 8);
    ck_assert_uint_eq(seg, 3);
    sp_seglist_free(NULL, &list);
}
END_TEST

Suite *
sp_test_seg_suite(void)
{
    return SP_TEST_SUITE("seg", test_refs_and_merge,
                         test_chain_range_and_slice,
                         test_iov_and_partial_writes);
}
