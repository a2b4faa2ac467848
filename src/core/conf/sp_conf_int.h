/*
 * sp_conf_int.h — private to the configuration loader (sp_conf*.c): the
 * loader state, the key-table row, and the message helper that prefixes
 * file, line, column and section. Nothing outside src/core/sp_conf*.c
 * includes this.
 */
#ifndef SP_CONF_INT_H
#define SP_CONF_INT_H

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "sp_conf.h"

#define SP_CONF_MAX_KEYS 64     /* rows in one section's key table */

struct sp_conf_loader {
    const char      *path;
    yaml_document_t  doc;
    struct sp_conf  *conf;
    const char      *section;   /* "pool 'alpha'", "global", or NULL */
    uint32_t         pools_cap; /* room in conf->pools */
    char            *err;
    size_t           errlen;
};

struct sp_conf_key;
typedef int (*sp_conf_setter)(struct sp_conf_loader *ld,
                              const struct sp_conf_key *key,
                              yaml_node_t *value, void *field);

/* One row of a section's key table. */
struct sp_conf_key {
    const char     *name;
    sp_conf_setter  set;
    size_t          offset;     /* of the field in the section's struct */
    int64_t         max;        /* numbers: the largest accepted */
};

extern const struct sp_conf_key sp_conf_pool_keys[];
extern const size_t sp_conf_npool_keys;
extern const struct sp_conf_key sp_conf_global_keys[];
extern const size_t sp_conf_nglobal_keys;

/*
 * Write "FILE:LINE:COL: SECTION: message" (position of node; without it,
 * "FILE: SECTION: message") into the loader's error buffer. Returns -1.
 */
int sp_conf_fail(struct sp_conf_loader *ld, const yaml_node_t *node,
                 const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "a single value", "a list", "a mapping" */
const char *sp_conf_node_kind(const yaml_node_t *node);

yaml_node_t *sp_conf_node(struct sp_conf_loader *ld, int id);

/* The pair / the value of key `name` in a mapping node, or NULL. */
yaml_node_pair_t *sp_conf_mapping_pair(struct sp_conf_loader *ld,
                                       yaml_node_t *map, const char *name);
yaml_node_t *sp_conf_mapping_get(struct sp_conf_loader *ld, yaml_node_t *map,
                                 const char *name);

/* The key node of `name` in a mapping (for its position), or NULL. */
yaml_node_t *sp_conf_key_node(struct sp_conf_loader *ld, yaml_node_t *map,
                              const char *name);

/* A Redis Cluster pool's rules (sp_conf_cluster.c), and its servers grown
 * to room for cluster_max_nodes. */
int sp_conf_check_cluster(struct sp_conf_loader *ld, struct sp_conf_pool *pool,
                          yaml_node_t *map);

/* Cross-key rules of one pool, after its keys are read. */
int sp_conf_check_pool(struct sp_conf_loader *ld, struct sp_conf_pool *pool,
                       yaml_node_t *knode, yaml_node_t *map);

/* Sort pools and their servers by name, as nutcracker does (names are
 * unique by then). */
void sp_conf_order(struct sp_conf *conf);

#endif /* SP_CONF_INT_H */
