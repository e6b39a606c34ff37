/*
 * test_dedupe.c: unit tests of the publish dedupe window
 * (supervisor/sv_dedupe.h).
 *
 * Covered: a (room, user, id) is found after it is added, with its seq;
 * keys that differ in room, user or id do not collide, including keys
 * whose parts would run together if concatenated without separators
 * (room "ab" user "c" against room "a" user "bc", and the like); the
 * lengths passed are what count, not NUL terminators; entries expire once
 * older than window_ms; and the window holds at most max entries, evicting
 * the oldest first. Teardown runs sv_dedupe_fini, so LeakSanitizer
 * (SANITIZE=1) checks that every entry is freed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../supervisor/sv_dedupe.h"

static int
setup(void **state)
{
	struct sv_dedupe *d = malloc(sizeof(*d));

	if (d == NULL)
		return -1;
	sv_dedupe_init(d, 1000, 60000);
	*state = d;
	return 0;
}

static int
teardown(void **state)
{
	struct sv_dedupe *d = *state;

	sv_dedupe_fini(d);
	free(d);
	return 0;
}

static void
reinit(struct sv_dedupe *d, uint32_t max, uint64_t window_ms)
{
	sv_dedupe_fini(d);
	sv_dedupe_init(d, max, window_ms);
}

static int
add(struct sv_dedupe *d, const char *room, const char *user, const char *id,
    uint64_t seq, uint64_t now_ms)
{
	return sv_dedupe_add(d, room, strlen(room), user, strlen(user), id,
			     strlen(id), seq, now_ms);
}

static uint64_t
find(struct sv_dedupe *d, const char *room, const char *user, const char *id,
     uint64_t now_ms)
{
	return sv_dedupe_find(d, room, strlen(room), user, strlen(user), id,
			      strlen(id), now_ms);
}

static void
test_find_after_add(void **state)
{
	struct sv_dedupe *d = *state;

	assert_int_equal(find(d, "lobby", "alice", "m1", 1000), 0);
	assert_int_equal(add(d, "lobby", "alice", "m1", 17, 1000), 0);
	assert_int_equal(d->count, 1);
	assert_int_equal(find(d, "lobby", "alice", "m1", 1000), 17);
	assert_int_equal(find(d, "lobby", "alice", "m1", 1500), 17);
	/* Finding does not consume the entry. */
	assert_int_equal(find(d, "lobby", "alice", "m1", 1500), 17);
	assert_int_equal(add(d, "lobby", "alice", "m2", 18, 1001), 0);
	assert_int_equal(find(d, "lobby", "alice", "m2", 1500), 18);
	assert_int_equal(find(d, "lobby", "alice", "m1", 1500), 17);
	assert_int_equal(d->count, 2);
}

static void
test_parts_differ(void **state)
{
	struct sv_dedupe *d = *state;

	assert_int_equal(add(d, "room", "user", "id", 5, 0), 0);
	assert_int_equal(find(d, "room", "user", "id", 0), 5);
	assert_int_equal(find(d, "room2", "user", "id", 0), 0);
	assert_int_equal(find(d, "roo", "user", "id", 0), 0);
	assert_int_equal(find(d, "room", "user2", "id", 0), 0);
	assert_int_equal(find(d, "room", "use", "id", 0), 0);
	assert_int_equal(find(d, "room", "user", "id2", 0), 0);
	assert_int_equal(find(d, "room", "user", "i", 0), 0);
	assert_int_equal(find(d, "room", "user", "", 0), 0);
	assert_int_equal(find(d, "user", "room", "id", 0), 0);
	assert_int_equal(find(d, "id", "user", "room", 0), 0);
}

/*
 * Keys whose parts concatenate to the same bytes. Each is added with its
 * own seq and must be found with exactly that seq.
 */
static void
test_no_concat_collisions(void **state)
{
	static const char *const keys[][3] = {
	    {"ab", "c", "x"},	 {"a", "bc", "x"},    {"abc", "", "x"},
	    {"", "abc", "x"},	 {"a", "b", "cx"},    {"a", "bcx", ""},
	    {"ab", "cx", ""},	 {"abcx", "", ""},    {"", "", "abcx"},
	    {"", "ab", "cx"},	 {"a", "", "bcx"},    {"", "a", "bcx"},
	    {"r", "u", "1"},	 {"r", "u1", ""},     {"ru", "", "1"},
	    {"user:", "x", "1"}, {"user", ":x", "1"},
	};
	const size_t n = sizeof(keys) / sizeof(keys[0]);
	struct sv_dedupe *d = *state;
	size_t i;

	for (i = 0; i < n; i++) {
		assert_int_equal(
		    find(d, keys[i][0], keys[i][1], keys[i][2], 10), 0);
		assert_int_equal(
		    add(d, keys[i][0], keys[i][1], keys[i][2], 100 + i, 10), 0);
	}
	for (i = 0; i < n; i++)
		assert_int_equal(
		    find(d, keys[i][0], keys[i][1], keys[i][2], 10), 100 + i);
	assert_int_equal(d->count, n);
}

/* The lengths are what count: the bytes after them are not read. */
static void
test_lengths(void **state)
{
	struct sv_dedupe *d = *state;

	assert_int_equal(
	    sv_dedupe_add(d, "lobbyXX", 5, "aliceYY", 5, "m1ZZ", 2, 9, 0), 0);
	assert_int_equal(find(d, "lobby", "alice", "m1", 0), 9);
	assert_int_equal(
	    sv_dedupe_find(d, "lobby-", 5, "alice-", 5, "m1-", 2, 0), 9);
	assert_int_equal(
	    sv_dedupe_find(d, "lobby-", 6, "alice-", 5, "m1-", 2, 0), 0);
	/* Empty parts are keys too. */
	assert_int_equal(sv_dedupe_add(d, "", 0, "", 0, "", 0, 3, 0), 0);
	assert_int_equal(sv_dedupe_find(d, "", 0, "", 0, "", 0, 0), 3);
}

static void
test_expiry(void **state)
{
	struct sv_dedupe *d = *state;

	reinit(d, 100, 1000);
	assert_int_equal(add(d, "r", "u", "a", 1, 1000), 0);
	assert_int_equal(add(d, "r", "u", "b", 2, 1500), 0);
	assert_int_equal(find(d, "r", "u", "a", 1999), 1);
	/* Exactly window_ms old is still inside the window. */
	assert_int_equal(find(d, "r", "u", "a", 2000), 1);
	assert_int_equal(find(d, "r", "u", "a", 2001), 0);
	assert_int_equal(d->count, 1);
	assert_int_equal(find(d, "r", "u", "b", 2001), 2);
	assert_int_equal(find(d, "r", "u", "b", 2500), 2);
	assert_int_equal(find(d, "r", "u", "b", 2501), 0);
	assert_int_equal(d->count, 0);
	/* An expired key can be added again, with a new seq. */
	assert_int_equal(add(d, "r", "u", "a", 7, 3000), 0);
	assert_int_equal(find(d, "r", "u", "a", 3000), 7);
	/* Adding also expires what is old. */
	assert_int_equal(add(d, "r", "u", "c", 8, 9000), 0);
	assert_int_equal(d->count, 1);
	assert_int_equal(find(d, "r", "u", "a", 9000), 0);
	assert_int_equal(find(d, "r", "u", "c", 9000), 8);
}

static void
test_eviction_by_count(void **state)
{
	struct sv_dedupe *d = *state;
	char id[16];
	int i;

	reinit(d, 3, 60000);
	assert_int_equal(add(d, "r", "u", "1", 1, 100), 0);
	assert_int_equal(add(d, "r", "u", "2", 2, 100), 0);
	assert_int_equal(add(d, "r", "u", "3", 3, 100), 0);
	assert_int_equal(d->count, 3);
	assert_int_equal(add(d, "r", "u", "4", 4, 100), 0);
	assert_int_equal(d->count, 3);
	assert_int_equal(find(d, "r", "u", "1", 100), 0);
	assert_int_equal(find(d, "r", "u", "2", 100), 2);
	assert_int_equal(find(d, "r", "u", "3", 100), 3);
	assert_int_equal(find(d, "r", "u", "4", 100), 4);
	/* Looking an entry up does not make it younger: "2" goes next. */
	assert_int_equal(add(d, "r", "u", "5", 5, 100), 0);
	assert_int_equal(find(d, "r", "u", "2", 100), 0);
	assert_int_equal(find(d, "r", "u", "3", 100), 3);
	assert_int_equal(find(d, "r", "u", "5", 100), 5);

	/* Many more: only the last three stay. */
	for (i = 6; i <= 500; i++) {
		snprintf(id, sizeof(id), "%d", i);
		assert_int_equal(add(d, "r", "u", id, (uint64_t)i, 100 + i), 0);
		assert_true(d->count <= 3);
	}
	for (i = 1; i <= 500; i++) {
		snprintf(id, sizeof(id), "%d", i);
		assert_int_equal(find(d, "r", "u", id, 600),
				 i > 497 ? (uint64_t)i : 0);
	}
}

/* A full window left for fini to free. */
static void
test_fini_frees(void **state)
{
	struct sv_dedupe *d = *state;
	char id[16];
	int i;

	reinit(d, 5000, 60000);
	for (i = 0; i < 4000; i++) {
		snprintf(id, sizeof(id), "id-%d", i);
		assert_int_equal(add(d, "room", "user", id, (uint64_t)i + 1, i),
				 0);
	}
	assert_int_equal(d->count, 4000);
	assert_int_equal(HASH_COUNT(d->byk), 4000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_find_after_add, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_parts_differ, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_concat_collisions, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_lengths, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_eviction_by_count, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_fini_frees, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
