/*
 * test_registry.c: unit tests of the supervisor's registry of
 * connections, users and rooms (supervisor/sv_registry.h).
 *
 * Covered: adding connections for several users and workers and finding
 * them by id; the user index (counts and lists) and the worker index;
 * duplicate ids and bad worker slots rejected with the registry unchanged;
 * moving a connection to another user (sv_reg_conn_set_user), the old
 * user freed with its last connection; joining and leaving rooms with the
 * member count, the per-worker counts and sv_reg_is_member kept right; a
 * room freed with its last member (by a leave, a remove or a worker
 * clear) and by sv_reg_room_drop when it has none, with r->nrooms
 * counting what is left; sv_reg_conn_remove unlinking a connection from
 * its user, its rooms and its worker; sv_reg_worker_clear removing
 * exactly one worker's connections; personal rooms (sv_reg_room_user);
 * and a stress run of 10,000 random operations checked after each step
 * against a shadow model. A room that may have been freed is never
 * touched through an old pointer: the tests look it up by name again.
 * Every test ends with sv_registry_fini (in teardown), so LeakSanitizer
 * checks that the registry frees all it holds, the connections' info
 * included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../supervisor/sv_registry.h"

/*
 * Each test gets a registry from setup and teardown finis it, even when
 * an assertion fails half-way, so LeakSanitizer reports only what the
 * registry itself failed to free.
 */
static int
setup(void **state)
{
	struct sv_registry *r = malloc(sizeof(*r));

	if (r == NULL)
		return -1;
	sv_registry_init(r);
	*state = r;
	return 0;
}

static int
teardown(void **state)
{
	struct sv_registry *r = *state;

	sv_registry_fini(r);
	free(r);
	return 0;
}

static struct sv_conn *
add_at(struct sv_registry *r, uint64_t id, int worker, const char *user,
       uint64_t now_ms)
{
	static const char addr[] = "127.0.0.1:40000";
	static const char agent[] = "test-agent/1.0";

	return sv_reg_conn_add(r, id, worker, user, strlen(user), addr,
			       sizeof(addr) - 1, agent, sizeof(agent) - 1, 0,
			       now_ms);
}

static struct sv_conn *
add(struct sv_registry *r, uint64_t id, int worker, const char *user)
{
	return add_at(r, id, worker, user, 1000);
}

static struct sv_room *
room_of(struct sv_registry *r, const char *name)
{
	return sv_reg_room_get(r, name, strlen(name), 1);
}

static struct sv_room *
room_find(struct sv_registry *r, const char *name)
{
	return sv_reg_room_get(r, name, strlen(name), 0);
}

static struct sv_user *
user_find(struct sv_registry *r, const char *name)
{
	return sv_reg_user_find(r, name, strlen(name));
}

static uint32_t
user_list_len(const struct sv_user *u)
{
	const struct sv_conn *c;
	uint32_t n = 0;

	TAILQ_FOREACH (c, &u->conns, by_user) {
		assert_ptr_equal(c->user, u);
		n++;
	}
	return n;
}

static uint32_t
worker_list_len(struct sv_registry *r, int w)
{
	const struct sv_conn *c;
	uint32_t n = 0;

	TAILQ_FOREACH (c, &r->by_worker[w], by_worker) {
		assert_int_equal(c->worker, w);
		n++;
	}
	return n;
}

static uint32_t
room_list_len(const struct sv_room *room)
{
	const struct sv_member *m;
	uint32_t n = 0;

	TAILQ_FOREACH (m, &room->members, in_room) {
		assert_ptr_equal(m->room, room);
		n++;
	}
	return n;
}

static int
in_room(const struct sv_room *room, const struct sv_conn *c)
{
	const struct sv_member *m;

	TAILQ_FOREACH (m, &room->members, in_room)
		if (m->conn == c)
			return 1;
	return 0;
}

static uint32_t
conn_rooms_len(const struct sv_conn *c)
{
	const struct sv_member *m;
	uint32_t n = 0;

	LIST_FOREACH (m, &c->rooms, in_conn) {
		assert_ptr_equal(m->conn, c);
		n++;
	}
	return n;
}

static void
test_add_find(void **state)
{
	static const struct {
		uint64_t id;
		int worker;
		const char *user;
	} conns[] = {
	    {1, 0, "alice"}, {2, 1, "alice"}, {3, 2, "bob"},
	    {4, 0, "carol"}, {5, 1, "bob"},   {0xffffffffffffull, 63, "alice"},
	};
	struct sv_registry *r = *state;
	struct sv_conn *c;
	size_t i;

	for (i = 0; i < sizeof(conns) / sizeof(conns[0]); i++) {
		c = sv_reg_conn_add(r, conns[i].id, conns[i].worker,
				    conns[i].user, strlen(conns[i].user),
				    "10.0.0.1:9", 10, "ua", 2, (int)(i & 1),
				    5000 + i);
		assert_non_null(c);
	}
	assert_int_equal(r->nconns, 6);
	for (i = 0; i < sizeof(conns) / sizeof(conns[0]); i++) {
		c = sv_reg_conn_find(r, conns[i].id);
		assert_non_null(c);
		assert_int_equal(c->id, conns[i].id);
		assert_int_equal(c->worker, conns[i].worker);
		assert_string_equal(c->user->name, conns[i].user);
		assert_string_equal(c->addr, "10.0.0.1:9");
		assert_string_equal(c->agent, "ua");
		assert_int_equal(c->anonymous, (int)(i & 1));
		assert_int_equal(c->connected_ms, 5000 + i);
		assert_int_equal(c->last_seen_ms, 5000 + i);
		assert_int_equal(c->nrooms, 0);
		assert_true(LIST_EMPTY(&c->rooms));
	}
	assert_null(sv_reg_conn_find(r, 0));
	assert_null(sv_reg_conn_find(r, 6));
	assert_null(sv_reg_conn_find(r, 0xfffffffffffeull));

	assert_int_equal(r->per_worker[0], 2);
	assert_int_equal(r->per_worker[1], 2);
	assert_int_equal(r->per_worker[2], 1);
	assert_int_equal(r->per_worker[3], 0);
	assert_int_equal(r->per_worker[63], 1);
	assert_int_equal(worker_list_len(r, 0), 2);
	assert_int_equal(worker_list_len(r, 1), 2);
	assert_int_equal(worker_list_len(r, 63), 1);
}

static void
test_user_index(void **state)
{
	struct sv_registry *r = *state;
	struct sv_user *u;
	struct sv_conn *c;
	static const uint64_t want[3] = {10, 12, 13};
	uint64_t order[3];
	int i = 0;

	assert_non_null(add(r, 10, 0, "alice"));
	assert_non_null(add(r, 11, 1, "bob"));
	assert_non_null(add(r, 12, 2, "alice"));
	assert_non_null(add(r, 13, 3, "alice"));
	assert_non_null(add(r, 14, 3, "al"));

	u = user_find(r, "alice");
	assert_non_null(u);
	assert_string_equal(u->name, "alice");
	assert_int_equal(u->nconns, 3);
	assert_int_equal(user_list_len(u), 3);
	/* The user's list keeps arrival order. */
	TAILQ_FOREACH (c, &u->conns, by_user)
		order[i++] = c->id;
	assert_memory_equal(order, want, sizeof(want));

	u = user_find(r, "bob");
	assert_non_null(u);
	assert_int_equal(u->nconns, 1);
	assert_int_equal(user_list_len(u), 1);

	/* Names match by exact length: "al" is its own user. */
	u = user_find(r, "al");
	assert_non_null(u);
	assert_int_equal(u->nconns, 1);
	assert_null(user_find(r, "ali"));
	assert_null(user_find(r, "alicex"));
	assert_null(user_find(r, "carol"));
	assert_non_null(sv_reg_user_find(r, "alice-and-more", 5));
	/* Connections of one user share the one sv_user. */
	assert_ptr_equal(sv_reg_conn_find(r, 10)->user,
			 sv_reg_conn_find(r, 13)->user);
}

static void
test_add_rejects(void **state)
{
	struct sv_registry *r = *state;
	struct sv_conn *c;

	c = add(r, 7, 2, "alice");
	assert_non_null(c);

	/* The same id again, even for another user and worker. */
	assert_null(add(r, 7, 2, "alice"));
	assert_null(add(r, 7, 5, "mallory"));
	assert_int_equal(r->nconns, 1);
	assert_int_equal(r->per_worker[2], 1);
	assert_int_equal(r->per_worker[5], 0);
	assert_int_equal(worker_list_len(r, 5), 0);
	assert_null(user_find(r, "mallory"));
	assert_int_equal(user_find(r, "alice")->nconns, 1);
	assert_ptr_equal(sv_reg_conn_find(r, 7), c);
	assert_int_equal(c->worker, 2);
	assert_string_equal(c->user->name, "alice");

	/* Worker slots outside [0, SV_MAX_WORKERS). */
	assert_null(add(r, 8, -1, "bob"));
	assert_null(add(r, 9, SV_MAX_WORKERS, "bob"));
	assert_null(sv_reg_conn_find(r, 8));
	assert_null(sv_reg_conn_find(r, 9));
	assert_null(user_find(r, "bob"));
	assert_int_equal(r->nconns, 1);
}

/* user, addr and agent are copied; addr is cut to fit its field. */
static void
test_add_copies(void **state)
{
	char user[16], agent[16], addr[200];
	struct sv_registry *r = *state;
	struct sv_conn *c;

	strcpy(user, "dave");
	strcpy(agent, "curl/8");
	memset(addr, 'a', sizeof(addr));
	c = sv_reg_conn_add(r, 1, 0, user, 4, addr, sizeof(addr), agent, 6, 1,
			    1);
	assert_non_null(c);
	memset(user, 'x', sizeof(user));
	memset(agent, 'x', sizeof(agent));
	memset(addr, 'x', sizeof(addr));
	assert_string_equal(c->user->name, "dave");
	assert_string_equal(c->agent, "curl/8");
	assert_int_equal(strlen(c->addr), sizeof(c->addr) - 1);
	assert_int_equal(c->addr[0], 'a');
	assert_int_equal(c->anonymous, 1);
	assert_non_null(user_find(r, "dave"));
}

static void
test_room_get(void **state)
{
	struct sv_registry *r = *state;
	struct sv_room *a, *b;

	assert_null(room_find(r, "lobby"));
	assert_int_equal(r->nrooms, 0);
	a = room_of(r, "lobby");
	assert_non_null(a);
	assert_string_equal(a->name, "lobby");
	assert_int_equal(a->nmembers, 0);
	assert_true(TAILQ_EMPTY(&a->members));
	assert_int_equal(r->nrooms, 1);
	/* A second get, with or without create, finds the same room. */
	assert_ptr_equal(room_of(r, "lobby"), a);
	assert_ptr_equal(room_find(r, "lobby"), a);
	assert_int_equal(r->nrooms, 1);
	assert_null(room_find(r, "lob"));
	assert_null(room_find(r, "lobby2"));
	assert_int_equal(r->nrooms, 1);
	b = sv_reg_room_get(r, "lobby2-and-more", 6, 1);
	assert_non_null(b);
	assert_true(a != b);
	assert_string_equal(b->name, "lobby2");
	assert_ptr_equal(room_find(r, "lobby2"), b);
	assert_int_equal(r->nrooms, 2);
	assert_int_equal(HASH_COUNT(r->rooms), 2);
	assert_int_equal(sv_reg_room_on_worker(a, 0), 0);
	assert_int_equal(sv_reg_room_on_worker(a, SV_MAX_WORKERS - 1), 0);
	assert_int_equal(sv_reg_room_on_worker(a, -1), 0);
	/* Rooms with no member are left to fini here (LeakSanitizer). */
}

/* sv_reg_room_drop frees a room with no member and keeps any other. */
static void
test_room_drop(void **state)
{
	struct sv_registry *r = *state;
	struct sv_conn *c;
	struct sv_room *a;

	c = add(r, 1, 2, "alice");
	a = room_of(r, "a");
	assert_non_null(room_of(r, "b"));
	assert_int_equal(r->nrooms, 2);
	sv_reg_room_drop(r, a);
	assert_null(room_find(r, "a"));
	assert_int_equal(r->nrooms, 1);
	assert_non_null(room_find(r, "b"));

	/* A room with a member stays, unchanged. */
	a = room_of(r, "a");
	assert_int_equal(sv_reg_join(r, c, a), 0);
	sv_reg_room_drop(r, a);
	assert_ptr_equal(room_find(r, "a"), a);
	assert_int_equal(a->nmembers, 1);
	assert_int_equal(sv_reg_room_on_worker(a, 2), 1);
	assert_true(sv_reg_is_member(c, a));
	assert_int_equal(r->nrooms, 2);

	/* Made again after a drop, it is a new, empty room. */
	sv_reg_room_drop(r, room_find(r, "b"));
	assert_null(room_find(r, "b"));
	assert_int_equal(r->nrooms, 1);
	assert_int_equal(room_of(r, "b")->nmembers, 0);
	assert_int_equal(r->nrooms, 2);
	assert_int_equal(HASH_COUNT(r->rooms), 2);
}

static void
test_join_leave(void **state)
{
	struct sv_registry *r = *state;
	struct sv_conn *c1, *c2, *c3, *c4;
	struct sv_room *a, *b;

	c1 = add(r, 1, 0, "alice");
	c2 = add(r, 2, 3, "bob");
	c3 = add(r, 3, 3, "carol");
	c4 = add(r, 4, 63, "alice");
	a = room_of(r, "a");
	b = room_of(r, "b");

	assert_int_equal(sv_reg_join(r, c1, a), 0);
	assert_int_equal(sv_reg_join(r, c2, a), 0);
	assert_int_equal(sv_reg_join(r, c3, a), 0);
	assert_int_equal(sv_reg_join(r, c4, a), 0);
	assert_int_equal(sv_reg_join(r, c2, b), 0);
	assert_int_equal(sv_reg_join(r, c1, a), WSD_EEXIST);
	assert_int_equal(sv_reg_join(r, c2, b), WSD_EEXIST);

	assert_int_equal(a->nmembers, 4);
	assert_int_equal(room_list_len(a), 4);
	assert_int_equal(sv_reg_room_on_worker(a, 0), 1);
	assert_int_equal(sv_reg_room_on_worker(a, 1), 0);
	assert_int_equal(sv_reg_room_on_worker(a, 3), 2);
	assert_int_equal(sv_reg_room_on_worker(a, 63), 1);
	assert_int_equal(b->nmembers, 1);
	assert_int_equal(sv_reg_room_on_worker(b, 3), 1);
	assert_int_equal(sv_reg_room_on_worker(b, 0), 0);
	assert_int_equal(sv_reg_room_on_worker(b, 63), 0);
	assert_int_equal(c1->nrooms, 1);
	assert_int_equal(c2->nrooms, 2);
	assert_int_equal(conn_rooms_len(c2), 2);
	assert_true(in_room(a, c2) && in_room(b, c2));
	assert_false(in_room(b, c1));

	assert_int_equal(sv_reg_leave(r, c3, a), 0);
	assert_int_equal(sv_reg_leave(r, c3, a), WSD_ENOENT);
	assert_int_equal(sv_reg_leave(r, c1, b), WSD_ENOENT);
	assert_int_equal(a->nmembers, 3);
	assert_int_equal(room_list_len(a), 3);
	assert_false(in_room(a, c3));
	assert_int_equal(sv_reg_room_on_worker(a, 3), 1);
	assert_int_equal(c3->nrooms, 0);
	assert_true(LIST_EMPTY(&c3->rooms));

	assert_int_equal(sv_reg_leave(r, c4, a), 0);
	assert_int_equal(sv_reg_room_on_worker(a, 63), 0);
	/* Rejoining after leaving works and counts again. */
	assert_int_equal(sv_reg_join(r, c3, a), 0);
	assert_int_equal(sv_reg_room_on_worker(a, 3), 2);
	assert_int_equal(a->nmembers, 3);
	assert_int_equal(r->nrooms, 2);

	/* b goes with its only member; a is not touched. */
	assert_int_equal(sv_reg_leave(r, c2, b), 0);
	assert_null(room_find(r, "b"));
	assert_int_equal(r->nrooms, 1);
	assert_int_equal(c2->nrooms, 1);
	assert_int_equal(conn_rooms_len(c2), 1);
	assert_ptr_equal(room_find(r, "a"), a);
	assert_int_equal(a->nmembers, 3);
}

/* sv_reg_is_member agrees with the member lists, both ways. */
static void
test_is_member(void **state)
{
	struct sv_registry *r = *state;
	struct sv_conn *c1, *c2;
	struct sv_room *a, *b;

	c1 = add(r, 1, 0, "alice");
	c2 = add(r, 2, 1, "alice");
	a = room_of(r, "a");
	b = room_of(r, "b");
	assert_false(sv_reg_is_member(c1, a));
	assert_int_equal(sv_reg_join(r, c1, a), 0);
	assert_int_equal(sv_reg_join(r, c2, b), 0);
	assert_int_equal(sv_reg_join(r, c1, b), 0);
	assert_true(sv_reg_is_member(c1, a));
	assert_true(sv_reg_is_member(c1, b));
	assert_true(sv_reg_is_member(c2, b));
	/* Another connection of the same user is not a member. */
	assert_false(sv_reg_is_member(c2, a));
	assert_int_equal(sv_reg_leave(r, c1, b), 0);
	assert_false(sv_reg_is_member(c1, b));
	assert_true(sv_reg_is_member(c1, a));
	assert_true(sv_reg_is_member(c2, b));
}

/* Leaving the last room keeps the other rooms of a connection intact. */
static void
test_leave_frees_room(void **state)
{
	struct sv_registry *r = *state;
	struct sv_conn *c1, *c2;

	c1 = add(r, 1, 0, "alice");
	c2 = add(r, 2, 5, "bob");
	assert_int_equal(sv_reg_join(r, c1, room_of(r, "x")), 0);
	assert_int_equal(sv_reg_join(r, c2, room_of(r, "x")), 0);
	assert_int_equal(sv_reg_join(r, c1, room_of(r, "y")), 0);
	assert_int_equal(r->nrooms, 2);

	assert_int_equal(sv_reg_leave(r, c1, room_find(r, "x")), 0);
	assert_non_null(room_find(r, "x"));
	assert_int_equal(room_find(r, "x")->nmembers, 1);
	assert_int_equal(sv_reg_room_on_worker(room_find(r, "x"), 0), 0);
	assert_int_equal(sv_reg_room_on_worker(room_find(r, "x"), 5), 1);
	assert_int_equal(sv_reg_leave(r, c2, room_find(r, "x")), 0);
	assert_null(room_find(r, "x"));
	assert_int_equal(r->nrooms, 1);
	assert_int_equal(c2->nrooms, 0);
	assert_true(LIST_EMPTY(&c2->rooms));
	assert_int_equal(c1->nrooms, 1);
	assert_true(sv_reg_is_member(c1, room_find(r, "y")));

	/* A room of the same name made again starts with no member. */
	assert_int_equal(room_of(r, "x")->nmembers, 0);
	assert_int_equal(r->nrooms, 2);
	assert_int_equal(sv_reg_join(r, c2, room_find(r, "x")), 0);
	assert_int_equal(room_find(r, "x")->nmembers, 1);
}

static void
test_conn_remove(void **state)
{
	struct sv_registry *r = *state;
	struct sv_conn *c1, *c2, *c3;
	struct sv_room *a, *b, *c;
	struct sv_user *alice;

	c1 = add(r, 1, 1, "alice");
	c2 = add(r, 2, 1, "alice");
	c3 = add(r, 3, 2, "bob");
	a = room_of(r, "a");
	b = room_of(r, "b");
	c = room_of(r, "c");
	assert_int_equal(sv_reg_join(r, c1, a), 0);
	assert_int_equal(sv_reg_join(r, c1, b), 0);
	assert_int_equal(sv_reg_join(r, c1, c), 0);
	assert_int_equal(sv_reg_join(r, c2, a), 0);
	assert_int_equal(sv_reg_join(r, c3, a), 0);
	assert_int_equal(sv_reg_join(r, c3, b), 0);
	assert_int_equal(r->nrooms, 3);

	sv_reg_conn_remove(r, c1);
	assert_null(sv_reg_conn_find(r, 1));
	assert_int_equal(r->nconns, 2);
	assert_int_equal(r->per_worker[1], 1);
	assert_int_equal(worker_list_len(r, 1), 1);
	alice = user_find(r, "alice");
	assert_non_null(alice);
	assert_int_equal(alice->nconns, 1);
	assert_int_equal(user_list_len(alice), 1);
	assert_ptr_equal(TAILQ_FIRST(&alice->conns), c2);
	assert_int_equal(a->nmembers, 2);
	assert_int_equal(room_list_len(a), 2);
	assert_int_equal(sv_reg_room_on_worker(a, 1), 1);
	assert_int_equal(sv_reg_room_on_worker(a, 2), 1);
	assert_int_equal(b->nmembers, 1);
	assert_int_equal(room_list_len(b), 1);
	assert_int_equal(sv_reg_room_on_worker(b, 1), 0);
	/* c had c1 only: it went with it (c is not touched again). */
	assert_null(room_find(r, "c"));
	assert_int_equal(r->nrooms, 2);

	/* alice's last connection takes the user with it. */
	sv_reg_conn_remove(r, c2);
	assert_null(user_find(r, "alice"));
	assert_int_equal(r->per_worker[1], 0);
	assert_true(TAILQ_EMPTY(&r->by_worker[1]));
	assert_int_equal(a->nmembers, 1);
	assert_int_equal(sv_reg_room_on_worker(a, 1), 0);
	assert_int_equal(r->nrooms, 2);

	/* The user comes back fresh with a new connection. */
	c1 = add(r, 1, 4, "alice");
	assert_non_null(c1);
	assert_int_equal(user_find(r, "alice")->nconns, 1);

	/* bob was the last member of a and b: both go. */
	sv_reg_conn_remove(r, c3);
	assert_null(user_find(r, "bob"));
	assert_null(room_find(r, "a"));
	assert_null(room_find(r, "b"));
	assert_int_equal(r->nrooms, 0);
	assert_null(r->rooms);
	assert_int_equal(r->nconns, 1);
}

/* A leaving callback: the connection is still registered, on its
 * worker and in its rooms. */
static struct sv_registry *seen_r;

static void
count_leaving(void *arg, struct sv_conn *c)
{
	int *n = arg;

	assert_ptr_equal(sv_reg_conn_find(seen_r, c->id), c);
	assert_int_equal(c->worker, 2);
	assert_true(c->nrooms >= 1);
	(*n)++;
}

static int seen_n;

static void
test_worker_clear(void **state)
{
	struct sv_registry *r = *state;
	struct sv_room *a;
	uint64_t id;

	a = room_of(r, "a");
	/* 30 connections on workers 0..2 of users u0..u4. */
	for (id = 1; id <= 30; id++) {
		char user[8];
		struct sv_conn *c;

		snprintf(user, sizeof(user), "u%u", (unsigned)(id % 5));
		c = add(r, id, (int)(id % 3), user);
		assert_non_null(c);
		assert_int_equal(sv_reg_join(r, c, a), 0);
		/* Each connection on worker 2 alone in a room of its own. */
		if (id % 3 == 2) {
			snprintf(user, sizeof(user), "own%u", (unsigned)id);
			assert_int_equal(sv_reg_join(r, c, room_of(r, user)),
					 0);
		}
	}
	assert_int_equal(r->nrooms, 11);
	assert_int_equal(sv_reg_worker_clear(r, 1, NULL, NULL), 10);
	assert_int_equal(r->nconns, 20);
	assert_int_equal(r->per_worker[1], 0);
	assert_int_equal(r->per_worker[0], 10);
	assert_int_equal(r->per_worker[2], 10);
	assert_true(TAILQ_EMPTY(&r->by_worker[1]));
	for (id = 1; id <= 30; id++) {
		if (id % 3 == 1)
			assert_null(sv_reg_conn_find(r, id));
		else
			assert_non_null(sv_reg_conn_find(r, id));
	}
	assert_int_equal(a->nmembers, 20);
	assert_int_equal(sv_reg_room_on_worker(a, 1), 0);
	assert_int_equal(sv_reg_room_on_worker(a, 0), 10);
	/* Each user had 6 connections, 2 of them on worker 1. */
	assert_int_equal(user_find(r, "u0")->nconns, 4);
	assert_int_equal(user_list_len(user_find(r, "u3")), 4);
	/* Clearing an empty worker removes nothing. */
	assert_int_equal(sv_reg_worker_clear(r, 1, NULL, NULL), 0);
	assert_int_equal(sv_reg_worker_clear(r, 7, NULL, NULL), 0);
	assert_int_equal(r->nconns, 20);
	assert_int_equal(r->nrooms, 11);

	/* Worker 2 takes its ten own rooms with it; a stays for worker 0.
	 * Each connection is shown to leaving while still registered. */
	seen_r = r;
	seen_n = 0;
	assert_int_equal(sv_reg_worker_clear(r, 2, count_leaving, &seen_n), 10);
	assert_int_equal(seen_n, 10);
	assert_int_equal(r->nrooms, 1);
	assert_null(room_find(r, "own2"));
	assert_null(room_find(r, "own29"));
	assert_ptr_equal(room_find(r, "a"), a);
	assert_int_equal(a->nmembers, 10);
	assert_int_equal(sv_reg_worker_clear(r, 0, NULL, NULL), 10);
	assert_int_equal(r->nrooms, 0);
	assert_null(room_find(r, "a"));
	assert_int_equal(r->nconns, 0);
	assert_null(r->users);
}

/* The user's list in arrival order, as ids. */
static uint32_t
user_ids(const struct sv_user *u, uint64_t *out, uint32_t max)
{
	const struct sv_conn *c;
	uint32_t n = 0;

	TAILQ_FOREACH (c, &u->conns, by_user) {
		assert_true(n < max);
		out[n++] = c->id;
	}
	return n;
}

static void
test_set_user(void **state)
{
	struct sv_registry *r = *state;
	struct sv_conn *c1, *c2, *c3;
	struct sv_user *alice;
	uint64_t ids[4];

	c1 = add(r, 1, 0, "alice");
	c2 = add(r, 2, 1, "alice");
	c3 = add(r, 3, 1, "bob");
	assert_int_equal(sv_reg_join(r, c1, room_of(r, "a")), 0);
	alice = user_find(r, "alice");

	/* To a new user: made; alice keeps her other connection. */
	assert_int_equal(sv_reg_conn_set_user(r, c1, "carol", 5), WSD_OK);
	assert_string_equal(c1->user->name, "carol");
	assert_ptr_equal(user_find(r, "carol"), c1->user);
	assert_int_equal(c1->user->nconns, 1);
	assert_int_equal(user_list_len(c1->user), 1);
	assert_ptr_equal(user_find(r, "alice"), alice);
	assert_int_equal(alice->nconns, 1);
	assert_int_equal(user_list_len(alice), 1);
	assert_ptr_equal(TAILQ_FIRST(&alice->conns), c2);
	assert_int_equal(HASH_COUNT(r->users), 3);

	/* To an existing user, at the end of its list; bob had only c3 and
	 * goes (LeakSanitizer sees it freed). */
	assert_int_equal(sv_reg_conn_set_user(r, c3, "alice", 5), WSD_OK);
	assert_null(user_find(r, "bob"));
	assert_ptr_equal(c3->user, alice);
	assert_int_equal(alice->nconns, 2);
	assert_int_equal(user_ids(alice, ids, 4), 2);
	assert_int_equal(ids[0], 2);
	assert_int_equal(ids[1], 3);
	assert_int_equal(HASH_COUNT(r->users), 2);

	/* To its own user: nothing changes, not even the order. */
	assert_int_equal(sv_reg_conn_set_user(r, c2, "alice", 5), WSD_OK);
	assert_int_equal(alice->nconns, 2);
	assert_int_equal(user_ids(alice, ids, 4), 2);
	assert_int_equal(ids[0], 2);
	assert_int_equal(ids[1], 3);

	/* The name is ulen bytes, copied: "dave" of "dave-and-more". */
	assert_int_equal(sv_reg_conn_set_user(r, c2, "dave-and-more", 4),
			 WSD_OK);
	assert_string_equal(c2->user->name, "dave");
	assert_null(user_find(r, "dave-and-more"));
	/* A prefix of the old name is another user. */
	assert_int_equal(sv_reg_conn_set_user(r, c2, "dav", 3), WSD_OK);
	assert_null(user_find(r, "dave"));
	assert_int_equal(user_find(r, "dav")->nconns, 1);

	/* Nothing else of the connection moved. */
	assert_int_equal(c1->worker, 0);
	assert_int_equal(c1->nrooms, 1);
	assert_true(sv_reg_is_member(c1, room_find(r, "a")));
	assert_int_equal(r->nconns, 3);
	assert_int_equal(r->per_worker[1], 2);
	assert_ptr_equal(sv_reg_conn_find(r, 1), c1);

	/* Removing the moved connections frees their new users. */
	sv_reg_conn_remove(r, c1);
	assert_null(user_find(r, "carol"));
	sv_reg_conn_remove(r, c3);
	assert_null(user_find(r, "alice"));
	assert_int_equal(HASH_COUNT(r->users), 1);
}

/* c->info is the registry's: freed by remove, worker clear and fini. */
static void
test_info_freed(void **state)
{
	struct sv_registry *r = *state;
	uint64_t id;

	for (id = 1; id <= 6; id++) {
		struct sv_conn *c = add(r, id, (int)(id % 2), "alice");

		assert_non_null(c);
		assert_null(c->info);
		c->info = strdup("{\"name\":\"Alice\",\"n\":1}");
		assert_non_null(c->info);
	}
	assert_int_equal(
	    sv_reg_conn_set_user(r, sv_reg_conn_find(r, 1), "bob", 3), WSD_OK);
	assert_string_equal(sv_reg_conn_find(r, 1)->info,
			    "{\"name\":\"Alice\",\"n\":1}");
	sv_reg_conn_remove(r, sv_reg_conn_find(r, 1));
	/* Ids 2, 4 and 6 are on worker 0; 3 and 5 are left to fini. */
	assert_int_equal(sv_reg_worker_clear(r, 0, NULL, NULL), 3);
	assert_int_equal(r->nconns, 2);
}

/* A personal room names the user's connections, with no entry. */
static void
test_room_user(void **state)
{
	struct sv_registry *r = *state;

	assert_null(sv_reg_room_user(r, "user:alice"));
	assert_non_null(add(r, 1, 0, "alice"));
	assert_ptr_equal(sv_reg_room_user(r, "user:alice"),
			 user_find(r, "alice"));
	assert_null(sv_reg_room_user(r, "user:alic"));
	assert_null(sv_reg_room_user(r, "alice"));
	assert_null(sv_reg_room_user(r, "user:"));
	assert_null(sv_reg_room_user(r, "users:alice"));
	assert_int_equal(r->nrooms, 0);
	sv_reg_conn_remove(r, sv_reg_conn_find(r, 1));
	assert_null(sv_reg_room_user(r, "user:alice"));
}

/* The shadow model of the stress test. */
#define S_IDS 400
#define S_USERS 20
#define S_ROOMS 30
#define S_WORKERS 8

struct shadow_conn {
	int alive;
	int worker;
	int user;
	uint8_t rooms[S_ROOMS];
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t
rnd(uint32_t n)
{
	/* xorshift64*, fixed seed: a failure repeats. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 33) % n;
}

static void
name_of(char *buf, size_t len, char kind, int i)
{
	snprintf(buf, len, "%c%d", kind, i);
}

static int
worker_slot(int w)
{
	/* Spread over low slots and the last one. */
	return w == S_WORKERS - 1 ? SV_MAX_WORKERS - 1 : w;
}

static void
check_rooms(struct sv_registry *r, const uint32_t members[S_ROOMS],
	    uint32_t room_worker[S_ROOMS][S_WORKERS])
{
	uint32_t nrooms = 0;
	char name[16];
	int i, j;

	for (j = 0; j < S_ROOMS; j++) {
		struct sv_room *room;

		name_of(name, sizeof(name), 'r', j);
		room = room_find(r, name);
		/* A room with no member does not exist. */
		if (members[j] == 0) {
			assert_null(room);
			continue;
		}
		nrooms++;
		assert_non_null(room);
		assert_int_equal(room->nmembers, members[j]);
		assert_int_equal(room_list_len(room), members[j]);
		for (i = 0; i < S_WORKERS; i++)
			assert_int_equal(
			    sv_reg_room_on_worker(room, worker_slot(i)),
			    room_worker[j][i]);
	}
	assert_int_equal(r->nrooms, nrooms);
	assert_int_equal(HASH_COUNT(r->rooms), nrooms);
}

static void
check_model(struct sv_registry *r, const struct shadow_conn *sc)
{
	uint32_t nconns = 0, nusers = 0, per_worker[S_WORKERS] = {0};
	uint32_t per_user[S_USERS] = {0};
	uint32_t members[S_ROOMS] = {0};
	uint32_t room_worker[S_ROOMS][S_WORKERS];
	char name[16];
	int i, j;

	memset(room_worker, 0, sizeof(room_worker));
	for (i = 0; i < S_IDS; i++) {
		struct sv_conn *c = sv_reg_conn_find(r, (uint64_t)i + 1);
		uint32_t nrooms = 0;

		if (!sc[i].alive) {
			assert_null(c);
			continue;
		}
		assert_non_null(c);
		assert_int_equal(c->worker, worker_slot(sc[i].worker));
		name_of(name, sizeof(name), 'u', sc[i].user);
		assert_string_equal(c->user->name, name);
		nconns++;
		per_worker[sc[i].worker]++;
		per_user[sc[i].user]++;
		for (j = 0; j < S_ROOMS; j++) {
			if (!sc[i].rooms[j])
				continue;
			nrooms++;
			members[j]++;
			room_worker[j][sc[i].worker]++;
		}
		assert_int_equal(c->nrooms, nrooms);
		assert_int_equal(conn_rooms_len(c), nrooms);
	}
	assert_int_equal(r->nconns, nconns);
	assert_int_equal(HASH_COUNT(r->conns), nconns);
	for (i = 0; i < S_WORKERS; i++) {
		assert_int_equal(r->per_worker[worker_slot(i)], per_worker[i]);
		assert_int_equal(worker_list_len(r, worker_slot(i)),
				 per_worker[i]);
	}
	for (i = 0; i < S_USERS; i++) {
		struct sv_user *u;

		name_of(name, sizeof(name), 'u', i);
		u = user_find(r, name);
		if (per_user[i] == 0) {
			assert_null(u);
			continue;
		}
		nusers++;
		assert_non_null(u);
		assert_int_equal(u->nconns, per_user[i]);
		assert_int_equal(user_list_len(u), per_user[i]);
	}
	assert_int_equal(HASH_COUNT(r->users), nusers);
	check_rooms(r, members, room_worker);
}

static void
stress_add(struct sv_registry *r, struct shadow_conn *sc, int i)
{
	int w = (int)rnd(S_WORKERS), u = (int)rnd(S_USERS);
	struct sv_conn *c;
	char name[16];

	name_of(name, sizeof(name), 'u', u);
	c = add(r, (uint64_t)i + 1, worker_slot(w), name);
	if (sc[i].alive) {
		assert_null(c);
		return;
	}
	assert_non_null(c);
	sc[i].alive = 1;
	sc[i].worker = w;
	sc[i].user = u;
	memset(sc[i].rooms, 0, sizeof(sc[i].rooms));
}

/* Join room j, made when missing (as a SUB does). */
static void
stress_join(struct sv_registry *r, struct shadow_conn *sc, int i, int j)
{
	struct sv_conn *c = sv_reg_conn_find(r, (uint64_t)i + 1);
	char name[16];

	if (c == NULL)
		return;
	name_of(name, sizeof(name), 'r', j);
	assert_int_equal(sv_reg_join(r, c, room_of(r, name)),
			 sc[i].rooms[j] ? WSD_EEXIST : 0);
	sc[i].rooms[j] = 1;
}

/* Leave room j; a room that does not exist has no member to leave. */
static void
stress_leave(struct sv_registry *r, struct shadow_conn *sc, int i, int j)
{
	struct sv_conn *c = sv_reg_conn_find(r, (uint64_t)i + 1);
	struct sv_room *room;
	char name[16];

	if (c == NULL)
		return;
	name_of(name, sizeof(name), 'r', j);
	if ((room = room_find(r, name)) == NULL) {
		assert_false(sc[i].rooms[j]);
		return;
	}
	assert_int_equal(sv_reg_leave(r, c, room),
			 sc[i].rooms[j] ? 0 : WSD_ENOENT);
	sc[i].rooms[j] = 0;
}

static void
stress_remove(struct sv_registry *r, struct shadow_conn *sc, int i)
{
	struct sv_conn *c = sv_reg_conn_find(r, (uint64_t)i + 1);

	if (c == NULL) {
		assert_false(sc[i].alive);
		return;
	}
	sv_reg_conn_remove(r, c);
	sc[i].alive = 0;
}

static void
stress_clear(struct sv_registry *r, struct shadow_conn *sc)
{
	int w = (int)rnd(S_WORKERS), k;
	uint32_t want = 0;

	for (k = 0; k < S_IDS; k++) {
		if (sc[k].alive && sc[k].worker == w) {
			sc[k].alive = 0;
			want++;
		}
	}
	assert_int_equal(sv_reg_worker_clear(r, worker_slot(w), NULL, NULL),
			 want);
}

static void
stress_set_user(struct sv_registry *r, struct shadow_conn *sc, int i)
{
	struct sv_conn *c = sv_reg_conn_find(r, (uint64_t)i + 1);
	int u = (int)rnd(S_USERS);
	char name[16];

	if (c == NULL)
		return;
	name_of(name, sizeof(name), 'u', u);
	assert_int_equal(sv_reg_conn_set_user(r, c, name, strlen(name)),
			 WSD_OK);
	sc[i].user = u;
}

/* A get that makes room j, then a drop (a join that failed). */
static void
stress_get_drop(struct sv_registry *r, int j)
{
	char name[16];

	name_of(name, sizeof(name), 'r', j);
	sv_reg_room_drop(r, room_of(r, name));
}

static void
test_stress(void **state)
{
	static struct shadow_conn sc[S_IDS];
	struct sv_registry *r = *state;
	int op, i, j;

	memset(sc, 0, sizeof(sc));
	for (op = 0; op < 10000; op++) {
		uint32_t what = rnd(100);

		i = (int)rnd(S_IDS);
		j = (int)rnd(S_ROOMS);
		if (what < 30)
			stress_add(r, sc, i);
		else if (what < 62)
			stress_join(r, sc, i, j);
		else if (what < 80)
			stress_leave(r, sc, i, j);
		else if (what < 92)
			stress_remove(r, sc, i);
		else if (what < 94)
			stress_clear(r, sc);
		else if (what < 98)
			stress_set_user(r, sc, i);
		else
			stress_get_drop(r, j);
		check_model(r, sc);
	}
}

/* Connections are counted per client IP (the port does not count),
 * for IPv4 and bracketed IPv6, and an IP's entry goes with its last
 * connection. */
static void
test_addr_counts(void **state)
{
	struct sv_registry *r = *state;
	static const char *const addrs[] = {"10.0.0.1:1", "10.0.0.1:2",
					    "[2001:db8::1]:3",
					    "[2001:db8::1]:4", "10.0.0.2:5"};
	struct sv_conn *c[5];
	size_t len, i;
	const char *ip;

	ip = sv_reg_addr_ip("10.0.0.1:80", 11, &len);
	assert_int_equal(len, 8);
	assert_memory_equal(ip, "10.0.0.1", 8);
	ip = sv_reg_addr_ip("[::1]:80", 8, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(ip, "::1", 3);
	for (i = 0; i < 5; i++) {
		c[i] = sv_reg_conn_add(r, 100 + i, 0, "u", 1, addrs[i],
				       strlen(addrs[i]), "a", 1, 0, 1);
		assert_non_null(c[i]);
	}
	assert_int_equal(sv_reg_addr_count(r, "10.0.0.1:9", 10), 2);
	assert_int_equal(sv_reg_addr_count(r, "[2001:db8::1]:9", 15), 2);
	assert_int_equal(sv_reg_addr_count(r, "10.0.0.2:9", 10), 1);
	assert_int_equal(sv_reg_addr_count(r, "10.0.0.3:9", 10), 0);
	sv_reg_conn_remove(r, c[0]);
	assert_int_equal(sv_reg_addr_count(r, "10.0.0.1:9", 10), 1);
	sv_reg_conn_remove(r, c[1]);
	assert_int_equal(sv_reg_addr_count(r, "10.0.0.1:9", 10), 0);
	assert_int_equal(HASH_COUNT(r->ips), 2);
}

/* A connection in many rooms finds its memberships through an index
 * (SV_REG_INDEX_AT rooms and more), built as it grows and dropped as it
 * shrinks; the answers are the same either way. */
static void
test_many_rooms_index(void **state)
{
	struct sv_registry *r = *state;
	struct sv_conn *c = add(r, 1, 0, "alice");
	struct sv_room *rooms[100];
	char name[16];
	int i;

	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		rooms[i] = sv_reg_room_get(r, name, strlen(name), 1);
		assert_non_null(rooms[i]);
		assert_int_equal(sv_reg_join(r, c, rooms[i]), WSD_OK);
		assert_true(c->rooms_ix == NULL || i + 1 >= SV_REG_INDEX_AT);
	}
	assert_non_null(c->rooms_ix);
	assert_int_equal(HASH_COUNT(c->rooms_ix), 100);
	for (i = 0; i < 100; i++) {
		assert_true(sv_reg_is_member(c, rooms[i]));
		assert_int_equal(sv_reg_join(r, c, rooms[i]), WSD_EEXIST);
	}
	/* Leave all but five: the index goes at half the threshold. */
	for (i = 5; i < 100; i++) {
		rooms[i]->nmembers++; /* keep the room while it is empty */
		assert_int_equal(sv_reg_leave(r, c, rooms[i]), WSD_OK);
		assert_int_equal(sv_reg_leave(r, c, rooms[i]), WSD_ENOENT);
	}
	assert_null(c->rooms_ix);
	assert_int_equal(c->nrooms, 5);
	for (i = 0; i < 100; i++)
		assert_int_equal(sv_reg_is_member(c, rooms[i]), i < 5);
	for (i = 5; i < 100; i++)
		rooms[i]->nmembers--;
	sv_reg_conn_remove(r, c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_add_find, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_user_index, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_rejects, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_copies, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_room_get, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_room_drop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_join_leave, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_is_member, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_leave_frees_room, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_conn_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_worker_clear, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_user, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_info_freed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_room_user, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stress, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_addr_counts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_rooms_index, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
