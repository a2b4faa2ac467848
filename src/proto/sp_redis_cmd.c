/*
 * sp_redis_cmd.c — the Redis command table (see sp_redis.h): one row per
 * command the proxy knows, and its case-insensitive lookup.
 *
 * The rows are the commands nutcracker 0.5 accepts (probed against Debian's
 * nutcracker 0.5.0, which knows more than its notes/redis.md lists), plus
 * ECHO, answered locally. Arity and the write flag are Redis 7's (COMMAND
 * INFO); EVAL and EVALSHA count as writes because a script may write. Key
 * positions are the keys the proxy needs: the routing key of a FORWARD row,
 * every key of a FANOUT row (see sp_redis.h). Two deliberate departures from
 * nutcracker: EXISTS is split and summed (nutcracker sends all its keys to
 * the first key's server), and ZDIFF ZINTER ZUNION are routed by their first
 * key (nutcracker hashes their numkeys argument).
 *
 * Commands Redis has and nutcracker cannot route (KEYS SCAN MULTI SUBSCRIBE
 * BLPOP INFO ...) are absent: the caller answers "-ERR unknown command".
 *
 * The rows are sorted by name so lookup is a binary search with no copy and
 * no allocation; adding a command is adding one row in its place.
 */
#include "sp_redis.h"

#include <string.h>

#define SP_NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Routed by its first argument. */
#define SP_FORWARD(name, arity, write)                                       \
    { (name), (arity), 1, 1, 1, SP_REDIS_FORWARD, SP_REDIS_MERGE_NONE,        \
      SP_REDIS_LOCAL_NONE, (write), false }

/* Routed by the first of the keys counted by the argument before `first`. */
#define SP_NUMKEYS(name, arity, first, write)                                \
    { (name), (arity), (first), -1, 1, SP_REDIS_FORWARD, SP_REDIS_MERGE_NONE, \
      SP_REDIS_LOCAL_NONE, (write), true }

/* Forwarded with no key (nutcracker hashes the empty key). */
#define SP_KEYLESS(name, arity, write)                                       \
    { (name), (arity), 0, 0, 1, SP_REDIS_FORWARD, SP_REDIS_MERGE_NONE,        \
      SP_REDIS_LOCAL_NONE, (write), false }

/* Split per server by every key from argument 1 on, replies merged. */
#define SP_FANOUT(name, arity, step, merge, write)                           \
    { (name), (arity), 1, -1, (step), SP_REDIS_FANOUT,                        \
      SP_REDIS_MERGE_##merge, SP_REDIS_LOCAL_NONE, (write), false }

/* Answered by the proxy, keys from argument 1 on (WATCH). */
#define SP_LOCAL_KEYS(name, arity, local)                                    \
    { (name), (arity), 1, -1, 1, SP_REDIS_LOCAL, SP_REDIS_MERGE_NONE,         \
      SP_REDIS_LOCAL_##local, false, false }

/* Answered by the proxy. */
#define SP_LOCAL(name, arity, local)                                         \
    { (name), (arity), 0, 0, 1, SP_REDIS_LOCAL, SP_REDIS_MERGE_NONE,          \
      SP_REDIS_LOCAL_##local, false, false }

static const struct sp_redis_command sp_redis_commands[] = {
    SP_FORWARD("append", 3, true),
    SP_LOCAL("auth", -2, AUTH),
    SP_FORWARD("bitcount", -2, false),
    SP_FORWARD("bitfield", -2, true),
    SP_FORWARD("bitpos", -3, false),
    SP_LOCAL("client", -2, CLIENT),
    SP_LOCAL("command", -1, COMMAND),
    SP_FORWARD("copy", -3, true),
    SP_FORWARD("decr", 2, true),
    SP_FORWARD("decrby", 3, true),
    SP_FANOUT("del", -2, 1, SUM, true),
    SP_LOCAL("discard", 1, DISCARD),
    SP_FORWARD("dump", 2, false),
    SP_LOCAL("echo", 2, ECHO),
    SP_NUMKEYS("eval", -3, 3, true),
    SP_NUMKEYS("evalsha", -3, 3, true),
    SP_LOCAL("exec", 1, EXEC),
    SP_FANOUT("exists", -2, 1, SUM, false),
    SP_FORWARD("expire", -3, true),
    SP_FORWARD("expireat", -3, true),
    SP_FORWARD("geoadd", -5, true),
    SP_FORWARD("geodist", -4, false),
    SP_FORWARD("geohash", -2, false),
    SP_FORWARD("geopos", -2, false),
    SP_FORWARD("georadius", -6, true),
    SP_FORWARD("georadiusbymember", -5, true),
    SP_FORWARD("geosearch", -7, false),
    SP_FORWARD("geosearchstore", -8, true),
    SP_FORWARD("get", 2, false),
    SP_FORWARD("getbit", 3, false),
    SP_FORWARD("getdel", 2, true),
    SP_FORWARD("getex", -2, true),
    SP_FORWARD("getrange", 4, false),
    SP_FORWARD("getset", 3, true),
    SP_FORWARD("hdel", -3, true),
    SP_LOCAL("hello", -1, HELLO),
    SP_FORWARD("hexists", 3, false),
    SP_FORWARD("hget", 3, false),
    SP_FORWARD("hgetall", 2, false),
    SP_FORWARD("hincrby", 4, true),
    SP_FORWARD("hincrbyfloat", 4, true),
    SP_FORWARD("hkeys", 2, false),
    SP_FORWARD("hlen", 2, false),
    SP_FORWARD("hmget", -3, false),
    SP_FORWARD("hmset", -4, true),
    SP_FORWARD("hrandfield", -2, false),
    SP_FORWARD("hscan", -3, false),
    SP_FORWARD("hset", -4, true),
    SP_FORWARD("hsetnx", 4, true),
    SP_FORWARD("hstrlen", 3, false),
    SP_FORWARD("hvals", 2, false),
    SP_FORWARD("incr", 2, true),
    SP_FORWARD("incrby", 3, true),
    SP_FORWARD("incrbyfloat", 3, true),
    SP_LOCAL("info", -1, INFO),
    SP_FORWARD("lindex", 3, false),
    SP_FORWARD("linsert", 5, true),
    SP_FORWARD("llen", 2, false),
    SP_FORWARD("lmove", 5, true),
    SP_KEYLESS("lolwut", -1, false),
    SP_FORWARD("lpop", -2, true),
    SP_FORWARD("lpos", -3, false),
    SP_FORWARD("lpush", -3, true),
    SP_FORWARD("lpushx", -3, true),
    SP_FORWARD("lrange", 4, false),
    SP_FORWARD("lrem", 4, true),
    SP_FORWARD("lset", 4, true),
    SP_FORWARD("ltrim", 4, true),
    SP_FANOUT("mget", -2, 1, ARRAY, false),
    SP_FANOUT("mset", -3, 2, OK, true),
    SP_LOCAL("multi", 1, MULTI),
    SP_FORWARD("persist", 2, true),
    SP_FORWARD("pexpire", -3, true),
    SP_FORWARD("pexpireat", -3, true),
    SP_FORWARD("pfadd", -2, true),
    SP_FORWARD("pfcount", -2, false),
    SP_FORWARD("pfmerge", -2, true),
    SP_LOCAL("ping", -1, PING),
    SP_FORWARD("psetex", 4, true),
    SP_FORWARD("pttl", 2, false),
    SP_LOCAL("quit", -1, QUIT),
    SP_LOCAL("reset", 1, RESET),
    SP_FORWARD("restore", -4, true),
    SP_LOCAL("role", 1, ROLE),
    SP_FORWARD("rpop", -2, true),
    SP_FORWARD("rpoplpush", 3, true),
    SP_FORWARD("rpush", -3, true),
    SP_FORWARD("rpushx", -3, true),
    SP_FORWARD("sadd", -3, true),
    SP_FORWARD("scard", 2, false),
    SP_FORWARD("sdiff", -2, false),
    SP_FORWARD("sdiffstore", -3, true),
    SP_LOCAL("select", 2, SELECT),
    SP_FORWARD("set", -3, true),
    SP_FORWARD("setbit", 4, true),
    SP_FORWARD("setex", 4, true),
    SP_FORWARD("setnx", 3, true),
    SP_FORWARD("setrange", 4, true),
    SP_FORWARD("sinter", -2, false),
    SP_FORWARD("sinterstore", -3, true),
    SP_FORWARD("sismember", 3, false),
    SP_FORWARD("smembers", 2, false),
    SP_FORWARD("smismember", -3, false),
    SP_FORWARD("smove", 4, true),
    SP_FORWARD("sort", -2, true),
    SP_FORWARD("spop", -2, true),
    SP_FORWARD("srandmember", -2, false),
    SP_FORWARD("srem", -3, true),
    SP_FORWARD("sscan", -3, false),
    SP_FORWARD("strlen", 2, false),
    SP_FORWARD("sunion", -2, false),
    SP_FORWARD("sunionstore", -3, true),
    SP_LOCAL("time", 1, TIME),
    SP_FANOUT("touch", -2, 1, SUM, false),
    SP_FORWARD("ttl", 2, false),
    SP_FORWARD("type", 2, false),
    SP_FANOUT("unlink", -2, 1, SUM, true),
    SP_LOCAL("unwatch", 1, UNWATCH),
    SP_LOCAL_KEYS("watch", -2, WATCH),
    SP_FORWARD("zadd", -4, true),
    SP_FORWARD("zcard", 2, false),
    SP_FORWARD("zcount", 4, false),
    SP_NUMKEYS("zdiff", -3, 2, false),
    SP_FORWARD("zdiffstore", -4, true),
    SP_FORWARD("zincrby", 4, true),
    SP_NUMKEYS("zinter", -3, 2, false),
    SP_FORWARD("zinterstore", -4, true),
    SP_FORWARD("zlexcount", 4, false),
    SP_FORWARD("zmscore", -3, false),
    SP_FORWARD("zpopmax", -2, true),
    SP_FORWARD("zpopmin", -2, true),
    SP_FORWARD("zrandmember", -2, false),
    SP_FORWARD("zrange", -4, false),
    SP_FORWARD("zrangebylex", -4, false),
    SP_FORWARD("zrangebyscore", -4, false),
    SP_FORWARD("zrangestore", -5, true),
    SP_FORWARD("zrank", 3, false),
    SP_FORWARD("zrem", -3, true),
    SP_FORWARD("zremrangebylex", 4, true),
    SP_FORWARD("zremrangebyrank", 4, true),
    SP_FORWARD("zremrangebyscore", 4, true),
    SP_FORWARD("zrevrange", -4, false),
    SP_FORWARD("zrevrangebylex", -4, false),
    SP_FORWARD("zrevrangebyscore", -4, false),
    SP_FORWARD("zrevrank", 3, false),
    SP_FORWARD("zscan", -3, false),
    SP_FORWARD("zscore", 3, false),
    SP_NUMKEYS("zunion", -3, 2, false),
    SP_FORWARD("zunionstore", -4, true),
};

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

const struct sp_redis_command *
sp_redis_command_lookup(const char *name, size_t len)
{
    size_t lo = 0, hi = SP_NELEMS(sp_redis_commands);

    if (len == 0 || len > SP_REDIS_MAX_NAME) {
        return NULL;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = sp_redis_name_cmp(sp_redis_commands[mid].name, name, len);

        if (cmp == 0) {
            return &sp_redis_commands[mid];
        }
        if (cmp < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

bool
sp_redis_command_arity_ok(const struct sp_redis_command *cmd, uint32_t nargs)
{
    if (cmd->arity >= 0 ? nargs != (uint32_t)cmd->arity
                        : nargs < (uint32_t)-cmd->arity) {
        return false;
    }
    if (cmd->key_step > 1 && cmd->last_key == -1 && !cmd->keys_from_numkeys) {
        /* MSET k v [k v ...]: the arguments after the name pair up */
        return (nargs - (uint32_t)cmd->first_key) % (uint32_t)cmd->key_step
               == 0;
    }
    return true;
}

size_t
sp_redis_command_count(void)
{
    return SP_NELEMS(sp_redis_commands);
}

const struct sp_redis_command *
sp_redis_command_at(size_t i)
{
    return i < SP_NELEMS(sp_redis_commands) ? &sp_redis_commands[i] : NULL;
}
