/*
 * sv_ctl.c: the control socket (nng rep0 over ipc://, mode 0600) and the
 * commands behind it, shared with the admin HTTP API. A request is one
 * JSON object with "cmd"; sv_ctl_run answers with one JSON object, "ok"
 * true with the result, or false with "error". The protocol is written
 * down in docs/control.md. Commands read the registry directly: it is in
 * this process, and the loop is single-threaded.
 */
#include "sv_ctl.h"

#include "sv.h"

#include <nng/protocol/reqrep0/rep.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../proto/jwt.h"
#include "../proto/log.h"
#include "../proto/trace.h"
#include "sv_route.h"
#include "sv_session.h"

#define CONNS_DEFAULT_LIMIT 1000
#define TOKEN_DEFAULT_TTL 3600

static nng_socket ctl_sock;
static int ctl_open;
static ev_io ctl_io;
static const struct sv_ctl_actions *actions;

static json_t *
fail(const char *fmt, const char *arg)
{
	char buf[1280];

	snprintf(buf, sizeof(buf), fmt, arg ? arg : "");
	return json_pack("{s:b, s:s}", "ok", 0, "error", buf);
}

static json_t *
ok(void)
{
	return json_pack("{s:b}", "ok", 1);
}

/* A command answered later: whom its reply goes to. */
struct ctl_call {
	sv_ctl_reply_fn fn;
	void *arg;
};

/* The call the command running now answers (sv_ctl_call). */
static const struct ctl_call *running;

static void
link_json(void *arg, const struct sv_eng_link *l)
{
	json_array_append_new(arg,
			      json_pack("{s:s, s:b, s:I, s:I, s:I, s:I}",
					"address", l->address, "up", l->up,
					"rtt_us", (json_int_t)l->rtt_us,
					"errors", (json_int_t)l->errors,
					"reconnects", (json_int_t)l->reconnects,
					"inflight", (json_int_t)l->inflight));
}

static json_t *
cmd_status(struct sv *sv, const json_t *req)
{
	json_t *r = ok();

	(void)req;
	json_object_set_new(r, "version", json_string(WSD_VERSION));
	json_object_set_new(
	    r, "uptime_s",
	    json_integer((json_int_t)((wall_ms() - sv->started_ms) / 1000)));
	json_object_set_new(r, "generation", json_integer(sv->cfg->generation));
	json_object_set_new(r, "workers_ready",
			    json_integer(sv_workers_ready(sv)));
	json_object_set_new(r, "workers_total", json_integer(sv->cfg->workers));
	json_object_set_new(r, "connections", json_integer(sv->reg.nconns));
	json_object_set_new(
	    r, "users", json_integer((json_int_t)HASH_COUNT(sv->reg.users)));
	{
		struct sv_eng_stats es;

		memset(&es, 0, sizeof(es));
		sv->eng.ops->stats(&sv->eng, &es);
		json_object_set_new(r, "rooms",
				    json_integer((json_int_t)es.rooms));
		json_object_set_new(r, "sessions",
				    json_integer((json_int_t)es.sessions));
		json_object_set_new(r, "engine",
				    json_string(sv->eng.ops->name));
	}
	if (sv->eng.ops->links != NULL) {
		json_t *links = json_array();

		sv->eng.ops->links(&sv->eng, link_json, links);
		json_object_set_new(r, "engine_links", links);
	}
	json_object_set_new(
	    r, "state",
	    json_string(sv->draining ? "draining"
			: sv_workers_degraded(sv) || sv_eng_links_down(&sv->eng)
			    ? "degraded"
			    : "running"));
	return r;
}

/* The nodes a shared engine lists, as the call waiting for them hears. */
static void
nodes_listed(void *arg, int rc, const struct sv_eng_node *v, uint32_t n)
{
	struct ctl_call *call = arg;
	json_t *arr, *r;
	uint32_t i;

	if (rc != WSD_OK) {
		call->fn(
		    call->arg,
		    fail("unavailable: the engine cannot answer now%s", NULL));
		free(call);
		return;
	}
	arr = json_array();
	for (i = 0; i < n; i++) {
		json_t *o = json_loads(v[i].info, 0, NULL);

		if (!json_is_object(o)) {
			json_decref(o);
			o = json_object();
		}
		json_object_set_new(o, "instance", json_string(v[i].id));
		json_array_append_new(arr, o);
	}
	r = ok();
	json_object_set_new(r, "nodes", arr);
	call->fn(call->arg, r);
	free(call);
}

/* {"cmd":"nodes"}: the live nodes of a shared engine, each with what its
 * last heartbeat said. Answered later. */
static json_t *
cmd_nodes(struct sv *sv, const json_t *req)
{
	struct ctl_call *call;

	(void)req;
	if (sv->eng.ops->nodes == NULL)
		return fail("nodes needs a shared engine (engine = \"redis\"): "
			    "with the memory engine this daemon is the only "
			    "node%s",
			    NULL);
	if ((call = malloc(sizeof(*call))) == NULL)
		return fail("out of memory%s", NULL);
	*call = *running;
	sv->eng.ops->nodes(&sv->eng, nodes_listed, call);
	return NULL;
}

/* `worker restart ID`: the slot restarted, also one FAILED. */
static json_t *
cmd_worker(struct sv *sv, const json_t *req)
{
	const char *action = json_string_value(json_object_get(req, "action"));
	json_t *jid = json_object_get(req, "id"), *r;
	struct sv_worker *w;

	if (action == NULL || strcmp(action, "restart") != 0)
		return fail("worker takes the action restart%s", NULL);
	if (!json_is_integer(jid) || json_integer_value(jid) < 0 ||
	    json_integer_value(jid) >= sv->cfg->workers ||
	    (w = sv_worker_get(sv, (int)json_integer_value(jid))) == NULL)
		return fail("no such worker slot%s", NULL);
	if (sv->draining)
		return fail("draining%s", NULL);
	sv_worker_restart(sv, w);
	r = ok();
	json_object_set_new(r, "id", json_integer(w->id));
	json_object_set_new(r, "state",
			    json_string(sv_slot_state_name(w->state)));
	return r;
}

static json_t *
cmd_workers(struct sv *sv, const json_t *req)
{
	json_t *r = ok(), *arr = json_array();
	uint64_t now = wall_ms();
	int i;

	(void)req;
	for (i = 0; i < SV_MAX_WORKERS; i++) {
		struct sv_worker *w = sv_worker_get(sv, i);

		char last[48] = "";

		/* A stopped slot has no worker and wants none. */
		if (w->state == SV_SLOT_STOPPED)
			continue;
		if (w->last_status >= 0 && WIFSIGNALED(w->last_status))
			snprintf(last, sizeof(last), "signal %d",
				 WTERMSIG(w->last_status));
		else if (w->last_status >= 0)
			snprintf(last, sizeof(last), "status %d",
				 WEXITSTATUS(w->last_status));
		json_array_append_new(
		    arr,
		    json_pack(
			"{s:i, s:i, s:i, s:s, s:i, s:i, s:I, s:s, s:b, s:i, "
			"s:I}",
			"id", w->id, "pid", (int)w->pid, "generation",
			(int)w->gen, "state", sv_slot_state_name(w->state),
			"connections", (int)sv->reg.per_worker[i], "restarts",
			(int)w->restarts, "uptime_s",
			(json_int_t)(w->pid ? (now - w->started_ms) / 1000 : 0),
			"last_exit", last, "crash_loop", w->crash_loop != 0,
			"outbox", (int)w->outbox_len, "drops",
			(json_int_t)w->drops));
	}
	json_object_set_new(r, "workers", arr);
	return r;
}

/* A rate from the last STATS, or 0 once no STATS came for 2 s (the
 * worker reports only connections whose counters changed). */
static double
rate_now(float rate, uint64_t stats_ms, uint64_t now)
{
	return stats_ms == 0 || now - stats_ms > 2000 ? 0.0 : (double)rate;
}

static json_t *
conn_brief(const struct sv_conn *c, uint64_t now)
{
	json_t *o = json_pack(
	    "{s:I, s:s, s:i, s:s, s:I, s:I, s:I, s:I, s:I}", "id",
	    (json_int_t)c->id, "user", c->user->name, "worker", c->worker,
	    "addr", c->addr, "age_s",
	    (json_int_t)((now - c->connected_ms) / 1000), "idle_s",
	    (json_int_t)(now > c->last_seen_ms ? (now - c->last_seen_ms) / 1000
					       : 0),
	    "queue_bytes", (json_int_t)c->queue_bytes, "queue_msgs",
	    (json_int_t)c->queue_msgs, "drops", (json_int_t)c->drops);

	json_object_set_new(o, "rtt_ms",
			    c->rtt_us ? json_real((double)c->rtt_us / 1000.0)
				      : json_null());
	json_object_set_new(o, "flow",
			    json_string(c->paused ? "paused" : "open"));
	json_object_set_new(o, "transport",
			    json_string(c->sse ? "sse" : "websocket"));
	json_object_set_new(o, "rate_in",
			    json_real(rate_now(c->rate_in, c->stats_ms, now)));
	json_object_set_new(o, "rate_out",
			    json_real(rate_now(c->rate_out, c->stats_ms, now)));
	return o;
}

/* The key wsctl top sorts by (larger is worse). */
static double
top_key(const struct sv_conn *c, int by, uint64_t now)
{
	switch (by) {
	case 1: return (double)c->drops;
	case 2: return (double)c->rtt_us;
	case 3: return rate_now(c->rate_in, c->stats_ms, now);
	default: return (double)c->queue_bytes;
	}
}

struct top_ent {
	const struct sv_conn *c;
	double key;
};

static int
top_cmp(const void *a, const void *b)
{
	const struct top_ent *x = a, *y = b;

	return x->key < y->key ? 1 : x->key > y->key ? -1 : 0;
}

/*
 * {"cmd":"top","by"?:"queue"|"drops"|"rtt"|"rate","limit"?:N}: the worst
 * connections first (by queued bytes, drops, ping round trip or message
 * rate in), at most limit (default 20).
 */
static json_t *
cmd_top(struct sv *sv, const json_t *req)
{
	static const char *const bys[] = {"queue", "drops", "rtt", "rate"};
	const char *bs = json_string_value(json_object_get(req, "by"));
	json_t *jl = json_object_get(req, "limit");
	json_int_t limit = 20;
	struct top_ent *v;
	struct sv_conn *c, *tmp;
	uint64_t now = wall_ms();
	uint32_t n = 0, i;
	int by = 0;
	json_t *r, *arr;

	if (bs != NULL) {
		for (by = 0; by < 4 && strcmp(bs, bys[by]) != 0; by++)
			;
		if (by == 4)
			return fail("by must be queue, drops, rtt or rate%s",
				    NULL);
	}
	if (jl != NULL && (!json_is_integer(jl) || json_integer_value(jl) < 1))
		return fail("limit must be a positive integer%s", NULL);
	if (jl != NULL)
		limit = json_integer_value(jl);
	if ((v = calloc(sv->reg.nconns + 1, sizeof(*v))) == NULL)
		return fail("out of memory%s", NULL);
	HASH_ITER (hh, sv->reg.conns, c, tmp) {
		v[n].c = c;
		v[n].key = top_key(c, by, now);
		n++;
	}
	qsort(v, n, sizeof(*v), top_cmp);
	r = ok();
	arr = json_array();
	for (i = 0; i < n && (json_int_t)i < limit; i++)
		json_array_append_new(arr, conn_brief(v[i].c, now));
	free(v);
	json_object_set_new(r, "by", json_string(bys[by]));
	json_object_set_new(r, "conns", arr);
	json_object_set_new(r, "total", json_integer((json_int_t)n));
	return r;
}

static int
conn_in_room(const struct sv_conn *c, const char *room)
{
	const struct sv_member *m;
	const char *user;
	size_t ulen;

	if ((user = room_personal_user(room, strlen(room), &ulen)) != NULL)
		return ulen == strlen(c->user->name) &&
		       memcmp(user, c->user->name, ulen) == 0;
	LIST_FOREACH (m, &c->rooms, in_conn)
		if (strcmp(m->room->name, room) == 0)
			return 1;
	return 0;
}

static json_t *
cmd_conns(struct sv *sv, const json_t *req)
{
	const char *user = json_string_value(json_object_get(req, "user"));
	const char *room = json_string_value(json_object_get(req, "room"));
	json_t *jw = json_object_get(req, "worker");
	json_t *jl = json_object_get(req, "limit");
	json_int_t limit = CONNS_DEFAULT_LIMIT, total = 0;
	json_t *r, *arr;
	struct sv_conn *c, *tmp;
	uint64_t now = wall_ms();

	if ((jw && !json_is_integer(jw)) || (jl && !json_is_integer(jl)))
		return fail("worker and limit must be integers%s", NULL);
	if (jl)
		limit = json_integer_value(jl);
	r = ok();
	arr = json_array();
	HASH_ITER (hh, sv->reg.conns, c, tmp) {
		if (user && strcmp(user, c->user->name) != 0)
			continue;
		if (jw && json_integer_value(jw) != c->worker)
			continue;
		if (room && !conn_in_room(c, room))
			continue;
		if (total++ < limit)
			json_array_append_new(arr, conn_brief(c, now));
	}
	json_object_set_new(r, "conns", arr);
	json_object_set_new(r, "total", json_integer(total));
	return r;
}

static struct sv_conn *
req_conn(struct sv *sv, const json_t *req, const char *key)
{
	json_t *j = json_object_get(req, key);

	if (!json_is_integer(j))
		return NULL;
	return sv_reg_conn_find(&sv->reg, (uint64_t)json_integer_value(j));
}

static json_t *
cmd_conn(struct sv *sv, const json_t *req)
{
	struct sv_conn *c = req_conn(sv, req, "id");
	const struct sv_member *m;
	json_t *r, *o, *rooms;

	if (!json_is_integer(json_object_get(req, "id")))
		return fail("conn needs an integer id%s", NULL);
	if (c == NULL)
		return fail("no such connection%s", NULL);
	o = conn_brief(c, wall_ms());
	rooms = json_array();
	json_array_append_new(
	    rooms, json_sprintf(ROOM_PERSONAL_PREFIX "%s", c->user->name));
	LIST_FOREACH (m, &c->rooms, in_conn)
		json_array_append_new(rooms, json_string(m->room->name));
	json_object_set_new(o, "rooms", rooms);
	json_object_set_new(o, "agent", json_string(c->agent));
	json_object_set_new(o, "traceparent",
			    c->trace ? json_string(c->trace) : json_null());
	json_object_set_new(o, "anonymous", json_boolean(c->anonymous));
	{
		char sid[SV_SESSION_ID_LEN + 1];

		sv_token_sid_hex(c->sid, sid);
		json_object_set_new(o, "session", json_string(sid));
	}
	if (c->info != NULL)
		json_object_set_new(o, "info", json_loads(c->info, 0, NULL));
	json_object_set_new(o, "connected_at",
			    json_integer((json_int_t)(c->connected_ms / 1000)));
	json_object_set_new(o, "last_seen",
			    json_integer((json_int_t)(c->last_seen_ms / 1000)));
	json_object_set_new(o, "msgs_in", json_integer((json_int_t)c->msgs_in));
	json_object_set_new(o, "msgs_out",
			    json_integer((json_int_t)c->msgs_out));
	r = ok();
	json_object_set_new(r, "conn", o);
	return r;
}

/* Members of a room; a personal room's are its user's connections. */
static uint32_t
room_members(struct sv *sv, const char *name)
{
	const struct sv_user *u;
	const struct sv_room *room;

	if (room_is_personal(name, strlen(name))) {
		u = sv_reg_room_user(&sv->reg, name);
		return u ? u->nconns : 0;
	}
	room = sv_reg_room_get(&sv->reg, name, strlen(name), 0);
	return room ? room->nmembers : 0;
}

struct rooms_ctx {
	struct sv *sv;
	json_t *arr; /* a listing, or */
	json_t *one; /* one room */
};

static void
room_listed(void *arg, const struct sv_eng_room *r)
{
	struct rooms_ctx *x = arg;
	json_t *o = json_pack(
	    "{s:s, s:i, s:I, s:s, s:i, s:I, s:i}", "name", r->name, "members",
	    (int)room_members(x->sv, r->name), "seq", (json_int_t)r->seq,
	    "epoch", r->epoch, "log", (int)r->log_len, "log_bytes",
	    (json_int_t)r->log_bytes, "users", (int)r->present);

	if (x->arr != NULL)
		json_array_append_new(x->arr, o);
	else
		x->one = o;
}

static json_t *
cmd_rooms(struct sv *sv, const json_t *req)
{
	json_t *r = ok(), *jl = json_object_get(req, "limit");
	struct rooms_ctx x = {sv, json_array(), NULL};
	uint32_t limit = jl && json_is_integer(jl) && json_integer_value(jl) > 0
			     ? (uint32_t)json_integer_value(jl)
			     : 100000;

	sv->eng.ops->rooms(&sv->eng, NULL, limit, room_listed, &x);
	json_object_set_new(r, "rooms", x.arr);
	return r;
}

/* The member ids of a room; a personal room's are its user's conns. */
static json_t *
room_member_ids(struct sv *sv, const char *name, const struct sv_room *room)
{
	json_t *members = json_array();
	const struct sv_member *m;

	if (room_is_personal(name, strlen(name))) {
		const struct sv_user *u = sv_reg_room_user(&sv->reg, name);
		const struct sv_conn *c;

		if (u != NULL)
			TAILQ_FOREACH (c, &u->conns, by_user)
				json_array_append_new(
				    members, json_integer((json_int_t)c->id));
	} else if (room != NULL) {
		TAILQ_FOREACH (m, &room->members, in_room)
			json_array_append_new(
			    members, json_integer((json_int_t)m->conn->id));
	}
	return members;
}

/* A room's reply waiting for its users (a shared engine answers later). */
struct room_reply {
	struct ctl_call call;
	json_t *one;
	int later, done;
};

static void
users_got(void *arg, int rc, const struct sv_presence *users, uint32_t n)
{
	struct room_reply *x = arg;
	json_t *r;

	json_object_set_new(x->one, "users",
			    rc == WSD_OK ? sv_route_users_json(users, n)
					 : json_array());
	x->done = 1;
	if (!x->later)
		return;
	r = ok();
	json_object_set_new(r, "room", x->one);
	x->call.fn(x->call.arg, r);
	free(x);
}

static json_t *
cmd_room(struct sv *sv, const json_t *req)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	struct rooms_ctx x = {sv, NULL, NULL};
	struct room_reply *rr;
	struct sv_room *room;
	json_t *r, *members;

	if (name == NULL)
		return fail("room needs a name%s", NULL);
	room = sv_reg_room_get(&sv->reg, name, strlen(name), 0);
	members = room_member_ids(sv, name, room);
	sv->eng.ops->rooms(&sv->eng, name, 1, room_listed, &x);
	/* A connected user's personal room exists before its first message. */
	if (x.one == NULL && json_array_size(members) == 0) {
		json_decref(members);
		return fail("no such room: %s", name);
	}
	if (x.one == NULL)
		x.one = json_pack("{s:s, s:i, s:i, s:s, s:i}", "name", name,
				  "members", (int)json_array_size(members),
				  "seq", 0, "epoch", "", "log", 0);
	json_object_set_new(x.one, "members", members);
	if ((rr = calloc(1, sizeof(*rr))) == NULL) {
		json_decref(x.one);
		return fail("out of memory%s", NULL);
	}
	rr->call = *running;
	rr->one = x.one;
	sv->eng.ops->presence_get(&sv->eng, name, strlen(name), users_got, rr);
	if (!rr->done) {
		rr->later = 1; /* users_got answers */
		return NULL;
	}
	r = ok();
	json_object_set_new(r, "room", rr->one);
	free(rr);
	return r;
}

/* A listing of sessions: the connected ones, then the engine's (which a
 * shared engine sends later). */
struct sessions_ctx {
	struct ctl_call call;
	json_t *arr;
	uint64_t now;
	int done, later;
};

static json_t *
session_json(const uint8_t id[SV_SESSION_ID_BYTES], const char *user,
	     uint64_t created_ms, uint64_t now, json_t *rooms)
{
	char sid[SV_SESSION_ID_LEN + 1];

	sv_token_sid_hex(id, sid);
	return json_pack(
	    "{s:s, s:s, s:o, s:I}", "session", sid, "user", user, "rooms",
	    rooms, "age_s",
	    (json_int_t)(now > created_ms ? (now - created_ms) / 1000 : 0));
}

static void
session_listed(void *arg, const struct sv_sess *s)
{
	struct sessions_ctx *x = arg;
	json_t *rooms, *o;
	uint32_t i;

	if (s == NULL) { /* the engine's listing is over */
		x->done = 1;
		if (x->later) {
			o = ok();
			json_object_set_new(o, "sessions", x->arr);
			x->call.fn(x->call.arg, o);
			free(x);
		}
		return;
	}
	rooms = json_array();
	for (i = 0; i < s->nrooms; i++)
		json_array_append_new(rooms, json_string(s->rooms[i].name));
	o = session_json(s->id, s->user, s->created_ms, x->now, rooms);
	json_object_set_new(o, "connected", json_false());
	json_object_set_new(
	    o, "expires_s",
	    json_integer((json_int_t)(s->expires_ms > x->now
					  ? (s->expires_ms - x->now) / 1000
					  : 0)));
	json_array_append_new(x->arr, o);
}

static json_t *
cmd_sessions(struct sv *sv, const json_t *req)
{
	const char *user = json_string_value(json_object_get(req, "user"));
	json_t *jl = json_object_get(req, "limit"), *r;
	struct sessions_ctx *x = calloc(1, sizeof(*x));
	json_int_t limit = jl && json_is_integer(jl) ? json_integer_value(jl)
						     : CONNS_DEFAULT_LIMIT;
	struct sv_conn *c, *tmp;
	json_int_t n = 0;

	if (x == NULL)
		return fail("out of memory%s", NULL);
	x->call = *running;
	x->arr = json_array();
	x->now = wall_ms();

	HASH_ITER (hh, sv->reg.conns, c, tmp) {
		const struct sv_member *m;
		json_t *rooms, *o;

		if (n >= limit)
			break;
		if (user != NULL && strcmp(user, c->user->name) != 0)
			continue;
		rooms = json_array();
		json_array_append_new(
		    rooms,
		    json_sprintf(ROOM_PERSONAL_PREFIX "%s", c->user->name));
		LIST_FOREACH (m, &c->rooms, in_conn)
			json_array_append_new(rooms,
					      json_string(m->room->name));
		o = session_json(c->sid, c->user->name, c->session_ms, x->now,
				 rooms);
		json_object_set_new(o, "connected", json_true());
		json_object_set_new(o, "conn", json_integer((json_int_t)c->id));
		json_object_set_new(o, "expires_s", json_null());
		json_array_append_new(x->arr, o);
		n++;
	}
	if (n < limit)
		sv->eng.ops->session_each(&sv->eng, user, (uint32_t)(limit - n),
					  session_listed, x);
	else
		x->done = 1;
	if (!x->done) {
		x->later = 1; /* session_listed answers */
		return NULL;
	}
	r = ok();
	json_object_set_new(r, "sessions", x->arr);
	free(x);
	return r;
}

/* A publish of a command in flight. */
struct ctl_pub {
	struct ctl_call call;
	int done, later; /* completed; answered through call */
	int rc, nworkers;
	uint64_t seq;
	char room[];
};

static json_t *
published_reply(const struct ctl_pub *p)
{
	json_t *r;

	if (p->rc == WSD_EFULL)
		return fail("room limit reached (limits.max_rooms)%s", NULL);
	if (p->rc == WSD_EAGAIN)
		return fail("unavailable: the engine cannot take it now%s",
			    NULL);
	if (p->rc != WSD_OK)
		return fail("out of memory%s", NULL);
	r = ok();
	json_object_set_new(r, "room", json_string(p->room));
	json_object_set_new(r, "seq", json_integer((json_int_t)p->seq));
	/* A shared engine delivers apart from completing: not known. */
	if (p->nworkers >= 0)
		json_object_set_new(r, "workers", json_integer(p->nworkers));
	return r;
}

static void
ctl_published(void *arg, int rc, uint64_t seq, int nworkers)
{
	struct ctl_pub *p = arg;

	p->done = 1;
	p->rc = rc;
	p->seq = seq;
	p->nworkers = nworkers;
	if (p->later) {
		p->call.fn(p->call.arg, published_reply(p));
		free(p);
	}
}

/* The request's optional "trace" into out: 1 when given, 0 when absent,
 * -1 when it is not a traceparent (proto/trace.h). */
static int
req_trace(const json_t *req, char out[TRACE_LEN + 1])
{
	const json_t *jt = json_object_get(req, "trace");

	if (jt == NULL)
		return 0;
	if (!json_is_string(jt) ||
	    !trace_parse(json_string_value(jt), json_string_length(jt), out))
		return -1;
	return 1;
}

/* Publish the request's data (and its optional trace) to room; fills the
 * reply. */
static json_t *
publish_to(struct sv *sv, const char *room_name, const json_t *req,
	   uint64_t exclude, const char *key)
{
	const json_t *data = json_object_get(req, "data");
	struct ctl_pub *p;
	char trace[TRACE_LEN + 1];
	int traced = req_trace(req, trace);
	json_t *r;
	char *text;

	if (data == NULL)
		return fail("data is required%s", NULL);
	if (traced < 0)
		return fail("trace must be a W3C traceparent%s", NULL);
	if ((p = calloc(1, sizeof(*p) + strlen(room_name) + 1)) == NULL)
		return fail("out of memory%s", NULL);
	p->call = *running;
	strcpy(p->room, room_name);
	if ((text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL) {
		free(p);
		return fail("out of memory%s", NULL);
	}
	{
		struct sv_route_pub rp = {
		    .room = room_name,
		    .rlen = strlen(room_name),
		    .from = "server",
		    .fromlen = 6,
		    .data = text,
		    .datalen = strlen(text),
		    .key = key,
		    .keylen = key ? strlen(key) : 0,
		    .exclude = exclude,
		    .trace = traced ? trace : NULL,
		};

		sv_route_publish(sv, &rp, ctl_published, p);
	}
	free(text);
	/* The memory engine completed it already; a shared engine answers
	 * later, through the call. */
	if (!p->done) {
		p->later = 1;
		return NULL;
	}
	r = published_reply(p);
	free(p);
	return r;
}

static json_t *
cmd_publish(struct sv *sv, const json_t *req)
{
	const char *room = json_string_value(json_object_get(req, "room"));
	const json_t *k = json_object_get(req, "key");
	const char *key = json_string_value(k);

	if (room == NULL || !room_valid(room, strlen(room)) ||
	    room_is_broadcast(room, strlen(room)))
		return fail("publish needs a valid room name%s", NULL);
	if (k != NULL && (key == NULL || !room_valid(key, strlen(key))))
		return fail("key must be a string of 1 to 128 bytes, no "
			    "control bytes%s",
			    NULL);
	return publish_to(sv, room, req, 0, key);
}

static json_t *
cmd_send(struct sv *sv, const json_t *req)
{
	const char *user = json_string_value(json_object_get(req, "user"));
	const json_t *data = json_object_get(req, "data");
	struct sv_conn *c;
	char room[ROOM_PERSONAL_MAX + 1], trace[TRACE_LEN + 1];
	int rc, traced = req_trace(req, trace);
	char *text;
	json_t *r;

	if (user != NULL) {
		if (room_personal_name(room, sizeof(room), user, strlen(user)) <
		    0)
			return fail("bad user id%s", NULL);
		return publish_to(sv, room, req, 0, NULL);
	}
	if (!json_is_integer(json_object_get(req, "conn")))
		return fail("send needs user or conn%s", NULL);
	if ((c = req_conn(sv, req, "conn")) == NULL)
		return fail("no such connection%s", NULL);
	if (data == NULL)
		return fail("data is required%s", NULL);
	if (traced < 0)
		return fail("trace must be a W3C traceparent%s", NULL);
	if ((text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		return fail("out of memory%s", NULL);
	rc = sv_route_direct(sv, c, text, strlen(text), traced ? trace : NULL);
	free(text);
	if (rc != WSD_OK)
		return fail("the connection's worker did not take it%s", NULL);
	r = ok();
	json_object_set_new(r, "conn", json_integer((json_int_t)c->id));
	json_object_set_new(r, "workers", json_integer(1));
	return r;
}

static json_t *
cmd_broadcast(struct sv *sv, const json_t *req)
{
	json_t *ex = json_object_get(req, "exclude");

	if (ex && !json_is_integer(ex))
		return fail("exclude must be a connection id%s", NULL);
	return publish_to(sv, ROOM_BROADCAST, req,
			  ex ? (uint64_t)json_integer_value(ex) : 0, NULL);
}

static int
valid_kick_code(json_int_t code)
{
	return code == 1000 || code == 1001 || code == 1008 || code == 1011 ||
	       code == 1013 || (code >= 4000 && code <= 4999);
}

static json_t *
cmd_kick(struct sv *sv, const json_t *req)
{
	const char *user = json_string_value(json_object_get(req, "user"));
	const char *reason = json_string_value(json_object_get(req, "reason"));
	json_t *jc = json_object_get(req, "code"), *r;
	json_int_t code = 4003;
	struct sv_user *u;
	struct sv_conn *c, *tmp;
	int kicked = 0, revoke = json_is_true(json_object_get(req, "revoke"));
	uint32_t revoked = 0;

	if (jc != NULL) {
		if (!json_is_integer(jc) ||
		    !valid_kick_code(json_integer_value(jc)))
			return fail("code must be 1000, 1001, 1008, 1011, 1013 "
				    "or 4000-4999%s",
				    NULL);
		code = json_integer_value(jc);
	}
	if (reason == NULL)
		reason = "kicked";
	if (strlen(reason) > 120)
		return fail("reason is limited to 120 bytes%s", NULL);
	if (revoke && user == NULL)
		return fail("--revoke needs --user%s", NULL);
	if (revoke)
		revoked = sv_session_revoke(sv, user);
	if (user != NULL) {
		if ((u = sv_reg_user_find(&sv->reg, user, strlen(user))) ==
		    NULL) {
			if (revoke) {
				r = ok();
				json_object_set_new(r, "kicked",
						    json_integer(0));
				json_object_set_new(r, "revoked",
						    json_integer(revoked));
				return r;
			}
			return fail("no connections of user %s", user);
		}
		TAILQ_FOREACH_SAFE (c, &u->conns, by_user, tmp)
			kicked +=
			    sv_route_kick(sv, c, (int)code, reason) == WSD_OK;
	} else {
		if (!json_is_integer(json_object_get(req, "conn")))
			return fail("kick needs conn or user%s", NULL);
		if ((c = req_conn(sv, req, "conn")) == NULL)
			return fail("no such connection%s", NULL);
		kicked += sv_route_kick(sv, c, (int)code, reason) == WSD_OK;
	}
	r = ok();
	json_object_set_new(r, "kicked", json_integer(kicked));
	if (revoke)
		json_object_set_new(r, "revoked", json_integer(revoked));
	return r;
}

static json_t *
cmd_stats(struct sv *sv, const json_t *req)
{
	const struct sv_counters *s = &sv->stats;
	struct sv_eng_stats es;
	json_t *r = ok(), *st = json_object();
	size_t i;

	(void)req;
	memset(&es, 0, sizeof(es));
	sv->eng.ops->stats(&sv->eng, &es);
	{
		const struct {
			const char *key;
			uint64_t v;
		} counters[] = {
		    {"connections", sv->reg.nconns},
		    {"conns_opened", s->conns_opened},
		    {"conns_closed", s->conns_closed},
		    {"conns_refused", s->conns_refused},
		    {"refused_max_connections", s->refused_global},
		    {"refused_per_user", s->refused_user},
		    {"refused_per_address", s->refused_address},
		    {"refused_draining", s->refused_draining},
		    {"refused_connect_rate", s->refused_connect_rate},
		    {"resumes_over_rate", s->resumes_over_rate},
		    {"publishes", s->publishes},
		    {"deliveries", s->deliveries},
		    {"worker_restarts", s->worker_restarts},
		    {"ipc_drops", s->ipc_drops},
		    {"workers_stuck", sv->workers.stuck},
		    {"rooms", es.rooms},
		    {"replay_entries", es.replay_entries},
		    {"replay_bytes", es.replay_bytes},
		    {"replay_evictions", es.replay_evictions},
		    {"room_limit_hits", es.room_limit_hits},
		    {"sessions", es.sessions},
		    {"session_bytes", es.session_bytes},
		    {"sessions_evicted", es.sessions_evicted},
		    {"resumes", s->resumes},
		    {"resume_failures", s->resume_failures},
		    {"sessions_revoked", s->sessions_revoked},
		};

		for (i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
			json_object_set_new(
			    st, counters[i].key,
			    json_integer((json_int_t)counters[i].v));
	}
	json_object_set_new(r, "stats", st);
	return r;
}

/* The reload's report, a line per change ("KEY A -> B: HOW"), as the
 * text "changed" and the list "changes" (empty when nothing changed). */
static json_t *
cmd_reload(struct sv *sv, const json_t *req)
{
	char msg[8192];
	json_t *r, *list;
	size_t i, n;

	(void)req;
	if (actions->reload(sv, msg, sizeof(msg)) != WSD_OK)
		return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
	r = ok();
	list = json_array();
	for (i = 0; strcmp(msg, "nothing") != 0 && msg[i] != '\0'; i += n) {
		n = strcspn(msg + i, "\n");
		json_array_append_new(list, json_stringn(msg + i, n));
		n += msg[i + n] == '\n';
	}
	json_object_set_new(r, "changed", json_string(msg));
	json_object_set_new(r, "changes", list);
	json_object_set_new(r, "generation", json_integer(sv->cfg->generation));
	return r;
}

static json_t *
cmd_drain(struct sv *sv, const json_t *req)
{
	json_t *t = json_object_get(req, "timeout");

	if (t != NULL && !json_is_number(t))
		return fail("timeout must be a number of seconds%s", NULL);
	actions->drain(sv, t ? json_number_value(t) : 0);
	return ok();
}

/*
 * Mint a client token with the running config's signing key (the first
 * HS* key of jwt.keys, else jwt_secret). The token is in the reply only:
 * it is never logged.
 */
static json_t *
cmd_token(struct sv *sv, const json_t *req)
{
	const char *user = json_string_value(json_object_get(req, "user"));
	const json_t *jttl = json_object_get(req, "ttl");
	const json_t *rooms = json_object_get(req, "rooms");
	const json_t *info = json_object_get(req, "info");
	json_int_t ttl = TOKEN_DEFAULT_TTL;
	int64_t now = (int64_t)(wall_ms() / 1000);
	char *text = NULL, *tok = NULL;
	const char *why = NULL;
	json_t *r;
	int rc;

	if (user == NULL)
		return fail("token needs a user%s", NULL);
	if (jttl != NULL) {
		if (!json_is_integer(jttl) || json_integer_value(jttl) <= 0)
			return fail("ttl must be a positive number of "
				    "seconds%s",
				    NULL);
		ttl = json_integer_value(jttl);
	}
	if (json_is_null(rooms))
		rooms = NULL;
	if (rooms != NULL && !json_is_array(rooms))
		return fail("rooms must be a list of patterns%s", NULL);
	if (info != NULL && !json_is_object(info))
		return fail("info must be a JSON object%s", NULL);
	if (info != NULL && (text = json_dumps(info, JSON_COMPACT)) == NULL)
		return fail("out of memory%s", NULL);
	rc = proto_jwt_sign(&sv->cfg->w, user, (uint64_t)ttl, rooms, text, now,
			    &tok, &why);
	free(text);
	if (rc != WSD_OK)
		return fail("cannot sign a token: %s",
			    rc == WSD_ENOMEM ? "out of memory" : why);
	r = ok();
	json_object_set_new(r, "token", json_string(tok));
	json_object_set_new(r, "user", json_string(user));
	json_object_set_new(r, "exp", json_integer((json_int_t)(now + ttl)));
	free(tok);
	return r;
}

/* Would the running config accept this token at an upgrade, and why not. */
static json_t *
cmd_checktoken(struct sv *sv, const json_t *req)
{
	const char *tok = json_string_value(json_object_get(req, "token"));
	struct proto_jwt_claims c;
	const char *why = NULL;
	json_t *r, *info;
	int rc;

	if (tok == NULL)
		return fail("checktoken needs a token%s", NULL);
	rc = proto_jwt_verify(&sv->cfg->w, tok, strlen(tok),
			      (int64_t)(wall_ms() / 1000), &c, &why);
	if (rc == WSD_ENOMEM)
		return fail("out of memory%s", NULL);
	if (rc != WSD_OK)
		return fail("token refused: %s", why);
	r = ok();
	json_object_set_new(r, "user", json_string(c.user));
	if (c.kid[0] != '\0')
		json_object_set_new(r, "kid", json_string(c.kid));
	json_object_set_new(r, "alg", json_string(c.alg));
	json_object_set_new(r, "exp", json_integer((json_int_t)c.exp));
	if (c.rooms != NULL)
		json_object_set(r, "rooms", c.rooms);
	if (c.info != NULL && (info = json_loads(c.info, 0, NULL)) != NULL)
		json_object_set_new(r, "info", info);
	proto_jwt_claims_free(&c);
	return r;
}

struct command {
	const char *name;
	json_t *(*run)(struct sv *, const json_t *);
};

static const struct command commands[] = {
    {"status", cmd_status},
    {"workers", cmd_workers},
    {"conns", cmd_conns},
    {"conn", cmd_conn},
    {"rooms", cmd_rooms},
    {"room", cmd_room},
    {"publish", cmd_publish},
    {"send", cmd_send},
    {"broadcast", cmd_broadcast},
    {"kick", cmd_kick},
    {"stats", cmd_stats},
    {"reload", cmd_reload},
    {"drain", cmd_drain},
    {"token", cmd_token},
    {"top", cmd_top},
    {"checktoken", cmd_checktoken},
    {"sessions", cmd_sessions},
    {"nodes", cmd_nodes},
    {"worker", cmd_worker},
};

int
sv_ctl_known(const char *cmd)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, cmd) == 0)
			return 1;
	return 0;
}

static json_t *
run(struct sv *sv, const json_t *req)
{
	const char *cmd;
	size_t i;

	if (!json_is_object(req))
		return fail("a request is one JSON object%s", NULL);
	if ((cmd = json_string_value(json_object_get(req, "cmd"))) == NULL)
		return fail("the request has no cmd%s", NULL);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, cmd) == 0)
			return commands[i].run(sv, req);
	return fail("unknown command %s", cmd);
}

void
sv_ctl_call(struct sv *sv, const json_t *req, sv_ctl_reply_fn fn, void *arg)
{
	const struct ctl_call call = {fn, arg}, *prev = running;
	json_t *rep;

	running = &call;
	rep = run(sv, req);
	running = prev;
	if (rep != NULL)
		fn(arg, rep);
}

/* The request whose reply is still to come: the socket is not read
 * meanwhile (rep0 answers one request at a time, in order). */
static nng_msg *ctl_waiting;

static void on_ctl_readable(struct ev_loop *loop, ev_io *io, int revents);

static void
ctl_reply(void *arg, json_t *rep)
{
	struct sv *sv = arg;
	nng_msg *msg = ctl_waiting;
	char *text = json_dumps(rep, JSON_COMPACT);

	json_decref(rep);
	ctl_waiting = NULL;
	if (!ctl_open) {
		nng_msg_free(msg);
		free(text);
		return;
	}
	nng_msg_clear(msg);
	if (text == NULL || nng_msg_append(msg, text, strlen(text)) != 0 ||
	    nng_sendmsg(ctl_sock, msg, NNG_FLAG_NONBLOCK) != 0)
		nng_msg_free(msg);
	free(text);
	if (!ev_is_active(&ctl_io)) {
		ev_io_start(sv->loop, &ctl_io);
		ev_feed_event(sv->loop, &ctl_io, EV_READ);
	}
}

static void
on_ctl_readable(struct ev_loop *loop, ev_io *io, int revents)
{
	struct sv *sv = ev_userdata(loop);
	json_error_t jerr;
	nng_msg *msg;
	json_t *req;

	(void)io;
	(void)revents;
	while (ctl_waiting == NULL &&
	       nng_recvmsg(ctl_sock, &msg, NNG_FLAG_NONBLOCK) == 0) {
		req = json_loadb(nng_msg_body(msg), nng_msg_len(msg), 0, &jerr);
		ctl_waiting = msg;
		if (req == NULL)
			ctl_reply(sv, fail("the request is not JSON%s", NULL));
		else
			sv_ctl_call(sv, req, ctl_reply, sv);
		json_decref(req);
	}
	if (ctl_waiting != NULL)
		ev_io_stop(loop, &ctl_io);
}

int
sv_ctl_start(struct sv *sv, const struct sv_ctl_actions *act)
{
	char url[600];
	int fd, rv;

	actions = act;
	snprintf(url, sizeof(url), "ipc://%s", sv->cfg->control_socket);
	unlink(sv->cfg->control_socket);
	if ((rv = nng_rep0_open(&ctl_sock)) != 0)
		goto fail;
	ctl_open = 1;
	if ((rv = nng_listen(ctl_sock, url, NULL, 0)) != 0 ||
	    (rv = nng_socket_get_int(ctl_sock, NNG_OPT_RECVFD, &fd)) != 0)
		goto fail;
	chmod(sv->cfg->control_socket, 0600);
	ev_io_init(&ctl_io, on_ctl_readable, fd, EV_READ);
	ev_io_start(sv->loop, &ctl_io);
	return WSD_OK;
fail:
	log_error("control_socket_failed", "path=%s error=%s",
		  log_q(sv->cfg->control_socket), log_q(nng_strerror(rv)));
	sv_ctl_stop(sv);
	return WSD_ECLOSED;
}

void
sv_ctl_stop(struct sv *sv)
{
	if (!ctl_open)
		return;
	ev_io_stop(sv->loop, &ctl_io);
	nng_close(ctl_sock);
	unlink(sv->cfg->control_socket);
	ctl_open = 0; /* a reply still to come frees its request */
}
