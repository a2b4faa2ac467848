/*
 * sp_memcache_cmd.c — the memcached command table (see sp_memcache.h): one
 * row per command the proxy knows, and its lookup.
 *
 * The classic rows are the commands nutcracker 0.5 routes (get gets set add
 * replace append prepend cas delete incr decr touch quit) plus gat, gats;
 * the meta rows are memcached 1.6's (mg ms md ma mn me); then the commands
 * no key routes that clients send: flush_all (to every server), version,
 * stats and verbosity (answered by the proxy). Token counts are those
 * memcached checks before it looks at a line (WANT_TOKENS in its
 * proto_text.c). Everything else memcached has (lru_crawler, slabs,
 * watch, ...) is not here: the caller answers "ERROR", as memcached
 * answers a command it does not know.
 *
 * Names are case-sensitive, as in memcached. The rows are sorted by name so
 * lookup is a binary search; adding a command is adding one row in its
 * place (and, for a new line shape, one sp_memcache_syntax_t).
 */
#include "sp_memcache.h"

#include <string.h>

#define SP_NELEMS(a) (sizeof(a) / sizeof((a)[0]))

#define R(type)  SP_MEMCACHE_REPLY_BIT(SP_MEMCACHE_REPLY_##type)

/* Replies of each family, besides the error lines. */
#define SP_REPLIES_STORE    (R(STORED) | R(NOT_STORED) | R(EXISTS) | R(NOT_FOUND))
#define SP_REPLIES_GET      R(END)
#define SP_REPLIES_DELETE   (R(DELETED) | R(NOT_FOUND))
#define SP_REPLIES_ARITH    (R(NUMBER) | R(NOT_FOUND))
#define SP_REPLIES_TOUCH    (R(TOUCHED) | R(NOT_FOUND))
/* every meta command may be followed by a proxy's mn (quiet mode) */
#define SP_REPLIES_MG       (R(VA) | R(HD) | R(EN) | R(OK) | R(MN))
#define SP_REPLIES_MS       (R(HD) | R(NS) | R(EX) | R(NF) | R(OK) | R(MN))
#define SP_REPLIES_MD       (R(HD) | R(NF) | R(EX) | R(OK) | R(MN))
#define SP_REPLIES_MA       (R(HD) | R(NF) | R(NS) | R(EX) | R(VA) | R(OK) \
                             | R(MN))
#define SP_REPLIES_ME       (R(ME) | R(EN))

/* set add replace append prepend cas: routed by key, a data block. */
#define SP_STORE(name, syntax, min)                                          \
    { (name), SP_MEMCACHE_FORWARD, SP_MEMCACHE_LOCAL_NONE,                    \
      SP_MEMCACHE_SYNTAX_##syntax, (min), (min) + 1, true, true, false, true, \
      SP_REPLIES_STORE }

/* get gets gat gats: split by key, VALUE items merged. */
#define SP_RETRIEVE(name, syntax, long_line, write)                          \
    { (name), SP_MEMCACHE_FANOUT, SP_MEMCACHE_LOCAL_NONE,                     \
      SP_MEMCACHE_SYNTAX_##syntax, 2, 0, false, false, (long_line), (write),  \
      SP_REPLIES_GET }

/* A one-line command routed by key (with noreply: classic). */
#define SP_KEYED(name, syntax, min, max, noreply, write, replies)            \
    { (name), SP_MEMCACHE_FORWARD, SP_MEMCACHE_LOCAL_NONE,                    \
      SP_MEMCACHE_SYNTAX_##syntax, (min), (max), false, (noreply), false,     \
      (write), (replies) }

/* Answered by the proxy. */
#define SP_LOCAL(name, local, replies)                                       \
    { (name), SP_MEMCACHE_LOCAL, SP_MEMCACHE_LOCAL_##local,                   \
      SP_MEMCACHE_SYNTAX_BARE, 1, 0, false, false, false, false, (replies) }

/* Answered by the proxy, its line checked as memcached checks it. */
#define SP_LOCAL_CHECKED(name, local, syntax, min, max, noreply)             \
    { (name), SP_MEMCACHE_LOCAL, SP_MEMCACHE_LOCAL_##local,                   \
      SP_MEMCACHE_SYNTAX_##syntax, (min), (max), false, (noreply), false,     \
      false, 0 }

static const struct sp_memcache_command sp_memcache_commands[] = {
    SP_STORE("add", STORE, 5),
    SP_STORE("append", STORE, 5),
    SP_STORE("cas", CAS, 6),
    SP_KEYED("decr", ARITH, 3, 4, true, true, SP_REPLIES_ARITH),
    SP_KEYED("delete", DELETE, 2, 4, true, true, SP_REPLIES_DELETE),
    /* every server; each answers OK (or an error) */
    { "flush_all", SP_MEMCACHE_BROADCAST, SP_MEMCACHE_LOCAL_NONE,
      SP_MEMCACHE_SYNTAX_FLUSH, 1, 3, false, true, false, true, R(OK) },
    /* memcached closes a gat line over 2048 bytes: so do we */
    SP_RETRIEVE("gat", GAT, false, true),
    SP_RETRIEVE("gats", GAT, false, true),
    SP_RETRIEVE("get", GET, true, false),
    SP_RETRIEVE("gets", GET, true, false),
    SP_KEYED("incr", ARITH, 3, 4, true, true, SP_REPLIES_ARITH),
    SP_KEYED("ma", META, 2, 0, false, true, SP_REPLIES_MA),
    SP_KEYED("md", META, 2, 0, false, true, SP_REPLIES_MD),
    SP_KEYED("me", META_DEBUG, 2, 0, false, false, SP_REPLIES_ME),
    SP_KEYED("mg", META, 2, 0, false, false, SP_REPLIES_MG),
    SP_LOCAL("mn", NOOP, R(MN)),
    { "ms", SP_MEMCACHE_FORWARD, SP_MEMCACHE_LOCAL_NONE,
      SP_MEMCACHE_SYNTAX_META_SET, 3, 0, true, false, false, true,
      SP_REPLIES_MS },
    SP_STORE("prepend", STORE, 5),
    SP_LOCAL("quit", QUIT, 0),
    SP_STORE("replace", STORE, 5),
    SP_STORE("set", STORE, 5),
    SP_LOCAL_CHECKED("stats", STATS, STATS, 1, 0, false),
    SP_KEYED("touch", TOUCH, 3, 4, true, true, SP_REPLIES_TOUCH),
    SP_LOCAL_CHECKED("verbosity", VERBOSITY, VERBOSITY, 2, 3, true),
    SP_LOCAL("version", VERSION, R(VERSION)),
};

/* strcmp of a row's name against name[0..len). */
static int
sp_memcache_name_cmp(const char *row, const char *name, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int a = (unsigned char)row[i];
        int b = (unsigned char)name[i];

        if (a == 0) {
            return -1;      /* the row's name is a prefix of name */
        }
        if (a != b) {
            return a - b;
        }
    }
    return row[len] != '\0';
}

const struct sp_memcache_command *
sp_memcache_command_lookup(const char *name, size_t len)
{
    size_t lo = 0, hi = SP_NELEMS(sp_memcache_commands);

    if (len == 0 || len > SP_MEMCACHE_MAX_NAME) {
        return NULL;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = sp_memcache_name_cmp(sp_memcache_commands[mid].name, name,
                                       len);

        if (cmp == 0) {
            return &sp_memcache_commands[mid];
        }
        if (cmp < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

size_t
sp_memcache_command_count(void)
{
    return SP_NELEMS(sp_memcache_commands);
}

const struct sp_memcache_command *
sp_memcache_command_at(size_t i)
{
    return i < SP_NELEMS(sp_memcache_commands) ? &sp_memcache_commands[i]
                                                : NULL;
}
