/*
 * test_rate.c: a client's send rate (worker/wk_rate.c): the buckets start
 * full, refill at their rate up to the burst, a message over them pauses,
 * the wait is the time the deficit takes to refill, a streak of pauses
 * past the grace period closes, and a full refill ends the streak. Bytes
 * count as well as messages; a rate of 0 is no limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../worker/wk_rate.h"

static const struct wk_rate_limits msgs_only = {10, 5, 0, 0, 2.0};

static void
test_burst_then_pause(void **state)
{
	struct wk_rate r;
	int i;

	(void)state;
	wk_rate_init(&r, &msgs_only, 100.0);
	for (i = 0; i < 5; i++)
		assert_int_equal(wk_rate_charge(&r, &msgs_only, 100.0, 10), 0);
	assert_true(wk_rate_wait(&r, &msgs_only, 100.0) == 0);
	/* The sixth at once is over: pause, for 1/10 s. */
	assert_int_equal(wk_rate_charge(&r, &msgs_only, 100.0, 10), 1);
	assert_true(wk_rate_wait(&r, &msgs_only, 100.0) > 0.099);
	assert_true(wk_rate_wait(&r, &msgs_only, 100.0) < 0.101);
	assert_true(wk_rate_wait(&r, &msgs_only, 100.05) > 0.049);
	assert_true(wk_rate_wait(&r, &msgs_only, 100.1001) == 0);
	/* A message every 0.1 s is exactly the rate: never over. */
	for (i = 1; i <= 50; i++)
		assert_int_equal(
		    wk_rate_charge(&r, &msgs_only, 100.1001 + i * 0.1, 10), 0);
}

static void
test_refill_caps_at_burst(void **state)
{
	struct wk_rate r;
	int i;

	(void)state;
	wk_rate_init(&r, &msgs_only, 0.0);
	/* A long quiet time earns no more than the burst. */
	for (i = 0; i < 5; i++)
		assert_int_equal(wk_rate_charge(&r, &msgs_only, 1000.0, 1), 0);
	assert_int_equal(wk_rate_charge(&r, &msgs_only, 1000.0, 1), 1);
	/* A clock that goes back refills nothing. */
	assert_int_equal(wk_rate_charge(&r, &msgs_only, 999.0, 1), 1);
}

static void
test_streak_and_grace(void **state)
{
	struct wk_rate r;
	double t = 10.0;
	int i, rc = 0;

	(void)state;
	wk_rate_init(&r, &msgs_only, t);
	for (i = 0; i < 5; i++)
		wk_rate_charge(&r, &msgs_only, t, 1);
	/* Over, and staying over: pauses until the grace runs out. */
	assert_int_equal(wk_rate_charge(&r, &msgs_only, t, 1), 1);
	for (i = 1; i <= 60 && rc != -1; i++)
		rc = wk_rate_charge(&r, &msgs_only, t + i * 0.05, 1);
	assert_int_equal(rc, -1);
	assert_true((i - 1) * 0.05 > 2.0);
	/* A client that slows down until its buckets are full again
	 * starts a new streak. */
	wk_rate_init(&r, &msgs_only, t);
	for (i = 0; i < 6; i++)
		wk_rate_charge(&r, &msgs_only, t, 1);
	assert_int_equal(wk_rate_charge(&r, &msgs_only, t + 1.9, 1), 0);
	assert_int_equal(wk_rate_charge(&r, &msgs_only, t + 5.0, 1), 0);
	for (i = 0; i < 4; i++)
		wk_rate_charge(&r, &msgs_only, t + 5.0, 1);
	assert_int_equal(wk_rate_charge(&r, &msgs_only, t + 5.0, 1), 1);
	/* The new streak began at t + 5, not at t. */
	assert_true(r.streak == t + 5.0);
	assert_int_equal(wk_rate_charge(&r, &msgs_only, t + 6.5, 1), 0);
}

/* A client paused once that then keeps within its rate is not the one
 * that does not slow down: its next burst pauses it, not closes it. */
static void
test_streak_ends_within_rate(void **state)
{
	static const struct wk_rate_limits l = {100, 200, 0, 0, 10.0};
	struct wk_rate r;
	double t = 0;
	int i;

	(void)state;
	wk_rate_init(&r, &l, t);
	for (i = 0; i < 200; i++)
		assert_int_equal(wk_rate_charge(&r, &l, t, 1), 0);
	assert_int_equal(wk_rate_charge(&r, &l, t, 1), 1);
	/* 15 s at 99 messages a second, never over. */
	for (i = 1; i <= 1485; i++)
		assert_int_equal(wk_rate_charge(&r, &l, 0.02 + i / 99.0, 1), 0);
	t = 0.02 + 1485 / 99.0;
	for (i = 0; i < 300 && wk_rate_charge(&r, &l, t, 1) == 0; i++)
		;
	assert_int_equal(wk_rate_charge(&r, &l, t, 1), 1);
}

/* A flooder resumed as soon as its bucket is back at zero (one pause tick
 * late, so its first message fits) and then over again at once is one
 * streak, closed past the grace period: a resume is not a slow-down. */
static void
test_flooder_resumed_at_once(void **state)
{
	static const struct wk_rate_limits l = {200, 400, 0, 0, 2.0};
	struct wk_rate r;
	double t = 0;
	int i, rc = 0;

	(void)state;
	wk_rate_init(&r, &l, t);
	while (wk_rate_charge(&r, &l, t, 1) == 0)
		;
	while (rc != -1 && t < 10.0) {
		/* Read after the pause: a wslay buffer's worth at once. */
		t += wk_rate_wait(&r, &l, t) + 0.01;
		for (i = 0; i < 195 && rc != -1; i++)
			rc = wk_rate_charge(&r, &l, t, 1);
	}
	assert_int_equal(rc, -1);
	assert_true(t > 2.0 && t < 4.0);
}

static void
test_bytes(void **state)
{
	static const struct wk_rate_limits bytes = {0, 1, 1000, 1500, 1.0};
	struct wk_rate r;

	(void)state;
	wk_rate_init(&r, &bytes, 0.0);
	/* Messages are not counted; bytes are. */
	assert_int_equal(wk_rate_charge(&r, &bytes, 0.0, 1000), 0);
	assert_int_equal(wk_rate_charge(&r, &bytes, 0.0, 500), 0);
	assert_int_equal(wk_rate_charge(&r, &bytes, 0.0, 1000), 1);
	assert_true(wk_rate_wait(&r, &bytes, 0.0) > 0.999);
	assert_true(wk_rate_wait(&r, &bytes, 1.0) == 0);
}

static void
test_no_limit(void **state)
{
	static const struct wk_rate_limits none = {0, 1, 0, 0, 1.0};
	struct wk_rate r;
	int i;

	(void)state;
	wk_rate_init(&r, &none, 0.0);
	for (i = 0; i < 100000; i++)
		assert_int_equal(wk_rate_charge(&r, &none, 0.0, 1 << 20), 0);
	assert_true(wk_rate_wait(&r, &none, 0.0) == 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_then_pause),
	    cmocka_unit_test(test_refill_caps_at_burst),
	    cmocka_unit_test(test_streak_and_grace),
	    cmocka_unit_test(test_streak_ends_within_rate),
	    cmocka_unit_test(test_flooder_resumed_at_once),
	    cmocka_unit_test(test_bytes),
	    cmocka_unit_test(test_no_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
