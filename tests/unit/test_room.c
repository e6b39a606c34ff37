/*
 * test_room.c: the naming rules of proto/room.h that the supervisor and
 * the workers share: the name rule (1 to 128 bytes, no control byte), the
 * personal room prefix and the broadcast room.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../proto/err.h"
#include "../../proto/room.h"

static void
test_name_rule(void **state)
{
	char s[ROOM_NAME_MAX + 2];
	int c;

	(void)state;
	assert_true(room_name_valid("lobby", 5));
	assert_true(room_name_valid("caf\xc3\xa9 / news #1", 15));
	assert_false(room_name_valid("", 0));
	assert_false(room_name_valid(NULL, 0));
	memset(s, 'a', sizeof(s));
	assert_true(room_name_valid(s, ROOM_NAME_MAX));
	assert_false(room_name_valid(s, ROOM_NAME_MAX + 1));
	/* Every control byte, anywhere, breaks the rule; space does not. */
	for (c = 0; c < 0x20; c++) {
		s[5] = (char)c;
		assert_false(room_name_valid(s, 10));
	}
	s[5] = 0x7f;
	assert_false(room_name_valid(s, 10));
	s[5] = ' ';
	assert_true(room_name_valid(s, 10));
	/* Only the bytes counted are looked at. */
	assert_true(room_name_valid("ab\ncd", 2));
}

static void
test_personal_rooms(void **state)
{
	char buf[ROOM_PERSONAL_MAX + 1], user[ROOM_NAME_MAX + 1];
	const char *u;
	size_t ulen = 0;

	(void)state;
	assert_true(room_is_personal("user:alice", 10));
	assert_true(room_is_personal("user:", 5));
	assert_false(room_is_personal("user", 4));
	assert_false(room_is_personal("User:alice", 10));
	assert_false(room_is_personal("lobby", 5));
	u = room_personal_user("user:alice", 10, &ulen);
	assert_non_null(u);
	assert_int_equal(ulen, 5);
	assert_memory_equal(u, "alice", 5);
	assert_null(room_personal_user("lobby", 5, &ulen));

	assert_int_equal(room_personal_name(buf, sizeof(buf), "bob", 3), 8);
	assert_string_equal(buf, "user:bob");
	/* The user id follows the name rule, so a personal room may be up to
	 * ROOM_NAME_MAX + 5 bytes. */
	memset(user, 'u', sizeof(user));
	assert_int_equal(
	    room_personal_name(buf, sizeof(buf), user, ROOM_NAME_MAX),
	    ROOM_PERSONAL_MAX);
	assert_true(room_valid(buf, ROOM_PERSONAL_MAX));
	assert_int_equal(
	    room_personal_name(buf, sizeof(buf), user, ROOM_NAME_MAX + 1),
	    WSD_EINVAL);
	assert_int_equal(room_personal_name(buf, sizeof(buf), "", 0),
			 WSD_EINVAL);
	assert_int_equal(room_personal_name(buf, sizeof(buf), "a\tb", 3),
			 WSD_EINVAL);
	/* Too small a buffer is refused, not overrun. */
	assert_int_equal(room_personal_name(buf, 8, "bob", 3), WSD_EINVAL);
	assert_int_equal(room_personal_name(buf, 9, "bob", 3), 8);
}

static void
test_room_valid(void **state)
{
	(void)state;
	assert_true(room_valid("lobby", 5));
	assert_true(room_valid("user:alice", 10));
	/* A personal room needs a user id after the prefix. */
	assert_false(room_valid("user:", 5));
	assert_false(room_valid("user:\x01", 6));
	assert_false(room_valid("", 0));
	assert_true(room_valid("*", 1)); /* a name; callers refuse it */
	assert_true(room_is_broadcast("*", 1));
	assert_false(room_is_broadcast("**", 2));
	assert_false(room_is_broadcast("a", 1));
	assert_false(room_is_broadcast("", 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_name_rule),
	    cmocka_unit_test(test_personal_rooms),
	    cmocka_unit_test(test_room_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
