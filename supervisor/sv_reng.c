/*
 * sv_reng.c: the Redis engine (sv_engine.h), for several wsd nodes behind
 * one load balancer. Its rooms: a publish is stamped by one Lua script on
 * the room's shard, which increments the room's seq, appends the message
 * to the room's stream (trimmed to replay.size, expiring after
 * replay.ttl_ms), and announces it on the room's channel. Every node with
 * members in a room subscribes to its channel, and delivers what it hears
 * in seq order, its own publishes included: so every node delivers the
 * same order, and a publish costs one message per node with members.
 *
 * A node keeps what it heard of each room in a mirror (a memory engine:
 * the room's seq, epoch and replay log), so a subscribe's or a resume's
 * history is read synchronously, as with the memory engine. A room is
 * made ready (prepare) once per node: subscribe, wait for Redis to confirm
 * it, then read the room's seq, epoch and last entries; from then on what
 * is heard follows the mirror. A seq past the next one is a gap (the
 * subscription link was lost, or Redis was): nothing newer is delivered
 * until the entries in between are read from the stream and delivered.
 * Entries the stream no longer has are lost for this node's clients, who
 * see the gap in the seqs and are told recovered false when they ask.
 *
 * With a shard unreachable, its rooms' publishes answer WSD_EAGAIN (the
 * client's `unavailable`), their live rooms keep their mirror (history
 * reads go on), and rooms not ready cannot be made so; when the shard is
 * back, every room is subscribed to again and read from its last seq.
 */
#include "sv_reng.h"

#include <msgpack.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../proto/clock.h"
#include "../proto/err.h"
#include "../proto/log.h"
#include "../proto/room.h"
#include "sv_message.h"

#define FILL_CHUNK 1000		   /* entries a history read asks for */
#define ROOM_IDLE_MS 30000	   /* a room without members is heard as long */
#define ROOM_TTL_EXTRA_MS 86400000 /* a room's seq outlives its log */

/* KEYS m, x, d; ARGV payload, new epoch, maxlen, log ttl, now, channel,
 * has id, room ttl. Returns {seq, epoch, 1 when the id was stamped
 * before}. The stream keeps about maxlen entries (Redis trims whole
 * blocks of them), and each publish drops up to 8 of its oldest that are
 * past the log ttl (an entry's fields are p, then ms). */
static struct sv_redis_script publish_lua = {
    "local ep = redis.call('HGET', KEYS[1], 'epoch')\n"
    "if ARGV[7] == '1' and ep then\n"
    "  local old = redis.call('GET', KEYS[3])\n"
    "  if old then return {tonumber(old), ep, 1} end\n"
    "end\n"
    "if not ep then\n"
    "  ep = ARGV[2]\n"
    "  redis.call('DEL', KEYS[2])\n"
    "  redis.call('HSET', KEYS[1], 'epoch', ep, 'seq', 0)\n"
    "end\n"
    "local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)\n"
    "if tonumber(ARGV[3]) > 0 then\n"
    "  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], seq .. '-0',\n"
    "             'p', ARGV[1], 'ms', ARGV[5])\n"
    "  redis.call('PEXPIRE', KEYS[2], ARGV[4])\n"
    "  local cut = tonumber(ARGV[5]) - tonumber(ARGV[4])\n"
    "  for i = 1, 8 do\n"
    "    local f = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)\n"
    "    if #f == 0 or tonumber(f[1][2][4]) >= cut then break end\n"
    "    redis.call('XDEL', KEYS[2], f[1][1])\n"
    "  end\n"
    "end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[8])\n"
    "if ARGV[7] == '1' then\n"
    "  redis.call('SET', KEYS[3], seq, 'PX', ARGV[4])\n"
    "end\n"
    "redis.call('PUBLISH', ARGV[6], seq .. ':' .. ep .. ':' .. ARGV[1])\n"
    "return {seq, ep, 0}\n",
    ""};

/* KEYS m, x; ARGV after (a seq, or '-' for the newest), count, new
 * epoch, room ttl. Returns {epoch, seq, entries oldest first}, the room
 * made when it has no seq yet. */
static struct sv_redis_script read_lua = {
    "local m = redis.call('HMGET', KEYS[1], 'epoch', 'seq')\n"
    "if not m[1] then\n"
    "  redis.call('DEL', KEYS[2])\n"
    "  redis.call('HSET', KEYS[1], 'epoch', ARGV[3], 'seq', 0)\n"
    "  m = {ARGV[3], '0'}\n"
    "end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[4])\n"
    "local e\n"
    "if ARGV[1] == '-' then\n"
    "  e = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', ARGV[2])\n"
    "  local n = #e\n"
    "  for i = 1, math.floor(n / 2) do\n"
    "    e[i], e[n - i + 1] = e[n - i + 1], e[i]\n"
    "  end\n"
    "else\n"
    "  e = redis.call('XRANGE', KEYS[2], '(' .. ARGV[1] .. '-0', '+',\n"
    "                 'COUNT', ARGV[2])\n"
    "end\n"
    "return {m[1], tonumber(m[2]), e}\n",
    ""};

extern struct sv_redis_script reng_sess_put_lua, reng_sess_take_lua,
    reng_sess_revoke_lua, reng_sess_list_lua, reng_pres_get_lua,
    reng_pres_set_lua, reng_pres_refresh_lua, reng_user_admit_lua,
    reng_nodes_lua;

static struct sv_redis_script *const scripts[] = {
    &publish_lua,	    &read_lua,
    &reng_sess_put_lua,	    &reng_sess_take_lua,
    &reng_sess_revoke_lua,  &reng_sess_list_lua,
    &reng_pres_get_lua,	    &reng_pres_set_lua,
    &reng_pres_refresh_lua, &reng_user_admit_lua,
    &reng_nodes_lua,	    NULL};

/* A prepare waiting for rooms, and its reference from each. */
struct rwait {
	uint32_t left;
	int rc;
	sv_eng_ready_fn cb;
	void *arg;
};

struct rwref {
	struct rwait *w;
	struct rwref *next;
};

size_t
reng_key(const struct reng *x, char *buf, const char *kind, const char *name,
	 size_t len)
{
	int n = snprintf(buf, RENG_KEY_MAX, "%s%s%.*s", x->prefix, kind,
			 (int)len, name);

	return n > 0 && n < RENG_KEY_MAX ? (size_t)n : 0;
}

int
reng_shard(const struct reng *x, const char *name, size_t len)
{
	return sv_redis_shard(x->redis, name, len);
}

static void
new_epoch(char out[SV_EPOCH_LEN + 1])
{
	uint32_t v = 0;

	RAND_bytes((unsigned char *)&v, sizeof(v));
	snprintf(out, SV_EPOCH_LEN + 1, "%08x", v);
}

/* ------------------------------------------------------------------ */
/* The mirror's view of a room. */

struct pos {
	int rc;
	uint64_t seq;
	char epoch[SV_EPOCH_LEN + 1];
};

static void
got_pos(void *arg, const struct sv_eng_hist *h)
{
	struct pos *p = arg;

	p->rc = h->rc;
	if (h->rc == WSD_OK) {
		p->seq = h->seq;
		snprintf(p->epoch, sizeof(p->epoch), "%s", h->epoch);
	}
}

static struct pos
mirror_pos(struct reng *x, const struct rroom *r)
{
	struct pos p = {WSD_ENOENT, 0, ""};

	x->mirror.ops->history(&x->mirror, r->name, r->len, 0, NULL, 0, got_pos,
			       &p);
	return p;
}

/* ------------------------------------------------------------------ */
/* Rooms. */

static void read_room(struct reng *x, struct rroom *r);

static struct rroom *
room_find(struct reng *x, const char *name, size_t len)
{
	struct rroom *r;

	HASH_FIND(hh, x->rooms, name, len, r);
	return r;
}

static struct rroom *
room_get(struct reng *x, const char *name, size_t len)
{
	struct rroom *r = room_find(x, name, len);

	if (r != NULL)
		return r;
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->name = strndup(name, len)) == NULL) {
		free(r);
		return NULL;
	}
	r->len = len;
	r->shard = reng_shard(x, name, len);
	r->idle_ms = wall_ms();
	HASH_ADD_KEYPTR(hh, x->rooms, r->name, len, r);
	return r;
}

/* Every prepare waiting on r hears rc (one room of its rooms). */
static void
wake(struct rroom *r, int rc)
{
	while (r->waits != NULL) {
		struct rwref *ref = r->waits;
		struct rwait *w = ref->w;

		r->waits = ref->next;
		free(ref);
		if (rc != WSD_OK)
			w->rc = rc;
		if (--w->left == 0) {
			w->cb(w->arg, w->rc);
			free(w);
		}
	}
}

static void
room_free(struct reng *x, struct rroom *r)
{
	wake(r, WSD_EAGAIN);
	HASH_DEL(x->rooms, r);
	free(r->name);
	free(r);
}

/* Ask for r's channel; the read follows Redis's confirmation. */
static void
subscribe(struct reng *x, struct rroom *r)
{
	char ch[RENG_KEY_MAX];
	size_t n = reng_key(x, ch, "c:", r->name, r->len);

	if (r->sub != 0 || n == 0)
		return;
	if (sv_redis_subscribe(x->redis, r->shard, ch, n, 1) == WSD_OK)
		r->sub = 1;
	else if (!r->live)
		wake(r, WSD_EAGAIN);
}

/* r is wanted: heard, and its mirror made (a read that failed with the
 * subscription in place is made again). */
static void
need(struct reng *x, struct rroom *r)
{
	if (r->sub == 0)
		subscribe(x, r);
	else if (r->sub == 2 && !r->live)
		read_room(x, r);
}

/* One payload: [node, exclude, stamp, from, data, id, trace, key]. */
struct payload {
	msgpack_unpacked u;
	const char *node, *from, *data, *id, *trace, *key;
	size_t nodelen, fromlen, datalen, idlen, tracelen, keylen;
	uint64_t exclude, stamp;
};

static int
str_or_nil(const msgpack_object *o, const char **p, size_t *len)
{
	if (o->type == MSGPACK_OBJECT_NIL) {
		*p = NULL;
		*len = 0;
		return 1;
	}
	if (o->type != MSGPACK_OBJECT_STR)
		return 0;
	*p = o->via.str.ptr;
	*len = o->via.str.size;
	return 1;
}

/* WSD_OK (free with payload_done) or WSD_EPROTO. */
static int
payload_parse(struct payload *p, const char *data, size_t len)
{
	const msgpack_object *f;

	msgpack_unpacked_init(&p->u);
	if (msgpack_unpack_next(&p->u, data, len, NULL) !=
		MSGPACK_UNPACK_SUCCESS ||
	    p->u.data.type != MSGPACK_OBJECT_ARRAY ||
	    p->u.data.via.array.size != 8)
		goto bad;
	f = p->u.data.via.array.ptr;
	if (!str_or_nil(&f[0], &p->node, &p->nodelen) ||
	    f[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    f[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    !str_or_nil(&f[3], &p->from, &p->fromlen) ||
	    !str_or_nil(&f[4], &p->data, &p->datalen) ||
	    !str_or_nil(&f[5], &p->id, &p->idlen) ||
	    !str_or_nil(&f[6], &p->trace, &p->tracelen) ||
	    !str_or_nil(&f[7], &p->key, &p->keylen) || p->from == NULL ||
	    p->data == NULL || p->tracelen > 64)
		goto bad;
	p->exclude = f[1].via.u64;
	p->stamp = f[2].via.u64;
	return WSD_OK;
bad:
	msgpack_unpacked_destroy(&p->u);
	return WSD_EPROTO;
}

static void
payload_done(struct payload *p)
{
	msgpack_unpacked_destroy(&p->u);
}

/*
 * seq of r, published as payload in epoch: into the mirror and, when
 * deliver says so, to this node's members (the node's own publishes with
 * their exclude, stamp and trace). WSD_OK or an error (logged).
 */
static int
stamp(struct reng *x, struct rroom *r, uint64_t seq, const char *epoch,
      const char *data, size_t len, int deliver)
{
	struct payload p;
	struct sv_message m;
	struct sv_eng_entry e;
	char trace[65];
	char *text;
	size_t tlen;
	int mine, rc;

	if (payload_parse(&p, data, len) != WSD_OK) {
		log_warn("redis_payload_bad", "room=%s seq=%llu",
			 log_qn(r->name, r->len), (unsigned long long)seq);
		return WSD_EPROTO;
	}
	if (p.trace != NULL)
		snprintf(trace, sizeof(trace), "%.*s", (int)p.tracelen,
			 p.trace);
	m = (struct sv_message){r->name,   r->len,  p.from,
				p.fromlen, p.data,  p.datalen,
				p.id,	   p.idlen, p.trace ? trace : NULL};
	if ((text = sv_message_json(&m, seq, &tlen)) == NULL) {
		payload_done(&p);
		return WSD_ENOMEM;
	}
	rc = sv_mem_mirror(&x->mirror, r->name, r->len, epoch, seq, text, tlen);
	if (rc == WSD_OK && deliver && x->self->deliver != NULL) {
		struct sv_eng_delivery d;

		mine = p.node != NULL && p.nodelen == strlen(x->node) &&
		       memcmp(p.node, x->node, p.nodelen) == 0;
		e = (struct sv_eng_entry){seq, text, (uint32_t)tlen};
		d = (struct sv_eng_delivery){r->name,
					     r->len,
					     &e,
					     p.key,
					     p.keylen,
					     mine ? p.exclude : 0,
					     mine ? p.stamp : 0,
					     p.trace ? trace : NULL};
		x->self->deliver(x->self->deliver_arg, &d);
	}
	free(text);
	payload_done(&p);
	return rc == WSD_EEXIST ? WSD_OK : rc;
}

struct read_ctx {
	struct reng *x;
	char *name; /* the room may be gone when the reply comes */
	size_t len;
	int fill; /* the mirror was live: what is read is delivered */
};

/* "SEQ-0" of a stream entry id. */
static uint64_t
entry_seq(const redisReply *id)
{
	return id->type == REDIS_REPLY_STRING ? strtoull(id->str, NULL, 10) : 0;
}

/* The p field of an entry's fields, and in *ms its ms (0: none). */
static const redisReply *
entry_payload(const redisReply *fields, uint64_t *ms)
{
	const redisReply *p = NULL;
	size_t i;

	*ms = 0;
	if (fields->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (i = 0; i + 1 < fields->elements; i += 2) {
		const redisReply *k = fields->element[i],
				 *v = fields->element[i + 1];

		if (k->type != REDIS_REPLY_STRING ||
		    v->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(k->str, "p") == 0)
			p = v;
		else if (strcmp(k->str, "ms") == 0)
			*ms = strtoull(v->str, NULL, 10);
	}
	return p;
}

/* Apply a read's reply to r: WSD_OK, or WSD_EAGAIN (no reply). */
static int
apply_read(struct reng *x, struct rroom *r, const redisReply *rep, int fill)
{
	const redisReply *es;
	struct pos at = mirror_pos(x, r);
	const char *epoch;
	uint64_t seq, last;
	size_t i;

	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY ||
	    rep->elements != 3 || rep->element[0]->type != REDIS_REPLY_STRING ||
	    rep->element[1]->type != REDIS_REPLY_INTEGER ||
	    rep->element[2]->type != REDIS_REPLY_ARRAY ||
	    rep->element[0]->len != SV_EPOCH_LEN)
		return WSD_EAGAIN;
	epoch = rep->element[0]->str;
	seq = (uint64_t)rep->element[1]->integer;
	es = rep->element[2];
	if (at.rc == WSD_OK && strcmp(at.epoch, epoch) != 0) {
		if (fill) {
			x->epoch_changes++;
			log_warn("room_epoch_changed", "room=%s seq=%llu",
				 log_qn(r->name, r->len),
				 (unsigned long long)at.seq);
		}
		at.seq = 0;
	}
	last = at.rc == WSD_OK ? at.seq : 0;
	for (i = 0; i < es->elements; i++) {
		const redisReply *en = es->element[i], *p;
		uint64_t s, ms;

		if (en->type != REDIS_REPLY_ARRAY || en->elements != 2 ||
		    (p = entry_payload(en->element[1], &ms)) == NULL)
			continue;
		/* Past replay.ttl_ms: not replayed (a fill still delivers
		 * it: it is news to this node's clients). */
		if (!fill && ms + x->lim.replay_ttl_ms < wall_ms())
			continue;
		if ((s = entry_seq(en->element[0])) <= last)
			continue;
		if (fill && s != last + 1) {
			x->gaps_lost += s - last - 1;
			log_warn(
			    "room_gap_lost", "room=%s after=%llu next=%llu",
			    log_qn(r->name, r->len), (unsigned long long)last,
			    (unsigned long long)s);
		} else if (fill) {
			x->gaps_filled++;
		}
		if (stamp(x, r, s, epoch, p->str, p->len, fill) == WSD_OK)
			last = s;
	}
	/* What the stream no longer has: the position alone. */
	if (seq > last) {
		if (fill && es->elements == 0) {
			x->gaps_lost += seq - last;
			log_warn(
			    "room_gap_lost", "room=%s after=%llu next=%llu",
			    log_qn(r->name, r->len), (unsigned long long)last,
			    (unsigned long long)seq + 1);
		}
		/* A full chunk: the rest is read next. */
		if (es->elements < FILL_CHUNK || !fill)
			return sv_mem_mirror(&x->mirror, r->name, r->len, epoch,
					     seq, NULL, 0);
		r->again = 1;
	} else if (at.rc != WSD_OK || strcmp(at.epoch, epoch) != 0) {
		return sv_mem_mirror(&x->mirror, r->name, r->len, epoch, seq,
				     NULL, 0);
	}
	return WSD_OK;
}

static void
on_read(void *arg, const redisReply *rep)
{
	struct read_ctx *c = arg;
	struct reng *x = c->x;
	struct rroom *r = room_find(x, c->name, c->len);
	int rc;

	free(c->name);
	if (r == NULL) {
		free(c);
		return;
	}
	r->reading = 0;
	rc = apply_read(x, r, rep, c->fill);
	free(c);
	if (rc != WSD_OK) {
		/* Without the read the mirror may lag: read when the link
		 * is back (a live room stays readable meanwhile). */
		if (!r->live)
			wake(r, rc);
		return;
	}
	r->live = 1;
	wake(r, WSD_OK);
	if (r->again) {
		r->again = 0;
		read_room(x, r);
	}
}

/* Read r's seq, epoch and entries: after the mirror's seq when it is
 * live (a gap to fill), else the newest replay.size. */
static void
read_room(struct reng *x, struct rroom *r)
{
	char km[RENG_KEY_MAX], kx[RENG_KEY_MAX], after[24], count[24],
	    epoch[SV_EPOCH_LEN + 1], ttl[24];
	const char *argv[6];
	size_t lens[6];
	struct read_ctx *c;
	struct pos at;
	uint64_t n;
	/* A room with members here (an anonymous user's personal room,
	 * watched before its first read) gets what it reads delivered. */
	int fill = r->live || r->watchers > 0;

	if (r->reading) {
		r->again = 1; /* what the one in flight may miss */
		return;
	}
	at = mirror_pos(x, r);
	if (fill)
		snprintf(after, sizeof(after), "%llu",
			 (unsigned long long)(at.rc == WSD_OK ? at.seq : 0));
	else
		snprintf(after, sizeof(after), "-");
	n = fill ? FILL_CHUNK : x->lim.replay_size;
	snprintf(count, sizeof(count), "%llu",
		 (unsigned long long)(n > 0 ? n : 1));
	snprintf(
	    ttl, sizeof(ttl), "%llu",
	    (unsigned long long)(x->lim.replay_ttl_ms * 2 + ROOM_TTL_EXTRA_MS));
	new_epoch(epoch);
	if ((lens[0] = reng_key(x, km, "m:", r->name, r->len)) == 0 ||
	    (lens[1] = reng_key(x, kx, "x:", r->name, r->len)) == 0 ||
	    (c = calloc(1, sizeof(*c))) == NULL)
		return;
	if ((c->name = strndup(r->name, r->len)) == NULL) {
		free(c);
		return;
	}
	c->x = x;
	c->len = r->len;
	c->fill = fill;
	argv[0] = km;
	argv[1] = kx;
	argv[2] = after;
	argv[3] = count;
	argv[4] = epoch;
	argv[5] = ttl;
	lens[2] = strlen(after);
	lens[3] = strlen(count);
	lens[4] = SV_EPOCH_LEN;
	lens[5] = strlen(ttl);
	if (sv_redis_eval(x->redis, r->shard, &read_lua, on_read, c, 2, 6, argv,
			  lens) != WSD_OK) {
		free(c->name);
		free(c);
		if (!r->live)
			wake(r, WSD_EAGAIN);
		return;
	}
	r->reading = 1;
}

/* The room a channel is of, or NULL. */
static struct rroom *
channel_room(struct reng *x, const char *ch, size_t clen)
{
	if (clen < x->plen + 2 || memcmp(ch, x->prefix, x->plen) != 0 ||
	    memcmp(ch + x->plen, "c:", 2) != 0)
		return NULL;
	return room_find(x, ch + x->plen + 2, clen - x->plen - 2);
}

static void
on_subscribed(void *arg, int shard, const char *ch, size_t clen)
{
	struct reng *x = arg;
	struct rroom *r = channel_room(x, ch, clen);

	(void)shard;
	if (r == NULL)
		return;
	r->sub = 2;
	read_room(x, r);
}

static void
on_message(void *arg, int shard, const char *ch, size_t clen, const char *data,
	   size_t len)
{
	struct reng *x = arg;
	struct rroom *r = channel_room(x, ch, clen);
	const char *colon, *end = data + len;
	char epoch[SV_EPOCH_LEN + 1];
	struct pos at;
	uint64_t seq;

	(void)shard;
	if (r == NULL)
		return;
	/* Not in step yet, or catching up: what the read after this one
	 * finds covers it. */
	if (!r->live || r->reading) {
		r->again = 1;
		return;
	}
	seq = strtoull(data, NULL, 10);
	if ((colon = memchr(data, ':', len)) == NULL ||
	    end - colon < SV_EPOCH_LEN + 2 || colon[SV_EPOCH_LEN + 1] != ':')
		return;
	memcpy(epoch, colon + 1, SV_EPOCH_LEN);
	epoch[SV_EPOCH_LEN] = '\0';
	at = mirror_pos(x, r);
	if (at.rc == WSD_OK && strcmp(at.epoch, epoch) == 0) {
		if (seq <= at.seq)
			return; /* delivered already (a read had it) */
		if (seq == at.seq + 1) {
			stamp(x, r, seq, epoch, colon + SV_EPOCH_LEN + 2,
			      (size_t)(end - colon - SV_EPOCH_LEN - 2), 1);
			return;
		}
	}
	/* A gap, or another epoch: read what is missing first. */
	read_room(x, r);
}

static void
on_up(void *arg, int shard)
{
	struct reng *x = arg;
	struct rroom *r, *tmp;

	if (x->dirty)
		reng_node_rewrite(x);
	else
		reng_node_beat(x);
	HASH_ITER (hh, x->rooms, r, tmp) {
		if (r->shard != shard)
			continue;
		r->sub = 0;
		if (r->watchers > 0 || r->live || r->waits != NULL)
			subscribe(x, r);
	}
}

static void
on_down(void *arg, int shard)
{
	struct reng *x = arg;
	struct rroom *r, *tmp;

	x->unavailable++;
	x->dirty = 1;
	HASH_ITER (hh, x->rooms, r, tmp) {
		if (r->shard != shard)
			continue;
		r->sub = 0;
		if (!r->live)
			wake(r, WSD_EAGAIN);
	}
}

/* ------------------------------------------------------------------ */
/* The engine's operations. */

/* The mirror's budgets: the engine's, but no bound on its rooms, which
 * are the rooms with members here and its users' personal rooms (the
 * rooms themselves live in Redis). */
static const struct sv_eng_limits *
mirror_limits(const struct sv_eng_limits *l, struct sv_eng_limits *out)
{
	*out = *l;
	out->max_rooms = UINT64_MAX;
	return out;
}

static void
reng_set_limits(struct sv_engine *e, const struct sv_eng_limits *l)
{
	struct reng *x = e->impl;
	struct sv_eng_limits ml;

	x->lim = *l;
	x->mirror.ops->set_limits(&x->mirror, mirror_limits(l, &ml));
}

struct pub_ctx {
	sv_eng_pub_fn cb;
	void *arg;
};

static void
on_published(void *arg, const redisReply *rep)
{
	struct pub_ctx *c = arg;

	if (rep != NULL && rep->type == REDIS_REPLY_ARRAY &&
	    rep->elements == 3 && rep->element[0]->type == REDIS_REPLY_INTEGER)
		c->cb(c->arg, WSD_OK, (uint64_t)rep->element[0]->integer, -1);
	else
		c->cb(c->arg, WSD_EAGAIN, 0, 0);
	free(c);
}

static int
pack_opt(msgpack_packer *pk, const char *s, size_t len)
{
	if (s == NULL)
		return msgpack_pack_nil(pk);
	return msgpack_pack_str(pk, len) || msgpack_pack_str_body(pk, s, len);
}

static void
reng_publish(struct sv_engine *e, const struct sv_eng_pub *p, sv_eng_pub_fn cb,
	     void *arg)
{
	struct reng *x = e->impl;
	char km[RENG_KEY_MAX], kx[RENG_KEY_MAX], kd[RENG_KEY_MAX],
	    ch[RENG_KEY_MAX], epoch[SV_EPOCH_LEN + 1], maxlen[24], ttl[24],
	    now[24], rttl[24], dname[RENG_KEY_MAX];
	const char *argv[11];
	size_t lens[11];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct pub_ctx *c;
	int shard = reng_shard(x, p->room, p->rlen), n, rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	n = snprintf(dname, sizeof(dname), "%.*s\n%.*s\n%.*s", (int)p->rlen,
		     p->room, (int)p->fromlen, p->from, (int)p->idlen,
		     p->id ? p->id : "");
	if (msgpack_pack_array(&pk, 8) ||
	    pack_opt(&pk, x->node, strlen(x->node)) ||
	    msgpack_pack_uint64(&pk, p->exclude) ||
	    msgpack_pack_uint64(&pk, p->stamp) ||
	    pack_opt(&pk, p->from, p->fromlen) ||
	    pack_opt(&pk, p->data, p->datalen) ||
	    pack_opt(&pk, p->id, p->idlen) ||
	    pack_opt(&pk, p->trace, p->trace ? strlen(p->trace) : 0) ||
	    pack_opt(&pk, p->key, p->keylen) ||
	    (lens[0] = reng_key(x, km, "m:", p->room, p->rlen)) == 0 ||
	    (lens[1] = reng_key(x, kx, "x:", p->room, p->rlen)) == 0 ||
	    n <= 0 || n >= (int)sizeof(dname) ||
	    (lens[2] = reng_key(x, kd, "d:", dname, (size_t)n)) == 0 ||
	    (lens[8] = reng_key(x, ch, "c:", p->room, p->rlen)) == 0 ||
	    (c = malloc(sizeof(*c))) == NULL) {
		msgpack_sbuffer_destroy(&sb);
		cb(arg, WSD_ENOMEM, 0, 0);
		return;
	}
	new_epoch(epoch);
	/* `*` has no log (nobody can subscribe to it with since). */
	snprintf(maxlen, sizeof(maxlen), "%llu",
		 room_is_broadcast(p->room, p->rlen)
		     ? 0ULL
		     : (unsigned long long)x->lim.replay_size);
	snprintf(ttl, sizeof(ttl), "%llu",
		 (unsigned long long)x->lim.replay_ttl_ms);
	snprintf(now, sizeof(now), "%llu", (unsigned long long)wall_ms());
	snprintf(
	    rttl, sizeof(rttl), "%llu",
	    (unsigned long long)(x->lim.replay_ttl_ms * 2 + ROOM_TTL_EXTRA_MS));
	argv[0] = km;
	argv[1] = kx;
	argv[2] = kd;
	argv[3] = sb.data;
	lens[3] = sb.size;
	argv[4] = epoch;
	lens[4] = SV_EPOCH_LEN;
	argv[5] = maxlen;
	lens[5] = strlen(maxlen);
	argv[6] = ttl;
	lens[6] = strlen(ttl);
	argv[7] = now;
	lens[7] = strlen(now);
	argv[8] = ch;
	argv[9] = p->idlen > 0 ? "1" : "0";
	lens[9] = 1;
	argv[10] = rttl;
	lens[10] = strlen(rttl);
	c->cb = cb;
	c->arg = arg;
	rc = sv_redis_eval(x->redis, shard, &publish_lua, on_published, c, 3,
			   11, argv, lens);
	msgpack_sbuffer_destroy(&sb);
	if (rc != WSD_OK) {
		free(c);
		cb(arg, rc == WSD_ENOMEM ? WSD_ENOMEM : WSD_EAGAIN, 0, 0);
	}
}

static void
reng_history(struct sv_engine *e, const char *room, size_t rlen, uint64_t since,
	     const char *epoch, unsigned flags, sv_eng_hist_fn cb, void *arg)
{
	struct reng *x = e->impl;
	struct rroom *r = room_find(x, room, rlen);
	struct sv_eng_hist h;

	if (r == NULL || !r->live) {
		memset(&h, 0, sizeof(h));
		h.rc = WSD_EAGAIN;
		cb(arg, &h);
		return;
	}
	/* The mirror has the room (a live one's position is there). */
	x->mirror.ops->history(&x->mirror, room, rlen, since, epoch,
			       flags & SV_ENG_SINCE, cb, arg);
}

static void
reng_watch(struct sv_engine *e, const char *room, size_t rlen, int delta)
{
	struct reng *x = e->impl;
	struct rroom *r =
	    delta > 0 ? room_get(x, room, rlen) : room_find(x, room, rlen);

	if (r == NULL)
		return;
	if (delta > 0) {
		r->watchers++;
		need(x, r);
	} else if (r->watchers > 0 && --r->watchers == 0) {
		r->idle_ms = wall_ms();
	}
}

static void
reng_prepare(struct sv_engine *e, const char *const *rooms, uint32_t n,
	     sv_eng_ready_fn cb, void *arg)
{
	struct reng *x = e->impl;
	struct rwait *w = x->closing ? NULL : calloc(1, sizeof(*w));
	uint32_t i;

	if (w == NULL) {
		cb(arg, x->closing ? WSD_EAGAIN : WSD_ENOMEM);
		return;
	}
	/* One count more than the rooms, dropped at the end: the callback
	 * comes once, after the loop, when every room is ready at once. */
	*w = (struct rwait){n + 1, WSD_OK, cb, arg};
	for (i = 0; i < n; i++) {
		struct rroom *r = room_get(x, rooms[i], strlen(rooms[i]));
		struct rwref *ref;

		if (r == NULL || (ref = malloc(sizeof(*ref))) == NULL) {
			w->rc = WSD_ENOMEM;
			w->left--;
			continue;
		}
		r->idle_ms = wall_ms();
		if (r->live) {
			free(ref);
			w->left--;
			continue;
		}
		ref->w = w;
		ref->next = r->waits;
		r->waits = ref;
		if (!sv_redis_up(x->redis, r->shard)) {
			wake(r, WSD_EAGAIN);
			continue;
		}
		need(x, r);
	}
	if (--w->left == 0) {
		w->cb(w->arg, w->rc);
		free(w);
	}
}

static void
reng_links(struct sv_engine *e, sv_eng_link_fn cb, void *arg)
{
	struct reng *x = e->impl;
	struct sv_eng_link l;
	int i;

	for (i = 0; i < sv_redis_nshards(x->redis); i++) {
		sv_redis_link(x->redis, i, &l);
		cb(arg, &l);
	}
}

static int
reng_session_peek(struct sv_engine *e, const uint8_t id[SV_SESSION_ID_BYTES],
		  uint64_t nonce)
{
	/* Not asked of Redis on the admission path (it would wait for a
	 * reply): a token whose signature holds is taken to name a session
	 * that waits, and the resume itself checks. */
	(void)e;
	(void)id;
	(void)nonce;
	return 1;
}

static void
reng_rooms(struct sv_engine *e, const char *name, uint32_t limit,
	   sv_eng_room_fn cb, void *arg)
{
	struct reng *x = e->impl;

	x->mirror.ops->rooms(&x->mirror, name, limit, cb, arg);
}

/* Keep the mirror's rooms this node still hears. */
struct in_use_ctx {
	struct reng *x;
	int (*in_use)(void *arg, const char *room);
	void *arg;
};

static int
heard(void *arg, const char *room)
{
	struct in_use_ctx *c = arg;
	struct rroom *r = room_find(c->x, room, strlen(room));

	return (r != NULL && r->live) ||
	       (c->in_use != NULL && c->in_use(c->arg, room));
}

static void
reng_sweep(struct sv_engine *e, uint64_t now, uint64_t idle_ms,
	   int (*in_use)(void *arg, const char *room), void *arg)
{
	struct reng *x = e->impl;
	struct in_use_ctx c = {x, in_use, arg};
	struct rroom *r, *tmp;
	char ch[RENG_KEY_MAX];
	size_t n;

	/* Rooms without members for a while are not heard any more. */
	HASH_ITER (hh, x->rooms, r, tmp) {
		if (r->watchers > 0 || r->waits != NULL ||
		    room_is_broadcast(r->name, r->len) ||
		    now - r->idle_ms < ROOM_IDLE_MS)
			continue;
		if (r->sub != 0 &&
		    (n = reng_key(x, ch, "c:", r->name, r->len)) > 0)
			sv_redis_subscribe(x->redis, r->shard, ch, n, 0);
		room_free(x, r);
	}
	x->mirror.ops->sweep(&x->mirror, now, idle_ms, heard, &c);
}

static void
reng_stats(struct sv_engine *e, struct sv_eng_stats *out)
{
	struct reng *x = e->impl;

	x->mirror.ops->stats(&x->mirror, out);
	out->sessions = 0; /* in Redis */
	out->session_bytes = 0;
	out->gaps_filled = x->gaps_filled;
	out->gaps_lost = x->gaps_lost;
}

static int
reng_dump(struct sv_engine *e, msgpack_packer *pk, struct sv_sess *const *live,
	  uint32_t nlive)
{
	struct reng *x = e->impl;

	/* Rooms and detached sessions are in Redis already; the connected
	 * clients' sessions go there now, to be resumed on any node. The
	 * state file holds an empty dump. */
	reng_sessions_flush(x, live, nlive);
	return msgpack_pack_array(pk, 2) == 0 &&
		       msgpack_pack_array(pk, 0) == 0 &&
		       msgpack_pack_array(pk, 0) == 0
		   ? WSD_OK
		   : WSD_ENOMEM;
}

static void
reng_new_epochs(struct sv_engine *e)
{
	(void)e; /* Redis keeps the epochs */
}

static int
reng_restore(struct sv_engine *e, const msgpack_object *o, const char **why)
{
	(void)e;
	(void)o;
	*why = "the Redis engine keeps its state in Redis";
	return WSD_OK;
}

static void
reng_counts(struct sv_engine *e, uint64_t conns, uint64_t users)
{
	struct reng *x = e->impl;

	x->conns = conns;
	x->users = users;
}

static void
reng_close(struct sv_engine *e)
{
	struct reng *x = e->impl;
	struct rroom *r, *tmp;
	struct ucount *u, *utmp;

	if (x == NULL)
		return;
	/* Every waiter hears no first, while the links still are (its
	 * callback may send again); then the links go, and what was in
	 * flight gets NULL; then what the rooms hold. */
	x->closing = 1;
	HASH_ITER (hh, x->rooms, r, tmp) {
		wake(r, WSD_EAGAIN);
	}
	reng_node_stop(x);
	sv_redis_close(x->redis);
	HASH_ITER (hh, x->rooms, r, tmp) {
		room_free(x, r);
	}
	HASH_ITER (hh, x->ucounts, u, utmp) {
		HASH_DEL(x->ucounts, u);
		free(u->user);
		free(u);
	}
	x->mirror.ops->close(&x->mirror);
	free(x);
	e->impl = NULL;
}

static const struct sv_engine_ops reng_ops = {
    .name = "redis",
    .set_limits = reng_set_limits,
    .publish = reng_publish,
    .history = reng_history,
    .watch = reng_watch,
    .prepare = reng_prepare,
    .links = reng_links,
    .admit = reng_admit,
    .release = reng_release,
    .nodes = reng_nodes,
    .counts = reng_counts,
    .session_put = reng_session_put,
    .session_take = reng_session_take,
    .session_peek = reng_session_peek,
    .session_revoke = reng_session_revoke,
    .session_each = reng_session_each,
    .presence_add = reng_presence_add,
    .presence_remove = reng_presence_remove,
    .presence_get = reng_presence_get,
    .rooms = reng_rooms,
    .sweep = reng_sweep,
    .stats = reng_stats,
    .dump = reng_dump,
    .new_epochs = reng_new_epochs,
    .restore = reng_restore,
    .close = reng_close,
};

/* The node's id: node_id, or this host and the listen port. */
static void
node_name(struct reng *x, const struct sv_config *cfg)
{
	char host[128] = "localhost", boot[SV_EPOCH_LEN + 1];
	const char *port = strrchr(cfg->listen, ':');

	if (cfg->node_id[0] != '\0') {
		snprintf(x->node_id, sizeof(x->node_id), "%s", cfg->node_id);
	} else {
		gethostname(host, sizeof(host) - 1);
		snprintf(x->node_id, sizeof(x->node_id), "%s%s", host,
			 port ? port : "");
	}
	new_epoch(boot);
	snprintf(x->node, sizeof(x->node), "%s/%s", x->node_id, boot);
	snprintf(x->listen, sizeof(x->listen), "%s", cfg->listen);
}

int
sv_reng_open(struct sv_engine *e, const struct sv_eng_limits *l,
	     struct ev_loop *loop, const struct sv_config *cfg,
	     const char **why)
{
	static const char *const local[] = {"127.0.0.1:6379"};
	const struct sv_redis_handlers h = {on_message, on_subscribed, on_up,
					    on_down, NULL};
	struct setting_list addrs = cfg->redis_addresses;
	struct sv_redis_handlers hx = h;
	struct reng *x = calloc(1, sizeof(*x));
	struct sv_eng_limits ml;
	int rc;

	*why = "out of memory";
	if (x == NULL)
		return WSD_ENOMEM;
	if (sv_mem_open(&x->mirror, mirror_limits(l, &ml)) != WSD_OK) {
		free(x);
		return WSD_ENOMEM;
	}
	if (addrs.n == 0) {
		addrs.n = 1;
		addrs.v = (char **)local;
	}
	x->self = e;
	x->loop = loop;
	x->lim = *l;
	snprintf(x->prefix, sizeof(x->prefix), "%s", cfg->redis_prefix);
	x->plen = strlen(x->prefix);
	x->node_ttl_ms = cfg->redis_node_ttl_ms;
	node_name(x, cfg);
	hx.arg = x;
	reng_key(x, x->keepalive, "k:", x->node, strlen(x->node));
	rc = sv_redis_open(&x->redis, loop, &addrs, cfg->redis_timeout_ms,
			   x->keepalive, scripts, &hx, why);
	if (rc != WSD_OK) {
		x->mirror.ops->close(&x->mirror);
		free(x);
		return rc;
	}
	e->ops = &reng_ops;
	e->impl = x;
	/* Every node hears `*`, the broadcast room. */
	reng_watch(e, ROOM_BROADCAST, 1, 1);
	reng_node_start(x);
	log_info("engine_opened", "engine=redis node=%s shards=%d",
		 log_q(x->node), sv_redis_nshards(x->redis));
	return WSD_OK;
}
