/*
 * sp_refused.c — refusal counters (see sp_refused.h).
 */
#include "sp_refused.h"

#include <inttypes.h>

void
sp_refused_count(struct sp_refused *r, sp_refused_reason_t why, int64_t id)
{
    switch (why) {
    case SP_REFUSED_UNKNOWN:
        r->unknown++;
        break;
    case SP_REFUSED_UNSUPPORTED:
        r->unsupported++;
        break;
    case SP_REFUSED_CROSSSERVER:
        r->crossserver++;
        break;
    }
    if (id >= 0 && id < SP_REFUSED_IDS) {
        r->by_id[id]++;
    }
}

void
sp_refused_add(struct sp_refused *dst, const struct sp_refused *src)
{
    dst->unknown += src->unknown;
    dst->unsupported += src->unsupported;
    dst->crossserver += src->crossserver;
    for (uint32_t i = 0; i < SP_REFUSED_IDS; i++) {
        dst->by_id[i] += src->by_id[i];
    }
}

void
sp_refused_json(struct sp_stats_buf *buf, const struct sp_refused *r,
                sp_refused_name_fn name)
{
    const char *sep = "";

    sp_stats_buf_printf(buf, ", \"refused_unknown\":%" PRId64
                        ", \"refused_unsupported\":%" PRId64
                        ", \"refused_crossserver\":%" PRId64
                        ", \"refused_commands\":[",
                        r->unknown, r->unsupported, r->crossserver);
    for (uint32_t i = 0; i < SP_REFUSED_IDS; i++) {
        const char *n = r->by_id[i] != 0 && name != NULL ? name(i) : NULL;

        if (n == NULL) {
            continue;
        }
        sp_stats_buf_printf(buf, "%s{\"command\":", sep);
        sp_stats_buf_string(buf, n);
        sp_stats_buf_printf(buf, ", \"count\":%" PRId64 "}", r->by_id[i]);
        sep = ", ";
    }
    sp_stats_buf_printf(buf, "]");
}
