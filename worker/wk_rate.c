/*
 * wk_rate.c: the token buckets of wk_rate.h.
 */
#include "wk_rate.h"

static double
refill(double tokens, double rate, double burst, double dt)
{
	tokens += rate * dt;
	return tokens > burst ? burst : tokens;
}

/* Count the tokens earned since r->at; returns 1 when both are full. */
static int
catch_up(struct wk_rate *r, const struct wk_rate_limits *l, double now)
{
	double dt = now > r->at ? now - r->at : 0;

	r->at = now;
	if (l->msgs > 0)
		r->msgs = refill(r->msgs, l->msgs, l->msgs_burst, dt);
	if (l->bytes > 0)
		r->bytes = refill(r->bytes, l->bytes, l->bytes_burst, dt);
	return (l->msgs <= 0 || r->msgs >= l->msgs_burst) &&
	       (l->bytes <= 0 || r->bytes >= l->bytes_burst);
}

void
wk_rate_init(struct wk_rate *r, const struct wk_rate_limits *l, double now)
{
	r->msgs = l->msgs_burst;
	r->bytes = l->bytes_burst;
	r->at = now;
	r->streak = 0;
	r->calm = 0;
	r->paused = 0;
}

int
wk_rate_charge(struct wk_rate *r, const struct wk_rate_limits *l, double now,
	       size_t len)
{
	if (catch_up(r, l, now))
		r->streak = 0;
	if (l->msgs > 0)
		r->msgs -= 1;
	if (l->bytes > 0)
		r->bytes -= (double)len;
	if ((l->msgs <= 0 || r->msgs >= 0) &&
	    (l->bytes <= 0 || r->bytes >= 0)) {
		/* Within its rate for a while: the streak is over. */
		if (now - r->calm >= WK_RATE_CALM)
			r->streak = 0;
		return 0;
	}
	r->calm = now + wk_rate_wait(r, l, now);
	if (r->streak == 0) {
		r->streak = now;
		return 1;
	}
	return now - r->streak > l->grace ? -1 : 1;
}

double
wk_rate_wait(struct wk_rate *r, const struct wk_rate_limits *l, double now)
{
	double w = 0, x;

	catch_up(r, l, now);
	if (l->msgs > 0 && r->msgs < 0 && (x = -r->msgs / l->msgs) > w)
		w = x;
	if (l->bytes > 0 && r->bytes < 0 && (x = -r->bytes / l->bytes) > w)
		w = x;
	return w;
}
