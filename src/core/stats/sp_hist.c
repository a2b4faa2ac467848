/*
 * sp_hist.c — latency histograms (see sp_hist.h).
 */
#include "sp_hist.h"

const uint32_t sp_hist_bounds_us[SP_HIST_BOUNDS] = {
    100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000,
    100000, 200000, 500000, 1000000, 2000000, 5000000, 10000000
};

int64_t
sp_hist_count(const struct sp_hist *h)
{
    int64_t n = 0;

    for (int i = 0; i < SP_HIST_BUCKETS; i++) {
        n += h->buckets[i];
    }
    return n;
}

void
sp_hist_add(struct sp_hist *dst, const struct sp_hist *src)
{
    dst->sum_us += src->sum_us;
    for (int i = 0; i < SP_HIST_BUCKETS; i++) {
        dst->buckets[i] += src->buckets[i];
    }
}

uint64_t
sp_hist_quantile_us(const struct sp_hist *h, double q)
{
    double rank, seen = 0;
    int64_t count = sp_hist_count(h);

    if (count <= 0) {
        return 0;
    }
    rank = q * (double)count;
    for (int i = 0; i < SP_HIST_BUCKETS; i++) {
        double n = (double)h->buckets[i];
        if (n > 0 && seen + n >= rank) {
            if (i == SP_HIST_BOUNDS) {
                return sp_hist_bounds_us[SP_HIST_BOUNDS - 1];
            }
            double lo = i == 0 ? 0 : sp_hist_bounds_us[i - 1];
            double hi = sp_hist_bounds_us[i];
            return (uint64_t)(lo + (hi - lo) * (rank - seen) / n);
        }
        seen += n;
    }
    return sp_hist_bounds_us[SP_HIST_BOUNDS - 1];
}
