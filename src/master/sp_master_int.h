/*
 * sp_master_int.h — the master's state, shared by the files that make up
 * the master (sp_master.c: the loop, processes, reloads, handoffs;
 * sp_master_stats.c: the stats port, the Prometheus endpoint, observation).
 * Private to src/master.
 */
#ifndef SP_MASTER_INT_H
#define SP_MASTER_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sp_channel.h"
#include "sp_cli.h"
#include "sp_event.h"
#include "sp_generation.h"
#include "sp_listen.h"
#include "sp_process.h"
#include "sp_log.h"
#include "sp_observe.h"
#include "sp_oneshot.h"
#include "sp_proctitle.h"
#include "sp_signal.h"
#include "sp_totals.h"

/* A client on its way from a retiring worker to a current one, or to the
 * other master (upgrade), named by its pool (not an index: a reload may
 * come while it waits). */
struct sp_handoff {
    int      fd;
    uint32_t flags;         /* SP_CHANNEL_AUTHENTICATED, SP_CHANNEL_REDIS */
    uint64_t since_ms;
    uint64_t auth;          /* hash of the pool's redis_auth (0: none) */
    char     name[SP_CHANNEL_NAME];  /* the pool */
    uint32_t session_len;           /* the client's session (opaque) */
    char     session[SP_CHANNEL_SESSION];
};

#define SP_MASTER_HTTP_MAX 16       /* Prometheus scrapes at once */
struct sp_http_conn;

struct sp_master {
    const struct sp_options   *opts;
    struct sp_log             *log;
    const struct sp_proctitle *title;
    const char                *exe;         /* for USR2 */
    char *const               *argv;
    struct sp_signals          signals;
    struct sp_event_loop      *loop;
    struct sp_generation      *current;
    struct sp_generation      *retiring;    /* list, newest first */
    uint32_t                   next_gen_id;
    struct sp_totals           retired;     /* counters of exited generations */
    struct sp_timer            respawn_timer;
    struct sp_timer            kill_timer;
    struct sp_timer            handoff_timer;
    struct sp_timer            watchdog_timer;  /* sp_watchdog.c */
    struct sp_handoff         *handoffs;    /* waiting for a current worker */
    uint32_t                   nhandoffs;
    uint32_t                   handoffs_cap;
    uint32_t                   next_target;  /* round robin over workers */
    uint64_t                   respawns;
    uint64_t                   watchdog_kills;  /* hung workers replaced */
    uint64_t                   reloads;
    uint64_t                   reload_failed;
    uint64_t                   handed_over;  /* clients passed on */
    uint64_t                   handoff_closed; /* ... and closed instead */
    pid_t                      upgrade_pid;  /* the new binary, 0: none */
    int                        peer_fd;      /* channel to the other master
                                                of an upgrade, -1: none */
    bool                       quitting;
    bool                       terminating;
    bool                       winched;     /* WINCH: no workers on purpose */
    bool                       unclean;     /* a worker failed its stop */
    int64_t                    started_s;
    bool                       retire_pending;  /* the newest retiring
                                                   generation waits for the
                                                   current one to serve */
    struct sp_timer            retire_timer;
    struct sp_observe          observe;     /* rates, skew, hot keys */
    struct sp_timer            observe_timer;
    int                        metrics_fd;  /* Prometheus; -1: none */
    struct sp_http_conn       *scrapes[SP_MASTER_HTTP_MAX];  /* under way */
    struct sp_sentinel        *sentinel;    /* Sentinel pools' follower
                                               (sp_sentinel.h); NULL: none */
    struct sp_cluster         *cluster;     /* Redis Cluster pools' follower
                                               (sp_cluster.h); NULL: none */
    struct sp_oneshot_list     answers;     /* stats and scrape answers
                                               going out */
};


#define SP_MASTER_KILL_AFTER_MS   5000  /* TERM: then SIGKILL what is left */
#define SP_MASTER_RETRY_MS        10    /* handoffs waiting for a worker */
#define SP_MASTER_HANDOFF_MAX_MS  5000  /* ... and how long they may wait */
#define SP_MASTER_SPAWN_RETRY_MS  1000  /* after a failed fork */

extern const int sp_master_signal_set[];

/* sp_master.c: telling workers, stopping */
void sp_master_tell_gen(struct sp_master *master, struct sp_generation *gen,
                        uint32_t command, int64_t arg, int signo);
void sp_master_tell(struct sp_master *master, uint32_t command, int64_t arg,
                    int signo);
void sp_master_terminate(struct sp_master *master);
void sp_master_quit(struct sp_master *master);
void sp_master_kill_retired(struct sp_event_loop *loop, struct sp_timer *timer);
void sp_master_free_all(struct sp_master *master);

/* sp_master_procs.c: the workers */
int sp_master_spawn(struct sp_master *master, struct sp_process *proc);
void sp_master_respawn(struct sp_master *master);
void sp_master_reap(struct sp_master *master);
void sp_master_bury(struct sp_master *master);
void sp_master_close_channel(struct sp_master *master, struct sp_process *proc);
void sp_master_close_peer(struct sp_master *master);
uint32_t sp_master_count(const struct sp_master *master,
                         sp_process_state_t state);
/* The worker with pid, of any generation (NULL: none). */
struct sp_process *sp_master_find(struct sp_master *master, pid_t pid);

/* sp_watchdog.c: hung workers (worker_watchdog) */
void sp_master_watchdog_start(struct sp_master *master);
/* Before forking proc: its heartbeat starts at the fork. */
void sp_master_watchdog_spawned(struct sp_master *master,
                                struct sp_process *proc);

/* sp_handoff.c: clients between workers, and between masters */
void sp_master_channel_event(struct sp_event_loop *loop, int fd,
                             uint32_t ready, void *data);
void sp_master_peer_event(struct sp_event_loop *loop, int fd, uint32_t ready,
                          void *data);

/* sp_relay.c: questions between workers (sp_ask.h) */
void sp_master_relay_ask(struct sp_master *master, struct sp_process *from,
                         const struct sp_channel_msg *msg);
void sp_master_relay_answer(struct sp_master *master,
                            const struct sp_channel_msg *msg, int fd);

/* sp_reload.c */
void sp_master_reload(struct sp_master *master);
void sp_master_retire_check(struct sp_master *master);
void sp_master_upgrade(struct sp_master *master);
void sp_master_winch(struct sp_master *master);
int sp_master_check_user(const struct sp_conf *conf, struct sp_log *log);
struct sp_listen_spec sp_master_spec(const struct sp_master *master,
                                     const struct sp_conf *conf,
                                     uint32_t nworkers);

/* The stats port: one connection answered with the summed JSON. */
void sp_master_stats_accept(struct sp_event_loop *loop, int fd, uint32_t ready,
                            void *data);

/* Everything summed now, laid out for the current configuration. 0 / -1. */
int sp_master_totals(struct sp_master *master, struct sp_totals *now);

/* Start the observation tick and the Prometheus endpoint. 0 / -1. */
int sp_master_stats_start(struct sp_master *master);

/* The configuration changed (reload): observation starts over. */
void sp_master_stats_reload(struct sp_master *master);

void sp_master_stats_stop(struct sp_master *master);

/* In a forked worker: close the scrape connections (not its to hold). */
void sp_master_stats_forget(struct sp_master *master);

int64_t sp_master_retiring(const struct sp_master *master);

#endif /* SP_MASTER_INT_H */
