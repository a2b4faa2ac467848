/*
 * test_redis_cmdtab.c — the generated Redis command table: subcommand rows
 * and their lookup, key positions found from Redis 7 key specs (index and
 * keyword begins, range and keynum finds, SORT's STORE) as COMMAND GETKEYS
 * reports them, the BLOCK option of XREAD, and the request parser finding a
 * container's subcommand row at every split of the stream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_redis.h"
#include "sp_redis_block.h"
#include "sp_test_parse.h"

/* ---- subcommand rows ---------------------------------------------------------- */

START_TEST(test_cmdtab_subcommands)
{
    const struct sp_redis_command *object = sp_redis_command_lookup("OBJECT", 6);
    const struct sp_redis_command *enc, *c;

    ck_assert_ptr_nonnull(object);
    ck_assert_uint_gt(object->nsubs, 3);
    enc = sp_redis_subcommand_lookup(object, "EnCoDiNg", 8);
    ck_assert_ptr_nonnull(enc);
    ck_assert_str_eq(enc->name, "object|encoding");
    ck_assert_str_eq(enc->name + enc->name_skip, "encoding");
    ck_assert_int_eq(enc->arity, 3);
    ck_assert_int_eq(enc->kind, SP_REDIS_FORWARD);
    ck_assert_int_eq(enc->first_key, 2);
    ck_assert_int_eq(enc->last_key, 2);
    ck_assert_ptr_null(sp_redis_subcommand_lookup(object, "encodin", 7));
    ck_assert_ptr_null(sp_redis_subcommand_lookup(object, "encodingx", 9));
    ck_assert_ptr_null(sp_redis_subcommand_lookup(object, "", 0));
    ck_assert_ptr_null(sp_redis_subcommand_lookup(
        sp_redis_command_lookup("get", 3), "encoding", 8));
    ck_assert_ptr_eq(sp_redis_command_by_fullname("OBJECT|encoding", 15), enc);
    ck_assert_ptr_eq(sp_redis_command_by_fullname("get", 3),
                     sp_redis_command_lookup("get", 3));
    ck_assert_ptr_null(sp_redis_command_by_fullname("object|", 7));
    ck_assert_ptr_null(sp_redis_command_by_fullname("get|x", 5));

    /* every container's subcommands sorted, found, pointing home */
    for (size_t i = 0; i < sp_redis_command_count(); i++) {
        const struct sp_redis_command *top = sp_redis_command_at(i);

        for (uint16_t j = 0; j < top->nsubs; j++) {
            const struct sp_redis_command *sub = &top->subs[j];
            const char *short_name = sub->name + sub->name_skip;

            ck_assert_uint_eq(sub->name_skip, strlen(top->name) + 1);
            ck_assert_int_eq(strncmp(sub->name, top->name,
                                     strlen(top->name)), 0);
            if (j > 0) {
                ck_assert_int_lt(strcmp(top->subs[j - 1].name, sub->name), 0);
            }
            ck_assert_ptr_eq(sp_redis_subcommand_lookup(top, short_name,
                                                        strlen(short_name)),
                             sub);
            ck_assert_ptr_eq(sp_redis_command_by_id(sub->id), sub);
        }
    }

    /* the routing policy, spot-checked */
    c = sp_redis_command_by_fullname("script|load", 11);
    ck_assert_int_eq(c->kind, SP_REDIS_ALL);
    ck_assert_int_eq(c->merge, SP_REDIS_MERGE_FIRST);
    c = sp_redis_command_by_fullname("script|exists", 13);
    ck_assert_int_eq(c->merge, SP_REDIS_MERGE_AND);
    c = sp_redis_command_by_fullname("script|flush", 12);
    ck_assert_int_eq(c->merge, SP_REDIS_MERGE_OK);
    c = sp_redis_command_by_fullname("function|restore", 16);
    ck_assert_int_eq(c->kind, SP_REDIS_ALL);
    c = sp_redis_command_by_fullname("function|list", 13);
    ck_assert_int_eq(c->kind, SP_REDIS_FORWARD);
    ck_assert(c->flags & SP_REDIS_F_NOKEY_FIRST);
    c = sp_redis_command_by_fullname("script|kill", 11);
    ck_assert_int_eq(c->kind, SP_REDIS_UNSUPPORTED);
    c = sp_redis_command_by_fullname("client|setinfo", 14);   /* 7.2 */
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->kind, SP_REDIS_LOCAL);
    ck_assert_int_eq(c->arity, 4);
    ck_assert_ptr_nonnull(sp_redis_command_by_fullname("client|no-touch", 15));
    c = sp_redis_command_by_fullname("command|getkeys", 15);
    ck_assert_int_eq(c->local, SP_REDIS_LOCAL_COMMAND);
    c = sp_redis_command_lookup("xread", 5);
    ck_assert(c->flags & SP_REDIS_F_BLOCK_OPTION);
    ck_assert(c->flags & SP_REDIS_F_MULTIKEY);
    c = sp_redis_command_lookup("blpop", 5);
    ck_assert_int_eq(c->kind, SP_REDIS_FORWARD);
    ck_assert(c->flags & SP_REDIS_F_BLOCKING);
    ck_assert(c->flags & SP_REDIS_F_LISTED);
    c = sp_redis_command_lookup("wait", 4);
    ck_assert_int_eq(c->refuse, SP_REDIS_REFUSE_BLOCKING);
    c = sp_redis_command_lookup("scan", 4);
    ck_assert_int_eq(c->local, SP_REDIS_LOCAL_SCAN);
    c = sp_redis_command_lookup("keys", 4);
    ck_assert_int_eq(c->merge, SP_REDIS_MERGE_CONCAT);
    c = sp_redis_command_lookup("randomkey", 9);
    ck_assert_int_eq(c->merge, SP_REDIS_MERGE_RANDOM);
    c = sp_redis_command_lookup("ssubscribe", 10);
    ck_assert_int_eq(c->local, SP_REDIS_LOCAL_SUBSCRIBE);
    c = sp_redis_command_by_fullname("pubsub|numsub", 13);
    ck_assert_int_eq(c->local, SP_REDIS_LOCAL_PUBSUB);
    c = sp_redis_command_lookup("config", 6);
    ck_assert_int_eq(c->kind, SP_REDIS_UNSUPPORTED);
    ck_assert(!(c->flags & SP_REDIS_F_LISTED));
    c = sp_redis_command_lookup("get", 3);
    ck_assert(!(c->flags & SP_REDIS_F_MULTIKEY));
    ck_assert(c->acl & SP_REDIS_ACL(STRING));
}
END_TEST

/* ---- key positions ----------------------------------------------------------- */

/*
 * The key indexes sp_redis_keys_find gives for the words of `line` (split
 * at spaces), as "1 3 5"; "!" before them when it returns -1; "?" for an
 * unknown command.
 */
static const char *
keys_of(const char *line)
{
    static char out[256];
    char buf[512];
    struct sp_span argv[64];
    uint32_t argc = 0, keys[64], nkeys = 0;
    struct sp_seglist list = { 0 };
    const struct sp_redis_command *cmd;
    size_t len = strlen(line), at = 0;
    int rc;

    ck_assert_uint_lt(len, sizeof(buf));
    memcpy(buf, line, len);
    while (at < len) {
        size_t end = at;
        while (end < len && buf[end] != ' ') {
            end++;
        }
        ck_assert_uint_lt(argc, 64);
        argv[argc].offset = at;
        argv[argc].len = (uint32_t)(end - at);
        argc++;
        at = end + 1;
    }
    ck_assert_int_eq(sp_seglist_push(&list, NULL, (const uint8_t *)buf,
                                     (uint32_t)len), 0);
    cmd = sp_redis_command_lookup(buf, argv[0].len);
    if (cmd != NULL && cmd->nsubs > 0 && argc > 1) {
        cmd = sp_redis_subcommand_lookup(cmd, buf + argv[1].offset,
                                         argv[1].len);
    }
    if (cmd == NULL) {
        sp_seglist_free(NULL, &list);
        return "?";
    }
    struct sp_redis_args args = { &list, argv, argc };
    rc = sp_redis_keys_find(cmd, &args, keys, 64, &nkeys);
    out[0] = '\0';
    if (rc != 0) {
        strcat(out, "!");
    }
    for (uint32_t i = 0; i < nkeys && i < 64; i++) {
        char num[16];
        snprintf(num, sizeof(num), "%s%u", i > 0 || rc != 0 ? " " : "",
                 keys[i]);
        strcat(out, num);
    }
    sp_seglist_free(NULL, &list);
    return out;
}

START_TEST(test_cmdtab_key_positions)
{
    static const struct {
        const char *line;
        const char *keys;
    } cases[] = {
        /* index + range */
        { "GET k", "1" },
        { "SET k v EX 10", "1" },
        { "MSETNX a 1 b 2 c 3", "1 3 5" },
        { "SDIFF a b c", "1 2 3" },
        { "SINTERSTORE d a b", "1 2 3" },
        { "RENAME a b", "1 2" },
        { "SMOVE a b m", "1 2" },
        { "LMOVE a b LEFT RIGHT", "1 2" },
        { "RPOPLPUSH a b", "1 2" },
        { "COPY a b REPLACE", "1 2" },
        { "PFMERGE d a b", "1 2 3" },
        { "PFCOUNT a b", "1 2" },
        { "BITOP AND d a b", "2 3 4" },
        { "LCS a b LEN", "1 2" },
        { "GEOSEARCHSTORE d s FROMMEMBER m BYRADIUS 1 km", "1 2" },
        { "ZRANGESTORE d s 0 -1", "1 2" },
        { "OBJECT ENCODING k", "2" },
        { "XINFO STREAM s", "2" },
        { "XGROUP CREATE s g $", "2" },
        { "MEMORY USAGE k", "2" },
        { "BLPOP a b 0", "1 2" },
        /* index + keynum */
        { "EVAL s 2 a b x", "3 4" },
        { "EVALSHA s 0 x", "!" },
        { "EVAL_RO s 1 a", "3" },
        { "FCALL f 2 a b", "3 4" },
        { "ZUNION 2 a b WITHSCORES", "2 3" },
        { "ZUNIONSTORE d 2 a b", "1 3 4" },
        { "ZINTERCARD 2 a b LIMIT 1", "2 3" },
        { "SINTERCARD 3 a b c", "2 3 4" },
        { "LMPOP 2 a b LEFT", "2 3" },
        { "ZMPOP 1 a MIN COUNT 2", "2" },
        { "BLMPOP 0 2 a b LEFT", "3 4" },
        { "EVAL s 3 a b", "!" },               /* more keys than args */
        { "EVAL s -1 a", "!" },
        { "EVAL s x a", "!" },
        { "EVAL s 01 a", "!" },
        { "ZUNIONSTORE d 5 a", "! 1" },        /* the first spec fits */
        /* keyword + range (limit: XREAD's half) */
        { "XREAD STREAMS a b 0 0", "2 3" },
        { "XREAD COUNT 2 streams a 0", "4" },
        { "XREAD STREAMS a b 0", "2" },        /* odd: Redis refuses it */
        { "XREADGROUP GROUP g c COUNT 1 STREAMS a b > >", "7 8" },
        { "GEORADIUS k 0 0 1 km", "1" },
        { "GEORADIUS k 0 0 1 km STORE d", "1 7" },
        { "GEORADIUS k 0 0 1 km STOREDIST e", "1 7" },
        { "GEORADIUSBYMEMBER k m 1 km STORE d", "1 6" },
        /* SORT: STORE as sortGetKeys finds it; BY/GET patterns unknown */
        { "SORT k", "1" },
        { "SORT k BY w:* GET o:* STORE d", "1 7" },
        { "SORT k STORE a STORE b", "1 5" },
        { "SORT k LIMIT 0 1 STORE d", "1 6" },
        { "SORT k GET store", "1" },
        { "SORT_RO k BY x", "1" },
        /* no keys */
        { "LOLWUT", "" },
        { "PING", "" },
        { "NOSUCH k", "?" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = keys_of(cases[i].line);
        const char *want = cases[i].keys;

        ck_assert_msg(strcmp(got, want) == 0, "%s: keys '%s', expected '%s'",
                      cases[i].line, got, want);
    }
}
END_TEST

/* ---- arguments ------------------------------------------------------------------- */

/* The words of line (split at spaces) as a request's arguments in list
 * (over buf, which holds a copy of line), spans in argv[32]. */
static struct sp_redis_args
split_args(const char *line, char *buf, struct sp_span *argv,
           struct sp_seglist *list)
{
    uint32_t argc = 0;
    size_t len = strlen(line), at = 0;

    memcpy(buf, line, len);
    while (at < len && argc < 32) {
        size_t end = at;
        while (end < len && buf[end] != ' ') {
            end++;
        }
        argv[argc].offset = at;
        argv[argc++].len = (uint32_t)(end - at);
        at = end + 1;
    }
    ck_assert_int_eq(sp_seglist_push(list, NULL, (const uint8_t *)buf,
                                     (uint32_t)len), 0);
    return (struct sp_redis_args){ list, argv, argc };
}

static bool
block_option(const char *line)
{
    char buf[256];
    struct sp_span argv[32];
    struct sp_seglist list = { 0 };
    struct sp_redis_args args = split_args(line, buf, argv, &list);
    bool yes;

    yes = sp_redis_block_option(&args) != 0;
    if (yes) {
        ck_assert(sp_redis_arg_is(&args, sp_redis_block_option(&args),
                                  "block"));
    }
    ck_assert(sp_redis_arg_is(&args, 0, line[0] == 'X' ? "xread" : "x")
              || sp_redis_arg_is(&args, 0, "xreadgroup"));
    sp_seglist_free(NULL, &list);
    return yes;
}

START_TEST(test_cmdtab_block_option)
{
    ck_assert(!block_option("XREAD STREAMS a 0"));
    ck_assert(!block_option("XREAD COUNT 5 STREAMS a 0"));
    ck_assert(block_option("XREAD BLOCK 0 STREAMS a 0"));
    ck_assert(block_option("XREAD COUNT 1 block 10 STREAMS a 0"));
    ck_assert(!block_option("XREAD STREAMS block 0"));       /* a key */
    ck_assert(!block_option("XREADGROUP GROUP block c STREAMS a >"));
    ck_assert(block_option("XREADGROUP GROUP g c BLOCK 5 STREAMS a >"));
    ck_assert(!block_option("XREADGROUP GROUP g c NOACK STREAMS a >"));
}
END_TEST

/* A blocking call's timeout in ms, as sp_redis_block reads it. */
static int64_t
block_timeout(const char *line)
{
    char buf[256];
    struct sp_span argv[32];
    struct sp_seglist list = { 0 };
    struct sp_redis_args args = split_args(line, buf, argv, &list);
    const struct sp_redis_command *cmd =
        sp_redis_command_lookup(line, argv[0].len);
    int64_t ms;

    ck_assert_ptr_nonnull(cmd);
    ck_assert(cmd->flags & SP_REDIS_F_BLOCKING);
    ms = sp_redis_block_timeout(cmd, &args);
    sp_seglist_free(NULL, &list);
    return ms;
}

START_TEST(test_cmdtab_block_timeout)
{
    /* seconds, as a float, rounded up to ms; 0: for ever */
    ck_assert_int_eq(block_timeout("BLPOP a b 2"), 2000);
    ck_assert_int_eq(block_timeout("BRPOP a 0"), 0);
    ck_assert_int_eq(block_timeout("BLPOP a 0.0015"), 2);
    ck_assert_int_eq(block_timeout("BZPOPMIN z 1.5"), 1500);
    ck_assert_int_eq(block_timeout("BLMOVE a b LEFT RIGHT 0.25"), 250);
    ck_assert_int_eq(block_timeout("BRPOPLPUSH a b 3"), 3000);
    ck_assert_int_eq(block_timeout("BLPOP a 1e1"), 10000);
    /* BLMPOP and BZMPOP: the first argument */
    ck_assert_int_eq(block_timeout("BLMPOP 0.5 2 a b LEFT"), 500);
    ck_assert_int_eq(block_timeout("BZMPOP 7 1 z MIN COUNT 2"), 7000);
    /* Redis refuses these at once: not a blocking call */
    ck_assert_int_eq(block_timeout("BLPOP a -1"), -1);
    ck_assert_int_eq(block_timeout("BLPOP a x"), -1);
    ck_assert_int_eq(block_timeout("BLPOP a 1x"), -1);
    ck_assert_int_eq(block_timeout("BLPOP a inf"), -1);
    /* XREAD: only with BLOCK, its milliseconds */
    ck_assert_int_eq(block_timeout("XREAD BLOCK 150 STREAMS s $"), 150);
    ck_assert_int_eq(block_timeout("XREAD BLOCK 0 STREAMS s $"), 0);
    ck_assert_int_eq(block_timeout("XREAD COUNT 2 STREAMS s 0"), -1);
    ck_assert_int_eq(block_timeout("XREAD BLOCK -5 STREAMS s $"), -1);
    ck_assert_int_eq(block_timeout("XREADGROUP GROUP g c BLOCK 20 STREAMS s >"),
                     20);
}
END_TEST

/* ---- the parser finds the subcommand row ------------------------------------------ */

struct sub_out {
    const struct sp_redis_command *command;
    char     sub[SP_REDIS_MAX_NAME + 1];
    uint32_t nkeys;
    struct sp_span key;
};

struct sub_run {
    SP_TEST_RUN_HEAD;
    struct sub_out out[8];
};

SP_TEST_STEP(sub_step, struct sp_redis_req_parser, sp_redis_req_parse)

static void
sub_done(const struct sp_test_feed *f, void *r, uint64_t end)
{
    const struct sp_redis_req_parser *p = f->parser;
    struct sub_run *run = r;
    struct sub_out *o = &run->out[run->n++];

    (void)end;
    CHECK(run->n <= 8);
    o->command = p->command;
    memcpy(o->sub, p->sub, sizeof(o->sub));
    o->nkeys = p->nkeys;
    o->key = p->nkeys > 0 ? p->keys[0] : (struct sp_span){ 0, 0 };
}

static void
run_sub(const void *c, const uint8_t *data, size_t len, size_t split,
        size_t step, void *run)
{
    struct sp_redis_req_parser p;
    struct sp_span keys[4];
    struct sp_test_feed f = { sub_step, &p, &p.offset, &p.error, 0, c,
                              sub_done };

    sp_redis_req_init(&p, 0, keys, 4);
    sp_test_feed(&f, data, len, split, step, run, sizeof(struct sub_run));
}

static void
sub_same(const void *a, const void *b, size_t split, size_t step)
{
    const struct sub_out *x = a, *y = b;

    SP_SAME(x->command == y->command);
    SP_SAME(strcmp(x->sub, y->sub) == 0);
    SP_SAME(x->nkeys == y->nkeys);
    SP_SAME(x->key.offset == y->key.offset && x->key.len == y->key.len);
}

static const struct sp_test_way sub_way =
    SP_TEST_WAY(struct sub_run, run_sub, sub_same);

START_TEST(test_cmdtab_parser_subcommands)
{
    struct tbuf b = { 0 };
    struct sub_run run;
    const char *req =
        "*3\r\n$6\r\nOBJECT\r\n$8\r\nEnCoding\r\n$3\r\nkey\r\n"
        "*3\r\n$6\r\nobject\r\n$3\r\nfoo\r\n$1\r\nk\r\n"
        "object freq k2\r\n"
        "*2\r\n$3\r\nGET\r\n$6\r\nobject\r\n"
        "*4\r\n$6\r\nSCRIPT\r\n$6\r\nEXISTS\r\n$1\r\na\r\n$1\r\nb\r\n";
    tb_str(&b, req);
    sp_test_every_way(&sub_way, NULL, &b, true, &run);
    ck_assert_uint_eq(run.n, 5);
    ck_assert_str_eq(run.out[0].command->name, "object|encoding");
    ck_assert_str_eq(run.out[0].sub, "encoding");
    ck_assert_uint_eq(run.out[0].nkeys, 1);
    ck_assert_uint_eq(run.out[0].key.len, 3);
    ck_assert_uint_eq(run.out[0].key.offset, strlen(
        "*3\r\n$6\r\nOBJECT\r\n$8\r\nEnCoding\r\n$3\r\n"));
    /* an unknown subcommand leaves the container's row */
    ck_assert_str_eq(run.out[1].command->name, "object");
    ck_assert_str_eq(run.out[1].sub, "foo");
    ck_assert_uint_eq(run.out[1].nkeys, 0);
    /* inline: the row, no keys (found in the multibulk form) */
    ck_assert_str_eq(run.out[2].command->name, "object|freq");
    ck_assert_str_eq(run.out[3].command->name, "get");
    ck_assert_str_eq(run.out[3].sub, "");
    ck_assert_str_eq(run.out[4].command->name, "script|exists");
    ck_assert_uint_eq(run.out[4].nkeys, 0);
    sp_test_run_free(&run);
    tb_free(&b);
}
END_TEST

Suite *
sp_test_redis_cmdtab_suite(void)
{
    Suite *s = suite_create("redis_cmdtab");

    SP_TEST_CASE(s, "command table", 60, test_cmdtab_subcommands,
                 test_cmdtab_key_positions, test_cmdtab_block_option,
                 test_cmdtab_block_timeout,
                 test_cmdtab_parser_subcommands);
    return s;
}
