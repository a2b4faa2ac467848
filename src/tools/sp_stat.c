/*
 * sp_stat.c — the loop of `shardproxy --stat` (see sp_stat.h): read the
 * stats port every interval, keep the previous read, draw the difference.
 * Reading is a connect and a read to the end, each bounded in time, so a
 * proxy that does not answer makes the view say so, not hang.
 */
#include "sp_stat.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SP_STAT_TIMEOUT_MS  3000                /* to connect, then to read */
#define SP_STAT_MAX_BYTES   (64u * 1024 * 1024) /* one stats document */

/* Wait for fd to be ready for events within the deadline (monotonic ms). */
static int
sp_stat_wait(int fd, short events, int64_t deadline_ms)
{
    struct timespec ts;
    struct pollfd pfd = { .fd = fd, .events = events };

    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t left = deadline_ms - (ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        int n = poll(&pfd, 1, (int)left);
        if (n > 0) {
            return 0;
        }
        if (n < 0 && errno != EINTR) {
            return -1;
        }
    }
}

static int64_t
sp_stat_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connect to addr:port within the deadline: the socket, or -1 with the
 * reason in why. */
static int
sp_stat_connect(const char *addr, uint16_t port, int64_t deadline_ms,
                char *why, size_t whylen)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC,
                              .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    char service[8];
    int fd = -1, rc, err = EADDRNOTAVAIL;

    snprintf(service, sizeof(service), "%u", port);
    rc = getaddrinfo(addr, service, &hints, &res);
    if (rc != 0) {
        snprintf(why, whylen, "%s", gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        socklen_t len = sizeof(err);

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            err = 0;
        } else if (errno != EINPROGRESS) {
            err = errno;
        } else if (sp_stat_wait(fd, POLLOUT, deadline_ms) != 0) {
            err = errno;
        } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
            err = errno;
        }
        if (err == 0) {
            freeaddrinfo(res);
            return fd;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    snprintf(why, whylen, "%s", strerror(err));
    return -1;
}

/* One read of the stats port: the document, or NULL with why. */
static struct sp_json *
sp_stat_fetch(const char *addr, uint16_t port, char *why, size_t whylen)
{
    int64_t deadline = sp_stat_now_ms() + SP_STAT_TIMEOUT_MS;
    size_t len = 0, cap = 65536;
    char *text = NULL;
    struct sp_json *doc = NULL;
    int fd = sp_stat_connect(addr, port, deadline, why, whylen);

    if (fd < 0) {
        return NULL;
    }
    text = malloc(cap);
    deadline = sp_stat_now_ms() + SP_STAT_TIMEOUT_MS;
    while (text != NULL) {
        ssize_t n;

        if (cap - len < 4096) {
            char *grown = cap < SP_STAT_MAX_BYTES ? realloc(text, cap * 2) : NULL;
            if (grown == NULL) {
                snprintf(why, whylen, "the stats document is over %u bytes",
                         SP_STAT_MAX_BYTES);
                goto out;
            }
            text = grown;
            cap *= 2;
        }
        n = read(fd, text + len, cap - len);
        if (n > 0) {
            len += (size_t)n;
            continue;
        }
        if (n == 0) {
            break;
        }
        if (errno == EINTR) {
            continue;
        }
        if ((errno != EAGAIN && errno != EWOULDBLOCK)
            || sp_stat_wait(fd, POLLIN, deadline) != 0) {
            snprintf(why, whylen, "read: %s", strerror(errno));
            goto out;
        }
    }
    if (text == NULL) {
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    doc = sp_json_parse(text, len, why, whylen);
    if (doc != NULL && doc->type != SP_JSON_OBJECT) {
        snprintf(why, whylen, "the stats port did not answer a JSON object");
        sp_json_free(doc);
        doc = NULL;
    }
out:
    free(text);
    close(fd);
    return doc;
}

static void
sp_stat_sleep_until(int64_t when_ms)
{
    struct timespec ts = { .tv_sec = when_ms / 1000,
                           .tv_nsec = (when_ms % 1000) * 1000000 };

    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

int
sp_stat_run(const struct sp_options *opts)
{
    bool tty = isatty(STDOUT_FILENO) == 1;
    struct sp_json *prev, *cur;
    int64_t prev_ms, next_ms;
    char why[256] = "";

    prev = sp_stat_fetch(opts->stats_addr, opts->stats_port, why, sizeof(why));
    if (prev == NULL) {
        fprintf(stderr, "shardproxy: cannot read the stats port %s:%u: %s\n",
                opts->stats_addr, opts->stats_port, why);
        return EXIT_FAILURE;
    }
    prev_ms = sp_stat_now_ms();
    next_ms = prev_ms + opts->stat_interval_ms;
    for (;;) {
        sp_stat_sleep_until(next_ms);
        next_ms += opts->stat_interval_ms;
        cur = sp_stat_fetch(opts->stats_addr, opts->stats_port, why,
                            sizeof(why));
        int64_t now_ms = sp_stat_now_ms();
        if (next_ms <= now_ms) {
            next_ms = now_ms + opts->stat_interval_ms;  /* never catch up */
        }
        if (tty) {
            fputs("\033[H\033[2J", stdout);     /* home, clear: a redraw */
        } else {
            char stamp[32];
            time_t t = time(NULL);
            strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
            printf("# %s %s:%u\n", stamp, opts->stats_addr, opts->stats_port);
        }
        if (cur == NULL) {
            /* a restart, say: keep looking, the next read starts over */
            printf("cannot read the stats port %s:%u: %s\n", opts->stats_addr,
                   opts->stats_port, why);
        } else {
            sp_stat_render(stdout, prev, cur, (double)(now_ms - prev_ms) / 1000.0,
                           tty);
            sp_json_free(prev);
            prev = cur;
            prev_ms = now_ms;
        }
        if (!tty) {
            putchar('\n');
        }
        if (fflush(stdout) != 0) {
            break;              /* the reader went away */
        }
    }
    sp_json_free(prev);
    return EXIT_SUCCESS;
}
