/*
 * test_event.c — the event loop on real descriptors (socketpairs, pipes):
 * read and write readiness, edge- and level-triggered registration, peer
 * close (SP_EV_RDHUP, SP_EV_ERROR), interest changes, removal, the
 * stale-event guard on a descriptor closed and reused within one batch,
 * argument errors; and timers: order, delete, re-arm, 10k random deadlines,
 * the poll timeout bounded by the earliest timer (measured on the loop's
 * clock, no sleeps), and a timer re-arming itself with 0 ms. The readiness
 * tests run again on the io_uring backend when it is built and usable,
 * and its own sends and receives are tested at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "sp_event.h"
#include "sp_test.h"

#define MAX_FDS 1024

/* ---- helpers ------------------------------------------------------------ */

struct rec {
    int      calls;
    int      fd;
    uint32_t last;      /* readiness of the last call */
    uint32_t all;       /* union over all calls */
};

static void
rec_handler(struct sp_event_loop *loop, int fd, uint32_t ready, void *data)
{
    struct rec *r = data;

    (void)loop;
    r->calls++;
    r->fd = fd;
    r->last = ready;
    r->all |= ready;
}

static void
rec_reset(struct rec *r)
{
    memset(r, 0, sizeof(*r));
    r->fd = -1;
}

/* The backend the loops of a test run on: the event case runs on epoll,
 * the event_io_uring case (sp_test_use_uring) the same tests on io_uring. */
static const char *test_backend = "epoll";

static struct sp_event_loop *
new_loop(void)
{
    struct sp_event_loop *loop = sp_event_loop_create_with(MAX_FDS, 0, NULL,
                                                           test_backend);

    ck_assert_ptr_nonnull(loop);
    return loop;
}

static void
new_socketpair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK
                                | SOCK_CLOEXEC, 0, sv), 0);
}

static void
new_pipe(int p[2])
{
    ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

static void
close_pair(int fd[2])
{
    close(fd[0]);
    close(fd[1]);
}

static void
put_byte(int fd)
{
    ck_assert_int_eq(write(fd, "x", 1), 1);
}

static void
drain(int fd)
{
    char buf[256];

    while (read(fd, buf, sizeof(buf)) > 0) {
        continue;
    }
}

/*
 * A loop and one socketpair or pipe whose end `watched` is registered with
 * rec_handler, recording into r; fd[i] is -1 once the test closed it.
 */
struct watch {
    struct sp_event_loop *loop;
    struct rec r;
    int fd[2];
    int watched;
};

enum { SOCKETS, PIPE };

static void
watch_open(struct watch *w, int kind, int end, uint32_t interest)
{
    w->loop = new_loop();
    rec_reset(&w->r);
    if (kind == PIPE) {
        new_pipe(w->fd);
    } else {
        new_socketpair(w->fd);
    }
    w->watched = w->fd[end];
    ck_assert_int_eq(sp_event_add(w->loop, w->watched, interest, rec_handler,
                                  &w->r), 0);
}

static void
watch_close_end(struct watch *w, int end)
{
    close(w->fd[end]);
    w->fd[end] = -1;
}

/* Deregisters the watched end, closes what is open, destroys the loop. */
static void
watch_done(struct watch *w)
{
    ck_assert_int_eq(sp_event_del(w->loop, w->watched), 0);
    for (int i = 0; i < 2; i++) {
        if (w->fd[i] >= 0) {
            close(w->fd[i]);
        }
    }
    sp_event_loop_destroy(w->loop);
}

static void
count_fire(struct sp_event_loop *loop, struct sp_timer *timer)
{
    (void)loop;
    (*(int *)timer->data)++;
}

/* ---- loop and arguments ------------------------------------------------- */

START_TEST(test_create_destroy)
{
    struct sp_event_loop *a = sp_event_loop_create(16, 4, NULL);
    struct sp_event_loop *b = sp_event_loop_create(16, 0, NULL);

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);       /* no global state: two at once */
    ck_assert_str_eq(sp_event_backend_name(a), "epoll");
    ck_assert_uint_eq(sp_timer_count(a), 0);
    sp_event_loop_destroy(a);
    sp_event_loop_destroy(b);
    sp_event_loop_destroy(NULL);

    errno = 0;
    ck_assert_ptr_null(sp_event_loop_create(-1, 0, NULL));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(sp_event_loop_create(16, -1, NULL));
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(test_default_max_fds)
{
    struct sp_event_loop *loop = sp_event_loop_create(0, 0, NULL);
    struct rlimit rl;
    struct rec r;

    ck_assert_ptr_nonnull(loop);
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)INT_MAX) {
        errno = 0;
        ck_assert_int_eq(sp_event_add(loop, (int)rl.rlim_cur, SP_EV_READ,
                                      rec_handler, &r), -1);
        ck_assert_int_eq(errno, EINVAL);
    }
    sp_event_loop_destroy(loop);
}
END_TEST

START_TEST(test_add_errors)
{
    struct sp_event_loop *loop = sp_event_loop_create(64, 0, NULL);
    struct rec r;
    int sv[2], high;

    ck_assert_ptr_nonnull(loop);
    new_socketpair(sv);
    ck_assert_int_eq(sp_event_add(loop, sv[0], SP_EV_READ, rec_handler, &r),
                     0);

    errno = 0;
    ck_assert_int_eq(sp_event_add(loop, sv[0], SP_EV_READ, rec_handler, &r),
                     -1);
    ck_assert_int_eq(errno, EEXIST);

    high = fcntl(sv[1], F_DUPFD_CLOEXEC, 64);   /* a real fd >= max_fds */
    ck_assert_int_ge(high, 64);
    errno = 0;
    ck_assert_int_eq(sp_event_add(loop, high, SP_EV_READ, rec_handler, &r),
                     -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(sp_event_modify(loop, high, SP_EV_READ), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(sp_event_del(loop, high), -1);
    ck_assert_int_eq(errno, EINVAL);

    errno = 0;
    ck_assert_int_eq(sp_event_add(loop, -1, SP_EV_READ, rec_handler, &r), -1);
    ck_assert_int_eq(errno, EBADF);

    /* readiness-only bits are not interest; a handler is required */
    errno = 0;
    ck_assert_int_eq(sp_event_add(loop, sv[1], SP_EV_READ | SP_EV_ERROR,
                                  rec_handler, &r), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(sp_event_add(loop, sv[1], SP_EV_READ, NULL, &r), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(sp_event_modify(loop, sv[0], SP_EV_RDHUP), -1);
    ck_assert_int_eq(errno, EINVAL);

    /* not registered */
    errno = 0;
    ck_assert_int_eq(sp_event_modify(loop, sv[1], SP_EV_READ), -1);
    ck_assert_int_eq(errno, ENOENT);
    errno = 0;
    ck_assert_int_eq(sp_event_del(loop, sv[1]), -1);
    ck_assert_int_eq(errno, ENOENT);

    /* a backend refusal leaves the slot free: a regular file for epoll */
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(devnull, 0);
    ck_assert_int_lt(devnull, 64);
    errno = 0;
    ck_assert_int_eq(sp_event_add(loop, devnull, SP_EV_READ, rec_handler,
                                  &r), -1);
    ck_assert_int_eq(errno, EPERM);
    errno = 0;
    ck_assert_int_eq(sp_event_del(loop, devnull), -1);
    ck_assert_int_eq(errno, ENOENT);

    ck_assert_int_eq(sp_event_del(loop, sv[0]), 0);
    close(devnull);
    close(high);
    close_pair(sv);
    sp_event_loop_destroy(loop);
}
END_TEST

/* ---- readiness ---------------------------------------------------------- */

START_TEST(test_read_ready)
{
    struct watch w;

    watch_open(&w, PIPE, 0, SP_EV_READ);
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 0);
    ck_assert_int_eq(w.r.calls, 0);

    put_byte(w.fd[1]);
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 1);
    ck_assert_int_eq(w.r.calls, 1);
    ck_assert_int_eq(w.r.fd, w.fd[0]);
    ck_assert_uint_eq(w.r.last, SP_EV_READ);
    watch_done(&w);
}
END_TEST

START_TEST(test_write_ready)
{
    struct watch w;

    watch_open(&w, SOCKETS, 0, SP_EV_WRITE);
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 1);
    ck_assert_int_eq(w.r.fd, w.fd[0]);
    ck_assert_uint_eq(w.r.last, SP_EV_WRITE);
    watch_done(&w);
}
END_TEST

START_TEST(test_edge_triggered)
{
    struct watch w;

    watch_open(&w, SOCKETS, 0, SP_EV_READ | SP_EV_WRITE);
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 1);   /* writable */
    ck_assert_uint_eq(w.r.last, SP_EV_WRITE);
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 0);   /* still, no new edge */

    put_byte(w.fd[1]);
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 1);
    ck_assert_int_eq(w.r.calls, 2);
    ck_assert(w.r.last & SP_EV_READ);

    /* not read: no new data, no new event */
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 0);
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 0);
    ck_assert_int_eq(w.r.calls, 2);

    put_byte(w.fd[1]);                               /* a new edge */
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 1);
    ck_assert_int_eq(w.r.calls, 3);
    ck_assert(w.r.last & SP_EV_READ);
    watch_done(&w);
}
END_TEST

START_TEST(test_level_triggered)
{
    struct watch w;

    watch_open(&w, SOCKETS, 0, SP_EV_READ | SP_EV_LEVEL);
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 0);
    put_byte(w.fd[1]);
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 1);
    ck_assert_uint_eq(w.r.last, SP_EV_READ);
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 1);   /* again, unread */
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 1);
    ck_assert_int_eq(w.r.calls, 3);

    drain(w.fd[0]);
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 0);
    ck_assert_int_eq(w.r.calls, 3);
    watch_done(&w);
}
END_TEST

START_TEST(test_peer_shutdown_and_close)
{
    struct watch w;

    watch_open(&w, SOCKETS, 0, SP_EV_READ);
    ck_assert_int_eq(shutdown(w.fd[1], SHUT_WR), 0); /* half close */
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 1);
    ck_assert(w.r.last & SP_EV_RDHUP);
    ck_assert(w.r.last & SP_EV_READ);                /* EOF is readable */
    ck_assert(!(w.r.last & SP_EV_ERROR));

    watch_close_end(&w, 1);                          /* full close: HUP */
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 1);
    ck_assert(w.r.last & SP_EV_ERROR);
    ck_assert(w.r.last & SP_EV_RDHUP);
    watch_done(&w);
}
END_TEST

START_TEST(test_error_on_pipe)
{
    struct watch w;

    watch_open(&w, PIPE, 1, SP_EV_WRITE);
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 1);
    ck_assert_uint_eq(w.r.last, SP_EV_WRITE);

    watch_close_end(&w, 0);                     /* reader gone: EPOLLERR */
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 1);
    ck_assert(w.r.last & SP_EV_ERROR);
    ck_assert(!(w.r.last & SP_EV_RDHUP));            /* no read interest */
    watch_done(&w);
}
END_TEST

START_TEST(test_modify_interest)
{
    struct watch w;
    int fd;

    watch_open(&w, SOCKETS, 0, SP_EV_READ);
    fd = w.fd[0];
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 0);   /* writable, unwanted */

    ck_assert_int_eq(sp_event_modify(w.loop, fd, SP_EV_READ | SP_EV_WRITE),
                     0);
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 1);
    ck_assert_uint_eq(w.r.last, SP_EV_WRITE);

    ck_assert_int_eq(sp_event_modify(w.loop, fd, SP_EV_READ), 0);
    put_byte(w.fd[1]);
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 1);
    ck_assert_uint_eq(w.r.last, SP_EV_READ);         /* no SP_EV_WRITE */

    /* to level-triggered: reported on every poll while unread */
    ck_assert_int_eq(sp_event_modify(w.loop, fd, SP_EV_READ | SP_EV_LEVEL),
                     0);
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 1);
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 1);
    ck_assert_int_eq(w.r.calls, 4);

    ck_assert_int_eq(sp_event_modify(w.loop, fd, 0), 0);    /* paused */
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 0);
    ck_assert_int_eq(w.r.calls, 4);
    watch_done(&w);
}
END_TEST

/* Two writable descriptors in one batch; whichever runs first drops the
 * other's write interest, whose queued SP_EV_WRITE must then be masked. */
struct mask_ctx {
    int fds[2];
    int calls;
};

static void
mask_handler(struct sp_event_loop *loop, int fd, uint32_t ready, void *data)
{
    struct mask_ctx *ctx = data;
    int other = fd == ctx->fds[0] ? ctx->fds[1] : ctx->fds[0];

    ck_assert_uint_eq(ready, SP_EV_WRITE);
    if (ctx->calls++ == 0) {
        ck_assert_int_eq(sp_event_modify(loop, other, SP_EV_READ), 0);
    }
}

START_TEST(test_modify_within_batch)
{
    struct sp_event_loop *loop = new_loop();
    struct mask_ctx ctx = { { -1, -1 }, 0 };
    int a[2], b[2];

    new_socketpair(a);
    new_socketpair(b);
    ctx.fds[0] = a[0];
    ctx.fds[1] = b[0];
    ck_assert_int_eq(sp_event_add(loop, a[0], SP_EV_READ | SP_EV_WRITE,
                                  mask_handler, &ctx), 0);
    ck_assert_int_eq(sp_event_add(loop, b[0], SP_EV_READ | SP_EV_WRITE,
                                  mask_handler, &ctx), 0);
    ck_assert_int_eq(sp_event_poll(loop, 0), 1);
    ck_assert_int_eq(ctx.calls, 1);

    ck_assert_int_eq(sp_event_del(loop, a[0]), 0);
    ck_assert_int_eq(sp_event_del(loop, b[0]), 0);
    close_pair(a);
    close_pair(b);
    sp_event_loop_destroy(loop);
}
END_TEST

START_TEST(test_del_then_no_dispatch)
{
    struct watch w;

    watch_open(&w, SOCKETS, 0, SP_EV_READ | SP_EV_LEVEL);
    put_byte(w.fd[1]);
    ck_assert_int_eq(sp_event_del(w.loop, w.fd[0]), 0);
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 0);
    ck_assert_int_eq(w.r.calls, 0);

    /* re-added, the pending data is reported to the new registration */
    ck_assert_int_eq(sp_event_add(w.loop, w.fd[0], SP_EV_READ, rec_handler,
                                  &w.r), 0);
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 1);
    ck_assert_int_eq(w.r.calls, 1);
    watch_done(&w);
}
END_TEST

static void
self_del_handler(struct sp_event_loop *loop, int fd, uint32_t ready,
                 void *data)
{
    int *calls = data;

    (void)ready;
    (*calls)++;
    ck_assert_int_eq(sp_event_del(loop, fd), 0);
    close(fd);
}

START_TEST(test_handler_removes_itself)
{
    struct sp_event_loop *loop = new_loop();
    int calls = 0, sv[2];

    new_socketpair(sv);
    ck_assert_int_eq(sp_event_add(loop, sv[0], SP_EV_READ | SP_EV_LEVEL,
                                  self_del_handler, &calls), 0);
    put_byte(sv[1]);
    ck_assert_int_eq(sp_event_poll(loop, 0), 1);
    ck_assert_int_eq(sp_event_poll(loop, 0), 0);
    ck_assert_int_eq(calls, 1);
    close(sv[1]);
    sp_event_loop_destroy(loop);
}
END_TEST

/*
 * The stale-event guard. Two registered sockets are both readable, so one
 * batch carries an event for each. Whichever handler runs first deletes and
 * closes the other descriptor, makes a new socket take its number, and
 * registers it with another handler. The closed socket's event, still in
 * the batch, must be dropped, not delivered to the new owner.
 */
struct stale_ctx {
    int fds[2];         /* the original registrations */
    int replaced;       /* the number taken over, -1 until then */
    int new_peer;
    int old_calls;
    int new_calls;
};

static void
stale_new_handler(struct sp_event_loop *loop, int fd, uint32_t ready,
                  void *data)
{
    struct stale_ctx *ctx = data;

    (void)loop;
    (void)fd;
    (void)ready;
    ctx->new_calls++;
}

static void
stale_old_handler(struct sp_event_loop *loop, int fd, uint32_t ready,
                  void *data)
{
    struct stale_ctx *ctx = data;
    int other = fd == ctx->fds[0] ? ctx->fds[1] : ctx->fds[0];
    int sv[2];

    ck_assert(ready & SP_EV_READ);
    ctx->old_calls++;
    if (ctx->replaced >= 0) {
        return;
    }
    ck_assert_int_eq(sp_event_del(loop, other), 0);
    ck_assert_int_eq(close(other), 0);
    new_socketpair(sv);
    if (sv[0] != other) {           /* lowest free number, unless a hole */
        ck_assert_int_eq(dup2(sv[0], other), other);
        close(sv[0]);
    }
    ctx->replaced = other;
    ctx->new_peer = sv[1];
    ck_assert_int_eq(sp_event_add(loop, other, SP_EV_READ, stale_new_handler,
                                  ctx), 0);
}

START_TEST(test_stale_event_guard)
{
    struct sp_event_loop *loop = new_loop();
    struct stale_ctx ctx = { { -1, -1 }, -1, -1, 0, 0 };
    int a[2], b[2], survivor;

    new_socketpair(a);
    new_socketpair(b);
    ctx.fds[0] = a[0];
    ctx.fds[1] = b[0];
    ck_assert_int_eq(sp_event_add(loop, a[0], SP_EV_READ, stale_old_handler,
                                  &ctx), 0);
    ck_assert_int_eq(sp_event_add(loop, b[0], SP_EV_READ, stale_old_handler,
                                  &ctx), 0);
    put_byte(a[1]);
    put_byte(b[1]);

    ck_assert_int_eq(sp_event_poll(loop, 0), 1);
    ck_assert_int_ge(ctx.replaced, 0);
    ck_assert_int_eq(ctx.old_calls, 1);
    ck_assert_int_eq(ctx.new_calls, 0);

    /* the new owner's registration works: its own data reaches it */
    ck_assert_int_eq(sp_event_poll(loop, 0), 0);
    put_byte(ctx.new_peer);
    ck_assert_int_eq(sp_event_poll(loop, 0), 1);
    ck_assert_int_eq(ctx.new_calls, 1);
    ck_assert_int_eq(ctx.old_calls, 1);

    survivor = ctx.replaced == a[0] ? b[0] : a[0];
    ck_assert_int_eq(sp_event_del(loop, survivor), 0);
    ck_assert_int_eq(sp_event_del(loop, ctx.replaced), 0);
    close_pair(a);
    close_pair(b);
    close(ctx.new_peer);
    sp_event_loop_destroy(loop);
}
END_TEST

static void
on_signal(int sig)
{
    (void)sig;
}

START_TEST(test_eintr_is_zero)
{
    struct sp_event_loop *loop = new_loop();
    struct sigaction sa, old;
    struct itimerval it = { { 0, 0 }, { 0, 20000 } };   /* 20 ms, once */
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    struct sp_timer t = { 0 };
    int calls = 0;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGALRM, &sa, &old), 0);
    /* a far timer keeps a failing test from blocking forever */
    ck_assert_int_eq(sp_timer_add(loop, &t, 60000, count_fire, &calls), 0);
    ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
    ck_assert_int_eq(sp_event_poll(loop, -1), 0);
    ck_assert_int_eq(setitimer(ITIMER_REAL, &off, NULL), 0);
    ck_assert_int_eq(sigaction(SIGALRM, &old, NULL), 0);
    ck_assert_int_eq(calls, 0);
    ck_assert_uint_eq(sp_timer_count(loop), 1);
    sp_timer_del(loop, &t);
    sp_event_loop_destroy(loop);
}
END_TEST

START_TEST(test_forget_then_close_leaves_nothing_behind)
{
    struct sp_event_loop *loop = new_loop();
    struct rec old, fresh;
    int p[2], q[2];

    rec_reset(&old);
    rec_reset(&fresh);
    new_pipe(p);
    ck_assert_int_eq(sp_event_add(loop, p[0], SP_EV_READ, rec_handler, &old), 0);
    put_byte(p[1]);
    ck_assert_int_eq(sp_event_forget(loop, p[0]), 0);
    ck_assert_int_eq(sp_event_forget(loop, p[0]), -1);     /* not registered */
    close(p[0]);                    /* close() takes it out of epoll */
    ck_assert_int_eq(sp_event_poll(loop, 0), 0);
    ck_assert_int_eq(old.calls, 0);
    new_pipe(q);                    /* likely the same descriptor number */
    ck_assert_int_eq(sp_event_add(loop, q[0], SP_EV_READ, rec_handler, &fresh), 0);
    put_byte(q[1]);
    ck_assert_int_eq(sp_event_poll(loop, 0), 1);
    ck_assert_int_eq(fresh.calls, 1);
    ck_assert_int_eq(old.calls, 0);
    ck_assert_int_eq(sp_event_del(loop, q[0]), 0);
    close_pair(q);
    close(p[1]);
    sp_event_loop_destroy(loop);
}
END_TEST

/* ---- two-pass dispatch and the wait's signal mask ------------------------ */

struct pass_log {
    char order[8];
    int  n;
};

static void
pass_handler(struct sp_event_loop *loop, int fd, uint32_t ready, void *data)
{
    struct pass_log *log = *(struct pass_log **)data;
    char tag = ((char *)data)[sizeof(struct pass_log *)];

    (void)loop;
    (void)ready;
    drain(fd);
    log->order[log->n++] = tag;
}

static void
pass_hook(void *data)
{
    struct pass_log *log = data;

    log->order[log->n++] = 'H';
}

START_TEST(test_first_pass_then_hook_then_rest)
{
    struct sp_event_loop *loop = new_loop();
    struct pass_log log = { { 0 }, 0 };
    struct { struct pass_log *log; char tag; } a = { &log, 'a' }, b = { &log, 'b' },
                                               c = { &log, 'c' };
    int pa[2], pb[2], pc[2];

    new_pipe(pa);
    new_pipe(pb);
    new_pipe(pc);
    /* registered in the order a, b (first), c: b must still run first */
    ck_assert_int_eq(sp_event_add(loop, pa[0], SP_EV_READ, pass_handler, &a), 0);
    ck_assert_int_eq(sp_event_add(loop, pb[0], SP_EV_READ | SP_EV_FIRST,
                                  pass_handler, &b), 0);
    ck_assert_int_eq(sp_event_add(loop, pc[0], SP_EV_READ, pass_handler, &c), 0);
    put_byte(pa[1]);
    put_byte(pc[1]);
    put_byte(pb[1]);
    sp_event_set_first_pass_hook(loop, pass_hook, &log);
    ck_assert_int_eq(sp_event_poll(loop, 0), 3);
    ck_assert_int_eq(log.n, 4);
    ck_assert_int_eq(log.order[0], 'b');
    ck_assert_int_eq(log.order[1], 'H');
    ck_assert(memchr(log.order + 2, 'a', 2) != NULL);
    ck_assert(memchr(log.order + 2, 'c', 2) != NULL);

    /* without a hook, SP_EV_FIRST descriptors are dispatched like others */
    sp_event_set_first_pass_hook(loop, NULL, NULL);
    log.n = 0;
    put_byte(pb[1]);
    ck_assert_int_eq(sp_event_poll(loop, 0), 1);
    ck_assert_int_eq(log.n, 1);
    ck_assert_int_eq(log.order[0], 'b');
    close_pair(pa);
    close_pair(pb);
    close_pair(pc);
    sp_event_loop_destroy(loop);
}
END_TEST

static volatile sig_atomic_t usr1_seen;

static void
on_usr1(int signo)
{
    (void)signo;
    usr1_seen = 1;
}

START_TEST(test_signal_delivered_only_while_waiting)
{
    struct sp_event_loop *loop = new_loop();
    struct sigaction sa, old;
    sigset_t block, waitmask, saved;
    struct sp_timer t = { 0 };
    int calls = 0;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGUSR1, &sa, &old), 0);
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    ck_assert_int_eq(sigprocmask(SIG_BLOCK, &block, &saved), 0);
    sigprocmask(SIG_BLOCK, NULL, &waitmask);
    sigdelset(&waitmask, SIGUSR1);
    sp_event_set_wait_sigmask(loop, &waitmask);

    usr1_seen = 0;
    raise(SIGUSR1);             /* pending: blocked outside the wait */
    ck_assert_int_eq(usr1_seen, 0);
    ck_assert_int_eq(sp_timer_add(loop, &t, 60000, count_fire, &calls), 0);
    ck_assert_int_eq(sp_event_poll(loop, -1), 0);   /* returns at once */
    ck_assert_int_eq(usr1_seen, 1);
    ck_assert_int_eq(calls, 0);

    sp_timer_del(loop, &t);
    sp_event_loop_destroy(loop);
    ck_assert_int_eq(sigprocmask(SIG_SETMASK, &saved, NULL), 0);
    ck_assert_int_eq(sigaction(SIGUSR1, &old, NULL), 0);
}
END_TEST

/* ---- timers ------------------------------------------------------------- */

struct fire_log {
    struct sp_event_loop *loop;
    int      order[8];
    int      n;
    bool     late_ok;    /* every timer fired at or after its deadline */
};

struct tagged_timer {
    struct sp_timer  timer;
    int              tag;
    struct fire_log *log;
};

static void
tagged_fire(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct tagged_timer *tt = timer->data;

    ck_assert_ptr_eq(&tt->timer, timer);
    ck_assert(!timer->armed);
    if (sp_event_now_ms(loop) < timer->deadline_ms) {
        tt->log->late_ok = false;
    }
    ck_assert_int_lt(tt->log->n, 8);
    tt->log->order[tt->log->n++] = tt->tag;
}

static void
tagged_arm(struct sp_event_loop *loop, struct tagged_timer *tt, int tag,
           struct fire_log *log, uint64_t after_ms)
{
    tt->tag = tag;
    tt->log = log;
    ck_assert_int_eq(sp_timer_add(loop, &tt->timer, after_ms, tagged_fire,
                                  tt), 0);
}

static void
run_until_fired(struct sp_event_loop *loop, const struct fire_log *log,
                int n)
{
    for (int spins = 0; log->n < n; spins++) {
        ck_assert_int_lt(spins, 1000);
        ck_assert_int_ge(sp_event_poll(loop, -1), 0);
    }
}

START_TEST(test_timer_order)
{
    struct sp_event_loop *loop = new_loop();
    struct fire_log log = { .loop = loop, .late_ok = true };
    struct tagged_timer t[4];

    memset(t, 0, sizeof(t));
    tagged_arm(loop, &t[0], 30, &log, 30);
    tagged_arm(loop, &t[1], 10, &log, 10);
    tagged_arm(loop, &t[2], 20, &log, 20);
    tagged_arm(loop, &t[3], 0, &log, 0);
    ck_assert_uint_eq(sp_timer_count(loop), 4);

    run_until_fired(loop, &log, 4);
    ck_assert_int_eq(log.order[0], 0);
    ck_assert_int_eq(log.order[1], 10);
    ck_assert_int_eq(log.order[2], 20);
    ck_assert_int_eq(log.order[3], 30);
    ck_assert(log.late_ok);
    ck_assert_uint_eq(sp_timer_count(loop), 0);
    ck_assert_int_eq(sp_event_poll(loop, 0), 0);
    ck_assert_int_eq(log.n, 4);
    sp_event_loop_destroy(loop);
}
END_TEST

START_TEST(test_timer_delete)
{
    struct sp_event_loop *loop = new_loop();
    struct fire_log log = { .loop = loop, .late_ok = true };
    struct tagged_timer t[3];
    struct sp_timer never = { 0 };

    memset(t, 0, sizeof(t));
    sp_timer_del(loop, &never);                     /* never armed: harmless */
    tagged_arm(loop, &t[0], 1, &log, 1);
    tagged_arm(loop, &t[1], 2, &log, 2);
    tagged_arm(loop, &t[2], 3, &log, 3);
    sp_timer_del(loop, &t[1].timer);
    ck_assert(!t[1].timer.armed);
    ck_assert_uint_eq(sp_timer_count(loop), 2);
    sp_timer_del(loop, &t[1].timer);                /* twice: harmless */
    sp_timer_del(loop, &t[0].timer);                /* the root */
    ck_assert_uint_eq(sp_timer_count(loop), 1);

    run_until_fired(loop, &log, 1);
    ck_assert_int_eq(log.order[0], 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(sp_event_poll(loop, 0), 0);
    }
    ck_assert_int_eq(log.n, 1);
    ck_assert_uint_eq(sp_timer_count(loop), 0);
    sp_event_loop_destroy(loop);
}
END_TEST

START_TEST(test_timer_rearm)
{
    struct sp_event_loop *loop = new_loop();
    struct fire_log log = { .loop = loop, .late_ok = true };
    struct tagged_timer t[2];
    uint64_t start = sp_event_now_ms(loop);

    memset(t, 0, sizeof(t));
    tagged_arm(loop, &t[0], 1, &log, 60000);
    tagged_arm(loop, &t[1], 2, &log, 5);
    tagged_arm(loop, &t[0], 1, &log, 1);            /* earlier: moves up */
    ck_assert_uint_eq(sp_timer_count(loop), 2);
    ck_assert_uint_eq(t[0].timer.deadline_ms, start + 1);

    run_until_fired(loop, &log, 2);
    ck_assert_int_eq(log.order[0], 1);
    ck_assert_int_eq(log.order[1], 2);

    /* later: moves down, past a sibling */
    tagged_arm(loop, &t[0], 1, &log, 1);
    tagged_arm(loop, &t[1], 2, &log, 3);
    tagged_arm(loop, &t[0], 1, &log, 6);
    run_until_fired(loop, &log, 4);
    ck_assert_int_eq(log.order[2], 2);
    ck_assert_int_eq(log.order[3], 1);
    ck_assert(log.late_ok);
    ck_assert_uint_eq(sp_timer_count(loop), 0);
    sp_event_loop_destroy(loop);
}
END_TEST

#define MANY_TIMERS 10000

struct many_ctx {
    struct sp_timer timers[MANY_TIMERS];
    int             fired[MANY_TIMERS];
    uint64_t        last_deadline;
    int             nfired;
    bool            in_order;
    bool            on_time;
};

static void
many_fire(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct many_ctx *ctx = timer->data;

    if (timer->deadline_ms < ctx->last_deadline) {
        ctx->in_order = false;
    }
    if (sp_event_now_ms(loop) < timer->deadline_ms) {
        ctx->on_time = false;
    }
    ctx->last_deadline = timer->deadline_ms;
    ctx->fired[timer - ctx->timers]++;
    ctx->nfired++;
}

static uint32_t
xorshift32(uint32_t *state)
{
    uint32_t x = *state;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

START_TEST(test_timer_many_random)
{
    struct sp_event_loop *loop = new_loop();
    struct many_ctx *ctx = calloc(1, sizeof(*ctx));
    uint32_t seed = 0x9e3779b9u;
    int expect = 0;

    ck_assert_ptr_nonnull(ctx);
    ctx->in_order = ctx->on_time = true;
    for (int i = 0; i < MANY_TIMERS; i++) {
        ck_assert_int_eq(sp_timer_add(loop, &ctx->timers[i],
                                      xorshift32(&seed) % 40, many_fire, ctx),
                         0);
    }
    /* delete every 7th, re-arm every 5th with a new random deadline */
    for (int i = 0; i < MANY_TIMERS; i++) {
        if (i % 7 == 0) {
            sp_timer_del(loop, &ctx->timers[i]);
        } else if (i % 5 == 0) {
            ck_assert_int_eq(sp_timer_add(loop, &ctx->timers[i],
                                          xorshift32(&seed) % 40, many_fire,
                                          ctx), 0);
        }
        expect += i % 7 != 0;
    }
    ck_assert_uint_eq(sp_timer_count(loop), (uint32_t)expect);

    for (int spins = 0; sp_timer_count(loop) > 0; spins++) {
        ck_assert_int_lt(spins, 1000);
        ck_assert_int_ge(sp_event_poll(loop, -1), 0);
    }
    ck_assert_int_eq(ctx->nfired, expect);
    ck_assert(ctx->in_order);
    ck_assert(ctx->on_time);
    for (int i = 0; i < MANY_TIMERS; i++) {
        ck_assert_int_eq(ctx->fired[i], i % 7 != 0);
    }
    free(ctx);
    sp_event_loop_destroy(loop);
}
END_TEST

START_TEST(test_timer_bounds_poll)
{
    struct sp_event_loop *loop = new_loop();
    struct sp_timer t = { 0 };
    uint64_t start;
    int fired = 0;

    /* poll(-1) with no descriptor wakes for the 20 ms timer */
    start = sp_event_now_ms(loop);
    ck_assert_int_eq(sp_timer_add(loop, &t, 20, count_fire, &fired), 0);
    ck_assert_int_eq(sp_event_poll(loop, -1), 0);
    ck_assert_int_eq(fired, 1);
    ck_assert_uint_ge(sp_event_now_ms(loop) - start, 20);

    /* a longer caller timeout is cut to the timer */
    start = sp_event_now_ms(loop);
    ck_assert_int_eq(sp_timer_add(loop, &t, 20, count_fire, &fired), 0);
    ck_assert_int_eq(sp_event_poll(loop, 60000), 0);
    ck_assert_int_eq(fired, 2);
    ck_assert_uint_ge(sp_event_now_ms(loop) - start, 20);
    ck_assert_uint_lt(sp_event_now_ms(loop) - start, 30000);

    /* a shorter caller timeout is kept; the timer waits */
    start = sp_event_now_ms(loop);
    ck_assert_int_eq(sp_timer_add(loop, &t, 60000, count_fire, &fired), 0);
    ck_assert_int_eq(sp_event_poll(loop, 5), 0);
    ck_assert_int_eq(fired, 2);
    ck_assert_uint_ge(sp_event_now_ms(loop) - start, 5);
    ck_assert(t.armed);
    sp_timer_del(loop, &t);

    /* update_time moves the clock without a poll */
    start = sp_event_now_ms(loop);
    sp_event_update_time(loop);
    ck_assert_uint_ge(sp_event_now_ms(loop), start);
    sp_event_loop_destroy(loop);
}
END_TEST

struct rearm_ctx {
    struct sp_timer timer;
    int             calls;
};

static void
rearm_zero_fire(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct rearm_ctx *ctx = timer->data;

    ctx->calls++;
    ck_assert_int_eq(sp_timer_add(loop, timer, 0, rearm_zero_fire, ctx), 0);
}

START_TEST(test_timer_rearm_zero_no_spin)
{
    struct sp_event_loop *loop = new_loop();
    struct rearm_ctx ctx;

    memset(&ctx, 0, sizeof(ctx));
    ck_assert_int_eq(sp_timer_add(loop, &ctx.timer, 0, rearm_zero_fire, &ctx),
                     0);
    ck_assert_int_eq(sp_event_poll(loop, 0), 0);
    ck_assert_int_eq(ctx.calls, 1);
    ck_assert(ctx.timer.armed);
    ck_assert_uint_eq(sp_timer_count(loop), 1);
    ck_assert_int_eq(sp_event_poll(loop, 0), 0);
    ck_assert_int_eq(ctx.calls, 2);
    /* due now, so poll(-1) does not block */
    ck_assert_int_eq(sp_event_poll(loop, -1), 0);
    ck_assert_int_eq(ctx.calls, 3);
    sp_timer_del(loop, &ctx.timer);
    ck_assert_uint_eq(sp_timer_count(loop), 0);
    sp_event_loop_destroy(loop);
}
END_TEST

/* Two timers due in one phase: the first to run acts on the other. */
struct pair_ctx {
    struct sp_timer timers[2];
    int             calls[2];
    bool            rearm;      /* re-arm the other with 0 ms, else delete */
    bool            acted;
};

static void
pair_fire(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct pair_ctx *ctx = timer->data;
    int self = (int)(timer - ctx->timers);
    struct sp_timer *other = &ctx->timers[1 - self];

    ctx->calls[self]++;
    if (ctx->acted) {
        return;
    }
    ctx->acted = true;
    if (ctx->rearm) {
        ck_assert_int_eq(sp_timer_add(loop, other, 0, pair_fire, ctx), 0);
    } else {
        sp_timer_del(loop, other);
    }
}

/* Arms both timers of `ctx` due now; one poll runs exactly one of them. */
static void
pair_first_poll(struct sp_event_loop *loop, struct pair_ctx *ctx, bool rearm)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->rearm = rearm;
    ck_assert_int_eq(sp_timer_add(loop, &ctx->timers[0], 0, pair_fire, ctx),
                     0);
    ck_assert_int_eq(sp_timer_add(loop, &ctx->timers[1], 0, pair_fire, ctx),
                     0);
    ck_assert_int_eq(sp_event_poll(loop, 0), 0);
    ck_assert_int_eq(ctx->calls[0] + ctx->calls[1], 1);
}

START_TEST(test_timer_phase_delete_other)
{
    struct sp_event_loop *loop = new_loop();
    struct pair_ctx ctx;

    pair_first_poll(loop, &ctx, false);
    ck_assert_uint_eq(sp_timer_count(loop), 0);
    ck_assert(!ctx.timers[0].armed && !ctx.timers[1].armed);
    ck_assert_int_eq(sp_event_poll(loop, 0), 0);
    ck_assert_int_eq(ctx.calls[0] + ctx.calls[1], 1);
    sp_event_loop_destroy(loop);
}
END_TEST

START_TEST(test_timer_phase_rearm_other)
{
    struct sp_event_loop *loop = new_loop();
    struct pair_ctx ctx;

    pair_first_poll(loop, &ctx, true);      /* the other: next time */
    ck_assert_uint_eq(sp_timer_count(loop), 1);
    ck_assert_int_eq(sp_event_poll(loop, 0), 0);
    ck_assert_int_eq(ctx.calls[0], 1);
    ck_assert_int_eq(ctx.calls[1], 1);
    ck_assert_uint_eq(sp_timer_count(loop), 0);
    sp_event_loop_destroy(loop);
}
END_TEST

struct arm_from_fd_ctx {
    struct sp_timer timer;
    int             fired;
};

static void
arm_from_fd_handler(struct sp_event_loop *loop, int fd, uint32_t ready,
                    void *data)
{
    struct arm_from_fd_ctx *ctx = data;

    (void)fd;
    (void)ready;
    ck_assert_int_eq(sp_timer_add(loop, &ctx->timer, 0, count_fire,
                                  &ctx->fired), 0);
}

START_TEST(test_timer_armed_by_handler_fires_same_poll)
{
    struct sp_event_loop *loop = new_loop();
    struct arm_from_fd_ctx ctx;
    int sv[2];

    memset(&ctx, 0, sizeof(ctx));
    new_socketpair(sv);
    ck_assert_int_eq(sp_event_add(loop, sv[0], SP_EV_WRITE,
                                  arm_from_fd_handler, &ctx), 0);
    ck_assert_int_eq(sp_event_poll(loop, 0), 1);
    ck_assert_int_eq(ctx.fired, 1);
    ck_assert_int_eq(sp_event_del(loop, sv[0]), 0);
    close_pair(sv);
    sp_event_loop_destroy(loop);
}
END_TEST

START_TEST(test_destroy_with_armed_timer)
{
    struct sp_event_loop *loop = new_loop();
    struct sp_timer t = { 0 };
    int fired = 0;

    ck_assert_int_eq(sp_timer_add(loop, &t, 1000, count_fire, &fired), 0);
    ck_assert_int_eq(sp_timer_add(loop, &t, 1000, NULL, &fired), -1);
    sp_event_loop_destroy(loop);        /* frees its heap, not the timer */
    ck_assert_int_eq(fired, 0);
}
END_TEST

/* ---- the io_uring backend ---------------------------------------------------- */

#ifdef SP_HAVE_URING

static void
sp_test_use_uring(void)
{
    test_backend = "io_uring";
}

struct sent {
    int   calls;
    void *owner;
};

static struct sent *sent_log;   /* the running test's: the handler's view */

static void
sent_handler(struct sp_event_loop *loop, void *owner)
{
    (void)loop;
    sent_log->calls++;
    sent_log->owner = owner;
}

static struct sp_event_loop *
uring_loop(struct sent *log)
{
    struct sp_event_loop *loop = new_loop();

    memset(log, 0, sizeof(*log));
    sent_log = log;
    ck_assert_str_eq(sp_event_backend_name(loop), "io_uring");
    ck_assert(sp_event_sends(loop));
    sp_event_set_send_handler(loop, sent_handler);
    return loop;
}

START_TEST(test_uring_backend_named)
{
    int err = 0;

    ck_assert(sp_event_backend_usable("io_uring", &err));
    ck_assert(sp_event_backend_usable("epoll", &err));
    ck_assert(!sp_event_backend_usable("kqueue", &err));
    ck_assert_int_eq(err, ENOSYS);
    errno = 0;
    ck_assert_ptr_null(sp_event_loop_create_with(16, 0, NULL, "kqueue"));
    ck_assert_int_eq(errno, ENOSYS);
}
END_TEST

/* Staged sends reach the peer only when submitted, all in one go. */
START_TEST(test_uring_sends_go_out_together)
{
    struct sent log;
    struct sp_event_loop *loop = uring_loop(&log);
    struct sp_event_send *s1, *s2;
    struct iovec iov[2] = { { "hel", 3 }, { "lo", 2 } };
    int a[2], b[2], owner1, owner2;
    ssize_t result = 0;
    char buf[16];

    new_socketpair(a);
    new_socketpair(b);
    s1 = sp_event_send_stage(loop, a[0], iov, 2, &owner1);
    s2 = sp_event_send_stage(loop, b[0], iov + 1, 1, &owner2);
    ck_assert_ptr_nonnull(s1);
    ck_assert_ptr_nonnull(s2);
    iov[0].iov_len = 0;             /* the iovecs were copied */
    ck_assert_int_eq(read(a[1], buf, sizeof(buf)), -1);    /* not yet */
    ck_assert_int_eq(errno, EAGAIN);
    errno = 0;
    ck_assert_int_eq(sp_event_send_result(loop, s1, &result), -1);
    ck_assert_int_eq(errno, EINPROGRESS);

    ck_assert_int_eq(sp_event_submit(loop), 2);
    ck_assert_int_eq(log.calls, 2);
    ck_assert_int_eq(sp_event_send_result(loop, s1, &result), 0);
    ck_assert_int_eq(result, 5);
    ck_assert_int_eq(sp_event_send_result(loop, s2, &result), 0);
    ck_assert_int_eq(result, 2);
    ck_assert_int_eq(read(a[1], buf, sizeof(buf)), 5);
    ck_assert(memcmp(buf, "hello", 5) == 0);
    ck_assert_int_eq(read(b[1], buf, sizeof(buf)), 2);
    ck_assert_int_eq(sp_event_submit(loop), 0);    /* nothing staged */
    close_pair(a);
    close_pair(b);
    sp_event_loop_destroy(loop);
}
END_TEST

/* A send cancelled before submission is never made; one into a full socket
 * says EAGAIN at once (MSG_DONTWAIT: it never waits in the kernel). */
START_TEST(test_uring_send_cancel_and_full_socket)
{
    struct sent log;
    struct sp_event_loop *loop = uring_loop(&log);
    static char big[1 << 16];
    struct iovec iov = { big, sizeof(big) };
    struct sp_event_send *send;
    ssize_t result, total = 0;
    int sv[2], owner;
    char buf[16];

    new_socketpair(sv);
    send = sp_event_send_stage(loop, sv[0], &iov, 1, &owner);
    ck_assert_ptr_nonnull(send);
    sp_event_send_cancel(loop, send);
    ck_assert_int_eq(sp_event_submit(loop), 0);
    ck_assert_int_eq(sp_event_poll(loop, 0), 0);
    ck_assert_int_eq(log.calls, 0);
    ck_assert_int_eq(read(sv[1], buf, sizeof(buf)), -1);
    ck_assert_int_eq(errno, EAGAIN);

    for (int i = 0; i < 64; i++) {      /* bounded: fill the socket */
        send = sp_event_send_stage(loop, sv[0], &iov, 1, &owner);
        ck_assert_ptr_nonnull(send);
        ck_assert_int_eq(sp_event_submit(loop), 1);
        ck_assert_int_eq(sp_event_send_result(loop, send, &result), 0);
        if (result < 0) {
            break;
        }
        total += result;
    }
    ck_assert_int_gt(total, 0);
    ck_assert_int_eq(result, -EAGAIN);
    close_pair(sv);
    sp_event_loop_destroy(loop);
}
END_TEST

/* Once drained, a descriptor's bytes are received by the ring; the
 * readiness report says they are there, and they are read in pieces. */
START_TEST(test_uring_receives)
{
    struct watch w;
    char buf[16];

    test_backend = "io_uring";
    watch_open(&w, SOCKETS, 0, SP_EV_READ | SP_EV_WRITE);
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 1);         /* writable */
    errno = 0;
    ck_assert_int_eq(sp_event_recv(w.loop, w.fd[0], buf, sizeof(buf)), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_eq(write(w.fd[1], "a", 1), 1);    /* one request alone: */
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 1);  /* readiness, read(2) */
    ck_assert_int_eq(recv(w.fd[0], buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT),
                     1);
    ck_assert_int_eq(sp_event_recv(w.loop, w.fd[0], buf, sizeof(buf)), 1);
    errno = 0;
    ck_assert_int_eq(sp_event_recv(w.loop, w.fd[0], buf, sizeof(buf)), -1);
    ck_assert_int_eq(errno, EAGAIN);            /* drained again: the ring
                                                   receives from now on */
    rec_reset(&w.r);
    ck_assert_int_ge(sp_event_poll(w.loop, 0), 0);  /* (its poll is new:
                                                       writable again) */
    ck_assert(!(w.r.all & SP_EV_READ));

    ck_assert_int_eq(write(w.fd[1], "hello world", 11), 11);
    rec_reset(&w.r);
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 1);
    ck_assert(w.r.last & SP_EV_READ);
    /* the bytes left the socket: they are the ring's now */
    ck_assert_int_eq(recv(w.fd[0], buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT),
                     -1);
    ck_assert_int_eq(sp_event_recv(w.loop, w.fd[0], buf, 5), 5);
    ck_assert(memcmp(buf, "hello", 5) == 0);
    ck_assert_int_eq(sp_event_recv(w.loop, w.fd[0], buf, sizeof(buf)), 6);
    ck_assert(memcmp(buf, " world", 6) == 0);
    errno = 0;
    ck_assert_int_eq(sp_event_recv(w.loop, w.fd[0], buf, sizeof(buf)), -1);
    ck_assert_int_eq(errno, EAGAIN);

    /* more than a buffer holds: the first piece by the ring, the rest by
     * read(), then the ring again once drained */
    static char big[10000], got[16384];
    memset(big, 'x', sizeof(big));
    ck_assert_int_eq(write(w.fd[1], big, sizeof(big)), (ssize_t)sizeof(big));
    rec_reset(&w.r);
    ck_assert_int_ge(sp_event_poll(w.loop, 0), 1);
    ck_assert(w.r.all & SP_EV_READ);
    ssize_t total = 0, n;
    while ((n = sp_event_recv(w.loop, w.fd[0], got, sizeof(got))) > 0) {
        total += n;
    }
    ck_assert_int_eq(total, (ssize_t)sizeof(big));
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_eq(write(w.fd[1], "z", 1), 1);
    rec_reset(&w.r);
    ck_assert_int_ge(sp_event_poll(w.loop, 0), 1);
    ck_assert(w.r.all & SP_EV_READ);
    ck_assert_int_eq(sp_event_recv(w.loop, w.fd[0], got, sizeof(got)), 1);

    /* the end of the stream: reported, then read as 0, and again */
    watch_close_end(&w, 1);
    rec_reset(&w.r);
    ck_assert_int_ge(sp_event_poll(w.loop, 0), 1);
    ck_assert(w.r.all & SP_EV_READ);
    ck_assert_int_eq(sp_event_recv(w.loop, w.fd[0], buf, sizeof(buf)), 0);
    ck_assert_int_eq(sp_event_recv(w.loop, w.fd[0], buf, sizeof(buf)), 0);
    watch_done(&w);
}
END_TEST

/* Connections that leave what the ring received unread hold its buffers;
 * past half of them the others are read by system call: every byte still
 * arrives, none is lost or reordered. */
START_TEST(test_uring_buffers_held_by_unread_connections)
{
    enum { N = 80 };
    struct sp_event_loop *loop;
    struct rec r[N];
    int sv[N][2];
    char buf[64];

    test_backend = "io_uring";
    loop = new_loop();
    for (int i = 0; i < N; i++) {
        rec_reset(&r[i]);
        new_socketpair(sv[i]);
        ck_assert_int_eq(sp_event_add(loop, sv[i][0], SP_EV_READ | SP_EV_WRITE,
                                      rec_handler, &r[i]), 0);
        ck_assert_int_eq(sp_event_recv(loop, sv[i][0], buf, sizeof(buf)), -1);
        ck_assert_int_eq(sp_event_recv(loop, sv[i][0], buf, sizeof(buf)), -1);
        ck_assert_int_ge(sp_event_poll(loop, 0), 0);
        ck_assert_int_eq(write(sv[i][1], "first", 5), 5);
        ck_assert_int_ge(sp_event_poll(loop, 0), 0);    /* not read */
    }
    for (int i = 0; i < N; i++) {
        ck_assert(r[i].all & SP_EV_READ);
        ck_assert_int_eq(write(sv[i][1], "second", 6), 6);
        ck_assert_int_eq(sp_event_recv(loop, sv[i][0], buf, 5), 5);
        ck_assert(memcmp(buf, "first", 5) == 0);
    }
    for (int i = 0; i < N; i++) {
        ssize_t n = -1;

        for (int tries = 0; tries < 10 && n < 0; tries++) {
            ck_assert_int_ge(sp_event_poll(loop, 0), 0);
            n = sp_event_recv(loop, sv[i][0], buf, sizeof(buf));
        }
        ck_assert_int_eq(n, 6);
        ck_assert(memcmp(buf, "second", 6) == 0);
        ck_assert_int_eq(sp_event_forget(loop, sv[i][0]), 0);
        close_pair(sv[i]);
    }
    sp_event_loop_destroy(loop);
}
END_TEST

/* Handing a descriptor over: the ring stops receiving (bytes sent later
 * stay in the socket for the next owner), unless it holds unread bytes. */
START_TEST(test_uring_release_leaves_bytes_in_the_socket)
{
    struct watch w;
    char buf[16];

    test_backend = "io_uring";
    watch_open(&w, SOCKETS, 0, SP_EV_READ | SP_EV_WRITE);
    ck_assert_int_eq(sp_event_recv(w.loop, w.fd[0], buf, sizeof(buf)), -1);
    ck_assert_int_eq(sp_event_recv(w.loop, w.fd[0], buf, sizeof(buf)), -1);
    ck_assert_int_eq(write(w.fd[1], "ab", 2), 2);
    ck_assert_int_ge(sp_event_poll(w.loop, 0), 1);
    errno = 0;
    ck_assert_int_eq(sp_event_recv_release(w.loop, w.fd[0]), -1);
    ck_assert_int_eq(errno, EAGAIN);            /* "ab" is to be read first */
    ck_assert_int_eq(sp_event_recv(w.loop, w.fd[0], buf, sizeof(buf)), 2);

    ck_assert_int_eq(sp_event_recv_release(w.loop, w.fd[0]), 0);
    ck_assert_int_eq(write(w.fd[1], "cd", 2), 2);
    ck_assert_int_eq(sp_event_poll(w.loop, 0), 0);
    ck_assert_int_eq(read(w.fd[0], buf, sizeof(buf)), 2);   /* still there */
    ck_assert(memcmp(buf, "cd", 2) == 0);
    watch_done(&w);
}
END_TEST

/* The ring holds the sockets it polls or receives on: forgetting one (its
 * owner closes it) lets go of it, so the peer sees it closed. */
START_TEST(test_uring_forget_closes_the_socket)
{
    struct sp_event_loop *loop;
    struct rec r;
    char buf[4];
    int sv[2];

    test_backend = "io_uring";
    loop = new_loop();
    rec_reset(&r);
    new_socketpair(sv);
    ck_assert_int_eq(sp_event_add(loop, sv[0], SP_EV_READ | SP_EV_WRITE,
                                  rec_handler, &r), 0);
    ck_assert_int_eq(sp_event_recv(loop, sv[0], buf, sizeof(buf)), -1);
    ck_assert_int_eq(sp_event_recv(loop, sv[0], buf, sizeof(buf)), -1);
    ck_assert_int_ge(sp_event_poll(loop, 0), 0);    /* poll and receive on */
    ck_assert_int_eq(sp_event_forget(loop, sv[0]), 0);
    close(sv[0]);
    /* its cancels go with the next wait */
    ck_assert_int_eq(sp_event_poll(loop, 0), 0);
    ck_assert_int_eq(read(sv[1], buf, sizeof(buf)), 0);     /* EOF */
    close(sv[1]);
    sp_event_loop_destroy(loop);
}
END_TEST

#endif /* SP_HAVE_URING */

/* The loop's tests, in a case named `name` of s. */
static TCase *
event_case(Suite *s, const char *name)
{
    return SP_TEST_CASE(s, name, 0,
    test_first_pass_then_hook_then_rest,
    test_forget_then_close_leaves_nothing_behind,
    test_signal_delivered_only_while_waiting,
    test_read_ready, test_write_ready,
    test_edge_triggered, test_level_triggered,
    test_peer_shutdown_and_close, test_error_on_pipe,
    test_modify_interest, test_modify_within_batch,
    test_del_then_no_dispatch,
    test_handler_removes_itself, test_stale_event_guard,
    test_eintr_is_zero, test_timer_order,
    test_timer_delete, test_timer_rearm,
    test_timer_many_random, test_timer_bounds_poll,
    test_timer_rearm_zero_no_spin,
    test_timer_phase_delete_other,
    test_timer_phase_rearm_other,
    test_timer_armed_by_handler_fires_same_poll,
    test_destroy_with_armed_timer);
}

Suite *
sp_test_event_suite(void)
{
    Suite *s = suite_create("event");
    TCase *tc = event_case(s, "event");

    tcase_add_test(tc, test_create_destroy);
    tcase_add_test(tc, test_default_max_fds);
    tcase_add_test(tc, test_add_errors);
#ifdef SP_HAVE_URING
    int err;

    if (sp_event_backend_usable("io_uring", &err)) {
        tc = event_case(s, "event_io_uring");
        tcase_add_checked_fixture(tc, sp_test_use_uring, NULL);
        tcase_add_test(tc, test_uring_backend_named);
        tcase_add_test(tc, test_uring_sends_go_out_together);
        tcase_add_test(tc, test_uring_send_cancel_and_full_socket);
        tcase_add_test(tc, test_uring_receives);
        tcase_add_test(tc, test_uring_buffers_held_by_unread_connections);
        tcase_add_test(tc, test_uring_release_leaves_bytes_in_the_socket);
        tcase_add_test(tc, test_uring_forget_closes_the_socket);
    }
#endif
    return s;
}
