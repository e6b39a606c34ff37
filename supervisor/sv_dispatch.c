/*
 * sv_dispatch.c: the supervisor's answer to each message of a worker.
 *
 * Admission (CONN_OPEN) is decided here, because only the supervisor
 * knows the global and per-user counts: the connection is registered and
 * begins its session, or is refused with 503 or 429. A connection that
 * goes (CONN_CLOSE, or its worker's exit) leaves its session behind. A
 * worker that says DRAINING has its clients told to go. The other
 * messages about a connection name it by id; it is looked up once, here, and a
 * worker may speak only of its own connections. Subscriptions and
 * publishes go on to sv_route.c with the connection found.
 *
 * Some steps wait on the engine when it is shared (Redis): an admission
 * (the user's connections on every node, its personal room made ready),
 * a subscribe (its room made ready), a resume (its session taken). While
 * one is in flight the connection is busy: what its worker sends next is
 * held, in order, up to HELD_MAX messages (then it is closed with 1013),
 * and handled when the step is over. A CONN_CLOSE is never held. With
 * the memory engine every step is over before it returns.
 */
#include "sv_dispatch.h"

#include <stdlib.h>
#include <string.h>

#include "../proto/log.h"
#include "../proto/trace.h"
#include "sv.h"
#include "sv_drain.h"
#include "sv_notify.h"
#include "sv_route.h"
#include "sv_session.h"

/*
 * Does the session a verified token names exist with that token as its
 * latest: detached and waiting, or still held by a connection (which a
 * resume takes over)? Only such a token lets a connection in over the
 * connect rate, so a fresh client cannot mint its way past it.
 */
static int
session_waits(struct sv *sv, const struct sv_token *t)
{
	const struct sv_conn *old = sv_reg_conn_find(&sv->reg, t->conn);

	if (old != NULL && memcmp(old->sid, t->sid, sizeof(t->sid)) == 0)
		return old->nonce == t->nonce ||
		       (old->resume_unconfirmed && old->prev_nonce == t->nonce);
	return sv->eng.ops->session_peek(&sv->eng, t->sid, t->nonce);
}

/*
 * Over the connect rate (global or for the client's address)? A client
 * that comes back with a valid resume token (?resume=) is let in all the
 * same, ahead of fresh ones: a reconnect storm after a restart admits
 * the returning clients while fresh connects wait.
 */
static int
over_rate(struct sv *sv, const struct proto_msg *m)
{
	const struct sv_config *cfg = sv->cfg;
	struct sv_connrate_limits l;
	struct sv_token t;
	const char *ip, *why;
	size_t iplen;

	sv_connrate_limits(&l, cfg->connect_rate, cfg->connect_burst,
			   cfg->connect_rate_per_address,
			   cfg->connect_burst_per_address);
	if (l.rate <= 0 && l.addr_rate <= 0)
		return 0;
	ip = sv_reg_addr_ip(m->addr.p, m->addr.len, &iplen);
	if (sv_connrate_take(&sv->connrate, &l, ip, iplen, ev_now(sv->loop)))
		return 0;
	if (m->token.len > 0 &&
	    sv_token_verify(&cfg->keys, m->token.p, m->token.len, wall_ms(), &t,
			    &why) == WSD_OK &&
	    session_waits(sv, &t)) {
		sv->stats.resumes_over_rate++;
		return 0;
	}
	sv->stats.refused_connect_rate++;
	return 1;
}

/*
 * The limit a new connection would break, counted: 503 for a drain (the
 * daemon's, or a handshake that ended after its worker began to drain:
 * the drain has told its clients) or the global limit, 429 for the
 * per-user and per-address limits; 0 when it may come in. A limit of 0
 * is no limit.
 */
static uint16_t
limit_hit(struct sv *sv, const struct sv_worker *w, const struct sv_user *u,
	  const struct proto_msg *m)
{
	const struct sv_config *cfg = sv->cfg;

	if (sv->draining || w->draining) {
		sv->stats.refused_draining++;
		return 503;
	}
	if (cfg->max_connections > 0 &&
	    sv->reg.nconns >= cfg->max_connections) {
		sv->stats.refused_global++;
		return 503;
	}
	if (cfg->max_connections_per_user > 0 && u != NULL &&
	    u->nconns >= cfg->max_connections_per_user) {
		sv->stats.refused_user++;
		return 429;
	}
	if (cfg->max_connections_per_address > 0 &&
	    sv_reg_addr_count(&sv->reg, m->addr.p, m->addr.len) >=
		cfg->max_connections_per_address) {
		sv->stats.refused_address++;
		return 429;
	}
	return over_rate(sv, m) ? 503 : 0;
}

/* The upgrade's traceparent, checked by the worker; checked again, since
 * it goes into log lines. Out of memory: no trace, nothing worse. */
static void
keep_trace(struct sv_conn *c, const struct proto_msg *m)
{
	char t[TRACE_LEN + 1];

	if (m->trace.len > 0 && trace_parse(m->trace.p, m->trace.len, t))
		c->trace = strdup(t);
}

#define HELD_MAX 1024

/* A message kept for later: its encoding (sv_registry.h's sv_held). */
static struct sv_held *
held_new(const struct proto_msg *m)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct sv_held *h = NULL;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (proto_encode(m, &pk) == WSD_OK &&
	    (h = malloc(sizeof(*h) + sb.size)) != NULL) {
		h->next = NULL;
		h->len = sb.size;
		memcpy(h->buf, sb.data, sb.size);
	}
	msgpack_sbuffer_destroy(&sb);
	return h;
}

/* A step of c waits on the engine: its message, and c by id. */
struct step {
	struct sv *sv;
	uint64_t conn;
	int worker;
	int rc, admit_rc; /* the personal room's, the user count's */
	uint32_t left;	  /* replies still to come, + 1 while starting */
	struct sv_held *m;
};

static struct step *
step_new(struct sv *sv, uint64_t conn, int worker, const struct proto_msg *m)
{
	struct step *st = calloc(1, sizeof(*st));

	if (st == NULL || (st->m = held_new(m)) == NULL) {
		free(st);
		return NULL;
	}
	st->sv = sv;
	st->conn = conn;
	st->worker = worker;
	return st;
}

static void
step_free(struct step *st)
{
	free(st->m);
	free(st);
}

static void run(struct sv *sv, struct sv_conn *c, const struct proto_msg *m);

/* c's step is over: what was held runs, until a step waits again. */
static void
step_over(struct sv *sv, uint64_t conn)
{
	struct sv_conn *c = sv_reg_conn_find(&sv->reg, conn);
	static uint64_t running; /* the connection the loop below is for */
	uint64_t outer = running;

	if (c == NULL)
		return;
	c->busy = 0;
	if (running == conn)
		return; /* the loop below goes on with it */
	running = conn;
	while (c != NULL && !c->busy && c->held != NULL) {
		struct sv_held *h = c->held->next; /* the first */
		struct proto_msg m;
		msgpack_unpacked u;

		if (h == c->held)
			c->held = NULL;
		else
			c->held->next = h->next;
		c->nheld--;
		msgpack_unpacked_init(&u);
		if (proto_decode(&m, &u, h->buf, h->len) == WSD_OK)
			run(sv, c, &m);
		msgpack_unpacked_destroy(&u);
		free(h);
		c = sv_reg_conn_find(&sv->reg, conn);
	}
	running = outer;
}

/* Hold m for c, busy; over HELD_MAX c is closed. */
static void
hold(struct sv *sv, struct sv_conn *c, const struct proto_msg *m)
{
	struct sv_held *h;

	if (c->nheld >= HELD_MAX || (h = held_new(m)) == NULL) {
		log_warn("conn_held_over", "conn=%llu held=%u",
			 (unsigned long long)c->id, c->nheld);
		sv_route_kick(sv, c, 1013, "try again later");
		return;
	}
	/* A ring through the last: appended after it, the first after. */
	if (c->held != NULL) {
		h->next = c->held->next;
		c->held->next = h;
	} else {
		h->next = h;
	}
	c->held = h;
	c->nheld++;
}

static void
resume_done(void *arg, uint64_t conn)
{
	step_over(arg, conn);
}

/* The admission of a connection registered busy: accepted, or refused
 * and forgotten. */
static void
admitted(struct step *st)
{
	struct sv *sv = st->sv;
	struct sv_worker *w = sv_worker_get(sv, st->worker);
	char sid[SV_SESSION_ID_LEN + 1], token[SV_TOKEN_MAX];
	struct sv_conn *c = sv_reg_conn_find(&sv->reg, st->conn);
	struct proto_msg m, r;
	msgpack_unpacked u;

	if (c == NULL || !c->admitting) {
		/* Its worker closed it meanwhile. */
		if (st->admit_rc == WSD_OK && sv->eng.ops->release != NULL &&
		    st->m != NULL) {
			msgpack_unpacked_init(&u);
			if (proto_decode(&m, &u, st->m->buf, st->m->len) ==
			    WSD_OK) {
				char user[ROOM_NAME_MAX + 1];

				snprintf(user, sizeof(user), "%.*s",
					 (int)m.user.len, m.user.p);
				sv->eng.ops->release(&sv->eng, user);
			}
			msgpack_unpacked_destroy(&u);
		}
		step_free(st);
		return;
	}
	msgpack_unpacked_init(&u);
	memset(&r, 0, sizeof(r));
	r.type = PROTO_CONN_ACCEPT;
	r.conn = c->id;
	c->admitting = 0;
	c->counted = st->admit_rc == WSD_OK && sv->eng.ops->admit != NULL &&
		     !c->anonymous;
	if (proto_decode(&m, &u, st->m->buf, st->m->len) != WSD_OK) {
		r.status = 503;
	} else if (st->admit_rc == WSD_EFULL) {
		sv->stats.refused_user++;
		r.status = 429;
	} else if (st->admit_rc != WSD_OK || st->rc != WSD_OK) {
		log_warn("conn_refused", "worker=%d conn=%llu reason=%s", w->id,
			 (unsigned long long)c->id,
			 log_q("the engine is unavailable"));
		r.status = 503;
	} else if ((m.data.len > 0 &&
		    (c->info = strndup(m.data.p, m.data.len)) == NULL) ||
		   sv_session_begin(sv, c, token) != WSD_OK) {
		log_error("session_create_failed", "worker=%d conn=%llu", w->id,
			  (unsigned long long)m.conn);
		r.status = 503;
	} else {
		c->sse = (m.flags & PROTO_F_SSE) != 0;
		keep_trace(c, &m);
		sv_token_sid_hex(c->sid, sid);
		r.session = proto_cstr(sid);
		r.token = proto_cstr(token);
		sv->stats.conns_opened++;
		sv_route_came(sv, c);
		log_debug("conn_opened", "worker=%d conn=%llu user=%s%s", w->id,
			  (unsigned long long)c->id, log_q(c->user->name),
			  trace_log_kv(c->trace));
	}
	if (r.status != 0) {
		sv->stats.conns_refused++;
		if (c->counted)
			sv->eng.ops->release(&sv->eng, c->user->name);
		sv_reg_conn_remove(&sv->reg, c);
	}
	sv_worker_send(sv, w, &r);
	/* ?resume=: the resume the client would have sent first. */
	if (r.status == 0 && m.token.len > 0) {
		struct proto_msg rm;

		memset(&rm, 0, sizeof(rm));
		rm.type = PROTO_RESUME;
		rm.conn = c->id;
		rm.token = m.token;
		rm.data = proto_cstr("{}");
		sv_session_resume(sv, c, &rm, resume_done, sv);
	} else if (r.status == 0) {
		step_over(sv, c->id);
	}
	msgpack_unpacked_destroy(&u);
	step_free(st);
}

static void
admit_part(struct step *st)
{
	if (--st->left == 0)
		admitted(st);
}

static void
personal_ready(void *arg, int rc)
{
	struct step *st = arg;

	st->rc = rc;
	admit_part(st);
}

static void
user_counted(void *arg, int rc)
{
	struct step *st = arg;

	st->admit_rc = rc;
	admit_part(st);
}

/*
 * Admission: this node's limits first; then, for a user from a token
 * with a shared engine, the user's connections on every node and its
 * personal room made ready (both at once), and then the answer.
 */
static void
admit(struct sv *sv, struct sv_worker *w, const struct proto_msg *m)
{
	char personal[ROOM_PERSONAL_MAX + 1];
	const char *rooms[1] = {personal};
	struct proto_msg r;
	struct sv_user *u;
	struct sv_conn *c = NULL;
	struct step *st = NULL;
	int anon = (m->flags & PROTO_F_ANONYMOUS) != 0, n;

	memset(&r, 0, sizeof(r));
	r.type = PROTO_CONN_ACCEPT;
	r.conn = m->conn;
	u = sv_reg_user_find(&sv->reg, m->user.p, m->user.len);
	r.status = limit_hit(sv, w, u, m);
	if (r.status == 0 &&
	    ((c = sv_reg_conn_add(&sv->reg, m->conn, w->id, m->user.p,
				  m->user.len, m->addr.p, m->addr.len,
				  m->agent.p, m->agent.len, anon, wall_ms())) ==
		 NULL ||
	     (st = step_new(sv, m->conn, w->id, m)) == NULL)) {
		log_error("conn_register_failed", "worker=%d conn=%llu", w->id,
			  (unsigned long long)m->conn);
		if (c != NULL)
			sv_reg_conn_remove(&sv->reg, c);
		r.status = 503;
	}
	if (r.status != 0) {
		sv->stats.conns_refused++;
		sv_worker_send(sv, w, &r);
		return;
	}
	c->admitting = 1;
	c->busy = 1;
	st->left = 1;
	n = anon ? -1
		 : room_personal_name(personal, sizeof(personal), c->user->name,
				      strlen(c->user->name));
	if (!anon && sv->eng.ops->admit != NULL) {
		st->left++;
		sv->eng.ops->admit(&sv->eng, c->user->name,
				   sv->cfg->max_connections_per_user,
				   user_counted, st);
	}
	if (n >= 0) {
		st->left++;
		sv->eng.ops->prepare(&sv->eng, rooms, 1, personal_ready, st);
	}
	admit_part(st);
}

/* c is going: its session is kept and it leaves its rooms (the registry
 * forgets it next). */
static void
leaving(void *arg, struct sv_conn *c)
{
	struct sv *sv = arg;

	if (c->admitting)
		return; /* no session yet, in no room; its admission ends */
	sv_session_detach(sv, c);
	sv_route_gone(sv, c);
	sv->stats.conns_closed++;
}

/* The worker's totals: its counters added up, its gauges kept. */
static void
on_totals(struct sv *sv, struct sv_worker *w, const struct proto_msg *m)
{
	uint64_t t[PROTO_TOT_END];
	uint32_t i;

	if (!proto_stats_totals(m, t))
		return;
	for (i = 0; i < PROTO_TOT_GAUGES; i++)
		sv->stats.wtot[i] += t[i];
	memcpy(sv->stats.wgauge[w->id], t, sizeof(t));
}

static void
on_stats(struct sv *sv, struct sv_worker *w, const struct proto_msg *m)
{
	struct proto_stats_rec rec;
	struct sv_conn *c;
	uint64_t now = wall_ms();
	uint32_t i;

	on_totals(sv, w, m);
	for (i = 0; i < m->nrecs; i++) {
		proto_stats_get(m, i, &rec);
		c = sv_reg_conn_find(&sv->reg, rec.conn);
		if (c == NULL || c->worker != w->id)
			continue;
		if (c->stats_ms != 0 && now > c->stats_ms) {
			float dt = (float)(now - c->stats_ms) / 1000.0f;

			c->rate_in = (float)(rec.msgs_in - c->msgs_in) / dt;
			c->rate_out = (float)(rec.msgs_out - c->msgs_out) / dt;
		}
		c->stats_ms = now;
		c->last_seen_ms = rec.last_seen_ms;
		c->queue_bytes = rec.queue_bytes;
		c->queue_msgs = rec.queue_msgs;
		if (rec.drops > c->drops)
			w->drops += rec.drops - c->drops;
		c->drops = rec.drops;
		c->msgs_in = rec.msgs_in;
		c->msgs_out = rec.msgs_out;
		c->rtt_us = (uint32_t)rec.rtt_us;
		c->paused = (rec.flags & PROTO_REC_PAUSED) != 0;
	}
}

/*
 * The connection a message of w is about, or NULL: gone already (its
 * CONN_CLOSE crossed our message), or another worker's (a bug, logged).
 */
static struct sv_conn *
sender(struct sv *sv, struct sv_worker *w, const struct proto_msg *m)
{
	struct sv_conn *c = sv_reg_conn_find(&sv->reg, m->conn);

	if (c != NULL && c->worker != w->id) {
		log_error("ipc_wrong_worker",
			  "worker=%d type=%s conn=%llu owner=%d", w->id,
			  proto_type_name(m->type), (unsigned long long)m->conn,
			  c->worker);
		return NULL;
	}
	return c;
}

/*
 * A POST /sse/send that any worker took goes to the worker holding the
 * stream, which checks its key. A stream that is gone loses it: the POST
 * was answered 202 already, and the client, whose stream ended, sends
 * again what was not acknowledged once it is back.
 */
static void
sse_input(struct sv *sv, const struct proto_msg *m)
{
	struct sv_conn *c = sv_reg_conn_find(&sv->reg, m->conn);
	struct proto_msg f = *m;

	if (c == NULL) {
		log_debug("sse_input_lost", "conn=%llu bytes=%u",
			  (unsigned long long)m->conn, m->data.len);
		return;
	}
	sv_worker_send(sv, sv_worker_get(sv, c->worker), &f);
}

/*
 * w got SIGTERM and accepts no more: its clients are told to go (they
 * resume on the other workers, or on its successor). The slot replaces
 * it, unless the daemon is draining or the slot was being stopped.
 */
static void
draining(struct sv *sv, struct sv_worker *w)
{
	uint32_t n = sv->draining ? 0 : sv_drain_conns(sv, w->id);

	log_info("worker_draining", "worker=%d worker_pid=%d conns=%u", w->id,
		 (int)w->pid, n);
	sv_worker_draining(sv, w, !sv->draining);
}

/*
 * The service manager hears READY=1 once, when every configured worker
 * is ready for the first time (a reload's READY=1 is the cycle's).
 */
static void
first_ready(struct sv *sv)
{
	char status[320];

	if (sv_notify_was_ready() || sv->draining ||
	    sv_workers_ready(sv) < sv->cfg->workers)
		return;
	snprintf(status, sizeof(status),
		 "%d workers ready; listening on ws://%s%s", sv->cfg->workers,
		 sv->cfg->listen, sv->cfg->w.ws_path);
	sv_notify_ready(status);
}

void
sv_dispatch_msg(struct sv *sv, struct sv_worker *w, const struct proto_msg *m)
{
	struct sv_conn *c;
	char why[64];

	switch (m->type) {
	case PROTO_HELLO:
		log_debug("worker_hello", "worker=%d worker_pid=%llu", w->id,
			  (unsigned long long)m->pid);
		return;
	case PROTO_READY:
		sv_worker_ready(sv, w, m->gen);
		first_ready(sv);
		return;
	case PROTO_DRAINING: draining(sv, w); return;
	case PROTO_STATS: on_stats(sv, w, m); return;
	case PROTO_CONN_OPEN: admit(sv, w, m); return;
	case PROTO_SSE_INPUT: sse_input(sv, m); return;
	case PROTO_CONN_CLOSE:
	case PROTO_SUB:
	case PROTO_UNSUB:
	case PROTO_PUBLISH:
	case PROTO_RESUME:
	case PROTO_RESUMED_ACK:
	case PROTO_PRESENCE: break;
	default:
		snprintf(why, sizeof(why), "unexpected %s",
			 proto_type_name(m->type));
		sv_worker_kill(sv, w, why);
		return;
	}
	if ((c = sender(sv, w, m)) == NULL)
		return;
	if (m->type == PROTO_CONN_CLOSE) {
		if (!c->admitting) {
			sv_count_closed(&sv->stats, (uint32_t)m->status, 1);
			log_debug("conn_closed",
				  "worker=%d conn=%llu code=%u%s", w->id,
				  (unsigned long long)c->id,
				  (unsigned)m->status, trace_log_kv(c->trace));
		}
		leaving(sv, c);
		sv_reg_conn_remove(&sv->reg, c);
		return;
	}
	if (c->busy) {
		hold(sv, c, m);
		return;
	}
	run(sv, c, m);
}

static void
sub_ready(void *arg, int rc)
{
	struct step *st = arg;
	struct sv *sv = st->sv;
	struct sv_conn *c = sv_reg_conn_find(&sv->reg, st->conn);
	struct proto_msg m;
	msgpack_unpacked u;

	msgpack_unpacked_init(&u);
	if (c != NULL &&
	    proto_decode(&m, &u, st->m->buf, st->m->len) == WSD_OK) {
		if (rc == WSD_OK)
			sv_route_sub(sv, c, &m);
		else
			sv_route_error(
			    sv, c,
			    rc == WSD_EAGAIN ? "unavailable" : "internal",
			    rc == WSD_EAGAIN ? "the engine cannot take it now"
					     : "out of memory",
			    m.room, PROTO_F_SUB);
	}
	uint64_t conn = st->conn;

	msgpack_unpacked_destroy(&u);
	step_free(st);
	step_over(sv, conn);
}

/* A SUB: its room made ready, then joined and replayed. */
static void
subscribe(struct sv *sv, struct sv_conn *c, const struct proto_msg *m)
{
	char room[PROTO_MAX_NAME + 1];
	const char *rooms[1] = {room};
	struct step *st;

	snprintf(room, sizeof(room), "%.*s", (int)m->room.len, m->room.p);
	if (!room_valid(room, m->room.len)) {
		sv_route_sub(sv, c, m);
		return;
	}
	if ((st = step_new(sv, c->id, c->worker, m)) == NULL) {
		sv_route_error(sv, c, "internal", "out of memory", m->room,
			       PROTO_F_SUB);
		return;
	}
	c->busy = 1;
	sv->eng.ops->prepare(&sv->eng, rooms, 1, sub_ready, st);
}

/* A message of c's worker about c, not held (c is not busy). */
static void
run(struct sv *sv, struct sv_conn *c, const struct proto_msg *m)
{
	switch (m->type) {
	case PROTO_RESUMED_ACK: sv_session_resumed(c); break;
	case PROTO_SUB: subscribe(sv, c, m); break;
	case PROTO_UNSUB: sv_route_unsub(sv, c, m); break;
	case PROTO_RESUME:
		c->busy = 1;
		sv_session_resume(sv, c, m, resume_done, sv);
		break;
	case PROTO_PRESENCE: sv_route_presence(sv, c, m); break;
	default: sv_route_client_publish(sv, c, m); break;
	}
}

uint32_t
sv_dispatch_exit(struct sv *sv, struct sv_worker *w)
{
	uint32_t n = sv_reg_worker_clear(&sv->reg, w->id, leaving, sv);

	if (n > 0)
		sv_count_closed(&sv->stats, SV_CLOSE_WORKER_EXIT, n);
	memset(sv->stats.wgauge[w->id], 0, sizeof(sv->stats.wgauge[w->id]));
	return n;
}
