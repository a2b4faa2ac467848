/*
 * sp_sentinel_replicas.h — reading a sentinel's answer to
 * `SENTINEL REPLICAS <name>`: which of a master's replicas can serve
 * reads (read_from, sp_replica.h). Pure functions, no I/O.
 *
 * The answer (RESP2) is an array with one entry per replica, each a flat
 * array of field / value bulk strings ("ip", "port", "flags",
 * "master-link-status", ...). A replica is healthy when its flags (a
 * comma-separated list) hold none of s_down, o_down, disconnected, and its
 * master-link-status is "ok" (its replication link is up).
 */
#ifndef SP_SENTINEL_REPLICAS_H
#define SP_SENTINEL_REPLICAS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sp_shared.h"

/*
 * Parse a whole reply at buf: the healthy replicas into out (at most max),
 * sorted by host, then port, so the same set always reads the same.
 * Returns how many are healthy (more than max: the rest were cut), or -1
 * when buf is not such an answer (an error reply, say). *listed (may be
 * NULL) gets how many replicas the sentinel listed.
 */
int sp_sentinel_replicas_parse(const char *buf, size_t len,
                               struct sp_hostport *out, uint32_t max,
                               uint32_t *listed);

/* Whether a replica with these flags and link status serves reads. */
/* A port as a sentinel writes it ("6379"): 1..65535, 0 when it is not. */
uint16_t sp_sentinel_port(const char *s, size_t len);

bool sp_sentinel_replica_healthy(const char *flags, size_t flags_len,
                                 const char *link, size_t link_len);

#endif /* SP_SENTINEL_REPLICAS_H */
