/*
 * sp_seg.c — segment lists (see sp_seg.h).
 */
#include "sp_seg.h"

#include <stdlib.h>
#include <string.h>

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

int
sp_seglist_slice(struct sp_seglist *dst, const struct sp_seglist *src,
                 uint64_t off, uint64_t len)
{
    uint64_t at = 0, end = off + len;

    for (uint32_t i = 0; i < src->n && at < end; i++) {
        const struct sp_seg *s = &src->segs[i];
        uint64_t from = off > at ? off - at : 0;
        uint64_t to = end < at + s->len ? end - at : s->len;

        if (from < to && sp_seglist_push(dst, s->mbuf, s->data + from,
                                         (uint32_t)(to - from)) != 0) {
            return -1;
        }
        at += s->len;
    }
    return 0;
}

const uint8_t *
sp_seglist_contiguous(const struct sp_seglist *list, uint64_t off, uint64_t len)
{
    uint64_t at = 0;

    for (uint32_t i = 0; i < list->n; i++) {
        const struct sp_seg *s = &list->segs[i];
        if (off < at + s->len) {
            return off + len <= at + s->len ? s->data + (off - at) : NULL;
        }
        at += s->len;
    }
    return len == 0 ? (const uint8_t *)"" : NULL;
}

size_t
sp_seglist_copy(const struct sp_seglist *list, uint64_t off, uint8_t *out,
                size_t len)
{
    size_t copied = 0;
    uint64_t at = 0;

    for (uint32_t i = 0; i < list->n && copied < len; i++) {
        const struct sp_seg *s = &list->segs[i];

        if (off >= at + s->len) {
            at += s->len;
            continue;
        }
        uint64_t from = off > at ? off - at : 0;
        size_t n = s->len - from;
        if (n > len - copied) {
            n = len - copied;
        }
        memcpy(out + copied, s->data + from, n);
        copied += n;
        off += n;
        at += s->len;
    }
    return copied;
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
