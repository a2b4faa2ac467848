/*
 * sp_relay.c — the master's part in the workers' questions to each other
 * (src/core/proxy/sp_ask.h): a question goes on to every running worker
 * of every generation (a retiring one still has clients), the asker learns
 * how many it reached, and each answer, with the memory file of its bulk
 * bytes, goes back to the asker. The master keeps nothing between
 * messages: it never reads a question or an answer.
 */
#include <errno.h>
#include <unistd.h>

#include "sp_master_int.h"
#include "sp_channel.h"
#include "sp_generation.h"

/* The question to gen's running workers; how many it reached. */
static uint32_t
sp_master_relay_gen(struct sp_generation *gen, const struct sp_channel_msg *q)
{
    uint32_t reached = 0;

    for (uint32_t i = 0; i < gen->nprocs; i++) {
        const struct sp_process *proc = &gen->procs[i];

        if (proc->state == SP_PROCESS_RUNNING && proc->channel >= 0
            && sp_channel_send(proc->channel, q, -1) == 0) {
            reached++;
        }
    }
    return reached;
}

void
sp_master_relay_ask(struct sp_master *master, struct sp_process *from,
                    const struct sp_channel_msg *msg)
{
    struct sp_channel_msg q = *msg, asked = {
        .command = SP_CHANNEL_ASKED, .slot = (int32_t)from->slot,
        .pid = from->pid, .auth = msg->auth,
    };
    uint32_t reached;

    q.pid = from->pid;              /* answers find the asker by its pid */
    reached = sp_master_relay_gen(master->current, &q);
    for (struct sp_generation *g = master->retiring; g != NULL; g = g->next) {
        reached += sp_master_relay_gen(g, &q);
    }
    asked.arg = reached;
    if (from->channel < 0 || sp_channel_send(from->channel, &asked, -1) != 0) {
        sp_log_warn(master->log, errno, "worker #%u: cannot say how many "
                    "workers its question reached", from->slot);
    }
}

void
sp_master_relay_answer(struct sp_master *master,
                       const struct sp_channel_msg *msg, int fd)
{
    struct sp_process *asker = sp_master_find(master, (pid_t)msg->pid);

    if (asker != NULL && asker->channel >= 0
        && sp_channel_send(asker->channel, msg, fd) != 0) {
        sp_log_warn(master->log, errno, "worker #%u: an answer to its "
                    "question could not be passed on", asker->slot);
    }
    if (fd >= 0) {
        close(fd);
    }
}
