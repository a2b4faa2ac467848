/*
 * sp_hash_misc.c — the single-algorithm key hashes: one_at_a_time, md5,
 * hsieh (Paul Hsieh's SuperFastHash) and murmur (MurmurHash2), each as
 * nutcracker 0.5.0 computes it on x86-64.
 *
 * Where nutcracker reads a key byte as `char` (signed on x86-64) the byte is
 * sign-extended with sp_sx32(): every byte of one_at_a_time and the last byte
 * of hsieh's 3-byte tail. Everywhere else bytes are unsigned, and multi-byte
 * words are assembled little-endian byte by byte (no unaligned loads).
 */
#include "sp_hash.h"
#include "sp_md5.h"

/* A byte as x86-64 `(uint32_t)(char)b`. */
static inline uint32_t
sp_sx32(uint8_t b)
{
    return b >= 0x80 ? (uint32_t)b | 0xffffff00u : (uint32_t)b;
}

static inline uint32_t
sp_le16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static inline uint32_t
sp_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 |
           (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint32_t
sp_hash_one_at_a_time(const uint8_t *key, size_t len)
{
    uint32_t value = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        value += sp_sx32(key[i]);
        value += value << 10;
        value ^= value >> 6;
    }
    value += value << 3;
    value ^= value >> 11;
    value += value << 15;

    return value;
}

uint32_t
sp_hash_md5(const uint8_t *key, size_t len)
{
    uint8_t d[SP_MD5_DIGEST_LEN];

    sp_md5(key, len, d);

    return sp_le32(d);
}

/*
 * nutcracker's SuperFastHash starts from 0 where Hsieh's starts from the
 * length, and returns 0 for an empty key.
 */
uint32_t
sp_hash_hsieh(const uint8_t *key, size_t len)
{
    const uint8_t *p = key;
    uint32_t hash = 0, tmp;
    size_t n;

    if (len == 0) {
        return 0;
    }

    for (n = len >> 2; n > 0; n--) {
        hash += sp_le16(p);
        tmp = (sp_le16(p + 2) << 11) ^ hash;
        hash = (hash << 16) ^ tmp;
        p += 4;
        hash += hash >> 11;
    }

    switch (len & 3) {
    case 3:
        hash += sp_le16(p);
        hash ^= hash << 16;
        hash ^= sp_sx32(p[2]) << 18;    /* (uint32_t)(char)p[2] << 18 */
        hash += hash >> 11;
        break;
    case 2:
        hash += sp_le16(p);
        hash ^= hash << 11;
        hash += hash >> 17;
        break;
    case 1:
        hash += p[0];
        hash ^= hash << 10;
        hash += hash >> 1;
        break;
    default:
        break;
    }

    /* final avalanche */
    hash ^= hash << 3;
    hash += hash >> 5;
    hash ^= hash << 4;
    hash += hash >> 17;
    hash ^= hash << 25;
    hash += hash >> 6;

    return hash;
}

/* MurmurHash2 with nutcracker's length-dependent seed. */
uint32_t
sp_hash_murmur(const uint8_t *key, size_t len)
{
    const uint32_t m = 0x5bd1e995u;
    const unsigned r = 24;
    const uint8_t *data = key;
    uint32_t h = (0xdeadbeefu * (uint32_t)len) ^ (uint32_t)len;

    while (len >= 4) {
        uint32_t k = sp_le32(data);

        k *= m;
        k ^= k >> r;
        k *= m;

        h *= m;
        h ^= k;

        data += 4;
        len -= 4;
    }

    /* the 1..3 tail bytes (MurmurHash2's fall-through switch) */
    if (len > 0) {
        size_t i;

        for (i = 0; i < len; i++) {
            h ^= (uint32_t)data[i] << (8 * i);
        }
        h *= m;
    }

    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;

    return h;
}
