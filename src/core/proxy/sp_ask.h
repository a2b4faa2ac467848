/*
 * sp_ask.h — questions one worker asks every worker of the proxy (itself
 * included) about their clients: CLIENT LIST, CLIENT KILL, PUBSUB NUMSUB,
 * whatever must see the whole proxy and not one worker's share of it.
 *
 *   client's request ─► protocol: sp_ask_workers(msg, question)
 *        worker ── ASK ──► master ── ASK ──► every running worker
 *                          master ── ASKED (how many) ──► worker
 *        each worker: proto->answer ─► a number, and bulk bytes in a memfd
 *        each worker ── ANSWER (+ memfd) ──► master ── ANSWER ──► worker
 *   all answered (or SP_ASK_TIMEOUT_MS passed) ─► done(msg, result): reply
 *
 * The channel's messages are fixed and small; a bulk answer (10,000
 * clients' lines are megabytes) rides as a sealed memory file passed with
 * SCM_RIGHTS, read once by the asker. Nothing here is on a request's hot
 * path: these are operators' and libraries' rare administrative commands.
 *
 * The asking request waits like one sent to a server (msg->pending is 1
 * until the answers are in), so the replies behind it stay in order, and a
 * client that leaves meanwhile leaves an orphan freed when the answers
 * come. A worker that does not answer in time (hung, dying, a full
 * channel) is left out of the result: the answer says how many answered.
 * With no master (a single process) the worker answers alone, at once.
 */
#ifndef SP_ASK_H
#define SP_ASK_H

#include <stddef.h>
#include <stdint.h>

struct sp_channel_msg;
struct sp_msg;
struct sp_proto;
struct sp_worker;

#define SP_ASK_TIMEOUT_MS  1000
#define SP_ASK_QUESTION    512        /* bytes a question may hold */
#define SP_ASK_ANSWER_MAX  (256u << 20) /* bulk bytes kept over all answers */

/* The workers' answers, put together. */
struct sp_ask_result {
    int64_t     sum;            /* their numbers, added */
    const char *bytes;          /* their bulk answers, one after another */
    size_t      len;
    uint32_t    asked;          /* workers the question reached (0: unknown,
                                   the master did not say in time) */
    uint32_t    answered;
    uint64_t    cookie;         /* the asker's own, as it gave it */
};

/* Build msg's reply from the answers. 0, or -1 (no memory: the request
 * gets the protocol's error). */
typedef int (*sp_ask_done_fn)(struct sp_msg *msg,
                              const struct sp_ask_result *result);

/*
 * Ask every worker question `kind` (the protocol's own numbering) about
 * the clients of proto's pools; msg (a request of a client of this
 * worker, not yet answered) waits, then done builds its reply, given the
 * answers and `cookie` (what the asker keeps meanwhile). 0, or -1: out of
 * memory (msg untouched).
 */
int sp_ask_workers(struct sp_worker *worker, struct sp_msg *msg,
                   const struct sp_proto *proto, uint32_t kind,
                   const void *question, size_t len, uint64_t cookie,
                   sp_ask_done_fn done);

/* From the channel: another worker's question, passed on by the master
 * (answer it), the number of workers it reached, or one worker's answer
 * (fd: its bulk bytes, or -1). */
void sp_ask_answer(struct sp_worker *worker, const struct sp_channel_msg *q);
void sp_ask_asked(struct sp_worker *worker, const struct sp_channel_msg *m);
void sp_ask_collect(struct sp_worker *worker, const struct sp_channel_msg *a,
                    int fd);

/* The worker is going away: the waiting requests end unanswered. */
void sp_ask_drop_all(struct sp_worker *worker);

#endif /* SP_ASK_H */
