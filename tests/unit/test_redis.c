/*
 * test_redis.c: the Redis links' pure parts (sv_redis.c): the shard a key
 * goes to (consistent hashing: the same on every node whatever the order
 * of the addresses, spread evenly, and a new shard takes keys only for
 * itself), the addresses refused, a command refused at once while its
 * link is not up, and the scripts' SHA-1. The links connect to ports
 * nothing listens on, on a loop that is never run: nothing reaches the
 * network beyond a refused connect.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../proto/err.h"
#include "../../supervisor/sv_redis.h"

#define KEYS 6000

static struct ev_loop *loop;

static const struct sv_redis_handlers none = {NULL, NULL, NULL, NULL, NULL};

static struct sv_redis *
open_with(const char *const *addrs, uint32_t n)
{
	struct setting_list l = {n, (char **)addrs};
	struct sv_redis *r = NULL;
	const char *why;

	assert_int_equal(
	    sv_redis_open(&r, loop, &l, 1000, NULL, NULL, &none, &why), WSD_OK);
	return r;
}

static int
shard_of(struct sv_redis *r, int k)
{
	char key[32];
	int n = snprintf(key, sizeof(key), "room-%d", k);

	return sv_redis_shard(r, key, (size_t)n);
}

static void
test_one_shard(void **state)
{
	static const char *const a[] = {"127.0.0.1:1"};
	struct sv_redis *r = open_with(a, 1);
	int k;

	(void)state;
	assert_int_equal(sv_redis_nshards(r), 1);
	for (k = 0; k < 100; k++)
		assert_int_equal(shard_of(r, k), 0);
	sv_redis_close(r);
}

static void
test_spread_and_order(void **state)
{
	static const char *const a[] = {"127.0.0.1:1", "127.0.0.1:2",
					"127.0.0.1:3"};
	static const char *const b[] = {"127.0.0.1:3", "127.0.0.1:1",
					"127.0.0.1:2"};
	struct sv_redis *r = open_with(a, 3), *s = open_with(b, 3);
	int counts[3] = {0, 0, 0}, k, i;

	(void)state;
	for (k = 0; k < KEYS; k++) {
		int x = shard_of(r, k), y = shard_of(s, k);

		/* The same address, whatever its place in the list. */
		assert_int_equal(x == 0	  ? 1
				 : x == 1 ? 2
					  : 3,
				 y == 0	  ? 3
				 : y == 1 ? 1
					  : 2);
		counts[x]++;
	}
	for (i = 0; i < 3; i++) {
		assert_true(counts[i] > KEYS / 5);
		assert_true(counts[i] < KEYS / 2);
	}
	sv_redis_close(r);
	sv_redis_close(s);
}

static void
test_new_shard_moves_few(void **state)
{
	static const char *const a[] = {"127.0.0.1:1", "127.0.0.1:2",
					"127.0.0.1:3"};
	static const char *const b[] = {"127.0.0.1:1", "127.0.0.1:2",
					"127.0.0.1:3", "127.0.0.1:4"};
	struct sv_redis *r = open_with(a, 3), *s = open_with(b, 4);
	int k, moved = 0;

	(void)state;
	for (k = 0; k < KEYS; k++) {
		int x = shard_of(r, k), y = shard_of(s, k);

		if (x != y) {
			/* A key moves only to the new shard. */
			assert_int_equal(y, 3);
			moved++;
		}
	}
	/* About a quarter move. */
	assert_true(moved > KEYS / 8);
	assert_true(moved < KEYS * 3 / 8);
	sv_redis_close(r);
	sv_redis_close(s);
}

static void
test_refused_addresses(void **state)
{
	static const char *const bad[] = {"nohost", ":6379", "h:0", "h:99999",
					  "h:12x"};
	const char *many[SV_REDIS_MAX_SHARDS + 1];
	struct sv_redis *r = NULL;
	const char *why = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct setting_list l = {1, (char **)&bad[i]};

		assert_int_equal(
		    sv_redis_open(&r, loop, &l, 1000, NULL, NULL, &none, &why),
		    WSD_EINVAL);
		assert_non_null(why);
	}
	for (i = 0; i < SV_REDIS_MAX_SHARDS + 1; i++)
		many[i] = "127.0.0.1:1";
	{
		struct setting_list l = {SV_REDIS_MAX_SHARDS + 1,
					 (char **)many};

		assert_int_equal(
		    sv_redis_open(&r, loop, &l, 1000, NULL, NULL, &none, &why),
		    WSD_EINVAL);
	}
	{
		struct setting_list l = {0, NULL};

		assert_int_equal(
		    sv_redis_open(&r, loop, &l, 1000, NULL, NULL, &none, &why),
		    WSD_EINVAL);
	}
}

static int replies;

static void
on_reply(void *arg, const redisReply *rep)
{
	(void)arg;
	(void)rep;
	replies++;
}

static void
test_down_refuses_at_once(void **state)
{
	static const char *const a[] = {"127.0.0.1:1"};
	struct sv_redis *r = open_with(a, 1);
	const char *argv[1] = {"PING"};
	size_t lens[1] = {4};
	struct sv_eng_link l;

	(void)state;
	replies = 0;
	assert_false(sv_redis_up(r, 0));
	assert_int_equal(sv_redis_cmd(r, 0, on_reply, NULL, 1, argv, lens),
			 WSD_EAGAIN);
	assert_int_equal(sv_redis_subscribe(r, 0, "c", 1, 1), WSD_EAGAIN);
	sv_redis_link(r, 0, &l);
	assert_string_equal(l.address, "127.0.0.1:1");
	assert_false(l.up);
	assert_int_equal(l.inflight, 0);
	sv_redis_close(r);
	assert_int_equal(replies, 0); /* refused: never called */
}

static void
test_script_sha(void **state)
{
	static const char *const a[] = {"127.0.0.1:1"};
	struct sv_redis_script s = {"return 1", ""};
	struct sv_redis_script *const scripts[] = {&s, NULL};
	struct setting_list l = {1, (char **)a};
	struct sv_redis *r = NULL;
	const char *why;

	(void)state;
	assert_int_equal(
	    sv_redis_open(&r, loop, &l, 1000, NULL, scripts, &none, &why),
	    WSD_OK);
	/* SHA-1 of "return 1", as Redis's SCRIPT LOAD answers it. */
	assert_string_equal(s.sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
	sv_redis_close(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_shard),
	    cmocka_unit_test(test_spread_and_order),
	    cmocka_unit_test(test_new_shard_moves_few),
	    cmocka_unit_test(test_refused_addresses),
	    cmocka_unit_test(test_down_refuses_at_once),
	    cmocka_unit_test(test_script_sha),
	};
	int rc;

	loop = ev_loop_new(EVFLAG_AUTO);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	ev_loop_destroy(loop);
	return rc;
}
