/*
 * sp_refused.h — requests the proxy refused instead of serving, counted so
 * an operator sees what the clients want: by reason (an unknown command, a
 * command the proxy does not serve, keys that span servers) and by
 * command.
 *
 * A protocol numbers its commands (the Redis table's row ids); counts are
 * kept per number in a fixed array, so the counters are bounded whatever
 * the clients send: an unknown name has no number and is counted by reason
 * only. The counters live in the worker's shared-memory slot and are summed
 * by the master like the others. The names come from the protocols
 * (sp_proto_refused_name), given to the writers as a function.
 */
#ifndef SP_REFUSED_H
#define SP_REFUSED_H

#include <stdint.h>

#include "sp_stats.h"

#define SP_REFUSED_IDS 512          /* command numbers of all protocols */

typedef enum sp_refused_reason {
    SP_REFUSED_UNKNOWN,             /* no such command (or subcommand) */
    SP_REFUSED_UNSUPPORTED,         /* known, not served by the proxy */
    SP_REFUSED_CROSSSERVER          /* its keys map to several servers */
} sp_refused_reason_t;

struct sp_refused {
    int64_t unknown;
    int64_t unsupported;
    int64_t crossserver;
    int64_t by_id[SP_REFUSED_IDS];  /* by command number, every reason */
};

/* The name of command number id, or NULL (no such number). */
typedef const char *(*sp_refused_name_fn)(uint32_t id);

/* One refusal; id < 0 (or out of range): no command number. */
void sp_refused_count(struct sp_refused *r, sp_refused_reason_t why,
                      int64_t id);

/* dst += src. */
void sp_refused_add(struct sp_refused *dst, const struct sp_refused *src);

/*
 * The stats JSON's top-level fields: ", \"refused_unknown\":N,
 * \"refused_unsupported\":N, \"refused_crossserver\":N,
 * \"refused_commands\":[{\"command\":\"blpop\", \"count\":N}, ...]" (the
 * commands refused at least once, by number). An array, not an object:
 * nutcracker's stats readers take every object-valued top-level field for
 * a pool.
 */
void sp_refused_json(struct sp_stats_buf *buf, const struct sp_refused *r,
                     sp_refused_name_fn name);

#endif /* SP_REFUSED_H */
