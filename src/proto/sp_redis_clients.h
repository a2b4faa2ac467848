/*
 * sp_redis_clients.h — the proxy's clients as CLIENT LIST, CLIENT INFO and
 * CLIENT KILL see them: every worker's, asked through the master
 * (sp_ask.h). Private to src/proto.
 */
#ifndef SP_REDIS_CLIENTS_H
#define SP_REDIS_CLIENTS_H

#include <stddef.h>
#include <stdint.h>

#include "sp_conn.h"
#include "sp_msg.h"
#include "sp_redis.h"
#include "sp_redis_session.h"

/* The kinds of question this protocol asks every worker (sp_ask.h). */
enum sp_redis_ask_kind {
    SP_REDIS_ASK_CLIENT_LIST = 1,
    SP_REDIS_ASK_CLIENT_KILL,
    SP_REDIS_ASK_PUBSUB,        /* sp_redis_pubsub.c */
};

/* One client's line of CLIENT LIST / CLIENT INFO, newline included. */
void sp_redis_client_line(struct sp_rw *w, const struct sp_conn *c);

/* CLIENT LIST [TYPE t] [ID id ...]; CLIENT KILL in both forms. args: the
 * request's nargs arguments. 0, or -1 when out of memory. */
int sp_redis_client_list(struct sp_conn *client, struct sp_msg *msg,
                         const struct sp_redis_args *args, int64_t nargs);
int sp_redis_client_kill(struct sp_conn *client, struct sp_msg *msg,
                         const struct sp_redis_args *args, int64_t nargs);

/* The protocol's answer to another worker's question (sp_proto.answer). */
int64_t sp_redis_answer(struct sp_worker *worker, uint32_t kind,
                        const void *question, size_t len, char **out,
                        size_t *outlen);

#endif /* SP_REDIS_CLIENTS_H */
