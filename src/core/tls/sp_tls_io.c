/*
 * sp_tls_io.c — the TLS transport (see sp_tls.h): a connection's bytes
 * through OpenSSL, non-blocking, in the worker's event loop.
 *
 *   handshake ─(WANT_READ / WANT_WRITE: wait for that edge)─► up
 *       │ failed: counted by reason, the data path sees an error
 *   up: recv = SSL_read until the buffer is full or the socket is drained
 *       writev = the iovecs gathered into records of up to 16 KiB
 *       a read that wants a write (a key update) waits for writability,
 *       a write that wants a read waits for readability (io_wait)
 *   shutdown: close_notify, then the socket's; close: SSL_free, close(fd)
 *
 * Sockets are registered for both edges for their whole life (sp_event.h),
 * so "wait for an edge" changes no interest and costs no syscall: the
 * transport only remembers which edge resumes what.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "sp_conn.h"
#include "sp_log.h"
#include "sp_pool.h"
#include "sp_tls.h"
#include "sp_worker.h"

#define SP_TLS_RECORD   16384   /* plaintext bytes per record at most */

typedef enum sp_tls_state {
    SP_TLS_HANDSHAKE,           /* not up yet */
    SP_TLS_UP,
    SP_TLS_FAILED,              /* no close_notify, no more I/O */
    SP_TLS_SHUT                 /* close_notify sent */
} sp_tls_state_t;

typedef enum sp_tls_cipher {
    SP_TLS_CIPHER_NONE,
    SP_TLS_CIPHER_AES128,
    SP_TLS_CIPHER_AES256,
    SP_TLS_CIPHER_CHACHA20,
    SP_TLS_CIPHER_OTHER
} sp_tls_cipher_t;

struct sp_tls_conn {
    SSL            *ssl;
    uint8_t         state;          /* sp_tls_state_t */
    bool            to_client;      /* the proxy is the TLS server */
    bool            started;        /* server side: handshake begun */
    bool            read_wants_write;
    bool            write_wants_read;
    uint8_t         version;        /* counted clients: 2 or 3 (TLSv1.x) */
    uint8_t         cipher;         /* counted clients: sp_tls_cipher_t */
    int             err;            /* errno for the data path once failed */
    size_t          write_again;    /* a write to repeat with these bytes */
};

static struct sp_tls_conn *
sp_tls(const struct sp_conn *conn)
{
    return conn->io_data;
}

/* ---- the clients' counts --------------------------------------------------- */

static sp_tls_cipher_t
sp_tls_cipher_kind(const SSL *ssl)
{
    const char *name = SSL_get_cipher_name(ssl);

    if (name == NULL) {
        return SP_TLS_CIPHER_OTHER;
    }
    if (strstr(name, "AES_128_GCM") != NULL || strstr(name, "AES128-GCM") != NULL) {
        return SP_TLS_CIPHER_AES128;
    }
    if (strstr(name, "AES_256_GCM") != NULL || strstr(name, "AES256-GCM") != NULL) {
        return SP_TLS_CIPHER_AES256;
    }
    if (strstr(name, "CHACHA20") != NULL) {
        return SP_TLS_CIPHER_CHACHA20;
    }
    return SP_TLS_CIPHER_OTHER;
}

/* One client more (+1) or less (-1) under its version and cipher. */
static void
sp_tls_count_client(struct sp_conn *conn, struct sp_tls_conn *t, int delta)
{
    struct sp_stats_tls *st = &conn->pool->stats->tls;

    if (t->version == 3) {
        st->tls_clients_tlsv1_3 += delta;
    } else if (t->version == 2) {
        st->tls_clients_tlsv1_2 += delta;
    }
    switch (t->cipher) {
    case SP_TLS_CIPHER_AES128:   st->tls_cipher_aes_128_gcm += delta; break;
    case SP_TLS_CIPHER_AES256:   st->tls_cipher_aes_256_gcm += delta; break;
    case SP_TLS_CIPHER_CHACHA20: st->tls_cipher_chacha20 += delta; break;
    case SP_TLS_CIPHER_OTHER:    st->tls_cipher_other += delta; break;
    default: break;
    }
}

/* ---- handshakes ---------------------------------------------------------------- */

/* Why a client's handshake failed, as the stats name it. */
static int64_t *
sp_tls_fail_counter(struct sp_conn *conn, unsigned long e, int ssl_error)
{
    struct sp_stats_tls *st = &conn->pool->stats->tls;

    if (ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN
        || (e != 0 && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
        return &st->tls_fail_eof;
    }
    switch (ERR_GET_REASON(e)) {
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_UNKNOWN_PROTOCOL:
        return &st->tls_fail_plaintext;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        return &st->tls_fail_no_cert;
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
        return &st->tls_fail_bad_cert;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
        return &st->tls_fail_protocol;
    default:
        return &st->tls_fail_other;
    }
}

static void
sp_tls_handshake_failed(struct sp_conn *conn, struct sp_tls_conn *t,
                        int ssl_error, int sys_errno)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
    char why[256];

    if (reason == NULL) {
        reason = ssl_error == SSL_ERROR_SYSCALL && sys_errno != 0
                 ? strerror(sys_errno) : "the peer closed the connection";
    }
    snprintf(why, sizeof(why), "%s", reason);
    if (t->to_client) {
        (*sp_tls_fail_counter(conn, e, ssl_error))++;
        sp_log_info(conn->worker->log, "pool '%s': a client's TLS handshake "
                    "failed: %s", conn->pool->conf->name, why);
    } else {
        long verify = SSL_get_verify_result(t->ssl);
        conn->pool->stats->tls.server_tls_failures++;
        sp_log_warn(conn->worker->log, 0, "pool '%s': TLS handshake with "
                    "server '%s' failed: %s%s%s", conn->pool->conf->name,
                    sp_sconn(conn)->server->conf->name, why,
                    verify != X509_V_OK ? ": " : "",
                    verify != X509_V_OK
                    ? X509_verify_cert_error_string(verify) : "");
    }
    ERR_clear_error();
    t->state = SP_TLS_FAILED;
    t->err = EPROTO;
}

static void
sp_tls_handshake_done(struct sp_conn *conn, struct sp_tls_conn *t)
{
    struct sp_stats_tls *st = &conn->pool->stats->tls;
    bool resumed = SSL_session_reused(t->ssl) == 1;

    t->state = SP_TLS_UP;
    if (!t->to_client) {
        st->server_tls_handshakes++;
        st->server_tls_resumed += resumed;
        return;
    }
    st->tls_handshakes++;
    st->tls_resumed += resumed;
    t->version = SSL_version(t->ssl) == TLS1_3_VERSION ? 3 : 2;
    t->cipher = (uint8_t)sp_tls_cipher_kind(t->ssl);
    sp_tls_count_client(conn, t, 1);
}

/* One step of the handshake: 0 up, -1 EAGAIN (wait for an edge), -1
 * EPROTO (failed, counted and logged). */
static int
sp_tls_drive(struct sp_conn *conn, struct sp_tls_conn *t)
{
    ERR_clear_error();
    errno = 0;
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1) {
        sp_tls_handshake_done(conn, t);
        return 0;
    }
    int sys_errno = errno;
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        errno = EAGAIN;
        return -1;
    }
    sp_tls_handshake_failed(conn, t, e, sys_errno);
    errno = EPROTO;
    return -1;
}

/* ---- the transport ---------------------------------------------------------- */

/* A fatal error on an open connection: no more I/O, no close_notify. */
static ssize_t
sp_tls_broken(struct sp_tls_conn *t, int e, int sys_errno)
{
    t->state = SP_TLS_FAILED;
    t->err = e == SSL_ERROR_SYSCALL && sys_errno != 0 ? sys_errno : EPROTO;
    ERR_clear_error();
    errno = t->err;
    return -1;
}

static ssize_t
sp_tls_not_up(struct sp_tls_conn *t)
{
    errno = t->state == SP_TLS_HANDSHAKE ? EAGAIN
            : t->state == SP_TLS_FAILED ? t->err : EPIPE;
    return -1;
}

static ssize_t
sp_tls_recv(struct sp_conn *conn, void *buf, size_t len)
{
    struct sp_tls_conn *t = sp_tls(conn);
    size_t total = 0;

    if (t->state != SP_TLS_UP && t->state != SP_TLS_SHUT) {
        return sp_tls_not_up(t);
    }
    /* fill the buffer: a short return means the socket is drained (what
     * sp_conn_read expects of a plain socket), never "a record ended" */
    while (total < len) {
        size_t got = 0;

        ERR_clear_error();
        errno = 0;
        int rc = SSL_read_ex(t->ssl, (uint8_t *)buf + total, len - total, &got);
        if (rc == 1) {
            total += got;
            continue;
        }
        int sys_errno = errno;
        int e = SSL_get_error(t->ssl, rc);
        if (e == SSL_ERROR_WANT_READ) {
            break;
        }
        if (e == SSL_ERROR_WANT_WRITE) {
            t->read_wants_write = true;     /* resumed by a write edge */
            sp_conn_io_wait(conn, true);
            break;
        }
        if (e == SSL_ERROR_ZERO_RETURN) {
            return (ssize_t)total;          /* close_notify or EOF: 0 next */
        }
        if (total > 0) {
            return (ssize_t)total;          /* the error again next time */
        }
        return sp_tls_broken(t, e, sys_errno);
    }
    if (total == 0) {
        errno = EAGAIN;
        return -1;
    }
    return (ssize_t)total;
}

/*
 * Up to want bytes of iov[] past `skip` as one contiguous span: in place
 * when they lie in one iovec, else gathered into the worker's scratch.
 */
static const uint8_t *
sp_tls_gather(struct sp_conn *conn, const struct iovec *iov, int iovcnt,
              size_t skip, size_t want, size_t *got)
{
    int i = 0;

    while (i < iovcnt && skip >= iov[i].iov_len) {
        skip -= iov[i].iov_len;
        i++;
    }
    if (i == iovcnt) {
        *got = 0;
        return NULL;
    }
    if (iov[i].iov_len - skip >= want || i == iovcnt - 1) {
        size_t n = iov[i].iov_len - skip;
        *got = n < want ? n : want;
        return (const uint8_t *)iov[i].iov_base + skip;
    }
    uint8_t *out = sp_worker_scratch(conn->worker, want);
    size_t n = 0;
    if (out == NULL) {
        *got = 0;
        return NULL;
    }
    for (; i < iovcnt && n < want; i++, skip = 0) {
        size_t take = iov[i].iov_len - skip;
        if (take > want - n) {
            take = want - n;
        }
        memcpy(out + n, (const uint8_t *)iov[i].iov_base + skip, take);
        n += take;
    }
    *got = n;
    return out;
}

static ssize_t
sp_tls_writev(struct sp_conn *conn, const struct iovec *iov, int iovcnt)
{
    struct sp_tls_conn *t = sp_tls(conn);
    size_t total = 0;

    if (t->state != SP_TLS_UP) {
        return sp_tls_not_up(t);
    }
    for (;;) {
        /* a write that waited is repeated with exactly its bytes (they
         * are still the first ones unwritten: the data path keeps them) */
        size_t want = t->write_again != 0 ? t->write_again : SP_TLS_RECORD;
        size_t n = 0, written = 0;
        const uint8_t *p = sp_tls_gather(conn, iov, iovcnt, total, want, &n);

        if (p == NULL) {
            if (n == 0 && total == 0 && t->write_again == 0) {
                return 0;           /* nothing to write */
            }
            if (n == 0 && total > 0) {
                return (ssize_t)total;
            }
            errno = ENOMEM;
            return -1;
        }
        ERR_clear_error();
        errno = 0;
        int rc = SSL_write_ex(t->ssl, p, n, &written);
        if (rc == 1) {
            t->write_again = 0;
            total += written;
            continue;
        }
        int sys_errno = errno;
        int e = SSL_get_error(t->ssl, rc);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
            t->write_again = n;
            if (e == SSL_ERROR_WANT_READ) {
                t->write_wants_read = true;     /* resumed by a read edge */
                sp_conn_io_wait(conn, true);
            }
            if (total > 0) {
                return (ssize_t)total;
            }
            errno = EAGAIN;
            return -1;
        }
        if (total > 0) {
            return (ssize_t)total;
        }
        return sp_tls_broken(t, e, sys_errno);
    }
}

static ssize_t
sp_tls_send(struct sp_conn *conn, const void *buf, size_t len)
{
    struct iovec iov = { (void *)buf, len };

    return sp_tls_writev(conn, &iov, 1);
}

/* close_notify, once, when the session is sound. */
static void
sp_tls_notify(struct sp_tls_conn *t)
{
    if (t->state == SP_TLS_UP) {
        ERR_clear_error();
        (void)SSL_shutdown(t->ssl);     /* one try: never waits */
        ERR_clear_error();
        t->state = SP_TLS_SHUT;
    }
}

static int
sp_tls_shutdown(struct sp_conn *conn, int how)
{
    sp_tls_notify(sp_tls(conn));
    return shutdown(conn->fd, how);
}

static void
sp_tls_close(struct sp_conn *conn)
{
    struct sp_tls_conn *t = sp_tls(conn);

    if (t != NULL) {
        if (t->to_client && t->version != 0) {
            sp_tls_count_client(conn, t, -1);
        }
        sp_tls_notify(t);
        SSL_free(t->ssl);
        free(t);
        conn->io_data = NULL;
    }
    close(conn->fd);
}

/*
 * Readiness while the transport waits (io_wait): drive the handshake, or
 * turn the edge a read or a write waited for into the one the data path
 * retries on.
 */
static uint32_t
sp_tls_event(struct sp_conn *conn, uint32_t ready)
{
    struct sp_tls_conn *t = sp_tls(conn);

    if (t->state == SP_TLS_HANDSHAKE) {
        if (sp_tls_drive(conn, t) != 0) {
            if (errno == EAGAIN) {
                return 0;                   /* the next edge resumes it */
            }
            sp_conn_io_wait(conn, false);
            return ready | SP_EV_READ | SP_EV_ERROR;   /* it fails there */
        }
        sp_conn_io_wait(conn, false);
        /* up: what came with the last flight is read, what was queued is
         * written (edges already consumed by the handshake) */
        return ready | SP_EV_READ | SP_EV_WRITE;
    }
    if (t->read_wants_write && (ready & SP_EV_WRITE)) {
        t->read_wants_write = false;
        ready |= SP_EV_READ;
    }
    if (t->write_wants_read && (ready & (SP_EV_READ | SP_EV_RDHUP))) {
        t->write_wants_read = false;
        ready |= SP_EV_WRITE;
    }
    if (!t->read_wants_write && !t->write_wants_read) {
        sp_conn_io_wait(conn, false);
    }
    return ready;
}

static int
sp_tls_handshake(struct sp_conn *conn)
{
    struct sp_tls_conn *t = sp_tls(conn);

    switch (t->state) {
    case SP_TLS_UP:
        return 0;
    case SP_TLS_HANDSHAKE:
        if (t->started) {
            errno = EAGAIN;         /* under way: `event` drives it */
            return -1;
        }
        t->started = true;
        if (sp_tls_drive(conn, t) == 0) {
            return 0;
        }
        if (errno == EAGAIN) {
            sp_conn_io_wait(conn, true);
        }
        return -1;
    default:
        errno = t->err != 0 ? t->err : EPROTO;
        return -1;
    }
}

static bool
sp_tls_pending(const struct sp_conn *conn)
{
    return sp_tls(conn)->state == SP_TLS_HANDSHAKE;
}

/* Its session lives in this process (no kernel TLS to carry it). */
static int
sp_tls_release(struct sp_conn *conn)
{
    (void)conn;
    errno = EOPNOTSUPP;
    return -1;
}

const struct sp_io sp_io_tls = {
    .name = "tls",
    .recv = sp_tls_recv,
    .send = sp_tls_send,
    .writev = sp_tls_writev,
    .shutdown = sp_tls_shutdown,
    .close = sp_tls_close,
    .event = sp_tls_event,
    .handshake = sp_tls_handshake,
    .pending = sp_tls_pending,
    .release = sp_tls_release,
};

/* ---- attaching ---------------------------------------------------------------- */

static struct sp_tls_conn *
sp_tls_attach(struct sp_conn *conn, SSL_CTX *ctx, bool to_client)
{
    struct sp_tls_conn *t = calloc(1, sizeof(*t));

    if (t == NULL) {
        return NULL;
    }
    t->ssl = SSL_new(ctx);
    if (t->ssl == NULL || SSL_set_fd(t->ssl, conn->fd) != 1) {
        if (t->ssl != NULL) {
            SSL_free(t->ssl);
        }
        free(t);
        ERR_clear_error();
        return NULL;
    }
    SSL_set_app_data(t->ssl, conn);
    t->to_client = to_client;
    t->state = SP_TLS_HANDSHAKE;
    conn->io = &sp_io_tls;
    conn->io_data = t;
    return t;
}

int
sp_tls_accept(struct sp_conn *conn)
{
    struct sp_tls_conn *t = sp_tls_attach(conn, conn->pool->conf->tls.ctx, true);

    if (t == NULL) {
        errno = ENOMEM;
        return -1;
    }
    SSL_set_accept_state(t->ssl);
    t->started = true;
    sp_conn_io_wait(conn, true);    /* its events drive the handshake */
    return 0;
}

/* The name a server is checked against: server_tls_server_name, else its
 * host (an address is checked as one, and sent no SNI). */
static int
sp_tls_server_name(SSL *ssl, const struct sp_conf_tls *tls,
                   const struct sp_conf_server *server)
{
    const char *name = tls->server_name != NULL ? tls->server_name
                                                : server->addr.host;
    unsigned char any[16];
    bool is_ip = inet_pton(AF_INET, name, any) == 1
                 || inet_pton(AF_INET6, name, any) == 1;

    if (server->addr.is_unix && tls->server_name == NULL) {
        return 0;                   /* a path: nothing to name */
    }
    if (!is_ip && SSL_set_tlsext_host_name(ssl, name) != 1) {
        return -1;
    }
    if (!tls->verify) {
        return 0;
    }
    if (is_ip) {
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1
               ? 0 : -1;
    }
    return SSL_set1_host(ssl, name) == 1 ? 0 : -1;
}

static int sp_tls_session_new(SSL *ssl, SSL_SESSION *session);

int
sp_tls_connect(struct sp_conn *conn)
{
    const struct sp_conf_tls *tls = &conn->pool->conf->server_tls;
    struct sp_server *server = sp_sconn(conn)->server;
    struct sp_tls_conn *t = sp_tls_attach(conn, tls->ctx, false);

    if (t == NULL) {
        errno = ENOMEM;
        return -1;
    }
    SSL_set_connect_state(t->ssl);
    if (SSL_CTX_sess_get_new_cb(tls->ctx) != sp_tls_session_new) {
        /* this process's copy of the context: sessions it is sent are
         * kept per server (sp_tls_session_new) */
        SSL_CTX_sess_set_new_cb(tls->ctx, sp_tls_session_new);
    }
    if (sp_tls_server_name(t->ssl, tls, server->conf) != 0) {
        ERR_clear_error();
        errno = EINVAL;
        return -1;          /* the caller closes conn, and t with it */
    }
    if (server->tls_session != NULL) {
        SSL_set_session(t->ssl, server->tls_session);
    }
    return 0;
}

/* A server sent a session to resume: kept as its server's (per worker). */
static int
sp_tls_session_new(SSL *ssl, SSL_SESSION *session)
{
    struct sp_conn *conn = SSL_get_app_data(ssl);
    struct sp_server *server;

    if (conn == NULL || conn->kind != SP_CONN_SERVER) {
        return 0;                   /* not kept: OpenSSL frees it */
    }
    server = sp_sconn(conn)->server;
    if (server->tls_session != NULL) {
        SSL_SESSION_free(server->tls_session);
    }
    server->tls_session = session;  /* the reference is ours now */
    return 1;
}

void
sp_tls_session_drop(struct sp_server *server)
{
    if (server->tls_session != NULL) {
        SSL_SESSION_free(server->tls_session);
        server->tls_session = NULL;
    }
}

void
sp_tls_timed_out(struct sp_conn *conn)
{
    conn->pool->stats->tls.tls_fail_timeout++;
}
