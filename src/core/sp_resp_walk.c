/*
 * sp_resp_walk.c — RESP2 elements read in place out of a buffer (see
 * sp_resp_walk.h).
 */
#include "sp_resp_walk.h"

#include <stdbool.h>
#include <string.h>

/* A decimal of at most 18 digits, optionally negative, and nothing else. */
static int
sp_resp_walk_number(const char *s, size_t len, int64_t *out)
{
    bool neg = len > 0 && s[0] == '-';
    size_t i = neg ? 1 : 0;
    int64_t n = 0;

    if (i == len || len - i > 18) {
        return -1;
    }
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        n = n * 10 + (s[i] - '0');
    }
    *out = neg ? -n : n;
    return 0;
}

int
sp_resp_walk_next(struct sp_resp_walk *w, struct sp_resp_elem *e)
{
    const char *cr;
    size_t line, next, left;

    if (w->pos >= w->len) {
        return 0;
    }
    left = w->len - w->pos;
    cr = memchr(w->buf + w->pos, '\r', left);
    if (cr == NULL || (size_t)(cr - w->buf) + 1 >= w->len) {
        return w->line_max != 0 && left > w->line_max + 2 ? -1 : 0;
    }
    if (cr[1] != '\n') {
        return -1;
    }
    line = (size_t)(cr - w->buf) - w->pos - 1;
    if (w->line_max != 0 && line > w->line_max) {
        return -1;
    }
    next = (size_t)(cr - w->buf) + 2;
    memset(e, 0, sizeof(*e));
    e->type = w->buf[w->pos];
    const char *text = w->buf + w->pos + 1;

    switch (e->type) {
    case '+':
    case '-':
        e->s = text;
        e->len = line;
        break;
    case ':':
        if (sp_resp_walk_number(text, line, &e->n) != 0) {
            return -1;
        }
        break;
    case '*':
        if (sp_resp_walk_number(text, line, &e->n) != 0 || e->n < -1) {
            return -1;
        }
        if (e->n == -1) {
            e->type = 0;
        }
        break;
    case '$':
        if (sp_resp_walk_number(text, line, &e->n) != 0 || e->n < -1
            || (w->bulk_max != 0 && e->n > w->bulk_max)) {
            return -1;
        }
        if (e->n == -1) {
            e->type = 0;
            break;
        }
        if ((uint64_t)e->n > w->len - next || w->len - next - (size_t)e->n < 2) {
            return 0;
        }
        if (w->buf[next + (size_t)e->n] != '\r'
            || w->buf[next + (size_t)e->n + 1] != '\n') {
            return -1;
        }
        e->s = w->buf + next;
        e->len = (size_t)e->n;
        next += (size_t)e->n + 2;
        break;
    default:
        return -1;
    }
    w->pos = next;
    return 1;
}

int
sp_resp_walk_whole(struct sp_resp_walk *w, int depth, struct sp_resp_elem *e)
{
    size_t start = w->pos;
    int rc = sp_resp_walk_next(w, e);

    if (rc != 1 || e->type != '*') {
        return rc;
    }
    if (depth >= w->depth_max) {
        return -1;
    }
    for (int64_t i = 0; i < e->n; i++) {
        rc = sp_resp_walk_skip(w, depth + 1);
        if (rc != 1) {
            w->pos = start;
            return rc;
        }
    }
    return 1;
}

int
sp_resp_walk_skip(struct sp_resp_walk *w, int depth)
{
    struct sp_resp_elem e;

    return sp_resp_walk_whole(w, depth, &e);
}
