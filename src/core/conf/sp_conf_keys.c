/*
 * sp_conf_keys.c — the key tables of a pool and of `global:`, and the
 * setters that turn one YAML value into one field. A new key is one row
 * (and, for a new kind of value, one setter). Fields start at their
 * defaults; a key given twice is caught by the walker, not here.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_conf_int.h"
#include "sp_conf_value.h"

/* The scalar's text, or NULL after a message when the node is not one. */
static const char *
sp_conf_scalar(struct sp_conf_loader *ld, const struct sp_conf_key *key,
               yaml_node_t *value)
{
    if (value->type != YAML_SCALAR_NODE) {
        sp_conf_fail(ld, value, "%s must be a single value, not %s",
                     key->name, sp_conf_node_kind(value));
        return NULL;
    }
    if (value->data.scalar.length == 0
        && value->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        sp_conf_fail(ld, value, "%s has no value", key->name);
        return NULL;
    }
    if (strlen((const char *)value->data.scalar.value)
        != value->data.scalar.length) {
        sp_conf_fail(ld, value, "%s contains a NUL byte", key->name);
        return NULL;
    }
    return (const char *)value->data.scalar.value;
}

static char *
sp_conf_strdup(struct sp_conf_loader *ld, yaml_node_t *node, const char *s)
{
    char *copy = strdup(s);

    if (copy == NULL) {
        sp_conf_fail(ld, node, "out of memory");
    }
    return copy;
}

/* ---- setters ----------------------------------------------------------- */

static int
sp_conf_set_number(struct sp_conf_loader *ld, const struct sp_conf_key *key,
                   yaml_node_t *value, void *field)
{
    const char *s = sp_conf_scalar(ld, key, value), *why;
    int64_t number;

    if (s == NULL) {
        return -1;
    }
    if (sp_conf_parse_number(s, key->max, &number, &why) != 0) {
        return sp_conf_fail(ld, value, "%s '%s' %s (0..%lld expected)",
                            key->name, s, why, (long long)key->max);
    }
    *(int *)field = (int)number;
    return 0;
}

static int
sp_conf_set_bool(struct sp_conf_loader *ld, const struct sp_conf_key *key,
                 yaml_node_t *value, void *field)
{
    const char *s = sp_conf_scalar(ld, key, value);

    if (s == NULL) {
        return -1;
    }
    if (strcmp(s, "true") == 0) {
        *(bool *)field = true;
    } else if (strcmp(s, "false") == 0) {
        *(bool *)field = false;
    } else {
        return sp_conf_fail(ld, value, "%s '%s' is not true or false",
                            key->name, s);
    }
    return 0;
}

static int
sp_conf_set_string(struct sp_conf_loader *ld, const struct sp_conf_key *key,
                   yaml_node_t *value, void *field)
{
    const char *s = sp_conf_scalar(ld, key, value);

    if (s == NULL) {
        return -1;
    }
    *(char **)field = sp_conf_strdup(ld, value, s);
    return *(char **)field != NULL ? 0 : -1;
}

static int
sp_conf_set_hash(struct sp_conf_loader *ld, const struct sp_conf_key *key,
                 yaml_node_t *value, void *field)
{
    const char *s = sp_conf_scalar(ld, key, value);
    sp_hash_type_t type;

    if (s == NULL) {
        return -1;
    }
    type = sp_hash_lookup(s, strlen(s));
    if (type == SP_HASH_NTYPES) {
        return sp_conf_fail(ld, value, "%s '%s' is not one of %s", key->name,
                            s, sp_hash_names());
    }
    *(sp_hash_type_t *)field = type;
    return 0;
}

static int
sp_conf_set_distribution(struct sp_conf_loader *ld,
                         const struct sp_conf_key *key, yaml_node_t *value,
                         void *field)
{
    const char *s = sp_conf_scalar(ld, key, value);
    sp_dist_type_t type;

    if (s == NULL) {
        return -1;
    }
    type = sp_dist_lookup(s, strlen(s));
    if (type == SP_DIST_NTYPES) {
        return sp_conf_fail(ld, value, "%s '%s' is not one of %s", key->name,
                            s, sp_dist_names());
    }
    *(sp_dist_type_t *)field = type;
    return 0;
}

static int
sp_conf_set_hash_tag(struct sp_conf_loader *ld, const struct sp_conf_key *key,
                     yaml_node_t *value, void *field)
{
    const char *s = sp_conf_scalar(ld, key, value);

    if (s == NULL) {
        return -1;
    }
    if (strlen(s) != 2) {
        return sp_conf_fail(ld, value,
                            "%s '%s' is not two characters (e.g. \"{}\")",
                            key->name, s);
    }
    memcpy(field, s, 3);
    return 0;
}

static int
sp_conf_set_listen(struct sp_conf_loader *ld, const struct sp_conf_key *key,
                   yaml_node_t *value, void *field)
{
    struct sp_conf_pool *pool = field;
    const char *s = sp_conf_scalar(ld, key, value), *why;

    if (s == NULL) {
        return -1;
    }
    pool->listen_pname = sp_conf_strdup(ld, value, s);
    if (pool->listen_pname == NULL) {
        return -1;
    }
    if (sp_conf_parse_listen(s, &pool->listen, &why) != 0
        || sp_conf_resolve_listen(&pool->listen, &why) != 0) {
        return sp_conf_fail(ld, value, "%s '%s' %s", key->name, s, why);
    }
    return 0;
}

/* A global listening address: its text and the parsed address; a Unix
 * path only if unix_ok. */
static int
sp_conf_set_global_listen(struct sp_conf_loader *ld,
                          const struct sp_conf_key *key, yaml_node_t *value,
                          char **text, struct sp_conf_addr *addr, bool unix_ok)
{
    const char *s = sp_conf_scalar(ld, key, value), *why;

    if (s == NULL) {
        return -1;
    }
    *text = sp_conf_strdup(ld, value, s);
    if (*text == NULL) {
        return -1;
    }
    if (sp_conf_parse_listen(s, addr, &why) != 0
        || sp_conf_resolve_listen(addr, &why) != 0) {
        return sp_conf_fail(ld, value, "%s '%s' %s", key->name, s, why);
    }
    if (addr->is_unix && !unix_ok) {
        return sp_conf_fail(ld, value, "%s '%s' must be host:port", key->name,
                            s);
    }
    return 0;
}

/* global metrics_listen: host:port (TCP only) */
static int
sp_conf_set_metrics_listen(struct sp_conf_loader *ld,
                           const struct sp_conf_key *key, yaml_node_t *value,
                           void *field)
{
    struct sp_conf_global *global = field;

    return sp_conf_set_global_listen(ld, key, value, &global->metrics_listen,
                                     &global->metrics_addr, false);
}

/* global worker_stats_listen: host:port (worker i on port + i) or a Unix
 * path (worker i on "<path>.<i>") */
static int
sp_conf_set_worker_stats_listen(struct sp_conf_loader *ld,
                                const struct sp_conf_key *key,
                                yaml_node_t *value, void *field)
{
    struct sp_conf_global *global = field;

    return sp_conf_set_global_listen(ld, key, value,
                                     &global->worker_stats_listen,
                                     &global->worker_stats_addr, true);
}

/*
 * A non-empty list of at most `max` entries of `form` ("host:port"): room
 * for its entries, zeroed, of `size` bytes each, and their count in *n.
 * NULL after a message.
 */
static void *
sp_conf_list_alloc(struct sp_conf_loader *ld, const struct sp_conf_key *key,
                   yaml_node_t *value, const char *form, size_t max,
                   size_t size, size_t *n)
{
    void *entries;

    if (value->type != YAML_SEQUENCE_NODE) {
        sp_conf_fail(ld, value, "%s must be a list of \"%s\" entries, not %s",
                     key->name, form, sp_conf_node_kind(value));
        return NULL;
    }
    *n = (size_t)(value->data.sequence.items.top
                  - value->data.sequence.items.start);
    if (*n == 0) {
        sp_conf_fail(ld, value, "%s is an empty list", key->name);
        return NULL;
    }
    if (*n > max) {
        sp_conf_fail(ld, value, "%s lists %zu entries (at most %zu)",
                     key->name, *n, max);
        return NULL;
    }
    entries = calloc(*n, size);
    if (entries == NULL) {
        sp_conf_fail(ld, value, "out of memory");
    }
    return entries;
}

static int
sp_conf_set_servers(struct sp_conf_loader *ld, const struct sp_conf_key *key,
                    yaml_node_t *value, void *field)
{
    struct sp_conf_pool *pool = field;
    yaml_node_item_t *item;
    size_t n;

    pool->servers = sp_conf_list_alloc(ld, key, value,
                                       "host:port:weight [name]", SIZE_MAX,
                                       sizeof(*pool->servers), &n);
    if (pool->servers == NULL) {
        return -1;
    }

    for (item = value->data.sequence.items.start;
         item < value->data.sequence.items.top; item++) {
        yaml_node_t *entry = yaml_document_get_node(&ld->doc, *item);
        struct sp_conf_server *server = &pool->servers[pool->nservers];
        const char *s = sp_conf_scalar(ld, key, entry), *why;

        if (s == NULL) {
            return -1;
        }
        pool->nservers++;   /* counted now so sp_conf_free releases it */
        if (sp_conf_parse_server(s, server, &why) != 0) {
            return sp_conf_fail(ld, entry, "server '%s' %s", s, why);
        }
        server->line = (int)entry->start_mark.line + 1;
    }
    return 0;
}

/* sentinels: a list of host:port (TCP only) */
static int
sp_conf_set_sentinels(struct sp_conf_loader *ld, const struct sp_conf_key *key,
                      yaml_node_t *value, void *field)
{
    struct sp_conf_pool *pool = field;
    size_t n;

    pool->sentinels = sp_conf_list_alloc(ld, key, value, "host:port",
                                         SP_CONF_SENTINELS_MAX,
                                         sizeof(*pool->sentinels), &n);
    if (pool->sentinels == NULL) {
        return -1;
    }
    for (yaml_node_item_t *item = value->data.sequence.items.start;
         item < value->data.sequence.items.top; item++) {
        yaml_node_t *entry = yaml_document_get_node(&ld->doc, *item);
        struct sp_conf_addr *addr = &pool->sentinels[pool->nsentinels];
        const char *s = sp_conf_scalar(ld, key, entry), *why;

        if (s == NULL) {
            return -1;
        }
        pool->nsentinels++;     /* counted now so sp_conf_free releases it */
        if (sp_conf_parse_listen(s, addr, &why) != 0) {
            return sp_conf_fail(ld, entry, "%s entry '%s' %s", key->name, s,
                                why);
        }
        if (addr->is_unix || addr->port == 0) {
            return sp_conf_fail(ld, entry, "%s entry '%s' is not host:port "
                                "with a port of 1..65535", key->name, s);
        }
    }
    return 0;
}

static int
sp_conf_set_auto_number(struct sp_conf_loader *ld, const struct sp_conf_key *key,
                        yaml_node_t *value, void *field)
{
    const char *s = sp_conf_scalar(ld, key, value);

    if (s == NULL) {
        return -1;
    }
    if (strcmp(s, "auto") == 0) {
        /* the same -1 for every `auto | N` key (SP_CONF_*_AUTO) */
        *(int *)field = SP_CONF_WORKERS_AUTO;
        return 0;
    }
    return sp_conf_set_number(ld, key, value, field);
}

/* worker_watchdog: 0 (off), or at least SP_CONF_WATCHDOG_MIN ms */
static int
sp_conf_set_watchdog(struct sp_conf_loader *ld, const struct sp_conf_key *key,
                     yaml_node_t *value, void *field)
{
    if (sp_conf_set_number(ld, key, value, field) != 0) {
        return -1;
    }
    if (*(int *)field != 0 && *(int *)field < SP_CONF_WATCHDOG_MIN) {
        return sp_conf_fail(ld, value, "%s %d is too short: an idle worker "
                            "turns its loop once a second (0 = off, or at "
                            "least %d ms)", key->name, *(int *)field,
                            SP_CONF_WATCHDOG_MIN);
    }
    return 0;
}

static int
sp_conf_add_cpu(struct sp_conf_loader *ld, struct sp_conf_global *global,
                yaml_node_t *node, const char *s, size_t len)
{
    char text[16];
    int64_t cpu;
    const char *why;
    int *cpus;

    if (len == 0 || len >= sizeof(text)) {
        return sp_conf_fail(ld, node, "worker_cpu_affinity '%.*s' is not a "
                            "CPU number", (int)len, s);
    }
    memcpy(text, s, len);
    text[len] = '\0';
    if (sp_conf_parse_number(text, 4095, &cpu, &why) != 0) {
        return sp_conf_fail(ld, node, "worker_cpu_affinity CPU '%s' %s "
                            "(0..4095 expected)", text, why);
    }
    cpus = realloc(global->cpus, (global->ncpus + 1) * sizeof(*cpus));
    if (cpus == NULL) {
        return sp_conf_fail(ld, node, "out of memory");
    }
    global->cpus = cpus;
    global->cpus[global->ncpus++] = (int)cpu;
    return 0;
}

/* auto | off | "0 1 2" | [0, 1, 2] */
static int
sp_conf_set_affinity(struct sp_conf_loader *ld, const struct sp_conf_key *key,
                     yaml_node_t *value, void *field)
{
    struct sp_conf_global *global = field;

    global->affinity = SP_AFFINITY_LIST;
    if (value->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *item = value->data.sequence.items.start;
             item < value->data.sequence.items.top; item++) {
            yaml_node_t *entry = yaml_document_get_node(&ld->doc, *item);
            const char *s = sp_conf_scalar(ld, key, entry);

            if (s == NULL || sp_conf_add_cpu(ld, global, entry, s,
                                             strlen(s)) != 0) {
                return -1;
            }
        }
    } else {
        const char *s = sp_conf_scalar(ld, key, value);

        if (s == NULL) {
            return -1;
        }
        if (strcmp(s, "auto") == 0) {
            global->affinity = SP_AFFINITY_AUTO;
            return 0;
        }
        if (strcmp(s, "off") == 0) {
            global->affinity = SP_AFFINITY_OFF;
            return 0;
        }
        for (const char *p = s; *p != '\0';) {
            size_t len = strcspn(p, " ,");
            if (len > 0 && sp_conf_add_cpu(ld, global, value, p, len) != 0) {
                return -1;
            }
            p += len;
            p += strspn(p, " ,");
        }
    }
    if (global->ncpus == 0) {
        return sp_conf_fail(ld, value, "%s lists no CPU (auto, off, or CPU "
                            "numbers expected)", key->name);
    }
    return 0;
}

/* primary | replica | prefer_replica */
static int
sp_conf_set_read_from(struct sp_conf_loader *ld, const struct sp_conf_key *key,
                      yaml_node_t *value, void *field)
{
    const char *s = sp_conf_scalar(ld, key, value);

    if (s == NULL) {
        return -1;
    }
    if (strcmp(s, "primary") == 0) {
        *(sp_read_from_t *)field = SP_READ_PRIMARY;
    } else if (strcmp(s, "replica") == 0) {
        *(sp_read_from_t *)field = SP_READ_REPLICA;
    } else if (strcmp(s, "prefer_replica") == 0) {
        *(sp_read_from_t *)field = SP_READ_PREFER_REPLICA;
    } else {
        return sp_conf_fail(ld, value, "%s '%s' is not one of primary, "
                            "replica, prefer_replica", key->name, s);
    }
    return 0;
}

static int
sp_conf_set_accept_mode(struct sp_conf_loader *ld,
                        const struct sp_conf_key *key, yaml_node_t *value,
                        void *field)
{
    const char *s = sp_conf_scalar(ld, key, value);

    if (s == NULL) {
        return -1;
    }
    if (strcmp(s, "reuseport") == 0) {
        *(sp_accept_mode_t *)field = SP_ACCEPT_REUSEPORT;
    } else if (strcmp(s, "lock") == 0) {
        *(sp_accept_mode_t *)field = SP_ACCEPT_LOCK;
    } else {
        return sp_conf_fail(ld, value, "%s '%s' is not one of reuseport, lock",
                            key->name, s);
    }
    return 0;
}

static int
sp_conf_set_event_backend(struct sp_conf_loader *ld,
                          const struct sp_conf_key *key, yaml_node_t *value,
                          void *field)
{
    const char *s = sp_conf_scalar(ld, key, value);

    if (s == NULL) {
        return -1;
    }
    if (strcmp(s, "epoll") == 0) {
        *(sp_event_backend_mode_t *)field = SP_EVENT_BACKEND_EPOLL;
    } else if (strcmp(s, "io_uring") == 0) {
        *(sp_event_backend_mode_t *)field = SP_EVENT_BACKEND_URING;
    } else {
        return sp_conf_fail(ld, value, "%s '%s' is not one of epoll, io_uring",
                            key->name, s);
    }
    return 0;
}

/* ---- key tables -------------------------------------------------------- */

#define SP_POOL_FIELD(f)    offsetof(struct sp_conf_pool, f)
#define SP_GLOBAL_FIELD(f)  offsetof(struct sp_conf_global, f)
#define SP_INT_MAX          INT64_C(2147483647)

const struct sp_conf_key sp_conf_pool_keys[] = {
    { "listen",               sp_conf_set_listen,       0, 0 },
    { "hash",                 sp_conf_set_hash,         SP_POOL_FIELD(hash), 0 },
    { "hash_tag",             sp_conf_set_hash_tag,     SP_POOL_FIELD(hash_tag), 0 },
    { "distribution",         sp_conf_set_distribution, SP_POOL_FIELD(distribution), 0 },
    { "timeout",              sp_conf_set_number,       SP_POOL_FIELD(timeout), SP_INT_MAX },
    { "backlog",              sp_conf_set_number,       SP_POOL_FIELD(backlog), SP_INT_MAX },
    { "client_connections",   sp_conf_set_number,       SP_POOL_FIELD(client_connections), SP_INT_MAX },
    { "redis",                sp_conf_set_bool,         SP_POOL_FIELD(redis), 0 },
    { "redis_auth",           sp_conf_set_string,       SP_POOL_FIELD(redis_auth), 0 },
    { "redis_auth_user",      sp_conf_set_string,       SP_POOL_FIELD(redis_auth_user), 0 },
    { "redis_db",             sp_conf_set_number,       SP_POOL_FIELD(redis_db), SP_INT_MAX },
    { "sentinels",            sp_conf_set_sentinels,    0, 0 },
    { "sentinel_auth",        sp_conf_set_string,       SP_POOL_FIELD(sentinel_auth), 0 },
    { "sentinel_auth_user",   sp_conf_set_string,       SP_POOL_FIELD(sentinel_auth_user), 0 },
    { "sentinel_refresh_interval", sp_conf_set_number,  SP_POOL_FIELD(sentinel_refresh_interval), 3600000 },
    { "cluster_refresh_interval", sp_conf_set_number,   SP_POOL_FIELD(cluster_refresh_interval), 3600000 },
    { "cluster_max_redirects", sp_conf_set_number,      SP_POOL_FIELD(cluster_max_redirects), 100 },
    { "cluster_max_nodes",    sp_conf_set_number,       SP_POOL_FIELD(cluster_max_nodes), 4096 },
    { "read_from",            sp_conf_set_read_from,    SP_POOL_FIELD(read_from), 0 },
    { "preconnect",           sp_conf_set_bool,         SP_POOL_FIELD(preconnect), 0 },
    { "auto_eject_hosts",     sp_conf_set_bool,         SP_POOL_FIELD(auto_eject_hosts), 0 },
    { "server_connections",   sp_conf_set_number,       SP_POOL_FIELD(server_connections), SP_INT_MAX },
    { "server_retry_timeout", sp_conf_set_number,       SP_POOL_FIELD(server_retry_timeout), SP_INT_MAX },
    { "server_failure_limit", sp_conf_set_number,       SP_POOL_FIELD(server_failure_limit), SP_INT_MAX },
    { "tcpkeepalive",         sp_conf_set_bool,         SP_POOL_FIELD(tcpkeepalive), 0 },
    { "reuseport",            sp_conf_set_bool,         SP_POOL_FIELD(reuseport), 0 },
    { "client_buffer_limit",  sp_conf_set_number,       SP_POOL_FIELD(client_buffer_limit), SP_INT_MAX },
    { "client_output_limit",  sp_conf_set_number,       SP_POOL_FIELD(client_output_limit), SP_INT_MAX },
    { "client_timeout",       sp_conf_set_number,       SP_POOL_FIELD(client_timeout), SP_INT_MAX },
    { "client_high_watermark", sp_conf_set_number,      SP_POOL_FIELD(client_high_watermark), SP_INT_MAX },
    { "client_low_watermark", sp_conf_set_number,       SP_POOL_FIELD(client_low_watermark), SP_INT_MAX },
    { "server_high_watermark", sp_conf_set_number,      SP_POOL_FIELD(server_high_watermark), SP_INT_MAX },
    { "server_low_watermark", sp_conf_set_number,       SP_POOL_FIELD(server_low_watermark), SP_INT_MAX },
    { "blocking_connections", sp_conf_set_number,       SP_POOL_FIELD(blocking_connections), 65536 },
    { "tls",                  sp_conf_set_bool,         SP_POOL_FIELD(tls.enabled), 0 },
    { "tls_cert_file",        sp_conf_set_string,       SP_POOL_FIELD(tls.cert_file), 0 },
    { "tls_key_file",         sp_conf_set_string,       SP_POOL_FIELD(tls.key_file), 0 },
    { "tls_ca_file",          sp_conf_set_string,       SP_POOL_FIELD(tls.ca_file), 0 },
    { "tls_protocols",        sp_conf_set_string,       SP_POOL_FIELD(tls.protocols), 0 },
    { "tls_ciphers",          sp_conf_set_string,       SP_POOL_FIELD(tls.ciphers), 0 },
    { "tls_ciphersuites",     sp_conf_set_string,       SP_POOL_FIELD(tls.ciphersuites), 0 },
    { "tls_handshake_timeout", sp_conf_set_number,      SP_POOL_FIELD(tls_handshake_timeout), SP_INT_MAX },
    { "server_tls",           sp_conf_set_bool,         SP_POOL_FIELD(server_tls.enabled), 0 },
    { "server_tls_cert_file", sp_conf_set_string,       SP_POOL_FIELD(server_tls.cert_file), 0 },
    { "server_tls_key_file",  sp_conf_set_string,       SP_POOL_FIELD(server_tls.key_file), 0 },
    { "server_tls_ca_file",   sp_conf_set_string,       SP_POOL_FIELD(server_tls.ca_file), 0 },
    { "server_tls_server_name", sp_conf_set_string,     SP_POOL_FIELD(server_tls.server_name), 0 },
    { "server_tls_verify",    sp_conf_set_bool,         SP_POOL_FIELD(server_tls.verify), 0 },
    { "server_tls_protocols", sp_conf_set_string,       SP_POOL_FIELD(server_tls.protocols), 0 },
    { "server_tls_ciphers",   sp_conf_set_string,       SP_POOL_FIELD(server_tls.ciphers), 0 },
    { "server_tls_ciphersuites", sp_conf_set_string,    SP_POOL_FIELD(server_tls.ciphersuites), 0 },
    { "servers",              sp_conf_set_servers,      0, 0 },
};

const struct sp_conf_key sp_conf_global_keys[] = {
    { "worker_processes",        sp_conf_set_auto_number,     SP_GLOBAL_FIELD(worker_processes), 1024 },
    { "worker_cpu_affinity",     sp_conf_set_affinity,    0, 0 },
    { "accept_mode",             sp_conf_set_accept_mode, SP_GLOBAL_FIELD(accept_mode), 0 },
    { "accept_lock_threshold",   sp_conf_set_number,      SP_GLOBAL_FIELD(accept_lock_threshold), SP_INT_MAX },
    { "event_backend",           sp_conf_set_event_backend, SP_GLOBAL_FIELD(event_backend), 0 },
    { "worker_shutdown_timeout", sp_conf_set_number,      SP_GLOBAL_FIELD(worker_shutdown_timeout), 86400 },
    { "worker_watchdog",         sp_conf_set_watchdog,     SP_GLOBAL_FIELD(worker_watchdog), 86400000 },
    { "max_openfiles",           sp_conf_set_number,      SP_GLOBAL_FIELD(max_openfiles), 16777216 },
    { "user",                    sp_conf_set_string,      SP_GLOBAL_FIELD(user), 0 },
    { "slowlog_threshold",       sp_conf_set_number,      SP_GLOBAL_FIELD(slowlog_threshold), 3600000 },
    { "hot_server_share",        sp_conf_set_number,      SP_GLOBAL_FIELD(hot_server_share), 100 },
    { "latency_histograms",      sp_conf_set_bool,        SP_GLOBAL_FIELD(latency_histograms), 0 },
    { "hot_keys",                sp_conf_set_bool,        SP_GLOBAL_FIELD(hot_keys), 0 },
    { "metrics_listen",          sp_conf_set_metrics_listen, 0, 0 },
    { "worker_stats_listen",     sp_conf_set_worker_stats_listen, 0, 0 },
    { "worker_memory_budget",    sp_conf_set_auto_number,     SP_GLOBAL_FIELD(worker_memory_budget), 16777216 },
    { "group",                   sp_conf_set_string,      SP_GLOBAL_FIELD(group), 0 },
};

#define SP_NELEMS(a) (sizeof(a) / sizeof((a)[0]))

const size_t sp_conf_npool_keys = SP_NELEMS(sp_conf_pool_keys);
const size_t sp_conf_nglobal_keys = SP_NELEMS(sp_conf_global_keys);

_Static_assert(SP_NELEMS(sp_conf_pool_keys) <= SP_CONF_MAX_KEYS,
               "raise SP_CONF_MAX_KEYS");

