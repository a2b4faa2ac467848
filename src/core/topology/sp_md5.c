/*
 * sp_md5.c — MD5 message digest, written from RFC 1321.
 *
 * Owns the streaming context (init / update / final) and the one-shot
 * sp_md5(). Input words are assembled byte by byte, little-endian, so any
 * alignment and any host byte order give the RFC's digest. No state lives
 * outside the caller's context.
 */
#include "sp_md5.h"

#include <string.h>

/* T[i] = floor(2^32 * |sin(i + 1)|), RFC 1321 section 3.4. */
static const uint32_t sp_md5_t[64] = {
    0xd76aa478u, 0xe8c7b756u, 0x242070dbu, 0xc1bdceeeu,
    0xf57c0fafu, 0x4787c62au, 0xa8304613u, 0xfd469501u,
    0x698098d8u, 0x8b44f7afu, 0xffff5bb1u, 0x895cd7beu,
    0x6b901122u, 0xfd987193u, 0xa679438eu, 0x49b40821u,
    0xf61e2562u, 0xc040b340u, 0x265e5a51u, 0xe9b6c7aau,
    0xd62f105du, 0x02441453u, 0xd8a1e681u, 0xe7d3fbc8u,
    0x21e1cde6u, 0xc33707d6u, 0xf4d50d87u, 0x455a14edu,
    0xa9e3e905u, 0xfcefa3f8u, 0x676f02d9u, 0x8d2a4c8au,
    0xfffa3942u, 0x8771f681u, 0x6d9d6122u, 0xfde5380cu,
    0xa4beea44u, 0x4bdecfa9u, 0xf6bb4b60u, 0xbebfbc70u,
    0x289b7ec6u, 0xeaa127fau, 0xd4ef3085u, 0x04881d05u,
    0xd9d4d039u, 0xe6db99e5u, 0x1fa27cf8u, 0xc4ac5665u,
    0xf4292244u, 0x432aff97u, 0xab9423a7u, 0xfc93a039u,
    0x655b59c3u, 0x8f0ccc92u, 0xffeff47du, 0x85845dd1u,
    0x6fa87e4fu, 0xfe2ce6e0u, 0xa3014314u, 0x4e0811a1u,
    0xf7537e82u, 0xbd3af235u, 0x2ad7d2bbu, 0xeb86d391u,
};

/* Per-round left-rotation amounts, four per round. */
static const uint8_t sp_md5_s[4][4] = {
    { 7, 12, 17, 22 },
    { 5,  9, 14, 20 },
    { 4, 11, 16, 23 },
    { 6, 10, 15, 21 },
};

static inline uint32_t
sp_md5_rotl(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32u - n));
}

static inline uint32_t
sp_md5_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 |
           (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Process one 64-byte block (RFC 1321 section 3.4). */
static void
sp_md5_block(uint32_t state[4], const uint8_t block[64])
{
    uint32_t x[16];
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    unsigned i;

    for (i = 0; i < 16; i++) {
        x[i] = sp_md5_le32(block + 4 * i);
    }

    for (i = 0; i < 64; i++) {
        uint32_t f, tmp;
        unsigned g;

        switch (i >> 4) {
        case 0:                         /* F(X,Y,Z) = XY v not(X) Z */
            f = (b & c) | (~b & d);
            g = i;
            break;
        case 1:                         /* G(X,Y,Z) = XZ v Y not(Z) */
            f = (b & d) | (c & ~d);
            g = (5 * i + 1) & 15;
            break;
        case 2:                         /* H(X,Y,Z) = X xor Y xor Z */
            f = b ^ c ^ d;
            g = (3 * i + 5) & 15;
            break;
        default:                        /* I(X,Y,Z) = Y xor (X v not(Z)) */
            f = c ^ (b | ~d);
            g = (7 * i) & 15;
            break;
        }

        tmp = d;
        d = c;
        c = b;
        b = b + sp_md5_rotl(a + f + x[g] + sp_md5_t[i], sp_md5_s[i >> 4][i & 3]);
        a = tmp;
    }

    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
}

void
sp_md5_init(struct sp_md5_ctx *ctx)
{
    ctx->state[0] = 0x67452301u;
    ctx->state[1] = 0xefcdab89u;
    ctx->state[2] = 0x98badcfeu;
    ctx->state[3] = 0x10325476u;
    ctx->nbytes = 0;
    memset(ctx->block, 0, sizeof(ctx->block));
}

void
sp_md5_update(struct sp_md5_ctx *ctx, const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t used = (size_t)(ctx->nbytes & 63u);

    if (len == 0) {
        return;                         /* data may be NULL */
    }
    ctx->nbytes += (uint64_t)len;

    if (used > 0) {
        size_t take = 64 - used;

        if (take > len) {
            take = len;
        }
        memcpy(ctx->block + used, p, take);
        p += take;
        len -= take;
        if (used + take < 64) {
            return;
        }
        sp_md5_block(ctx->state, ctx->block);
    }

    while (len >= 64) {
        sp_md5_block(ctx->state, p);
        p += 64;
        len -= 64;
    }

    if (len > 0) {
        memcpy(ctx->block, p, len);
    }
}

void
sp_md5_final(struct sp_md5_ctx *ctx, uint8_t digest[SP_MD5_DIGEST_LEN])
{
    uint64_t bits = ctx->nbytes << 3;   /* length mod 2^64, in bits */
    size_t used = (size_t)(ctx->nbytes & 63u);
    unsigned i;

    /* Pad: one 1 bit, zeros to 56 mod 64, then the 64-bit length. */
    ctx->block[used++] = 0x80;
    if (used > 56) {
        memset(ctx->block + used, 0, 64 - used);
        sp_md5_block(ctx->state, ctx->block);
        used = 0;
    }
    memset(ctx->block + used, 0, 56 - used);
    for (i = 0; i < 8; i++) {
        ctx->block[56 + i] = (uint8_t)(bits >> (8 * i));
    }
    sp_md5_block(ctx->state, ctx->block);

    for (i = 0; i < 4; i++) {
        uint32_t w = ctx->state[i];

        digest[4 * i + 0] = (uint8_t)w;
        digest[4 * i + 1] = (uint8_t)(w >> 8);
        digest[4 * i + 2] = (uint8_t)(w >> 16);
        digest[4 * i + 3] = (uint8_t)(w >> 24);
    }

    /* Leave nothing of the message behind in the context. */
    memset(ctx, 0, sizeof(*ctx));
}

void
sp_md5(const void *data, size_t len, uint8_t digest[SP_MD5_DIGEST_LEN])
{
    struct sp_md5_ctx ctx;

    sp_md5_init(&ctx);
    sp_md5_update(&ctx, data, len);
    sp_md5_final(&ctx, digest);
}
