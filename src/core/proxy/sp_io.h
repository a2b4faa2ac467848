/*
 * sp_io.h — the transport under a connection: how its bytes reach the
 * socket (nginx's c->recv / c->send_chain). Every client and server
 * connection reads, writes, shuts down and closes through its `io` ops;
 * plain TCP (and Unix sockets) are the default ops, TLS another
 * (sp_tls.h). The data path above never asks which one it has.
 *
 * The ops behave as the system calls they stand for: a byte count, or -1
 * with errno (EAGAIN: try again at the next readiness edge; anything else:
 * the connection is broken), 0 from recv at the peer's end of stream. A
 * transport that must see readiness before the data path does (a TLS
 * handshake; a TLS read that waits for the socket to take a write, or a
 * write that waits for a read) sets conn->io_wait, and its `event` op then
 * turns the raw readiness into what the data path is to see.
 */
#ifndef SP_IO_H
#define SP_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct sp_conn;

struct sp_io {
    const char *name;                                   /* "tcp", "tls" */
    ssize_t  (*recv)(struct sp_conn *conn, void *buf, size_t len);
    ssize_t  (*send)(struct sp_conn *conn, const void *buf, size_t len);
    ssize_t  (*writev)(struct sp_conn *conn, const struct iovec *iov,
                       int iovcnt);
    /* how: SHUT_WR or SHUT_RDWR; a TLS transport says close_notify first */
    int      (*shutdown)(struct sp_conn *conn, int how);
    /* release the transport's state and close the descriptor */
    void     (*close)(struct sp_conn *conn);
    /* with conn->io_wait: the readiness the data path sees (0: none yet) */
    uint32_t (*event)(struct sp_conn *conn, uint32_t ready);
    /* a server connection's socket is connected: 0 once the transport is
     * up; -1 with EAGAIN while its handshake goes on (driven by `event`,
     * the connection stays "connecting"), other errno: it failed */
    int      (*handshake)(struct sp_conn *conn);
    /* true while the transport is not up yet (a handshake under way) */
    bool     (*pending)(const struct sp_conn *conn);
    /* the socket is to go to another process (a reload's handoff): 0 when
     * nothing of the connection is left outside it; -1 with EAGAIN (not
     * now: try at a later boundary) or EOPNOTSUPP (never: a TLS session
     * lives in this process) */
    int      (*release)(struct sp_conn *conn);
};

/* Plain sockets: the system calls themselves. */
extern const struct sp_io sp_io_plain;

/* Its steps that other socket transports share (sp_io_ring.c). */
ssize_t sp_io_plain_send(struct sp_conn *conn, const void *buf, size_t len);
int sp_io_plain_shutdown(struct sp_conn *conn, int how);
uint32_t sp_io_plain_event(struct sp_conn *conn, uint32_t ready);
int sp_io_plain_handshake(struct sp_conn *conn);
bool sp_io_plain_pending(const struct sp_conn *conn);

/*
 * Plain sockets written through the event loop's io_uring (sp_io_ring.c):
 * the sends of a loop turn go out together. Only on a loop whose backend
 * sends (sp_event_sends); sp_io_ring_attach once per loop, and
 * sp_io_ring_submit at the end of each flush pass: true when sends were
 * done (their connections are back on the flush list).
 */
extern const struct sp_io sp_io_ring;
struct sp_event_loop;
void sp_io_ring_attach(struct sp_event_loop *loop);
bool sp_io_ring_submit(struct sp_event_loop *loop);

#endif /* SP_IO_H */
