/*
 * sp_sentinel_locate.h — `--locate` on a Sentinel pool: where each server
 * (a Sentinel master name) lives now, asked of the sentinels with a short
 * blocking exchange (an offline command: no event loop), so the address
 * printed is the current master's, not the configuration's first guess.
 */
#ifndef SP_SENTINEL_LOCATE_H
#define SP_SENTINEL_LOCATE_H

#include <stdio.h>

#include "sp_conf.h"

#define SP_SENTINEL_LOCATE_MS 1000  /* per sentinel: connect, then answers */

/*
 * Ask pool's sentinels in turn for every server's master address, and
 * write the answers into the pool's server addresses. The first sentinel
 * that answers every name wins. 0; or -1 when none did (the addresses stay
 * the configuration's, and a note says so on err). A pool without
 * sentinels: 0, nothing asked.
 */
int sp_sentinel_locate(struct sp_conf_pool *pool, FILE *err);

#endif /* SP_SENTINEL_LOCATE_H */
