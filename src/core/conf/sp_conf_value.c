/*
 * sp_conf_value.c — numbers, listen addresses and server entries
 * (see sp_conf_value.h). Strings are split from the right, as nutcracker
 * does: the name after the last space, the weight after the last colon,
 * the port after the colon before it.
 */
#include "sp_conf_value.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

int
sp_conf_parse_number(const char *s, int64_t max, int64_t *out,
                     const char **why)
{
    int64_t value = 0;

    if (*s == '\0') {
        *why = "is empty; a number is expected";
        return -1;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            *why = "is not a non-negative integer";
            return -1;
        }
        value = value * 10 + (*p - '0');
        if (value > max) {
            *why = "is out of range";
            return -1;
        }
    }
    *out = value;
    return 0;
}

static char *
sp_strndup(const char *s, size_t len)
{
    char *copy = malloc(len + 1);

    if (copy != NULL) {
        memcpy(copy, s, len);
        copy[len] = '\0';
    }
    return copy;
}

/* A port: digits, 1..65535. */
static int
sp_conf_parse_port(const char *s, size_t len, uint16_t *port)
{
    int64_t value = 0;

    if (len == 0 || len > 5) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        value = value * 10 + (s[i] - '0');
    }
    if (value < 1 || value > 65535) {
        return -1;
    }
    *port = (uint16_t)value;
    return 0;
}

/*
 * Split "host:port" (host may be "[v6]") held in s[0..len) into an allocated
 * host without brackets and the port.
 */
static int
sp_conf_split_host_port(const char *s, size_t len, struct sp_conf_addr *addr,
                        const char **why)
{
    const char *colon = NULL;

    for (size_t i = len; i > 0; i--) {
        if (s[i - 1] == ':') {
            colon = s + i - 1;
            break;
        }
    }
    if (colon == NULL) {
        *why = "is not in \"host:port\" form";
        return -1;
    }
    if (sp_conf_parse_port(colon + 1, len - (size_t)(colon + 1 - s),
                           &addr->port) != 0) {
        *why = "has an invalid port (1..65535 expected)";
        return -1;
    }

    const char *host = s;
    size_t hostlen = (size_t)(colon - s);
    if (hostlen >= 2 && host[0] == '[' && host[hostlen - 1] == ']') {
        host++;
        hostlen -= 2;
    } else if (memchr(host, ':', hostlen) != NULL) {
        *why = "has an IPv6 address without [brackets]";
        return -1;
    }
    addr->host = sp_strndup(host, hostlen);
    if (addr->host == NULL) {
        *why = "could not be stored: out of memory";
        return -1;
    }
    addr->is_unix = false;
    return 0;
}

int
sp_conf_parse_listen(const char *s, struct sp_conf_addr *addr,
                     const char **why)
{
    size_t len = strlen(s);

    memset(addr, 0, sizeof(*addr));
    if (len == 0) {
        *why = "is empty";
        return -1;
    }
    if (s[0] != '/') {
        return sp_conf_split_host_port(s, len, addr, why);
    }

    const char *space = strrchr(s, ' ');
    size_t pathlen = space != NULL ? (size_t)(space - s) : len;
    if (space != NULL) {
        const char *perm = space + 1;
        unsigned long mode = 0;

        if (*perm == '\0' || strspn(perm, "01234567") != strlen(perm)
            || strlen(perm) > 4) {
            *why = "has an invalid permission (octal, e.g. 0666, expected)";
            return -1;
        }
        mode = strtoul(perm, NULL, 8);
        if (mode > 0777) {
            *why = "has an invalid permission (at most 0777)";
            return -1;
        }
        addr->perm = (mode_t)mode;
    }
    while (pathlen > 0 && s[pathlen - 1] == ' ') {
        pathlen--;
    }
    if (pathlen >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        *why = "is a socket path longer than the system allows (107 bytes)";
        return -1;
    }
    addr->host = sp_strndup(s, pathlen);
    if (addr->host == NULL) {
        *why = "could not be stored: out of memory";
        return -1;
    }
    addr->is_unix = true;
    return 0;
}

int
sp_conf_resolve_listen(struct sp_conf_addr *addr, const char **why)
{
    struct addrinfo hints, *res = NULL;
    char port[8];
    int rc;

    if (addr->is_unix) {
        struct sockaddr_un *un = (struct sockaddr_un *)&addr->sa;

        memset(&addr->sa, 0, sizeof(addr->sa));
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, addr->host, strlen(addr->host) + 1);
        addr->salen = (socklen_t)sizeof(*un);
        return 0;
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    snprintf(port, sizeof(port), "%u", (unsigned)addr->port);

    rc = getaddrinfo(addr->host[0] != '\0' ? addr->host : NULL, port, &hints,
                     &res);
    if (rc != 0 || res == NULL) {
        *why = "cannot be resolved";
        return -1;
    }
    memcpy(&addr->sa, res->ai_addr, res->ai_addrlen);
    addr->salen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int
sp_conf_addr_equal(const struct sp_conf_addr *a, const struct sp_conf_addr *b)
{
    if (a->is_unix || b->is_unix) {
        return a->is_unix && b->is_unix && strcmp(a->host, b->host) == 0;
    }
    if (a->sa.ss_family != b->sa.ss_family) {
        return 0;
    }
    if (a->sa.ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)&a->sa;
        const struct sockaddr_in *y = (const struct sockaddr_in *)&b->sa;
        return x->sin_port == y->sin_port
               && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)&a->sa;
        const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)&b->sa;
        return x->sin6_port == y->sin6_port
               && memcmp(&x->sin6_addr, &y->sin6_addr,
                         sizeof(x->sin6_addr)) == 0;
    }
    return 0;
}

static int
sp_conf_parse_weight(const char *s, size_t len, uint32_t *weight,
                     const char **why)
{
    int64_t value = 0;

    if (len == 0) {
        *why = "has no weight";
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            *why = "has an invalid weight (a positive integer expected)";
            return -1;
        }
        value = value * 10 + (s[i] - '0');
        if (value > 1000000) {
            *why = "has a weight over 1000000";
            return -1;
        }
    }
    if (value == 0) {
        *why = "has a zero weight (weights must be positive)";
        return -1;
    }
    *weight = (uint32_t)value;
    return 0;
}

static const char *
sp_memrchr_char(const char *s, size_t len, char c)
{
    for (size_t i = len; i > 0; i--) {
        if (s[i - 1] == c) {
            return s + i - 1;
        }
    }
    return NULL;
}

int
sp_conf_parse_server(const char *s, struct sp_conf_server *server,
                     const char **why)
{
    size_t len = strlen(s);
    const char *space = strrchr(s, ' ');
    size_t speclen = space != NULL ? (size_t)(space - s) : len;
    const char *colon;
    size_t addrlen;

    memset(server, 0, sizeof(*server));
    if (space != NULL && space[1] == '\0') {
        *why = "has an empty name after the space";
        return -1;
    }

    /* weight: after the last colon of "<addr>:weight" */
    colon = sp_memrchr_char(s, speclen, ':');
    if (colon == NULL || colon == s) {
        *why = "is not in \"host:port:weight [name]\" or "
               "\"/path:weight [name]\" form";
        return -1;
    }
    if (sp_conf_parse_weight(colon + 1, speclen - (size_t)(colon + 1 - s),
                             &server->weight, why) != 0) {
        return -1;
    }
    addrlen = (size_t)(colon - s);

    if (s[0] == '/') {
        server->addr.is_unix = true;
        server->addr.host = sp_strndup(s, addrlen);
        if (server->addr.host == NULL) {
            *why = "could not be stored: out of memory";
            return -1;
        }
    } else if (sp_conf_split_host_port(s, addrlen, &server->addr, why) != 0) {
        if (strcmp(*why, "is not in \"host:port\" form") == 0) {
            *why = "is not in \"host:port:weight [name]\" or "
                   "\"/path:weight [name]\" form";
        }
        return -1;
    }

    server->pname = sp_strndup(s, speclen);
    if (space != NULL) {
        server->named = true;
        server->name = sp_strndup(space + 1, len - speclen - 1);
    } else if (server->addr.is_unix) {
        /* nutcracker's identity for a socket: "path:" (it keeps the colon) */
        server->name = sp_strndup(s, addrlen + 1);
    } else if (server->addr.port == SP_CONF_KETAMA_DEFAULT_PORT) {
        /* libmemcached compatibility: no port in the identity for 11211 */
        size_t hostlen = (size_t)(sp_memrchr_char(s, addrlen, ':') - s);
        server->name = sp_strndup(s, hostlen);
    } else {
        server->name = sp_strndup(s, addrlen);
    }
    if (server->pname == NULL || server->name == NULL) {
        *why = "could not be stored: out of memory";
        return -1;
    }
    return 0;
}
