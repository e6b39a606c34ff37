/*
 * test_query.c: the admin API's query strings (names, %-escapes, numbers,
 * refusals) and its bearer key check (sv_query.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../supervisor/sv_query.h"

static void
test_names_and_escapes(void **state)
{
	char err[160];
	json_t *o;

	(void)state;
	o = sv_query_parse("user=al%C3%A9+x&limit=5&room=a%2Fb&by=queue", err,
			   sizeof(err));
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "user")),
			    "al\xc3\xa9 x");
	assert_int_equal(json_integer_value(json_object_get(o, "limit")), 5);
	assert_string_equal(json_string_value(json_object_get(o, "room")),
			    "a/b");
	assert_int_equal(json_object_size(o), 4);
	json_decref(o);
	/* Empty parts are skipped; a name without '=' is an empty value. */
	o = sv_query_parse("&name&&", err, sizeof(err));
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "name")), "");
	json_decref(o);
	o = sv_query_parse("", err, sizeof(err));
	assert_non_null(o);
	assert_int_equal(json_object_size(o), 0);
	json_decref(o);
}

static void
test_refusals(void **state)
{
	static const char *const bad[][2] = {
	    {"id=abc", "id must be a non-negative integer"},
	    {"id=-1", "id must be a non-negative integer"},
	    {"limit=5x", "limit must be a non-negative integer"},
	    {"limit=", "limit must be a non-negative integer"},
	    {"id=99999999999999999999", "id must be a non-negative integer"},
	    {"user=a&user=b", "user is given twice"},
	    {"cmd=stop", "unknown argument cmd"},
	    {"user=%zz", "a bad %-escape in the query"},
	    {"user=%4", "a bad %-escape in the query"},
	    {"user=a%00b", "a bad %-escape in the query"},
	    {"user=%ff", "user is not UTF-8 text"},
	};
	char err[160];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(sv_query_parse(bad[i][0], err, sizeof(err)));
		assert_string_equal(err, bad[i][1]);
	}
}

static void
test_key(void **state)
{
	const char *key = "0123456789abcdef-key";

	(void)state;
	assert_true(sv_query_key_ok("Bearer 0123456789abcdef-key", key));
	assert_true(sv_query_key_ok("bearer 0123456789abcdef-key", key));
	assert_false(sv_query_key_ok(NULL, key));
	assert_false(sv_query_key_ok("", key));
	assert_false(sv_query_key_ok("Basic 0123456789abcdef-key", key));
	assert_false(sv_query_key_ok("Bearer 0123456789abcdef-ke", key));
	assert_false(sv_query_key_ok("Bearer 0123456789abcdef-key2", key));
	assert_false(sv_query_key_ok("Bearer", key));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names_and_escapes),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
