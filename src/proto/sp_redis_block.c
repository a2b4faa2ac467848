/*
 * sp_redis_block.c — blocking commands over a sharded pool.
 *
 * A blocking call holds its server connection until it is answered, so it
 * never goes on a shared connection (every other client's requests would
 * queue behind it). The worker lends the client a connection of the
 * server's blocking set (sp_server_lend: an idle one, else a new one, up
 * to the pool's blocking_connections per server per worker) for the call:
 *
 *   BLPOP ─► keys on one server? (else -CROSSSERVER) ─► lend ─(full:
 *   an error at once)─► sent; the client is not read meanwhile
 *   (SP_FLOW_BLOCKED: what it pipelined behind runs after, as in Redis)
 *   ─► answered ─► the connection back to the idle set, the client read
 *   again ─► ... the client leaves mid-call: the connection is closed
 *   (the server still holds the call), never reused.
 *
 * The call's own timeout is honoured: the connection's reply limit is the
 * call's timeout plus the pool's `timeout` (none when the call waits for
 * ever, or the pool has none), so the pool's timeout never cuts it short.
 * A full set answers the call an error rather than making it wait: a
 * queue of waiting calls would hide an undersized set (and each would
 * need a timer of its own for its timeout), while the error is counted
 * (blocking_refused) and says which key to raise.
 *
 * Inside MULTI a blocking command is queued like any other (Redis runs it
 * without blocking there), and while the client waits it is not handed to
 * another worker on reload: sp_redis_session_save refuses until the call
 * is over.
 */
#include "sp_redis_block.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sp_defer.h"
#include "sp_flow.h"
#include "sp_forward.h"
#include "sp_pool.h"
#include "sp_redis_proxy.h"
#include "sp_redis_session.h"
#include "sp_server.h"
#include "sp_worker.h"

/* Seconds as Redis reads a blocking timeout (a float, not negative) in ms,
 * rounded up; -1 when Redis refuses it. */
static int64_t
sp_block_seconds(const struct sp_redis_args *args, uint32_t i)
{
    char buf[64], *end;
    double secs;

    if (!sp_redis_arg_str(args, i, buf, sizeof(buf)) || buf[0] == '\0'
        || buf[0] == ' ') {
        return -1;
    }
    errno = 0;
    secs = strtod(buf, &end);
    if (*end != '\0' || errno != 0 || !isfinite(secs) || secs < 0) {
        return -1;
    }
    secs = ceil(secs * 1000.0);
    return secs > (double)INT_MAX ? INT_MAX : (int64_t)secs;
}

int64_t
sp_redis_block_timeout(const struct sp_redis_command *cmd,
                       const struct sp_redis_args *args)
{
    int64_t ms;

    if (cmd->flags & SP_REDIS_F_BLOCK_OPTION) {
        uint32_t at = sp_redis_block_option(args);

        if (at == 0 || !sp_redis_arg_int(args, at + 1, &ms) || ms < 0) {
            return -1;
        }
        return ms > INT_MAX ? INT_MAX : ms;
    }
    if (args->argc < 2) {
        return -1;
    }
    if (strcmp(cmd->name, "blmpop") == 0 || strcmp(cmd->name, "bzmpop") == 0) {
        return sp_block_seconds(args, 1);
    }
    return sp_block_seconds(args, args->argc - 1);
}

bool
sp_redis_block(struct sp_conn *client, struct sp_msg *msg,
               const struct sp_redis_command *cmd,
               const struct sp_span *argv, uint32_t nargs,
               struct sp_server *server)
{
    struct sp_pool *pool = client->pool;
    struct sp_redis_args args = { &msg->req, argv, nargs };
    int64_t wait = sp_redis_block_timeout(cmd, &args);
    int pool_timeout = pool->conf->timeout;
    struct sp_redis_session *s;
    struct sp_conn *sconn;
    int guard = 0;

    if (wait < 0 || server == NULL) {
        return false;           /* answered at once: as any request */
    }
    if ((s = sp_redis_session_get(client)) == NULL) {
        sp_msg_reply_static(msg, pool->proto->error_reply(ENOMEM));
        return true;
    }
    if (wait > 0 && pool_timeout > 0) {
        guard = wait + pool_timeout > INT_MAX ? INT_MAX
                                              : (int)(wait + pool_timeout);
    }
    sconn = sp_server_lend(server, client->variant, client, guard);
    if (sconn == NULL) {
        if (errno == EBUSY) {
            pool->stats->blocking_refused++;
            sp_reply_text(msg, "-ERR blocking_connections (%d) of server "
                          "'%s' all in use: try again later\r\n",
                          pool->conf->blocking_connections,
                          server->conf->name);
            return true;
        }
        server->stats->server_err++;
        sp_server_failed(server);
        pool->stats->forward_error++;
        sp_msg_reply_static(msg, pool->proto->error_reply(errno));
        return true;
    }
    s->lent = sconn;
    sp_flow_hold(client, SP_FLOW_BLOCKED);
    sp_forward_on(sconn, msg);
    return true;
}

void
sp_redis_block_over(struct sp_conn *client)
{
    struct sp_redis_session *s = sp_redis_session(client);

    s->lent = NULL;
    if (sp_flow_release(client, SP_FLOW_BLOCKED) && !sp_defer_read(client)) {
        /* no memory to queue the read: the client's next event reads it */
        sp_log_warn(client->worker->log, ENOMEM, "pool '%s': a client is read "
                    "again only at its next event", client->pool->conf->name);
    }
}

void
sp_redis_block_cancel(struct sp_conn *client)
{
    struct sp_redis_session *s = sp_redis_session(client);
    struct sp_conn *sconn = s != NULL ? s->lent : NULL;

    if (sconn != NULL) {
        s->lent = NULL;
        sp_flow_release(client, SP_FLOW_BLOCKED);
        sp_server_lend_cancel(sconn);
    }
}
