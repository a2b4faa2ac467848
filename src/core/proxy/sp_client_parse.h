/*
 * sp_client_parse.h — a client's request parser state, lent by the worker
 * only while a request is partly read.
 *
 * Parser state is ~300 bytes (the parser and the key positions it records)
 * and a client needs it only between the first and the last byte of a
 * request. At a request boundary the state is nothing but the stream
 * offset, so the client hands it back (sp_client.c) and an idle client
 * holds none: 10,000 idle app-server connections cost their connection
 * objects alone. The states recycle through a free list trimmed like the
 * buffers' (sp_trim.h), so steady state allocates nothing.
 *
 * The core knows no protocol: the state is the protocol's own parser
 * (sp_redis_req_parser, sp_memcache_req_parser), kept inline at the end of
 * the object, sized by the largest `parse_size` of the protocols
 * (sp_proto.h), and reached with sp_client_parse_state().
 */
#ifndef SP_CLIENT_PARSE_H
#define SP_CLIENT_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "sp_parse.h"
#include "sp_trim.h"

#define SP_CLIENT_PARSE_KEYS 4      /* keys the parser records (routing) */

struct sp_client_parse {
    struct sp_client_parse *free_next;
    struct sp_span          keys[SP_CLIENT_PARSE_KEYS];
    _Alignas(max_align_t) unsigned char state[];    /* the protocol's parser */
};

/* The protocol's parser state of ps. */
static inline void *
sp_client_parse_state(struct sp_client_parse *ps)
{
    return ps->state;
}

struct sp_client_parse_pool {
    struct sp_client_parse *free;
    uint32_t                nfree;
    uint32_t                nused;      /* lent to clients now */
    uint64_t                nalloc;     /* states ever allocated */
    struct sp_trim          trim;       /* what stayed unused */
    size_t                  state_size; /* bytes of parser state */
};

/* state_size: the largest parser state of the protocols served. */
void sp_client_parse_pool_init(struct sp_client_parse_pool *pool,
                               size_t state_size);

/* A state from the free list (or a new one). NULL: ENOMEM. */
struct sp_client_parse *sp_client_parse_get(struct sp_client_parse_pool *pool);

void sp_client_parse_put(struct sp_client_parse_pool *pool,
                         struct sp_client_parse *ps);

/* End a trim period (the worker's tick): free what stayed unused, less keep. */
void sp_client_parse_trim(struct sp_client_parse_pool *pool, uint32_t keep);

/* Free every state on the free list (worker exit). */
void sp_client_parse_free_all(struct sp_client_parse_pool *pool);

#endif /* SP_CLIENT_PARSE_H */
