/*
 * sp_master_stats.c — what the master shows: the nutcracker-shaped stats
 * port (summed over workers and generations, with latency percentiles,
 * rates, skew and hot keys beside nutcracker's fields), the once-a-second
 * observation tick, and the Prometheus endpoint (metrics_listen; the text
 * comes from sp_metrics.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "sp_master_int.h"
#include "sp_cluster.h"
#include "sp_sentinel.h"
#include "sp_metrics.h"
#include "sp_net.h"
#include "sp_proto.h"
#include "sp_stats_report.h"

#define SP_OBSERVE_TICK_MS   1000
#define SP_HTTP_REQUEST_MAX  8192       /* a scrape's request head */
#define SP_HTTP_TIMEOUT_MS   1000       /* to ask (and x5 to take the answer) */
#define SP_STATS_DEADLINE_MS 1000       /* a stats reader must read by then */

int64_t
sp_master_retiring(const struct sp_master *master)
{
    int64_t n = 0;

    for (const struct sp_generation *g = master->retiring; g != NULL;
         g = g->next) {
        n++;
    }
    return n;
}

int
sp_master_totals(struct sp_master *master, struct sp_totals *now)
{
    const struct sp_conf *conf = master->current->conf;
    int rc;

    if (sp_totals_init(now, conf) != 0) {
        return -1;
    }
    rc = sp_totals_add_shared(now, conf, &master->current->shared);
    for (struct sp_generation *g = master->retiring; g != NULL; g = g->next) {
        rc |= sp_totals_add_shared(now, g->conf, &g->shared);
    }
    sp_totals_add(now, master->retired.conf, &master->retired.proc,
                  master->retired.pools, master->retired.servers);
    if (rc != 0) {
        sp_totals_free(now);
    }
    return rc;
}

/* ---- the stats port ---------------------------------------------------------- */

/* ", \"per_worker\":[{...}, ...]": each slot of the current generation
 * (an array, which nutcracker readers do not take for a pool). */
static void
sp_master_stats_per_worker(const struct sp_generation *gen,
                           struct sp_stats_buf *buf)
{
    sp_stats_buf_printf(buf, ", \"per_worker\":[");
    for (uint32_t i = 0; i < gen->nprocs; i++) {
        const struct sp_stats_slot *slot = sp_shared_slot(&gen->shared, i);
        struct sp_totals_traffic t;

        sp_totals_slot_traffic(&gen->shared, i, &t);
        sp_stats_buf_printf(buf, "%s{\"worker\":%u, \"pid\":%lld, "
                            "\"clients\":%lld, \"curr_connections\":%lld, "
                            "\"requests\":%lld, \"request_bytes\":%lld, "
                            "\"response_bytes\":%lld, \"server_errors\":%lld, "
                            "\"clients_held\":%lld, \"memory_used\":%lld}",
                            i == 0 ? "" : ", ", i, (long long)slot->pid,
                            (long long)slot->clients,
                            (long long)slot->curr_connections,
                            (long long)t.requests, (long long)t.request_bytes,
                            (long long)t.response_bytes, (long long)t.errors,
                            (long long)slot->clients_held,
                            (long long)slot->memory_used);
    }
    sp_stats_buf_printf(buf, "]");
}

static void
sp_master_stats_serve(struct sp_master *master, int fd)
{
    const struct sp_conf *conf = master->current->conf;
    struct sp_stats_buf buf = { 0 }, per_worker = { 0 };
    struct sp_totals now;
    char **pool_extra = NULL, **server_extra = NULL, **names = NULL;

    if (sp_master_totals(master, &now) != 0) {
        close(fd);
        return;
    }
    pool_extra = calloc(conf->npools + 1, sizeof(char *));
    server_extra = calloc(now.nservers + 1, sizeof(char *));
    names = calloc(now.nservers + 1, sizeof(char *));
    struct sp_stats_extra extras[] = {
        { "workers", sp_generation_serving(master->current) },
        { "respawns", (int64_t)master->respawns },
        { "watchdog_kills", (int64_t)master->watchdog_kills },
        { "generation", (int64_t)master->current->id },
        { "retiring", sp_master_retiring(master) },
        { "reloads", (int64_t)master->reloads },
        { "reload_failed", (int64_t)master->reload_failed },
        { "handoffs", (int64_t)master->handed_over },
        { "handoffs_closed", (int64_t)master->handoff_closed },
        { "buffers_allocated", now.proc.buffers_allocated },
        { "buffers_in_use", now.proc.buffers_in_use },
        { "buffers_free", now.proc.buffers_free },
        { "messages_allocated", now.proc.messages_allocated },
        { "messages_in_use", now.proc.messages_in_use },
        { "messages_free", now.proc.messages_free },
        { "parsers_allocated", now.proc.parsers_allocated },
        { "parsers_in_use", now.proc.parsers_in_use },
        { "parsers_free", now.proc.parsers_free },
        { "clients_paused", now.proc.clients_paused },
        { "clients_held", now.proc.clients_held },
        { "memory_budget", now.proc.memory_budget },
        { "memory_used", now.proc.memory_used },
        { "budget_pauses", now.proc.budget_pauses },
        { "server_waits", now.proc.server_waits },
        { "pubsub_clients", now.proc.pubsub_clients },
        { "pubsub_channels", now.proc.pubsub_channels },
        { "pubsub_patterns", now.proc.pubsub_patterns },
        { "subscriber_connections", now.proc.subscriber_connections },
        { "pubsub_messages", now.proc.pubsub_messages },
    };
    sp_master_stats_per_worker(master->current, &per_worker);
    struct sp_stats_report_extra extra = {
        extras, sizeof(extras) / sizeof(extras[0]), pool_extra, server_extra,
        sp_proto_refused_name, per_worker.failed ? NULL : per_worker.data,
        names
    };
    if (pool_extra != NULL && server_extra != NULL && names != NULL
        && sp_cluster_names(master->cluster, names) == 0
        && sp_observe_json(&master->observe, master->current, &now, pool_extra,
                           server_extra, names) == 0
        && sp_stats_report_tls(conf, now.pools, pool_extra) == 0
        && sp_sentinel_json(master->sentinel, pool_extra, server_extra) == 0
        && sp_cluster_json(master->cluster, pool_extra, server_extra,
                           names) == 0
        && sp_stats_report(&buf, conf, &now.proc, now.pools, now.servers,
                           (int64_t)time(NULL) - master->started_s, &extra) == 0) {
        sp_stats_buf_printf(&buf, "\n");
    }
    /* written as the reader reads: the master never waits for one */
    sp_oneshot_send(master->loop, &master->answers, fd, &buf,
                    SP_STATS_DEADLINE_MS);
    sp_stats_report_extras_free(pool_extra, pool_extra != NULL ? conf->npools : 0);
    sp_stats_report_extras_free(server_extra,
                                server_extra != NULL ? now.nservers : 0);
    sp_stats_report_extras_free(names, names != NULL ? now.nservers : 0);
    free(pool_extra);
    free(server_extra);
    free(names);
    sp_stats_buf_free(&per_worker);
    sp_totals_free(&now);
}

void
sp_master_stats_accept(struct sp_event_loop *loop, int fd, uint32_t ready,
                       void *data)
{
    struct sp_master *master = data;

    (void)loop;
    (void)ready;
    for (;;) {
        int conn = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (conn < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                sp_log_error(master->log, errno, "stats: accept4() failed");
            }
            return;
        }
        sp_master_stats_serve(master, conn);     /* takes conn */
    }
}

/* ---- observation ---------------------------------------------------------------- */

static void
sp_master_observe_tick(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_master *master = timer->data;
    struct sp_totals now;

    if (sp_master_totals(master, &now) == 0) {
        sp_observe_tick(&master->observe, &now, sp_event_now_ms(loop),
                        master->current->conf->global.hot_server_share,
                        master->log);
        sp_totals_free(&now);
    }
    sp_timer_add(loop, &master->observe_timer, SP_OBSERVE_TICK_MS,
                 sp_master_observe_tick, master);
}

void
sp_master_stats_reload(struct sp_master *master)
{
    if (sp_observe_reset(&master->observe, master->current->conf) != 0) {
        sp_log_warn(master->log, ENOMEM, "rates and skew are off");
    }
}

/* ---- the Prometheus endpoint ------------------------------------------------------ */

/* One scrape: read the request head (within SP_HTTP_TIMEOUT_MS), answer,
 * close. */
struct sp_http_conn {
    struct sp_master *master;
    int               fd;
    uint32_t          index;        /* in master->scrapes */
    struct sp_timer   timer;
    size_t            len;
    char              req[SP_HTTP_REQUEST_MAX];
};

static void
sp_http_close(struct sp_http_conn *c)
{
    struct sp_master *master = c->master;

    if (master->loop != NULL) {
        sp_timer_del(master->loop, &c->timer);
        if (c->fd >= 0) {
            sp_event_del(master->loop, c->fd);
        }
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    master->scrapes[c->index] = NULL;
    free(c);
}

static void
sp_http_timeout(struct sp_event_loop *loop, struct sp_timer *timer)
{
    (void)loop;
    sp_http_close(timer->data);     /* a client that never asked */
}

static void
sp_http_respond(struct sp_http_conn *c)
{
    struct sp_master *master = c->master;
    struct sp_stats_buf body = { 0 }, head = { 0 };
    const char *status = "200 OK";
    bool get = strncmp(c->req, "GET ", 4) == 0;
    bool path_ok = strncmp(c->req + 4, "/metrics ", 9) == 0
                   || strncmp(c->req + 4, "/ ", 2) == 0
                   || strncmp(c->req + 4, "/metrics?", 9) == 0;
    struct sp_totals now;

    if (!get) {
        status = "405 Method Not Allowed";
        sp_stats_buf_printf(&body, "GET /metrics\n");
    } else if (!path_ok) {
        status = "404 Not Found";
        sp_stats_buf_printf(&body, "GET /metrics\n");
    } else if (sp_master_totals(master, &now) == 0) {
        char **names = calloc(now.nservers + 1, sizeof(char *));
        if (names != NULL && sp_cluster_names(master->cluster, names) != 0) {
            sp_stats_report_extras_free(names, now.nservers);
            free(names);
            names = NULL;
        }
        struct sp_metrics_input in = {
            .names = names,
            .totals = &now,
            .gen = master->current,
            .observe = &master->observe,
            .respawns = master->respawns,
            .watchdog_kills = master->watchdog_kills,
            .reloads = master->reloads,
            .reload_failed = master->reload_failed,
            .handoffs = master->handed_over,
            .uptime_s = (int64_t)time(NULL) - master->started_s,
        };
        sp_metrics_render(&body, &in);
        sp_sentinel_metrics(master->sentinel, &body);
        sp_cluster_metrics(master->cluster, &body);
        sp_stats_report_extras_free(names, names != NULL ? now.nservers : 0);
        free(names);
        sp_totals_free(&now);
    } else {
        status = "500 Internal Server Error";
    }
    sp_stats_buf_printf(&head, "HTTP/1.1 %s\r\nContent-Type: text/plain; "
                        "version=0.0.4; charset=utf-8\r\nContent-Length: %zu\r\n"
                        "Connection: close\r\n\r\n", status, body.len);
    if (body.len > 0) {
        sp_stats_buf_printf(&head, "%.*s", (int)body.len, body.data);
    }
    sp_stats_buf_free(&body);
    /* a big configuration makes hundreds of kB: more than a socket buffer;
     * it goes out as the scraper reads, the master never waits for it */
    sp_event_del(master->loop, c->fd);
    sp_timer_del(master->loop, &c->timer);
    sp_oneshot_send(master->loop, &master->answers, c->fd, &head,
                    SP_HTTP_TIMEOUT_MS * 5);
    c->fd = -1;                 /* the answer owns it now */
}

static void
sp_http_readable(struct sp_event_loop *loop, int fd, uint32_t ready,
                 void *data)
{
    struct sp_http_conn *c = data;

    (void)loop;
    (void)ready;
    for (;;) {
        ssize_t n = read(fd, c->req + c->len, sizeof(c->req) - 1 - c->len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;             /* the rest of the head comes later */
        }
        if (n <= 0) {
            sp_http_close(c);
            return;
        }
        c->len += (size_t)n;
        c->req[c->len] = '\0';
        if (strstr(c->req, "\r\n\r\n") != NULL || strstr(c->req, "\n\n") != NULL
            || c->len == sizeof(c->req) - 1) {
            sp_http_respond(c);
            sp_http_close(c);
            return;
        }
    }
}

static void
sp_master_metrics_accept(struct sp_event_loop *loop, int fd, uint32_t ready,
                         void *data)
{
    struct sp_master *master = data;

    (void)ready;
    for (;;) {
        int conn = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        uint32_t i = 0;

        if (conn < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                sp_log_error(master->log, errno, "metrics: accept4() failed");
            }
            return;
        }
        while (i < SP_MASTER_HTTP_MAX && master->scrapes[i] != NULL) {
            i++;
        }
        struct sp_http_conn *c = i < SP_MASTER_HTTP_MAX ? calloc(1, sizeof(*c))
                                                        : NULL;
        if (c == NULL) {
            close(conn);        /* busy: the scraper retries */
            continue;
        }
        c->master = master;
        c->fd = conn;
        c->index = i;
        master->scrapes[i] = c;
        if (sp_event_add(loop, conn, SP_EV_READ | SP_EV_LEVEL, sp_http_readable,
                         c) != 0) {
            sp_log_error(master->log, errno, "metrics: cannot watch a scrape");
            master->scrapes[i] = NULL;
            close(conn);
            free(c);
            continue;
        }
        sp_timer_add(loop, &c->timer, SP_HTTP_TIMEOUT_MS, sp_http_timeout, c);
    }
}

void
sp_master_stats_forget(struct sp_master *master)
{
    sp_oneshot_forget_all(&master->answers);
    for (uint32_t i = 0; i < SP_MASTER_HTTP_MAX; i++) {
        if (master->scrapes[i] != NULL) {
            close(master->scrapes[i]->fd);
            free(master->scrapes[i]);
            master->scrapes[i] = NULL;
        }
    }
}

int
sp_master_stats_start(struct sp_master *master)
{
    const struct sp_conf_global *g = &master->current->conf->global;
    char err[SP_NET_ERRLEN];

    TAILQ_INIT(&master->answers);
    sp_master_stats_reload(master);
    sp_timer_add(master->loop, &master->observe_timer, SP_OBSERVE_TICK_MS,
                 sp_master_observe_tick, master);
    if (g->metrics_listen == NULL) {
        return 0;
    }
    /* SO_REUSEPORT: during a binary upgrade both masters listen */
    master->metrics_fd = sp_net_listen(&g->metrics_addr, 128, true, err,
                                       sizeof(err));
    if (master->metrics_fd < 0) {
        sp_log_error(master->log, 0, "metrics: cannot listen on %s: %s",
                     g->metrics_listen, err);
        return -1;
    }
    if (sp_event_add(master->loop, master->metrics_fd,
                     SP_EV_READ | SP_EV_LEVEL, sp_master_metrics_accept,
                     master) != 0) {
        sp_log_error(master->log, errno, "metrics: cannot watch the listener");
        return -1;
    }
    sp_log_notice(master->log, "metrics (Prometheus) on http://%s/metrics",
                  g->metrics_listen);
    return 0;
}

void
sp_master_stats_stop(struct sp_master *master)
{
    sp_oneshot_drop_all(&master->answers);
    for (uint32_t i = 0; i < SP_MASTER_HTTP_MAX; i++) {
        if (master->scrapes[i] != NULL) {
            sp_http_close(master->scrapes[i]);
        }
    }
    if (master->loop != NULL) {
        sp_timer_del(master->loop, &master->observe_timer);
        if (master->metrics_fd >= 0) {
            sp_event_del(master->loop, master->metrics_fd);
        }
    }
    if (master->metrics_fd >= 0) {
        close(master->metrics_fd);
        master->metrics_fd = -1;
    }
    sp_observe_free(&master->observe);
}
