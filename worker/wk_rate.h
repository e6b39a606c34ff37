/*
 * wk_rate.h: a client's send rate, as two token buckets (messages and
 * bytes per second, each with a burst), and the state of a connection
 * that is paused for going over it. Pure arithmetic on a clock the
 * caller passes, so every rule is tested alone (tests/unit/test_rate.c);
 * wk_conn.c pauses and resumes the connection.
 *
 * A message is charged when it arrives: both buckets are refilled for the
 * time since the last charge, then the message takes one token and its
 * length in bytes. A bucket may go below zero (what was read is read);
 * the connection is then paused until both are back at zero. A streak of
 * pauses starts with the first. It ends when the client keeps within its
 * rate for WK_RATE_CALM seconds after its last pause would end (or its
 * buckets fill up again): a client that is resumed and at once goes over
 * again is still in the same streak, however many resumes it gets. A
 * streak that lasts past the grace period is a client that does not slow
 * down (close 4002).
 */
#ifndef WSD_WK_RATE_H
#define WSD_WK_RATE_H

#include <stddef.h>
#include <stdint.h>

#include "../proto/queue.h"

struct wk_conn;

/* The limits, from the settings; a rate of 0 is no limit. */
struct wk_rate_limits {
	double msgs, msgs_burst;   /* per second, and the bucket's size */
	double bytes, bytes_burst; /* per second, and the bucket's size */
	double grace;		   /* seconds a streak of pauses may last */
};

/* Why a connection is paused (bits). */
#define WK_PAUSE_RATE 0x1u /* over its rate */
#define WK_PAUSE_IPC 0x2u  /* the channel to the supervisor is full */

/* Seconds within its rate, after a pause, that end a streak. */
#define WK_RATE_CALM 1.0

struct wk_rate {
	double msgs, bytes; /* tokens now (may be below 0) */
	double at;	    /* when they were counted */
	double streak;	    /* when the current streak of pauses began, 0 */
	double calm;	    /* when the last pause ends, as charged */
	unsigned paused;    /* WK_PAUSE_* */
	struct wk_conn *c;
	TAILQ_ENTRY(wk_rate) link; /* on the worker's paused list */
};

/* A full bucket pair at now. */
void wk_rate_init(struct wk_rate *r, const struct wk_rate_limits *l,
		  double now);

/*
 * Charge one message of len bytes at now. Returns 0 when the buckets
 * still hold, 1 when the connection must pause, or -1 when it has been
 * over its rate for longer than the grace period (close it with 4002).
 */
int wk_rate_charge(struct wk_rate *r, const struct wk_rate_limits *l,
		   double now, size_t len);

/* Seconds from now until both buckets are back at zero (0: they are). */
double wk_rate_wait(struct wk_rate *r, const struct wk_rate_limits *l,
		    double now);

#endif
