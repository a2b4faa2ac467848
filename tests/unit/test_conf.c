/*
 * test_conf.c — configuration loading: nutcracker configs load with
 * nutcracker's defaults; extended sections parse; every bad config is
 * refused with a message naming file, line, column, pool and key.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "sp_conf.h"
#include "sp_test.h"
#include "sp_worker_process.h"

#define SERVERS "  servers:\n   - 127.0.0.1:6379:1\n"

static struct sp_conf *
load_ok(const char *yaml)
{
    struct sp_conf *conf = NULL;
    char err[SP_CONF_ERRLEN];
    int rc = sp_conf_load_buffer("t.yml", yaml, strlen(yaml), &conf, err,
                                 sizeof(err));

    ck_assert_msg(rc == 0, "expected to load, got: %s", err);
    ck_assert_ptr_nonnull(conf);
    return conf;
}

/* ---- good configurations ---------------------------------------------- */

START_TEST(test_defaults_are_nutcrackers)
{
    struct sp_conf *conf = load_ok("alpha:\n  listen: 127.0.0.1:22121\n"
                                   SERVERS);
    const struct sp_conf_pool *p = &conf->pools[0];

    ck_assert_uint_eq(conf->npools, 1);
    ck_assert_str_eq(p->name, "alpha");
    ck_assert_int_eq(p->hash, SP_HASH_FNV1A_64);
    ck_assert_int_eq(p->distribution, SP_DIST_KETAMA);
    ck_assert_str_eq(p->hash_tag, "");
    ck_assert_int_eq(p->timeout, -1);
    ck_assert_int_eq(p->backlog, 512);
    ck_assert_int_eq(p->client_connections, 0);
    ck_assert(!p->redis);
    ck_assert_ptr_null(p->redis_auth);
    ck_assert_int_eq(p->redis_db, 0);
    ck_assert(!p->preconnect);
    ck_assert(!p->auto_eject_hosts);
    ck_assert_int_eq(p->server_connections, 1);
    ck_assert_int_eq(p->server_retry_timeout, 30000);
    ck_assert_int_eq(p->server_failure_limit, 2);
    ck_assert(!p->tcpkeepalive);
    ck_assert(!p->reuseport);
    ck_assert_uint_eq(p->nservers, 1);
    ck_assert_str_eq(p->servers[0].name, "127.0.0.1:6379");
    ck_assert_uint_eq(p->servers[0].weight, 1);
    ck_assert_int_eq(conf->global.worker_processes, SP_CONF_WORKERS_AUTO);
    ck_assert_int_eq(conf->global.worker_watchdog, SP_CONF_DEFAULT_WATCHDOG);
    ck_assert_int_eq(conf->global.affinity, SP_AFFINITY_AUTO);
    ck_assert_int_eq(conf->global.accept_mode, SP_ACCEPT_REUSEPORT);
    ck_assert_int_eq(conf->global.event_backend, SP_EVENT_BACKEND_EPOLL);
    ck_assert_ptr_null(conf->global.metrics_listen);    /* observability: */
    ck_assert_ptr_null(conf->global.worker_stats_listen); /* one stats port */
    ck_assert_int_eq(conf->global.worker_memory_budget, SP_CONF_MEMORY_AUTO);
    ck_assert_int_eq(conf->global.slowlog_threshold, 0); /* off, or on and */
    ck_assert(conf->global.latency_histograms);          /* cheap */
    ck_assert(conf->global.hot_keys);
    sp_conf_free(conf);
}
END_TEST

START_TEST(test_watermarks)
{
    struct sp_conf *conf = load_ok("alpha:\n  listen: 127.0.0.1:22121\n" SERVERS);

    ck_assert_int_eq(conf->pools[0].client_high_watermark, 1024 * 1024);
    ck_assert_int_eq(conf->pools[0].client_low_watermark, 256 * 1024);
    ck_assert_int_eq(conf->pools[0].server_high_watermark, 4 * 1024 * 1024);
    ck_assert_int_eq(conf->pools[0].server_low_watermark, 1024 * 1024);
    sp_conf_free(conf);
    /* a high mark alone, below the default low: read again at a quarter */
    conf = load_ok("alpha:\n  listen: 127.0.0.1:22121\n"
                   "  client_high_watermark: 100000\n" SERVERS);
    ck_assert_int_eq(conf->pools[0].client_low_watermark, 25000);
    sp_conf_free(conf);
    /* off */
    conf = load_ok("alpha:\n  listen: 127.0.0.1:22121\n"
                   "  client_high_watermark: 0\n" SERVERS);
    ck_assert_int_eq(conf->pools[0].client_high_watermark, 0);
    sp_conf_free(conf);
}
END_TEST

START_TEST(test_every_pool_key)
{
    struct sp_conf *conf = load_ok(
        "beta:\n"
        "  listen: 127.0.0.1:22122\n"
        "  hash: murmur\n"
        "  hash_tag: \"{}\"\n"
        "  distribution: modula\n"
        "  timeout: 400\n"
        "  backlog: 1024\n"
        "  client_connections: 100\n"
        "  redis: true\n"
        "  redis_auth: s3cret\n"
        "  redis_db: 3\n"
        "  preconnect: true\n"
        "  auto_eject_hosts: true\n"
        "  server_connections: 2\n"
        "  server_retry_timeout: 2000\n"
        "  server_failure_limit: 1\n"
        "  tcpkeepalive: true\n"
        "  reuseport: true\n"
        "  servers:\n"
        "   - 127.0.0.1:6380:2 primary\n"
        "   - 127.0.0.1:11211:1\n"
        "   - \"[::1]:6381:3\"\n"
        "   - /tmp/redis.sock:1\n"
        "   - /tmp/other.sock:4 sock\n");
    const struct sp_conf_pool *p = &conf->pools[0];

    ck_assert_int_eq(p->hash, SP_HASH_MURMUR);
    ck_assert_str_eq(p->hash_tag, "{}");
    ck_assert_int_eq(p->distribution, SP_DIST_MODULA);
    ck_assert_int_eq(p->timeout, 400);
    ck_assert_int_eq(p->backlog, 1024);
    ck_assert_int_eq(p->client_connections, 100);
    ck_assert(p->redis);
    ck_assert_str_eq(p->redis_auth, "s3cret");
    ck_assert_int_eq(p->redis_db, 3);
    ck_assert(p->preconnect && p->auto_eject_hosts && p->tcpkeepalive
              && p->reuseport);
    ck_assert_int_eq(p->server_connections, 2);
    ck_assert_int_eq(p->server_retry_timeout, 2000);
    ck_assert_int_eq(p->server_failure_limit, 1);
    ck_assert_uint_eq(p->nservers, 5);
    /* names: given; "host" alone for 11211; "[v6]:port"; "path:" -- and
     * in nutcracker's order: shorter names first, then bytewise */
    ck_assert_str_eq(p->servers[0].name, "sock");
    ck_assert_uint_eq(p->servers[0].weight, 4);
    ck_assert_str_eq(p->servers[1].name, "primary");
    ck_assert(p->servers[1].named);
    ck_assert_str_eq(p->servers[1].pname, "127.0.0.1:6380:2");
    ck_assert_uint_eq(p->servers[1].weight, 2);
    ck_assert_str_eq(p->servers[2].name, "127.0.0.1");
    ck_assert(!p->servers[2].named);
    ck_assert_uint_eq(p->servers[2].addr.port, 11211);
    ck_assert_str_eq(p->servers[3].name, "[::1]:6381");
    ck_assert_str_eq(p->servers[3].addr.host, "::1");
    ck_assert_str_eq(p->servers[4].name, "/tmp/redis.sock:");
    ck_assert(p->servers[4].addr.is_unix);
    ck_assert_str_eq(p->servers[4].addr.host, "/tmp/redis.sock");
    sp_conf_free(conf);
}
END_TEST

START_TEST(test_sentinel_keys)
{
    struct sp_conf *conf = load_ok(
        "alpha:\n"
        "  listen: 127.0.0.1:22121\n"
        "  redis: true\n"
        "  sentinels: [127.0.0.1:26379, \"[::1]:26380\"]\n"
        "  sentinel_auth: pw\n"
        "  sentinel_auth_user: watcher\n"
        "  sentinel_refresh_interval: 250\n"
        "  read_from: prefer_replica\n"
        "  servers:\n"
        "   - 127.0.0.1:6379:1 shard-a\n");
    const struct sp_conf_pool *p = &conf->pools[0];

    ck_assert_int_eq(p->read_from, SP_READ_PREFER_REPLICA);
    ck_assert_uint_eq(p->nsentinels, 2);
    ck_assert_str_eq(p->sentinels[0].host, "127.0.0.1");
    ck_assert_uint_eq(p->sentinels[0].port, 26379);
    ck_assert_str_eq(p->sentinels[1].host, "::1");
    ck_assert_str_eq(p->sentinel_auth, "pw");
    ck_assert_str_eq(p->sentinel_auth_user, "watcher");
    ck_assert_int_eq(p->sentinel_refresh_interval, 250);
    sp_conf_free(conf);

    conf = load_ok("alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n"
                   "  servers:\n   - 127.0.0.1:6379:1\n");
    ck_assert_uint_eq(conf->pools[0].nsentinels, 0);
    ck_assert_int_eq(conf->pools[0].sentinel_refresh_interval,
                     SP_CONF_DEFAULT_SENTINEL_REFRESH);
    ck_assert_int_eq(conf->pools[0].read_from, SP_READ_PRIMARY);
    sp_conf_free(conf);
}
END_TEST

START_TEST(test_listen_forms)
{
    struct sp_conf *conf = load_ok(
        "a:\n  listen: /tmp/sp-test.sock 0600\n" SERVERS
        "b:\n  listen: \"[::1]:22123\"\n" SERVERS
        "c:\n  listen: 0.0.0.0:22124\n" SERVERS
        "d:\n  listen: /tmp/sp-test2.sock\n" SERVERS);
    char buf[128];

    ck_assert_uint_eq(conf->npools, 4);
    ck_assert(conf->pools[0].listen.is_unix);
    ck_assert_str_eq(conf->pools[0].listen.host, "/tmp/sp-test.sock");
    ck_assert_uint_eq(conf->pools[0].listen.perm, 0600);
    ck_assert_int_eq(conf->pools[1].listen.sa.ss_family, AF_INET6);
    sp_conf_addr_format(&conf->pools[1].listen, buf, sizeof(buf));
    ck_assert_str_eq(buf, "[::1]:22123");
    ck_assert_int_eq(conf->pools[2].listen.sa.ss_family, AF_INET);
    ck_assert_uint_eq(conf->pools[3].listen.perm, 0);
    /* pools keep file order */
    ck_assert_str_eq(conf->pools[3].name, "d");
    sp_conf_free(conf);
}
END_TEST

START_TEST(test_crlf_and_lf_mixed)
{
    struct sp_conf *conf = load_ok("alpha:\r\n  listen: 127.0.0.1:22121\r\n"
                                   "  hash: md5\n  servers:\r\n"
                                   "   - 127.0.0.1:6379:1\n");

    ck_assert_int_eq(conf->pools[0].hash, SP_HASH_MD5);
    sp_conf_free(conf);
}
END_TEST

START_TEST(test_quoted_scalars_are_values)
{
    struct sp_conf *conf = load_ok("alpha:\n  listen: '127.0.0.1:22121'\n"
                                   "  redis: \"true\"\n  timeout: \"0400\"\n"
                                   SERVERS);

    ck_assert(conf->pools[0].redis);
    ck_assert_int_eq(conf->pools[0].timeout, 400);
    sp_conf_free(conf);
}
END_TEST

START_TEST(test_global_section)
{
    struct sp_conf *conf = load_ok(
        "global:\n"
        "  worker_processes: 4\n"
        "  worker_cpu_affinity: [0, 1, 3]\n"
        "  accept_mode: lock\n"
        "  event_backend: io_uring\n"
        "  worker_shutdown_timeout: 10\n"
        "  worker_watchdog: 2500\n"
        "  max_openfiles: 65536\n"
        "  user: nobody\n"
        "  group: nogroup\n"
        "  accept_lock_threshold: 100\n"
        "  metrics_listen: 127.0.0.1:9121\n"
        "  worker_stats_listen: /run/sp/stats.sock 0660\n"
        "  worker_memory_budget: 512\n"
        "  slowlog_threshold: 20\n"
        "  hot_server_share: 60\n"
        "  latency_histograms: false\n"
        "  hot_keys: false\n"
        "alpha:\n  listen: 127.0.0.1:22121\n" SERVERS);
    const struct sp_conf_global *g = &conf->global;

    ck_assert_int_eq(g->accept_lock_threshold, 100);
    ck_assert_str_eq(g->metrics_listen, "127.0.0.1:9121");
    ck_assert_int_eq(g->metrics_addr.port, 9121);
    ck_assert_str_eq(g->worker_stats_listen, "/run/sp/stats.sock 0660");
    ck_assert_int_eq(g->worker_memory_budget, 512);
    ck_assert(g->worker_stats_addr.is_unix);
    ck_assert_str_eq(g->worker_stats_addr.host, "/run/sp/stats.sock");
    ck_assert_int_eq(g->worker_stats_addr.perm, 0660);
    ck_assert_int_eq(g->slowlog_threshold, 20);
    ck_assert_int_eq(g->hot_server_share, 60);
    ck_assert(!g->latency_histograms);
    ck_assert(!g->hot_keys);

    ck_assert_uint_eq(conf->npools, 1);
    ck_assert_int_eq(g->worker_processes, 4);
    ck_assert_int_eq(g->affinity, SP_AFFINITY_LIST);
    ck_assert_uint_eq(g->ncpus, 3);
    ck_assert_int_eq(g->cpus[2], 3);
    ck_assert_int_eq(g->accept_mode, SP_ACCEPT_LOCK);
    ck_assert_int_eq(g->event_backend, SP_EVENT_BACKEND_URING);
    ck_assert_int_eq(g->worker_shutdown_timeout, 10);
    ck_assert_int_eq(g->worker_watchdog, 2500);
    ck_assert_int_eq(g->max_openfiles, 65536);
    ck_assert_str_eq(g->user, "nobody");
    ck_assert_str_eq(g->group, "nogroup");
    sp_conf_free(conf);
}
END_TEST

START_TEST(test_global_variants)
{
    struct sp_conf *conf = load_ok(
        "global:\n  worker_processes: auto\n  worker_cpu_affinity: \"2 3\"\n"
        "alpha:\n  listen: 127.0.0.1:22121\n" SERVERS);

    ck_assert_int_eq(conf->global.worker_processes, SP_CONF_WORKERS_AUTO);
    ck_assert_uint_eq(conf->global.ncpus, 2);
    ck_assert_int_eq(conf->global.cpus[0], 2);
    sp_conf_free(conf);

    conf = load_ok("global:\n  worker_processes: 0\n"
                   "  worker_watchdog: 0\n"
                   "  worker_cpu_affinity: off\n"
                   "alpha:\n  listen: 127.0.0.1:22121\n" SERVERS);
    ck_assert_int_eq(conf->global.worker_processes, 0);
    ck_assert_int_eq(conf->global.affinity, SP_AFFINITY_OFF);
    ck_assert_int_eq(conf->global.worker_watchdog, 0);     /* off */
    sp_conf_free(conf);
}
END_TEST

/* worker_cpu_affinity auto: one worker per allowed CPU when there are as
 * many workers as CPUs, in the allowed set's order; unpinned with fewer */
START_TEST(test_worker_cpu_policy)
{
    struct sp_conf *conf = load_ok("alpha:\n  listen: 127.0.0.1:22121\n" SERVERS);
    cpu_set_t allowed;

    CPU_ZERO(&allowed);
    CPU_SET(4, &allowed);
    CPU_SET(6, &allowed);
    CPU_SET(7, &allowed);
    ck_assert_int_eq(sp_worker_cpu(conf, 0, 3, &allowed), 4);
    ck_assert_int_eq(sp_worker_cpu(conf, 1, 3, &allowed), 6);
    ck_assert_int_eq(sp_worker_cpu(conf, 2, 3, &allowed), 7);
    ck_assert_int_eq(sp_worker_cpu(conf, 4, 5, &allowed), 6);   /* wraps */
    ck_assert_int_eq(sp_worker_cpu(conf, 0, 2, &allowed), -1);  /* spare cores */
    ck_assert_int_eq(sp_worker_cpu(conf, 0, 1, &allowed), -1);
    sp_conf_free(conf);

    /* a list pins whatever the count; off never does */
    conf = load_ok("global:\n  worker_cpu_affinity: [1, 0]\n"
                   "alpha:\n  listen: 127.0.0.1:22121\n" SERVERS);
    ck_assert_int_eq(sp_worker_cpu(conf, 0, 1, &allowed), 1);
    ck_assert_int_eq(sp_worker_cpu(conf, 3, 4, &allowed), 0);
    sp_conf_free(conf);
    conf = load_ok("global:\n  worker_cpu_affinity: off\n"
                   "alpha:\n  listen: 127.0.0.1:22121\n" SERVERS);
    ck_assert_int_eq(sp_worker_cpu(conf, 0, 3, &allowed), -1);
    sp_conf_free(conf);
}
END_TEST

START_TEST(test_global_with_listen_is_a_pool)
{
    struct sp_conf *conf = load_ok("global:\n  listen: 127.0.0.1:22121\n"
                                   SERVERS);

    ck_assert_uint_eq(conf->npools, 1);
    ck_assert_str_eq(conf->pools[0].name, "global");
    sp_conf_free(conf);
}
END_TEST

START_TEST(test_meitu_layout)
{
    struct sp_conf *conf = load_ok(
        "global:\n  worker_processes: 2\n"
        "pools:\n"
        "  alpha:\n    listen: 127.0.0.1:22121\n"
        "    servers:\n     - 127.0.0.1:6379:1\n"
        "  beta:\n    listen: 127.0.0.1:22122\n"
        "    servers:\n     - 127.0.0.1:6380:1\n");

    ck_assert_int_eq(conf->global.worker_processes, 2);
    ck_assert_uint_eq(conf->npools, 2);
    ck_assert_str_eq(conf->pools[0].name, "beta");     /* shorter first */
    ck_assert_str_eq(conf->pools[1].name, "alpha");
    ck_assert_ptr_nonnull(sp_conf_pool_find(conf, "alpha"));
    ck_assert_ptr_null(sp_conf_pool_find(conf, "gamma"));
    sp_conf_free(conf);
}
END_TEST

/* Seen on Debian's nutcracker 0.5.0: stats list pools a, zz, yyy and
 * servers b, aa; modula slots go b, c, aa. */
START_TEST(test_nutcracker_order)
{
    struct sp_conf *conf = load_ok(
        "zz:\n  listen: 127.0.0.1:27001\n  servers:\n"
        "   - 127.0.0.1:7001:1 b\n   - 127.0.0.1:7002:1 aa\n"
        "   - 127.0.0.1:7003:1 c\n"
        "a:\n  listen: 127.0.0.1:27002\n" SERVERS
        "yyy:\n  listen: 127.0.0.1:27003\n" SERVERS);

    ck_assert_str_eq(conf->pools[0].name, "a");
    ck_assert_str_eq(conf->pools[1].name, "zz");
    ck_assert_str_eq(conf->pools[2].name, "yyy");
    ck_assert_str_eq(conf->pools[1].servers[0].name, "b");
    ck_assert_str_eq(conf->pools[1].servers[1].name, "c");
    ck_assert_str_eq(conf->pools[1].servers[2].name, "aa");
    ck_assert_uint_eq(conf->pools[1].servers[2].addr.port, 7002);
    sp_conf_free(conf);
}
END_TEST

/* Found by the fuzz target: a `pools` entry read as a pool, then a second
 * `pools` section with more pools than were counted, overflowed the array. */
START_TEST(test_pools_twice_grows)
{
    static const char yaml[] =
        "pools: {listen: /tmp/sp-p0, servers: [/s:1]}\n"
        "pools: {a: {listen: /tmp/sp-pa, servers: [/s:1]},"
        " b: {listen: /tmp/sp-pb, servers: [/s:1]},"
        " c: {listen: /tmp/sp-pc, servers: [/s:1]},"
        " d: {listen: /tmp/sp-pd, servers: [/s:1]},"
        " e: {listen: /tmp/sp-pe, servers: [/s:1]},"
        " f: {listen: /tmp/sp-pf, servers: [/s:1]},"
        " g: {listen: /tmp/sp-pg, servers: [/s:1]},"
        " h: {listen: /tmp/sp-ph, servers: [/s:1]},"
        " i: {listen: /tmp/sp-pi, servers: [/s:1]}}\n";
    struct sp_conf *conf = load_ok(yaml);

    ck_assert_uint_eq(conf->npools, 10);
    ck_assert_ptr_nonnull(sp_conf_pool_find(conf, "pools"));
    ck_assert_ptr_nonnull(sp_conf_pool_find(conf, "i"));
    sp_conf_free(conf);
}
END_TEST

START_TEST(test_shipped_configs_load)
{
    static const char *const files[] = { "shardproxy.yml", "nutcracker.yml" };

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[512], err[SP_CONF_ERRLEN];
        struct sp_conf *conf = NULL;

        snprintf(path, sizeof(path), "%s/%s", SP_TEST_CONF_DIR, files[i]);
        ck_assert_msg(sp_conf_load(path, &conf, err, sizeof(err)) == 0,
                      "%s", err);
        ck_assert_uint_ge(conf->npools, 1);
        sp_conf_free(conf);
    }
}
END_TEST

START_TEST(test_missing_file)
{
    struct sp_conf *conf = NULL;
    char err[SP_CONF_ERRLEN];

    ck_assert_int_eq(sp_conf_load("/nonexistent/x.yml", &conf, err,
                                  sizeof(err)), -1);
    ck_assert_ptr_null(conf);
    ck_assert_str_eq(err, "/nonexistent/x.yml: cannot open: No such file or "
                          "directory");
}
END_TEST

/* ---- bad configurations: each with its exact message ------------------ */

struct bad_conf {
    const char *yaml;
    const char *message;
};

static const struct bad_conf bad_confs[] = {
    { "alpha:\n  listen: 127.0.0.1:22121\n  hash: fnv2\n" SERVERS,
      "t.yml:3:9: pool 'alpha': hash 'fnv2' is not one of one_at_a_time, md5, "
      "crc16, crc32, crc32a, fnv1_64, fnv1a_64, fnv1_32, fnv1a_32, hsieh, "
      "murmur, jenkins" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  hash: FNV1A_64\n" SERVERS,
      "t.yml:3:9: pool 'alpha': hash 'FNV1A_64' is not one of one_at_a_time, "
      "md5, crc16, crc32, crc32a, fnv1_64, fnv1a_64, fnv1_32, fnv1a_32, "
      "hsieh, murmur, jenkins" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  distribution: vnode\n" SERVERS,
      "t.yml:3:17: pool 'alpha': distribution 'vnode' is not one of ketama, "
      "modula, random, redis_cluster" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  foo: bar\n" SERVERS,
      "t.yml:3:3: pool 'alpha': unknown key 'foo'" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  hash: md5\n  hash: md5\n" SERVERS,
      "t.yml:4:3: pool 'alpha': hash is given twice (first on line 3)" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  timeout: -1\n" SERVERS,
      "t.yml:3:12: pool 'alpha': timeout '-1' is not a non-negative integer "
      "(0..2147483647 expected)" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  timeout: +5\n" SERVERS,
      "t.yml:3:12: pool 'alpha': timeout '+5' is not a non-negative integer "
      "(0..2147483647 expected)" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  timeout: abc\n" SERVERS,
      "t.yml:3:12: pool 'alpha': timeout 'abc' is not a non-negative integer "
      "(0..2147483647 expected)" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  backlog: 99999999999\n" SERVERS,
      "t.yml:3:12: pool 'alpha': backlog '99999999999' is out of range "
      "(0..2147483647 expected)" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  hash_tag: \"{\"\n" SERVERS,
      "t.yml:3:13: pool 'alpha': hash_tag '{' is not two characters "
      "(e.g. \"{}\")" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  hash_tag: \"{{}\"\n" SERVERS,
      "t.yml:3:13: pool 'alpha': hash_tag '{{}' is not two characters "
      "(e.g. \"{}\")" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  redis: yes\n" SERVERS,
      "t.yml:3:10: pool 'alpha': redis 'yes' is not true or false" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  preconnect: True\n" SERVERS,
      "t.yml:3:15: pool 'alpha': preconnect 'True' is not true or false" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  redis_auth: pw\n" SERVERS,
      "t.yml:3:3: pool 'alpha': redis_auth is only valid with redis: true" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  server_connections: 0\n" SERVERS,
      "t.yml:3:23: pool 'alpha': server_connections must be at least 1" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:6379:0\n",
      "t.yml:4:6: pool 'alpha': server '127.0.0.1:6379:0' has a zero weight "
      "(weights must be positive)" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:6379:x\n",
      "t.yml:4:6: pool 'alpha': server '127.0.0.1:6379:x' has an invalid "
      "weight (a positive integer expected)" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1\n",
      "t.yml:4:6: pool 'alpha': server '127.0.0.1' is not in "
      "\"host:port:weight [name]\" or \"/path:weight [name]\" form" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:0:1\n",
      "t.yml:4:6: pool 'alpha': server '127.0.0.1:0:1' has an invalid port "
      "(1..65535 expected)" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:6379:1 a b\n",
      "t.yml:4:6: pool 'alpha': server '127.0.0.1:6379:1 a b' has an invalid "
      "weight (a positive integer expected)" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - ::1:6379:1\n",
      "t.yml:4:6: pool 'alpha': server '::1:6379:1' has an IPv6 address "
      "without [brackets]" },
    { "alpha:\n  listen: 127.0.0.1:22121\n",
      "t.yml:1:1: pool 'alpha': servers is missing (a list of "
      "\"host:port:weight [name]\" expected)" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n",
      "t.yml:3:11: pool 'alpha': servers must be a list of "
      "\"host:port:weight [name]\" entries, not a single value" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  servers: []\n",
      "t.yml:3:12: pool 'alpha': servers is an empty list" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - [a, b]\n",
      "t.yml:4:6: pool 'alpha': servers must be a single value, not a list" },
    { "alpha:\n" SERVERS,
      "t.yml:1:1: pool 'alpha': listen is missing (\"host:port\" or "
      "\"/path [perm]\" expected)" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n"
      "   - 127.0.0.1:6379:1 a\n   - 127.0.0.1:6380:1 a\n",
      "t.yml:5:6: pool 'alpha': servers '127.0.0.1:6379:1' (line 4) and "
      "'127.0.0.1:6380:1' have the same name 'a'; names must be unique in a "
      "pool" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n"
      "   - 127.0.0.1:6379:1\n   - 127.0.0.1:6379:1\n",
      "t.yml:5:6: pool 'alpha': servers '127.0.0.1:6379:1' (line 4) and "
      "'127.0.0.1:6379:1' have the same name '127.0.0.1:6379'; names must be "
      "unique in a pool" },
    { "alpha:\n  listen: 127.0.0.1:22121\n" SERVERS
      "beta:\n  listen: 127.0.0.1:22121\n" SERVERS,
      "t.yml:6:11: pool 'beta': listen '127.0.0.1:22121' is the address of "
      "pool 'alpha' (line 1) too" },
    { "alpha:\n  listen: 127.0.0.1:22121\n" SERVERS
      "alpha:\n  listen: 127.0.0.1:22122\n" SERVERS,
      "t.yml:5:1: pool 'alpha' is defined twice (first on line 1)" },
    { "alpha:\n  listen: 127.0.0.1:99999\n" SERVERS,
      "t.yml:2:11: pool 'alpha': listen '127.0.0.1:99999' has an invalid port "
      "(1..65535 expected)" },
    { "alpha:\n  listen: 127.0.0.1\n" SERVERS,
      "t.yml:2:11: pool 'alpha': listen '127.0.0.1' is not in \"host:port\" "
      "form" },
    { "alpha:\n  listen: 127.0.0.1:22121 0666\n" SERVERS,
      "t.yml:2:11: pool 'alpha': listen '127.0.0.1:22121 0666' has an invalid "
      "port (1..65535 expected)" },
    { "alpha:\n  listen: /tmp/x.sock 999\n" SERVERS,
      "t.yml:2:11: pool 'alpha': listen '/tmp/x.sock 999' has an invalid "
      "permission (octal, e.g. 0666, expected)" },
    { "alpha:\n  listen: no-such-host.invalid:22121\n" SERVERS,
      "t.yml:2:11: pool 'alpha': listen 'no-such-host.invalid:22121' cannot "
      "be resolved" },
    { "alpha:\n  listen: [a, b]\n" SERVERS,
      "t.yml:2:11: pool 'alpha': listen must be a single value, not a list" },
    { "alpha:\n  listen:\n" SERVERS,
      "t.yml:2:10: pool 'alpha': listen has no value" },
    { "alpha: 5\n",
      "t.yml:1:8: pool 'alpha' must be a mapping of keys, not a single value" },
    { "- a\n- b\n",
      "t.yml:1:1: the top level must be a mapping of pool names to pools, not "
      "a list" },
    { "",
      "t.yml: no pools are defined (the file is empty)" },
    { "global:\n  worker_processes: 2\n",
      "t.yml:1:1: no pools are defined" },
    { "alpha:\n  listen: 127.0.0.1:22121\n   hash: md5\n",
      "t.yml:3:8: YAML: mapping values are not allowed in this context" },
    { "alpha:\n  listen: \"127.0.0.1:22121\n" SERVERS,
      "t.yml:5:1: YAML: found unexpected end of stream while scanning a "
      "quoted scalar" },
    { "global:\n  worker_processes: many\n"
      "alpha:\n  listen: 127.0.0.1:22121\n" SERVERS,
      "t.yml:2:21: global: worker_processes 'many' is not a non-negative "
      "integer (0..1024 expected)" },
    { "global:\n  workers: 2\nalpha:\n  listen: 127.0.0.1:22121\n" SERVERS,
      "t.yml:2:3: global: unknown key 'workers'" },
    { "global:\n  metrics_listen: /tmp/m.sock\nalpha:\n  listen: 127.0.0.1:22121\n"
      SERVERS,
      "t.yml:2:19: global: metrics_listen '/tmp/m.sock' must be host:port" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  client_high_watermark: 1000\n"
      "  client_low_watermark: 1000\n" SERVERS,
      "t.yml:4:25: pool 'alpha': client_low_watermark 1000 must be below "
      "client_high_watermark 1000" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  server_high_watermark: 10\n"
      "  server_low_watermark: 20\n" SERVERS,
      "t.yml:4:25: pool 'alpha': server_low_watermark 20 must be below "
      "server_high_watermark 10" },
    { "global:\n  worker_stats_listen: 127.0.0.1:99999\n"
      "alpha:\n  listen: 127.0.0.1:22121\n" SERVERS,
      "t.yml:2:24: global: worker_stats_listen '127.0.0.1:99999' "
      "has an invalid port (1..65535 expected)" },
    { "global:\n  hot_server_share: 150\nalpha:\n  listen: 127.0.0.1:22121\n"
      SERVERS,
      "t.yml:2:21: global: hot_server_share '150' is out of range "
      "(0..100 expected)" },
    { "global:\n  accept_mode: mutex\nalpha:\n  listen: 127.0.0.1:22121\n"
      SERVERS,
      "t.yml:2:16: global: accept_mode 'mutex' is not one of reuseport, lock" },
    { "global:\n  event_backend: kqueue\nalpha:\n  listen: 127.0.0.1:22121\n"
      SERVERS,
      "t.yml:2:18: global: event_backend 'kqueue' is not one of epoll, io_uring" },
    { "global:\n  worker_cpu_affinity: [0, x]\n"
      "alpha:\n  listen: 127.0.0.1:22121\n" SERVERS,
      "t.yml:2:28: global: worker_cpu_affinity CPU 'x' is not a non-negative "
      "integer (0..4095 expected)" },
    { "\"bad\\nkey\": 1\n",
      "t.yml:1:13: pool 'bad key' must be a mapping of keys, not a single "
      "value" },
    { "global:\n  max_openfiles: 99999999999\n"
      "alpha:\n  listen: 127.0.0.1:22121\n" SERVERS,
      "t.yml:2:18: global: max_openfiles '99999999999' is out of range "
      "(0..16777216 expected)" },
    { "global:\n  worker_watchdog: 500\n"
      "alpha:\n  listen: 127.0.0.1:22121\n" SERVERS,
      "t.yml:2:20: global: worker_watchdog 500 is too short: an idle worker "
      "turns its loop once a second (0 = off, or at least 2000 ms)" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  sentinels: [127.0.0.1:1]\n"
      "  servers:\n   - 127.0.0.1:6379:1 a\n",
      "t.yml:3:3: pool 'alpha': sentinels is only valid with redis: true" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n"
      "  sentinels: [127.0.0.1:1]\n  servers:\n   - 127.0.0.1:6379:1 a\n"
      "   - 127.0.0.1:6380:1\n",
      "t.yml:7:6: pool 'alpha': servers '127.0.0.1:6380:1' has no name: with "
      "sentinels every server is \"host:port:weight name\", the name its "
      "Sentinel master name" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n"
      "  sentinels: [127.0.0.1:1, /tmp/s.sock]\n"
      "  servers:\n   - 127.0.0.1:6379:1 a\n",
      "t.yml:4:28: pool 'alpha': sentinels entry '/tmp/s.sock' is not "
      "host:port with a port of 1..65535" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n  sentinels: []\n"
      "  servers:\n   - 127.0.0.1:6379:1 a\n",
      "t.yml:4:14: pool 'alpha': sentinels is an empty list" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n"
      "  sentinels: [127.0.0.1:1]\n  sentinel_auth_user: u\n"
      "  servers:\n   - 127.0.0.1:6379:1 a\n",
      "t.yml:5:3: pool 'alpha': sentinel_auth_user needs sentinel_auth (its "
      "password)" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n"
      "  sentinels: [127.0.0.1:1]\n  sentinel_refresh_interval: 10\n"
      "  servers:\n   - 127.0.0.1:6379:1 a\n",
      "t.yml:5:30: pool 'alpha': sentinel_refresh_interval must be at least "
      "100 ms" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  distribution: redis_cluster\n"
      SERVERS,
      "t.yml:3:17: pool 'alpha': distribution redis_cluster is only valid "
      "with redis: true" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n  hash: crc16\n"
      "  distribution: redis_cluster\n" SERVERS,
      "t.yml:4:3: pool 'alpha': hash has no meaning with distribution "
      "redis_cluster (the cluster hashes keys to its slots with CRC16); "
      "remove it" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n  hash_tag: \"[]\"\n"
      "  distribution: redis_cluster\n" SERVERS,
      "t.yml:4:3: pool 'alpha': hash_tag '[]' cannot be used with "
      "distribution redis_cluster: the cluster's hash tag is {}" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n"
      "  cluster_refresh_interval: 1000\n" SERVERS,
      "t.yml:4:3: pool 'alpha': cluster_refresh_interval is set but "
      "distribution is not redis_cluster" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n"
      "  read_from: replica\n" SERVERS,
      "t.yml:4:3: pool 'alpha': read_from needs distribution redis_cluster "
      "or sentinels" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n"
      "  distribution: redis_cluster\n  read_from: replicas\n" SERVERS,
      "t.yml:5:14: pool 'alpha': read_from 'replicas' is not one of primary, "
      "replica, prefer_replica" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n"
      "  distribution: redis_cluster\n  cluster_refresh_interval: 50\n"
      SERVERS,
      "t.yml:5:29: pool 'alpha': cluster_refresh_interval must be at least "
      "100 ms" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n"
      "  distribution: redis_cluster\n  cluster_max_nodes: 1\n"
      "  servers:\n   - 127.0.0.1:7000:1\n   - 127.0.0.1:7001:1\n",
      "t.yml:5:22: pool 'alpha': cluster_max_nodes (1) must be at least the "
      "number of servers (2)" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n"
      "  distribution: redis_cluster\n  servers:\n   - /tmp/r.sock:1\n",
      "t.yml:6:6: pool 'alpha': servers '/tmp/r.sock:1': a cluster's seed is "
      "a host:port, not a socket path" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n"
      "  sentinels: [127.0.0.1:1]\n  read_from: slave\n"
      "  servers:\n   - 127.0.0.1:6379:1 a\n",
      "t.yml:5:14: pool 'alpha': read_from 'slave' is not one of primary, "
      "replica, prefer_replica" },
    { "alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n"
      "  read_from: replica\n  servers:\n   - 127.0.0.1:6379:1 a\n",
      "t.yml:4:3: pool 'alpha': read_from needs distribution redis_cluster "
      "or sentinels" },
};

START_TEST(test_cluster_keys)
{
    struct sp_conf *conf = load_ok(
        "alpha:\n"
        "  listen: 127.0.0.1:22121\n"
        "  redis: true\n"
        "  distribution: redis_cluster\n"
        "  hash_tag: \"{}\"\n"
        "  cluster_refresh_interval: 250\n"
        "  cluster_max_redirects: 3\n"
        "  cluster_max_nodes: 12\n"
        "  read_from: prefer_replica\n"
        "  servers:\n"
        "   - 127.0.0.1:7001:1\n"
        "   - 127.0.0.1:7000:1\n");
    const struct sp_conf_pool *p = &conf->pools[0];

    ck_assert_int_eq(p->distribution, SP_DIST_REDIS_CLUSTER);
    ck_assert_int_eq(p->cluster_refresh_interval, 250);
    ck_assert_int_eq(p->cluster_max_redirects, 3);
    ck_assert_int_eq(p->read_from, SP_READ_PREFER_REPLICA);
    /* the seeds first, in the file's order, then room for the nodes */
    ck_assert_uint_eq(p->nseeds, 2);
    ck_assert_uint_eq(p->nservers, 12);
    ck_assert_uint_eq(p->servers[0].addr.port, 7001);
    ck_assert_uint_eq(p->servers[1].addr.port, 7000);
    ck_assert_str_eq(p->servers[11].name, "(node 11)");
    sp_conf_free(conf);

    conf = load_ok("alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n"
                   "  distribution: redis_cluster\n" SERVERS);
    p = &conf->pools[0];
    ck_assert_int_eq(p->cluster_refresh_interval,
                     SP_CONF_DEFAULT_CLUSTER_REFRESH);
    ck_assert_int_eq(p->cluster_max_redirects,
                     SP_CONF_DEFAULT_CLUSTER_REDIRECTS);
    ck_assert_uint_eq(p->nservers, SP_CONF_DEFAULT_CLUSTER_NODES);
    ck_assert_int_eq(p->read_from, SP_READ_PRIMARY);
    sp_conf_free(conf);
}
END_TEST

START_TEST(test_bad_config_message)
{
    const struct bad_conf *bad = &bad_confs[_i];
    struct sp_conf *conf = NULL;
    char err[SP_CONF_ERRLEN];

    ck_assert_int_eq(sp_conf_load_buffer("t.yml", bad->yaml,
                                         strlen(bad->yaml), &conf, err,
                                         sizeof(err)), -1);
    ck_assert_ptr_null(conf);
    ck_assert_str_eq(err, bad->message);
}
END_TEST

Suite *
sp_test_conf_suite(void)
{
    Suite *s = suite_create("conf");
    TCase *bad;

    SP_TEST_CASE(s, "good", 0, test_defaults_are_nutcrackers,
                 test_every_pool_key, test_cluster_keys, test_watermarks, test_listen_forms,
                 test_crlf_and_lf_mixed, test_quoted_scalars_are_values,
                 test_global_section, test_global_variants, test_worker_cpu_policy,
                 test_global_with_listen_is_a_pool, test_meitu_layout,
                 test_nutcracker_order, test_pools_twice_grows,
                 test_shipped_configs_load, test_missing_file,
                 test_sentinel_keys);
    bad = tcase_create("bad");
    tcase_add_loop_test(bad, test_bad_config_message, 0,
                        (int)(sizeof(bad_confs) / sizeof(bad_confs[0])));
    suite_add_tcase(s, bad);
    return s;
}
