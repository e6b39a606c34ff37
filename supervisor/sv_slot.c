/*
 * sv_slot.c: the worker slot state machine of sv_slot.h, as one table.
 * A row per state, a cell per event: the next state and the action. A
 * cell that cannot happen (an exit of a slot with no process, say) keeps
 * the state and does nothing.
 */
#include "sv_slot.h"

#include <string.h>

/* Go to state n doing nothing, or doing action a. */
#define GO(n)                                                                  \
	{                                                                      \
		SV_SLOT_##n, SV_SLOT_DO_NOTHING                                \
	}
#define DO(n, a)                                                               \
	{                                                                      \
		SV_SLOT_##n, SV_SLOT_DO_##a                                    \
	}

static const struct sv_slot_step table[SV_SLOT_NSTATES][SV_SLOT_NEVENTS] =
    {
	[SV_SLOT_STOPPED] =
	    {
		[SV_SLOT_EV_START] = DO(STARTING, SPAWN),
		[SV_SLOT_EV_STOP] = GO(STOPPED),
		[SV_SLOT_EV_READY] = GO(STOPPED),
		[SV_SLOT_EV_EXIT] = GO(STOPPED),
		[SV_SLOT_EV_EXIT_FATAL] = GO(STOPPED),
		[SV_SLOT_EV_TIMER] = GO(STOPPED),
		[SV_SLOT_EV_SPAWN_FAILED] = GO(STOPPED),
		[SV_SLOT_EV_DRAINING] = GO(STOPPED),
	    },
	[SV_SLOT_STARTING] =
	    {
		[SV_SLOT_EV_START] = GO(STARTING),
		[SV_SLOT_EV_STOP] = DO(STOPPING, TERM),
		[SV_SLOT_EV_READY] = GO(READY),
		[SV_SLOT_EV_EXIT] = DO(BACKOFF, BACKOFF),
		[SV_SLOT_EV_EXIT_FATAL] = DO(FAILED, GIVE_UP),
		[SV_SLOT_EV_TIMER] = GO(STARTING),
		[SV_SLOT_EV_SPAWN_FAILED] = DO(BACKOFF, RETRY),
		[SV_SLOT_EV_DRAINING] = GO(RESTARTING),
	    },
	[SV_SLOT_READY] =
	    {
		[SV_SLOT_EV_START] = GO(READY),
		[SV_SLOT_EV_STOP] = DO(STOPPING, TERM),
		[SV_SLOT_EV_READY] = GO(READY),
		[SV_SLOT_EV_EXIT] = DO(BACKOFF, BACKOFF),
		[SV_SLOT_EV_EXIT_FATAL] = DO(FAILED, GIVE_UP),
		[SV_SLOT_EV_TIMER] = GO(READY),
		[SV_SLOT_EV_SPAWN_FAILED] = GO(READY),
		[SV_SLOT_EV_DRAINING] = GO(RESTARTING),
	    },
	[SV_SLOT_STOPPING] =
	    {
		[SV_SLOT_EV_START] = GO(RESTARTING),
		[SV_SLOT_EV_STOP] = GO(STOPPING),
		[SV_SLOT_EV_READY] = GO(STOPPING),
		[SV_SLOT_EV_EXIT] = GO(STOPPED),
		[SV_SLOT_EV_EXIT_FATAL] = GO(STOPPED),
		[SV_SLOT_EV_TIMER] = GO(STOPPING),
		[SV_SLOT_EV_SPAWN_FAILED] = GO(STOPPING),
		[SV_SLOT_EV_DRAINING] = GO(STOPPING),
	    },
	[SV_SLOT_RESTARTING] =
	    {
		[SV_SLOT_EV_START] = GO(RESTARTING),
		[SV_SLOT_EV_STOP] = GO(STOPPING),
		[SV_SLOT_EV_READY] = GO(RESTARTING),
		[SV_SLOT_EV_EXIT] = DO(STARTING, SPAWN),
		[SV_SLOT_EV_EXIT_FATAL] = DO(FAILED, GIVE_UP),
		[SV_SLOT_EV_TIMER] = GO(RESTARTING),
		[SV_SLOT_EV_SPAWN_FAILED] = GO(RESTARTING),
		[SV_SLOT_EV_DRAINING] = GO(RESTARTING),
	    },
	[SV_SLOT_BACKOFF] =
	    {
		[SV_SLOT_EV_START] = GO(BACKOFF),
		[SV_SLOT_EV_STOP] = DO(STOPPED, CANCEL),
		[SV_SLOT_EV_READY] = GO(BACKOFF),
		[SV_SLOT_EV_EXIT] = GO(BACKOFF),
		[SV_SLOT_EV_EXIT_FATAL] = GO(BACKOFF),
		[SV_SLOT_EV_TIMER] = DO(STARTING, SPAWN),
		[SV_SLOT_EV_SPAWN_FAILED] = GO(BACKOFF),
		[SV_SLOT_EV_DRAINING] = GO(BACKOFF),
	    },
	[SV_SLOT_FAILED] =
	    {
		[SV_SLOT_EV_START] = DO(STARTING, SPAWN),
		[SV_SLOT_EV_STOP] = GO(STOPPED),
		[SV_SLOT_EV_READY] = GO(FAILED),
		[SV_SLOT_EV_EXIT] = GO(FAILED),
		[SV_SLOT_EV_EXIT_FATAL] = GO(FAILED),
		[SV_SLOT_EV_TIMER] = GO(FAILED),
		[SV_SLOT_EV_SPAWN_FAILED] = GO(FAILED),
		[SV_SLOT_EV_DRAINING] = GO(FAILED),
	    },
};

struct sv_slot_step
sv_slot_step(enum sv_slot_state s, enum sv_slot_event e)
{
	struct sv_slot_step keep = {s, SV_SLOT_DO_NOTHING};

	if ((unsigned)s >= SV_SLOT_NSTATES || (unsigned)e >= SV_SLOT_NEVENTS)
		return keep;
	return table[s][e];
}

uint64_t
sv_slot_backoff_ms(uint32_t *young, uint64_t lived_ms)
{
	uint64_t delay = SV_SLOT_RESTART_MIN_MS;

	*young = lived_ms < SV_SLOT_YOUNG_MS ? *young + 1 : 0;
	if (*young > 0)
		delay <<= (*young > 7 ? 7 : *young);
	return delay > SV_SLOT_RESTART_MAX_MS ? SV_SLOT_RESTART_MAX_MS : delay;
}

int
sv_slot_crash_loop(uint64_t *ring, uint32_t *n, uint64_t now_ms, uint32_t max,
		   uint64_t window_ms)
{
	uint32_t i, within = 0;

	if (*n == SV_SLOT_EXITS_MAX) {
		memmove(ring, ring + 1,
			(SV_SLOT_EXITS_MAX - 1) * sizeof(*ring));
		(*n)--;
	}
	ring[(*n)++] = now_ms;
	for (i = 0; i < *n; i++)
		if (ring[i] + window_ms >= now_ms)
			within++;
	return max > 0 && within >= max;
}

const char *
sv_slot_state_name(enum sv_slot_state s)
{
	static const char *const names[SV_SLOT_NSTATES] = {
	    "stopped",	  "starting", "ready",	"stopping",
	    "restarting", "backoff",  "failed",
	};

	return (unsigned)s < SV_SLOT_NSTATES ? names[s] : "unknown";
}

const char *
sv_slot_event_name(enum sv_slot_event e)
{
	static const char *const names[SV_SLOT_NEVENTS] = {
	    "start",	  "stop",  "ready",	   "exit",
	    "fatal exit", "timer", "spawn failed", "draining",
	};

	return (unsigned)e < SV_SLOT_NEVENTS ? names[e] : "unknown";
}
