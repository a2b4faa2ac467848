/*
 * sp_generation.c — a generation's sockets, shared memory and process
 * table (see sp_generation.h).
 */
#include "sp_generation.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

struct sp_generation *
sp_generation_create(uint32_t id, struct sp_conf *conf, bool owns_conf,
                     uint32_t nworkers, const struct sp_listen_spec *spec,
                     struct sp_listen_set *from,
                     struct sp_listen_inherited *inherited, struct sp_log *log)
{
    struct sp_generation *gen = calloc(1, sizeof(*gen));

    if (gen == NULL) {
        sp_log_error(log, ENOMEM, "cannot create generation %u", id);
        return NULL;
    }
    gen->id = id;
    gen->conf = conf;
    gen->procs = calloc(nworkers, sizeof(*gen->procs));
    if (gen->procs == NULL) {
        sp_log_error(log, ENOMEM, "cannot create the process table");
        free(gen);
        return NULL;
    }
    gen->nprocs = nworkers;
    for (uint32_t i = 0; i < nworkers; i++) {
        gen->procs[i].slot = i;
        gen->procs[i].gen = gen;
        gen->procs[i].channel = -1;
    }
    if (sp_shared_create(&gen->shared, conf, nworkers) != 0) {
        sp_log_error(log, errno, "mmap() of the shared memory failed");
        free(gen->procs);
        free(gen);
        return NULL;
    }
    if (sp_listen_open(&gen->listen, conf, spec, log, from, inherited) != 0) {
        sp_shared_destroy(&gen->shared);
        free(gen->procs);
        free(gen);
        return NULL;
    }
    gen->owns_conf = owns_conf;     /* from here on, freed with it */
    return gen;
}

void
sp_generation_free(struct sp_generation *gen)
{
    if (gen == NULL) {
        return;
    }
    for (uint32_t i = 0; i < gen->nprocs; i++) {
        if (gen->procs[i].channel >= 0) {
            close(gen->procs[i].channel);
        }
    }
    free(gen->procs);
    if (gen->listen.pools != NULL) {
        sp_listen_close(&gen->listen);
    }
    sp_shared_destroy(&gen->shared);
    if (gen->owns_conf) {
        sp_conf_free(gen->conf);
    }
    free(gen);
}

uint32_t
sp_generation_count(const struct sp_generation *gen, sp_process_state_t state)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < gen->nprocs; i++) {
        n += gen->procs[i].state == state;
    }
    return n;
}

struct sp_process *
sp_generation_find(struct sp_generation *gen, pid_t pid)
{
    for (uint32_t i = 0; i < gen->nprocs; i++) {
        if (gen->procs[i].pid == pid
            && gen->procs[i].state == SP_PROCESS_RUNNING) {
            return &gen->procs[i];
        }
    }
    return NULL;
}

int64_t
sp_generation_serving(const struct sp_generation *gen)
{
    int64_t n = 0;

    for (uint32_t i = 0; i < gen->nprocs; i++) {
        n += gen->procs[i].state == SP_PROCESS_RUNNING
             && sp_shared_slot(&gen->shared, i)->pid == gen->procs[i].pid;
    }
    return n;
}
