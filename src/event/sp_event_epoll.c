/*
 * sp_event_epoll.c — the epoll backend (see sp_event_backend.h).
 *
 * Interest maps to EPOLLIN (with EPOLLRDHUP) and EPOLLOUT, edge-triggered
 * (EPOLLET) unless SP_EV_LEVEL is set. Readiness maps back: EPOLLIN ->
 * SP_EV_READ, EPOLLOUT -> SP_EV_WRITE, EPOLLERR/EPOLLHUP -> SP_EV_ERROR,
 * EPOLLRDHUP -> SP_EV_RDHUP. SP_EV_EXCLUSIVE adds EPOLLEXCLUSIVE. The
 * cookie travels in epoll_data.u64. The wait is epoll_pwait, so the loop's
 * owner can have signals delivered only while it waits.
 *
 * EPOLLRDHUP is asked for only with read interest: it is read-side news,
 * and level-triggered it would wake a write-only registration forever.
 *
 * The instance is created after fork by whoever creates the loop, with
 * EPOLL_CLOEXEC, and never shared (HAProxy's ev_epoll.c explains the stale
 * events a shared instance returns).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "sp_event.h"
#include "sp_event_backend.h"

struct sp_epoll {
    int                 epfd;
    int                 nevents;
    struct epoll_event *events;     /* allocated once, nevents long */
};

static void *
sp_epoll_init(int max_fds, int batch, sp_event_backend_done done, void *arg)
{
    struct sp_epoll *ep;
    int err;

    (void)max_fds;              /* the kernel keeps the set */
    (void)done;                 /* epoll never sends */
    (void)arg;
    ep = calloc(1, sizeof(*ep));
    if (ep == NULL) {
        return NULL;
    }
    ep->nevents = batch;
    ep->events = calloc((size_t)batch, sizeof(*ep->events));
    if (ep->events == NULL) {
        goto fail;
    }
    ep->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (ep->epfd < 0) {
        goto fail;
    }
    return ep;

fail:
    err = errno;
    free(ep->events);
    free(ep);
    errno = err;
    return NULL;
}

static void
sp_epoll_destroy(void *backend)
{
    struct sp_epoll *ep = backend;

    if (ep == NULL) {
        return;
    }
    close(ep->epfd);
    free(ep->events);
    free(ep);
}

uint32_t
sp_epoll_events(uint32_t interest)
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
        events &= ~(uint32_t)EPOLLRDHUP;    /* not allowed with it */
    }
    return events;
}

uint32_t
sp_epoll_ready(uint32_t events)
{
    uint32_t ready = 0;

    if (events & EPOLLIN) {
        ready |= SP_EV_READ;
    }
    if (events & EPOLLOUT) {
        ready |= SP_EV_WRITE;
    }
    if (events & (EPOLLERR | EPOLLHUP)) {
        ready |= SP_EV_ERROR;
    }
    if (events & EPOLLRDHUP) {
        ready |= SP_EV_RDHUP;
    }
    return ready;
}

static int
sp_epoll_ctl(struct sp_epoll *ep, int op, int fd, uint32_t interest,
             uint64_t cookie)
{
    struct epoll_event ev = { 0 };

    ev.events = sp_epoll_events(interest);
    ev.data.u64 = cookie;
    return epoll_ctl(ep->epfd, op, fd, &ev);
}

static int
sp_epoll_add(void *backend, int fd, uint32_t interest, uint64_t cookie)
{
    return sp_epoll_ctl(backend, EPOLL_CTL_ADD, fd, interest, cookie);
}

static int
sp_epoll_modify(void *backend, int fd, uint32_t interest, uint64_t cookie)
{
    return sp_epoll_ctl(backend, EPOLL_CTL_MOD, fd, interest, cookie);
}

static int
sp_epoll_del(void *backend, int fd)
{
    struct sp_epoll *ep = backend;
    struct epoll_event ev = { 0 };  /* kernels before 2.6.9 want non-NULL */

    return epoll_ctl(ep->epfd, EPOLL_CTL_DEL, fd, &ev);
}

static int
sp_epoll_poll(void *backend, struct sp_event_fired *fired, int nfired,
              int timeout_ms, const void *sigmask)
{
    struct sp_epoll *ep = backend;
    int n;

    if (nfired > ep->nevents) {
        nfired = ep->nevents;
    }
    n = epoll_pwait(ep->epfd, ep->events, nfired, timeout_ms, sigmask);
    if (n < 0) {
        return errno == EINTR ? 0 : -1;
    }
    for (int i = 0; i < n; i++) {
        fired[i].cookie = ep->events[i].data.u64;
        fired[i].ready = sp_epoll_ready(ep->events[i].events);
    }
    return n;
}

const struct sp_event_backend_ops sp_event_epoll_ops = {
    .name = "epoll",
    .init_call = "epoll_create1()",
    .ctl_call = "epoll_ctl()",
    .poll_call = "epoll_pwait()",
    .init = sp_epoll_init,
    .destroy = sp_epoll_destroy,
    .add = sp_epoll_add,
    .modify = sp_epoll_modify,
    .del = sp_epoll_del,
    .poll = sp_epoll_poll,
};
