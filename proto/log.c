/*
 * log.c: the log line writer declared in log.h. A line is formatted into
 * one buffer and written with one write(2), so lines from the supervisor
 * and its workers never interleave mid-line on a shared stderr.
 */
#include "log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char log_role[32] = "wsd";
static enum log_level log_cur = LOG_LEVEL_INFO;

const char *const log_level_names[LOG_LEVEL_DEBUG + 1] = {"error", "warn",
							  "info", "debug"};

void
log_init(const char *role, enum log_level level)
{
	snprintf(log_role, sizeof(log_role), "%s", role);
	log_cur = level;
}

void
log_set_level(enum log_level level)
{
	log_cur = level;
}

int
log_reopen(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

	if (fd < 0)
		return -1;
	if (fd != STDERR_FILENO) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	return 0;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	size_t n;
	int k;

	if (level > log_cur)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line + n, sizeof(line) - n,
		     ".%03ldZ %s[%d] %s: ", (long)tv.tv_usec / 1000, log_role,
		     (int)getpid(), log_level_names[level]);
	if (k > 0)
		n += (size_t)k;
	va_start(ap, fmt);
	k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (k > 0)
		n += (size_t)k;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}
