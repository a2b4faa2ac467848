/*
 * sp_channel.c — fixed-size messages and descriptors over a SOCK_SEQPACKET
 * socketpair (see sp_channel.h).
 */
#include "sp_channel.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

int
sp_channel_open(int fds[2])
{
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
                      0, fds);
}

int
sp_channel_send(int fd, const struct sp_channel_msg *msg, int pass_fd)
{
    union {
        struct cmsghdr align;
        char           space[CMSG_SPACE(sizeof(int))];
    } control;
    struct iovec iov = { (void *)msg, sizeof(*msg) };
    struct msghdr mh = { 0 };
    ssize_t n;

    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (pass_fd >= 0) {
        memset(&control, 0, sizeof(control));
        mh.msg_control = control.space;
        mh.msg_controllen = sizeof(control.space);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
    }
    do {
        n = sendmsg(fd, &mh, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return -1;
    }
    if ((size_t)n != sizeof(*msg)) {
        errno = EMSGSIZE;
        return -1;
    }
    return 0;
}

/* One recvmsg: 1 a whole message, 0 EOF, -1 errno (EBADMSG: cut short). */
static int
sp_channel_recv_one(int fd, struct sp_channel_msg *msg, int *passed_fd)
{
    union {
        struct cmsghdr align;
        char           space[CMSG_SPACE(sizeof(int))];
    } control;
    struct iovec iov = { msg, sizeof(*msg) };
    struct msghdr mh = { 0 };
    ssize_t n;

    *passed_fd = -1;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control.space;
    mh.msg_controllen = sizeof(control.space);
    do {
        n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        return n == 0 ? 0 : -1;
    }
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL;
         cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS
            && cm->cmsg_len == CMSG_LEN(sizeof(int))) {
            memcpy(passed_fd, CMSG_DATA(cm), sizeof(int));
        }
    }
    if ((size_t)n != sizeof(*msg) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        if (*passed_fd >= 0) {
            close(*passed_fd);
            *passed_fd = -1;
        }
        errno = EBADMSG;
        return -1;
    }
    return 1;
}

int
sp_channel_recv(int fd, struct sp_channel_msg *msg, int *passed_fd,
                unsigned *dropped)
{
    int rc;

    while ((rc = sp_channel_recv_one(fd, msg, passed_fd)) < 0
           && errno == EBADMSG) {
        if (dropped != NULL) {
            (*dropped)++;       /* cut short: skipped, the next one read */
        }
    }
    return rc;
}

bool
sp_channel_gone(int rc)
{
    return rc == 0 || (rc < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

const char *
sp_channel_cmd_name(uint32_t command)
{
    switch (command) {
    case SP_CHANNEL_QUIT:       return "QUIT";
    case SP_CHANNEL_TERMINATE:  return "TERMINATE";
    case SP_CHANNEL_REOPEN:     return "REOPEN";
    case SP_CHANNEL_LOG_LEVEL:  return "LOG_LEVEL";
    case SP_CHANNEL_RETIRE:     return "RETIRE";
    case SP_CHANNEL_HANDOFF:    return "HANDOFF";
    case SP_CHANNEL_ADOPT:      return "ADOPT";
    case SP_CHANNEL_ASK:        return "ASK";
    case SP_CHANNEL_ASKED:      return "ASKED";
    case SP_CHANNEL_ANSWER:     return "ANSWER";
    case SP_CHANNEL_REFRESH:    return "REFRESH";
    case SP_CHANNEL_SWITCH:     return "SWITCH";
    default:                    return "unknown";
    }
}
