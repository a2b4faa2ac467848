/*
 * sp_dist.h — key distributions: which server of a pool owns a hash value.
 *
 * A distribution is built from the pool's servers (weight, identity, and
 * whether each is live) into a table of points, then answers lookups in
 * O(log n) (ketama) or O(1) (modula, random). The layout is nutcracker 0.5's,
 * so every hash lands on the server nutcracker would pick:
 *   ketama  160 points per server scaled by weight, 4 per MD5 digest of
 *           "<identity>-<k>", sorted; a hash takes the first point >= it.
 *   modula  each live server repeated `weight` times; hash % points.
 *   random  one point per live server; the caller supplies the randomness.
 * Rebuild whenever liveness changes (auto_eject_hosts).
 */
#ifndef SP_DIST_H
#define SP_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum sp_dist_type {
    SP_DIST_KETAMA,
    SP_DIST_MODULA,
    SP_DIST_RANDOM,
    SP_DIST_REDIS_CLUSTER,  /* no table: Redis Cluster's slot map decides
                               (sp_cluster_map.h, sp_cluster_view.h) */
    SP_DIST_NTYPES
} sp_dist_type_t;

#define SP_DIST_KETAMA_POINTS 160   /* per server at average weight */

/* What the distribution needs to know of one server. */
struct sp_dist_server {
    const char *identity;   /* ketama input: name, "host:port" or "host" */
    size_t      identity_len;
    uint32_t    weight;     /* > 0 */
    bool        live;       /* false while ejected */
};

struct sp_dist_point {
    uint32_t value;         /* position on the ketama circle (0 otherwise) */
    uint32_t server;        /* index into the pool's server array */
};

struct sp_dist {
    sp_dist_type_t        type;
    struct sp_dist_point *points;
    uint32_t              npoints;
    uint32_t              capacity;
    uint32_t              nlive;    /* live servers in the last build */
    /* ketama: per slice of the hash space (its top bits), the first point
     * at or after the slice's start, so a lookup searches a point or two
     * instead of the whole continuum */
    uint32_t             *index;
    uint32_t              index_cap;
    uint32_t              index_bits;
};

void sp_dist_init(struct sp_dist *dist, sp_dist_type_t type);
void sp_dist_free(struct sp_dist *dist);

/*
 * (Re)build the table from n servers. Returns 0, or -1 when memory runs out
 * (the previous table is kept intact then). With no live server the table is
 * empty and sp_dist_dispatch must not be called (check sp_dist_empty).
 */
int sp_dist_build(struct sp_dist *dist, const struct sp_dist_server *servers,
                  uint32_t n);

static inline bool
sp_dist_empty(const struct sp_dist *dist)
{
    return dist->npoints == 0;
}

/*
 * The index of the server owning `hash`. For SP_DIST_RANDOM, `hash` is taken
 * as the random draw (callers pass their own PRNG output).
 */
uint32_t sp_dist_dispatch(const struct sp_dist *dist, uint32_t hash);

const char *sp_dist_name(sp_dist_type_t type);
sp_dist_type_t sp_dist_lookup(const char *name, size_t len);  /* NTYPES if none */
const char *sp_dist_names(void);

#endif /* SP_DIST_H */
