/*
 * sp_trim.h — how much of a free list to give back: the low watermark of
 * the free count over a sliding window of periods.
 *
 * A free list is noted on every take (sp_trim_note, one compare). At the
 * end of each period (the worker's 1 s tick) sp_trim_period_end returns how
 * many free objects went unused through the whole window — the fewest that
 * were free at any moment of the last SP_TRIM_PERIODS periods — less what
 * `keep` protects. Those are surplus: freeing them cannot cause an
 * allocation unless the load rises above anything seen in the window. A
 * window of one period (the first design) freed buffers that a steady but
 * bursty load needed again a second later.
 */
#ifndef SP_TRIM_H
#define SP_TRIM_H

#include <stdint.h>

#define SP_TRIM_PERIODS 10

struct sp_trim {
    uint32_t low;                       /* fewest free in this period */
    uint32_t lows[SP_TRIM_PERIODS];     /* the past periods' lows */
    uint32_t next;                      /* slot of the oldest */
};

/* Start with `nfree` free objects and a window that has seen them all. */
void sp_trim_init(struct sp_trim *trim, uint32_t nfree);

static inline void
sp_trim_note(struct sp_trim *trim, uint32_t nfree)
{
    if (nfree < trim->low) {
        trim->low = nfree;
    }
}

/*
 * End a period with `nfree` free now; returns how many the caller must free
 * (it then has nfree minus that many) and starts the next period.
 */
uint32_t sp_trim_period_end(struct sp_trim *trim, uint32_t nfree, uint32_t keep);

#endif
