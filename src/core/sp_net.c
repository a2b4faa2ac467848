/*
 * sp_net.c — socket helpers (see sp_net.h).
 */
#include "sp_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int
sp_net_fail(char *err, size_t errlen, const char *what, int fd)
{
    int saved = errno;

    snprintf(err, errlen, "%s: %s", what, strerror(saved));
    if (fd >= 0) {
        close(fd);
    }
    errno = saved;
    return -1;
}

static int
sp_net_listen_sa(const struct sockaddr *sa, socklen_t salen, int backlog,
                 bool reuseport, char *err, size_t errlen)
{
    int one = 1;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);

    if (fd < 0) {
        return sp_net_fail(err, errlen, "socket()", -1);
    }
    if (sa->sa_family != AF_UNIX) {
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
            return sp_net_fail(err, errlen, "setsockopt(SO_REUSEADDR)", fd);
        }
        if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
                                    sizeof(one)) != 0) {
            return sp_net_fail(err, errlen, "setsockopt(SO_REUSEPORT)", fd);
        }
    }
    if (bind(fd, sa, salen) != 0) {
        return sp_net_fail(err, errlen, "bind()", fd);
    }
    if (listen(fd, backlog > 0 ? backlog : SOMAXCONN) != 0) {
        return sp_net_fail(err, errlen, "listen()", fd);
    }
    return fd;
}

int
sp_net_probe_free(const struct sp_conf_addr *addr, char *err, size_t errlen)
{
    const struct sockaddr *sa = (const struct sockaddr *)&addr->sa;
    int one = 1;
    int fd;

    if (addr->is_unix) {
        return 0;
    }
    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return sp_net_fail(err, errlen, "socket()", -1);
    }
    /* SO_REUSEADDR (TIME_WAIT leftovers do not count), no SO_REUSEPORT: a
     * socket another process listens on makes this bind fail */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, sa, addr->salen) != 0) {
        return sp_net_fail(err, errlen, "bind()", fd);
    }
    close(fd);
    return 0;
}

int
sp_net_listen(const struct sp_conf_addr *addr, int backlog, bool reuseport,
              char *err, size_t errlen)
{
    int fd;

    if (addr->is_unix) {
        struct stat st;

        /* a socket file left by a previous run; never remove other files */
        if (lstat(addr->host, &st) == 0 && S_ISSOCK(st.st_mode)) {
            unlink(addr->host);
        }
    }
    fd = sp_net_listen_sa((const struct sockaddr *)&addr->sa, addr->salen,
                          backlog, reuseport, err, errlen);
    if (fd >= 0 && addr->is_unix && addr->perm != 0
        && chmod(addr->host, addr->perm) != 0) {
        return sp_net_fail(err, errlen, "chmod()", fd);
    }
    return fd;
}

int
sp_net_listen_host(const char *host, unsigned port, int backlog, char *err,
                   size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    char service[8];
    int rc, fd;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    snprintf(service, sizeof(service), "%u", port);
    rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, errlen, "getaddrinfo(%s): %s", host, gai_strerror(rc));
        return -1;
    }
    fd = sp_net_listen_sa(res->ai_addr, res->ai_addrlen, backlog, false, err,
                          errlen);
    freeaddrinfo(res);
    return fd;
}

int
sp_net_connect(const struct sp_conf_addr *addr)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    int fd;

    memset(&ss, 0, sizeof(ss));
    if (addr->is_unix) {
        struct sockaddr_un *un = (struct sockaddr_un *)&ss;
        size_t len = strlen(addr->host);

        if (len >= sizeof(un->sun_path)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, addr->host, len + 1);
        sslen = sizeof(*un);
    } else {
        struct addrinfo hints, *res = NULL;
        char service[8];

        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICSERV;
        snprintf(service, sizeof(service), "%u", (unsigned)addr->port);
        if (getaddrinfo(addr->host, service, &hints, &res) != 0 || res == NULL) {
            errno = EHOSTUNREACH;
            return -1;
        }
        memcpy(&ss, res->ai_addr, res->ai_addrlen);
        sslen = res->ai_addrlen;
        freeaddrinfo(res);
    }

    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&ss, sslen) != 0
        && errno != EINPROGRESS) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int
sp_net_socket_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        return errno;
    }
    return err;
}

int
sp_net_set_nodelay(int fd)
{
    int one = 1;

    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int
sp_net_set_keepalive(int fd)
{
    int one = 1;

    return setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

void
sp_net_peer_name(int fd, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN];

    if (cap == 0) {
        return;
    }
    snprintf(out, cap, "?");
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0) {
        return;
    }
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        if (inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host)) != NULL) {
            snprintf(out, cap, "%s:%u", host, (unsigned)ntohs(in->sin_port));
        }
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host)) != NULL) {
            snprintf(out, cap, "[%s]:%u", host,
                     (unsigned)ntohs(in6->sin6_port));
        }
    } else if (ss.ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        if (len > off && un->sun_path[0] != '\0') {
            snprintf(out, cap, "unix:%.*s", (int)(len - off), un->sun_path);
        } else {
            snprintf(out, cap, "unix");
        }
    }
}
