/*
 * sp_net.h — socket helpers: listening sockets from configured addresses,
 * non-blocking accept and connect, and socket options. They report failure
 * through an error buffer naming the syscall (Redis anet style); callers
 * decide how to log.
 */
#ifndef SP_NET_H
#define SP_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "sp_conf.h"

#define SP_NET_ERRLEN 256

/*
 * A non-blocking listening socket on addr (TCP, or a Unix path whose stale
 * socket file is replaced and whose permissions are set from addr->perm).
 * Returns the fd, or -1 with err filled.
 */
int sp_net_listen(const struct sp_conf_addr *addr, int backlog, bool reuseport,
                  char *err, size_t errlen);

/*
 * Whether addr is free, that is nobody (another shardproxy included) listens
 * there: our listeners all have SO_REUSEPORT, which would otherwise let a
 * second instance share the port silently. 0, or -1 with err filled.
 */
int sp_net_probe_free(const struct sp_conf_addr *addr, char *err,
                      size_t errlen);

/* Like sp_net_listen for "host:port" given as strings (the stats port). */
int sp_net_listen_host(const char *host, unsigned port, int backlog,
                       char *err, size_t errlen);

/*
 * Start a non-blocking connect to a server address (resolving its host now:
 * servers resolve lazily, as nutcracker does). Returns the fd (connect may
 * still be in progress) or -1 with errno set (EHOSTUNREACH when the host
 * does not resolve).
 */
int sp_net_connect(const struct sp_conf_addr *addr);

/* The pending error of a connecting socket (0: connected). */
int sp_net_socket_error(int fd);

int sp_net_set_nodelay(int fd);
int sp_net_set_keepalive(int fd);

/*
 * The peer of a connected socket as text, for logs: "1.2.3.4:5678",
 * "[::1]:5678", "unix:<path>" (a Unix socket's client has no path:
 * "unix"), or "?" when getpeername() fails. Always NUL-terminated.
 */
#define SP_NET_PEERLEN 80
void sp_net_peer_name(int fd, char *out, size_t cap);

#endif /* SP_NET_H */
