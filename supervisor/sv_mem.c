/*
 * sv_mem.c: the memory engine (sv_engine.h). Everything completes before
 * the submit returns.
 *
 * Rooms are a uthash by name. A room's log is a ring of entries, grown by
 * doubling up to replay.size, trimmed from its oldest end by age
 * (replay.ttl_ms) whenever it is touched and at every sweep, and by the
 * global byte budget (replay.max_bytes): the rooms with a log sit in a
 * max-heap by log bytes, and while the total is over the budget the
 * oldest entry of the largest log goes. Presence is a uthash of users per
 * room, with a connection count and the info of the user's first
 * connection. Detached sessions are a uthash by id and a list in the
 * order they were put, so expiry and the global bound take the oldest
 * first.
 */
#include "sv_engine.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "../proto/clock.h"
#include "../proto/err.h"
#include "../proto/queue.h"
#include "../proto/room.h"
#include "sv_message.h"
#include "sv_pack.h"

struct ment {
	struct sv_eng_entry e;
	uint64_t at_ms;
};

struct mpresent {
	char *user;
	char *info;
	uint32_t conns;
	UT_hash_handle hh;
};

struct mroom {
	char *name;
	uint64_t seq;
	char epoch[SV_EPOCH_LEN + 1];
	uint64_t last_used_ms;
	struct ment *log;
	uint32_t cap, len, head;
	uint64_t bytes;
	uint32_t heap; /* index + 1 in the byte heap, 0: not in it */
	struct mpresent *present;
	uint32_t npresent;
	UT_hash_handle hh;
};

struct msess {
	struct sv_sess *s;
	uint64_t bytes; /* what s holds, as sess_bytes counts it */
	TAILQ_ENTRY(msess) order;
	UT_hash_handle hh;
};

struct mem {
	struct sv_eng_limits lim;
	struct mroom *rooms;
	uint64_t nrooms;
	struct mroom **heap;
	uint32_t nheap, heapcap;
	uint64_t bytes, entries;
	struct msess *sess;
	TAILQ_HEAD(, msess) sess_order;
	uint64_t nsess, sess_bytes;
	uint64_t room_limit_hits, evictions, sessions_evicted;
};

/* ------------------------------------------------------------------ */
/* The byte heap: rooms with a log, the largest at heap[0]. */

static void
heap_set(struct mem *m, uint32_t i, struct mroom *r)
{
	m->heap[i] = r;
	r->heap = i + 1;
}

static void
heap_fix(struct mem *m, uint32_t i)
{
	struct mroom *r = m->heap[i];

	while (i > 0 && m->heap[(i - 1) / 2]->bytes < r->bytes) {
		heap_set(m, i, m->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	for (;;) {
		uint32_t l = 2 * i + 1, big = i;
		uint64_t bb = r->bytes;

		if (l < m->nheap && m->heap[l]->bytes > bb) {
			big = l;
			bb = m->heap[l]->bytes;
		}
		if (l + 1 < m->nheap && m->heap[l + 1]->bytes > bb)
			big = l + 1;
		if (big == i)
			break;
		heap_set(m, i, m->heap[big]);
		i = big;
	}
	heap_set(m, i, r);
}

/* Put r where its bytes say (in, out of or moved within the heap). */
static void
heap_update(struct mem *m, struct mroom *r)
{
	if (r->bytes == 0 && r->heap != 0) {
		uint32_t i = r->heap - 1;

		r->heap = 0;
		if (--m->nheap > i) {
			heap_set(m, i, m->heap[m->nheap]);
			heap_fix(m, i);
		}
		return;
	}
	if (r->bytes == 0)
		return;
	if (r->heap == 0) {
		if (m->nheap == m->heapcap) {
			uint32_t cap = m->heapcap ? m->heapcap * 2 : 64;
			struct mroom **h = realloc(m->heap, cap * sizeof(*h));

			if (h == NULL)
				return; /* out of the heap: not evicted first */
			m->heap = h;
			m->heapcap = cap;
		}
		heap_set(m, m->nheap++, r);
	}
	heap_fix(m, r->heap - 1);
}

/* ------------------------------------------------------------------ */
/* Rooms and their logs. */

static void
new_epoch(char out[SV_EPOCH_LEN + 1])
{
	unsigned char rnd[SV_EPOCH_LEN / 2];
	uint64_t t = wall_ms();
	size_t i;

	/* Without random bytes, the clock still makes a new epoch. */
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memcpy(rnd, &t, sizeof(rnd));
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(out + 2 * i, 3, "%02x", rnd[i]);
}

static struct mroom *
room_find(struct mem *m, const char *name, size_t len)
{
	struct mroom *r;

	HASH_FIND(hh, m->rooms, name, len, r);
	return r;
}

/* The room, made when missing. NULL: over max_rooms (counted) or no
 * memory; *rc says which. */
static struct mroom *
room_get(struct mem *m, const char *name, size_t len, uint64_t now, int *rc)
{
	struct mroom *r = room_find(m, name, len);

	*rc = WSD_OK;
	if (r != NULL)
		return r;
	if (m->nrooms >= m->lim.max_rooms) {
		m->room_limit_hits++;
		*rc = WSD_EFULL;
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->name = strndup(name, len)) == NULL) {
		free(r);
		*rc = WSD_ENOMEM;
		return NULL;
	}
	new_epoch(r->epoch);
	r->last_used_ms = now;
	HASH_ADD_KEYPTR(hh, m->rooms, r->name, len, r);
	m->nrooms++;
	return r;
}

static struct ment *
log_at(const struct mroom *r, uint32_t i)
{
	return &r->log[(r->head + i) % r->cap];
}

/* Drop the oldest entry of r's log. */
static void
log_pop(struct mem *m, struct mroom *r)
{
	struct ment *e = log_at(r, 0);

	r->bytes -= e->e.len;
	m->bytes -= e->e.len;
	m->entries--;
	free((char *)e->e.text);
	e->e.text = NULL;
	r->head = (r->head + 1) % r->cap;
	r->len--;
}

/* Move r's entries, oldest first, into a new ring of cap slots (>= len).
 * WSD_OK, or WSD_ENOMEM with r unchanged. */
static int
log_resize(struct mroom *r, uint32_t cap)
{
	struct ment *n = calloc(cap, sizeof(*n));
	uint32_t i;

	if (n == NULL)
		return WSD_ENOMEM;
	for (i = 0; i < r->len; i++)
		n[i] = *log_at(r, i);
	free(r->log);
	r->log = n;
	r->cap = cap;
	r->head = 0;
	return WSD_OK;
}

/*
 * Give memory back when a log has shrunk: an empty log frees its ring,
 * one at a quarter of its ring or less halves it (so a room that once
 * held replay.size entries does not keep their slots for ever).
 */
static void
log_shrink(struct mroom *r)
{
	if (r->len == 0) {
		free(r->log);
		r->log = NULL;
		r->cap = r->head = 0;
	} else if (r->cap > 16 && r->len <= r->cap / 4) {
		log_resize(r, r->cap / 2); /* without memory: stays as it is */
	}
}

/* Drop entries older than the ttl, and over a lowered size. */
static void
log_trim(struct mem *m, struct mroom *r, uint64_t now)
{
	uint64_t cutoff =
	    now > m->lim.replay_ttl_ms ? now - m->lim.replay_ttl_ms : 0;
	uint32_t before = r->len;

	while (r->len > 0 &&
	       (log_at(r, 0)->at_ms < cutoff || r->len > m->lim.replay_size))
		log_pop(m, r);
	if (r->len != before) {
		heap_update(m, r);
		log_shrink(r);
	}
}

static void
room_free(struct mem *m, struct mroom *r)
{
	struct mpresent *p, *tmp;

	while (r->len > 0)
		log_pop(m, r);
	heap_update(m, r);
	HASH_ITER (hh, r->present, p, tmp) {
		HASH_DEL(r->present, p);
		free(p->user);
		free(p->info);
		free(p);
	}
	HASH_DEL(m->rooms, r);
	m->nrooms--;
	free(r->log);
	free(r->name);
	free(r);
}

/* Room for one more entry in r's ring (grown, or its oldest dropped).
 * WSD_OK, or WSD_ENOMEM when a log of no entry cannot grow. */
static int
log_make_room(struct mem *m, struct mroom *r)
{
	uint32_t cap;

	/* A lowered replay.size: the oldest go until one more fits. */
	if (r->len > 0 && r->len >= m->lim.replay_size) {
		while (r->len > 0 && r->len >= m->lim.replay_size)
			log_pop(m, r);
		log_shrink(r);
	}
	if (m->lim.replay_size == 0)
		return WSD_ENOMEM; /* no log */
	if (r->len < r->cap)
		return WSD_OK;
	if (r->cap >= m->lim.replay_size) {
		if (r->len == 0)
			return WSD_ENOMEM; /* replay.size 0: no log */
		log_pop(m, r);
		return WSD_OK;
	}
	cap = r->cap ? r->cap * 2 : 4;
	if (cap > m->lim.replay_size)
		cap = (uint32_t)m->lim.replay_size;
	if (log_resize(r, cap) != WSD_OK) {
		if (r->len == 0)
			return WSD_ENOMEM;
		log_pop(m, r);
	}
	return WSD_OK;
}

/* While over the byte budget, the oldest entries of the largest logs go. */
static void
budget(struct mem *m)
{
	while (m->bytes > m->lim.replay_max_bytes && m->nheap > 0) {
		struct mroom *r = m->heap[0];

		log_pop(m, r);
		m->evictions++;
		heap_update(m, r);
		log_shrink(r);
	}
}

/* May an entry of len bytes for room r be logged? `*` is never replayed
 * (no client can subscribe to it): no log. Makes room for it. */
static int
loggable(struct mem *m, struct mroom *r, const char *room, size_t rlen,
	 size_t len)
{
	return !room_is_broadcast(room, rlen) &&
	       len <= m->lim.replay_max_bytes && log_make_room(m, r) == WSD_OK;
}

/* Append e (its text taken over) to r's log, which has room for it;
 * then the budget, which may take it again. */
static void
log_push(struct mem *m, struct mroom *r, const struct sv_eng_entry *e,
	 uint64_t now)
{
	struct ment *slot = log_at(r, r->len);

	slot->e = *e;
	slot->at_ms = now;
	r->len++;
	r->bytes += e->len;
	m->bytes += e->len;
	m->entries++;
	heap_update(m, r);
	budget(m);
}

static void
log_clear(struct mem *m, struct mroom *r)
{
	while (r->len > 0)
		log_pop(m, r);
	heap_update(m, r);
	log_shrink(r);
}

/* The publish p stamped as out: delivered on this (the only) node, then
 * completed. */
static void
stamped(struct sv_engine *e, const struct sv_eng_pub *p,
	const struct sv_eng_entry *out, sv_eng_pub_fn cb, void *arg)
{
	struct sv_eng_delivery d = {p->room,   p->rlen,	   out,	     p->key,
				    p->keylen, p->exclude, p->stamp, p->trace};
	int sends = e->deliver != NULL ? e->deliver(e->deliver_arg, &d) : 0;

	cb(arg, WSD_OK, out->seq, sends);
}

static void
mem_publish(struct sv_engine *e, const struct sv_eng_pub *p, sv_eng_pub_fn cb,
	    void *arg)
{
	struct mem *m = e->impl;
	uint64_t now = wall_ms();
	struct sv_message msg = {p->room,    p->rlen,  p->from,
				 p->fromlen, p->data,  p->datalen,
				 p->id,	     p->idlen, p->trace};
	struct sv_eng_entry out;
	struct mroom *r;
	size_t len;
	char *text;
	int rc;

	if ((r = room_get(m, p->room, p->rlen, now, &rc)) == NULL) {
		cb(arg, rc, 0, 0);
		return;
	}
	text = sv_message_json(&msg, r->seq + 1, &len);
	if (text == NULL || len > UINT32_MAX) {
		free(text);
		cb(arg, WSD_ENOMEM, 0, 0);
		return;
	}
	r->seq++;
	r->last_used_ms = now;
	out.seq = r->seq;
	out.text = text;
	out.len = (uint32_t)len;
	log_trim(m, r, now);
	if (loggable(m, r, p->room, p->rlen, len)) {
		log_push(m, r, &out, now);
		/* The budget may have taken this very entry (and freed
		 * out.text): then it is built again below. */
		if (r->len > 0 && log_at(r, r->len - 1)->e.seq == out.seq) {
			stamped(e, p, &out, cb, arg);
			return;
		}
		text = NULL;
	}
	/* Not kept (no log, or too big for the budget): sent only, and the
	 * log is emptied, since it must hold consecutive seqs. */
	log_clear(m, r);
	if (text == NULL) {
		text = sv_message_json(&msg, out.seq, &len);
		if (text == NULL) {
			cb(arg, WSD_ENOMEM, 0, 0);
			return;
		}
		out.text = text;
	}
	stamped(e, p, &out, cb, arg);
	free(text);
}

static const struct sv_eng_entry *
hist_entry(const struct sv_eng_hist *h, uint32_t i)
{
	const struct mroom *r = h->priv;

	return &log_at(r, r->len - h->n + i)->e;
}

static void
mem_history(struct sv_engine *e, const char *room, size_t rlen, uint64_t since,
	    const char *epoch, unsigned flags, sv_eng_hist_fn cb, void *arg)
{
	struct mem *m = e->impl;
	uint64_t now = wall_ms(), first;
	struct sv_eng_hist h;
	struct mroom *r;

	memset(&h, 0, sizeof(h));
	h.entry = hist_entry;
	if (flags & SV_ENG_CREATE)
		r = room_get(m, room, rlen, now, &h.rc);
	else if ((r = room_find(m, room, rlen)) == NULL)
		h.rc = WSD_ENOENT;
	if (r == NULL) {
		cb(arg, &h);
		return;
	}
	log_trim(m, r, now);
	h.seq = r->seq;
	h.epoch = r->epoch;
	h.priv = r;
	if (!(flags & SV_ENG_SINCE)) {
		cb(arg, &h);
		return;
	}
	if (epoch != NULL && epoch[0] != '\0' && strcmp(epoch, r->epoch) != 0) {
		cb(arg, &h); /* another epoch: nothing to compare */
		return;
	}
	first = r->len ? log_at(r, 0)->e.seq : r->seq + 1;
	if (since >= r->seq) {
		h.recovered = since == r->seq;
	} else {
		h.recovered = since + 1 >= first;
		h.n = (uint32_t)(r->seq -
				 (since + 1 >= first ? since : first - 1));
		if (h.n > r->len)
			h.n = r->len;
	}
	cb(arg, &h);
}

/* ------------------------------------------------------------------ */
/* Presence. */

static int
mem_presence_add(struct sv_engine *e, const char *room, size_t rlen,
		 const char *user, const char *info)
{
	struct mem *m = e->impl;
	struct mpresent *p;
	struct mroom *r;
	int rc;

	if ((r = room_get(m, room, rlen, wall_ms(), &rc)) == NULL)
		return rc;
	HASH_FIND_STR(r->present, user, p);
	if (p == NULL) {
		if ((p = calloc(1, sizeof(*p))) == NULL ||
		    (p->user = strdup(user)) == NULL ||
		    (info != NULL && (p->info = strdup(info)) == NULL)) {
			if (p != NULL)
				free(p->user);
			free(p);
			return WSD_ENOMEM;
		}
		HASH_ADD_KEYPTR(hh, r->present, p->user, strlen(p->user), p);
		r->npresent++;
	}
	return (int)++p->conns;
}

static int
mem_presence_remove(struct sv_engine *e, const char *room, size_t rlen,
		    const char *user)
{
	struct mem *m = e->impl;
	struct mpresent *p;
	struct mroom *r = room_find(m, room, rlen);

	if (r == NULL)
		return WSD_ENOENT;
	HASH_FIND_STR(r->present, user, p);
	if (p == NULL)
		return WSD_ENOENT;
	if (--p->conns > 0)
		return (int)p->conns;
	HASH_DEL(r->present, p);
	r->npresent--;
	r->last_used_ms = wall_ms();
	free(p->user);
	free(p->info);
	free(p);
	return 0;
}

static void
mem_presence_get(struct sv_engine *e, const char *room, size_t rlen,
		 sv_eng_presence_fn cb, void *arg)
{
	struct mem *m = e->impl;
	struct mroom *r = room_find(m, room, rlen);
	struct sv_presence *v;
	struct mpresent *p, *tmp;
	uint32_t n = 0;

	if (r == NULL || r->npresent == 0) {
		cb(arg, WSD_OK, NULL, 0);
		return;
	}
	if ((v = calloc(r->npresent, sizeof(*v))) == NULL) {
		cb(arg, WSD_ENOMEM, NULL, 0);
		return;
	}
	HASH_ITER (hh, r->present, p, tmp) {
		v[n].user = p->user;
		v[n].info = p->info;
		v[n].conns = p->conns;
		n++;
	}
	cb(arg, WSD_OK, v, n);
	free(v);
}

/* ------------------------------------------------------------------ */
/* Detached sessions. */

/* What a session costs: its structs, user and room names. */
static uint64_t
sess_bytes(const struct sv_sess *s)
{
	uint64_t n = sizeof(struct msess) + sizeof(*s) + strlen(s->user) + 1;
	uint32_t i;

	for (i = 0; i < s->nrooms; i++)
		n += sizeof(s->rooms[i]) + strlen(s->rooms[i].name) + 1;
	return n;
}

static void
sess_unlink(struct mem *m, struct msess *ms)
{
	HASH_DEL(m->sess, ms);
	TAILQ_REMOVE(&m->sess_order, ms, order);
	m->nsess--;
	m->sess_bytes -= ms->bytes;
}

static void
sess_drop(struct mem *m, struct msess *ms)
{
	sess_unlink(m, ms);
	sv_sess_free(ms->s);
	free(ms);
}

/* The oldest go while over either bound. */
static void
sess_bound(struct mem *m)
{
	while (m->nsess > 0 && (m->nsess > m->lim.sessions_max ||
				m->sess_bytes > m->lim.sessions_max_bytes)) {
		sess_drop(m, TAILQ_FIRST(&m->sess_order));
		m->sessions_evicted++;
	}
}

static int
mem_session_put_one(struct mem *m, struct sv_sess *s)
{
	struct msess *ms;

	HASH_FIND(hh, m->sess, s->id, sizeof(s->id), ms);
	if (ms != NULL)
		sess_drop(m, ms);
	if ((ms = calloc(1, sizeof(*ms))) == NULL) {
		sv_sess_free(s);
		return WSD_ENOMEM;
	}
	ms->s = s;
	ms->bytes = sess_bytes(s);
	HASH_ADD(hh, m->sess, s->id, sizeof(s->id), ms);
	TAILQ_INSERT_TAIL(&m->sess_order, ms, order);
	m->nsess++;
	m->sess_bytes += ms->bytes;
	sess_bound(m);
	return WSD_OK;
}

static int
mem_session_put(struct sv_engine *e, struct sv_sess *s)
{
	return mem_session_put_one(e->impl, s);
}

static void
mem_session_take(struct sv_engine *e, const uint8_t id[SV_SESSION_ID_BYTES],
		 uint64_t nonce, const char *user, sv_eng_take_fn cb, void *arg)
{
	struct mem *m = e->impl;
	struct msess *ms;
	struct sv_sess *s;

	(void)user; /* one process: the session is here or nowhere */
	HASH_FIND(hh, m->sess, id, SV_SESSION_ID_BYTES, ms);
	if (ms == NULL || ms->s->expires_ms < wall_ms()) {
		cb(arg, WSD_ENOENT, NULL);
		return;
	}
	if (ms->s->nonce != nonce) {
		cb(arg, WSD_EINVAL, NULL);
		return;
	}
	s = ms->s;
	ms->s = NULL;
	sess_unlink(m, ms);
	free(ms);
	cb(arg, WSD_OK, s);
}

static int
mem_session_peek(struct sv_engine *e, const uint8_t id[SV_SESSION_ID_BYTES],
		 uint64_t nonce)
{
	struct mem *m = e->impl;
	struct msess *ms;

	HASH_FIND(hh, m->sess, id, SV_SESSION_ID_BYTES, ms);
	return ms != NULL && ms->s->expires_ms >= wall_ms() &&
	       ms->s->nonce == nonce;
}

static uint32_t
mem_session_revoke(struct sv_engine *e, const char *user)
{
	struct mem *m = e->impl;
	struct msess *ms, *tmp;
	uint32_t n = 0;

	TAILQ_FOREACH_SAFE (ms, &m->sess_order, order, tmp) {
		if (strcmp(ms->s->user, user) == 0) {
			sess_drop(m, ms);
			n++;
		}
	}
	return n;
}

static void
mem_session_each(struct sv_engine *e, const char *user, uint32_t limit,
		 sv_eng_each_fn cb, void *arg)
{
	struct mem *m = e->impl;
	struct msess *ms;
	uint32_t n = 0;

	TAILQ_FOREACH (ms, &m->sess_order, order) {
		if (n >= limit)
			break;
		if (user != NULL && strcmp(ms->s->user, user) != 0)
			continue;
		cb(arg, ms->s);
		n++;
	}
	cb(arg, NULL);
}

/* ------------------------------------------------------------------ */

static void
mem_sweep(struct sv_engine *e, uint64_t now, uint64_t idle_ms,
	  int (*in_use)(void *arg, const char *room), void *arg)
{
	struct mem *m = e->impl;
	struct mroom *r, *tmp;
	struct msess *ms, *stmp;

	TAILQ_FOREACH_SAFE (ms, &m->sess_order, order, stmp) {
		if (ms->s->expires_ms < now)
			sess_drop(m, ms);
	}
	HASH_ITER (hh, m->rooms, r, tmp) {
		log_trim(m, r, now);
		if (r->len > 0 || r->npresent > 0 ||
		    r->last_used_ms + idle_ms >= now)
			continue;
		if (in_use != NULL && in_use(arg, r->name)) {
			r->last_used_ms = now;
			continue;
		}
		room_free(m, r);
	}
}

static void
room_report(const struct mroom *r, sv_eng_room_fn cb, void *arg)
{
	struct sv_eng_room o = {r->name, r->seq,   r->epoch,
				r->len,	 r->bytes, r->npresent};

	cb(arg, &o);
}

static void
mem_rooms(struct sv_engine *e, const char *name, uint32_t limit,
	  sv_eng_room_fn cb, void *arg)
{
	struct mem *m = e->impl;
	struct mroom *r, *tmp;
	uint32_t n = 0;

	if (name != NULL) {
		if ((r = room_find(m, name, strlen(name))) != NULL)
			room_report(r, cb, arg);
		return;
	}
	HASH_ITER (hh, m->rooms, r, tmp) {
		if (n++ >= limit)
			break;
		room_report(r, cb, arg);
	}
}

static void
mem_set_limits(struct sv_engine *e, const struct sv_eng_limits *l)
{
	struct mem *m = e->impl;
	struct mroom *r, *tmp;
	uint64_t now = wall_ms();

	m->lim = *l;
	HASH_ITER (hh, m->rooms, r, tmp) {
		log_trim(m, r, now);
	}
	budget(m);
	sess_bound(m);
}

static void
mem_stats(struct sv_engine *e, struct sv_eng_stats *out)
{
	struct mem *m = e->impl;

	out->rooms = m->nrooms;
	out->replay_entries = m->entries;
	out->replay_bytes = m->bytes;
	out->sessions = m->nsess;
	out->session_bytes = m->sess_bytes;
	out->room_limit_hits = m->room_limit_hits;
	out->replay_evictions = m->evictions;
	out->sessions_evicted = m->sessions_evicted;
}

/* ------------------------------------------------------------------ */
/* Dump and restore: [[room...], [session...]], where a room is
 * [name, seq, epoch, last_used_ms, [[seq, at_ms, text]...]] and a session
 * [id (bin), nonce, conn, user, anonymous, created_ms, detached_ms,
 * expires_ms, [[name, seq, epoch]...]]. */

static int
dump_room(msgpack_packer *pk, const struct mroom *r)
{
	uint32_t i;

	if (msgpack_pack_array(pk, 5) != 0 ||
	    sv_pack_str(pk, r->name, strlen(r->name)) != WSD_OK ||
	    msgpack_pack_uint64(pk, r->seq) != 0 ||
	    sv_pack_str(pk, r->epoch, strlen(r->epoch)) != WSD_OK ||
	    msgpack_pack_uint64(pk, r->last_used_ms) != 0 ||
	    msgpack_pack_array(pk, r->len) != 0)
		return WSD_ENOMEM;
	for (i = 0; i < r->len; i++) {
		const struct ment *e = log_at(r, i);

		if (msgpack_pack_array(pk, 3) != 0 ||
		    msgpack_pack_uint64(pk, e->e.seq) != 0 ||
		    msgpack_pack_uint64(pk, e->at_ms) != 0 ||
		    sv_pack_str(pk, e->e.text, e->e.len) != WSD_OK)
			return WSD_ENOMEM;
	}
	return WSD_OK;
}

static int
mem_dump(struct sv_engine *e, msgpack_packer *pk, struct sv_sess *const *live,
	 uint32_t nlive)
{
	struct mem *m = e->impl;
	struct mroom *r, *tmp;
	struct msess *ms;
	uint32_t i;

	if (msgpack_pack_array(pk, 2) != 0 ||
	    msgpack_pack_array(pk, (uint32_t)m->nrooms) != 0)
		return WSD_ENOMEM;
	HASH_ITER (hh, m->rooms, r, tmp) {
		if (dump_room(pk, r) != WSD_OK)
			return WSD_ENOMEM;
	}
	if (msgpack_pack_array(pk, (uint32_t)m->nsess + nlive) != 0)
		return WSD_ENOMEM;
	/* Oldest first, as restore keeps them: the live ones are the newest
	 * (a bound drops the oldest). */
	TAILQ_FOREACH (ms, &m->sess_order, order)
		if (sv_sess_pack(pk, ms->s) != WSD_OK)
			return WSD_ENOMEM;
	for (i = 0; i < nlive; i++)
		if (sv_sess_pack(pk, live[i]) != WSD_OK)
			return WSD_ENOMEM;
	return WSD_OK;
}

static void
mem_new_epochs(struct sv_engine *e)
{
	struct mem *m = e->impl;
	struct mroom *r, *tmp;

	HASH_ITER (hh, m->rooms, r, tmp) {
		new_epoch(r->epoch);
	}
}

/* o is an array of n elements. */
static int
restore_room(struct mem *m, const msgpack_object *o, const char **why)
{
	const msgpack_object *f = o->via.array.ptr, *ents;
	struct mroom *r;
	uint32_t i;
	int rc;

	*why = "a room is malformed";
	if (!sv_is_array(o, 5) || !sv_is_str(&f[0], NAME_MAX_BYTES) ||
	    !sv_is_uint(&f[1]) || !sv_is_epoch(&f[2]) ||
	    f[2].via.str.size == 0 || !sv_is_uint(&f[3]) ||
	    f[4].type != MSGPACK_OBJECT_ARRAY)
		return WSD_EPROTO;
	ents = f[4].via.array.ptr;
	for (i = 0; i < f[4].via.array.size; i++) {
		const msgpack_object *x = ents[i].via.array.ptr;

		/* Consecutive seqs that end at the room's. */
		if (!sv_is_array(&ents[i], 3) || !sv_is_uint(&x[0]) ||
		    !sv_is_uint(&x[1]) || x[2].type != MSGPACK_OBJECT_STR ||
		    x[0].via.u64 !=
			f[1].via.u64 - (f[4].via.array.size - 1 - i))
			return WSD_EPROTO;
	}
	if (room_find(m, f[0].via.str.ptr, f[0].via.str.size) != NULL) {
		*why = "a room is listed twice";
		return WSD_EPROTO;
	}
	if ((r = room_get(m, f[0].via.str.ptr, f[0].via.str.size, f[3].via.u64,
			  &rc)) == NULL) {
		*why = rc == WSD_EFULL ? NULL : "out of memory";
		return rc == WSD_EFULL ? WSD_OK
				       : WSD_EPROTO; /* over the bound */
	}
	r->seq = f[1].via.u64;
	memcpy(r->epoch, f[2].via.str.ptr, f[2].via.str.size);
	r->epoch[f[2].via.str.size] = '\0';
	for (i = 0; i < f[4].via.array.size; i++) {
		const msgpack_object *x = ents[i].via.array.ptr;
		struct ment *slot;
		char *text;

		if (log_make_room(m, r) != WSD_OK)
			break;
		if ((text = malloc(x[2].via.str.size + 1)) == NULL) {
			*why = "out of memory";
			return WSD_EPROTO;
		}
		memcpy(text, x[2].via.str.ptr, x[2].via.str.size);
		slot = log_at(r, r->len);
		slot->e.seq = x[0].via.u64;
		slot->e.text = text;
		slot->e.len = x[2].via.str.size;
		slot->at_ms = x[1].via.u64;
		r->len++;
		r->bytes += slot->e.len;
		m->bytes += slot->e.len;
		m->entries++;
	}
	heap_update(m, r);
	budget(m);
	return WSD_OK;
}

static int
restore_session(struct mem *m, const msgpack_object *o, const char **why)
{
	struct sv_sess *s = sv_sess_unpack(o, why);

	if (s == NULL)
		return WSD_EPROTO;
	if (s->expires_ms < wall_ms()) {
		sv_sess_free(s); /* expired meanwhile */
		return WSD_OK;
	}
	return mem_session_put_one(m, s) == WSD_OK ? WSD_OK : WSD_EPROTO;
}

static int
mem_restore(struct sv_engine *e, const msgpack_object *o, const char **why)
{
	struct mem *m = e->impl;
	uint32_t i;

	*why = "not an engine dump";
	if (!sv_is_array(o, 2) ||
	    o->via.array.ptr[0].type != MSGPACK_OBJECT_ARRAY ||
	    o->via.array.ptr[1].type != MSGPACK_OBJECT_ARRAY)
		return WSD_EPROTO;
	for (i = 0; i < o->via.array.ptr[0].via.array.size; i++)
		if (restore_room(m, &o->via.array.ptr[0].via.array.ptr[i],
				 why) != WSD_OK)
			return WSD_EPROTO;
	for (i = 0; i < o->via.array.ptr[1].via.array.size; i++)
		if (restore_session(m, &o->via.array.ptr[1].via.array.ptr[i],
				    why) != WSD_OK)
			return WSD_EPROTO;
	return WSD_OK;
}

int
sv_mem_mirror(struct sv_engine *e, const char *room, size_t rlen,
	      const char *epoch, uint64_t seq, const char *text, size_t len)
{
	struct mem *m = e->impl;
	uint64_t now = wall_ms();
	struct sv_eng_entry out;
	struct mroom *r;
	int rc;

	if ((r = room_get(m, room, rlen, now, &rc)) == NULL)
		return rc;
	r->last_used_ms = now;
	if (strcmp(r->epoch, epoch) != 0) {
		log_clear(m, r);
		snprintf(r->epoch, sizeof(r->epoch), "%s", epoch);
		r->seq = 0;
	} else if (text != NULL && seq <= r->seq) {
		return WSD_EEXIST;
	}
	if (text == NULL) {
		/* Only the position: a log up to another seq is no use. */
		if (seq != r->seq)
			log_clear(m, r);
		r->seq = seq;
		return WSD_OK;
	}
	/* The log holds consecutive seqs, up to the room's. */
	if (seq != r->seq + 1)
		log_clear(m, r);
	r->seq = seq;
	log_trim(m, r, now);
	if (len > UINT32_MAX || !loggable(m, r, room, rlen, len)) {
		log_clear(m, r);
		return WSD_OK;
	}
	if ((out.text = malloc(len ? len : 1)) == NULL) {
		log_clear(m, r);
		return WSD_OK;
	}
	memcpy((char *)out.text, text, len);
	out.seq = seq;
	out.len = (uint32_t)len;
	log_push(m, r, &out, now);
	return WSD_OK;
}

/* Every room is readable at once here. */
static void
mem_prepare(struct sv_engine *e, const char *const *rooms, uint32_t n,
	    sv_eng_ready_fn cb, void *arg)
{
	(void)e;
	(void)rooms;
	(void)n;
	cb(arg, WSD_OK);
}

static void
mem_close(struct sv_engine *e)
{
	struct mem *m = e->impl;
	struct mroom *r, *tmp;

	if (m == NULL)
		return;
	HASH_ITER (hh, m->rooms, r, tmp) {
		room_free(m, r);
	}
	while (!TAILQ_EMPTY(&m->sess_order))
		sess_drop(m, TAILQ_FIRST(&m->sess_order));
	free(m->heap);
	free(m);
	e->impl = NULL;
}

static const struct sv_engine_ops mem_ops = {
    .name = "memory",
    .set_limits = mem_set_limits,
    .publish = mem_publish,
    .history = mem_history,
    .prepare = mem_prepare,
    .session_put = mem_session_put,
    .session_take = mem_session_take,
    .session_peek = mem_session_peek,
    .session_revoke = mem_session_revoke,
    .session_each = mem_session_each,
    .presence_add = mem_presence_add,
    .presence_remove = mem_presence_remove,
    .presence_get = mem_presence_get,
    .rooms = mem_rooms,
    .sweep = mem_sweep,
    .stats = mem_stats,
    .dump = mem_dump,
    .new_epochs = mem_new_epochs,
    .restore = mem_restore,
    .close = mem_close,
};

int
sv_mem_open(struct sv_engine *e, const struct sv_eng_limits *l)
{
	struct mem *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return WSD_ENOMEM;
	m->lim = *l;
	TAILQ_INIT(&m->sess_order);
	e->ops = &mem_ops;
	e->impl = m;
	return WSD_OK;
}
