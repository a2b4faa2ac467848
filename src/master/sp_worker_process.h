/*
 * sp_worker_process.h — a worker process from fork to exit: close what is
 * not its own, install its signals, pin its CPU, raise its descriptor
 * limit, drop privileges, set its title, ask for a signal when the master
 * dies; then build the worker (src/core) around its sockets and run it.
 * The single process (worker_processes: 0) runs the same setup without a
 * fork and without a master.
 *
 * Exit codes: 0 after a stop or a drain; SP_WORKER_EXIT_FATAL when the
 * setup or the worker's creation failed (the master does not respawn it:
 * it would fail again); anything else is a crash and is respawned.
 */
#ifndef SP_WORKER_PROCESS_H
#define SP_WORKER_PROCESS_H

#include <sched.h>
#include <stdint.h>
#include <sys/types.h>

#include "sp_cli.h"
#include "sp_conf.h"
#include "sp_listen.h"
#include "sp_log.h"
#include "sp_proctitle.h"
#include "sp_shared.h"

#define SP_WORKER_EXIT_FATAL 2

struct sp_worker_process {
    const struct sp_conf      *conf;
    const struct sp_options   *opts;
    struct sp_log             *log;
    struct sp_listen_set      *listen;      /* this generation's sockets */
    struct sp_shared          *shared;
    const struct sp_proctitle *title;
    uint32_t                   slot;
    uint32_t                   nslots;
    int                        channel_fd;  /* the worker's end; -1: none */
    pid_t                      master_pid;  /* 0: no master */
};

/* In the child after fork: run worker `wp->slot`; returns its exit code. */
int sp_worker_process_run(struct sp_worker_process *wp);

/* worker_processes 0: one process, no master; returns the exit code. */
int sp_single_process_run(struct sp_worker_process *wp);

/* Workers conf asks for: worker_processes, auto being one per CPU this
 * process may run on (its affinity: taskset, cpusets) (0: a single
 * process). */
uint32_t sp_worker_count(const struct sp_conf *conf);

/*
 * The CPU worker `slot` of `nworkers` pins itself to (-1: not pinned):
 * an entry of worker_cpu_affinity's list; for auto, the slot-th CPU of
 * `allowed` (the CPUs the process may run on) when there are at least as
 * many workers as those CPUs, and none with fewer: a worker pinned to a
 * core it shares with another busy process (a load generator, a backend)
 * cannot move off it, and the spare cores are there for the scheduler to
 * use.
 */
int sp_worker_cpu(const struct sp_conf *conf, uint32_t slot, uint32_t nworkers,
                  const cpu_set_t *allowed);

#endif /* SP_WORKER_PROCESS_H */
