/*
 * sp_json.c — the tools' JSON reader (see sp_json.h): recursive descent,
 * nesting bounded, every error with its offset.
 */
#include "sp_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SP_JSON_DEPTH_MAX 64         /* levels of arrays and objects */

struct sp_json_parser {
    const char *p;
    const char *start;
    const char *end;
    char       *err;
    size_t      errlen;
    int         failed;
};

static void
sp_json_fail(struct sp_json_parser *ps, const char *what)
{
    if (!ps->failed) {
        snprintf(ps->err, ps->errlen, "%s at offset %zu", what,
                 (size_t)(ps->p - ps->start));
        ps->failed = 1;
    }
}

static void
sp_json_blanks(struct sp_json_parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'
                               || *ps->p == '\n' || *ps->p == '\r')) {
        ps->p++;
    }
}

static int
sp_json_literal(struct sp_json_parser *ps, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
        sp_json_fail(ps, "unexpected word");
        return -1;
    }
    ps->p += n;
    return 0;
}

static int
sp_json_hex4(struct sp_json_parser *ps, unsigned *out)
{
    unsigned v = 0;

    if (ps->end - ps->p < 4) {
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        char c = *ps->p++;
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (unsigned)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v |= (unsigned)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v |= (unsigned)(c - 'A' + 10);
        } else {
            return -1;
        }
    }
    *out = v;
    return 0;
}

/* A string after its opening quote: a malloc'd copy, escapes decoded. */
static char *
sp_json_string(struct sp_json_parser *ps)
{
    size_t cap = 16, len = 0;
    char *s = malloc(cap);

    while (s != NULL) {
        unsigned cp;
        char c;

        if (ps->p >= ps->end) {
            sp_json_fail(ps, "unterminated string");
            break;
        }
        if (cap - len < 8) {
            char *grown = realloc(s, cap * 2);
            if (grown == NULL) {
                break;
            }
            s = grown;
            cap *= 2;
        }
        c = *ps->p++;
        if (c == '"') {
            s[len] = '\0';
            return s;
        }
        if (c != '\\') {
            s[len++] = c;
            continue;
        }
        if (ps->p >= ps->end) {
            sp_json_fail(ps, "unterminated string");
            break;
        }
        c = *ps->p++;
        switch (c) {
        case '"': case '\\': case '/': s[len++] = c; continue;
        case 'b': s[len++] = '\b'; continue;
        case 'f': s[len++] = '\f'; continue;
        case 'n': s[len++] = '\n'; continue;
        case 'r': s[len++] = '\r'; continue;
        case 't': s[len++] = '\t'; continue;
        case 'u':
            if (sp_json_hex4(ps, &cp) != 0) {
                sp_json_fail(ps, "bad \\u escape");
                free(s);
                return NULL;
            }
            /* UTF-8 of the code unit (a surrogate stays as it is) */
            if (cp < 0x80) {
                s[len++] = (char)cp;
            } else if (cp < 0x800) {
                s[len++] = (char)(0xc0 | (cp >> 6));
                s[len++] = (char)(0x80 | (cp & 0x3f));
            } else {
                s[len++] = (char)(0xe0 | (cp >> 12));
                s[len++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                s[len++] = (char)(0x80 | (cp & 0x3f));
            }
            continue;
        default:
            sp_json_fail(ps, "bad escape");
            free(s);
            return NULL;
        }
    }
    if (s == NULL) {
        sp_json_fail(ps, "out of memory");
    }
    free(s);
    return NULL;
}

static struct sp_json *sp_json_value(struct sp_json_parser *ps, int depth);

/* The elements of an array or the members of an object, after its
 * opening bracket, up to close. */
static int
sp_json_items(struct sp_json_parser *ps, struct sp_json *parent, char close,
              int depth)
{
    struct sp_json **tail = &parent->child;

    sp_json_blanks(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return 0;
    }
    for (;;) {
        char *key = NULL;
        struct sp_json *item;

        sp_json_blanks(ps);
        if (parent->type == SP_JSON_OBJECT) {
            if (ps->p >= ps->end || *ps->p != '"') {
                sp_json_fail(ps, "expected a member name");
                return -1;
            }
            ps->p++;
            key = sp_json_string(ps);
            if (key == NULL) {
                return -1;
            }
            sp_json_blanks(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free(key);
                sp_json_fail(ps, "expected ':'");
                return -1;
            }
            ps->p++;
        }
        item = sp_json_value(ps, depth + 1);
        if (item == NULL) {
            free(key);
            return -1;
        }
        item->key = key;
        *tail = item;
        tail = &item->next;
        sp_json_blanks(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return 0;
        }
        sp_json_fail(ps, close == '}' ? "expected ',' or '}'"
                                      : "expected ',' or ']'");
        return -1;
    }
}

static struct sp_json *
sp_json_value(struct sp_json_parser *ps, int depth)
{
    struct sp_json *v;
    int rc = 0;

    if (depth >= SP_JSON_DEPTH_MAX) {
        sp_json_fail(ps, "nested too deep");
        return NULL;
    }
    sp_json_blanks(ps);
    if (ps->p >= ps->end) {
        sp_json_fail(ps, "unexpected end");
        return NULL;
    }
    v = calloc(1, sizeof(*v));
    if (v == NULL) {
        sp_json_fail(ps, "out of memory");
        return NULL;
    }
    switch (*ps->p) {
    case '{':
        ps->p++;
        v->type = SP_JSON_OBJECT;
        rc = sp_json_items(ps, v, '}', depth);
        break;
    case '[':
        ps->p++;
        v->type = SP_JSON_ARRAY;
        rc = sp_json_items(ps, v, ']', depth);
        break;
    case '"':
        ps->p++;
        v->type = SP_JSON_STRING;
        v->string = sp_json_string(ps);
        rc = v->string != NULL ? 0 : -1;
        break;
    case 't':
        v->type = SP_JSON_BOOL;
        v->number = 1;
        rc = sp_json_literal(ps, "true");
        break;
    case 'f':
        v->type = SP_JSON_BOOL;
        rc = sp_json_literal(ps, "false");
        break;
    case 'n':
        rc = sp_json_literal(ps, "null");
        break;
    default: {
        char buf[64], *end;
        size_t n = 0;

        while (ps->p + n < ps->end && n < sizeof(buf) - 1
               && strchr("+-0123456789.eE", ps->p[n]) != NULL) {
            n++;
        }
        memcpy(buf, ps->p, n);
        buf[n] = '\0';
        v->type = SP_JSON_NUMBER;
        v->number = strtod(buf, &end);
        if (n == 0 || *end != '\0') {
            sp_json_fail(ps, "unexpected character");
            rc = -1;
        }
        ps->p += n;
        break;
    }
    }
    if (rc != 0) {
        sp_json_free(v);
        return NULL;
    }
    return v;
}

struct sp_json *
sp_json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    struct sp_json_parser ps = { text, text, text + len, err, errlen, 0 };
    struct sp_json *v = sp_json_value(&ps, 0);

    if (v != NULL) {
        sp_json_blanks(&ps);
        if (ps.p != ps.end) {
            sp_json_fail(&ps, "text after the value");
            sp_json_free(v);
            v = NULL;
        }
    }
    return v;
}

void
sp_json_free(struct sp_json *json)
{
    while (json != NULL) {
        struct sp_json *next = json->next;
        sp_json_free(json->child);
        free(json->key);
        free(json->string);
        free(json);
        json = next;
    }
}

const struct sp_json *
sp_json_get(const struct sp_json *obj, const char *key)
{
    if (obj == NULL || obj->type != SP_JSON_OBJECT) {
        return NULL;
    }
    for (const struct sp_json *m = obj->child; m != NULL; m = m->next) {
        if (strcmp(m->key, key) == 0) {
            return m;
        }
    }
    return NULL;
}

double
sp_json_number(const struct sp_json *obj, const char *key, double dflt)
{
    const struct sp_json *m = sp_json_get(obj, key);

    return m != NULL && m->type == SP_JSON_NUMBER ? m->number : dflt;
}
