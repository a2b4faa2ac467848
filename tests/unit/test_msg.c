/*
 * test_msg.c — messages (sp_msg.h): the one-way queues (append, take from
 * the head, remove and insert by predecessor, the last kept right), a
 * message leaving a server queue with its slink word (rtt_us, server)
 * cleared, the owner read as a client or a pool, and a message back from
 * the free list as new.
 */
#include <stdlib.h>
#include <string.h>

#include "sp_conn.h"
#include "sp_pool.h"
#include "sp_shared.h"
#include "sp_test.h"
#include "sp_worker.h"

/* The queue's messages in order, through link `c` (clink) or `s` (slink). */
static int
queue_is(const struct sp_msg_queue *q, char link, struct sp_msg *const *want,
         int n)
{
    const struct sp_msg *m = SP_MSGQ_FIRST(q);
    int i = 0;

    for (; m != NULL && i < n; i++) {
        if (m != want[i]) {
            return 0;
        }
        m = link == 'c' ? m->clink : m->slink;
    }
    return m == NULL && i == n
           && SP_MSGQ_LAST(q) == (n > 0 ? want[n - 1] : NULL)
           && SP_MSGQ_EMPTY(q) == (n == 0);
}

/* q holds the n messages of m, zeroed, linked through slink. */
static void
slinked(struct sp_msg_queue *q, struct sp_msg *m, int n, size_t size)
{
    memset(m, 0, size);
    SP_MSGQ_INIT(q);
    for (int i = 0; i < n; i++) {
        SP_MSGQ_PUSH(q, &m[i], slink);
    }
}

START_TEST(test_queue_push_shift)
{
    struct sp_msg m[3];
    struct sp_msg_queue q;

    memset(m, 0, sizeof(m));
    SP_MSGQ_INIT(&q);
    ck_assert(queue_is(&q, 'c', NULL, 0));
    SP_MSGQ_PUSH(&q, &m[0], clink);
    SP_MSGQ_PUSH(&q, &m[1], clink);
    SP_MSGQ_PUSH(&q, &m[2], clink);
    ck_assert(queue_is(&q, 'c', (struct sp_msg *[]){ &m[0], &m[1], &m[2] },
                       3));
    SP_MSGQ_SHIFT(&q, clink);
    ck_assert_ptr_null(m[0].clink);
    ck_assert(queue_is(&q, 'c', (struct sp_msg *[]){ &m[1], &m[2] }, 2));
    SP_MSGQ_SHIFT(&q, clink);
    SP_MSGQ_SHIFT(&q, clink);
    ck_assert(queue_is(&q, 'c', NULL, 0));
    SP_MSGQ_PUSH(&q, &m[1], clink);     /* the last went with the others */
    ck_assert(queue_is(&q, 'c', (struct sp_msg *[]){ &m[1] }, 1));
}
END_TEST

START_TEST(test_queue_by_predecessor)
{
    struct sp_msg m[4];
    struct sp_msg_queue q;

    slinked(&q, m, 3, sizeof(m));
    SP_MSGQ_REMOVE_AFTER(&q, &m[0], slink);             /* the middle */
    ck_assert(queue_is(&q, 's', (struct sp_msg *[]){ &m[0], &m[2] }, 2));
    SP_MSGQ_REMOVE_AFTER(&q, &m[0], slink);             /* the last */
    ck_assert(queue_is(&q, 's', (struct sp_msg *[]){ &m[0] }, 1));
    SP_MSGQ_INSERT_AFTER(&q, &m[0], &m[3], slink);      /* after the last */
    ck_assert(queue_is(&q, 's', (struct sp_msg *[]){ &m[0], &m[3] }, 2));
    SP_MSGQ_INSERT_AFTER(&q, &m[0], &m[1], slink);      /* before it */
    SP_MSGQ_INSERT_AFTER(&q, NULL, &m[2], slink);       /* first */
    ck_assert(queue_is(&q, 's', (struct sp_msg *[]){ &m[2], &m[0], &m[1],
                                                     &m[3] }, 4));
    SP_MSGQ_REMOVE_AFTER(&q, NULL, slink);              /* the first */
    ck_assert(queue_is(&q, 's', (struct sp_msg *[]){ &m[0], &m[1], &m[3] },
                       3));
    ck_assert_ptr_null(m[2].slink);
}
END_TEST

/* A message leaves a server queue with rtt_us and server 0: nothing of its
 * link is read as a round trip or a server (sp_msg.h: the phases). */
START_TEST(test_slink_word_cleared)
{
    struct sp_msg m[2];
    struct sp_msg_queue q;

    slinked(&q, m, 2, sizeof(m));
    ck_assert(m[0].rtt_us != 0 || m[0].server != 0);   /* the link's bits */
    SP_MSGQ_SHIFT(&q, slink);
    ck_assert_uint_eq(m[0].rtt_us, 0);
    ck_assert_uint_eq(m[0].server, 0);
    m[0].server = 3;
    m[0].rtt_us = 250;
    ck_assert(queue_is(&q, 's', (struct sp_msg *[]){ &m[1] }, 1));
}
END_TEST

START_TEST(test_owner)
{
    struct sp_pool pool;
    struct sp_conn client;
    struct sp_msg msg;

    memset(&pool, 0, sizeof(pool));
    memset(&client, 0, sizeof(client));
    memset(&msg, 0, sizeof(msg));
    client.pool = &pool;
    ck_assert_ptr_null(sp_msg_client(&msg));
    ck_assert_ptr_null(sp_msg_pool(&msg));
    sp_msg_set_client(&msg, &client);
    ck_assert_ptr_eq(sp_msg_client(&msg), &client);
    ck_assert_ptr_eq(sp_msg_pool(&msg), &pool);         /* its client's */
    sp_msg_set_pool(&msg, &pool);                       /* orphaned */
    ck_assert_ptr_null(sp_msg_client(&msg));
    ck_assert_ptr_eq(sp_msg_pool(&msg), &pool);
}
END_TEST

/* From the free list a message is as new: nothing of its last life. */
START_TEST(test_recycled_as_new)
{
    struct sp_stats_slot slot;
    struct sp_worker *w = calloc(1, sizeof(*w));
    struct sp_pool pool;
    struct sp_conn client;
    struct sp_msg *msg, *again, zero;

    ck_assert_ptr_nonnull(w);
    memset(&slot, 0, sizeof(slot));
    memset(&pool, 0, sizeof(pool));
    memset(&client, 0, sizeof(client));
    memset(&zero, 0, sizeof(zero));
    w->slot = &slot;
    sp_mbuf_pool_init(&w->mbufs, 512);
    pool.worker = w;
    client.pool = &pool;
    msg = sp_msg_get(w);
    ck_assert_ptr_nonnull(msg);
    sp_msg_set_client(msg, &client);
    msg->cmd = &pool;
    msg->pending = 2;
    msg->recv_us = 7;
    msg->out_seg = msg->out_off = 9;
    msg->rtt_us = 11;
    msg->server = 1;
    msg->done = msg->timed = msg->silent = true;
    msg->step_phase = 2;
    ck_assert_int_eq(sp_msg_reply_static(msg, "+OK\r\n"), 0);
    ck_assert_ptr_nonnull(sp_msg_ext_take(w, msg));
    sp_msg_put(w, msg);
    again = sp_msg_get(w);
    ck_assert_ptr_eq(again, msg);
    ck_assert_int_eq(memcmp(again, &zero, sizeof(zero)), 0);
    sp_msg_put(w, again);
    sp_msg_free_all(w);
    sp_mbuf_pool_destroy(&w->mbufs);
    free(w);
}
END_TEST

Suite *
sp_test_msg_suite(void)
{
    return SP_TEST_SUITE("msg", test_queue_push_shift,
                         test_queue_by_predecessor, test_slink_word_cleared,
                         test_owner, test_recycled_as_new);
}
