/*
 * sp_conf_value.h — parsers for the scalar values of a configuration:
 * non-negative numbers, `listen` strings and `servers` entries, in
 * nutcracker 0.5's formats. Pure functions: a value in, a field or a reason
 * out. The reason is a constant phrase the caller puts after the value,
 * e.g. "'127.0.0.1:99999' <reason>".
 */
#ifndef SP_CONF_VALUE_H
#define SP_CONF_VALUE_H

#include <stddef.h>
#include <stdint.h>

#include "sp_conf.h"

/* Digits only (no sign), value <= max. Returns 0, or -1 with *why set. */
int sp_conf_parse_number(const char *s, int64_t max, int64_t *out,
                         const char **why);

/*
 * "host:port", "[v6addr]:port", or "/path [octal-perm]". Fills addr->host
 * (allocated), port, is_unix, perm; does not resolve.
 */
int sp_conf_parse_listen(const char *s, struct sp_conf_addr *addr,
                         const char **why);

/* Resolve a TCP listen address into addr->sa (numeric port, passive). */
int sp_conf_resolve_listen(struct sp_conf_addr *addr, const char **why);

/*
 * "host:port:weight [name]", "[v6addr]:port:weight [name]" or
 * "/path:weight [name]". Fills pname, name (the given one, else nutcracker's
 * identity: "host:port", "host" for port 11211, "path:" for a socket),
 * named, weight and addr (all strings allocated).
 */
int sp_conf_parse_server(const char *s, struct sp_conf_server *server,
                         const char **why);

/* Same address (resolved family, address and port, or the same path)? */
int sp_conf_addr_equal(const struct sp_conf_addr *a,
                       const struct sp_conf_addr *b);

#endif /* SP_CONF_VALUE_H */
