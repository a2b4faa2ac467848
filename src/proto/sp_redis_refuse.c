/*
 * sp_redis_refuse.c — what the proxy answers a request it does not serve,
 * and the count of it (sp_refused.h): an unknown command or subcommand,
 * a command the proxy refuses (WAIT, publish/subscribe, server
 * administration, no key to route by),
 * keys that map to more than one server. Each is answered with one fixed
 * text naming the command, and the connection stays open.
 */
#include <stdio.h>
#include <string.h>

#include "sp_redis_proxy.h"
#include "sp_shared.h"
#include "sp_worker.h"

/* Printable form of a name for error texts. */
static void
sp_refuse_printable(const char *name, size_t n, char *buf, size_t len)
{
    if (n >= len) {
        n = len - 1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        buf[i] = c < 0x20 || c == 0x7f || c == '\'' ? ' ' : (char)c;
    }
    buf[n] = '\0';
}

static void
sp_refuse_count(struct sp_conn *client, sp_refused_reason_t why,
                const struct sp_redis_command *cmd)
{
    int64_t id = cmd != NULL
                 ? (int64_t)(sp_proto_refused_base(&sp_proto_redis) + cmd->id)
                 : -1;

    sp_refused_count(&client->worker->slot->refused, why, id);
}

bool
sp_redis_is_refused(const struct sp_redis_req_parser *p)
{
    const struct sp_redis_command *cmd = p->command;

    if (cmd == NULL) {
        return true;
    }
    if (cmd->nsubs > 0) {
        /* a container's row: its subcommand was not found (alone, its
         * arity answers, as Redis's: "CONFIG" has too few arguments) */
        return p->nargs >= 2;
    }
    return cmd->kind == SP_REDIS_UNSUPPORTED;
}

static const char *
sp_refuse_reason(const struct sp_redis_command *cmd)
{
    switch (cmd->refuse) {
    case SP_REDIS_REFUSE_BLOCKING:
        return "it waits on one server connection's replicas";
    case SP_REDIS_REFUSE_PUBSUB:
        return "publish/subscribe is not served";
    case SP_REDIS_REFUSE_ADMIN:
        return "server administration: send it to a server directly";
    case SP_REDIS_REFUSE_SESSION:
        return "it concerns one server connection, which a proxy's client "
               "does not have";
    default:
        return "no key to route it by";
    }
}

int
sp_redis_refuse(struct sp_conn *client, struct sp_msg *msg,
                const struct sp_redis_req_parser *p)
{
    const struct sp_redis_command *cmd = p->command;
    char name[SP_REDIS_MAX_NAME + 1], sub[SP_REDIS_MAX_NAME + 1];

    if (cmd == NULL) {
        sp_refuse_count(client, SP_REFUSED_UNKNOWN, NULL);
        sp_refuse_printable(p->name, p->name_len < SP_REDIS_MAX_NAME
                            ? p->name_len : SP_REDIS_MAX_NAME,
                            name, sizeof(name));
        return sp_reply_text(msg, "-ERR unknown command '%s'\r\n", name);
    }
    if (cmd->nsubs > 0 && p->nargs >= 2) {
        /* as Redis: the subcommand as sent, the container in capitals */
        uint8_t raw[SP_REDIS_MAX_NAME];
        uint32_t n = p->arg1.len < SP_REDIS_MAX_NAME ? p->arg1.len
                                                      : SP_REDIS_MAX_NAME;
        size_t len = strlen(cmd->name);

        sp_seglist_copy(&msg->req, p->arg1.offset - p->start, raw, n);
        sp_refuse_printable((const char *)raw, n, sub, sizeof(sub));
        for (size_t i = 0; i < len && i < SP_REDIS_MAX_NAME; i++) {
            char c = cmd->name[i];
            name[i] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
        }
        name[len < SP_REDIS_MAX_NAME ? len : SP_REDIS_MAX_NAME] = '\0';
        sp_refuse_count(client, SP_REFUSED_UNKNOWN, NULL);
        return sp_reply_text(msg, "-ERR unknown subcommand '%s'. Try %s "
                             "HELP.\r\n", sub, name);
    }
    sp_refuse_count(client, SP_REFUSED_UNSUPPORTED, cmd);
    return sp_reply_text(msg, "-ERR command '%s' is not supported by the "
                         "proxy (%s)\r\n", cmd->name, sp_refuse_reason(cmd));
}

int
sp_redis_refuse_crossserver(struct sp_conn *client, struct sp_msg *msg,
                            const struct sp_redis_command *cmd)
{
    sp_refuse_count(client, SP_REFUSED_CROSSSERVER, cmd);
    if (client->pool->cluster != NULL) {
        /* as the cluster itself answers it */
        return sp_msg_reply_static(msg, "-CROSSSLOT Keys in request don't "
                                        "hash to the same slot\r\n");
    }
    return sp_msg_reply_static(msg, SP_REDIS_CROSSSERVER);
}

const char *
sp_redis_refused_name(uint32_t id)
{
    const struct sp_redis_command *cmd = sp_redis_command_by_id(id);

    return cmd != NULL ? cmd->name : NULL;
}
