/*
 * sp_sentinel_locate.c — the current masters for --locate (see
 * sp_sentinel_locate.h): one blocking connection per sentinel tried,
 * every question pipelined, the answers read with sp_resp_parse.
 */
#include "sp_sentinel_locate.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sp_net.h"
#include "sp_resp_conn.h"

static uint64_t
sp_locate_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait for fd to be ready for `events` until deadline. 0 / -1. */
static int
sp_locate_wait(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = sp_locate_now_ms();
        struct pollfd p = { .fd = fd, .events = events };

        if (now >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
        int n = poll(&p, 1, (int)(deadline - now));
        if (n > 0) {
            return 0;
        }
        if (n < 0 && errno != EINTR) {
            return -1;
        }
    }
}

/* Append one command (bulk strings) to buf. 0 / -1 (no room). */
static int
sp_locate_command(char *buf, size_t size, size_t *len, int argc,
                  const char *const *argv)
{
    int n = snprintf(buf + *len, size - *len, "*%d\r\n", argc);

    if (n < 0 || (size_t)n >= size - *len) {
        return -1;
    }
    *len += (size_t)n;
    for (int i = 0; i < argc; i++) {
        size_t alen = strlen(argv[i]);
        n = snprintf(buf + *len, size - *len, "$%zu\r\n", alen);
        if (n < 0 || (size_t)n + alen + 2 >= size - *len) {
            return -1;
        }
        *len += (size_t)n;
        memcpy(buf + *len, argv[i], alen);
        *len += alen;
        memcpy(buf + *len, "\r\n", 2);
        *len += 2;
    }
    return 0;
}

/* Ask one sentinel; hosts[i] / ports[i] get the answers. 0 / -1 (why). */
static int
sp_locate_ask(const struct sp_conf_pool *pool, const struct sp_conf_addr *at,
              char **hosts, uint16_t *ports, char *why, size_t whylen)
{
    uint64_t deadline = sp_locate_now_ms() + SP_SENTINEL_LOCATE_MS;
    size_t out_len = 0, out_sent = 0, in_len = 0, size = 64 * 1024;
    char *out = malloc(size), *in = malloc(size);
    uint32_t expect = pool->nservers + (pool->sentinel_auth != NULL);
    uint32_t got = 0;
    int fd = -1, rc = -1;

    if (out == NULL || in == NULL) {
        snprintf(why, whylen, "out of memory");
        goto done;
    }
    if (pool->sentinel_auth != NULL) {
        const char *argv[3] = { "AUTH" };
        int argc = 1;
        if (pool->sentinel_auth_user != NULL) {
            argv[argc++] = pool->sentinel_auth_user;
        }
        argv[argc++] = pool->sentinel_auth;
        (void)sp_locate_command(out, size, &out_len, argc, argv);
    }
    for (uint32_t i = 0; i < pool->nservers; i++) {
        const char *argv[] = { "SENTINEL", "GET-MASTER-ADDR-BY-NAME",
                               pool->servers[i].name };
        if (sp_locate_command(out, size, &out_len, 3, argv) != 0) {
            snprintf(why, whylen, "too many servers to ask at once");
            goto done;
        }
    }
    fd = sp_net_connect(at);            /* non-blocking */
    if (fd < 0 || sp_locate_wait(fd, POLLOUT, deadline) != 0
        || sp_net_socket_error(fd) != 0) {
        int err = fd >= 0 && sp_net_socket_error(fd) != 0
                  ? sp_net_socket_error(fd) : errno;
        snprintf(why, whylen, "cannot connect: %s", strerror(err));
        goto done;
    }
    while (out_sent < out_len) {
        ssize_t n = write(fd, out + out_sent, out_len - out_sent);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (sp_locate_wait(fd, POLLOUT, deadline) != 0) {
                snprintf(why, whylen, "%s", strerror(errno));
                goto done;
            }
            continue;
        }
        if (n < 0) {
            snprintf(why, whylen, "%s", strerror(errno));
            goto done;
        }
        out_sent += (size_t)n;
    }
    while (got < expect) {
        struct sp_resp_reply reply;
        long used = sp_resp_parse(in, in_len, &reply);

        if (used < 0) {
            snprintf(why, whylen, "sent a reply that is not RESP");
            goto done;
        }
        if (used == 0) {
            if (in_len == size) {
                snprintf(why, whylen, "sent a reply longer than expected");
                goto done;
            }
            if (sp_locate_wait(fd, POLLIN, deadline) != 0) {
                snprintf(why, whylen, "%s", strerror(errno));
                goto done;
            }
            ssize_t n = read(fd, in + in_len, size - in_len);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                snprintf(why, whylen, "%s", n == 0 ? "closed the connection"
                                                   : strerror(errno));
                goto done;
            }
            in_len += n > 0 ? (size_t)n : 0;
            continue;
        }
        uint32_t index = got++ - (pool->sentinel_auth != NULL);
        if (pool->sentinel_auth != NULL && got == 1) {
            if (reply.top.type == '-') {
                snprintf(why, whylen, "AUTH refused: %.*s",
                         (int)reply.top.len, reply.top.s);
                goto done;
            }
        } else if (reply.top.type == '*' && reply.nitems == 2
                   && reply.items[0].type == '$'
                   && reply.items[1].type == '$'
                   && reply.items[1].len > 0 && reply.items[1].len < 6) {
            char port[8];
            char *end;
            memcpy(port, reply.items[1].s, reply.items[1].len);
            port[reply.items[1].len] = '\0';
            unsigned long p = strtoul(port, &end, 10);
            hosts[index] = strndup(reply.items[0].s, reply.items[0].len);
            ports[index] = *end == '\0' && p > 0 && p <= 65535
                           ? (uint16_t)p : 0;
            if (hosts[index] == NULL || ports[index] == 0) {
                snprintf(why, whylen, "a bad address for '%s'",
                         pool->servers[index].name);
                goto done;
            }
        } else {
            snprintf(why, whylen, "knows no master named '%s'",
                     pool->servers[index].name);
            goto done;
        }
        memmove(in, in + used, in_len - (size_t)used);
        in_len -= (size_t)used;
    }
    rc = 0;
done:
    if (fd >= 0) {
        close(fd);
    }
    free(out);
    free(in);
    return rc;
}

int
sp_sentinel_locate(struct sp_conf_pool *pool, FILE *err)
{
    char **hosts;
    uint16_t *ports;
    int rc = -1;

    if (pool->nsentinels == 0) {
        return 0;
    }
    hosts = calloc(pool->nservers, sizeof(*hosts));
    ports = calloc(pool->nservers, sizeof(*ports));
    for (uint32_t s = 0; hosts != NULL && ports != NULL
                         && s < pool->nsentinels; s++) {
        char why[200];

        if (sp_locate_ask(pool, &pool->sentinels[s], hosts, ports, why,
                          sizeof(why)) == 0) {
            for (uint32_t i = 0; i < pool->nservers; i++) {
                free(pool->servers[i].addr.host);
                pool->servers[i].addr.host = hosts[i];
                pool->servers[i].addr.port = ports[i];
                hosts[i] = NULL;
            }
            rc = 0;
            break;
        }
        fprintf(err, "shardproxy: pool '%s': sentinel %s:%u: %s\n",
                pool->name, pool->sentinels[s].host,
                (unsigned)pool->sentinels[s].port, why);
        for (uint32_t i = 0; i < pool->nservers; i++) {
            free(hosts[i]);
            hosts[i] = NULL;
        }
    }
    if (rc != 0) {
        fprintf(err, "shardproxy: pool '%s': no sentinel answered; the "
                "addresses shown are the configuration's, not necessarily "
                "the current masters\n", pool->name);
    }
    free(hosts);
    free(ports);
    return rc;
}
