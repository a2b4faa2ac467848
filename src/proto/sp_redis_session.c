/*
 * sp_redis_session.c — a Redis client's session state, the arguments of a
 * request read back from its bytes, and the writer of the replies the
 * proxy makes itself (see sp_redis_session.h).
 */
#include "sp_redis_session.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_redis_block.h"
#include "sp_redis_pubsub.h"
#include "sp_redis_txn.h"
#include "sp_server.h"
#include "sp_worker.h"

/* ---- session ------------------------------------------------------------- */

struct sp_redis_session *
sp_redis_session_get(struct sp_conn *client)
{
    struct sp_redis_session *s = client->session;

    if (s != NULL) {
        return s;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->resp = 2;
    s->txn_server = -1;
    s->pinned_server = -1;
    SP_MSGQ_INIT(&s->txn);
    client->session = s;
    return s;
}

void
sp_redis_session_reset(struct sp_conn *client)
{
    struct sp_redis_session *s = client->session;

    if (s == NULL) {
        return;
    }
    sp_redis_txn_reset(client);
    sp_redis_pubsub_client_gone(client);
    sp_redis_block_cancel(client);
    free(s->name);
    free(s->lib_name);
    free(s->lib_ver);
    free(s->user);
    s->name = s->lib_name = s->lib_ver = s->user = NULL;
    s->resp = 2;
    s->reply_mode = SP_REPLY_ON;
    s->skip_next = false;
    s->no_evict = s->no_touch = false;
    client->variant = 0;
}

void
sp_redis_session_free(struct sp_conn *client)
{
    struct sp_redis_session *s = client->session;

    if (s == NULL) {
        return;
    }
    sp_redis_session_reset(client);
    free(s);
    client->session = NULL;
}

void
sp_redis_session_pin_lost(struct sp_conn *client, struct sp_conn *server)
{
    struct sp_redis_session *s = client->session;

    if (s != NULL && s->lent == server) {
        sp_redis_block_over(client);
        return;
    }
    if (s != NULL && s->pinned == server) {
        /* what it watched is gone with it: the transaction cannot be
         * trusted any more (EXEC answers EXECABORT) */
        s->pinned = NULL;
        s->pinned_server = -1;
        s->txn_failed = s->txn_failed || s->multi;
        if (!s->multi) {
            s->txn_server = -1;
        }
    }
}

/* ---- handed over ------------------------------------------------------------ */

/* Saved as: the protocol digit, then name, lib-name, lib-ver and user, each
 * ended by a NUL ("" for none). */
static size_t
sp_redis_session_put(char *buf, size_t at, size_t cap, const char *text)
{
    size_t len = text != NULL ? strlen(text) : 0;

    if (at + len + 1 > cap) {
        return 0;
    }
    memcpy(buf + at, text != NULL ? text : "", len);
    buf[at + len] = '\0';
    return at + len + 1;
}

int
sp_redis_session_save(const struct sp_conn *client, char *buf, size_t cap)
{
    const struct sp_redis_session *s = client->session;
    size_t at;

    if (s == NULL) {
        return 0;
    }
    if (s->multi || s->pinned != NULL || s->lent != NULL
        || sp_redis_pubsub_count(client) > 0) {
        return -1;
    }
    if (cap < 2) {
        return 0;
    }
    buf[0] = (char)('0' + s->resp);
    at = sp_redis_session_put(buf, 1, cap, s->name);
    at = at > 0 ? sp_redis_session_put(buf, at, cap, s->lib_name) : 0;
    at = at > 0 ? sp_redis_session_put(buf, at, cap, s->lib_ver) : 0;
    at = at > 0 ? sp_redis_session_put(buf, at, cap, s->user) : 0;
    if (at == 0) {
        /* names too long to travel: the protocol and user do */
        at = sp_redis_session_put(buf, 1, cap, NULL);
        at = sp_redis_session_put(buf, at, cap, NULL);
        at = sp_redis_session_put(buf, at, cap, NULL);
        at = sp_redis_session_put(buf, at, cap, s->user);
    }
    return (int)at;
}

/* The next NUL-ended field of buf[*at, len), strdup'ed (NULL: empty). */
static char *
sp_redis_session_take(const char *buf, size_t len, size_t *at, bool *ok)
{
    const char *end = *at < len ? memchr(buf + *at, '\0', len - *at) : NULL;
    char *text = NULL;

    if (end == NULL) {
        *ok = false;
        return NULL;
    }
    if (end > buf + *at) {
        text = strndup(buf + *at, (size_t)(end - (buf + *at)));
    }
    *at = (size_t)(end - buf) + 1;
    return text;
}

void
sp_redis_session_restore(struct sp_conn *client, const char *buf, size_t len)
{
    struct sp_redis_session *s;
    size_t at = 1;
    bool ok = true;

    if (len < 1 || (buf[0] != '2' && buf[0] != '3')
        || (s = sp_redis_session_get(client)) == NULL) {
        return;
    }
    s->resp = (uint8_t)(buf[0] - '0');
    client->variant = (uint8_t)(s->resp - 2);
    s->name = sp_redis_session_take(buf, len, &at, &ok);
    s->lib_name = sp_redis_session_take(buf, len, &at, &ok);
    s->lib_ver = sp_redis_session_take(buf, len, &at, &ok);
    s->user = sp_redis_session_take(buf, len, &at, &ok);
    (void)ok;               /* a short session keeps what it had */
}

/* ---- the reply writer ------------------------------------------------------ */

void
sp_rw_init(struct sp_rw *w, int resp)
{
    memset(w, 0, sizeof(*w));
    w->resp = resp;
}

static bool
sp_rw_room(struct sp_rw *w, size_t n)
{
    if (w->failed) {
        return false;
    }
    if (w->cap - w->len >= n) {
        return true;
    }
    size_t cap = w->cap == 0 ? 256 : w->cap;
    while (cap - w->len < n) {
        cap *= 2;
    }
    char *buf = realloc(w->buf, cap);
    if (buf == NULL) {
        w->failed = true;
        return false;
    }
    w->buf = buf;
    w->cap = cap;
    return true;
}

void
sp_rw_raw(struct sp_rw *w, const void *bytes, size_t len)
{
    if (sp_rw_room(w, len)) {
        memcpy(w->buf + w->len, bytes, len);
        w->len += len;
    }
}

void
sp_rw_fmt(struct sp_rw *w, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !sp_rw_room(w, (size_t)n + 1)) {
        w->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(w->buf + w->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    w->len += (size_t)n;
}

void
sp_rw_array(struct sp_rw *w, uint64_t n)
{
    sp_rw_fmt(w, "*%" PRIu64 "\r\n", n);
}

void
sp_rw_map(struct sp_rw *w, uint64_t npairs)
{
    if (w->resp == 3) {
        sp_rw_fmt(w, "%%%" PRIu64 "\r\n", npairs);
    } else {
        sp_rw_array(w, npairs * 2);
    }
}

void
sp_rw_set(struct sp_rw *w, uint64_t n)
{
    sp_rw_fmt(w, "%c%" PRIu64 "\r\n", w->resp == 3 ? '~' : '*', n);
}

void
sp_rw_bulk(struct sp_rw *w, const void *bytes, size_t len)
{
    sp_rw_fmt(w, "$%zu\r\n", len);
    sp_rw_raw(w, bytes, len);
    sp_rw_raw(w, "\r\n", 2);
}

void
sp_rw_str(struct sp_rw *w, const char *text)
{
    sp_rw_bulk(w, text, strlen(text));
}

void
sp_rw_int(struct sp_rw *w, int64_t n)
{
    sp_rw_fmt(w, ":%" PRId64 "\r\n", n);
}

void
sp_rw_null(struct sp_rw *w)
{
    sp_rw_raw(w, w->resp == 3 ? "_\r\n" : "$-1\r\n", w->resp == 3 ? 3 : 5);
}

void
sp_rw_status(struct sp_rw *w, const char *text)
{
    sp_rw_fmt(w, "+%s\r\n", text);
}

void
sp_rw_verbatim(struct sp_rw *w, const char *text, size_t len)
{
    if (w->resp == 3) {
        sp_rw_fmt(w, "=%zu\r\ntxt:", len + 4);
        sp_rw_raw(w, text, len);
        sp_rw_raw(w, "\r\n", 2);
    } else {
        sp_rw_bulk(w, text, len);
    }
}

int
sp_rw_finish(struct sp_rw *w, struct sp_msg *msg)
{
    int rc = -1;

    if (!w->failed && w->len <= UINT32_MAX
        && sp_msg_gen_reserve(msg, (uint32_t)w->len) == 0
        && sp_msg_gen_push(msg, &msg->rsp, w->buf, (uint32_t)w->len) == 0) {
        msg->done = true;
        rc = 0;
    }
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
    return rc;
}
