/*
 * sp_proto.c — what both protocols share: the error replies for server
 * failures, one table of errno texts (nutcracker's: strerror after the
 * protocol's error prefix); and the list of protocols, with the sizes of
 * the state they hang on the core's objects.
 */
#include "sp_proto.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

struct sp_proto_error {
    int         err;
    const char *redis;
    const char *memcache;
};

#define SP_PROTO_ERROR(e, text) \
    { e, "-ERR " text "\r\n", "SERVER_ERROR " text "\r\n" }

static const struct sp_proto_error sp_proto_errors[] = {
    SP_PROTO_ERROR(ECONNREFUSED, "Connection refused"),
    SP_PROTO_ERROR(ETIMEDOUT,    "Connection timed out"),
    SP_PROTO_ERROR(ECONNRESET,   "Connection reset by peer"),
    SP_PROTO_ERROR(EPIPE,        "Broken pipe"),
    SP_PROTO_ERROR(EHOSTUNREACH, "No route to host"),
    SP_PROTO_ERROR(ENETUNREACH,  "Network is unreachable"),
    SP_PROTO_ERROR(ENOENT,       "No such file or directory"),
    SP_PROTO_ERROR(ENOMEM,       "Cannot allocate memory"),
    SP_PROTO_ERROR(EPROTO,       "Protocol error from server"),
    SP_PROTO_ERROR(ESHUTDOWN,    "proxy shutting down"),
    SP_PROTO_ERROR(0,            "Connection failed"),     /* any other */
};

const char *
sp_proto_error_text(int err, bool redis)
{
    size_t n = sizeof(sp_proto_errors) / sizeof(sp_proto_errors[0]);
    size_t i;

    for (i = 0; i < n - 1 && sp_proto_errors[i].err != err; i++) {
    }
    return redis ? sp_proto_errors[i].redis : sp_proto_errors[i].memcache;
}

/* Every protocol a pool may speak. */
static const struct sp_proto *const sp_protos[] = {
    &sp_proto_redis,
    &sp_proto_memcache,
};

uint32_t
sp_proto_refused_base(const struct sp_proto *proto)
{
    uint32_t base = 0;

    for (size_t i = 0; i < sizeof(sp_protos) / sizeof(sp_protos[0]); i++) {
        if (sp_protos[i] == proto) {
            break;
        }
        base += sp_protos[i]->refused_ids;
    }
    return base;
}

const char *
sp_proto_refused_name(uint32_t id)
{
    for (size_t i = 0; i < sizeof(sp_protos) / sizeof(sp_protos[0]); i++) {
        const struct sp_proto *proto = sp_protos[i];

        if (id < proto->refused_ids) {
            return proto->refused_name(id);
        }
        id -= proto->refused_ids;
    }
    return NULL;
}

/* The largest size_t at byte offset `field` of the protocols' tables. */
static size_t
sp_proto_largest(size_t field)
{
    size_t size = 0;

    for (size_t i = 0; i < sizeof(sp_protos) / sizeof(sp_protos[0]); i++) {
        const size_t *value = (const size_t *)(const void *)
                              ((const char *)sp_protos[i] + field);
        if (*value > size) {
            size = *value;
        }
    }
    return size;
}

size_t
sp_proto_parse_size(void)
{
    return sp_proto_largest(offsetof(struct sp_proto, parse_size));
}

size_t
sp_proto_server_size(void)
{
    return sp_proto_largest(offsetof(struct sp_proto, server_size));
}

const struct sp_proto *
sp_proto_named(const char *name)
{
    for (size_t i = 0; i < sizeof(sp_protos) / sizeof(sp_protos[0]); i++) {
        if (strcmp(sp_protos[i]->name, name) == 0) {
            return sp_protos[i];
        }
    }
    return NULL;
}
