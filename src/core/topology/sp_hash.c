/*
 * sp_hash.c — the table of key hashes: type -> function and configuration
 * name, name -> type, and the list of names for error messages.
 *
 * The algorithms live by family in sp_hash_crc.c (crc16, crc32, crc32a),
 * sp_hash_fnv.c (fnv1_64, fnv1a_64, fnv1_32, fnv1a_32), sp_hash_jenkins.c
 * (jenkins) and sp_hash_misc.c (one_at_a_time, md5, hsieh, murmur).
 * The table is constant.
 */
#include "sp_hash.h"

#include <string.h>

struct sp_hash_entry {
    const char *name;
    size_t      name_len;
    sp_hash_fn  fn;
};

#define SP_HASH_ENTRY(type, str, func) \
    [type] = { str, sizeof(str) - 1, func }

/* in nutcracker's order, which is the enum's */
static const struct sp_hash_entry sp_hash_table[SP_HASH_NTYPES] = {
    SP_HASH_ENTRY(SP_HASH_ONE_AT_A_TIME, "one_at_a_time", sp_hash_one_at_a_time),
    SP_HASH_ENTRY(SP_HASH_MD5,           "md5",           sp_hash_md5),
    SP_HASH_ENTRY(SP_HASH_CRC16,         "crc16",         sp_hash_crc16),
    SP_HASH_ENTRY(SP_HASH_CRC32,         "crc32",         sp_hash_crc32),
    SP_HASH_ENTRY(SP_HASH_CRC32A,        "crc32a",        sp_hash_crc32a),
    SP_HASH_ENTRY(SP_HASH_FNV1_64,       "fnv1_64",       sp_hash_fnv1_64),
    SP_HASH_ENTRY(SP_HASH_FNV1A_64,      "fnv1a_64",      sp_hash_fnv1a_64),
    SP_HASH_ENTRY(SP_HASH_FNV1_32,       "fnv1_32",       sp_hash_fnv1_32),
    SP_HASH_ENTRY(SP_HASH_FNV1A_32,      "fnv1a_32",      sp_hash_fnv1a_32),
    SP_HASH_ENTRY(SP_HASH_HSIEH,         "hsieh",         sp_hash_hsieh),
    SP_HASH_ENTRY(SP_HASH_MURMUR,        "murmur",        sp_hash_murmur),
    SP_HASH_ENTRY(SP_HASH_JENKINS,       "jenkins",       sp_hash_jenkins),
};

/* the names above joined by ", " (tests/unit/test_hash.c checks they agree) */
static const char sp_hash_all_names[] =
    "one_at_a_time, md5, crc16, crc32, crc32a, fnv1_64, fnv1a_64, "
    "fnv1_32, fnv1a_32, hsieh, murmur, jenkins";

sp_hash_fn
sp_hash_function(sp_hash_type_t type)
{
    if ((unsigned)type >= (unsigned)SP_HASH_NTYPES) {
        return NULL;
    }
    return sp_hash_table[type].fn;
}

const char *
sp_hash_name(sp_hash_type_t type)
{
    if ((unsigned)type >= (unsigned)SP_HASH_NTYPES) {
        return NULL;
    }
    return sp_hash_table[type].name;
}

sp_hash_type_t
sp_hash_lookup(const char *name, size_t len)
{
    unsigned i;

    if (name == NULL) {
        return SP_HASH_NTYPES;
    }

    for (i = 0; i < (unsigned)SP_HASH_NTYPES; i++) {
        const struct sp_hash_entry *e = &sp_hash_table[i];

        if (e->name_len == len && memcmp(e->name, name, len) == 0) {
            return (sp_hash_type_t)i;
        }
    }

    return SP_HASH_NTYPES;
}

const char *
sp_hash_names(void)
{
    return sp_hash_all_names;
}
