/*
 * sp_timer.c — the loop's timers: a binary min-heap on deadline of
 * struct sp_timer pointers (see sp_event_int.h for the phase rules) and the
 * public sp_timer_* calls (see sp_event.h).
 *
 * The heap and its `due` twin double together in sp_timer_add, the only
 * place that allocates; deleting, re-arming an armed timer and running the
 * timer phase never do. Timers with equal deadlines fire in no set order.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "sp_event.h"
#include "sp_event_int.h"

#define SP_TIMER_DUE        0x80000000u     /* heap_index: slot in due */
#define SP_TIMER_NONE       UINT32_MAX
#define SP_TIMER_HEAP_MIN   16u

void
sp_timer_heap_init(struct sp_timer_heap *th)
{
    th->heap = NULL;
    th->due = NULL;
    th->n = th->cap = th->ndue = th->narmed_due = 0;
}

/* The timers still armed belong to their owners; they are not touched. */
void
sp_timer_heap_free(struct sp_timer_heap *th)
{
    free(th->heap);
    free(th->due);
    sp_timer_heap_init(th);
}

static int
sp_timer_heap_grow(struct sp_timer_heap *th)
{
    struct sp_timer **heap, **due;
    uint32_t cap;

    if (th->cap >= SP_TIMER_DUE / 2) {
        errno = ENOMEM;
        return -1;
    }
    cap = th->cap == 0 ? SP_TIMER_HEAP_MIN : th->cap * 2;
    heap = realloc(th->heap, (size_t)cap * sizeof(*heap));
    if (heap == NULL) {
        return -1;
    }
    th->heap = heap;
    /* if this one fails, heap is merely larger than cap says */
    due = realloc(th->due, (size_t)cap * sizeof(*due));
    if (due == NULL) {
        return -1;
    }
    th->due = due;
    th->cap = cap;
    return 0;
}

static bool
sp_timer_before(const struct sp_timer *a, const struct sp_timer *b)
{
    return a->deadline_ms < b->deadline_ms;
}

static void
sp_timer_heap_place(struct sp_timer_heap *th, struct sp_timer *t, uint32_t i)
{
    th->heap[i] = t;
    t->heap_index = i;
}

static void
sp_timer_heap_sift_up(struct sp_timer_heap *th, uint32_t i)
{
    struct sp_timer *t = th->heap[i];

    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!sp_timer_before(t, th->heap[parent])) {
            break;
        }
        sp_timer_heap_place(th, th->heap[parent], i);
        i = parent;
    }
    sp_timer_heap_place(th, t, i);
}

static void
sp_timer_heap_sift_down(struct sp_timer_heap *th, uint32_t i)
{
    struct sp_timer *t = th->heap[i];

    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= th->n) {
            break;
        }
        if (child + 1 < th->n
            && sp_timer_before(th->heap[child + 1], th->heap[child])) {
            child++;
        }
        if (!sp_timer_before(th->heap[child], t)) {
            break;
        }
        sp_timer_heap_place(th, th->heap[child], i);
        i = child;
    }
    sp_timer_heap_place(th, t, i);
}

/* Restore order around slot i after its deadline changed either way. */
static void
sp_timer_heap_fix(struct sp_timer_heap *th, uint32_t i)
{
    if (i > 0 && sp_timer_before(th->heap[i], th->heap[(i - 1) / 2])) {
        sp_timer_heap_sift_up(th, i);
    } else {
        sp_timer_heap_sift_down(th, i);
    }
}

static void
sp_timer_heap_remove_at(struct sp_timer_heap *th, uint32_t i)
{
    struct sp_timer *last = th->heap[--th->n];

    if (i < th->n) {
        sp_timer_heap_place(th, last, i);
        sp_timer_heap_fix(th, i);
    }
}

/* Whether an armed timer is in this loop (a guard against mixing loops). */
static bool
sp_timer_heap_holds(const struct sp_timer_heap *th, const struct sp_timer *t)
{
    uint32_t i = t->heap_index & ~SP_TIMER_DUE;

    if (t->heap_index & SP_TIMER_DUE) {
        return i < th->ndue && th->due[i] == t;
    }
    return i < th->n && th->heap[i] == t;
}

static void
sp_timer_heap_disarm(struct sp_timer_heap *th, struct sp_timer *t)
{
    if (t->heap_index & SP_TIMER_DUE) {
        th->due[t->heap_index & ~SP_TIMER_DUE] = NULL;
        th->narmed_due--;
    } else {
        sp_timer_heap_remove_at(th, t->heap_index);
    }
    t->armed = false;
    t->heap_index = SP_TIMER_NONE;
}

static int
sp_timer_heap_arm(struct sp_timer_heap *th, struct sp_timer *t,
                  uint64_t deadline)
{
    if (t->armed && !sp_timer_heap_holds(th, t)) {
        errno = EINVAL;
        return -1;
    }
    if (t->armed && !(t->heap_index & SP_TIMER_DUE)) {
        t->deadline_ms = deadline;
        sp_timer_heap_fix(th, t->heap_index);
        return 0;
    }
    if (th->n == th->cap && sp_timer_heap_grow(th) != 0) {
        return -1;
    }
    if (t->armed) {
        sp_timer_heap_disarm(th, t);    /* due this phase: run it later */
    }
    t->deadline_ms = deadline;
    t->armed = true;
    sp_timer_heap_place(th, t, th->n++);
    sp_timer_heap_sift_up(th, t->heap_index);
    return 0;
}

int
sp_timer_heap_timeout(const struct sp_timer_heap *th, uint64_t now)
{
    uint64_t deadline;

    if (th->n == 0) {
        return -1;
    }
    deadline = th->heap[0]->deadline_ms;
    if (deadline <= now) {
        return 0;
    }
    return deadline - now > (uint64_t)INT_MAX ? INT_MAX
                                               : (int)(deadline - now);
}

static void
sp_timer_heap_collect_due(struct sp_timer_heap *th, uint64_t now)
{
    th->ndue = 0;
    while (th->n > 0 && th->heap[0]->deadline_ms <= now) {
        struct sp_timer *t = th->heap[0];

        sp_timer_heap_remove_at(th, 0);
        t->heap_index = SP_TIMER_DUE | th->ndue;
        th->due[th->ndue++] = t;
    }
    th->narmed_due = th->ndue;
}

void
sp_timer_heap_run(struct sp_timer_heap *th, struct sp_event_loop *loop,
                  uint64_t now)
{
    sp_timer_heap_collect_due(th, now);
    for (uint32_t i = 0; i < th->ndue; i++) {
        struct sp_timer *t = th->due[i];

        if (t == NULL) {
            continue;           /* deleted or re-armed by an earlier one */
        }
        th->due[i] = NULL;
        th->narmed_due--;
        t->armed = false;
        t->heap_index = SP_TIMER_NONE;
        t->handler(loop, t);
    }
    th->ndue = 0;
}

int
sp_timer_add(struct sp_event_loop *loop, struct sp_timer *timer,
             uint64_t after_ms, sp_timer_handler handler, void *data)
{
    uint64_t now = sp_event_now_ms(loop);
    uint64_t deadline = after_ms > UINT64_MAX - now ? UINT64_MAX
                                                    : now + after_ms;

    if (handler == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (sp_timer_heap_arm(sp_event_timer_heap(loop), timer, deadline) != 0) {
        return -1;
    }
    timer->handler = handler;
    timer->data = data;
    return 0;
}

void
sp_timer_del(struct sp_event_loop *loop, struct sp_timer *timer)
{
    struct sp_timer_heap *th = sp_event_timer_heap(loop);

    if (timer->armed && sp_timer_heap_holds(th, timer)) {
        sp_timer_heap_disarm(th, timer);
    }
}

uint32_t
sp_timer_count(const struct sp_event_loop *loop)
{
    const struct sp_timer_heap *th = sp_event_timer_heap_const(loop);

    return th->n + th->narmed_due;
}
