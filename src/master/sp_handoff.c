/*
 * sp_handoff.c — clients passed between workers through the master: a
 * retiring worker's HANDOFF at a request boundary, queued if need be, and
 * passed on with ADOPT to a current worker, or to the other master of an
 * upgrade; and the channels' events that carry them.
 */
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

#include "sp_master_int.h"
#include "sp_hash.h"
#include "sp_channel.h"
#include "sp_cluster.h"
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
    if (auth == NULL) {
        return 0;
    }
    return sp_hash_fnv1a_64_full((const uint8_t *)auth, strlen(auth)) | 1;
}

/* A client's session rides along with it, unread by the master. */
static void
sp_master_copy_session(struct sp_handoff *h, const struct sp_channel_msg *msg)
{
    h->session_len = msg->session_len <= sizeof(h->session) ? msg->session_len
                                                            : 0;
    memcpy(h->session, msg->session, h->session_len);
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
    msg.session_len = h->session_len;
    memcpy(msg.session, h->session, h->session_len);
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
    sp_master_copy_session(&h, msg);
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
    sp_master_copy_session(&h, msg);
    sp_master_queue(master, &h);
}

void
sp_master_peer_event(struct sp_event_loop *loop, int fd, uint32_t ready,
                     void *data)
{
    struct sp_master *master = data;
    struct sp_channel_msg msg;
    unsigned dropped = 0;
    int passed, rc;

    (void)loop;
    (void)ready;
    while ((rc = sp_channel_recv(fd, &msg, &passed, &dropped)) > 0) {
        if (msg.command == SP_CHANNEL_ADOPT) {
            sp_master_peer_adopt(master, &msg, passed);
        } else if (passed >= 0) {
            close(passed);
        }
    }
    if (dropped > 0) {
        sp_log_error(master->log, EBADMSG, "upgrade: %u message%s from the "
                     "other master cut short; skipped", dropped,
                     dropped == 1 ? "" : "s");
    }
    if (sp_channel_gone(rc)) {
        sp_log_notice(master->log, "upgrade: the other master is gone");
        sp_master_close_peer(master);
    }
}

void
sp_master_channel_event(struct sp_event_loop *loop, int fd, uint32_t ready,
                        void *data)
{
    struct sp_process *proc = data;
    struct sp_master *master = sp_event_loop_owner(loop);
    struct sp_channel_msg msg;
    unsigned dropped = 0;
    int passed, rc;

    (void)ready;
    while ((rc = sp_channel_recv(fd, &msg, &passed, &dropped)) > 0) {
        if (msg.command == SP_CHANNEL_HANDOFF) {
            sp_master_handoff(master, proc, &msg, passed);
        } else if (msg.command == SP_CHANNEL_ASK) {
            sp_master_relay_ask(master, proc, &msg);
            if (passed >= 0) {
                close(passed);
            }
        } else if (msg.command == SP_CHANNEL_REFRESH) {
            msg.name[sizeof(msg.name) - 1] = '\0';
            sp_cluster_refresh_asked(master->cluster, msg.name, msg.arg != 0);
            if (passed >= 0) {
                close(passed);
            }
        } else if (msg.command == SP_CHANNEL_ANSWER) {
            sp_master_relay_answer(master, &msg, passed);   /* takes it */
        } else if (passed >= 0) {
            close(passed);
        }
    }
    if (dropped > 0) {
        sp_log_error(master->log, EBADMSG, "worker #%u: %u channel message%s "
                     "cut short; skipped", proc->slot, dropped,
                     dropped == 1 ? "" : "s");
    }
    if (sp_channel_gone(rc)) {
        sp_master_close_channel(master, proc);  /* it exits; CHLD follows */
    }
}

