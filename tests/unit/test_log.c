/*
 * test_log.c: the log line writer (proto/log.c). This file includes
 * <syslog.h> before log.h on purpose: the two must compile together (the
 * level names of log.h once collided with syslog's LOG_INFO and
 * LOG_DEBUG). Lines are captured by pointing stderr at a pipe.
 * Checked here: the JSON and text shapes, quoting of hostile values,
 * and that a cut line stays one valid object.
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
	log_init("worker", 3, LOG_LEVEL_INFO, LOG_FORMAT_JSON);
	log_info("conn_opened", "conn=%d user=%s", 42, log_q("ann"));
	log_debug("hidden", "what=%s", "not-shown-at-info");
	log_error("shown", "code=%d ratio=%.1f name=abc", -7, 1.5);
	n = captured(buf, sizeof(buf));
	assert_true(n > 0);
	/* Each line starts with an RFC 3339 UTC time with milliseconds. */
	assert_memory_equal(buf, "{\"time\":\"", 9);
	assert_int_equal(buf[9 + 4], '-');
	assert_int_equal(buf[9 + 10], 'T');
	assert_int_equal(buf[9 + 23], 'Z');
	assert_non_null(strstr(buf, "\"level\":\"info\",\"process\":\"worker\","
				    "\"worker\":3,\"pid\":"));
	assert_non_null(strstr(
	    buf, ",\"event\":\"conn_opened\",\"conn\":42,\"user\":\"ann\"}\n"));
	assert_non_null(strstr(buf, "\"event\":\"shown\",\"code\":-7,"
				    "\"ratio\":1.5,\"name\":\"abc\"}\n"));
	assert_null(strstr(buf, "not-shown"));
}

static void
test_quoted_values_stay_one_field(void **state)
{
	const char nasty[] = "a b\"c=d\\e\n\x01\xff\xc3\xa9";
	char buf[4096];

	(void)state;
	log_init("supervisor", -1, LOG_LEVEL_DEBUG, LOG_FORMAT_JSON);
	log_info("resume_refused", "conn=1 reason=%s next=2", log_q(nasty));
	captured(buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"reason\":\"a b\\\"c=d\\\\e\\u000a\\u0001"
				    "\\ufffd\xc3\xa9\",\"next\":2}\n"));
	assert_null(strstr(buf, "\"worker\""));
}

static void
test_text_format(void **state)
{
	char buf[4096];

	(void)state;
	log_init("worker", 1, LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	log_info("kicked", "conn=%d code=%d reason=%s", 5, 4000, log_q("x y"));
	captured(buf, sizeof(buf));
	assert_non_null(strstr(buf, "Z info worker.1["));
	assert_non_null(
	    strstr(buf, "] kicked conn=5 code=4000 reason=\"x y\"\n"));
	log_set_format(LOG_FORMAT_JSON);
}

static void
test_long_line_is_cut_and_ends(void **state)
{
	char big[3000], buf[8192];
	size_t n;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_init("supervisor", -1, LOG_LEVEL_DEBUG, LOG_FORMAT_JSON);
	log_debug("big", "a=%s b=%s c=%s d=%s e=%s f=%s g=%s h=%s", log_q(big),
		  log_q(big), log_q(big), log_q(big), log_q(big), log_q(big),
		  log_q(big), log_q(big));
	n = captured(buf, sizeof(buf));
	/* One write of at most LOG_LINE_MAX bytes, ending in a newline, and
	 * still an object: whole fields were dropped from the end. */
	assert_true(n <= LOG_LINE_MAX);
	assert_int_equal(buf[n - 1], '\n');
	assert_null(memchr(buf, '\n', n - 1));
	assert_non_null(strstr(buf, "\"a\":\"xxx"));
	assert_non_null(strstr(buf, "xxx\",\"truncated\":true}\n"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_level_names),
	    cmocka_unit_test_setup_teardown(test_line_shape_and_level, capture,
					    restore),
	    cmocka_unit_test_setup_teardown(test_quoted_values_stay_one_field,
					    capture, restore),
	    cmocka_unit_test_setup_teardown(test_text_format, capture, restore),
	    cmocka_unit_test_setup_teardown(test_long_line_is_cut_and_ends,
					    capture, restore),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
