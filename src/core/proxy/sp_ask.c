/*
 * sp_ask.c — a worker's questions to every worker, through the master, and
 * its answers to theirs (sp_ask.h): the waiting requests, the channel
 * messages, and the memory files that carry bulk answers.
 */
#include "sp_ask.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sp_channel.h"
#include "sp_client.h"
#include "sp_conn.h"
#include "sp_log.h"
#include "sp_msg.h"
#include "sp_proto.h"
#include "sp_worker.h"

/* A question of ours, waiting for its answers. */
struct sp_ask {
    struct sp_ask    *next;         /* the worker's list */
    struct sp_worker *worker;
    struct sp_msg    *msg;
    sp_ask_done_fn    done;
    uint64_t          cookie;
    uint64_t          serial;
    struct sp_timer   timer;
    int64_t           sum;
    char             *bytes;
    size_t            len;
    size_t            cap;
    uint32_t          asked;        /* from the master's ASKED */
    bool              asked_known;
    uint32_t          answered;
};

static struct sp_ask *
sp_ask_find(struct sp_worker *worker, uint64_t serial)
{
    for (struct sp_ask *a = worker->asks; a != NULL; a = a->next) {
        if (a->serial == serial) {
            return a;
        }
    }
    return NULL;
}

static void
sp_ask_unlink(struct sp_worker *worker, struct sp_ask *ask)
{
    struct sp_ask **p = &worker->asks;

    while (*p != ask) {
        p = &(*p)->next;
    }
    *p = ask->next;
}

/* The answers are in (or time is up): the request gets its reply. */
static void
sp_ask_finish(struct sp_ask *ask)
{
    struct sp_worker *worker = ask->worker;
    struct sp_msg *msg = ask->msg;
    struct sp_ask_result result = {
        .sum = ask->sum, .bytes = ask->bytes != NULL ? ask->bytes : "",
        .len = ask->len, .asked = ask->asked, .answered = ask->answered,
        .cookie = ask->cookie,
    };

    sp_timer_del(worker->loop, &ask->timer);
    sp_ask_unlink(worker, ask);
    msg->pending = 0;
    if (sp_msg_client(msg) == NULL) {
        sp_msg_put(worker, msg);            /* its client left meanwhile */
    } else {
        if (ask->done(msg, &result) != 0) {
            sp_msg_reply_static(msg, sp_msg_pool(msg)->proto->error_reply(
                                         ENOMEM));
        }
        sp_client_reply_ready(msg);
    }
    free(ask->bytes);
    free(ask);
}

static void
sp_ask_check(struct sp_ask *ask)
{
    if (ask->asked_known && ask->answered >= ask->asked) {
        sp_ask_finish(ask);
    }
}

static void
sp_ask_timeout(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_ask *ask = timer->data;

    (void)loop;
    sp_log_warn(ask->worker->log, 0, "ask: %u of %u workers answered in %d ms",
                ask->answered, ask->asked, SP_ASK_TIMEOUT_MS);
    sp_ask_finish(ask);
}

/* Keep one answer's number and bulk bytes. */
static void
sp_ask_add(struct sp_ask *ask, int64_t number, const char *bytes, size_t len)
{
    ask->sum += number;
    ask->answered++;
    if (len == 0 || ask->len + len > SP_ASK_ANSWER_MAX) {
        return;
    }
    if (ask->len + len > ask->cap) {
        size_t cap = ask->cap > 0 ? ask->cap : 4096;
        char *grown;

        while (cap < ask->len + len) {
            cap *= 2;
        }
        if ((grown = realloc(ask->bytes, cap)) == NULL) {
            return;             /* the listing comes out short, not wrong */
        }
        ask->bytes = grown;
        ask->cap = cap;
    }
    memcpy(ask->bytes + ask->len, bytes, len);
    ask->len += len;
}

/* Answer question kind of proto from this worker's own clients. */
static int64_t
sp_ask_answer_here(struct sp_worker *worker, const struct sp_proto *proto,
                   uint32_t kind, const void *q, size_t qlen, char **out,
                   size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (proto == NULL || proto->answer == NULL) {
        return 0;
    }
    return proto->answer(worker, kind, q, qlen, out, outlen);
}

int
sp_ask_workers(struct sp_worker *worker, struct sp_msg *msg,
               const struct sp_proto *proto, uint32_t kind,
               const void *question, size_t len, uint64_t cookie,
               sp_ask_done_fn done)
{
    struct sp_channel_msg m = {
        .command = SP_CHANNEL_ASK, .slot = (int32_t)worker->index,
        .pid = worker->pid, .arg = kind,
    };
    struct sp_ask *ask;

    if (len > sizeof(m.session) || (ask = calloc(1, sizeof(*ask))) == NULL) {
        return -1;
    }
    ask->worker = worker;
    ask->msg = msg;
    ask->done = done;
    ask->cookie = cookie;
    ask->serial = ++worker->ask_serial;
    ask->next = worker->asks;
    worker->asks = ask;
    msg->pending = 1;                   /* waits as if sent to a server */

    m.auth = ask->serial;
    strncpy(m.name, proto->name, sizeof(m.name) - 1);
    m.session_len = (uint32_t)len;
    memcpy(m.session, question, len);
    if (worker->channel != NULL
        && sp_channel_send(worker->channel->fd, &m, -1) == 0) {
        sp_timer_add(worker->loop, &ask->timer, SP_ASK_TIMEOUT_MS,
                     sp_ask_timeout, ask);
        return 0;
    }
    /* no master (or its channel is full): this worker answers alone */
    char *bytes;
    size_t n;
    int64_t number = sp_ask_answer_here(worker, proto, kind, question, len,
                                        &bytes, &n);
    ask->asked = 1;
    ask->asked_known = true;
    sp_ask_add(ask, number, bytes, n);
    free(bytes);
    sp_ask_finish(ask);
    return 0;
}

/* Bulk bytes into a memory file, ready to pass on (-1: none made). */
static int
sp_ask_memfd(struct sp_worker *worker, const char *bytes, size_t len)
{
    int fd = memfd_create("shardproxy-answer", MFD_CLOEXEC);

    if (fd < 0) {
        sp_log_error(worker->log, errno, "ask: memfd_create failed");
        return -1;
    }
    for (size_t done = 0; done < len; ) {
        ssize_t n = write(fd, bytes + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            sp_log_error(worker->log, errno, "ask: writing an answer failed");
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    return fd;
}

void
sp_ask_answer(struct sp_worker *worker, const struct sp_channel_msg *q)
{
    struct sp_channel_msg a = {
        .command = SP_CHANNEL_ANSWER, .slot = (int32_t)worker->index,
        .pid = q->pid, .auth = q->auth,
    };
    char name[SP_CHANNEL_NAME], *bytes;
    size_t len, qlen = q->session_len <= sizeof(q->session) ? q->session_len
                                                           : 0;
    int fd = -1;

    memcpy(name, q->name, sizeof(name));
    name[sizeof(name) - 1] = '\0';
    a.arg = sp_ask_answer_here(worker, sp_proto_named(name), (uint32_t)q->arg,
                               q->session, qlen, &bytes, &len);
    if (len > 0) {
        fd = sp_ask_memfd(worker, bytes, len);
    }
    free(bytes);
    if (worker->channel == NULL
        || sp_channel_send(worker->channel->fd, &a, fd) != 0) {
        sp_log_warn(worker->log, errno, "ask: cannot answer worker pid %lld",
                    (long long)q->pid);
    }
    if (fd >= 0) {
        close(fd);
    }
}

void
sp_ask_asked(struct sp_worker *worker, const struct sp_channel_msg *m)
{
    struct sp_ask *ask = sp_ask_find(worker, (uint64_t)m->auth);

    if (ask != NULL) {
        ask->asked = m->arg > 0 ? (uint32_t)m->arg : 0;
        ask->asked_known = true;
        sp_ask_check(ask);
    }
}

/* The bulk bytes a memory file holds, into ask. */
static void
sp_ask_read(struct sp_ask *ask, int64_t number, int fd)
{
    struct stat st;
    void *map;

    if (fstat(fd, &st) != 0 || st.st_size <= 0
        || (uint64_t)st.st_size > SP_ASK_ANSWER_MAX) {
        sp_ask_add(ask, number, NULL, 0);
        return;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        sp_log_error(ask->worker->log, errno, "ask: cannot map an answer");
        sp_ask_add(ask, number, NULL, 0);
        return;
    }
    sp_ask_add(ask, number, map, (size_t)st.st_size);
    munmap(map, (size_t)st.st_size);
}

void
sp_ask_collect(struct sp_worker *worker, const struct sp_channel_msg *a,
               int fd)
{
    struct sp_ask *ask = sp_ask_find(worker, (uint64_t)a->auth);

    if (ask != NULL) {
        if (fd >= 0) {
            sp_ask_read(ask, a->arg, fd);
        } else {
            sp_ask_add(ask, a->arg, NULL, 0);
        }
        sp_ask_check(ask);
    }
    /* else: late, after its time was up */
    if (fd >= 0) {
        close(fd);
    }
}

void
sp_ask_drop_all(struct sp_worker *worker)
{
    struct sp_ask *ask;

    while ((ask = worker->asks) != NULL) {
        worker->asks = ask->next;
        sp_timer_del(worker->loop, &ask->timer);
        ask->msg->pending = 0;
        if (sp_msg_client(ask->msg) == NULL) {
            sp_msg_put(worker, ask->msg);
        }
        /* else its client's close frees it */
        free(ask->bytes);
        free(ask);
    }
}
