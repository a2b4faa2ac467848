/*
 * sp_generation.h — one generation of the master: a configuration with the
 * listening sockets, the shared memory and the worker processes that serve
 * it (nginx's cycle).
 *
 * The master starts with one. A reload (HUP) builds the next from a new
 * configuration — validated whole first; on any error nothing changes —
 * moving every listening socket whose address still exists (never closed
 * and reopened), and starts its workers; the old generation is then told to
 * retire (its workers hand their clients over and exit), and is freed when
 * its last worker is gone. Several may be retiring at once (a HUP during a
 * reload is not lost).
 */
#ifndef SP_GENERATION_H
#define SP_GENERATION_H

#include <stdbool.h>
#include <stdint.h>

#include "sp_conf.h"
#include "sp_event.h"
#include "sp_listen.h"
#include "sp_process.h"
#include "sp_shared.h"

struct sp_generation {
    uint32_t               id;          /* 1, 2, ... */
    struct sp_conf        *conf;
    bool                   owns_conf;
    struct sp_listen_set   listen;
    struct sp_shared       shared;
    struct sp_process     *procs;
    uint32_t               nprocs;
    bool                   retiring;    /* replaced by a newer generation */
    bool                   retire_sent; /* ... and told to hand over, once
                                           the newer one serves */
    struct sp_timer        kill_timer;  /* retiring: SIGKILL what is left */
    struct sp_generation  *next;        /* the master's list of retiring ones */
};

/*
 * A generation for conf with nworkers slots; sockets move from `from`
 * (the previous generation's set) or come from `inherited`. NULL after
 * logging (nothing moved is lost). Owns conf when owns_conf.
 */
struct sp_generation *sp_generation_create(uint32_t id, struct sp_conf *conf,
                                           bool owns_conf, uint32_t nworkers,
                                           const struct sp_listen_spec *spec,
                                           struct sp_listen_set *from,
                                           struct sp_listen_inherited *inherited,
                                           struct sp_log *log);
void sp_generation_free(struct sp_generation *gen);

/* Processes in state. */
uint32_t sp_generation_count(const struct sp_generation *gen,
                             sp_process_state_t state);

/* Its worker with pid (RUNNING), or NULL. */
struct sp_process *sp_generation_find(struct sp_generation *gen, pid_t pid);

/* Workers that set up and serve (their slot carries their pid). */
int64_t sp_generation_serving(const struct sp_generation *gen);

#endif /* SP_GENERATION_H */
