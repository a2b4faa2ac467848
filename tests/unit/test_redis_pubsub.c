/*
 * test_redis_pubsub.c — what pub/sub computes without a server: Redis's
 * glob (PUBSUB CHANNELS patterns, as redis-server matches them), and the
 * argument readers its commands use.
 */
#include <string.h>

#include "sp_test.h"
#include "sp_redis.h"
#include "sp_redis_proxy.h"
#include "sp_redis_pubsub.h"

static bool
glob(const char *pattern, const char *string)
{
    return sp_redis_glob(pattern, strlen(pattern), string, strlen(string));
}

START_TEST(test_glob_as_redis)
{
    ck_assert(glob("*", ""));
    ck_assert(glob("*", "anything"));
    ck_assert(glob("news:*", "news:1"));
    ck_assert(!glob("news:*", "new:1"));
    ck_assert(glob("h?llo", "hello"));
    ck_assert(!glob("h?llo", "hllo"));
    ck_assert(glob("h*llo", "hllo"));
    ck_assert(glob("h[ae]llo", "hallo"));
    ck_assert(!glob("h[ae]llo", "hillo"));
    ck_assert(glob("h[^e]llo", "hallo"));
    ck_assert(!glob("h[^e]llo", "hello"));
    ck_assert(glob("h[a-b]llo", "hbllo"));
    ck_assert(glob("h[b-a]llo", "hallo"));     /* a reversed range */
    ck_assert(!glob("h[a-b]llo", "hcllo"));
    ck_assert(glob("a\\*b", "a*b"));
    ck_assert(!glob("a\\*b", "axb"));
    ck_assert(glob("[\\]]", "]"));
    ck_assert(glob("a**b", "ab"));
    ck_assert(glob("*a*b*", "xxaxxbxx"));
    ck_assert(!glob("*a*b*", "xxbxxaxx"));
    ck_assert(!glob("abc", "abcd"));
    ck_assert(!glob("abcd", "abc"));
    ck_assert(glob("", ""));
    ck_assert(!glob("", "a"));
    ck_assert(!glob("a[", "a["));             /* an open set matches nothing */
}
END_TEST

START_TEST(test_arg_readers)
{
    struct sp_seglist list = { 0 };
    const char *req = "*4\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$2\r\n03\r\n"
                      "$20\r\n99999999999999999999\r\n";
    struct sp_msg msg;
    struct sp_span argv[8];
    struct sp_redis_args args;
    int64_t v = 0;
    char buf[8];

    memset(&msg, 0, sizeof(msg));
    ck_assert_int_eq(sp_seglist_push(&list, NULL, (const uint8_t *)req,
                                     (uint32_t)strlen(req)), 0);
    msg.req = list;
    ck_assert_int_eq(sp_redis_args_read(&msg, argv, 8, &args), 4);
    ck_assert_uint_eq(args.argc, 4);
    ck_assert(sp_redis_arg_is(&args, 0, "hello"));
    ck_assert(!sp_redis_arg_is(&args, 0, "hell"));
    ck_assert(sp_redis_arg_int(&args, 1, &v));
    ck_assert_int_eq(v, 3);
    ck_assert(!sp_redis_arg_int(&args, 2, &v));     /* a leading zero */
    ck_assert(!sp_redis_arg_int(&args, 3, &v));     /* past 64 bits */
    ck_assert(!sp_redis_arg_str(&args, 3, buf, sizeof(buf)));   /* too long */
    ck_assert(sp_redis_arg_str(&args, 2, buf, sizeof(buf)));
    ck_assert_str_eq(buf, "03");
    ck_assert(!sp_redis_arg_is(&args, 9, "x"));     /* no such argument */
    /* fewer spans than arguments: the count still says how many */
    ck_assert_int_eq(sp_redis_args_read(&msg, argv, 2, &args), 4);
    ck_assert_uint_eq(args.argc, 2);
    ck_assert(!sp_redis_arg_int(&args, 2, &v));
    sp_seglist_free(NULL, &msg.req);
}
END_TEST

Suite *
sp_test_redis_pubsub_suite(void)
{
    Suite *s = suite_create("redis_pubsub");

    SP_TEST_CASE(s, "glob and arguments", 10, test_glob_as_redis,
                 test_arg_readers);
    return s;
}
