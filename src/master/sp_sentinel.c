/*
 * sp_sentinel.c — the master's Sentinel follower (see sp_sentinel.h): per
 * pool a query connection and a subscriber connection to the sentinels,
 * per server a ROLE check of a new address before it is published.
 */
#include "sp_sentinel.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sp_channel.h"
#include "sp_master_int.h"
#include "sp_resp_conn.h"
#include "sp_sentinel_replicas.h"
#include "sp_shared.h"
#include "sp_stats.h"
#include "sp_stats_report.h"

#define SP_SENTINEL_TIMEOUT_MS   1000   /* any one connect or reply */
#define SP_SENTINEL_RETRY_MS     500    /* a failed check: ask again soon */
#define SP_SENTINEL_RESUB_MS     200    /* the subscriber's next sentinel */
#define SP_SENTINEL_EVENT_MS     20     /* an event: ask again this soon
                                           (a burst of events, one round) */
#define SP_SENTINEL_REASK_MS     100    /* rounds a worker's re-ask starts:
                                           at most one per this many ms */
#define SP_SENTINEL_QUERY_IN     (256 * 1024)   /* SENTINEL REPLICAS: some
                                           hundreds of replicas per name */

/* What the subscriber listens to: a failover, and what changes which
 * replicas are healthy (or a master's health: asked at once). */
static const char *const sp_sentinel_channels[] = {
    "+switch-master", "+sdown", "-sdown", "+odown", "-odown", "+slave",
    "+convert-to-slave", "+slave-reconf-done",
};
#define SP_SENTINEL_NCHANNELS \
    (sizeof(sp_sentinel_channels) / sizeof(sp_sentinel_channels[0]))

struct sp_sentinel_pool;

struct sp_sentinel_server {
    struct sp_sentinel_pool *pool;
    uint32_t                 index;         /* in the pool */
    char                     host[SP_SHARED_HOST];  /* current address */
    uint16_t                 port;
    int64_t                  switches;
    struct sp_resp_conn      check;         /* ROLE on a new address */
    uint32_t                 check_replies;
    char                     check_host[SP_SHARED_HOST];
    uint16_t                 check_port;
    /* read_from: the healthy replicas last published (sorted) */
    struct sp_hostport       replicas[SP_SHARED_REPLICAS];
    uint32_t                 nreplicas;
    bool                     replicas_known;
};

struct sp_sentinel_pool {
    struct sp_sentinel          *owner;
    const struct sp_conf_pool   *conf;
    uint32_t                     index;     /* in the configuration */
    uint32_t                     first;     /* first server's shared slot */
    struct sp_sentinel_server   *servers;
    struct sp_resp_conn          query;
    uint32_t                     query_at;  /* sentinel asked */
    uint32_t                     query_tries;
    uint32_t                     query_replies;
    struct sp_timer              refresh_timer;
    bool                         want_replicas; /* read_from: ask for them */
    bool                         again;     /* asked for during a round:
                                               another one after it */
    uint64_t                     round_ms;  /* the last round's start */
    int64_t                      reasks;    /* rounds workers asked for */
    struct sp_resp_conn          sub;
    uint32_t                     sub_at;
    uint32_t                     sub_replies;
    struct sp_timer              sub_timer;
    int64_t                      errors;    /* sentinel errors */
};

struct sp_sentinel {
    struct sp_master        *master;
    struct sp_generation    *gen;
    struct sp_sentinel_pool *pools;     /* one per configured pool; only
                                           those with sentinels are used */
    uint32_t                 npools;
};

static int
sp_sentinel_timeout(const struct sp_sentinel_pool *sp)
{
    return sp->conf->sentinel_refresh_interval < SP_SENTINEL_TIMEOUT_MS
           ? sp->conf->sentinel_refresh_interval : SP_SENTINEL_TIMEOUT_MS;
}

static struct sp_log *
sp_sentinel_log(const struct sp_sentinel_pool *sp)
{
    return sp->owner->master->log;
}

/* AUTH [user] password on c, when `pass` is set. 0 / -1. */
static int
sp_sentinel_auth(struct sp_resp_conn *c, const char *user, const char *pass)
{
    const char *argv[3] = { "AUTH" };
    int argc = 1;

    if (pass == NULL) {
        return 0;
    }
    if (user != NULL) {
        argv[argc++] = user;
    }
    argv[argc++] = pass;
    return sp_resp_command(c, argc, argv);
}

/* ---- publishing ---------------------------------------------------------- */

/* Tell gen's running workers that server `index` of pool `pool` moved. */
static void
sp_sentinel_tell(struct sp_sentinel_pool *sp, struct sp_generation *gen,
                 uint32_t pool, uint32_t index, const char *name)
{
    for (uint32_t i = 0; i < gen->nprocs; i++) {
        struct sp_process *proc = &gen->procs[i];
        struct sp_channel_msg msg = {
            .command = SP_CHANNEL_SWITCH, .slot = (int32_t)pool,
            .pid = proc->pid, .arg = index,
        };

        snprintf(msg.name, sizeof(msg.name), "%s", name);
        if (proc->state != SP_PROCESS_RUNNING || proc->channel < 0) {
            continue;   /* one that starts later reads the new address */
        }
        if (sp_channel_send(proc->channel, &msg, -1) != 0) {
            sp_log_warn(sp_sentinel_log(sp), errno, "pool '%s': worker #%u "
                        "(generation %u) not told of server '%s''s switch; "
                        "its connections to the old master stay until they "
                        "fail", sp->conf->name, i, gen->id, name);
        }
    }
}

/* Where gen has pool sp / server `name`: its shared slot's number, and
 * the pool's and the server's index. False: gen has no such server. */
static bool
sp_sentinel_locate_gen(const struct sp_sentinel_pool *sp,
                       const struct sp_generation *gen, const char *name,
                       uint32_t *shared_index, uint32_t *pool_index,
                       uint32_t *server_index)
{
    const struct sp_conf *conf = gen->conf;
    uint32_t first = 0;

    for (uint32_t p = 0; p < conf->npools; p++) {
        const struct sp_conf_pool *pool = &conf->pools[p];

        if (pool->nsentinels == 0 || strcmp(pool->name, sp->conf->name) != 0) {
            first += pool->nservers;
            continue;
        }
        for (uint32_t j = 0; j < pool->nservers; j++) {
            if (strcmp(pool->servers[j].name, name) == 0) {
                *shared_index = first + j;
                *pool_index = p;
                *server_index = j;
                return true;
            }
        }
        return false;
    }
    return false;
}

/* Publish host:port for pool / server `name` in gen's shared region, and
 * tell its workers (a retiring generation's too: its draining clients
 * must not write to a demoted master). */
static void
sp_sentinel_publish_gen(struct sp_sentinel_pool *sp, struct sp_generation *gen,
                        const char *name, const char *host, uint16_t port)
{
    uint32_t at, p, j;

    if (sp_sentinel_locate_gen(sp, gen, name, &at, &p, &j)) {
        sp_shared_addr_set(sp_shared_addr(&gen->shared, at), host, port);
        sp_sentinel_tell(sp, gen, p, j, name);
    }
}

/* Publish a server's healthy replicas in gen's shared region: the workers
 * read it before their next replica read. */
static void
sp_sentinel_publish_replicas_gen(struct sp_sentinel_pool *sp,
                                 struct sp_generation *gen,
                                 const struct sp_sentinel_server *ss)
{
    uint32_t at, p, j;

    if (sp_sentinel_locate_gen(sp, gen, sp->conf->servers[ss->index].name,
                               &at, &p, &j)) {
        sp_shared_replicas_set(sp_shared_replicas(&gen->shared, at),
                               ss->replicas, ss->nreplicas);
    }
}

/* "host:port, host:port" (or "none") into buf. */
static void
sp_sentinel_replica_list(const struct sp_hostport *r, uint32_t n, char *buf,
                         size_t size)
{
    size_t at = 0;

    buf[0] = '\0';
    if (n == 0) {
        snprintf(buf, size, "none");
    }
    for (uint32_t i = 0; i < n && at < size; i++) {
        int w = snprintf(buf + at, size - at, strchr(r[i].host, ':') != NULL
                         ? "%s[%s]:%u" : "%s%s:%u", i > 0 ? ", " : "",
                         r[i].host, (unsigned)r[i].port);
        if (w < 0) {
            break;
        }
        at += (size_t)w;
    }
}

/* A sentinel reported the server's healthy replicas (sorted): published
 * when they differ from what was. */
static void
sp_sentinel_replicas(struct sp_sentinel_server *ss,
                     const struct sp_hostport *replicas, uint32_t n,
                     uint32_t healthy, uint32_t listed)
{
    struct sp_sentinel_pool *sp = ss->pool;
    struct sp_master *master = sp->owner->master;
    char was[160], now[160];

    if (ss->replicas_known && ss->nreplicas == n
        && memcmp(ss->replicas, replicas, n * sizeof(*replicas)) == 0) {
        return;
    }
    sp_sentinel_replica_list(ss->replicas, ss->nreplicas, was, sizeof(was));
    sp_sentinel_replica_list(replicas, n, now, sizeof(now));
    sp_log_notice(sp_sentinel_log(sp), "pool '%s': server '%s' replicas up: "
                  "%s (of %u listed%s; was %s)", sp->conf->name,
                  sp->conf->servers[ss->index].name, now, listed,
                  healthy > n ? ", more than the proxy uses" : "",
                  ss->replicas_known ? was : "not known");
    memcpy(ss->replicas, replicas, n * sizeof(*replicas));
    ss->nreplicas = n;
    ss->replicas_known = true;
    sp_sentinel_publish_replicas_gen(sp, sp->owner->gen, ss);
    for (struct sp_generation *g = master->retiring; g != NULL; g = g->next) {
        sp_sentinel_publish_replicas_gen(sp, g, ss);
    }
}

static void
sp_sentinel_publish(struct sp_sentinel_server *ss, const char *host,
                    uint16_t port)
{
    struct sp_sentinel_pool *sp = ss->pool;
    struct sp_master *master = sp->owner->master;
    const char *name = sp->conf->servers[ss->index].name;

    sp_log_notice(sp_sentinel_log(sp), "pool '%s': server '%s' switched to "
                  "the master at %s:%u (was %s:%u)", sp->conf->name, name,
                  host, (unsigned)port, ss->host, (unsigned)ss->port);
    snprintf(ss->host, sizeof(ss->host), "%s", host);
    ss->port = port;
    ss->switches++;
    sp_sentinel_publish_gen(sp, sp->owner->gen, name, host, port);
    for (struct sp_generation *g = master->retiring; g != NULL; g = g->next) {
        sp_sentinel_publish_gen(sp, g, name, host, port);
    }
}

/* ---- checking a new address with ROLE ------------------------------------ */

static void sp_sentinel_refresh_soon(struct sp_sentinel_pool *sp,
                                     uint64_t after_ms);

static void
sp_sentinel_check_reply(struct sp_resp_conn *c,
                        const struct sp_resp_reply *reply, void *data)
{
    struct sp_sentinel_server *ss = data;
    struct sp_sentinel_pool *sp = ss->pool;
    const char *name = sp->conf->servers[ss->index].name;
    bool auth = sp->conf->redis_auth != NULL;

    ss->check_replies++;
    if (auth && ss->check_replies == 1) {
        if (reply->top.type == '-') {
            sp_log_warn(sp_sentinel_log(sp), 0, "pool '%s': server '%s' at "
                        "%s refused AUTH: %.*s", sp->conf->name, name,
                        c->peer, (int)reply->top.len, reply->top.s);
            sp_resp_close(c);
            sp_sentinel_refresh_soon(sp, SP_SENTINEL_RETRY_MS);
        }
        return;
    }
    if (reply->top.type == '*' && reply->nitems >= 1
        && sp_resp_item_is(&reply->items[0], "master")) {
        char host[SP_SHARED_HOST];
        uint16_t port = ss->check_port;

        snprintf(host, sizeof(host), "%s", ss->check_host);
        sp_resp_close(c);
        sp_sentinel_publish(ss, host, port);
        return;
    }
    sp_log_warn(sp_sentinel_log(sp), 0, "pool '%s': server '%s''s new "
                "address %s is not a master by its ROLE (%.*s); not switched "
                "yet", sp->conf->name, name, c->peer,
                reply->nitems >= 1 ? (int)reply->items[0].len
                                   : (int)reply->top.len,
                reply->nitems >= 1 ? reply->items[0].s
                                   : reply->top.s != NULL ? reply->top.s : "");
    sp_resp_close(c);
    sp_sentinel_refresh_soon(sp, SP_SENTINEL_RETRY_MS);
}

static void
sp_sentinel_check_fail(struct sp_resp_conn *c, const char *why, void *data)
{
    struct sp_sentinel_server *ss = data;
    struct sp_sentinel_pool *sp = ss->pool;

    sp_log_warn(sp_sentinel_log(sp), 0, "pool '%s': server '%s''s new "
                "address %s: %s; not switched yet", sp->conf->name,
                sp->conf->servers[ss->index].name, c->peer, why);
    sp_sentinel_refresh_soon(sp, SP_SENTINEL_RETRY_MS);
}

/* A sentinel named host:port for the server: check it if it is new. */
static void
sp_sentinel_candidate(struct sp_sentinel_pool *sp, uint32_t index,
                      const char *host, size_t hostlen, uint16_t port)
{
    struct sp_sentinel_server *ss = &sp->servers[index];
    const char *argv[] = { "ROLE" };

    if (hostlen == 0 || hostlen >= SP_SHARED_HOST || port == 0) {
        return;
    }
    if (strlen(ss->host) == hostlen && memcmp(ss->host, host, hostlen) == 0
        && ss->port == port) {
        if (sp_resp_is_open(&ss->check)) {
            sp_resp_close(&ss->check);  /* back where it was */
        }
        return;
    }
    if (sp_resp_is_open(&ss->check) && ss->check_port == port
        && strlen(ss->check_host) == hostlen
        && memcmp(ss->check_host, host, hostlen) == 0) {
        return;                         /* being checked */
    }
    memcpy(ss->check_host, host, hostlen);
    ss->check_host[hostlen] = '\0';
    ss->check_port = port;
    ss->check_replies = 0;
    if (sp_resp_open(&ss->check, ss->check_host, port, sp_sentinel_timeout(sp),
                     sp_sentinel_check_reply, sp_sentinel_check_fail, ss) != 0
        || sp_sentinel_auth(&ss->check, sp->conf->redis_auth_user,
                            sp->conf->redis_auth) != 0
        || sp_resp_command(&ss->check, 1, argv) != 0) {
        sp_log_warn(sp_sentinel_log(sp), errno, "pool '%s': cannot check "
                    "server '%s''s new address %s:%u", sp->conf->name,
                    sp->conf->servers[index].name, ss->check_host,
                    (unsigned)port);
        sp_resp_close(&ss->check);
        sp_sentinel_refresh_soon(sp, SP_SENTINEL_RETRY_MS);
    }
}

static int
sp_sentinel_find(const struct sp_sentinel_pool *sp, const char *name,
                 size_t len)
{
    for (uint32_t i = 0; i < sp->conf->nservers; i++) {
        const char *n = sp->conf->servers[i].name;
        if (strlen(n) == len && memcmp(n, name, len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* ---- asking the sentinels ------------------------------------------------ */

static void sp_sentinel_query_start(struct sp_sentinel_pool *sp);

static void
sp_sentinel_error(struct sp_sentinel_pool *sp, const char *what,
                  const char *peer, const char *why)
{
    sp->errors++;
    sp_log_warn(sp_sentinel_log(sp), 0, "pool '%s': sentinel %s (%s): %s",
                sp->conf->name, peer, what, why);
}

static void
sp_sentinel_refresh(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_sentinel_pool *sp = timer->data;

    (void)loop;
    if (sp_resp_is_open(&sp->sub) && !sp->sub.connecting
        && sp->sub.expect == 0) {
        const char *argv[] = { "PING" };
        (void)sp_resp_command(&sp->sub, 1, argv);  /* a silent sentinel
                                                       times out */
    }
    if (sp_resp_is_open(&sp->query)) {
        sp->again = true;   /* a round under way: one more after it */
        return;
    }
    sp->query_tries = 0;
    sp->again = false;
    sp->round_ms = sp_event_now_ms(sp->owner->master->loop);
    sp_sentinel_query_start(sp);
}

static void
sp_sentinel_refresh_soon(struct sp_sentinel_pool *sp, uint64_t after_ms)
{
    struct sp_event_loop *loop = sp->owner->master->loop;

    if (sp->refresh_timer.armed) {
        if (sp->refresh_timer.deadline_ms <= sp_event_now_ms(loop) + after_ms) {
            return;
        }
        sp_timer_del(loop, &sp->refresh_timer);
    }
    sp_timer_add(loop, &sp->refresh_timer, after_ms, sp_sentinel_refresh, sp);
}

/* A round is over (every name answered, or every sentinel failed). */
static void
sp_sentinel_query_done(struct sp_sentinel_pool *sp)
{
    sp_resp_close(&sp->query);
    if (sp->again) {
        sp->again = false;
        sp_sentinel_refresh_soon(sp, SP_SENTINEL_EVENT_MS);
    }
    sp_sentinel_refresh_soon(sp, (uint64_t)sp->conf->sentinel_refresh_interval);
}

/* Ask every name again soon: an event, or a worker met a demoted master. */
static void
sp_sentinel_ask_again(struct sp_sentinel_pool *sp, uint64_t after_ms)
{
    if (sp_resp_is_open(&sp->query)) {
        sp->again = true;
    }
    sp_sentinel_refresh_soon(sp, after_ms);
}

/* SENTINEL REPLICAS for server `index`. */
static void
sp_sentinel_replicas_reply(struct sp_sentinel_pool *sp, uint32_t index,
                           const struct sp_resp_reply *reply)
{
    struct sp_hostport found[SP_SHARED_REPLICAS];
    uint32_t listed = 0;
    char why[160];
    int healthy;

    if (reply->top.type == '-') {
        snprintf(why, sizeof(why), "asked for '%s''s replicas: %.*s",
                 sp->conf->servers[index].name, (int)reply->top.len,
                 reply->top.s);
        sp_sentinel_error(sp, "query", sp->query.peer, why);
        return;
    }
    healthy = sp_sentinel_replicas_parse(reply->raw, reply->raw_len, found,
                                         SP_SHARED_REPLICAS, &listed);
    if (healthy < 0) {
        snprintf(why, sizeof(why), "'%s''s replicas: not a list of replicas",
                 sp->conf->servers[index].name);
        sp_sentinel_error(sp, "query", sp->query.peer, why);
        return;
    }
    sp_sentinel_replicas(&sp->servers[index], found,
                         healthy < SP_SHARED_REPLICAS ? (uint32_t)healthy
                                                      : SP_SHARED_REPLICAS,
                         (uint32_t)healthy, listed);
}

static void
sp_sentinel_query_reply(struct sp_resp_conn *c,
                        const struct sp_resp_reply *reply, void *data)
{
    struct sp_sentinel_pool *sp = data;
    uint32_t at = sp->query_replies++;
    uint32_t base = sp->conf->sentinel_auth != NULL ? 1 : 0;
    char why[160];

    if (at < base) {
        if (reply->top.type == '-') {
            snprintf(why, sizeof(why), "AUTH refused: %.*s",
                     (int)reply->top.len, reply->top.s);
            sp_resp_close(c);
            sp_resp_fail_fn fail = c->on_fail;
            fail(c, why, sp);
        }
        return;
    }
    uint32_t index = at - base;
    uint32_t nservers = sp->conf->nservers;
    if (index >= nservers) {
        sp_sentinel_replicas_reply(sp, index - nservers, reply);
        if (index + 1 == 2 * nservers) {
            sp_sentinel_query_done(sp);
        }
        return;
    }
    const char *name = sp->conf->servers[index].name;
    if (reply->top.type == '*' && reply->nitems == 2
        && reply->items[0].type == '$' && reply->items[1].type == '$') {
        sp_sentinel_candidate(sp, index, reply->items[0].s,
                              reply->items[0].len,
                              sp_sentinel_port(reply->items[1].s,
                                               reply->items[1].len));
    } else if (reply->top.type == '-') {
        snprintf(why, sizeof(why), "asked for '%s': %.*s", name,
                 (int)reply->top.len, reply->top.s);
        sp_sentinel_error(sp, "query", c->peer, why);
    } else {
        snprintf(why, sizeof(why), "knows no master named '%s'", name);
        sp_sentinel_error(sp, "query", c->peer, why);
    }
    if (index + 1 == nservers && !sp->want_replicas) {
        sp_sentinel_query_done(sp);
    }
}

static void
sp_sentinel_query_fail(struct sp_resp_conn *c, const char *why, void *data)
{
    struct sp_sentinel_pool *sp = data;

    sp_sentinel_error(sp, "query", c->peer, why);
    sp->query_at = (sp->query_at + 1) % sp->conf->nsentinels;
    sp_sentinel_query_start(sp);
}

/* Ask the next sentinel (one round tries each at most once). */
static void
sp_sentinel_query_start(struct sp_sentinel_pool *sp)
{
    const struct sp_conf_pool *conf = sp->conf;

    while (sp->query_tries < conf->nsentinels) {
        const struct sp_conf_addr *addr = &conf->sentinels[sp->query_at];
        bool ok;

        sp->query_tries++;
        sp->query_replies = 0;
        ok = sp_resp_open(&sp->query, addr->host, addr->port,
                          sp_sentinel_timeout(sp), sp_sentinel_query_reply,
                          sp_sentinel_query_fail, sp) == 0
             && sp_sentinel_auth(&sp->query, conf->sentinel_auth_user,
                                 conf->sentinel_auth) == 0;
        for (uint32_t i = 0; ok && i < conf->nservers; i++) {
            const char *argv[] = { "SENTINEL", "GET-MASTER-ADDR-BY-NAME",
                                   conf->servers[i].name };
            ok = sp_resp_command(&sp->query, 3, argv) == 0;
        }
        for (uint32_t i = 0; ok && sp->want_replicas && i < conf->nservers;
             i++) {
            const char *argv[] = { "SENTINEL", "REPLICAS",
                                   conf->servers[i].name };
            ok = sp_resp_command(&sp->query, 3, argv) == 0;
        }
        if (ok) {
            return;
        }
        sp_resp_close(&sp->query);
        char peer[80];
        snprintf(peer, sizeof(peer), "%s:%u", addr->host,
                 (unsigned)addr->port);
        sp_sentinel_error(sp, "query", peer, strerror(errno));
        sp->query_at = (sp->query_at + 1) % conf->nsentinels;
    }
    sp_sentinel_query_done(sp);     /* every one failed: at the interval */
}

/* ---- following +switch-master -------------------------------------------- */

static void sp_sentinel_sub_start(struct sp_event_loop *loop,
                                  struct sp_timer *timer);

static void
sp_sentinel_sub_again(struct sp_sentinel_pool *sp)
{
    sp->sub_at = (sp->sub_at + 1) % sp->conf->nsentinels;
    if (!sp->sub_timer.armed) {
        sp_timer_add(sp->owner->master->loop, &sp->sub_timer,
                     SP_SENTINEL_RESUB_MS, sp_sentinel_sub_start, sp);
    }
}

/* "<name> <old-ip> <old-port> <new-ip> <new-port>" */
static void
sp_sentinel_switch_message(struct sp_sentinel_pool *sp, const char *s,
                           size_t len)
{
    const char *word[5];
    size_t wlen[5], n = 0, i = 0;

    while (n < 5 && i < len) {
        while (i < len && s[i] == ' ') {
            i++;
        }
        word[n] = s + i;
        while (i < len && s[i] != ' ') {
            i++;
        }
        wlen[n] = (size_t)(s + i - word[n]);
        if (wlen[n] > 0) {
            n++;
        }
    }
    if (n < 5) {
        return;
    }
    int index = sp_sentinel_find(sp, word[0], wlen[0]);
    if (index < 0) {
        return;         /* a master of another pool, or of no pool */
    }
    sp_log_notice(sp_sentinel_log(sp), "pool '%s': sentinel %s: "
                  "+switch-master %.*s", sp->conf->name, sp->sub.peer,
                  (int)len, s);
    sp_sentinel_candidate(sp, (uint32_t)index, word[3], wlen[3],
                          sp_sentinel_port(word[4], wlen[4]));
}

/* An event of another kind than +switch-master: "<type> <name> <ip>
 * <port>" for a master, "... @ <master-name> <ip> <port>" for a replica.
 * One of the pool's masters concerned: ask again soon. */
static void
sp_sentinel_event_message(struct sp_sentinel_pool *sp,
                          const struct sp_resp_elem *channel, const char *s,
                          size_t len)
{
    const char *name = NULL;
    size_t name_len = 0;
    const char *at = NULL;

    for (size_t i = 0; i + 2 < len; i++) {
        if (s[i] == ' ' && s[i + 1] == '@' && s[i + 2] == ' ') {
            at = s + i + 3;
            break;
        }
    }
    if (at != NULL) {
        name = at;
    } else {
        const char *sp1 = memchr(s, ' ', len);  /* after the type */
        if (sp1 == NULL) {
            return;
        }
        name = sp1 + 1;
    }
    const char *end = memchr(name, ' ', (size_t)(s + len - name));
    name_len = (size_t)((end != NULL ? end : s + len) - name);
    if (sp_sentinel_find(sp, name, name_len) < 0) {
        return;
    }
    sp_log_info(sp_sentinel_log(sp), "pool '%s': sentinel %s: %.*s %.*s; "
                "asking again", sp->conf->name, sp->sub.peer,
                (int)channel->len, channel->s, (int)len, s);
    sp_sentinel_ask_again(sp, SP_SENTINEL_EVENT_MS);
}

static void
sp_sentinel_sub_reply(struct sp_resp_conn *c,
                      const struct sp_resp_reply *reply, void *data)
{
    struct sp_sentinel_pool *sp = data;
    uint32_t at = sp->sub_replies++;

    if (sp->conf->sentinel_auth != NULL && at == 0) {
        if (reply->top.type == '-') {
            char why[160];
            snprintf(why, sizeof(why), "AUTH refused: %.*s",
                     (int)reply->top.len, reply->top.s);
            sp_resp_close(c);
            sp_sentinel_error(sp, "subscriber", c->peer, why);
            sp_sentinel_sub_again(sp);
        }
        return;
    }
    if (reply->top.type != '*' || reply->nitems < 3) {
        return;
    }
    if (sp_resp_item_is(&reply->items[0], "subscribe")) {
        /* (re)subscribed: what happened before is asked for now */
        sp_sentinel_refresh_soon(sp, 0);
        return;
    }
    if (sp_resp_item_is(&reply->items[0], "message")
        && sp_resp_item_is(&reply->items[1], "+switch-master")
        && reply->items[2].type == '$') {
        sp_sentinel_switch_message(sp, reply->items[2].s, reply->items[2].len);
    } else if (sp_resp_item_is(&reply->items[0], "message")
               && reply->items[2].type == '$') {
        sp_sentinel_event_message(sp, &reply->items[1], reply->items[2].s,
                                  reply->items[2].len);
    }
}

static void
sp_sentinel_sub_fail(struct sp_resp_conn *c, const char *why, void *data)
{
    struct sp_sentinel_pool *sp = data;

    sp_sentinel_error(sp, "subscriber", c->peer, why);
    sp_sentinel_sub_again(sp);
}

static void
sp_sentinel_sub_start(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_sentinel_pool *sp = timer->data;
    const struct sp_conf_addr *addr = &sp->conf->sentinels[sp->sub_at];
    const char *argv[1 + SP_SENTINEL_NCHANNELS] = { "SUBSCRIBE" };
    int argc = 1;

    (void)loop;
    for (size_t i = 0; i < SP_SENTINEL_NCHANNELS; i++) {
        argv[argc++] = sp_sentinel_channels[i];
    }
    sp->sub_replies = 0;
    if (sp_resp_open(&sp->sub, addr->host, addr->port, sp_sentinel_timeout(sp),
                     sp_sentinel_sub_reply, sp_sentinel_sub_fail, sp) != 0
        || sp_sentinel_auth(&sp->sub, sp->conf->sentinel_auth_user,
                            sp->conf->sentinel_auth) != 0
        || sp_resp_command(&sp->sub, argc, argv) != 0) {
        char peer[80];
        snprintf(peer, sizeof(peer), "%s:%u", addr->host,
                 (unsigned)addr->port);
        sp_resp_close(&sp->sub);
        sp_sentinel_error(sp, "subscriber", peer, strerror(errno));
        sp_sentinel_sub_again(sp);
    }
}

/* ---- lifecycle ----------------------------------------------------------- */

/* The address `from` knew for pool / server name, or NULL. */
static const struct sp_sentinel_server *
sp_sentinel_known(const struct sp_sentinel *from, const char *pool,
                  const char *server)
{
    for (uint32_t i = 0; from != NULL && i < from->npools; i++) {
        const struct sp_sentinel_pool *sp = &from->pools[i];
        if (sp->servers == NULL || strcmp(sp->conf->name, pool) != 0) {
            continue;
        }
        int index = sp_sentinel_find(sp, server, strlen(server));
        return index >= 0 ? &sp->servers[index] : NULL;
    }
    return NULL;
}

static int
sp_sentinel_pool_start(struct sp_sentinel *s, struct sp_sentinel_pool *sp,
                       const struct sp_sentinel *from)
{
    struct sp_event_loop *loop = s->master->loop;
    const struct sp_conf_pool *conf = sp->conf;

    sp->servers = calloc(conf->nservers, sizeof(*sp->servers));
    if (sp->servers == NULL) {
        return -1;
    }
    for (uint32_t j = 0; j < conf->nservers; j++) {
        struct sp_sentinel_server *ss = &sp->servers[j];
        const struct sp_conf_server *cs = &conf->servers[j];
        const struct sp_sentinel_server *known =
            sp_sentinel_known(from, conf->name, cs->name);

        ss->pool = sp;
        ss->index = j;
        sp_resp_init(&ss->check, loop);
        snprintf(ss->host, sizeof(ss->host), "%s", cs->addr.host);
        ss->port = cs->addr.port;
        if (known != NULL && (strcmp(known->host, ss->host) != 0
                              || known->port != ss->port)) {
            /* before any worker of the generation connects */
            snprintf(ss->host, sizeof(ss->host), "%s", known->host);
            ss->port = known->port;
            sp_shared_addr_set(sp_shared_addr(&s->gen->shared, sp->first + j),
                               ss->host, ss->port);
        }
        if (known != NULL) {
            ss->switches = known->switches;
        }
        if (known != NULL && known->replicas_known) {
            /* the replicas known, for the new generation's first reads */
            memcpy(ss->replicas, known->replicas, sizeof(ss->replicas));
            ss->nreplicas = known->nreplicas;
            ss->replicas_known = true;
            sp_shared_replicas_set(sp_shared_replicas(&s->gen->shared,
                                                      sp->first + j),
                                   ss->replicas, ss->nreplicas);
        }
    }
    sp->want_replicas = conf->read_from != SP_READ_PRIMARY;
    sp_resp_init(&sp->query, loop);
    if (sp->want_replicas) {
        sp_resp_set_input(&sp->query, SP_SENTINEL_QUERY_IN);
    }
    sp_resp_init(&sp->sub, loop);
    sp_timer_add(loop, &sp->refresh_timer, 0, sp_sentinel_refresh, sp);
    sp_timer_add(loop, &sp->sub_timer, 0, sp_sentinel_sub_start, sp);
    return 0;
}

struct sp_sentinel *
sp_sentinel_start(struct sp_master *master, struct sp_generation *gen,
                  const struct sp_sentinel *from)
{
    const struct sp_conf *conf = gen->conf;
    struct sp_sentinel *s;
    uint32_t first = 0;
    bool any = false;

    for (uint32_t i = 0; i < conf->npools; i++) {
        any = any || conf->pools[i].nsentinels > 0;
    }
    if (!any) {
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->pools = calloc(conf->npools, sizeof(*s->pools)))
                     == NULL) {
        free(s);
        sp_log_error(master->log, ENOMEM, "cannot follow the sentinels");
        return NULL;
    }
    s->master = master;
    s->gen = gen;
    s->npools = conf->npools;
    for (uint32_t i = 0; i < conf->npools; i++) {
        struct sp_sentinel_pool *sp = &s->pools[i];

        sp->owner = s;
        sp->conf = &conf->pools[i];
        sp->index = i;
        sp->first = first;
        first += conf->pools[i].nservers;
        if (sp->conf->nsentinels > 0
            && sp_sentinel_pool_start(s, sp, from) != 0) {
            sp_log_error(master->log, ENOMEM, "pool '%s': cannot follow the "
                         "sentinels", sp->conf->name);
        }
    }
    return s;
}

void
sp_sentinel_stop(struct sp_sentinel *s)
{
    if (s == NULL) {
        return;
    }
    struct sp_event_loop *loop = s->master->loop;
    for (uint32_t i = 0; i < s->npools; i++) {
        struct sp_sentinel_pool *sp = &s->pools[i];
        if (sp->servers == NULL) {
            continue;
        }
        sp_resp_close(&sp->query);
        sp_resp_close(&sp->sub);
        sp_timer_del(loop, &sp->refresh_timer);
        sp_timer_del(loop, &sp->sub_timer);
        for (uint32_t j = 0; j < sp->conf->nservers; j++) {
            sp_resp_close(&sp->servers[j].check);
        }
        free(sp->servers);
    }
    free(s->pools);
    free(s);
}

static void
sp_sentinel_forget_conn(struct sp_resp_conn *c)
{
    sp_resp_forget(c);
}

void
sp_sentinel_forget(struct sp_sentinel *s)
{
    for (uint32_t i = 0; s != NULL && i < s->npools; i++) {
        struct sp_sentinel_pool *sp = &s->pools[i];
        if (sp->servers == NULL) {
            continue;
        }
        sp_sentinel_forget_conn(&sp->query);
        sp_sentinel_forget_conn(&sp->sub);
        for (uint32_t j = 0; j < sp->conf->nservers; j++) {
            sp_sentinel_forget_conn(&sp->servers[j].check);
        }
        free(sp->servers);
    }
    if (s != NULL) {
        free(s->pools);
        free(s);
    }
}

/* ---- stats --------------------------------------------------------------- */


int
sp_sentinel_json(const struct sp_sentinel *s, char **pools, char **servers)
{
    int rc = 0;

    for (uint32_t i = 0; s != NULL && i < s->npools; i++) {
        const struct sp_sentinel_pool *sp = &s->pools[i];
        if (sp->servers == NULL) {
            continue;
        }
        rc |= sp_stats_report_append(&pools[i], ", \"sentinel_errors\":%lld, "
                                 "\"sentinel_reasks\":%lld",
                                 (long long)sp->errors,
                                 (long long)sp->reasks);
        for (uint32_t j = 0; j < sp->conf->nservers; j++) {
            const struct sp_sentinel_server *ss = &sp->servers[j];
            rc |= sp_stats_report_append(&servers[sp->first + j],
                                     strchr(ss->host, ':') != NULL
                                     ? ", \"master\":\"[%s]:%u\", "
                                       "\"switches\":%lld"
                                     : ", \"master\":\"%s:%u\", "
                                       "\"switches\":%lld",
                                     ss->host, (unsigned)ss->port,
                                     (long long)ss->switches);
            if (sp->want_replicas) {
                rc |= sp_stats_report_append(&servers[sp->first + j],
                                         ", \"replicas_up\":%u",
                                         ss->nreplicas);
            }
        }
    }
    return rc;
}

void
sp_sentinel_metrics(const struct sp_sentinel *s, struct sp_stats_buf *buf)
{
    if (s == NULL) {
        return;
    }
    sp_stats_buf_printf(buf, "# HELP shardproxy_server_switches_total Times "
                        "a Sentinel-managed server's master address "
                        "changed.\n# TYPE shardproxy_server_switches_total "
                        "counter\n");
    for (uint32_t i = 0; i < s->npools; i++) {
        const struct sp_sentinel_pool *sp = &s->pools[i];
        for (uint32_t j = 0; sp->servers != NULL && j < sp->conf->nservers;
             j++) {
            const struct sp_sentinel_server *ss = &sp->servers[j];
            sp_stats_buf_printf(buf, "shardproxy_server_switches_total{pool="
                                "\"%s\",server=\"%s\"} %lld\n",
                                sp->conf->name, sp->conf->servers[j].name,
                                (long long)ss->switches);
        }
    }
    sp_stats_buf_printf(buf, "# HELP shardproxy_server_replicas_up Healthy "
                        "replicas a Sentinel reports for a server (pools "
                        "with read_from).\n# TYPE shardproxy_server_replicas_up "
                        "gauge\n");
    for (uint32_t i = 0; i < s->npools; i++) {
        const struct sp_sentinel_pool *sp = &s->pools[i];
        for (uint32_t j = 0; sp->servers != NULL && sp->want_replicas
                             && j < sp->conf->nservers; j++) {
            sp_stats_buf_printf(buf, "shardproxy_server_replicas_up{pool="
                                "\"%s\",server=\"%s\"} %u\n",
                                sp->conf->name, sp->conf->servers[j].name,
                                sp->servers[j].nreplicas);
        }
    }
    sp_stats_buf_printf(buf, "# HELP shardproxy_pool_sentinel_errors_total "
                        "Failed exchanges with a pool's sentinels.\n# TYPE "
                        "shardproxy_pool_sentinel_errors_total counter\n");
    for (uint32_t i = 0; i < s->npools; i++) {
        const struct sp_sentinel_pool *sp = &s->pools[i];
        if (sp->servers != NULL) {
            sp_stats_buf_printf(buf, "shardproxy_pool_sentinel_errors_total{"
                                "pool=\"%s\"} %lld\n", sp->conf->name,
                                (long long)sp->errors);
        }
    }
}

/* ---- a worker met a demoted master --------------------------------------- */

void
sp_sentinel_reask(struct sp_sentinel *s, const char *pool, const char *server)
{
    for (uint32_t i = 0; s != NULL && i < s->npools; i++) {
        struct sp_sentinel_pool *sp = &s->pools[i];

        if (sp->servers == NULL || strcmp(sp->conf->name, pool) != 0
            || sp_sentinel_find(sp, server, strlen(server)) < 0) {
            continue;
        }
        /* every worker may ask, for every request it saw fail: one round
         * now, at most one per SP_SENTINEL_REASK_MS */
        uint64_t now = sp_event_now_ms(s->master->loop);
        uint64_t since = now - sp->round_ms;
        uint64_t after = since < SP_SENTINEL_REASK_MS
                         ? SP_SENTINEL_REASK_MS - since : 0;

        if (sp->again || (sp->refresh_timer.armed
                          && sp->refresh_timer.deadline_ms <= now + after)) {
            return;         /* a round is coming already */
        }
        sp->reasks++;
        sp_log_info(sp_sentinel_log(sp), "pool '%s': a worker met server "
                    "'%s' demoted or loading; asking the sentinels again",
                    pool, server);
        sp_sentinel_ask_again(sp, after);
        return;
    }
}
