/*
 * sp_cli.c — command-line parsing and the help, version and stats texts
 * (see sp_cli.h).
 */
#include "sp_cli.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "sp_log.h"
#include "sp_stats_fields.h"

enum {
    SP_OPT_LOCATE = 256,        /* long-only options */
    SP_OPT_STAT,
};

static const struct option sp_cli_long_options[] = {
    { "help",           no_argument,       NULL, 'h' },
    { "version",        no_argument,       NULL, 'V' },
    { "test-conf",      no_argument,       NULL, 't' },
    { "daemonize",      no_argument,       NULL, 'd' },
    { "describe-stats", no_argument,       NULL, 'D' },
    { "verbose",        required_argument, NULL, 'v' },
    { "output",         required_argument, NULL, 'o' },
    { "conf-file",      required_argument, NULL, 'c' },
    { "stats-port",     required_argument, NULL, 's' },
    { "stats-interval", required_argument, NULL, 'i' },
    { "stats-addr",     required_argument, NULL, 'a' },
    { "pid-file",       required_argument, NULL, 'p' },
    { "mbuf-size",      required_argument, NULL, 'm' },
    { "locate",         required_argument, NULL, SP_OPT_LOCATE },
    { "signal",         required_argument, NULL, 'k' },
    { "stat",           no_argument,       NULL, SP_OPT_STAT },
    { NULL,             0,                 NULL, 0 }
};

static const char sp_cli_short_options[] = ":hVtdDv:o:c:s:i:a:p:m:k:";

/* -k VERB: what an operator asks a running master, and the signal it is. */
static const struct {
    const char *verb;
    int         signo;
} sp_cli_verbs[] = {
    { "reload",  SIGHUP },
    { "reopen",  SIGUSR1 },
    { "quit",    SIGQUIT },
    { "stop",    SIGTERM },
    { "upgrade", SIGUSR2 },
};

/* A whole decimal number in [min, max]. */
static int
sp_cli_number(const char *s, long min, long max, long *out)
{
    char *end;
    long value;

    if (s == NULL || *s < '0' || *s > '9') {
        return -1;
    }
    value = strtol(s, &end, 10);
    if (*end != '\0' || value < min || value > max) {
        return -1;
    }
    *out = value;
    return 0;
}

/* --stat's -i: seconds, a decimal fraction allowed, in [0.1, 3600]. */
static int
sp_cli_seconds(const char *s, uint32_t *out_ms)
{
    char *end;
    double value;

    if (s == NULL || ((*s < '0' || *s > '9') && *s != '.')) {
        return -1;
    }
    value = strtod(s, &end);
    if (*end != '\0' || !(value >= 0.1 && value <= 3600)) {
        return -1;
    }
    *out_ms = (uint32_t)(value * 1000 + 0.5);
    return 0;
}

static void
sp_cli_defaults(struct sp_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->verbosity = SP_LOG_LEVEL_DEFAULT;
    opts->conf_file = SP_DEFAULT_CONF_FILE;
    opts->stats_port = SP_DEFAULT_STATS_PORT;
    opts->stats_addr = SP_DEFAULT_STATS_ADDR;
    opts->stats_interval = SP_DEFAULT_STATS_INTERVAL;
    opts->mbuf_size = SP_DEFAULT_MBUF_SIZE;
    opts->stat_interval_ms = SP_STAT_INTERVAL_MS;
}

int
sp_cli_parse(int argc, char **argv, struct sp_options *opts, FILE *err)
{
    const char *interval = NULL, *addr = NULL;
    long value;
    int c;

    sp_cli_defaults(opts);
    optind = 0;         /* glibc: full reinitialisation, for repeated use */
    opterr = 0;

    while ((c = getopt_long(argc, argv, sp_cli_short_options,
                            sp_cli_long_options, NULL)) != -1) {
        switch (c) {
        case 'h':
            opts->help = true;
            break;
        case 'V':
            opts->version = true;
            break;
        case 't':
            opts->test_conf = true;
            break;
        case 'd':
            opts->daemonize = true;
            break;
        case 'D':
            opts->describe_stats = true;
            break;
        case 'v':
            if (sp_cli_number(optarg, SP_LOG_LEVEL_MIN, SP_LOG_LEVEL_MAX,
                              &value) != 0) {
                fprintf(err, "shardproxy: option -v requires a number "
                        "between %d and %d\n", SP_LOG_LEVEL_MIN,
                        SP_LOG_LEVEL_MAX);
                return -1;
            }
            opts->verbosity = (int)value;
            break;
        case 'o':
            opts->log_file = optarg;
            break;
        case 'c':
            opts->conf_file = optarg;
            break;
        case 's':
            if (sp_cli_number(optarg, 1, 65535, &value) != 0) {
                fprintf(err, "shardproxy: option -s requires a port number "
                        "between 1 and 65535\n");
                return -1;
            }
            opts->stats_port = (uint16_t)value;
            break;
        case 'i':
            interval = optarg;      /* ms, or seconds with --stat: below */
            break;
        case 'a':
            addr = optarg;
            break;
        case 'p':
            opts->pid_file = optarg;
            break;
        case 'm':
            if (sp_cli_number(optarg, SP_MBUF_SIZE_MIN, SP_MBUF_SIZE_MAX,
                              &value) != 0) {
                fprintf(err, "shardproxy: option -m requires a size between "
                        "%d and %d bytes\n", SP_MBUF_SIZE_MIN,
                        SP_MBUF_SIZE_MAX);
                return -1;
            }
            opts->mbuf_size = (size_t)value;
            break;
        case SP_OPT_LOCATE:
            opts->locate_pool = optarg;
            break;
        case SP_OPT_STAT:
            opts->stat = true;
            break;
        case 'k':
            for (size_t i = 0; i < sizeof(sp_cli_verbs) / sizeof(sp_cli_verbs[0]);
                 i++) {
                if (strcmp(optarg, sp_cli_verbs[i].verb) == 0) {
                    opts->signal_verb = sp_cli_verbs[i].verb;
                    opts->signal_number = sp_cli_verbs[i].signo;
                }
            }
            if (opts->signal_verb == NULL) {
                fprintf(err, "shardproxy: option -k requires one of reload, "
                        "reopen, quit, stop, upgrade\n");
                return -1;
            }
            break;
        case ':':
            if (optopt > 0 && optopt < SP_OPT_LOCATE) {
                fprintf(err, "shardproxy: option -%c requires a value\n",
                        optopt);
            } else {
                fprintf(err, "shardproxy: option %s requires a value\n",
                        argv[optind - 1]);
            }
            return -1;
        default:
            if (optopt > 0 && optopt < SP_OPT_LOCATE) {
                fprintf(err, "shardproxy: invalid option -- '%c'\n", optopt);
            } else {
                fprintf(err, "shardproxy: invalid option '%s'\n",
                        argv[optind - 1]);
            }
            fprintf(err, "Try 'shardproxy --help' for more information.\n");
            return -1;
        }
    }

    if (opts->stat) {
        /* the view connects: to this machine unless told otherwise */
        opts->stats_addr = addr != NULL ? addr : SP_STAT_ADDR;
        if (interval != NULL
            && sp_cli_seconds(interval, &opts->stat_interval_ms) != 0) {
            fprintf(err, "shardproxy: option -i requires a number of "
                    "seconds between 0.1 and 3600 with --stat\n");
            return -1;
        }
    } else {
        if (addr != NULL) {
            opts->stats_addr = addr;
        }
        if (interval != NULL) {
            if (sp_cli_number(interval, 1, 86400000, &value) != 0) {
                fprintf(err, "shardproxy: option -i requires a number of "
                        "milliseconds between 1 and 86400000\n");
                return -1;
            }
            opts->stats_interval = (int)value;
        }
    }

    if (optind < argc) {
        if (opts->locate_pool == NULL) {
            fprintf(err, "shardproxy: unexpected argument '%s' (keys are "
                    "given only with --locate)\n", argv[optind]);
            return -1;
        }
        opts->locate_keys = argv + optind;
        opts->nlocate_keys = argc - optind;
    }
    return 0;
}

void
sp_cli_version(FILE *out)
{
    fprintf(out, "This is shardproxy-%s\n", SP_VERSION_STRING);
}

void
sp_cli_usage(FILE *out)
{
    sp_cli_version(out);
    fprintf(out,
        "\n"
        "Usage: shardproxy [-?hVdDt] [-v verbosity level] [-o output file]\n"
        "                  [-c conf file] [-s stats port] [-a stats addr]\n"
        "                  [-i stats interval] [-p pid file] [-m mbuf size]\n"
        "       shardproxy [-c conf file] --locate POOL [KEY...]\n"
        "       shardproxy -p pid file -k reload|reopen|quit|stop|upgrade\n"
        "       shardproxy --stat [-a stats addr] [-s stats port] [-i seconds]\n"
        "\n"
        "Options:\n"
        "  -h, --help             : this help\n"
        "  -V, --version          : show version and exit\n"
        "  -t, --test-conf        : test configuration for syntax errors and exit\n"
        "  -d, --daemonize        : run as a daemon\n"
        "  -D, --describe-stats   : print stats description and exit\n"
        "  -v, --verbose=N        : set logging level (default: %d, min: %d, max: %d)\n"
        "  -o, --output=S         : set logging file (default: stderr)\n"
        "  -c, --conf-file=S      : set configuration file (default: %s)\n"
        "  -s, --stats-port=N     : set stats monitoring port (default: %d)\n"
        "  -a, --stats-addr=S     : set stats monitoring ip (default: %s)\n"
        "  -i, --stats-interval=N : set stats aggregation interval in msec (default: %d msec)\n"
        "  -p, --pid-file=S       : set pid file (default: off)\n"
        "  -m, --mbuf-size=N      : set size of mbuf chunk in bytes (default: %d bytes)\n"
        "      --locate POOL      : print the server owning each KEY (or each line\n"
        "                           of stdin) in POOL, and exit\n"
        "  -k, --signal=S         : signal the master whose pid is in the pid file:\n"
        "                           reload (HUP), reopen (USR1), quit (QUIT),\n"
        "                           stop (TERM), upgrade (USR2)\n"
        "      --stat             : live view of the proxy whose stats port is\n"
        "                           -a (default: %s) -s, every -i seconds\n"
        "                           (default: %d)\n",
        SP_LOG_LEVEL_DEFAULT, SP_LOG_LEVEL_MIN, SP_LOG_LEVEL_MAX,
        SP_DEFAULT_CONF_FILE, SP_DEFAULT_STATS_PORT, SP_DEFAULT_STATS_ADDR,
        SP_DEFAULT_STATS_INTERVAL, SP_DEFAULT_MBUF_SIZE, SP_STAT_ADDR,
        SP_STAT_INTERVAL_MS / 1000);
}

void
sp_cli_describe_stats(FILE *out)
{
    sp_cli_version(out);
    fprintf(out, "\npool stats:\n");
#define SP_DESCRIBE(name, kind, desc) \
    fprintf(out, "  %-20s\"%s\"\n", #name, desc);
    SP_STATS_POOL_FIELDS(SP_DESCRIBE)
    SP_STATS_POOL_OWN_FIELDS(SP_DESCRIBE)
    fprintf(out, "\nserver stats:\n");
    SP_STATS_SERVER_FIELDS(SP_DESCRIBE)
    SP_STATS_SERVER_OWN_FIELDS(SP_DESCRIBE)
#undef SP_DESCRIBE
}
