/*
 * sp_memcache_local.c — what the proxy answers a memcached client itself
 * (see sp_memcache_local.h).
 *
 *   quit       ─► close after the replies owed, no reply
 *   mn         ─► MN, in its place among the replies
 *   version    ─► VERSION 1.6.0 shardproxy-<its version> (sp_memcache.h)
 *   verbosity  ─► OK (a proxy has no memcached log level to set)
 *   stats      ─► the counters of this pool in this worker, as memcached
 *                 writes its own: STAT <name> <value> lines, then END
 *   0x80 ...   ─► a binary-protocol request: "Unknown command" in binary,
 *                 then close
 *
 * stats is the worker's view: the worker that holds the client's
 * connection answers with its own counters (the stats port gives the sum
 * over workers). Not a hot path: the text is built in a growable buffer.
 */
#include "sp_memcache_local.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sp_cli.h"
#include "sp_client.h"
#include "sp_log.h"
#include "sp_memcache.h"
#include "sp_net.h"
#include "sp_pool.h"
#include "sp_shared.h"
#include "sp_stats.h"
#include "sp_worker.h"

static const char sp_mc_version[] = "VERSION " SP_MEMCACHE_PROTOCOL_VERSION
                                    " shardproxy-" SP_VERSION_STRING "\r\n";

/* ---- stats ------------------------------------------------------------------ */

static void
sp_mc_stat(struct sp_stats_buf *buf, const char *name, int64_t value)
{
    sp_stats_buf_printf(buf, "STAT %s %" PRId64 "\r\n", name, value);
}

/* A server's name as one token of a STAT line: blanks and control bytes
 * (which no configured name should hold) become '_'. NULL: ENOMEM. */
static char *
sp_mc_stat_token(const char *name)
{
    size_t n = strlen(name);
    char *token = malloc(n + 1);

    if (token == NULL) {
        return NULL;
    }
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)name[i];
        token[i] = (char)(i < n && (c <= ' ' || c == 0x7f) ? '_' : c);
    }
    return token;
}

/* One server's lines: STAT server:<name>:<field> <value>. */
static void
sp_mc_stats_server(struct sp_stats_buf *buf, const struct sp_server *server)
{
    const struct sp_stats_server *st = server->stats;
    char *name = sp_mc_stat_token(server->conf->name);

    if (name == NULL) {
        buf->failed = 1;
        return;
    }
#define SP_MC_STAT_SERVER(field, kind, desc)                                  \
    sp_stats_buf_printf(buf, "STAT server:%s:" #field " %" PRId64 "\r\n",     \
                        name, st->field);
    SP_STATS_SERVER_FIELDS(SP_MC_STAT_SERVER)
#undef SP_MC_STAT_SERVER
    free(name);
}

/*
 * The text of the stats reply: who answers (process, version, worker,
 * pool), the worker's connections, the pool's fields of the stats port, the
 * server fields summed over the pool's servers, then each server's.
 */
static void
sp_mc_stats_text(struct sp_stats_buf *buf, const struct sp_pool *pool)
{
    const struct sp_worker *worker = pool->worker;
    const struct sp_stats_slot *slot = worker->slot;
    const struct sp_stats_pool *ps = pool->stats;
    struct sp_stats_server sum;
    int64_t now = (int64_t)time(NULL);

    sp_mc_stat(buf, "pid", (int64_t)worker->pid);
    sp_mc_stat(buf, "uptime", now - worker->started_s);
    sp_mc_stat(buf, "time", now);
    sp_stats_buf_printf(buf, "STAT version %s\r\n", SP_VERSION_STRING);
    sp_mc_stat(buf, "worker", (int64_t)worker->index);
    sp_stats_buf_printf(buf, "STAT pool %s\r\n", pool->conf->name);
    sp_mc_stat(buf, "servers", (int64_t)pool->nservers);
    sp_mc_stat(buf, "curr_connections", slot->curr_connections);
    sp_mc_stat(buf, "total_connections", slot->total_connections);
#define SP_MC_STAT_FIELD(field, kind, desc) sp_mc_stat(buf, #field, st->field);
    {
        const struct sp_stats_pool *st = ps;
        SP_STATS_POOL_FIELDS(SP_MC_STAT_FIELD)
    }
    memset(&sum, 0, sizeof(sum));
    for (uint32_t s = 0; s < pool->nservers; s++) {
        sp_stats_server_add(&sum, pool->servers[s].stats);
    }
    {
        const struct sp_stats_server *st = &sum;
        SP_STATS_SERVER_FIELDS(SP_MC_STAT_FIELD)
    }
#undef SP_MC_STAT_FIELD
    for (uint32_t s = 0; s < pool->nservers; s++) {
        sp_mc_stats_server(buf, &pool->servers[s]);
    }
    sp_stats_buf_printf(buf, "END\r\n");
}

static int
sp_mc_stats(struct sp_conn *client, struct sp_msg *msg)
{
    struct sp_stats_buf buf = { 0 };
    int rc = 0;

    sp_mc_stats_text(&buf, client->pool);
    if (buf.failed || buf.len > UINT32_MAX
        || sp_msg_gen_reserve(msg, (uint32_t)buf.len) != 0
        || sp_msg_gen_push(msg, &msg->rsp, buf.data, (uint32_t)buf.len)
           != 0) {
        rc = sp_msg_reply_static(msg, client->pool->proto->error_reply(ENOMEM));
    }
    msg->done = true;
    sp_stats_buf_free(&buf);
    return rc;
}

/* ---- the commands -------------------------------------------------------- */

int
sp_memcache_local(struct sp_conn *client, struct sp_msg *msg,
                  const struct sp_memcache_req_parser *p)
{
    switch (p->command->local) {
    case SP_MEMCACHE_LOCAL_QUIT:
        msg->quit = true;
        msg->done = true;
        client->closing = true;
        return 0;
    case SP_MEMCACHE_LOCAL_NOOP:
        return sp_msg_reply_static(msg, "MN\r\n");
    case SP_MEMCACHE_LOCAL_VERSION:
        return sp_msg_reply_static(msg, sp_mc_version);
    case SP_MEMCACHE_LOCAL_VERBOSITY:
        if (p->noreply) {
            msg->done = true;
            return 0;
        }
        return sp_msg_reply_static(msg, "OK\r\n");
    case SP_MEMCACHE_LOCAL_STATS:
        return sp_mc_stats(client, msg);
    case SP_MEMCACHE_LOCAL_NONE:
        break;
    }
    return sp_msg_reply_static(msg, SP_MEMCACHE_ERR_UNKNOWN "\r\n");
}

/* ---- the binary protocol ----------------------------------------------- */

int
sp_memcache_refuse_binary(struct sp_conn *client, const uint8_t *req,
                          size_t len)
{
    uint8_t out[SP_MEMCACHE_BINARY_REFUSAL];
    size_t n = sp_memcache_binary_refusal(req, len, out);
    char peer[SP_NET_PEERLEN];

    sp_net_peer_name(client->fd, peer, sizeof(peer));
    sp_log_warn(client->worker->log, 0, "pool '%s': client %s sent a "
                "memcached binary-protocol request (opcode 0x%02x); this "
                "proxy speaks only the text protocol: answered \"Unknown "
                "command\" and closing the connection",
                client->pool->conf->name, peer, len > 1 ? req[1] : 0u);
    return sp_client_fail(client, (const char *)out, n);
}
