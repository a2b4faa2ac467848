/*
 * sp_io_ring.c — plain sockets whose writes go through the event loop's
 * io_uring (see sp_io.h, and "Sends" in sp_event.h): the writes of one loop
 * turn reach the kernel together, in one system call, instead of a writev
 * each; and its reads take what the ring received for the connection
 * (sp_event_recv), so a request read costs no system call either.
 * Shutdown and close are the plain transport's.
 *
 * The data path writes as it always does (build the iovecs, call writev,
 * account the bytes written) and never learns of the ring. A writev stages
 * the send and says EAGAIN, so the caller stops and leaves its messages as
 * they are; once the loop has sent the stage (sp_io_ring_submit, at the end
 * of the worker's flush), the connection is writable again and goes back on
 * the flush list, its flush builds the same iovecs (its queue only grew at
 * the back meanwhile) and this writev answers with the send's result, which
 * the caller accounts as if it had just been written. A connection closed
 * with a send staged cancels it: the send is never made, and the bytes it
 * pointed at may go. One-off writes, shutdown and the rest are the plain
 * transport's (sp_io.c).
 *
 * conn->io_data holds the connection's send while one is staged or its
 * result unread, NULL otherwise.
 */
#include "sp_io.h"

#include <errno.h>
#include <unistd.h>

#include "sp_conn.h"
#include "sp_worker.h"

static ssize_t
sp_io_ring_recv(struct sp_conn *conn, void *buf, size_t len)
{
    return sp_event_recv(conn->worker->loop, conn->fd, buf, len);
}

static ssize_t
sp_io_ring_writev(struct sp_conn *conn, const struct iovec *iov, int iovcnt)
{
    struct sp_event_loop *loop = conn->worker->loop;
    struct sp_event_send *send = conn->io_data;

    if (send != NULL) {
        ssize_t result;

        if (sp_event_send_result(loop, send, &result) != 0) {
            errno = EAGAIN;         /* still on its way */
            return -1;
        }
        conn->io_data = NULL;
        if (result < 0) {
            errno = (int)-result;
            return -1;
        }
        return result;
    }
    send = sp_event_send_stage(loop, conn->fd, iov, iovcnt, conn);
    if (send == NULL) {
        return writev(conn->fd, iov, iovcnt);   /* the stage is full */
    }
    conn->io_data = send;
    errno = EAGAIN;
    return -1;
}

static void
sp_io_ring_close(struct sp_conn *conn)
{
    if (conn->io_data != NULL) {
        sp_event_send_cancel(conn->worker->loop, conn->io_data);
        conn->io_data = NULL;
    }
    close(conn->fd);
}

static int
sp_io_ring_release(struct sp_conn *conn)
{
    if (conn->io_data != NULL) {
        errno = EAGAIN;         /* a send under way */
        return -1;
    }
    return sp_event_recv_release(conn->worker->loop, conn->fd);
}

const struct sp_io sp_io_ring = {
    .name = "tcp",
    .recv = sp_io_ring_recv,
    .send = sp_io_plain_send,   /* a one-off write (no caller replays it) */
    .writev = sp_io_ring_writev,
    .shutdown = sp_io_plain_shutdown,
    .close = sp_io_ring_close,
    .event = sp_io_plain_event,
    .handshake = sp_io_plain_handshake,
    .pending = sp_io_plain_pending,
    .release = sp_io_ring_release,
};

/* A send is done: its connection can write again, in this flush. */
static void
sp_io_ring_sent(struct sp_event_loop *loop, void *owner)
{
    struct sp_conn *conn = owner;

    (void)loop;
    conn->write_ready = true;
    sp_conn_want_flush(conn);
}

void
sp_io_ring_attach(struct sp_event_loop *loop)
{
    sp_event_set_send_handler(loop, sp_io_ring_sent);
}

bool
sp_io_ring_submit(struct sp_event_loop *loop)
{
    return sp_event_submit(loop) > 0;
}
