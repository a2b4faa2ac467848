/*
 * sp_mbuf.h — fixed-size buffers, their chains, and the per-worker pool
 * that recycles them.
 *
 *   +--------+---------------------------------------------+
 *   | header | data ......................................  |
 *   +--------+---------------------------------------------+
 *            ^start      ^pos            ^last             ^end
 *                        (next to read)  (next to write)
 *
 * One buffer is `-m` bytes in all (nutcracker's mbuf chunk size, header
 * included). Bytes are read from a socket into the tail buffer of a
 * connection's input chain and parsed in place; a request or reply that
 * spans buffers stays in them. Buffers are reference-counted, so one buffer
 * holding the end of one request and the start of the next is shared, not
 * copied, and the outbound side can reference bytes without owning them.
 *
 * The pool's free list shrinks back when idle (twemproxy's never did: users
 * saw 100 GB): sp_mbuf_pool_trim, called once a period, frees the buffers
 * that stayed unused through a whole window of periods (sp_trim.h). No allocation happens in steady
 * state: a busy pool is served from its free list.
 */
#ifndef SP_MBUF_H
#define SP_MBUF_H

#include <stddef.h>
#include <stdint.h>

#include "sp_trim.h"

struct sp_mbuf_pool;
struct sp_seg_block;

struct sp_mbuf {
    struct sp_mbuf *next;       /* in a chain, or in the free list */
    uint8_t        *pos;
    uint8_t        *last;
    uint8_t        *end;
    struct sp_mbuf_pool *pool;  /* its own (a segment list that grows finds
                                   the arrays it recycles here: sp_seg.h) */
    uint32_t        refs;
    uint8_t         start[];    /* data */
};

/*
 * Segment arrays (sp_seg.h) for lists of more than one piece, recycled by
 * size class (4, 8, ... 256 pieces); trimmed like the buffers.
 */
#define SP_SEG_CLASSES  7

struct sp_seg_cache {
    struct sp_seg_block *free[SP_SEG_CLASSES];
    uint32_t             nfree[SP_SEG_CLASSES];
    struct sp_trim       trim[SP_SEG_CLASSES];
};

struct sp_mbuf_pool {
    size_t          chunk_size;     /* whole buffer, header included */
    size_t          data_size;      /* chunk_size - header */
    struct sp_mbuf *free;
    uint32_t        nfree;
    uint32_t        nused;          /* handed out, not yet returned */
    struct sp_trim  trim;           /* what stayed unused, for trimming */
    uint64_t        nalloc;         /* malloc calls ever (tests, stats) */
    int64_t        *nalloc_shown;   /* mirrored here at once (shared stats);
                                       NULL: nowhere */
    struct sp_seg_cache segs;       /* sp_seg.c's */
};

void sp_mbuf_pool_init(struct sp_mbuf_pool *pool, size_t chunk_size);

/* Free every buffer on the free list (buffers in use are the owners'). */
void sp_mbuf_pool_destroy(struct sp_mbuf_pool *pool);

/* An empty buffer (pos == last == start) with one reference; NULL: ENOMEM. */
struct sp_mbuf *sp_mbuf_get(struct sp_mbuf_pool *pool);

static inline void
sp_mbuf_ref(struct sp_mbuf *mbuf)
{
    mbuf->refs++;
}

/* Drop a reference; the last one returns the buffer to the pool. */
void sp_mbuf_unref(struct sp_mbuf_pool *pool, struct sp_mbuf *mbuf);

/*
 * End a period: free the buffers that were not needed during the whole
 * trim window, keeping at least `keep`. Returns how many were freed.
 */
uint32_t sp_mbuf_pool_trim(struct sp_mbuf_pool *pool, uint32_t keep);

static inline size_t
sp_mbuf_length(const struct sp_mbuf *mbuf)
{
    return (size_t)(mbuf->last - mbuf->pos);
}

static inline size_t
sp_mbuf_room(const struct sp_mbuf *mbuf)
{
    return (size_t)(mbuf->end - mbuf->last);
}

/* ---- chains ---------------------------------------------------------------- */

/* A singly-linked FIFO of buffers: append at the tail, consume at the head. */
struct sp_mbuf_chain {
    struct sp_mbuf *head;
    struct sp_mbuf *tail;
};

static inline void
sp_mbuf_chain_init(struct sp_mbuf_chain *chain)
{
    chain->head = chain->tail = NULL;
}

void sp_mbuf_chain_append(struct sp_mbuf_chain *chain, struct sp_mbuf *mbuf);

/* Detach and return the head buffer (its reference passes to the caller). */
struct sp_mbuf *sp_mbuf_chain_pop(struct sp_mbuf_chain *chain);

/* Unreference every buffer of the chain and empty it. */
void sp_mbuf_chain_release(struct sp_mbuf_pool *pool,
                           struct sp_mbuf_chain *chain);

/* Bytes between pos and last over the whole chain. */
size_t sp_mbuf_chain_length(const struct sp_mbuf_chain *chain);

/*
 * Copy len bytes starting skip bytes into the chain (counted from the head's
 * pos) into out. Returns the bytes copied (fewer if the chain is shorter).
 * For keys that span buffers; contiguous ones are used in place.
 */
size_t sp_mbuf_chain_copy(const struct sp_mbuf_chain *chain, size_t skip,
                          uint8_t *out, size_t len);

#endif /* SP_MBUF_H */
