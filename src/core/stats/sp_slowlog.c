/*
 * sp_slowlog.c — logging slow requests, rate-bounded (see sp_slowlog.h).
 */
#include "sp_slowlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_msg.h"
#include "sp_pool.h"
#include "sp_worker.h"

#define SP_SLOWLOG_PEEK 512     /* bytes of the request looked at */

void
sp_slowlog_key_text(const uint8_t *key, size_t len, size_t full_len, char *out,
                    size_t outlen)
{
    size_t at = 0, shown = len < SP_SLOWLOG_KEYLEN ? len : SP_SLOWLOG_KEYLEN;

    for (size_t i = 0; i < shown && at + 5 < outlen; i++) {
        if (key[i] >= 0x20 && key[i] < 0x7f && key[i] != '\'' && key[i] != '\\') {
            out[at++] = (char)key[i];
        } else {
            at += (size_t)snprintf(out + at, outlen - at, "\\x%02x", key[i]);
        }
    }
    if ((shown < len || full_len > shown) && at + 4 < outlen) {
        memcpy(out + at, "...", 3);
        at += 3;
    }
    out[at] = '\0';
}

/* The argument after the command: RESP bulk strings, or text tokens. */
void
sp_slowlog_key(const uint8_t *req, size_t len, int index, char *out,
               size_t outlen)
{
    const uint8_t *p = req, *end = req + len;

    out[0] = '\0';
    if (index < 1) {
        return;                 /* a command without a key */
    }
    if (len > 0 && req[0] == '*') {
        for (int arg = 0; arg <= index; arg++) {
            const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
            if (nl == NULL) {
                return;
            }
            p = nl + 1;                         /* past "*N" or the last bulk */
            if (p >= end || *p != '$') {
                return;
            }
            long blen = strtol((const char *)p + 1, NULL, 10);
            nl = memchr(p, '\n', (size_t)(end - p));
            if (nl == NULL || blen < 0) {
                return;
            }
            p = nl + 1;
            if (arg == index) {
                size_t have = (size_t)(end - p);
                sp_slowlog_key_text(p, (size_t)blen < have ? (size_t)blen : have,
                                    (size_t)blen, out, outlen);
                return;
            }
            p += blen;                          /* the command, then \r\n */
            if (p >= end) {
                return;
            }
        }
        return;
    }
    /* inline or memcache: "cmd key ..." (the first key) */
    while (p < end && *p != ' ' && *p != '\r' && *p != '\n') {
        p++;
    }
    while (p < end && *p == ' ') {
        p++;
    }
    const uint8_t *k = p;
    while (p < end && *p != ' ' && *p != '\r' && *p != '\n') {
        p++;
    }
    sp_slowlog_key_text(k, (size_t)(p - k), (size_t)(p - k), out, outlen);
}

void
sp_slowlog_note(struct sp_worker *worker, struct sp_pool *pool,
                const struct sp_msg *msg, uint64_t took_us)
{
    uint64_t now = sp_event_now_ms(worker->loop);
    uint8_t peek[SP_SLOWLOG_PEEK];
    char key[4 * SP_SLOWLOG_KEYLEN + 8], server[128];
    int first_key = 1;
    const char *cmd = pool->proto->command_name(msg, &first_key);
    size_t n;

    if (now - worker->slowlog_window_ms >= 1000) {
        worker->slowlog_window_ms = now;
        worker->slowlog_lines = 0;
    }
    if (worker->slowlog_lines >= SP_SLOWLOG_PER_SEC) {
        worker->slowlog_suppressed++;
        return;
    }
    worker->slowlog_lines++;
    n = sp_seglist_copy(&msg->req, 0, peek, sizeof(peek));
    sp_slowlog_key(peek, n, first_key, key, sizeof(key));
    if (sp_msg_nfrags(msg) > 0) {
        snprintf(server, sizeof(server), "(%u servers)", msg->ext->nfrags);
    } else if (msg->rtt_us > 0 && msg->server < pool->nservers) {
        snprintf(server, sizeof(server), "'%s'",
                 pool->servers[msg->server].conf->name);
    } else {
        snprintf(server, sizeof(server), "(none: answered by the proxy)");
    }
    char more[64] = "";
    if (worker->slowlog_suppressed > 0) {
        snprintf(more, sizeof(more), "; %llu more not logged",
                 (unsigned long long)worker->slowlog_suppressed);
    }
    sp_log_notice(worker->log, "slow request: pool '%s' server %s %s '%s' "
                  "took %.2f ms (server %.2f ms)%s", pool->conf->name,
                  server, cmd, key, (double)took_us / 1000.0,
                  (double)msg->rtt_us / 1000.0, more);
    worker->slowlog_suppressed = 0;
}
