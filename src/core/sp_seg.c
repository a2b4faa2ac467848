/*
 * sp_seg.c — segment lists (see sp_seg.h).
 */
#include "sp_seg.h"

#include <stdlib.h>
#include <string.h>

#include "sp_trim.h"

/* The size class of an array of at least cap pieces, or -1: beyond. */
static int
sp_seg_class(uint32_t cap)
{
    int c = 0;

    while (c < SP_SEG_CLASSES && (4u << c) < cap) {
        c++;
    }
    return c < SP_SEG_CLASSES ? c : -1;
}

/* An empty array of at least cap pieces: pool's cache, or malloc. */
static struct sp_seg_block *
sp_seg_block_take(struct sp_mbuf_pool *pool, uint32_t cap)
{
    int c = sp_seg_class(cap);
    struct sp_seg_block *block;

    if (c >= 0) {
        cap = 4u << c;
        if (pool != NULL && pool->segs.free[c] != NULL) {
            block = pool->segs.free[c];
            pool->segs.free[c] = block->free_next;
            pool->segs.nfree[c]--;
            sp_trim_note(&pool->segs.trim[c], pool->segs.nfree[c]);
            goto taken;
        }
    }
    block = malloc(sizeof(*block) + (size_t)cap * sizeof(block->segs[0]));
    if (block == NULL) {
        return NULL;
    }
    block->cap = cap;
taken:
    block->bytes = 0;
    block->n = 0;
    block->pool = pool;
    return block;
}

/* Back to a cache (block's own pool first), or freed. */
static void
sp_seg_block_give(struct sp_mbuf_pool *pool, struct sp_seg_block *block)
{
    int c = sp_seg_class(block->cap);

    if (block->pool != NULL) {
        pool = block->pool;
    }
    if (pool == NULL || c < 0 || (4u << c) != block->cap) {
        free(block);
        return;
    }
    block->free_next = pool->segs.free[c];
    pool->segs.free[c] = block;
    pool->segs.nfree[c]++;
}

void
sp_seg_cache_trim(struct sp_mbuf_pool *pool, uint32_t keep, bool all)
{
    for (int c = 0; c < SP_SEG_CLASSES; c++) {
        uint32_t excess = all ? pool->segs.nfree[c]
                              : sp_trim_period_end(&pool->segs.trim[c],
                                                   pool->segs.nfree[c], keep);

        for (uint32_t i = 0; i < excess; i++) {
            struct sp_seg_block *block = pool->segs.free[c];
            pool->segs.free[c] = block->free_next;
            free(block);
        }
        pool->segs.nfree[c] -= excess;
    }
}

/* The pool a list's new array comes from: the caller's, the new piece's
 * buffer's, or the list's own piece's. */
static struct sp_mbuf_pool *
sp_seglist_pool(struct sp_mbuf_pool *pool, const struct sp_seglist *list,
                const struct sp_mbuf *mbuf)
{
    if (pool != NULL) {
        return pool;
    }
    if (sp_seglist_spread(list) && list->spread.more->pool != NULL) {
        return list->spread.more->pool;
    }
    if (mbuf != NULL) {
        return mbuf->pool;
    }
    if (!sp_seglist_spread(list)) {
        const struct sp_mbuf *own = sp_seg_mbuf(&list->one);
        return own != NULL ? own->pool : NULL;
    }
    return NULL;
}

/* Room for cap pieces in an array (moving the inline piece into it). */
static int
sp_seglist_grow(struct sp_mbuf_pool *pool, struct sp_seglist *list,
                uint32_t cap)
{
    struct sp_seg_block *old = sp_seglist_spread(list) ? list->spread.more
                                                       : NULL;
    struct sp_seg_block *block = sp_seg_block_take(pool, cap);

    if (block == NULL) {
        return -1;
    }
    if (old != NULL) {
        memcpy(block->segs, old->segs, (size_t)old->n * sizeof(old->segs[0]));
        block->n = old->n;
        block->bytes = old->bytes;
        if (block->pool == NULL) {
            block->pool = old->pool;
        }
        sp_seg_block_give(pool, old);
    } else if (list->one.len > 0) {
        block->segs[0] = list->one;
        block->n = 1;
        block->bytes = list->one.len;
    }
    list->spread.more = block;
    list->spread.unused = 0;
    list->spread.tag = SP_SEG_SPREAD;
    return 0;
}

int
sp_seglist_reserve(struct sp_mbuf_pool *pool, struct sp_seglist *list,
                   uint32_t n)
{
    if (n <= 1 || (sp_seglist_spread(list) && list->spread.more->cap >= n)) {
        return 0;
    }
    return sp_seglist_grow(sp_seglist_pool(pool, list, NULL), list, n);
}

int
sp_seglist_push_in(struct sp_mbuf_pool *pool, struct sp_seglist *list,
                   struct sp_mbuf *mbuf, const uint8_t *data, uint32_t len)
{
    struct sp_seg *last;
    uint32_t back = mbuf != NULL ? (uint32_t)(data - (const uint8_t *)mbuf) : 0;

    if (len == 0) {
        return 0;
    }
    if (sp_seglist_spread(list)) {
        struct sp_seg_block *more = list->spread.more;
        last = more->n > 0 ? &more->segs[more->n - 1] : NULL;
    } else {
        last = list->one.len > 0 ? &list->one : NULL;
    }
    /* bytes that continue the previous piece of the same buffer merge */
    if (last != NULL && mbuf != NULL && last->data + last->len == data
        && sp_seg_mbuf(last) == mbuf) {
        last->len += len;
        if (last != &list->one) {
            list->spread.more->bytes += len;
        }
        return 0;
    }
    if (!sp_seglist_spread(list) && last == NULL) {
        if (mbuf != NULL) {
            sp_mbuf_ref(mbuf);
        }
        list->one.data = data;
        list->one.len = len;
        list->one.back = back;
        return 0;
    }
    if (!sp_seglist_spread(list)
        || list->spread.more->n == list->spread.more->cap) {
        uint32_t cap = sp_seglist_spread(list) ? list->spread.more->cap * 2
                                               : 4;
        pool = sp_seglist_pool(pool, list, mbuf);
        if (sp_seglist_grow(pool, list, cap) != 0) {
            return -1;
        }
    }
    if (mbuf != NULL) {
        sp_mbuf_ref(mbuf);
    }
    struct sp_seg_block *more = list->spread.more;
    more->segs[more->n].data = data;
    more->segs[more->n].len = len;
    more->segs[more->n].back = back;
    more->n++;
    more->bytes += len;
    return 0;
}

int
sp_seglist_push(struct sp_seglist *list, struct sp_mbuf *mbuf,
                const uint8_t *data, uint32_t len)
{
    return sp_seglist_push_in(NULL, list, mbuf, data, len);
}

int
sp_seglist_from_chain(struct sp_seglist *list,
                      const struct sp_mbuf_chain *chain, uint64_t base,
                      uint64_t start, uint64_t end)
{
    uint64_t at = base;

    for (struct sp_mbuf *m = chain->head; m != NULL && at < end; m = m->next) {
        uint64_t mlen = sp_mbuf_length(m);
        uint64_t from = start > at ? start - at : 0;
        uint64_t to = end < at + mlen ? end - at : mlen;

        if (from < to && sp_seglist_push(list, m, m->pos + from,
                                          (uint32_t)(to - from)) != 0) {
            return -1;
        }
        at += mlen;
    }
    return 0;
}

/* Move the cursor to the segment holding offset off (or past the end). */
static void
sp_seg_seek(const struct sp_seglist *list, struct sp_seg_cursor *cur,
            uint64_t off)
{
    uint32_t n;
    const struct sp_seg *segs = sp_seglist_view(list, &n);

    if (off < cur->at || cur->seg > n) {
        cur->seg = 0;
        cur->at = 0;
    }
    while (cur->seg < n && off >= cur->at + segs[cur->seg].len) {
        cur->at += segs[cur->seg].len;
        cur->seg++;
    }
}

int
sp_seglist_slice_at(struct sp_seglist *dst, const struct sp_seglist *src,
                    struct sp_seg_cursor *cur, uint64_t off, uint64_t len)
{
    uint64_t end = off + len;

    if (len == 0) {
        return 0;
    }
    sp_seg_seek(src, cur, off);
    while (cur->seg < sp_seglist_n(src)) {
        /* read again each time: dst may be src's own list */
        const struct sp_seg *s = &sp_seglist_segs(src)[cur->seg];
        uint64_t from = off > cur->at ? off - cur->at : 0;
        uint64_t to = end < cur->at + s->len ? end - cur->at : s->len;

        if (sp_seglist_push(dst, sp_seg_mbuf(s), s->data + from,
                            (uint32_t)(to - from)) != 0) {
            return -1;
        }
        if (end <= cur->at + s->len) {
            break;                  /* the next lookup may start here too */
        }
        cur->at += s->len;
        cur->seg++;
    }
    return 0;
}

int
sp_seglist_slice(struct sp_seglist *dst, const struct sp_seglist *src,
                 uint64_t off, uint64_t len)
{
    struct sp_seg_cursor cur = SP_SEG_CURSOR_INIT;

    return sp_seglist_slice_at(dst, src, &cur, off, len);
}

const uint8_t *
sp_seglist_contiguous_at(const struct sp_seglist *list,
                         struct sp_seg_cursor *cur, uint64_t off, uint64_t len)
{
    uint32_t n;
    const struct sp_seg *segs = sp_seglist_view(list, &n);

    if (n == 1) {               /* one piece: what the seek would find */
        if (off < segs->len) {
            cur->seg = 0;
            cur->at = 0;
            return off + len <= segs->len ? segs->data + off : NULL;
        }
        cur->seg = 1;
        cur->at = segs->len;
        return len == 0 ? (const uint8_t *)"" : NULL;
    }
    sp_seg_seek(list, cur, off);
    if (cur->seg < n) {
        const struct sp_seg *s = &segs[cur->seg];

        return off + len <= cur->at + s->len ? s->data + (off - cur->at)
                                             : NULL;
    }
    return len == 0 ? (const uint8_t *)"" : NULL;
}

const uint8_t *
sp_seglist_contiguous(const struct sp_seglist *list, uint64_t off, uint64_t len)
{
    struct sp_seg_cursor cur = SP_SEG_CURSOR_INIT;

    return sp_seglist_contiguous_at(list, &cur, off, len);
}

size_t
sp_seglist_copy_at(const struct sp_seglist *list, struct sp_seg_cursor *cur,
                   uint64_t off, uint8_t *out, size_t len)
{
    size_t copied = 0;

    if (len == 0) {
        return 0;
    }
    uint32_t nsegs;
    const struct sp_seg *segs = sp_seglist_view(list, &nsegs);

    sp_seg_seek(list, cur, off);
    while (cur->seg < nsegs) {
        const struct sp_seg *s = &segs[cur->seg];
        uint64_t from = off + copied - cur->at;
        size_t n = s->len - from;

        if (n > len - copied) {
            n = len - copied;
        }
        memcpy(out + copied, s->data + from, n);
        copied += n;
        if (copied == len) {
            break;
        }
        cur->at += s->len;
        cur->seg++;
    }
    return copied;
}

size_t
sp_seglist_copy(const struct sp_seglist *list, uint64_t off, uint8_t *out,
                size_t len)
{
    struct sp_seg_cursor cur = SP_SEG_CURSOR_INIT;

    return sp_seglist_copy_at(list, &cur, off, out, len);
}

void
sp_seglist_clear(struct sp_mbuf_pool *pool, struct sp_seglist *list)
{
    if (!sp_seglist_spread(list)) {
        struct sp_mbuf *mbuf = sp_seg_mbuf(&list->one);
        if (mbuf != NULL) {
            sp_mbuf_unref(pool != NULL ? pool : mbuf->pool, mbuf);
        }
    } else {
        struct sp_seg_block *more = list->spread.more;
        for (uint32_t i = 0; i < more->n; i++) {
            struct sp_mbuf *mbuf = sp_seg_mbuf(&more->segs[i]);
            if (mbuf != NULL) {
                sp_mbuf_unref(pool != NULL ? pool : mbuf->pool, mbuf);
            }
        }
        sp_seg_block_give(pool, more);
    }
    list->one.data = NULL;
    list->one.len = 0;
    list->one.back = 0;
}

void
sp_seglist_free(struct sp_mbuf_pool *pool, struct sp_seglist *list)
{
    sp_seglist_clear(pool, list);
}

int
sp_seglist_iov(const struct sp_seglist *list, uint32_t seg, uint32_t off,
               struct iovec *iov, int max)
{
    uint32_t nsegs;
    const struct sp_seg *segs = sp_seglist_view(list, &nsegs);
    int n = 0;

    if (nsegs == 1 && seg == 0 && max > 0) {    /* one piece */
        iov->iov_base = (void *)(uintptr_t)(segs->data + off);
        iov->iov_len = segs->len - off;
        return 1;
    }
    for (uint32_t i = seg; i < nsegs && n < max; i++) {
        uint32_t skip = i == seg ? off : 0;

        iov[n].iov_base = (void *)(uintptr_t)(segs[i].data + skip);
        iov[n].iov_len = segs[i].len - skip;
        n++;
    }
    return n;
}

size_t
sp_seglist_advance(const struct sp_seglist *list, uint32_t *seg,
                   uint32_t *off, size_t n)
{
    uint32_t nsegs;
    const struct sp_seg *segs = sp_seglist_view(list, &nsegs);

    while (n > 0 && *seg < nsegs) {
        uint32_t left = segs[*seg].len - *off;

        if (n < left) {
            *off += (uint32_t)n;
            return 0;
        }
        n -= left;
        (*seg)++;
        *off = 0;
    }
    return n;
}
