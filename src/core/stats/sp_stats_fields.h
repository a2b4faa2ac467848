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

/*
 * shardproxy's own fields: in the stats ports' JSON after nutcracker's
 * (nutcracker's stay byte for byte as they were), after them in `-D`,
 * summed over workers and exported to Prometheus the same way.
 */
#define SP_STATS_POOL_OWN_FIELDS(X)                                           \
    X(blocked_clients,    GAUGE,   "# clients waiting in a blocking command (BLPOP ...)") \
    X(blocking_refused,   COUNTER, "# blocking commands refused: blocking_connections in use")

#define SP_STATS_SERVER_OWN_FIELDS(X)                                         \
    X(blocking_connections, GAUGE,   "# connections for blocking commands (lent or idle)") \
    X(lent_connections,   GAUGE,     "# of them lent to a blocked client now") \
    X(moved,              COUNTER,   "# -MOVED redirections the node answered (Redis Cluster)") \
    X(ask,                COUNTER,   "# -ASK redirections the node answered (Redis Cluster)")

/*
 * A pool's TLS (sp_tls.h), written only for pools with tls or server_tls.
 * Client handshakes that fail are counted by reason; the clients connected
 * now are counted by protocol version and by cipher.
 */
#define SP_STATS_TLS_FIELDS(X)                                                \
    X(tls_handshakes,          COUNTER, "# TLS handshakes of clients completed") \
    X(tls_resumed,             COUNTER, "# of them that resumed a session")   \
    X(tls_fail_timeout,        COUNTER, "# client handshakes not done within tls_handshake_timeout") \
    X(tls_fail_plaintext,      COUNTER, "# clients that spoke plaintext to the TLS port") \
    X(tls_fail_no_cert,        COUNTER, "# clients refused: no certificate (tls_ca_file)") \
    X(tls_fail_bad_cert,       COUNTER, "# clients refused: certificate not verified") \
    X(tls_fail_protocol,       COUNTER, "# clients with no protocol version or cipher in common") \
    X(tls_fail_eof,            COUNTER, "# clients gone during the handshake") \
    X(tls_fail_other,          COUNTER, "# client handshakes failed otherwise (alerts, bad records)") \
    X(tls_clients_tlsv1_2,     GAUGE,   "# TLS clients connected with TLSv1.2") \
    X(tls_clients_tlsv1_3,     GAUGE,   "# TLS clients connected with TLSv1.3") \
    X(tls_cipher_aes_128_gcm,  GAUGE,   "# TLS clients on AES-128-GCM (TLS_AES_128_GCM_SHA256, ECDHE-*-AES128-GCM-SHA256)") \
    X(tls_cipher_aes_256_gcm,  GAUGE,   "# TLS clients on AES-256-GCM (TLS_AES_256_GCM_SHA384, ECDHE-*-AES256-GCM-SHA384)") \
    X(tls_cipher_chacha20,     GAUGE,   "# TLS clients on ChaCha20-Poly1305") \
    X(tls_cipher_other,        GAUGE,   "# TLS clients on any other cipher") \
    X(server_tls_handshakes,   COUNTER, "# TLS handshakes with servers completed") \
    X(server_tls_resumed,      COUNTER, "# of them that resumed a session") \
    X(server_tls_failures,     COUNTER, "# TLS handshakes with servers failed")

#endif /* SP_STATS_FIELDS_H */
