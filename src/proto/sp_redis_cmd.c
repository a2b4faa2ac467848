/*
 * sp_redis_cmd.c — lookups in the Redis command table (see sp_redis.h); the
 * rows themselves are generated (sp_redis_cmdtab.c).
 *
 * Rows and a container's subcommand rows are sorted by name, so a lookup
 * is a binary search over the bytes as they are, folded to lower case as
 * they are compared: no copy, no allocation. A top-level lookup searches
 * only the rows of the name's first letter (GET: 4 compares among 18
 * rows; SET: 6 among 37).
 */
#include "sp_redis.h"

#include <string.h>

#include "sp_redis_cmdtab.h"

/* ASCII lower case; command names are ASCII. */
static int
sp_redis_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* strcmp of a row's name against name[0..len) folded to lower case. */
static int
sp_redis_name_cmp(const char *row, const char *name, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int a = (unsigned char)row[i];
        int b = sp_redis_lower((unsigned char)name[i]);

        if (a == 0) {
            return -1;      /* the row's name is a prefix of name */
        }
        if (a != b) {
            return a - b;
        }
    }
    return row[len] != '\0';
}

/* Binary search of rows[0..n) by their names past name_skip. */
static const struct sp_redis_command *
sp_redis_search(const struct sp_redis_command *rows, size_t n,
                const char *name, size_t len)
{
    size_t lo = 0, hi = n;

    if (len == 0 || len > SP_REDIS_MAX_NAME) {
        return NULL;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct sp_redis_command *row = &rows[mid];
        int cmp = sp_redis_name_cmp(row->name + row->name_skip, name, len);

        if (cmp == 0) {
            return row;
        }
        if (cmp < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

const struct sp_redis_command *
sp_redis_command_lookup(const char *name, size_t len)
{
    int c = len > 0 ? sp_redis_lower((unsigned char)name[0]) - 'a' : -1;
    size_t lo, hi;

    if (c < 0 || c >= 26) {
        return NULL;                /* every name begins with a letter */
    }
    lo = sp_redis_cmdtab_letter[c];
    hi = sp_redis_cmdtab_letter[c + 1];
    return sp_redis_search(sp_redis_cmdtab + lo, hi - lo, name, len);
}

const struct sp_redis_command *
sp_redis_subcommand_lookup(const struct sp_redis_command *container,
                           const char *sub, size_t len)
{
    if (container == NULL || container->nsubs == 0) {
        return NULL;
    }
    return sp_redis_search(container->subs, container->nsubs, sub, len);
}

const struct sp_redis_command *
sp_redis_command_by_fullname(const char *name, size_t len)
{
    const char *bar = memchr(name, '|', len);
    const struct sp_redis_command *cmd;

    if (bar == NULL) {
        return sp_redis_command_lookup(name, len);
    }
    cmd = sp_redis_command_lookup(name, (size_t)(bar - name));
    return sp_redis_subcommand_lookup(cmd, bar + 1,
                                      len - (size_t)(bar - name) - 1);
}

bool
sp_redis_command_arity_ok(const struct sp_redis_command *cmd, uint32_t nargs)
{
    if (cmd->arity >= 0 ? nargs != (uint32_t)cmd->arity
                        : nargs < (uint32_t)-cmd->arity) {
        return false;
    }
    if (cmd->key_step > 1 && cmd->last_key == -1 && !cmd->keys_from_numkeys) {
        /* MSET MSETNX k v [k v ...]: the arguments after the name pair up */
        return (nargs - (uint32_t)cmd->first_key) % (uint32_t)cmd->key_step
               == 0;
    }
    return true;
}

size_t
sp_redis_command_count(void)
{
    return sp_redis_cmdtab_len;
}

const struct sp_redis_command *
sp_redis_command_at(size_t i)
{
    return i < sp_redis_cmdtab_len ? &sp_redis_cmdtab[i] : NULL;
}

size_t
sp_redis_command_ids(void)
{
    return sp_redis_cmdtab_ids;
}

const struct sp_redis_command *
sp_redis_command_by_id(size_t id)
{
    return id < sp_redis_cmdtab_ids ? sp_redis_cmdtab_by_id[id] : NULL;
}

const struct sp_redis_keyspec *
sp_redis_command_specs(const struct sp_redis_command *cmd)
{
    return &sp_redis_keyspecs[cmd->spec_first];
}

const char *
sp_redis_command_version(void)
{
    return sp_redis_cmdtab_version;
}
