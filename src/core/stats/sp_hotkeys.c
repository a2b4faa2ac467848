/*
 * sp_hotkeys.c — the space-saving sketch and its publication (see
 * sp_hotkeys.h).
 */
#include "sp_hotkeys.h"

#include <stdlib.h>
#include <string.h>

#include "sp_hash.h"

void
sp_hot_add(struct sp_hot_sketch *s, const uint8_t *key, size_t len,
           uint32_t server)
{
    uint64_t h = sp_hash_fnv1a_64_full(key, len);
    struct sp_hot_entry *e;
    uint32_t i, at;

    for (i = 0; i < s->n; i++) {            /* the common case: a hit */
        if (s->hashes[i] == h) {
            s->e[i].count++;
            s->e[i].server = server;
            return;
        }
    }
    if (s->n < SP_HOT_K) {
        at = s->n++;
        e = &s->e[at];
        e->count = 1;
        e->err = 0;
    } else {
        at = 0;
        for (i = 1; i < SP_HOT_K; i++) {
            if (s->e[i].count < s->e[at].count) {
                at = i;
            }
        }
        e = &s->e[at];
        e->err = e->count;      /* inherits the evicted key's count */
        e->count++;
    }
    s->hashes[at] = h;
    e->hash = h;
    e->server = server;
    e->len = (uint32_t)len;
    memcpy(e->key, key, len < SP_HOT_KEYLEN ? len : SP_HOT_KEYLEN);
}

static int
sp_hot_by_count(const void *a, const void *b)
{
    const struct sp_hot_entry *x = a, *y = b;

    return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

void
sp_hot_publish(struct sp_hot_sketch *s, struct sp_hot_view *v, uint64_t now_ms)
{
    unsigned seq = atomic_load_explicit(&v->seq, memory_order_relaxed);

    qsort(s->e, s->n, sizeof(s->e[0]), sp_hot_by_count);
    atomic_store_explicit(&v->seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    v->n = s->n < SP_HOT_PUBLISH ? s->n : SP_HOT_PUBLISH;
    v->window_ms = (int64_t)(now_ms - s->since_ms);
    memcpy(v->e, s->e, v->n * sizeof(v->e[0]));
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&v->seq, seq + 2, memory_order_relaxed);
    s->n = 0;
    s->since_ms = now_ms;
}

int
sp_hot_read(const struct sp_hot_view *v, struct sp_hot_view *out)
{
    for (int tries = 0; tries < 4; tries++) {
        unsigned before = atomic_load_explicit(&v->seq, memory_order_acquire);
        if (before & 1) {
            continue;
        }
        out->n = v->n;
        out->window_ms = v->window_ms;
        memcpy(out->e, v->e, sizeof(out->e));
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&v->seq, memory_order_relaxed) == before) {
            if (out->n > SP_HOT_PUBLISH) {
                out->n = SP_HOT_PUBLISH;
            }
            return 0;
        }
    }
    return -1;
}

double
sp_hot_rate(const struct sp_hot_entry *e, int64_t window_ms)
{
    if (window_ms <= 0) {
        return 0;
    }
    return (double)(e->count - e->err) * SP_HOT_SAMPLE * 1000.0
           / (double)window_ms;
}
