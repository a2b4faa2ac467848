/*
 * sp_channel.h — the master <-> worker channel: one socketpair per worker,
 * fixed-size messages, a descriptor passed with SCM_RIGHTS when one rides
 * along (nginx's ngx_channel.c).
 *
 * The same messages go between an old master and the new binary it started
 * (USR2): clients handed over from one to the other, named by pool.
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

#include <stdbool.h>
#include <stdint.h>

enum sp_channel_cmd {
    SP_CHANNEL_QUIT = 1,        /* drain: stop accepting, finish, exit */
    SP_CHANNEL_TERMINATE,       /* exit now */
    SP_CHANNEL_REOPEN,          /* reopen the log file */
    SP_CHANNEL_LOG_LEVEL,       /* arg: +1 or -1 */
    SP_CHANNEL_RETIRE,          /* drain, handing each client over (reload) */
    SP_CHANNEL_HANDOFF,         /* worker -> master: a client at a request
                                   boundary; fd attached, slot = its pool in
                                   the worker's configuration, arg = flags */
    SP_CHANNEL_ADOPT,           /* master -> worker: serve this client; fd
                                   attached, slot = its pool, arg = flags */
    SP_CHANNEL_ASK,             /* a question for every worker (sp_ask.h):
                                   worker -> master, then master -> each
                                   worker; pid = the asker, auth = its
                                   serial, arg = the kind, name = the
                                   protocol, session = the question */
    SP_CHANNEL_ASKED,           /* master -> asker: auth = the serial,
                                   arg = how many workers it reached */
    SP_CHANNEL_ANSWER,          /* worker -> master -> asker: pid = the
                                   asker, auth = the serial, arg = a number,
                                   slot = the answering worker; fd: bulk
                                   bytes (a memory file), when any */
    SP_CHANNEL_REFRESH,         /* worker -> master: ask the pool's topology
                                   again now (Redis Cluster: a -MOVED, a
                                   node that failed): name = the pool,
                                   arg = 1 when a server failed */
    SP_CHANNEL_SWITCH           /* master -> worker: a Sentinel named a new
                                   master for a server (its address is in
                                   the shared region): slot = the pool,
                                   arg = the server's index in it, name =
                                   its name; close its connections */
};

/* HANDOFF / ADOPT flags: the client's small state. */
#define SP_CHANNEL_AUTHENTICATED 0x1
#define SP_CHANNEL_REDIS         0x2    /* between masters: the protocol */

#define SP_CHANNEL_NAME 96
#define SP_CHANNEL_SESSION 512      /* a handed-over client's session, as
                                       its protocol saved it (opaque) */

struct sp_channel_msg {
    uint32_t command;           /* enum sp_channel_cmd */
    int32_t  slot;              /* the worker (or the pool) it concerns */
    int64_t  pid;
    int64_t  arg;
    uint64_t auth;              /* ADOPT between masters: a hash of the
                                   pool's redis_auth (0: none) */
    char     name[SP_CHANNEL_NAME];     /* ... and the pool's name */
    uint32_t session_len;               /* HANDOFF / ADOPT: the client's */
    char     session[SP_CHANNEL_SESSION];
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
 * Returns 1 for a message, 0 at EOF, -1 with errno (EAGAIN: none now). A
 * message cut short (no descriptor left for the one attached: EMFILE) is
 * skipped and counted in *dropped (may be NULL), and the next one read.
 */
int sp_channel_recv(int fd, struct sp_channel_msg *msg, int *passed_fd,
                    unsigned *dropped);

/* After sp_channel_recv returned rc: whether the peer is gone (EOF, or an
 * error other than "nothing now"). */
bool sp_channel_gone(int rc);

const char *sp_channel_cmd_name(uint32_t command);

#endif /* SP_CHANNEL_H */
