/*
 * sp_alloc.c — giving freed memory back to the system (see sp_alloc.h).
 */
#include "sp_alloc.h"

#include <stddef.h>
#include <stdint.h>

#ifdef SP_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
/*
 * Weak: jemalloc is linked into the shardproxy binary only; another program
 * built from the same objects (a test) links without it and finds NULL.
 */
#pragma weak mallctl
#define SP_STR(x)   #x
#define SP_XSTR(x)  SP_STR(x)
#define SP_ARENAS   "arena." SP_XSTR(MALLCTL_ARENAS_ALL)
#elif defined(__GLIBC__)
#include <malloc.h>
#endif

bool
sp_alloc_allocated(size_t *bytes)
{
#ifdef SP_HAVE_JEMALLOC
    uint64_t epoch = 1;
    size_t len = sizeof(epoch);

    if (mallctl != NULL
        && mallctl("epoch", &epoch, &len, &epoch, len) == 0) {
        len = sizeof(*bytes);
        return mallctl("stats.allocated", bytes, &len, NULL, 0) == 0;
    }
#endif
    (void)bytes;
    return false;
}

void
sp_alloc_decay(void)
{
#ifdef SP_HAVE_JEMALLOC
    if (mallctl != NULL) {
        (void)mallctl(SP_ARENAS ".decay", NULL, NULL, NULL, 0);
    }
#endif
}

void
sp_alloc_purge(void)
{
#ifdef SP_HAVE_JEMALLOC
    if (mallctl != NULL) {
        /* the thread cache's objects first, so their pages can go too */
        (void)mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
        (void)mallctl(SP_ARENAS ".purge", NULL, NULL, NULL, 0);
    }
#elif defined(__GLIBC__)
    (void)malloc_trim(0);
#endif
}
