/*
 * sp_hash_jenkins.c — the jenkins key hash: Bob Jenkins' lookup3
 * hashlittle() with initval 13, as nutcracker 0.5.0 uses it.
 *
 * Words are assembled from unsigned bytes, little-endian, which is what
 * hashlittle's aligned and unaligned paths both compute on x86-64, without
 * reading a byte past the key. A zero-length key returns the initial c
 * (0xdeadbeef + 13) with no final mixing, as lookup3 does.
 */
#include "sp_hash.h"

#define SP_JENKINS_INITVAL 13u

static inline uint32_t
sp_jenkins_rot(uint32_t x, unsigned k)
{
    return (x << k) | (x >> (32u - k));
}

static inline uint32_t
sp_jenkins_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 |
           (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* lookup3 mix(): reversibly mix three 32-bit values. */
static inline void
sp_jenkins_mix(uint32_t *a, uint32_t *b, uint32_t *c)
{
    *a -= *c;  *a ^= sp_jenkins_rot(*c, 4);   *c += *b;
    *b -= *a;  *b ^= sp_jenkins_rot(*a, 6);   *a += *c;
    *c -= *b;  *c ^= sp_jenkins_rot(*b, 8);   *b += *a;
    *a -= *c;  *a ^= sp_jenkins_rot(*c, 16);  *c += *b;
    *b -= *a;  *b ^= sp_jenkins_rot(*a, 19);  *a += *c;
    *c -= *b;  *c ^= sp_jenkins_rot(*b, 4);   *b += *a;
}

/* lookup3 final(): final mixing of three 32-bit values into c. */
static inline void
sp_jenkins_final(uint32_t *a, uint32_t *b, uint32_t *c)
{
    *c ^= *b;  *c -= sp_jenkins_rot(*b, 14);
    *a ^= *c;  *a -= sp_jenkins_rot(*c, 11);
    *b ^= *a;  *b -= sp_jenkins_rot(*a, 25);
    *c ^= *b;  *c -= sp_jenkins_rot(*b, 16);
    *a ^= *c;  *a -= sp_jenkins_rot(*c, 4);
    *b ^= *a;  *b -= sp_jenkins_rot(*a, 14);
    *c ^= *b;  *c -= sp_jenkins_rot(*b, 24);
}

uint32_t
sp_hash_jenkins(const uint8_t *key, size_t len)
{
    const uint8_t *k = key;
    uint32_t a, b, c;
    uint32_t w[3] = { 0, 0, 0 };
    size_t i;

    /* lookup3 adds the length as a uint32_t: keys >= 4 GiB wrap, as there */
    a = b = c = 0xdeadbeefu + (uint32_t)len + SP_JENKINS_INITVAL;

    while (len > 12) {
        a += sp_jenkins_le32(k);
        b += sp_jenkins_le32(k + 4);
        c += sp_jenkins_le32(k + 8);
        sp_jenkins_mix(&a, &b, &c);
        len -= 12;
        k += 12;
    }

    if (len == 0) {
        return c;                       /* empty key: no final mixing */
    }

    /*
     * The last 1..12 bytes, as lookup3's fall-through switch adds them:
     * byte i goes into word i / 4 at bit 8 * (i % 4); missing bytes are 0.
     */
    for (i = 0; i < len; i++) {
        w[i >> 2] |= (uint32_t)k[i] << (8 * (i & 3));
    }
    a += w[0];
    b += w[1];
    c += w[2];

    sp_jenkins_final(&a, &b, &c);
    return c;
}
