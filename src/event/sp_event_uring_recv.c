/*
 * sp_event_uring_recv.c — the io_uring backend's receives (see sp_event.h,
 * "Receives"): once its owner has drained a descriptor (a short read, or
 * EAGAIN) for the SP_URING_RECV_AFTER-th time (a connection of one request
 * stays on readiness and read(2), and never pays for a receive and its
 * cancel), one IORING_OP_RECV with a provided buffer (a buffer ring of
 * SP_URING_BUFS x SP_URING_BUF_SIZE) waits for its next bytes, and its poll
 * drops POLLIN; the completion is held (bytes, EOF or error) and reported
 * as SP_EV_READ, and sp_uring_recv copies from it. One receive per
 * descriptor at most, armed again only when what it brought is read: a
 * connection left unread (flow control) holds one buffer and the kernel
 * keeps the rest, its window closing as with read(2). A buffer filled to
 * the brim means more is waiting: the rest is read(2) until drained. Past
 * half the buffers out, drained descriptors go back to POLLIN and read(2).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sp_event_uring.h"

/* The provided buffers receives land in (kernel 5.19+); none: u->br NULL. */
void
sp_uring_bufs_setup(struct sp_uring *u)
{
    struct io_uring_buf_reg reg = { 0 };
    size_t size = SP_URING_BUFS * sizeof(struct io_uring_buf);
    void *mem;

    mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        return;
    }
    u->bufs = malloc((size_t)SP_URING_BUFS * SP_URING_BUF_SIZE);
    reg.ring_addr = (uint64_t)(uintptr_t)mem;
    reg.ring_entries = SP_URING_BUFS;
    reg.bgid = SP_URING_BGID;
    if (u->bufs == NULL
        || io_uring_register_buf_ring(&u->ring, &reg, 0) != 0) {
        munmap(mem, size);
        free(u->bufs);
        u->bufs = NULL;
        return;
    }
    u->br = mem;
    u->br_size = size;
    io_uring_buf_ring_init(u->br);
    for (int i = 0; i < SP_URING_BUFS; i++) {
        io_uring_buf_ring_add(u->br, u->bufs + (size_t)i * SP_URING_BUF_SIZE,
                              SP_URING_BUF_SIZE, (unsigned short)i,
                              io_uring_buf_ring_mask(SP_URING_BUFS), i);
    }
    io_uring_buf_ring_advance(u->br, SP_URING_BUFS);
}

/* Buffer bid back to the kernel. */
void
sp_uring_buf_put(struct sp_uring *u, uint16_t bid)
{
    io_uring_buf_ring_add(u->br, u->bufs + (size_t)bid * SP_URING_BUF_SIZE,
                          SP_URING_BUF_SIZE, bid,
                          io_uring_buf_ring_mask(SP_URING_BUFS), 0);
    io_uring_buf_ring_advance(u->br, 1);
    u->bufs_out--;
}

/* Arm the receive of fd: its next bytes land in a provided buffer. */
static int
sp_uring_recv_arm(struct sp_uring *u, int fd)
{
    struct sp_uring_fd *f = &u->fds[fd];
    struct io_uring_sqe *sqe = sp_uring_sqe(u);

    if (sqe == NULL) {
        return -1;
    }
    u->arming = (u->arming + 1) & SP_UD_ARMING_MASK;
    f->recv_ud = SP_UD_MAKE(SP_UD_RECV, (uint64_t)u->arming << 32
                                        | (uint32_t)fd);
    io_uring_prep_recv(sqe, fd, NULL, SP_URING_BUF_SIZE, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = SP_URING_BGID;
    io_uring_sqe_set_data64(sqe, f->recv_ud);
    return 0;
}

/* Cancel the armed receive (what it still brings is dropped). */
int
sp_uring_recv_cancel(struct sp_uring *u, struct sp_uring_fd *f)
{
    struct io_uring_sqe *sqe;

    if (f->recv_ud == 0) {
        return 0;
    }
    sqe = sp_uring_sqe(u);
    if (sqe == NULL) {
        return -1;
    }
    io_uring_prep_cancel64(sqe, f->recv_ud, 0);
    io_uring_sqe_set_data64(sqe, SP_UD_NONE);
    f->recv_ud = 0;
    return 0;
}

/* Readiness again for fd's reads: its poll watches POLLIN once more. */
int
sp_uring_recv_leave(struct sp_uring *u, int fd)
{
    struct sp_uring_fd *f = &u->fds[fd];

    f->receiving = false;
    if (sp_uring_recv_cancel(u, f) != 0 || sp_uring_disarm(u, f->ud) != 0) {
        return -1;
    }
    return sp_uring_arm(u, fd);
}

/* The ring receives for fd from now: its poll drops POLLIN. */
static int
sp_uring_recv_enter(struct sp_uring *u, int fd)
{
    struct sp_uring_fd *f = &u->fds[fd];

    if (!f->receiving) {
        f->receiving = true;
        if (sp_uring_disarm(u, f->ud) != 0 || sp_uring_arm(u, fd) != 0) {
            return -1;
        }
    }
    return sp_uring_recv_arm(u, fd);
}

/* A held result given up (the descriptor goes). */
void
sp_uring_recv_drop(struct sp_uring *u, struct sp_uring_fd *f)
{
    if (f->rheld && f->rres > 0) {
        sp_uring_buf_put(u, f->rbid);
    }
    f->rheld = false;
}

/* read(2) on fd; once it is drained the ring receives its next bytes,
 * while buffers last (else its poll watches POLLIN again). */
static ssize_t
sp_uring_recv_direct(struct sp_uring *u, int fd, void *buf, size_t len)
{
    ssize_t n = read(fd, buf, len);

    if ((n > 0 && (size_t)n < len) || (n < 0 && errno == EAGAIN)) {
        struct sp_uring_fd *f = &u->fds[fd];
        int err = errno;

        if (!f->receiving && f->drains + 1 < SP_URING_RECV_AFTER) {
            f->drains++;    /* a connection of one request (or a few)
                               costs no receive, nor its cancel */
        } else if (u->bufs_out < SP_URING_BUFS / 2) {
            (void)sp_uring_recv_enter(u, fd);
        } else if (u->fds[fd].receiving) {
            (void)sp_uring_recv_leave(u, fd);
        }
        errno = err;
    }
    return n;
}

ssize_t
sp_uring_recv(void *backend, int fd, void *buf, size_t len)
{
    struct sp_uring *u = backend;
    struct sp_uring_fd *f = NULL;
    ssize_t n;

    if (fd >= 0 && (uint32_t)fd < u->nfds && u->fds[fd].registered
        && !u->fds[fd].inner && u->br != NULL) {
        f = &u->fds[fd];
    }
    if (f == NULL) {
        return read(fd, buf, len);
    }
    if (f->rheld) {
        size_t avail;

        if (f->rres <= 0) {
            if (f->rres == 0) {
                return 0;                       /* stays: EOF is EOF */
            }
            errno = -f->rres;
            return -1;
        }
        avail = (size_t)f->rres - f->roff;
        n = (ssize_t)(len < avail ? len : avail);
        memcpy(buf, u->bufs + (size_t)f->rbid * SP_URING_BUF_SIZE + f->roff,
               (size_t)n);
        f->roff += (uint32_t)n;
        if (f->roff == (uint32_t)f->rres) {
            bool full = f->rres == SP_URING_BUF_SIZE;

            f->rheld = false;
            sp_uring_buf_put(u, f->rbid);
            if (!full) {
                /* the receive drained the socket: the next bytes come by
                 * the ring */
                if (sp_uring_recv_arm(u, fd) != 0) {
                    (void)sp_uring_recv_leave(u, fd);
                }
            } else if ((size_t)n < len) {
                /* a buffer filled: more is likely waiting. A short count
                 * must mean "drained" as read(2)'s does (the caller stops
                 * there, edge-triggered), so the rest of the room is read()
                 * now; drained, the ring receives again */
                ssize_t more = sp_uring_recv_direct(u, fd, (char *)buf + n,
                                                    len - (size_t)n);
                if (more > 0) {
                    n += more;
                }
            }
        }
        return n;
    }
    if (f->recv_ud != 0) {
        errno = EAGAIN;                         /* the ring reads it */
        return -1;
    }
    return sp_uring_recv_direct(u, fd, buf, len);
}

int
sp_uring_recv_release(void *backend, int fd)
{
    struct sp_uring *u = backend;
    struct sp_uring_fd *f;
    uint64_t ud;
    int ndone = 0;

    if (fd < 0 || (uint32_t)fd >= u->nfds || !u->fds[fd].registered) {
        return 0;
    }
    f = &u->fds[fd];
    if (f->rheld) {
        errno = EAGAIN;         /* bytes of it here: serve them first */
        return -1;
    }
    if (f->recv_ud == 0) {
        return 0;
    }
    /* the receive may be staged only: submit it, then cancel it and wait
     * for its last word (data that beat the cancel is served first) */
    ud = f->recv_ud;
    if (io_uring_submit(&u->ring) >= 0) {
        struct io_uring_sync_cancel_reg reg = { 0 };

        sp_uring_mark_submitted(u);
        reg.addr = ud;
        reg.timeout.tv_sec = 1;
        (void)io_uring_register_sync_cancel(&u->ring, &reg);
    }
    for (int i = 0; i < 64 && f->recv_ud == ud; i++) {
        (void)io_uring_get_events(&u->ring);
        sp_uring_reap_backlog(u, &ndone);
    }
    if (f->recv_ud == ud || f->rheld) {
        errno = EAGAIN;
        return -1;
    }
    f->receiving = false;
    return 0;
}

/*
 * A receive's completion: its bytes (or EOF, or error) held for the next
 * sp_uring_recv, and a readiness report in fired[*n]; false, the
 * completion left unread, when there is no room for the report.
 */
bool
sp_uring_recv_done(struct sp_uring *u, struct io_uring_cqe *cqe,
                   struct sp_event_fired *fired, int room, int *n)
{
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    int fd = (int)(uint32_t)ud;
    bool has_buf = (cqe->flags & IORING_CQE_F_BUFFER) != 0;
    uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    struct sp_uring_fd *f;
    uint32_t ready;

    if ((uint32_t)fd >= u->nfds || u->fds[fd].recv_ud != ud) {
        if (has_buf) {
            u->bufs_out++;
            sp_uring_buf_put(u, bid);   /* cancelled, or its fd gone */
        }
        return true;
    }
    f = &u->fds[fd];
    if (cqe->res == -ECANCELED) {
        f->recv_ud = 0;
        return true;
    }
    if (*n == room) {
        return false;
    }
    f->recv_ud = 0;
    if (has_buf) {
        u->bufs_out++;
    }
    if (cqe->res == -ENOBUFS) {
        /* every buffer is out: readiness and read() for now */
        (void)sp_uring_recv_leave(u, fd);
        ready = SP_EV_READ;
    } else {
        f->rres = cqe->res;
        f->roff = 0;
        f->rbid = bid;
        f->rheld = true;
        ready = SP_EV_READ | (cqe->res == 0 ? SP_EV_RDHUP : 0)
                | (cqe->res < 0 ? SP_EV_ERROR : 0);
    }
    fired[*n].cookie = f->cookie;
    fired[*n].ready = ready;
    (*n)++;
    return true;
}
