/*
 * sp_cluster.h — the master follows the Redis Clusters behind the pools
 * with `distribution: redis_cluster`: which node serves each hash slot.
 *
 * One place for every worker, so a cluster sees one asker however many
 * workers run: per pool, one connection to a node (a known healthy node,
 * else a seed, in turn) asks `CLUSTER SHARDS` (`CLUSTER SLOTS` before Redis
 * 7) at start, every cluster_refresh_interval, and at once when a worker
 * asks (SP_CHANNEL_REFRESH: a -MOVED, a node that failed). Asks that come
 * while one is under way are joined to the next one. After a node failed,
 * and while the cluster says a primary is failing, it asks every
 * SP_CLUSTER_FAST_MS until the slots are served again.
 *
 * Nodes get the pool's server indexes (the seeds keep theirs when a node
 * is one); a node's address goes into its address slot and the map into
 * the pool's cluster region of the generation's shared memory
 * (sp_shared.h), which the workers copy when its version moves. The first
 * map is asked before the workers start (blocking, each seed in turn).
 */
#ifndef SP_CLUSTER_H
#define SP_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

struct sp_master;
struct sp_generation;
struct sp_cluster;
struct sp_stats_buf;

/*
 * Follow the clusters of gen's pools (NULL, without error, when no pool is
 * one). `from` (may be NULL): the previous follower, whose maps carry over
 * to the pools of the same name.
 */
struct sp_cluster *sp_cluster_start(struct sp_master *master,
                                    struct sp_generation *gen,
                                    const struct sp_cluster *from);

void sp_cluster_stop(struct sp_cluster *cluster);

/* In a forked worker: close the master's connections, free the rest. */
void sp_cluster_forget(struct sp_cluster *cluster);

/* A worker asks for a refresh of pool `name`; failed: a node failed. */
void sp_cluster_refresh_asked(struct sp_cluster *cluster, const char *name,
                              bool failed);

/*
 * The stats JSON: per cluster pool "cluster_refreshes", "cluster_failovers",
 * "cluster_errors"; per node "role" and "slots". names[] (per server,
 * across pools): a node's address as its name, "" for room no node
 * takes (left out of the JSON). 0 / -1.
 */
int sp_cluster_json(const struct sp_cluster *cluster, char **pools,
                    char **servers, char **names);

/* names[] only (see sp_cluster_json). 0 / -1. */
int sp_cluster_names(const struct sp_cluster *cluster, char **names);

/* Prometheus: shardproxy_server_cluster_slots,
 * shardproxy_pool_cluster_refreshes_total, ..._failovers_total. */
void sp_cluster_metrics(const struct sp_cluster *cluster,
                        struct sp_stats_buf *buf);

#endif /* SP_CLUSTER_H */
