/*
 * sp_md5.h — MD5 (RFC 1321), used by the md5 key hash and by ketama's
 * continuum points. Streaming context plus a one-shot helper; no state
 * outside the caller's context.
 */
#ifndef SP_MD5_H
#define SP_MD5_H

#include <stddef.h>
#include <stdint.h>

#define SP_MD5_DIGEST_LEN 16

struct sp_md5_ctx {
    uint32_t state[4];
    uint64_t nbytes;        /* total bytes fed so far */
    uint8_t  block[64];     /* pending partial block */
};

void sp_md5_init(struct sp_md5_ctx *ctx);
void sp_md5_update(struct sp_md5_ctx *ctx, const void *data, size_t len);
void sp_md5_final(struct sp_md5_ctx *ctx, uint8_t digest[SP_MD5_DIGEST_LEN]);

/* digest = MD5(data[0..len)) */
void sp_md5(const void *data, size_t len, uint8_t digest[SP_MD5_DIGEST_LEN]);

#endif /* SP_MD5_H */
