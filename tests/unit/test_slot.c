/*
 * test_slot.c: the worker slot state machine (supervisor/sv_slot.c).
 *
 * Every state x event cell is checked against a table written out here
 * from the rules in sv_slot.h (not read from sv_slot.c), then properties
 * that hold whatever the table says: a worker is spawned only where no
 * process runs and then the slot is STARTING, SIGTERM goes only to a
 * running worker, an exit changes only slots that have a process, and a
 * slot asked to stop ends STOPPED once its worker exits. Last, whole
 * lives of a slot, and the backoff rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../supervisor/sv_slot.h"

/* "next action" for every cell; "-" is "nothing". */
static const char *const expect[SV_SLOT_NSTATES][SV_SLOT_NEVENTS] = {
    /*                start                stop
     *                ready                exit
     *                fatal exit           timer
     *                spawn failed         draining */
    [SV_SLOT_STOPPED] = {"starting spawn", "stopped -", "stopped -",
			 "stopped -", "stopped -", "stopped -", "stopped -",
			 "stopped -"},
    [SV_SLOT_STARTING] = {"starting -", "stopping term", "ready -",
			  "backoff backoff", "failed give_up", "starting -",
			  "backoff retry", "restarting -"},
    [SV_SLOT_READY] = {"ready -", "stopping term", "ready -", "backoff backoff",
		       "failed give_up", "ready -", "ready -", "restarting -"},
    [SV_SLOT_STOPPING] = {"restarting -", "stopping -", "stopping -",
			  "stopped -", "stopped -", "stopping -", "stopping -",
			  "stopping -"},
    [SV_SLOT_RESTARTING] = {"restarting -", "stopping -", "restarting -",
			    "starting spawn", "failed give_up", "restarting -",
			    "restarting -", "restarting -"},
    [SV_SLOT_BACKOFF] = {"backoff -", "stopped cancel", "backoff -",
			 "backoff -", "backoff -", "starting spawn",
			 "backoff -", "backoff -"},
    [SV_SLOT_FAILED] = {"starting spawn", "stopped -", "failed -", "failed -",
			"failed -", "failed -", "failed -", "failed -"},
};

static const char *
action_name(enum sv_slot_action a)
{
	static const char *const names[SV_SLOT_NACTIONS] = {
	    "-", "spawn", "term", "backoff", "retry", "cancel", "give_up"};

	return (unsigned)a < SV_SLOT_NACTIONS ? names[a] : "?";
}

/* States in which the slot has a worker process. */
static int
has_process(enum sv_slot_state s)
{
	return s == SV_SLOT_STARTING || s == SV_SLOT_READY ||
	       s == SV_SLOT_STOPPING || s == SV_SLOT_RESTARTING;
}

static int
is_exit(enum sv_slot_event e)
{
	return e == SV_SLOT_EV_EXIT || e == SV_SLOT_EV_EXIT_FATAL;
}

static void
test_every_cell(void **state)
{
	char got[64];
	int s, e, wrong = 0;

	(void)state;
	for (s = 0; s < SV_SLOT_NSTATES; s++)
		for (e = 0; e < SV_SLOT_NEVENTS; e++) {
			struct sv_slot_step st = sv_slot_step(s, e);

			snprintf(got, sizeof(got), "%s %s",
				 sv_slot_state_name(st.next),
				 action_name(st.action));
			if (strcmp(got, expect[s][e]) != 0) {
				print_message("%s + %s: got \"%s\", want "
					      "\"%s\"\n",
					      sv_slot_state_name(s),
					      sv_slot_event_name(e), got,
					      expect[s][e]);
				wrong++;
			}
		}
	assert_int_equal(wrong, 0);
}

static void
test_properties(void **state)
{
	int s, e;

	(void)state;
	for (s = 0; s < SV_SLOT_NSTATES; s++)
		for (e = 0; e < SV_SLOT_NEVENTS; e++) {
			struct sv_slot_step st = sv_slot_step(s, e);
			/* After an exit event the old process is gone. */
			int running = has_process(s) && !is_exit(e);

			if (st.action == SV_SLOT_DO_SPAWN) {
				assert_false(running);
				assert_int_equal(st.next, SV_SLOT_STARTING);
			}
			if (st.action == SV_SLOT_DO_TERM) {
				assert_true(running);
				assert_true(has_process(st.next));
			}
			if (st.action == SV_SLOT_DO_BACKOFF ||
			    st.action == SV_SLOT_DO_RETRY)
				assert_int_equal(st.next, SV_SLOT_BACKOFF);
			/* An exit of a slot without a process is stale. */
			if (is_exit(e) && !has_process(s)) {
				assert_int_equal(st.next, s);
				assert_int_equal(st.action, SV_SLOT_DO_NOTHING);
			}
			/* No exit, no spawn: a process stays a process. */
			if (has_process(s) && !is_exit(e) &&
			    e != SV_SLOT_EV_SPAWN_FAILED)
				assert_true(has_process(st.next));
			/* Only BACKOFF reacts to its timer. */
			if (e == SV_SLOT_EV_TIMER && s != SV_SLOT_BACKOFF)
				assert_int_equal(st.next, s);
		}
	/* Out of range: nothing happens. */
	assert_int_equal(sv_slot_step(SV_SLOT_NSTATES, SV_SLOT_EV_START).action,
			 SV_SLOT_DO_NOTHING);
	assert_int_equal(sv_slot_step(SV_SLOT_READY, SV_SLOT_NEVENTS).next,
			 SV_SLOT_READY);
	assert_string_equal(sv_slot_state_name(SV_SLOT_NSTATES), "unknown");
	assert_string_equal(sv_slot_event_name(SV_SLOT_NEVENTS), "unknown");
}

/* Feed events from state s; returns the state reached. */
static enum sv_slot_state
walk(enum sv_slot_state s, const enum sv_slot_event *ev, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		s = sv_slot_step(s, ev[i]).next;
	return s;
}

static void
test_lives(void **state)
{
	static const enum sv_slot_event crash[] = {
	    SV_SLOT_EV_START, SV_SLOT_EV_READY, SV_SLOT_EV_EXIT,
	    SV_SLOT_EV_TIMER, SV_SLOT_EV_READY};
	static const enum sv_slot_event drain[] = {
	    SV_SLOT_EV_START, SV_SLOT_EV_READY, SV_SLOT_EV_STOP,
	    SV_SLOT_EV_EXIT};
	static const enum sv_slot_event shrink_grow[] = {
	    SV_SLOT_EV_START, SV_SLOT_EV_READY, SV_SLOT_EV_STOP,
	    SV_SLOT_EV_START, SV_SLOT_EV_EXIT,	SV_SLOT_EV_READY};
	static const enum sv_slot_event fatal[] = {
	    SV_SLOT_EV_START, SV_SLOT_EV_EXIT_FATAL, SV_SLOT_EV_TIMER};
	static const enum sv_slot_event stop_backoff[] = {
	    SV_SLOT_EV_START, SV_SLOT_EV_EXIT, SV_SLOT_EV_STOP,
	    SV_SLOT_EV_TIMER};
	/* SIGTERM by hand: drained, replaced, not a crash. */
	static const enum sv_slot_event term_by_hand[] = {
	    SV_SLOT_EV_START, SV_SLOT_EV_READY, SV_SLOT_EV_DRAINING,
	    SV_SLOT_EV_EXIT};
	/* A shrinking reload: the worker drains and stays down. */
	static const enum sv_slot_event shrink[] = {
	    SV_SLOT_EV_START, SV_SLOT_EV_READY, SV_SLOT_EV_STOP,
	    SV_SLOT_EV_DRAINING, SV_SLOT_EV_EXIT};
	static const enum sv_slot_event no_fork[] = {
	    SV_SLOT_EV_START, SV_SLOT_EV_SPAWN_FAILED, SV_SLOT_EV_TIMER,
	    SV_SLOT_EV_READY};

	(void)state;
	assert_int_equal(walk(SV_SLOT_STOPPED, crash, 5), SV_SLOT_READY);
	assert_int_equal(walk(SV_SLOT_STOPPED, drain, 4), SV_SLOT_STOPPED);
	assert_int_equal(walk(SV_SLOT_STOPPED, shrink_grow, 6), SV_SLOT_READY);
	assert_int_equal(walk(SV_SLOT_STOPPED, fatal, 3), SV_SLOT_FAILED);
	/* A failed slot comes back when started again. */
	assert_int_equal(sv_slot_step(SV_SLOT_FAILED, SV_SLOT_EV_START).next,
			 SV_SLOT_STARTING);
	assert_int_equal(walk(SV_SLOT_STOPPED, stop_backoff, 4),
			 SV_SLOT_STOPPED);
	assert_int_equal(walk(SV_SLOT_STOPPED, no_fork, 4), SV_SLOT_READY);
	assert_int_equal(walk(SV_SLOT_STOPPED, term_by_hand, 4),
			 SV_SLOT_STARTING);
	assert_int_equal(
	    sv_slot_step(SV_SLOT_RESTARTING, SV_SLOT_EV_EXIT).action,
	    SV_SLOT_DO_SPAWN);
	assert_int_equal(walk(SV_SLOT_STOPPED, shrink, 5), SV_SLOT_STOPPED);
}

static void
test_backoff(void **state)
{
	static const uint64_t young_delays[] = {200,  400,  800,   1600,
						3200, 6400, 10000, 10000};
	uint32_t young = 0;
	size_t i;

	(void)state;
	/* A worker that lived long is restarted after the minimum. */
	assert_int_equal(sv_slot_backoff_ms(&young, 60000), 100);
	assert_int_equal(young, 0);
	for (i = 0; i < sizeof(young_delays) / sizeof(young_delays[0]); i++) {
		assert_int_equal(sv_slot_backoff_ms(&young, 10),
				 young_delays[i]);
		assert_int_equal(young, i + 1);
	}
	/* Young deaths far beyond the cap stay at the cap. */
	young = 1000;
	assert_int_equal(sv_slot_backoff_ms(&young, 0), 10000);
	/* Living SV_SLOT_YOUNG_MS resets the count. */
	assert_int_equal(sv_slot_backoff_ms(&young, SV_SLOT_YOUNG_MS), 100);
	assert_int_equal(young, 0);
	assert_int_equal(sv_slot_backoff_ms(&young, SV_SLOT_YOUNG_MS - 1), 200);
}

/* The crash-loop rule: max exits within the window, this one included;
 * older ones fall out of the window; the ring keeps the newest. */
static void
test_crash_loop(void **state)
{
	uint64_t ring[SV_SLOT_EXITS_MAX];
	uint32_t n = 0, i;

	(void)state;
	assert_false(sv_slot_crash_loop(ring, &n, 1000, 3, 10000));
	assert_false(sv_slot_crash_loop(ring, &n, 2000, 3, 10000));
	assert_true(sv_slot_crash_loop(ring, &n, 11000, 3, 10000));
	/* 1000 is out of the window now: two within it, plus this one. */
	assert_true(sv_slot_crash_loop(ring, &n, 12000, 3, 10000));
	n = 0;
	assert_false(sv_slot_crash_loop(ring, &n, 1000, 3, 1000));
	assert_false(sv_slot_crash_loop(ring, &n, 2500, 3, 1000));
	assert_false(sv_slot_crash_loop(ring, &n, 4000, 3, 1000));
	/* max 0: never a loop; the ring stays bounded. */
	n = 0;
	for (i = 0; i < 3 * SV_SLOT_EXITS_MAX; i++)
		assert_false(sv_slot_crash_loop(ring, &n, i, 0, 1000000));
	assert_int_equal(n, SV_SLOT_EXITS_MAX);
	assert_int_equal(ring[SV_SLOT_EXITS_MAX - 1],
			 3 * SV_SLOT_EXITS_MAX - 1);
	/* max SV_SLOT_EXITS_MAX: reached with a full ring in the window. */
	n = 0;
	for (i = 0; i < SV_SLOT_EXITS_MAX - 1; i++)
		assert_false(sv_slot_crash_loop(ring, &n, 100 + i,
						SV_SLOT_EXITS_MAX, 1000));
	assert_true(sv_slot_crash_loop(ring, &n, 200, SV_SLOT_EXITS_MAX, 1000));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_cell),
	    cmocka_unit_test(test_properties),
	    cmocka_unit_test(test_lives),
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_crash_loop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
