/*
 * sp_hash_fnv.c — the Fowler/Noll/Vo key hashes: fnv1_64, fnv1a_64,
 * fnv1_32 and fnv1a_32, as nutcracker 0.5.0 computes them.
 *
 * nutcracker reads the key as `char`, signed on x86-64, so a byte >= 0x80 is
 * sign-extended before it is xor-ed in (0xff becomes 0xffffffff, or
 * 0xffffffffffffffff in the 64-bit state). sp_fnv_sx32/64 make that explicit
 * and independent of the build platform's char.
 *
 * fnv1_64 runs the 64-bit state and returns its low 32 bits. fnv1a_64 keeps
 * its state in 32 bits (nutcracker truncates the offset basis and the prime);
 * as multiplication mod 2^32 depends only on the low 32 bits, that equals the
 * low 32 bits of true FNV-1a 64.
 */
#include "sp_hash.h"

#define SP_FNV64_BASIS  UINT64_C(0xcbf29ce484222325)
#define SP_FNV64_PRIME  UINT64_C(0x100000001b3)
#define SP_FNV32_BASIS  UINT32_C(2166136261)
#define SP_FNV32_PRIME  UINT32_C(16777619)

/* A byte as x86-64 `(uint32_t)(char)b`. */
static inline uint32_t
sp_fnv_sx32(uint8_t b)
{
    return b >= 0x80 ? (uint32_t)b | 0xffffff00u : (uint32_t)b;
}

/* A byte as x86-64 `(uint64_t)(char)b`. */
static inline uint64_t
sp_fnv_sx64(uint8_t b)
{
    return b >= 0x80 ? (uint64_t)b | UINT64_C(0xffffffffffffff00) : (uint64_t)b;
}

uint32_t
sp_hash_fnv1_64(const uint8_t *key, size_t len)
{
    uint64_t hash = SP_FNV64_BASIS;
    size_t i;

    for (i = 0; i < len; i++) {
        hash *= SP_FNV64_PRIME;
        hash ^= sp_fnv_sx64(key[i]);
    }

    return (uint32_t)hash;
}

uint32_t
sp_hash_fnv1a_64(const uint8_t *key, size_t len)
{
    uint32_t hash = (uint32_t)SP_FNV64_BASIS;           /* 0x84222325 */
    size_t i;

    for (i = 0; i < len; i++) {
        hash ^= sp_fnv_sx32(key[i]);
        hash *= (uint32_t)SP_FNV64_PRIME;               /* 0x000001b3 */
    }

    return hash;
}

uint32_t
sp_hash_fnv1_32(const uint8_t *key, size_t len)
{
    uint32_t hash = SP_FNV32_BASIS;
    size_t i;

    for (i = 0; i < len; i++) {
        hash *= SP_FNV32_PRIME;
        hash ^= sp_fnv_sx32(key[i]);
    }

    return hash;
}

uint32_t
sp_hash_fnv1a_32(const uint8_t *key, size_t len)
{
    uint32_t hash = SP_FNV32_BASIS;
    size_t i;

    for (i = 0; i < len; i++) {
        hash ^= sp_fnv_sx32(key[i]);
        hash *= SP_FNV32_PRIME;
    }

    return hash;
}

uint64_t
sp_hash_fnv1a_64_full(const uint8_t *key, size_t len)
{
    uint64_t hash = SP_FNV64_BASIS;

    for (size_t i = 0; i < len; i++) {
        hash = (hash ^ key[i]) * SP_FNV64_PRIME;
    }
    return hash;
}
