/*
 * sp_event.c — the loop core (see sp_event.h): the fd table, the cached
 * monotonic clock, and one wake-up.
 *
 *   sp_event_poll
 *     timeout = min(caller's, earliest timer)       cached clock
 *     backend poll -> fired[]                       allocated once, batch long
 *     read the clock
 *     for each fired: cookie -> fd + generation; skip if the slot is no
 *       longer registered or has a newer generation; mask by its interest;
 *       call its handler
 *     read the clock again if any handler ran; run the timers expired then
 *
 * Stale-event guard: the cookie given to the backend is the slot's
 * generation << 32 | fd. sp_event_del bumps the generation, so an event
 * still queued in this batch for a descriptor removed by an earlier handler
 * (and perhaps reused, re-added, by a new owner) no longer matches and is
 * dropped, as nginx's instance bit does. A re-added descriptor that is
 * still ready is reported again on the next poll (epoll_ctl ADD re-checks).
 *
 * Readiness is masked by the current interest before dispatch, so a handler
 * that drops write interest of another descriptor is obeyed within the same
 * batch; SP_EV_ERROR and SP_EV_RDHUP always pass.
 */
#include "sp_event.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "sp_event_backend.h"
#include "sp_event_int.h"
#include "sp_log.h"

#define SP_EVENT_BATCH_DEFAULT  512
#define SP_EVENT_BATCH_MAX      65536
#define SP_EVENT_FDS_UNLIMITED  (1 << 20)   /* RLIM_INFINITY: nr_open default */
#define SP_EVENT_INTEREST       (SP_EV_READ | SP_EV_WRITE | SP_EV_LEVEL \
                                 | SP_EV_FIRST | SP_EV_EXCLUSIVE)
#define SP_EVENT_ALWAYS         (SP_EV_ERROR | SP_EV_RDHUP)

#define sp_event_log(loop, lvl, err, ...)                                     \
    do {                                                                      \
        if ((loop)->log != NULL) {                                            \
            sp_log_at((loop)->log, (lvl), (err), __VA_ARGS__);                \
        }                                                                     \
    } while (0)

struct sp_event_slot {
    sp_event_handler handler;
    void            *data;
    uint32_t         interest;
    uint32_t         generation;   /* bumped by each sp_event_del */
    bool             registered;
};

struct sp_event_loop {
    const struct sp_event_backend_ops *ops;
    void                  *backend;
    struct sp_log         *log;
    struct sp_event_slot  *slots;       /* max_fds long, indexed by fd */
    int                    max_fds;
    int                    batch;
    struct sp_event_fired *fired;       /* batch long */
    uint64_t               now_ms;
    uint64_t               now_us;      /* the same instant, in us */
    struct sp_timer_heap   timers;
    void                 (*first_hook)(void *data);
    void                  *first_data;
    const void            *wait_sigmask;
    void                  *owner;
    sp_event_send_handler  send_done;
};

static uint64_t
sp_event_clock_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int
sp_event_default_max_fds(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return -1;
    }
    if (rl.rlim_cur == RLIM_INFINITY) {
        return SP_EVENT_FDS_UNLIMITED;
    }
    return rl.rlim_cur > (rlim_t)INT32_MAX ? INT32_MAX : (int)rl.rlim_cur;
}

static uint64_t
sp_event_cookie(int fd, const struct sp_event_slot *slot)
{
    return (uint64_t)slot->generation << 32 | (uint32_t)fd;
}

/* A finished send, from the backend: the owner's handler hears of it. */
static void
sp_event_send_finished(void *arg, void *owner)
{
    struct sp_event_loop *loop = arg;

    if (loop->send_done != NULL) {
        loop->send_done(loop, owner);
    }
}

static const struct sp_event_backend_ops *
sp_event_ops_named(const char *name)
{
    if (name == NULL || strcmp(name, "epoll") == 0) {
        return &sp_event_epoll_ops;
    }
#ifdef SP_HAVE_URING
    if (strcmp(name, "io_uring") == 0) {
        return &sp_event_uring_ops;
    }
#endif
    return NULL;
}

bool
sp_event_backend_usable(const char *name, int *err)
{
    const struct sp_event_backend_ops *ops = sp_event_ops_named(name);
    void *backend;

    if (ops == NULL) {
        *err = ENOSYS;          /* not built in */
        return false;
    }
    backend = ops->init(1, 1, NULL, NULL);
    if (backend == NULL) {
        *err = errno;
        return false;
    }
    ops->destroy(backend);
    return true;
}

struct sp_event_loop *
sp_event_loop_create(int max_fds, int batch, struct sp_log *log)
{
    return sp_event_loop_create_with(max_fds, batch, log, "epoll");
}

struct sp_event_loop *
sp_event_loop_create_with(int max_fds, int batch, struct sp_log *log,
                          const char *backend)
{
    const struct sp_event_backend_ops *ops = sp_event_ops_named(backend);
    struct sp_event_loop *loop;
    int err;

    if (ops == NULL) {
        errno = ENOSYS;
        return NULL;
    }

    if (max_fds < 0 || batch < 0 || batch > SP_EVENT_BATCH_MAX) {
        errno = EINVAL;
        return NULL;
    }
    if (max_fds == 0 && (max_fds = sp_event_default_max_fds()) < 0) {
        if (log != NULL) {
            sp_log_error(log, errno, "getrlimit(RLIMIT_NOFILE) failed");
        }
        return NULL;
    }
    loop = calloc(1, sizeof(*loop));
    if (loop == NULL) {
        return NULL;
    }
    loop->ops = ops;
    loop->log = log;
    loop->max_fds = max_fds;
    loop->batch = batch == 0 ? SP_EVENT_BATCH_DEFAULT : batch;
    sp_timer_heap_init(&loop->timers);
    loop->slots = calloc((size_t)max_fds, sizeof(*loop->slots));
    loop->fired = calloc((size_t)loop->batch, sizeof(*loop->fired));
    if (loop->slots == NULL || loop->fired == NULL) {
        goto fail;
    }
    loop->backend = loop->ops->init(loop->max_fds, loop->batch,
                                    sp_event_send_finished, loop);
    if (loop->backend == NULL) {
        sp_event_log(loop, SP_LOG_ERR, errno, "%s failed",
                     loop->ops->init_call);
        goto fail;
    }
    loop->now_us = sp_event_clock_us();
    loop->now_ms = loop->now_us / 1000u;
    return loop;

fail:
    err = errno;
    free(loop->fired);
    free(loop->slots);
    free(loop);
    errno = err;
    return NULL;
}

void
sp_event_loop_destroy(struct sp_event_loop *loop)
{
    if (loop == NULL) {
        return;
    }
    loop->ops->destroy(loop->backend);
    sp_timer_heap_free(&loop->timers);
    free(loop->fired);
    free(loop->slots);
    free(loop);
}

const char *
sp_event_backend_name(const struct sp_event_loop *loop)
{
    return loop->ops->name;
}

/* The slot of fd, or NULL with errno (EBADF, EINVAL past max_fds). */
static struct sp_event_slot *
sp_event_slot_of(struct sp_event_loop *loop, int fd)
{
    if (fd < 0) {
        errno = EBADF;
        return NULL;
    }
    if (fd >= loop->max_fds) {
        errno = EINVAL;
        return NULL;
    }
    return &loop->slots[fd];
}

/* The slot of a registered fd, or NULL with errno (ENOENT if not). */
static struct sp_event_slot *
sp_event_registered_slot(struct sp_event_loop *loop, int fd)
{
    struct sp_event_slot *slot = sp_event_slot_of(loop, fd);

    if (slot != NULL && !slot->registered) {
        errno = ENOENT;
        return NULL;
    }
    return slot;
}

int
sp_event_add(struct sp_event_loop *loop, int fd, uint32_t interest,
             sp_event_handler handler, void *data)
{
    struct sp_event_slot *slot = sp_event_slot_of(loop, fd);

    if (slot == NULL) {
        return -1;
    }
    if (handler == NULL || (interest & ~SP_EVENT_INTEREST) != 0) {
        errno = EINVAL;
        return -1;
    }
    if (slot->registered) {
        errno = EEXIST;
        return -1;
    }
    if (loop->ops->add(loop->backend, fd, interest,
                       sp_event_cookie(fd, slot)) != 0) {
        sp_event_log(loop, SP_LOG_ERR, errno, "%s add fd %d failed",
                     loop->ops->ctl_call, fd);
        return -1;
    }
    slot->handler = handler;
    slot->data = data;
    slot->interest = interest;
    slot->registered = true;
    return 0;
}

int
sp_event_modify(struct sp_event_loop *loop, int fd, uint32_t interest)
{
    struct sp_event_slot *slot = sp_event_registered_slot(loop, fd);

    if (slot == NULL) {
        return -1;
    }
    if ((interest & ~SP_EVENT_INTEREST) != 0) {
        errno = EINVAL;
        return -1;
    }
    if (loop->ops->modify(loop->backend, fd, interest,
                          sp_event_cookie(fd, slot)) != 0) {
        sp_event_log(loop, SP_LOG_ERR, errno, "%s modify fd %d failed",
                     loop->ops->ctl_call, fd);
        return -1;
    }
    slot->interest = interest;
    return 0;
}

int
sp_event_set_handler(struct sp_event_loop *loop, int fd,
                     sp_event_handler handler)
{
    struct sp_event_slot *slot = sp_event_registered_slot(loop, fd);

    if (slot == NULL) {
        return -1;
    }
    if (handler == NULL) {
        errno = EINVAL;
        return -1;
    }
    slot->handler = handler;        /* the loop's table only: no syscall */
    return 0;
}

/*
 * The slot is released even when the backend fails (say fd was already
 * closed, EBADF): the loop must not keep a handler for a descriptor its
 * owner has given up, and the new generation drops whatever the backend may
 * still report under the old cookie.
 */
int
sp_event_del(struct sp_event_loop *loop, int fd)
{
    struct sp_event_slot *slot = sp_event_registered_slot(loop, fd);
    int rc;

    if (slot == NULL) {
        return -1;
    }
    rc = loop->ops->del(loop->backend, fd);
    slot->generation++;
    slot->registered = false;
    slot->handler = NULL;
    slot->data = NULL;
    slot->interest = 0;
    if (rc != 0) {
        sp_event_log(loop, SP_LOG_WARN, errno, "%s del fd %d failed",
                     loop->ops->ctl_call, fd);
        return -1;
    }
    return 0;
}

void
sp_event_set_first_pass_hook(struct sp_event_loop *loop,
                             void (*hook)(void *data), void *data)
{
    loop->first_hook = hook;
    loop->first_data = data;
}

void
sp_event_set_owner(struct sp_event_loop *loop, void *owner)
{
    loop->owner = owner;
}

void *
sp_event_loop_owner(const struct sp_event_loop *loop)
{
    return loop->owner;
}

void
sp_event_set_wait_sigmask(struct sp_event_loop *loop, const void *mask)
{
    loop->wait_sigmask = mask;
}

int
sp_event_forget(struct sp_event_loop *loop, int fd)
{
    struct sp_event_slot *slot = sp_event_registered_slot(loop, fd);

    if (slot == NULL) {
        return -1;
    }
    /* a backend that holds the socket itself (io_uring) lets go of it */
    if (loop->ops->forget != NULL && loop->ops->forget(loop->backend, fd) != 0) {
        sp_event_log(loop, SP_LOG_WARN, errno, "%s del fd %d failed",
                     loop->ops->ctl_call, fd);
    }
    slot->generation++;
    slot->registered = false;
    slot->handler = NULL;
    slot->data = NULL;
    slot->interest = 0;
    return 0;
}

/* ---- sends through the backend ---------------------------------------------- */

bool
sp_event_sends(const struct sp_event_loop *loop)
{
    return loop->ops->send_stage != NULL;
}

void
sp_event_set_send_handler(struct sp_event_loop *loop,
                          sp_event_send_handler handler)
{
    loop->send_done = handler;
}

struct sp_event_send *
sp_event_send_stage(struct sp_event_loop *loop, int fd,
                    const struct iovec *iov, int iovcnt, void *owner)
{
    if (loop->ops->send_stage == NULL) {
        errno = EOPNOTSUPP;
        return NULL;
    }
    return loop->ops->send_stage(loop->backend, fd, iov, iovcnt, owner);
}

int
sp_event_send_result(struct sp_event_loop *loop, struct sp_event_send *send,
                     ssize_t *result)
{
    return loop->ops->send_result(loop->backend, send, result);
}

void
sp_event_send_cancel(struct sp_event_loop *loop, struct sp_event_send *send)
{
    loop->ops->send_cancel(loop->backend, send);
}

ssize_t
sp_event_recv(struct sp_event_loop *loop, int fd, void *buf, size_t len)
{
    if (loop->ops->recv == NULL) {
        return read(fd, buf, len);
    }
    return loop->ops->recv(loop->backend, fd, buf, len);
}

int
sp_event_recv_release(struct sp_event_loop *loop, int fd)
{
    if (loop->ops->recv_release == NULL) {
        return 0;
    }
    return loop->ops->recv_release(loop->backend, fd);
}

int
sp_event_submit(struct sp_event_loop *loop)
{
    int n;

    if (loop->ops->submit == NULL) {
        return 0;
    }
    n = loop->ops->submit(loop->backend);
    if (n < 0) {
        sp_event_log(loop, SP_LOG_ALERT, errno, "%s failed",
                     loop->ops->poll_call);
    }
    return n;
}

uint64_t
sp_event_now_ms(const struct sp_event_loop *loop)
{
    return loop->now_ms;
}

void
sp_event_update_time(struct sp_event_loop *loop)
{
    loop->now_us = sp_event_clock_us();
    loop->now_ms = loop->now_us / 1000u;
}

uint64_t
sp_event_now_us(const struct sp_event_loop *loop)
{
    return loop->now_us;
}

/* The backend's timeout: the caller's, never past the earliest timer. */
static int
sp_event_timeout(const struct sp_event_loop *loop, int timeout_ms)
{
    int timer_ms = sp_timer_heap_timeout(&loop->timers, loop->now_ms);

    if (timer_ms < 0) {
        return timeout_ms < 0 ? -1 : timeout_ms;
    }
    return timeout_ms < 0 || timer_ms < timeout_ms ? timer_ms : timeout_ms;
}

enum { SP_EVENT_PASS_ALL, SP_EVENT_PASS_FIRST, SP_EVENT_PASS_REST };

/*
 * Call the handler of one reported event unless it has gone stale or
 * belongs to the other pass.
 */
static bool
sp_event_dispatch_one(struct sp_event_loop *loop,
                      const struct sp_event_fired *fired, int pass)
{
    int fd = (int)(uint32_t)fired->cookie;
    uint32_t generation = (uint32_t)(fired->cookie >> 32);
    struct sp_event_slot *slot;
    uint32_t ready;

    if (fd < 0 || fd >= loop->max_fds) {
        return false;
    }
    slot = &loop->slots[fd];
    if (!slot->registered || slot->generation != generation) {
        return false;
    }
    ready = fired->ready & ((slot->interest & (SP_EV_READ | SP_EV_WRITE))
                            | SP_EVENT_ALWAYS);
    if (pass != SP_EVENT_PASS_ALL
        && ((slot->interest & SP_EV_FIRST) != 0) != (pass == SP_EVENT_PASS_FIRST)) {
        return false;
    }
    if (ready == 0) {
        return false;
    }
    slot->handler(loop, fd, ready, slot->data);
    return true;
}

int
sp_event_poll(struct sp_event_loop *loop, int timeout_ms)
{
    int nfired, ndispatched = 0;

    nfired = loop->ops->poll(loop->backend, loop->fired, loop->batch,
                             sp_event_timeout(loop, timeout_ms),
                             loop->wait_sigmask);
    if (nfired < 0) {
        int err = errno;
        sp_event_log(loop, SP_LOG_ALERT, err, "%s failed",
                     loop->ops->poll_call);
        sp_event_update_time(loop);
        errno = err;
        return -1;
    }
    sp_event_update_time(loop);

    if (loop->first_hook == NULL) {
        for (int i = 0; i < nfired; i++) {
            ndispatched += sp_event_dispatch_one(loop, &loop->fired[i],
                                                 SP_EVENT_PASS_ALL);
        }
    } else {
        for (int i = 0; i < nfired; i++) {
            ndispatched += sp_event_dispatch_one(loop, &loop->fired[i],
                                                 SP_EVENT_PASS_FIRST);
        }
        loop->first_hook(loop->first_data);
        for (int i = 0; i < nfired; i++) {
            ndispatched += sp_event_dispatch_one(loop, &loop->fired[i],
                                                 SP_EVENT_PASS_REST);
        }
    }

    if (ndispatched > 0) {
        sp_event_update_time(loop);     /* handlers may have taken a while */
    }
    sp_timer_heap_run(&loop->timers, loop, loop->now_ms);
    return ndispatched;
}

struct sp_timer_heap *
sp_event_timer_heap(struct sp_event_loop *loop)
{
    return &loop->timers;
}

const struct sp_timer_heap *
sp_event_timer_heap_const(const struct sp_event_loop *loop)
{
    return &loop->timers;
}
