/*
 * sp_main.c — the program: parse the command line, then do the one thing it
 * asks (help, version, stats description, test the configuration, locate
 * keys, signal a master, show a running one's stats live, or serve). Exit codes: 0 done, 1 bad input (flags, configuration)
 * or a failure to start.
 *
 * Serving: with worker_processes 0, this process serves alone
 * (sp_single_process_run); otherwise it becomes the master (sp_master_run)
 * and forks the workers. Signals are theirs (sp_signal.h).
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
#include "sp_listen.h"
#include "sp_master.h"
#include "sp_proctitle.h"
#include "sp_sentinel_locate.h"
#include "sp_shared.h"
#include "sp_stat.h"
#include "sp_upgrade.h"
#include "sp_worker.h"
#include "sp_worker_process.h"

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
    struct sp_conf_pool *pool = (struct sp_conf_pool *)
        sp_conf_pool_find(conf, opts->locate_pool);
    if (pool != NULL) {
        (void)sp_sentinel_locate(pool, stderr);   /* the current masters */
    }
    rc = sp_locate(conf, opts->locate_pool, opts->locate_keys,
                   opts->nlocate_keys, stdin, stdout, stderr);
    sp_conf_free(conf);
    if (fflush(stdout) != 0) {
        rc = -1;
    }
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
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

/* worker_processes: 0 — one process, no master (nutcracker's model). */
static int
sp_main_single(const struct sp_options *opts, const struct sp_conf *conf,
               struct sp_log *log, const struct sp_proctitle *title)
{
    struct sp_listen_set listen = { 0 };
    struct sp_shared shared = { 0 };
    struct sp_listen_spec spec = {
        .nslots = 1,
        .per_slot = false,
        .stats_addr = opts->stats_addr,
        .stats_port = opts->stats_port,
        .slot_stats = NULL,
    };
    int rc;

    for (uint32_t i = 0; i < conf->npools; i++) {
        if (conf->pools[i].nsentinels > 0) {
            sp_log_error(log, 0, "pool '%s': sentinels are followed by the "
                         "master process; worker_processes 0 has none (set "
                         "worker_processes to 1 or more)",
                         conf->pools[i].name);
            return EXIT_FAILURE;
        }
        if (conf->pools[i].distribution == SP_DIST_REDIS_CLUSTER) {
            sp_log_error(log, 0, "pool '%s': a Redis Cluster's map is "
                         "followed by the master process; worker_processes "
                         "0 has none (set worker_processes to 1 or more)",
                         conf->pools[i].name);
            return EXIT_FAILURE;
        }
    }
    if (sp_shared_create(&shared, conf, 1) != 0) {
        sp_log_error(log, errno, "mmap() failed");
        return EXIT_FAILURE;
    }
    if (sp_listen_open(&listen, conf, &spec, log, NULL, NULL) != 0) {
        sp_shared_destroy(&shared);
        return EXIT_FAILURE;
    }
    struct sp_worker_process wp = {
        .conf = conf, .opts = opts, .log = log, .listen = &listen,
        .shared = &shared, .title = title, .slot = 0, .nslots = 1,
        .channel_fd = -1, .master_pid = 0,
    };
    rc = sp_single_process_run(&wp);
    if (listen.pools != NULL) {
        sp_listen_close(&listen);
    }
    sp_shared_destroy(&shared);
    return rc;
}

static int
sp_main_serve(const struct sp_options *opts, const struct sp_proctitle *title)
{
    struct sp_listen_inherited inherited;
    struct sp_conf *conf = NULL;
    struct sp_log log;
    char err[SP_CONF_ERRLEN], exe[4096];
    int rc = EXIT_FAILURE;
    ssize_t n;
    uint32_t nworkers;

    if (sp_log_open(&log, opts->log_file, opts->verbosity) != 0) {
        fprintf(stderr, "shardproxy: cannot open log file '%s': %s\n",
                opts->log_file, strerror(errno));
        return EXIT_FAILURE;
    }
    /* started by an old master (USR2): its sockets are ours */
    if (sp_listen_inherit(&inherited, getenv(SP_LISTEN_ENV)) != 0) {
        sp_log_error(&log, 0, "%s is malformed: ignored", SP_LISTEN_ENV);
        memset(&inherited, 0, sizeof(inherited));
    }
    unsetenv(SP_LISTEN_ENV);
    const char *peer_env = getenv(SP_UPGRADE_PEER_ENV);
    int peer_fd = peer_env != NULL && inherited.n > 0 ? atoi(peer_env) : -1;
    unsetenv(SP_UPGRADE_PEER_ENV);
    if (peer_fd >= 0) {
        fcntl(peer_fd, F_SETFD, FD_CLOEXEC);
    }
    if (sp_conf_load(opts->conf_file, &conf, err, sizeof(err)) != 0) {
        sp_log_error(&log, 0, "%s", err);
        fprintf(stderr, "%s\n", err);
        goto out;
    }
    sp_worker_backend_check(conf, &log);
    /* the binary on disk, by path: what USR2 executes (a new build) */
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    if (opts->daemonize && inherited.n == 0 && sp_main_daemonize(&log) != 0) {
        goto out;
    }
    nworkers = sp_worker_count(conf);
    if (nworkers == 0) {
        if (opts->pid_file != NULL && sp_pid_file_write(opts->pid_file, &log) != 0) {
            goto out;
        }
        if (peer_fd >= 0) {
            close(peer_fd);     /* a single process hands nothing over */
        }
        rc = sp_main_single(opts, conf, &log, title);
        if (opts->pid_file != NULL) {
            unlink(opts->pid_file);
        }
    } else {
        struct sp_master_args args = {
            .opts = opts, .conf = conf, .log = &log, .title = title,
            .nworkers = nworkers, .exe = exe, .argv = title->argv,
            .inherited = &inherited, .peer_fd = peer_fd,
        };
        rc = sp_master_run(&args);
    }
    sp_log_notice(&log, "shardproxy stopping");
out:
    sp_listen_inherited_free(&inherited);
    sp_conf_free(conf);
    sp_log_close(&log);
    return rc;
}

/* -k VERB: signal the master named by the pid file. */
static int
sp_main_signal(const struct sp_options *opts)
{
    char text[32] = "";
    long pid;
    char *end;
    FILE *f;

    if (opts->pid_file == NULL) {
        fprintf(stderr, "shardproxy: -k %s needs the pid file (-p FILE)\n",
                opts->signal_verb);
        return EXIT_FAILURE;
    }
    f = fopen(opts->pid_file, "r");
    if (f == NULL) {
        fprintf(stderr, "shardproxy: cannot read pid file '%s': %s\n",
                opts->pid_file, strerror(errno));
        return EXIT_FAILURE;
    }
    if (fgets(text, sizeof(text), f) == NULL) {
        text[0] = '\0';
    }
    fclose(f);
    pid = strtol(text, &end, 10);
    if (pid <= 0 || (*end != '\n' && *end != '\0')) {
        fprintf(stderr, "shardproxy: pid file '%s' holds no pid\n",
                opts->pid_file);
        return EXIT_FAILURE;
    }
    if (kill((pid_t)pid, opts->signal_number) != 0) {
        fprintf(stderr, "shardproxy: cannot signal pid %ld (%s): %s\n", pid,
                opts->signal_verb, strerror(errno));
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}

/* Do the one thing the command line asks. */
static int
sp_main_dispatch(int argc, char **argv, const struct sp_proctitle *title)
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
    if (opts.signal_verb != NULL) {
        return sp_main_signal(&opts);
    }
    if (opts.stat) {
        return sp_stat_run(&opts);
    }
    return sp_main_serve(&opts, title);
}

int
main(int argc, char **argv)
{
    struct sp_proctitle title;
    int rc;

    sp_proctitle_init(&title, argc, argv);     /* before anything keeps argv */
    rc = sp_main_dispatch(argc, argv, &title);
    sp_proctitle_free(&title);
    return rc;
}
