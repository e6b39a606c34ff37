/*
 * sv_drain.c: the queue of connections to tell to go (sv_drain.h). Ids
 * are queued, not pointers: a connection that closes meanwhile is simply
 * not found when its turn comes. The queue holds each connection at most
 * once (its drain_queued bit), so it never outgrows the registry; when
 * it cannot grow, the connection is closed with 1001 alone, and its
 * session is kept all the same.
 */
#include "sv_drain.h"

#include <stdlib.h>

#include "../proto/log.h"
#include "../proto/trace.h"
#include "sv.h"
#include "sv_route.h"
#include "sv_session.h"

static void
on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct sv *sv = ev_userdata(loop);
	struct sv_drain *d = &sv->drain;
	uint32_t n = 0;

	(void)revents;
	while (d->next < d->n && n < SV_DRAIN_BATCH) {
		struct sv_conn *c =
		    sv_reg_conn_find(&sv->reg, d->ids[d->next++]);

		if (c == NULL)
			continue;
		sv_session_shutdown(sv, c, sv->cfg->drain_spread_ms);
		d->told++;
		n++;
	}
	if (d->next == d->n) {
		d->next = d->n = 0;
		ev_timer_stop(loop, t);
	}
}

void
sv_drain_init(struct sv *sv)
{
	struct sv_drain *d = &sv->drain;

	d->ids = NULL;
	d->n = d->cap = d->next = 0;
	d->told = 0;
	ev_timer_init(&d->tick, on_tick, 0., SV_DRAIN_TICK_MS / 1000.);
}

void
sv_drain_fini(struct sv *sv)
{
	ev_timer_stop(sv->loop, &sv->drain.tick);
	free(sv->drain.ids);
	sv->drain.ids = NULL;
	sv->drain.n = sv->drain.cap = sv->drain.next = 0;
}

/* Queue c unless it is queued already; returns 1 when queued now. */
static uint32_t
queue(struct sv *sv, struct sv_conn *c)
{
	struct sv_drain *d = &sv->drain;

	if (c->drain_queued)
		return 0;
	c->drain_queued = 1;
	if (d->n == d->cap) {
		uint32_t cap = d->cap ? d->cap * 2 : 1024;
		uint64_t *ids = realloc(d->ids, cap * sizeof(*ids));

		if (ids == NULL) {
			log_error("drain_queue_failed", "conn=%llu error=%s%s",
				  (unsigned long long)c->id,
				  log_q("out of memory"),
				  trace_log_kv(c->trace));
			sv_route_kick(sv, c, 1001, "server draining");
			return 1;
		}
		d->ids = ids;
		d->cap = cap;
	}
	d->ids[d->n++] = c->id;
	return 1;
}

uint32_t
sv_drain_conns(struct sv *sv, int worker)
{
	struct sv_conn *c, *tmp;
	uint32_t n = 0;

	if (worker >= 0 && worker < SV_MAX_WORKERS) {
		TAILQ_FOREACH (c, &sv->reg.by_worker[worker], by_worker)
			n += queue(sv, c);
	} else if (worker < 0) {
		HASH_ITER (hh, sv->reg.conns, c, tmp) {
			n += queue(sv, c);
		}
	}
	if (sv->drain.next < sv->drain.n && !ev_is_active(&sv->drain.tick)) {
		ev_timer_set(&sv->drain.tick, 0., SV_DRAIN_TICK_MS / 1000.);
		ev_timer_start(sv->loop, &sv->drain.tick);
	}
	return n;
}

int
sv_drain_idle(const struct sv *sv)
{
	return sv->drain.next == sv->drain.n;
}
