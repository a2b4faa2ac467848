/*
 * sp_redis_conncmd.c — the commands about the client's own connection,
 * answered by the proxy as redis-server 7 answers them: HELLO (and RESP3),
 * AUTH in both forms, CLIENT, RESET, ROLE.
 *
 * Whom a client is (name, library, protocol, user) lives in its session
 * (sp_redis_session.h). CLIENT LIST and KILL see every worker's clients
 * (sp_redis_clients.c).
 */
#include "sp_redis_conncmd.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sp_pool.h"
#include "sp_redis_clients.h"
#include "sp_redis_proxy.h"
#include "sp_worker.h"

#define SP_MAX_ARGS 16

static const char sp_wrongpass[] =
    "-WRONGPASS invalid username-password pair or user is disabled.\r\n";

/* ---- AUTH ----------------------------------------------------------------- */

/*
 * Whether arguments user (0: none, "default") and pass pass the pool's
 * redis_auth:
 * the user is "default" or the pool's redis_auth_user.
 */
static bool
sp_redis_auth_ok(const struct sp_conf_pool *conf,
                 const struct sp_redis_args *args, uint32_t user,
                 uint32_t pass)
{
    if (user != 0 && !sp_redis_arg_is(args, user, "default")) {
        char name[256];

        if (conf->redis_auth_user == NULL
            || !sp_redis_arg_str(args, user, name, sizeof(name))
            || strcmp(name, conf->redis_auth_user) != 0) {
            return false;
        }
    }
    if (conf->redis_auth == NULL) {
        return true;            /* the default user has no password */
    }
    size_t len = strlen(conf->redis_auth);
    char *buf = malloc(len + 1);
    bool ok = buf != NULL && args->argv[pass].len == len
              && sp_redis_arg_str(args, pass, buf, len + 1)
              && strcmp(buf, conf->redis_auth) == 0;
    free(buf);
    return ok;
}

/* Remember who the client is now: argument user (0: "default"). */
static void
sp_redis_auth_set_user(struct sp_conn *client,
                       const struct sp_redis_args *args, uint32_t user)
{
    struct sp_redis_session *s = sp_redis_session(client);
    char name[256];

    if (user == 0 || sp_redis_arg_is(args, user, "default")) {
        if (s != NULL) {
            free(s->user);
            s->user = NULL;
        }
        return;
    }
    if ((s = sp_redis_session_get(client)) != NULL
        && sp_redis_arg_str(args, user, name, sizeof(name))) {
        free(s->user);
        s->user = strdup(name);
    }
}

int
sp_redis_auth(struct sp_conn *client, struct sp_msg *msg)
{
    const struct sp_conf_pool *conf = client->pool->conf;
    struct sp_span argv[4];
    struct sp_redis_args a;
    const struct sp_redis_args *args = &a;
    int64_t nargs = sp_redis_args_read(msg, argv, 4, &a);

    if (nargs < 2) {
        return sp_msg_reply_static(msg, "-ERR wrong number of arguments for "
                                   "'auth' command\r\n");
    }
    if (nargs > 3) {
        return sp_msg_reply_static(msg, "-ERR syntax error\r\n");
    }
    uint32_t user = nargs == 3 ? 1 : 0, pass = (uint32_t)nargs - 1;

    if (conf->redis_auth == NULL && user == 0) {
        return sp_msg_reply_static(msg, "-ERR AUTH <password> called without "
                                   "any password configured for the default "
                                   "user. Are you sure your configuration is "
                                   "correct?\r\n");
    }
    if (!sp_redis_auth_ok(conf, args, user, pass)) {
        client->pool->stats->client_err++;
        return sp_msg_reply_static(msg, sp_wrongpass);
    }
    client->authenticated = true;
    sp_redis_auth_set_user(client, args, user);
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

/* Set the client's name from argument i ("" clears it); an error reply if
 * it is not a valid name. 0 set, 1 refused (replied), -1 out of memory. */
static int
sp_redis_set_name(struct sp_conn *client, struct sp_msg *msg,
                  const struct sp_redis_args *args, uint32_t i)
{
    char name[1024];
    struct sp_redis_session *s;

    if (!sp_redis_arg_str(args, i, name, sizeof(name))
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
    struct sp_span argv[SP_MAX_ARGS];
    struct sp_redis_args a;
    const struct sp_redis_args *args = &a;
    int64_t nargs = sp_redis_args_read(msg, argv, SP_MAX_ARGS, &a);
    int64_t ver = sp_redis_resp(client);
    struct sp_redis_session *s;
    struct sp_rw w;

    if (nargs < 1 || nargs > SP_MAX_ARGS) {
        return sp_msg_reply_static(msg, "-ERR syntax error\r\n");
    }
    if (nargs >= 2) {
        if (!sp_redis_arg_int(args, 1, &ver)) {
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

        if (sp_redis_arg_is(args, j, "auth") && more >= 2) {
            auth_at = j;
            j += 2;
        } else if (sp_redis_arg_is(args, j, "setname") && more >= 1) {
            name_at = j;
            j += 1;
        } else {
            char opt[64];
            if (!sp_redis_arg_str(args, j, opt, sizeof(opt))) {
                strcpy(opt, "?");
            }
            return sp_reply_text(msg, "-ERR Syntax error in HELLO option "
                                      "'%s'\r\n", opt);
        }
    }
    if (auth_at > 0) {
        if (!sp_redis_auth_ok(client->pool->conf, args, (uint32_t)auth_at + 1,
                              (uint32_t)auth_at + 2)) {
            client->pool->stats->client_err++;
            return sp_msg_reply_static(msg, sp_wrongpass);
        }
        client->authenticated = true;
        sp_redis_auth_set_user(client, args, (uint32_t)auth_at + 1);
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
        int rc = sp_redis_set_name(client, msg, args, (uint32_t)name_at + 1);
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
    struct sp_span argv[SP_MAX_ARGS];
    struct sp_redis_args a;
    const struct sp_redis_args *args = &a;
    int64_t nargs = sp_redis_args_read(msg, argv, SP_MAX_ARGS, &a);
    struct sp_redis_session *s;
    char sub[32];
    struct sp_rw w;

    if (nargs < 2 || nargs > SP_MAX_ARGS) {
        return sp_msg_reply_static(msg, nargs < 2
                                   ? "-ERR wrong number of arguments for "
                                     "'client' command\r\n"
                                   : "-ERR syntax error\r\n");
    }
    if (!sp_redis_arg_str(args, 1, sub, sizeof(sub))) {
        strcpy(sub, "?");
    }

    if (sp_redis_arg_is(args, 1, "id") && nargs == 2) {
        return sp_reply_text(msg, ":%" PRIu64 "\r\n", client->id);
    }
    if (sp_redis_arg_is(args, 1, "getname") && nargs == 2) {
        s = sp_redis_session(client);
        sp_rw_init(&w, sp_redis_resp(client));
        if (s != NULL && s->name != NULL) {
            sp_rw_str(&w, s->name);
        } else {
            sp_rw_null(&w);
        }
        return sp_rw_finish(&w, msg);
    }
    if (sp_redis_arg_is(args, 1, "setname") && nargs == 3) {
        int rc = sp_redis_set_name(client, msg, args, 2);
        return rc < 0 ? -1 : rc > 0 ? 0 : sp_msg_reply_static(msg, "+OK\r\n");
    }
    if (sp_redis_arg_is(args, 1, "setinfo") && nargs == 4) {
        char value[256];
        bool name = sp_redis_arg_is(args, 2, "lib-name");

        if (!name && !sp_redis_arg_is(args, 2, "lib-ver")) {
            char opt[64];
            if (!sp_redis_arg_str(args, 2, opt, sizeof(opt))) {
                strcpy(opt, "?");
            }
            return sp_reply_text(msg, "-ERR Unrecognized option '%s'\r\n",
                                      opt);
        }
        if (!sp_redis_arg_str(args, 3, value, sizeof(value))
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
    if (sp_redis_arg_is(args, 1, "info") && nargs == 2) {
        struct sp_rw line;
        sp_rw_init(&line, 2);
        sp_redis_client_line(&line, client);
        sp_rw_init(&w, sp_redis_resp(client));
        sp_rw_verbatim(&w, line.buf != NULL ? line.buf : "", line.len);
        w.failed = w.failed || line.failed;
        free(line.buf);
        return sp_rw_finish(&w, msg);
    }
    if (sp_redis_arg_is(args, 1, "list")) {
        return sp_redis_client_list(client, msg, args, nargs);
    }
    if (sp_redis_arg_is(args, 1, "kill") && nargs >= 3) {
        return sp_redis_client_kill(client, msg, args, nargs);
    }
    if (sp_redis_arg_is(args, 1, "reply") && nargs == 3) {
        if ((s = sp_redis_session_get(client)) == NULL) {
            return -1;
        }
        if (sp_redis_arg_is(args, 2, "on")) {
            s->reply_mode = SP_REPLY_ON;
            return sp_msg_reply_static(msg, "+OK\r\n");
        }
        if (sp_redis_arg_is(args, 2, "off")) {
            s->reply_mode = SP_REPLY_OFF;
            msg->silent = true;
            return sp_msg_reply_static(msg, "+OK\r\n");
        }
        if (sp_redis_arg_is(args, 2, "skip")) {
            s->reply_mode = SP_REPLY_SKIP;
            msg->silent = true;
            return sp_msg_reply_static(msg, "+OK\r\n");
        }
        return sp_msg_reply_static(msg, "-ERR syntax error\r\n");
    }
    if ((sp_redis_arg_is(args, 1, "no-evict") || sp_redis_arg_is(args, 1, "no-touch"))
        && nargs == 3) {
        if (!sp_redis_arg_is(args, 2, "on")
            && !sp_redis_arg_is(args, 2, "off")) {
            return sp_msg_reply_static(msg, "-ERR syntax error\r\n");
        }
        return sp_msg_reply_static(msg, "+OK\r\n");
    }
    if (sp_redis_arg_is(args, 1, "help") && nargs == 2) {
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
