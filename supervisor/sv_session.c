/*
 * sv_session.c: sessions (sv_session.h): begin, detach, resume, revoke.
 *
 * A refused resume says the same to the client whatever the cause
 * (malformed, unknown key, bad signature, expired, spent, revoked, another
 * user's): `error` `resume_failed`; the log line names the cause and the
 * connection, never the token.
 */
#include "sv_session.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/clock.h"
#include "../proto/log.h"
#include "../proto/trace.h"
#include "../proto/room.h"
#include "sv.h"
#include "sv_route.h"

static int
mint(struct sv *sv, struct sv_conn *c, char token[SV_TOKEN_MAX])
{
	struct sv_token t;
	size_t ulen = strlen(c->user->name);

	memset(&t, 0, sizeof(t));
	memcpy(t.sid, c->sid, sizeof(t.sid));
	t.conn = c->id;
	t.exp_ms = wall_ms() + sv->cfg->token_ttl_ms;
	t.nonce = c->nonce;
	if (ulen > ROOM_NAME_MAX)
		return WSD_EINVAL;
	memcpy(t.user, c->user->name, ulen);
	t.ulen = ulen;
	return sv_token_mint(&sv->cfg->keys, &t, token) > 0 ? WSD_OK
							    : WSD_EAGAIN;
}

static void
got_admit_seq(void *arg, const struct sv_eng_hist *h)
{
	if (h->rc == WSD_OK)
		*(uint64_t *)arg = h->seq;
}

int
sv_session_begin(struct sv *sv, struct sv_conn *c, char token[SV_TOKEN_MAX])
{
	char personal[ROOM_PERSONAL_MAX + 1];
	uint8_t sid[SV_SESSION_ID_BYTES];
	uint64_t nonce;
	int n;

	if (sv_token_new_sid(sid) != WSD_OK ||
	    sv_token_new_nonce(&nonce) != WSD_OK)
		return WSD_EAGAIN;
	memcpy(c->sid, sid, sizeof(sid));
	c->nonce = nonce;
	c->session_ms = wall_ms();
	/* What a user from a token gets in its personal room from now on
	 * comes live; a resume replays only what came before. */
	if (!c->anonymous &&
	    (n = room_personal_name(personal, sizeof(personal), c->user->name,
				    strlen(c->user->name))) >= 0)
		sv->eng.ops->history(&sv->eng, personal, (size_t)n, 0, NULL, 0,
				     got_admit_seq, &c->admit_personal_seq);
	return mint(sv, c, token);
}

int
sv_session_shutdown(struct sv *sv, struct sv_conn *c, uint64_t spread_ms)
{
	char token[SV_TOKEN_MAX], text[SV_TOKEN_MAX + 96];
	uint32_t rnd = 0;
	int n, rc;

	if (mint(sv, c, token) != WSD_OK)
		return sv_route_kick(sv, c, 1001, "server draining");
	if (spread_ms > 0 &&
	    RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		rnd = (uint32_t)c->id;
	n = snprintf(text, sizeof(text),
		     "{\"type\":\"shutdown\",\"reconnect_after_ms\":%llu,"
		     "\"resume_token\":\"%s\"}",
		     (unsigned long long)(spread_ms ? rnd % spread_ms : 0),
		     token);
	rc = sv_route_text(sv, c, text, (size_t)n);
	sv_route_kick(sv, c, 1001, "server draining");
	return rc;
}

/* A room and the seq it has now (0 and no epoch: it has no history). */
struct seq_ctx {
	struct sv_sess_room *r;
};

static void
got_seq(void *arg, const struct sv_eng_hist *h)
{
	struct seq_ctx *x = arg;

	if (h->rc != WSD_OK)
		return;
	x->r->seq = h->seq;
	snprintf(x->r->epoch, sizeof(x->r->epoch), "%s", h->epoch);
}

static int
sess_room(struct sv *sv, struct sv_sess *s, const char *name)
{
	struct sv_sess_room *r = &s->rooms[s->nrooms];
	struct seq_ctx x = {r};

	memset(r, 0, sizeof(*r));
	if ((r->name = strdup(name)) == NULL)
		return WSD_ENOMEM;
	sv->eng.ops->history(&sv->eng, name, strlen(name), 0, NULL, 0, got_seq,
			     &x);
	s->nrooms++;
	return WSD_OK;
}

/* The session of c as it would be detached now; NULL when out of
 * memory. */
static struct sv_sess *
sess_of(struct sv *sv, struct sv_conn *c)
{
	char personal[ROOM_PERSONAL_MAX + 1];
	struct sv_sess *s = calloc(1, sizeof(*s));
	const struct sv_member *m;
	uint64_t now = wall_ms();

	if (s == NULL)
		return NULL;
	memcpy(s->id, c->sid, sizeof(s->id));
	/* A resumed connection whose `resumed` never went out: the client
	 * still holds the token it resumed with, which stays good. */
	s->nonce = c->resume_unconfirmed ? c->prev_nonce : c->nonce;
	s->conn = c->id;
	s->anonymous = c->anonymous;
	s->created_ms = c->session_ms;
	s->detached_ms = now;
	s->expires_ms = now + sv->cfg->session_ttl_ms;
	if ((s->user = strdup(c->user->name)) == NULL ||
	    (s->rooms = calloc(c->nrooms + 1, sizeof(*s->rooms))) == NULL)
		goto fail;
	if (room_personal_name(personal, sizeof(personal), c->user->name,
			       strlen(c->user->name)) >= 0 &&
	    sess_room(sv, s, personal) != WSD_OK)
		goto fail;
	LIST_FOREACH (m, &c->rooms, in_conn)
		if (sess_room(sv, s, m->room->name) != WSD_OK)
			goto fail;
	return s;
fail:
	sv_sess_free(s);
	return NULL;
}

int
sv_session_dump(struct sv *sv, msgpack_packer *pk, uint32_t *nlive)
{
	struct sv_sess **live = NULL;
	struct sv_conn *c, *tmp;
	uint32_t n = 0, i;
	int rc;

	if (sv->cfg->sessions_max > 0 && sv->reg.nconns > 0 &&
	    (live = calloc(sv->reg.nconns, sizeof(*live))) == NULL)
		return WSD_ENOMEM;
	if (live != NULL)
		HASH_ITER (hh, sv->reg.conns, c, tmp) {
			if (c->revoked)
				continue;
			if ((live[n] = sess_of(sv, c)) == NULL)
				log_warn("session_save_failed",
					 "conn=%llu error=%s%s",
					 (unsigned long long)c->id,
					 log_q("out of memory"),
					 trace_log_kv(c->trace));
			else
				n++;
		}
	rc = sv->eng.ops->dump(&sv->eng, pk, live, n);
	*nlive = n;
	for (i = 0; i < n; i++)
		sv_sess_free(live[i]);
	free(live);
	return rc;
}

void
sv_session_resumed(struct sv_conn *c)
{
	c->resume_unconfirmed = 0;
}

void
sv_session_detach(struct sv *sv, struct sv_conn *c)
{
	struct sv_sess *s;

	if (c->revoked || c->taken || sv->cfg->sessions_max == 0)
		return;
	if ((s = sess_of(sv, c)) == NULL ||
	    sv->eng.ops->session_put(&sv->eng, s) != WSD_OK)
		log_warn("session_save_failed", "conn=%llu error=%s%s",
			 (unsigned long long)c->id, log_q("out of memory"),
			 trace_log_kv(c->trace));
}

uint32_t
sv_session_revoke(struct sv *sv, const char *user)
{
	struct sv_user *u = sv_reg_user_find(&sv->reg, user, strlen(user));
	struct sv_conn *c;
	uint32_t n = sv->eng.ops->session_revoke(&sv->eng, user);

	if (u != NULL)
		TAILQ_FOREACH (c, &u->conns, by_user) {
			if (!c->revoked)
				n++;
			c->revoked = 1;
		}
	sv->stats.sessions_revoked += n;
	return n;
}

/* ------------------------------------------------------------------ */
/* Resume. */

static void
resume_failed(struct sv *sv, struct sv_conn *c, const char *why)
{
	log_info("resume_refused", "conn=%llu reason=%s%s",
		 (unsigned long long)c->id, log_q(why), trace_log_kv(c->trace));
	sv->stats.resume_failures++;
	sv_route_error(sv, c, "resume_failed", "the session cannot be resumed",
		       proto_cstr(""), 0);
}

/*
 * A resume in flight: what it needs of its RESUME, and the connection by
 * id (a shared engine answers later; the connection may be gone then).
 */
struct resume {
	struct sv *sv;
	uint64_t conn;
	struct sv_token t;
	char *data; /* the client's rooms (JSON text) */
	size_t dlen;
	struct sv_sess *s;
	uint64_t replaced; /* the connection it takes over, or 0 */
	json_t *want;
	sv_session_done_fn done;
	void *arg;
};

static void
resume_end(struct resume *x)
{
	x->done(x->arg, x->conn);
	sv_sess_free(x->s);
	json_decref(x->want);
	free(x->data);
	free(x);
}

/*
 * The session t names, still held by a connection (its worker died and
 * has not been reaped, or the client came back before its old socket was
 * seen to close): that one is told to close and its id goes in
 * x->replaced, for forgetting once c is in its rooms (so that no leave
 * and join of the same user is announced). NULL with *why, or with *why
 * NULL when no connection holds it (the engine may).
 */
static struct sv_sess *
take_over(struct sv *sv, struct sv_conn *c, struct resume *x, const char **why)
{
	const struct sv_token *t = &x->t;
	struct sv_conn *old = sv_reg_conn_find(&sv->reg, t->conn);
	struct sv_sess *s;

	*why = NULL;
	if (old == NULL || old == c ||
	    memcmp(old->sid, t->sid, sizeof(t->sid)) != 0)
		return NULL;
	if ((old->nonce != t->nonce &&
	     !(old->resume_unconfirmed && old->prev_nonce == t->nonce)) ||
	    old->revoked || old->taken) {
		*why = old->revoked ? "revoked" : "spent token";
		return NULL;
	}
	if (old->anonymous != c->anonymous) {
		*why = "another user's session";
		return NULL;
	}
	if ((s = sess_of(sv, old)) == NULL) {
		*why = "out of memory";
		return NULL;
	}
	/* Its close, which may come before this resume is over, leaves
	 * nothing behind: the session is this resume's (and goes back to
	 * the engine if the resume does not end well). */
	old->taken = 1;
	sv_route_kick(sv, old, 4003, "session resumed elsewhere");
	x->replaced = old->id;
	return s;
}

/* The rooms to resume: the session's, then the client's (whose seq and
 * epoch win), as {room: {seq, epoch}}. NULL when out of memory. */
static json_t *
wanted(const struct sv_sess *s, const struct proto_msg *m)
{
	json_t *want = json_object(), *mine, *v;
	const char *name;
	uint32_t i;

	if (want == NULL)
		return NULL;
	for (i = 0; i < s->nrooms; i++)
		json_object_set_new(want, s->rooms[i].name,
				    json_pack("{s:I, s:s}", "seq",
					      (json_int_t)s->rooms[i].seq,
					      "epoch", s->rooms[i].epoch));
	mine = json_loadb(m->data.p, m->data.len, 0, NULL);
	if (json_is_object(mine))
		json_object_foreach (mine, name, v) {
			if (json_is_integer(v))
				json_object_set_new(want, name,
						    json_pack("{s:O, s:s}",
							      "seq", v, "epoch",
							      ""));
			else if (json_is_object(v))
				json_object_set(want, name, v);
		}
	json_decref(mine);
	return want;
}

/*
 * Rejoin one room for c; adds {seq, epoch, recovered} to out, or, when the
 * room cannot be joined, returns the error code the client is told (the
 * room's name and rules are the client's to fix, or a limit was hit).
 */
static const char *
rejoin(struct sv *sv, struct sv_conn *c, const char *name, json_t *w,
       json_t *out, struct sv_replay_buf *buf, uint32_t *budget)
{
	uint64_t until = UINT64_MAX;
	char epoch[SV_EPOCH_LEN + 1] = "";
	json_t *js = json_object_get(w, "seq");
	const char *want = json_string_value(json_object_get(w, "epoch"));
	size_t len = strlen(name), ulen;
	const char *owner;
	uint64_t seq = 0;
	int recovered = 0, rc;

	if (!room_valid(name, len))
		return "bad_room";
	if (room_is_broadcast(name, len))
		return "forbidden";
	if ((owner = room_personal_user(name, len, &ulen)) != NULL) {
		if (ulen != strlen(c->user->name) ||
		    memcmp(owner, c->user->name, ulen) != 0)
			return "forbidden"; /* another user's personal room */
		/* A user from a token has had its personal room live since
		 * its welcome. */
		if (!c->anonymous)
			until = c->admit_personal_seq;
	} else {
		const char *code;

		rc = sv_route_join(sv, c, name, len, &code);
		if (rc != WSD_OK && rc != WSD_EEXIST)
			return code;
	}
	rc = sv_route_replay(sv, name, len, json_is_integer(js),
			     (uint64_t)json_integer_value(js),
			     want && want[0] ? want : NULL, until, budget, buf,
			     &seq, epoch, &recovered);
	if (rc != WSD_OK)
		return rc == WSD_EFULL ? "room_limit" : "internal";
	json_object_set_new(out, name,
			    json_pack("{s:I, s:s, s:b}", "seq", (json_int_t)seq,
				      "epoch", epoch, "recovered", recovered));
	return NULL;
}

/* After `resumed`: an `error` for each room it could not rejoin. */
static void
tell_refused(struct sv *sv, struct sv_conn *c, json_t *refused)
{
	const char *name;
	json_t *code;

	json_object_foreach (refused, name, code)
		sv_route_error(sv, c, json_string_value(code),
			       "the room could not be rejoined",
			       proto_cstr(name), 0);
}

/* c becomes the session s; WSD_OK or WSD_ENOMEM. */
static int
adopt(struct sv *sv, struct sv_conn *c, const struct sv_sess *s)
{
	uint64_t nonce;
	int rc;

	if (sv_token_new_nonce(&nonce) != WSD_OK)
		return WSD_ENOMEM;
	/* The engine hears the personal room of the user c becomes. */
	sv_route_personal(sv, c, -1);
	rc = sv_reg_conn_set_user(&sv->reg, c, s->user, strlen(s->user));
	sv_route_personal(sv, c, 1);
	if (rc != WSD_OK)
		return WSD_ENOMEM;
	memcpy(c->sid, s->id, sizeof(c->sid));
	c->prev_nonce = s->nonce;
	c->resume_unconfirmed = 1;
	c->nonce = nonce;
	c->session_ms = s->created_ms;
	return WSD_OK;
}

/* The rooms of want a resume of user's session may rejoin (rejoin
 * refuses the others). */
static int
resumable(const char *user, const char *name)
{
	size_t len = strlen(name), ulen;
	const char *owner;

	if (!room_valid(name, len) || room_is_broadcast(name, len))
		return 0;
	owner = room_personal_user(name, len, &ulen);
	return owner == NULL ||
	       (ulen == strlen(user) && memcmp(owner, user, ulen) == 0);
}

/* The rooms are ready (or not): c rejoins them, replays, and is told. */
static void
rooms_ready(void *arg, int rc)
{
	struct resume *x = arg;
	struct sv *sv = x->sv;
	struct sv_conn *c = sv_reg_conn_find(&sv->reg, x->conn), *replaced;
	char token[SV_TOKEN_MAX], sid[SV_SESSION_ID_LEN + 1], *text = NULL;
	struct sv_replay_buf buf = {NULL, 0, 0};
	json_t *out = NULL, *refused = NULL, *w;
	struct proto_msg r;
	const char *name;
	uint32_t budget;

	if (c == NULL || rc != WSD_OK) {
		if (c != NULL)
			resume_failed(sv, c, "the engine is unavailable");
		/* Not resumed: the session goes back to the engine, also one
		 * taken over (its old connection, told to go, keeps none). */
		sv->eng.ops->session_put(&sv->eng, x->s);
		x->s = NULL;
		resume_end(x);
		return;
	}
	if (adopt(sv, c, x->s) != WSD_OK || (out = json_object()) == NULL ||
	    (refused = json_object()) == NULL) {
		resume_failed(sv, c, "out of memory");
		goto done;
	}
	budget = sv_route_replay_budget(sv);
	json_object_foreach (x->want, name, w) {
		const char *code = rejoin(sv, c, name, w, out, &buf, &budget);

		if (code != NULL)
			json_object_set_new(refused, name, json_string(code));
	}
	if (mint(sv, c, token) != WSD_OK ||
	    (text = json_dumps(out, JSON_COMPACT)) == NULL) {
		resume_failed(sv, c, "cannot mint a token");
		goto done;
	}
	sv_token_sid_hex(c->sid, sid);
	memset(&r, 0, sizeof(r));
	r.type = PROTO_RESUMED;
	r.conn = c->id;
	r.session = proto_cstr(sid);
	r.user = proto_cstr(c->user->name);
	r.token = proto_cstr(token);
	r.data = proto_cstr(text);
	sv_worker_send(sv, sv_worker_get(sv, c->worker), &r);
	sv_route_replay_flush(sv, c, &buf);
	tell_refused(sv, c, refused);
	sv->stats.resumes++;
	/* Not the session id: it is a part of the token. */
	log_info("resumed", "conn=%llu user=%s rooms=%u%s",
		 (unsigned long long)c->id, log_q(c->user->name),
		 (unsigned)json_object_size(out), trace_log_kv(c->trace));
done:
	if (x->replaced != 0 &&
	    (replaced = sv_reg_conn_find(&sv->reg, x->replaced)) != NULL) {
		sv_route_gone(sv, replaced);
		sv_reg_conn_remove(&sv->reg, replaced);
		sv->stats.conns_closed++;
		sv_count_closed(&sv->stats, SV_CLOSE_REPLACED, 1);
	}
	sv_route_replay_flush(sv, NULL, &buf);
	free(text);
	json_decref(out);
	json_decref(refused);
	resume_end(x);
}

/* x has its session: its rooms are made ready for reading. */
static void
got_session(struct resume *x)
{
	struct proto_msg m;
	const char **rooms;
	const char *name;
	json_t *w;
	uint32_t n = 0;

	memset(&m, 0, sizeof(m));
	m.data.p = x->data;
	m.data.len = (uint32_t)x->dlen;
	if ((x->want = wanted(x->s, &m)) == NULL ||
	    (rooms = calloc(json_object_size(x->want) + 1, sizeof(*rooms))) ==
		NULL) {
		rooms_ready(x, WSD_ENOMEM);
		return;
	}
	json_object_foreach (x->want, name, w) {
		if (resumable(x->s->user, name))
			rooms[n++] = name;
	}
	x->sv->eng.ops->prepare(&x->sv->eng, rooms, n, rooms_ready, x);
	free(rooms);
}

static void
taken(void *arg, int rc, struct sv_sess *s)
{
	struct resume *x = arg;
	struct sv *sv = x->sv;
	struct sv_conn *c = sv_reg_conn_find(&sv->reg, x->conn);

	x->s = s;
	if (c == NULL) {
		if (s != NULL)
			sv->eng.ops->session_put(&sv->eng, s);
		x->s = NULL;
		resume_end(x);
		return;
	}
	if (rc != WSD_OK) {
		resume_failed(sv, c,
			      rc == WSD_EINVAL	 ? "spent token"
			      : rc == WSD_EAGAIN ? "the engine is unavailable"
						 : "no such session (expired, "
						   "revoked or never)");
		resume_end(x);
		return;
	}
	/* Not this connection's to take: it goes back, untouched. */
	if (strcmp(s->user, x->t.user) != 0 || s->anonymous != c->anonymous) {
		resume_failed(sv, c, "another user's session");
		sv->eng.ops->session_put(&sv->eng, s);
		x->s = NULL;
		resume_end(x);
		return;
	}
	got_session(x);
}

void
sv_session_resume(struct sv *sv, struct sv_conn *c, const struct proto_msg *m,
		  sv_session_done_fn done, void *arg)
{
	struct resume *x = calloc(1, sizeof(*x));
	const char *why;

	if (x == NULL ||
	    (x->data = malloc(m->data.len ? m->data.len : 1)) == NULL) {
		free(x);
		resume_failed(sv, c, "out of memory");
		done(arg, c->id);
		return;
	}
	memcpy(x->data, m->data.p, m->data.len);
	x->dlen = m->data.len;
	x->sv = sv;
	x->conn = c->id;
	x->done = done;
	x->arg = arg;
	if (sv_token_verify(&sv->cfg->keys, m->token.p, m->token.len, wall_ms(),
			    &x->t, &why) != WSD_OK)
		goto refused;
	why = "not the first request";
	if (c->nrooms > 0)
		goto refused;
	/* A user from a token resumes only its own sessions; an anonymous
	 * connection only anonymous ones. */
	why = "another user's session";
	if (!c->anonymous && (x->t.ulen != strlen(c->user->name) ||
			      memcmp(x->t.user, c->user->name, x->t.ulen) != 0))
		goto refused;
	/* An anonymous connection becomes the session's user: within that
	 * user's connection limit. */
	if (c->anonymous) {
		struct sv_user *u =
		    sv_reg_user_find(&sv->reg, x->t.user, x->t.ulen);
		struct sv_conn *old = sv_reg_conn_find(&sv->reg, x->t.conn);
		/* A takeover replaces one of the user's connections. */
		uint32_t others =
		    u == NULL ? 0 : u->nconns - (old != NULL && old->user == u);

		why = "the user has too many connections";
		if (u != NULL && u != c->user &&
		    sv->cfg->max_connections_per_user > 0 &&
		    others >= sv->cfg->max_connections_per_user)
			goto refused;
	}
	if ((x->s = take_over(sv, c, x, &why)) != NULL) {
		got_session(x);
		return;
	}
	if (why != NULL)
		goto refused;
	sv->eng.ops->session_take(&sv->eng, x->t.sid, x->t.nonce, x->t.user,
				  taken, x);
	return;
refused:
	resume_failed(sv, c, why);
	resume_end(x);
}
