/*
 * sp_stat_render.c — one sample of `shardproxy --stat` (see sp_stat.h):
 * rates from the difference of two reads of the stats port, percentiles
 * from the difference of their histogram buckets (so they describe the
 * interval, not the time since start), drawn as a table.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "sp_hist.h"
#include "sp_stat.h"

#define SP_STAT_NAME_WIDTH 24

/* A number for a column: "-" for NAN, k/M/G units when human. */
static const char *
sp_stat_num(char *buf, size_t len, double v, bool human)
{
    static const char units[] = " kMGTP";
    int u = 0;

    if (isnan(v)) {
        return "-";
    }
    if (!human) {
        snprintf(buf, len, "%.0f", v);
        return buf;
    }
    while (fabs(v) >= 999.95 && u < (int)sizeof(units) - 2) {
        v /= 1000;
        u++;
    }
    if (u == 0) {
        snprintf(buf, len, "%.0f", v);
    } else {
        snprintf(buf, len, "%.1f%c", v, units[u]);
    }
    return buf;
}

/* Microseconds as milliseconds, or "-". */
static const char *
sp_stat_ms(char *buf, size_t len, double us)
{
    if (isnan(us)) {
        return "-";
    }
    snprintf(buf, len, "%.3f", us / 1000.0);
    return buf;
}

/* cur[key] - prev[key]; 0 when it went backwards (a restart); NAN
 * without a previous read. */
static double
sp_stat_delta(const struct sp_json *prev, const struct sp_json *cur,
              const char *key)
{
    double now = sp_json_number(cur, key, 0), before;

    if (prev == NULL) {
        return NAN;
    }
    before = sp_json_number(prev, key, 0);
    return now >= before ? now - before : 0;
}

/* The member of obj with the name of item (a pool, a server), or NULL. */
static const struct sp_json *
sp_stat_same(const struct sp_json *obj, const struct sp_json *item)
{
    const struct sp_json *m = sp_json_get(obj, item->key);

    return m != NULL && m->type == SP_JSON_OBJECT ? m : NULL;
}

/* The q-quantile in us of what <prefix>_buckets gained between prev and
 * cur; NAN when nothing was observed. Without buckets (an older proxy),
 * the since-start <prefix>_pNN_us it shows. */
static double
sp_stat_quantile(const struct sp_json *prev, const struct sp_json *cur,
                 const char *prefix, double q, const char *since_start)
{
    char name[64];
    const struct sp_json *a, *b;
    struct sp_hist h;
    int i = 0;

    snprintf(name, sizeof(name), "%s_buckets", prefix);
    a = sp_json_get(cur, name);
    if (a == NULL || a->type != SP_JSON_ARRAY) {
        snprintf(name, sizeof(name), "%s_%s_us", prefix, since_start);
        return sp_json_number(cur, name, NAN);
    }
    b = prev != NULL ? sp_json_get(prev, name) : NULL;
    memset(&h, 0, sizeof(h));
    for (const struct sp_json *x = a->child, *y = b != NULL ? b->child : NULL;
         x != NULL && i < SP_HIST_BUCKETS; x = x->next, i++) {
        double d = x->number - (y != NULL ? y->number : 0);
        h.buckets[i] = d > 0 ? (int64_t)d : 0;
        y = y != NULL ? y->next : NULL;
    }
    if (sp_hist_count(&h) == 0) {
        return NAN;
    }
    return (double)sp_hist_quantile_us(&h, q);
}

/* "now", "12s ago", "3m ago", "-": when the server was last ejected. */
static const char *
sp_stat_ejected(char *buf, size_t len, const struct sp_json *prev,
                const struct sp_json *server, double now_s)
{
    double at_us = sp_json_number(server, "server_ejected_at", 0);
    double age;

    if (at_us <= 0) {
        return "-";
    }
    if (prev != NULL && sp_stat_delta(prev, server, "server_ejected_at") > 0) {
        return "now";
    }
    age = now_s - at_us / 1e6;
    age = age < 0 ? 0 : age;
    if (age < 120) {
        snprintf(buf, len, "%.0fs ago", age);
    } else if (age < 7200) {
        snprintf(buf, len, "%.0fm ago", age / 60);
    } else {
        snprintf(buf, len, "%.0fh ago", age / 3600);
    }
    return buf;
}

struct sp_stat_row {
    double requests, errors, in, out;       /* per second */
    double clients, conns;                  /* now */
    double p50_us, p99_us;
};

static void
sp_stat_row_print(FILE *out, const char *name, const struct sp_stat_row *r,
                  const char *ejected, bool human)
{
    char b[8][32];

    fprintf(out, "%-*.*s %9s %8s %9s %9s %8s %6s %8s %8s  %s\n",
            SP_STAT_NAME_WIDTH, SP_STAT_NAME_WIDTH, name,
            sp_stat_num(b[0], sizeof(b[0]), r->requests, human),
            sp_stat_num(b[1], sizeof(b[1]), r->errors, human),
            sp_stat_num(b[2], sizeof(b[2]), r->in, human),
            sp_stat_num(b[3], sizeof(b[3]), r->out, human),
            sp_stat_num(b[4], sizeof(b[4]), r->clients, human),
            sp_stat_num(b[5], sizeof(b[5]), r->conns, human),
            sp_stat_ms(b[6], sizeof(b[6]), r->p50_us),
            sp_stat_ms(b[7], sizeof(b[7]), r->p99_us), ejected);
}

static void
sp_stat_pool(FILE *out, const struct sp_json *prev_pool,
             const struct sp_json *pool, double dt_s, double now_s,
             bool human)
{
    struct sp_stat_row row = { 0 };
    char name[SP_STAT_NAME_WIDTH + 1], ejected[32];
    double ejects;

    /* the pool's line sums its servers; its errors add the clients' and
     * the forwarding errors */
    row.errors = (sp_stat_delta(prev_pool, pool, "client_err")
                  + sp_stat_delta(prev_pool, pool, "forward_error")) / dt_s;
    for (const struct sp_json *s = pool->child; s != NULL; s = s->next) {
        if (s->type != SP_JSON_OBJECT) {
            continue;
        }
        const struct sp_json *ps = sp_stat_same(prev_pool, s);
        row.requests += sp_stat_delta(ps, s, "requests") / dt_s;
        row.errors += (sp_stat_delta(ps, s, "server_err")
                       + sp_stat_delta(ps, s, "server_timedout")) / dt_s;
        row.in += sp_stat_delta(ps, s, "request_bytes") / dt_s;
        row.out += sp_stat_delta(ps, s, "response_bytes") / dt_s;
        row.conns += sp_json_number(s, "server_connections", 0);
    }
    row.clients = sp_json_number(pool, "client_connections", 0);
    row.p50_us = sp_stat_quantile(prev_pool, pool, "latency", 0.5, "p50");
    row.p99_us = sp_stat_quantile(prev_pool, pool, "latency", 0.99, "p99");
    ejects = sp_stat_delta(prev_pool, pool, "server_ejects");
    snprintf(ejected, sizeof(ejected), isnan(ejects) ? "-" : "%.0f", ejects);
    sp_stat_row_print(out, pool->key, &row, ejected, human);

    for (const struct sp_json *s = pool->child; s != NULL; s = s->next) {
        if (s->type != SP_JSON_OBJECT) {
            continue;
        }
        const struct sp_json *ps = sp_stat_same(prev_pool, s);
        struct sp_stat_row srow = {
            .requests = sp_stat_delta(ps, s, "requests") / dt_s,
            .errors = (sp_stat_delta(ps, s, "server_err")
                       + sp_stat_delta(ps, s, "server_timedout")) / dt_s,
            .in = sp_stat_delta(ps, s, "request_bytes") / dt_s,
            .out = sp_stat_delta(ps, s, "response_bytes") / dt_s,
            .clients = NAN,
            .conns = sp_json_number(s, "server_connections", 0),
            .p50_us = sp_stat_quantile(ps, s, "rtt", 0.5, "p50"),
            .p99_us = sp_stat_quantile(ps, s, "rtt", 0.99, "p99"),
        };
        snprintf(name, sizeof(name), "  %s", s->key);
        sp_stat_row_print(out, name, &srow,
                          sp_stat_ejected(ejected, sizeof(ejected), ps, s,
                                          now_s), human);
    }
}

/* A worker's line from the master's per_worker array, matched by index. */
static void
sp_stat_workers(FILE *out, const struct sp_json *prev, const struct sp_json *cur,
                double dt_s, bool human)
{
    const struct sp_json *list = sp_json_get(cur, "per_worker");
    const struct sp_json *plist = prev != NULL ? sp_json_get(prev, "per_worker")
                                               : NULL;
    char b[9][32], name[16];

    if (list == NULL || list->type != SP_JSON_ARRAY) {
        return;
    }
    fprintf(out, "\n%-8s %8s %8s %6s %9s %8s %9s %9s %6s %9s\n", "WORKER",
            "PID", "CLIENTS", "CONNS", "REQ/S", "ERR/S", "IN B/S", "OUT B/S",
            "HELD", "MEMORY");
    for (const struct sp_json *w = list->child; w != NULL; w = w->next) {
        const struct sp_json *pw = NULL;
        double index = sp_json_number(w, "worker", -1);

        for (const struct sp_json *x = plist != NULL ? plist->child : NULL;
             x != NULL; x = x->next) {
            if (sp_json_number(x, "worker", -2) == index
                && sp_json_number(x, "pid", 0) == sp_json_number(w, "pid", 0)) {
                pw = x;     /* the same process: its counters continue */
            }
        }
        if (pw == NULL && plist != NULL) {
            pw = w;         /* a new process in the slot: no rate yet */
        }
        snprintf(name, sizeof(name), "#%.0f", index);
        fprintf(out, "%-8s %8.0f %8s %6s %9s %8s %9s %9s %6s %9s\n", name,
                sp_json_number(w, "pid", 0),
                sp_stat_num(b[0], sizeof(b[0]), sp_json_number(w, "clients", 0),
                            human),
                sp_stat_num(b[1], sizeof(b[1]),
                            sp_json_number(w, "curr_connections", 0), human),
                sp_stat_num(b[2], sizeof(b[2]),
                            sp_stat_delta(pw, w, "requests") / dt_s, human),
                sp_stat_num(b[3], sizeof(b[3]),
                            sp_stat_delta(pw, w, "server_errors") / dt_s, human),
                sp_stat_num(b[4], sizeof(b[4]),
                            sp_stat_delta(pw, w, "request_bytes") / dt_s, human),
                sp_stat_num(b[5], sizeof(b[5]),
                            sp_stat_delta(pw, w, "response_bytes") / dt_s, human),
                sp_stat_num(b[6], sizeof(b[6]),
                            sp_json_number(w, "clients_held", 0), human),
                sp_stat_num(b[7], sizeof(b[7]),
                            sp_json_number(w, "memory_used", 0), human));
    }
}

void
sp_stat_render(FILE *out, const struct sp_json *prev, const struct sp_json *cur,
               double dt_s, bool human)
{
    const struct sp_json *source = sp_json_get(cur, "source");
    const struct sp_json *version = sp_json_get(cur, "version");
    double now_s = sp_json_number(cur, "timestamp", (double)time(NULL));
    long uptime = (long)sp_json_number(cur, "uptime", 0);

    dt_s = dt_s > 0 ? dt_s : 1;
    fprintf(out, "shardproxy %s on %s, up %ldd %02ld:%02ld:%02ld, "
            "%.0f workers, generation %.0f, %.0f reloads (%.0f failed), "
            "%.0f respawns, every %.1f s\n",
            version != NULL && version->string != NULL ? version->string : "?",
            source != NULL && source->string != NULL ? source->string : "?",
            uptime / 86400, uptime / 3600 % 24, uptime / 60 % 60, uptime % 60,
            sp_json_number(cur, "workers", 0),
            sp_json_number(cur, "generation", 0),
            sp_json_number(cur, "reloads", 0),
            sp_json_number(cur, "reload_failed", 0),
            sp_json_number(cur, "respawns", 0), dt_s);
    fprintf(out, "\n%-*s %9s %8s %9s %9s %8s %6s %8s %8s  %s\n",
            SP_STAT_NAME_WIDTH, "POOL / SERVER", "REQ/S", "ERR/S", "IN B/S",
            "OUT B/S", "CLIENTS", "CONNS", "P50 MS", "P99 MS", "EJECTED");
    for (const struct sp_json *pool = cur->child; pool != NULL;
         pool = pool->next) {
        if (pool->type == SP_JSON_OBJECT) {
            sp_stat_pool(out, prev != NULL ? sp_stat_same(prev, pool) : NULL,
                         pool, dt_s, now_s, human);
        }
    }
    sp_stat_workers(out, prev, cur, dt_s, human);
}
