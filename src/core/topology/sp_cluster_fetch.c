/*
 * sp_cluster_fetch.c — a cluster map asked of one node, blocking (see
 * sp_cluster_fetch in sp_cluster_map.h): the master's first map before
 * its workers start, and `--locate`. Each step (connect, every reply) has
 * its own deadline; nothing here runs on a data path.
 */
#include "sp_cluster_map.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "sp_conf.h"
#include "sp_net.h"

#define SP_FETCH_MAX (64u * 1024 * 1024)   /* the longest map taken */

struct sp_fetch {
    int    fd;
    int    timeout_ms;
    char  *in;
    size_t len, cap;
};

static int
sp_fetch_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int
sp_fetch_wait(struct sp_fetch *f, short events)
{
    struct pollfd p = { .fd = f->fd, .events = events };
    int n;

    do {
        n = poll(&p, 1, f->timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    return n < 0 ? -1 : 0;
}

static int
sp_fetch_send(struct sp_fetch *f, int argc, const char *const *argv)
{
    char out[1024];
    size_t n = (size_t)snprintf(out, sizeof(out), "*%d\r\n", argc);

    for (int i = 0; i < argc && n < sizeof(out); i++) {
        n += (size_t)snprintf(out + n, sizeof(out) - n, "$%zu\r\n%s\r\n",
                              strlen(argv[i]), argv[i]);
    }
    if (n >= sizeof(out)) {
        errno = E2BIG;
        return -1;
    }
    for (size_t sent = 0; sent < n;) {
        ssize_t w = write(f->fd, out + sent, n - sent);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (sp_fetch_wait(f, POLLOUT) != 0) {
                return -1;
            }
            continue;
        }
        if (w < 0) {
            return -1;
        }
        sent += (size_t)w;
    }
    return 0;
}

/* The next whole reply: at f->in, its length (the caller drops it). */
static long
sp_fetch_reply(struct sp_fetch *f)
{
    for (;;) {
        long n = sp_cluster_reply_len(f->in, f->len);
        if (n != 0) {
            if (n < 0) {
                errno = EPROTO;
            }
            return n;
        }
        if (f->len == f->cap) {
            size_t cap = f->cap == 0 ? 16384 : f->cap * 2;
            char *in;
            if (cap > SP_FETCH_MAX || (in = realloc(f->in, cap)) == NULL) {
                errno = ENOMEM;
                return -1;
            }
            f->in = in;
            f->cap = cap;
        }
        if (sp_fetch_wait(f, POLLIN) != 0) {
            return -1;
        }
        ssize_t r = read(f->fd, f->in + f->len, f->cap - f->len);
        if (r == 0) {
            errno = ECONNRESET;
            return -1;
        }
        if (r < 0 && errno != EAGAIN && errno != EINTR) {
            return -1;
        }
        f->len += r > 0 ? (size_t)r : 0;
    }
}

static void
sp_fetch_drop(struct sp_fetch *f, long n)
{
    memmove(f->in, f->in + n, f->len - (size_t)n);
    f->len -= (size_t)n;
}

int
sp_cluster_fetch(struct sp_cluster_map *map, const char *host, uint16_t port,
                 const char *user, const char *pass, int timeout_ms,
                 char *err, size_t errlen)
{
    struct sp_conf_addr addr = { .host = (char *)host, .port = port };
    struct sp_fetch f = { .fd = -1, .timeout_ms = timeout_ms };
    const char *shards[] = { "CLUSTER", "SHARDS" };
    const char *slots[] = { "CLUSTER", "SLOTS" };
    bool use_shards = true;
    int rc = -1;
    long n;

    f.fd = sp_net_connect(&addr);
    if (f.fd < 0 || sp_fetch_wait(&f, POLLOUT) != 0
        || (errno = sp_net_socket_error(f.fd)) != 0) {
        sp_fetch_fail(err, errlen, "cannot connect: %s", strerror(errno));
        goto out;
    }
    if (pass != NULL) {
        const char *auth[3] = { "AUTH" };
        int argc = 1;
        if (user != NULL) {
            auth[argc++] = user;
        }
        auth[argc++] = pass;
        if (sp_fetch_send(&f, argc, auth) != 0 || (n = sp_fetch_reply(&f)) < 0) {
            sp_fetch_fail(err, errlen, "AUTH: %s", strerror(errno));
            goto out;
        }
        if (f.in[0] == '-') {
            sp_fetch_fail(err, errlen, "AUTH refused: %.*s",
                          (int)(n > 3 ? n - 3 : 0), f.in + 1);
            goto out;
        }
        sp_fetch_drop(&f, n);
    }
    for (;;) {
        if (sp_fetch_send(&f, 2, use_shards ? shards : slots) != 0
            || (n = sp_fetch_reply(&f)) < 0) {
            sp_fetch_fail(err, errlen, "CLUSTER %s: %s",
                          use_shards ? "SHARDS" : "SLOTS", strerror(errno));
            goto out;
        }
        if (use_shards && f.in[0] == '-'
            && strncasecmp(f.in, "-ERR unknown subcommand", 23) == 0) {
            sp_fetch_drop(&f, n);
            use_shards = false;         /* before Redis 7 */
            continue;
        }
        break;
    }
    rc = sp_cluster_map_parse(map, use_shards, f.in, (size_t)n, host, err,
                              errlen);
out:
    if (f.fd >= 0) {
        close(f.fd);
    }
    free(f.in);
    return rc;
}
