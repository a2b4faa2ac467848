/*
 * sp_event_int.h — private to the event loop (src/event): the timer heap
 * that sp_event.c embeds in the loop and sp_timer.c maintains. Nothing
 * outside src/event includes this.
 */
#ifndef SP_EVENT_INT_H
#define SP_EVENT_INT_H

#include <stdint.h>

#include "sp_event.h"

/*
 * A binary min-heap on deadline_ms of timers owned by their users; each
 * timer's heap_index is its slot, so delete and re-arm are O(log n).
 *
 * The timer phase first moves every timer expired at its clock into `due`
 * (their heap_index then carries SP_TIMER_DUE), then runs `due` in order.
 * A handler that deletes a due timer empties its slot; one that arms a
 * timer, itself included, puts it back in the heap, where it waits for the
 * next phase — so a timer re-armed with 0 ms runs once per poll, not
 * forever. `due` has the heap's capacity, so the phase never allocates.
 */
struct sp_timer_heap {
    struct sp_timer **heap;
    struct sp_timer **due;
    uint32_t          n;        /* timers in heap */
    uint32_t          cap;      /* of heap and of due */
    uint32_t          ndue;     /* slots used in due this phase */
    uint32_t          narmed_due; /* of those, still armed */
};

void sp_timer_heap_init(struct sp_timer_heap *th);
void sp_timer_heap_free(struct sp_timer_heap *th);

/* ms from now to the earliest deadline (0 if past, capped), -1 if none. */
int sp_timer_heap_timeout(const struct sp_timer_heap *th, uint64_t now);

/* Run the timers expired at now, as above. */
void sp_timer_heap_run(struct sp_timer_heap *th, struct sp_event_loop *loop,
                       uint64_t now);

/* The loop's heap, for sp_timer.c (defined in sp_event.c). */
struct sp_timer_heap *sp_event_timer_heap(struct sp_event_loop *loop);
const struct sp_timer_heap *
sp_event_timer_heap_const(const struct sp_event_loop *loop);

#endif /* SP_EVENT_INT_H */
