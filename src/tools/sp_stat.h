/*
 * sp_stat.h — `shardproxy --stat`: a live view of a running proxy, read
 * from the master's stats port (-a, -s) every -i seconds. Per pool and per
 * server: requests/s, errors/s, bytes in and out per second, client and
 * server connections, p50/p99 latency over the interval, ejections; then a
 * line per worker. On a terminal each sample redraws the screen; piped,
 * each sample is plain lines under a timestamp.
 *
 * The stats port is answered by the master from the shared memory the
 * workers count in: reading it never asks, and never slows, a worker.
 */
#ifndef SP_STAT_H
#define SP_STAT_H

#include <stdbool.h>
#include <stdio.h>

#include "sp_cli.h"
#include "sp_json.h"

/* Run the view until interrupted (or the output closes). EXIT_FAILURE when
 * the first read of the stats port fails, after saying why on stderr. */
int sp_stat_run(const struct sp_options *opts);

/* One sample drawn from two reads of the stats port (prev may be NULL: the
 * first), dt_s seconds apart. human: k/M/G units (a terminal); else whole
 * numbers (piped). */
void sp_stat_render(FILE *out, const struct sp_json *prev,
                    const struct sp_json *cur, double dt_s, bool human);

#endif /* SP_STAT_H */
