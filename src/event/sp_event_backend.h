/*
 * sp_event_backend.h — the ops table between the loop (sp_event.c) and one
 * polling backend (sp_event_epoll.c, sp_event_uring.c; a kqueue or poll
 * backend is one more file filling the same table).
 *
 * A backend sees a descriptor, an interest mask (SP_EV_READ, SP_EV_WRITE,
 * SP_EV_LEVEL) and an opaque 64-bit cookie that it hands back with each
 * readiness report; it never sees handlers, data pointers or the fd table.
 * It owns its native event array, sized once at init for `batch` events, and
 * translates into the loop's sp_event_fired array on each poll.
 *
 * A backend that can write for the loop's owner (io_uring) also fills the
 * send ops: a send is staged during a loop turn, the stage goes to the
 * kernel in one system call (submit, or the next poll), and each finished
 * send is announced through the `done` callback given at init. It may also
 * receive: the bytes of a descriptor land in the backend's buffers without
 * a read(2), and a readiness report says they are there. The others leave
 * those ops NULL.
 *
 * Every op returns -1 with errno set on failure and never logs; the loop
 * logs, naming the backend's syscall from the table. Private to src/event.
 */
#ifndef SP_EVENT_BACKEND_H
#define SP_EVENT_BACKEND_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* One readiness report: the cookie given at add/modify, SP_EV_* bits. */
struct sp_event_fired {
    uint64_t cookie;
    uint32_t ready;
};

/* A staged send finished: its owner (as given to send_stage). */
typedef void (*sp_event_backend_done)(void *arg, void *owner);

struct sp_event_backend_ops {
    const char *name;           /* "epoll" */
    const char *init_call;      /* syscalls named in log lines */
    const char *ctl_call;
    const char *poll_call;

    /* A backend for descriptors below max_fds, able to report up to batch
     * events per poll; NULL + errno. done(arg, owner) announces finished
     * sends (backends that send). */
    void *(*init)(int max_fds, int batch, sp_event_backend_done done,
                  void *arg);
    void  (*destroy)(void *backend);

    int   (*add)(void *backend, int fd, uint32_t interest, uint64_t cookie);
    int   (*modify)(void *backend, int fd, uint32_t interest, uint64_t cookie);
    int   (*del)(void *backend, int fd);
    /* fd is closed right after and no other descriptor refers to its
     * socket; NULL: closing is enough (epoll) */
    int   (*forget)(void *backend, int fd);

    /*
     * Wait up to timeout_ms (-1: forever), with the signal mask sigmask
     * (a sigset_t; NULL: unchanged) and fill at most nfired reports.
     * Returns their number (0 when interrupted by a signal), or -1 + errno.
     */
    int   (*poll)(void *backend, struct sp_event_fired *fired, int nfired,
                  int timeout_ms, const void *sigmask);

    /* ---- sends (NULL where the backend does not send) ---- */

    /* Stage a send of iov on fd; the iovec array is copied, the bytes must
     * stay put until the send is done or cancelled. NULL + errno (ENOBUFS:
     * the stage is full, the caller writes itself). */
    void *(*send_stage)(void *backend, int fd, const struct iovec *iov,
                        int iovcnt, void *owner);
    /* 0 and *result (bytes, or -errno) once done (the send is released),
     * -1 with EINPROGRESS before. */
    int   (*send_result)(void *backend, void *send, ssize_t *result);
    /* Its owner is gone: a send not submitted yet is never made. */
    void  (*send_cancel)(void *backend, void *send);
    /* Submit what is staged; the number of sends announced done. */
    int   (*submit)(void *backend);

    /* ---- receives (NULL where the backend does not receive) ---- */

    /* As read(2) on fd: bytes the backend received for it, or read()
     * itself; -1 with EAGAIN while the backend waits for its bytes (a
     * readiness report comes with them). */
    ssize_t (*recv)(void *backend, int fd, void *buf, size_t len);
    /* fd goes to another process: stop receiving for it; -1 with EAGAIN
     * when bytes were received that are still to be read. */
    int   (*recv_release)(void *backend, int fd);
};

extern const struct sp_event_backend_ops sp_event_epoll_ops;
#ifdef SP_HAVE_URING
extern const struct sp_event_backend_ops sp_event_uring_ops;
#endif

/* epoll's event bits for SP_EV_* interest, and SP_EV_* for epoll's event
 * bits (sp_event_epoll.c): the epoll backend's, and the io_uring backend's
 * inner epoll for listeners. */
uint32_t sp_epoll_events(uint32_t interest);
uint32_t sp_epoll_ready(uint32_t events);

#endif /* SP_EVENT_BACKEND_H */
