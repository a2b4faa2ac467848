/*
 * sp_json.h — a small JSON reader for the tools: parses one document into a
 * tree of nodes (objects keep their members in order) that the caller walks
 * and frees. It reads what the stats port writes; it is not on any path a
 * worker runs, so it allocates freely. Numbers are doubles.
 */
#ifndef SP_JSON_H
#define SP_JSON_H

#include <stddef.h>

enum sp_json_type {
    SP_JSON_NULL,
    SP_JSON_BOOL,
    SP_JSON_NUMBER,
    SP_JSON_STRING,
    SP_JSON_ARRAY,
    SP_JSON_OBJECT,
};

struct sp_json {
    enum sp_json_type type;
    char             *key;      /* a member's name (in an object), or NULL */
    char             *string;   /* SP_JSON_STRING: NUL-terminated */
    double            number;   /* SP_JSON_NUMBER; SP_JSON_BOOL: 0 or 1 */
    struct sp_json   *child;    /* ARRAY, OBJECT: the first element */
    struct sp_json   *next;     /* the next element of the parent */
};

/* Parse text[0..len) (one value, blanks around it). The tree, or NULL with
 * the reason and its offset in err. */
struct sp_json *sp_json_parse(const char *text, size_t len, char *err,
                              size_t errlen);
void sp_json_free(struct sp_json *json);

/* obj's member named key, or NULL (obj NULL or not an object: NULL). */
const struct sp_json *sp_json_get(const struct sp_json *obj, const char *key);

/* obj's member key as a number, or dflt when absent or not a number. */
double sp_json_number(const struct sp_json *obj, const char *key, double dflt);

#endif /* SP_JSON_H */
