/*
 * test_registry.c: unit tests of the supervisor's registry of
 * connections, users and rooms (supervisor/sv_registry.h).
 *
 * Covered: adding connections for several users and workers and finding
 * them by id; the user index (counts and lists) and the worker index;
 * duplicate ids and bad worker slots rejected with the registry unchanged;
 * joining and leaving rooms with the member count and the per-worker
 * counts kept right; sv_reg_conn_remove unlinking a connection from its
 * user, its rooms and its worker (a user goes with its last connection);
 * sv_reg_worker_clear removing exactly one worker's connections; room
 * sequence numbers 1, 2, 3... and the replay log keeping the last log_cap
 * entries through growth and wrap-around; sv_reg_room_sweep freeing only
 * empty rooms last used before the cutoff; and a stress run of 10,000
 * random operations checked after each step against a shadow model. Every
 * test ends with sv_registry_fini (in teardown), so LeakSanitizer checks
 * that the registry frees all it holds, including the replay payloads it
 * took over.
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
	sv_registry_init(r, 4);
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

/* Start over with another replay log size. */
static void
reinit(struct sv_registry *r, uint32_t log_cap)
{
	sv_registry_fini(r);
	sv_registry_init(r, log_cap);
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

/* A malloc'd copy of s, as sv_reg_room_append takes payloads over. */
static char *
payload(const char *s)
{
	char *p = strdup(s);

	assert_non_null(p);
	return p;
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

	reinit(r, 8);
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

	reinit(r, 0);
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

	reinit(r, 0);
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

	reinit(r, 0);
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

	reinit(r, 16);
	assert_null(room_find(r, "lobby"));
	a = room_of(r, "lobby");
	assert_non_null(a);
	assert_string_equal(a->name, "lobby");
	assert_int_equal(a->seq, 0);
	assert_int_equal(a->nmembers, 0);
	assert_ptr_equal(room_of(r, "lobby"), a);
	assert_ptr_equal(room_find(r, "lobby"), a);
	assert_null(room_find(r, "lob"));
	assert_null(room_find(r, "lobby2"));
	b = sv_reg_room_get(r, "lobby2-and-more", 6, 1);
	assert_non_null(b);
	assert_true(a != b);
	assert_string_equal(b->name, "lobby2");
	assert_ptr_equal(room_find(r, "lobby2"), b);
	assert_int_equal(sv_reg_room_on_worker(a, 0), 0);
	assert_int_equal(sv_reg_room_on_worker(a, SV_MAX_WORKERS - 1), 0);
	assert_null(sv_reg_room_log(a, 0));
	assert_null(sv_reg_room_log(a, 1));
}

static void
test_join_leave(void **state)
{
	struct sv_registry *r = *state;
	struct sv_conn *c1, *c2, *c3, *c4;
	struct sv_room *a, *b;

	reinit(r, 4);
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
}

static void
test_conn_remove(void **state)
{
	struct sv_registry *r = *state;
	struct sv_conn *c1, *c2, *c3;
	struct sv_room *a, *b, *c;
	struct sv_user *alice;

	reinit(r, 4);
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
	assert_int_equal(c->nmembers, 0);
	assert_true(TAILQ_EMPTY(&c->members));
	/* Rooms outlive their members (the sweep frees them). */
	assert_ptr_equal(room_find(r, "c"), c);

	/* alice's last connection takes the user with it. */
	sv_reg_conn_remove(r, c2);
	assert_null(user_find(r, "alice"));
	assert_int_equal(r->per_worker[1], 0);
	assert_true(TAILQ_EMPTY(&r->by_worker[1]));
	assert_int_equal(a->nmembers, 1);
	assert_int_equal(sv_reg_room_on_worker(a, 1), 0);

	/* The user comes back fresh with a new connection. */
	c1 = add(r, 1, 4, "alice");
	assert_non_null(c1);
	assert_int_equal(user_find(r, "alice")->nconns, 1);

	sv_reg_conn_remove(r, c3);
	assert_null(user_find(r, "bob"));
	assert_int_equal(a->nmembers, 0);
	assert_int_equal(b->nmembers, 0);
	assert_int_equal(r->nconns, 1);
}

static void
test_worker_clear(void **state)
{
	struct sv_registry *r = *state;
	struct sv_room *a;
	uint64_t id;

	reinit(r, 4);
	a = room_of(r, "a");
	/* 30 connections on workers 0..2 of users u0..u4. */
	for (id = 1; id <= 30; id++) {
		char user[8];
		struct sv_conn *c;

		snprintf(user, sizeof(user), "u%u", (unsigned)(id % 5));
		c = add(r, id, (int)(id % 3), user);
		assert_non_null(c);
		assert_int_equal(sv_reg_join(r, c, a), 0);
	}
	assert_int_equal(sv_reg_worker_clear(r, 1), 10);
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
	assert_int_equal(sv_reg_worker_clear(r, 1), 0);
	assert_int_equal(sv_reg_worker_clear(r, 7), 0);
	assert_int_equal(r->nconns, 20);
}

/* Every seq in [lo, hi] is in the log with its payload; the rest not. */
static void
assert_log_window(const struct sv_room *room, uint64_t lo, uint64_t hi)
{
	char want[32];
	uint64_t s;

	for (s = lo; s <= hi; s++) {
		const struct sv_logent *e = sv_reg_room_log(room, s);

		snprintf(want, sizeof(want), "msg-%llu", (unsigned long long)s);
		assert_non_null(e);
		assert_int_equal(e->seq, s);
		assert_int_equal(e->len, strlen(want));
		assert_memory_equal(e->payload, want, e->len);
	}
	if (lo > 0)
		assert_null(sv_reg_room_log(room, lo - 1));
	if (lo > 1)
		assert_null(sv_reg_room_log(room, 1));
	assert_null(sv_reg_room_log(room, 0));
	assert_null(sv_reg_room_log(room, hi + 1));
	assert_null(sv_reg_room_log(room, hi + 1000));
	assert_null(sv_reg_room_log(room, UINT64_MAX));
}

static uint64_t
append_n(struct sv_room *room, uint64_t seq)
{
	char text[32];

	snprintf(text, sizeof(text), "msg-%llu", (unsigned long long)seq);
	return sv_reg_room_append(room, payload(text), (uint32_t)strlen(text),
				  seq * 10);
}

static void
test_room_log(void **state)
{
	static const uint32_t caps[] = {1, 2, 3, 4, 5, 7, 8, 9, 64};
	struct sv_registry *r = *state;
	size_t k;

	for (k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
		uint32_t cap = caps[k];
		struct sv_room *room;
		uint64_t s;

		reinit(r, cap);
		room = room_of(r, "log");
		assert_null(sv_reg_room_log(room, 1));
		for (s = 1; s <= 5 * cap + 3; s++) {
			assert_int_equal(append_n(room, s), s);
			assert_int_equal(room->seq, s);
			assert_int_equal(room->last_used_ms, s * 10);
			assert_log_window(room, s > cap ? s - cap + 1 : 1, s);
		}
	}
}

/* The brief's example: seq 1, 2, 3, then wrap-around with cap 5. */
static void
test_room_append_seq(void **state)
{
	struct sv_registry *r = *state;
	struct sv_room *a, *b;
	const struct sv_logent *e;

	reinit(r, 5);
	a = room_of(r, "a");
	b = room_of(r, "b");
	assert_int_equal(sv_reg_room_append(a, payload("one"), 3, 100), 1);
	assert_int_equal(sv_reg_room_append(a, payload("two"), 3, 101), 2);
	assert_int_equal(sv_reg_room_append(b, payload("b-one"), 5, 102), 1);
	assert_int_equal(sv_reg_room_append(a, payload("three"), 5, 103), 3);
	e = sv_reg_room_log(a, 2);
	assert_non_null(e);
	assert_int_equal(e->len, 3);
	assert_memory_equal(e->payload, "two", 3);
	e = sv_reg_room_log(b, 1);
	assert_non_null(e);
	assert_memory_equal(e->payload, "b-one", 5);
	assert_null(sv_reg_room_log(b, 2));
	assert_null(sv_reg_room_log(a, 4));
	/* A payload may be shorter than its allocation (len is the text). */
	assert_int_equal(sv_reg_room_append(a, payload("four-and-junk"), 4, 5),
			 4);
	e = sv_reg_room_log(a, 4);
	assert_int_equal(e->len, 4);
	assert_memory_equal(e->payload, "four", 4);
}

/* With log_cap 0 rooms keep no log, but seq still counts. */
static void
test_room_no_log(void **state)
{
	struct sv_registry *r = *state;
	struct sv_room *a;
	uint64_t s;

	reinit(r, 0);
	a = room_of(r, "a");
	for (s = 1; s <= 10; s++) {
		assert_int_equal(sv_reg_room_append(a, payload("x"), 1, s), s);
		assert_null(sv_reg_room_log(a, s));
	}
	assert_null(sv_reg_room_log(a, 0));
}

static void
test_sweep(void **state)
{
	struct sv_registry *r = *state;
	struct sv_room *old_used, *new_used, *member, *never;
	struct sv_conn *c;

	reinit(r, 4);
	old_used = room_of(r, "old");
	new_used = room_of(r, "new");
	member = room_of(r, "member");
	never = room_of(r, "never");
	(void)never;
	sv_reg_room_append(old_used, payload("o"), 1, 100);
	sv_reg_room_append(new_used, payload("n"), 1, 5000);
	sv_reg_room_append(member, payload("m"), 1, 100);
	c = add_at(r, 1, 0, "alice", 100);
	assert_int_equal(sv_reg_join(r, c, member), 0);

	/* Cutoff 1000: "old" and "never" (never used: time 0) go. */
	assert_int_equal(sv_reg_room_sweep(r, 1000), 2);
	assert_null(room_find(r, "old"));
	assert_null(room_find(r, "never"));
	assert_ptr_equal(room_find(r, "new"), new_used);
	assert_ptr_equal(room_find(r, "member"), member);

	/* Used exactly at the cutoff is not before it. */
	assert_int_equal(sv_reg_room_sweep(r, 5000), 0);
	assert_ptr_equal(room_find(r, "new"), new_used);
	/* A room with members stays whatever its age. */
	assert_int_equal(sv_reg_room_sweep(r, UINT64_MAX), 1);
	assert_null(room_find(r, "new"));
	assert_ptr_equal(room_find(r, "member"), member);

	/* Once empty, and older than the cutoff, it goes too. */
	sv_reg_conn_remove(r, c);
	assert_int_equal(member->nmembers, 0);
	assert_int_equal(sv_reg_room_sweep(r, UINT64_MAX), 1);
	assert_null(room_find(r, "member"));
	assert_int_equal(sv_reg_room_sweep(r, UINT64_MAX), 0);
}

/*
 * A member leaving must not make a room look older than its last use.
 * Here a room is published to at 5000, and a member whose last_seen_ms is
 * 1000 (it connected then and has sent nothing since, like a pure
 * subscriber) unsubscribes, or disconnects. A sweep with cutoff 4000 must
 * keep the room: it was used after the cutoff, and freeing it loses its
 * seq and its replay log.
 */
static struct sv_conn *
idle_member_of_published_room(struct sv_registry *r, struct sv_room **room)
{
	struct sv_conn *c = add_at(r, 1, 0, "idle", 1000);

	assert_non_null(c);
	*room = room_of(r, "a");
	assert_int_equal(sv_reg_join(r, c, *room), 0);
	assert_int_equal(sv_reg_room_append(*room, payload("hello"), 5, 5000),
			 1);
	assert_int_equal((*room)->last_used_ms, 5000);
	/* Nothing is old enough to go before the member leaves. */
	assert_int_equal(sv_reg_room_sweep(r, 4000), 0);
	return c;
}

static void
test_sweep_after_leave(void **state)
{
	struct sv_registry *r = *state;
	struct sv_room *a;
	struct sv_conn *c;

	reinit(r, 4);
	c = idle_member_of_published_room(r, &a);
	assert_int_equal(sv_reg_leave(r, c, a), 0);
	assert_int_equal(sv_reg_room_sweep(r, 4000), 0);
	assert_ptr_equal(room_find(r, "a"), a);
	assert_true(a->last_used_ms >= 5000);
}

static void
test_sweep_after_remove(void **state)
{
	struct sv_registry *r = *state;
	struct sv_room *a;
	struct sv_conn *c;

	reinit(r, 4);
	c = idle_member_of_published_room(r, &a);
	sv_reg_conn_remove(r, c);
	assert_int_equal(sv_reg_room_sweep(r, 4000), 0);
	assert_ptr_equal(room_find(r, "a"), a);
	assert_true(a->last_used_ms >= 5000);
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
check_model(struct sv_registry *r, struct sv_room **rooms,
	    const struct shadow_conn *sc)
{
	uint32_t nconns = 0, per_worker[S_WORKERS] = {0};
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
		assert_non_null(u);
		assert_int_equal(u->nconns, per_user[i]);
		assert_int_equal(user_list_len(u), per_user[i]);
	}
	for (j = 0; j < S_ROOMS; j++) {
		assert_int_equal(rooms[j]->nmembers, members[j]);
		assert_int_equal(room_list_len(rooms[j]), members[j]);
		for (i = 0; i < S_WORKERS; i++)
			assert_int_equal(
			    sv_reg_room_on_worker(rooms[j], worker_slot(i)),
			    room_worker[j][i]);
	}
}

static void
test_stress(void **state)
{
	static struct shadow_conn sc[S_IDS];
	struct sv_room *rooms[S_ROOMS];
	struct sv_registry *r = *state;
	char name[16];
	int op, i, j;

	memset(sc, 0, sizeof(sc));
	reinit(r, 16);
	for (j = 0; j < S_ROOMS; j++) {
		name_of(name, sizeof(name), 'r', j);
		rooms[j] = room_of(r, name);
		assert_non_null(rooms[j]);
	}
	for (op = 0; op < 10000; op++) {
		uint32_t what = rnd(100);

		i = (int)rnd(S_IDS);
		j = (int)rnd(S_ROOMS);
		if (what < 30) {
			int w = (int)rnd(S_WORKERS), u = (int)rnd(S_USERS);
			struct sv_conn *c;

			name_of(name, sizeof(name), 'u', u);
			c = add(r, (uint64_t)i + 1, worker_slot(w), name);
			if (sc[i].alive) {
				assert_null(c);
			} else {
				assert_non_null(c);
				sc[i].alive = 1;
				sc[i].worker = w;
				sc[i].user = u;
				memset(sc[i].rooms, 0, sizeof(sc[i].rooms));
			}
		} else if (what < 65) {
			struct sv_conn *c =
			    sv_reg_conn_find(r, (uint64_t)i + 1);

			if (c == NULL)
				continue;
			assert_int_equal(sv_reg_join(r, c, rooms[j]),
					 sc[i].rooms[j] ? WSD_EEXIST : 0);
			sc[i].rooms[j] = 1;
		} else if (what < 80) {
			struct sv_conn *c =
			    sv_reg_conn_find(r, (uint64_t)i + 1);

			if (c == NULL)
				continue;
			assert_int_equal(sv_reg_leave(r, c, rooms[j]),
					 sc[i].rooms[j] ? 0 : WSD_ENOENT);
			sc[i].rooms[j] = 0;
		} else if (what < 97) {
			struct sv_conn *c =
			    sv_reg_conn_find(r, (uint64_t)i + 1);

			if (c == NULL) {
				assert_false(sc[i].alive);
				continue;
			}
			sv_reg_conn_remove(r, c);
			sc[i].alive = 0;
		} else if (what < 99) {
			uint32_t n = 0, want = 0;
			int w = (int)rnd(S_WORKERS), k;

			for (k = 0; k < S_IDS; k++) {
				if (sc[k].alive && sc[k].worker == w) {
					sc[k].alive = 0;
					want++;
				}
			}
			n = sv_reg_worker_clear(r, worker_slot(w));
			assert_int_equal(n, want);
		} else {
			uint64_t next = rooms[j]->seq + 1;

			assert_int_equal(
			    sv_reg_room_append(rooms[j], payload("p"), 1, 1),
			    next);
		}
		check_model(r, rooms, sc);
	}
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
	    cmocka_unit_test_setup_teardown(test_join_leave, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_conn_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_worker_clear, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_room_log, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_room_append_seq, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_room_no_log, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_after_leave, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_after_remove, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_stress, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
