/*
 * sp_slowlog.h — the slow log: a request slower than slowlog_threshold
 * (received -> reply written) is logged at notice level with its pool,
 * server, command, key (truncated, escaped) and timings:
 *
 *   slow request: pool 'alpha' server 's1' get 'user:42' took 12.31 ms
 *   (server 12.05 ms)
 *
 * At most SP_SLOWLOG_PER_SEC lines a second per worker; what is over that
 * is counted and reported in the next line that gets out.
 */
#ifndef SP_SLOWLOG_H
#define SP_SLOWLOG_H

#include <stddef.h>
#include <stdint.h>

#define SP_SLOWLOG_PER_SEC  10
#define SP_SLOWLOG_KEYLEN   64

struct sp_msg;
struct sp_pool;
struct sp_worker;

void sp_slowlog_note(struct sp_worker *worker, struct sp_pool *pool,
                     const struct sp_msg *msg, uint64_t took_us);

/* Key bytes (len of them at hand, full_len in all) as text: printable
 * ASCII as is, the rest as \xNN, cut at SP_SLOWLOG_KEYLEN with "...". */
void sp_slowlog_key_text(const uint8_t *key, size_t len, size_t full_len,
                         char *out, size_t outlen);

/* Argument `index` (the command's first key; 0: none) of a raw RESP
 * request, or the first key of an inline or memcache one, escaped and
 * truncated into out (at least 4 * SP_SLOWLOG_KEYLEN + 4 bytes). */
void sp_slowlog_key(const uint8_t *req, size_t len, int index, char *out,
                    size_t outlen);

#endif /* SP_SLOWLOG_H */
