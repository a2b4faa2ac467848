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
 * Sends and receives: sp_event_uring_send.c, sp_event_uring_recv.c.
 *
 * user_data: the top three bits say what a completion is (a registration's
 * poll, the inner epoll's poll, a send, a receive; 0 for cancels, whose
 * completions are dropped), the rest names it: an arming number and the fd
 * (a request armed again gets a new number, so the completions of the old
 * one are dropped), or the send's record.
 *
 * Setup asks for a single issuer with deferred task work (completions are
 * run when the worker waits, in one go), falling back to a plain ring on
 * kernels without them. The ring is created after fork by the process that
 * owns the loop; its descriptor is close-on-exec.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "sp_event.h"
#include "sp_event_backend.h"
#include "sp_event_uring.h"

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

/* The backend's memory (what init allocates before the ring exists). */
static void
sp_uring_free(struct sp_uring *u)
{
    free(u->bufs);
    free(u->fds);
    free(u->events);
    free(u->sends);
    free(u->staged);
    free(u->iovs);
    free(u->backlog);
    free(u);
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
    if (u->epfd >= 0) {
        close(u->epfd);
    }
    sp_uring_free(u);
}

/*
 * The backend's fixed memory, touched once at start: the completion ring,
 * the receive buffers, the send arena and the backlog cycle through all of
 * their pages under load anyway, and a worker's memory is then what it
 * says at start plus what its connections cost (idle connections: their
 * objects only).
 */
static void
sp_uring_prefault(struct sp_uring *u)
{
    volatile const uint8_t *cq = (const uint8_t *)u->ring.cq.cqes;
    size_t cq_bytes = (size_t)*u->ring.cq.kring_entries
                      * sizeof(struct io_uring_cqe);
    long page = sysconf(_SC_PAGESIZE);

    for (size_t at = 0; page > 0 && at < cq_bytes; at += (size_t)page) {
        (void)cq[at];
    }
    if (u->bufs != NULL) {
        memset(u->bufs, 0, (size_t)SP_URING_BUFS * SP_URING_BUF_SIZE);
    }
    memset(u->iovs, 0, SP_URING_IOVS * sizeof(*u->iovs));
    memset(u->backlog, 0, SP_URING_BACKLOG * sizeof(*u->backlog));
}

static void *
sp_uring_init(int max_fds, int batch, sp_event_backend_done done, void *arg)
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
    /* max_fds long like the loop's table: pages are touched as
     * descriptors are used */
    u->nfds = (uint32_t)max_fds;
    u->fds = calloc((size_t)max_fds, sizeof(*u->fds));
    u->events = calloc((size_t)batch, sizeof(*u->events));
    u->sends = calloc(SP_URING_SENDS, sizeof(*u->sends));
    u->staged = calloc(SP_URING_SENDS, sizeof(*u->staged));
    u->iovs = calloc(SP_URING_IOVS, sizeof(*u->iovs));
    u->backlog = calloc(SP_URING_BACKLOG, sizeof(*u->backlog));
    if (u->fds == NULL || u->events == NULL || u->sends == NULL
        || u->staged == NULL || u->iovs == NULL || u->backlog == NULL) {
        sp_uring_free(u);
        errno = ENOMEM;
        return NULL;
    }
    for (uint32_t i = 0; i < SP_URING_SENDS; i++) {
        u->sends[i].next_free = i + 1 < SP_URING_SENDS ? i + 1 : UINT32_MAX;
    }
    rc = sp_uring_setup(&u->ring);
    if (rc != 0) {
        sp_uring_free(u);
        errno = -rc;
        return NULL;
    }
    sp_uring_bufs_setup(u);     /* without them: reads are system calls */
    sp_uring_prefault(u);
    return u;
}

/* ---- submission ---------------------------------------------------------------- */

/* Staged sends are the kernel's from here: their SQEs must not be touched,
 * their iovec arena may be reused (the kernel copied what it needs). */
void
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
struct io_uring_sqe *
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
int
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
int
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

static int
sp_uring_inner_ctl(struct sp_uring *u, int op, int fd, uint32_t interest,
                   uint64_t cookie)
{
    struct epoll_event ev = { 0 };

    ev.events = sp_epoll_events(interest);
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
        uint32_t ready = sp_epoll_ready(u->events[i].events);

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

    if (fd < 0 || (uint32_t)fd >= u->nfds) {
        errno = EINVAL;
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
        case SP_UD_RECV:
            if (!sp_uring_recv_done(u, cqe, fired, room, &n)) {
                return n;       /* left in the ring for the next read */
            }
            break;
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
void
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

/*
 * A poll that does not wait lets the signals of the wait's mask in (it
 * would have: they are blocked everywhere else), at most every
 * SP_URING_SIGNAL_MS: a worker under load that always finds reports in
 * hand still hears TERM and QUIT. Two system calls then, none otherwise.
 */
static void
sp_uring_signals(struct sp_uring *u, const void *sigmask)
{
    struct timespec ts;
    uint64_t now;
    sigset_t old;

    if (sigmask == NULL) {
        return;
    }
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    if (now - u->signals_ms < SP_URING_SIGNAL_MS) {
        return;
    }
    u->signals_ms = now;
    if (pthread_sigmask(SIG_SETMASK, sigmask, &old) == 0) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);   /* delivered between */
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
    if (n > 0) {
        /* reports in hand (the last submit ran the deferred completions):
         * no system call, what the ring holds comes along; what is queued
         * goes with the next submit or wait */
        n += sp_uring_reap(u, fired + n, nfired - n, &ndone);
        sp_uring_signals(u, sigmask);
        return n;
    }
    if (io_uring_cq_ready(&u->ring) > 0) {
        timeout_ms = 0;         /* reports in hand: look, do not wait */
    }
    if (timeout_ms == 0) {
        sp_uring_signals(u, sigmask);
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
