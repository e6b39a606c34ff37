/*
 * clock.h: wall-clock milliseconds since the epoch, for timestamps that
 * cross the process boundary (connected_at, last_seen) and for the
 * supervisor's windows. Event-loop timing uses libev's ev_now instead.
 */
#ifndef WSD_CLOCK_H
#define WSD_CLOCK_H

#include <stdint.h>
#include <sys/time.h>

static inline uint64_t
wall_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

#endif
