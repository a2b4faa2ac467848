/*
 * sp_seg.c — segment lists (see sp_seg.h).
 */
#include "sp_seg.h"

#include <stdlib.h>
#include <string.h>

int
sp_seglist_reserve(struct sp_seglist *list, uint32_t n)
{
    struct sp_seg *segs;

    if (n <= list->cap) {
        return 0;
    }
    segs = realloc(list->segs, (size_t)n * sizeof(*segs));
    if (segs == NULL) {
        return -1;
    }
    list->segs = segs;
    list->cap = n;
    return 0;
}

int
sp_seglist_push(struct sp_seglist *list, struct sp_mbuf *mbuf,
                const uint8_t *data, uint32_t len)
{
    if (len == 0) {
        return 0;
    }
    /* bytes that continue the previous piece of the same buffer merge */
    if (list->n > 0) {
        struct sp_seg *last = &list->segs[list->n - 1];
        if (last->mbuf == mbuf && mbuf != NULL
            && last->data + last->len == data) {
            last->len += len;
            list->bytes += len;
            return 0;
        }
    }
    if (list->n == list->cap) {
        uint32_t cap = list->cap == 0 ? 4 : list->cap * 2;
        struct sp_seg *segs = realloc(list->segs, cap * sizeof(*segs));
        if (segs == NULL) {
            return -1;
        }
        list->segs = segs;
        list->cap = cap;
    }
    if (mbuf != NULL) {
        sp_mbuf_ref(mbuf);
    }
    list->segs[list->n].mbuf = mbuf;
    list->segs[list->n].data = data;
    list->segs[list->n].len = len;
    list->n++;
    list->bytes += len;
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
    if (off < cur->at || cur->seg > list->n) {
        cur->seg = 0;
        cur->at = 0;
    }
    while (cur->seg < list->n && off >= cur->at + list->segs[cur->seg].len) {
        cur->at += list->segs[cur->seg].len;
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
    while (cur->seg < src->n) {
        const struct sp_seg *s = &src->segs[cur->seg];
        uint64_t from = off > cur->at ? off - cur->at : 0;
        uint64_t to = end < cur->at + s->len ? end - cur->at : s->len;

        if (sp_seglist_push(dst, s->mbuf, s->data + from,
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
    if (cur->seg < list->n) {
        const struct sp_seg *s = &list->segs[cur->seg];

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
    sp_seg_seek(list, cur, off);
    while (cur->seg < list->n) {
        const struct sp_seg *s = &list->segs[cur->seg];
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
    for (uint32_t i = 0; i < list->n; i++) {
        if (list->segs[i].mbuf != NULL) {
            sp_mbuf_unref(pool, list->segs[i].mbuf);
        }
    }
    list->n = 0;
    list->bytes = 0;
}

void
sp_seglist_free(struct sp_mbuf_pool *pool, struct sp_seglist *list)
{
    sp_seglist_clear(pool, list);
    free(list->segs);
    list->segs = NULL;
    list->cap = 0;
}

int
sp_seglist_iov(const struct sp_seglist *list, uint32_t seg, uint32_t off,
               struct iovec *iov, int max)
{
    int n = 0;

    for (uint32_t i = seg; i < list->n && n < max; i++) {
        uint32_t skip = i == seg ? off : 0;

        iov[n].iov_base = (void *)(list->segs[i].data + skip);
        iov[n].iov_len = list->segs[i].len - skip;
        n++;
    }
    return n;
}

size_t
sp_seglist_advance(const struct sp_seglist *list, uint32_t *seg,
                   uint32_t *off, size_t n)
{
    while (n > 0 && *seg < list->n) {
        uint32_t left = list->segs[*seg].len - *off;

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
