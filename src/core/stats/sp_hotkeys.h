/*
 * sp_hotkeys.h — which keys take the traffic: a bounded-memory top-K
 * sketch per pool per worker (space-saving, Metwally et al.), fed one
 * routed key in SP_HOT_SAMPLE, and published every SP_HOT_WINDOW_MS into
 * the worker's shared stats slot for the master to merge.
 *
 * Space-saving keeps SP_HOT_K counters; a key not among them replaces the
 * smallest and inherits its count (+1), so a key's count is over-estimated
 * by at most that inherited error, and any key with more than 1/K of the
 * samples is always present. Memory: SP_HOT_K entries, whatever the key
 * space. Cost: one request in SP_HOT_SAMPLE pays a hash and a scan of
 * SP_HOT_K 64-bit hashes.
 *
 * The published view is read by the master while the worker may be writing
 * the next one: a sequence counter (odd while writing) lets the reader
 * detect and retry a torn copy.
 */
#ifndef SP_HOTKEYS_H
#define SP_HOTKEYS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SP_HOT_K          32
#define SP_HOT_PUBLISH    10
#define SP_HOT_KEYLEN     48        /* bytes of a key kept for display */
#define SP_HOT_SAMPLE     64
#define SP_HOT_WINDOW_MS  5000

struct sp_hot_entry {
    uint64_t hash;
    uint64_t count;             /* samples, over-estimated by at most err */
    uint64_t err;               /* inherited from the key it replaced */
    uint32_t server;            /* index in its pool */
    uint32_t len;               /* the key's whole length */
    char     key[SP_HOT_KEYLEN];
};

struct sp_hot_sketch {
    uint64_t            hashes[SP_HOT_K];   /* e[i].hash, packed for the scan */
    struct sp_hot_entry e[SP_HOT_K];
    uint32_t            n;
    uint32_t            tick;   /* requests since the last sample */
    uint64_t            since_ms;
};

/* The published top of one window, in shared memory. */
struct sp_hot_view {
    atomic_uint         seq;
    uint32_t            n;
    int64_t             window_ms;
    struct sp_hot_entry e[SP_HOT_PUBLISH];     /* by count, largest first */
};

void sp_hot_add(struct sp_hot_sketch *s, const uint8_t *key, size_t len,
                uint32_t server);

static inline void
sp_hot_sample(struct sp_hot_sketch *s, const uint8_t *key, size_t len,
              uint32_t server)
{
    if (++s->tick >= SP_HOT_SAMPLE) {
        s->tick = 0;
        sp_hot_add(s, key, len, server);
    }
}

/* Publish the window that ends at now_ms into v and start a new one. */
void sp_hot_publish(struct sp_hot_sketch *s, struct sp_hot_view *v,
                    uint64_t now_ms);

/* A consistent copy of v (0), or -1 if the writer kept it busy. */
int sp_hot_read(const struct sp_hot_view *v, struct sp_hot_view *out);

/* Requests a second an entry surely stands for (count - err) in a view of
 * window_ms. */
double sp_hot_rate(const struct sp_hot_entry *e, int64_t window_ms);

#endif /* SP_HOTKEYS_H */
