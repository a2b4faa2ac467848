/*
 * sp_seg.c — segment lists (see sp_seg.h).
 */
#include "sp_seg.h"

#include <stdlib.h>
#include <string.h>

/* Room for n pieces in `more` (moving the inline piece there first). */
static int
sp_seglist_grow(struct sp_seglist *list, uint32_t n)
{
    struct sp_seg_block *more = list->more;
    uint32_t used = more != NULL ? more->n : 0;

    if (more == NULL || more->cap < n) {
        more = realloc(more, sizeof(*more) + (size_t)n * sizeof(more->segs[0]));
        if (more == NULL) {
            return -1;
        }
        if (list->more == NULL) {
            more->n = 0;
            more->bytes = 0;
        }
        more->cap = n;
        list->more = more;
    }
    if (used == 0 && list->one.len > 0) {
        more->segs[0] = list->one;
        more->n = 1;
        more->bytes = list->one.len;
        list->one.data = NULL;
        list->one.len = 0;
        list->one.back = 0;
    }
    return 0;
}

int
sp_seglist_reserve(struct sp_seglist *list, uint32_t n)
{
    if (n <= 1 || (list->more != NULL && list->more->cap >= n)) {
        return 0;
    }
    return sp_seglist_grow(list, n);
}

int
sp_seglist_push(struct sp_seglist *list, struct sp_mbuf *mbuf,
                const uint8_t *data, uint32_t len)
{
    struct sp_seg *last;
    uint32_t back = mbuf != NULL ? (uint32_t)(data - (const uint8_t *)mbuf) : 0;

    if (len == 0) {
        return 0;
    }
    if (sp_seglist_spread(list)) {
        last = &list->more->segs[list->more->n - 1];
    } else if (list->one.len > 0) {
        last = &list->one;
    } else {
        last = NULL;
    }
    /* bytes that continue the previous piece of the same buffer merge */
    if (last != NULL && mbuf != NULL && last->data + last->len == data
        && sp_seg_mbuf(last) == mbuf) {
        last->len += len;
        if (last != &list->one) {
            list->more->bytes += len;
        }
        return 0;
    }
    if (last == NULL) {
        if (mbuf != NULL) {
            sp_mbuf_ref(mbuf);
        }
        list->one.data = data;
        list->one.len = len;
        list->one.back = back;
        return 0;
    }
    if (!sp_seglist_spread(list)) {             /* the second piece */
        if (sp_seglist_grow(list, list->more != NULL && list->more->cap > 4
                                  ? list->more->cap : 4) != 0) {
            return -1;
        }
    } else if (list->more->n == list->more->cap
               && sp_seglist_grow(list, list->more->cap * 2) != 0) {
        return -1;
    }
    if (mbuf != NULL) {
        sp_mbuf_ref(mbuf);
    }
    struct sp_seg_block *more = list->more;
    more->segs[more->n].data = data;
    more->segs[more->n].len = len;
    more->segs[more->n].back = back;
    more->n++;
    more->bytes += len;
    return 0;
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
    const struct sp_seg *segs = sp_seglist_segs(list);
    uint32_t n = sp_seglist_n(list);

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
    sp_seg_seek(list, cur, off);
    if (cur->seg < sp_seglist_n(list)) {
        const struct sp_seg *s = &sp_seglist_segs(list)[cur->seg];

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
    const struct sp_seg *segs = sp_seglist_segs(list);
    uint32_t nsegs = sp_seglist_n(list);

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
    const struct sp_seg *segs = sp_seglist_segs(list);
    uint32_t n = sp_seglist_n(list);

    for (uint32_t i = 0; i < n; i++) {
        struct sp_mbuf *mbuf = sp_seg_mbuf(&segs[i]);
        if (mbuf != NULL) {
            sp_mbuf_unref(pool, mbuf);
        }
    }
    if (list->more != NULL) {
        list->more->n = 0;
        list->more->bytes = 0;
    }
    list->one.data = NULL;
    list->one.len = 0;
    list->one.back = 0;
}

void
sp_seglist_free(struct sp_mbuf_pool *pool, struct sp_seglist *list)
{
    sp_seglist_clear(pool, list);
    free(list->more);
    list->more = NULL;
}

int
sp_seglist_iov(const struct sp_seglist *list, uint32_t seg, uint32_t off,
               struct iovec *iov, int max)
{
    const struct sp_seg *segs = sp_seglist_segs(list);
    uint32_t nsegs = sp_seglist_n(list);
    int n = 0;

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
    const struct sp_seg *segs = sp_seglist_segs(list);
    uint32_t nsegs = sp_seglist_n(list);

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
