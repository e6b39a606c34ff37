/*
 * sv_drain.h: telling clients to go. A drain queues connections; a timer
 * takes SV_DRAIN_BATCH of them every SV_DRAIN_TICK_MS, and each gets
 * `shutdown` (a reconnect delay drawn over drain.spread_ms and a fresh
 * resume token, sv_session.c) and then close 1001, so that their
 * reconnects arrive spread out rather than as one storm. A drain of the
 * whole daemon (sv_cycle.c) queues every connection; a worker that says
 * DRAINING (it got SIGTERM: a reload rolls or removes it, or someone sent
 * it by hand) has its own queued (sv_dispatch.c). A connection is told
 * once, however often it is queued.
 */
#ifndef WSD_SV_DRAIN_H
#define WSD_SV_DRAIN_H

#include <ev.h>
#include <stdint.h>

#define SV_DRAIN_BATCH 100
#define SV_DRAIN_TICK_MS 10

struct sv;

struct sv_drain {
	uint64_t *ids; /* connections to tell, ids[next..n) */
	uint32_t n, cap, next;
	uint64_t told; /* clients told so far */
	ev_timer tick;
};

/* An empty queue. */
void sv_drain_init(struct sv *sv);

/* Free the queue (the connections in it are not told). */
void sv_drain_fini(struct sv *sv);

/* Queue every connection of worker id (-1: of every worker); returns how
 * many were queued now. */
uint32_t sv_drain_conns(struct sv *sv, int worker);

/* Is every queued connection told? */
int sv_drain_idle(const struct sv *sv);

#endif
