/*
 * sp_redis_info.c — INFO [section ...] for a Redis pool.
 *
 * The reply has redis-server's shape ("# Section" headers, "field:value"
 * lines, CRLF, a blank line between sections; a verbatim string for a
 * RESP3 client), so clients' ready checks and INFO parsers work: Server
 * (the lowest redis_version among the pool's servers, the proxy's own
 * name, version, pid, port, uptime), Clients, Memory, Persistence
 * (loading:0), Stats, Replication (role:master) and Keyspace, summed over
 * the servers. The servers are asked with one INFO each, as fragments of
 * the request; a server that cannot answer is left out of the sums and
 * counted in proxy_servers_down.
 */
#include "sp_redis_info.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sp_alloc.h"
#include "sp_cli.h"
#include "sp_forward.h"
#include "sp_pool.h"
#include "sp_redis_proxy.h"
#include "sp_redis.h"
#include "sp_redis_session.h"
#include "sp_shared.h"
#include "sp_worker.h"

static const char sp_info_req[] = "*1\r\n$4\r\nINFO\r\n";

#define SP_INFO_MAX_DBS 16
#define SP_INFO_MAX_ARGS 16

int
sp_redis_info(struct sp_conn *client, struct sp_msg *msg)
{
    struct sp_pool *pool = client->pool;

    /* one fragment per server, each carrying a plain INFO */
    if (sp_forward_every(pool, msg, 0) != 0) {
        return -1;
    }
    for (uint32_t f = 0; f < sp_msg_nfrags(msg); f++) {
        if (sp_msg_push(msg->ext->frags[f], &msg->ext->frags[f]->req, NULL,
                            (const uint8_t *)sp_info_req,
                            sizeof(sp_info_req) - 1) != 0) {
            return -1;
        }
    }
    sp_forward_fragments(pool, msg, 0);
    return 0;
}

/* ---- what the servers said -------------------------------------------------- */

struct sp_info_db {
    char    name[16];
    int64_t keys, expires;
};

struct sp_info_sum {
    char              version[32];      /* lowest redis_version */
    uint32_t          answered, down;
    struct sp_info_db dbs[SP_INFO_MAX_DBS];
    uint32_t          ndbs;
};

/* Compare dotted versions numerically ("6.2.14" < "7.0.15"). */
static int
sp_info_version_cmp(const char *a, const char *b)
{
    while (*a != '\0' || *b != '\0') {
        long x = strtol(a, (char **)&a, 10), y = strtol(b, (char **)&b, 10);

        if (x != y) {
            return x < y ? -1 : 1;
        }
        if (*a == '.') {
            a++;
        }
        if (*b == '.') {
            b++;
        }
        if ((*a != '\0' && (*a < '0' || *a > '9'))
            || (*b != '\0' && (*b < '0' || *b > '9'))) {
            break;
        }
    }
    return 0;
}

/* One "field:value" line of a server's INFO. */
static void
sp_info_line(struct sp_info_sum *sum, const char *line)
{
    const char *colon = strchr(line, ':');

    if (colon == NULL) {
        return;
    }
    size_t flen = (size_t)(colon - line);
    const char *value = colon + 1;

    if (flen == 13 && memcmp(line, "redis_version", 13) == 0) {
        char v[32];
        snprintf(v, sizeof(v), "%s", value);
        if (sum->version[0] == '\0' || sp_info_version_cmp(v, sum->version) < 0) {
            memcpy(sum->version, v, sizeof(v));
        }
        return;
    }
    if (flen < 3 || flen >= sizeof(sum->dbs[0].name)
        || memcmp(line, "db", 2) != 0 || line[2] < '0' || line[2] > '9') {
        return;
    }
    long long keys = 0, expires = 0;
    const char *k = strstr(value, "keys="), *e = strstr(value, "expires=");
    if (k != NULL) {
        keys = strtoll(k + 5, NULL, 10);
    }
    if (e != NULL) {
        expires = strtoll(e + 8, NULL, 10);
    }
    uint32_t i;
    for (i = 0; i < sum->ndbs; i++) {
        if (strlen(sum->dbs[i].name) == flen
            && memcmp(sum->dbs[i].name, line, flen) == 0) {
            break;
        }
    }
    if (i == sum->ndbs) {
        if (sum->ndbs == SP_INFO_MAX_DBS) {
            return;
        }
        memcpy(sum->dbs[i].name, line, flen);
        sum->dbs[i].name[flen] = '\0';
        sum->ndbs++;
    }
    sum->dbs[i].keys += keys;
    sum->dbs[i].expires += expires;
}

/* A server's reply: a bulk ($) or a verbatim string (=, "txt:" first). */
static void
sp_info_server(struct sp_info_sum *sum, const struct sp_msg *frag)
{
    uint64_t len = sp_seglist_bytes(&frag->rsp);
    char *text;

    if (sp_msg_error(frag) != NULL || frag->rsp_error || len < 4) {
        sum->down++;
        return;
    }
    text = malloc(len + 1);
    if (text == NULL) {
        sum->down++;
        return;
    }
    sp_seglist_copy(&frag->rsp, 0, (uint8_t *)text, len);
    text[len] = '\0';
    if (text[0] != '$' && text[0] != '=') {
        free(text);
        sum->down++;
        return;
    }
    char *body = strstr(text, "\r\n");
    if (body == NULL) {
        free(text);
        sum->down++;
        return;
    }
    body += 2;
    if (text[0] == '=' && (size_t)(text + len - body) >= 4
        && memcmp(body, "txt:", 4) == 0) {
        body += 4;
    }
    for (char *line = body; *line != '\0';) {
        char *end = strstr(line, "\r\n");
        if (end == NULL) {
            break;
        }
        *end = '\0';
        sp_info_line(sum, line);
        line = end + 2;
    }
    free(text);
    sum->answered++;
}

/* ---- the reply ------------------------------------------------------------------ */

enum {
    SP_INFO_SERVER = 1 << 0,
    SP_INFO_CLIENTS = 1 << 1,
    SP_INFO_MEMORY = 1 << 2,
    SP_INFO_PERSISTENCE = 1 << 3,
    SP_INFO_STATS = 1 << 4,
    SP_INFO_REPLICATION = 1 << 5,
    SP_INFO_CLUSTER = 1 << 6,
    SP_INFO_KEYSPACE = 1 << 7,
    SP_INFO_ALL = 0xff
};

static const struct {
    const char *name;
    unsigned    bit;
} sp_info_sections[] = {
    { "server", SP_INFO_SERVER }, { "clients", SP_INFO_CLIENTS },
    { "memory", SP_INFO_MEMORY }, { "persistence", SP_INFO_PERSISTENCE },
    { "stats", SP_INFO_STATS }, { "replication", SP_INFO_REPLICATION },
    { "cluster", SP_INFO_CLUSTER }, { "keyspace", SP_INFO_KEYSPACE },
};

/* The sections asked for (none named: the default ones, all of ours). */
static unsigned
sp_info_wanted(const struct sp_msg *msg)
{
    struct sp_span argv[SP_INFO_MAX_ARGS];
    struct sp_redis_args a;
    const struct sp_redis_args *args = &a;
    int64_t nargs = sp_redis_args_read(msg, argv, SP_INFO_MAX_ARGS, &a);
    unsigned want = 0;

    if (nargs <= 1) {
        return SP_INFO_ALL;
    }
    for (int64_t i = 1; i < nargs && i < SP_INFO_MAX_ARGS; i++) {
        if (sp_redis_arg_is(args, i, "all")
            || sp_redis_arg_is(args, i, "default")
            || sp_redis_arg_is(args, i, "everything")) {
            want |= SP_INFO_ALL;
            continue;
        }
        for (size_t s = 0; s < sizeof(sp_info_sections) / sizeof(sp_info_sections[0]);
             s++) {
            if (sp_redis_arg_is(args, i, sp_info_sections[s].name)) {
                want |= sp_info_sections[s].bit;
            }
        }
    }
    return want;
}

static void
sp_info_header(struct sp_rw *w, bool *first, const char *name)
{
    sp_rw_fmt(w, "%s# %s\r\n", *first ? "" : "\r\n", name);
    *first = false;
}

bool
sp_redis_info_complete(struct sp_worker *worker, struct sp_msg *msg)
{
    const struct sp_redis_command *cmd = msg->cmd;
    struct sp_pool *pool = sp_msg_pool(msg);
    struct sp_info_sum sum;
    struct sp_rw text, w;
    bool first = true;

    if (cmd == NULL || cmd->local != SP_REDIS_LOCAL_INFO
        || sp_msg_nfrags(msg) == 0) {
        return false;
    }
    memset(&sum, 0, sizeof(sum));
    for (uint32_t f = 0; f < sp_msg_nfrags(msg); f++) {
        sp_info_server(&sum, msg->ext->frags[f]);
    }
    sp_seglist_clear(&worker->mbufs, &msg->rsp);
    unsigned want = sp_info_wanted(msg);
    int64_t uptime = (int64_t)((sp_event_now_ms(worker->loop)
                                - worker->started_ms) / 1000);
    int64_t clients = atomic_load(&worker->shared->pool_clients[pool->index]);
    const struct sp_conf_pool *conf = pool->conf;

    sp_rw_init(&text, 2);
    if (want & SP_INFO_SERVER) {
        sp_info_header(&text, &first, "Server");
        sp_rw_fmt(&text, "redis_version:%s\r\n"
                  "redis_mode:standalone\r\n"
                  "proxy:shardproxy\r\n"
                  "proxy_version:%s\r\n"
                  "proxy_pool:%s\r\n"
                  "proxy_servers:%u\r\n"
                  "proxy_servers_down:%u\r\n"
                  "arch_bits:%zu\r\n"
                  "process_id:%ld\r\n"
                  "tcp_port:%u\r\n"
                  "uptime_in_seconds:%" PRId64 "\r\n"
                  "uptime_in_days:%" PRId64 "\r\n",
                  sum.version[0] != '\0' ? sum.version : SP_REDIS_COMPAT_VERSION,
                  SP_VERSION_STRING, conf->name, pool->nservers, sum.down,
                  sizeof(void *) * 8, (long)getpid(), conf->listen.port,
                  uptime, uptime / 86400);
    }
    if (want & SP_INFO_CLIENTS) {
        sp_info_header(&text, &first, "Clients");
        sp_rw_fmt(&text, "connected_clients:%" PRId64 "\r\n"
                  "blocked_clients:0\r\n"
                  "tracking_clients:0\r\n"
                  "worker_clients:%u\r\n", clients, pool->nclients);
    }
    if (want & SP_INFO_MEMORY) {
        size_t used = 0;
        sp_info_header(&text, &first, "Memory");
        if (sp_alloc_allocated(&used)) {
            sp_rw_fmt(&text, "used_memory:%zu\r\n", used);
        }
    }
    if (want & SP_INFO_PERSISTENCE) {
        sp_info_header(&text, &first, "Persistence");
        sp_rw_fmt(&text, "loading:0\r\nasync_loading:0\r\n");
    }
    if (want & SP_INFO_STATS) {
        uint64_t requests = 0;
        for (uint32_t i = 0; i < pool->nservers; i++) {
            requests += (uint64_t)pool->servers[i].stats->requests;
        }
        sp_info_header(&text, &first, "Stats");
        sp_rw_fmt(&text, "total_commands_forwarded:%" PRIu64 "\r\n"
                  "forward_errors:%" PRId64 "\r\n"
                  "fragments:%" PRId64 "\r\n",
                  requests, (int64_t)pool->stats->forward_error,
                  (int64_t)pool->stats->fragments);
    }
    if (want & SP_INFO_REPLICATION) {
        sp_info_header(&text, &first, "Replication");
        sp_rw_fmt(&text, "role:master\r\nconnected_slaves:0\r\n");
    }
    if (want & SP_INFO_CLUSTER) {
        /* a cluster pool is one node of a one-node cluster to its clients
         * (CLUSTER, sp_redis_cluster.c) */
        sp_info_header(&text, &first, "Cluster");
        sp_rw_fmt(&text, "cluster_enabled:%d\r\n", pool->cluster != NULL);
    }
    if (want & SP_INFO_KEYSPACE) {
        sp_info_header(&text, &first, "Keyspace");
        for (uint32_t i = 0; i < sum.ndbs; i++) {
            sp_rw_fmt(&text, "%s:keys=%" PRId64 ",expires=%" PRId64
                      ",avg_ttl=0\r\n", sum.dbs[i].name, sum.dbs[i].keys,
                      sum.dbs[i].expires);
        }
    }
    struct sp_conn *client = sp_msg_client(msg);
    int resp = client != NULL ? sp_redis_resp(client) : 2;
    sp_rw_init(&w, resp);
    sp_rw_verbatim(&w, text.buf != NULL ? text.buf : "", text.len);
    w.failed = w.failed || text.failed;
    free(text.buf);
    if (sp_rw_finish(&w, msg) != 0) {
        sp_msg_reply_static(msg, "-ERR out of memory\r\n");
    }
    return true;
}
