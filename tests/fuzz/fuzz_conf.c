/*
 * fuzz_conf.c — libFuzzer target for the configuration loader
 * (sp_conf_load_buffer / sp_conf_free). The whole input is the YAML file.
 *
 * Checks (besides what ASan, UBSan and LeakSanitizer catch):
 * - the result is one of: 0 with a conf and an empty message, or -1 with
 *   *out untouched and a message "fuzz.yml:..." in the buffer;
 * - a loaded conf holds what sp_conf.h promises: pools >= 1, unique names,
 *   in nutcracker's order (shorter names first, then bytewise), each with a
 *   listen address, >= 1 server with unique names in the same order and
 *   weights 1..1000000, valid hash / distribution, hash_tag "" or two
 *   characters, server_connections >= 1, redis_auth only with redis; global
 *   settings in range; sp_conf_pool_find finds each pool and
 *   sp_conf_addr_format terminates its output even in a tiny buffer;
 * - loading the same bytes again with a short error buffer gives the same
 *   verdict, and the message is the long one cut short and terminated.
 *
 * Listen addresses are resolved by getaddrinfo; this target replaces it
 * with one that accepts numeric addresses and "localhost" only, so the
 * fuzzer never waits on DNS and every run is reproducible.
 */
#include <dlfcn.h>
#include <netdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "sp_conf.h"
#include "fuzz_split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CONF_PATH "fuzz.yml"

/* ---- no DNS -------------------------------------------------------------- */

typedef int (*getaddrinfo_fn)(const char *, const char *,
                              const struct addrinfo *, struct addrinfo **);

int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res);

int
getaddrinfo(const char *node, const char *service,
            const struct addrinfo *hints, struct addrinfo **res)
{
    static getaddrinfo_fn real;
    struct addrinfo h;

    if (real == NULL) {
        real = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
        FUZZ_CHECK(real != NULL);
    }
    memset(&h, 0, sizeof(h));
    if (hints != NULL) {
        h = *hints;
    }
    h.ai_flags |= AI_NUMERICHOST;
    if (node != NULL && strcmp(node, "localhost") == 0) {
        node = "127.0.0.1";
    }
    return real(node, service, &h, res);
}

/* ---- checks -------------------------------------------------------------- */

/* nutcracker's order: length first, then bytes */
static int
name_cmp(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la != lb) {
        return la < lb ? -1 : 1;
    }
    return memcmp(a, b, la);
}

static void
check_addr(const struct sp_conf_addr *addr)
{
    char tiny[4], big[256];

    FUZZ_CHECK(addr->host != NULL);
    if (addr->is_unix) {
        FUZZ_CHECK(addr->port == 0);
    }
    memset(tiny, 'x', sizeof(tiny));
    sp_conf_addr_format(addr, tiny, sizeof(tiny));
    FUZZ_CHECK(memchr(tiny, '\0', sizeof(tiny)) != NULL);
    sp_conf_addr_format(addr, big, sizeof(big));
    FUZZ_CHECK(memchr(big, '\0', sizeof(big)) != NULL);
}

static void
check_pool(const struct sp_conf *conf, const struct sp_conf_pool *pool)
{
    FUZZ_CHECK(pool->name != NULL);
    FUZZ_CHECK(sp_conf_pool_find(conf, pool->name) == pool);
    FUZZ_CHECK(pool->line >= 1);
    FUZZ_CHECK(pool->listen_pname != NULL);
    check_addr(&pool->listen);
    if (pool->listen.is_unix) {
        FUZZ_CHECK(pool->listen.perm <= 0777);
    } else {
        FUZZ_CHECK(pool->listen.port >= 1);
    }
    FUZZ_CHECK(pool->listen.salen > 0);
    FUZZ_CHECK((size_t)pool->listen.salen <= sizeof(pool->listen.sa));
    FUZZ_CHECK((unsigned)pool->hash < SP_HASH_NTYPES);
    FUZZ_CHECK((unsigned)pool->distribution < SP_DIST_NTYPES);
    FUZZ_CHECK(pool->hash_tag[0] == '\0' || (pool->hash_tag[1] != '\0'
                                             && pool->hash_tag[2] == '\0'));
    FUZZ_CHECK(pool->timeout >= -1);
    FUZZ_CHECK(pool->backlog >= 0 && pool->client_connections >= 0);
    FUZZ_CHECK(pool->redis_db >= 0);
    FUZZ_CHECK(pool->redis_auth == NULL || pool->redis);
    FUZZ_CHECK(pool->server_connections >= 1);
    FUZZ_CHECK(pool->server_retry_timeout >= 0);
    FUZZ_CHECK(pool->server_failure_limit >= 0);
    FUZZ_CHECK(pool->nservers >= 1 && pool->servers != NULL);
    for (uint32_t s = 0; s < pool->nservers; s++) {
        const struct sp_conf_server *srv = &pool->servers[s];

        FUZZ_CHECK(srv->pname != NULL && srv->name != NULL);
        FUZZ_CHECK(srv->weight >= 1 && srv->weight <= 1000000);
        FUZZ_CHECK(srv->line >= 1);
        FUZZ_CHECK(srv->addr.host != NULL);
        if (!srv->addr.is_unix) {
            FUZZ_CHECK(srv->addr.port >= 1);
        }
        check_addr(&srv->addr);
        if (s > 0) {
            FUZZ_CHECK(name_cmp(pool->servers[s - 1].name, srv->name) < 0);
        }
    }
}

static void
check_conf(const struct sp_conf *conf)
{
    const struct sp_conf_global *g = &conf->global;

    FUZZ_CHECK(conf->path != NULL && strcmp(conf->path, FUZZ_CONF_PATH) == 0);
    FUZZ_CHECK(conf->npools >= 1 && conf->pools != NULL);
    for (uint32_t i = 0; i < conf->npools; i++) {
        check_pool(conf, &conf->pools[i]);
        if (i > 0) {
            FUZZ_CHECK(name_cmp(conf->pools[i - 1].name,
                                conf->pools[i].name) < 0);
        }
    }
    FUZZ_CHECK(g->worker_processes >= SP_CONF_WORKERS_AUTO);
    FUZZ_CHECK(g->affinity == SP_AFFINITY_AUTO || g->affinity == SP_AFFINITY_OFF
               || g->affinity == SP_AFFINITY_LIST);
    if (g->affinity == SP_AFFINITY_LIST) {
        FUZZ_CHECK(g->ncpus >= 1 && g->cpus != NULL);
        for (uint32_t i = 0; i < g->ncpus; i++) {
            FUZZ_CHECK(g->cpus[i] >= 0 && g->cpus[i] <= 4095);
        }
    }
    FUZZ_CHECK(g->accept_mode == SP_ACCEPT_REUSEPORT
               || g->accept_mode == SP_ACCEPT_LOCK);
    FUZZ_CHECK(g->worker_shutdown_timeout >= 0);
    FUZZ_CHECK(g->max_openfiles >= 0);
}

static void
check_message(const char *err, size_t errlen)
{
    const char *nul = memchr(err, '\0', errlen);

    FUZZ_CHECK(nul != NULL);
    FUZZ_CHECK(err[0] != '\0');
    FUZZ_CHECK(strncmp(err, FUZZ_CONF_PATH, strlen(err) < strlen(FUZZ_CONF_PATH)
                                            ? strlen(err)
                                            : strlen(FUZZ_CONF_PATH)) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char err[SP_CONF_ERRLEN], short_err[SP_CONF_ERRLEN];
    struct sp_conf *sentinel = (struct sp_conf *)&err;
    struct sp_conf *conf = sentinel, *again = sentinel;
    size_t short_len = 1 + size % 40;
    int rc, rc2;

    memset(err, 'x', sizeof(err));
    rc = sp_conf_load_buffer(FUZZ_CONF_PATH, (const char *)data, size, &conf,
                             err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == 0) {
        FUZZ_CHECK(conf != sentinel && conf != NULL);
        FUZZ_CHECK(err[0] == '\0');
        check_conf(conf);
    } else {
        FUZZ_CHECK(conf == sentinel);       /* *out left alone */
        check_message(err, sizeof(err));
    }

    /* the same verdict with a short buffer, and the message cut short */
    memset(short_err, 'x', sizeof(short_err));
    rc2 = sp_conf_load_buffer(FUZZ_CONF_PATH, (const char *)data, size,
                              &again, short_err, short_len);
    FUZZ_CHECK(rc2 == rc);
    FUZZ_CHECK(memchr(short_err, '\0', short_len) != NULL);
    FUZZ_CHECK(short_err[short_len] == 'x');    /* nothing written past */
    if (rc == 0) {
        FUZZ_CHECK(again->npools == conf->npools);
        for (uint32_t i = 0; i < conf->npools; i++) {
            FUZZ_CHECK(strcmp(again->pools[i].name, conf->pools[i].name) == 0);
            FUZZ_CHECK(again->pools[i].nservers == conf->pools[i].nservers);
        }
        sp_conf_free(again);
        sp_conf_free(conf);
    } else {
        FUZZ_CHECK(again == sentinel);
        FUZZ_CHECK(strncmp(short_err, err, strlen(short_err)) == 0);
        FUZZ_CHECK(strlen(short_err) == (strlen(err) < short_len - 1
                                         ? strlen(err) : short_len - 1));
    }
    return 0;
}
