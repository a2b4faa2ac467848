/*
 * sp_worker_process.c — setup and life of a worker process, and of the
 * single process (see sp_worker_process.h).
 */
#include "sp_worker_process.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "sp_signal.h"
#include "sp_worker.h"

/* The CPUs this process may run on (what taskset or a cpuset left it);
 * every online one when the kernel does not say. */
static void
sp_worker_allowed_cpus(cpu_set_t *set)
{
    long ncpu;

    CPU_ZERO(set);
    if (sched_getaffinity(0, sizeof(*set), set) == 0 && CPU_COUNT(set) > 0) {
        return;
    }
    ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    for (long i = 0; i < (ncpu > 0 ? ncpu : 1) && i < CPU_SETSIZE; i++) {
        CPU_SET((int)i, set);
    }
}

uint32_t
sp_worker_count(const struct sp_conf *conf)
{
    cpu_set_t allowed;

    if (conf->global.worker_processes != SP_CONF_WORKERS_AUTO) {
        return (uint32_t)conf->global.worker_processes;
    }
    sp_worker_allowed_cpus(&allowed);
    return (uint32_t)CPU_COUNT(&allowed);
}

int
sp_worker_cpu(const struct sp_conf *conf, uint32_t slot, uint32_t nworkers,
              const cpu_set_t *allowed)
{
    const struct sp_conf_global *g = &conf->global;
    uint32_t ncpu = (uint32_t)CPU_COUNT(allowed), nth;

    switch (g->affinity) {
    case SP_AFFINITY_OFF:
        return -1;
    case SP_AFFINITY_LIST:
        return g->cpus[slot % g->ncpus];
    case SP_AFFINITY_AUTO:
    default:
        if (ncpu == 0 || nworkers < ncpu) {
            return -1;          /* cores to spare: let the scheduler place */
        }
        nth = slot % ncpu;
        for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
            if (CPU_ISSET(cpu, allowed) && nth-- == 0) {
                return cpu;
            }
        }
        return -1;
    }
}

/* Pin worker `slot` of the generation's `nworkers` (sp_worker_cpu). */
static int
sp_worker_pin(const struct sp_conf *conf, uint32_t slot, uint32_t nworkers,
              struct sp_log *log)
{
    cpu_set_t set;
    int cpu;

    sp_worker_allowed_cpus(&set);
    cpu = sp_worker_cpu(conf, slot, nworkers, &set);
    if (cpu < 0) {
        return 0;
    }
    if (cpu >= CPU_SETSIZE) {
        sp_log_error(log, 0, "worker_cpu_affinity: CPU %d does not exist", cpu);
        return -1;
    }
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) {
        sp_log_error(log, errno, "sched_setaffinity(CPU %d) failed", cpu);
        return -1;
    }
    sp_log_info(log, "worker #%u pinned to CPU %d", slot, cpu);
    return 0;
}

static int
sp_worker_raise_fd_limit(const struct sp_conf *conf, struct sp_log *log)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)conf->global.max_openfiles;

    if (want == 0) {
        return 0;
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        sp_log_error(log, errno, "getrlimit(RLIMIT_NOFILE) failed");
        return -1;
    }
    rl.rlim_cur = want;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
        rl.rlim_max = want;     /* only root may; else setrlimit says so */
    }
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        sp_log_error(log, errno, "setrlimit(RLIMIT_NOFILE, %d) failed",
                     conf->global.max_openfiles);
        return -1;
    }
    return 0;
}

static int
sp_worker_drop_privileges(const struct sp_conf *conf, struct sp_log *log)
{
    const char *user = conf->global.user, *group = conf->global.group;
    struct passwd *pw;
    gid_t gid;

    if (user == NULL || geteuid() != 0) {
        return 0;
    }
    pw = getpwnam(user);
    if (pw == NULL) {
        sp_log_error(log, 0, "user '%s' does not exist", user);
        return -1;
    }
    gid = pw->pw_gid;
    if (group != NULL) {
        struct group *gr = getgrnam(group);
        if (gr == NULL) {
            sp_log_error(log, 0, "group '%s' does not exist", group);
            return -1;
        }
        gid = gr->gr_gid;
    }
    if (setgid(gid) != 0 || initgroups(user, gid) != 0
        || setuid(pw->pw_uid) != 0) {
        sp_log_error(log, errno, "cannot switch to user '%s'", user);
        return -1;
    }
    prctl(PR_SET_DUMPABLE, 1);      /* a crash still dumps core */
    return 0;
}

/* lock mode: stop competing past 7/8 of the descriptors, or as told */
static uint32_t
sp_worker_threshold(const struct sp_conf *conf)
{
    struct rlimit rl;

    if (conf->global.accept_mode != SP_ACCEPT_LOCK) {
        return 0;
    }
    if (conf->global.accept_lock_threshold > 0) {
        return (uint32_t)conf->global.accept_lock_threshold;
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) {
        return 0;
    }
    return (uint32_t)(rl.rlim_cur / 8 * 7);
}

static int
sp_worker_process_loop(struct sp_worker_process *wp, struct sp_signals *sig,
                       bool has_master)
{
    struct sp_worker_options wopts = { 0 };
    struct sp_listen_set *set = wp->listen;
    struct sp_worker *worker;
    int *fds = NULL;
    bool *shared = NULL;
    int rc;

    fds = calloc(set->npools + 1, sizeof(*fds));
    shared = calloc(set->npools + 1, sizeof(*shared));
    if (fds == NULL || shared == NULL) {
        free(fds);
        free(shared);
        sp_log_error(wp->log, ENOMEM, "worker #%u: cannot start", wp->slot);
        return SP_WORKER_EXIT_FATAL;
    }
    for (uint32_t i = 0; i < set->npools; i++) {
        fds[i] = sp_listen_fd(set, i, wp->slot);
        shared[i] = set->pools[i].shared && has_master;
    }
    wopts.mbuf_size = wp->opts->mbuf_size;
    wopts.index = wp->slot;
    wopts.has_master = has_master;
    wopts.listen_fds = fds;
    wopts.listen_shared = shared;
    wopts.stats_fd = !has_master ? set->stats_fd
                     : set->slot_stats_fds != NULL
                       ? set->slot_stats_fds[wp->slot] : -1;
    wopts.channel_fd = wp->channel_fd;
    wopts.shared = wp->shared;
    wopts.accept_lock = has_master
                        && wp->conf->global.accept_mode == SP_ACCEPT_LOCK;
    wopts.accept_threshold = wopts.accept_lock ? sp_worker_threshold(wp->conf)
                                               : 0;
    wopts.signals = sig;

    worker = sp_worker_create(wp->conf, &wopts, wp->log);
    free(fds);
    free(shared);
    if (worker == NULL) {
        return SP_WORKER_EXIT_FATAL;
    }
    /* the worker owns its sockets now; the rest are not this process's */
    sp_listen_hand_over(set, wp->slot, !has_master);
    if (has_master) {
        sp_log_notice(wp->log, "worker #%u started (pid %ld%s)", wp->slot,
                      (long)getpid(), wopts.accept_lock ? ", accept lock" : "");
    } else {
        sp_log_notice(wp->log, "shardproxy-%s started on pid %ld",
                      SP_VERSION_STRING, (long)getpid());
    }
    rc = sp_worker_run(worker) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    sp_worker_destroy(worker);
    return rc;
}

int
sp_worker_process_run(struct sp_worker_process *wp)
{
    struct sp_signals sig;
    char title[64];

    snprintf(title, sizeof(title), "worker process #%u", wp->slot);
    sp_proctitle_set(wp->title, title);
    if (sp_signals_install(&sig, sp_worker_signal_set, wp->log->fd) != 0) {
        sp_log_error(wp->log, errno, "worker #%u: sigaction() failed",
                     wp->slot);
        return SP_WORKER_EXIT_FATAL;
    }
    /* no orphan: the master's death drains us (the channel's EOF too) */
    prctl(PR_SET_PDEATHSIG, SIGQUIT);
    if (getppid() != wp->master_pid) {
        raise(SIGQUIT);             /* it died before the prctl */
    }
    if (sp_worker_pin(wp->conf, wp->slot, wp->nslots, wp->log) != 0
        || sp_worker_raise_fd_limit(wp->conf, wp->log) != 0
        || sp_worker_drop_privileges(wp->conf, wp->log) != 0) {
        return SP_WORKER_EXIT_FATAL;
    }
    return sp_worker_process_loop(wp, &sig, true);
}

int
sp_single_process_run(struct sp_worker_process *wp)
{
    struct sp_signals sig;

    if (sp_signals_install(&sig, sp_worker_signal_set, wp->log->fd) != 0) {
        sp_log_error(wp->log, errno, "sigaction() failed");
        return EXIT_FAILURE;
    }
    if (sp_worker_raise_fd_limit(wp->conf, wp->log) != 0
        || sp_worker_drop_privileges(wp->conf, wp->log) != 0) {
        return EXIT_FAILURE;
    }
    int rc = sp_worker_process_loop(wp, &sig, false);
    return rc == SP_WORKER_EXIT_FATAL ? EXIT_FAILURE : rc;
}
