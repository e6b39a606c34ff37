/*
 * test_log.c: the log line writer (proto/log.c). This file includes
 * <syslog.h> before log.h on purpose: the two must compile together (the
 * level names of log.h once collided with syslog's LOG_INFO and
 * LOG_DEBUG). Lines are captured by pointing stderr at a pipe.
 */
#include <syslog.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../proto/log.h"

static int saved_stderr = -1;
static int pipe_r = -1;

/* Point stderr at a fresh pipe; the lines written go to pipe_r. */
static int
capture(void **state)
{
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_true(dup2(p[1], STDERR_FILENO) >= 0);
	close(p[1]);
	pipe_r = p[0];
	return 0;
}

static int
restore(void **state)
{
	(void)state;
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	close(pipe_r);
	return 0;
}

/* What was written since the last call (stderr's end closed meanwhile). */
static size_t
captured(char *buf, size_t len)
{
	ssize_t n;
	size_t got = 0;

	dup2(saved_stderr, STDERR_FILENO);
	while (got < len - 1 &&
	       (n = read(pipe_r, buf + got, len - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	return got;
}

static void
test_level_names(void **state)
{
	(void)state;
	assert_string_equal(log_level_names[LOG_LEVEL_ERROR], "error");
	assert_string_equal(log_level_names[LOG_LEVEL_WARN], "warn");
	assert_string_equal(log_level_names[LOG_LEVEL_INFO], "info");
	assert_string_equal(log_level_names[LOG_LEVEL_DEBUG], "debug");
}

static void
test_line_shape_and_level(void **state)
{
	char buf[4096];
	size_t n;

	(void)state;
	log_init("worker 3", LOG_LEVEL_INFO);
	log_msg(LOG_LEVEL_INFO, "conn %d opened", 42);
	log_debug("not shown at info");
	log_error("shown");
	n = captured(buf, sizeof(buf));
	assert_true(n > 0);
	assert_non_null(strstr(buf, "worker 3["));
	assert_non_null(strstr(buf, "] info: conn 42 opened\n"));
	assert_non_null(strstr(buf, "] error: shown\n"));
	assert_null(strstr(buf, "not shown"));
	/* Each line starts with an ISO 8601 UTC time. */
	assert_int_equal(buf[4], '-');
	assert_int_equal(buf[10], 'T');
	assert_non_null(strchr(buf, 'Z'));
}

static void
test_long_line_is_cut_and_ends(void **state)
{
	char big[3000], buf[4096];
	size_t n;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_init("supervisor", LOG_LEVEL_DEBUG);
	log_debug("%s", big);
	n = captured(buf, sizeof(buf));
	/* One write of at most 1024 bytes, ending in a newline. */
	assert_true(n <= 1024);
	assert_int_equal(buf[n - 1], '\n');
	assert_null(memchr(buf, '\n', n - 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_level_names),
	    cmocka_unit_test_setup_teardown(test_line_shape_and_level, capture,
					    restore),
	    cmocka_unit_test_setup_teardown(test_long_line_is_cut_and_ends,
					    capture, restore),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
