/*
 * sp_main.c — the program: parse the command line, then do the one thing it
 * asks (help, version, stats description, test the configuration, locate
 * keys, or serve). Exit codes: 0 done, 1 bad input (flags, configuration)
 * or a failure to start.
 *
 * Signals: INT, TERM and QUIT stop the process (handlers only set a flag
 * the loop reads); SIGPIPE is ignored. The master/worker signal set of
 * DESIGN.md §3 comes with the master.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sp_cli.h"
#include "sp_conf.h"
#include "sp_locate.h"
#include "sp_log.h"
#include "sp_worker.h"

static int
sp_main_test_conf(const struct sp_options *opts)
{
    struct sp_conf *conf = NULL;
    char err[SP_CONF_ERRLEN];

    if (sp_conf_load(opts->conf_file, &conf, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        fprintf(stderr, "shardproxy: configuration file '%s' syntax is "
                "invalid\n", opts->conf_file);
        return EXIT_FAILURE;
    }
    sp_conf_free(conf);
    fprintf(stderr, "shardproxy: configuration file '%s' syntax is ok\n",
            opts->conf_file);
    return EXIT_SUCCESS;
}

static int
sp_main_locate(const struct sp_options *opts)
{
    struct sp_conf *conf = NULL;
    char err[SP_CONF_ERRLEN];
    int rc;

    if (sp_conf_load(opts->conf_file, &conf, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return EXIT_FAILURE;
    }
    rc = sp_locate(conf, opts->locate_pool, opts->locate_keys,
                   opts->nlocate_keys, stdin, stdout, stderr);
    sp_conf_free(conf);
    if (fflush(stdout) != 0) {
        rc = -1;
    }
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* The one flag the signal handlers set (async-signal-safe); see below. */
struct sp_main_signals {
    volatile sig_atomic_t stop;
};

static struct sp_main_signals *sp_main_signals_ctx;

static void
sp_main_on_signal(int signo)
{
    (void)signo;
    sp_main_signals_ctx->stop = 1;
}

static int
sp_main_signals_install(struct sp_main_signals *sig)
{
    struct sigaction sa;

    sp_main_signals_ctx = sig;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = sp_main_on_signal;
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0
        || sigaction(SIGQUIT, &sa, NULL) != 0) {
        return -1;
    }
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

static int
sp_main_daemonize(struct sp_log *log)
{
    pid_t pid = fork();
    int fd;

    if (pid < 0) {
        sp_log_error(log, errno, "fork() failed");
        return -1;
    }
    if (pid > 0) {
        _exit(EXIT_SUCCESS);
    }
    if (setsid() < 0) {
        sp_log_error(log, errno, "setsid() failed");
        return -1;
    }
    pid = fork();           /* never reacquire a terminal */
    if (pid < 0) {
        sp_log_error(log, errno, "fork() failed");
        return -1;
    }
    if (pid > 0) {
        _exit(EXIT_SUCCESS);
    }
    if (chdir("/") != 0) {
        sp_log_warn(log, errno, "chdir(\"/\") failed");
    }
    umask(0);
    fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        if (log->fd != STDERR_FILENO) {
            dup2(fd, STDERR_FILENO);
        }
        if (fd > STDERR_FILENO) {
            close(fd);
        }
    }
    return 0;
}

static int
sp_main_write_pid(const char *path, struct sp_log *log)
{
    char text[32];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());

    if (fd < 0 || write(fd, text, (size_t)n) != n) {
        sp_log_error(log, errno, "cannot write pid file '%s'", path);
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    close(fd);
    return 0;
}

static int
sp_main_serve(const struct sp_options *opts)
{
    struct sp_main_signals sig = { 0 };
    struct sp_conf *conf = NULL;
    struct sp_worker *worker;
    struct sp_log log;
    char err[SP_CONF_ERRLEN];
    int rc = EXIT_FAILURE;

    if (sp_log_open(&log, opts->log_file, opts->verbosity) != 0) {
        fprintf(stderr, "shardproxy: cannot open log file '%s': %s\n",
                opts->log_file, strerror(errno));
        return EXIT_FAILURE;
    }
    if (sp_conf_load(opts->conf_file, &conf, err, sizeof(err)) != 0) {
        sp_log_error(&log, 0, "%s", err);
        fprintf(stderr, "%s\n", err);
        sp_log_close(&log);
        return EXIT_FAILURE;
    }
    if (opts->daemonize && sp_main_daemonize(&log) != 0) {
        goto out;
    }
    if (sp_main_signals_install(&sig) != 0) {
        sp_log_error(&log, errno, "sigaction() failed");
        goto out;
    }
    if (conf->global.worker_processes != 0) {
        sp_log_notice(&log, "worker_processes is %s: this build runs one "
                      "process (the master/worker model comes next)",
                      conf->global.worker_processes < 0 ? "auto" : "set");
    }

    struct sp_worker_options wopts = {
        .mbuf_size = opts->mbuf_size,
        .stats_addr = opts->stats_addr,
        .stats_port = opts->stats_port,
    };
    worker = sp_worker_create(conf, &wopts, &log, &sig.stop);
    if (worker == NULL) {
        goto out;
    }
    if (opts->pid_file != NULL && sp_main_write_pid(opts->pid_file, &log) != 0) {
        sp_worker_destroy(worker);
        goto out;
    }
    sp_log_notice(&log, "shardproxy-%s started on pid %ld",
                  SP_VERSION_STRING, (long)getpid());
    rc = sp_worker_run(worker) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    sp_log_notice(&log, "shardproxy stopping");
    sp_worker_destroy(worker);
    if (opts->pid_file != NULL) {
        unlink(opts->pid_file);
    }
out:
    sp_conf_free(conf);
    sp_log_close(&log);
    return rc;
}

int
main(int argc, char **argv)
{
    struct sp_options opts;

    if (sp_cli_parse(argc, argv, &opts, stderr) != 0) {
        return EXIT_FAILURE;
    }
    if (opts.help) {
        sp_cli_usage(stdout);
        return EXIT_SUCCESS;
    }
    if (opts.version) {
        sp_cli_version(stdout);
        return EXIT_SUCCESS;
    }
    if (opts.describe_stats) {
        sp_cli_describe_stats(stdout);
        return EXIT_SUCCESS;
    }
    if (opts.test_conf) {
        return sp_main_test_conf(&opts);
    }
    if (opts.locate_pool != NULL) {
        return sp_main_locate(&opts);
    }
    return sp_main_serve(&opts);
}
