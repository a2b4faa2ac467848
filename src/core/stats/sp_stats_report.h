/*
 * sp_stats_report.h — the stats document of one configuration: pool and
 * server names from the configuration, numbers from one worker's slot or
 * from the sum over all slots (sp_shared.h), extra fields beside
 * nutcracker's. Both a worker's stats port and the master's use it.
 */
#ifndef SP_STATS_REPORT_H
#define SP_STATS_REPORT_H

#include <stdint.h>
#include <time.h>

#include "sp_conf.h"
#include "sp_shared.h"
#include "sp_stats.h"

/*
 * Append the JSON object to buf. pools and servers are laid out as in a
 * slot (servers pool by pool in configuration order). Returns 0 or -1
 * (ENOMEM).
 */
struct sp_stats_report_extra {
    const struct sp_stats_extra *top;       /* top-level numbers */
    uint32_t                     ntop;
    char *const                 *pools;     /* per pool: JSON after its
                                               fields (", \"k\":v"), or NULL */
    char *const                 *servers;   /* per server, the same */
    sp_refused_name_fn           refused_name;  /* names the refusal
                                                   counters of proc (NULL:
                                                   none written) */
    const char                  *top_json;  /* more top-level fields
                                               (", \"k\":v"), written after
                                               the refusals; or NULL */
    char *const                 *names;     /* per server: its name now
                                               (a cluster node's address;
                                               "": left out), or NULL (the
                                               configured name) */
};

int sp_stats_report(struct sp_stats_buf *buf, const struct sp_conf *conf,
                    const struct sp_stats_slot *proc,
                    const struct sp_stats_pool *pools,
                    const struct sp_stats_server *servers,
                    int64_t uptime, const struct sp_stats_report_extra *extra);

/*
 * ", \"<prefix>_p50_us\":N, ..._p90_us, _p99_us, _p999_us" for h, appended
 * to buf: the derived percentiles beside nutcracker's fields.
 */
void sp_stats_report_hist(struct sp_stats_buf *buf, const char *prefix,
                          const struct sp_hist *h);

/*
 * ", \"<prefix>_buckets\":[N, ...]": the SP_HIST_BUCKETS counts of h (not
 * cumulative; bounds in sp_hist.h), so a reader can take percentiles of an
 * interval from two reads (shardproxy --stat). The master's port only: a
 * worker's answer stays as small as it was.
 */
void sp_stats_report_buckets(struct sp_stats_buf *buf, const char *prefix,
                             const struct sp_hist *h);

/* Per-pool and per-server latency percentiles (pool latency, server rtt)
 * as malloc'd strings in out_pools[npools], out_servers[nservers]; free
 * with sp_stats_report_extras_free. 0, or -1 (ENOMEM). */
int sp_stats_report_latency(const struct sp_conf *conf,
                            const struct sp_stats_pool *pools,
                            const struct sp_stats_server *servers,
                            char **out_pools, char **out_servers);
void sp_stats_report_extras_free(char **strings, uint32_t n);

/* Append printf text (at most 255 bytes) to one of those strings (NULL:
 * empty). 0, or -1 (ENOMEM; the string is unchanged). */
int sp_stats_report_append(char **field, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A TLS pool's counters (sp_stats_fields.h) and its certificate's expiry
 * ("tls_cert_expiry", s since the epoch; 0: none), appended to its string
 * in out_pools (which may be NULL). Pools without TLS are left alone.
 * 0, or -1 (ENOMEM: some strings lack them). */
int sp_stats_report_tls(const struct sp_conf *conf,
                        const struct sp_stats_pool *pools, char **out_pools);



#endif /* SP_STATS_REPORT_H */
