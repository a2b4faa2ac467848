/*
 * sp_event.h — the event loop: descriptors, timers, one wake-up at a time.
 *
 * The loop knows file descriptors, interest masks, opaque pointers and
 * deadlines; it knows nothing of connections or protocols. A backend (one
 * file each: sp_event_epoll.c) sits behind a small ops table, nginx's
 * ngx_event_actions_t / Redis's ae_*.c. The io_uring backend
 * (sp_event_uring.c, when built with liburing) also writes: see "Sends".
 *
 * Registration is edge-triggered by default, as nginx does: a descriptor is
 * added once with read and write interest and stays so for its life; the
 * owner reads until EAGAIN and writes until EAGAIN, so a request costs no
 * epoll_ctl at all. Level-triggered registration (SP_EV_LEVEL) exists for
 * listeners and for the master's channels.
 *
 * Stale-event guard: each registration has a generation; an event still
 * queued in the current batch for a descriptor that was removed (and maybe
 * reused by a new connection) within the batch is dropped, never dispatched
 * to the new owner.
 *
 * Timers live in a binary min-heap inside the loop (no global state); the
 * loop's clock is read once per wake-up (sp_event_now_ms).
 *
 * The loop is single-threaded and owned by one process (each worker creates
 * its own after fork; never share one across fork).
 */
#ifndef SP_EVENT_H
#define SP_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct sp_log;
struct sp_event_loop;

/* interest and readiness bits */
#define SP_EV_READ    0x01u
#define SP_EV_WRITE   0x02u
#define SP_EV_ERROR   0x04u     /* readiness only: EPOLLERR / EPOLLHUP */
#define SP_EV_RDHUP   0x08u     /* readiness only: peer closed its write side */
#define SP_EV_LEVEL   0x10u     /* interest only: level-triggered */
#define SP_EV_FIRST   0x20u     /* interest only: dispatched in the first pass */
#define SP_EV_EXCLUSIVE 0x40u   /* interest only: a descriptor shared by several
                                   processes wakes one of them (EPOLLEXCLUSIVE;
                                   add only, never modify) */

/*
 * Called with the readiness bits of fd (SP_EV_READ, SP_EV_WRITE,
 * SP_EV_ERROR, SP_EV_RDHUP). The handler may add, modify or remove any
 * descriptor, including its own, and close it.
 */
typedef void (*sp_event_handler)(struct sp_event_loop *loop, int fd,
                                 uint32_t ready, void *data);

struct sp_timer;
typedef void (*sp_timer_handler)(struct sp_event_loop *loop,
                                 struct sp_timer *timer);

/*
 * Embedded in its owner (a connection, a request); the loop never frees it.
 * Zero it (e.g. = (struct sp_timer){0}) before its first use.
 */
struct sp_timer {
    uint64_t         deadline_ms;   /* on the loop's monotonic clock */
    uint32_t         heap_index;    /* position in the heap; internal */
    bool             armed;
    sp_timer_handler handler;
    void            *data;
};

/*
 * A loop able to hold descriptors below max_fds (0: the RLIMIT_NOFILE soft
 * limit) and to take up to batch events per wake-up (0: 512). NULL on
 * failure, with errno set. log may be NULL (no logging).
 */
struct sp_event_loop *sp_event_loop_create(int max_fds, int batch,
                                           struct sp_log *log);
void sp_event_loop_destroy(struct sp_event_loop *loop);

/* The same on the backend named ("epoll", "io_uring"); NULL with ENOSYS
 * for one not built in, or the backend's own errno (ENOSYS, EPERM: the
 * kernel has no io_uring or forbids it). */
struct sp_event_loop *sp_event_loop_create_with(int max_fds, int batch,
                                                struct sp_log *log,
                                                const char *backend);

/* Whether a loop on the backend named can be created here; false with
 * *err (ENOSYS: not built in or not in the kernel, EPERM: disabled by
 * kernel.io_uring_disabled, ...). */
bool sp_event_backend_usable(const char *name, int *err);

/* "epoll", "io_uring" */
const char *sp_event_backend_name(const struct sp_event_loop *loop);

/*
 * Register fd with interest (SP_EV_READ | SP_EV_WRITE, plus SP_EV_LEVEL for
 * level-triggered). Returns 0, or -1 with errno set (EEXIST if registered,
 * EINVAL if fd >= max_fds).
 */
int sp_event_add(struct sp_event_loop *loop, int fd, uint32_t interest,
                 sp_event_handler handler, void *data);

/* Change the interest of a registered fd. Returns 0 or -1 with errno. */
int sp_event_modify(struct sp_event_loop *loop, int fd, uint32_t interest);

/* Send the events of a registered fd to another handler (the same data):
 * a layer that must see them first (a TLS handshake) steps in and out at
 * no cost to the others. Returns 0 or -1 with errno. */
int sp_event_set_handler(struct sp_event_loop *loop, int fd,
                         sp_event_handler handler);

/*
 * Unregister fd (before closing it). Events of fd still pending in the
 * current batch are dropped. Returns 0 or -1 with errno.
 */
int sp_event_del(struct sp_event_loop *loop, int fd);

/*
 * Unregister fd that the caller closes right after, when no other
 * descriptor (in any process) refers to the same socket: closing it then
 * removes it from the kernel's epoll set, so the loop only updates its own
 * table (and the stale-event guard) and spares the epoll_ctl call — one
 * syscall less per connection. Returns 0 or -1 with errno.
 */
int sp_event_forget(struct sp_event_loop *loop, int fd);

/*
 * One wake-up: wait up to timeout_ms (-1: until the next timer or forever;
 * 0: do not block) — never past the earliest timer — dispatch the ready
 * descriptors, then run expired timers. Returns the number of descriptor
 * events dispatched, or -1 with errno (EINTR is returned as 0).
 */
int sp_event_poll(struct sp_event_loop *loop, int timeout_ms);

/*
 * Two-pass dispatch (the accept lock): the events of descriptors registered
 * with SP_EV_FIRST are dispatched first, then hook(data) runs (it releases
 * the lock), then the rest of the batch. NULL: no hook.
 */
void sp_event_set_first_pass_hook(struct sp_event_loop *loop,
                                  void (*hook)(void *data), void *data);

/*
 * Signals: while the loop waits (and only then) the signal mask is `mask`
 * (epoll_pwait), so a process that blocks its signals everywhere else gets
 * them delivered only inside the wait, like sigsuspend: handlers set flags
 * and the caller reads them when sp_event_poll returns. NULL: keep the
 * process mask while waiting.
 */
void sp_event_set_wait_sigmask(struct sp_event_loop *loop, const void *mask);

/* An opaque pointer for handlers to find their owner (the loop keeps it). */
void sp_event_set_owner(struct sp_event_loop *loop, void *owner);
void *sp_event_loop_owner(const struct sp_event_loop *loop);

/* The loop's clock: CLOCK_MONOTONIC ms, read once per wake-up. */
uint64_t sp_event_now_ms(const struct sp_event_loop *loop);

/* The same cached clock in microseconds (latency histograms). */
uint64_t sp_event_now_us(const struct sp_event_loop *loop);

/* Refresh the cached clock (e.g. after a long computation). */
void sp_event_update_time(struct sp_event_loop *loop);

/* Arm (or re-arm) timer to fire after_ms from now. Returns 0 or -1 (ENOMEM). */
int sp_timer_add(struct sp_event_loop *loop, struct sp_timer *timer,
                 uint64_t after_ms, sp_timer_handler handler, void *data);

/* Disarm; harmless on a timer that is not armed. */
void sp_timer_del(struct sp_event_loop *loop, struct sp_timer *timer);

/* Armed timers (for tests and stats). */
uint32_t sp_timer_count(const struct sp_event_loop *loop);

/*
 * Sends (io_uring only; sp_event_sends says whether the backend has them).
 * The writes of one loop turn are staged and go to the kernel together, in
 * one system call (sp_event_submit, or the next poll), instead of a writev
 * each. A staged send is MSG_DONTWAIT: it takes what the socket can hold
 * within that call, or fails with EAGAIN, and never waits.
 *
 * sp_event_send_stage copies iov (not the bytes: they must stay put until
 * the send is done or cancelled) and returns the send, or NULL with errno
 * (ENOBUFS: the stage is full this turn, write directly; EOPNOTSUPP).
 * When it is done the loop's send handler is called with its owner; then
 * sp_event_send_result gives its result (bytes, or -errno) and releases it
 * (before: -1, EINPROGRESS). An owner that goes away cancels its send: a
 * send not submitted yet is never made.
 */
struct sp_event_send;
typedef void (*sp_event_send_handler)(struct sp_event_loop *loop,
                                      void *owner);

bool sp_event_sends(const struct sp_event_loop *loop);
void sp_event_set_send_handler(struct sp_event_loop *loop,
                               sp_event_send_handler handler);
struct sp_event_send *sp_event_send_stage(struct sp_event_loop *loop, int fd,
                                          const struct iovec *iov, int iovcnt,
                                          void *owner);
int sp_event_send_result(struct sp_event_loop *loop,
                         struct sp_event_send *send, ssize_t *result);
void sp_event_send_cancel(struct sp_event_loop *loop,
                          struct sp_event_send *send);

/* Submit the staged sends (one system call; none if nothing is staged):
 * the number done (their owners' handler ran), or -1 with errno. */
int sp_event_submit(struct sp_event_loop *loop);

/*
 * Receives (io_uring; read(2) elsewhere). sp_event_recv is read(2) on a
 * registered descriptor, edge-triggered: once the caller has drained it
 * (a short read, or EAGAIN), the backend may receive its next bytes into
 * its own buffers, then report SP_EV_READ, and the next sp_event_recv
 * copies from there, no system call. A descriptor with bytes held so
 * stays readable until they are read; one left unread keeps its buffer
 * (and the kernel its window: nothing more is received meanwhile).
 *
 * sp_event_recv_release: fd is to go to another process; the backend stops
 * receiving for it. -1 with EAGAIN when bytes were received that the caller
 * is still to read (a readiness report is pending for them).
 */
ssize_t sp_event_recv(struct sp_event_loop *loop, int fd, void *buf,
                      size_t len);
int sp_event_recv_release(struct sp_event_loop *loop, int fd);

#endif /* SP_EVENT_H */
