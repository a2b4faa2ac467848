/*
 * sp_hist.h — latency histograms: fixed log-scale buckets from 100 us to
 * 10 s (1-2-5 per decade) and an overflow bucket, counts and a sum, so
 * they add across workers and map one to one onto a Prometheus histogram.
 * Observing is a few compares and three increments (always on).
 */
#ifndef SP_HIST_H
#define SP_HIST_H

#include <stdint.h>

#define SP_HIST_BOUNDS  16                      /* upper bounds, in us */
#define SP_HIST_BUCKETS (SP_HIST_BOUNDS + 1)    /* + over 10 s */

struct sp_hist {
    int64_t sum_us;
    int64_t buckets[SP_HIST_BUCKETS];   /* not cumulative; their sum is
                                           the count (sp_hist_count) */
};

extern const uint32_t sp_hist_bounds_us[SP_HIST_BOUNDS];

static inline void
sp_hist_observe(struct sp_hist *h, uint64_t us)
{
    uint32_t i = 0;

    while (i < SP_HIST_BOUNDS && us > sp_hist_bounds_us[i]) {
        i++;
    }
    h->buckets[i]++;
    h->sum_us += (int64_t)us;
}

int64_t sp_hist_count(const struct sp_hist *h);

void sp_hist_add(struct sp_hist *dst, const struct sp_hist *src);

/* The q-quantile (0 < q < 1) in us, interpolated within its bucket; 0 when
 * empty; the last bound when it falls in the overflow bucket. */
uint64_t sp_hist_quantile_us(const struct sp_hist *h, double q);

#endif /* SP_HIST_H */
