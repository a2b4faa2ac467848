/*
 * sp_event_uring_send.c — the io_uring backend's sends (see sp_event.h,
 * "Sends"): send_stage prepares an IORING_OP_SENDMSG with MSG_DONTWAIT, so
 * it never waits in the kernel (it finishes within the io_uring_enter that
 * submits it, with the bytes taken or -EAGAIN), its iovecs copied into an
 * arena the kernel has read once the stage is submitted; submit (or the
 * next poll) sends every staged one in one io_uring_enter, and each
 * completion is announced through `done`. A staged send whose owner goes
 * away before submission becomes a NOP. Records live in a fixed table;
 * a full table or arena says ENOBUFS and the caller writes itself.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sp_event_uring.h"

static void
sp_uring_send_free(struct sp_uring *u, struct sp_uring_send *s)
{
    s->state = SP_SEND_FREE;
    s->owner = NULL;
    s->next_free = u->free_send;
    u->free_send = (uint32_t)(s - u->sends);
}

void
sp_uring_send_done(struct sp_uring *u, uint32_t idx, int32_t res, int *ndone)
{
    struct sp_uring_send *s;

    if (idx >= SP_URING_SENDS) {
        return;
    }
    s = &u->sends[idx];
    if (s->state != SP_SEND_SUBMITTED) {
        return;
    }
    u->nflight--;
    if (s->owner == NULL) {
        sp_uring_send_free(u, s);       /* cancelled after submission */
        return;
    }
    s->result = res;
    s->state = SP_SEND_DONE;
    (*ndone)++;
    u->done(u->done_arg, s->owner);
}

void *
sp_uring_send_stage(void *backend, int fd, const struct iovec *iov,
                    int iovcnt, void *owner)
{
    struct sp_uring *u = backend;
    struct sp_uring_send *s;
    struct io_uring_sqe *sqe;
    uint32_t idx = u->free_send;

    if (iovcnt <= 0 || owner == NULL) {
        errno = EINVAL;
        return NULL;
    }
    if (idx == UINT32_MAX || u->iovs_used + (uint32_t)iovcnt > SP_URING_IOVS
        || u->nstaged == SP_URING_SENDS) {
        errno = ENOBUFS;
        return NULL;
    }
    sqe = sp_uring_sqe(u);      /* may submit the stage: iovs_used resets */
    if (sqe == NULL) {
        return NULL;
    }
    s = &u->sends[idx];
    u->free_send = s->next_free;
    s->owner = owner;
    s->sqe = sqe;
    s->state = SP_SEND_STAGED;
    s->result = 0;
    if (iovcnt == 1) {          /* no msghdr for the kernel to copy */
        io_uring_prep_send(sqe, fd, iov[0].iov_base, iov[0].iov_len,
                           MSG_DONTWAIT | MSG_NOSIGNAL);
    } else {
        memcpy(u->iovs + u->iovs_used, iov, (size_t)iovcnt * sizeof(*iov));
        s->msg = (struct msghdr){ .msg_iov = u->iovs + u->iovs_used,
                                  .msg_iovlen = (size_t)iovcnt };
        u->iovs_used += (uint32_t)iovcnt;
        io_uring_prep_sendmsg(sqe, fd, &s->msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    io_uring_sqe_set_data64(sqe, SP_UD_MAKE(SP_UD_SEND, idx));
    u->staged[u->nstaged++] = idx;
    return s;
}

int
sp_uring_send_result(void *backend, void *send, ssize_t *result)
{
    struct sp_uring *u = backend;
    struct sp_uring_send *s = send;

    if (s->state != SP_SEND_DONE) {
        errno = EINPROGRESS;
        return -1;
    }
    *result = s->result;
    sp_uring_send_free(u, s);
    return 0;
}

void
sp_uring_send_cancel(void *backend, void *send)
{
    struct sp_uring *u = backend;
    struct sp_uring_send *s = send;

    switch (s->state) {
    case SP_SEND_STAGED:
        /* not the kernel's yet: the SQE goes out as a NOP, unanswered */
        io_uring_prep_nop(s->sqe);
        io_uring_sqe_set_data64(s->sqe, SP_UD_NONE);
        s->sqe = NULL;
        sp_uring_send_free(u, s);   /* the staged list skips it */
        break;
    case SP_SEND_SUBMITTED: {
        /* submitted and not known done: it finished inside its submit
         * (MSG_DONTWAIT), its completion unread, or, should the kernel
         * ever have set it aside, it must not read the owner's bytes
         * once they are gone: cancelled (or waited for) before we return */
        struct io_uring_sync_cancel_reg reg = { 0 };

        reg.addr = SP_UD_MAKE(SP_UD_SEND, (uint64_t)(s - u->sends));
        reg.timeout.tv_sec = 1;
        (void)io_uring_register_sync_cancel(&u->ring, &reg);
        s->owner = NULL;            /* freed when its completion comes */
        break;
    }
    case SP_SEND_DONE:
        sp_uring_send_free(u, s);
        break;
    default:
        break;
    }
}

int
sp_uring_submit(void *backend)
{
    struct sp_uring *u = backend;
    int ndone = 0, rc;

    if (u->nstaged == 0) {
        return 0;
    }
    /* and run the deferred completions: readiness that came meanwhile is
     * read now, into the backlog, so the next poll needs no call of its
     * own while there is work */
    rc = io_uring_submit_and_get_events(&u->ring);
    sp_uring_mark_submitted(u);
    if (rc < 0 && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR) {
        errno = -rc;
        return -1;
    }
    /* the sends finished inside the call; readiness met on the way waits
     * in the backlog for the next poll */
    sp_uring_reap_backlog(u, &ndone);
    return ndone;
}
