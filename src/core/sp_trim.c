/*
 * sp_trim.c — the sliding low watermark of a free list (see sp_trim.h).
 */
#include "sp_trim.h"

void
sp_trim_init(struct sp_trim *trim, uint32_t nfree)
{
    trim->low = nfree;
    for (uint32_t i = 0; i < SP_TRIM_PERIODS; i++) {
        trim->lows[i] = nfree;
    }
    trim->next = 0;
}

uint32_t
sp_trim_period_end(struct sp_trim *trim, uint32_t nfree, uint32_t keep)
{
    uint32_t unused = trim->low, excess;

    trim->lows[trim->next] = trim->low;
    trim->next = (trim->next + 1) % SP_TRIM_PERIODS;
    for (uint32_t i = 0; i < SP_TRIM_PERIODS; i++) {
        if (trim->lows[i] < unused) {
            unused = trim->lows[i];
        }
    }
    if (unused > nfree) {
        unused = nfree;     /* objects freed outside the list's accounting */
    }
    excess = nfree < keep ? 0 : nfree - keep;
    if (excess > unused) {
        excess = unused;
    }
    /* the freed ones leave every past low: they can no longer be unused */
    for (uint32_t i = 0; i < SP_TRIM_PERIODS; i++) {
        trim->lows[i] -= excess;
    }
    trim->low = nfree - excess;
    return excess;
}
