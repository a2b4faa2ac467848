/*
 * sp_alloc.h — the allocator's side of memory: what it holds, and giving
 * freed memory back to the system.
 *
 * The worker's free lists shrink when idle (sp_trim.h), but free() only
 * hands the memory to the allocator. jemalloc keeps freed pages dirty and
 * returns them on its decay clock (opt.dirty_decay_ms, 10 s), a clock that
 * only moves when the process allocates or frees: an idle worker, the very
 * case that should shrink, never gets there, and a burst's pages stay
 * resident for good. So the worker's 1 s tick moves the clock itself
 * (sp_alloc_decay, as jemalloc's background thread would), and when a trim
 * has just released a free list's surplus it returns the pages at once
 * (sp_alloc_purge).
 *
 * With jemalloc (SP_HAVE_JEMALLOC: the shardproxy binary of a build that is
 * not sanitized) these are mallctl calls on every arena; with glibc's
 * malloc, purge is malloc_trim(0) and decay is nothing; otherwise both are
 * nothing.
 */
#ifndef SP_ALLOC_H
#define SP_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes the application holds allocated (jemalloc's stats.allocated, read
 * afresh) into *bytes. false: the allocator does not say (no jemalloc). */
bool sp_alloc_allocated(size_t *bytes);

/* Return pages unused for longer than the allocator's decay time. */
void sp_alloc_decay(void);

/* Return every unused page now (after releasing a known surplus). */
void sp_alloc_purge(void);

#endif /* SP_ALLOC_H */
