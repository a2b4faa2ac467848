/*
 * sp_redis_pubsub_info.c — PUBSUB CHANNELS, NUMSUB, NUMPAT, SHARDCHANNELS
 * and SHARDNUMSUB about the clients subscribed through the whole proxy:
 * every worker lists its names with their members (sp_ask.h), the asker
 * merges them.
 */
#include "sp_redis_pubsub_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "sp_ask.h"
#include "sp_redis_clients.h"
#include "sp_redis_proxy.h"
#include "sp_redis_session.h"
#include "sp_worker.h"

/* ---- PUBSUB: every worker's subscriptions ----------------------------------- */

/* The question every worker gets: which table, which pool, a pattern. */
struct sp_ps_question {
    uint8_t  what;                  /* SP_PS_ASK_* */
    uint8_t  kind;                  /* SP_PS_CHANNEL, ... */
    uint16_t pattern_len;           /* 0: none */
    char     pool[96];
    char     pattern[400];
};

enum {
    SP_PS_ASK_NAMES = 1,            /* names with members, and counts */
};

/* Answer: records of [u32 len][u64 members][name]. */
int64_t
sp_redis_pubsub_answer(struct sp_worker *worker, const void *question,
                       size_t len, char **out, size_t *outlen)
{
    struct sp_ps_question q;
    size_t used = 0, cap = 0;
    char *buf = NULL;
    int64_t n = 0;

    if (len != sizeof(q)) {
        return 0;
    }
    memcpy(&q, question, sizeof(q));
    q.pool[sizeof(q.pool) - 1] = '\0';
    if (q.pattern_len > sizeof(q.pattern)) {
        return 0;
    }
    for (uint32_t i = 0; i < worker->npools; i++) {
        const struct sp_ps_pool *ps = worker->pools[i].proto_state;
        if (worker->pools[i].proto != &sp_proto_redis || ps == NULL
            || strcmp(worker->pools[i].conf->name, q.pool) != 0) {
            continue;
        }
        for (uint32_t b = 0; b < ps->nbuckets; b++) {
            for (const struct sp_ps_entry *e = ps->buckets[b]; e != NULL;
                 e = e->next) {
                if (e->kind != q.kind || e->nmembers == 0
                    || (q.pattern_len > 0
                        && !sp_redis_glob(q.pattern, q.pattern_len, e->name,
                                          e->len))) {
                    continue;
                }
                size_t need = 12 + e->len;
                if (used + need > cap) {
                    size_t c = cap > 0 ? cap * 2 : 4096;
                    while (c < used + need) {
                        c *= 2;
                    }
                    char *grown = realloc(buf, c);
                    if (grown == NULL) {
                        *out = buf;
                        *outlen = used;
                        return n;
                    }
                    buf = grown;
                    cap = c;
                }
                uint32_t l = e->len;
                uint64_t members = e->nmembers;
                memcpy(buf + used, &l, 4);
                memcpy(buf + used + 4, &members, 8);
                memcpy(buf + used + 12, e->name, e->len);
                used += need;
                n++;
            }
        }
    }
    *out = buf;
    *outlen = used;
    return n;
}

/* One name of the answers, merged: the workers' counts summed. */
struct sp_ps_found {
    const char *name;
    uint32_t    len;
    uint64_t    members;
};

static int
sp_ps_found_cmp(const void *a, const void *b)
{
    const struct sp_ps_found *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->name, y->name, n);

    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/* The answers' records, sorted by name with duplicates summed; *n. */
static struct sp_ps_found *
sp_ps_merge(const struct sp_ask_result *r, uint32_t *n)
{
    struct sp_ps_found *f;
    uint32_t count = 0, k = 0;

    for (size_t at = 0; at + 12 <= r->len; count++) {
        uint32_t l;
        memcpy(&l, r->bytes + at, 4);
        at += 12 + l;
    }
    if ((f = calloc(count + 1, sizeof(*f))) == NULL) {
        return NULL;
    }
    for (size_t at = 0; at + 12 <= r->len && k < count; k++) {
        memcpy(&f[k].len, r->bytes + at, 4);
        memcpy(&f[k].members, r->bytes + at + 4, 8);
        f[k].name = r->bytes + at + 12;
        at += 12 + f[k].len;
        if (at > r->len) {
            break;
        }
    }
    qsort(f, k, sizeof(*f), sp_ps_found_cmp);
    uint32_t out = 0;
    for (uint32_t i = 0; i < k; i++) {
        if (out > 0 && sp_ps_found_cmp(&f[out - 1], &f[i]) == 0) {
            f[out - 1].members += f[i].members;
        } else {
            f[out++] = f[i];
        }
    }
    *n = out;
    return f;
}

static int
sp_ps_info_done(struct sp_msg *msg, const struct sp_ask_result *r)
{
    struct sp_conn *client = sp_msg_client(msg);
    struct sp_worker *worker = client->worker;
    struct sp_redis_args args;
    struct sp_ps_found *found;
    uint32_t n = 0;
    struct sp_rw w;

    if (sp_redis_args_all(worker, msg, &args) < 2
        || (found = sp_ps_merge(r, &n)) == NULL) {
        return -1;
    }
    sp_rw_init(&w, sp_redis_resp(client));
    if (sp_redis_arg_is(&args, 1, "numpat")) {
        sp_rw_int(&w, n);
    } else if (sp_redis_arg_is(&args, 1, "channels")
               || sp_redis_arg_is(&args, 1, "shardchannels")) {
        sp_rw_array(&w, n);
        for (uint32_t i = 0; i < n; i++) {
            sp_rw_bulk(&w, found[i].name, found[i].len);
        }
    } else {
        /* NUMSUB / SHARDNUMSUB name ...: each name and its subscribers */
        uint32_t asked = args.argc - 2;
        sp_rw_array(&w, (uint64_t)asked * 2);   /* so in RESP3 too (7.0) */
        for (uint32_t i = 2; i < args.argc; i++) {
            uint32_t len = args.argv[i].len;
            char *name = malloc(len + 1);
            if (name == NULL) {
                w.failed = true;
                break;
            }
            sp_seglist_copy(&msg->req, args.argv[i].offset, (uint8_t *)name,
                            len);
            struct sp_ps_found key = { name, len, 0 }, *hit;
            hit = n > 0 ? bsearch(&key, found, n, sizeof(*found),
                                  sp_ps_found_cmp) : NULL;
            sp_rw_bulk(&w, name, len);
            sp_rw_int(&w, hit != NULL ? (int64_t)hit->members : 0);
            free(name);
        }
    }
    free(found);
    return sp_rw_finish(&w, msg);
}

int
sp_redis_pubsub_info(struct sp_conn *client, struct sp_msg *msg)
{
    struct sp_worker *worker = client->worker;
    struct sp_ps_question q;
    struct sp_redis_args args;
    int64_t nargs = sp_redis_args_all(worker, msg, &args);

    if (nargs < 2) {
        return sp_reply_text(msg, "-ERR Protocol error: cannot read "
                             "request\r\n");
    }
    memset(&q, 0, sizeof(q));
    q.what = SP_PS_ASK_NAMES;
    strncpy(q.pool, client->pool->conf->name, sizeof(q.pool) - 1);
    if (sp_redis_arg_is(&args, 1, "numpat")) {
        q.kind = SP_PS_PATTERN;
    } else if (sp_redis_arg_is(&args, 1, "channels")
               || sp_redis_arg_is(&args, 1, "numsub")) {
        q.kind = SP_PS_CHANNEL;
    } else {
        q.kind = SP_PS_SHARD;           /* shardchannels, shardnumsub */
    }
    if ((sp_redis_arg_is(&args, 1, "channels")
         || sp_redis_arg_is(&args, 1, "shardchannels")) && nargs == 3) {
        if (args.argv[2].len > sizeof(q.pattern)) {
            return sp_msg_reply_static(msg, "-ERR the proxy matches patterns "
                                       "of at most 400 bytes\r\n");
        }
        q.pattern_len = (uint16_t)args.argv[2].len;
        sp_seglist_copy(&msg->req, args.argv[2].offset, (uint8_t *)q.pattern,
                        q.pattern_len);
    }
    return sp_ask_workers(worker, msg, client->pool->proto,
                          SP_REDIS_ASK_PUBSUB, &q, sizeof(q), 0,
                          sp_ps_info_done);
}

