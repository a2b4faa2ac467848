/*
 * sp_event_uring.c — the io_uring backend (see sp_event_backend.h), built
 * when liburing is there (SP_HAVE_URING).
 *
 * Readiness: each edge-triggered registration is one multishot poll
 * (IORING_OP_POLL_ADD with IORING_POLL_ADD_MULTI) for POLLIN|POLLRDHUP and
 * POLLOUT; like EPOLLET it reports a descriptor once when armed if ready,
 * then once per wake-up of the socket. Adding, changing and removing one is
 * an SQE that goes out with the next wait: no system call of its own.
 * Level-triggered and exclusive registrations (listeners, the master's
 * channel, SP_EV_EXCLUSIVE) keep epoll's semantics by living in an inner
 * epoll instance, itself watched by one multishot poll; it is read with
 * epoll_wait(0) when it wakes, and once more on the next poll while it
 * reported anything (a level-triggered descriptor still ready does not
 * wake the instance's pollers again).
 *
 * Sends: send_stage prepares an IORING_OP_SENDMSG (MSG_DONTWAIT, so it
 * never waits in the kernel: it finishes within the io_uring_enter that
 * submits it, with the bytes taken or -EAGAIN) with its iovec copied into
 * an arena; submit (or the next poll) sends every staged one in one
 * io_uring_enter, and each completion is announced through `done`. A
 * staged send whose owner goes away before submission becomes a NOP.
 *
 * user_data: the top two bits say what a completion is (a registration's
 * poll, the inner epoll's poll, a send; 0 for removals, whose completions
 * are dropped), the rest names it: an arming number and the fd (a poll
 * armed again gets a new number, so the completions of the old one are
 * dropped), or the send's record.
 *
 * Setup asks for a single issuer with deferred task work (completions are
 * run when the worker waits, in one go), falling back to a plain ring on
 * kernels without them. The ring is created after fork by the process that
 * owns the loop; its descriptor is close-on-exec.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <liburing.h>

#include "sp_event.h"
#include "sp_event_backend.h"

#define SP_URING_ENTRIES    512         /* submission queue */
#define SP_URING_CQ         8192        /* completion queue */
#define SP_URING_SENDS      512         /* sends staged or in flight */
#define SP_URING_IOVS       8192        /* iovecs of the staged sends */
#define SP_URING_BACKLOG    8192        /* reports kept from a submit */

#define SP_URING_BUFS       64          /* provided receive buffers */
#define SP_URING_BUF_SIZE   4096        /* bytes each */
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

    struct sp_uring_fd    *fds;         /* indexed by fd, grown as needed */
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
};

/* ---- setup ------------------------------------------------------------------ */

static int
sp_uring_setup(struct io_uring *ring)
{
    struct io_uring_params p;
    unsigned flags[] = {
        IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER
        | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN,
        IORING_SETUP_CQSIZE,
    };
    int rc = -EINVAL;

    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        memset(&p, 0, sizeof(p));
        p.flags = flags[i];
        p.cq_entries = SP_URING_CQ;
        rc = io_uring_queue_init_params(SP_URING_ENTRIES, ring, &p);
        if (rc == 0) {
            if (!(p.features & IORING_FEAT_EXT_ARG)
                || !(p.features & IORING_FEAT_NODROP)) {
                io_uring_queue_exit(ring);
                return -EOPNOTSUPP;     /* 5.11+: a wait with a timeout
                                           and a signal mask */
            }
            return 0;
        }
        if (rc != -EINVAL) {
            return rc;                  /* ENOSYS, EPERM: no io_uring */
        }
    }
    return rc;
}

/* The provided buffers receives land in (kernel 5.19+); none: u->br NULL. */
static void
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
static void
sp_uring_buf_put(struct sp_uring *u, uint16_t bid)
{
    io_uring_buf_ring_add(u->br, u->bufs + (size_t)bid * SP_URING_BUF_SIZE,
                          SP_URING_BUF_SIZE, bid,
                          io_uring_buf_ring_mask(SP_URING_BUFS), 0);
    io_uring_buf_ring_advance(u->br, 1);
    u->bufs_out--;
}

static void
sp_uring_destroy(void *backend)
{
    struct sp_uring *u = backend;

    if (u == NULL) {
        return;
    }
    io_uring_queue_exit(&u->ring);
    if (u->br != NULL) {
        munmap(u->br, u->br_size);
    }
    free(u->bufs);
    if (u->epfd >= 0) {
        close(u->epfd);
    }
    free(u->fds);
    free(u->events);
    free(u->sends);
    free(u->staged);
    free(u->iovs);
    free(u->backlog);
    free(u);
}

static void *
sp_uring_init(int batch, sp_event_backend_done done, void *arg)
{
    struct sp_uring *u = calloc(1, sizeof(*u));
    int rc;

    if (u == NULL) {
        return NULL;
    }
    u->epfd = -1;
    u->done = done;
    u->done_arg = arg;
    u->nevents = batch;
    u->events = calloc((size_t)batch, sizeof(*u->events));
    u->sends = calloc(SP_URING_SENDS, sizeof(*u->sends));
    u->staged = calloc(SP_URING_SENDS, sizeof(*u->staged));
    u->iovs = calloc(SP_URING_IOVS, sizeof(*u->iovs));
    u->backlog = calloc(SP_URING_BACKLOG, sizeof(*u->backlog));
    if (u->events == NULL || u->sends == NULL || u->staged == NULL
        || u->iovs == NULL || u->backlog == NULL) {
        free(u->events);
        free(u->sends);
        free(u->staged);
        free(u->iovs);
        free(u->backlog);
        free(u);
        errno = ENOMEM;
        return NULL;
    }
    for (uint32_t i = 0; i < SP_URING_SENDS; i++) {
        u->sends[i].next_free = i + 1 < SP_URING_SENDS ? i + 1 : UINT32_MAX;
    }
    rc = sp_uring_setup(&u->ring);
    if (rc != 0) {
        free(u->events);
        free(u->sends);
        free(u->staged);
        free(u->iovs);
        free(u->backlog);
        free(u);
        errno = -rc;
        return NULL;
    }
    sp_uring_bufs_setup(u);     /* without them: reads are system calls */
    return u;
}

/* ---- submission ---------------------------------------------------------------- */

/* Staged sends are the kernel's from here: their SQEs must not be touched,
 * their iovec arena may be reused (the kernel copied what it needs). */
static void
sp_uring_mark_submitted(struct sp_uring *u)
{
    for (uint32_t i = 0; i < u->nstaged; i++) {
        struct sp_uring_send *s = &u->sends[u->staged[i]];

        if (s->state == SP_SEND_STAGED) {
            s->state = SP_SEND_SUBMITTED;
            s->sqe = NULL;
            u->nflight++;
        }
    }
    u->nstaged = 0;
    u->iovs_used = 0;
}

/* An SQE, submitting what is queued when the queue is full. */
static struct io_uring_sqe *
sp_uring_sqe(struct sp_uring *u)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

    if (sqe == NULL) {
        int rc = io_uring_submit(&u->ring);

        sp_uring_mark_submitted(u);
        if (rc < 0) {
            errno = -rc;
            return NULL;
        }
        sqe = io_uring_get_sqe(&u->ring);
        if (sqe == NULL) {
            errno = EBUSY;
        }
    }
    return sqe;
}

static uint32_t
sp_uring_mask(uint32_t interest)
{
    uint32_t mask = 0;

    if (interest & SP_EV_READ) {
        mask |= POLLIN | POLLRDHUP;
    }
    if (interest & SP_EV_WRITE) {
        mask |= POLLOUT;
    }
    return mask;
}

static uint32_t
sp_uring_ready(uint32_t events)
{
    uint32_t ready = 0;

    if (events & POLLIN) {
        ready |= SP_EV_READ;
    }
    if (events & POLLOUT) {
        ready |= SP_EV_WRITE;
    }
    if (events & (POLLERR | POLLHUP)) {
        ready |= SP_EV_ERROR;
    }
    if (events & POLLRDHUP) {
        ready |= SP_EV_RDHUP;
    }
    return ready;
}

/* Arm the multishot poll of a registered fd (nothing without interest). */
static int
sp_uring_arm(struct sp_uring *u, int fd)
{
    struct sp_uring_fd *f = &u->fds[fd];
    uint32_t mask = sp_uring_mask(f->interest);
    struct io_uring_sqe *sqe;

    if (f->receiving) {
        mask &= ~(uint32_t)(POLLIN | POLLRDHUP);    /* the receive's news */
    }
    f->ud = 0;
    if (mask == 0) {
        return 0;
    }
    sqe = sp_uring_sqe(u);
    if (sqe == NULL) {
        return -1;
    }
    u->arming = (u->arming + 1) & SP_UD_ARMING_MASK;
    f->ud = SP_UD_MAKE(SP_UD_POLL, (uint64_t)u->arming << 32 | (uint32_t)fd);
    io_uring_prep_poll_multishot(sqe, fd, mask);
    io_uring_sqe_set_data64(sqe, f->ud);
    return 0;
}

/*
 * Remove the poll with user_data ud (its last completion is dropped). An
 * async cancel, not IORING_OP_POLL_REMOVE: a removal meeting the poll while
 * its wake-up waits to run (deferred task work) fails with EALREADY and
 * leaves the poll, and the socket, alive; a cancel marks it and completes
 * it in any case.
 */
static int
sp_uring_disarm(struct sp_uring *u, uint64_t ud)
{
    struct io_uring_sqe *sqe;

    if (ud == 0) {
        return 0;
    }
    sqe = sp_uring_sqe(u);
    if (sqe == NULL) {
        return -1;
    }
    io_uring_prep_cancel64(sqe, ud, 0);
    io_uring_sqe_set_data64(sqe, SP_UD_NONE);
    return 0;
}

/* ---- receives ------------------------------------------------------------------- */

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
static int
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
static int
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
static void
sp_uring_recv_drop(struct sp_uring *u, struct sp_uring_fd *f)
{
    if (f->rheld && f->rres > 0) {
        sp_uring_buf_put(u, f->rbid);
    }
    f->rheld = false;
}

static int
sp_uring_grow(struct sp_uring *u, int fd)
{
    uint32_t n = u->nfds == 0 ? 256 : u->nfds;
    struct sp_uring_fd *fds;

    if ((uint32_t)fd < u->nfds) {
        return 0;
    }
    while (n <= (uint32_t)fd) {
        n *= 2;
    }
    fds = realloc(u->fds, n * sizeof(*fds));
    if (fds == NULL) {
        return -1;
    }
    memset(fds + u->nfds, 0, (n - u->nfds) * sizeof(*fds));
    u->fds = fds;
    u->nfds = n;
    return 0;
}

/* ---- the inner epoll instance ------------------------------------------------- */

static int
sp_uring_inner(struct sp_uring *u)
{
    if (u->epfd < 0) {
        u->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (u->epfd < 0) {
            return -1;
        }
    }
    if (u->ep_ud == 0) {
        struct io_uring_sqe *sqe = sp_uring_sqe(u);

        if (sqe == NULL) {
            return -1;
        }
        u->arming = (u->arming + 1) & SP_UD_ARMING_MASK;
        u->ep_ud = SP_UD_MAKE(SP_UD_EPOLL, (uint64_t)u->arming << 32);
        io_uring_prep_poll_multishot(sqe, u->epfd, POLLIN);
        io_uring_sqe_set_data64(sqe, u->ep_ud);
    }
    return 0;
}

static uint32_t
sp_uring_epoll_events(uint32_t interest)
{
    uint32_t events = 0;

    if (interest & SP_EV_READ) {
        events |= EPOLLIN | EPOLLRDHUP;
    }
    if (interest & SP_EV_WRITE) {
        events |= EPOLLOUT;
    }
    if (!(interest & SP_EV_LEVEL)) {
        events |= EPOLLET;
    }
    if (interest & SP_EV_EXCLUSIVE) {
        events |= EPOLLEXCLUSIVE;
        events &= ~(uint32_t)EPOLLRDHUP;
    }
    return events;
}

static int
sp_uring_inner_ctl(struct sp_uring *u, int op, int fd, uint32_t interest,
                   uint64_t cookie)
{
    struct epoll_event ev = { 0 };

    ev.events = sp_uring_epoll_events(interest);
    ev.data.u64 = cookie;
    return epoll_ctl(u->epfd, op, fd, &ev);
}

/* Read the inner instance without waiting, into fired. */
static int
sp_uring_inner_read(struct sp_uring *u, struct sp_event_fired *fired,
                    int room)
{
    int n;

    if (room > u->nevents) {
        room = u->nevents;
    }
    if (room <= 0 || u->epfd < 0) {
        return 0;
    }
    n = epoll_wait(u->epfd, u->events, room, 0);
    if (n < 0) {
        return errno == EINTR ? 0 : -1;
    }
    for (int i = 0; i < n; i++) {
        uint32_t ev = u->events[i].events;
        uint32_t ready = 0;

        if (ev & EPOLLIN) {
            ready |= SP_EV_READ;
        }
        if (ev & EPOLLOUT) {
            ready |= SP_EV_WRITE;
        }
        if (ev & (EPOLLERR | EPOLLHUP)) {
            ready |= SP_EV_ERROR;
        }
        if (ev & EPOLLRDHUP) {
            ready |= SP_EV_RDHUP;
        }
        fired[i].cookie = u->events[i].data.u64;
        fired[i].ready = ready;
    }
    u->ep_again = n > 0;
    return n;
}

/* ---- registration ------------------------------------------------------------- */

static int
sp_uring_add(void *backend, int fd, uint32_t interest, uint64_t cookie)
{
    struct sp_uring *u = backend;
    struct sp_uring_fd *f;

    if (sp_uring_grow(u, fd) != 0) {
        return -1;
    }
    f = &u->fds[fd];
    if (f->registered) {
        errno = EEXIST;
        return -1;
    }
    if (interest & (SP_EV_LEVEL | SP_EV_EXCLUSIVE)) {
        if (sp_uring_inner(u) != 0
            || sp_uring_inner_ctl(u, EPOLL_CTL_ADD, fd, interest, cookie) != 0) {
            return -1;
        }
        *f = (struct sp_uring_fd){ .cookie = cookie, .interest = interest,
                                   .registered = true, .inner = true };
        return 0;
    }
    *f = (struct sp_uring_fd){ .cookie = cookie, .interest = interest,
                               .registered = true };
    if (sp_uring_arm(u, fd) != 0) {
        f->registered = false;
        return -1;
    }
    return 0;
}

static int sp_uring_del(void *backend, int fd);

static int
sp_uring_modify(void *backend, int fd, uint32_t interest, uint64_t cookie)
{
    struct sp_uring *u = backend;
    struct sp_uring_fd *f;

    if (fd < 0 || (uint32_t)fd >= u->nfds || !u->fds[fd].registered) {
        errno = ENOENT;
        return -1;
    }
    f = &u->fds[fd];
    if (((interest & (SP_EV_LEVEL | SP_EV_EXCLUSIVE)) != 0) != f->inner) {
        /* level <-> edge: from the inner instance to the ring or back */
        if (sp_uring_del(u, fd) != 0) {
            return -1;
        }
        return sp_uring_add(u, fd, interest, cookie);
    }
    if (f->inner) {
        if (sp_uring_inner_ctl(u, EPOLL_CTL_MOD, fd, interest, cookie) != 0) {
            return -1;
        }
        f->interest = interest;
        f->cookie = cookie;
        return 0;
    }
    if (sp_uring_disarm(u, f->ud) != 0) {
        return -1;
    }
    f->interest = interest;
    f->cookie = cookie;
    return sp_uring_arm(u, fd);
}

static int
sp_uring_del(void *backend, int fd)
{
    struct sp_uring *u = backend;
    struct sp_uring_fd *f;
    int rc;

    if (fd < 0 || (uint32_t)fd >= u->nfds || !u->fds[fd].registered) {
        errno = ENOENT;
        return -1;
    }
    f = &u->fds[fd];
    if (f->inner) {
        struct epoll_event ev = { 0 };
        rc = epoll_ctl(u->epfd, EPOLL_CTL_DEL, fd, &ev);
    } else {
        sp_uring_recv_drop(u, f);
        rc = sp_uring_recv_cancel(u, f) | sp_uring_disarm(u, f->ud);
    }
    *f = (struct sp_uring_fd){ 0 };
    return rc;
}

/* ---- completions -------------------------------------------------------------- */

static void
sp_uring_send_free(struct sp_uring *u, struct sp_uring_send *s)
{
    s->state = SP_SEND_FREE;
    s->owner = NULL;
    s->next_free = u->free_send;
    u->free_send = (uint32_t)(s - u->sends);
}

static void
sp_uring_send_done(struct sp_uring *u, uint32_t idx, int32_t res, int *ndone)
{
    struct sp_uring_send *s;

    if (idx >= SP_URING_SENDS) {
        return;
    }
    s = &u->sends[idx];
    if (s->state != SP_SEND_SUBMITTED) {
        return;
    }
    u->nflight--;
    if (s->owner == NULL) {
        sp_uring_send_free(u, s);       /* cancelled after submission */
        return;
    }
    s->result = res;
    s->state = SP_SEND_DONE;
    (*ndone)++;
    u->done(u->done_arg, s->owner);
}

/*
 * Read completions: sends are announced, readiness goes into fired (at most
 * room reports). A report with no room left stays in the ring for the next
 * read. Returns the reports written.
 */
static int
sp_uring_reap(struct sp_uring *u, struct sp_event_fired *fired, int room,
              int *ndone)
{
    struct io_uring_cqe *cqe;
    int n = 0;

    while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;

        switch (SP_UD_TAG(ud)) {
        case SP_UD_SEND:
            sp_uring_send_done(u, (uint32_t)(ud & 0xffffffffu), cqe->res,
                               ndone);
            break;
        case SP_UD_EPOLL:
            if (ud == u->ep_ud) {
                u->ep_woken = true;
                if (!more) {
                    u->ep_ud = 0;
                    (void)sp_uring_inner(u);        /* again */
                }
            }
            break;
        case SP_UD_RECV: {
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
                break;
            }
            f = &u->fds[fd];
            if (cqe->res == -ECANCELED) {
                f->recv_ud = 0;
                break;
            }
            if (n == room) {
                return n;       /* left in the ring for the next read */
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
            fired[n].cookie = f->cookie;
            fired[n].ready = ready;
            n++;
            break;
        }
        case SP_UD_POLL: {
            int fd = (int)(uint32_t)ud;
            struct sp_uring_fd *f;
            uint32_t ready;

            if ((uint32_t)fd >= u->nfds || u->fds[fd].ud != ud) {
                break;          /* removed or armed again since */
            }
            f = &u->fds[fd];
            ready = cqe->res < 0 ? SP_EV_ERROR
                                 : sp_uring_ready((uint32_t)cqe->res);
            if (ready != 0) {
                if (n == room) {
                    return n;   /* left in the ring for the next read */
                }
                fired[n].cookie = f->cookie;
                fired[n].ready = ready;
                n++;
            }
            if (!more) {
                f->ud = 0;
                if (cqe->res >= 0 || cqe->res == -ECANCELED) {
                    /* ended by the kernel (its queue overflowed): again;
                     * a poll that failed (EBADF) stays down */
                    io_uring_cqe_seen(&u->ring, cqe);
                    (void)sp_uring_arm(u, fd);
                    continue;
                }
            }
            break;
        }
        default:
            break;              /* a removal's answer */
        }
        io_uring_cqe_seen(&u->ring, cqe);
    }
    return n;
}

/* Reports the backlog keeps, in front of what the ring has. */
static int
sp_uring_backlog_take(struct sp_uring *u, struct sp_event_fired *fired,
                      int room)
{
    int n = 0;

    while (n < room && u->backlog_n > 0) {
        fired[n++] = u->backlog[u->backlog_head];
        u->backlog_head = (u->backlog_head + 1) % SP_URING_BACKLOG;
        u->backlog_n--;
    }
    return n;
}

/* Read completions outside a poll: reports wait in the backlog. */
static void
sp_uring_reap_backlog(struct sp_uring *u, int *ndone)
{
    int room = SP_URING_BACKLOG - (int)u->backlog_n;
    struct sp_event_fired tmp[64];

    while (room > 0) {
        int want = room < 64 ? room : 64;
        int got = sp_uring_reap(u, tmp, want, ndone);

        for (int i = 0; i < got; i++) {
            uint32_t at = (u->backlog_head + u->backlog_n) % SP_URING_BACKLOG;
            u->backlog[at] = tmp[i];
            u->backlog_n++;
        }
        room -= got;
        if (got < want) {
            break;
        }
    }
}

static int
sp_uring_poll(void *backend, struct sp_event_fired *fired, int nfired,
              int timeout_ms, const void *sigmask)
{
    struct sp_uring *u = backend;
    struct __kernel_timespec ts;
    struct io_uring_cqe *cqe = NULL;
    int n, ndone = 0, rc;

    n = sp_uring_backlog_take(u, fired, nfired);
    if (u->ep_again && n < nfired) {
        rc = sp_uring_inner_read(u, fired + n, nfired - n);
        if (rc < 0) {
            return -1;
        }
        n += rc;
    }
    if (n > 0 || io_uring_cq_ready(&u->ring) > 0) {
        timeout_ms = 0;         /* reports in hand: look, do not wait */
    }
    if (timeout_ms == 0) {
        /* submit what is queued and run deferred completions */
        rc = io_uring_submit_and_get_events(&u->ring);
    } else {
        if (timeout_ms > 0) {
            ts.tv_sec = timeout_ms / 1000;
            ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
        }
        rc = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1,
                                              timeout_ms > 0 ? &ts : NULL,
                                              (sigset_t *)sigmask);
    }
    sp_uring_mark_submitted(u);
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN
        && rc != -EBUSY) {
        errno = -rc;
        return -1;
    }
    n += sp_uring_reap(u, fired + n, nfired - n, &ndone);
    if (u->ep_woken && n < nfired) {
        u->ep_woken = false;
        rc = sp_uring_inner_read(u, fired + n, nfired - n);
        if (rc < 0) {
            return -1;
        }
        n += rc;
    }
    return n;
}

/* ---- sends --------------------------------------------------------------------- */

static void *
sp_uring_send_stage(void *backend, int fd, const struct iovec *iov,
                    int iovcnt, void *owner)
{
    struct sp_uring *u = backend;
    struct sp_uring_send *s;
    struct io_uring_sqe *sqe;
    uint32_t idx = u->free_send;

    if (iovcnt <= 0 || owner == NULL) {
        errno = EINVAL;
        return NULL;
    }
    if (idx == UINT32_MAX || u->iovs_used + (uint32_t)iovcnt > SP_URING_IOVS
        || u->nstaged == SP_URING_SENDS) {
        errno = ENOBUFS;
        return NULL;
    }
    sqe = sp_uring_sqe(u);      /* may submit the stage: iovs_used resets */
    if (sqe == NULL) {
        return NULL;
    }
    s = &u->sends[idx];
    u->free_send = s->next_free;
    memcpy(u->iovs + u->iovs_used, iov, (size_t)iovcnt * sizeof(*iov));
    s->msg = (struct msghdr){ .msg_iov = u->iovs + u->iovs_used,
                              .msg_iovlen = (size_t)iovcnt };
    u->iovs_used += (uint32_t)iovcnt;
    s->owner = owner;
    s->sqe = sqe;
    s->state = SP_SEND_STAGED;
    s->result = 0;
    io_uring_prep_sendmsg(sqe, fd, &s->msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, SP_UD_MAKE(SP_UD_SEND, idx));
    u->staged[u->nstaged++] = idx;
    return s;
}

static int
sp_uring_send_result(void *backend, void *send, ssize_t *result)
{
    struct sp_uring *u = backend;
    struct sp_uring_send *s = send;

    if (s->state != SP_SEND_DONE) {
        errno = EINPROGRESS;
        return -1;
    }
    *result = s->result;
    sp_uring_send_free(u, s);
    return 0;
}

static void
sp_uring_send_cancel(void *backend, void *send)
{
    struct sp_uring *u = backend;
    struct sp_uring_send *s = send;

    switch (s->state) {
    case SP_SEND_STAGED:
        /* not the kernel's yet: the SQE goes out as a NOP, unanswered */
        io_uring_prep_nop(s->sqe);
        io_uring_sqe_set_data64(s->sqe, SP_UD_NONE);
        s->sqe = NULL;
        sp_uring_send_free(u, s);   /* the staged list skips it */
        break;
    case SP_SEND_SUBMITTED:
        s->owner = NULL;            /* freed when its completion comes */
        break;
    case SP_SEND_DONE:
        sp_uring_send_free(u, s);
        break;
    default:
        break;
    }
}

static int
sp_uring_submit(void *backend)
{
    struct sp_uring *u = backend;
    int ndone = 0, rc;

    if (u->nstaged == 0) {
        return 0;
    }
    rc = io_uring_submit(&u->ring);
    sp_uring_mark_submitted(u);
    if (rc < 0 && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR) {
        errno = -rc;
        return -1;
    }
    /* the sends finished inside the call; readiness met on the way waits
     * in the backlog for the next poll */
    sp_uring_reap_backlog(u, &ndone);
    return ndone;
}

/* ---- the receive ops ----------------------------------------------------------- */

/* read(2) on fd; once it is drained the ring receives its next bytes,
 * while buffers last (else its poll watches POLLIN again). */
static ssize_t
sp_uring_recv_direct(struct sp_uring *u, int fd, void *buf, size_t len)
{
    ssize_t n = read(fd, buf, len);

    if ((n > 0 && (size_t)n < len) || (n < 0 && errno == EAGAIN)) {
        int err = errno;

        if (u->bufs_out < SP_URING_BUFS / 2) {
            (void)sp_uring_recv_enter(u, fd);
        } else if (u->fds[fd].receiving) {
            (void)sp_uring_recv_leave(u, fd);
        }
        errno = err;
    }
    return n;
}

static ssize_t
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

static int
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

const struct sp_event_backend_ops sp_event_uring_ops = {
    .name = "io_uring",
    .init_call = "io_uring_setup()",
    .ctl_call = "io_uring poll",
    .poll_call = "io_uring_enter()",
    .init = sp_uring_init,
    .destroy = sp_uring_destroy,
    .add = sp_uring_add,
    .modify = sp_uring_modify,
    .del = sp_uring_del,
    .forget = sp_uring_del,         /* the ring holds the socket open */
    .poll = sp_uring_poll,
    .send_stage = sp_uring_send_stage,
    .send_result = sp_uring_send_result,
    .send_cancel = sp_uring_send_cancel,
    .submit = sp_uring_submit,
    .recv = sp_uring_recv,
    .recv_release = sp_uring_recv_release,
};
