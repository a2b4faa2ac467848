/*
 * test_stat.c — the tools' JSON reader (values, escapes, errors with their
 * offset, bounded nesting) and one sample of `shardproxy --stat` drawn from
 * two stats documents: rates over the interval, interval percentiles from
 * the bucket counts, ejections, worker lines, the piped and terminal forms.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_json.h"
#include "sp_stat.h"
#include "sp_test.h"

static struct sp_json *
parse(const char *text)
{
    char err[128] = "";
    struct sp_json *j = sp_json_parse(text, strlen(text), err, sizeof(err));

    ck_assert_msg(j != NULL, "%s: %s", text, err);
    return j;
}

START_TEST(test_json_values)
{
    struct sp_json *j = parse(" {\"a\":1, \"b\":-2.5e3, \"c\":\"x\\\"\\n\\u00e9\\u20ac\","
                              " \"d\":[true,false,null,[],{}], \"e\":{}} ");
    const struct sp_json *d;

    ck_assert_int_eq(j->type, SP_JSON_OBJECT);
    ck_assert(sp_json_number(j, "a", 0) == 1);
    ck_assert(sp_json_number(j, "b", 0) == -2500);
    ck_assert(sp_json_number(j, "c", 7) == 7);         /* not a number */
    ck_assert(sp_json_number(j, "zz", 7) == 7);        /* absent */
    ck_assert_str_eq(sp_json_get(j, "c")->string, "x\"\n\xc3\xa9\xe2\x82\xac");
    d = sp_json_get(j, "d");
    ck_assert_int_eq(d->type, SP_JSON_ARRAY);
    ck_assert_int_eq(d->child->type, SP_JSON_BOOL);
    ck_assert(d->child->number == 1);
    ck_assert(d->child->next->number == 0);
    ck_assert_int_eq(d->child->next->next->type, SP_JSON_NULL);
    ck_assert_ptr_null(d->child->next->next->next->child);
    ck_assert_ptr_null(sp_json_get(d, "x"));           /* not an object */
    ck_assert_int_eq(sp_json_get(j, "e")->type, SP_JSON_OBJECT);
    sp_json_free(j);
}
END_TEST

START_TEST(test_json_errors)
{
    static const struct {
        const char *text;
        const char *err;
    } cases[] = {
        { "", "unexpected end at offset 0" },
        { "{\"a\":1,}", "expected a member name at offset 7" },
        { "{\"a\" 1}", "expected ':' at offset 5" },
        { "[1 2]", "expected ',' or ']' at offset 3" },
        { "{\"a\":1", "expected ',' or '}' at offset 6" },
        { "\"abc", "unterminated string at offset 4" },
        { "\"\\q\"", "bad escape at offset 3" },
        { "\"\\u12\"", "bad \\u escape at offset 3" },
        { "tru", "unexpected word at offset 0" },
        { "1 2", "text after the value at offset 2" },
        { "{\"a\":x}", "unexpected character at offset 5" },
    };
    char deep[200];

    for (size_t i = 0; i < NELEMS(cases); i++) {
        char err[128] = "";
        struct sp_json *j = sp_json_parse(cases[i].text, strlen(cases[i].text),
                                          err, sizeof(err));
        ck_assert_msg(j == NULL, "%s parsed", cases[i].text);
        ck_assert_str_eq(err, cases[i].err);
    }
    /* nesting is bounded: 65 levels are refused, 64 pass */
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    char err[128] = "";
    ck_assert_ptr_null(sp_json_parse(deep, 130, err, sizeof(err)));
    ck_assert_str_eq(err, "nested too deep at offset 64");
    struct sp_json *ok = sp_json_parse(deep + 1, 128, err, sizeof(err));
    ck_assert_ptr_nonnull(ok);
    sp_json_free(ok);
}
END_TEST

/* Two reads 2 s apart: 2000 requests more (1000 a second), one server
 * error, a fresh ejection of s1; latency buckets gain 1000 at <= 100 us
 * and 1000 at (200, 500] us. */
#define SP_DOC(ts, req, bytes, err, ejects, ejected, b0, b2, wreq)            \
    "{\"service\":\"shardproxy\", \"source\":\"box\", \"version\":\"9.9.9\", " \
    "\"uptime\":" #ts ", \"timestamp\":" #ts ", \"workers\":1, "              \
    "\"generation\":1, \"reloads\":0, \"reload_failed\":0, \"respawns\":0, "  \
    "\"per_worker\":[{\"worker\":0, \"pid\":42, \"clients\":3, "              \
    "\"curr_connections\":5, \"requests\":" #wreq ", \"request_bytes\":0, "   \
    "\"response_bytes\":0, \"server_errors\":0, \"clients_held\":0, "         \
    "\"memory_used\":1000}], "                                                \
    "\"p\": {\"client_eof\":0, \"client_err\":0, \"client_connections\":3, "  \
    "\"server_ejects\":" #ejects ", \"forward_error\":0, \"fragments\":0, "   \
    "\"latency_p50_us\":1, \"latency_buckets\":[" #b0 ",0," #b2               \
    ",0,0,0,0,0,0,0,0,0,0,0,0,0,0], "                                         \
    "\"s1\": {\"server_err\":" #err ", \"server_timedout\":0, "               \
    "\"server_connections\":2, \"server_ejected_at\":" #ejected ", "          \
    "\"requests\":" #req ", \"request_bytes\":" #bytes ", "                   \
    "\"responses\":0, \"response_bytes\":0}}}"

static char *
render(bool human)
{
    struct sp_json *prev = parse(SP_DOC(100, 5000, 50000, 0, 0, 0, 10, 10, 0));
    struct sp_json *cur = parse(SP_DOC(102, 7000, 90000, 1, 1, 101000000,
                                       1010, 1010, 4000));
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    sp_stat_render(out, prev, cur, 2.0, human);
    fclose(out);
    sp_json_free(prev);
    sp_json_free(cur);
    return text;
}

START_TEST(test_stat_sample_piped)
{
    char *text = render(false);
    char *pool = strstr(text, "\np ");
    char *server = strstr(text, "\n  s1 ");
    char *worker = strstr(text, "\n#0 ");
    char name[32], c[10][32];

    ck_assert_ptr_nonnull(strstr(text, "shardproxy 9.9.9 on box, up 0d 00:01:42, "
                                       "1 workers, generation 1"));
    ck_assert_ptr_nonnull(pool);
    ck_assert_int_eq(sscanf(pool, "%31s %31s %31s %31s %31s %31s %31s %31s %31s %31s",
                            name, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
                            c[8]), 10);
    ck_assert_str_eq(c[0], "1000");             /* requests/s */
    ck_assert_str_eq(c[1], "0");                /* one error in 2 s: 0.5 */
    ck_assert_str_eq(c[2], "20000");            /* bytes in/s */
    ck_assert_str_eq(c[4], "3");                /* clients */
    ck_assert_str_eq(c[5], "2");                /* server connections */
    ck_assert_str_eq(c[6], "0.100");            /* p50: the 100 us bucket's top */
    /* p99 inside (200, 500] us: 99% is 980 of its 1000, interpolated */
    ck_assert_double_eq_tol(atof(c[7]), 0.200 + 0.300 * 980 / 1000.0, 0.002);
    ck_assert_str_eq(c[8], "1");                /* one ejection this interval */
    ck_assert_ptr_nonnull(server);
    ck_assert_ptr_nonnull(strstr(server, " now\n"));
    ck_assert_ptr_nonnull(worker);
    ck_assert_int_eq(sscanf(worker, "%31s %31s %31s %31s %31s", name, c[0], c[1],
                            c[2], c[3]), 5);
    ck_assert_str_eq(c[0], "42");
    ck_assert_str_eq(c[3], "2000");             /* worker requests/s */
    ck_assert_ptr_null(strchr(text, '\033'));
    free(text);
}
END_TEST

START_TEST(test_stat_sample_terminal)
{
    char *text = render(true);

    char *pool = strstr(text, "\np ");
    char *worker = strstr(text, "\n#0 ");

    /* k/M units past 999.95; below, whole numbers */
    ck_assert_ptr_nonnull(pool);
    ck_assert_ptr_nonnull(strstr(pool, "p                             1.0k        0     20.0k"));
    ck_assert_ptr_nonnull(worker);
    ck_assert_ptr_nonnull(strstr(worker, "     2.0k "));   /* requests/s */
    ck_assert_ptr_nonnull(strstr(worker, "      1.0k\n")); /* memory 1000 */
    free(text);
}
END_TEST

START_TEST(test_stat_first_sample)
{
    struct sp_json *cur = parse(SP_DOC(102, 7000, 90000, 1, 1, 51000000,
                                       1010, 1010, 4000));
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    /* no previous read: no rates, the ejection's age */
    sp_stat_render(out, NULL, cur, 1.0, false);
    fclose(out);
    ck_assert_ptr_nonnull(strstr(text, "\np                                -        -"));
    ck_assert_ptr_nonnull(strstr(text, " 51s ago\n"));
    sp_json_free(cur);
    free(text);
}
END_TEST

Suite *
sp_test_stat_suite(void)
{
    Suite *s = suite_create("stat");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_json_values);
    tcase_add_test(tc, test_json_errors);
    tcase_add_test(tc, test_stat_sample_piped);
    tcase_add_test(tc, test_stat_sample_terminal);
    tcase_add_test(tc, test_stat_first_sample);
    suite_add_tcase(s, tc);
    return s;
}
