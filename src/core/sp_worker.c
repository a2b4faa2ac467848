/*
 * sp_worker.c — the worker context, its loop and flush, its stats port
 * (see sp_worker.h).
 */
#include "sp_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "sp_cli.h"
#include "sp_client.h"
#include "sp_net.h"
#include "sp_server.h"
#include "sp_stats.h"

#define SP_TICK_MS          1000
#define SP_MBUF_KEEP        64      /* buffers kept through idle periods */
#define SP_MSG_KEEP         256
#define SP_STATS_SNDTIMEO   200     /* ms a stats client may take to read */
#define SP_STATS_RETRY_MS   100     /* after EMFILE with no spare */

void sp_worker_on_event(struct sp_event_loop *loop, int fd, uint32_t ready,
                        void *data);

uint8_t *
sp_worker_scratch(struct sp_worker *worker, size_t n)
{
    if (n > worker->scratch_cap) {
        size_t cap = worker->scratch_cap == 0 ? 1024 : worker->scratch_cap;
        while (cap < n) {
            cap *= 2;
        }
        uint8_t *grown = realloc(worker->scratch, cap);
        if (grown == NULL) {
            return NULL;
        }
        worker->scratch = grown;
        worker->scratch_cap = cap;
    }
    return worker->scratch;
}

/* ---- stats port ----------------------------------------------------------- */

static void
sp_stats_serve(struct sp_worker *worker, int fd)
{
    struct sp_stats_pool_view *pools = calloc(worker->npools, sizeof(*pools));
    struct sp_stats_server_view *servers = NULL;
    struct sp_stats_buf buf = { 0 };
    uint32_t nservers = 0;
    char host[256] = "unknown";

    for (uint32_t i = 0; i < worker->npools; i++) {
        nservers += worker->pools[i].nservers;
    }
    servers = calloc(nservers > 0 ? nservers : 1, sizeof(*servers));
    if (pools == NULL || servers == NULL) {
        goto out;
    }
    gethostname(host, sizeof(host) - 1);

    uint32_t at = 0;
    for (uint32_t i = 0; i < worker->npools; i++) {
        struct sp_pool *pool = &worker->pools[i];
        pools[i].name = pool->conf->name;
        pools[i].stats = &pool->stats;
        pools[i].servers = &servers[at];
        pools[i].nservers = pool->nservers;
        for (uint32_t s = 0; s < pool->nservers; s++) {
            servers[at].name = pool->servers[s].conf->name;
            servers[at].stats = &pool->servers[s].stats;
            at++;
        }
    }
    /* beside nutcracker's fields: what the free lists hold (steady state
     * allocates nothing: the *_allocated counts stay put under load) */
    struct sp_stats_extra extras[] = {
        { "buffers_allocated", (int64_t)worker->mbufs.nalloc },
        { "buffers_in_use", (int64_t)worker->mbufs.nused },
        { "buffers_free", (int64_t)worker->mbufs.nfree },
        { "messages_allocated", (int64_t)worker->msg_nalloc },
        { "messages_free", (int64_t)worker->nfree_msgs },
    };
    struct sp_stats_view view = {
        .service = "shardproxy",
        .source = host,
        .version = SP_VERSION_STRING,
        .uptime = (int64_t)(time(NULL) - worker->started_s),
        .timestamp = (int64_t)time(NULL),
        .total_connections = (int64_t)worker->total_connections,
        .curr_connections = (int64_t)worker->curr_connections,
        .pools = pools,
        .npools = worker->npools,
        .extras = extras,
        .nextras = sizeof(extras) / sizeof(extras[0]),
    };
    if (sp_stats_json(&buf, &view) == 0) {
        /* a short bounded blocking write: the stats port is not a hot path */
        struct timeval tv = { 0, SP_STATS_SNDTIMEO * 1000 };
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (write(fd, buf.data, buf.len) < 0 || write(fd, "\n", 1) < 0) {
            sp_log_warn(worker->log, errno, "stats: write() failed");
        }
    }
out:
    sp_stats_buf_free(&buf);
    free(pools);
    free(servers);
}

static void
sp_stats_resume(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_conn *listener = timer->data;

    sp_event_modify(loop, listener->fd, SP_EV_READ | SP_EV_LEVEL);
}

/*
 * Out of descriptors, stats still answer: the worker keeps one spare
 * descriptor, gives it up for the stats connection, and takes it back
 * (the nginx/HAProxy trick). If even that fails, the listener pauses
 * instead of waking the loop in a spin.
 */
static int
sp_stats_accept_spare(struct sp_worker *worker, int listen_fd)
{
    int fd;

    if (worker->spare_fd < 0) {
        return -1;
    }
    close(worker->spare_fd);
    worker->spare_fd = -1;
    fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0) {
        sp_stats_serve(worker, fd);
        close(fd);
    }
    worker->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd >= 0 ? 0 : -1;
}

static void
sp_stats_accept(struct sp_conn *listener)
{
    struct sp_worker *worker = listener->worker;

    for (;;) {
        int fd = accept4(listener->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR) {
                continue;
            }
            if ((errno == EMFILE || errno == ENFILE)
                && sp_stats_accept_spare(worker, listener->fd) != 0) {
                sp_log_error(worker->log, errno, "stats: accept4() failed; "
                             "pausing for %d ms", SP_STATS_RETRY_MS);
                sp_event_modify(worker->loop, listener->fd, 0);
                sp_timer_add(worker->loop, &listener->timer,
                             SP_STATS_RETRY_MS, sp_stats_resume, listener);
            }
            return;
        }
        sp_stats_serve(worker, fd);
        close(fd);
    }
}

/* ---- events and flush ------------------------------------------------------- */

void
sp_worker_on_event(struct sp_event_loop *loop, int fd, uint32_t ready,
                   void *data)
{
    struct sp_conn *conn = data;

    (void)loop;
    (void)fd;
    switch (conn->kind) {
    case SP_CONN_LISTENER:
        sp_client_accept(conn);
        break;
    case SP_CONN_CLIENT:
        sp_client_on_event(conn, ready);
        break;
    case SP_CONN_SERVER:
        sp_server_on_event(conn, ready);
        break;
    case SP_CONN_STATS:
        sp_stats_accept(conn);
        break;
    }
}

void
sp_worker_flush(struct sp_worker *worker)
{
    struct sp_conn *conn;

    /* requests out first, then replies; a flush may queue more of either */
    while ((conn = TAILQ_FIRST(&worker->flush_servers)) != NULL
           || (conn = TAILQ_FIRST(&worker->flush_clients)) != NULL) {
        struct sp_conn_list *list = conn->kind == SP_CONN_SERVER
                                    ? &worker->flush_servers
                                    : &worker->flush_clients;
        TAILQ_REMOVE(list, conn, flush_link);
        conn->in_flush = false;
        if (conn->kind == SP_CONN_SERVER) {
            sp_server_flush(conn);
        } else {
            sp_client_flush(conn);
        }
    }
}

static void
sp_worker_tick(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_worker *worker = timer->data;

    sp_mbuf_pool_trim(&worker->mbufs, SP_MBUF_KEEP);
    sp_msg_trim(worker, SP_MSG_KEEP);
    sp_timer_add(loop, &worker->tick, SP_TICK_MS, sp_worker_tick, worker);
}

int
sp_worker_run(struct sp_worker *worker)
{
    while (!*worker->stop) {
        if (sp_event_poll(worker->loop, -1) < 0) {
            sp_log_error(worker->log, errno, "event loop failed");
            return -1;
        }
        sp_worker_flush(worker);
    }
    return 0;
}

/* ---- creation ------------------------------------------------------------------ */

static int
sp_worker_listen(struct sp_worker *worker, struct sp_pool *pool)
{
    const struct sp_conf_pool *conf = pool->conf;
    char err[SP_NET_ERRLEN];
    int fd = sp_net_listen(&conf->listen, conf->backlog, conf->reuseport, err,
                           sizeof(err));

    if (fd < 0) {
        sp_log_error(worker->log, 0, "pool '%s': cannot listen on %s: %s",
                     conf->name, conf->listen_pname, err);
        return -1;
    }
    pool->listener = sp_conn_new(worker, fd, SP_CONN_LISTENER);
    if (pool->listener == NULL) {
        close(fd);
        return -1;
    }
    pool->listener->pool = pool;
    if (sp_conn_register(pool->listener) != 0) {
        sp_log_error(worker->log, errno, "pool '%s': cannot watch listener",
                     conf->name);
        return -1;
    }
    sp_log_notice(worker->log, "pool '%s' listening on %s (%s, %u server%s)",
                  conf->name, conf->listen_pname,
                  conf->redis ? "redis" : "memcache", conf->nservers,
                  conf->nservers == 1 ? "" : "s");
    return 0;
}

static int
sp_worker_stats_listen(struct sp_worker *worker,
                       const struct sp_worker_options *opts)
{
    char err[SP_NET_ERRLEN];
    int fd;

    if (opts->stats_addr == NULL) {
        return 0;
    }
    fd = sp_net_listen_host(opts->stats_addr, opts->stats_port, 512, err,
                            sizeof(err));
    if (fd < 0) {
        sp_log_error(worker->log, 0, "stats: cannot listen on %s:%u: %s",
                     opts->stats_addr, (unsigned)opts->stats_port, err);
        return -1;
    }
    worker->stats_listener = sp_conn_new(worker, fd, SP_CONN_STATS);
    if (worker->stats_listener == NULL) {
        close(fd);
        return -1;
    }
    if (sp_conn_register(worker->stats_listener) != 0) {
        return -1;
    }
    sp_log_notice(worker->log, "stats on %s:%u", opts->stats_addr,
                  (unsigned)opts->stats_port);
    return 0;
}

struct sp_worker *
sp_worker_create(const struct sp_conf *conf,
                 const struct sp_worker_options *opts, struct sp_log *log,
                 const volatile sig_atomic_t *stop)
{
    struct sp_worker *worker = calloc(1, sizeof(*worker));

    if (worker == NULL) {
        sp_log_error(log, ENOMEM, "cannot create the worker");
        return NULL;
    }
    worker->log = log;
    worker->conf = conf;
    worker->stop = stop;
    worker->started_s = (int64_t)time(NULL);
    worker->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    TAILQ_INIT(&worker->flush_servers);
    TAILQ_INIT(&worker->flush_clients);
    TAILQ_INIT(&worker->lingering);
    sp_mbuf_pool_init(&worker->mbufs, opts->mbuf_size);

    worker->loop = sp_event_loop_create(0, 0, log);
    if (worker->loop == NULL) {
        sp_log_error(log, errno, "cannot create the event loop");
        free(worker);
        return NULL;
    }
    worker->started_ms = sp_event_now_ms(worker->loop);

    worker->pools = calloc(conf->npools, sizeof(*worker->pools));
    if (worker->pools == NULL) {
        sp_worker_destroy(worker);
        return NULL;
    }
    for (uint32_t i = 0; i < conf->npools; i++) {
        if (sp_pool_init(&worker->pools[i], worker, i, &conf->pools[i]) != 0) {
            sp_log_error(log, ENOMEM, "pool '%s': cannot set up",
                         conf->pools[i].name);
            worker->npools = i + 1;
            sp_worker_destroy(worker);
            return NULL;
        }
        worker->npools = i + 1;
        if (sp_worker_listen(worker, &worker->pools[i]) != 0) {
            sp_worker_destroy(worker);
            return NULL;
        }
    }
    if (sp_worker_stats_listen(worker, opts) != 0) {
        sp_worker_destroy(worker);
        return NULL;
    }
    for (uint32_t i = 0; i < worker->npools; i++) {
        if (worker->pools[i].conf->preconnect) {
            sp_pool_preconnect(&worker->pools[i]);
        }
    }
    sp_timer_add(worker->loop, &worker->tick, SP_TICK_MS, sp_worker_tick,
                 worker);
    return worker;
}

void
sp_worker_destroy(struct sp_worker *worker)
{
    if (worker == NULL) {
        return;
    }
    while (!TAILQ_EMPTY(&worker->lingering)) {
        sp_client_linger_end(TAILQ_FIRST(&worker->lingering));
    }
    for (uint32_t i = 0; i < worker->npools; i++) {
        sp_pool_deinit(&worker->pools[i]);
    }
    free(worker->pools);
    if (worker->stats_listener != NULL) {
        sp_conn_free(worker->stats_listener);
    }
    if (worker->loop != NULL) {
        sp_timer_del(worker->loop, &worker->tick);
    }
    sp_msg_free_all(worker);
    sp_mbuf_pool_destroy(&worker->mbufs);
    free(worker->scratch);
    free(worker->args);
    if (worker->spare_fd >= 0) {
        close(worker->spare_fd);
    }
    if (worker->loop != NULL) {
        sp_event_loop_destroy(worker->loop);
    }
    free(worker);
}
