/*
 * sp_master.c — the master's loop, spawning and reaping, reloads, the
 * binary upgrade, client handoffs and the summed stats (see sp_master.h).
 *
 *   master ── current generation (conf, sockets, shared memory, workers)
 *          └─ retiring generations, newest first, each freed when its last
 *             worker has exited; their workers send each client, at its
 *             next request boundary, here (HANDOFF) and the master passes
 *             it on to a current worker (ADOPT) with SCM_RIGHTS
 */
#include "sp_master.h"
#include "sp_master_int.h"

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
#include "sp_generation.h"
#include "sp_listen.h"
#include "sp_process.h"
#include "sp_shared.h"
#include "sp_signal.h"
#include "sp_stats_report.h"
#include "sp_totals.h"
#include "sp_upgrade.h"
#include "sp_worker_process.h"

#define SP_MASTER_KILL_AFTER_MS   5000  /* TERM: then SIGKILL what is left */
#define SP_MASTER_RETRY_MS        10    /* handoffs waiting for a worker */
#define SP_MASTER_HANDOFF_MAX_MS  5000  /* ... and how long they may wait */
#define SP_MASTER_SPAWN_RETRY_MS  1000  /* after a failed fork */

static const int sp_master_signal_set[] = {
    SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU,
    SIGWINCH, SIGCHLD, 0
};

static void sp_master_free_all(struct sp_master *master);
static void sp_master_retire_check(struct sp_master *master);
static void sp_master_channel_event(struct sp_event_loop *loop, int fd,
                                    uint32_t ready, void *data);

/* ---- telling workers ------------------------------------------------------ */

static void
sp_master_tell_gen(struct sp_master *master, struct sp_generation *gen,
                   uint32_t command, int64_t arg, int signo)
{
    for (uint32_t i = 0; i < gen->nprocs; i++) {
        struct sp_process *proc = &gen->procs[i];
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

static void
sp_master_tell(struct sp_master *master, uint32_t command, int64_t arg,
               int signo)
{
    sp_master_tell_gen(master, master->current, command, arg, signo);
    for (struct sp_generation *g = master->retiring; g != NULL; g = g->next) {
        sp_master_tell_gen(master, g, command, arg, signo);
    }
}

/* ---- spawning and reaping --------------------------------------------------- */

static int
sp_master_spawn(struct sp_master *master, struct sp_process *proc)
{
    struct sp_generation *gen = proc->gen;
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
            .conf = gen->conf,
            .opts = master->opts,
            .log = master->log,
            .listen = &gen->listen,
            .shared = &gen->shared,
            .title = master->title,
            .slot = proc->slot,
            .nslots = gen->nprocs,
            .channel_fd = channel[1],
            .master_pid = getppid(),
        };
        int rc;

        close(channel[0]);
        /* nothing of the master's stays in a worker but its own sockets:
         * another worker's channel end held here would hide its EOF */
        for (struct sp_generation *g = master->current; g != NULL;
             g = g == master->current ? master->retiring : g->next) {
            for (uint32_t i = 0; i < g->nprocs; i++) {
                if (g->procs[i].channel >= 0) {
                    close(g->procs[i].channel);
                    g->procs[i].channel = -1;
                }
            }
        }
        sp_event_loop_destroy(master->loop);    /* never shared across fork */
        master->loop = NULL;
        if (master->peer_fd >= 0) {
            close(master->peer_fd);
            master->peer_fd = -1;
        }
        if (master->metrics_fd >= 0) {
            close(master->metrics_fd);
            master->metrics_fd = -1;
        }
        /* clients queued for a handoff are not this worker's to hold: a
         * copy here would keep them open after their new worker closes */
        for (uint32_t i = 0; i < master->nhandoffs; i++) {
            close(master->handoffs[i].fd);
        }
        master->nhandoffs = 0;
        sp_master_stats_forget(master);
        for (struct sp_generation *g = master->retiring; g != NULL; g = g->next) {
            if (g->listen.pools != NULL) {
                sp_listen_close(&g->listen);
            }
        }
        rc = sp_worker_process_run(&wp);
        sp_master_free_all(master);
        exit(rc);
    }
    close(channel[1]);
    proc->channel = channel[0];
    proc->pid = pid;
    proc->state = SP_PROCESS_RUNNING;
    proc->started_ms = sp_event_now_ms(master->loop);
    if (sp_event_add(master->loop, proc->channel, SP_EV_READ | SP_EV_LEVEL,
                     sp_master_channel_event, proc) != 0) {
        sp_log_error(master->log, errno, "cannot watch worker #%u's channel",
                     proc->slot);
    }
    sp_log_notice(master->log, "worker #%u started: pid %ld (generation %u)",
                  proc->slot, (long)pid, gen->id);
    return 0;
}

static void sp_master_respawn_due(struct sp_event_loop *loop,
                                  struct sp_timer *timer);

/* Spawn the waiting slots whose time has come; arm the timer for the rest. */
static void
sp_master_respawn(struct sp_master *master)
{
    struct sp_generation *gen = master->current;
    uint64_t now = sp_event_now_ms(master->loop), next = 0;

    for (uint32_t i = 0; i < gen->nprocs; i++) {
        struct sp_process *proc = &gen->procs[i];
        if (proc->state != SP_PROCESS_WAITING) {
            continue;
        }
        if (master->quitting || master->terminating || master->winched) {
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

static void
sp_master_close_channel(struct sp_master *master, struct sp_process *proc)
{
    if (proc->channel >= 0) {
        if (master->loop != NULL) {
            sp_event_del(master->loop, proc->channel);
        }
        close(proc->channel);
        proc->channel = -1;
    }
}

static void
sp_master_close_peer(struct sp_master *master)
{
    if (master->peer_fd >= 0) {
        if (master->loop != NULL) {
            sp_event_del(master->loop, master->peer_fd);
        }
        close(master->peer_fd);
        master->peer_fd = -1;
    }
}

/* A retiring generation whose last worker is gone: fold and free it. */
static void
sp_master_bury(struct sp_master *master)
{
    struct sp_generation **link = &master->retiring;

    while (*link != NULL) {
        struct sp_generation *gen = *link;
        if (sp_generation_count(gen, SP_PROCESS_RUNNING) > 0) {
            link = &gen->next;
            continue;
        }
        *link = gen->next;
        if (sp_totals_add_shared(&master->retired, gen->conf, &gen->shared)
            != 0) {
            sp_log_warn(master->log, ENOMEM, "generation %u's counters are "
                        "lost", gen->id);
        }
        sp_timer_del(master->loop, &gen->kill_timer);
        sp_log_notice(master->log, "generation %u has retired", gen->id);
        sp_generation_free(gen);
    }
}

static struct sp_process *
sp_master_find(struct sp_master *master, pid_t pid)
{
    struct sp_process *proc = sp_generation_find(master->current, pid);

    for (struct sp_generation *g = master->retiring; proc == NULL && g != NULL;
         g = g->next) {
        proc = sp_generation_find(g, pid);
    }
    return proc;
}

static void
sp_master_reap(struct sp_master *master)
{
    uint64_t now = sp_event_now_ms(master->loop);
    char text[256];
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == master->upgrade_pid) {
            sp_log_at(master->log, SP_LOG_ALERT, 0, "upgrade: the new binary "
                      "(pid %ld) exited with status %d; this master serves on",
                      (long)pid, status);
            master->upgrade_pid = 0;
            sp_master_close_peer(master);
            sp_upgrade_abandon(master->opts->pid_file, master->log);
            continue;
        }
        struct sp_process *proc = sp_master_find(master, pid);
        if (proc == NULL) {
            continue;
        }
        bool current = proc->gen == master->current;
        bool respawn = current && !master->quitting && !master->terminating
                       && !master->winched;
        sp_master_close_channel(master, proc);
        /* a lock holder that died cannot release the accept lock itself */
        int holder = (int)pid;
        atomic_compare_exchange_strong(&proc->gen->shared.header->accept_lock,
                                       &holder, 0);
        /* its connections died with it: its gauges go, its counters stay */
        sp_shared_slot_vacate(&proc->gen->shared, proc->slot);
        if ((master->quitting || master->terminating)
            && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            master->unclean = true;     /* the exit code says so */
        }
        switch (sp_process_ended(proc, status, now, respawn, text,
                                 sizeof(text))) {
        case SP_PROCESS_DONE:
            sp_log_at(master->log, WIFEXITED(status) && WEXITSTATUS(status) == 0
                      ? SP_LOG_NOTICE : SP_LOG_ALERT, 0, "%s", text);
            break;
        case SP_PROCESS_RESPAWN:
            sp_log_at(master->log, SP_LOG_ALERT, 0, "%s", text);
            break;
        case SP_PROCESS_GIVE_UP:
            sp_log_at(master->log, SP_LOG_ALERT, 0, "%s", text);
            /* its share of new connections goes to the others */
            sp_listen_close_slot(&proc->gen->listen, proc->slot);
            break;
        }
    }
    sp_master_bury(master);
    sp_master_respawn(master);
}

static uint32_t
sp_master_count(const struct sp_master *master, sp_process_state_t state)
{
    uint32_t n = sp_generation_count(master->current, state);

    for (const struct sp_generation *g = master->retiring; g != NULL;
         g = g->next) {
        n += sp_generation_count(g, state);
    }
    return n;
}

/* ---- handoffs: retiring worker -> master -> current worker ---------------------- */

/*
 * A handed-over client travels by its pool's name, protocol and password
 * hash (struct sp_handoff), never by an index: it is placed against the
 * configuration current when it is passed on, which a later reload may
 * have changed while it waited.
 */

/* Hash of a redis_auth, to compare passwords without keeping them. */
static uint64_t
sp_master_auth_hash(const char *auth)
{
    uint64_t h = UINT64_C(14695981039346656037);

    if (auth == NULL) {
        return 0;
    }
    for (const unsigned char *p = (const unsigned char *)auth; *p != '\0'; p++) {
        h = (h ^ *p) * UINT64_C(1099511628211);
    }
    return h | 1;
}

/* Our workers stop while the other master of an upgrade serves. */
static bool
sp_master_to_peer(const struct sp_master *master)
{
    return master->peer_fd >= 0 && (master->winched || master->quitting);
}

/* The current pool for h (-1: gone, or another protocol); clears the
 * authenticated flag when the password changed. */
static int64_t
sp_master_place(const struct sp_master *master, struct sp_handoff *h)
{
    const struct sp_conf *conf = master->current->conf;

    for (uint32_t i = 0; i < conf->npools; i++) {
        const struct sp_conf_pool *cp = &conf->pools[i];
        if (strcmp(cp->name, h->name) != 0) {
            continue;
        }
        if (cp->redis != ((h->flags & SP_CHANNEL_REDIS) != 0)) {
            return -1;          /* another protocol: a client cannot follow */
        }
        if (sp_master_auth_hash(cp->redis_auth) != h->auth) {
            h->flags &= ~(uint32_t)SP_CHANNEL_AUTHENTICATED;   /* AUTH again */
        }
        return i;
    }
    return -1;
}

/*
 * Pass one client on: to the other master of an upgrade when ours stop,
 * else to a current worker. 0 done (passed on, or closed: its pool is
 * gone), or -1: nobody can take it now (try again later).
 */
static int
sp_master_adopt(struct sp_master *master, struct sp_handoff *h)
{
    struct sp_generation *gen = master->current;
    struct sp_channel_msg msg = {
        .command = SP_CHANNEL_ADOPT, .pid = getpid(), .auth = h->auth,
    };
    int64_t pool;

    memcpy(msg.name, h->name, sizeof(msg.name));
    if (sp_master_to_peer(master)) {
        msg.slot = -1;
        msg.arg = h->flags;
        if (sp_channel_send(master->peer_fd, &msg, h->fd) != 0) {
            return -1;
        }
        close(h->fd);
        master->handed_over++;
        return 0;
    }
    /* stopping with no other master: nobody will serve it */
    pool = master->terminating || master->quitting ? -1
           : sp_master_place(master, h);
    if (pool < 0) {
        close(h->fd);           /* its pool is gone: at a boundary, so clean */
        master->handoff_closed++;
        return 0;
    }
    msg.slot = (int32_t)pool;
    msg.arg = h->flags & SP_CHANNEL_AUTHENTICATED;
    for (uint32_t tries = 0; tries < gen->nprocs; tries++) {
        struct sp_process *proc = &gen->procs[master->next_target++ % gen->nprocs];
        if (proc->state != SP_PROCESS_RUNNING || proc->channel < 0) {
            continue;
        }
        msg.pid = proc->pid;
        if (sp_channel_send(proc->channel, &msg, h->fd) == 0) {
            close(h->fd);           /* in flight: the worker has it now */
            master->handed_over++;
            return 0;
        }
    }
    return -1;
}

static void
sp_master_handoff_retry(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_master *master = timer->data;
    uint64_t now = sp_event_now_ms(loop);
    uint32_t kept = 0;

    for (uint32_t i = 0; i < master->nhandoffs; i++) {
        struct sp_handoff *h = &master->handoffs[i];
        if (sp_master_adopt(master, h) == 0) {
            continue;
        }
        if (now - h->since_ms > SP_MASTER_HANDOFF_MAX_MS) {
            sp_log_warn(master->log, 0, "no worker took a handed-over client "
                        "for %d ms: closing it", SP_MASTER_HANDOFF_MAX_MS);
            close(h->fd);
            master->handoff_closed++;
            continue;
        }
        master->handoffs[kept++] = *h;
    }
    master->nhandoffs = kept;
    if (kept > 0) {
        sp_timer_add(loop, &master->handoff_timer, SP_MASTER_RETRY_MS,
                     sp_master_handoff_retry, master);
    }
}

/* Pass h on now, or keep it (in order) until someone can take it. */
static void
sp_master_queue(struct sp_master *master, struct sp_handoff *hp)
{
    struct sp_handoff h = *hp;

    if (master->nhandoffs == 0 && sp_master_adopt(master, &h) == 0) {
        return;
    }
    if (master->nhandoffs == master->handoffs_cap) {
        uint32_t cap = master->handoffs_cap == 0 ? 64 : master->handoffs_cap * 2;
        struct sp_handoff *grown = realloc(master->handoffs, cap * sizeof(h));
        if (grown == NULL) {
            close(h.fd);
            master->handoff_closed++;
            return;
        }
        master->handoffs = grown;
        master->handoffs_cap = cap;
    }
    master->handoffs[master->nhandoffs++] = h;     /* in order */
    if (!master->handoff_timer.armed) {
        sp_timer_add(master->loop, &master->handoff_timer, SP_MASTER_RETRY_MS,
                     sp_master_handoff_retry, master);
    }
}

/* From a retiring (or draining) worker of ours: a client at a boundary. */
static void
sp_master_handoff(struct sp_master *master, struct sp_process *from,
                  const struct sp_channel_msg *msg, int fd)
{
    struct sp_handoff h = { .fd = fd, .since_ms = sp_event_now_ms(master->loop) };
    const struct sp_conf_pool *cp;

    if (fd < 0) {
        return;
    }
    if (msg->slot < 0 || (uint32_t)msg->slot >= from->gen->conf->npools) {
        close(fd);
        master->handoff_closed++;
        return;
    }
    cp = &from->gen->conf->pools[msg->slot];
    h.flags = ((uint32_t)msg->arg & SP_CHANNEL_AUTHENTICATED)
              | (cp->redis ? SP_CHANNEL_REDIS : 0);
    h.auth = sp_master_auth_hash(cp->redis_auth);
    snprintf(h.name, sizeof(h.name), "%s", cp->name);
    sp_master_queue(master, &h);
}

/* From the other master of an upgrade: a client for one of our pools. */
static void
sp_master_peer_adopt(struct sp_master *master, const struct sp_channel_msg *msg,
                     int fd)
{
    struct sp_handoff h = { .fd = fd, .since_ms = sp_event_now_ms(master->loop) };

    if (fd < 0) {
        return;
    }
    memcpy(h.name, msg->name, sizeof(h.name));
    h.name[sizeof(h.name) - 1] = '\0';
    h.flags = (uint32_t)msg->arg & (SP_CHANNEL_AUTHENTICATED | SP_CHANNEL_REDIS);
    h.auth = msg->auth;
    sp_master_queue(master, &h);
}

/* A channel message that could not be read whole (EBADMSG: out of
 * descriptors for an attached one) is skipped; other errors end it. */
static bool
sp_master_channel_broken(int rc)
{
    return rc == 0 || (rc < 0 && errno != EAGAIN && errno != EWOULDBLOCK
                       && errno != EBADMSG);
}

static void
sp_master_peer_event(struct sp_event_loop *loop, int fd, uint32_t ready,
                     void *data)
{
    struct sp_master *master = data;
    struct sp_channel_msg msg;
    int passed, rc;

    (void)loop;
    (void)ready;
    while ((rc = sp_channel_recv(fd, &msg, &passed)) > 0
           || (rc < 0 && errno == EBADMSG)) {
        if (rc < 0) {
            sp_log_error(master->log, EBADMSG, "upgrade: a message from the "
                         "other master was cut short; skipped");
            continue;
        }
        if (msg.command == SP_CHANNEL_ADOPT) {
            sp_master_peer_adopt(master, &msg, passed);
        } else if (passed >= 0) {
            close(passed);
        }
    }
    if (sp_master_channel_broken(rc)) {
        sp_log_notice(master->log, "upgrade: the other master is gone");
        sp_master_close_peer(master);
    }
}

static void
sp_master_channel_event(struct sp_event_loop *loop, int fd, uint32_t ready,
                        void *data)
{
    struct sp_process *proc = data;
    struct sp_master *master = sp_event_loop_owner(loop);
    struct sp_channel_msg msg;
    int passed, rc;

    (void)ready;
    while ((rc = sp_channel_recv(fd, &msg, &passed)) > 0
           || (rc < 0 && errno == EBADMSG)) {
        if (rc < 0) {
            sp_log_error(master->log, EBADMSG, "worker #%u: a channel message "
                         "was cut short; skipped", proc->slot);
            continue;
        }
        if (msg.command == SP_CHANNEL_HANDOFF) {
            sp_master_handoff(master, proc, &msg, passed);
        } else if (passed >= 0) {
            close(passed);
        }
    }
    if (sp_master_channel_broken(rc)) {
        sp_master_close_channel(master, proc);  /* it exits; CHLD follows */
    }
}

/* ---- stopping ------------------------------------------------------------------ */

static void
sp_master_kill_gen(struct sp_master *master, struct sp_generation *gen)
{
    for (uint32_t i = 0; i < gen->nprocs; i++) {
        struct sp_process *proc = &gen->procs[i];
        if (proc->state == SP_PROCESS_RUNNING) {
            sp_log_warn(master->log, 0, "worker #%u (pid %ld, generation %u) "
                        "is still running: SIGKILL", proc->slot,
                        (long)proc->pid, gen->id);
            kill(proc->pid, SIGKILL);
        }
    }
}

static void
sp_master_kill_rest(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_master *master = timer->data;

    (void)loop;
    sp_master_kill_gen(master, master->current);
    for (struct sp_generation *g = master->retiring; g != NULL; g = g->next) {
        sp_master_kill_gen(master, g);
    }
}

static void
sp_master_kill_retired(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_generation *gen = timer->data;

    sp_master_kill_gen(sp_event_loop_owner(loop), gen);
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
    int timeout = master->current->conf->global.worker_shutdown_timeout;

    if (master->quitting || master->terminating) {
        return;
    }
    master->quitting = true;
    if (master->peer_fd >= 0) {
        /* the other master of an upgrade serves on: every client goes to
         * it at its next request boundary (a rollback loses nothing) */
        sp_log_notice(master->log, "QUIT: handing the clients over to the "
                      "other master");
        sp_master_tell(master, SP_CHANNEL_RETIRE, 0, SIGQUIT);
    } else {
        sp_master_tell(master, SP_CHANNEL_QUIT, 0, SIGQUIT);
    }
    if (timeout > 0) {
        sp_timer_add(master->loop, &master->kill_timer,
                     (uint64_t)timeout * 1000 + SP_MASTER_KILL_AFTER_MS,
                     sp_master_kill_rest, master);
    }
}

/* ---- reload (HUP) and upgrade (USR2, WINCH) -------------------------------------- */

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

static uint32_t
sp_master_nworkers(const struct sp_conf *conf)
{
    long ncpu;

    if (conf->global.worker_processes != SP_CONF_WORKERS_AUTO) {
        return (uint32_t)conf->global.worker_processes;
    }
    ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    return ncpu > 0 ? (uint32_t)ncpu : 1;
}

static struct sp_listen_spec
sp_master_spec(const struct sp_master *master, const struct sp_conf *conf,
               uint32_t nworkers)
{
    struct sp_listen_spec spec = {
        .nslots = nworkers,
        .per_slot = conf->global.accept_mode == SP_ACCEPT_REUSEPORT,
        .stats_addr = master->opts->stats_addr,
        .stats_port = master->opts->stats_port,
        .slot_stats = true,
    };
    return spec;
}

static void
sp_master_reload_failed(struct sp_master *master, const char *why)
{
    master->reload_failed++;
    sp_log_error(master->log, 0, "reload failed: %s; still serving "
                 "generation %u", why, master->current->id);
}

static void
sp_master_reload(struct sp_master *master)
{
    struct sp_generation *old = master->current, *gen;
    struct sp_conf *conf = NULL;
    char err[SP_CONF_ERRLEN];
    uint32_t nworkers;

    sp_log_rotate(master->log);
    sp_master_tell(master, SP_CHANNEL_REOPEN, 0, SIGUSR1);
    if (sp_conf_load(master->opts->conf_file, &conf, err, sizeof(err)) != 0) {
        sp_master_reload_failed(master, err);
        return;
    }
    nworkers = sp_master_nworkers(conf);
    if (nworkers == 0) {
        sp_conf_free(conf);
        sp_master_reload_failed(master, "worker_processes 0 (a single "
                                "process) takes a restart");
        return;
    }
    if (sp_master_check_user(conf, master->log) != 0) {
        sp_conf_free(conf);
        sp_master_reload_failed(master, "no such user or group");
        return;
    }
    const char *was = old->conf->global.metrics_listen,
               *now = conf->global.metrics_listen;
    if ((was == NULL) != (now == NULL)
        || (was != NULL && strcmp(was, now) != 0)) {
        sp_log_warn(master->log, 0, "reload: metrics_listen changes take a "
                    "restart; the endpoint stays on %s",
                    was != NULL ? was : "(none)");
    }
    struct sp_listen_spec spec = sp_master_spec(master, conf, nworkers);
    gen = sp_generation_create(master->next_gen_id, conf, true, nworkers,
                               &spec, &old->listen, NULL, master->log);
    if (gen == NULL) {
        sp_conf_free(conf);
        sp_master_reload_failed(master, "the new generation could not be "
                                "set up (see above)");
        return;
    }
    if (sp_totals_relayout(&master->retired, conf) != 0) {
        sp_log_warn(master->log, ENOMEM, "earlier generations' counters are "
                    "lost");
        sp_totals_free(&master->retired);
        sp_totals_init(&master->retired, conf);
    }
    master->next_gen_id++;
    master->current = gen;
    sp_master_stats_reload(master);
    master->winched = false;
    master->reloads++;
    /* the old generation's sockets that moved are the new one's; what is
     * left there (removed addresses, surplus slots) nobody accepts on */
    sp_listen_close(&old->listen);
    old->retiring = true;
    old->next = master->retiring;
    master->retiring = old;
    for (uint32_t i = 0; i < old->nprocs; i++) {
        if (old->procs[i].state == SP_PROCESS_WAITING) {
            old->procs[i].state = SP_PROCESS_EMPTY;     /* no respawn */
        }
    }
    for (uint32_t i = 0; i < gen->nprocs; i++) {
        if (sp_master_spawn(master, &gen->procs[i]) != 0) {
            gen->procs[i].state = SP_PROCESS_WAITING;      /* try again */
            gen->procs[i].respawn_at_ms = sp_event_now_ms(master->loop)
                                          + SP_MASTER_SPAWN_RETRY_MS;
        }
    }
    sp_log_notice(master->log, "reloaded '%s': generation %u with %u "
                  "worker%s; generation %u hands its clients over and retires "
                  "once it serves", master->opts->conf_file, gen->id, nworkers,
                  nworkers == 1 ? "" : "s", old->id);
    sp_master_respawn(master);
    sp_master_retire_check(master);
    sp_master_bury(master);
}

static void sp_master_retire_due(struct sp_event_loop *loop,
                                 struct sp_timer *timer);

/*
 * Retiring generations are told to hand their clients over only once the
 * current one serves (a worker has set up): if the new workers cannot
 * start (a bad CPU list, a limit they may not raise), the old ones simply
 * keep serving.
 */
static void
sp_master_retire_check(struct sp_master *master)
{
    bool pending = false;

    for (struct sp_generation *g = master->retiring; g != NULL; g = g->next) {
        if (g->retire_sent) {
            continue;
        }
        if (sp_generation_serving(master->current) == 0) {
            pending = true;
            continue;
        }
        g->retire_sent = true;
        sp_master_tell_gen(master, g, SP_CHANNEL_RETIRE, 0, SIGQUIT);
        if (g->conf->global.worker_shutdown_timeout > 0) {
            sp_timer_add(master->loop, &g->kill_timer,
                         (uint64_t)g->conf->global.worker_shutdown_timeout * 1000
                         + SP_MASTER_KILL_AFTER_MS, sp_master_kill_retired, g);
        }
    }
    if (pending && !master->retire_timer.armed) {
        sp_timer_add(master->loop, &master->retire_timer, SP_MASTER_RETRY_MS,
                     sp_master_retire_due, master);
    }
}

static void
sp_master_retire_due(struct sp_event_loop *loop, struct sp_timer *timer)
{
    (void)loop;
    sp_master_retire_check(timer->data);
}

static void
sp_master_upgrade(struct sp_master *master)
{
    if (master->upgrade_pid != 0 || master->peer_fd >= 0) {
        sp_log_warn(master->log, 0, "upgrade: one is already under way (the "
                    "other master still runs); finish it first");
        return;
    }
    pid_t pid = sp_upgrade_start(master->exe, master->argv,
                                 &master->current->listen,
                                 master->opts->pid_file, sp_master_signal_set,
                                 &master->peer_fd, master->log);
    if (pid > 0) {
        master->upgrade_pid = pid;
        if (sp_event_add(master->loop, master->peer_fd,
                         SP_EV_READ | SP_EV_LEVEL, sp_master_peer_event,
                         master) != 0) {
            sp_log_error(master->log, errno, "upgrade: cannot watch the "
                         "channel to the new master");
        }
    }
}

static void
sp_master_winch(struct sp_master *master)
{
    if (master->winched) {
        return;
    }
    master->winched = true;
    sp_log_notice(master->log, "WINCH: the workers finish what they read%s "
                  "and exit; this master stays (HUP starts them again)",
                  master->peer_fd >= 0 ? ", hand their clients over to the new "
                                         "master" : "");
    sp_master_tell_gen(master, master->current,
                       master->peer_fd >= 0 ? SP_CHANNEL_RETIRE : SP_CHANNEL_QUIT,
                       0, SIGQUIT);
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
        case SIGHUP:
            if (!master->quitting && !master->terminating) {
                sp_master_reload(master);
            }
            break;
        case SIGUSR2:
            if (!master->quitting && !master->terminating) {
                sp_master_upgrade(master);
            }
            break;
        case SIGWINCH:
            sp_master_winch(master);
            break;
        case SIGUSR1:
            sp_log_rotate(master->log);
            sp_master_tell(master, SP_CHANNEL_REOPEN, 0, SIGUSR1);
            break;
        case SIGTTIN:
        case SIGTTOU:
            sp_log_level_step(master->log, *s == SIGTTIN ? 1 : -1);
            sp_master_tell(master, SP_CHANNEL_LOG_LEVEL, *s == SIGTTIN ? 1 : -1,
                           *s);
            break;
        default:
            break;
        }
    }
}

/* ---- life ------------------------------------------------------------------------ */

static int
sp_master_init(struct sp_master *master, struct sp_conf *conf,
               uint32_t nworkers, struct sp_listen_inherited *inherited)
{
    struct sp_listen_spec spec = sp_master_spec(master, conf, nworkers);

    master->started_s = (int64_t)time(NULL);
    master->next_gen_id = 1;
    if (sp_master_check_user(conf, master->log) != 0) {
        return -1;
    }
    if (sp_signals_install(&master->signals, sp_master_signal_set,
                           master->log->fd) != 0) {
        sp_log_error(master->log, errno, "sigaction() failed");
        return -1;
    }
    if (sp_totals_init(&master->retired, conf) != 0) {
        sp_log_error(master->log, ENOMEM, "cannot set up the stats");
        return -1;
    }
    master->current = sp_generation_create(master->next_gen_id++, conf, false,
                                           nworkers, &spec, NULL, inherited,
                                           master->log);
    if (inherited != NULL) {
        sp_listen_inherited_free(inherited);    /* what the config dropped */
    }
    if (master->current == NULL) {
        return -1;
    }
    master->loop = sp_event_loop_create(0, 0, master->log);
    if (master->loop == NULL) {
        sp_log_error(master->log, errno, "cannot create the event loop");
        return -1;
    }
    sp_event_set_owner(master->loop, master);
    sp_event_set_wait_sigmask(master->loop, &master->signals.wait_mask);
    if (master->peer_fd >= 0
        && sp_event_add(master->loop, master->peer_fd, SP_EV_READ | SP_EV_LEVEL,
                        sp_master_peer_event, master) != 0) {
        sp_log_error(master->log, errno, "upgrade: cannot watch the channel "
                     "to the old master");
        return -1;
    }
    if (master->current->listen.stats_fd >= 0
        && sp_event_add(master->loop, master->current->listen.stats_fd,
                        SP_EV_READ | SP_EV_LEVEL, sp_master_stats_accept,
                        master) != 0) {
        sp_log_error(master->log, errno, "stats: cannot watch the listener");
        return -1;
    }
    return 0;
}

static void
sp_master_free_all(struct sp_master *master)
{
    sp_master_stats_stop(master);
    for (uint32_t i = 0; i < master->nhandoffs; i++) {
        close(master->handoffs[i].fd);
    }
    free(master->handoffs);
    master->handoffs = NULL;
    master->nhandoffs = 0;
    if (master->loop != NULL) {
        sp_timer_del(master->loop, &master->respawn_timer);
        sp_timer_del(master->loop, &master->kill_timer);
        sp_timer_del(master->loop, &master->handoff_timer);
        sp_timer_del(master->loop, &master->retire_timer);
        for (struct sp_generation *g = master->retiring; g != NULL; g = g->next) {
            sp_timer_del(master->loop, &g->kill_timer);
        }
        sp_event_loop_destroy(master->loop);
        master->loop = NULL;
    }
    while (master->retiring != NULL) {
        struct sp_generation *g = master->retiring;
        master->retiring = g->next;
        sp_generation_free(g);
    }
    sp_generation_free(master->current);
    master->current = NULL;
    sp_totals_free(&master->retired);
    if (master->peer_fd >= 0) {
        close(master->peer_fd);
        master->peer_fd = -1;
    }
}

static bool
sp_master_done(struct sp_master *master, int *rc)
{
    if (sp_master_count(master, SP_PROCESS_RUNNING) > 0
        || sp_master_count(master, SP_PROCESS_WAITING) > 0
        || master->nhandoffs > 0) {
        return false;
    }
    if (master->quitting || master->terminating) {
        return true;
    }
    if (master->winched) {
        return false;           /* on purpose: HUP starts workers again */
    }
    sp_log_at(master->log, SP_LOG_ALERT, 0, "no worker is left running: "
              "exiting");
    *rc = EXIT_FAILURE;
    return true;
}

int
sp_master_run(const struct sp_master_args *args)
{
    struct sp_master master = {
        .opts = args->opts, .log = args->log, .title = args->title,
        .exe = args->exe, .argv = args->argv, .peer_fd = args->peer_fd,
        .metrics_fd = -1,
    };
    char text[512];
    int rc = EXIT_SUCCESS;

    if (sp_master_init(&master, args->conf, args->nworkers, args->inherited)
        != 0 || sp_master_stats_start(&master) != 0) {
        sp_master_free_all(&master);
        return EXIT_FAILURE;
    }
    if (args->opts->pid_file != NULL
        && sp_pid_file_write(args->opts->pid_file, args->log) != 0) {
        sp_master_free_all(&master);
        return EXIT_FAILURE;
    }
    snprintf(text, sizeof(text), "master process %s",
             args->title->cmdline != NULL ? args->title->cmdline : "");
    sp_proctitle_set(args->title, text);
    sp_log_notice(args->log, "shardproxy-%s master started on pid %ld: %u "
                  "worker%s, accept_mode %s", SP_VERSION_STRING,
                  (long)getpid(), args->nworkers, args->nworkers == 1 ? "" : "s",
                  args->conf->global.accept_mode == SP_ACCEPT_LOCK ? "lock"
                                                                   : "reuseport");
    for (uint32_t i = 0; i < master.current->nprocs; i++) {
        if (sp_master_spawn(&master, &master.current->procs[i]) != 0) {
            sp_master_terminate(&master);
            rc = EXIT_FAILURE;
            break;
        }
    }

    while (!sp_master_done(&master, &rc)) {
        if (sp_event_poll(master.loop, -1) < 0) {
            sp_log_error(args->log, errno, "master loop failed");
            sp_master_terminate(&master);
            rc = EXIT_FAILURE;
        }
        sp_master_signals(&master);
        sp_master_retire_check(&master);
    }
    if (master.unclean) {
        sp_log_error(args->log, 0, "a worker did not stop cleanly");
        rc = EXIT_FAILURE;
    }
    sp_log_notice(args->log, "shardproxy master exiting");
    if (args->opts->pid_file != NULL) {
        char oldbin[4096];
        /* after an upgrade our pid file is the .oldbin one */
        sp_upgrade_oldbin_path(args->opts->pid_file, oldbin, sizeof(oldbin));
        unlink(master.upgrade_pid != 0 ? oldbin : args->opts->pid_file);
    }
    sp_master_free_all(&master);
    return rc;
}
