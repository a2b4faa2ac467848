/*
 * sp_event_backend.h — the ops table between the loop (sp_event.c) and one
 * polling backend (sp_event_epoll.c; a kqueue or poll backend is one more
 * file filling the same table).
 *
 * A backend sees a descriptor, an interest mask (SP_EV_READ, SP_EV_WRITE,
 * SP_EV_LEVEL) and an opaque 64-bit cookie that it hands back with each
 * readiness report; it never sees handlers, data pointers or the fd table.
 * It owns its native event array, sized once at init for `batch` events, and
 * translates into the loop's sp_event_fired array on each poll.
 *
 * Every op returns -1 with errno set on failure and never logs; the loop
 * logs, naming the backend's syscall from the table. Private to src/event.
 */
#ifndef SP_EVENT_BACKEND_H
#define SP_EVENT_BACKEND_H

#include <stdint.h>

/* One readiness report: the cookie given at add/modify, SP_EV_* bits. */
struct sp_event_fired {
    uint64_t cookie;
    uint32_t ready;
};

struct sp_event_backend_ops {
    const char *name;           /* "epoll" */
    const char *init_call;      /* syscalls named in log lines */
    const char *ctl_call;
    const char *poll_call;

    /* A backend able to report up to batch events per poll; NULL + errno. */
    void *(*init)(int batch);
    void  (*destroy)(void *backend);

    int   (*add)(void *backend, int fd, uint32_t interest, uint64_t cookie);
    int   (*modify)(void *backend, int fd, uint32_t interest, uint64_t cookie);
    int   (*del)(void *backend, int fd);

    /*
     * Wait up to timeout_ms (-1: forever), with the signal mask sigmask
     * (a sigset_t; NULL: unchanged) and fill at most nfired reports.
     * Returns their number (0 when interrupted by a signal), or -1 + errno.
     */
    int   (*poll)(void *backend, struct sp_event_fired *fired, int nfired,
                  int timeout_ms, const void *sigmask);
};

extern const struct sp_event_backend_ops sp_event_epoll_ops;

#endif /* SP_EVENT_BACKEND_H */
