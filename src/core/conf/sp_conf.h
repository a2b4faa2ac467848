/*
 * sp_conf.h — the configuration as a value: pools, servers, process-wide
 * settings; loading from YAML and freeing.
 *
 * A loaded sp_conf is complete and validated, with every default filled in:
 * nothing downstream re-checks it. Loading never touches process state, so
 * `-t`, startup and a reload run the same code and a failed load leaves the
 * caller's current configuration untouched. Errors are written to a caller
 * buffer as "FILE:LINE:COL: pool 'NAME': what is wrong".
 *
 * Pools and each pool's servers are in nutcracker's order: sorted by name,
 * shorter names first, then bytewise (see sp_conf_check.c) -- not file order.
 *
 * Accepted layouts: nutcracker's (top-level keys are pools), with an optional
 * `global:` mapping (a `global` entry that has `listen` is a pool), and the
 * meitu/bitleak one (`global:` plus `pools:` holding the pools).
 */
#ifndef SP_CONF_H
#define SP_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "sp_dist.h"
#include "sp_hash.h"

#define SP_CONF_ERRLEN  1024

/* nutcracker 0.5 defaults */
#define SP_CONF_DEFAULT_HASH                 SP_HASH_FNV1A_64
#define SP_CONF_DEFAULT_DIST                 SP_DIST_KETAMA
#define SP_CONF_DEFAULT_TIMEOUT              (-1)   /* none */
#define SP_CONF_DEFAULT_BACKLOG              512
#define SP_CONF_DEFAULT_CLIENT_CONNECTIONS   0      /* unlimited */
#define SP_CONF_DEFAULT_REDIS_DB             0
#define SP_CONF_DEFAULT_SERVER_CONNECTIONS   1
#define SP_CONF_DEFAULT_SERVER_RETRY_TIMEOUT 30000  /* ms */
#define SP_CONF_DEFAULT_SERVER_FAILURE_LIMIT 2
#define SP_CONF_KETAMA_DEFAULT_PORT          11211
#define SP_CONF_DEFAULT_SENTINEL_REFRESH     5000   /* ms */
#define SP_CONF_DEFAULT_CLUSTER_REFRESH      5000   /* ms */
#define SP_CONF_DEFAULT_CLUSTER_REDIRECTS    5
#define SP_CONF_DEFAULT_CLUSTER_NODES        64
#define SP_CONF_SENTINELS_MAX                16

/* shardproxy's own pool keys */
#define SP_CONF_DEFAULT_CLIENT_BUFFER_LIMIT  (128 * 1024 * 1024)  /* bytes */
#define SP_CONF_DEFAULT_CLIENT_OUTPUT_LIMIT  (256 * 1024 * 1024)  /* bytes */
#define SP_CONF_DEFAULT_CLIENT_HIGH_WATERMARK (1024 * 1024)       /* bytes */
#define SP_CONF_DEFAULT_CLIENT_LOW_WATERMARK  (256 * 1024)        /* bytes */
#define SP_CONF_DEFAULT_SERVER_HIGH_WATERMARK (4 * 1024 * 1024)   /* bytes */
#define SP_CONF_DEFAULT_SERVER_LOW_WATERMARK  (1024 * 1024)       /* bytes */
#define SP_CONF_DEFAULT_BLOCKING_CONNECTIONS  64    /* per server per worker */

/* process-wide defaults */
#define SP_CONF_WORKERS_AUTO                 (-1)
#define SP_CONF_MEMORY_AUTO                  (-1)
#define SP_CONF_DEFAULT_SHUTDOWN_TIMEOUT     30     /* s */
#define SP_CONF_DEFAULT_WATCHDOG             5000   /* ms */
#define SP_CONF_WATCHDOG_MIN                 2000   /* ms: twice the worker's
                                                       tick, so an idle loop
                                                       is never taken for a
                                                       hung one */

/* A socket address as written and as resolved. */
struct sp_conf_addr {
    char                    *host;      /* host without [] or a socket path */
    uint16_t                 port;      /* 0 for a Unix socket */
    bool                     is_unix;
    mode_t                   perm;      /* Unix listen only; 0 = umask */
    struct sockaddr_storage  sa;        /* resolved (listen only) */
    socklen_t                salen;
};

struct sp_conf_server {
    char               *pname;      /* "host:port:weight" as written */
    char               *name;       /* given name, else the ketama identity */
    bool                named;
    uint32_t            weight;
    struct sp_conf_addr addr;       /* unresolved: servers resolve lazily */
    int                 line;
};

/*
 * TLS on one side of a pool (sp_tls.h): toward its clients (`tls`, the
 * proxy is the TLS server) or toward its servers (`server_tls`, the proxy
 * is the TLS client). The context is built when the configuration loads
 * (certificate files read, every key checked), so `-t`, startup and a
 * reload fail alike on a bad file; it belongs to this configuration and
 * is freed with it: one context per pool and side per generation.
 */
#define SP_CONF_DEFAULT_TLS_HANDSHAKE_TIMEOUT 5000  /* ms */

struct sp_conf_tls {
    bool    enabled;
    char   *cert_file;          /* PEM certificate (chain) */
    char   *key_file;           /* its private key */
    char   *ca_file;            /* clients: certificates required and
                                   verified; servers: verify against it */
    char   *protocols;          /* "TLSv1.2 TLSv1.3" */
    char   *ciphers;            /* TLS 1.2 cipher list */
    char   *ciphersuites;       /* TLS 1.3 suites */
    char   *server_name;        /* servers: SNI and the name verified */
    bool    verify;             /* servers: verify them (default true) */
    void   *ctx;                /* SSL_CTX, built at load */
    int64_t cert_expiry;        /* cert_file's notAfter, s since the epoch
                                   (0: no certificate) */
};

/* Which node of a shard serves reads (read_from): a Sentinel pool's
 * replicas, a Redis Cluster pool's replica nodes. */
typedef enum sp_read_from {
    SP_READ_PRIMARY,            /* the master, as every other request */
    SP_READ_REPLICA,            /* a replica; none up: an error reply */
    SP_READ_PREFER_REPLICA      /* a replica; none up: the master */
} sp_read_from_t;

struct sp_conf_pool {
    char                  *name;
    int                    line;
    char                  *listen_pname;    /* as written */
    struct sp_conf_addr    listen;
    sp_hash_type_t         hash;
    sp_dist_type_t         distribution;
    char                   hash_tag[3];     /* "" when unset */
    int                    timeout;         /* ms, -1 = none */
    int                    backlog;
    int                    client_connections;
    bool                   redis;
    char                  *redis_auth;      /* NULL when unset */
    char                  *redis_auth_user; /* ACL user for redis_auth
                                               (NULL: "default") */
    int                    redis_db;
    /* Sentinel-managed shards (sp_sentinel.h): each server's name is its
     * Sentinel master name, its address the first guess */
    struct sp_conf_addr   *sentinels;       /* host:port each; NULL: none */
    uint32_t               nsentinels;
    char                  *sentinel_auth;   /* NULL when unset */
    char                  *sentinel_auth_user; /* NULL: "default" */
    int                    sentinel_refresh_interval;  /* ms */
    /* Redis Cluster (distribution redis_cluster, sp_cluster.h): `servers`
     * holds the seeds first (nseeds), then room for the nodes found, up
     * to cluster_max_nodes in all */
    uint32_t               nseeds;
    int                    cluster_refresh_interval;   /* ms */
    int                    cluster_max_redirects;
    int                    cluster_max_nodes;
    sp_read_from_t         read_from;       /* read-only commands' target */
    bool                   preconnect;
    bool                   auto_eject_hosts;
    int                    server_connections;
    int                    server_retry_timeout;
    int                    server_failure_limit;
    bool                   tcpkeepalive;
    bool                   reuseport;
    int                    client_buffer_limit;  /* request bytes a client
                                                    may have in the proxy */
    int                    client_output_limit;  /* reply bytes waiting for
                                                    a client to read them */
    int                    client_timeout;       /* ms without a whole
                                                    request; 0: off */
    int                    client_high_watermark;/* bytes a client holds in
                                                    the proxy before it is
                                                    no longer read; 0: off */
    int                    client_low_watermark; /* ... and read again */
    int                    server_high_watermark;/* bytes queued for one
                                                    server (per worker)
                                                    before the clients that
                                                    send to it wait; 0: off */
    int                    server_low_watermark; /* ... and read again */
    int                    blocking_connections; /* per server per worker:
                                                    connections lent to
                                                    blocked clients (Redis
                                                    BLPOP ...); 0: refused */
    int                    tls_handshake_timeout;/* ms a TLS handshake may
                                                    take (either side) */
    struct sp_conf_tls     tls;                  /* toward clients */
    struct sp_conf_tls     server_tls;           /* toward servers */
    struct sp_conf_server *servers;
    uint32_t               nservers;
};

typedef enum sp_affinity_mode {
    SP_AFFINITY_AUTO,       /* worker i on CPU i mod ncpu */
    SP_AFFINITY_OFF,
    SP_AFFINITY_LIST
} sp_affinity_mode_t;

typedef enum sp_accept_mode {
    SP_ACCEPT_REUSEPORT,
    SP_ACCEPT_LOCK
} sp_accept_mode_t;

/* The workers' event loop (sp_event.h). */
typedef enum sp_event_backend_mode {
    SP_EVENT_BACKEND_EPOLL,
    SP_EVENT_BACKEND_URING
} sp_event_backend_mode_t;

struct sp_conf_global {
    int                 worker_processes;       /* SP_CONF_WORKERS_AUTO, or >= 0 */
    sp_event_backend_mode_t event_backend;      /* default epoll; the master
                                                   sets epoll where io_uring
                                                   cannot run */
    sp_affinity_mode_t  affinity;
    int                *cpus;                   /* SP_AFFINITY_LIST */
    uint32_t            ncpus;
    sp_accept_mode_t    accept_mode;
    int                 accept_lock_threshold;  /* clients; 0 = 7/8 of the
                                                   fd limit */
    int                 worker_shutdown_timeout;/* s */
    int                 worker_watchdog;        /* ms a worker's loop may
                                                   stand still; 0 = off */
    int                 max_openfiles;          /* 0 = leave the limit */
    char               *user;                   /* NULL = do not switch */
    int                 slowlog_threshold;      /* ms; 0 = off */
    int                 hot_server_share;       /* %; 0 = off */
    bool                latency_histograms;     /* default true */
    bool                hot_keys;               /* default true */
    char               *metrics_listen;         /* host:port; NULL = off */
    struct sp_conf_addr metrics_addr;
    int                 worker_memory_budget;   /* MiB; SP_CONF_MEMORY_AUTO
                                                   or >= 0 (0: none) */
    char               *worker_stats_listen;    /* host:port or path of the
                                                   workers' own stats; NULL:
                                                   off (the master's only) */
    struct sp_conf_addr worker_stats_addr;
    char               *group;
};

struct sp_conf {
    char                 *path;
    struct sp_conf_global global;
    struct sp_conf_pool  *pools;
    uint32_t              npools;
};

/*
 * Load and validate the file at path. On success returns 0 and sets *out
 * (free with sp_conf_free). On failure returns -1, leaves *out alone and
 * writes one line naming file, line, column, pool and key into err.
 */
int sp_conf_load(const char *path, struct sp_conf **out, char *err,
                 size_t errlen);

/* The same from a buffer; `path` only names it in messages. */
int sp_conf_load_buffer(const char *path, const char *data, size_t len,
                        struct sp_conf **out, char *err, size_t errlen);

void sp_conf_free(struct sp_conf *conf);

/* The pool named `name`, or NULL. */
const struct sp_conf_pool *sp_conf_pool_find(const struct sp_conf *conf,
                                             const char *name);

/* "host:port", "[v6]:port" or the path, into buf (always terminated). */
void sp_conf_addr_format(const struct sp_conf_addr *addr, char *buf,
                         size_t len);

#endif /* SP_CONF_H */
