/*
 * sv_notify.c: the sd_notify(3) messages of the supervisor (sv_notify.h).
 * The cycle and the dispatch of worker messages decide when; this file
 * only says it. libsystemd's sd_notify already does nothing when
 * NOTIFY_SOCKET is unset, and a failed send is logged at debug level and
 * otherwise ignored: the daemon serves the same with or without a
 * service manager listening. The only state is whether the first READY=1
 * was sent, one flag for the one supervisor of the process.
 */
#include "sv_notify.h"

#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "../proto/log.h"

static int ready_sent;

static void
notify(const char *what, int rc)
{
	if (rc < 0)
		log_debug("sd_notify_failed", "what=%s rc=%d", log_q(what), rc);
}

void
sv_notify_ready(const char *status)
{
	ready_sent = 1;
	notify("READY", sd_notifyf(0, "READY=1\nMAINPID=%lu\nSTATUS=%s",
				   (unsigned long)getpid(), status));
}

int
sv_notify_was_ready(void)
{
	return ready_sent;
}

void
sv_notify_reloading(void)
{
	struct timespec ts;
	unsigned long long usec;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	usec = (unsigned long long)ts.tv_sec * 1000000ull +
	       (unsigned long long)ts.tv_nsec / 1000ull;
	notify("RELOADING",
	       sd_notifyf(0,
			  "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
			  usec));
}

void
sv_notify_stopping(const char *status)
{
	notify("STOPPING", sd_notifyf(0, "STOPPING=1\nSTATUS=%s", status));
}
