/*
 * sp_hash.h — the key hash functions nutcracker 0.5 offers, bit for bit.
 *
 * Every function maps a key (any bytes, any length) to 32 bits exactly as
 * nutcracker 0.5.0 does on x86-64, quirks included:
 *   - bytes >= 0x80 are read as signed char and sign-extended where
 *     nutcracker reads `char` (one_at_a_time, fnv*, hsieh's tail byte),
 *     whatever the signedness of char on the build platform;
 *   - fnv1a_64 computes in 32 bits (nutcracker truncates its state);
 *   - crc32 is libmemcached's 15-bit value, crc32a the standard CRC-32;
 *   - crc16 is the CRC-16/XMODEM table run in an unmasked 32-bit register
 *     (its low 16 bits are CRC-16/XMODEM);
 *   - md5 is the first four digest bytes read little-endian;
 *   - jenkins is lookup3 hashlittle with initval 13, murmur is murmur2
 *     seeded with 0xdeadbeef * len, multi-byte reads little-endian.
 * The table of names is constant; nothing here holds mutable state.
 */
#ifndef SP_HASH_H
#define SP_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef enum sp_hash_type {
    SP_HASH_ONE_AT_A_TIME,
    SP_HASH_MD5,
    SP_HASH_CRC16,
    SP_HASH_CRC32,
    SP_HASH_CRC32A,
    SP_HASH_FNV1_64,
    SP_HASH_FNV1A_64,
    SP_HASH_FNV1_32,
    SP_HASH_FNV1A_32,
    SP_HASH_HSIEH,
    SP_HASH_MURMUR,
    SP_HASH_JENKINS,
    SP_HASH_NTYPES
} sp_hash_type_t;

typedef uint32_t (*sp_hash_fn)(const uint8_t *key, size_t len);

uint32_t sp_hash_one_at_a_time(const uint8_t *key, size_t len);

/* True 64-bit FNV-1a (not nutcracker's truncated fnv1a_64, which places
 * keys): identities inside the proxy, such as hot keys and passwords. */
uint64_t sp_hash_fnv1a_64_full(const uint8_t *key, size_t len);
uint32_t sp_hash_md5(const uint8_t *key, size_t len);
uint32_t sp_hash_crc16(const uint8_t *key, size_t len);
uint32_t sp_hash_crc32(const uint8_t *key, size_t len);
uint32_t sp_hash_crc32a(const uint8_t *key, size_t len);
uint32_t sp_hash_fnv1_64(const uint8_t *key, size_t len);
uint32_t sp_hash_fnv1a_64(const uint8_t *key, size_t len);
uint32_t sp_hash_fnv1_32(const uint8_t *key, size_t len);
uint32_t sp_hash_fnv1a_32(const uint8_t *key, size_t len);
uint32_t sp_hash_hsieh(const uint8_t *key, size_t len);
uint32_t sp_hash_murmur(const uint8_t *key, size_t len);
uint32_t sp_hash_jenkins(const uint8_t *key, size_t len);

/* The function for a type; NULL for an out-of-range type. */
sp_hash_fn sp_hash_function(sp_hash_type_t type);

/* The configuration name of a type ("fnv1a_64"); NULL when out of range. */
const char *sp_hash_name(sp_hash_type_t type);

/*
 * The type whose name is exactly name[0..len); SP_HASH_NTYPES when none is.
 * Names are matched case-sensitively, as nutcracker does.
 */
sp_hash_type_t sp_hash_lookup(const char *name, size_t len);

/* "one_at_a_time, md5, ..., jenkins": all names, for error messages. */
const char *sp_hash_names(void);

#endif /* SP_HASH_H */
