/*
 * sp_cli.h — the command line: nutcracker's flags with its long names,
 * defaults and limits, plus shardproxy's own (--locate, -k/--signal,
 * --stat, with which -i counts seconds). Parsing fills a
 * struct and prints nothing but the reason of a refusal; the texts of
 * --help, --version and --describe-stats are written to a caller's stream.
 */
#ifndef SP_CLI_H
#define SP_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SP_VERSION_STRING        "0.1.0"

#define SP_DEFAULT_CONF_FILE     "conf/shardproxy.yml"
#define SP_DEFAULT_STATS_PORT    22222
#define SP_DEFAULT_STATS_ADDR    "0.0.0.0"
#define SP_DEFAULT_STATS_INTERVAL 30000     /* ms */
#define SP_DEFAULT_MBUF_SIZE     16384
#define SP_MBUF_SIZE_MIN         512
#define SP_MBUF_SIZE_MAX         16777216
#define SP_STAT_ADDR             "127.0.0.1"  /* --stat without -a */
#define SP_STAT_INTERVAL_MS      1000         /* --stat without -i */

struct sp_options {
    bool        help;
    bool        version;
    bool        test_conf;
    bool        daemonize;
    bool        describe_stats;
    int         verbosity;          /* 0..11 */
    const char *log_file;           /* NULL: stderr */
    const char *conf_file;
    uint16_t    stats_port;
    const char *stats_addr;
    int         stats_interval;     /* ms */
    const char *pid_file;           /* NULL: none */
    size_t      mbuf_size;
    const char *locate_pool;        /* --locate POOL: non-NULL */
    char      **locate_keys;        /* the KEY arguments after the flags */
    int         nlocate_keys;       /* 0: keys come on stdin, one a line */
    const char *signal_verb;        /* -k: reload reopen quit stop upgrade */
    int         signal_number;      /* ... as the signal it sends */
    bool        stat;               /* --stat: the live view of a running
                                       proxy's stats port (-a, -s) */
    uint32_t    stat_interval_ms;   /* --stat: -i in seconds, as ms */
};

/* Fill opts with the defaults, then apply argv. Returns 0, or -1 after
 * writing "shardproxy: <why>" to err. */
int sp_cli_parse(int argc, char **argv, struct sp_options *opts, FILE *err);

void sp_cli_usage(FILE *out);
void sp_cli_version(FILE *out);
void sp_cli_describe_stats(FILE *out);

#endif /* SP_CLI_H */
