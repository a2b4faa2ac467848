/*
 * test_redis.c — the Redis protocol module: the command table (order,
 * sanity of every row, nutcracker's routed commands, Redis 7 arities), the
 * request parser and the reply parser.
 *
 * Every parser sample is fed whole, split in two at every byte position,
 * in fixed-size chunks and one byte at a time, and each way must give the
 * same results (command, name, nargs, keys, arg1, start/end, where the
 * parser stopped, the error text); the largest samples use a few split
 * points instead of all of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_redis.h"
#include "sp_test_parse.h"

#define RUN_MAX   32          /* messages one sample may hold */

/* ---- building samples ----------------------------------------------------- */

/*
 * Appends one multibulk request of argc arguments (lens NULL: strlen);
 * offs[i], when offs is not NULL, gets argument i's offset in the buffer.
 */
static void
tb_mb(struct tbuf *b, size_t argc, const char *const *argv,
      const size_t *lens, uint64_t *offs)
{
    tb_printf(b, "*%zu\r\n", argc);
    for (size_t i = 0; i < argc; i++) {
        size_t n = lens != NULL ? lens[i] : strlen(argv[i]);

        tb_printf(b, "$%zu\r\n", n);
        if (offs != NULL) {
            offs[i] = b->len;
        }
        tb_put(b, argv[i], n);
        tb_str(b, "\r\n");
    }
}

#define ARGV(...)  ((const char *const[]){ __VA_ARGS__ })
#define ARGC(...)  (sizeof(ARGV(__VA_ARGS__)) / sizeof(const char *))
#define TB_MB(b, offs, ...) \
    tb_mb((b), ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), NULL, (offs))

/* ---- running the request parser ------------------------------------------ */

struct req_out {
    const struct sp_redis_command *command;
    char     name[SP_REDIS_MAX_NAME + 1];
    uint32_t name_len;
    uint32_t nargs;
    uint64_t start;
    uint64_t end;
    bool     inline_form;
    uint32_t nkeys;
    bool     keys_truncated;
    struct sp_span arg1;
    struct sp_span *keys;      /* copy, nkeys of them */
};

struct req_run {
    SP_TEST_RUN_HEAD;
    struct req_out out[RUN_MAX];
};

struct req_cfg {
    uint32_t keys_cap;
    uint64_t base;                  /* the stream offset to start at */
};

/* Eight keys recorded, at stream offset 0. */
static const struct req_cfg req_default = { 8, 0 };

SP_TEST_STEP(req_step, struct sp_redis_req_parser, sp_redis_req_parse)

static void
req_done(const struct sp_test_feed *f, void *r, uint64_t end)
{
    const struct sp_redis_req_parser *p = f->parser;
    const struct req_cfg *cfg = f->cfg;
    struct req_run *run = r;
    struct req_out *o = &run->out[run->n++];

    CHECK(run->n <= RUN_MAX);
    o->command = p->command;
    memcpy(o->name, p->name, sizeof(o->name));
    o->name_len = p->name_len;
    o->nargs = p->nargs;
    o->start = p->start;
    o->end = p->end;
    o->inline_form = p->inline_form;
    o->nkeys = p->nkeys;
    o->keys_truncated = p->keys_truncated;
    o->arg1 = p->arg1;
    CHECK(p->nkeys <= cfg->keys_cap);
    o->keys = sp_test_copy(run, p->keys, p->nkeys, sizeof(*p->keys));
    CHECK(p->end == end);
}

/* Feeds a sample to a fresh request parser (see sp_test_feed). */
static void
run_req(const void *c, const uint8_t *data, size_t len, size_t split,
        size_t step, void *run)
{
    const struct req_cfg *cfg = c;
    struct sp_redis_req_parser p;
    struct sp_span *keys = calloc(cfg->keys_cap + 1, sizeof(*keys));
    struct sp_test_feed f = { req_step, &p, &p.offset, &p.error, cfg->base,
                              cfg, req_done };

    CHECK(keys != NULL);
    sp_redis_req_init(&p, cfg->base, keys, cfg->keys_cap);
    sp_test_feed(&f, data, len, split, step, run, sizeof(struct req_run));
    free(keys);
}

static void
req_out_same(const void *a, const void *b, size_t split, size_t step)
{
    const struct req_out *x = a, *y = b;

    SP_SAME(x->command == y->command);
    SP_SAME(strcmp(x->name, y->name) == 0);
    SP_SAME(x->name_len == y->name_len);
    SP_SAME(x->nargs == y->nargs);
    SP_SAME(x->start == y->start);
    SP_SAME(x->end == y->end);
    SP_SAME(x->inline_form == y->inline_form);
    SP_SAME(x->nkeys == y->nkeys);
    SP_SAME(x->keys_truncated == y->keys_truncated);
    SP_SAME(x->arg1.offset == y->arg1.offset);
    SP_SAME(x->arg1.len == y->arg1.len);
    SP_SAME(memcmp(x->keys, y->keys, x->nkeys * sizeof(*x->keys)) == 0);
}

static const struct sp_test_way req_way =
    SP_TEST_WAY(struct req_run, run_req, req_out_same);

/* Every way of feeding a sample, as sp_test_every_way. */
static void
verify_req_at(const struct tbuf *b, uint32_t keys_cap, bool every_split,
              uint64_t base, struct req_run *whole)
{
    struct req_cfg cfg = { keys_cap, base };

    sp_test_every_way(&req_way, &cfg, b, every_split, whole);
}

static void
verify_req(const struct tbuf *b, uint32_t keys_cap, struct req_run *whole)
{
    verify_req_at(b, keys_cap, true, 0, whole);
}

/* Checks one parsed request's command, nargs and extent. */
static void
expect_req(const struct req_out *o, const char *name, uint32_t nargs,
           uint64_t start, uint64_t end)
{
    ck_assert_ptr_nonnull(o->command);
    ck_assert_str_eq(o->command->name, name);
    ck_assert_str_eq(o->name, name);
    ck_assert_uint_eq(o->name_len, strlen(name));
    ck_assert_uint_eq(o->nargs, nargs);
    ck_assert_uint_eq(o->start, start);
    ck_assert_uint_eq(o->end, end);
}

static void
expect_key(const struct req_out *o, uint32_t i, uint64_t offset, uint32_t len)
{
    ck_assert_uint_lt(i, o->nkeys);
    ck_assert_uint_eq(o->keys[i].offset, offset);
    ck_assert_uint_eq(o->keys[i].len, len);
}

/* A sample that must fail with `error` at buffer offset `at`. */
#define EXPECT_REQ_ERROR(s, error, at) \
    sp_test_expect_error(&req_way, &req_default, (s), sizeof(s) - 1,       \
                         (error), (at))

/* ---- command table ---------------------------------------------------------- */

START_TEST(test_table_sorted_and_found)
{
    size_t n = sp_redis_command_count();

    ck_assert_uint_gt(n, 100);
    ck_assert_ptr_null(sp_redis_command_at(n));
    for (size_t i = 0; i < n; i++) {
        const struct sp_redis_command *c = sp_redis_command_at(i);
        char upper[SP_REDIS_MAX_NAME + 1];
        size_t len = strlen(c->name);

        if (i > 0) {
            ck_assert_int_lt(strcmp(sp_redis_command_at(i - 1)->name,
                                    c->name), 0);
        }
        ck_assert_ptr_eq(sp_redis_command_lookup(c->name, len), c);
        for (size_t j = 0; j <= len; j++) {
            upper[j] = (c->name[j] >= 'a' && c->name[j] <= 'z')
                       ? (char)(c->name[j] - 'a' + 'A') : c->name[j];
        }
        ck_assert_ptr_eq(sp_redis_command_lookup(upper, len), c);
        /* a prefix or an extension of a name is not that command */
        ck_assert_ptr_ne(sp_redis_command_lookup(c->name, len - 1), c);
    }
}
END_TEST

START_TEST(test_table_lookup_case_and_misses)
{
    const struct sp_redis_command *get = sp_redis_command_lookup("get", 3);
    static const char *const absent[] = {
        "", "ge", "gett", "foo", "zzzz", "a", "encoding", "setname",
        "getsetx", "json.get", "ft.search", "waitaof",
    };
    static const char *const refused[] = {
        "psync", "debug", "config", "wait", "monitor", "shutdown",
        "move", "swapdb",
    };

    ck_assert_ptr_nonnull(get);
    ck_assert_ptr_eq(sp_redis_command_lookup("GET", 3), get);
    ck_assert_ptr_eq(sp_redis_command_lookup("gEt", 3), get);
    ck_assert_ptr_eq(sp_redis_command_lookup("GETxyz", 3), get);
    ck_assert_ptr_null(sp_redis_command_lookup("get\0", 4));
    ck_assert_ptr_null(sp_redis_command_lookup("ge\0", 3));
    ck_assert_ptr_eq(sp_redis_command_lookup("ZREMRANGEBYSCORE", 16),
                     sp_redis_command_lookup("zremrangebyscore", 16));
    for (size_t i = 0; i < NELEMS(absent); i++) {
        ck_assert_ptr_null(sp_redis_command_lookup(absent[i],
                                                   strlen(absent[i])));
    }
    ck_assert_ptr_null(sp_redis_command_lookup(
        "getgetgetgetgetgetgetgetgetgetgetget", 36));
    for (size_t i = 0; i < NELEMS(refused); i++) {
        const struct sp_redis_command *c =
            sp_redis_command_lookup(refused[i], strlen(refused[i]));
        ck_assert_msg(c != NULL && c->kind == SP_REDIS_UNSUPPORTED
                      && !(c->flags & SP_REDIS_F_LISTED), "%s", refused[i]);
    }
    ck_assert_int_eq(sp_redis_command_lookup("multi", 5)->kind,
                     SP_REDIS_TRANSACTION);
}
END_TEST

START_TEST(test_table_rows_sane)
{
    ck_assert_uint_le(sp_redis_command_ids(), SP_REDIS_COMMAND_IDS_MAX);
    ck_assert_ptr_null(sp_redis_command_by_id(sp_redis_command_ids()));
    for (size_t i = 0; i < sp_redis_command_ids(); i++) {
        const struct sp_redis_command *c = sp_redis_command_by_id(i);
        int min_args = c->arity < 0 ? -c->arity : c->arity;
        size_t len = strlen(c->name + c->name_skip);

        ck_assert_uint_eq(c->id, i);
        ck_assert_msg(len > 0 && len <= SP_REDIS_MAX_NAME, "%s", c->name);
        for (size_t j = 0; j < strlen(c->name); j++) {
            char ch = c->name[j];
            ck_assert_msg((ch >= 'a' && ch <= 'z') || ch == '_' || ch == '-'
                          || (ch == '|' && j + 1 == c->name_skip), "%s",
                          c->name);
        }
        ck_assert_msg(min_args >= 1, "%s", c->name);
        ck_assert_msg(c->key_step >= 1, "%s", c->name);
        ck_assert_msg(c->first_key >= 0, "%s", c->name);
        /* the first key is within the shortest valid request */
        ck_assert_msg(c->first_key < min_args
                      || (c->keys_from_numkeys && c->first_key == min_args),
                      "%s", c->name);
        if (c->first_key > 0 && !c->keys_from_numkeys) {
            ck_assert_msg(c->last_key < 0 || c->last_key >= c->first_key,
                          "%s", c->name);
            ck_assert_msg(c->arity < 0 || c->last_key < c->arity, "%s",
                          c->name);
        }
        /* a served row's COMMAND INFO and DOCS bytes are in the table */
        ck_assert_msg(!(c->flags & SP_REDIS_F_LISTED) == (c->info_len == 0),
                      "%s", c->name);
        switch (c->kind) {
        case SP_REDIS_FORWARD:
            ck_assert_msg(c->merge == SP_REDIS_MERGE_NONE, "%s", c->name);
            ck_assert_msg(c->local == SP_REDIS_LOCAL_NONE, "%s", c->name);
            if (c->keys_from_numkeys) {
                ck_assert_msg(c->first_key >= 2, "%s", c->name);
            } else if (c->first_key > 0 && !(c->flags & SP_REDIS_F_MULTIKEY)) {
                /* one key: the parser records it */
                ck_assert_msg(c->last_key == c->first_key, "%s", c->name);
            }
            ck_assert_msg((c->flags & SP_REDIS_F_KEYS)
                          || (c->flags & SP_REDIS_F_NOKEY_FIRST)
                          || strcmp(c->name, "lolwut") == 0, "%s", c->name);
            break;
        case SP_REDIS_FANOUT:
            ck_assert_msg(c->merge != SP_REDIS_MERGE_NONE, "%s", c->name);
            ck_assert_msg(c->first_key == 1 && c->last_key == -1, "%s",
                          c->name);
            ck_assert_msg(!c->keys_from_numkeys, "%s", c->name);
            break;
        case SP_REDIS_ALL:
            ck_assert_msg(c->merge != SP_REDIS_MERGE_NONE, "%s", c->name);
            ck_assert_msg(!(c->flags & SP_REDIS_F_KEYS), "%s", c->name);
            break;
        case SP_REDIS_LOCAL:
            ck_assert_msg(c->local != SP_REDIS_LOCAL_NONE, "%s", c->name);
            ck_assert_msg(c->first_key == 0, "%s", c->name);
            break;
        case SP_REDIS_UNSUPPORTED:
            ck_assert_msg(c->refuse != SP_REDIS_REFUSE_NONE, "%s", c->name);
            break;
        case SP_REDIS_TRANSACTION:
            break;
        default:
            ck_abort_msg("%s: bad kind", c->name);
        }
    }
}
END_TEST

/* Rows checked against redis-server 7.0's COMMAND INFO. */
START_TEST(test_table_spot_checks)
{
    static const struct {
        const char *name;
        int arity, first_key, last_key, key_step;
        sp_redis_kind_t kind;
        sp_redis_merge_t merge;
        bool write;
    } rows[] = {
        { "get",      2, 1, 1, 1, SP_REDIS_FORWARD, SP_REDIS_MERGE_NONE, false },
        { "set",     -3, 1, 1, 1, SP_REDIS_FORWARD, SP_REDIS_MERGE_NONE, true },
        { "mset",    -3, 1, -1, 2, SP_REDIS_FANOUT, SP_REDIS_MERGE_OK, true },
        { "mget",    -2, 1, -1, 1, SP_REDIS_FANOUT, SP_REDIS_MERGE_ARRAY,
          false },
        { "del",     -2, 1, -1, 1, SP_REDIS_FANOUT, SP_REDIS_MERGE_SUM, true },
        { "unlink",  -2, 1, -1, 1, SP_REDIS_FANOUT, SP_REDIS_MERGE_SUM, true },
        { "touch",   -2, 1, -1, 1, SP_REDIS_FANOUT, SP_REDIS_MERGE_SUM, false },
        { "exists",  -2, 1, -1, 1, SP_REDIS_FANOUT, SP_REDIS_MERGE_SUM, false },
        { "eval",    -3, 3, -1, 1, SP_REDIS_FORWARD, SP_REDIS_MERGE_NONE,
          false },
        { "evalsha", -3, 3, -1, 1, SP_REDIS_FORWARD, SP_REDIS_MERGE_NONE,
          false },
        { "zunion",  -3, 2, -1, 1, SP_REDIS_FORWARD, SP_REDIS_MERGE_NONE,
          false },
        { "linsert",  5, 1, 1, 1, SP_REDIS_FORWARD, SP_REDIS_MERGE_NONE, true },
        { "smove",    4, 1, 1, 1, SP_REDIS_FORWARD, SP_REDIS_MERGE_NONE, true },
        { "georadius", -6, 1, 1, 1, SP_REDIS_FORWARD, SP_REDIS_MERGE_NONE,
          true },
        { "zrangebyscore", -4, 1, 1, 1, SP_REDIS_FORWARD,
          SP_REDIS_MERGE_NONE, false },
        { "restore", -4, 1, 1, 1, SP_REDIS_FORWARD, SP_REDIS_MERGE_NONE,
          true },
        { "lolwut",  -1, 0, 0, 1, SP_REDIS_FORWARD, SP_REDIS_MERGE_NONE,
          false },
    };
    static const struct {
        const char *name;
        int arity;
        sp_redis_local_t local;
    } locals[] = {
        { "ping", -1, SP_REDIS_LOCAL_PING },
        { "echo", 2, SP_REDIS_LOCAL_ECHO },
        { "quit", -1, SP_REDIS_LOCAL_QUIT },
        { "auth", -2, SP_REDIS_LOCAL_AUTH },
        { "command", -1, SP_REDIS_LOCAL_COMMAND },
        { "select", 2, SP_REDIS_LOCAL_SELECT },
    };

    for (size_t i = 0; i < NELEMS(rows); i++) {
        const struct sp_redis_command *c =
            sp_redis_command_lookup(rows[i].name, strlen(rows[i].name));

        ck_assert_msg(c != NULL, "%s", rows[i].name);
        ck_assert_msg(c->arity == rows[i].arity, "%s", rows[i].name);
        ck_assert_msg(c->first_key == rows[i].first_key, "%s", rows[i].name);
        ck_assert_msg(c->last_key == rows[i].last_key, "%s", rows[i].name);
        ck_assert_msg(c->key_step == rows[i].key_step, "%s", rows[i].name);
        ck_assert_msg(c->kind == rows[i].kind, "%s", rows[i].name);
        ck_assert_msg(c->merge == rows[i].merge, "%s", rows[i].name);
        ck_assert_msg(c->write == rows[i].write, "%s", rows[i].name);
    }
    ck_assert(sp_redis_command_lookup("eval", 4)->keys_from_numkeys);
    ck_assert(sp_redis_command_lookup("zinter", 6)->keys_from_numkeys);
    ck_assert(!sp_redis_command_lookup("zinterstore", 11)->keys_from_numkeys);
    for (size_t i = 0; i < NELEMS(locals); i++) {
        const struct sp_redis_command *c =
            sp_redis_command_lookup(locals[i].name, strlen(locals[i].name));

        ck_assert_msg(c != NULL, "%s", locals[i].name);
        ck_assert_int_eq(c->kind, SP_REDIS_LOCAL);
        ck_assert_int_eq(c->arity, locals[i].arity);
        ck_assert_int_eq(c->local, locals[i].local);
    }
}
END_TEST

/* Every command nutcracker 0.5 routes is routed here (notes/redis.md). */
START_TEST(test_table_nutcracker_commands)
{
    static const char *const routed[] = {
        "del", "dump", "exists", "expire", "expireat", "persist", "pexpire",
        "pexpireat", "pttl", "restore", "sort", "touch", "ttl", "type",
        "unlink", "append", "bitcount", "bitpos", "decr", "decrby", "get",
        "getbit", "getrange", "getset", "incr", "incrby", "incrbyfloat",
        "mget", "mset", "psetex", "set", "setbit", "setex", "setnx",
        "setrange", "strlen", "hdel", "hexists", "hget", "hgetall",
        "hincrby", "hincrbyfloat", "hkeys", "hlen", "hmget", "hmset", "hset",
        "hsetnx", "hscan", "hvals", "hstrlen", "lindex", "linsert", "llen",
        "lpop", "lpush", "lpushx", "lrange", "lrem", "lset", "ltrim", "rpop",
        "rpoplpush", "rpush", "rpushx", "sadd", "scard", "sdiff",
        "sdiffstore", "sinter", "sinterstore", "sismember", "smembers",
        "smove", "spop", "srandmember", "srem", "sunion", "sunionstore",
        "sscan", "zadd", "zcard", "zcount", "zincrby", "zinterstore",
        "zlexcount", "zrange", "zrangebylex", "zrangebyscore", "zrank",
        "zrem", "zremrangebylex", "zremrangebyrank", "zremrangebyscore",
        "zrevrange", "zrevrangebyscore", "zrevrank", "zscore", "zunionstore",
        "zscan", "pfadd", "pfcount", "pfmerge", "geoadd", "geodist",
        "geohash", "georadius", "georadiusbymember", "geopos", "eval",
        "evalsha",
        /* also accepted by Debian's nutcracker 0.5.0 */
        "bitfield", "copy", "geosearch", "geosearchstore", "getdel",
        "getex", "hrandfield", "lmove", "lolwut", "lpos", "smismember",
        "zdiff", "zdiffstore", "zinter", "zmscore", "zpopmax", "zpopmin",
        "zrandmember", "zrangestore", "zrevrangebylex", "zunion",
    };

    for (size_t i = 0; i < NELEMS(routed); i++) {
        const struct sp_redis_command *c =
            sp_redis_command_lookup(routed[i], strlen(routed[i]));

        ck_assert_msg(c != NULL, "%s", routed[i]);
        ck_assert_msg(c->kind == SP_REDIS_FORWARD
                      || c->kind == SP_REDIS_FANOUT, "%s", routed[i]);
    }
    /* every top-level command of redis-server 7.0 has a row */
    ck_assert_uint_eq(sp_redis_command_count(), 240);
    ck_assert_str_eq(sp_redis_command_version(), "7.0.15");
}
END_TEST

START_TEST(test_table_arity)
{
    const struct sp_redis_command *get = sp_redis_command_lookup("get", 3);
    const struct sp_redis_command *mset = sp_redis_command_lookup("mset", 4);
    const struct sp_redis_command *eval = sp_redis_command_lookup("eval", 4);
    const struct sp_redis_command *ping = sp_redis_command_lookup("ping", 4);

    ck_assert(!sp_redis_command_arity_ok(get, 1));
    ck_assert(sp_redis_command_arity_ok(get, 2));
    ck_assert(!sp_redis_command_arity_ok(get, 3));
    ck_assert(!sp_redis_command_arity_ok(mset, 2));
    ck_assert(sp_redis_command_arity_ok(mset, 3));
    ck_assert(!sp_redis_command_arity_ok(mset, 4));
    ck_assert(sp_redis_command_arity_ok(mset, 5));
    ck_assert(!sp_redis_command_arity_ok(eval, 2));
    ck_assert(sp_redis_command_arity_ok(eval, 3));
    ck_assert(sp_redis_command_arity_ok(eval, 7));
    ck_assert(sp_redis_command_arity_ok(ping, 1));
    ck_assert(sp_redis_command_arity_ok(ping, 2));
}
END_TEST

/* ---- request parser: requests --------------------------------------------- */

START_TEST(test_req_get_set)
{
    struct tbuf b = { 0 };
    struct req_run run;
    uint64_t get[2], set[3];

    TB_MB(&b, get, "GET", "foo");
    TB_MB(&b, set, "SET", "foo", "bar");
    verify_req(&b, 8, &run);
    ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
    ck_assert_uint_eq(run.n, 2);
    ck_assert_uint_eq(run.offset, b.len);
    expect_req(&run.out[0], "get", 2, 0, 22);
    ck_assert(!run.out[0].inline_form);
    ck_assert_int_eq(run.out[0].command->kind, SP_REDIS_FORWARD);
    ck_assert_uint_eq(run.out[0].nkeys, 1);
    expect_key(&run.out[0], 0, get[1], 3);
    ck_assert_uint_eq(get[1], 17);
    ck_assert_uint_eq(run.out[0].arg1.offset, 17);
    ck_assert_uint_eq(run.out[0].arg1.len, 3);
    expect_req(&run.out[1], "set", 3, 22, b.len);
    ck_assert_uint_eq(run.out[1].nkeys, 1);
    expect_key(&run.out[1], 0, set[1], 3);
    ck_assert(!run.out[1].keys_truncated);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

START_TEST(test_req_mget_mset_del)
{
    struct tbuf b = { 0 };
    struct req_run run;
    uint64_t mget[9], mset[7], del[4];

    TB_MB(&b, mget, "MGET", "k1", "k2", "key3", "k4", "k5", "k6", "k7", "k8");
    TB_MB(&b, mset, "mset", "a", "1", "bb", "22", "ccc", "333");
    TB_MB(&b, del, "del", "a", "bb", "ccc");
    verify_req(&b, 16, &run);
    ck_assert_uint_eq(run.n, 3);
    expect_req(&run.out[0], "mget", 9, 0, run.out[1].start);
    ck_assert_uint_eq(run.out[0].nkeys, 8);
    for (uint32_t i = 0; i < 8; i++) {
        expect_key(&run.out[0], i, mget[i + 1], i == 2 ? 4 : 2);
    }
    expect_req(&run.out[1], "mset", 7, run.out[0].end, run.out[2].start);
    ck_assert_uint_eq(run.out[1].nkeys, 3);
    expect_key(&run.out[1], 0, mset[1], 1);
    expect_key(&run.out[1], 1, mset[3], 2);
    expect_key(&run.out[1], 2, mset[5], 3);
    ck_assert_int_eq(run.out[1].command->merge, SP_REDIS_MERGE_OK);
    expect_req(&run.out[2], "del", 4, run.out[1].end, b.len);
    ck_assert_uint_eq(run.out[2].nkeys, 3);
    expect_key(&run.out[2], 2, del[3], 3);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

START_TEST(test_req_eval_evalsha)
{
    struct tbuf b = { 0 };
    struct req_run run;
    uint64_t eval[6], sha[5], zu[5];

    TB_MB(&b, eval, "EVAL", "return redis.call('get', KEYS[1])", "2",
          "{t}k1", "{t}k2", "argv1");
    TB_MB(&b, sha, "evalsha", "e0e1f9fabfc9d4800c877a703b823ac0578ff831",
          "1", "key", "arg");
    TB_MB(&b, zu, "zunion", "2", "za", "zb", "WITHSCORES");
    verify_req(&b, 8, &run);
    ck_assert_uint_eq(run.n, 3);
    expect_req(&run.out[0], "eval", 6, 0, run.out[1].start);
    ck_assert_uint_eq(run.out[0].nkeys, 2);
    expect_key(&run.out[0], 0, eval[3], 5);
    expect_key(&run.out[0], 1, eval[4], 5);
    ck_assert_uint_eq(run.out[0].arg1.offset, eval[1]);
    ck_assert_uint_eq(run.out[0].arg1.len, 33);
    expect_req(&run.out[1], "evalsha", 5, run.out[0].end, run.out[2].start);
    ck_assert_uint_eq(run.out[1].nkeys, 1);
    expect_key(&run.out[1], 0, sha[3], 3);
    expect_req(&run.out[2], "zunion", 5, run.out[1].end, b.len);
    ck_assert_uint_eq(run.out[2].nkeys, 2);
    expect_key(&run.out[2], 0, zu[2], 2);
    expect_key(&run.out[2], 1, zu[3], 2);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

/* numkeys 0, not a number, negative, or past the arguments. */
START_TEST(test_req_eval_bad_numkeys)
{
    static const char *const counts[] = {
        "0", "x", "-1", "01", "1x", "", " 1", "+1", "99999999999999999999",
    };
    struct tbuf b = { 0 };
    struct req_run run;
    uint64_t offs[5];

    for (size_t i = 0; i < NELEMS(counts); i++) {
        TB_MB(&b, NULL, "eval", "return 1", counts[i], "k", "a");
    }
    TB_MB(&b, offs, "eval", "return 1", "5", "k1", "k2");
    verify_req(&b, 8, &run);
    ck_assert_uint_eq(run.n, NELEMS(counts) + 1);
    for (size_t i = 0; i < NELEMS(counts); i++) {
        expect_req(&run.out[i], "eval", 5, run.out[i].start, run.out[i].end);
        ck_assert_msg(run.out[i].nkeys == 0, "numkeys '%s'", counts[i]);
        ck_assert(!run.out[i].keys_truncated);
    }
    /* more keys than arguments: those there are (Redis will refuse it) */
    ck_assert_uint_eq(run.out[NELEMS(counts)].nkeys, 2);
    expect_key(&run.out[NELEMS(counts)], 0, offs[3], 2);
    expect_key(&run.out[NELEMS(counts)], 1, offs[4], 2);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

START_TEST(test_req_local_commands)
{
    struct tbuf b = { 0 };
    struct req_run run;
    uint64_t echo[2];

    TB_MB(&b, NULL, "PING");
    TB_MB(&b, echo, "echo", "hello world");
    TB_MB(&b, NULL, "Ping", "msg");
    TB_MB(&b, NULL, "select", "0");
    TB_MB(&b, NULL, "AUTH", "secret");
    TB_MB(&b, NULL, "QUIT");
    verify_req(&b, 8, &run);
    ck_assert_uint_eq(run.n, 6);
    expect_req(&run.out[0], "ping", 1, 0, 14);
    ck_assert_int_eq(run.out[0].command->local, SP_REDIS_LOCAL_PING);
    ck_assert_uint_eq(run.out[0].nkeys, 0);
    ck_assert_uint_eq(run.out[0].arg1.len, 0);
    expect_req(&run.out[1], "echo", 2, 14, run.out[2].start);
    ck_assert_uint_eq(run.out[1].nkeys, 0);
    ck_assert_uint_eq(run.out[1].arg1.offset, echo[1]);
    ck_assert_uint_eq(run.out[1].arg1.len, 11);
    ck_assert_int_eq(run.out[2].command->local, SP_REDIS_LOCAL_PING);
    ck_assert_uint_eq(run.out[2].arg1.len, 3);
    ck_assert_int_eq(run.out[3].command->local, SP_REDIS_LOCAL_SELECT);
    ck_assert_int_eq(run.out[4].command->local, SP_REDIS_LOCAL_AUTH);
    ck_assert_int_eq(run.out[5].command->local, SP_REDIS_LOCAL_QUIT);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

/* The multibulk form of an inline line (sp_redis_inline_encode), compared
 * with `want` (NULL: the line is refused). */
static void
expect_inline(const char *line, size_t len, const char *want, size_t want_len)
{
    uint8_t out[512];
    uint32_t nargs = 0;
    size_t size = sp_redis_inline_size((const uint8_t *)line, len, &nargs);

    if (want == NULL) {
        ck_assert_uint_eq(size, 0);
        ck_assert_uint_eq(sp_redis_inline_encode((const uint8_t *)line, len,
                                                 out), 0);
        return;
    }
    ck_assert_msg(size == want_len, "%s: size %zu, want %zu", line, size,
                  want_len);
    ck_assert_uint_le(size + SP_REDIS_INLINE_SLACK, sizeof(out));
    memset(out, 0xee, sizeof(out));
    ck_assert_uint_eq(sp_redis_inline_encode((const uint8_t *)line, len, out),
                      want_len);
    ck_assert_msg(memcmp(out, want, want_len) == 0, "%s: got %.*s", line,
                  (int)want_len, (const char *)out);
}

#define EXPECT_INLINE(line, want) \
    expect_inline((line), sizeof(line) - 1, (want), sizeof(want) - 1)
#define EXPECT_INLINE_BAD(line) \
    expect_inline((line), sizeof(line) - 1, NULL, 0)

START_TEST(test_req_inline)
{
    struct tbuf b = { 0 };
    struct req_run run;

    tb_str(&b, "get foo\r\n");                  /*  0.. 9 */
    tb_str(&b, "PING\n");                       /*  9..14 */
    tb_str(&b, "\r\n\n  \t \r\n\v\f\n");      /* blank lines, skipped */
    tb_str(&b, "  mGeT\ta  bb \tccc\r\n");      /* 26..45 */
    tb_str(&b, "eval s 1 k\n");                 /* 45..56 */
    tb_str(&b, "\"MSeT\" a 1 b 2 c\n");           /* 56..73 */
    verify_req(&b, 8, &run);
    ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
    ck_assert_uint_eq(run.n, 5);
    ck_assert_uint_eq(run.offset, b.len);
    expect_req(&run.out[0], "get", 2, 0, 9);
    ck_assert(run.out[0].inline_form);
    ck_assert_uint_eq(run.out[0].nkeys, 0);     /* from the multibulk form */
    expect_req(&run.out[1], "ping", 1, 9, 14);
    ck_assert(run.out[1].inline_form);
    expect_req(&run.out[2], "mget", 4, 26, 45);
    expect_req(&run.out[3], "eval", 4, 45, 56);
    /* a quoted name: the decoded bytes are looked up */
    expect_req(&run.out[4], "mset", 6, 56, 73);
    ck_assert(!sp_redis_command_arity_ok(run.out[4].command, 6));
    sp_test_run_free(&run);
    tb_free(&b);

    EXPECT_INLINE("get foo\r\n", "*2\r\n$3\r\nget\r\n$3\r\nfoo\r\n");
    EXPECT_INLINE("  mGeT\ta  bb \tccc\r\n",
                  "*4\r\n$4\r\nmGeT\r\n$1\r\na\r\n$2\r\nbb\r\n$3\r\nccc\r\n");
}
END_TEST

/* Words split as Redis's sdssplitargs splits them (issue #24: \v and \f,
 * quotes and escapes), checked against what redis-server 7.0 stores. */
START_TEST(test_inline_split_as_redis)
{
    /* \v and \f are skipped between words, kept inside one */
    EXPECT_INLINE("SET \fk v\r\n", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    EXPECT_INLINE("\vGET \v\fk\v\n", "*2\r\n$3\r\nGET\r\n$2\r\nk\v\r\n");
    EXPECT_INLINE("GET\f k\n", "*2\r\n$4\r\nGET\f\r\n$1\r\nk\r\n");
    EXPECT_INLINE("a\fb\n", "*1\r\n$3\r\na\fb\r\n");
    /* a CR ends a word anywhere; only the one before LF is the line's */
    EXPECT_INLINE("a\rb\r\r\n", "*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    /* double quotes and their escapes */
    EXPECT_INLINE("set \"a b\" \"\"\n",
                  "*3\r\n$3\r\nset\r\n$3\r\na b\r\n$0\r\n\r\n");
    EXPECT_INLINE("\"\\x41\\x4a\\x00\\xfF\"\n", "*1\r\n$4\r\nAJ\0\xff\r\n");
    EXPECT_INLINE("\"\\n\\r\\t\\b\\a\\\"\\\\\\q\"\n",
                  "*1\r\n$8\r\n\n\r\t\b\a\"\\q\r\n");
    /* "\x" without two hex digits is an x */
    EXPECT_INLINE("\"\\x\\x4\\x4g\\xg\"\n", "*1\r\n$8\r\nxx4x4gxg\r\n");
    EXPECT_INLINE("\"\\x4\"\n", "*1\r\n$2\r\nx4\r\n");
    /* a CR inside quotes is a byte, an escaped one too */
    EXPECT_INLINE("\"a\rb\" \"\\\rc\"\n",
                  "*2\r\n$3\r\na\rb\r\n$2\r\n\rc\r\n");
    /* single quotes: only \' is an escape */
    EXPECT_INLINE("'it\\'s' '\\n\\x41' ''\n",
                  "*3\r\n$4\r\nit's\r\n$6\r\n\\n\\x41\r\n$0\r\n\r\n");
    EXPECT_INLINE("'a\"b' \"a'b\"\n", "*2\r\n$3\r\na\"b\r\n$3\r\na'b\r\n");
    /* a bare word goes on quoted; a closing quote then ends it */
    EXPECT_INLINE("ab\"c d\" x'y z'\t\n",
                  "*2\r\n$5\r\nabc d\r\n$4\r\nxy z\r\n");
    EXPECT_INLINE("\"a\"\v\"b\"\f'c'\r\n",
                  "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
    /* unbalanced: a closing quote followed by a word byte, a quote left
     * open (an escaped CR or a backslash before the line's end too) */
    EXPECT_INLINE_BAD("\"a\"b\n");
    EXPECT_INLINE_BAD("'a'b\n");
    EXPECT_INLINE_BAD("\"ab\n");
    EXPECT_INLINE_BAD("\"ab\r\n");
    EXPECT_INLINE_BAD("'ab\n");
    EXPECT_INLINE_BAD("\"ab\\\r\n");
    EXPECT_INLINE_BAD("\"ab\\\n");
    EXPECT_INLINE_BAD("'ab\\\n");
    EXPECT_INLINE_BAD("\"ab\\x\n");
    /* a NUL anywhere; no word; not one line */
    EXPECT_INLINE_BAD("get a\0\r\n");
    EXPECT_INLINE_BAD("\"\0\"\n");
    EXPECT_INLINE_BAD(" \t\r\n");
    EXPECT_INLINE_BAD("get a");
    EXPECT_INLINE_BAD("get a\nget b\n");
}
END_TEST

/* The lexer, byte by byte: held bytes come out with the next one, and an
 * error stays. */
START_TEST(test_inline_lexer_bytes)
{
    struct sp_redis_inline lx;
    uint8_t out[SP_REDIS_INLINE_OUT];
    uint32_t n;

    sp_redis_inline_init(&lx);
    ck_assert_uint_eq(sp_redis_inline_byte(&lx, '"', out, &n),
                      SP_INLINE_WORD_BEGIN);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(sp_redis_inline_byte(&lx, '\\', out, &n), 0);
    ck_assert_uint_eq(sp_redis_inline_byte(&lx, 'x', out, &n), 0);
    ck_assert_uint_eq(sp_redis_inline_byte(&lx, '4', out, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(sp_redis_inline_byte(&lx, 'z', out, &n), 0);
    ck_assert_uint_eq(n, 3);                    /* x 4 z */
    ck_assert(memcmp(out, "x4z", 3) == 0);
    ck_assert_uint_eq(sp_redis_inline_byte(&lx, '"', out, &n), 0);
    ck_assert_uint_eq(sp_redis_inline_byte(&lx, '\n', out, &n),
                      SP_INLINE_WORD_END | SP_INLINE_LINE_END);
    ck_assert_uint_eq(sp_redis_inline_byte(&lx, 'a', out, &n),
                      SP_INLINE_WORD_BEGIN);
    ck_assert_uint_eq(sp_redis_inline_byte(&lx, '\0', out, &n),
                      SP_INLINE_BAD_NUL);
    ck_assert_uint_eq(sp_redis_inline_byte(&lx, 'a', out, &n),
                      SP_INLINE_BAD_NUL);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_req_pipeline_and_skips)
{
    struct tbuf b = { 0 };
    struct req_run run;

    TB_MB(&b, NULL, "PING");                    /*  0..14 */
    TB_MB(&b, NULL, "GET", "a");                /* 14..34 */
    tb_str(&b, "*0\r\n*-1\r\n\r\n");            /* skipped */
    tb_str(&b, "PING\r\n");                     /* 45..51 */
    TB_MB(&b, NULL, "set", "x", "y");           /* 51.. */
    tb_str(&b, "*-12\r\n");                     /* skipped, nothing after */
    verify_req(&b, 8, &run);
    ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
    ck_assert_uint_eq(run.n, 4);
    expect_req(&run.out[0], "ping", 1, 0, 14);
    expect_req(&run.out[1], "get", 2, 14, 34);
    expect_req(&run.out[2], "ping", 1, 45, 51);
    ck_assert(run.out[2].inline_form);
    expect_req(&run.out[3], "set", 3, 51, b.len - 6);
    ck_assert_uint_eq(run.offset, b.len);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

START_TEST(test_req_mixed_case)
{
    static const char *const names[] = { "GET", "get", "Get", "gEt", "geT" };
    struct tbuf b = { 0 };
    struct req_run run;

    for (size_t i = 0; i < NELEMS(names); i++) {
        TB_MB(&b, NULL, names[i], "k");
    }
    TB_MB(&b, NULL, "ZrAnGeByScOrE", "z", "0", "1");
    verify_req(&b, 8, &run);
    ck_assert_uint_eq(run.n, NELEMS(names) + 1);
    for (size_t i = 0; i < NELEMS(names); i++) {
        expect_req(&run.out[i], "get", 2, run.out[i].start, run.out[i].end);
        ck_assert_uint_eq(run.out[i].nkeys, 1);
    }
    expect_req(&run.out[NELEMS(names)], "zrangebyscore", 4,
               run.out[NELEMS(names)].start, b.len);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

START_TEST(test_req_unknown)
{
    static const char *long_name =
        "ThisCommandNameIsFarLongerThanAnyRedisCommand";
    struct tbuf b = { 0 };
    struct req_run run;

    TB_MB(&b, NULL, "FooBarX", "a", "b");
    TB_MB(&b, NULL, "MONITOR");
    TB_MB(&b, NULL, long_name, "x");
    tb_str(&b, "scan 0\r\n");
    TB_MB(&b, NULL, "get", "k");
    verify_req(&b, 8, &run);
    ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
    ck_assert_uint_eq(run.n, 5);
    ck_assert_ptr_null(run.out[0].command);
    ck_assert_str_eq(run.out[0].name, "foobarx");
    ck_assert_uint_eq(run.out[0].name_len, 7);
    ck_assert_uint_eq(run.out[0].nargs, 3);
    ck_assert_uint_eq(run.out[0].nkeys, 0);
    /* a command the proxy refuses still has its row */
    ck_assert_int_eq(run.out[1].command->kind, SP_REDIS_UNSUPPORTED);
    ck_assert_str_eq(run.out[1].name, "monitor");
    ck_assert_ptr_null(run.out[2].command);
    ck_assert_uint_eq(run.out[2].name_len, strlen(long_name));
    ck_assert_uint_eq(strlen(run.out[2].name), SP_REDIS_MAX_NAME);
    ck_assert_int_eq(strncmp(run.out[2].name, "thiscommandnameisfarlongerthanany",
                             SP_REDIS_MAX_NAME), 0);
    ck_assert_int_eq(run.out[3].command->kind, SP_REDIS_LOCAL);
    ck_assert_str_eq(run.out[3].name, "scan");
    ck_assert(run.out[3].inline_form);
    expect_req(&run.out[4], "get", 2, run.out[4].start, b.len);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

START_TEST(test_req_empty_and_binary_args)
{
    static const char key[] = "a\r\nb\0c\r\n*1\r\n$";
    struct tbuf b = { 0 };
    struct req_run run;
    uint64_t e[2], bin[3], mg[4];
    const char *argv[] = { "SET", key, "" };
    size_t lens[] = { 3, sizeof(key) - 1, 0 };

    TB_MB(&b, e, "get", "");
    tb_mb(&b, 3, argv, lens, bin);
    TB_MB(&b, mg, "mget", "", "x", "");
    verify_req(&b, 8, &run);
    ck_assert_uint_eq(run.n, 3);
    expect_req(&run.out[0], "get", 2, 0, 19);
    expect_key(&run.out[0], 0, e[1], 0);
    ck_assert_uint_eq(run.out[0].arg1.len, 0);
    expect_req(&run.out[1], "set", 3, 19, run.out[2].start);
    expect_key(&run.out[1], 0, bin[1], (uint32_t)(sizeof(key) - 1));
    ck_assert_uint_eq(run.out[2].nkeys, 3);
    expect_key(&run.out[2], 0, mg[1], 0);
    expect_key(&run.out[2], 1, mg[2], 1);
    expect_key(&run.out[2], 2, mg[3], 0);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

/* A 1 MB value spanning many chunks; a few split points. */
START_TEST(test_req_big_value)
{
    struct tbuf b = { 0 };
    struct req_run run;
    size_t size = 1024 * 1024;
    char *value = malloc(size);
    const char *argv[] = { "set", "bigkey", value };
    size_t lens[] = { 3, 6, size };
    uint64_t offs[3];

    ck_assert_ptr_nonnull(value);
    for (size_t i = 0; i < size; i++) {
        value[i] = (char)(i * 131 + 7);         /* \r and \n included */
    }
    tb_mb(&b, 3, argv, lens, offs);
    TB_MB(&b, NULL, "get", "bigkey");
    verify_req_at(&b, 4, false, 0, &run);
    ck_assert_uint_eq(run.n, 2);
    expect_req(&run.out[0], "set", 3, 0, run.out[1].start);
    expect_key(&run.out[0], 0, offs[1], 6);
    expect_req(&run.out[1], "get", 2, offs[2] + size + 2, b.len);
    sp_test_run_free(&run);
    tb_free(&b);
    free(value);
}
END_TEST

/* 10000 keys; then the same with room for only 100 of them. */
START_TEST(test_req_many_keys)
{
    enum { NKEYS = 10000 };
    struct tbuf b = { 0 };
    struct req_run run;
    char (*names)[16] = calloc(NKEYS, sizeof(*names));
    const char **argv = calloc(NKEYS + 1, sizeof(*argv));
    uint64_t *offs = calloc(NKEYS + 1, sizeof(*offs));

    ck_assert(names != NULL && argv != NULL && offs != NULL);
    argv[0] = "MGET";
    for (size_t i = 0; i < NKEYS; i++) {
        snprintf(names[i], sizeof(names[i]), "key:%zu", i);
        argv[i + 1] = names[i];
    }
    tb_mb(&b, NKEYS + 1, argv, NULL, offs);
    verify_req_at(&b, NKEYS, false, 0, &run);
    ck_assert_uint_eq(run.n, 1);
    expect_req(&run.out[0], "mget", NKEYS + 1, 0, b.len);
    ck_assert_uint_eq(run.out[0].nkeys, NKEYS);
    ck_assert(!run.out[0].keys_truncated);
    for (uint32_t i = 0; i < NKEYS; i++) {
        expect_key(&run.out[0], i, offs[i + 1], (uint32_t)strlen(names[i]));
    }
    sp_test_run_free(&run);

    verify_req_at(&b, 100, false, 0, &run);
    ck_assert_uint_eq(run.out[0].nkeys, 100);
    ck_assert(run.out[0].keys_truncated);
    expect_key(&run.out[0], 99, offs[100], (uint32_t)strlen(names[99]));
    sp_test_run_free(&run);

    /* a FORWARD command with many keys records what fits (the proxy
     * finds them all from the key specs once the request is whole) */
    argv[0] = "SDIFF";
    b.len = 0;
    tb_mb(&b, NKEYS + 1, argv, NULL, offs);
    verify_req_at(&b, 1, false, 0, &run);
    expect_req(&run.out[0], "sdiff", NKEYS + 1, 0, b.len);
    ck_assert_uint_eq(run.out[0].nkeys, 1);
    ck_assert(run.out[0].keys_truncated);
    expect_key(&run.out[0], 0, offs[1], 5);
    sp_test_run_free(&run);
    tb_free(&b);
    free(names);
    free(argv);
    free(offs);
}
END_TEST

/* Offsets are absolute stream offsets, wherever the stream starts. */
START_TEST(test_req_stream_offset)
{
    struct tbuf b = { 0 };
    struct req_run run;
    uint64_t base = (uint64_t)1 << 40;
    uint64_t offs[2];

    TB_MB(&b, offs, "get", "foo");
    verify_req_at(&b, 2, true, base, &run);
    ck_assert_uint_eq(run.n, 1);
    expect_req(&run.out[0], "get", 2, base, base + b.len);
    expect_key(&run.out[0], 0, base + offs[1], 3);
    ck_assert_uint_eq(run.offset, base + b.len);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

/* ---- request parser: framing errors --------------------------------------- */

START_TEST(test_req_error_multibulk_length)
{
    EXPECT_REQ_ERROR("*abc\r\n", "invalid multibulk length", 1);
    EXPECT_REQ_ERROR("*\r\n", "invalid multibulk length", 1);
    EXPECT_REQ_ERROR("*1x\r\n", "invalid multibulk length", 2);
    EXPECT_REQ_ERROR("*01\r\n", "invalid multibulk length", 2);
    EXPECT_REQ_ERROR("*-0\r\n", "invalid multibulk length", 2);
    EXPECT_REQ_ERROR("*--1\r\n", "invalid multibulk length", 2);
    EXPECT_REQ_ERROR("*-\r\n", "invalid multibulk length", 2);
    EXPECT_REQ_ERROR("* 1\r\n", "invalid multibulk length", 1);
    EXPECT_REQ_ERROR("*+1\r\n", "invalid multibulk length", 1);
    EXPECT_REQ_ERROR("*1048577\r\n", "invalid multibulk length", 7);
    EXPECT_REQ_ERROR("*99999999999999999999999\r\n",
                     "invalid multibulk length", 7);
    EXPECT_REQ_ERROR("*-99999999999999999999\r\n",
                     "invalid multibulk length", 20);
    EXPECT_REQ_ERROR("*1\rx", "invalid multibulk length", 3);
    EXPECT_REQ_ERROR("*1048576\r\n:", "expected '$', got ':'", 10);
    /* a bad count after a good request */
    EXPECT_REQ_ERROR("PING\r\n*x", "invalid multibulk length", 7);
}
END_TEST

START_TEST(test_req_error_bulk_length)
{
    EXPECT_REQ_ERROR("*1\r\n$-1\r\n", "invalid bulk length", 5);
    EXPECT_REQ_ERROR("*1\r\n$x\r\n", "invalid bulk length", 5);
    EXPECT_REQ_ERROR("*1\r\n$\r\n", "invalid bulk length", 5);
    EXPECT_REQ_ERROR("*1\r\n$3x\r\n", "invalid bulk length", 6);
    EXPECT_REQ_ERROR("*1\r\n$03\r\n", "invalid bulk length", 6);
    /* the same with the argument whole behind it (read at once when well
     * formed, so these must not pass that way) */
    EXPECT_REQ_ERROR("*1\r\n$03\r\nabc\r\n", "invalid bulk length", 6);
    EXPECT_REQ_ERROR("*1\r\n$536870913\r\nabc\r\n", "invalid bulk length",
                     13);
    EXPECT_REQ_ERROR("*1\r\n$536870913\r\n", "invalid bulk length", 13);
    EXPECT_REQ_ERROR("*1\r\n$99999999999999999999999\r\n",
                     "invalid bulk length", 13);
    EXPECT_REQ_ERROR("*1\r\n$3\rx", "invalid bulk length", 7);
}
END_TEST

/* The largest count and bulk length are accepted (the rest would follow). */
START_TEST(test_req_largest_lengths)
{
    static const char sample[] = "*1048576\r\n$536870912\r\nabc";
    struct tbuf b = { 0 };
    struct req_run run;

    tb_str(&b, sample);
    verify_req(&b, 8, &run);
    ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
    ck_assert_uint_eq(run.n, 0);
    ck_assert_uint_eq(run.offset, b.len);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

START_TEST(test_req_error_dollar)
{
    EXPECT_REQ_ERROR("*1\r\nx3\r\n", "expected '$', got 'x'", 4);
    EXPECT_REQ_ERROR("*2\r\n$3\r\nget\r\n:1\r\n", "expected '$', got ':'",
                     13);
    EXPECT_REQ_ERROR("*1\r\n\r\n", "expected '$', got ' '", 4);
    EXPECT_REQ_ERROR("*1\r\n\n", "expected '$', got ' '", 4);
    EXPECT_REQ_ERROR("*1\r\n\0", "expected '$', got ' '", 4);
}
END_TEST

START_TEST(test_req_error_bulk_crlf)
{
    EXPECT_REQ_ERROR("*1\r\n$3\r\ngetxx", "expected CRLF after bulk data",
                     11);
    EXPECT_REQ_ERROR("*1\r\n$3\r\nget\rx", "expected CRLF after bulk data",
                     12);
    EXPECT_REQ_ERROR("*1\r\n$0\r\n\n", "expected CRLF after bulk data", 8);
    EXPECT_REQ_ERROR("*2\r\n$3\r\nget\r\n$1\r\nab\r\n",
                     "expected CRLF after bulk data", 18);
}
END_TEST

START_TEST(test_req_error_inline)
{
    struct tbuf b = { 0 };
    struct req_run run;

    EXPECT_REQ_ERROR("set k \"a b\"c\r\n", "unbalanced quotes in request",
                     11);
    EXPECT_REQ_ERROR("get it's\n", "unbalanced quotes in request", 8);
    EXPECT_REQ_ERROR("get 'a\r\n", "unbalanced quotes in request", 7);
    /* issue #24: Redis would wait for the line's end for ever */
    EXPECT_REQ_ERROR("GET {t}\0\r\n", "null byte in inline request", 7);
    EXPECT_REQ_ERROR("\0", "null byte in inline request", 0);
    EXPECT_REQ_ERROR("PING\r\nGET '\0'\r\n", "null byte in inline request",
                     11);

    /* the longest line is accepted, one byte more is not */
    tb_str(&b, "get ");
    while (b.len < SP_REDIS_MAX_INLINE) {
        tb_str(&b, "k");
    }
    tb_str(&b, "\n");
    verify_req_at(&b, 2, false, 0, &run);
    ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
    ck_assert_uint_eq(run.n, 1);
    expect_req(&run.out[0], "get", 2, 0, b.len);
    sp_test_run_free(&run);

    b.len--;
    tb_str(&b, "k\r\n");
    verify_req_at(&b, 2, false, 0, &run);
    ck_assert_int_eq(run.status, SP_PARSE_ERROR);
    ck_assert_str_eq(run.error, "too big inline request");
    ck_assert_uint_eq(run.offset, SP_REDIS_MAX_INLINE);
    ck_assert_uint_eq(run.n, 0);
    sp_test_run_free(&run);

    /* a request before the long line is still parsed */
    b.len = 0;
    tb_str(&b, "PING\r\n");
    while (b.len < 6 + SP_REDIS_MAX_INLINE + 10) {
        tb_str(&b, " ");
    }
    verify_req_at(&b, 2, false, 0, &run);
    ck_assert_int_eq(run.status, SP_PARSE_ERROR);
    ck_assert_str_eq(run.error, "too big inline request");
    ck_assert_uint_eq(run.offset, 6 + SP_REDIS_MAX_INLINE);
    ck_assert_uint_eq(run.n, 1);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

/* ---- reply parser -------------------------------------------------------- */

struct reply_out {
    sp_redis_reply_type_t type;
    bool     nil;
    int64_t  integer;
    uint64_t start;
    uint64_t end;
    uint32_t nelements;
    struct sp_span *elements;  /* copy */
};

struct reply_run {
    SP_TEST_RUN_HEAD;
    struct reply_out out[RUN_MAX];
    uint32_t grown;             /* times the parser asked for more stack */
    uint32_t stack_cap;         /* the stack it ended with */
};

struct reply_cfg {
    uint32_t stack_cap;
    uint32_t elements_cap;
};

/* A reply parser with the stack it grows, as the proxy grows it. */
struct reply_parser {
    struct sp_redis_reply_parser p;
    int64_t *stack;
    uint32_t stack_cap;
    uint32_t grown;
};

/* The parser's step: a full stack (need_stack) gets a bigger one and the
 * same byte again, as sp_redis_reply_feed does. */
static sp_parse_status_t
reply_step(void *parser, const uint8_t *data, size_t len, size_t *used)
{
    struct reply_parser *rp = parser;
    size_t at = 0;

    for (;;) {
        size_t n = 0;
        sp_parse_status_t status = sp_redis_reply_parse(&rp->p, data + at,
                                                        len - at, &n);
        at += n;
        if (status != SP_PARSE_ERROR || !rp->p.need_stack) {
            *used = at;
            return status;
        }
        CHECK(rp->p.error == NULL);
        rp->stack_cap = rp->stack_cap * 2 + 1;
        rp->stack = realloc(rp->stack, (rp->stack_cap + 1) * sizeof(*rp->stack));
        CHECK(rp->stack != NULL);
        sp_redis_reply_stack(&rp->p, rp->stack, rp->stack_cap);
        rp->grown++;
    }
}

static void
reply_done(const struct sp_test_feed *f, void *r, uint64_t end)
{
    const struct sp_redis_reply_parser *p =
        &((const struct reply_parser *)f->parser)->p;
    const struct reply_cfg *cfg = f->cfg;
    struct reply_run *run = r;
    struct reply_out *o = &run->out[run->n++];

    CHECK(run->n <= RUN_MAX);
    o->type = p->type;
    o->nil = p->nil;
    o->integer = p->integer;
    o->start = p->start;
    o->end = p->end;
    o->nelements = p->nelements;
    CHECK(p->nelements <= cfg->elements_cap);
    o->elements = sp_test_copy(run, p->elements, p->nelements,
                               sizeof(*p->elements));
    CHECK(p->end == end);
    CHECK(p->depth == 0);
}

/* Feeds a sample to a fresh reply parser (see sp_test_feed). */
static void
run_reply(const void *c, const uint8_t *data, size_t len, size_t split,
          size_t step, void *run)
{
    const struct reply_cfg *cfg = c;
    struct reply_parser rp = {
        .stack = calloc(cfg->stack_cap + 1, sizeof(int64_t)),
        .stack_cap = cfg->stack_cap,
    };
    struct sp_span *elements = calloc(cfg->elements_cap + 1,
                                      sizeof(*elements));
    struct sp_test_feed f = { reply_step, &rp, &rp.p.offset, &rp.p.error, 0,
                              cfg, reply_done };

    CHECK(rp.stack != NULL && elements != NULL);
    sp_redis_reply_init(&rp.p, 0, rp.stack, rp.stack_cap, elements,
                        cfg->elements_cap);
    sp_test_feed(&f, data, len, split, step, run, sizeof(struct reply_run));
    ((struct reply_run *)run)->grown = rp.grown;
    ((struct reply_run *)run)->stack_cap = rp.stack_cap;
    free(rp.stack);
    free(elements);
}

static void
reply_out_same(const void *a, const void *b, size_t split, size_t step)
{
    const struct reply_out *x = a, *y = b;

    SP_SAME(x->type == y->type);
    SP_SAME(x->nil == y->nil);
    SP_SAME(x->integer == y->integer);
    SP_SAME(x->start == y->start);
    SP_SAME(x->end == y->end);
    SP_SAME(x->nelements == y->nelements);
    SP_SAME(memcmp(x->elements, y->elements,
                   x->nelements * sizeof(*x->elements)) == 0);
}

static const struct sp_test_way reply_way =
    SP_TEST_WAY(struct reply_run, run_reply, reply_out_same);

static void
verify_reply_at(const struct tbuf *b, uint32_t stack_cap,
                uint32_t elements_cap, bool every_split,
                struct reply_run *whole)
{
    struct reply_cfg cfg = { stack_cap, elements_cap };

    sp_test_every_way(&reply_way, &cfg, b, every_split, whole);
}

/* A stack and elements of eight. */
static const struct reply_cfg reply_default = { 8, 8 };

static void
verify_reply(const struct tbuf *b, struct reply_run *whole)
{
    sp_test_every_way(&reply_way, &reply_default, b, true, whole);
}

static void
expect_reply(const struct reply_out *o, sp_redis_reply_type_t type,
             bool nil, int64_t integer, uint64_t start, uint64_t end)
{
    ck_assert_int_eq(o->type, type);
    ck_assert_int_eq(o->nil, nil);
    ck_assert_int_eq(o->integer, integer);
    ck_assert_uint_eq(o->start, start);
    ck_assert_uint_eq(o->end, end);
}

/* A reply that must fail with `error` at buffer offset `at`. */
#define EXPECT_REPLY_ERROR(s, error, at) \
    sp_test_expect_error(&reply_way, &reply_default, (s), sizeof(s) - 1,   \
                         (error), (at))

/* Each simple reply alone, then all of them pipelined. */
START_TEST(test_reply_simple)
{
    static const struct {
        const char *text;
        sp_redis_reply_type_t type;
        bool nil;
        int64_t integer;
    } samples[] = {
        { "+OK\r\n", SP_REDIS_REPLY_STATUS, false, 0 },
        { "-ERR x\r\n", SP_REDIS_REPLY_ERROR, false, 0 },
        { "+\r\n", SP_REDIS_REPLY_STATUS, false, 0 },
        { ":123\r\n", SP_REDIS_REPLY_INTEGER, false, 123 },
        { ":-5\r\n", SP_REDIS_REPLY_INTEGER, false, -5 },
        { ":0\r\n", SP_REDIS_REPLY_INTEGER, false, 0 },
        { ":9223372036854775807\r\n", SP_REDIS_REPLY_INTEGER, false,
          INT64_MAX },
        { ":-9223372036854775808\r\n", SP_REDIS_REPLY_INTEGER, false,
          INT64_MIN },
        { "$3\r\nfoo\r\n", SP_REDIS_REPLY_BULK, false, 3 },
        { "$-1\r\n", SP_REDIS_REPLY_BULK, true, -1 },
        { "$0\r\n\r\n", SP_REDIS_REPLY_BULK, false, 0 },
        { "$4\r\n\r\n\r\n\r\n", SP_REDIS_REPLY_BULK, false, 4 },
        { "*-1\r\n", SP_REDIS_REPLY_ARRAY, true, -1 },
        { "*0\r\n", SP_REDIS_REPLY_ARRAY, false, 0 },
        /* RESP3 (a HELLO 3 client's server connections) */
        { "_\r\n", SP_REDIS_REPLY_NULL, true, 0 },
        { "#t\r\n", SP_REDIS_REPLY_SCALAR, false, 0 },
        { ",1.5e3\r\n", SP_REDIS_REPLY_SCALAR, false, 0 },
        { ",-inf\r\n", SP_REDIS_REPLY_SCALAR, false, 0 },
        { "(3492890328409238509324850943850943825024385\r\n",
          SP_REDIS_REPLY_SCALAR, false, 0 },
        { "!8\r\nERR x\r\ny\r\n", SP_REDIS_REPLY_ERROR, false, 8 },
        { "=8\r\ntxt:abcd\r\n", SP_REDIS_REPLY_BULK, false, 8 },
        { "%0\r\n", SP_REDIS_REPLY_MAP, false, 0 },
        { "~0\r\n", SP_REDIS_REPLY_SET, false, 0 },
        { ">0\r\n", SP_REDIS_REPLY_PUSH, false, 0 },
    };
    struct tbuf all = { 0 };
    struct reply_run run;

    for (size_t i = 0; i < NELEMS(samples); i++) {
        struct tbuf b = { 0 };
        size_t len = strlen(samples[i].text);

        tb_put(&b, samples[i].text, len);
        tb_put(&all, samples[i].text, len);
        verify_reply(&b, &run);
        ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
        ck_assert_uint_eq(run.n, 1);
        expect_reply(&run.out[0], samples[i].type, samples[i].nil,
                     samples[i].integer, 0, len);
        ck_assert_uint_eq(run.out[0].nelements, 0);
        sp_test_run_free(&run);
        tb_free(&b);
    }
    run_reply(&(const struct reply_cfg){ 4, 4 }, all.data, all.len, 0,
              all.len, &run);
    ck_assert_uint_eq(run.n, NELEMS(samples));
    for (size_t i = 0, at = 0; i < NELEMS(samples); i++) {
        size_t len = strlen(samples[i].text);

        expect_reply(&run.out[i], samples[i].type, samples[i].nil,
                     samples[i].integer, at, at + len);
        at += len;
    }
    sp_test_run_free(&run);
    tb_free(&all);
}
END_TEST

START_TEST(test_reply_mget_elements)
{
    struct tbuf b = { 0 };
    struct reply_run run;

    tb_str(&b, "*4\r\n$1\r\na\r\n$-1\r\n$3\r\nb\r\n\r\n$0\r\n\r\n");
    tb_str(&b, "*3\r\n:1\r\n+OK\r\n-ERR no\r\n");
    verify_reply(&b, &run);
    ck_assert_uint_eq(run.n, 2);
    expect_reply(&run.out[0], SP_REDIS_REPLY_ARRAY, false, 4, 0, 31);
    ck_assert_uint_eq(run.out[0].nelements, 4);
    ck_assert_uint_eq(run.out[0].elements[0].offset, 4);
    ck_assert_uint_eq(run.out[0].elements[0].len, 7);
    ck_assert_uint_eq(run.out[0].elements[1].offset, 11);
    ck_assert_uint_eq(run.out[0].elements[1].len, 5);
    ck_assert_uint_eq(run.out[0].elements[2].offset, 16);
    ck_assert_uint_eq(run.out[0].elements[2].len, 9);
    ck_assert_uint_eq(run.out[0].elements[3].offset, 25);
    ck_assert_uint_eq(run.out[0].elements[3].len, 6);
    expect_reply(&run.out[1], SP_REDIS_REPLY_ARRAY, false, 3, 31, b.len);
    ck_assert_uint_eq(run.out[1].nelements, 3);
    ck_assert_uint_eq(run.out[1].elements[0].offset, 35);
    ck_assert_uint_eq(run.out[1].elements[0].len, 4);
    ck_assert_uint_eq(run.out[1].elements[2].offset, 44);
    ck_assert_uint_eq(run.out[1].elements[2].len, 9);
    sp_test_run_free(&run);

    /* room for two elements: the rest are parsed, not recorded */
    verify_reply_at(&b, 8, 2, true, &run);
    ck_assert_uint_eq(run.n, 2);
    ck_assert_uint_eq(run.out[0].nelements, 2);
    ck_assert_int_eq(run.out[0].integer, 4);
    ck_assert_uint_eq(run.out[0].elements[1].offset, 11);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

START_TEST(test_reply_nested_depth3)
{
    struct tbuf b = { 0 };
    struct reply_run run;

    /* [[[1], "a"], OK, [], nil] */
    tb_str(&b, "*4\r\n*2\r\n*1\r\n:1\r\n$1\r\na\r\n+OK\r\n*0\r\n*-1\r\n");
    verify_reply(&b, &run);
    ck_assert_uint_eq(run.n, 1);
    expect_reply(&run.out[0], SP_REDIS_REPLY_ARRAY, false, 4, 0, b.len);
    ck_assert_uint_eq(run.out[0].nelements, 4);
    ck_assert_uint_eq(run.out[0].elements[0].offset, 4);
    ck_assert_uint_eq(run.out[0].elements[0].len, 19);
    ck_assert_uint_eq(run.out[0].elements[1].offset, 23);
    ck_assert_uint_eq(run.out[0].elements[1].len, 5);
    ck_assert_uint_eq(run.out[0].elements[2].offset, 28);
    ck_assert_uint_eq(run.out[0].elements[2].len, 4);
    ck_assert_uint_eq(run.out[0].elements[3].offset, 32);
    ck_assert_uint_eq(run.out[0].elements[3].len, 5);
    sp_test_run_free(&run);

    /* three levels fit a stack of three; with two the parser asks for more
     * and goes on, with the same result */
    verify_reply_at(&b, 3, 8, true, &run);
    ck_assert_uint_eq(run.n, 1);
    ck_assert_uint_eq(run.grown, 0);
    sp_test_run_free(&run);
    verify_reply_at(&b, 2, 8, true, &run);
    ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
    ck_assert_uint_eq(run.n, 1);
    ck_assert_uint_eq(run.out[0].nelements, 4);
    ck_assert_uint_eq(run.grown, 1);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

/* RESP3 aggregates: a map of N pairs is 2N values; sets and pushes are
 * arrays; a null ends a value. */
START_TEST(test_reply_resp3_nested)
{
    struct tbuf b = { 0 };
    struct reply_run run;

    /* {"a": [1, _], "b": {~ "x"}} */
    tb_str(&b, "%2\r\n$1\r\na\r\n*2\r\n:1\r\n_\r\n"
               "+b\r\n~1\r\n=5\r\ntxt:x\r\n");
    verify_reply(&b, &run);
    ck_assert_uint_eq(run.n, 1);
    expect_reply(&run.out[0], SP_REDIS_REPLY_MAP, false, 2, 0, b.len);
    ck_assert_uint_eq(run.out[0].nelements, 4);
    ck_assert_uint_eq(run.out[0].elements[0].offset, 4);
    ck_assert_uint_eq(run.out[0].elements[0].len, 7);
    ck_assert_uint_eq(run.out[0].elements[1].len, 11);
    ck_assert_uint_eq(run.out[0].elements[3].len, b.len - 26);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

START_TEST(test_reply_nested_depth10000)
{
    enum { DEPTH = 10000 };
    struct tbuf b = { 0 };
    struct reply_run run;

    for (int i = 0; i < DEPTH; i++) {
        tb_str(&b, "*1\r\n");
    }
    tb_str(&b, ":1\r\n+after\r\n");
    verify_reply_at(&b, DEPTH, 4, false, &run);
    ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
    ck_assert_uint_eq(run.n, 2);
    expect_reply(&run.out[0], SP_REDIS_REPLY_ARRAY, false, 1, 0,
                 4 * DEPTH + 4);
    ck_assert_uint_eq(run.out[0].nelements, 1);
    ck_assert_uint_eq(run.out[0].elements[0].offset, 4);
    ck_assert_uint_eq(run.out[0].elements[0].len, 4 * DEPTH);
    expect_reply(&run.out[1], SP_REDIS_REPLY_STATUS, false, 0,
                 4 * DEPTH + 4, b.len);
    sp_test_run_free(&run);

    /* from a stack of one level, grown as it goes (a valid reply of any
     * depth passes: issue #24, an EVAL returning a table 1,100 deep) */
    verify_reply_at(&b, 1, 4, false, &run);
    ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
    ck_assert_uint_eq(run.n, 2);
    expect_reply(&run.out[0], SP_REDIS_REPLY_ARRAY, false, 1, 0,
                 4 * DEPTH + 4);
    ck_assert_uint_eq(run.out[0].elements[0].len, 4 * DEPTH);
    ck_assert_uint_ge(run.stack_cap, DEPTH);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

/* A full stack stops the parser before the '\n' that would push a level,
 * with no error and nothing lost: fed again, it goes on. */
START_TEST(test_reply_stack_full_resumes)
{
    static const char reply[] = "*1\r\n*2\r\n:1\r\n:2\r\n";
    struct sp_redis_reply_parser p;
    int64_t small[1], big[4];
    size_t used = 0, len = sizeof(reply) - 1;

    sp_redis_reply_init(&p, 100, small, 1, NULL, 0);
    ck_assert_int_eq(sp_redis_reply_parse(&p, (const uint8_t *)reply, len,
                                          &used), SP_PARSE_ERROR);
    ck_assert(p.need_stack);
    ck_assert_ptr_null(p.error);
    ck_assert_uint_eq(used, 7);                 /* before the second '\n' */
    ck_assert_uint_eq(p.offset, 107);
    big[0] = small[0];
    sp_redis_reply_stack(&p, big, 4);
    ck_assert(!p.need_stack);
    ck_assert_int_eq(sp_redis_reply_parse(&p, (const uint8_t *)reply + used,
                                          len - used, &used), SP_PARSE_DONE);
    ck_assert_uint_eq(used, len - 7);
    ck_assert_uint_eq(p.start, 100);
    ck_assert_uint_eq(p.end, 100 + len);
    ck_assert_int_eq(p.type, SP_REDIS_REPLY_ARRAY);
}
END_TEST

/* A 1 MB bulk inside an array, then a reply after it. */
START_TEST(test_reply_big_bulk)
{
    struct tbuf b = { 0 };
    struct reply_run run;
    size_t size = 1024 * 1024 + 3;

    tb_printf(&b, "*2\r\n$%zu\r\n", size);
    for (size_t i = 0; i < size; i++) {
        uint8_t byte = (uint8_t)(i * 13);

        tb_put(&b, &byte, 1);
    }
    tb_str(&b, "\r\n:7\r\n+OK\r\n");
    verify_reply_at(&b, 2, 2, false, &run);
    ck_assert_uint_eq(run.n, 2);
    expect_reply(&run.out[0], SP_REDIS_REPLY_ARRAY, false, 2, 0, b.len - 5);
    ck_assert_uint_eq(run.out[0].nelements, 2);
    ck_assert_uint_eq(run.out[0].elements[0].offset, 4);
    ck_assert_uint_eq(run.out[0].elements[0].len, 10 + size + 2);
    ck_assert_uint_eq(run.out[0].elements[1].len, 4);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

START_TEST(test_reply_errors)
{
    EXPECT_REPLY_ERROR("?x\r\n", "invalid reply type", 0);
    EXPECT_REPLY_ERROR("|1\r\n", "invalid reply type", 0);   /* RESP3
                                                                attributes */
    EXPECT_REPLY_ERROR("+OK\r\n|\r\n", "invalid reply type", 5);
    EXPECT_REPLY_ERROR("*2\r\n:1\r\n\r\n", "invalid reply type", 8);
    EXPECT_REPLY_ERROR(":12a\r\n", "invalid integer", 3);
    EXPECT_REPLY_ERROR(":\r\n", "invalid integer", 1);
    EXPECT_REPLY_ERROR(":-\r\n", "invalid integer", 2);
    EXPECT_REPLY_ERROR(":-0\r\n", "invalid integer", 3);
    EXPECT_REPLY_ERROR(":9223372036854775808\r\n", "invalid integer", 19);
    EXPECT_REPLY_ERROR(":-9223372036854775809\r\n", "invalid integer", 20);
    EXPECT_REPLY_ERROR("$-2\r\n", "invalid bulk length", 2);
    EXPECT_REPLY_ERROR("$-10\r\n", "invalid bulk length", 3);
    EXPECT_REPLY_ERROR("$x\r\n", "invalid bulk length", 1);
    EXPECT_REPLY_ERROR("$536870913\r\n", "invalid bulk length", 9);
    EXPECT_REPLY_ERROR("*-2\r\n", "invalid multibulk length", 2);
    EXPECT_REPLY_ERROR("*4294967296\r\n", "invalid multibulk length", 10);
    EXPECT_REPLY_ERROR("$3\r\nfooXY", "expected CRLF after bulk data", 7);
    EXPECT_REPLY_ERROR("$3\r\nfoo\rX", "expected CRLF after bulk data", 8);
    EXPECT_REPLY_ERROR("+OK\n", "expected CRLF", 3);
    EXPECT_REPLY_ERROR("+OK\rX", "expected CRLF", 4);
    EXPECT_REPLY_ERROR(":1\rX", "expected CRLF", 3);
}
END_TEST

/* Array counts up to 2^32 - 1 are framed (the elements are not here). */
START_TEST(test_reply_large_count)
{
    struct tbuf b = { 0 };
    struct reply_run run;

    tb_str(&b, "*4294967295\r\n$1\r\nx\r\n");
    verify_reply(&b, &run);
    ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
    ck_assert_uint_eq(run.n, 0);
    ck_assert_uint_eq(run.offset, b.len);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

Suite *
sp_test_redis_suite(void)
{
    Suite *s = suite_create("redis");

    SP_TEST_CASE(s, "command table", 0, test_table_sorted_and_found,
                 test_table_lookup_case_and_misses, test_table_rows_sane,
                 test_table_spot_checks, test_table_nutcracker_commands,
                 test_table_arity);
    SP_TEST_CASE(s, "request parser", 120, test_req_get_set,
                 test_req_mget_mset_del, test_req_eval_evalsha,
                 test_req_eval_bad_numkeys, test_req_local_commands,
                 test_req_inline, test_inline_split_as_redis,
                 test_inline_lexer_bytes, test_req_pipeline_and_skips,
                 test_req_mixed_case, test_req_unknown,
                 test_req_empty_and_binary_args, test_req_big_value,
                 test_req_many_keys, test_req_stream_offset,
                 test_req_error_multibulk_length, test_req_error_bulk_length,
                 test_req_largest_lengths, test_req_error_dollar,
                 test_req_error_bulk_crlf, test_req_error_inline);
    SP_TEST_CASE(s, "reply parser", 120, test_reply_simple,
                 test_reply_mget_elements, test_reply_nested_depth3,
                 test_reply_resp3_nested,
                 test_reply_nested_depth10000, test_reply_stack_full_resumes,
                 test_reply_big_bulk, test_reply_errors,
                 test_reply_large_count);
    return s;
}
