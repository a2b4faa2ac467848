/*
 * sp_locate.h — `--locate POOL KEY...`: print which server owns each key,
 * from the configuration alone (no connection is made). Operators use it to
 * find a hot or missing key; the tests use it to prove that placement is
 * nutcracker's. One line a key, keys written back byte for byte:
 *   KEY -> NAME ADDR        (ADDR is host:port, [v6]:port, or a path)
 */
#ifndef SP_LOCATE_H
#define SP_LOCATE_H

#include <stdio.h>

#include "sp_conf.h"

/*
 * Locate keys[0..nkeys) or, when nkeys is 0, each line of `in` (without its
 * newline). Returns 0, or -1 after writing why to err (unknown pool, random
 * distribution, out of memory).
 */
int sp_locate(const struct sp_conf *conf, const char *pool_name, char **keys,
              int nkeys, FILE *in, FILE *out, FILE *err);

/* Print one key's line. */
typedef void (*sp_locate_print_fn)(const void *placement, const char *key,
                                   size_t len, FILE *out);

/* Call print for keys[0..nkeys), or each line of `in` when nkeys is 0. */
void sp_locate_each(sp_locate_print_fn print, const void *placement,
                    char **keys, int nkeys, FILE *in, FILE *out);

/* The same for a Redis Cluster pool, asking the live cluster
 * (sp_locate_cluster.c): "KEY -> HOST:PORT slot N". */
int sp_locate_cluster(const struct sp_conf_pool *pool, char **keys, int nkeys,
                      FILE *in, FILE *out, FILE *err);

#endif /* SP_LOCATE_H */
