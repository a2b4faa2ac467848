/*
 * test_memcache.c — the memcached protocol module: the command table, the
 * request parser and the reply parser.
 *
 * Every parser sample is fed whole, split in two at every byte position,
 * in fixed-size chunks and one byte at a time, and each way must give the
 * same results (command, extent, keys, arg1, value, noreply/quiet/base64,
 * the error text, where the parser stopped); the largest samples use a few
 * split points instead of all of them.
 *
 * The answers asserted here (which lines get ERROR, the CLIENT_ERROR and
 * SERVER_ERROR texts, which "noreply" counts, where a data block ends, the
 * 2048-byte line bound) are memcached 1.6.18's, taken from a running
 * server, except where sp_memcache.h says we depart from it. The reply
 * samples are bytes it sent, but for the error after VALUE items, which is
 * from its source (process_get_command).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_memcache.h"
#include "sp_test_parse.h"

#define RUN_MAX   32          /* messages one sample may hold */

/* ---- running the request parser ------------------------------------------ */

struct req_out {
    const struct sp_memcache_command *command;
    uint64_t start;
    uint64_t end;
    uint32_t ntokens;
    uint32_t nkeys;
    bool     keys_truncated;
    struct sp_span arg1;
    struct sp_span value;
    bool     noreply;
    bool     quiet;
    bool     key_base64;
    const char *error;
    struct sp_span *keys;      /* copy, nkeys of them */
};

struct req_run {
    SP_TEST_RUN_HEAD;
    struct req_out out[RUN_MAX];
};

struct req_cfg {
    uint32_t keys_cap;
    uint32_t max_value;
    uint64_t base;                  /* the stream offset to start at */
};

SP_TEST_STEP(req_step, struct sp_memcache_req_parser, sp_memcache_req_parse)

static void
req_done(const struct sp_test_feed *f, void *r, uint64_t end)
{
    const struct sp_memcache_req_parser *p = f->parser;
    const struct req_cfg *cfg = f->cfg;
    struct req_run *run = r;
    struct req_out *o;

    CHECK(run->n < RUN_MAX);
    o = &run->out[run->n++];
    o->command = p->command;
    o->start = p->start;
    o->end = p->end;
    o->ntokens = p->ntokens;
    o->nkeys = p->nkeys;
    o->keys_truncated = p->keys_truncated;
    o->arg1 = p->arg1;
    o->value = p->value;
    o->noreply = p->noreply;
    o->quiet = p->quiet;
    o->key_base64 = p->key_base64;
    o->error = p->error;
    CHECK(p->nkeys <= cfg->keys_cap);
    CHECK(p->end == end);
    CHECK(p->command != NULL || p->error != NULL);
    o->keys = sp_test_copy(run, p->keys, p->nkeys, sizeof(*p->keys));
}

/* Feeds a sample to a fresh request parser (see sp_test_feed). */
static void
run_req(const void *c, const uint8_t *data, size_t len, size_t split,
        size_t step, void *run)
{
    const struct req_cfg *cfg = c;
    struct sp_memcache_req_parser p;
    struct sp_span *keys = calloc(cfg->keys_cap + 1, sizeof(*keys));
    struct sp_test_feed f = { req_step, &p, &p.offset, &p.error, cfg->base,
                              cfg, req_done };

    CHECK(keys != NULL);
    sp_memcache_req_init(&p, cfg->base, keys, cfg->keys_cap, cfg->max_value);
    sp_test_feed(&f, data, len, split, step, run, sizeof(struct req_run));
    free(keys);
}

static bool
str_same(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void
req_out_same(const void *a, const void *b, size_t split, size_t step)
{
    const struct req_out *x = a, *y = b;

    SP_SAME(x->command == y->command);
    SP_SAME(x->start == y->start);
    SP_SAME(x->end == y->end);
    SP_SAME(x->ntokens == y->ntokens);
    SP_SAME(x->nkeys == y->nkeys);
    SP_SAME(x->keys_truncated == y->keys_truncated);
    SP_SAME(x->arg1.offset == y->arg1.offset);
    SP_SAME(x->arg1.len == y->arg1.len);
    SP_SAME(x->value.offset == y->value.offset);
    SP_SAME(x->value.len == y->value.len);
    SP_SAME(x->noreply == y->noreply);
    SP_SAME(x->quiet == y->quiet);
    SP_SAME(x->key_base64 == y->key_base64);
    SP_SAME(str_same(x->error, y->error));
    SP_SAME(memcmp(x->keys, y->keys, x->nkeys * sizeof(*x->keys)) == 0);
}

static const struct sp_test_way req_way =
    SP_TEST_WAY(struct req_run, run_req, req_out_same);

/* Every way of feeding a sample, as sp_test_every_way. */
static void
verify_req_at(const struct tbuf *b, uint32_t keys_cap, uint32_t max_value,
              bool every_split, uint64_t base, struct req_run *whole)
{
    struct req_cfg cfg = { keys_cap, max_value, base };

    sp_test_every_way(&req_way, &cfg, b, every_split, whole);
}

/* Eight keys recorded, no value cap, at stream offset 0. */
static const struct req_cfg req_default = { 8, 0, 0 };

static void
verify_req(const struct tbuf *b, struct req_run *whole)
{
    sp_test_every_way(&req_way, &req_default, b, true, whole);
}

/* One parsed request: its command (NULL: unknown), extent and error. */
static void
expect_req(const struct req_out *o, const char *name, uint64_t start,
           uint64_t end, const char *error)
{
    if (name == NULL) {
        ck_assert_ptr_null(o->command);
    } else {
        ck_assert_ptr_nonnull(o->command);
        ck_assert_str_eq(o->command->name, name);
    }
    ck_assert_uint_eq(o->start, start);
    ck_assert_uint_eq(o->end, end);
    if (error == NULL) {
        ck_assert_msg(o->error == NULL, "unexpected error '%s'", o->error);
    } else {
        ck_assert_ptr_nonnull(o->error);
        ck_assert_str_eq(o->error, error);
    }
}

static void
expect_key(const struct req_out *o, uint32_t i, uint64_t offset, uint32_t len)
{
    ck_assert_uint_lt(i, o->nkeys);
    ck_assert_uint_eq(o->keys[i].offset, offset);
    ck_assert_uint_eq(o->keys[i].len, len);
}

/*
 * A sample of one line (plus data) that is a whole request: parsed alone
 * it gives one DONE with this command, error and noreply.
 */
static void
expect_one(const char *sample, size_t len, const char *name,
           const char *error, bool noreply)
{
    struct tbuf b = { 0 };
    struct req_run run;

    tb_put(&b, sample, len);
    verify_req(&b, &run);
    ck_assert_msg(run.status == SP_PARSE_AGAIN, "%s: framing error %s",
                  sample, run.error);
    ck_assert_msg(run.n == 1, "%s: %zu requests", sample, run.n);
    expect_req(&run.out[0], name, 0, len, error);
    ck_assert_msg(run.out[0].noreply == noreply, "%s: noreply", sample);
    sp_test_run_free(&run);
    tb_free(&b);
}

#define EXPECT_ONE(s, name, error, noreply) \
    expect_one((s), sizeof(s) - 1, (name), (error), (noreply))

/* A sample that must fail with `error` at buffer offset `at`. */
#define EXPECT_REQ_ERROR(s, error, at) \
    sp_test_expect_error(&req_way, &req_default, (s), sizeof(s) - 1,       \
                         (error), (at))

static const struct sp_memcache_command *
cmd(const char *name)
{
    const struct sp_memcache_command *c =
        sp_memcache_command_lookup(name, strlen(name));

    ck_assert_ptr_nonnull(c);
    return c;
}

/* ---- command table -------------------------------------------------------- */

START_TEST(test_table_sorted_and_found)
{
    size_t n = sp_memcache_command_count();

    ck_assert_uint_eq(n, 25);
    ck_assert_ptr_null(sp_memcache_command_at(n));
    for (size_t i = 0; i < n; i++) {
        const struct sp_memcache_command *c = sp_memcache_command_at(i);
        size_t len = strlen(c->name);
        char upper[SP_MEMCACHE_MAX_NAME + 1];

        if (i > 0) {
            ck_assert_int_lt(strcmp(sp_memcache_command_at(i - 1)->name,
                                    c->name), 0);
        }
        ck_assert_ptr_eq(sp_memcache_command_lookup(c->name, len), c);
        ck_assert_ptr_ne(sp_memcache_command_lookup(c->name, len - 1), c);
        /* names are case-sensitive, as in memcached */
        for (size_t j = 0; j <= len; j++) {
            upper[j] = (c->name[j] >= 'a' && c->name[j] <= 'z')
                       ? (char)(c->name[j] - 'a' + 'A') : c->name[j];
        }
        ck_assert_ptr_null(sp_memcache_command_lookup(upper, len));
    }
}
END_TEST

START_TEST(test_table_misses)
{
    static const char *const absent[] = {
        "", "g", "ge", "GET", "Get", "gett", "stat", "STATS", "flush",
        "flush_al", "flush_alll", "verbose", "verbositys", "bget", "mx", "m",
        "mgg", "slabs", "lru_crawler", "watch", "shutdown", "cache_memlimit",
        "versions", "quitx",
    };

    for (size_t i = 0; i < NELEMS(absent); i++) {
        ck_assert_msg(sp_memcache_command_lookup(absent[i], strlen(absent[i]))
                      == NULL, "%s", absent[i]);
    }
    ck_assert_ptr_null(sp_memcache_command_lookup("get\0", 4));
    ck_assert_ptr_eq(sp_memcache_command_lookup("getxyz", 3), cmd("get"));
}
END_TEST

START_TEST(test_table_rows_sane)
{
    for (size_t i = 0; i < sp_memcache_command_count(); i++) {
        const struct sp_memcache_command *c = sp_memcache_command_at(i);
        sp_memcache_syntax_t s = c->syntax;
        bool classic = s == SP_MEMCACHE_SYNTAX_STORE
                       || s == SP_MEMCACHE_SYNTAX_CAS
                       || s == SP_MEMCACHE_SYNTAX_DELETE
                       || s == SP_MEMCACHE_SYNTAX_ARITH
                       || s == SP_MEMCACHE_SYNTAX_TOUCH
                       || s == SP_MEMCACHE_SYNTAX_FLUSH
                       || s == SP_MEMCACHE_SYNTAX_VERBOSITY;

        ck_assert_msg(strlen(c->name) <= SP_MEMCACHE_MAX_NAME, "%s", c->name);
        ck_assert_msg(c->data == (s == SP_MEMCACHE_SYNTAX_STORE
                                  || s == SP_MEMCACHE_SYNTAX_CAS
                                  || s == SP_MEMCACHE_SYNTAX_META_SET),
                      "%s", c->name);
        ck_assert_msg(c->noreply == classic, "%s", c->name);
        ck_assert_msg((c->kind == SP_MEMCACHE_FANOUT)
                      == (s == SP_MEMCACHE_SYNTAX_GET
                          || s == SP_MEMCACHE_SYNTAX_GAT), "%s", c->name);
        ck_assert_msg((c->kind == SP_MEMCACHE_LOCAL)
                      == (s == SP_MEMCACHE_SYNTAX_BARE
                          || s == SP_MEMCACHE_SYNTAX_STATS
                          || s == SP_MEMCACHE_SYNTAX_VERBOSITY),
                      "%s", c->name);
        ck_assert_msg((c->kind == SP_MEMCACHE_BROADCAST)
                      == (s == SP_MEMCACHE_SYNTAX_FLUSH), "%s", c->name);
        ck_assert_msg((c->kind == SP_MEMCACHE_LOCAL)
                      == (c->local != SP_MEMCACHE_LOCAL_NONE), "%s", c->name);
        ck_assert_msg(c->long_line == (s == SP_MEMCACHE_SYNTAX_GET),
                      "%s", c->name);
        ck_assert_msg(c->min_tokens >= 1, "%s", c->name);
        ck_assert_msg(c->max_tokens == 0 || c->max_tokens >= c->min_tokens,
                      "%s", c->name);
        /* every forwarded command gets a reply of some kind */
        ck_assert_msg(c->kind == SP_MEMCACHE_LOCAL || c->replies != 0,
                      "%s", c->name);
        /* meta commands accept the MN a proxy sends after a quiet one */
        if (s == SP_MEMCACHE_SYNTAX_META || s == SP_MEMCACHE_SYNTAX_META_SET) {
            ck_assert(c->replies
                      & SP_MEMCACHE_REPLY_BIT(SP_MEMCACHE_REPLY_MN));
        }
    }
}
END_TEST

/* The brief's commands, each with its kind, data block and noreply. */
START_TEST(test_table_spot_checks)
{
    static const struct {
        const char *name;
        sp_memcache_kind_t kind;
        bool data;
        bool noreply;
        uint8_t min, max;
    } rows[] = {
        { "set", SP_MEMCACHE_FORWARD, true, true, 5, 6 },
        { "add", SP_MEMCACHE_FORWARD, true, true, 5, 6 },
        { "replace", SP_MEMCACHE_FORWARD, true, true, 5, 6 },
        { "append", SP_MEMCACHE_FORWARD, true, true, 5, 6 },
        { "prepend", SP_MEMCACHE_FORWARD, true, true, 5, 6 },
        { "cas", SP_MEMCACHE_FORWARD, true, true, 6, 7 },
        { "get", SP_MEMCACHE_FANOUT, false, false, 2, 0 },
        { "gets", SP_MEMCACHE_FANOUT, false, false, 2, 0 },
        { "gat", SP_MEMCACHE_FANOUT, false, false, 2, 0 },
        { "gats", SP_MEMCACHE_FANOUT, false, false, 2, 0 },
        { "delete", SP_MEMCACHE_FORWARD, false, true, 2, 4 },
        { "incr", SP_MEMCACHE_FORWARD, false, true, 3, 4 },
        { "decr", SP_MEMCACHE_FORWARD, false, true, 3, 4 },
        { "touch", SP_MEMCACHE_FORWARD, false, true, 3, 4 },
        { "quit", SP_MEMCACHE_LOCAL, false, false, 1, 0 },
        { "version", SP_MEMCACHE_LOCAL, false, false, 1, 0 },
        { "mg", SP_MEMCACHE_FORWARD, false, false, 2, 0 },
        { "ms", SP_MEMCACHE_FORWARD, true, false, 3, 0 },
        { "md", SP_MEMCACHE_FORWARD, false, false, 2, 0 },
        { "ma", SP_MEMCACHE_FORWARD, false, false, 2, 0 },
        { "me", SP_MEMCACHE_FORWARD, false, false, 2, 0 },
        { "mn", SP_MEMCACHE_LOCAL, false, false, 1, 0 },
        { "flush_all", SP_MEMCACHE_BROADCAST, false, true, 1, 3 },
        { "stats", SP_MEMCACHE_LOCAL, false, false, 1, 0 },
        { "verbosity", SP_MEMCACHE_LOCAL, false, true, 2, 3 },
    };

    for (size_t i = 0; i < NELEMS(rows); i++) {
        const struct sp_memcache_command *c = cmd(rows[i].name);

        ck_assert_msg(c->kind == rows[i].kind, "%s", rows[i].name);
        ck_assert_msg(c->data == rows[i].data, "%s", rows[i].name);
        ck_assert_msg(c->noreply == rows[i].noreply, "%s", rows[i].name);
        ck_assert_msg(c->min_tokens == rows[i].min, "%s", rows[i].name);
        ck_assert_msg(c->max_tokens == rows[i].max, "%s", rows[i].name);
    }
    ck_assert_int_eq(cmd("quit")->local, SP_MEMCACHE_LOCAL_QUIT);
    ck_assert_int_eq(cmd("version")->local, SP_MEMCACHE_LOCAL_VERSION);
    ck_assert_int_eq(cmd("mn")->local, SP_MEMCACHE_LOCAL_NOOP);
    ck_assert_int_eq(cmd("stats")->local, SP_MEMCACHE_LOCAL_STATS);
    ck_assert_int_eq(cmd("verbosity")->local, SP_MEMCACHE_LOCAL_VERBOSITY);
    ck_assert_int_eq(cmd("flush_all")->local, SP_MEMCACHE_LOCAL_NONE);
    /* every server answers flush_all OK, or an error */
    ck_assert_uint_eq(cmd("flush_all")->replies,
                      SP_MEMCACHE_REPLY_BIT(SP_MEMCACHE_REPLY_OK));
    ck_assert(cmd("flush_all")->write && !cmd("stats")->write);
    ck_assert(cmd("set")->write && !cmd("get")->write && cmd("gat")->write);
    ck_assert_uint_eq(cmd("quit")->replies, 0);
}
END_TEST

/* ---- request parser: commands --------------------------------------------- */

/* Every storage command, with and without noreply, values holding CRLF. */
START_TEST(test_req_storage)
{
    static const char *const names[] = {
        "set", "add", "replace", "append", "prepend",
    };
    struct tbuf b = { 0 };
    struct req_run run;
    uint64_t line2, data;

    for (size_t i = 0; i < NELEMS(names); i++) {
        b.len = 0;
        tb_printf(&b, "%s foo 5 100 7\r\nab\r\ncd\n\r\n", names[i]);
        line2 = b.len;
        tb_printf(&b, "%s foo 0 0 0 noreply\r\n\r\n", names[i]);
        verify_req(&b, &run);
        ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
        ck_assert_uint_eq(run.n, 2);
        expect_req(&run.out[0], names[i], 0, line2, NULL);
        ck_assert_uint_eq(run.out[0].ntokens, 5);
        ck_assert_uint_eq(run.out[0].nkeys, 1);
        expect_key(&run.out[0], 0, strlen(names[i]) + 1, 3);
        data = tb_find(&b, "ab", 0);
        ck_assert_uint_eq(run.out[0].value.offset, data);
        ck_assert_uint_eq(run.out[0].value.len, 7);
        ck_assert(!run.out[0].noreply);
        expect_req(&run.out[1], names[i], line2, b.len, NULL);
        ck_assert_uint_eq(run.out[1].ntokens, 6);
        ck_assert(run.out[1].noreply);
        ck_assert_uint_eq(run.out[1].value.offset, b.len - 2);
        ck_assert_uint_eq(run.out[1].value.len, 0);
        sp_test_run_free(&run);
    }

    /* cas: the unique is token 5, noreply token 6 */
    b.len = 0;
    tb_str(&b, "cas foo 0 0 3 18446744073709551615\r\nbar\r\n");
    line2 = b.len;
    tb_str(&b, "cas foo 0 0 3 12 noreply\r\nbar\r\n");
    verify_req(&b, &run);
    ck_assert_uint_eq(run.n, 2);
    expect_req(&run.out[0], "cas", 0, line2, NULL);
    ck_assert(!run.out[0].noreply);
    expect_req(&run.out[1], "cas", line2, b.len, NULL);
    ck_assert(run.out[1].noreply);
    sp_test_run_free(&run);
    tb_free(&b);

    /* memcached ignores a sixth token that is not "noreply" */
    EXPECT_ONE("set k 0 0 5 x\r\nhello\r\n", "set", NULL, false);
    EXPECT_ONE("set k 0 0 5 noreplyx\r\nhello\r\n", "set", NULL, false);
    EXPECT_ONE("set k 0 0 5 noreply\r\nhello\r\n", "set", NULL, true);
    EXPECT_ONE("cas k 0 0 5 1 x\r\nhello\r\n", "cas", NULL, false);
    /* a bare LF ends a line too, spaces repeat, a NUL ends the tokens */
    EXPECT_ONE("set k 0 0 5\nhello\r\n", "set", NULL, false);
    EXPECT_ONE("  set   k 0  0 5  \r\nhello\r\n", "set", NULL, false);
    EXPECT_ONE("set k 0 0 1\0 junk\r\nA\r\n", "set", NULL, false);
}
END_TEST

/*
 * Numbers as memcached reads them (each checked on 1.6.18): flags up to
 * 2^64 - 1 (it truncates to 32 bits), '+' and leading zeros, any 64-bit
 * exptime, <bytes> up to 2^31 - 3.
 */
START_TEST(test_req_storage_numbers)
{
    static const char *const ok[] = {
        "set f 4294967295 0 1\r\nx\r\n",
        "set f 4294967296 0 1\r\nx\r\n",
        "set f 18446744073709551615 0 1\r\nx\r\n",
        "set f +5 0 1\r\nx\r\n",
        "set f 007 0 1\r\nx\r\n",
        "set f 0 2147483648 1\r\nx\r\n",
        "set f 0 -2147483649 1\r\nx\r\n",
        "set f 0 -9223372036854775808 1\r\nx\r\n",
        "set f 0 9223372036854775807 1\r\nx\r\n",
        "set f 0 0 01\r\nx\r\n",
        "set f 0 0 +1\r\nx\r\n",
        "cas f 0 0 1 18446744073709551615\r\nx\r\n",
        "cas f 0 0 1 +0\r\nx\r\n",
    };
    static const char *const bad[] = {
        "set f 18446744073709551616 0 1\r\nx\r\n",
        "set f -1 0 1\r\nx\r\n",
        "set f abc 0 1\r\nx\r\n",
        "set f 1x 0 1\r\nx\r\n",
        "set f + 0 1\r\nx\r\n",
        "set f 0 9223372036854775808 1\r\nx\r\n",
        "set f 0 -9223372036854775809 1\r\nx\r\n",
        "set f 0 1.5 1\r\nx\r\n",
        "set f 0 - 1\r\nx\r\n",
        "cas f 0 0 1 abc\r\nx\r\n",
        "cas f 0 0 1 18446744073709551616\r\nx\r\n",
        "cas f 0 0 1 -1\r\nx\r\n",
    };

    for (size_t i = 0; i < NELEMS(ok); i++) {
        expect_one(ok[i], strlen(ok[i]), ok[i][0] == 'c' ? "cas" : "set",
                   NULL, false);
    }
    for (size_t i = 0; i < NELEMS(bad); i++) {
        /* the data block is swallowed with the answer */
        expect_one(bad[i], strlen(bad[i]), bad[i][0] == 'c' ? "cas" : "set",
                   SP_MEMCACHE_ERR_FORMAT, false);
    }
    EXPECT_ONE("set f abc 0 1 noreply\r\nx\r\n", "set",
               SP_MEMCACHE_ERR_FORMAT, true);
}
END_TEST

/* A get of 1000 keys, at every split; then with room for 100 keys. */
START_TEST(test_req_get_1000_keys)
{
    enum { NKEYS = 1000 };
    struct tbuf b = { 0 };
    struct req_run run;
    uint64_t offs[NKEYS];
    size_t lens[NKEYS];

    tb_str(&b, "get");
    for (size_t i = 0; i < NKEYS; i++) {
        tb_str(&b, i % 7 == 0 ? "  " : " ");
        offs[i] = b.len;
        tb_printf(&b, "key:%zu", i);
        lens[i] = b.len - offs[i];
    }
    tb_str(&b, "\r\n");
    verify_req_at(&b, NKEYS, 0, true, 0, &run);
    ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
    ck_assert_uint_eq(run.n, 1);
    expect_req(&run.out[0], "get", 0, b.len, NULL);
    ck_assert_uint_eq(run.out[0].ntokens, NKEYS + 1);
    ck_assert_uint_eq(run.out[0].nkeys, NKEYS);
    ck_assert(!run.out[0].keys_truncated);
    for (uint32_t i = 0; i < NKEYS; i++) {
        expect_key(&run.out[0], i, offs[i], (uint32_t)lens[i]);
    }
    ck_assert_uint_eq(run.out[0].arg1.offset, offs[0]);
    sp_test_run_free(&run);

    verify_req_at(&b, 100, 0, false, 0, &run);
    ck_assert_uint_eq(run.out[0].nkeys, 100);
    ck_assert(run.out[0].keys_truncated);
    expect_key(&run.out[0], 99, offs[99], (uint32_t)lens[99]);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

/* gets gat gats; duplicate keys are kept; gat with no key is routed. */
START_TEST(test_req_retrieval_variants)
{
    struct tbuf b = { 0 };
    struct req_run run;

    tb_str(&b, "gets a a\r\n");         /* 0 .. 10 */
    tb_str(&b, "gat -1 a b\r\n");       /* 10 .. 22 */
    tb_str(&b, "gats 100 c\n");         /* 22 .. 33 */
    tb_str(&b, "gat 10\r\n");           /* 33 .. 41 */
    verify_req(&b, &run);
    ck_assert_uint_eq(run.n, 4);
    expect_req(&run.out[0], "gets", 0, 10, NULL);
    ck_assert_uint_eq(run.out[0].nkeys, 2);
    expect_key(&run.out[0], 0, 5, 1);
    expect_key(&run.out[0], 1, 7, 1);
    expect_req(&run.out[1], "gat", 10, 22, NULL);
    ck_assert_uint_eq(run.out[1].arg1.offset, 14);
    ck_assert_uint_eq(run.out[1].arg1.len, 2);
    ck_assert_uint_eq(run.out[1].nkeys, 2);
    expect_key(&run.out[1], 0, 17, 1);
    expect_key(&run.out[1], 1, 19, 1);
    expect_req(&run.out[2], "gats", 22, 33, NULL);
    ck_assert_uint_eq(run.out[2].arg1.len, 3);
    expect_key(&run.out[2], 0, 31, 1);
    expect_req(&run.out[3], "gat", 33, 41, NULL);   /* memcached: END */
    ck_assert_uint_eq(run.out[3].nkeys, 0);
    sp_test_run_free(&run);
    tb_free(&b);

    /* "noreply" is a key to get */
    EXPECT_ONE("get a noreply\r\n", "get", NULL, false);
    EXPECT_ONE("get\r\n", "get", SP_MEMCACHE_ERR_UNKNOWN, false);
    EXPECT_ONE("gat\r\n", "gat", SP_MEMCACHE_ERR_UNKNOWN, false);
    EXPECT_ONE("gat abc k\r\n", "gat", SP_MEMCACHE_ERR_EXPTIME, false);
    EXPECT_ONE("gats 1x k\r\n", "gats", SP_MEMCACHE_ERR_EXPTIME, false);
    EXPECT_ONE("gat 4294967296 k\r\n", "gat", NULL, false);

    /* keys as the proxy splits a get by server: the parser's own, read
     * again from the request alone (stream offset 0) */
    tb_put(&b, "gat 10 \0k\r\n", 11);            /* 0..11: no key: END */
    tb_str(&b, "gats 0 a\tb \rc d\r\r\n");        /* 11..29 */
    verify_req(&b, &run);
    ck_assert_uint_eq(run.n, 2);
    expect_req(&run.out[0], "gat", 0, 11, NULL);
    ck_assert_uint_eq(run.out[0].nkeys, 0);
    expect_req(&run.out[1], "gats", 11, 29, NULL);
    ck_assert_uint_eq(run.out[1].nkeys, 3);
    expect_key(&run.out[1], 0, 18, 3);
    expect_key(&run.out[1], 1, 22, 2);
    expect_key(&run.out[1], 2, 25, 2);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

START_TEST(test_req_delete_arith_touch)
{
    EXPECT_ONE("delete k\r\n", "delete", NULL, false);
    EXPECT_ONE("delete k 0\r\n", "delete", NULL, false);
    EXPECT_ONE("delete k noreply\r\n", "delete", NULL, true);
    EXPECT_ONE("delete k 0 noreply\r\n", "delete", NULL, true);
    EXPECT_ONE("delete noreply\r\n", "delete", NULL, false);
    EXPECT_ONE("delete k 1\r\n", "delete", SP_MEMCACHE_ERR_DELETE, false);
    EXPECT_ONE("delete k 00\r\n", "delete", SP_MEMCACHE_ERR_DELETE, false);
    EXPECT_ONE("delete k x y\r\n", "delete", SP_MEMCACHE_ERR_DELETE, false);
    EXPECT_ONE("delete k 1 noreply\r\n", "delete", SP_MEMCACHE_ERR_DELETE,
               true);
    EXPECT_ONE("delete\r\n", "delete", SP_MEMCACHE_ERR_UNKNOWN, false);
    EXPECT_ONE("delete a b c d\r\n", "delete", SP_MEMCACHE_ERR_UNKNOWN,
               false);

    EXPECT_ONE("incr n 5\r\n", "incr", NULL, false);
    EXPECT_ONE("incr n +5\r\n", "incr", NULL, false);
    EXPECT_ONE("decr n 18446744073709551615\r\n", "decr", NULL, false);
    EXPECT_ONE("incr n 5 noreply\r\n", "incr", NULL, true);
    EXPECT_ONE("incr n 5 x\r\n", "incr", NULL, false);
    EXPECT_ONE("incr n -5\r\n", "incr", SP_MEMCACHE_ERR_DELTA, false);
    EXPECT_ONE("incr n abc\r\n", "incr", SP_MEMCACHE_ERR_DELTA, false);
    EXPECT_ONE("decr n 18446744073709551616\r\n", "decr",
               SP_MEMCACHE_ERR_DELTA, false);
    EXPECT_ONE("incr n abc noreply\r\n", "incr", SP_MEMCACHE_ERR_DELTA, true);
    EXPECT_ONE("incr n\r\n", "incr", SP_MEMCACHE_ERR_UNKNOWN, false);
    EXPECT_ONE("incr n 1 2 3\r\n", "incr", SP_MEMCACHE_ERR_UNKNOWN, false);

    EXPECT_ONE("touch k 10\r\n", "touch", NULL, false);
    EXPECT_ONE("touch k -1 noreply\r\n", "touch", NULL, true);
    EXPECT_ONE("touch k abc\r\n", "touch", SP_MEMCACHE_ERR_EXPTIME, false);
    EXPECT_ONE("touch k abc noreply\r\n", "touch", SP_MEMCACHE_ERR_EXPTIME,
               true);
    EXPECT_ONE("touch k\r\n", "touch", SP_MEMCACHE_ERR_UNKNOWN, false);
}
END_TEST

/* Meta commands: flags passed through, q and b noted, ms has data. */
START_TEST(test_req_meta)
{
    struct tbuf b = { 0 };
    struct req_run run;
    uint64_t at[6];

    at[0] = b.len;
    tb_str(&b, "mg foo v f t c k O123 q\r\n");
    at[1] = b.len;
    tb_str(&b, "ms foo 5 T0 F5 I q\r\nhe\r\no\r\n");
    at[2] = b.len;
    tb_str(&b, "md Zm9v b q\r\n");
    at[3] = b.len;
    tb_str(&b, "ma n v N0 J13 D2 MD\r\n");
    at[4] = b.len;
    tb_str(&b, "mn\r\n");
    at[5] = b.len;
    tb_str(&b, "me foo b\r\n");
    verify_req(&b, &run);
    ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
    ck_assert_uint_eq(run.n, 6);
    expect_req(&run.out[0], "mg", at[0], at[1], NULL);
    ck_assert_uint_eq(run.out[0].ntokens, 9);
    expect_key(&run.out[0], 0, 3, 3);
    ck_assert(run.out[0].quiet && !run.out[0].key_base64);
    ck_assert(!run.out[0].noreply);
    expect_req(&run.out[1], "ms", at[1], at[2], NULL);
    expect_key(&run.out[1], 0, at[1] + 3, 3);
    ck_assert_uint_eq(run.out[1].value.offset, tb_find(&b, "he\r\no", 0));
    ck_assert_uint_eq(run.out[1].value.len, 5);
    ck_assert(run.out[1].quiet);
    expect_req(&run.out[2], "md", at[2], at[3], NULL);
    expect_key(&run.out[2], 0, at[2] + 3, 4);
    ck_assert(run.out[2].quiet && run.out[2].key_base64);
    expect_req(&run.out[3], "ma", at[3], at[4], NULL);
    ck_assert(!run.out[3].quiet && !run.out[3].key_base64);
    expect_req(&run.out[4], "mn", at[4], at[5], NULL);
    ck_assert_uint_eq(run.out[4].nkeys, 0);
    expect_req(&run.out[5], "me", at[5], b.len, NULL);
    ck_assert(run.out[5].key_base64);
    sp_test_run_free(&run);
    tb_free(&b);

    EXPECT_ONE("mg\r\n", "mg", SP_MEMCACHE_ERR_UNKNOWN, false);
    EXPECT_ONE("md\r\n", "md", SP_MEMCACHE_ERR_UNKNOWN, false);
    EXPECT_ONE("ma\r\n", "ma", SP_MEMCACHE_ERR_UNKNOWN, false);
    EXPECT_ONE("me\r\n", "me", SP_MEMCACHE_ERR_FORMAT, false);
    EXPECT_ONE("mn foo bar\r\n", "mn", NULL, false);
    EXPECT_ONE("mg k\r\n", "mg", NULL, false);
    /* flags are the server's business (it answers "invalid flag") */
    EXPECT_ONE("mg k ZZ\r\n", "mg", NULL, false);
    EXPECT_ONE("ms k 2 ZZ\r\nhi\r\n", "ms", NULL, false);
    EXPECT_ONE("ms k 0\r\n\r\n", "ms", NULL, false);
    /* meta commands have no noreply; errors are always answered */
    EXPECT_ONE("md k noreply\r\n", "md", NULL, false);
    /* 19 tokens are fine; 20 are too many for memcached */
    EXPECT_ONE("ms k 1 a b c d e f g h i j k l m n o p\r\nx\r\n", "ms",
               NULL, false);
    EXPECT_ONE("ms k 1 a b c d e f g h i j k l m n o p r\r\nx\r\n", "ms",
               SP_MEMCACHE_ERR_FLAGS, false);
}
END_TEST

START_TEST(test_req_local)
{
    EXPECT_ONE("version\r\n", "version", NULL, false);
    EXPECT_ONE("version foo\r\n", "version", NULL, false);
    EXPECT_ONE("quit\r\n", "quit", NULL, false);
    EXPECT_ONE("quit foo\n", "quit", NULL, false);
    EXPECT_ONE("mn\r\n", "mn", NULL, false);
}
END_TEST

/*
 * flush_all [delay] [noreply], judged as memcached 1.6.18 judges it (each
 * answer taken from a running server): the delay is a signed number unless
 * the one argument is noreply; a third argument is ignored; noreply
 * silences the error too.
 */
START_TEST(test_req_flush_all)
{
    EXPECT_ONE("flush_all\r\n", "flush_all", NULL, false);
    EXPECT_ONE("flush_all 0\r\n", "flush_all", NULL, false);
    EXPECT_ONE("flush_all -1\r\n", "flush_all", NULL, false);
    EXPECT_ONE("flush_all +5\r\n", "flush_all", NULL, false);
    EXPECT_ONE("flush_all 99999999999\r\n", "flush_all", NULL, false);
    EXPECT_ONE("flush_all 1 2\r\n", "flush_all", NULL, false);
    EXPECT_ONE("flush_all 1 abc\r\n", "flush_all", NULL, false);
    EXPECT_ONE("flush_all noreply\r\n", "flush_all", NULL, true);
    EXPECT_ONE("flush_all 10 noreply\r\n", "flush_all", NULL, true);
    EXPECT_ONE("flush_all\n", "flush_all", NULL, false);
    EXPECT_ONE("flush_all abc\r\n", "flush_all", SP_MEMCACHE_ERR_EXPTIME,
               false);
    EXPECT_ONE("flush_all 5x\r\n", "flush_all", SP_MEMCACHE_ERR_EXPTIME,
               false);
    EXPECT_ONE("flush_all noreply 1\r\n", "flush_all",
               SP_MEMCACHE_ERR_EXPTIME, false);
    EXPECT_ONE("flush_all abc noreply\r\n", "flush_all",
               SP_MEMCACHE_ERR_EXPTIME, true);
    EXPECT_ONE("flush_all noreply noreply\r\n", "flush_all",
               SP_MEMCACHE_ERR_EXPTIME, true);
    EXPECT_ONE("flush_all 1 2 3\r\n", "flush_all", SP_MEMCACHE_ERR_UNKNOWN,
               false);
    EXPECT_ONE("flush_all 1 2 noreply\r\n", "flush_all",
               SP_MEMCACHE_ERR_UNKNOWN, false);
    /* the rest of a line after a NUL is not read */
    EXPECT_ONE("flush_all\0 abc\r\n", "flush_all", NULL, false);
}
END_TEST

/* verbosity <level> [noreply]: answered by the proxy; memcached's checks. */
START_TEST(test_req_verbosity)
{
    EXPECT_ONE("verbosity 1\r\n", "verbosity", NULL, false);
    EXPECT_ONE("verbosity +1\r\n", "verbosity", NULL, false);
    EXPECT_ONE("verbosity 99999999999\r\n", "verbosity", NULL, false);
    EXPECT_ONE("verbosity 1 2\r\n", "verbosity", NULL, false);
    EXPECT_ONE("verbosity 1 abc\r\n", "verbosity", NULL, false);
    EXPECT_ONE("verbosity 1 noreply\r\n", "verbosity", NULL, true);
    EXPECT_ONE("verbosity\r\n", "verbosity", SP_MEMCACHE_ERR_UNKNOWN, false);
    EXPECT_ONE("verbosity 1 2 3\r\n", "verbosity", SP_MEMCACHE_ERR_UNKNOWN,
               false);
    EXPECT_ONE("verbosity abc\r\n", "verbosity", SP_MEMCACHE_ERR_FORMAT,
               false);
    EXPECT_ONE("verbosity -1\r\n", "verbosity", SP_MEMCACHE_ERR_FORMAT,
               false);
    /* memcached: noreply, then "noreply" read as the level: silent */
    EXPECT_ONE("verbosity noreply\r\n", "verbosity", SP_MEMCACHE_ERR_FORMAT,
               true);
    EXPECT_ONE("verbosity abc noreply\r\n", "verbosity",
               SP_MEMCACHE_ERR_FORMAT, true);
}
END_TEST

/* stats alone is answered by the proxy; with arguments, a clear error. */
START_TEST(test_req_stats)
{
    struct tbuf b = { 0 };
    struct req_run run;

    EXPECT_ONE("stats\r\n", "stats", NULL, false);
    EXPECT_ONE("stats \r\n", "stats", NULL, false);
    EXPECT_ONE("stats\n", "stats", NULL, false);
    EXPECT_ONE("stats\0slabs\r\n", "stats", NULL, false);
    EXPECT_ONE("stats slabs\r\n", "stats", SP_MEMCACHE_ERR_STATS, false);
    EXPECT_ONE("stats detail on\r\n", "stats", SP_MEMCACHE_ERR_STATS, false);
    EXPECT_ONE("stats noreply\r\n", "stats", SP_MEMCACHE_ERR_STATS, false);
    /* an error that keeps the connection: the next line is read */
    tb_str(&b, "stats items\r\nstats\r\nversion\r\n");
    verify_req(&b, &run);
    ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
    ck_assert_uint_eq(run.n, 3);
    expect_req(&run.out[0], "stats", 0, 13, SP_MEMCACHE_ERR_STATS);
    expect_req(&run.out[1], "stats", 13, 20, NULL);
    expect_req(&run.out[2], "version", 20, 29, NULL);
    ck_assert_uint_eq(run.out[0].ntokens, 2);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

/*
 * 0x80, the binary protocol's request magic, as a request's first byte is a
 * framing error at that byte (the proxy answers in binary and closes);
 * anywhere else it is a byte like another.
 */
START_TEST(test_req_binary_magic)
{
    static const char get_k[] =
        "\x80\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01"
        "\xde\xad\xbe\xef\x00\x00\x00\x00\x00\x00\x00\x00k";
    struct sp_memcache_req_parser p;
    struct sp_span keys[2];
    size_t consumed = 99;

    EXPECT_REQ_ERROR(get_k, SP_MEMCACHE_ERR_BINARY, 0);
    EXPECT_REQ_ERROR("\x80", SP_MEMCACHE_ERR_BINARY, 0);
    /* after text requests: at the next request's first byte */
    EXPECT_REQ_ERROR("version\r\nget a\r\n\x80\x0a\x00\x00",
                     SP_MEMCACHE_ERR_BINARY, 16);
    EXPECT_REQ_ERROR("set k 0 0 1\r\nx\r\n\x80", SP_MEMCACHE_ERR_BINARY,
                     16);
    /* not a request's first byte: a key's, a data block's, after a space */
    EXPECT_ONE("get \x80k\r\n", "get", NULL, false);
    EXPECT_ONE("set k 0 0 1\r\n\x80\r\n", "set", NULL, false);
    EXPECT_ONE(" \x80\r\n", NULL, SP_MEMCACHE_ERR_UNKNOWN, false);
    EXPECT_ONE("\x81\r\n", NULL, SP_MEMCACHE_ERR_UNKNOWN, false);

    /* the flag, and the header left for the caller to read */
    sp_memcache_req_init(&p, 0, keys, 2, 0);
    ck_assert_int_eq(sp_memcache_req_parse(&p, (const uint8_t *)"mn\r\n"
                                           "\x80\x0b", 6, &consumed),
                     SP_PARSE_DONE);
    ck_assert_uint_eq(consumed, 4);
    ck_assert(!p.binary);
    ck_assert_int_eq(sp_memcache_req_parse(&p, (const uint8_t *)"\x80\x0b",
                                           2, &consumed), SP_PARSE_ERROR);
    ck_assert_uint_eq(consumed, 0);
    ck_assert(p.binary);
    ck_assert_str_eq(p.error, SP_MEMCACHE_ERR_BINARY);
    ck_assert_uint_eq(p.offset, 4);
    /* and it stays failed */
    ck_assert_int_eq(sp_memcache_req_parse(&p, (const uint8_t *)"mn\r\n", 4,
                                           &consumed), SP_PARSE_ERROR);
    ck_assert_uint_eq(consumed, 0);
}
END_TEST

/* The binary answer: a well-formed response header echoing what it can. */
START_TEST(test_binary_refusal)
{
    static const uint8_t req[] = {
        0x80, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef,
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    };
    const size_t body = sizeof(SP_MEMCACHE_BINARY_TEXT) - 1;
    uint8_t out[SP_MEMCACHE_BINARY_REFUSAL];

    ck_assert_uint_eq(sp_memcache_binary_refusal(req, sizeof(req), out),
                      SP_MEMCACHE_BINARY_REFUSAL);
    ck_assert_uint_eq(SP_MEMCACHE_BINARY_REFUSAL, 24 + body);
    ck_assert_uint_eq(out[0], 0x81);                    /* response magic */
    ck_assert_uint_eq(out[1], 0x0b);                    /* opcode echoed */
    ck_assert_uint_eq(out[2] | out[3] | out[4] | out[5], 0); /* key, extras,
                                                                type */
    ck_assert_uint_eq(out[6], 0x00);                    /* status 0x0081 */
    ck_assert_uint_eq(out[7], 0x81);
    ck_assert_uint_eq(((uint32_t)out[8] << 24) | ((uint32_t)out[9] << 16)
                      | ((uint32_t)out[10] << 8) | out[11], body);
    ck_assert_mem_eq(out + 12, req + 12, 4);            /* opaque echoed */
    for (size_t i = 16; i < 24; i++) {
        ck_assert_uint_eq(out[i], 0);                   /* CAS 0 */
    }
    ck_assert_mem_eq(out + 24, SP_MEMCACHE_BINARY_TEXT, body);
    ck_assert_ptr_nonnull(strstr(SP_MEMCACHE_BINARY_TEXT, "text protocol"));

    /* a header cut short: the fields not read are 0 */
    memset(out, 0xee, sizeof(out));
    sp_memcache_binary_refusal(req, 1, out);
    ck_assert_uint_eq(out[0], 0x81);
    ck_assert_uint_eq(out[1], 0);
    for (size_t i = 12; i < 16; i++) {
        ck_assert_uint_eq(out[i], 0);
    }
    ck_assert_uint_eq(out[7], 0x81);
    sp_memcache_binary_refusal(req, 14, out);
    ck_assert_uint_eq(out[1], 0x0b);
    ck_assert_uint_eq(out[12], 0xde);
    ck_assert_uint_eq(out[13], 0xad);
    ck_assert_uint_eq(out[14], 0);
    ck_assert_uint_eq(out[15], 0);
}
END_TEST

/*
 * Unknown commands and empty lines get ERROR and the parser resynchronises
 * at the next line; memcached answers each the same.
 */
START_TEST(test_req_unknown_resync)
{
    struct tbuf b = { 0 };
    struct req_run run;
    uint64_t l[10];
    size_t n = 0;

    l[n++] = b.len;
    tb_str(&b, "slabs automove 1\r\n");
    l[n++] = b.len;
    tb_str(&b, "get foo\r\n");
    l[n++] = b.len;
    tb_str(&b, "\r\n");
    l[n++] = b.len;
    tb_str(&b, "   \n");
    l[n++] = b.len;
    tb_str(&b, "GET foo\r\n");
    l[n++] = b.len;
    tb_str(&b, "get\tfoo\r\n");
    l[n++] = b.len;
    tb_str(&b, "shutdown noreply\r\n");
    l[n++] = b.len;
    tb_str(&b, "prepended k 0 0 5\r\n");
    l[n++] = b.len;
    tb_str(&b, "set k 0 0 2\r\nok\r\n");
    l[n] = b.len;
    verify_req(&b, &run);
    ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
    ck_assert_uint_eq(run.n, n);
    for (size_t i = 0; i < n; i++) {
        bool good = i == 1 || i == n - 1;

        expect_req(&run.out[i], good ? (i == 1 ? "get" : "set") : NULL,
                   l[i], l[i + 1], good ? NULL : SP_MEMCACHE_ERR_UNKNOWN);
        ck_assert(!run.out[i].noreply);
    }
    expect_key(&run.out[1], 0, l[1] + 4, 3);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

/* 250 bytes is the longest key; 251 is CLIENT_ERROR for every command. */
START_TEST(test_req_key_250_251)
{
    static const char *const fmts[] = {
        "get %s\r\n", "gets a %s\r\n", "gat 0 %s\r\n", "gats 0 a %s b\r\n",
        "delete %s\r\n", "delete %s noreply\r\n", "incr %s 1\r\n",
        "decr %s 1 noreply\r\n", "touch %s 1\r\n", "mg %s v\r\n",
        "md %s q\r\n", "ma %s\r\n", "me %s\r\n",
        "set %s 0 0 1\r\nx\r\n", "cas %s 0 0 1 1\r\nx\r\n",
        "add %s 0 0 1 noreply\r\nx\r\n", "ms %s 1 T0\r\nx\r\n",
    };
    char key[SP_MEMCACHE_MAX_KEY + 2];

    for (int extra = 0; extra <= 1; extra++) {
        memset(key, 'k', sizeof(key));
        key[SP_MEMCACHE_MAX_KEY + extra] = '\0';
        for (size_t i = 0; i < NELEMS(fmts); i++) {
            struct tbuf b = { 0 };
            struct req_run run;
            char name[8];

            tb_printf(&b, fmts[i], key);
            sscanf(fmts[i], "%7s", name);
            verify_req_at(&b, 4, 0, i < 3, 0, &run);
            ck_assert_msg(run.status == SP_PARSE_AGAIN, "%s", fmts[i]);
            ck_assert_uint_eq(run.n, 1);
            expect_req(&run.out[0], name, 0, b.len,
                       extra ? SP_MEMCACHE_ERR_FORMAT : NULL);
            ck_assert_uint_eq(run.out[0].noreply,
                              strstr(fmts[i], "noreply") != NULL);
            sp_test_run_free(&run);
            tb_free(&b);
        }
    }
}
END_TEST

/* noreply, as memcached counts it, on each command that has it. */
START_TEST(test_req_noreply_variants)
{
    EXPECT_ONE("set k 0 0 1 noreply\r\nx\r\n", "set", NULL, true);
    EXPECT_ONE("add k 0 0 1 noreply\r\nx\r\n", "add", NULL, true);
    EXPECT_ONE("replace k 0 0 1 noreply\r\nx\r\n", "replace", NULL, true);
    EXPECT_ONE("append k 0 0 1 noreply\r\nx\r\n", "append", NULL, true);
    EXPECT_ONE("prepend k 0 0 1 noreply\r\nx\r\n", "prepend", NULL, true);
    EXPECT_ONE("cas k 0 0 1 5 noreply\r\nx\r\n", "cas", NULL, true);
    EXPECT_ONE("delete k noreply\r\n", "delete", NULL, true);
    EXPECT_ONE("incr k 1 noreply\r\n", "incr", NULL, true);
    EXPECT_ONE("decr k 1 noreply\r\n", "decr", NULL, true);
    EXPECT_ONE("touch k 1 noreply\r\n", "touch", NULL, true);
    /* "noreply" only counts after the required tokens, and whole */
    EXPECT_ONE("incr noreply 1\r\n", "incr", NULL, false);
    EXPECT_ONE("incr k 1 NOREPLY\r\n", "incr", NULL, false);
    EXPECT_ONE("incr k 1 norepl\r\n", "incr", NULL, false);
    EXPECT_ONE("incr k 1 noreply\0x\r\n", "incr", NULL, true);
    EXPECT_ONE("incr k 1 noreply \r\n", "incr", NULL, true);
    /* memcached takes a last "noreply" even where an argument should be */
    EXPECT_ONE("touch k noreply\r\n", "touch", SP_MEMCACHE_ERR_EXPTIME,
               true);
    EXPECT_ONE("incr k noreply\r\n", "incr", SP_MEMCACHE_ERR_DELTA, true);
    /* a wrong token count is answered ERROR even with noreply */
    EXPECT_ONE("touch noreply\r\n", "touch", SP_MEMCACHE_ERR_UNKNOWN,
               false);
    EXPECT_ONE("incr k 1 2 noreply\r\n", "incr", SP_MEMCACHE_ERR_UNKNOWN,
               false);
    /* a too-long key's error is suppressed by noreply, as memcached does */
    {
        struct tbuf b = { 0 };
        struct req_run run;

        tb_str(&b, "set ");
        tb_fill(&b, 'k', 251);
        tb_str(&b, " 0 0 1 noreply\r\nx\r\n");
        verify_req(&b, &run);
        ck_assert_uint_eq(run.n, 1);
        expect_req(&run.out[0], "set", 0, b.len, SP_MEMCACHE_ERR_FORMAT);
        ck_assert(run.out[0].noreply);
        sp_test_run_free(&run);
        tb_free(&b);
    }
}
END_TEST

/* CR, LF, NUL, tabs and spaces in command lines, as memcached splits them. */
START_TEST(test_req_line_bytes)
{
    struct tbuf b = { 0 };
    struct req_run run;

    tb_str(&b, "get a\rc\r\n");         /* 0..9: key "a\rc" */
    tb_str(&b, "get a\r\r\n");          /* 9..17: key "a\r" */
    tb_str(&b, "get a\tc d\n");         /* 17..27: keys "a\tc", "d" */
    tb_put(&b, "get a\0b c\r\n", 11);   /* 27..38: key "a" */
    tb_str(&b, "get a \r\n");           /* 38..46: key "a" */
    tb_str(&b, "get \r\r\n");           /* 46..53: key "\r" */
    tb_put(&b, "\0get a\r\n", 8);       /* 53..61: no tokens: ERROR */
    tb_str(&b, "get\r\r\n");            /* 61..67: name "get\r" */
    verify_req(&b, &run);
    ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
    ck_assert_uint_eq(run.n, 8);
    expect_req(&run.out[0], "get", 0, 9, NULL);
    ck_assert_uint_eq(run.out[0].nkeys, 1);
    expect_key(&run.out[0], 0, 4, 3);
    expect_req(&run.out[1], "get", 9, 17, NULL);
    expect_key(&run.out[1], 0, 13, 2);
    expect_req(&run.out[2], "get", 17, 27, NULL);
    ck_assert_uint_eq(run.out[2].nkeys, 2);
    expect_key(&run.out[2], 0, 21, 3);
    expect_key(&run.out[2], 1, 25, 1);
    expect_req(&run.out[3], "get", 27, 38, NULL);
    ck_assert_uint_eq(run.out[3].nkeys, 1);
    expect_key(&run.out[3], 0, 31, 1);
    expect_req(&run.out[4], "get", 38, 46, NULL);
    ck_assert_uint_eq(run.out[4].nkeys, 1);
    expect_req(&run.out[5], "get", 46, 53, NULL);
    expect_key(&run.out[5], 0, 50, 1);
    expect_req(&run.out[6], NULL, 53, 61, SP_MEMCACHE_ERR_UNKNOWN);
    expect_req(&run.out[7], NULL, 61, 67, SP_MEMCACHE_ERR_UNKNOWN);
    sp_test_run_free(&run);
    tb_free(&b);

    /* a NUL in the key of a storage line cuts it short: ERROR, framing */
    EXPECT_REQ_ERROR("set a\0x 0 0 1\r\nA\r\n", SP_MEMCACHE_ERR_UNKNOWN, 14);
}
END_TEST

/* Offsets are absolute stream offsets, wherever the stream starts. */
START_TEST(test_req_stream_offset)
{
    struct tbuf b = { 0 };
    struct req_run run;
    uint64_t base = (uint64_t)1 << 40;

    tb_str(&b, "set foo 0 0 3\r\nbar\r\nget foo baz\r\n");
    verify_req_at(&b, 4, 0, true, base, &run);
    ck_assert_uint_eq(run.n, 2);
    expect_req(&run.out[0], "set", base, base + 20, NULL);
    expect_key(&run.out[0], 0, base + 4, 3);
    ck_assert_uint_eq(run.out[0].value.offset, base + 15);
    expect_req(&run.out[1], "get", base + 20, base + b.len, NULL);
    expect_key(&run.out[1], 1, base + 28, 3);
    ck_assert_uint_eq(run.offset, base + b.len);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

/* ---- request parser: data blocks ----------------------------------------- */

/* A 1 MB value spanning many chunks, then a get; a few split points. */
START_TEST(test_req_big_value)
{
    struct tbuf b = { 0 };
    struct req_run run;
    size_t size = 1024 * 1024;
    uint64_t data;

    tb_printf(&b, "set bigkey 0 0 %zu\r\n", size);
    data = b.len;
    for (size_t i = 0; i < size; i++) {
        uint8_t ch = (uint8_t)(i * 131 + 7);    /* \r and \n included */

        tb_put(&b, &ch, 1);
    }
    tb_str(&b, "\r\nget bigkey\r\n");
    verify_req_at(&b, 4, 0, false, 0, &run);
    ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
    ck_assert_uint_eq(run.n, 2);
    expect_req(&run.out[0], "set", 0, data + size + 2, NULL);
    ck_assert_uint_eq(run.out[0].value.offset, data);
    ck_assert_uint_eq(run.out[0].value.len, size);
    expect_req(&run.out[1], "get", data + size + 2, b.len, NULL);
    sp_test_run_free(&run);

    /* above max_value: swallowed, answered, and the get goes on */
    verify_req_at(&b, 4, (uint32_t)size - 1, false, 0, &run);
    ck_assert_uint_eq(run.n, 2);
    expect_req(&run.out[0], "set", 0, data + size + 2,
               SP_MEMCACHE_ERR_TOO_LARGE);
    expect_req(&run.out[1], "get", data + size + 2, b.len, NULL);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

/*
 * max_value: 0 is 1 MB, a larger cap is honoured up to 1 GB; a value just
 * above the cap is refused whatever its command.
 */
START_TEST(test_req_value_caps)
{
    struct tbuf b = { 0 };
    struct req_run run;
    size_t size = 1024 * 1024 + 1;
    struct req_cfg no_cap = { 4, 0, 0 }, cap_64m = { 4, 64 * 1024 * 1024, 0 };
    struct req_cfg max_cap = { 4, UINT32_MAX, 0 };

    tb_printf(&b, "ms big %zu T0 q\r\n", size);
    tb_fill(&b, 'v', size);
    tb_str(&b, "\r\nmn\r\n");
    run_req(&no_cap, b.data, b.len, 0, 1000, &run);
    ck_assert_uint_eq(run.n, 2);
    expect_req(&run.out[0], "ms", 0, b.len - 4, SP_MEMCACHE_ERR_TOO_LARGE);
    ck_assert(run.out[0].quiet);
    sp_test_run_free(&run);
    run_req(&cap_64m, b.data, b.len, 0, 1000, &run);
    expect_req(&run.out[0], "ms", 0, b.len - 4, NULL);
    sp_test_run_free(&run);
    run_req(&max_cap, b.data, b.len, 0, 1000, &run);
    expect_req(&run.out[0], "ms", 0, b.len - 4, NULL);
    sp_test_run_free(&run);
    tb_free(&b);

    /* the cap clamps at SP_MEMCACHE_VALUE_LIMIT (no data needed to see) */
    tb_printf(&b, "set k 0 0 %d\r\n", SP_MEMCACHE_VALUE_LIMIT + 1);
    run_req(&max_cap, b.data, b.len, 0, b.len, &run);
    ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
    ck_assert_uint_eq(run.n, 0);
    sp_test_run_free(&run);
    tb_free(&b);

    EXPECT_ONE("set k 0 0 2\r\nab\r\n", "set", NULL, false);
    {
        struct tbuf c = { 0 };

        tb_str(&c, "append k 0 0 11\r\n0123456789a\r\n");
        verify_req_at(&c, 4, 10, true, 0, &run);
        expect_req(&run.out[0], "append", 0, c.len,
                   SP_MEMCACHE_ERR_TOO_LARGE);
        sp_test_run_free(&run);
        verify_req_at(&c, 4, 11, true, 0, &run);
        expect_req(&run.out[0], "append", 0, c.len, NULL);
        sp_test_run_free(&run);
        tb_free(&c);
    }
}
END_TEST

/*
 * A data block is <bytes> then two bytes memcached reads whatever they
 * are: not CRLF is "CLIENT_ERROR bad data chunk", and what follows is the
 * next line (memcached 1.6.18: "set k 0 0 3\r\nabcde\r\n" gets
 * "CLIENT_ERROR bad data chunk\r\nERROR\r\n").
 */
START_TEST(test_req_bad_data_chunk)
{
    struct tbuf b = { 0 };
    struct req_run run;

    tb_str(&b, "set k 0 0 3\r\nabcde\r\nms k 3\r\nabc\n\r\nget k\r\n");
    verify_req(&b, &run);
    ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
    ck_assert_uint_eq(run.n, 5);
    expect_req(&run.out[0], "set", 0, 18, SP_MEMCACHE_ERR_CHUNK);
    expect_req(&run.out[1], NULL, 18, 20, SP_MEMCACHE_ERR_UNKNOWN);
    expect_req(&run.out[2], "ms", 20, 33, SP_MEMCACHE_ERR_CHUNK);
    expect_req(&run.out[3], NULL, 33, 34, SP_MEMCACHE_ERR_UNKNOWN);
    expect_req(&run.out[4], "get", 34, b.len, NULL);
    sp_test_run_free(&run);
    tb_free(&b);

    EXPECT_ONE("set k 0 0 3 noreply\r\nabcXY", "set", SP_MEMCACHE_ERR_CHUNK,
               true);
    EXPECT_ONE("set k 0 0 3\r\nabc\rX", "set", SP_MEMCACHE_ERR_CHUNK, false);
    EXPECT_ONE("set k 0 0 0\r\nXY", "set", SP_MEMCACHE_ERR_CHUNK, false);
    /* a line already refused keeps its own answer */
    EXPECT_ONE("set k x 0 3\r\nabcXY", "set", SP_MEMCACHE_ERR_FORMAT, false);
}
END_TEST

/* ---- request parser: framing errors --------------------------------------- */

/*
 * A storage command whose data length cannot be known: memcached answers
 * and reads the data as commands; we answer and close. Stops at the LF.
 */
START_TEST(test_req_error_storage_framing)
{
    EXPECT_REQ_ERROR("set k 0 0\r\nhello\r\n", SP_MEMCACHE_ERR_UNKNOWN, 10);
    EXPECT_REQ_ERROR("set k 0 0 5 noreply x\r\nhello\r\n",
                     SP_MEMCACHE_ERR_UNKNOWN, 22);
    EXPECT_REQ_ERROR("set\r\n", SP_MEMCACHE_ERR_UNKNOWN, 4);
    EXPECT_REQ_ERROR("cas k 0 0 5\r\nhello\r\n", SP_MEMCACHE_ERR_UNKNOWN, 12);
    EXPECT_REQ_ERROR("set k 0 0 abc\r\nhello\r\n", SP_MEMCACHE_ERR_FORMAT,
                     14);
    EXPECT_REQ_ERROR("set k 0 0 -1\r\nhello\r\n", SP_MEMCACHE_ERR_FORMAT, 13);
    EXPECT_REQ_ERROR("set k 0 0 noreply\r\n", SP_MEMCACHE_ERR_FORMAT, 18);
    EXPECT_REQ_ERROR("set k 0 0 2147483646\r\n", SP_MEMCACHE_ERR_FORMAT, 21);
    EXPECT_REQ_ERROR("set k 0 0 4294967297\r\nx\r\n", SP_MEMCACHE_ERR_FORMAT,
                     21);
    EXPECT_REQ_ERROR("append k 0 0 5\r\r\nhello\r\n", SP_MEMCACHE_ERR_FORMAT,
                     16);
    EXPECT_REQ_ERROR("ms\r\n", SP_MEMCACHE_ERR_UNKNOWN, 3);
    EXPECT_REQ_ERROR("ms k\r\nhi\r\n", SP_MEMCACHE_ERR_FORMAT, 5);
    EXPECT_REQ_ERROR("ms k abc\r\nhi\r\n", SP_MEMCACHE_ERR_FORMAT, 9);
    EXPECT_REQ_ERROR("ms k -2\r\nhi\r\n", SP_MEMCACHE_ERR_FORMAT, 8);
    EXPECT_REQ_ERROR("ms k x a b c d e f g h i j k l m n o p r x\r\nx\r\n",
                     SP_MEMCACHE_ERR_FLAGS, 43);
}
END_TEST

/* At most 2048 bytes before the LF (memcached closes past that). */
START_TEST(test_req_error_line_too_long)
{
    struct tbuf b = { 0 };
    struct req_run run;

    /* 2048 bytes before the LF, the CR included: fine */
    tb_str(&b, "incr a ");
    tb_fill(&b, '1', SP_MEMCACHE_MAX_LINE - 8);
    tb_str(&b, "\r\n");
    ck_assert_uint_eq(b.len, SP_MEMCACHE_MAX_LINE + 1);
    verify_req(&b, &run);
    ck_assert_uint_eq(run.n, 1);
    expect_req(&run.out[0], "incr", 0, b.len, SP_MEMCACHE_ERR_DELTA);
    sp_test_run_free(&run);

    /* one more byte: a framing error at byte 2048 */
    b.len -= 2;
    tb_str(&b, "1\r\n");
    verify_req(&b, &run);
    ck_assert_int_eq(run.status, SP_PARSE_ERROR);
    ck_assert_str_eq(run.error, SP_MEMCACHE_ERR_LINE);
    ck_assert_uint_eq(run.offset, SP_MEMCACHE_MAX_LINE);
    sp_test_run_free(&run);

    /* an unknown command's long line, and a gat's (memcached closes both) */
    b.len = 0;
    tb_fill(&b, 'x', 3000);
    tb_str(&b, "\r\n");
    verify_req_at(&b, 4, 0, false, 0, &run);
    ck_assert_int_eq(run.status, SP_PARSE_ERROR);
    ck_assert_uint_eq(run.offset, SP_MEMCACHE_MAX_LINE);
    sp_test_run_free(&run);
    b.len = 0;
    tb_str(&b, "gat 0");
    while (b.len < 3000) {
        tb_str(&b, " key");
    }
    tb_str(&b, "\r\n");
    verify_req_at(&b, 1000, 0, false, 0, &run);
    ck_assert_int_eq(run.status, SP_PARSE_ERROR);
    ck_assert_str_eq(run.error, SP_MEMCACHE_ERR_LINE);
    ck_assert_uint_eq(run.offset, SP_MEMCACHE_MAX_LINE);
    sp_test_run_free(&run);

    /* a get line may be 1 MB, not more */
    b.len = 0;
    tb_str(&b, "get");
    while (b.len < SP_MEMCACHE_MAX_GET_LINE - 5) {
        tb_str(&b, " k");
    }
    tb_fill(&b, 'k', SP_MEMCACHE_MAX_GET_LINE - 1 - b.len);
    tb_str(&b, "\r\n");               /* the CR is byte 1048576 */
    verify_req_at(&b, 1, 0, false, 0, &run);
    ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
    ck_assert_uint_eq(run.n, 1);
    ck_assert(run.out[0].keys_truncated);
    expect_req(&run.out[0], "get", 0, b.len, NULL);
    sp_test_run_free(&run);
    b.len -= 2;
    tb_str(&b, "k\r\n");
    verify_req_at(&b, 1, 0, false, 0, &run);
    ck_assert_int_eq(run.status, SP_PARSE_ERROR);
    ck_assert_uint_eq(run.offset, SP_MEMCACHE_MAX_GET_LINE);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

/* ---- running the reply parser -------------------------------------------- */

struct reply_out {
    sp_memcache_reply_type_t type;
    uint64_t start;
    uint64_t end;
    uint64_t number;
    uint32_t nitems;
    bool     items_truncated;
    struct sp_memcache_item *items;     /* copy, nitems of them */
};

struct reply_run {
    SP_TEST_RUN_HEAD;
    struct reply_out out[RUN_MAX];
};

struct reply_cfg {
    const char *const *cmds;    /* reply i answers cmds[i]; the last, more */
    size_t   ncmds;
    uint32_t items_cap;
};

SP_TEST_STEP(reply_step, struct sp_memcache_reply_parser,
             sp_memcache_reply_parse)

static void
reply_done(const struct sp_test_feed *f, void *r, uint64_t end)
{
    struct sp_memcache_reply_parser *p = f->parser;
    const struct reply_cfg *cfg = f->cfg;
    struct reply_run *run = r;
    struct reply_out *o;

    CHECK(run->n < RUN_MAX);
    o = &run->out[run->n++];
    o->type = p->type;
    o->start = p->start;
    o->end = p->end;
    o->number = p->number;
    o->nitems = p->nitems;
    o->items_truncated = p->items_truncated;
    CHECK(p->end == end);
    CHECK(p->nitems <= cfg->items_cap);
    o->items = sp_test_copy(run, p->items, p->nitems, sizeof(*p->items));
    sp_memcache_reply_expect(p, cmd(cfg->cmds[run->n < cfg->ncmds
                                              ? run->n : cfg->ncmds - 1]));
}

/* Feeds a sample to a fresh reply parser (see sp_test_feed). */
static void
run_reply(const void *c, const uint8_t *data, size_t len, size_t split,
          size_t step, void *run)
{
    const struct reply_cfg *cfg = c;
    struct sp_memcache_reply_parser p;
    struct sp_memcache_item *items = calloc(cfg->items_cap + 1,
                                            sizeof(*items));
    struct sp_test_feed f = { reply_step, &p, &p.offset, &p.error, 0, cfg,
                              reply_done };

    CHECK(items != NULL);
    sp_memcache_reply_init(&p, 0, items, cfg->items_cap);
    sp_memcache_reply_expect(&p, cmd(cfg->cmds[0]));
    sp_test_feed(&f, data, len, split, step, run, sizeof(struct reply_run));
    free(items);
}

static void
reply_out_same(const void *a, const void *b, size_t split, size_t step)
{
    const struct reply_out *x = a, *y = b;

    SP_SAME(x->type == y->type);
    SP_SAME(x->start == y->start);
    SP_SAME(x->end == y->end);
    SP_SAME(x->number == y->number);
    SP_SAME(x->nitems == y->nitems);
    SP_SAME(x->items_truncated == y->items_truncated);
    SP_SAME(memcmp(x->items, y->items, x->nitems * sizeof(*x->items))
            == 0);
}

static const struct sp_test_way reply_way =
    SP_TEST_WAY(struct reply_run, run_reply, reply_out_same);

static void
verify_reply_at(const struct tbuf *b, const char *const *cmds, size_t ncmds,
                uint32_t items_cap, bool every_split, struct reply_run *whole)
{
    struct reply_cfg cfg = { cmds, ncmds, items_cap };

    sp_test_every_way(&reply_way, &cfg, b, every_split, whole);
}

static void
expect_reply(const struct reply_out *o, sp_memcache_reply_type_t type,
             uint64_t start, uint64_t end)
{
    ck_assert_int_eq(o->type, type);
    ck_assert_uint_eq(o->start, start);
    ck_assert_uint_eq(o->end, end);
}

static void
expect_item(const struct reply_out *o, uint32_t i, uint64_t offset,
            uint32_t len, uint64_t key_offset, uint32_t key_len)
{
    ck_assert_uint_lt(i, o->nitems);
    ck_assert_uint_eq(o->items[i].offset, offset);
    ck_assert_uint_eq(o->items[i].len, len);
    ck_assert_uint_eq(o->items[i].key_offset, key_offset);
    ck_assert_uint_eq(o->items[i].key_len, key_len);
}

/* One reply to `command`, alone in the sample. */
static void
expect_one_reply(const char *command, const char *sample,
                 sp_memcache_reply_type_t type, uint64_t number)
{
    struct tbuf b = { 0 };
    struct reply_run run;

    tb_str(&b, sample);
    verify_reply_at(&b, &command, 1, 4, true, &run);
    ck_assert_msg(run.status == SP_PARSE_AGAIN, "%s: %s", sample, run.error);
    ck_assert_uint_eq(run.n, 1);
    expect_reply(&run.out[0], type, 0, b.len);
    ck_assert_uint_eq(run.out[0].number, number);
    sp_test_run_free(&run);
    tb_free(&b);
}

/* A reply to `command` that is a framing error at `at`. */
static void
expect_reply_error(const char *command, const char *sample, size_t len,
                   const char *error, uint64_t at)
{
    struct reply_cfg cfg = { &command, 1, 4 };

    sp_test_expect_error(&reply_way, &cfg, sample, len, error, at);
}

#define EXPECT_REPLY_ERROR(c, s, error, at) \
    expect_reply_error((c), (s), sizeof(s) - 1, (error), (at))

/* ---- reply parser ---------------------------------------------------------- */

/* Each one-line reply memcached sends, to the commands that get it. */
START_TEST(test_reply_lines)
{
    static const struct {
        const char *command;
        const char *text;
        sp_memcache_reply_type_t type;
        uint64_t number;
    } samples[] = {
        { "set", "STORED\r\n", SP_MEMCACHE_REPLY_STORED, 0 },
        { "add", "NOT_STORED\r\n", SP_MEMCACHE_REPLY_NOT_STORED, 0 },
        { "cas", "EXISTS\r\n", SP_MEMCACHE_REPLY_EXISTS, 0 },
        { "cas", "NOT_FOUND\r\n", SP_MEMCACHE_REPLY_NOT_FOUND, 0 },
        { "delete", "DELETED\r\n", SP_MEMCACHE_REPLY_DELETED, 0 },
        { "delete", "NOT_FOUND\r\n", SP_MEMCACHE_REPLY_NOT_FOUND, 0 },
        { "touch", "TOUCHED\r\n", SP_MEMCACHE_REPLY_TOUCHED, 0 },
        { "incr", "15\r\n", SP_MEMCACHE_REPLY_NUMBER, 15 },
        { "decr", "0\r\n", SP_MEMCACHE_REPLY_NUMBER, 0 },
        { "incr", "18446744073709551615\r\n", SP_MEMCACHE_REPLY_NUMBER,
          UINT64_MAX },
        { "incr", "7  \r\n", SP_MEMCACHE_REPLY_NUMBER, 7 },
        { "incr", "NOT_FOUND\r\n", SP_MEMCACHE_REPLY_NOT_FOUND, 0 },
        { "incr", "CLIENT_ERROR cannot increment or decrement non-numeric "
                  "value\r\n", SP_MEMCACHE_REPLY_CLIENT_ERROR, 0 },
        { "get", "END\r\n", SP_MEMCACHE_REPLY_END, 0 },
        { "gat", "END\r\n", SP_MEMCACHE_REPLY_END, 0 },
        { "version", "VERSION 1.6.18\r\n", SP_MEMCACHE_REPLY_VERSION, 0 },
        { "set", "ERROR\r\n", SP_MEMCACHE_REPLY_ERROR, 0 },
        { "set", "SERVER_ERROR object too large for cache\r\n",
          SP_MEMCACHE_REPLY_SERVER_ERROR, 0 },
        { "set", "SERVER_ERROR out of memory storing object\r\n",
          SP_MEMCACHE_REPLY_SERVER_ERROR, 0 },
        { "get", "CLIENT_ERROR bad command line format\r\n",
          SP_MEMCACHE_REPLY_CLIENT_ERROR, 0 },
        { "mg", "HD\r\n", SP_MEMCACHE_REPLY_HD, 0 },
        { "mg", "HD f5 t-1 c26 kmk\r\n", SP_MEMCACHE_REPLY_HD, 0 },
        { "mg", "EN\r\n", SP_MEMCACHE_REPLY_EN, 0 },
        { "mg", "EN kbWs= b\r\n", SP_MEMCACHE_REPLY_EN, 0 },
        { "mg", "OK\r\n", SP_MEMCACHE_REPLY_OK, 0 },
        { "mg", "MN\r\n", SP_MEMCACHE_REPLY_MN, 0 },
        { "mg", "CLIENT_ERROR invalid flag\r\n",
          SP_MEMCACHE_REPLY_CLIENT_ERROR, 0 },
        { "ms", "HD\r\n", SP_MEMCACHE_REPLY_HD, 0 },
        { "ms", "NS\r\n", SP_MEMCACHE_REPLY_NS, 0 },
        { "ms", "EX O123 c5\r\n", SP_MEMCACHE_REPLY_EX, 0 },
        { "ms", "NF\r\n", SP_MEMCACHE_REPLY_NF, 0 },
        { "ms", "MN\r\n", SP_MEMCACHE_REPLY_MN, 0 },
        { "md", "HD\r\n", SP_MEMCACHE_REPLY_HD, 0 },
        { "md", "NF\r\n", SP_MEMCACHE_REPLY_NF, 0 },
        { "md", "EX\r\n", SP_MEMCACHE_REPLY_EX, 0 },
        { "ma", "NS\r\n", SP_MEMCACHE_REPLY_NS, 0 },
        { "ma", "HD c7 t-1\r\n", SP_MEMCACHE_REPLY_HD, 0 },
        { "mn", "MN\r\n", SP_MEMCACHE_REPLY_MN, 0 },
        { "me", "EN\r\n", SP_MEMCACHE_REPLY_EN, 0 },
        { "me", "ME mk exp=-1 la=2 cas=26 fetch=no cls=1 size=64\r\n",
          SP_MEMCACHE_REPLY_ME, 0 },
    };

    for (size_t i = 0; i < NELEMS(samples); i++) {
        expect_one_reply(samples[i].command, samples[i].text,
                         samples[i].type, samples[i].number);
    }
}
END_TEST

/* A multi-get reply: items, their keys, END; then others pipelined. */
START_TEST(test_reply_get_items)
{
    static const char *const cmds[] = { "get", "gets", "get", "set" };
    struct tbuf b = { 0 };
    struct reply_run run;
    uint64_t r2, r3, r4;

    tb_str(&b, "VALUE a 0 1\r\nA\r\n");                  /* 0..16 */
    tb_str(&b, "VALUE key:2 4294967295 4\r\n\r\nEN\r\n"); /* 16..48 */
    tb_str(&b, "VALUE c 7 0\r\n\r\n");                   /* 48..63 */
    tb_str(&b, "END\r\n");                               /* 63..68 */
    r2 = b.len;
    tb_str(&b, "VALUE a 0 1 34\r\nA\r\nEND\r\n");
    r3 = b.len;
    tb_str(&b, "END\r\n");
    r4 = b.len;
    tb_str(&b, "STORED\r\n");
    verify_reply_at(&b, cmds, NELEMS(cmds), 8, true, &run);
    ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
    ck_assert_uint_eq(run.n, 4);
    expect_reply(&run.out[0], SP_MEMCACHE_REPLY_END, 0, r2);
    ck_assert_uint_eq(run.out[0].nitems, 3);
    ck_assert(!run.out[0].items_truncated);
    expect_item(&run.out[0], 0, 0, 16, 6, 1);
    expect_item(&run.out[0], 1, 16, 32, 22, 5);
    expect_item(&run.out[0], 2, 48, 15, 54, 1);
    expect_reply(&run.out[1], SP_MEMCACHE_REPLY_END, r2, r3);
    ck_assert_uint_eq(run.out[1].nitems, 1);
    expect_item(&run.out[1], 0, r2, 19, r2 + 6, 1);
    expect_reply(&run.out[2], SP_MEMCACHE_REPLY_END, r3, r4);
    ck_assert_uint_eq(run.out[2].nitems, 0);
    expect_reply(&run.out[3], SP_MEMCACHE_REPLY_STORED, r4, b.len);
    sp_test_run_free(&run);

    /* room for two items: the rest are parsed, not recorded */
    verify_reply_at(&b, cmds, NELEMS(cmds), 2, false, &run);
    ck_assert_uint_eq(run.n, 4);
    ck_assert_uint_eq(run.out[0].nitems, 2);
    ck_assert(run.out[0].items_truncated);
    ck_assert(!run.out[1].items_truncated);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

/* A get reply may end with an error line instead of END, after items. */
START_TEST(test_reply_get_error)
{
    static const char *const cmds[] = { "get" };
    struct tbuf b = { 0 };
    struct reply_run run;

    tb_str(&b, "VALUE a 0 1\r\nA\r\nSERVER_ERROR out of memory writing get "
               "response\r\n");
    tb_str(&b, "CLIENT_ERROR bad command line format\r\n");
    verify_reply_at(&b, cmds, 1, 4, true, &run);
    ck_assert_uint_eq(run.n, 2);
    expect_reply(&run.out[0], SP_MEMCACHE_REPLY_SERVER_ERROR, 0, 65);
    ck_assert_uint_eq(run.out[0].nitems, 1);
    expect_item(&run.out[0], 0, 0, 16, 6, 1);
    expect_reply(&run.out[1], SP_MEMCACHE_REPLY_CLIENT_ERROR, 65, b.len);
    ck_assert_uint_eq(run.out[1].nitems, 0);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

/* Meta values, and the MN a proxy adds after a quiet command. */
START_TEST(test_reply_meta)
{
    static const char *const cmds[] = { "mg", "ma", "mg", "mg", "ms", "mn",
                                        "md", "md" };
    struct tbuf b = { 0 };
    struct reply_run run;
    uint64_t r[9];
    size_t n = 0;

    r[n++] = b.len;
    tb_str(&b, "VA 2 f5 t-1 c26 kmk\r\nhi\r\n");
    r[n++] = b.len;
    tb_str(&b, "VA 1\r\n8\r\n");
    r[n++] = b.len;
    tb_str(&b, "VA 0\r\n\r\n");
    r[n++] = b.len;
    tb_str(&b, "MN\r\n");               /* quiet mg missed */
    r[n++] = b.len;
    tb_str(&b, "NS\r\n");               /* quiet ms: NS is still sent */
    r[n++] = b.len;
    tb_str(&b, "MN\r\n");               /* ... then the proxy's mn */
    r[n++] = b.len;
    tb_str(&b, "NF\r\n");
    r[n++] = b.len;
    tb_str(&b, "VA 4\r\nVA 1\r\n");     /* md cannot get VA */
    r[n] = b.len;
    verify_reply_at(&b, cmds, NELEMS(cmds), 4, true, &run);
    ck_assert_int_eq(run.status, SP_PARSE_ERROR);
    ck_assert_str_eq(run.error, "unexpected reply");
    ck_assert_uint_eq(run.offset, r[7] + 2);
    ck_assert_uint_eq(run.n, 7);
    expect_reply(&run.out[0], SP_MEMCACHE_REPLY_VA, r[0], r[1]);
    ck_assert_uint_eq(run.out[0].number, 2);
    ck_assert_uint_eq(run.out[0].nitems, 0);
    expect_reply(&run.out[1], SP_MEMCACHE_REPLY_VA, r[1], r[2]);
    ck_assert_uint_eq(run.out[1].number, 1);
    expect_reply(&run.out[2], SP_MEMCACHE_REPLY_VA, r[2], r[3]);
    ck_assert_uint_eq(run.out[2].number, 0);
    expect_reply(&run.out[3], SP_MEMCACHE_REPLY_MN, r[3], r[4]);
    expect_reply(&run.out[4], SP_MEMCACHE_REPLY_NS, r[4], r[5]);
    expect_reply(&run.out[5], SP_MEMCACHE_REPLY_MN, r[5], r[6]);
    expect_reply(&run.out[6], SP_MEMCACHE_REPLY_NF, r[6], r[7]);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

/*
 * A CR inside a line belongs to its token: memcached echoes a key or an
 * opaque as the request had it (the replies below are memcached 1.6.18's
 * own, to "mg zz O\r1", "mg z\rz k v", "mg a\rb k v O12", "mg x\r k",
 * "get c\rd x\r a\tb", "me c\rd").
 */
START_TEST(test_reply_cr_in_tokens)
{
    static const char *const cmds[] = { "get" };
    struct tbuf b = { 0 };
    struct reply_run run;

    expect_one_reply("mg", "EN O\r1\r\n", SP_MEMCACHE_REPLY_EN, 0);
    expect_one_reply("mg", "EN O\r1 kzz\r\n", SP_MEMCACHE_REPLY_EN, 0);
    expect_one_reply("mg", "EN kz\rz\r\n", SP_MEMCACHE_REPLY_EN, 0);
    expect_one_reply("mg", "EN kx\r\r\n", SP_MEMCACHE_REPLY_EN, 0);
    expect_one_reply("mg", "HD kx\r\r\r\n", SP_MEMCACHE_REPLY_HD, 0);
    expect_one_reply("mg", "VA 1 ka\rb O12\r\nx\r\n", SP_MEMCACHE_REPLY_VA,
                     1);
    expect_one_reply("me", "ME c\rd exp=-1 la=6 cas=3 fetch=yes cls=1 "
                     "size=63\r\n", SP_MEMCACHE_REPLY_ME, 0);

    tb_str(&b, "VALUE c\rd 0 1\r\ny\r\n");       /* 0..18, key 6..9 */
    tb_str(&b, "VALUE x\r 0 1 3\r\nq\r\n");      /* 18..37, key 24..26 */
    tb_str(&b, "VALUE a\tb 0 1\r\nx\r\n");       /* 37..55, key 43..46 */
    tb_str(&b, "END\r\n");
    verify_reply_at(&b, cmds, 1, 4, true, &run);
    ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
    ck_assert_uint_eq(run.n, 1);
    expect_reply(&run.out[0], SP_MEMCACHE_REPLY_END, 0, b.len);
    ck_assert_uint_eq(run.out[0].nitems, 3);
    expect_item(&run.out[0], 0, 0, 18, 6, 3);
    expect_item(&run.out[0], 1, 18, 19, 24, 2);
    expect_item(&run.out[0], 2, 37, 18, 43, 3);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

/* A 1 MB VALUE spanning many chunks; a few split points. */
START_TEST(test_reply_big_value)
{
    static const char *const cmds[] = { "get" };
    struct tbuf b = { 0 };
    struct reply_run run;
    size_t size = 1024 * 1024;
    uint64_t item2;

    tb_printf(&b, "VALUE big 0 %zu\r\n", size);
    for (size_t i = 0; i < size; i++) {
        uint8_t ch = (uint8_t)(i * 131 + 7);

        tb_put(&b, &ch, 1);
    }
    tb_str(&b, "\r\n");
    item2 = b.len;
    tb_str(&b, "VALUE x 1 1 99\r\nx\r\nEND\r\n");
    verify_reply_at(&b, cmds, 1, 4, false, &run);
    ck_assert_int_eq(run.status, SP_PARSE_AGAIN);
    ck_assert_uint_eq(run.n, 1);
    expect_reply(&run.out[0], SP_MEMCACHE_REPLY_END, 0, b.len);
    ck_assert_uint_eq(run.out[0].nitems, 2);
    expect_item(&run.out[0], 0, 0, (uint32_t)item2, 6, 3);
    expect_item(&run.out[0], 1, item2, 19, item2 + 6, 1);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

START_TEST(test_reply_errors)
{
    /* a reply the command cannot get: the connection is out of step */
    EXPECT_REPLY_ERROR("get", "STORED\r\n", "unexpected reply", 7);
    EXPECT_REPLY_ERROR("set", "VALUE a 0 1\r\nA\r\n", "unexpected reply", 5);
    EXPECT_REPLY_ERROR("set", "15\r\n", "unexpected reply", 3);
    EXPECT_REPLY_ERROR("incr", "STORED\r\n", "unexpected reply", 7);
    EXPECT_REPLY_ERROR("incr", "1x\r\n", "unexpected reply", 3);
    EXPECT_REPLY_ERROR("incr", "-1\r\n", "unexpected reply", 3);
    EXPECT_REPLY_ERROR("incr", "18446744073709551616\r\n",
                       "unexpected reply", 21);
    EXPECT_REPLY_ERROR("mg", "STORED\r\n", "unexpected reply", 7);
    EXPECT_REPLY_ERROR("ms", "EN\r\n", "unexpected reply", 3);
    EXPECT_REPLY_ERROR("get", "stored\r\n", "unexpected reply", 7);
    EXPECT_REPLY_ERROR("get", "ENDX\r\n", "unexpected reply", 5);
    EXPECT_REPLY_ERROR("get", "CLIENT_ERRORS x\r\n", "unexpected reply", 13);
    EXPECT_REPLY_ERROR("get", "\r\n", "unexpected reply", 1);
    EXPECT_REPLY_ERROR("quit", "OK\r\n", "unexpected reply", 3);
    EXPECT_REPLY_ERROR("get", "VALUE a 0 1\r\nA\r\nSTORED\r\n",
                       "unexpected reply", 23);
    /* line framing */
    EXPECT_REPLY_ERROR("get", "END\n", "expected CRLF", 3);
    EXPECT_REPLY_ERROR("set", "STORED \n", "expected CRLF", 7);
    EXPECT_REPLY_ERROR("mg", "EN k\na\r\n", "expected CRLF", 4);
    /* a CR not before a LF is a token's byte: these words are unknown */
    EXPECT_REPLY_ERROR("get", "END\rX\r\n", "unexpected reply", 6);
    EXPECT_REPLY_ERROR("set", "STORED\rSTORED\r\n", "unexpected reply",
                       14);
    EXPECT_REPLY_ERROR("set", "STORED\r \r\n", "unexpected reply", 7);
    EXPECT_REPLY_ERROR("get", "\r\r\n", "unexpected reply", 2);
    /* VALUE and VA lines */
    EXPECT_REPLY_ERROR("get", "VALUE a 0\r\n", "invalid VALUE line", 10);
    EXPECT_REPLY_ERROR("get", "VALUE a 0 1 2 3\r\nA\r\n",
                       "invalid VALUE line", 16);
    EXPECT_REPLY_ERROR("get", "VALUE a x 1\r\nA\r\n", "invalid VALUE line",
                       12);
    EXPECT_REPLY_ERROR("get", "VALUE a 4294967296 1\r\nA\r\n",
                       "invalid VALUE line", 21);
    EXPECT_REPLY_ERROR("get", "VALUE a 0 -1\r\nA\r\n", "invalid VALUE line",
                       13);
    EXPECT_REPLY_ERROR("get", "VALUE a 0 1073741825\r\n",
                       "invalid VALUE line", 21);
    EXPECT_REPLY_ERROR("gets", "VALUE a 0 1 x\r\nA\r\n", "invalid VALUE line",
                       14);
    EXPECT_REPLY_ERROR("mg", "VA\r\n", "invalid VA line", 3);
    EXPECT_REPLY_ERROR("mg", "VA x\r\n", "invalid VA line", 5);
    /* data blocks */
    EXPECT_REPLY_ERROR("get", "VALUE a 0 1\r\nAB\r\n",
                       "expected CRLF after data block", 14);
    EXPECT_REPLY_ERROR("get", "VALUE a 0 1\r\nA\rX",
                       "expected CRLF after data block", 15);
    EXPECT_REPLY_ERROR("mg", "VA 1\r\nAB", "expected CRLF after data block",
                       7);
}
END_TEST

/* Reply lines are bounded at 2048 bytes before the LF. */
START_TEST(test_reply_line_too_long)
{
    static const char *const cmds[] = { "version" };
    struct tbuf b = { 0 };
    struct reply_run run;

    tb_str(&b, "VERSION ");
    tb_fill(&b, 'v', SP_MEMCACHE_MAX_LINE - 9);
    tb_str(&b, "\r\n");
    verify_reply_at(&b, cmds, 1, 4, true, &run);
    ck_assert_uint_eq(run.n, 1);
    expect_reply(&run.out[0], SP_MEMCACHE_REPLY_VERSION, 0, b.len);
    sp_test_run_free(&run);
    b.len -= 2;
    tb_str(&b, "v\r\n");
    verify_reply_at(&b, cmds, 1, 4, true, &run);
    ck_assert_int_eq(run.status, SP_PARSE_ERROR);
    ck_assert_str_eq(run.error, "reply line too long");
    ck_assert_uint_eq(run.offset, SP_MEMCACHE_MAX_LINE);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

Suite *
sp_test_memcache_suite(void)
{
    Suite *s = suite_create("memcache");

    SP_TEST_CASE(s, "command table", 0, test_table_sorted_and_found,
                 test_table_misses, test_table_rows_sane,
                 test_table_spot_checks);
    SP_TEST_CASE(s, "request parser", 120, test_req_storage,
                 test_req_storage_numbers, test_req_get_1000_keys,
                 test_req_retrieval_variants, test_req_delete_arith_touch,
                 test_req_meta, test_req_local, test_req_flush_all,
                 test_req_verbosity, test_req_stats, test_req_binary_magic,
                 test_binary_refusal, test_req_unknown_resync,
                 test_req_key_250_251, test_req_noreply_variants,
                 test_req_line_bytes, test_req_stream_offset,
                 test_req_big_value, test_req_value_caps,
                 test_req_bad_data_chunk, test_req_error_storage_framing,
                 test_req_error_line_too_long);
    SP_TEST_CASE(s, "reply parser", 120, test_reply_lines,
                 test_reply_get_items, test_reply_get_error, test_reply_meta,
                 test_reply_cr_in_tokens,
                 test_reply_big_value, test_reply_errors,
                 test_reply_line_too_long);
    return s;
}
