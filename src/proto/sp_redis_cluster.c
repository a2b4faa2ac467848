/*
 * sp_redis_cluster.c — Redis Cluster pools, the Redis side: redirections
 * followed so the client never sees them, and CLUSTER answered as one node.
 *
 * Redirections (a reply on a shared connection of a cluster pool):
 *   -MOVED slot host:port   the map is patched (until the master's next),
 *                           a refresh is asked, the request goes to that
 *                           node at once; a node the map does not know yet
 *                           is waited for (sent again after a pause)
 *   -ASK slot host:port     ASKING + the request on that node, once; the
 *                           map is left as it is
 *   -TRYAGAIN, -CLUSTERDOWN sent again after 10, 20, 40 .. 200 ms (to the
 *                           slot's node by the map when a redirection named
 *                           the slot, else the same node), within the pool's
 *                           timeout (2 s when it has none); then the error
 *                           goes to the client
 * More than cluster_max_redirects MOVED/ASK redirections of one request: it
 * gets "-ERR too many cluster redirections" (the proxy's words).
 *
 * CLUSTER from clients: KEYSLOT is computed here; INFO, SLOTS, SHARDS,
 * NODES and MYID describe the proxy as a one-node cluster holding every
 * slot at the address the client connected to, so a cluster-aware client
 * sends everything through the proxy; the rest is refused.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "sp_cluster_view.h"
#include "sp_forward.h"
#include "sp_hash.h"
#include "sp_pool.h"
#include "sp_redis_cluster.h"
#include "sp_redis_proxy.h"
#include "sp_redis_session.h"
#include "sp_redis_txn.h"
#include "sp_server.h"
#include "sp_worker.h"

#define SP_CLUSTER_WAIT_FIRST_MS   10
#define SP_CLUSTER_WAIT_MAX_MS     200
#define SP_CLUSTER_GIVE_UP_MS      2000    /* a pool without timeout */

static const char sp_asking[] = "*1\r\n$6\r\nASKING\r\n";

/* ---- redirections ---------------------------------------------------------- */

/* "slot host:port" after the word: 0, or -1 when it is not that. */
static int
sp_redirect_target(const char *text, size_t len, uint16_t *slot, char *host,
                   size_t hostcap, uint16_t *port)
{
    char buf[160];
    char *sp, *colon, *end;
    unsigned long s, p;

    if (len >= sizeof(buf)) {
        return -1;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    s = strtoul(buf, &end, 10);
    if (end == buf || *end != ' ' || s >= SP_CLUSTER_SLOTS) {
        return -1;
    }
    sp = end + 1;
    colon = strrchr(sp, ':');
    if (colon == NULL || colon == sp) {
        return -1;
    }
    *colon = '\0';
    p = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || p == 0 || p > 65535) {
        return -1;
    }
    if (sp[0] == '[' && colon[-1] == ']') {     /* [v6]:port */
        colon[-1] = '\0';
        sp++;
    }
    if ((size_t)(colon - sp) >= hostcap) {
        return -1;
    }
    snprintf(host, hostcap, "%s", sp);
    *slot = (uint16_t)s;
    *port = (uint16_t)p;
    return 0;
}

/* The next pause of a request waiting to be sent again; false when it has
 * waited as long as it may. */
static bool
sp_redirect_pause(struct sp_pool *pool, struct sp_msg *msg, uint32_t *ms)
{
    uint32_t now = (uint32_t)sp_event_now_ms(pool->worker->loop);
    struct sp_msg_ext *ext = msg->ext;

    if (ext->give_up_ms == 0) {
        int t = pool->conf->timeout;
        ext->give_up_ms = now + (t > 0 ? (uint32_t)t : SP_CLUSTER_GIVE_UP_MS);
        if (ext->give_up_ms == 0) {
            ext->give_up_ms = 1;
        }
    }
    if ((int32_t)(ext->give_up_ms - now) <= 0) {
        return false;
    }
    uint32_t shift = ext->waits < 5 ? ext->waits : 5;
    *ms = SP_CLUSTER_WAIT_FIRST_MS << shift;
    if (*ms > SP_CLUSTER_WAIT_MAX_MS) {
        *ms = SP_CLUSTER_WAIT_MAX_MS;
    }
    return true;
}

bool
sp_redis_cluster_redirect(struct sp_conn *conn, struct sp_msg *msg,
                          uint64_t len)
{
    struct sp_pool *pool = conn->pool;
    struct sp_server *from = sp_sconn(conn)->server;
    char text[192], host[SP_CLUSTER_HOST];
    uint16_t slot, port;
    uint32_t pause;
    size_t n = len < sizeof(text) - 1 ? (size_t)len : sizeof(text) - 1;
    bool moved, ask, again;

    n = sp_seglist_copy(&msg->rsp, 0, (uint8_t *)text, n);
    text[n] = '\0';
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) {
        text[--n] = '\0';
    }
    moved = strncmp(text, "-MOVED ", 7) == 0;
    ask = strncmp(text, "-ASK ", 5) == 0;
    again = strncmp(text, "-TRYAGAIN", 9) == 0
            || strncmp(text, "-CLUSTERDOWN", 12) == 0;
    if (!moved && !ask && !again) {
        return false;
    }
    if (sp_msg_ext_take(pool->worker, msg) == NULL) {
        return false;                   /* out of memory: the client sees it */
    }
    if (again) {
        /* bounded by time, not by count: a slot being migrated answers
         * TRYAGAIN until its keys are all on one side */
        if (!sp_redirect_pause(pool, msg, &pause)) {
            return false;               /* waited enough: the client sees it */
        }
        msg->ext->waits++;
        sp_seglist_clear(&pool->worker->mbufs, &msg->rsp);
        sp_cluster_view_refresh(pool, false);
        /* to the slot's owner by the map when a redirection named the slot
         * (after an ASK the migration may be over), else the same node */
        sp_cluster_view_later(pool, msg, msg->ext->again_slot, pause);
        return true;
    }
    if (++msg->ext->redirects > (uint32_t)pool->conf->cluster_max_redirects) {
        sp_log_warn(pool->worker->log, 0, "pool '%s': a request was "
                    "redirected more than %d times; last: %s",
                    pool->conf->name, pool->conf->cluster_max_redirects,
                    text + 1);
        sp_seglist_clear(&pool->worker->mbufs, &msg->rsp);
        sp_msg_fail(msg, "-ERR too many cluster redirections for one "
                    "request (cluster_max_redirects)\r\n");
        sp_msg_part_done(pool->worker, msg);
        return true;
    }
    if (sp_redirect_target(text + (moved ? 7 : 5), n - (moved ? 7 : 5), &slot,
                           host, sizeof(host), &port) != 0) {
        return false;
    }
    struct sp_server *node = sp_cluster_view_find(pool, host, port);
    msg->ext->again_slot = slot;
    if (moved) {
        from->stats->moved++;
        sp_cluster_view_refresh(pool, false);
        if (node != NULL) {
            sp_cluster_view_moved(pool, slot, node);
        }
    } else {
        from->stats->ask++;
    }
    if (node == NULL) {
        /* a node the master has not published yet: the slot's owner once
         * the map knows it; waiting for the map is bounded by time, not
         * counted as a redirection */
        if (!sp_redirect_pause(pool, msg, &pause)) {
            return false;
        }
        (void)pause;
        msg->ext->redirects--;
        sp_cluster_view_refresh(pool, false);
        sp_seglist_clear(&pool->worker->mbufs, &msg->rsp);
        sp_cluster_view_after_map(pool, msg, slot);
        return true;
    }
    sp_forward_again(pool, msg, node, ask ? sp_asking : NULL,
                     ask ? (uint32_t)(sizeof(sp_asking) - 1) : 0);
    return true;
}

/* ---- replica reads ----------------------------------------------------------- */

struct sp_server *
sp_redis_cluster_reader(struct sp_conn *client,
                        const struct sp_redis_command *cmd,
                        struct sp_server *primary)
{
    struct sp_pool *pool = client->pool;

    if (!(cmd->flags & SP_REDIS_F_READONLY) || sp_redis_txn_open(client)) {
        return primary;
    }
    return sp_cluster_view_replica(pool, primary, pool->conf->read_from
                                                  == SP_READ_PREFER_REPLICA);
}

bool
sp_redis_cluster_readers(struct sp_conn *client, struct sp_msg *msg,
                         uint32_t first)
{
    struct sp_pool *pool = msg->pool;

    for (uint32_t f = first; f < sp_msg_nfrags(msg); f++) {
        struct sp_msg *frag = msg->ext->frags[f];
        struct sp_server *to = sp_redis_cluster_reader(
            client, msg->cmd, &pool->servers[frag->server]);
        if (to == NULL) {
            return false;
        }
        frag->server = to->index;
    }
    return true;
}

/* ---- CLUSTER, answered as one node ------------------------------------------ */

/* The address the client connected to: the node a cluster-aware client
 * is told about. */
static void
sp_cluster_self(const struct sp_conn *client, char *host, size_t cap,
                unsigned *port)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    snprintf(host, cap, "127.0.0.1");
    *port = 0;
    if (getsockname(client->fd, (struct sockaddr *)&ss, &len) != 0) {
        return;
    }
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &in->sin_addr, host, (socklen_t)cap);
        *port = ntohs(in->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, (socklen_t)cap);
        *port = ntohs(in6->sin6_port);
    }
}

/* The proxy's node id: 40 hex digits from the pool's name. */
static void
sp_cluster_self_id(const struct sp_pool *pool, char id[41])
{
    const char *name = pool->conf->name;
    uint32_t h = sp_hash_crc32a((const uint8_t *)name, strlen(name));

    for (int i = 0; i < 5; i++) {
        snprintf(id + i * 8, 9, "%08" PRIx32, h);
        h = h * 2654435761u + 0x9e3779b9u;
    }
}

static int
sp_cluster_reply_bytes(struct sp_msg *msg, const char *bytes, size_t len)
{
    if (sp_msg_gen_reserve(msg, (uint32_t)len) != 0
        || sp_msg_gen_push(msg, &msg->rsp, bytes, (uint32_t)len) != 0) {
        return -1;
    }
    msg->done = true;
    return 0;
}

static int
sp_cluster_bulk(struct sp_msg *msg, const char *text)
{
    char out[1024];
    int n = snprintf(out, sizeof(out), "$%zu\r\n%s\r\n", strlen(text), text);

    return n < 0 || (size_t)n >= sizeof(out)
           ? -1 : sp_cluster_reply_bytes(msg, out, (size_t)n);
}

static bool
sp_cluster_all_served(struct sp_pool *pool)
{
    for (uint32_t s = 0; s < SP_CLUSTER_SLOTS; s++) {
        if (sp_cluster_view_node(pool, (uint16_t)s) == NULL) {
            return false;
        }
    }
    return true;
}

int
sp_redis_cluster_command(struct sp_conn *client, struct sp_msg *msg)
{
    struct sp_pool *pool = client->pool;
    struct sp_redis_args args;
    char host[64], id[41], out[1024], key[16];
    unsigned port;
    int64_t argc = sp_redis_args_all(client->worker, msg, &args);
    bool resp3 = sp_redis_resp(client) == 3;
    int n;

    if (argc < 2) {
        return sp_reply_text(msg, "-ERR wrong number of arguments for "
                             "'cluster' command\r\n");
    }
    sp_cluster_self(client, host, sizeof(host), &port);
    sp_cluster_self_id(pool, id);
    if (sp_redis_arg_is(&args, 1, "keyslot")) {
        if (argc != 3) {
            return sp_reply_text(msg, "-ERR wrong number of arguments for "
                                 "'cluster|keyslot' command\r\n");
        }
        /* the key may be long and span buffers: copied out whole */
        const struct sp_span *k = &args.argv[2];
        uint8_t small[512], *buf = k->len <= sizeof(small) ? small
                                                          : malloc(k->len);
        if (buf == NULL) {
            return sp_msg_reply_static(msg, sp_proto_redis.error_reply(ENOMEM));
        }
        sp_seglist_copy(&msg->req, k->offset, buf, k->len);
        uint16_t slot = sp_cluster_slot(buf, k->len);
        if (buf != small) {
            free(buf);
        }
        return sp_reply_text(msg, ":%u\r\n", (unsigned)slot);
    }
    if (sp_redis_arg_is(&args, 1, "info")) {
        bool ok = sp_cluster_all_served(pool);
        n = snprintf(out, sizeof(out), "cluster_enabled:1\r\ncluster_state:"
                     "%s\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:"
                     "16384\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\n"
                     "cluster_known_nodes:1\r\ncluster_size:1\r\n"
                     "cluster_current_epoch:1\r\ncluster_my_epoch:1\r\n",
                     ok ? "ok" : "fail");
        (void)n;
        return sp_cluster_bulk(msg, out);
    }
    if (sp_redis_arg_is(&args, 1, "myid")) {
        return sp_cluster_bulk(msg, id);
    }
    if (sp_redis_arg_is(&args, 1, "nodes")) {
        snprintf(out, sizeof(out), "%s %s:%u@%u myself,master - 0 0 1 "
                 "connected 0-16383\n", id, host, port, port + 10000);
        return sp_cluster_bulk(msg, out);
    }
    if (sp_redis_arg_is(&args, 1, "slots")) {
        n = snprintf(out, sizeof(out), "*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n"
                     "$%zu\r\n%s\r\n:%u\r\n$40\r\n%s\r\n", strlen(host), host,
                     port, id);
        return sp_cluster_reply_bytes(msg, out, (size_t)n);
    }
    if (sp_redis_arg_is(&args, 1, "shards")) {
        char map = resp3 ? '%' : '*';
        unsigned two = resp3 ? 2 : 4, seven = resp3 ? 7 : 14;
        n = snprintf(out, sizeof(out), "*1\r\n%c%u\r\n$5\r\nslots\r\n*2\r\n"
                     ":0\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n%c%u\r\n"
                     "$2\r\nid\r\n$40\r\n%s\r\n$4\r\nport\r\n:%u\r\n"
                     "$2\r\nip\r\n$%zu\r\n%s\r\n$8\r\nendpoint\r\n$%zu\r\n%s\r\n"
                     "$4\r\nrole\r\n$6\r\nmaster\r\n"
                     "$18\r\nreplication-offset\r\n:0\r\n"
                     "$6\r\nhealth\r\n$6\r\nonline\r\n",
                     map, two, map, seven, id, port, strlen(host), host,
                     strlen(host), host);
        return sp_cluster_reply_bytes(msg, out, (size_t)n);
    }
    if (!sp_redis_arg_str(&args, 1, key, sizeof(key))) {
        snprintf(key, sizeof(key), "?");
    }
    return sp_reply_text(msg, "-ERR CLUSTER %s is not served by the proxy "
                         "(it answers KEYSLOT, INFO, SLOTS, SHARDS, NODES and "
                         "MYID as one node)\r\n", key);
}
