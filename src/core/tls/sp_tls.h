/*
 * sp_tls.h — TLS with OpenSSL 3, on both sides of a pool: a transport
 * under the connection (struct sp_io, sp_io.h) and the contexts it runs
 * on. Nothing above the transport knows whether a connection is
 * encrypted: the data path reads, writes and closes through conn->io.
 *
 *   client side (`tls: true`): accept ─► sp_tls_accept: io = TLS, the
 *   handshake driven by readiness (io_wait, no polling) ─► up: the data
 *   path sees READ|WRITE and goes on as on a plain socket. Not up within
 *   tls_handshake_timeout (the client's timer), or plaintext, or a
 *   certificate refused: closed, counted by reason (sp_stats_fields.h).
 *
 *   server side (`server_tls: true`): connect ─► sp_tls_connect (SNI, the
 *   name verified, a session to resume) ─► the socket connects ─► the
 *   transport's handshake op; the connection stays "connecting" until it
 *   is up, its requests queued meanwhile.
 *
 * Contexts are built when a configuration loads (sp_tls_conf_build), so a
 * bad file fails `-t`, startup and a reload alike, with file, line and
 * key; they are freed with the configuration: one SSL_CTX per pool and
 * side per generation. Workers are forked from the master with their
 * generation's contexts, so the session-ticket keys are the same in every
 * worker of a generation (a client resumes on any of them).
 */
#ifndef SP_TLS_H
#define SP_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "sp_conf.h"
#include "sp_io.h"

struct sp_conn;
struct sp_server;

/*
 * Build tls->ctx for one side of pool `pool`: toward its clients
 * (to_clients: the proxy is the TLS server) or toward its servers. 0, or
 * -1 with a message in err and *key the key at fault without the side's
 * prefix ("cert_file", "protocols", ...; NULL: the side's switch).
 */
int sp_tls_conf_build(struct sp_conf_tls *tls, bool to_clients,
                      const char *pool, char *err, size_t errlen,
                      const char **key);

/* Free what a side's configuration holds (strings and the context). */
void sp_tls_conf_free(struct sp_conf_tls *tls);

/* The TLS transport. */
extern const struct sp_io sp_io_tls;

/* Make a registered client connection of a `tls` pool speak TLS (the
 * proxy is the server); its handshake waits for readiness. 0 / -1
 * (ENOMEM: close it). */
int sp_tls_accept(struct sp_conn *conn);

/* Make a new server connection of a `server_tls` pool speak TLS; the
 * handshake starts once its socket connects (io->handshake). 0 / -1. */
int sp_tls_connect(struct sp_conn *conn);

/* A client's handshake did not finish within tls_handshake_timeout:
 * counted (the caller closes it). */
void sp_tls_timed_out(struct sp_conn *conn);

/* Drop a server's session kept for resumption (the server goes). */
void sp_tls_session_drop(struct sp_server *server);

#endif /* SP_TLS_H */
