/*
 * sp_stats_fields.h — the one list of stats fields: name, kind and the
 * description `-D` prints. nutcracker's fields keep its names, order and
 * texts so existing exporters read our JSON unchanged; the stats code, the
 * JSON writer and `-D` all expand these lists, so a field is one line.
 *
 * X(name, kind, description), kind: COUNTER (only grows), GAUGE (current
 * value), TIMESTAMP (usec since the epoch; summed over workers as a max).
 */
#ifndef SP_STATS_FIELDS_H
#define SP_STATS_FIELDS_H

#define SP_STATS_POOL_FIELDS(X)                                               \
    X(client_eof,         COUNTER, "# eof on client connections")             \
    X(client_err,         COUNTER, "# errors on client connections")          \
    X(client_connections, GAUGE,   "# active client connections")             \
    X(server_ejects,      COUNTER, "# times backend server was ejected")      \
    X(forward_error,      COUNTER, "# times we encountered a forwarding error") \
    X(fragments,          COUNTER, "# fragments created from a multi-vector request")

#define SP_STATS_SERVER_FIELDS(X)                                             \
    X(server_eof,         COUNTER,   "# eof on server connections")           \
    X(server_err,         COUNTER,   "# errors on server connections")        \
    X(server_timedout,    COUNTER,   "# timeouts on server connections")      \
    X(server_connections, GAUGE,     "# active server connections")           \
    X(server_ejected_at,  TIMESTAMP, "timestamp when server was ejected in usec since epoch") \
    X(requests,           COUNTER,   "# requests")                            \
    X(request_bytes,      COUNTER,   "total request bytes")                   \
    X(responses,          COUNTER,   "# responses")                           \
    X(response_bytes,     COUNTER,   "total response bytes")                  \
    X(in_queue,           GAUGE,     "# requests in incoming queue")          \
    X(in_queue_bytes,     GAUGE,     "current request bytes in incoming queue") \
    X(out_queue,          GAUGE,     "# requests in outgoing queue")          \
    X(out_queue_bytes,    GAUGE,     "current request bytes in outgoing queue")

#endif /* SP_STATS_FIELDS_H */
