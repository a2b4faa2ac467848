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
    ck_assert_uint_eq(sp_seglist_n(&list), 1);   /* contiguous: merged */
    ck_assert_uint_eq(sp_seglist_bytes(&list), 11);
    ck_assert_uint_eq(m->refs, 2);              /* one for the list */
    ck_assert_int_eq(sp_seglist_push(&list, NULL, (const uint8_t *)"!", 1), 0);
    ck_assert_int_eq(sp_seglist_push(&list, NULL, (const uint8_t *)"", 0), 0);
    ck_assert_uint_eq(sp_seglist_n(&list), 2);
    sp_seglist_clear(&pool, &list);
    ck_assert_uint_eq(m->refs, 1);
    ck_assert_uint_eq(sp_seglist_n(&list), 0);
    ck_assert_ptr_nonnull(pool.segs.free[0]);   /* its array: cached */
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
    ck_assert_uint_eq(sp_seglist_n(&list), 3);
    ck_assert_uint_eq(sp_seglist_bytes(&list), 8);
    ck_assert_uint_eq(sp_seglist_copy(&list, 0, out, 16), 8);
    ck_assert(memcmp(out, "cdefghij", 8) == 0);

    ck_assert_int_eq(sp_seglist_slice(&part, &list, 1, 5), 0);
    ck_assert_uint_eq(sp_seglist_bytes(&part), 5);
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

/* Lookups through a cursor give what fresh lookups give, at every offset and
 * length, in rising order (the fan-out's walk) and after stepping back. */
START_TEST(test_cursor_lookups)
{
    static const char *pieces[] = { "ab", "c", "defg", "", "hij", "k" };
    static const char text[] = "abcdefghijk";
    struct sp_seglist list = { 0 };
    struct sp_seg_cursor walk = SP_SEG_CURSOR_INIT;
    uint8_t a[16], b[16];

    for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
        sp_seglist_push(&list, NULL, (const uint8_t *)pieces[i],
                        (uint32_t)strlen(pieces[i]));
    }
    for (uint64_t off = 0; off <= 11; off++) {
        for (uint64_t len = 0; off + len <= 11; len++) {
            struct sp_seg_cursor cur = walk;
            struct sp_seglist x = { 0 }, y = { 0 };

            ck_assert_ptr_eq(sp_seglist_contiguous_at(&list, &cur, off, len),
                             sp_seglist_contiguous(&list, off, len));
            cur = walk;
            ck_assert_uint_eq(sp_seglist_copy_at(&list, &cur, off, a, len), len);
            ck_assert(memcmp(a, text + off, len) == 0);
            cur = walk;
            ck_assert_int_eq(sp_seglist_slice_at(&x, &list, &cur, off, len), 0);
            ck_assert_int_eq(sp_seglist_slice(&y, &list, off, len), 0);
            ck_assert_uint_eq(sp_seglist_bytes(&x), len);
            ck_assert_uint_eq(sp_seglist_n(&x), sp_seglist_n(&y));
            sp_seglist_copy(&x, 0, b, len);
            ck_assert(memcmp(b, text + off, len) == 0);
            sp_seglist_free(NULL, &x);
            sp_seglist_free(NULL, &y);
        }
        /* the walk moves on: one key after another */
        ck_assert_uint_eq(sp_seglist_copy_at(&list, &walk, off, a, 1),
                          off < 11 ? 1 : 0);
    }
    /* a lookup before the cursor starts over */
    ck_assert_uint_eq(sp_seglist_copy_at(&list, &walk, 0, a, 11), 11);
    ck_assert(memcmp(a, text, 11) == 0);
    sp_seglist_free(NULL, &list);
}
END_TEST

/* One piece lives in the list itself (16 bytes, no array); a second moves
 * both into an array from the buffers' pool, which takes it back when the
 * list is cleared and hands it out again: a recycled list allocates nothing,
 * and a bigger one takes a bigger size. */
START_TEST(test_inline_piece_and_recycled_array)
{
    struct sp_mbuf_pool pool;
    struct sp_seglist list = { 0 };
    struct sp_mbuf *a, *b;
    struct iovec iov[4];
    struct sp_seg_block *first = NULL;

    ck_assert_uint_eq(sizeof(list), 16);
    sp_mbuf_pool_init(&pool, 512);
    a = mbuf_filled(&pool, "GET k");
    b = mbuf_filled(&pool, "ey");
    ck_assert_ptr_eq(a->pool, &pool);
    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(sp_seglist_push(&list, a, a->pos, 5), 0);
        ck_assert_uint_eq(sp_seglist_n(&list), 1);
        ck_assert(!sp_seglist_spread(&list));          /* nothing taken */
        ck_assert_ptr_eq(sp_seg_mbuf(&sp_seglist_segs(&list)[0]), a);
        ck_assert_uint_eq(a->refs, 2);
        ck_assert_int_eq(sp_seglist_push(&list, b, b->pos, 2), 0);
        ck_assert_int_eq(sp_seglist_push(&list, NULL, (const uint8_t *)"!",
                                         1), 0);
        ck_assert(sp_seglist_spread(&list));
        if (round == 0) {
            first = list.spread.more;
        }
        ck_assert_ptr_eq(list.spread.more, first);     /* the same array */
        ck_assert_uint_eq(sp_seglist_n(&list), 3);
        ck_assert_uint_eq(sp_seglist_bytes(&list), 8);
        ck_assert_ptr_eq(sp_seg_mbuf(&sp_seglist_segs(&list)[0]), a);
        ck_assert_ptr_eq(sp_seg_mbuf(&sp_seglist_segs(&list)[1]), b);
        ck_assert_ptr_null(sp_seg_mbuf(&sp_seglist_segs(&list)[2]));
        ck_assert_int_eq(sp_seglist_iov(&list, 0, 4, iov, 4), 3);
        ck_assert_uint_eq(iov[0].iov_len, 1);           /* "k" */
        ck_assert_uint_eq(iov[1].iov_len, 2);
        uint8_t out[8];
        ck_assert_uint_eq(sp_seglist_copy(&list, 0, out, 8), 8);
        ck_assert(memcmp(out, "GET key!", 8) == 0);
        sp_seglist_clear(&pool, &list);
        ck_assert_uint_eq(sp_seglist_n(&list), 0);
        ck_assert_uint_eq(sp_seglist_bytes(&list), 0);
        ck_assert_uint_eq(a->refs, 1);
        ck_assert_uint_eq(b->refs, 1);
        ck_assert_uint_eq(pool.segs.nfree[0], 1);
    }
    /* many pieces: the array doubles, each size from (and back to) the cache */
    for (uint32_t i = 0; i < 100; i++) {
        const uint8_t *x = (const uint8_t *)"xy" + (i & 1);
        ck_assert_int_eq(sp_seglist_push_in(&pool, &list, NULL, x, 1), 0);
    }
    ck_assert_uint_eq(sp_seglist_n(&list), 100);
    ck_assert_uint_eq(sp_seglist_bytes(&list), 100);
    ck_assert_uint_ge(list.spread.more->cap, 100);
    sp_seglist_clear(NULL, &list);
    ck_assert_uint_eq(pool.segs.nfree[5], 1);           /* 128 pieces */
    /* reserving room for many, then one piece: counted right */
    ck_assert_int_eq(sp_seglist_reserve(&pool, &list, 100), 0);
    ck_assert_uint_eq(pool.segs.nfree[5], 0);           /* taken again */
    ck_assert_int_eq(sp_seglist_push(&list, a, a->pos + 1, 3), 0);
    ck_assert_uint_eq(sp_seglist_n(&list), 1);
    ck_assert_uint_eq(sp_seglist_bytes(&list), 3);
    sp_seglist_free(&pool, &list);
    sp_mbuf_unref(&pool, a);
    sp_mbuf_unref(&pool, b);
    ck_assert_uint_eq(pool.nused, 0);
    sp_mbuf_pool_destroy(&pool);                        /* frees the cache */
    for (int c = 0; c < SP_SEG_CLASSES; c++) {
        ck_assert_uint_eq(pool.segs.nfree[c], 0);
    }
}
END_TEST

Suite *
sp_test_seg_suite(void)
{
    return SP_TEST_SUITE("seg", test_refs_and_merge,
                         test_chain_range_and_slice,
                         test_iov_and_partial_writes, test_cursor_lookups,
                         test_inline_piece_and_recycled_array);
}
