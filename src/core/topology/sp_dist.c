/*
 * sp_dist.c — ketama, modula and random distributions (see sp_dist.h).
 *
 * The ketama point count per server reproduces nutcracker's float arithmetic
 * step by step (float, not double, except the one double epsilon it adds),
 * because a different rounding would move keys.
 */
#include "sp_dist.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_md5.h"

#define SP_KETAMA_POINTS_PER_HASH 4
#define SP_KETAMA_IDENTITY_MAX    86   /* nutcracker truncates "<id>-<k>" here */

static const char *const sp_dist_names_table[SP_DIST_NTYPES] = {
    "ketama", "modula", "random", "redis_cluster",
};

const char *
sp_dist_name(sp_dist_type_t type)
{
    return (unsigned)type < SP_DIST_NTYPES ? sp_dist_names_table[type] : NULL;
}

sp_dist_type_t
sp_dist_lookup(const char *name, size_t len)
{
    for (int i = 0; i < SP_DIST_NTYPES; i++) {
        const char *candidate = sp_dist_names_table[i];
        if (strlen(candidate) == len && memcmp(candidate, name, len) == 0) {
            return (sp_dist_type_t)i;
        }
    }
    return SP_DIST_NTYPES;
}

const char *
sp_dist_names(void)
{
    return "ketama, modula, random, redis_cluster";
}

void
sp_dist_init(struct sp_dist *dist, sp_dist_type_t type)
{
    memset(dist, 0, sizeof(*dist));
    dist->type = type;
}

void
sp_dist_free(struct sp_dist *dist)
{
    free(dist->points);
    dist->points = NULL;
    dist->npoints = dist->capacity = dist->nlive = 0;
    free(dist->index);
    dist->index = NULL;
    dist->index_cap = dist->index_bits = 0;
}

static int
sp_dist_reserve(struct sp_dist *dist, uint32_t npoints)
{
    struct sp_dist_point *points;

    if (npoints <= dist->capacity) {
        return 0;
    }
    points = realloc(dist->points, (size_t)npoints * sizeof(*points));
    if (points == NULL) {
        return -1;
    }
    dist->points = points;
    dist->capacity = npoints;
    return 0;
}

static int
sp_dist_index_reserve(struct sp_dist *dist, uint32_t n)
{
    uint32_t *index;

    if (n <= dist->index_cap) {
        return 0;
    }
    index = realloc(dist->index, (size_t)n * sizeof(*index));
    if (index == NULL) {
        return -1;
    }
    dist->index = index;
    dist->index_cap = n;
    return 0;
}

/* nutcracker: floorf((float)(pct * 160 / 4 * (float)nlive + 1e-10)) * 4 */
static uint32_t
sp_ketama_points_for(uint32_t weight, uint32_t total_weight, uint32_t nlive)
{
    float pct = (float)weight / (float)total_weight;
    float scaled = pct * SP_DIST_KETAMA_POINTS / SP_KETAMA_POINTS_PER_HASH
                   * (float)nlive;
    float floored = floorf((float)(scaled + 0.0000000001));

    return (uint32_t)(floored * SP_KETAMA_POINTS_PER_HASH);
}

/* Sorted by value; ties keep server order, as nutcracker's stable qsort. */
static int
sp_ketama_point_cmp(const void *a, const void *b)
{
    const struct sp_dist_point *pa = a, *pb = b;

    if (pa->value != pb->value) {
        return pa->value < pb->value ? -1 : 1;
    }
    if (pa->server != pb->server) {
        return pa->server < pb->server ? -1 : 1;
    }
    return 0;
}

static int
sp_dist_build_ketama(struct sp_dist *dist, const struct sp_dist_server *servers,
                     uint32_t n, uint32_t nlive, uint32_t total_weight)
{
    uint32_t npoints = 0;

    for (uint32_t i = 0; i < n; i++) {
        if (servers[i].live) {
            npoints += sp_ketama_points_for(servers[i].weight, total_weight,
                                            nlive);
        }
    }
    /* index slices: the power of two at or above the point count */
    uint32_t bits = 0;
    while (bits < 16 && (1u << bits) < npoints) {
        bits++;
    }
    if (sp_dist_reserve(dist, npoints) != 0
        || sp_dist_index_reserve(dist, 1u << bits) != 0) {
        return -1;
    }

    uint32_t at = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct sp_dist_server *server = &servers[i];
        uint32_t nhashes;

        if (!server->live) {
            continue;
        }
        nhashes = sp_ketama_points_for(server->weight, total_weight, nlive)
                  / SP_KETAMA_POINTS_PER_HASH;
        for (uint32_t k = 0; k < nhashes; k++) {
            char input[SP_KETAMA_IDENTITY_MAX];
            uint8_t digest[SP_MD5_DIGEST_LEN];
            int idlen = server->identity_len > (size_t)SP_KETAMA_IDENTITY_MAX
                        ? SP_KETAMA_IDENTITY_MAX : (int)server->identity_len;
            int len = snprintf(input, sizeof(input), "%.*s-%u", idlen,
                               server->identity, (unsigned)k);

            /* snprintf's return counts what did not fit; nutcracker hashes
             * that many bytes of its buffer, which we reproduce by capping
             * at the buffer (its bytes past the NUL are zero). */
            if (len >= (int)sizeof(input)) {
                len = (int)sizeof(input) - 1;
            }
            sp_md5(input, (size_t)len, digest);
            for (int x = 0; x < SP_KETAMA_POINTS_PER_HASH; x++) {
                const uint8_t *d = digest + 4 * x;
                dist->points[at].value = (uint32_t)d[0]
                                         | (uint32_t)d[1] << 8
                                         | (uint32_t)d[2] << 16
                                         | (uint32_t)d[3] << 24;
                dist->points[at].server = i;
                at++;
            }
        }
    }
    qsort(dist->points, at, sizeof(*dist->points), sp_ketama_point_cmp);
    dist->npoints = at;
    dist->index_bits = bits;
    for (uint32_t b = 0, p = 0; b < (1u << bits); b++) {
        uint64_t start = (uint64_t)b << (32 - bits);
        while (p < at && dist->points[p].value < start) {
            p++;
        }
        dist->index[b] = p;
    }
    return 0;
}

static int
sp_dist_build_modula(struct sp_dist *dist, const struct sp_dist_server *servers,
                     uint32_t n, uint32_t total_weight)
{
    uint32_t at = 0;

    if (sp_dist_reserve(dist, total_weight) != 0) {
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!servers[i].live) {
            continue;
        }
        for (uint32_t w = 0; w < servers[i].weight; w++) {
            dist->points[at].value = 0;
            dist->points[at].server = i;
            at++;
        }
    }
    dist->npoints = at;
    return 0;
}

static int
sp_dist_build_random(struct sp_dist *dist, const struct sp_dist_server *servers,
                     uint32_t n, uint32_t nlive)
{
    uint32_t at = 0;

    if (sp_dist_reserve(dist, nlive) != 0) {
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (servers[i].live) {
            dist->points[at].value = 0;
            dist->points[at].server = i;
            at++;
        }
    }
    dist->npoints = at;
    return 0;
}

int
sp_dist_build(struct sp_dist *dist, const struct sp_dist_server *servers,
              uint32_t n)
{
    uint32_t nlive = 0, total_weight = 0;
    int rc;

    for (uint32_t i = 0; i < n; i++) {
        if (servers[i].live) {
            nlive++;
            total_weight += servers[i].weight;
        }
    }
    if (nlive == 0) {
        dist->npoints = 0;
        dist->nlive = 0;
        return 0;
    }

    switch (dist->type) {
    case SP_DIST_KETAMA:
        rc = sp_dist_build_ketama(dist, servers, n, nlive, total_weight);
        break;
    case SP_DIST_MODULA:
        rc = sp_dist_build_modula(dist, servers, n, total_weight);
        break;
    case SP_DIST_RANDOM:
        rc = sp_dist_build_random(dist, servers, n, nlive);
        break;
    case SP_DIST_REDIS_CLUSTER:
        dist->npoints = 0;      /* the slot map routes (sp_cluster_view.h) */
        rc = 0;
        break;
    default:
        rc = -1;
        break;
    }
    if (rc == 0) {
        dist->nlive = nlive;
    }
    return rc;
}

static uint32_t
sp_ketama_dispatch(const struct sp_dist *dist, uint32_t hash)
{
    /* the points before the slice's first are below hash, those from the
     * next slice's first on above it: search between */
    uint32_t slice = (uint32_t)((uint64_t)hash >> (32 - dist->index_bits));
    uint32_t left = dist->index[slice];
    uint32_t right = slice + 1 < (1u << dist->index_bits)
                     ? dist->index[slice + 1] : dist->npoints;

    /* first point whose value >= hash; past the end wraps to the first */
    while (left < right) {
        uint32_t middle = left + (right - left) / 2;
        if (dist->points[middle].value < hash) {
            left = middle + 1;
        } else {
            right = middle;
        }
    }
    if (right == dist->npoints) {
        right = 0;
    }
    return dist->points[right].server;
}

uint32_t
sp_dist_dispatch(const struct sp_dist *dist, uint32_t hash)
{
    if (dist->type == SP_DIST_KETAMA) {
        return sp_ketama_dispatch(dist, hash);
    }
    return dist->points[hash % dist->npoints].server;
}
