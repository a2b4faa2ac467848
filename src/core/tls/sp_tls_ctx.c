/*
 * sp_tls_ctx.c — the TLS contexts of a configuration (see sp_tls.h): one
 * SSL_CTX per pool and side, built from the pool's keys when the
 * configuration loads, with the reason in words when a key is wrong.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "sp_tls.h"

/* The last OpenSSL error in words (the queue is cleared). */
static const char *
sp_tls_ctx_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();

    if (e == 0) {
        snprintf(buf, len, "unknown error");
    } else {
        const char *r = ERR_reason_error_string(e);
        snprintf(buf, len, "%s", r != NULL ? r : "unknown error");
    }
    ERR_clear_error();
    return buf;
}

/* A readable file, or a message naming why not. */
static int
sp_tls_ctx_readable(const char *path, const char *what, char *err,
                    size_t errlen)
{
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        snprintf(err, errlen, "%s '%s' cannot be read: %s", what, path,
                 strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

/* "TLSv1.2 TLSv1.3" (spaces or commas) into a version range. */
static int
sp_tls_ctx_protocols(const char *text, int *min, int *max, char *err,
                     size_t errlen)
{
    static const struct { const char *name; int version; } known[] = {
        { "TLSv1.2", TLS1_2_VERSION }, { "TLSv1.3", TLS1_3_VERSION },
    };

    *min = 0;
    *max = 0;
    for (const char *p = text; *p != '\0';) {
        size_t len = strcspn(p, " ,");
        bool found = false;

        for (size_t i = 0; len > 0 && i < sizeof(known) / sizeof(known[0]); i++) {
            if (strlen(known[i].name) == len
                && strncasecmp(p, known[i].name, len) == 0) {
                int v = known[i].version;
                *min = *min == 0 || v < *min ? v : *min;
                *max = v > *max ? v : *max;
                found = true;
            }
        }
        if (len > 0 && !found) {
            snprintf(err, errlen, "'%.*s' is not a protocol shardproxy "
                     "speaks (TLSv1.2, TLSv1.3)", (int)len, p);
            return -1;
        }
        p += len;
        p += strspn(p, " ,");
    }
    if (*min == 0) {
        snprintf(err, errlen, "names no protocol (TLSv1.2, TLSv1.3)");
        return -1;
    }
    return 0;
}

/* notAfter of the context's certificate, s since the epoch (0: none). */
static int64_t
sp_tls_ctx_expiry(SSL_CTX *ctx)
{
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    struct tm tm;

    if (cert == NULL || ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) {
        return 0;
    }
    return (int64_t)timegm(&tm);
}

static int
sp_tls_ctx_fail(char *err, size_t errlen, const char **key, const char *k,
                const char *fmt, const char *a, const char *b)
{
    char reason[256];

    *key = k;
    snprintf(err, errlen, fmt, a, b != NULL ? b
             : sp_tls_ctx_reason(reason, sizeof(reason)));
    ERR_clear_error();
    return -1;
}

/* Certificate and key (both given, or neither). */
static int
sp_tls_ctx_identity(SSL_CTX *ctx, const struct sp_conf_tls *tls, char *err,
                    size_t errlen, const char **key)
{
    if (tls->cert_file == NULL && tls->key_file == NULL) {
        return 0;
    }
    if (tls->cert_file == NULL || tls->key_file == NULL) {
        *key = tls->cert_file == NULL ? "key_file" : "cert_file";
        snprintf(err, errlen, "%s needs %s beside it", tls->cert_file == NULL
                 ? "key_file" : "cert_file", tls->cert_file == NULL
                 ? "cert_file" : "key_file");
        return -1;
    }
    if (sp_tls_ctx_readable(tls->cert_file, "certificate", err, errlen) != 0) {
        *key = "cert_file";
        return -1;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, tls->cert_file) != 1) {
        return sp_tls_ctx_fail(err, errlen, key, "cert_file",
                               "'%s' holds no usable PEM certificate: %s",
                               tls->cert_file, NULL);
    }
    if (sp_tls_ctx_readable(tls->key_file, "key", err, errlen) != 0) {
        *key = "key_file";
        return -1;
    }
    ERR_clear_error();
    int rc = SSL_CTX_use_PrivateKey_file(ctx, tls->key_file, SSL_FILETYPE_PEM);
    if (rc != 1
        && ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
        return sp_tls_ctx_fail(err, errlen, key, "key_file",
                               "'%s' is not the key of the certificate "
                               "'%s'", tls->key_file, tls->cert_file);
    }
    if (rc != 1) {
        return sp_tls_ctx_fail(err, errlen, key, "key_file",
                               "'%s' holds no usable PEM private key: %s",
                               tls->key_file, NULL);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        return sp_tls_ctx_fail(err, errlen, key, "key_file",
                               "'%s' is not the key of the certificate "
                               "'%s'", tls->key_file, tls->cert_file);
    }
    return 0;
}

/* Whom to trust: ca_file, or (servers, no ca_file) the system's store. */
static int
sp_tls_ctx_trust(SSL_CTX *ctx, const struct sp_conf_tls *tls, bool to_clients,
                 char *err, size_t errlen, const char **key)
{
    if (tls->ca_file != NULL) {
        if (sp_tls_ctx_readable(tls->ca_file, "CA file", err, errlen) != 0) {
            *key = "ca_file";
            return -1;
        }
        if (SSL_CTX_load_verify_locations(ctx, tls->ca_file, NULL) != 1) {
            return sp_tls_ctx_fail(err, errlen, key, "ca_file",
                                   "'%s' holds no usable PEM certificate: %s",
                                   tls->ca_file, NULL);
        }
    }
    if (to_clients) {
        if (tls->ca_file != NULL) {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(tls->ca_file);
            if (names != NULL) {
                SSL_CTX_set_client_CA_list(ctx, names);
            }
            ERR_clear_error();
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER
                               | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        }
        return 0;
    }
    if (!tls->verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return 0;
    }
    if (tls->ca_file == NULL && SSL_CTX_set_default_verify_paths(ctx) != 1) {
        return sp_tls_ctx_fail(err, errlen, key, "ca_file", "the system's "
                               "CA store cannot be read%s (set it): %s", "",
                               NULL);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return 0;
}

int
sp_tls_conf_build(struct sp_conf_tls *tls, bool to_clients, const char *pool,
                  char *err, size_t errlen, const char **key)
{
    SSL_CTX *ctx;
    int min, max;

    *key = NULL;
    ERR_clear_error();
    if (to_clients && (tls->cert_file == NULL || tls->key_file == NULL)) {
        snprintf(err, errlen, "needs tls_cert_file and tls_key_file (the "
                 "certificate clients see)");
        return -1;
    }
    if (sp_tls_ctx_protocols(tls->protocols != NULL ? tls->protocols
                             : "TLSv1.2 TLSv1.3", &min, &max, err,
                             errlen) != 0) {
        *key = "protocols";
        return -1;
    }
    ctx = SSL_CTX_new(to_clients ? TLS_server_method() : TLS_client_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "cannot create a TLS context (out of memory?)");
        return -1;
    }
    SSL_CTX_set_min_proto_version(ctx, min);
    SSL_CTX_set_max_proto_version(ctx, max);
    /* no renegotiation (reads and writes never turn into handshakes); a
     * peer that closes its socket without close_notify is an EOF, as on
     * a plain socket; buffers only while bytes are in them (10,000 idle
     * TLS clients do not hold 10,000 pairs of 16 KiB buffers) */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION
                        | SSL_OP_IGNORE_UNEXPECTED_EOF
                        | (to_clients ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                     | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                     | SSL_MODE_RELEASE_BUFFERS);
    if (tls->ciphers != NULL && SSL_CTX_set_cipher_list(ctx, tls->ciphers) != 1) {
        sp_tls_ctx_fail(err, errlen, key, "ciphers", "'%s' names no cipher "
                        "OpenSSL knows: %s", tls->ciphers, NULL);
        goto fail;
    }
    if (tls->ciphersuites != NULL
        && SSL_CTX_set_ciphersuites(ctx, tls->ciphersuites) != 1) {
        sp_tls_ctx_fail(err, errlen, key, "ciphersuites", "'%s' names no TLS "
                        "1.3 suite OpenSSL knows: %s", tls->ciphersuites, NULL);
        goto fail;
    }
    if (sp_tls_ctx_identity(ctx, tls, err, errlen, key) != 0
        || sp_tls_ctx_trust(ctx, tls, to_clients, err, errlen, key) != 0) {
        goto fail;
    }
    if (to_clients) {
        /* resumption: tickets (keys in this context, the same in every
         * worker forked with it) and the per-process cache, both tied to
         * the pool's name */
        unsigned char sid[SSL_MAX_SID_CTX_LENGTH];
        size_t n = strlen(pool) < sizeof(sid) ? strlen(pool) : sizeof(sid);
        memcpy(sid, pool, n);
        SSL_CTX_set_session_id_context(ctx, sid, (unsigned int)n);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    } else {
        /* resumption toward servers: the last session of each server is
         * kept by the worker (sp_tls_io.c installs the callback) */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT
                                       | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    }
    tls->cert_expiry = sp_tls_ctx_expiry(ctx);
    tls->ctx = ctx;
    return 0;

fail:
    SSL_CTX_free(ctx);
    return -1;
}

void
sp_tls_conf_free(struct sp_conf_tls *tls)
{
    free(tls->cert_file);
    free(tls->key_file);
    free(tls->ca_file);
    free(tls->protocols);
    free(tls->ciphers);
    free(tls->ciphersuites);
    free(tls->server_name);
    if (tls->ctx != NULL) {
        SSL_CTX_free(tls->ctx);
    }
    memset(tls, 0, sizeof(*tls));
}
