/*
 * sp_proto.c — what both protocols share: the error replies for server
 * failures, one table of errno texts (nutcracker's: strerror after the
 * protocol's error prefix).
 */
#include "sp_proto.h"

#include <errno.h>

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
