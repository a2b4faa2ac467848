/*
 * sp_client_parse.c — the worker's free list of client parser states (see
 * sp_client_parse.h).
 */
#include "sp_client_parse.h"

#include <stdlib.h>

void
sp_client_parse_pool_init(struct sp_client_parse_pool *pool,
                          size_t state_size)
{
    pool->state_size = state_size;
    pool->free = NULL;
    pool->nfree = 0;
    pool->nused = 0;
    pool->nalloc = 0;
    sp_trim_init(&pool->trim, 0);
}

struct sp_client_parse *
sp_client_parse_get(struct sp_client_parse_pool *pool)
{
    struct sp_client_parse *ps = pool->free;

    if (ps != NULL) {
        pool->free = ps->free_next;
        pool->nfree--;
        sp_trim_note(&pool->trim, pool->nfree);
    } else {
        /* the protocol's init sets what is used */
        ps = malloc(sizeof(*ps) + pool->state_size);
        if (ps == NULL) {
            return NULL;
        }
        pool->nalloc++;
    }
    pool->nused++;
    return ps;
}

void
sp_client_parse_put(struct sp_client_parse_pool *pool,
                    struct sp_client_parse *ps)
{
    ps->free_next = pool->free;
    pool->free = ps;
    pool->nfree++;
    pool->nused--;
}

void
sp_client_parse_trim(struct sp_client_parse_pool *pool, uint32_t keep)
{
    uint32_t excess = sp_trim_period_end(&pool->trim, pool->nfree, keep);

    for (uint32_t i = 0; i < excess; i++) {
        struct sp_client_parse *ps = pool->free;
        pool->free = ps->free_next;
        free(ps);
    }
    pool->nfree -= excess;
}

void
sp_client_parse_free_all(struct sp_client_parse_pool *pool)
{
    while (pool->free != NULL) {
        struct sp_client_parse *ps = pool->free;
        pool->free = ps->free_next;
        free(ps);
    }
    pool->nfree = 0;
    sp_trim_init(&pool->trim, 0);
}
