/*
 * sp_redis_clients.c — CLIENT LIST and CLIENT KILL over the whole proxy,
 * and the line CLIENT INFO shows.
 *
 * A client's worker is not its proxy: with N workers it sees 1/N of the
 * clients. LIST and KILL turn their arguments into a filter, ask every
 * worker with it (sp_ask.h), and reply from the answers: each worker lists
 * (or closes) its own clients that match, and the asker puts the lines, or
 * the counts, together. The asking client itself is left to the asker, so
 * `CLIENT KILL ... SKIPME no` closes it after its reply, as redis-server
 * does.
 */
#include "sp_redis_clients.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "sp_ask.h"
#include "sp_pool.h"
#include "sp_redis_proxy.h"
#include "sp_redis_pubsub.h"
#include "sp_worker.h"

#define SP_CLIENT_IDS 16

/* Which clients a CLIENT LIST or KILL means: the question every worker
 * gets, as bytes (the same binary on both ends). Empty fields match all. */
struct sp_redis_client_filter {
    uint64_t ids[SP_CLIENT_IDS];
    uint32_t nids;
    uint64_t asker;             /* the asking client: the asker's own */
    char     addr[64];
    char     laddr[64];
    char     user[128];
};

/* "ip:port" (or a Unix path) of one end of a socket. */
static void
sp_redis_sockname(int fd, bool peer, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN];
    int rc = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
                  : getsockname(fd, (struct sockaddr *)&ss, &len);

    snprintf(out, cap, "?:0");
    if (rc != 0) {
        return;
    }
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(out, cap, "%s:%u", host, ntohs(in->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(out, cap, "%s:%u", host, ntohs(in6->sin6_port));
    } else if (ss.ss_family == AF_UNIX) {
        struct sockaddr_un *un = (struct sockaddr_un *)&ss;
        snprintf(out, cap, "%s:0", un->sun_path[0] != '\0' ? un->sun_path
                                                          : "/unix");
    }
}

/* One client's line of CLIENT LIST / CLIENT INFO, in redis-server's
 * field order (the fields a proxy can say something true of). */
void
sp_redis_client_line(struct sp_rw *w, const struct sp_conn *c)
{
    const struct sp_redis_session *s = sp_redis_session(c);
    uint64_t now_ms = sp_event_now_ms(c->worker->loop);
    char addr[128], laddr[128], flags[4] = "N";

    sp_redis_sockname(c->fd, true, addr, sizeof(addr));
    sp_redis_sockname(c->fd, false, laddr, sizeof(laddr));
    if (s != NULL && s->multi) {
        strcpy(flags, "x");
    } else if (s != NULL && s->lent != NULL) {
        strcpy(flags, "b");             /* blocked (BLPOP ...) */
    }
    sp_rw_fmt(w, "id=%" PRIu64 " addr=%s laddr=%s fd=%d name=%s age=%" PRIu64
              " idle=%" PRIu64 " flags=%s db=%d sub=0 psub=0 ssub=0 multi=%d"
              " qbuf=%" PRIu64 " obl=0 oll=%u omem=%" PRIu64 " events=r"
              " cmd=NULL user=%s redir=-1 resp=%d lib-name=%s lib-ver=%s\n",
              c->id, addr, laddr, c->fd,
              s != NULL && s->name != NULL ? s->name : "",
              (now_ms - c->opened_ms) / 1000,
              (now_ms - c->progress_ms) / 1000, flags,
              c->pool->conf->redis_db,
              s != NULL && s->multi ? (int)s->ntxn : -1,
              c->in_end - c->in_base, c->nreqs, c->rsp_held,
              s != NULL && s->user != NULL ? s->user : "default",
              sp_redis_resp(c),
              s != NULL && s->lib_name != NULL ? s->lib_name : "",
              s != NULL && s->lib_ver != NULL ? s->lib_ver : "");
}

static bool
sp_redis_client_matches(const struct sp_redis_client_filter *f,
                        const struct sp_conn *c)
{
    char a[128];
    bool want = f->nids == 0;

    if (!c->pool->conf->redis) {
        return false;
    }
    for (uint32_t k = 0; k < f->nids && !want; k++) {
        want = f->ids[k] == c->id;
    }
    if (!want) {
        return false;
    }
    if (f->addr[0] != '\0') {
        sp_redis_sockname(c->fd, true, a, sizeof(a));
        if (strcmp(a, f->addr) != 0) {
            return false;
        }
    }
    if (f->laddr[0] != '\0') {
        sp_redis_sockname(c->fd, false, a, sizeof(a));
        if (strcmp(a, f->laddr) != 0) {
            return false;
        }
    }
    if (f->user[0] != '\0') {
        const struct sp_redis_session *s = sp_redis_session(c);
        const char *u = s != NULL && s->user != NULL ? s->user : "default";
        if (strcmp(u, f->user) != 0) {
            return false;
        }
    }
    return true;
}

/* ---- answering another worker ---------------------------------------------- */

int64_t
sp_redis_answer(struct sp_worker *worker, uint32_t kind, const void *question,
                size_t len, char **out, size_t *outlen)
{
    struct sp_redis_client_filter f;
    struct sp_rw lines;
    int64_t n = 0;

    *out = NULL;
    *outlen = 0;
    if (kind == SP_REDIS_ASK_PUBSUB) {
        return sp_redis_pubsub_answer(worker, question, len, out, outlen);
    }
    if (len != sizeof(f)) {
        return 0;               /* another binary's question: not ours */
    }
    memcpy(&f, question, sizeof(f));
    f.nids = f.nids <= SP_CLIENT_IDS ? f.nids : SP_CLIENT_IDS;
    f.addr[sizeof(f.addr) - 1] = f.laddr[sizeof(f.laddr) - 1] = '\0';
    f.user[sizeof(f.user) - 1] = '\0';
    sp_rw_init(&lines, 2);
    for (uint32_t i = 0; i < worker->npools; i++) {
        struct sp_conn *c;

        TAILQ_FOREACH(c, &worker->pools[i].clients, link) {
            if (!sp_redis_client_matches(&f, c)) {
                continue;
            }
            if (kind == SP_REDIS_ASK_CLIENT_LIST) {
                sp_redis_client_line(&lines, c);
            } else if (kind == SP_REDIS_ASK_CLIENT_KILL && c->id != f.asker) {
                /* closed from its own event (EOF), not under our feet */
                c->io->shutdown(c, SHUT_RDWR);
                n++;
            }
        }
    }
    if (lines.failed) {
        free(lines.buf);
        return n;
    }
    *out = lines.buf;
    *outlen = lines.len;
    return n;
}

/* ---- CLIENT LIST ------------------------------------------------------------ */

static int
sp_redis_client_list_done(struct sp_msg *msg, const struct sp_ask_result *r)
{
    struct sp_rw w;

    sp_rw_init(&w, sp_redis_resp(sp_msg_client(msg)));
    sp_rw_verbatim(&w, r->bytes, r->len);
    return sp_rw_finish(&w, msg);
}

/* CLIENT LIST [TYPE normal|...] [ID id ...]: every worker's clients. */
int
sp_redis_client_list(struct sp_conn *client, struct sp_msg *msg,
                     const struct sp_redis_args *args, int64_t nargs)
{
    struct sp_redis_client_filter f;
    bool none = false;

    memset(&f, 0, sizeof(f));
    for (int64_t j = 2; j < nargs; j++) {
        if (sp_redis_arg_is(args, j, "type") && j + 1 < nargs) {
            j++;
            if (sp_redis_arg_is(args, j, "normal")) {
                continue;
            }
            if (sp_redis_arg_is(args, j, "master")
                || sp_redis_arg_is(args, j, "replica")
                || sp_redis_arg_is(args, j, "slave")
                || sp_redis_arg_is(args, j, "pubsub")) {
                none = true;
                continue;
            }
            char type[64];
            if (!sp_redis_arg_str(args, j, type, sizeof(type))) {
                strcpy(type, "?");
            }
            return sp_reply_text(msg, "-ERR Unknown client type '%s'\r\n",
                                      type);
        }
        if (sp_redis_arg_is(args, j, "id") && j + 1 < nargs) {
            for (j++; j < nargs && f.nids < SP_CLIENT_IDS; j++) {
                int64_t id;
                if (!sp_redis_arg_int(args, j, &id) || id < 1) {
                    return sp_msg_reply_static(msg, "-ERR Invalid client ID"
                                               "\r\n");
                }
                f.ids[f.nids++] = (uint64_t)id;
            }
            continue;
        }
        return sp_msg_reply_static(msg, "-ERR syntax error\r\n");
    }
    if (none) {
        struct sp_ask_result empty = { .bytes = "" };
        return sp_redis_client_list_done(msg, &empty);
    }
    f.asker = client->id;
    return sp_ask_workers(client->worker, msg, client->pool->proto,
                          SP_REDIS_ASK_CLIENT_LIST, &f, sizeof(f), 0,
                          sp_redis_client_list_done);
}

/* ---- CLIENT KILL ------------------------------------------------------------ */

/* What CLIENT KILL remembers while it asks (the ask's cookie). */
#define SP_KILL_SELF     0x1    /* the asking client goes too */
#define SP_KILL_OLD_FORM 0x2    /* CLIENT KILL addr */

/* The old form says OK or "no such client"; the new one how many it
 * closed. */
static int
sp_redis_client_kill_done(struct sp_msg *msg, const struct sp_ask_result *r)
{
    int64_t killed = r->sum + ((r->cookie & SP_KILL_SELF) ? 1 : 0);

    if (r->cookie & SP_KILL_SELF) {
        msg->quit = true;               /* after this reply */
        sp_msg_client(msg)->closing = true;
    }
    if (r->cookie & SP_KILL_OLD_FORM) {
        return sp_msg_reply_static(msg, killed > 0 ? "+OK\r\n"
                                                   : "-ERR No such client\r\n");
    }
    return sp_reply_text(msg, ":%" PRId64 "\r\n", killed);
}

/* CLIENT KILL addr | [ID id] [ADDR a] [LADDR a] [USER u] [SKIPME yes|no] */
int
sp_redis_client_kill(struct sp_conn *client, struct sp_msg *msg,
                     const struct sp_redis_args *args, int64_t nargs)
{
    struct sp_redis_client_filter f;
    bool skipme = true, old_form = nargs == 3;

    memset(&f, 0, sizeof(f));
    if (old_form) {
        if (!sp_redis_arg_str(args, 2, f.addr, sizeof(f.addr))) {
            return sp_msg_reply_static(msg, "-ERR No such client\r\n");
        }
        skipme = false;
    } else {
        if (nargs < 4 || nargs % 2 != 0) {
            return sp_msg_reply_static(msg, "-ERR syntax error\r\n");
        }
        for (int64_t j = 2; j + 1 < nargs; j += 2) {
            uint32_t v = (uint32_t)j + 1;
            bool ok = true;

            if (sp_redis_arg_is(args, j, "id")) {
                int64_t id;
                if (!sp_redis_arg_int(args, v, &id) || id <= 0) {
                    return sp_msg_reply_static(msg, "-ERR client-id should be "
                                               "greater than 0\r\n");
                }
                f.ids[0] = (uint64_t)id;
                f.nids = 1;
            } else if (sp_redis_arg_is(args, j, "addr")) {
                ok = sp_redis_arg_str(args, v, f.addr, sizeof(f.addr));
            } else if (sp_redis_arg_is(args, j, "laddr")) {
                ok = sp_redis_arg_str(args, v, f.laddr, sizeof(f.laddr));
            } else if (sp_redis_arg_is(args, j, "user")) {
                ok = sp_redis_arg_str(args, v, f.user, sizeof(f.user));
            } else if (sp_redis_arg_is(args, j, "skipme")) {
                if (sp_redis_arg_is(args, v, "yes")) {
                    skipme = true;
                } else if (sp_redis_arg_is(args, v, "no")) {
                    skipme = false;
                } else {
                    ok = false;
                }
            } else if (sp_redis_arg_is(args, j, "type")) {
                if (!sp_redis_arg_is(args, v, "normal")) {
                    return sp_msg_reply_static(msg, ":0\r\n");
                }
            } else {
                ok = false;
            }
            if (!ok) {
                return sp_msg_reply_static(msg, "-ERR syntax error\r\n");
            }
        }
    }
    f.asker = client->id;
    uint64_t cookie = (!skipme && sp_redis_client_matches(&f, client)
                       ? SP_KILL_SELF : 0) | (old_form ? SP_KILL_OLD_FORM : 0);
    return sp_ask_workers(client->worker, msg, client->pool->proto,
                          SP_REDIS_ASK_CLIENT_KILL, &f, sizeof(f), cookie,
                          sp_redis_client_kill_done);
}
