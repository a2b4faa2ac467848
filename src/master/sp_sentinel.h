/*
 * sp_sentinel.h — the master follows Redis Sentinel for the pools that
 * list `sentinels`: where each server (a Sentinel master name) lives now.
 *
 * One place for every worker, so the sentinels see a bounded load however
 * many workers run: per pool, one connection that asks
 * `SENTINEL GET-MASTER-ADDR-BY-NAME` for every name at start and every
 * sentinel_refresh_interval (the sentinels in turn: the next one on an
 * error or a time-out), and one connection SUBSCRIBEd to `+switch-master`
 * on a sentinel (the next one when it is lost), so a failover is followed
 * at once. An address that differs from the current one is first asked
 * `ROLE` (it must say master); then it is published in the generation's
 * shared region (sp_shared.h) and the workers are told (SP_CHANNEL_SWITCH):
 * they close that server's connections and connect to the new address.
 *
 * The subscriber also hears +sdown/-sdown, +odown/-odown, +slave,
 * +convert-to-slave and +slave-reconf-done: for one of the pool's names,
 * every name is asked again at once (one round for a burst). A worker
 * that meets a demoted master asks for the same (sp_sentinel_reask).
 *
 * With read_from, each round also asks `SENTINEL REPLICAS` for every
 * name; the healthy replicas (sp_sentinel_replicas.h), when they changed,
 * are published in the server's replica slot of the shared region, which
 * the workers follow for their replica reads (sp_replica.h).
 *
 * The follower belongs to the current generation; a reload starts a new
 * one for the new configuration, which keeps the addresses known for the
 * names that stay.
 */
#ifndef SP_SENTINEL_H
#define SP_SENTINEL_H

#include <stdint.h>

struct sp_master;
struct sp_generation;
struct sp_sentinel;
struct sp_stats_buf;

/*
 * Follow the sentinels of gen's pools (NULL, without error, when no pool
 * has any). `from` (may be NULL): the previous follower, whose addresses
 * carry over to the names that stay.
 */
struct sp_sentinel *sp_sentinel_start(struct sp_master *master,
                                      struct sp_generation *gen,
                                      const struct sp_sentinel *from);

void sp_sentinel_stop(struct sp_sentinel *sentinel);

/* In a forked worker: close the master's connections (not its to hold)
 * and free the follower, touching no timer of the master's loop. */
void sp_sentinel_forget(struct sp_sentinel *sentinel);

/*
 * A worker got -READONLY or -LOADING from pool / server's master (a
 * demoted or restarting one, SP_CHANNEL_REASK): ask the sentinels again
 * now rather than at the interval. Coalesced: one round per pool at most
 * every 100 ms, however many workers and requests ask.
 */
void sp_sentinel_reask(struct sp_sentinel *sentinel, const char *pool,
                       const char *server);

/*
 * Append the stats JSON's fields: per Sentinel pool "sentinel_errors"
 * and "sentinel_reasks"; per server "master" (its current address),
 * "switches", and with read_from "replicas_up". The strings
 * are the master's pool_extra / server_extra arrays. 0 / -1.
 */
int sp_sentinel_json(const struct sp_sentinel *sentinel, char **pools,
                     char **servers);

/* The Prometheus lines: shardproxy_server_switches_total,
 * shardproxy_server_replicas_up and shardproxy_pool_sentinel_errors_total. */
void sp_sentinel_metrics(const struct sp_sentinel *sentinel,
                         struct sp_stats_buf *buf);

#endif /* SP_SENTINEL_H */
