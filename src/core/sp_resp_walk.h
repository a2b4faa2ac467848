/*
 * sp_resp_walk.h — reading RESP2 elements out of a buffer that holds a whole
 * reply (or its first part), in place, with no tree built: the reader the
 * master's small RESP client (Sentinel, the cluster follower) and the
 * cluster-map parser share. The data path's stream parsers are in src/proto.
 */
#ifndef SP_RESP_WALK_H
#define SP_RESP_WALK_H

#include <stddef.h>
#include <stdint.h>

/* One element: a scalar, or an array's header (its elements follow it). */
struct sp_resp_elem {
    char        type;       /* '+', '-', ':', '$', '*', or 0 (nil) */
    const char *s;          /* text ('+', '-', '$'), not terminated */
    size_t      len;
    int64_t     n;          /* ':' the number, '*' the count, '$' the length */
};

struct sp_resp_walk {
    const char *buf;
    size_t      len;
    size_t      pos;        /* the next element's first byte */
    size_t      line_max;   /* a line longer than this is no RESP; 0: any */
    int64_t     bulk_max;   /* a longer bulk string is refused; 0: any */
    int         depth_max;  /* arrays nest at most this deep (levels 0..) */
};

/*
 * Each returns 1 with w->pos past what it read, 0 when the buffer ends
 * first (w->pos unmoved: read again with more bytes), -1 when it is no
 * RESP or over a limit.
 */

/* The element at w->pos; an array's header only. */
int sp_resp_walk_next(struct sp_resp_walk *w, struct sp_resp_elem *e);

/* One whole element, found at nesting level `depth`. */
int sp_resp_walk_skip(struct sp_resp_walk *w, int depth);

/* One whole element into e: an array's header, its elements stepped over. */
int sp_resp_walk_whole(struct sp_resp_walk *w, int depth, struct sp_resp_elem *e);

#endif /* SP_RESP_WALK_H */
