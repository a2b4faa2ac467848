/*
 * sp_process.c — the respawn policy of the process table (see
 * sp_process.h).
 */
#include "sp_process.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "sp_signal.h"
#include "sp_worker_process.h"

static uint64_t
sp_process_backoff_ms(uint32_t quick_deaths)
{
    uint64_t ms = SP_PROCESS_BACKOFF_MIN_MS;

    if (quick_deaths < 2) {
        return 0;
    }
    for (uint32_t i = 2; i < quick_deaths && ms < SP_PROCESS_BACKOFF_MAX_MS;
         i++) {
        ms *= 2;
    }
    return ms < SP_PROCESS_BACKOFF_MAX_MS ? ms : SP_PROCESS_BACKOFF_MAX_MS;
}

sp_process_fate_t
sp_process_ended(struct sp_process *proc, int status, uint64_t now_ms,
                 bool respawn, char *text, size_t len)
{
    char name[32];
    int n;

    if (WIFSIGNALED(status)) {
        int signo = WTERMSIG(status);
        n = snprintf(text, len, "worker #%u (pid %ld) killed by signal %d "
                     "(%s)%s", proc->slot, (long)proc->pid, signo,
                     sp_signal_name(signo, name, sizeof(name)),
                     WCOREDUMP(status) ? ", core dumped" : "");
    } else {
        n = snprintf(text, len, "worker #%u (pid %ld) exited with code %d",
                     proc->slot, (long)proc->pid, WEXITSTATUS(status));
    }
    if (n < 0 || (size_t)n >= len) {
        n = (int)len - 1;
    }
    proc->pid = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !respawn) {
        proc->state = SP_PROCESS_EMPTY;
        return SP_PROCESS_DONE;     /* asked to stop */
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == SP_WORKER_EXIT_FATAL) {
        proc->state = SP_PROCESS_FAILED;
        snprintf(text + n, len - (size_t)n, " (its initialisation failed); "
                 "not respawned");
        return SP_PROCESS_GIVE_UP;
    }
    if (!respawn) {
        proc->state = SP_PROCESS_EMPTY;
        return SP_PROCESS_DONE;
    }
    if (now_ms - proc->started_ms < SP_PROCESS_QUICK_MS) {
        proc->quick_deaths++;
    } else {
        proc->quick_deaths = 1;
    }
    uint64_t wait_ms = sp_process_backoff_ms(proc->quick_deaths);
    proc->state = SP_PROCESS_WAITING;
    proc->respawn_at_ms = now_ms + wait_ms;
    if (wait_ms == 0) {
        snprintf(text + n, len - (size_t)n, "; respawning");
    } else {
        snprintf(text + n, len - (size_t)n, "; it keeps dying (%u times "
                 "within %d ms of its start): respawning in %llu ms",
                 proc->quick_deaths, SP_PROCESS_QUICK_MS,
                 (unsigned long long)wait_ms);
    }
    return SP_PROCESS_RESPAWN;
}
