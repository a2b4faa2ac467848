/*
 * test_cli.c — the command line: nutcracker's flags, defaults and limits,
 * --locate, --stat (with which -i counts seconds), and the exact texts of
 * -V, -h and -D.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_cli.h"
#include "sp_test.h"

#define ARGV(...) ((char *[]){ "shardproxy", __VA_ARGS__, NULL })
#define ARGC(argv) argc_of(argv)

static int
argc_of(char **argv)
{
    int n = 0;
    while (argv[n] != NULL) {
        n++;
    }
    return n;
}

/* Parse; return what was written to the error stream (caller frees). */
static char *
parse(char **argv, struct sp_options *opts, int *rc)
{
    char *text = NULL;
    size_t len = 0;
    FILE *err = open_memstream(&text, &len);

    ck_assert_ptr_nonnull(err);
    *rc = sp_cli_parse(ARGC(argv), argv, opts, err);
    fclose(err);
    return text;
}

static void
parse_fails(char **argv, const char *message)
{
    struct sp_options opts;
    int rc;
    char *text = parse(argv, &opts, &rc);

    ck_assert_int_eq(rc, -1);
    ck_assert_str_eq(text, message);
    free(text);
}

START_TEST(test_defaults)
{
    char *argv[] = { "shardproxy", NULL };
    struct sp_options o;
    int rc;
    char *text = parse(argv, &o, &rc);

    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(text, "");
    ck_assert(!o.help && !o.version && !o.test_conf && !o.daemonize
              && !o.describe_stats);
    ck_assert_int_eq(o.verbosity, 5);
    ck_assert_ptr_null(o.log_file);
    ck_assert_str_eq(o.conf_file, "conf/shardproxy.yml");
    ck_assert_uint_eq(o.stats_port, 22222);
    ck_assert_str_eq(o.stats_addr, "0.0.0.0");
    ck_assert_int_eq(o.stats_interval, 30000);
    ck_assert_ptr_null(o.pid_file);
    ck_assert_uint_eq(o.mbuf_size, 16384);
    ck_assert_ptr_null(o.locate_pool);
    free(text);
}
END_TEST

/* What every flag given sets, each to its own value. */
struct every_flag {
    int         verbosity;
    const char *log_file;
    const char *conf_file;
    unsigned    stats_port;
    const char *stats_addr;
    int         stats_interval;
    const char *pid_file;
    unsigned    mbuf_size;
};

static void
expect_every_flag(char **argv, const struct every_flag *want)
{
    struct sp_options o;
    int rc;
    char *text = parse(argv, &o, &rc);

    ck_assert_int_eq(rc, 0);
    ck_assert(o.test_conf && o.daemonize && o.describe_stats && o.version
              && o.help);
    ck_assert_int_eq(o.verbosity, want->verbosity);
    ck_assert_str_eq(o.log_file, want->log_file);
    ck_assert_str_eq(o.conf_file, want->conf_file);
    ck_assert_uint_eq(o.stats_port, want->stats_port);
    ck_assert_str_eq(o.stats_addr, want->stats_addr);
    ck_assert_int_eq(o.stats_interval, want->stats_interval);
    ck_assert_str_eq(o.pid_file, want->pid_file);
    ck_assert_uint_eq(o.mbuf_size, want->mbuf_size);
    free(text);
}

START_TEST(test_short_flags)
{
    static const struct every_flag want = {
        11, "/tmp/l", "x.yml", 2000, "127.0.0.1", 1000, "/tmp/p", 512
    };

    expect_every_flag(ARGV("-t", "-d", "-D", "-V", "-h", "-v", "11", "-o",
                           "/tmp/l", "-c", "x.yml", "-s", "2000", "-a",
                           "127.0.0.1", "-i", "1000", "-p", "/tmp/p", "-m",
                           "512"), &want);
}
END_TEST

START_TEST(test_long_flags)
{
    static const struct every_flag want = {
        0, "/o", "y.yml", 1, "::1", 5, "/p", 16777216
    };

    expect_every_flag(ARGV("--test-conf", "--daemonize", "--describe-stats",
                           "--version", "--help", "--verbose=0",
                           "--output=/o", "--conf-file", "y.yml",
                           "--stats-port=1", "--stats-addr=::1",
                           "--stats-interval=5", "--pid-file=/p",
                           "--mbuf-size=16777216"), &want);
}
END_TEST

START_TEST(test_locate)
{
    char **argv = ARGV("-c", "a.yml", "--locate", "alpha", "k1", "k2");
    struct sp_options o;
    int rc;
    char *text = parse(argv, &o, &rc);

    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(o.locate_pool, "alpha");
    ck_assert_int_eq(o.nlocate_keys, 2);
    ck_assert_str_eq(o.locate_keys[0], "k1");
    ck_assert_str_eq(o.locate_keys[1], "k2");
    free(text);

    argv = ARGV("--locate", "alpha", "--", "-dash");
    text = parse(argv, &o, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(o.nlocate_keys, 1);
    ck_assert_str_eq(o.locate_keys[0], "-dash");
    free(text);

    argv = ARGV("--locate", "alpha");
    text = parse(argv, &o, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(o.nlocate_keys, 0);
    free(text);
}
END_TEST

START_TEST(test_stat)
{
    char **argv = ARGV("--stat");
    struct sp_options o;
    int rc;
    char *text = parse(argv, &o, &rc);

    /* the view reads this machine, every second, by default */
    ck_assert_int_eq(rc, 0);
    ck_assert(o.stat);
    ck_assert_str_eq(o.stats_addr, SP_STAT_ADDR);
    ck_assert_int_eq(o.stats_port, SP_DEFAULT_STATS_PORT);
    ck_assert_uint_eq(o.stat_interval_ms, 1000);
    free(text);

    /* with --stat -i counts seconds, before or after it */
    argv = ARGV("-i", "2.5", "-s", "9999", "-a", "10.0.0.1", "--stat");
    text = parse(argv, &o, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(o.stat_interval_ms, 2500);
    ck_assert_int_eq(o.stats_port, 9999);
    ck_assert_str_eq(o.stats_addr, "10.0.0.1");
    ck_assert_int_eq(o.stats_interval, SP_DEFAULT_STATS_INTERVAL);
    free(text);
    argv = ARGV("--stat", "-i", ".1");
    text = parse(argv, &o, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(o.stat_interval_ms, 100);
    free(text);

    /* without it, -i stays milliseconds and -a the stats port's address */
    argv = ARGV("-i", "250", "-a", "10.0.0.2");
    text = parse(argv, &o, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert(!o.stat);
    ck_assert_int_eq(o.stats_interval, 250);
    ck_assert_str_eq(o.stats_addr, "10.0.0.2");
    free(text);

    parse_fails(ARGV("--stat", "-i", "0.09"),
                "shardproxy: option -i requires a number of seconds between "
                "0.1 and 3600 with --stat\n");
    parse_fails(ARGV("--stat", "-i", "3600.5"),
                "shardproxy: option -i requires a number of seconds between "
                "0.1 and 3600 with --stat\n");
    parse_fails(ARGV("--stat", "-i", "1s"),
                "shardproxy: option -i requires a number of seconds between "
                "0.1 and 3600 with --stat\n");
    parse_fails(ARGV("-i", "0.5"),
                "shardproxy: option -i requires a number of milliseconds "
                "between 1 and 86400000\n");
}
END_TEST

START_TEST(test_refusals)
{
    parse_fails(ARGV("-v", "12"),
                "shardproxy: option -v requires a number between 0 and 11\n");
    parse_fails(ARGV("-v", "x"),
                "shardproxy: option -v requires a number between 0 and 11\n");
    parse_fails(ARGV("-m", "511"),
                "shardproxy: option -m requires a size between 512 and "
                "16777216 bytes\n");
    parse_fails(ARGV("-m", "16777217"),
                "shardproxy: option -m requires a size between 512 and "
                "16777216 bytes\n");
    parse_fails(ARGV("-s", "0"),
                "shardproxy: option -s requires a port number between 1 and "
                "65535\n");
    parse_fails(ARGV("-s", "65536"),
                "shardproxy: option -s requires a port number between 1 and "
                "65535\n");
    parse_fails(ARGV("-i", "-5"),
                "shardproxy: option -i requires a number of milliseconds "
                "between 1 and 86400000\n");
    parse_fails(ARGV("-x"),
                "shardproxy: invalid option -- 'x'\n"
                "Try 'shardproxy --help' for more information.\n");
    parse_fails(ARGV("--bogus"),
                "shardproxy: invalid option '--bogus'\n"
                "Try 'shardproxy --help' for more information.\n");
    parse_fails(ARGV("-c"), "shardproxy: option -c requires a value\n");
    parse_fails(ARGV("--locate"),
                "shardproxy: option --locate requires a value\n");
    parse_fails(ARGV("stray"),
                "shardproxy: unexpected argument 'stray' (keys are given only "
                "with --locate)\n");
}
END_TEST

static char *
capture(void (*print)(FILE *))
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    print(out);
    fclose(out);
    return text;
}

START_TEST(test_version_text)
{
    char *text = capture(sp_cli_version);

    ck_assert_str_eq(text, "This is shardproxy-" SP_VERSION_STRING "\n");
    free(text);
}
END_TEST

START_TEST(test_usage_text)
{
    char *text = capture(sp_cli_usage);
    static const char *const flags[] = {
        "-h, --help", "-V, --version", "-t, --test-conf", "-d, --daemonize",
        "-D, --describe-stats", "-v, --verbose=N", "-o, --output=S",
        "-c, --conf-file=S", "-s, --stats-port=N", "-a, --stats-addr=S",
        "-i, --stats-interval=N", "-p, --pid-file=S", "-m, --mbuf-size=N",
        "--locate POOL", "--stat",
    };

    ck_assert(strncmp(text, "This is shardproxy-", 19) == 0);
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        ck_assert_msg(strstr(text, flags[i]) != NULL, "usage lacks %s",
                      flags[i]);
    }
    ck_assert_ptr_nonnull(strstr(text, "(default: 16384 bytes)"));
    free(text);
}
END_TEST

START_TEST(test_describe_stats_text)
{
    char *text = capture(sp_cli_describe_stats);
    static const char expect[] =
        "This is shardproxy-" SP_VERSION_STRING "\n"
        "\n"
        "pool stats:\n"
        "  client_eof          \"# eof on client connections\"\n"
        "  client_err          \"# errors on client connections\"\n"
        "  client_connections  \"# active client connections\"\n"
        "  server_ejects       \"# times backend server was ejected\"\n"
        "  forward_error       \"# times we encountered a forwarding error\"\n"
        "  fragments           \"# fragments created from a multi-vector request\"\n"
        "  blocked_clients     \"# clients waiting in a blocking command (BLPOP ...)\"\n"
        "  blocking_refused    \"# blocking commands refused: blocking_connections in use\"\n"
        "\n"
        "server stats:\n"
        "  server_eof          \"# eof on server connections\"\n"
        "  server_err          \"# errors on server connections\"\n"
        "  server_timedout     \"# timeouts on server connections\"\n"
        "  server_connections  \"# active server connections\"\n"
        "  server_ejected_at   \"timestamp when server was ejected in usec since epoch\"\n"
        "  requests            \"# requests\"\n"
        "  request_bytes       \"total request bytes\"\n"
        "  responses           \"# responses\"\n"
        "  response_bytes      \"total response bytes\"\n"
        "  in_queue            \"# requests in incoming queue\"\n"
        "  in_queue_bytes      \"current request bytes in incoming queue\"\n"
        "  out_queue           \"# requests in outgoing queue\"\n"
        "  out_queue_bytes     \"current request bytes in outgoing queue\"\n"
        "  blocking_connections\"# connections for blocking commands (lent or idle)\"\n"
        "  lent_connections    \"# of them lent to a blocked client now\"\n"
        "  moved               \"# -MOVED redirections the node answered (Redis Cluster)\"\n"
        "  ask                 \"# -ASK redirections the node answered (Redis Cluster)\"\n";

    ck_assert_str_eq(text, expect);
    free(text);
}
END_TEST

Suite *
sp_test_cli_suite(void)
{
    return SP_TEST_SUITE("cli", test_defaults, test_short_flags,
                         test_long_flags, test_locate, test_stat, test_refusals,
                         test_version_text, test_usage_text,
                         test_describe_stats_text);
}
