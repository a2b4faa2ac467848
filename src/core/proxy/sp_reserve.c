/*
 * sp_reserve.c — the descriptors held for server connections (see
 * sp_reserve.h).
 */
#include "sp_reserve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "sp_log.h"

/* Hold descriptors until held + out reaches want (or none is left). */
static void
sp_reserve_fill(struct sp_reserve *reserve)
{
    while (reserve->held + reserve->out < reserve->want) {
        int fd = reserve->held > 0
                 ? fcntl(reserve->fds[0], F_DUPFD_CLOEXEC, 0)
                 : open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            return;         /* the limit: the next return tries again */
        }
        reserve->fds[reserve->held++] = fd;
    }
}

int
sp_reserve_init(struct sp_reserve *reserve, uint32_t want,
                struct sp_log *log)
{
    struct rlimit rl;

    reserve->held = reserve->out = 0;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
        && want > rl.rlim_cur / 2) {
        sp_log_warn(log, 0, "the pools' servers x server_connections (%u) "
                    "need more than half of the %llu descriptors a worker "
                    "may open: %llu are kept for server connections, and a "
                    "client may be answered \"Connection failed\" when the "
                    "rest are in use", want, (unsigned long long)rl.rlim_cur,
                    (unsigned long long)(rl.rlim_cur / 2));
        want = (uint32_t)(rl.rlim_cur / 2);
    }
    reserve->want = want;
    reserve->fds = calloc(want > 0 ? want : 1, sizeof(*reserve->fds));
    if (reserve->fds == NULL) {
        return -1;
    }
    sp_reserve_fill(reserve);
    return 0;
}

void
sp_reserve_deinit(struct sp_reserve *reserve)
{
    while (reserve->held > 0) {
        close(reserve->fds[--reserve->held]);
    }
    free(reserve->fds);
    reserve->fds = NULL;
    reserve->want = 0;
}

void
sp_reserve_release(struct sp_reserve *reserve)
{
    if (reserve->held > 0) {
        close(reserve->fds[--reserve->held]);
    }
    reserve->out++;
}

void
sp_reserve_return(struct sp_reserve *reserve)
{
    if (reserve->out > 0) {
        reserve->out--;
    }
    if (reserve->fds != NULL) {
        sp_reserve_fill(reserve);
    }
}
