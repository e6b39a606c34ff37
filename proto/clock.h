/*
 * clock.h: wall-clock milliseconds since the epoch, for timestamps that
 * cross the process boundary (connected_at, last_seen) and for the
 * supervisor's windows. Event-loop timing uses libev's ev_now instead;
 * mono_us is for the latency that crosses from supervisor to worker.
 */
#ifndef WSD_CLOCK_H
#define WSD_CLOCK_H

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

static inline uint64_t
wall_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/*
 * CLOCK_MONOTONIC in microseconds. The clock is the system's, not the
 * process's: a stamp the supervisor puts in a DELIVER is compared by the
 * worker that writes the delivery (the publish-to-delivery latency).
 */
static inline uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

#endif
