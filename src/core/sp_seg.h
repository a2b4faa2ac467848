/*
 * sp_seg.h — segment lists: the bytes of one message as a list of
 * (buffer, pointer, length) pieces, written out with one writev.
 *
 * A segment either references bytes inside an mbuf (and holds a reference
 * on it, so the buffer outlives the connection that read it) or points at
 * bytes the message owns or static text (mbuf == NULL). Requests are
 * forwarded and replies returned as segment lists over the buffers they were
 * read into: zero-copy. A list of one piece holds it inline; a longer one
 * keeps its array when emptied, so a recycled message allocates nothing.
 */
#ifndef SP_SEG_H
#define SP_SEG_H

#include <stdint.h>
#include <sys/uio.h>

#include "sp_mbuf.h"

struct sp_seg {
    const uint8_t  *data;
    uint32_t        len;
    uint32_t        back;       /* data - the mbuf it lies in (that mbuf is
                                   referenced), or 0: no mbuf */
};

/* The mbuf a segment references, or NULL. */
static inline struct sp_mbuf *
sp_seg_mbuf(const struct sp_seg *seg)
{
    return seg->back != 0 ? (struct sp_mbuf *)(uintptr_t)(seg->data - seg->back)
                          : NULL;
}

/* Pieces beyond the first: an array with its count and byte sum. */
struct sp_seg_block {
    uint64_t        bytes;      /* sum of lengths */
    uint32_t        n;
    uint32_t        cap;
    struct sp_seg   segs[];
};

/*
 * A list of one piece (most requests and replies: their bytes lie in one
 * buffer) holds it inline and allocates nothing; a second piece moves both
 * into `more`, which the list keeps when emptied (a recycled message
 * allocates nothing). All zero: empty. Read through the accessors below.
 */
struct sp_seglist {
    struct sp_seg_block *more;  /* in use when more->n > 0 */
    struct sp_seg        one;   /* the only piece, when `more` is not in use */
};

static inline int
sp_seglist_spread(const struct sp_seglist *list)
{
    return list->more != NULL && list->more->n > 0;
}

/* The number of pieces. */
static inline uint32_t
sp_seglist_n(const struct sp_seglist *list)
{
    return sp_seglist_spread(list) ? list->more->n : list->one.len > 0;
}

/* The sum of their lengths. */
static inline uint64_t
sp_seglist_bytes(const struct sp_seglist *list)
{
    return sp_seglist_spread(list) ? list->more->bytes : list->one.len;
}

/* The pieces, sp_seglist_n of them. */
static inline const struct sp_seg *
sp_seglist_segs(const struct sp_seglist *list)
{
    return sp_seglist_spread(list) ? list->more->segs : &list->one;
}

/*
 * A reading position in a list, for a run of lookups at rising offsets (the
 * keys of one request, the elements of one reply): each lookup starts at the
 * segment where the last one ended, so n lookups cost O(n + segments), not
 * O(n * segments). A lookup before the cursor starts again from the first
 * segment. Valid while the list only grows at its end.
 */
struct sp_seg_cursor {
    uint32_t seg;               /* segment the last lookup ended in */
    uint64_t at;                /* list offset of that segment's first byte */
};

#define SP_SEG_CURSOR_INIT { 0, 0 }

/* Room for n pieces in all (a list about to take many: one allocation
 * instead of a doubling series). 0 / -1. */
int sp_seglist_reserve(struct sp_seglist *list, uint32_t n);

/* Append a piece; takes a new reference on mbuf (when not NULL). 0 / -1. */
int sp_seglist_push(struct sp_seglist *list, struct sp_mbuf *mbuf,
                    const uint8_t *data, uint32_t len);

/*
 * Append the stream bytes [start, end) of a chain whose head's pos is at
 * stream offset `base`. The range must lie within the chain. 0 / -1.
 */
int sp_seglist_from_chain(struct sp_seglist *list,
                          const struct sp_mbuf_chain *chain, uint64_t base,
                          uint64_t start, uint64_t end);

/* Append the bytes [off, off + len) of another list (references shared). */
int sp_seglist_slice(struct sp_seglist *dst, const struct sp_seglist *src,
                     uint64_t off, uint64_t len);

/* A pointer to bytes [off, off + len) when they lie in one segment, or NULL. */
const uint8_t *sp_seglist_contiguous(const struct sp_seglist *list,
                                     uint64_t off, uint64_t len);

/* Copy up to len bytes from offset off of the list into out; returns count. */
size_t sp_seglist_copy(const struct sp_seglist *list, uint64_t off,
                       uint8_t *out, size_t len);

/* The same three, starting from (and moving) a cursor over src / list. */
int sp_seglist_slice_at(struct sp_seglist *dst, const struct sp_seglist *src,
                        struct sp_seg_cursor *cur, uint64_t off, uint64_t len);
const uint8_t *sp_seglist_contiguous_at(const struct sp_seglist *list,
                                        struct sp_seg_cursor *cur,
                                        uint64_t off, uint64_t len);
size_t sp_seglist_copy_at(const struct sp_seglist *list,
                          struct sp_seg_cursor *cur, uint64_t off,
                          uint8_t *out, size_t len);

/* Drop every reference and empty the list (its array is kept). */
void sp_seglist_clear(struct sp_mbuf_pool *pool, struct sp_seglist *list);

/* Release the array too. */
void sp_seglist_free(struct sp_mbuf_pool *pool, struct sp_seglist *list);

/*
 * Fill up to max iovecs with the list's bytes from position (seg, off).
 * Returns the number of iovecs filled.
 */
int sp_seglist_iov(const struct sp_seglist *list, uint32_t seg, uint32_t off,
                   struct iovec *iov, int max);

/*
 * Advance a position (seg, off) by n bytes; returns the bytes left over
 * when the list ends first (0 normally).
 */
size_t sp_seglist_advance(const struct sp_seglist *list, uint32_t *seg,
                          uint32_t *off, size_t n);

#endif /* SP_SEG_H */
