/*
 * sp_io.c — the plain transport: a connection's socket read and written
 * with the system calls, nothing in between (see sp_io.h).
 */
#include "sp_io.h"

#include <sys/socket.h>
#include <unistd.h>

#include "sp_conn.h"

static ssize_t
sp_io_plain_recv(struct sp_conn *conn, void *buf, size_t len)
{
    return read(conn->fd, buf, len);
}

ssize_t
sp_io_plain_send(struct sp_conn *conn, const void *buf, size_t len)
{
    return write(conn->fd, buf, len);
}

static ssize_t
sp_io_plain_writev(struct sp_conn *conn, const struct iovec *iov, int iovcnt)
{
    return writev(conn->fd, iov, iovcnt);
}

int
sp_io_plain_shutdown(struct sp_conn *conn, int how)
{
    return shutdown(conn->fd, how);
}

static void
sp_io_plain_close(struct sp_conn *conn)
{
    close(conn->fd);
}

uint32_t
sp_io_plain_event(struct sp_conn *conn, uint32_t ready)
{
    (void)conn;
    return ready;               /* never asked: io_wait stays false */
}

int
sp_io_plain_handshake(struct sp_conn *conn)
{
    (void)conn;
    return 0;                   /* up once connected */
}

bool
sp_io_plain_pending(const struct sp_conn *conn)
{
    (void)conn;
    return false;
}

static int
sp_io_plain_release(struct sp_conn *conn)
{
    (void)conn;
    return 0;                   /* all of it is in the socket */
}

const struct sp_io sp_io_plain = {
    .name = "tcp",
    .recv = sp_io_plain_recv,
    .send = sp_io_plain_send,
    .writev = sp_io_plain_writev,
    .shutdown = sp_io_plain_shutdown,
    .close = sp_io_plain_close,
    .event = sp_io_plain_event,
    .handshake = sp_io_plain_handshake,
    .pending = sp_io_plain_pending,
    .release = sp_io_plain_release,
};
