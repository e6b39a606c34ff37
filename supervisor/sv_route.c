/*
 * sv_route.c: room routing in the supervisor (sv_route.h). A publish goes
 * to the engine, which stamps the room's next seq and logs the client
 * text, built once; in its completion one DELIVER goes to each worker
 * that has members, and each worker frames it once and fans it out to
 * its own connections. A personal room `user:ID` has no member list: its
 * members are the user's connections (the user index), and each gets its
 * own DELIVER. Subscribes join the registry and the engine's presence
 * and, with `since`, replay what the log still holds, in order, before
 * any live delivery (the worker's channel is ordered, and the supervisor
 * is one thread).
 */
#include "sv_route.h"

#include "sv.h"

#include <fnmatch.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/clock.h"
#include "../proto/log.h"
#include "../proto/trace.h"
#include "sv_message.h"

struct pub_ctx {
	struct sv *sv;
	sv_route_done_fn done;
	void *arg;
};

/* Send m (a DELIVER) to the members of room; returns the sends. */
static int
fan_out(struct sv *sv, const char *room, size_t rlen, struct proto_msg *m)
{
	int i, sent = 0, all = room_is_broadcast(room, rlen);
	struct sv_room *r = NULL;

	if (room_is_personal(room, rlen)) {
		const char *user;
		struct sv_user *u;
		struct sv_conn *c;
		size_t ulen;

		user = room_personal_user(room, rlen, &ulen);
		if ((u = sv_reg_user_find(&sv->reg, user, ulen)) == NULL)
			return 0;
		TAILQ_FOREACH (c, &u->conns, by_user) {
			m->conn = c->id;
			if (c->id != m->exclude &&
			    sv_worker_send(sv, sv_worker_get(sv, c->worker),
					   m) == WSD_OK)
				sent++;
		}
		m->conn = 0;
		return sent;
	}
	if (!all && (r = sv_reg_room_get(&sv->reg, room, rlen, 0)) == NULL)
		return 0;
	for (i = 0; i < SV_MAX_WORKERS; i++) {
		struct sv_worker *w = sv_worker_get(sv, i);

		if (!sv_worker_up(w))
			continue;
		if (!all && sv_reg_room_on_worker(r, i) == 0)
			continue;
		if (sv_worker_send(sv, w, m) == WSD_OK)
			sent++;
	}
	return sent;
}

/* The engine's delivery: one DELIVER to each worker with members. */
static int
deliver(void *arg, const struct sv_eng_delivery *d)
{
	struct sv *sv = arg;
	struct proto_msg m;
	int sent;

	if (d->e->len > PROTO_MAX_DATA)
		return 0;
	memset(&m, 0, sizeof(m));
	m.type = PROTO_DELIVER;
	m.room.p = d->room;
	m.room.len = (uint32_t)d->rlen;
	m.seq = d->e->seq;
	m.exclude = d->exclude;
	m.flags = room_is_broadcast(d->room, d->rlen) ? PROTO_F_BROADCAST : 0;
	m.data.p = d->e->text;
	m.data.len = d->e->len;
	m.stamp = d->stamp;
	if (d->key != NULL) {
		m.key.p = d->key;
		m.key.len = (uint32_t)d->keylen;
	}
	sent = fan_out(sv, d->room, d->rlen, &m);
	sv->stats.deliveries += (uint64_t)sent;
	if (d->trace != NULL)
		log_debug("publish_traced", "room=%s seq=%llu sends=%d%s",
			  log_qn(d->room, d->rlen),
			  (unsigned long long)d->e->seq, sent,
			  trace_log_kv(d->trace));
	return sent;
}

void
sv_route_attach(struct sv *sv)
{
	sv->eng.deliver = deliver;
	sv->eng.deliver_arg = sv;
}

static void
published(void *arg, int rc, uint64_t seq, int sends)
{
	struct pub_ctx *x = arg;

	if (rc == WSD_OK)
		x->sv->stats.publishes++;
	else if (rc == WSD_EAGAIN)
		x->sv->stats.publishes_unavailable++;
	if (x->done != NULL)
		x->done(x->arg, rc, rc == WSD_OK ? seq : 0, sends);
	free(x);
}

void
sv_route_publish(struct sv *sv, const struct sv_route_pub *p,
		 sv_route_done_fn done, void *arg)
{
	struct sv_eng_pub ep = {p->room,  p->rlen,    p->from,	 p->fromlen,
				p->data,  p->datalen, p->id,	 p->idlen,
				p->trace, p->key,     p->keylen, p->exclude,
				mono_us()};
	struct pub_ctx *ctx = malloc(sizeof(*ctx));

	if (ctx == NULL) {
		if (done != NULL)
			done(arg, WSD_ENOMEM, 0, 0);
		return;
	}
	*ctx = (struct pub_ctx){sv, done, arg};
	sv->eng.ops->publish(&sv->eng, &ep, published, ctx);
}

int
sv_route_direct(struct sv *sv, struct sv_conn *c, const char *data,
		size_t datalen, const char *trace)
{
	struct sv_message dm = {.from = "server",
				.fromlen = 6,
				.data = data,
				.datalen = datalen,
				.trace = trace};
	struct proto_msg m;
	size_t len;
	char *payload;
	int rc;

	payload = sv_message_json(&dm, 0, &len);
	if (payload == NULL)
		return WSD_ENOMEM;
	memset(&m, 0, sizeof(m));
	m.type = PROTO_DELIVER;
	m.conn = c->id;
	m.data.p = payload;
	m.data.len = (uint32_t)len;
	rc = sv_worker_send(sv, sv_worker_get(sv, c->worker), &m);
	free(payload);
	return rc;
}

int
sv_route_text(struct sv *sv, struct sv_conn *c, const char *text, size_t len)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_DELIVER;
	m.conn = c->id;
	m.data.p = text;
	m.data.len = (uint32_t)len;
	return sv_worker_send(sv, sv_worker_get(sv, c->worker), &m);
}

void
sv_route_error(struct sv *sv, struct sv_conn *c, const char *code,
	       const char *reason, struct proto_str ref, unsigned flags)
{
	struct proto_msg e;

	memset(&e, 0, sizeof(e));
	e.type = PROTO_ERROR;
	e.conn = c->id;
	e.code = proto_cstr(code);
	e.reason = proto_cstr(reason);
	e.id = ref;
	e.flags = flags;
	sv_worker_send(sv, sv_worker_get(sv, c->worker), &e);
}

/* The client's code for a room that could not be joined or made. */
static const char *
refusal_code(int rc)
{
	return rc == WSD_EFULL	  ? "room_limit"
	       : rc == WSD_EAGAIN ? "unavailable"
				  : "internal";
}

/* An error for a refused join, publish or subscribe (code as
 * sv_route_join gives it); flags as sv_route_error. */
static void
refuse(struct sv *sv, struct sv_conn *c, const char *code, struct proto_str ref,
       unsigned flags)
{
	const char *reason =
	    strcmp(code, "too_many_rooms") == 0 ? "room limit reached"
	    : strcmp(code, "room_limit") == 0	? "too many rooms on the server"
	    : strcmp(code, "unavailable") == 0 ? "the engine cannot take it now"
					       : "out of memory";

	sv_route_error(sv, c, code, reason, ref, flags);
}

int
sv_route_pattern(const struct setting_list *list, const char *room)
{
	uint32_t i;

	for (i = 0; i < list->n; i++)
		if (fnmatch(list->v[i], room, 0) == 0)
			return 1;
	return 0;
}

/* This node has one member more or less in room (sv_engine.h). */
static void
watch(struct sv *sv, const char *room, size_t rlen, int delta)
{
	if (sv->eng.ops->watch != NULL)
		sv->eng.ops->watch(&sv->eng, room, rlen, delta);
}

/* {"type":"join"|"leave","room":R,"user":U,"info":I} to the room's
 * members but c, where presence.announce says so. */
static void
announce(struct sv *sv, struct sv_conn *c, const char *type, const char *room,
	 size_t rlen)
{
	json_t *info = NULL, *o;
	struct proto_msg m;
	char *text;

	if (!sv_route_pattern(&sv->cfg->presence_announce, room))
		return;
	if (c->info != NULL)
		info = json_loads(c->info, 0, NULL);
	o = json_pack("{s:s, s:s#, s:s, s:o}", "type", type, "room", room,
		      (int)rlen, "user", c->user->name, "info",
		      info ? info : json_null());
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text == NULL)
		return;
	memset(&m, 0, sizeof(m));
	m.type = PROTO_DELIVER;
	m.room.p = room;
	m.room.len = (uint32_t)rlen;
	m.exclude = c->id;
	m.data = proto_cstr(text);
	fan_out(sv, room, rlen, &m);
	free(text);
}

int
sv_route_join(struct sv *sv, struct sv_conn *c, const char *name, size_t rlen,
	      const char **code)
{
	struct sv_room *room;
	int rc, n;

	*code = "internal";
	room = sv_reg_room_get(&sv->reg, name, rlen, 1);
	if (room == NULL)
		return WSD_ENOMEM;
	if (sv_reg_is_member(c, room))
		return WSD_EEXIST;
	if (c->nrooms >= sv->cfg->w.max_rooms_per_conn) {
		sv_reg_room_drop(&sv->reg, room);
		*code = "too_many_rooms";
		return WSD_EFULL;
	}
	n = sv->eng.ops->presence_add(&sv->eng, name, rlen, c->user->name,
				      c->info);
	if (n < 0) {
		sv_reg_room_drop(&sv->reg, room);
		*code = refusal_code(n);
		return n;
	}
	if ((rc = sv_reg_join(&sv->reg, c, room)) != WSD_OK) {
		sv->eng.ops->presence_remove(&sv->eng, name, rlen,
					     c->user->name);
		sv_reg_room_drop(&sv->reg, room);
		return rc;
	}
	watch(sv, name, rlen, 1);
	if (n == 1)
		announce(sv, c, "join", name, rlen);
	return WSD_OK;
}

/* c leaves room in the engine (the registry is the caller's). */
static void
absent(struct sv *sv, struct sv_conn *c, const char *name, size_t rlen)
{
	if (sv->eng.ops->presence_remove(&sv->eng, name, rlen, c->user->name) ==
	    0)
		announce(sv, c, "leave", name, rlen);
	watch(sv, name, rlen, -1);
}

/* c's personal room, watched while c is here (an anonymous one's too:
 * a `send` to its user reaches it, and its session keeps the seq). */
void
sv_route_personal(struct sv *sv, struct sv_conn *c, int delta)
{
	char personal[ROOM_PERSONAL_MAX + 1];
	int n;

	if ((n = room_personal_name(personal, sizeof(personal), c->user->name,
				    strlen(c->user->name))) >= 0)
		watch(sv, personal, (size_t)n, delta);
}

void
sv_route_came(struct sv *sv, struct sv_conn *c)
{
	sv_route_personal(sv, c, 1);
}

void
sv_route_gone(struct sv *sv, struct sv_conn *c)
{
	struct sv_member *m;

	if (c->admitting)
		return; /* never in a room */
	LIST_FOREACH (m, &c->rooms, in_conn)
		absent(sv, c, m->room->name, strlen(m->room->name));
	sv_route_personal(sv, c, -1);
	if (c->counted && sv->eng.ops->release != NULL)
		sv->eng.ops->release(&sv->eng, c->user->name);
	c->counted = 0;
}

struct replay_ctx {
	struct sv *sv;
	struct sv_conn *c;	   /* sent to at once, or */
	struct sv_replay_buf *buf; /* held back */
	const char *room;
	size_t rlen;
	struct proto_msg *reply; /* sent before the entries, or NULL */
	uint64_t *seq;
	char *epoch;
	int *recovered;
	int rc;
	uint32_t *budget; /* entries that may still be sent */
	uint64_t until;	  /* only entries up to this seq */
};

uint32_t
sv_route_replay_budget(const struct sv *sv)
{
	uint64_t n = sv->cfg->w.max_queue_msgs / 2;

	if (n > SV_REPLAY_BURST)
		n = SV_REPLAY_BURST;
	return n > 0 ? (uint32_t)n : 1;
}

static int
hold(struct sv_replay_buf *b, const char *room, size_t rlen,
     const struct sv_eng_entry *e)
{
	struct sv_replay_ent *x;

	if (b->n == b->cap) {
		uint32_t cap = b->cap ? b->cap * 2 : 16;

		if ((x = realloc(b->v, cap * sizeof(*x))) == NULL)
			return WSD_ENOMEM;
		b->v = x;
		b->cap = cap;
	}
	x = &b->v[b->n];
	x->room = strndup(room, rlen);
	x->text = malloc(e->len ? e->len : 1);
	if (x->room == NULL || x->text == NULL) {
		free(x->room);
		free(x->text);
		return WSD_ENOMEM;
	}
	memcpy(x->text, e->text, e->len);
	x->len = e->len;
	x->seq = e->seq;
	b->n++;
	return WSD_OK;
}

static void
replayed(void *arg, const struct sv_eng_hist *h)
{
	struct replay_ctx *x = arg;
	struct proto_msg d;
	uint32_t i;

	uint32_t n = h->n;

	if ((x->rc = h->rc) != WSD_OK)
		return;
	*x->seq = h->seq;
	snprintf(x->epoch, SV_EPOCH_LEN + 1, "%s", h->epoch);
	*x->recovered = h->recovered;
	/* Entries past until were delivered live already. */
	while (n > 0 && h->entry(h, n - 1)->seq > x->until)
		n--;
	/* One replay may not flood the worker's channel or the client's
	 * queue: the oldest go, and recovered false says there is more
	 * (a subscribe with since fetches the next part). */
	if (n > *x->budget) {
		n = *x->budget;
		*x->recovered = 0;
	}
	*x->budget -= n;
	if (x->reply != NULL) {
		x->reply->seq = h->seq;
		x->reply->epoch = proto_cstr(x->epoch);
		if (x->reply->flags & PROTO_F_SINCE)
			x->reply->flags |=
			    *x->recovered ? PROTO_F_RECOVERED : 0;
		sv_worker_send(x->sv, sv_worker_get(x->sv, x->c->worker),
			       x->reply);
	}
	memset(&d, 0, sizeof(d));
	d.type = PROTO_DELIVER;
	d.room.p = x->room;
	d.room.len = (uint32_t)x->rlen;
	for (i = 0; i < n; i++) {
		const struct sv_eng_entry *e = h->entry(h, i);

		if (x->buf != NULL) {
			if (hold(x->buf, x->room, x->rlen, e) != WSD_OK) {
				*x->recovered = 0; /* told: not all of it */
				return;
			}
			continue;
		}
		d.conn = x->c->id;
		d.seq = e->seq;
		d.data.p = e->text;
		d.data.len = e->len;
		sv_worker_send(x->sv, sv_worker_get(x->sv, x->c->worker), &d);
	}
}

static int
replay(struct replay_ctx *x, int since_given, uint64_t since, const char *epoch)
{
	unsigned flags = SV_ENG_CREATE | (since_given ? SV_ENG_SINCE : 0);

	x->sv->eng.ops->history(&x->sv->eng, x->room, x->rlen, since, epoch,
				flags, replayed, x);
	return x->rc;
}

int
sv_route_replay(struct sv *sv, const char *room, size_t rlen, int since_given,
		uint64_t since, const char *epoch, uint64_t until,
		uint32_t *budget, struct sv_replay_buf *buf, uint64_t *seq,
		char *epoch_out, int *recovered)
{
	struct replay_ctx x = {.sv = sv,
			       .buf = buf,
			       .room = room,
			       .rlen = rlen,
			       .seq = seq,
			       .epoch = epoch_out,
			       .recovered = recovered,
			       .budget = budget,
			       .until = until};

	return replay(&x, since_given, since, epoch);
}

void
sv_route_replay_flush(struct sv *sv, struct sv_conn *c,
		      struct sv_replay_buf *buf)
{
	struct proto_msg d;
	uint32_t i;

	memset(&d, 0, sizeof(d));
	d.type = PROTO_DELIVER;
	for (i = 0; i < buf->n; i++) {
		struct sv_replay_ent *x = &buf->v[i];

		if (c != NULL) {
			d.conn = c->id;
			d.room = proto_cstr(x->room);
			d.seq = x->seq;
			d.data.p = x->text;
			d.data.len = x->len;
			sv_worker_send(sv, sv_worker_get(sv, c->worker), &d);
		}
		free(x->room);
		free(x->text);
	}
	free(buf->v);
	memset(buf, 0, sizeof(*buf));
}

void
sv_route_sub(struct sv *sv, struct sv_conn *c, const struct proto_msg *m)
{
	char room[PROTO_MAX_NAME + 1], epoch[SV_EPOCH_LEN + 1] = "";
	char want[PROTO_MAX_NAME + 1]; /* the whole epoch asked for */
	uint32_t budget = sv_route_replay_budget(sv);
	struct proto_msg reply;
	struct replay_ctx x;
	const char *code;
	struct sv_room *r;
	uint64_t seq;
	int rc, recovered, joined = 0;

	snprintf(room, sizeof(room), "%.*s", (int)m->room.len, m->room.p);
	snprintf(want, sizeof(want), "%.*s", (int)m->epoch.len, m->epoch.p);
	/* A personal room's members are implicit: the user's connections. */
	if (!room_is_personal(room, m->room.len)) {
		rc = sv_route_join(sv, c, room, m->room.len, &code);
		if (rc != WSD_OK && rc != WSD_EEXIST) {
			refuse(sv, c, code, m->room, PROTO_F_SUB);
			return;
		}
		joined = rc == WSD_OK;
	}
	memset(&reply, 0, sizeof(reply));
	reply.type = PROTO_SUB_REPLY;
	reply.conn = c->id;
	reply.room = m->room;
	/* SINCE tells the worker to say recovered, true or false. */
	reply.flags = m->flags & PROTO_F_SINCE;
	x = (struct replay_ctx){.sv = sv,
				.c = c,
				.room = room,
				.rlen = m->room.len,
				.reply = &reply,
				.seq = &seq,
				.epoch = epoch,
				.recovered = &recovered,
				.budget = &budget,
				.until = UINT64_MAX};
	rc = replay(&x, (m->flags & PROTO_F_SINCE) != 0, m->since,
		    m->epoch.len ? want : NULL);
	if (rc != WSD_OK) {
		/* Undo a join this subscribe made, not an older one. */
		if (joined && (r = sv_reg_room_get(&sv->reg, room, m->room.len,
						   0)) != NULL) {
			absent(sv, c, room, m->room.len);
			sv_reg_leave(&sv->reg, c, r);
		}
		refuse(sv, c, refusal_code(rc), m->room, PROTO_F_SUB);
	}
}

void
sv_route_unsub(struct sv *sv, struct sv_conn *c, const struct proto_msg *m)
{
	struct sv_room *room;
	char name[PROTO_MAX_NAME + 1];

	room = sv_reg_room_get(&sv->reg, m->room.p, m->room.len, 0);
	if (room == NULL || !sv_reg_is_member(c, room))
		return;
	snprintf(name, sizeof(name), "%.*s", (int)m->room.len, m->room.p);
	absent(sv, c, name, m->room.len);
	sv_reg_leave(&sv->reg, c, room);
}

/* A client's publish in flight: what its ack and its dedupe entry
 * need, the connection by id (it may be gone when the engine answers). */
struct client_pub {
	struct sv *sv;
	uint64_t conn;
	uint32_t rlen, ulen, idlen;
	char buf[]; /* room, user, id */
};

/* A publish is acknowledged, or refused with the id it refers to. */
static void
ack(struct sv *sv, struct sv_conn *c, struct proto_str id, int rc, uint64_t seq)
{
	struct proto_msg a;

	if (rc != WSD_OK) {
		refuse(sv, c, refusal_code(rc), id, 0);
		return;
	}
	if (id.len == 0)
		return;
	memset(&a, 0, sizeof(a));
	a.type = PROTO_ACK;
	a.conn = c->id;
	a.id = id;
	a.seq = seq;
	sv_worker_send(sv, sv_worker_get(sv, c->worker), &a);
}

static void
client_published(void *arg, int rc, uint64_t seq, int sends)
{
	struct client_pub *p = arg;
	const char *room = p->buf, *user = room + p->rlen, *id = user + p->ulen;
	struct sv_conn *c = sv_reg_conn_find(&p->sv->reg, p->conn);

	(void)sends;
	if (rc == WSD_OK && p->idlen > 0)
		sv_dedupe_add(&p->sv->dedupe, room, p->rlen, user, p->ulen, id,
			      p->idlen, seq, wall_ms());
	if (c != NULL)
		ack(p->sv, c, (struct proto_str){id, p->idlen}, rc, seq);
	free(p);
}

void
sv_route_client_publish(struct sv *sv, struct sv_conn *c,
			const struct proto_msg *m)
{
	char trace[TRACE_LEN + 1];
	struct client_pub *p;
	size_t ulen = strlen(c->user->name);
	uint64_t seq;

	seq = m->id.len == 0 ? 0
			     : sv_dedupe_find(&sv->dedupe, m->room.p,
					      m->room.len, c->user->name, ulen,
					      m->id.p, m->id.len, wall_ms());
	if (seq != 0) {
		ack(sv, c, m->id, WSD_OK, seq);
		return;
	}
	if ((p = malloc(sizeof(*p) + m->room.len + ulen + m->id.len)) == NULL) {
		ack(sv, c, m->id, WSD_ENOMEM, 0);
		return;
	}
	p->sv = sv;
	p->conn = c->id;
	p->rlen = m->room.len;
	p->ulen = (uint32_t)ulen;
	p->idlen = m->id.len;
	memcpy(p->buf, m->room.p, m->room.len);
	memcpy(p->buf + m->room.len, c->user->name, ulen);
	if (m->id.len > 0)
		memcpy(p->buf + m->room.len + ulen, m->id.p, m->id.len);
	{
		struct sv_route_pub rp = {
		    .room = m->room.p,
		    .rlen = m->room.len,
		    .from = c->user->name,
		    .fromlen = ulen,
		    .data = m->data.p,
		    .datalen = m->data.len,
		    .id = m->id.len ? m->id.p : NULL,
		    .idlen = m->id.len,
		    .key = m->key.len ? m->key.p : NULL,
		    .keylen = m->key.len,
		    /* The worker checked it; what it says goes into logs. */
		    .trace = trace_parse(m->trace.p, m->trace.len, trace)
				 ? trace
				 : NULL,
		};

		sv_route_publish(sv, &rp, client_published, p);
	}
}

json_t *
sv_route_users_json(const struct sv_presence *users, uint32_t n)
{
	json_t *arr = json_array();
	uint32_t i;

	for (i = 0; i < n; i++) {
		json_t *info =
		    users[i].info ? json_loads(users[i].info, 0, NULL) : NULL;

		json_array_append_new(
		    arr, json_pack("{s:s, s:o, s:i}", "user", users[i].user,
				   "info", info ? info : json_null(), "conns",
				   (int)users[i].conns));
	}
	return arr;
}

/* A presence query in flight: the connection by id. */
struct presence_ctx {
	struct sv *sv;
	uint64_t conn;
	char room[];
};

static void
presence_got(void *arg, int rc, const struct sv_presence *users, uint32_t n)
{
	struct presence_ctx *x = arg;
	struct sv_conn *c = sv_reg_conn_find(&x->sv->reg, x->conn);
	json_t *o, *arr;
	char *text;

	if (c == NULL) {
		free(x);
		return;
	}
	if (rc != WSD_OK) {
		sv_route_error(x->sv, c, refusal_code(rc),
			       rc == WSD_EAGAIN ? "the engine cannot answer now"
						: "out of memory",
			       proto_cstr(x->room), 0);
		free(x);
		return;
	}
	arr = sv_route_users_json(users, n);
	o = json_pack("{s:s, s:s, s:o}", "type", "presence", "room", x->room,
		      "users", arr);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text != NULL)
		sv_route_text(x->sv, c, text, strlen(text));
	free(text);
	free(x);
}

void
sv_route_presence(struct sv *sv, struct sv_conn *c, const struct proto_msg *m)
{
	struct presence_ctx *x = malloc(sizeof(*x) + m->room.len + 1);

	if (x == NULL) {
		sv_route_error(sv, c, "internal", "out of memory", m->room, 0);
		return;
	}
	x->sv = sv;
	x->conn = c->id;
	memcpy(x->room, m->room.p, m->room.len);
	x->room[m->room.len] = '\0';
	if (!sv_route_pattern(&sv->cfg->presence_query, x->room)) {
		sv_route_error(sv, c, "forbidden",
			       "presence is not available for this room",
			       m->room, 0);
		free(x);
		return;
	}
	sv->eng.ops->presence_get(&sv->eng, x->room, m->room.len, presence_got,
				  x);
}

int
sv_route_kick(struct sv *sv, struct sv_conn *c, int code, const char *reason)
{
	struct proto_msg k;

	memset(&k, 0, sizeof(k));
	k.type = PROTO_KICK;
	k.conn = c->id;
	k.status = (uint64_t)code;
	k.reason = proto_cstr(reason);
	return sv_worker_send(sv, sv_worker_get(sv, c->worker), &k);
}
