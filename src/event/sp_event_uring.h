/*
 * sp_event_uring.h — private to the io_uring backend (src/event/
 * sp_event_uring*.c): its state, the user_data of its requests, and what
 * its three files share. sp_event_uring.c: the ring, registration and
 * readiness, the poll; sp_event_uring_send.c: the staged sends;
 * sp_event_uring_recv.c: receives into provided buffers.
 */
#ifndef SP_EVENT_URING_H
#define SP_EVENT_URING_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <liburing.h>

#include "sp_event.h"
#include "sp_event_backend.h"

#define SP_URING_ENTRIES    512         /* submission queue */
#define SP_URING_CQ         4096        /* completion queue */
#define SP_URING_SENDS      512         /* sends staged or in flight */
#define SP_URING_IOVS       4096        /* iovecs of the staged sends */
#define SP_URING_BACKLOG    4096        /* reports kept from a submit */

#define SP_URING_SIGNAL_MS  10          /* signals let in without a wait */

#define SP_URING_BUFS       64          /* provided receive buffers */
#define SP_URING_BUF_SIZE   4096        /* bytes each */
#define SP_URING_RECV_AFTER 2           /* drains before the ring receives */
#define SP_URING_BGID       0           /* their group */

#define SP_UD_TAG(ud)       ((ud) >> 61)
#define SP_UD_NONE          UINT64_C(0)
#define SP_UD_POLL          UINT64_C(1)
#define SP_UD_EPOLL         UINT64_C(2)
#define SP_UD_SEND          UINT64_C(3)
#define SP_UD_RECV          UINT64_C(4)
#define SP_UD_MAKE(tag, v)  ((tag) << 61 | (v))
#define SP_UD_ARMING_MASK   0x1fffffffu

enum { SP_SEND_FREE, SP_SEND_STAGED, SP_SEND_SUBMITTED, SP_SEND_DONE };

struct sp_uring_fd {
    uint64_t cookie;
    uint64_t ud;                /* of its armed poll; 0: none */
    uint64_t recv_ud;           /* of its armed receive; 0: none */
    uint32_t interest;
    int32_t  rres;              /* a receive's result not taken yet: bytes
                                   (in buffer rbid from roff), 0: EOF,
                                   < 0: -errno */
    uint32_t roff;
    uint16_t rbid;
    bool     rheld;             /* rres holds a result */
    bool     registered;
    bool     inner;             /* in the inner epoll instance */
    bool     receiving;         /* the ring receives for it; its poll
                                   watches POLLOUT only */
    uint8_t  drains;            /* read dry so far, before receiving */
};

struct sp_uring_send {
    void                *owner;     /* NULL: cancelled, dropped when done */
    struct io_uring_sqe *sqe;       /* while staged */
    struct msghdr        msg;
    int32_t              result;
    uint8_t              state;
    uint32_t             next_free;
};

struct sp_uring {
    struct io_uring        ring;
    sp_event_backend_done  done;
    void                  *done_arg;

    struct sp_uring_fd    *fds;         /* indexed by fd, nfds long */
    uint32_t               nfds;
    uint32_t               arming;      /* numbers polls (user_data) */

    int                    epfd;        /* inner epoll; -1 until needed */
    uint64_t               ep_ud;       /* its poll; 0: not armed */
    bool                   ep_woken;    /* it woke: read it */
    bool                   ep_again;    /* it reported: read it again */
    struct epoll_event    *events;
    int                    nevents;

    struct sp_uring_send  *sends;
    uint32_t               free_send;   /* list head; UINT32_MAX: none */
    uint32_t              *staged;      /* records staged, in order */
    uint32_t               nstaged;
    struct iovec          *iovs;
    uint32_t               iovs_used;
    uint32_t               nflight;     /* submitted, not done */

    struct sp_event_fired *backlog;     /* reports read by a submit */
    uint32_t               backlog_head;
    uint32_t               backlog_n;

    struct io_uring_buf_ring *br;       /* provided receive buffers */
    size_t                 br_size;
    uint8_t               *bufs;        /* SP_URING_BUFS x BUF_SIZE */
    uint32_t               bufs_out;    /* holding data, or being filled */

    uint64_t               signals_ms;  /* signals last let in (coarse
                                           monotonic clock) */
};

/* ---- shared by the backend's files ---- */

/* An SQE, submitting what is queued when the queue is full; NULL + errno. */
struct io_uring_sqe *sp_uring_sqe(struct sp_uring *u);
/* Staged sends are the kernel's once submitted. */
void sp_uring_mark_submitted(struct sp_uring *u);
/* Arm fd's multishot poll for its interest (less POLLIN while receiving). */
int sp_uring_arm(struct sp_uring *u, int fd);
/* Cancel the request with user_data ud (0: none). */
int sp_uring_disarm(struct sp_uring *u, uint64_t ud);
/* Read completions outside a poll: reports wait in the backlog. */
void sp_uring_reap_backlog(struct sp_uring *u, int *ndone);

void sp_uring_send_done(struct sp_uring *u, uint32_t idx, int32_t res,
                        int *ndone);
void *sp_uring_send_stage(void *backend, int fd, const struct iovec *iov,
                          int iovcnt, void *owner);
int sp_uring_send_result(void *backend, void *send, ssize_t *result);
void sp_uring_send_cancel(void *backend, void *send);
int sp_uring_submit(void *backend);

void sp_uring_bufs_setup(struct sp_uring *u);
void sp_uring_buf_put(struct sp_uring *u, uint16_t bid);
int sp_uring_recv_cancel(struct sp_uring *u, struct sp_uring_fd *f);
int sp_uring_recv_leave(struct sp_uring *u, int fd);
void sp_uring_recv_drop(struct sp_uring *u, struct sp_uring_fd *f);
bool sp_uring_recv_done(struct sp_uring *u, struct io_uring_cqe *cqe,
                        struct sp_event_fired *fired, int room, int *n);
ssize_t sp_uring_recv(void *backend, int fd, void *buf, size_t len);
int sp_uring_recv_release(void *backend, int fd);

#endif /* SP_EVENT_URING_H */
