/*
 * sp_master.c — the master's loop, spawning, reaping, stats (see
 * sp_master.h).
 */
#include "sp_master.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sp_channel.h"
#include "sp_event.h"
#include "sp_listen.h"
#include "sp_process.h"
#include "sp_shared.h"
#include "sp_signal.h"
#include "sp_stats_report.h"
#include "sp_worker_process.h"

#define SP_MASTER_KILL_AFTER_MS  5000   /* TERM: then SIGKILL what is left */

struct sp_master {
    const struct sp_options   *opts;
    const struct sp_conf      *conf;
    struct sp_log             *log;
    const struct sp_proctitle *title;
    struct sp_signals          signals;
    struct sp_event_loop      *loop;
    struct sp_listen_set       listen;
    struct sp_shared           shared;
    struct sp_process         *procs;
    uint32_t                   nprocs;
    struct sp_timer            respawn_timer;
    struct sp_timer            kill_timer;
    uint64_t                   respawns;
    bool                       quitting;
    bool                       terminating;
    bool                       unclean;     /* a worker failed its stop */
    int64_t                    started_s;
};

static const int sp_master_signal_set[] = {
    SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU,
    SIGWINCH, SIGCHLD, 0
};

/* ---- telling workers ------------------------------------------------------ */

static void
sp_master_tell(struct sp_master *master, uint32_t command, int64_t arg,
               int signo)
{
    for (uint32_t i = 0; i < master->nprocs; i++) {
        struct sp_process *proc = &master->procs[i];
        struct sp_channel_msg msg = { command, (int32_t)i, proc->pid, arg };

        if (proc->state != SP_PROCESS_RUNNING) {
            continue;
        }
        if (proc->channel < 0
            || sp_channel_send(proc->channel, &msg, -1) != 0) {
            /* a full or broken channel: the signal says the same */
            if (signo != 0 && kill(proc->pid, signo) != 0 && errno != ESRCH) {
                sp_log_error(master->log, errno, "kill(%ld, %d) failed",
                             (long)proc->pid, signo);
            }
        }
    }
}

/* ---- spawning and reaping --------------------------------------------------- */

static void sp_master_free(struct sp_master *master);

static int
sp_master_spawn(struct sp_master *master, struct sp_process *proc)
{
    int channel[2];
    pid_t pid;

    if (sp_channel_open(channel) != 0) {
        sp_log_error(master->log, errno, "socketpair() failed");
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        sp_log_error(master->log, errno, "fork() failed");
        close(channel[0]);
        close(channel[1]);
        return -1;
    }
    if (pid == 0) {
        struct sp_worker_process wp = {
            .conf = master->conf,
            .opts = master->opts,
            .log = master->log,
            .listen = &master->listen,
            .shared = &master->shared,
            .title = master->title,
            .slot = proc->slot,
            .nslots = master->nprocs,
            .channel_fd = channel[1],
            .master_pid = getppid(),
        };
        int rc;

        close(channel[0]);
        for (uint32_t i = 0; i < master->nprocs; i++) {
            if (master->procs[i].channel >= 0) {
                close(master->procs[i].channel);
                master->procs[i].channel = -1;
            }
        }
        sp_event_loop_destroy(master->loop);    /* never shared across fork */
        master->loop = NULL;
        rc = sp_worker_process_run(&wp);
        sp_master_free(master);
        exit(rc);
    }
    close(channel[1]);
    proc->channel = channel[0];
    proc->pid = pid;
    proc->state = SP_PROCESS_RUNNING;
    proc->started_ms = sp_event_now_ms(master->loop);
    sp_log_notice(master->log, "worker #%u started: pid %ld", proc->slot,
                  (long)pid);
    return 0;
}

static void sp_master_respawn_due(struct sp_event_loop *loop,
                                  struct sp_timer *timer);

/* Spawn the waiting slots whose time has come; arm the timer for the rest. */
static void
sp_master_respawn(struct sp_master *master)
{
    uint64_t now = sp_event_now_ms(master->loop), next = 0;

    for (uint32_t i = 0; i < master->nprocs; i++) {
        struct sp_process *proc = &master->procs[i];
        if (proc->state != SP_PROCESS_WAITING) {
            continue;
        }
        if (master->quitting || master->terminating) {
            proc->state = SP_PROCESS_EMPTY;
            continue;
        }
        if (proc->respawn_at_ms <= now) {
            proc->respawns++;
            master->respawns++;
            if (sp_master_spawn(master, proc) != 0) {
                proc->respawn_at_ms = now + SP_PROCESS_BACKOFF_MAX_MS;
            }
        }
        if (proc->state == SP_PROCESS_WAITING
            && (next == 0 || proc->respawn_at_ms < next)) {
            next = proc->respawn_at_ms;
        }
    }
    if (next != 0) {
        sp_timer_add(master->loop, &master->respawn_timer, next - now,
                     sp_master_respawn_due, master);
    }
}

static void
sp_master_respawn_due(struct sp_event_loop *loop, struct sp_timer *timer)
{
    (void)loop;
    sp_master_respawn(timer->data);
}

static struct sp_process *
sp_master_find(struct sp_master *master, pid_t pid)
{
    for (uint32_t i = 0; i < master->nprocs; i++) {
        if (master->procs[i].pid == pid
            && master->procs[i].state == SP_PROCESS_RUNNING) {
            return &master->procs[i];
        }
    }
    return NULL;
}

static void
sp_master_reap(struct sp_master *master)
{
    uint64_t now = sp_event_now_ms(master->loop);
    char text[256];
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct sp_process *proc = sp_master_find(master, pid);
        if (proc == NULL) {
            continue;
        }
        if (proc->channel >= 0) {
            close(proc->channel);
            proc->channel = -1;
        }
        /* its connections died with it: its gauges go, its counters stay */
        sp_shared_slot_vacate(&master->shared, proc->slot);
        bool respawn = !master->quitting && !master->terminating;
        if (!respawn && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            master->unclean = true;     /* the exit code says so */
        }
        switch (sp_process_ended(proc, status, now, respawn, text,
                                 sizeof(text))) {
        case SP_PROCESS_DONE:
            sp_log_notice(master->log, "%s", text);
            break;
        case SP_PROCESS_RESPAWN:
            sp_log_at(master->log, SP_LOG_ALERT, 0, "%s", text);
            break;
        case SP_PROCESS_GIVE_UP:
            sp_log_at(master->log, SP_LOG_ALERT, 0, "%s", text);
            /* its share of new connections goes to the others */
            sp_listen_close_slot(&master->listen, proc->slot);
            break;
        }
    }
    sp_master_respawn(master);
}

static uint32_t
sp_master_count(const struct sp_master *master, sp_process_state_t state)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < master->nprocs; i++) {
        n += master->procs[i].state == state;
    }
    return n;
}

/* Workers that have set up and serve (their slot carries their pid). */
static int64_t
sp_master_serving(const struct sp_master *master)
{
    int64_t n = 0;

    for (uint32_t i = 0; i < master->nprocs; i++) {
        n += master->procs[i].state == SP_PROCESS_RUNNING
             && sp_shared_slot(&master->shared, i)->pid == master->procs[i].pid;
    }
    return n;
}

/* ---- stopping ------------------------------------------------------------------ */

static void
sp_master_kill_rest(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_master *master = timer->data;

    (void)loop;
    for (uint32_t i = 0; i < master->nprocs; i++) {
        struct sp_process *proc = &master->procs[i];
        if (proc->state == SP_PROCESS_RUNNING) {
            sp_log_warn(master->log, 0, "worker #%u (pid %ld) is still "
                        "running: SIGKILL", proc->slot, (long)proc->pid);
            kill(proc->pid, SIGKILL);
        }
    }
}

static void
sp_master_terminate(struct sp_master *master)
{
    if (master->terminating) {
        return;
    }
    master->terminating = true;
    sp_master_tell(master, SP_CHANNEL_TERMINATE, 0, SIGTERM);
    sp_timer_add(master->loop, &master->kill_timer, SP_MASTER_KILL_AFTER_MS,
                 sp_master_kill_rest, master);
}

static void
sp_master_quit(struct sp_master *master)
{
    uint64_t grace = (uint64_t)master->conf->global.worker_shutdown_timeout
                     * 1000 + SP_MASTER_KILL_AFTER_MS;

    if (master->quitting || master->terminating) {
        return;
    }
    master->quitting = true;
    sp_master_tell(master, SP_CHANNEL_QUIT, 0, SIGQUIT);
    if (master->conf->global.worker_shutdown_timeout > 0) {
        sp_timer_add(master->loop, &master->kill_timer, grace,
                     sp_master_kill_rest, master);
    }
}

/* ---- signals ------------------------------------------------------------------- */

static void
sp_master_signals(struct sp_master *master)
{
    struct sp_signals *sig = &master->signals;
    char name[32];

    if (!sig->any) {
        return;
    }
    sig->any = 0;
    for (const int *s = sp_master_signal_set; *s != 0; s++) {
        if (!sp_signals_take(sig, *s)) {
            continue;
        }
        sp_log_notice(master->log, "signal %d (%s) received", *s,
                      sp_signal_name(*s, name, sizeof(name)));
        switch (*s) {
        case SIGCHLD:
            sp_master_reap(master);
            break;
        case SIGINT:
        case SIGTERM:
            sp_master_terminate(master);
            break;
        case SIGQUIT:
            sp_master_quit(master);
            break;
        case SIGUSR1:
            if (sp_log_reopen(master->log) != 0) {
                sp_log_error(master->log, errno, "cannot reopen the log");
            }
            sp_master_tell(master, SP_CHANNEL_REOPEN, 0, SIGUSR1);
            break;
        case SIGTTIN:
        case SIGTTOU:
            sp_log_level_step(master->log, *s == SIGTTIN ? 1 : -1);
            sp_master_tell(master, SP_CHANNEL_LOG_LEVEL, *s == SIGTTIN ? 1 : -1,
                           *s);
            break;
        default:
            sp_log_notice(master->log, "%s: nothing to do in this version "
                          "(reload and binary upgrade are not built yet)",
                          name);
            break;
        }
    }
}

/* ---- the stats port: the sum over workers -------------------------------------- */

static void
sp_master_stats_serve(struct sp_master *master, int fd)
{
    const struct sp_shared_header *h = master->shared.header;
    struct sp_stats_pool *pools = calloc(h->npools + 1, sizeof(*pools));
    struct sp_stats_server *servers = calloc(h->nservers + 1, sizeof(*servers));
    struct sp_stats_buf buf = { 0 };
    struct sp_stats_slot proc;

    if (pools == NULL || servers == NULL) {
        goto out;
    }
    sp_shared_sum(&master->shared, &proc, pools, servers);
    struct sp_stats_extra extras[] = {
        { "workers", sp_master_serving(master) },
        { "respawns", (int64_t)master->respawns },
        { "buffers_allocated", proc.buffers_allocated },
        { "buffers_in_use", proc.buffers_in_use },
        { "buffers_free", proc.buffers_free },
        { "messages_allocated", proc.messages_allocated },
        { "messages_free", proc.messages_free },
    };
    if (sp_stats_report(&buf, master->conf, &proc, pools, servers,
                        (int64_t)time(NULL) - master->started_s, extras,
                        sizeof(extras) / sizeof(extras[0])) == 0
        && sp_stats_send(fd, &buf) != 0) {
        sp_log_warn(master->log, errno, "stats: write() failed");
    }
out:
    sp_stats_buf_free(&buf);
    free(pools);
    free(servers);
}

static void
sp_master_stats_accept(struct sp_event_loop *loop, int fd, uint32_t ready,
                       void *data)
{
    struct sp_master *master = data;

    (void)loop;
    (void)ready;
    for (;;) {
        int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                sp_log_error(master->log, errno, "stats: accept4() failed");
            }
            return;
        }
        sp_master_stats_serve(master, conn);
        close(conn);
    }
}

/* ---- life ------------------------------------------------------------------------ */

static int
sp_master_check_user(const struct sp_conf *conf, struct sp_log *log)
{
    if (conf->global.user != NULL && getpwnam(conf->global.user) == NULL) {
        sp_log_error(log, 0, "user '%s' does not exist", conf->global.user);
        return -1;
    }
    if (conf->global.group != NULL && getgrnam(conf->global.group) == NULL) {
        sp_log_error(log, 0, "group '%s' does not exist", conf->global.group);
        return -1;
    }
    return 0;
}

static int
sp_master_init(struct sp_master *master, uint32_t nworkers)
{
    struct sp_listen_spec spec = {
        .nslots = nworkers,
        .per_slot = master->conf->global.accept_mode == SP_ACCEPT_REUSEPORT,
        .stats_addr = master->opts->stats_addr,
        .stats_port = master->opts->stats_port,
        .slot_stats = true,
    };

    master->started_s = (int64_t)time(NULL);
    if (sp_master_check_user(master->conf, master->log) != 0) {
        return -1;
    }
    if (sp_signals_install(&master->signals, sp_master_signal_set,
                           master->log->fd) != 0) {
        sp_log_error(master->log, errno, "sigaction() failed");
        return -1;
    }
    master->procs = calloc(nworkers, sizeof(*master->procs));
    if (master->procs == NULL) {
        sp_log_error(master->log, ENOMEM, "cannot create the process table");
        return -1;
    }
    master->nprocs = nworkers;
    for (uint32_t i = 0; i < nworkers; i++) {
        master->procs[i].slot = i;
        master->procs[i].channel = -1;
    }
    if (sp_shared_create(&master->shared, master->conf, nworkers) != 0) {
        sp_log_error(master->log, errno, "mmap() of the shared memory failed");
        return -1;
    }
    if (sp_listen_open(&master->listen, master->conf, &spec, master->log) != 0) {
        return -1;
    }
    master->loop = sp_event_loop_create(0, 0, master->log);
    if (master->loop == NULL) {
        sp_log_error(master->log, errno, "cannot create the event loop");
        return -1;
    }
    sp_event_set_wait_sigmask(master->loop, &master->signals.wait_mask);
    if (master->listen.stats_fd >= 0
        && sp_event_add(master->loop, master->listen.stats_fd,
                        SP_EV_READ | SP_EV_LEVEL, sp_master_stats_accept,
                        master) != 0) {
        sp_log_error(master->log, errno, "stats: cannot watch the listener");
        return -1;
    }
    return 0;
}

static void
sp_master_free(struct sp_master *master)
{
    for (uint32_t i = 0; i < master->nprocs; i++) {
        if (master->procs[i].channel >= 0) {
            close(master->procs[i].channel);
        }
    }
    free(master->procs);
    master->procs = NULL;
    master->nprocs = 0;
    if (master->loop != NULL) {
        sp_timer_del(master->loop, &master->respawn_timer);
        sp_timer_del(master->loop, &master->kill_timer);
        sp_event_loop_destroy(master->loop);
        master->loop = NULL;
    }
    if (master->listen.pools != NULL) {
        sp_listen_close(&master->listen);
    }
    sp_shared_destroy(&master->shared);
}

int
sp_master_run(const struct sp_options *opts, const struct sp_conf *conf,
              struct sp_log *log, const struct sp_proctitle *title,
              uint32_t nworkers)
{
    struct sp_master master = {
        .opts = opts, .conf = conf, .log = log, .title = title,
    };
    char text[512];
    int rc = EXIT_SUCCESS;

    if (sp_master_init(&master, nworkers) != 0) {
        sp_master_free(&master);
        return EXIT_FAILURE;
    }
    snprintf(text, sizeof(text), "master process %s",
             title->cmdline != NULL ? title->cmdline : "");
    sp_proctitle_set(title, text);
    sp_log_notice(log, "shardproxy-%s master started on pid %ld: %u worker%s, "
                  "accept_mode %s", SP_VERSION_STRING, (long)getpid(), nworkers,
                  nworkers == 1 ? "" : "s",
                  conf->global.accept_mode == SP_ACCEPT_LOCK ? "lock"
                                                             : "reuseport");
    for (uint32_t i = 0; i < nworkers; i++) {
        if (sp_master_spawn(&master, &master.procs[i]) != 0) {
            sp_master_terminate(&master);
            rc = EXIT_FAILURE;
            break;
        }
    }

    for (;;) {
        if (sp_event_poll(master.loop, -1) < 0) {
            sp_log_error(log, errno, "master loop failed");
            sp_master_terminate(&master);
            rc = EXIT_FAILURE;
        }
        sp_master_signals(&master);
        if (sp_master_count(&master, SP_PROCESS_RUNNING) == 0
            && sp_master_count(&master, SP_PROCESS_WAITING) == 0) {
            if (!master.quitting && !master.terminating) {
                sp_log_at(log, SP_LOG_ALERT, 0, "no worker is left running: "
                          "exiting");
                rc = EXIT_FAILURE;
            }
            break;
        }
    }
    if (master.unclean) {
        sp_log_error(log, 0, "a worker did not stop cleanly");
        rc = EXIT_FAILURE;
    }
    sp_log_notice(log, "shardproxy master exiting");
    sp_master_free(&master);
    return rc;
}
