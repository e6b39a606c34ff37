/*
 * test_mem.c: unit tests of the memory engine (supervisor/sv_mem.c),
 * called only through its interface (supervisor/sv_engine.h).
 *
 * Covered: publish stamps seq 1, 2, 3... per room and hands back the
 * client's message JSON; a room's epoch is 8 hex digits, stable while the
 * room lives and new once it is forgotten and made again; history with
 * SV_ENG_SINCE returns exactly the entries after since, oldest first,
 * with `recovered` right at every edge of the window (checked against a
 * model for several replay sizes, through the ring's growth and
 * wrap-around), and nothing for another epoch; the age bound
 * (replay_ttl_ms); the global byte budget (replay_max_bytes: never
 * exceeded, the largest log loses its oldest entries first, evictions
 * counted, an entry over the budget sent but not kept); max_rooms (a new
 * room past it is WSD_EFULL and counted, existing rooms still work);
 * set_limits trimming at once; presence counts per user and the listing;
 * detached sessions (put, take with the right and a wrong nonce, unknown,
 * expired, the sessions_max bound, revoke, listing with a user filter and
 * a limit, expiry by the sweep); and the sweep forgetting idle rooms
 * unless they have a log, presence or in_use says so.
 *
 * The engine reads the time with gettimeofday (wall_ms in
 * proto/clock.h). This file defines gettimeofday itself, so the engine
 * linked into this test sees a clock the test sets: ages and expiries
 * are exact and nothing sleeps. Teardown closes the engine, so
 * LeakSanitizer checks that it frees every room, entry and session.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <cmocka.h>

#include "../../proto/err.h"
#include "../../supervisor/sv_engine.h"

#define T0 1700000000000ull
#define MAX_ENTRIES 64

static uint64_t now_ms = T0;

/* The clock of everything in this process, the engine included. */
int
gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	(void)tz;
	tv->tv_sec = (time_t)(now_ms / 1000);
	tv->tv_usec = (suseconds_t)(now_ms % 1000) * 1000;
	return 0;
}

static const struct sv_eng_limits default_limits = {
    .replay_size = 100,
    .replay_ttl_ms = 60000,
    .replay_max_bytes = 1u << 20,
    .max_rooms = 1000,
    .sessions_max = 100,
    .sessions_max_bytes = 1u << 30,
};

static int
setup(void **state)
{
	struct sv_engine *e = calloc(1, sizeof(*e));

	if (e == NULL || sv_mem_open(e, &default_limits) != WSD_OK)
		return -1;
	now_ms = T0;
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct sv_engine *e = *state;

	e->ops->close(e);
	assert_null(e->impl);
	free(e);
	return 0;
}

/* Start over with other limits. */
static void
reopen(struct sv_engine *e, const struct sv_eng_limits *l)
{
	e->ops->close(e);
	assert_int_equal(sv_mem_open(e, l), WSD_OK);
}

/* ------------------------------------------------------------------ */
/* Publish. */

struct pub_out {
	int called, rc;
	uint64_t seq;
	uint32_t len;
	char text[4096];
	char epoch[SV_EPOCH_LEN + 1];
};

static void
on_pub(void *arg, int rc, uint64_t seq, int sends)
{
	struct pub_out *o = arg;

	o->called++;
	o->rc = rc;
	if (rc != WSD_OK) {
		assert_int_equal(seq, 0);
		return;
	}
	assert_int_equal(seq, o->seq); /* delivered before completed */
	assert_int_equal(sends, 0);
}

/* The memory engine delivers within publish: what it delivered. */
static int
on_deliver(void *arg, const struct sv_eng_delivery *d)
{
	struct pub_out *o = arg;

	assert_non_null(d->e);
	assert_true(d->e->len < sizeof(o->text));
	o->seq = d->e->seq;
	o->len = d->e->len;
	memcpy(o->text, d->e->text, d->e->len);
	o->text[d->e->len] = '\0';
	return 0;
}

static void
on_pub_epoch(void *arg, const struct sv_eng_hist *h)
{
	struct pub_out *o = arg;

	assert_int_equal(h->rc, WSD_OK);
	assert_int_equal(strlen(h->epoch), SV_EPOCH_LEN);
	strcpy(o->epoch, h->epoch);
}

/* Publish data (JSON text) to room as from, with an id and a trace, or
 * NULL. */
static struct pub_out
publish_traced(struct sv_engine *e, const char *room, const char *from,
	       const char *data, const char *id, const char *trace)
{
	struct sv_eng_pub p = {room,  strlen(room), from, strlen(from),
			       data,  strlen(data), id,	  id ? strlen(id) : 0,
			       trace, NULL,	    0,	  0,
			       0};
	struct pub_out o;

	memset(&o, 0, sizeof(o));
	e->deliver = on_deliver;
	e->deliver_arg = &o;
	e->ops->publish(e, &p, on_pub, &o);
	e->deliver = NULL;
	assert_int_equal(o.called, 1);
	if (o.rc == WSD_OK)
		e->ops->history(e, room, strlen(room), 0, NULL, 0, on_pub_epoch,
				&o);
	return o;
}

static struct pub_out
publish_id(struct sv_engine *e, const char *room, const char *from,
	   const char *data, const char *id)
{
	return publish_traced(e, room, from, data, id, NULL);
}

static struct pub_out
publish(struct sv_engine *e, const char *room, const char *data)
{
	return publish_id(e, room, "u", data, NULL);
}

/* Publish and expect seq. */
static void
publish_seq(struct sv_engine *e, const char *room, const char *data,
	    uint64_t seq)
{
	struct pub_out o = publish(e, room, data);

	assert_int_equal(o.rc, WSD_OK);
	assert_int_equal(o.seq, seq);
}

/* A JSON string of exactly n bytes: '"', n - 2 x's, '"'. */
static char *
json_of_len(size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	assert_true(n >= 2);
	memset(s, 'x', n);
	s[0] = s[n - 1] = '"';
	s[n] = '\0';
	return s;
}

/* ------------------------------------------------------------------ */
/* History. */

struct hist_out {
	int called, rc;
	uint64_t seq;
	char epoch[SV_EPOCH_LEN + 1];
	int recovered;
	uint32_t n;
	uint64_t seqs[MAX_ENTRIES];
};

/* "\"seq\":N," appears in text[0..len). */
static int
text_has_seq(const char *text, uint32_t len, uint64_t seq)
{
	char want[40], *copy = malloc(len + 1);
	int found;

	assert_non_null(copy);
	memcpy(copy, text, len);
	copy[len] = '\0';
	snprintf(want, sizeof(want), "\"seq\":%llu,", (unsigned long long)seq);
	found = strstr(copy, want) != NULL;
	free(copy);
	return found;
}

static void
on_hist(void *arg, const struct sv_eng_hist *h)
{
	struct hist_out *o = arg;
	uint32_t i;

	o->called++;
	o->rc = h->rc;
	if (h->rc != WSD_OK)
		return;
	o->seq = h->seq;
	assert_non_null(h->epoch);
	assert_int_equal(strlen(h->epoch), SV_EPOCH_LEN);
	strcpy(o->epoch, h->epoch);
	o->recovered = h->recovered;
	o->n = h->n;
	assert_true(h->n <= MAX_ENTRIES);
	for (i = 0; i < h->n; i++) {
		const struct sv_eng_entry *en = h->entry(h, i);

		o->seqs[i] = en->seq;
		assert_true(text_has_seq(en->text, en->len, en->seq));
	}
}

static struct hist_out
history(struct sv_engine *e, const char *room, uint64_t since,
	const char *epoch, unsigned flags)
{
	struct hist_out o;

	memset(&o, 0, sizeof(o));
	e->ops->history(e, room, strlen(room), since, epoch, flags, on_hist,
			&o);
	assert_int_equal(o.called, 1);
	return o;
}

static struct hist_out
since(struct sv_engine *e, const char *room, uint64_t s)
{
	return history(e, room, s, NULL, SV_ENG_SINCE);
}

/* h holds exactly the seqs lo..hi (none when lo > hi). */
static void
assert_entries(const struct hist_out *h, uint64_t lo, uint64_t hi)
{
	uint32_t i;

	assert_int_equal(h->n, lo > hi ? 0 : hi - lo + 1);
	for (i = 0; i < h->n; i++)
		assert_int_equal(h->seqs[i], lo + i);
}

/* ------------------------------------------------------------------ */
/* Stats and room listings. */

static struct sv_eng_stats
stats(struct sv_engine *e)
{
	struct sv_eng_stats s;

	memset(&s, 0xa5, sizeof(s));
	e->ops->stats(e, &s);
	return s;
}

struct room_out {
	int n;
	uint64_t seq;
	uint32_t log_len, present;
	uint64_t log_bytes;
	uint64_t sum_bytes; /* over every room listed */
	char epoch[SV_EPOCH_LEN + 1];
};

static void
on_room(void *arg, const struct sv_eng_room *r)
{
	struct room_out *o = arg;

	o->n++;
	o->seq = r->seq;
	o->log_len = r->log_len;
	o->log_bytes = r->log_bytes;
	o->present = r->present;
	o->sum_bytes += r->log_bytes;
	strcpy(o->epoch, r->epoch);
}

/* What the listing says of room (o.n is 0 when there is none). */
static struct room_out
room_info(struct sv_engine *e, const char *room)
{
	struct room_out o;

	memset(&o, 0, sizeof(o));
	e->ops->rooms(e, room, 1, on_room, &o);
	assert_true(o.n <= 1);
	return o;
}

static int
room_exists(struct sv_engine *e, const char *room)
{
	return room_info(e, room).n == 1;
}

static int
is_epoch(const char *s)
{
	size_t i;

	if (strlen(s) != SV_EPOCH_LEN)
		return 0;
	for (i = 0; i < SV_EPOCH_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* ------------------------------------------------------------------ */

static void
test_publish_seq(void **state)
{
	struct sv_engine *e = *state;
	struct pub_out o;
	struct hist_out h;
	char epoch[SV_EPOCH_LEN + 1];
	uint64_t bytes = 0;

	o = publish_id(e, "a", "alice", "{\"x\":1}", NULL);
	assert_int_equal(o.rc, WSD_OK);
	assert_int_equal(o.seq, 1);
	assert_string_equal(o.text, "{\"type\":\"message\",\"room\":\"a\","
				    "\"seq\":1,\"from\":\"alice\","
				    "\"data\":{\"x\":1}}");
	assert_int_equal(o.len, strlen(o.text));
	assert_true(is_epoch(o.epoch));
	strcpy(epoch, o.epoch);
	bytes += o.len;

	o = publish_id(e, "a", "bob", "[1,2]", "m-2");
	assert_int_equal(o.seq, 2);
	assert_string_equal(o.text, "{\"type\":\"message\",\"room\":\"a\","
				    "\"seq\":2,\"from\":\"bob\","
				    "\"data\":[1,2],\"id\":\"m-2\"}");
	assert_string_equal(o.epoch, epoch);
	bytes += o.len;

	/* Another room counts on its own. */
	o = publish_id(e, "b", "alice", "\"hi\"", NULL);
	assert_int_equal(o.seq, 1);
	assert_true(is_epoch(o.epoch));
	bytes += o.len;
	o = publish_id(e, "a", "alice", "null", NULL);
	assert_int_equal(o.seq, 3);
	assert_string_equal(o.epoch, epoch);
	bytes += o.len;

	h = history(e, "a", 0, NULL, 0);
	assert_int_equal(h.rc, WSD_OK);
	assert_int_equal(h.seq, 3);
	assert_string_equal(h.epoch, epoch);
	assert_int_equal(h.n, 0);
	assert_int_equal(stats(e).rooms, 2);
	assert_int_equal(stats(e).replay_entries, 4);
	assert_int_equal(stats(e).replay_bytes, bytes);
	assert_int_equal(room_info(e, "a").log_len, 3);
	assert_int_equal(room_info(e, "a").seq, 3);
	assert_string_equal(room_info(e, "a").epoch, epoch);
}

/* Strings in the message are JSON-escaped; data goes in as it is. */
static void
test_publish_escapes(void **state)
{
	struct sv_engine *e = *state;
	struct pub_out o;

	o = publish_id(e, "r\"1", "a\\b", "{\"k\":\"\\n\"}", "i\"d");
	assert_int_equal(o.rc, WSD_OK);
	assert_string_equal(o.text, "{\"type\":\"message\",\"room\":\"r\\\"1\","
				    "\"seq\":1,\"from\":\"a\\\\b\","
				    "\"data\":{\"k\":\"\\n\"},"
				    "\"id\":\"i\\\"d\"}");
}

/* Forget every idle room with no log and no presence. */
static void
sweep(struct sv_engine *e)
{
	e->ops->sweep(e, now_ms, 0, NULL, NULL);
}

static void
test_epoch_lifecycle(void **state)
{
	struct sv_eng_limits l = default_limits;
	struct sv_engine *e = *state;
	char e1[SV_EPOCH_LEN + 1];
	struct pub_out o;
	struct hist_out h;

	l.replay_ttl_ms = 1000;
	reopen(e, &l);
	o = publish(e, "a", "1");
	strcpy(e1, o.epoch);
	now_ms += 500;
	publish_seq(e, "a", "2", 2);
	/* Swept with its log: it stays, with its epoch. */
	now_ms += 600;
	sweep(e);
	assert_true(room_exists(e, "a"));
	assert_string_equal(history(e, "a", 0, NULL, 0).epoch, e1);
	publish_seq(e, "a", "3", 3);
	assert_string_equal(publish(e, "a", "4").epoch, e1);

	/* Its entries expire; idle since then, the sweep forgets it. */
	now_ms += 1001;
	sweep(e);
	assert_false(room_exists(e, "a"));
	assert_int_equal(stats(e).rooms, 0);
	assert_int_equal(stats(e).replay_entries, 0);

	/* Made again: seq from 1, another epoch. */
	o = publish(e, "a", "5");
	assert_int_equal(o.seq, 1);
	assert_true(is_epoch(o.epoch));
	assert_string_not_equal(o.epoch, e1);
	/* A client of the old epoch recovers nothing, whatever its seq. */
	h = history(e, "a", 0, e1, SV_ENG_SINCE);
	assert_int_equal(h.seq, 1);
	assert_false(h.recovered);
	assert_int_equal(h.n, 0);
	h = history(e, "a", 1, e1, SV_ENG_SINCE);
	assert_false(h.recovered);
	assert_int_equal(h.n, 0);
}

/* A sweep keeps a room used at this very ms (idle 0: "no use since"). */
static void
test_sweep_idle(void **state)
{
	struct sv_eng_limits l = default_limits;
	struct sv_engine *e = *state;
	struct hist_out h;

	l.replay_size = 0; /* rooms have no log */
	reopen(e, &l);
	publish_seq(e, "a", "1", 1);
	assert_int_equal(room_info(e, "a").log_len, 0);
	sweep(e);
	assert_true(room_exists(e, "a"));
	e->ops->sweep(e, now_ms + 999, 1000, NULL, NULL);
	assert_true(room_exists(e, "a"));
	e->ops->sweep(e, now_ms + 1001, 1000, NULL, NULL);
	assert_false(room_exists(e, "a"));

	/* History with CREATE makes a room of seq 0; it is idle too. */
	h = history(e, "b", 0, NULL, SV_ENG_CREATE | SV_ENG_SINCE);
	assert_int_equal(h.rc, WSD_OK);
	assert_int_equal(h.seq, 0);
	assert_true(h.recovered);
	assert_true(is_epoch(h.epoch));
	assert_true(room_exists(e, "b"));
	now_ms++;
	sweep(e);
	assert_false(room_exists(e, "b"));
}

static int
in_use_alice(void *arg, const char *room)
{
	int *calls = arg;

	(*calls)++;
	return strcmp(room, "user:alice") == 0;
}

static void
test_sweep_in_use(void **state)
{
	struct sv_eng_limits l = default_limits;
	struct sv_engine *e = *state;
	char epoch[SV_EPOCH_LEN + 1];
	int calls = 0;

	l.replay_size = 0;
	reopen(e, &l);
	strcpy(epoch, publish(e, "user:alice", "1").epoch);
	publish_seq(e, "user:bob", "1", 1);
	now_ms += 10;
	e->ops->sweep(e, now_ms, 0, in_use_alice, &calls);
	assert_int_equal(calls, 2);
	assert_true(room_exists(e, "user:alice"));
	assert_false(room_exists(e, "user:bob"));
	/* Kept, it counts as used now. */
	e->ops->sweep(e, now_ms, 0, NULL, NULL);
	assert_true(room_exists(e, "user:alice"));
	publish_seq(e, "user:alice", "2", 2);
	assert_string_equal(publish(e, "user:alice", "3").epoch, epoch);
	/* A room with a log is kept without asking. */
	reopen(e, &default_limits);
	publish_seq(e, "user:carol", "1", 1);
	now_ms += 10;
	calls = 0;
	e->ops->sweep(e, now_ms, 0, in_use_alice, &calls);
	assert_int_equal(calls, 0);
	assert_true(room_exists(e, "user:carol"));
}

/* The model of a room's window: seqs first..seq are in the log. */
static void
check_window(struct sv_engine *e, const char *room, uint64_t seq,
	     uint64_t first)
{
	uint64_t s;

	for (s = 0; s <= seq + 2; s++) {
		struct hist_out h = since(e, room, s);
		int recovered = s >= seq ? s == seq : s + 1 >= first;
		uint64_t lo = s + 1 > first ? s + 1 : first;

		assert_int_equal(h.rc, WSD_OK);
		assert_int_equal(h.seq, seq);
		assert_int_equal(h.recovered, recovered);
		if (s >= seq)
			assert_int_equal(h.n, 0);
		else
			assert_entries(&h, lo, seq);
	}
}

/* Every since, against the model, through growth and wrap-around. */
static void
test_history_window(void **state)
{
	static const uint64_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 17};
	struct sv_engine *e = *state;
	size_t k;

	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct sv_eng_limits l = default_limits;
		uint64_t s, size = sizes[k];

		l.replay_size = size;
		reopen(e, &l);
		assert_int_equal(history(e, "w", 0, NULL, SV_ENG_CREATE).rc,
				 WSD_OK);
		check_window(e, "w", 0, 1);
		for (s = 1; s <= 3 * size + 2; s++) {
			publish_seq(e, "w", "{}", s);
			check_window(e, "w", s, s > size ? s - size + 1 : 1);
			assert_int_equal(stats(e).replay_entries,
					 s < size ? s : size);
		}
	}
}

/* The cases the brief names, spelled out: window 4..8 of size 5. */
static void
test_history_since(void **state)
{
	struct sv_eng_limits l = default_limits;
	struct sv_engine *e = *state;
	char epoch[SV_EPOCH_LEN + 1];
	struct hist_out h;
	uint64_t s;

	l.replay_size = 5;
	reopen(e, &l);
	for (s = 1; s <= 8; s++)
		publish_seq(e, "r", "{}", s);
	strcpy(epoch, since(e, "r", 0).epoch);

	h = since(e, "r", 8);
	assert_true(h.recovered);
	assert_entries(&h, 1, 0);
	h = since(e, "r", 7);
	assert_true(h.recovered);
	assert_entries(&h, 8, 8);
	h = since(e, "r", 3); /* the oldest kept is 4: all after 3 */
	assert_true(h.recovered);
	assert_entries(&h, 4, 8);
	h = since(e, "r", 2); /* 3 is gone */
	assert_false(h.recovered);
	assert_entries(&h, 4, 8);
	h = since(e, "r", 0);
	assert_false(h.recovered);
	assert_entries(&h, 4, 8);
	h = since(e, "r", 9); /* beyond the room's seq */
	assert_false(h.recovered);
	assert_int_equal(h.n, 0);
	assert_int_equal(h.seq, 8);
	h = since(e, "r", UINT64_MAX);
	assert_false(h.recovered);
	assert_int_equal(h.n, 0);

	/* The room's own epoch, or none (""), read the log. */
	h = history(e, "r", 5, epoch, SV_ENG_SINCE);
	assert_true(h.recovered);
	assert_entries(&h, 6, 8);
	h = history(e, "r", 5, "", SV_ENG_SINCE);
	assert_true(h.recovered);
	assert_entries(&h, 6, 8);
	/* Another epoch: the seq and epoch, no entries, not recovered. */
	epoch[0] = epoch[0] == '0' ? '1' : '0';
	h = history(e, "r", 5, epoch, SV_ENG_SINCE);
	assert_int_equal(h.rc, WSD_OK);
	assert_int_equal(h.seq, 8);
	assert_string_not_equal(h.epoch, epoch);
	assert_false(h.recovered);
	assert_int_equal(h.n, 0);
	/* Without SINCE: no entries, whatever since says. */
	h = history(e, "r", 5, NULL, 0);
	assert_int_equal(h.seq, 8);
	assert_false(h.recovered);
	assert_int_equal(h.n, 0);
	/* A room with no history: ENOENT, unless CREATE. */
	h = since(e, "nope", 0);
	assert_int_equal(h.rc, WSD_ENOENT);
	assert_false(room_exists(e, "nope"));
	/* Reading does not make entries go: the window is as it was. */
	h = since(e, "r", 3);
	assert_entries(&h, 4, 8);
}

static void
test_ttl(void **state)
{
	struct sv_eng_limits l = default_limits;
	struct sv_engine *e = *state;
	struct hist_out h;

	l.replay_ttl_ms = 1000;
	reopen(e, &l);
	publish_seq(e, "t", "1", 1); /* at T0 */
	now_ms += 500;
	publish_seq(e, "t", "2", 2); /* at T0 + 500 */
	now_ms += 500;
	publish_seq(e, "t", "3", 3); /* at T0 + 1000 */

	/* Exactly ttl old is not older than it. */
	h = since(e, "t", 0);
	assert_true(h.recovered);
	assert_entries(&h, 1, 3);
	now_ms = T0 + 1001;
	h = since(e, "t", 0);
	assert_false(h.recovered);
	assert_entries(&h, 2, 3);
	h = since(e, "t", 1);
	assert_true(h.recovered);
	assert_entries(&h, 2, 3);
	assert_int_equal(stats(e).replay_entries, 2);

	now_ms = T0 + 1501;
	h = since(e, "t", 1);
	assert_false(h.recovered);
	assert_entries(&h, 3, 3);

	now_ms = T0 + 2001;
	h = since(e, "t", 2);
	assert_false(h.recovered);
	assert_int_equal(h.n, 0);
	h = since(e, "t", 3);
	assert_true(h.recovered);
	assert_int_equal(h.seq, 3);
	assert_int_equal(stats(e).replay_entries, 0);
	assert_int_equal(stats(e).replay_bytes, 0);

	/* A publish trims its room's old entries first. */
	publish_seq(e, "u", "1", 1);
	now_ms += 1001;
	publish_seq(e, "u", "2", 2);
	assert_int_equal(stats(e).replay_entries, 1);
	assert_int_equal(room_info(e, "u").log_len, 1);
	/* And the sweep trims every room. */
	publish_seq(e, "v", "1", 1);
	now_ms += 1001;
	e->ops->sweep(e, now_ms, 1000000, NULL, NULL);
	assert_int_equal(stats(e).replay_entries, 0);
	assert_true(room_exists(e, "v"));
	assert_int_equal(room_info(e, "v").seq, 1);
}

/* The byte budget, its eviction order and its counting. */

/* Publish an entry of exactly len bytes to room (a 3-letter name, seqs
 * under 10). base is the length of such an entry's text but its data. */
static void
publish_len(struct sv_engine *e, const char *room, size_t len, size_t base,
	    uint64_t seq)
{
	char *data = json_of_len(len - base);
	struct pub_out o = publish(e, room, data);

	assert_int_equal(o.rc, WSD_OK);
	assert_int_equal(o.seq, seq);
	assert_int_equal(o.len, len);
	free(data);
}

/* The text length of a message to a 3-letter room but its data. */
static size_t
base_len(void)
{
	return strlen("{\"type\":\"message\",\"room\":\"xxx\",\"seq\":1,"
		      "\"from\":\"u\",\"data\":}");
}

static void
test_budget_largest_first(void **state)
{
	enum { L = 100 };
	struct sv_eng_limits l = default_limits;
	struct sv_engine *e = *state;
	size_t base = base_len();
	struct hist_out h;
	uint64_t s;

	l.replay_max_bytes = 10 * L;
	reopen(e, &l);
	for (s = 1; s <= 6; s++)
		publish_len(e, "big", L, base, s);
	for (s = 1; s <= 3; s++)
		publish_len(e, "sml", L, base, s);
	assert_int_equal(stats(e).replay_bytes, 9 * L);
	assert_int_equal(stats(e).replay_evictions, 0);

	/* 11L: big (6L) is the largest and loses its oldest. */
	publish_len(e, "sml", 2 * L, base, 4);
	assert_int_equal(stats(e).replay_bytes, 10 * L);
	assert_int_equal(stats(e).replay_evictions, 1);
	h = since(e, "big", 0);
	assert_false(h.recovered);
	assert_entries(&h, 2, 6);
	h = since(e, "sml", 0);
	assert_true(h.recovered);
	assert_entries(&h, 1, 4);

	/* 13L: now sml (8L) is the largest; it loses three entries until
	 * the total is back to 10L, and big keeps all it has. */
	publish_len(e, "sml", 3 * L, base, 5);
	assert_int_equal(stats(e).replay_bytes, 10 * L);
	assert_int_equal(stats(e).replay_evictions, 4);
	h = since(e, "sml", 0);
	assert_entries(&h, 4, 5);
	assert_int_equal(room_info(e, "sml").log_bytes, 5 * L);
	h = since(e, "big", 1);
	assert_true(h.recovered);
	assert_entries(&h, 2, 6);
	assert_int_equal(room_info(e, "big").log_bytes, 5 * L);
	assert_int_equal(stats(e).replay_entries, 7);
}

/* An entry over the whole budget is sent, not kept, and its room's log
 * is emptied (a log holds consecutive seqs). */
static void
test_budget_too_big(void **state)
{
	enum { L = 100 };
	struct sv_eng_limits l = default_limits;
	struct sv_engine *e = *state;
	size_t base = base_len();
	struct hist_out h;
	char *data;
	struct pub_out o;

	l.replay_max_bytes = 10 * L;
	reopen(e, &l);
	publish_len(e, "aaa", L, base, 1);
	publish_len(e, "bbb", L, base, 1);
	publish_len(e, "bbb", L, base, 2);
	data = json_of_len(10 * L + 1 - base);
	o = publish(e, "bbb", data);
	assert_int_equal(o.rc, WSD_OK);
	assert_int_equal(o.seq, 3);
	assert_int_equal(o.len, 10 * L + 1);
	assert_memory_equal(o.text + o.len - 3, "x\"}", 3);
	free(data);
	assert_int_equal(room_info(e, "bbb").log_len, 0);
	assert_int_equal(stats(e).replay_bytes, L);
	h = since(e, "bbb", 2);
	assert_false(h.recovered);
	assert_int_equal(h.n, 0);
	h = since(e, "bbb", 3);
	assert_true(h.recovered);
	/* The next one is kept again, seq 4. */
	publish_len(e, "bbb", L, base, 4);
	h = since(e, "bbb", 3);
	assert_true(h.recovered);
	assert_entries(&h, 4, 4);

	/* Exactly the budget fits, alone; then, the largest log, it is
	 * the one to go for the next entry elsewhere. */
	reopen(e, &l);
	data = json_of_len(10 * L - base);
	o = publish(e, "aaa", data);
	free(data);
	assert_int_equal(o.rc, WSD_OK);
	assert_int_equal(stats(e).replay_bytes, 10 * L);
	assert_int_equal(room_info(e, "aaa").log_len, 1);
	publish_len(e, "bbb", L, base, 1);
	assert_int_equal(stats(e).replay_bytes, L);
	assert_int_equal(room_info(e, "aaa").log_len, 0);
	assert_int_equal(room_info(e, "bbb").log_len, 1);
	assert_int_equal(stats(e).replay_evictions, 1);
}

/* The new entry's room is the largest with only that entry: the budget
 * takes the entry itself, and the publish still completes with it. */
static void
test_budget_takes_new_entry(void **state)
{
	enum { L = 100 };
	struct sv_eng_limits l = default_limits;
	struct sv_engine *e = *state;
	size_t base = base_len();
	struct pub_out o;
	char *data;
	uint64_t s;

	l.replay_max_bytes = 10 * L;
	reopen(e, &l);
	for (s = 1; s <= 3; s++) {
		publish_len(e, "ppp", L, base, s);
		publish_len(e, "qqq", L, base, s);
		publish_len(e, "rrr", L, base, s);
	}
	data = json_of_len(4 * L - base);
	o = publish(e, "sss", data);
	free(data);
	assert_int_equal(o.rc, WSD_OK);
	assert_int_equal(o.seq, 1);
	assert_int_equal(o.len, 4 * L);
	assert_memory_equal(o.text, "{\"type\":\"message\",\"room\":\"sss\"",
			    30);
	assert_int_equal(stats(e).replay_evictions, 1);
	assert_int_equal(stats(e).replay_bytes, 9 * L);
	assert_int_equal(room_info(e, "sss").log_len, 0);
	assert_int_equal(room_info(e, "ppp").log_len, 3);
	publish_len(e, "sss", L, base, 2);
}

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint32_t
rnd(uint32_t n)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 0x9e3779b97f4a7c15ull) >> 33) % n;
}

struct sum {
	uint64_t bytes;
	uint64_t entries;
	int rooms;
};

static void
on_room_sum(void *arg, const struct sv_eng_room *r)
{
	struct sum *s = arg;

	s->bytes += r->log_bytes;
	s->entries += r->log_len;
	s->rooms++;
}

/* Random publishes: the budget holds after each, and adds up. */
static void
test_budget_random(void **state)
{
	struct sv_eng_limits l = default_limits;
	struct sv_engine *e = *state;
	uint64_t published = 0;
	int i;

	l.replay_max_bytes = 5000;
	l.replay_size = 1000;
	reopen(e, &l);
	for (i = 0; i < 2000; i++) {
		char room[8], *data;
		struct sv_eng_stats st;
		struct sum sum = {0, 0, 0};
		struct pub_out o;

		snprintf(room, sizeof(room), "r%u", rnd(7));
		data = json_of_len(2 + rnd(i % 50 == 0 ? 900 : 200));
		o = publish(e, room, data);
		free(data);
		assert_int_equal(o.rc, WSD_OK);
		published++;
		st = stats(e);
		assert_true(st.replay_bytes <= l.replay_max_bytes);
		/* Every entry is in a log or was evicted (none is over the
		 * budget or the size here). */
		assert_int_equal(st.replay_entries + st.replay_evictions,
				 published);
		e->ops->rooms(e, NULL, 100, on_room_sum, &sum);
		assert_int_equal(sum.bytes, st.replay_bytes);
		assert_int_equal(sum.entries, st.replay_entries);
		assert_int_equal(sum.rooms, st.rooms);
	}
	assert_true(stats(e).replay_evictions > 100);
}

static void
test_max_rooms(void **state)
{
	struct sv_eng_limits l = default_limits;
	struct sv_engine *e = *state;
	struct pub_out o;
	struct hist_out h;

	l.max_rooms = 2;
	reopen(e, &l);
	publish_seq(e, "a", "1", 1);
	assert_int_equal(e->ops->presence_add(e, "b", 1, "alice", NULL), 1);
	assert_int_equal(stats(e).room_limit_hits, 0);

	o = publish(e, "c", "1");
	assert_int_equal(o.rc, WSD_EFULL);
	assert_int_equal(stats(e).room_limit_hits, 1);
	assert_int_equal(e->ops->presence_add(e, "c", 1, "alice", NULL),
			 WSD_EFULL);
	assert_int_equal(stats(e).room_limit_hits, 2);
	h = history(e, "c", 0, NULL, SV_ENG_CREATE);
	assert_int_equal(h.rc, WSD_EFULL);
	assert_int_equal(stats(e).room_limit_hits, 3);
	/* Reading a missing room without CREATE is no hit. */
	assert_int_equal(since(e, "c", 0).rc, WSD_ENOENT);
	assert_int_equal(stats(e).room_limit_hits, 3);
	assert_false(room_exists(e, "c"));
	assert_int_equal(stats(e).rooms, 2);

	/* The rooms there still work. */
	publish_seq(e, "a", "2", 2);
	publish_seq(e, "b", "1", 1);
	assert_int_equal(e->ops->presence_add(e, "a", 1, "bob", NULL), 1);
	assert_int_equal(e->ops->presence_add(e, "b", 1, "alice", NULL), 2);
	assert_int_equal(since(e, "a", 0).n, 2);
	assert_int_equal(stats(e).room_limit_hits, 3);

	/* Once one is forgotten there is room for c. */
	reopen(e, &l);
	assert_int_equal(e->ops->presence_add(e, "a", 1, "alice", NULL), 1);
	assert_int_equal(e->ops->presence_add(e, "b", 1, "alice", NULL), 1);
	assert_int_equal(publish(e, "c", "1").rc, WSD_EFULL);
	assert_int_equal(e->ops->presence_remove(e, "b", 1, "alice"), 0);
	now_ms++;
	sweep(e);
	assert_false(room_exists(e, "b"));
	publish_seq(e, "c", "1", 1);
}

static void
test_set_limits(void **state)
{
	struct sv_eng_limits l = default_limits;
	struct sv_engine *e = *state;
	struct hist_out h;
	uint64_t s;

	for (s = 1; s <= 10; s++) {
		publish_seq(e, "a", "{}", s);
		publish_seq(e, "b", "{\"pad\":\"xxxxxxxxxxxxxxxxxxxxx\"}", s);
	}
	assert_int_equal(stats(e).replay_entries, 20);

	/* A smaller size: each log down to it at once. */
	l.replay_size = 4;
	e->ops->set_limits(e, &l);
	assert_int_equal(stats(e).replay_entries, 8);
	assert_int_equal(room_info(e, "a").log_len, 4);
	h = since(e, "a", 6);
	assert_true(h.recovered);
	assert_entries(&h, 7, 10);
	assert_false(since(e, "a", 5).recovered);

	/* A smaller budget: under it at once, the largest log first. */
	l.replay_max_bytes = stats(e).replay_bytes - 1;
	e->ops->set_limits(e, &l);
	assert_true(stats(e).replay_bytes <= l.replay_max_bytes);
	assert_int_equal(stats(e).replay_evictions, 1);
	assert_int_equal(room_info(e, "b").log_len, 3);
	assert_int_equal(room_info(e, "a").log_len, 4);
	l.replay_max_bytes = 0;
	e->ops->set_limits(e, &l);
	assert_int_equal(stats(e).replay_bytes, 0);
	assert_int_equal(stats(e).replay_entries, 0);
	assert_int_equal(stats(e).replay_evictions, 8);

	/* A shorter ttl: entries older than it go at once. */
	l = default_limits;
	e->ops->set_limits(e, &l);
	publish_seq(e, "a", "{}", 11);
	now_ms += 100;
	publish_seq(e, "a", "{}", 12);
	now_ms += 100;
	l.replay_ttl_ms = 150;
	e->ops->set_limits(e, &l);
	assert_int_equal(stats(e).replay_entries, 1);
	assert_int_equal(room_info(e, "a").log_len, 1);
}

/*
 * A lowered replay_size bounds every log at once and after, also a log
 * whose ring had grown past the new size (a regression: log_make_room
 * once asked only whether the ring was full, and left 5 entries of a
 * log cut from 100 to 4, and one with 0).
 */
static void
test_lowered_size_holds(void **state)
{
	struct sv_eng_limits l = default_limits;
	struct sv_engine *e = *state;
	uint64_t s;

	for (s = 1; s <= 8; s++)
		publish_seq(e, "a", "{}", s);
	l.replay_size = 4;
	e->ops->set_limits(e, &l);
	for (s = 9; s <= 12; s++) {
		publish_seq(e, "a", "{}", s);
		assert_int_equal(room_info(e, "a").log_len, 4);
		assert_int_equal(stats(e).replay_entries, 4);
	}
	l.replay_size = 0;
	e->ops->set_limits(e, &l);
	publish_seq(e, "a", "{}", 13);
	assert_int_equal(room_info(e, "a").log_len, 0);
	assert_int_equal(stats(e).replay_entries, 0);
}

/* ------------------------------------------------------------------ */
/* Presence. */

struct pres_out {
	int called, rc;
	uint32_t n;
	char users[8][16];
	char infos[8][32]; /* "(null)" for NULL */
	uint32_t conns[8];
};

static void
on_presence(void *arg, int rc, const struct sv_presence *users, uint32_t n)
{
	struct pres_out *o = arg;
	uint32_t i;

	o->called++;
	o->rc = rc;
	o->n = n;
	assert_true(n <= 8);
	for (i = 0; i < n; i++) {
		snprintf(o->users[i], sizeof(o->users[i]), "%s", users[i].user);
		snprintf(o->infos[i], sizeof(o->infos[i]), "%s",
			 users[i].info ? users[i].info : "(null)");
		o->conns[i] = users[i].conns;
	}
}

static struct pres_out
presence(struct sv_engine *e, const char *room)
{
	struct pres_out o;

	memset(&o, 0, sizeof(o));
	e->ops->presence_get(e, room, strlen(room), on_presence, &o);
	assert_int_equal(o.called, 1);
	return o;
}

/* The index of user in o, or -1. */
static int
pres_find(const struct pres_out *o, const char *user)
{
	uint32_t i;

	for (i = 0; i < o->n; i++)
		if (strcmp(o->users[i], user) == 0)
			return (int)i;
	return -1;
}

static int
padd(struct sv_engine *e, const char *room, const char *user, const char *info)
{
	return e->ops->presence_add(e, room, strlen(room), user, info);
}

static int
premove(struct sv_engine *e, const char *room, const char *user)
{
	return e->ops->presence_remove(e, room, strlen(room), user);
}

static void
test_presence(void **state)
{
	struct sv_engine *e = *state;
	struct pres_out o;
	int i;

	o = presence(e, "p");
	assert_int_equal(o.rc, WSD_OK);
	assert_int_equal(o.n, 0);
	assert_int_equal(padd(e, "p", "alice", "{\"n\":1}"), 1);
	assert_int_equal(padd(e, "p", "alice", "{\"n\":2}"), 2);
	assert_int_equal(padd(e, "p", "bob", NULL), 1);
	assert_int_equal(padd(e, "q", "alice", NULL), 1);
	assert_int_equal(padd(e, "p", "alice", NULL), 3);
	assert_int_equal(room_info(e, "p").present, 2);

	o = presence(e, "p");
	assert_int_equal(o.rc, WSD_OK);
	assert_int_equal(o.n, 2);
	i = pres_find(&o, "alice");
	assert_true(i >= 0);
	assert_int_equal(o.conns[i], 3);
	/* The info of the user's first connection. */
	assert_string_equal(o.infos[i], "{\"n\":1}");
	i = pres_find(&o, "bob");
	assert_true(i >= 0);
	assert_int_equal(o.conns[i], 1);
	assert_string_equal(o.infos[i], "(null)");

	assert_int_equal(premove(e, "p", "alice"), 2);
	assert_int_equal(premove(e, "p", "alice"), 1);
	assert_int_equal(premove(e, "p", "bob"), 0);
	assert_int_equal(premove(e, "p", "bob"), WSD_ENOENT);
	assert_int_equal(premove(e, "p", "carol"), WSD_ENOENT);
	assert_int_equal(premove(e, "nope", "alice"), WSD_ENOENT);
	assert_false(room_exists(e, "nope"));
	o = presence(e, "p");
	assert_int_equal(o.n, 1);
	assert_string_equal(o.users[0], "alice");
	assert_int_equal(o.conns[0], 1);
	/* Another room's presence is its own. */
	o = presence(e, "q");
	assert_int_equal(o.n, 1);
	assert_int_equal(o.conns[0], 1);
	o = presence(e, "nope");
	assert_int_equal(o.rc, WSD_OK);
	assert_int_equal(o.n, 0);

	/* A user who left and came back has the info of the new first. */
	assert_int_equal(premove(e, "q", "alice"), 0);
	assert_int_equal(padd(e, "q", "alice", "{\"n\":9}"), 1);
	o = presence(e, "q");
	assert_string_equal(o.infos[0], "{\"n\":9}");
}

/* Presence keeps a room from the sweep; its last leave is its last use. */
static void
test_presence_sweep(void **state)
{
	struct sv_engine *e = *state;

	assert_int_equal(padd(e, "p", "alice", NULL), 1);
	now_ms += 5000;
	sweep(e);
	assert_true(room_exists(e, "p"));
	now_ms += 5000;
	assert_int_equal(premove(e, "p", "alice"), 0);
	e->ops->sweep(e, now_ms + 1000, 1000, NULL, NULL);
	assert_true(room_exists(e, "p"));
	e->ops->sweep(e, now_ms + 1001, 1000, NULL, NULL);
	assert_false(room_exists(e, "p"));
	assert_int_equal(stats(e).rooms, 0);
}

/* ------------------------------------------------------------------ */
/* Sessions. */

/* A calloc'd session with id byte tag, of user, with nrooms rooms. */
static struct sv_sess *
sess_new(uint8_t tag, const char *user, uint64_t nonce, uint64_t expires_ms,
	 uint32_t nrooms)
{
	struct sv_sess *s = calloc(1, sizeof(*s));
	uint32_t i;

	assert_non_null(s);
	memset(s->id, tag, sizeof(s->id));
	s->nonce = nonce;
	s->conn = 0x100000000ull + tag;
	s->user = strdup(user);
	assert_non_null(s->user);
	s->created_ms = T0 - 100;
	s->detached_ms = now_ms;
	s->expires_ms = expires_ms;
	s->nrooms = nrooms;
	if (nrooms > 0) {
		s->rooms = calloc(nrooms, sizeof(*s->rooms));
		assert_non_null(s->rooms);
	}
	for (i = 0; i < nrooms; i++) {
		char name[16];

		snprintf(name, sizeof(name), "room-%u", i);
		s->rooms[i].name = strdup(name);
		assert_non_null(s->rooms[i].name);
		s->rooms[i].seq = 10 + i;
		snprintf(s->rooms[i].epoch, sizeof(s->rooms[i].epoch),
			 "0000000%u", i % 10);
	}
	return s;
}

static void
put(struct sv_engine *e, uint8_t tag, const char *user, uint64_t nonce,
    uint64_t expires_ms)
{
	assert_int_equal(
	    e->ops->session_put(e, sess_new(tag, user, nonce, expires_ms, 2)),
	    WSD_OK);
}

struct take_out {
	int called, rc;
	struct sv_sess *s;
};

static void
on_take(void *arg, int rc, struct sv_sess *s)
{
	struct take_out *o = arg;

	o->called++;
	o->rc = rc;
	o->s = s;
	if (rc != WSD_OK)
		assert_null(s);
	else
		assert_non_null(s);
}

/* Take the session of tag with nonce; returns it (caller frees) or NULL,
 * the rc in *rc. */
static struct sv_sess *
take(struct sv_engine *e, uint8_t tag, uint64_t nonce, int *rc)
{
	uint8_t id[SV_SESSION_ID_BYTES];
	struct take_out o = {0, 0, NULL};

	memset(id, tag, sizeof(id));
	e->ops->session_take(e, id, nonce, NULL, on_take, &o);
	assert_int_equal(o.called, 1);
	*rc = o.rc;
	return o.s;
}

/* Take must give rc and nothing. */
static void
take_fails(struct sv_engine *e, uint8_t tag, uint64_t nonce, int want)
{
	int rc;

	assert_null(take(e, tag, nonce, &rc));
	assert_int_equal(rc, want);
}

/* Take must succeed; the session is freed here. */
static void
take_ok(struct sv_engine *e, uint8_t tag, uint64_t nonce, const char *user)
{
	struct sv_sess *s;
	int rc;

	s = take(e, tag, nonce, &rc);
	assert_int_equal(rc, WSD_OK);
	assert_int_equal(s->id[0], tag);
	assert_int_equal(s->nonce, nonce);
	assert_string_equal(s->user, user);
	sv_sess_free(s);
}

static void
test_session_take(void **state)
{
	struct sv_engine *e = *state;
	struct sv_sess *s;
	int rc;

	put(e, 1, "alice", 111, T0 + 1000);
	assert_int_equal(stats(e).sessions, 1);
	s = take(e, 1, 111, &rc);
	assert_int_equal(rc, WSD_OK);
	/* Handed back as it was put. */
	assert_int_equal(s->id[0], 1);
	assert_int_equal(s->id[SV_SESSION_ID_BYTES - 1], 1);
	assert_int_equal(s->nonce, 111);
	assert_int_equal(s->conn, 0x100000001ull);
	assert_string_equal(s->user, "alice");
	assert_int_equal(s->created_ms, T0 - 100);
	assert_int_equal(s->expires_ms, T0 + 1000);
	assert_int_equal(s->nrooms, 2);
	assert_string_equal(s->rooms[1].name, "room-1");
	assert_int_equal(s->rooms[1].seq, 11);
	assert_string_equal(s->rooms[1].epoch, "00000001");
	sv_sess_free(s);
	/* And removed. */
	assert_int_equal(stats(e).sessions, 0);
	take_fails(e, 1, 111, WSD_ENOENT);

	/* A wrong nonce (a spent token): refused, the session stays. */
	put(e, 2, "bob", 222, T0 + 1000);
	take_fails(e, 2, 223, WSD_EINVAL);
	take_fails(e, 2, 0, WSD_EINVAL);
	assert_int_equal(stats(e).sessions, 1);
	take_ok(e, 2, 222, "bob");

	/* Unknown ids. */
	take_fails(e, 3, 333, WSD_ENOENT);
	put(e, 4, "carol", 444, T0 + 1000);
	take_fails(e, 5, 444, WSD_ENOENT);
	take_ok(e, 4, 444, "carol");
	sv_sess_free(NULL);
}

static void
test_session_expired(void **state)
{
	struct sv_engine *e = *state;

	put(e, 1, "alice", 1, now_ms - 1);
	take_fails(e, 1, 1, WSD_ENOENT);
	put(e, 2, "alice", 2, now_ms);
	take_ok(e, 2, 2, "alice"); /* expires this ms: not yet */
	put(e, 3, "alice", 3, now_ms + 10);
	now_ms += 11;
	take_fails(e, 3, 3, WSD_ENOENT);
	/* Expired is ENOENT even with a wrong nonce. */
	take_fails(e, 3, 4, WSD_ENOENT);
}

/* Putting an id that is there replaces the old session. */
static void
test_session_replace(void **state)
{
	struct sv_engine *e = *state;

	put(e, 1, "alice", 1, T0 + 1000);
	put(e, 1, "alice", 2, T0 + 1000);
	assert_int_equal(stats(e).sessions, 1);
	assert_int_equal(stats(e).sessions_evicted, 0);
	take_fails(e, 1, 1, WSD_EINVAL);
	take_ok(e, 1, 2, "alice");
}

static void
test_sessions_max(void **state)
{
	struct sv_eng_limits l = default_limits;
	struct sv_engine *e = *state;
	int tag;

	l.sessions_max = 3;
	reopen(e, &l);
	for (tag = 1; tag <= 5; tag++)
		put(e, (uint8_t)tag, "u", (uint64_t)tag, T0 + 1000);
	assert_int_equal(stats(e).sessions, 3);
	assert_int_equal(stats(e).sessions_evicted, 2);
	/* The oldest went first. */
	take_fails(e, 1, 1, WSD_ENOENT);
	take_fails(e, 2, 2, WSD_ENOENT);
	take_ok(e, 3, 3, "u");
	/* Order is the order of put, not of the id. */
	put(e, 0, "u", 9, T0 + 1000);
	put(e, 6, "u", 6, T0 + 1000);
	take_fails(e, 4, 4, WSD_ENOENT);
	take_ok(e, 5, 5, "u");
	take_ok(e, 0, 9, "u");
	take_ok(e, 6, 6, "u");
	/* A lower bound by set_limits evicts at once, oldest first. */
	for (tag = 1; tag <= 3; tag++)
		put(e, (uint8_t)tag, "u", (uint64_t)tag, T0 + 1000);
	l.sessions_max = 1;
	e->ops->set_limits(e, &l);
	assert_int_equal(stats(e).sessions, 1);
	assert_int_equal(stats(e).sessions_evicted, 5);
	take_ok(e, 3, 3, "u");
}

/* sessions_max_bytes: the sessions' memory, counted and bounded, the
 * oldest first; a session's rooms count. */
static void
test_sessions_max_bytes(void **state)
{
	struct sv_eng_limits l = default_limits;
	struct sv_engine *e = *state;
	uint64_t one, bound;
	int tag, rc;

	put(e, 1, "u", 1, T0 + 1000);
	one = stats(e).session_bytes;
	assert_true(one > sizeof(struct sv_sess));
	/* More rooms, more bytes. */
	assert_int_equal(
	    e->ops->session_put(e, sess_new(2, "u", 2, T0 + 1000, 40)), WSD_OK);
	assert_true(stats(e).session_bytes > 2 * one);
	sv_sess_free(take(e, 2, 2, &rc));
	assert_int_equal(stats(e).session_bytes, one);
	take_ok(e, 1, 1, "u");
	assert_int_equal(stats(e).session_bytes, 0);
	/* Room for three of them: the fourth evicts the first. */
	bound = 3 * one + one / 2;
	l.sessions_max_bytes = bound;
	reopen(e, &l);
	for (tag = 1; tag <= 4; tag++) {
		put(e, (uint8_t)tag, "u", (uint64_t)tag, T0 + 1000);
		assert_true(stats(e).session_bytes <= bound);
	}
	assert_int_equal(stats(e).sessions, 3);
	assert_int_equal(stats(e).sessions_evicted, 1);
	take_fails(e, 1, 1, WSD_ENOENT);
	take_ok(e, 2, 2, "u");
}

struct each_out {
	int n, ended;
	uint8_t tags[16];
};

static void
on_each(void *arg, const struct sv_sess *s)
{
	struct each_out *o = arg;

	assert_false(o->ended);
	if (s == NULL) { /* the listing is over */
		o->ended = 1;
		return;
	}
	assert_true(o->n < 16);
	o->tags[o->n++] = s->id[0];
}

static struct each_out
each(struct sv_engine *e, const char *user, uint32_t limit)
{
	struct each_out o;

	memset(&o, 0, sizeof(o));
	e->ops->session_each(e, user, limit, on_each, &o);
	assert_true(o.ended);
	return o;
}

static void
test_session_each_revoke(void **state)
{
	struct sv_engine *e = *state;
	struct each_out o;

	put(e, 1, "alice", 1, T0 + 1000);
	put(e, 2, "bob", 2, T0 + 1000);
	put(e, 3, "alice", 3, T0 + 1000);
	put(e, 4, "carol", 4, T0 + 1000);
	put(e, 5, "alice", 5, T0 + 1000);

	o = each(e, NULL, 100);
	assert_int_equal(o.n, 5);
	assert_memory_equal(o.tags, "\1\2\3\4\5", 5);
	o = each(e, NULL, 2);
	assert_int_equal(o.n, 2);
	assert_memory_equal(o.tags, "\1\2", 2);
	o = each(e, "alice", 100);
	assert_int_equal(o.n, 3);
	assert_memory_equal(o.tags, "\1\3\5", 3);
	/* The limit counts the listed, not the skipped. */
	o = each(e, "alice", 2);
	assert_int_equal(o.n, 2);
	assert_memory_equal(o.tags, "\1\3", 2);
	assert_int_equal(each(e, "alice", 0).n, 0);
	assert_int_equal(each(e, "alic", 100).n, 0);
	assert_int_equal(each(e, "nobody", 100).n, 0);

	assert_int_equal(e->ops->session_revoke(e, "alice"), 3);
	assert_int_equal(stats(e).sessions, 2);
	o = each(e, NULL, 100);
	assert_int_equal(o.n, 2);
	assert_memory_equal(o.tags, "\2\4", 2);
	take_fails(e, 1, 1, WSD_ENOENT);
	take_fails(e, 5, 5, WSD_ENOENT);
	assert_int_equal(e->ops->session_revoke(e, "alice"), 0);
	assert_int_equal(e->ops->session_revoke(e, "nobody"), 0);
	take_ok(e, 2, 2, "bob");
	/* Revoked sessions are not counted as evicted. */
	assert_int_equal(stats(e).sessions_evicted, 0);
}

static void
test_session_sweep(void **state)
{
	struct sv_engine *e = *state;

	put(e, 1, "alice", 1, T0 + 100);
	put(e, 2, "alice", 2, T0 + 200);
	put(e, 3, "alice", 3, T0 + 150);
	e->ops->sweep(e, T0 + 100, 0, NULL, NULL);
	assert_int_equal(stats(e).sessions, 3);
	e->ops->sweep(e, T0 + 160, 0, NULL, NULL);
	assert_int_equal(stats(e).sessions, 1);
	assert_int_equal(each(e, NULL, 10).tags[0], 2);
	e->ops->sweep(e, T0 + 201, 0, NULL, NULL);
	assert_int_equal(stats(e).sessions, 0);
	/* A session left to close is freed there (LeakSanitizer). */
	put(e, 4, "bob", 4, T0 + 1000);
}

/* Room listings: one by name, or all up to a limit. */
static void
test_rooms_listing(void **state)
{
	struct sv_engine *e = *state;
	struct sum sum = {0, 0, 0};
	struct room_out o;

	publish_seq(e, "a", "1", 1);
	publish_seq(e, "b", "1", 1);
	publish_seq(e, "b", "2", 2);
	assert_int_equal(padd(e, "c", "alice", NULL), 1);
	o = room_info(e, "b");
	assert_int_equal(o.n, 1);
	assert_int_equal(o.seq, 2);
	assert_int_equal(o.log_len, 2);
	assert_true(is_epoch(o.epoch));
	o = room_info(e, "c");
	assert_int_equal(o.seq, 0);
	assert_int_equal(o.log_len, 0);
	assert_int_equal(o.log_bytes, 0);
	assert_int_equal(o.present, 1);
	assert_int_equal(room_info(e, "d").n, 0);
	e->ops->rooms(e, NULL, 100, on_room_sum, &sum);
	assert_int_equal(sum.rooms, 3);
	assert_int_equal(sum.entries, 3);
	memset(&sum, 0, sizeof(sum));
	e->ops->rooms(e, NULL, 2, on_room_sum, &sum);
	assert_int_equal(sum.rooms, 2);
	memset(&sum, 0, sizeof(sum));
	e->ops->rooms(e, NULL, 0, on_room_sum, &sum);
	assert_int_equal(sum.rooms, 0);
}

/* ------------------------------------------------------------------ */
/* Dump and restore (the state file's payload). */

/* Dump e, with the sessions of connected clients live[0..nlive), into a
 * fresh sbuffer (the caller destroys it). */
static msgpack_sbuffer
dump_live(struct sv_engine *e, struct sv_sess *const *live, uint32_t nlive)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	assert_int_equal(e->ops->dump(e, &pk, live, nlive), WSD_OK);
	return sb;
}

static msgpack_sbuffer
dump(struct sv_engine *e)
{
	return dump_live(e, NULL, 0);
}

/* Restore buf into e; returns the rc (why is set on failure). */
static int
restore(struct sv_engine *e, const char *buf, size_t len, const char **why)
{
	msgpack_unpacked u;
	size_t off = 0;
	int rc;

	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, buf, len, &off),
			 MSGPACK_UNPACK_SUCCESS);
	rc = e->ops->restore(e, &u.data, why);
	msgpack_unpacked_destroy(&u);
	return rc;
}

static void
test_dump_restore(void **state)
{
	struct sv_engine *e = *state, e2;
	struct room_out a, a2;
	struct hist_out h;
	msgpack_sbuffer sb;
	const char *why = NULL;
	uint64_t s;

	for (s = 1; s <= 5; s++)
		publish_seq(e, "a", "{\"x\":1}", s);
	publish_seq(e, "b", "2", 1);
	put(e, 1, "alice", 111, T0 + 1000);
	put(e, 2, "bob", 222, T0 + 1000);
	a = room_info(e, "a");
	sb = dump(e);
	assert_int_equal(sv_mem_open(&e2, &default_limits), WSD_OK);
	assert_int_equal(restore(&e2, sb.data, sb.size, &why), WSD_OK);
	/* The same rooms, seqs, epochs, logs and sessions. */
	a2 = room_info(&e2, "a");
	assert_int_equal(a2.seq, 5);
	assert_string_equal(a2.epoch, a.epoch);
	assert_int_equal(a2.log_len, 5);
	assert_int_equal(a2.log_bytes, a.log_bytes);
	h = history(&e2, "a", 2, a.epoch, SV_ENG_SINCE);
	assert_true(h.recovered);
	assert_entries(&h, 3, 5);
	assert_int_equal(stats(&e2).rooms, 2);
	assert_int_equal(stats(&e2).replay_entries, 6);
	assert_int_equal(stats(&e2).sessions, 2);
	assert_int_equal(stats(&e2).session_bytes, stats(e).session_bytes);
	take_ok(&e2, 1, 111, "alice");
	take_fails(&e2, 2, 1, WSD_EINVAL); /* the nonce came along too */
	take_ok(&e2, 2, 222, "bob");
	/* The next publish goes on from the saved seq. */
	publish_seq(&e2, "a", "{}", 6);
	e2.ops->close(&e2);
	msgpack_sbuffer_destroy(&sb);
}

/* The sessions of connected clients go into the dump beside the detached
 * ones, and stay the caller's; new_epochs renews every room's epoch and
 * keeps its seq and log. */
static void
test_dump_live_and_new_epochs(void **state)
{
	struct sv_engine *e = *state, e2;
	struct sv_sess *live[2];
	struct room_out a, a2;
	msgpack_sbuffer sb;
	const char *why = NULL;
	uint64_t s;

	for (s = 1; s <= 3; s++)
		publish_seq(e, "a", "{}", s);
	put(e, 1, "alice", 111, T0 + 1000);
	live[0] = sess_new(2, "bob", 222, T0 + 1000, 1);
	live[1] = sess_new(3, "carol", 333, T0 + 1000, 0);
	a = room_info(e, "a");
	sb = dump_live(e, live, 2);
	assert_int_equal(stats(e).sessions, 1);
	sv_sess_free(live[0]);
	sv_sess_free(live[1]);
	assert_int_equal(sv_mem_open(&e2, &default_limits), WSD_OK);
	assert_int_equal(restore(&e2, sb.data, sb.size, &why), WSD_OK);
	assert_int_equal(stats(&e2).sessions, 3);
	take_ok(&e2, 2, 222, "bob");
	take_ok(&e2, 3, 333, "carol");
	take_ok(&e2, 1, 111, "alice");
	e2.ops->new_epochs(&e2);
	a2 = room_info(&e2, "a");
	assert_string_not_equal(a2.epoch, a.epoch);
	assert_int_equal(strlen(a2.epoch), SV_EPOCH_LEN);
	assert_int_equal(a2.seq, 3);
	assert_int_equal(a2.log_len, 3);
	/* A client of the old epoch is told its history broke. */
	assert_false(history(&e2, "a", 1, a.epoch, SV_ENG_SINCE).recovered);
	publish_seq(&e2, "a", "{}", 4);
	e2.ops->close(&e2);
	msgpack_sbuffer_destroy(&sb);
}

/* session_peek says whether a detached session waits with that nonce,
 * and changes nothing. */
static void
test_session_peek(void **state)
{
	struct sv_engine *e = *state;
	uint8_t id[SV_SESSION_ID_BYTES];

	put(e, 7, "alice", 777, T0 + 1000);
	memset(id, 7, sizeof(id));
	assert_true(e->ops->session_peek(e, id, 777));
	assert_false(e->ops->session_peek(e, id, 778));
	assert_true(e->ops->session_peek(e, id, 777));
	take_ok(e, 7, 777, "alice");
	assert_false(e->ops->session_peek(e, id, 777));
	memset(id, 9, sizeof(id));
	assert_false(e->ops->session_peek(e, id, 777));
}

static void
test_restore_bounds_and_expiry(void **state)
{
	struct sv_eng_limits l = default_limits;
	struct sv_engine *e = *state, e2;
	msgpack_sbuffer sb;
	const char *why = NULL;
	uint64_t s;

	for (s = 1; s <= 8; s++)
		publish_seq(e, "a", "{}", s);
	put(e, 1, "alice", 1, T0 + 1000);
	put(e, 2, "bob", 2, T0 + 10);
	sb = dump(e);
	/* Today's budgets hold: 4 entries per room; an expired session is
	 * not brought back. */
	l.replay_size = 4;
	now_ms = T0 + 100;
	assert_int_equal(sv_mem_open(&e2, &l), WSD_OK);
	assert_int_equal(restore(&e2, sb.data, sb.size, &why), WSD_OK);
	assert_int_equal(room_info(&e2, "a").log_len, 4);
	assert_int_equal(room_info(&e2, "a").seq, 8);
	assert_int_equal(stats(&e2).sessions, 1);
	take_ok(&e2, 1, 1, "alice");
	e2.ops->close(&e2);
	msgpack_sbuffer_destroy(&sb);
}

static void
test_restore_refuses(void **state)
{
	/* Each a valid msgpack object that is not a valid dump, and the
	 * reason restore gives. */
	static const struct {
		const char *buf;
		size_t len;
		const char *why;
	} bad[] = {
	    /* [] */
	    {"\x90", 1, "not an engine dump"},
	    /* [[], nil] */
	    {"\x92\x90\xc0", 3, "not an engine dump"},
	    /* a room that is [] */
	    {"\x92\x91\x90\x90", 4, "a room is malformed"},
	    /* an epoch of 9 bytes */
	    {"\x92\x91\x95\xa1\x61\x01\xa9\x61\x62\x63\x64\x65\x66\x67\x68\x69"
	     "\x00\x90\x90",
	     19, "a room is malformed"},
	    /* a log entry whose seq is not the room's */
	    {"\x92\x91\x95\xa1\x61\x02\xa8\x61\x62\x63\x64\x65\x66\x67\x68\x00"
	     "\x91\x93\x05\x00\xa1\x78\x90",
	     23, "a room is malformed"},
	    /* a room listed twice */
	    {"\x92\x92\x95\xa1\x61\x01\xa8\x61\x62\x63\x64\x65\x66\x67\x68\x00"
	     "\x90\x95\xa1\x61\x01\xa8\x61\x62\x63\x64\x65\x66\x67\x68\x00\x90"
	     "\x90",
	     33, "a room is listed twice"},
	    /* a session that is [] */
	    {"\x92\x90\x91\x90", 4, "a session is malformed"},
	};
	struct sv_engine *e = *state;
	size_t i;

	(void)e;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sv_engine e2;
		const char *why = NULL;

		assert_int_equal(sv_mem_open(&e2, &default_limits), WSD_OK);
		assert_int_equal(restore(&e2, bad[i].buf, bad[i].len, &why),
				 WSD_EPROTO);
		assert_non_null(why);
		assert_string_equal(why, bad[i].why);
		e2.ops->close(&e2);
	}
}

/* A publish's trace is part of the message text (which the log keeps). */
static void
test_publish_trace(void **state)
{
	static const char tp[] =
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
	struct sv_engine *e = *state;
	struct pub_out o;

	o = publish_traced(e, "t", "alice", "1", "m-1", tp);
	assert_int_equal(o.rc, WSD_OK);
	assert_string_equal(o.text,
			    "{\"type\":\"message\",\"room\":\"t\",\"seq\":1,"
			    "\"from\":\"alice\",\"data\":1,\"id\":\"m-1\","
			    "\"trace\":\"00-4bf92f3577b34da6a3ce929d0e0e4736-"
			    "00f067aa0ba902b7-01\"}");
	o = publish_traced(e, "t", "alice", "2", NULL, tp);
	assert_non_null(strstr(o.text, "\"data\":2,\"trace\":\""));
	/* An empty trace is none. */
	o = publish_traced(e, "t", "alice", "3", NULL, "");
	assert_null(strstr(o.text, "trace"));
	assert_int_equal(room_info(e, "t").log_len, 3);
}

/* ------------------------------------------------------------------ */
/* A mirror of a shared engine (sv_mem_mirror). */

/* The text of seq in room, as the shared engine's node builds it. */
static int
mirror(struct sv_engine *e, const char *room, const char *epoch, uint64_t seq)
{
	char text[96];
	int n = snprintf(text, sizeof(text),
			 "{\"type\":\"message\",\"room\":\"%s\",\"seq\":%llu,"
			 "\"data\":1}",
			 room, (unsigned long long)seq);

	return sv_mem_mirror(e, room, strlen(room), epoch, seq, text,
			     (size_t)n);
}

static void
test_mirror(void **state)
{
	struct sv_engine *e = *state;
	struct hist_out h;

	/* A room first heard at seq 5 holds 5, in the shared epoch. */
	assert_int_equal(mirror(e, "m", "0000000a", 5), WSD_OK);
	h = since(e, "m", 4);
	assert_int_equal(h.seq, 5);
	assert_string_equal(h.epoch, "0000000a");
	assert_true(h.recovered);
	assert_entries(&h, 5, 5);
	assert_false(since(e, "m", 3).recovered); /* 4 was never heard */
	/* The next seqs follow; one heard again is refused, unchanged. */
	assert_int_equal(mirror(e, "m", "0000000a", 6), WSD_OK);
	assert_int_equal(mirror(e, "m", "0000000a", 7), WSD_OK);
	assert_int_equal(mirror(e, "m", "0000000a", 6), WSD_EEXIST);
	h = since(e, "m", 4);
	assert_entries(&h, 5, 7);
	/* Only the position, where the log is: the log stays. */
	assert_int_equal(sv_mem_mirror(e, "m", 1, "0000000a", 7, NULL, 0),
			 WSD_OK);
	h = since(e, "m", 4);
	assert_entries(&h, 5, 7);
	/* A gap: the log holds consecutive seqs, so it starts again. */
	assert_int_equal(mirror(e, "m", "0000000a", 10), WSD_OK);
	h = since(e, "m", 7);
	assert_int_equal(h.seq, 10);
	assert_false(h.recovered);
	assert_entries(&h, 10, 10);
	/* A position past the log (the history lost it): empty log. */
	assert_int_equal(sv_mem_mirror(e, "m", 1, "0000000a", 12, NULL, 0),
			 WSD_OK);
	h = since(e, "m", 10);
	assert_int_equal(h.seq, 12);
	assert_false(h.recovered);
	assert_int_equal(h.n, 0);
	/* Another epoch (the shared store lost the room): all anew. */
	assert_int_equal(mirror(e, "m", "0000000b", 1), WSD_OK);
	h = since(e, "m", 0);
	assert_string_equal(h.epoch, "0000000b");
	assert_int_equal(h.seq, 1);
	assert_true(h.recovered);
	assert_entries(&h, 1, 1);
	/* The budgets hold as for a publish: replay.size 0 keeps none. */
	reopen(e, &(struct sv_eng_limits){.replay_size = 0,
					  .replay_ttl_ms = 600000,
					  .replay_max_bytes = 1u << 20,
					  .max_rooms = 1,
					  .sessions_max = 1,
					  .sessions_max_bytes = 1u << 20});
	assert_int_equal(mirror(e, "m", "0000000a", 3), WSD_OK);
	assert_int_equal(since(e, "m", 2).n, 0);
	assert_int_equal(since(e, "m", 2).seq, 3);
	/* ... and the room bound. */
	assert_int_equal(mirror(e, "other", "0000000a", 1), WSD_EFULL);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_publish_seq),
	    T(test_publish_trace),
	    T(test_publish_escapes),
	    T(test_epoch_lifecycle),
	    T(test_sweep_idle),
	    T(test_sweep_in_use),
	    T(test_history_window),
	    T(test_history_since),
	    T(test_ttl),
	    T(test_budget_largest_first),
	    T(test_budget_too_big),
	    T(test_budget_takes_new_entry),
	    T(test_budget_random),
	    T(test_max_rooms),
	    T(test_set_limits),
	    T(test_lowered_size_holds),
	    T(test_presence),
	    T(test_presence_sweep),
	    T(test_session_take),
	    T(test_session_expired),
	    T(test_session_replace),
	    T(test_sessions_max),
	    T(test_sessions_max_bytes),
	    T(test_dump_restore),
	    T(test_dump_live_and_new_epochs),
	    T(test_session_peek),
	    T(test_restore_bounds_and_expiry),
	    T(test_restore_refuses),
	    T(test_session_each_revoke),
	    T(test_session_sweep),
	    T(test_rooms_listing),
	    T(test_mirror),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
