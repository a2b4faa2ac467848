/*
 * sp_memcache_binary.c — the one thing the proxy says in memcached's binary
 * protocol: that it does not speak it (see sp_memcache.h).
 *
 * A binary request starts with a 24-byte header:
 *
 *   0 magic 0x80 | 1 opcode | 2-3 key length | 4 extras length |
 *   5 data type | 6-7 vbucket | 8-11 total body length | 12-15 opaque |
 *   16-23 CAS                                (numbers big-endian)
 *
 * The response has the same layout with magic 0x81 and a status in place
 * of the vbucket. A client matches a response by its opcode and opaque, so
 * both are echoed: the client reports "Unknown command" for the request it
 * sent instead of waiting for an answer that never comes.
 */
#include "sp_memcache.h"

#include <string.h>

#define SP_MC_BIN_OPCODE    1
#define SP_MC_BIN_STATUS    6
#define SP_MC_BIN_BODYLEN   8
#define SP_MC_BIN_OPAQUE    12

/* n big-endian bytes of value at out. */
static void
sp_mc_bin_put(uint8_t *out, uint32_t value, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        out[i] = (uint8_t)(value >> (8 * (n - 1 - i)));
    }
}

size_t
sp_memcache_binary_refusal(const uint8_t *req, size_t len,
                           uint8_t out[SP_MEMCACHE_BINARY_REFUSAL])
{
    size_t body = sizeof(SP_MEMCACHE_BINARY_TEXT) - 1;

    memset(out, 0, SP_MEMCACHE_BINARY_HEADER);
    out[0] = SP_MEMCACHE_BINARY_RESPONSE;
    if (len > SP_MC_BIN_OPCODE) {
        out[SP_MC_BIN_OPCODE] = req[SP_MC_BIN_OPCODE];
    }
    sp_mc_bin_put(out + SP_MC_BIN_STATUS, SP_MEMCACHE_BINARY_UNKNOWN, 2);
    sp_mc_bin_put(out + SP_MC_BIN_BODYLEN, (uint32_t)body, 4);
    for (size_t i = SP_MC_BIN_OPAQUE; i < SP_MC_BIN_OPAQUE + 4 && i < len;
         i++) {
        out[i] = req[i];        /* opaque: echoed as it came */
    }
    memcpy(out + SP_MEMCACHE_BINARY_HEADER, SP_MEMCACHE_BINARY_TEXT, body);
    return SP_MEMCACHE_BINARY_REFUSAL;
}
