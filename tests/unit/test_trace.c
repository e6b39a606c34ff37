/*
 * test_trace.c: the traceparent check of proto/trace.h against the W3C
 * Trace Context rules: field lengths and separators, lowercase hex, the
 * invalid version ff and all-zero ids, and later versions with more
 * fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../proto/trace.h"

#define GOOD "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static int
check(const char *s, char *out)
{
	return trace_parse(s, strlen(s), out);
}

static void
test_valid(void **state)
{
	char out[TRACE_LEN + 1];

	(void)state;
	assert_true(check(GOOD, out));
	assert_string_equal(out, GOOD);
	/* Flags are any two hex digits (unsampled 00, future bits). */
	assert_true(check(
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", out));
	assert_true(check(
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff", out));
	/* Only the bytes counted are read. */
	assert_true(trace_parse(GOOD "trailing", TRACE_LEN, out));
	assert_string_equal(out, GOOD);
}

static void
test_invalid(void **state)
{
	char out[TRACE_LEN + 1] = "untouched";
	static const char *const bad[] = {
	    "",
	    "00",
	    /* Uppercase hex. */
	    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
	    /* Version ff. */
	    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	    /* All-zero trace id, all-zero parent id. */
	    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
	    /* Wrong separators, short fields, a non-hex digit. */
	    "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	    "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
	    "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	    /* Version 00 is exactly 55 characters. */
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-010",
	    /* Spaces around it are not trimmed here. */
	    " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	    /* A later version with more, not after a "-". */
	    "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (check(bad[i], out))
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_string_equal(out, "untouched");
	assert_false(trace_parse(NULL, 0, out));
}

static void
test_later_version(void **state)
{
	char out[TRACE_LEN + 1];

	(void)state;
	/* A version we do not know: the first 55 characters are kept. */
	assert_true(check(
	    "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-not",
	    out));
	assert_string_equal(
	    out, "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
	assert_true(check(
	    "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", out));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_invalid),
	    cmocka_unit_test(test_later_version),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
