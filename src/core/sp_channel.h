/*
 * sp_channel.h — the master <-> worker channel: one socketpair per worker,
 * fixed-size messages, a descriptor passed with SCM_RIGHTS when one rides
 * along (nginx's ngx_channel.c).
 *
 * SOCK_SEQPACKET keeps message boundaries, so a read returns one whole
 * message or nothing: no reassembly, no partial message ever. Both ends
 * are non-blocking and close-on-exec; the master keeps end [0], the worker
 * end [1]. EOF on the worker's end means the master is gone.
 *
 * Shared by both sides (it is not master-only): the worker includes it.
 */
#ifndef SP_CHANNEL_H
#define SP_CHANNEL_H

#include <stdint.h>

enum sp_channel_cmd {
    SP_CHANNEL_QUIT = 1,        /* drain: stop accepting, finish, exit */
    SP_CHANNEL_TERMINATE,       /* exit now */
    SP_CHANNEL_REOPEN,          /* reopen the log file */
    SP_CHANNEL_LOG_LEVEL        /* arg: +1 or -1 */
};

struct sp_channel_msg {
    uint32_t command;           /* enum sp_channel_cmd */
    int32_t  slot;              /* the worker it concerns */
    int64_t  pid;
    int64_t  arg;
};

/* A connected pair. 0, or -1 with errno. */
int sp_channel_open(int fds[2]);

/*
 * Send msg, with fd attached when fd >= 0. Returns 0, or -1 with errno
 * (EAGAIN: the peer's queue is full; EPIPE: it is gone).
 */
int sp_channel_send(int fd, const struct sp_channel_msg *msg, int pass_fd);

/*
 * Receive one message; *passed_fd gets an attached descriptor or -1.
 * Returns 1 for a message, 0 at EOF, -1 with errno (EAGAIN: none now).
 */
int sp_channel_recv(int fd, struct sp_channel_msg *msg, int *passed_fd);

const char *sp_channel_cmd_name(uint32_t command);

#endif /* SP_CHANNEL_H */
