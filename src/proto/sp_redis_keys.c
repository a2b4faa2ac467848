/*
 * sp_redis_keys.c — the keys of a whole Redis request, found from its
 * command's key specs as redis-server 7 finds them (db.c,
 * getKeysUsingKeySpecs), for routing a multi-key command and for COMMAND
 * GETKEYS (see sp_redis.h).
 *
 * A spec begins at an argument index, or after a keyword searched from
 * `startfrom` (forwards, or backwards when negative; XREAD's STREAMS,
 * GEORADIUS's STORE), and finds a range (lastkey, keystep, limit: XREAD's
 * limit 2 takes half of what follows STREAMS) or a count in an argument
 * (EVAL, ZUNION, LMPOP, SINTERCARD). SORT's STORE, which Redis reports as
 * "unknown", is found as Redis's sortGetKeys finds it. Arguments are read
 * from the request's segments in place; only a keyword or a count is
 * copied, into a small buffer.
 */
#include "sp_redis.h"

#include <string.h>

/* SORT's STORE destination, found as sortGetKeys finds it (the last
 * STORE; LIMIT takes two arguments, GET and BY one); -1: none. */
static int64_t
sp_keys_sort_store(const struct sp_redis_args *args)
{
    int64_t found = -1;

    for (uint32_t i = 2; i < args->argc; i++) {
        if (sp_redis_arg_is(args, i, "limit")) {
            i += 2;
        } else if (sp_redis_arg_is(args, i, "store") && i + 1 < args->argc) {
            found = i + 1;
        } else if (sp_redis_arg_is(args, i, "get")
                   || sp_redis_arg_is(args, i, "by")) {
            i += 1;
        }
    }
    return found;
}

/* The first key of a keyword spec (the argument after the keyword), 0 when
 * the keyword is not there. */
static int64_t
sp_keys_keyword(const struct sp_redis_args *args,
                const struct sp_redis_keyspec *ks)
{
    int64_t argc = args->argc;
    int64_t start = ks->index > 0 ? ks->index : argc + ks->index;
    int64_t end = ks->index > 0 ? argc - 1 : 0;

    for (int64_t i = start; i != end; i = start <= end ? i + 1 : i - 1) {
        if (i >= argc || i < 1) {
            break;
        }
        if (sp_redis_arg_is(args, (uint32_t)i, ks->keyword)) {
            return i + 1;
        }
    }
    return 0;
}

int
sp_redis_keys_find(const struct sp_redis_command *cmd,
                   const struct sp_redis_args *args, uint32_t *out,
                   uint32_t cap, uint32_t *nkeys)
{
    const struct sp_redis_keyspec *specs = sp_redis_command_specs(cmd);
    int64_t argc = args->argc;
    uint32_t k = 0;
    int rc = 0;

#define SP_KEYS_ADD(i)              \
    do {                            \
        if (k < cap) {              \
            out[k] = (uint32_t)(i); \
        }                           \
        k++;                        \
    } while (0)

    for (uint32_t j = 0; j < cmd->nspecs; j++) {
        const struct sp_redis_keyspec *ks = &specs[j];
        int64_t first = 0, last, step;

        if (ks->not_key || ks->begin == SP_KS_IGNORE) {
            continue;
        }
        switch (ks->begin) {
        case SP_KS_SORT_STORE:
            first = sp_keys_sort_store(args);
            if (first > 0) {
                SP_KEYS_ADD(first);
            }
            continue;
        case SP_KS_INDEX:
            first = ks->index;
            break;
        case SP_KS_KEYWORD:
            first = sp_keys_keyword(args, ks);
            if (first == 0) {
                continue;           /* no such option: no key of this spec */
            }
            break;
        default:
            rc = -1;
            continue;
        }

        if (ks->find == SP_KF_RANGE) {
            step = ks->b;
            if (ks->a >= 0) {
                last = first + ks->a;
            } else if (ks->c == 0) {
                last = argc + ks->a;
            } else {
                last = first + ((argc - first) / ks->c + ks->a);
            }
        } else if (ks->find == SP_KF_KEYNUM) {
            int64_t numkeys;

            step = ks->c;
            if (first + ks->a >= argc
                || !sp_redis_arg_int(args, (uint32_t)(first + ks->a),
                                       &numkeys)
                || numkeys < 0 || numkeys > argc) {
                rc = -1;
                continue;
            }
            first += ks->b;
            last = first + numkeys - 1;
        } else {
            rc = -1;
            continue;
        }
        if (last >= argc || last < first || first >= argc || step <= 0) {
            rc = -1;                /* Redis: a syntax error */
            continue;
        }
        for (int64_t i = first; i <= last; i += step) {
            SP_KEYS_ADD(i);
        }
    }
#undef SP_KEYS_ADD
    *nkeys = k;
    return rc;
}

uint32_t
sp_redis_block_option(const struct sp_redis_args *args)
{
    for (uint32_t i = 1; i < args->argc; i++) {
        if (sp_redis_arg_is(args, i, "streams")) {
            return 0;
        }
        if (sp_redis_arg_is(args, i, "block")) {
            return i;
        }
        if (sp_redis_arg_is(args, i, "count")) {
            i += 1;
        } else if (sp_redis_arg_is(args, i, "group")) {
            i += 2;
        }
    }
    return 0;
}
