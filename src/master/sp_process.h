/*
 * sp_process.h — the master's process table: one slot per worker, spawning
 * into a slot, reaping, and the respawn policy.
 *
 *   spawn ─► RUNNING ─(exit 0 when asked)────────────────► EMPTY
 *                    ├(exit SP_WORKER_EXIT_FATAL)─────────► FAILED (kept so)
 *                    └(signal, any other exit, or exit 0 unasked: a QUIT
 *                      sent to the worker alone)─► respawn now, or after a
 *                                            backoff if it keeps dying
 *
 * A worker that dies within SP_PROCESS_QUICK_MS of its start counts as a
 * quick death; from the second one in a row each respawn waits twice as
 * long as the last (SP_PROCESS_BACKOFF_MIN_MS .. SP_PROCESS_BACKOFF_MAX_MS).
 */
#ifndef SP_PROCESS_H
#define SP_PROCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SP_PROCESS_QUICK_MS        1000
#define SP_PROCESS_BACKOFF_MIN_MS  100
#define SP_PROCESS_BACKOFF_MAX_MS  10000

typedef enum sp_process_state {
    SP_PROCESS_EMPTY,
    SP_PROCESS_RUNNING,
    SP_PROCESS_WAITING,     /* died; respawn at respawn_at_ms */
    SP_PROCESS_FAILED       /* failed its initialisation: left alone */
} sp_process_state_t;

struct sp_generation;

struct sp_process {
    struct sp_generation *gen;          /* the generation it serves */
    uint32_t            slot;
    sp_process_state_t  state;
    pid_t               pid;
    int                 channel;        /* the master's end, -1: none */
    uint64_t            started_ms;
    uint64_t            respawn_at_ms;
    uint32_t            quick_deaths;   /* in a row */
    uint64_t            respawns;
    bool                watchdog_killed;    /* hung: SIGKILL sent, not yet
                                               reaped */
};

/* What became of a reaped worker. */
typedef enum sp_process_fate {
    SP_PROCESS_DONE,        /* exited 0 */
    SP_PROCESS_RESPAWN,     /* respawn at proc->respawn_at_ms */
    SP_PROCESS_GIVE_UP      /* initialisation failed */
} sp_process_fate_t;

/*
 * Record how proc ended (status from waitpid) at now_ms, decide its fate
 * (respawning only when `respawn`), and describe it in text for the log.
 */
sp_process_fate_t sp_process_ended(struct sp_process *proc, int status,
                                   uint64_t now_ms, bool respawn,
                                   char *text, size_t len);

#endif /* SP_PROCESS_H */
