/*
 * sp_redis_conncmd.c — the commands about the client's own connection,
 * answered by the proxy as redis-server 7 answers them: HELLO (and RESP3),
 * AUTH in both forms, CLIENT, RESET, ROLE.
 *
 * Whom a client is (name, library, protocol, user) lives in its session
 * (sp_redis_session.h). CLIENT LIST, INFO and KILL see the clients of the
 * worker that serves the connection: a client's worker is its proxy.
 */
#include "sp_redis_conncmd.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sp_pool.h"
#include "sp_redis_proxy.h"
#include "sp_worker.h"

#define SP_MAX_ARGS 16

static const char sp_wrongpass[] =
    "-WRONGPASS invalid username-password pair or user is disabled.\r\n";

/* ---- AUTH ----------------------------------------------------------------- */

/*
 * Whether user (NULL: "default") and password pass the pool's redis_auth:
 * the user is "default" or the pool's redis_auth_user.
 */
static bool
sp_redis_auth_ok(const struct sp_conf_pool *conf, const struct sp_msg *msg,
                 const struct sp_span *user, const struct sp_span *pass)
{
    if (user != NULL && !sp_redis_msg_arg_is(msg, user, "default")) {
        char name[256];

        if (conf->redis_auth_user == NULL
            || !sp_redis_msg_arg_str(msg, user, name, sizeof(name))
            || strcmp(name, conf->redis_auth_user) != 0) {
            return false;
        }
    }
    if (conf->redis_auth == NULL) {
        return true;            /* the default user has no password */
    }
    size_t len = strlen(conf->redis_auth);
    char *buf = malloc(len + 1);
    bool ok = buf != NULL && pass->len == len
              && sp_redis_msg_arg_str(msg, pass, buf, len + 1)
              && strcmp(buf, conf->redis_auth) == 0;
    free(buf);
    return ok;
}

/* Remember who the client is now. */
static void
sp_redis_auth_set_user(struct sp_conn *client, const struct sp_msg *msg,
                       const struct sp_span *user)
{
    struct sp_redis_session *s = sp_redis_session(client);
    char name[256];

    if (user == NULL || sp_redis_msg_arg_is(msg, user, "default")) {
        if (s != NULL) {
            free(s->user);
            s->user = NULL;
        }
        return;
    }
    if ((s = sp_redis_session_get(client)) != NULL
        && sp_redis_msg_arg_str(msg, user, name, sizeof(name))) {
        free(s->user);
        s->user = strdup(name);
    }
}

int
sp_redis_auth(struct sp_conn *client, struct sp_msg *msg)
{
    const struct sp_conf_pool *conf = client->pool->conf;
    struct sp_span args[4];
    int64_t nargs = sp_redis_msg_args(msg, args, 4);

    if (nargs < 2) {
        return sp_msg_reply_static(msg, "-ERR wrong number of arguments for "
                                   "'auth' command\r\n");
    }
    if (nargs > 3) {
        return sp_msg_reply_static(msg, "-ERR syntax error\r\n");
    }
    const struct sp_span *user = nargs == 3 ? &args[1] : NULL;
    const struct sp_span *pass = &args[nargs - 1];

    if (conf->redis_auth == NULL && user == NULL) {
        return sp_msg_reply_static(msg, "-ERR AUTH <password> called without "
                                   "any password configured for the default "
                                   "user. Are you sure your configuration is "
                                   "correct?\r\n");
    }
    if (!sp_redis_auth_ok(conf, msg, user, pass)) {
        client->pool->stats->client_err++;
        return sp_msg_reply_static(msg, sp_wrongpass);
    }
    client->authenticated = true;
    sp_redis_auth_set_user(client, msg, user);
    return sp_msg_reply_static(msg, "+OK\r\n");
}

/* ---- HELLO ---------------------------------------------------------------- */

/* Client names and library names: printable, no spaces (Redis's rule). */
static bool
sp_redis_name_ok(const char *name)
{
    for (const char *c = name; *c != '\0'; c++) {
        if (*c < '!' || *c > '~') {
            return false;
        }
    }
    return true;
}

/* Set the client's name from arg ("" clears it); an error reply if it is
 * not a valid name. 0 set, 1 refused (replied), -1 out of memory. */
static int
sp_redis_set_name(struct sp_conn *client, struct sp_msg *msg,
                  const struct sp_span *arg)
{
    char name[1024];
    struct sp_redis_session *s;

    if (!sp_redis_msg_arg_str(msg, arg, name, sizeof(name))
        || !sp_redis_name_ok(name)) {
        sp_msg_reply_static(msg, "-ERR Client names cannot contain spaces, "
                            "newlines or special characters.\r\n");
        return 1;
    }
    if ((s = sp_redis_session_get(client)) == NULL) {
        return -1;
    }
    free(s->name);
    s->name = name[0] != '\0' ? strdup(name) : NULL;
    return 0;
}

int
sp_redis_hello(struct sp_conn *client, struct sp_msg *msg)
{
    struct sp_span args[SP_MAX_ARGS];
    int64_t nargs = sp_redis_msg_args(msg, args, SP_MAX_ARGS);
    int64_t ver = sp_redis_resp(client);
    struct sp_redis_session *s;
    struct sp_rw w;

    if (nargs < 1 || nargs > SP_MAX_ARGS) {
        return sp_msg_reply_static(msg, "-ERR syntax error\r\n");
    }
    if (nargs >= 2) {
        if (!sp_redis_msg_arg_int(msg, &args[1], &ver)) {
            return sp_msg_reply_static(msg, "-ERR Protocol version is not an "
                                       "integer or out of range\r\n");
        }
        if (ver < 2 || ver > 3) {
            return sp_msg_reply_static(msg, "-NOPROTO unsupported protocol "
                                       "version\r\n");
        }
    }
    /* the options, checked before any takes effect */
    int64_t auth_at = -1, name_at = -1;
    for (int64_t j = 2; j < nargs; j++) {
        int64_t more = nargs - j - 1;

        if (sp_redis_msg_arg_is(msg, &args[j], "auth") && more >= 2) {
            auth_at = j;
            j += 2;
        } else if (sp_redis_msg_arg_is(msg, &args[j], "setname") && more >= 1) {
            name_at = j;
            j += 1;
        } else {
            char opt[64];
            if (!sp_redis_msg_arg_str(msg, &args[j], opt, sizeof(opt))) {
                strcpy(opt, "?");
            }
            return sp_reply_text(msg, "-ERR Syntax error in HELLO option "
                                      "'%s'\r\n", opt);
        }
    }
    if (auth_at > 0) {
        if (!sp_redis_auth_ok(client->pool->conf, msg, &args[auth_at + 1],
                              &args[auth_at + 2])) {
            client->pool->stats->client_err++;
            return sp_msg_reply_static(msg, sp_wrongpass);
        }
        client->authenticated = true;
        sp_redis_auth_set_user(client, msg, &args[auth_at + 1]);
    }
    if (!client->authenticated) {
        return sp_msg_reply_static(msg, "-NOAUTH HELLO must be called with the "
                                   "client already authenticated, otherwise "
                                   "the HELLO <proto> AUTH <user> <pass> "
                                   "option can be used to authenticate the "
                                   "client and select the RESP protocol "
                                   "version at the same time\r\n");
    }
    if (name_at > 0) {
        int rc = sp_redis_set_name(client, msg, &args[name_at + 1]);
        if (rc != 0) {
            return rc < 0 ? -1 : 0;
        }
    }
    if (ver != sp_redis_resp(client)) {
        if ((s = sp_redis_session_get(client)) == NULL) {
            return -1;
        }
        s->resp = (uint8_t)ver;
        client->variant = (uint8_t)(ver - 2);   /* its own server connections */
    }
    sp_rw_init(&w, (int)ver);
    sp_rw_map(&w, 7);
    sp_rw_str(&w, "server");
    sp_rw_str(&w, "redis");
    sp_rw_str(&w, "version");
    sp_rw_str(&w, SP_REDIS_COMPAT_VERSION);
    sp_rw_str(&w, "proto");
    sp_rw_int(&w, ver);
    sp_rw_str(&w, "id");
    sp_rw_int(&w, (int64_t)client->id);
    sp_rw_str(&w, "mode");
    sp_rw_str(&w, "standalone");
    sp_rw_str(&w, "role");
    sp_rw_str(&w, "master");
    sp_rw_str(&w, "modules");
    sp_rw_array(&w, 0);
    return sp_rw_finish(&w, msg);
}

/* ---- CLIENT ----------------------------------------------------------------- */

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
static void
sp_redis_client_line(struct sp_rw *w, const struct sp_conn *c)
{
    const struct sp_redis_session *s = sp_redis_session(c);
    uint64_t now_ms = sp_event_now_ms(c->worker->loop);
    char addr[128], laddr[128], flags[4] = "N";

    sp_redis_sockname(c->fd, true, addr, sizeof(addr));
    sp_redis_sockname(c->fd, false, laddr, sizeof(laddr));
    if (s != NULL && s->multi) {
        strcpy(flags, "x");
    } else if (s != NULL && s->pinned != NULL) {
        strcpy(flags, "N");     /* watching: redis shows N too */
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

/* CLIENT LIST [TYPE normal|...] [ID id ...]: the worker's clients. */
static int
sp_redis_client_list(struct sp_conn *client, struct sp_msg *msg,
                     const struct sp_span *args, int64_t nargs)
{
    struct sp_worker *worker = client->worker;
    int64_t ids[SP_MAX_ARGS];
    uint32_t nids = 0;
    bool none = false;
    struct sp_rw w;

    for (int64_t j = 2; j < nargs; j++) {
        if (sp_redis_msg_arg_is(msg, &args[j], "type") && j + 1 < nargs) {
            j++;
            if (sp_redis_msg_arg_is(msg, &args[j], "normal")) {
                continue;
            }
            if (sp_redis_msg_arg_is(msg, &args[j], "master")
                || sp_redis_msg_arg_is(msg, &args[j], "replica")
                || sp_redis_msg_arg_is(msg, &args[j], "slave")
                || sp_redis_msg_arg_is(msg, &args[j], "pubsub")) {
                none = true;
                continue;
            }
            char type[64];
            if (!sp_redis_msg_arg_str(msg, &args[j], type, sizeof(type))) {
                strcpy(type, "?");
            }
            return sp_reply_text(msg, "-ERR Unknown client type '%s'\r\n",
                                      type);
        }
        if (sp_redis_msg_arg_is(msg, &args[j], "id") && j + 1 < nargs) {
            for (j++; j < nargs && nids < SP_MAX_ARGS; j++) {
                if (!sp_redis_msg_arg_int(msg, &args[j], &ids[nids])
                    || ids[nids] < 1) {
                    return sp_msg_reply_static(msg, "-ERR Invalid client ID"
                                               "\r\n");
                }
                nids++;
            }
            continue;
        }
        return sp_msg_reply_static(msg, "-ERR syntax error\r\n");
    }
    sp_rw_init(&w, sp_redis_resp(client));
    struct sp_rw lines;
    sp_rw_init(&lines, 2);
    for (uint32_t i = 0; i < worker->npools && !none; i++) {
        const struct sp_conn *c;

        TAILQ_FOREACH(c, &worker->pools[i].clients, link) {
            bool want = nids == 0;
            for (uint32_t k = 0; k < nids && !want; k++) {
                want = (uint64_t)ids[k] == c->id;
            }
            if (want && c->pool->conf->redis) {
                sp_redis_client_line(&lines, c);
            }
        }
    }
    sp_rw_verbatim(&w, lines.buf != NULL ? lines.buf : "", lines.len);
    w.failed = w.failed || lines.failed;
    free(lines.buf);
    return sp_rw_finish(&w, msg);
}

/* CLIENT KILL addr | [ID id] [ADDR a] [LADDR a] [USER u] [SKIPME yes|no] */
static int
sp_redis_client_kill(struct sp_conn *client, struct sp_msg *msg,
                     const struct sp_span *args, int64_t nargs)
{
    struct sp_worker *worker = client->worker;
    char addr[128] = "", laddr[128] = "", user[256] = "";
    int64_t id = 0;
    bool skipme = true, old_form = nargs == 3;
    uint64_t killed = 0;

    if (old_form) {
        if (!sp_redis_msg_arg_str(msg, &args[2], addr, sizeof(addr))) {
            return sp_msg_reply_static(msg, "-ERR No such client\r\n");
        }
        skipme = false;
    } else {
        if (nargs < 4 || nargs % 2 != 0) {
            return sp_msg_reply_static(msg, "-ERR syntax error\r\n");
        }
        for (int64_t j = 2; j + 1 < nargs; j += 2) {
            const struct sp_span *v = &args[j + 1];
            bool ok = true;

            if (sp_redis_msg_arg_is(msg, &args[j], "id")) {
                ok = sp_redis_msg_arg_int(msg, v, &id) && id > 0;
                if (!ok) {
                    return sp_msg_reply_static(msg, "-ERR client-id should be "
                                               "greater than 0\r\n");
                }
            } else if (sp_redis_msg_arg_is(msg, &args[j], "addr")) {
                ok = sp_redis_msg_arg_str(msg, v, addr, sizeof(addr));
            } else if (sp_redis_msg_arg_is(msg, &args[j], "laddr")) {
                ok = sp_redis_msg_arg_str(msg, v, laddr, sizeof(laddr));
            } else if (sp_redis_msg_arg_is(msg, &args[j], "user")) {
                ok = sp_redis_msg_arg_str(msg, v, user, sizeof(user));
            } else if (sp_redis_msg_arg_is(msg, &args[j], "skipme")) {
                if (sp_redis_msg_arg_is(msg, v, "yes")) {
                    skipme = true;
                } else if (sp_redis_msg_arg_is(msg, v, "no")) {
                    skipme = false;
                } else {
                    ok = false;
                }
            } else if (sp_redis_msg_arg_is(msg, &args[j], "type")) {
                if (!sp_redis_msg_arg_is(msg, v, "normal")) {
                    return sp_msg_reply_static(msg, old_form ? "-ERR No such "
                                               "client\r\n" : ":0\r\n");
                }
            } else {
                ok = false;
            }
            if (!ok) {
                return sp_msg_reply_static(msg, "-ERR syntax error\r\n");
            }
        }
    }
    for (uint32_t i = 0; i < worker->npools; i++) {
        struct sp_conn *c;

        TAILQ_FOREACH(c, &worker->pools[i].clients, link) {
            char a[128];

            if ((c == client && skipme) || !c->pool->conf->redis
                || (id != 0 && c->id != (uint64_t)id)) {
                continue;
            }
            if (addr[0] != '\0') {
                sp_redis_sockname(c->fd, true, a, sizeof(a));
                if (strcmp(a, addr) != 0) {
                    continue;
                }
            }
            if (laddr[0] != '\0') {
                sp_redis_sockname(c->fd, false, a, sizeof(a));
                if (strcmp(a, laddr) != 0) {
                    continue;
                }
            }
            if (user[0] != '\0') {
                const struct sp_redis_session *s = sp_redis_session(c);
                const char *u = s != NULL && s->user != NULL ? s->user
                                                             : "default";
                if (strcmp(u, user) != 0) {
                    continue;
                }
            }
            killed++;
            if (c == client) {
                msg->quit = true;           /* after this reply */
                client->closing = true;
            } else {
                /* closed from its own event (EOF), not under our feet */
                c->io->shutdown(c, SHUT_RDWR);
            }
        }
    }
    if (old_form) {
        return sp_msg_reply_static(msg, killed > 0 ? "+OK\r\n"
                                                   : "-ERR No such client\r\n");
    }
    return sp_reply_text(msg, ":%" PRIu64 "\r\n", killed);
}

static const char *const sp_redis_client_help[] = {
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME", "    Return the name of the current connection.",
    "ID", "    Return the ID of the current connection.",
    "INFO", "    Return information about the current client connection.",
    "KILL <ip:port>", "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are: ID, ADDR, LADDR, USER, SKIPME.",
    "LIST [options ...]", "    Return information about client connections "
    "of this proxy worker. Options: TYPE normal, ID <id> [...].",
    "REPLY (ON|OFF|SKIP)", "    Control the replies sent to the current "
    "connection.",
    "SETNAME <name>", "    Assign the name <name> to the current connection.",
    "SETINFO <option> <value>", "    Set LIB-NAME or LIB-VER.",
    "NO-EVICT (ON|OFF)", "NO-TOUCH (ON|OFF)", "    Accepted.",
    "HELP", "    Print this help.",
};

int
sp_redis_client(struct sp_conn *client, struct sp_msg *msg)
{
    struct sp_span args[SP_MAX_ARGS];
    int64_t nargs = sp_redis_msg_args(msg, args, SP_MAX_ARGS);
    struct sp_redis_session *s;
    char sub[32];
    struct sp_rw w;

    if (nargs < 2 || nargs > SP_MAX_ARGS) {
        return sp_msg_reply_static(msg, nargs < 2
                                   ? "-ERR wrong number of arguments for "
                                     "'client' command\r\n"
                                   : "-ERR syntax error\r\n");
    }
    if (!sp_redis_msg_arg_str(msg, &args[1], sub, sizeof(sub))) {
        strcpy(sub, "?");
    }
    const struct sp_span *a = &args[1];

    if (sp_redis_msg_arg_is(msg, a, "id") && nargs == 2) {
        return sp_reply_text(msg, ":%" PRIu64 "\r\n", client->id);
    }
    if (sp_redis_msg_arg_is(msg, a, "getname") && nargs == 2) {
        s = sp_redis_session(client);
        sp_rw_init(&w, sp_redis_resp(client));
        if (s != NULL && s->name != NULL) {
            sp_rw_str(&w, s->name);
        } else {
            sp_rw_null(&w);
        }
        return sp_rw_finish(&w, msg);
    }
    if (sp_redis_msg_arg_is(msg, a, "setname") && nargs == 3) {
        int rc = sp_redis_set_name(client, msg, &args[2]);
        return rc < 0 ? -1 : rc > 0 ? 0 : sp_msg_reply_static(msg, "+OK\r\n");
    }
    if (sp_redis_msg_arg_is(msg, a, "setinfo") && nargs == 4) {
        char value[256];
        bool name = sp_redis_msg_arg_is(msg, &args[2], "lib-name");

        if (!name && !sp_redis_msg_arg_is(msg, &args[2], "lib-ver")) {
            char opt[64];
            if (!sp_redis_msg_arg_str(msg, &args[2], opt, sizeof(opt))) {
                strcpy(opt, "?");
            }
            return sp_reply_text(msg, "-ERR Unrecognized option '%s'\r\n",
                                      opt);
        }
        if (!sp_redis_msg_arg_str(msg, &args[3], value, sizeof(value))
            || !sp_redis_name_ok(value)) {
            return sp_reply_text(msg, "-ERR %s cannot contain spaces, "
                                      "newlines or special characters.\r\n",
                                      name ? "lib-name" : "lib-ver");
        }
        if ((s = sp_redis_session_get(client)) == NULL) {
            return -1;
        }
        char **slot = name ? &s->lib_name : &s->lib_ver;
        free(*slot);
        *slot = value[0] != '\0' ? strdup(value) : NULL;
        return sp_msg_reply_static(msg, "+OK\r\n");
    }
    if (sp_redis_msg_arg_is(msg, a, "info") && nargs == 2) {
        struct sp_rw line;
        sp_rw_init(&line, 2);
        sp_redis_client_line(&line, client);
        sp_rw_init(&w, sp_redis_resp(client));
        sp_rw_verbatim(&w, line.buf != NULL ? line.buf : "", line.len);
        w.failed = w.failed || line.failed;
        free(line.buf);
        return sp_rw_finish(&w, msg);
    }
    if (sp_redis_msg_arg_is(msg, a, "list")) {
        return sp_redis_client_list(client, msg, args, nargs);
    }
    if (sp_redis_msg_arg_is(msg, a, "kill") && nargs >= 3) {
        return sp_redis_client_kill(client, msg, args, nargs);
    }
    if (sp_redis_msg_arg_is(msg, a, "reply") && nargs == 3) {
        if ((s = sp_redis_session_get(client)) == NULL) {
            return -1;
        }
        if (sp_redis_msg_arg_is(msg, &args[2], "on")) {
            s->reply_mode = SP_REPLY_ON;
            return sp_msg_reply_static(msg, "+OK\r\n");
        }
        if (sp_redis_msg_arg_is(msg, &args[2], "off")) {
            s->reply_mode = SP_REPLY_OFF;
            msg->silent = true;
            return sp_msg_reply_static(msg, "+OK\r\n");
        }
        if (sp_redis_msg_arg_is(msg, &args[2], "skip")) {
            s->reply_mode = SP_REPLY_SKIP;
            msg->silent = true;
            return sp_msg_reply_static(msg, "+OK\r\n");
        }
        return sp_msg_reply_static(msg, "-ERR syntax error\r\n");
    }
    if ((sp_redis_msg_arg_is(msg, a, "no-evict") || sp_redis_msg_arg_is(msg, a, "no-touch"))
        && nargs == 3) {
        if (!sp_redis_msg_arg_is(msg, &args[2], "on")
            && !sp_redis_msg_arg_is(msg, &args[2], "off")) {
            return sp_msg_reply_static(msg, "-ERR syntax error\r\n");
        }
        return sp_msg_reply_static(msg, "+OK\r\n");
    }
    if (sp_redis_msg_arg_is(msg, a, "help") && nargs == 2) {
        size_t n = sizeof(sp_redis_client_help) / sizeof(sp_redis_client_help[0]);
        sp_rw_init(&w, sp_redis_resp(client));
        sp_rw_array(&w, n);
        for (size_t i = 0; i < n; i++) {
            sp_rw_status(&w, sp_redis_client_help[i]);
        }
        return sp_rw_finish(&w, msg);
    }
    return sp_reply_text(msg, "-ERR unknown subcommand or wrong number "
                              "of arguments for '%s'. Try CLIENT HELP.\r\n",
                              sub);
}

/* ---- RESET, ROLE ------------------------------------------------------ */

int
sp_redis_reset(struct sp_conn *client, struct sp_msg *msg)
{
    sp_redis_session_reset(client);
    client->authenticated = client->pool->conf->redis_auth == NULL;
    return sp_msg_reply_static(msg, "+RESET\r\n");
}

int
sp_redis_role(struct sp_conn *client, struct sp_msg *msg)
{
    struct sp_rw w;

    sp_rw_init(&w, sp_redis_resp(client));
    sp_rw_array(&w, 3);
    sp_rw_str(&w, "master");
    sp_rw_int(&w, 0);
    sp_rw_array(&w, 0);
    return sp_rw_finish(&w, msg);
}
