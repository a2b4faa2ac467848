/*
 * test_defer.c — the worker's step queue (sp_defer.h): one step of every
 * request queued when a run starts, in order, those unfinished queued
 * again at the end, those queued during a run left for the next; a request
 * whose client left is freed, not stepped; connections queued to read on
 * are queued once and can be cancelled.
 */
#include <stdlib.h>
#include <string.h>

#include "sp_defer.h"
#include "sp_proto.h"
#include "sp_shared.h"
#include "sp_test.h"
#include "sp_worker.h"

/* A protocol whose step finishes a request after msg->ext->nkeys steps; it
 * notes the order of the steps (in the pool, which comes first), and may
 * queue another request. */
struct fake {
    struct sp_pool pool;
    struct sp_msg *order[16];
    int            nsteps;
    struct sp_msg *add_during;  /* queued by the first step */
};

static bool
fake_step(struct sp_worker *worker, struct sp_msg *msg)
{
    struct fake *f = (struct fake *)sp_msg_pool(msg);

    if (f->nsteps < (int)NELEMS(f->order)) {
        f->order[f->nsteps] = msg;
    }
    f->nsteps++;
    if (f->add_during != NULL) {
        sp_defer_add(worker, f->add_during, false);
        f->add_during = NULL;
    }
    return ++msg->ext->step_key >= msg->ext->nkeys;
}

static const struct sp_proto fake_proto = {
    .name = "fake",
    .step = fake_step,
};

/* A worker with what the queue touches: its lists, buffers, counters. */
static struct sp_worker *
worker_new(struct fake *fake, struct sp_stats_slot *slot)
{
    struct sp_pool *pool = &fake->pool;
    struct sp_worker *w = calloc(1, sizeof(*w));

    ck_assert_ptr_nonnull(w);
    SP_MSGQ_INIT(&w->deferred);
    sp_mbuf_pool_init(&w->mbufs, 512);
    memset(slot, 0, sizeof(*slot));
    w->slot = slot;
    memset(fake, 0, sizeof(*fake));
    pool->worker = w;
    pool->proto = &fake_proto;
    return w;
}

static void
worker_free(struct sp_worker *w)
{
    sp_msg_free_all(w);
    sp_mbuf_pool_destroy(&w->mbufs);
    free(w->read_later);
    free(w);
}

/* A request that takes `steps` steps; `client` only needs to be non-NULL
 * (a finished request that is not done touches no client) and of the fake
 * pool (its messages' pool is their client's). */
static struct sp_msg *
request(struct sp_worker *w, struct fake *fake, struct sp_conn *client,
        uint32_t steps)
{
    struct sp_msg *msg = sp_msg_get(w);

    ck_assert_ptr_nonnull(msg);
    if (client != NULL) {
        client->pool = &fake->pool;
        sp_msg_set_client(msg, client);
    } else {
        sp_msg_set_pool(msg, &fake->pool);
    }
    ck_assert_ptr_nonnull(sp_msg_ext_take(w, msg));
    msg->ext->nkeys = steps;
    return msg;
}

START_TEST(test_one_step_each_in_turn)
{
    struct fake fake;
    struct sp_stats_slot slot;
    struct sp_worker *w = worker_new(&fake, &slot);
    struct sp_conn client;
    struct sp_msg *a = request(w, &fake, &client, 3);
    struct sp_msg *b = request(w, &fake, &client, 1);

    ck_assert(!sp_defer_pending(w));
    sp_defer_add(w, a, false);
    sp_defer_add(w, b, false);
    ck_assert(sp_defer_pending(w) && a->deferred && b->deferred);

    sp_defer_run(w);                    /* a (1 of 3), b (done) */
    ck_assert_int_eq(fake.nsteps, 2);
    ck_assert_ptr_eq(fake.order[0], a);
    ck_assert_ptr_eq(fake.order[1], b);
    ck_assert(a->deferred && !b->deferred);
    ck_assert(sp_defer_pending(w));

    sp_defer_run(w);                    /* a alone: one step a run */
    ck_assert_int_eq(fake.nsteps, 3);
    sp_defer_run(w);
    ck_assert_int_eq(fake.nsteps, 4);
    ck_assert(!a->deferred && !sp_defer_pending(w));
    sp_defer_run(w);                    /* nothing queued: nothing run */
    ck_assert_int_eq(fake.nsteps, 4);

    sp_msg_put(w, a);
    sp_msg_put(w, b);
    worker_free(w);
}
END_TEST

START_TEST(test_queued_during_a_run_waits)
{
    struct fake fake;
    struct sp_stats_slot slot;
    struct sp_worker *w = worker_new(&fake, &slot);
    struct sp_conn client;
    struct sp_msg *a = request(w, &fake, &client, 1);
    struct sp_msg *b = request(w, &fake, &client, 1);

    sp_defer_add(w, a, false);
    fake.add_during = b;
    sp_defer_run(w);
    ck_assert_int_eq(fake.nsteps, 1);   /* b was not stepped yet */
    ck_assert(b->deferred && sp_defer_pending(w));
    sp_defer_run(w);
    ck_assert_int_eq(fake.nsteps, 2);
    ck_assert_ptr_eq(fake.order[1], b);
    ck_assert(!sp_defer_pending(w));

    sp_msg_put(w, a);
    sp_msg_put(w, b);
    worker_free(w);
}
END_TEST

START_TEST(test_orphan_is_freed_not_stepped)
{
    struct fake fake;
    struct sp_stats_slot slot;
    struct sp_worker *w = worker_new(&fake, &slot);
    struct sp_msg *a = request(w, &fake, NULL, 5);
    uint32_t free_before = w->nfree_msgs;

    sp_defer_add(w, a, false);          /* a merge whose client left */
    sp_defer_run(w);
    ck_assert_int_eq(fake.nsteps, 0);
    ck_assert(!sp_defer_pending(w));
    ck_assert_uint_eq(w->nfree_msgs, free_before + 1);
    worker_free(w);
}
END_TEST

START_TEST(test_drop_all_frees_orphans)
{
    struct fake fake;
    struct sp_stats_slot slot;
    struct sp_worker *w = worker_new(&fake, &slot);
    struct sp_msg *a = request(w, &fake, NULL, 5);
    struct sp_msg *b = request(w, &fake, NULL, 5);
    uint32_t free_before = w->nfree_msgs;

    sp_defer_add(w, a, false);
    sp_defer_add(w, b, false);
    b->holds = true;                    /* a split: its own part only */
    b->pending = 1;
    sp_defer_drop_all(w);
    ck_assert(!sp_defer_pending(w));
    ck_assert_uint_eq(w->nfree_msgs, free_before + 2);
    worker_free(w);
}
END_TEST

START_TEST(test_read_later_once_and_cancel)
{
    struct fake fake;
    struct sp_stats_slot slot;
    struct sp_worker *w = worker_new(&fake, &slot);
    struct sp_conn a, b;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    a.worker = b.worker = w;
    sp_defer_read(&a);
    sp_defer_read(&a);                  /* once */
    sp_defer_read(&b);
    ck_assert_uint_eq(w->nread_later, 2);
    ck_assert(a.read_later && b.read_later && sp_defer_pending(w));
    sp_defer_read_cancel(&a);           /* freed: its slot is emptied */
    sp_defer_read_cancel(&b);
    ck_assert(!a.read_later && !b.read_later);
    sp_defer_run(w);                    /* empty slots: nothing to read */
    ck_assert_uint_eq(w->nread_later, 0);
    ck_assert(!sp_defer_pending(w));
    worker_free(w);
}
END_TEST

Suite *
sp_test_defer_suite(void)
{
    return SP_TEST_SUITE("defer", test_one_step_each_in_turn,
                         test_queued_during_a_run_waits,
                         test_orphan_is_freed_not_stepped,
                         test_drop_all_frees_orphans,
                         test_read_later_once_and_cancel);
}
