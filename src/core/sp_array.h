/*
 * sp_array.h — growing the arrays that messages and connections keep for
 * reuse (they grow to the largest size seen and are trimmed with their
 * owner, so steady state does not allocate).
 */
#ifndef SP_ARRAY_H
#define SP_ARRAY_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Make *array hold at least need elements of size bytes, doubling from 8.
 * 0, or -1 (ENOMEM) with the array untouched. */
static inline int
sp_array_grow(void **array, uint32_t *cap, uint32_t need, size_t size)
{
    if (*cap >= need) {
        return 0;
    }
    uint32_t ncap = *cap == 0 ? 8 : *cap;
    while (ncap < need) {
        ncap *= 2;
    }
    void *grown = realloc(*array, (size_t)ncap * size);
    if (grown == NULL) {
        return -1;
    }
    *array = grown;
    *cap = ncap;
    return 0;
}

#endif /* SP_ARRAY_H */
