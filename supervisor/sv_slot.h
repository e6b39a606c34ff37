/*
 * sv_slot.h: the restart rules of a worker slot, as one state machine.
 *
 * A slot is a place in the worker table (a worker id). What happens to it
 * is decided here, and only here, from its state and an event, in the
 * manner of s6-supervise's state x event table: sv_slot_step gives the
 * next state and the one action the worker table (sv_worker.c) carries
 * out. The rules are pure, so each cell is tested alone
 * (tests/unit/test_slot.c).
 *
 * The rules, in words: a started worker is STARTING until it says READY;
 * a worker that exits is restarted after a delay that doubles while it
 * keeps dying young (BACKOFF), except when it exited with the status that
 * means "do not restart me" (FAILED, until a reload starts the slot
 * again). A slot asked to stop gets SIGTERM and is STOPPING until it
 * exits; asked to start again meanwhile, it is RESTARTING and is spawned
 * as soon as the old process is gone. A running worker that says it is
 * draining (someone sent it SIGTERM) is replaced the same way: RESTARTING,
 * and its exit is not a crash.
 */
#ifndef WSD_SV_SLOT_H
#define WSD_SV_SLOT_H

#include <stdint.h>

#include "../proto/proto.h"

#define SV_SLOT_RESTART_MIN_MS 100   /* never restart faster */
#define SV_SLOT_RESTART_MAX_MS 10000 /* the longest backoff */
#define SV_SLOT_YOUNG_MS 5000	     /* dying before this is dying young */
#define SV_SLOT_CRASH_LOOP 5	     /* young deaths in a row: say so */
#define SV_SLOT_NO_RESTART PROTO_EXIT_NO_RESTART /* exit: do not restart */

enum sv_slot_state {
	SV_SLOT_STOPPED = 0, /* no process, none wanted */
	SV_SLOT_STARTING,    /* forked; READY not seen yet */
	SV_SLOT_READY,	     /* configured and accepting */
	SV_SLOT_STOPPING,    /* SIGTERM sent; stays down after it exits */
	SV_SLOT_RESTARTING,  /* SIGTERM sent; spawned again once it exits */
	SV_SLOT_BACKOFF,     /* exited; the restart timer runs */
	SV_SLOT_FAILED,	     /* asked not to be restarted */
	SV_SLOT_NSTATES
};

enum sv_slot_event {
	SV_SLOT_EV_START = 0,	 /* the slot should run a worker */
	SV_SLOT_EV_STOP,	 /* the slot should run none */
	SV_SLOT_EV_READY,	 /* the worker applied its config */
	SV_SLOT_EV_EXIT,	 /* the worker exited or was killed */
	SV_SLOT_EV_EXIT_FATAL,	 /* ... with SV_SLOT_NO_RESTART */
	SV_SLOT_EV_TIMER,	 /* the restart timer fired */
	SV_SLOT_EV_SPAWN_FAILED, /* no channel or no fork */
	SV_SLOT_EV_DRAINING,	 /* the worker got SIGTERM (from anyone) */
	SV_SLOT_NEVENTS
};

enum sv_slot_action {
	SV_SLOT_DO_NOTHING = 0,
	SV_SLOT_DO_SPAWN,   /* open a channel, fork and exec a worker */
	SV_SLOT_DO_TERM,    /* send SIGTERM */
	SV_SLOT_DO_BACKOFF, /* arm the restart timer with the backoff delay */
	SV_SLOT_DO_RETRY,   /* arm the restart timer with the longest delay */
	SV_SLOT_DO_CANCEL,  /* stop the restart timer */
	SV_SLOT_DO_GIVE_UP, /* log that the slot is failed */
	SV_SLOT_NACTIONS
};

struct sv_slot_step {
	enum sv_slot_state next;
	enum sv_slot_action action;
};

/* What a slot in state s does on event e. */
struct sv_slot_step sv_slot_step(enum sv_slot_state s, enum sv_slot_event e);

/*
 * The delay before restarting a worker that lived lived_ms, updating the
 * count of young deaths in a row (*young): 100 ms, doubled for each young
 * death in a row, at most 10 s; a worker that lived SV_SLOT_YOUNG_MS or
 * longer resets the count.
 */
uint64_t sv_slot_backoff_ms(uint32_t *young, uint64_t lived_ms);

#define SV_SLOT_EXITS_MAX 32 /* exits a slot remembers */

/*
 * Record an unexpected exit at now_ms in a slot's ring of recent exit
 * times (ring[SV_SLOT_EXITS_MAX], *n of them used) and say whether the
 * slot is in a crash loop: max exits (at most SV_SLOT_EXITS_MAX) within
 * the last window_ms, this one included.
 */
int sv_slot_crash_loop(uint64_t *ring, uint32_t *n, uint64_t now_ms,
		       uint32_t max, uint64_t window_ms);

/* Names for logs and wsctl ("ready", "backoff", ...). */
const char *sv_slot_state_name(enum sv_slot_state s);
const char *sv_slot_event_name(enum sv_slot_event e);

#endif
