/*
 * sp_mbuf.c — buffers, chains and the shrinking free list (see sp_mbuf.h).
 */
#include "sp_mbuf.h"

#include <stdlib.h>

#include "sp_seg.h"
#include <string.h>

void
sp_mbuf_pool_init(struct sp_mbuf_pool *pool, size_t chunk_size)
{
    memset(pool, 0, sizeof(*pool));
    pool->chunk_size = chunk_size;
    pool->data_size = chunk_size - sizeof(struct sp_mbuf);
    sp_trim_init(&pool->trim, 0);
    for (int c = 0; c < SP_SEG_CLASSES; c++) {
        sp_trim_init(&pool->segs.trim[c], 0);
    }
}

void
sp_mbuf_pool_destroy(struct sp_mbuf_pool *pool)
{
    while (pool->free != NULL) {
        struct sp_mbuf *mbuf = pool->free;
        pool->free = mbuf->next;
        free(mbuf);
    }
    pool->nfree = 0;
    sp_trim_init(&pool->trim, 0);
    sp_seg_cache_trim(pool, 0, true);
}

static void
sp_mbuf_reset(struct sp_mbuf_pool *pool, struct sp_mbuf *mbuf)
{
    mbuf->next = NULL;
    mbuf->pos = mbuf->last = mbuf->start;
    mbuf->end = mbuf->start + pool->data_size;
    mbuf->pool = pool;
    mbuf->refs = 1;
}

struct sp_mbuf *
sp_mbuf_get(struct sp_mbuf_pool *pool)
{
    struct sp_mbuf *mbuf = pool->free;

    if (mbuf != NULL) {
        pool->free = mbuf->next;
        pool->nfree--;
        sp_trim_note(&pool->trim, pool->nfree);
    } else {
        mbuf = malloc(pool->chunk_size);
        if (mbuf == NULL) {
            return NULL;
        }
        pool->nalloc++;
        if (pool->nalloc_shown != NULL) {
            *pool->nalloc_shown = (int64_t)pool->nalloc;
        }
    }
    sp_mbuf_reset(pool, mbuf);
    pool->nused++;
    return mbuf;
}

void
sp_mbuf_unref(struct sp_mbuf_pool *pool, struct sp_mbuf *mbuf)
{
    if (--mbuf->refs > 0) {
        return;
    }
    mbuf->next = pool->free;
    pool->free = mbuf;
    pool->nfree++;
    pool->nused--;
}

uint32_t
sp_mbuf_pool_trim(struct sp_mbuf_pool *pool, uint32_t keep)
{
    uint32_t excess = sp_trim_period_end(&pool->trim, pool->nfree, keep);

    for (uint32_t i = 0; i < excess; i++) {
        struct sp_mbuf *mbuf = pool->free;
        pool->free = mbuf->next;
        free(mbuf);
    }
    pool->nfree -= excess;
    return excess;
}

void
sp_mbuf_chain_append(struct sp_mbuf_chain *chain, struct sp_mbuf *mbuf)
{
    mbuf->next = NULL;
    if (chain->tail == NULL) {
        chain->head = chain->tail = mbuf;
    } else {
        chain->tail->next = mbuf;
        chain->tail = mbuf;
    }
}

struct sp_mbuf *
sp_mbuf_chain_pop(struct sp_mbuf_chain *chain)
{
    struct sp_mbuf *mbuf = chain->head;

    if (mbuf != NULL) {
        chain->head = mbuf->next;
        if (chain->head == NULL) {
            chain->tail = NULL;
        }
        mbuf->next = NULL;
    }
    return mbuf;
}

void
sp_mbuf_chain_release(struct sp_mbuf_pool *pool, struct sp_mbuf_chain *chain)
{
    struct sp_mbuf *mbuf;

    while ((mbuf = sp_mbuf_chain_pop(chain)) != NULL) {
        sp_mbuf_unref(pool, mbuf);
    }
}

size_t
sp_mbuf_chain_length(const struct sp_mbuf_chain *chain)
{
    size_t len = 0;

    for (const struct sp_mbuf *m = chain->head; m != NULL; m = m->next) {
        len += sp_mbuf_length(m);
    }
    return len;
}

size_t
sp_mbuf_chain_copy(const struct sp_mbuf_chain *chain, size_t skip,
                   uint8_t *out, size_t len)
{
    size_t copied = 0;

    for (const struct sp_mbuf *m = chain->head; m != NULL && copied < len;
         m = m->next) {
        size_t have = sp_mbuf_length(m);

        if (skip >= have) {
            skip -= have;
            continue;
        }
        size_t n = have - skip;
        if (n > len - copied) {
            n = len - copied;
        }
        memcpy(out + copied, m->pos + skip, n);
        copied += n;
        skip = 0;
    }
    return copied;
}
