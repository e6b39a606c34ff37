/*
 * wk_client.c: the wsd.v1 client protocol (docs/protocol.md) on the
 * worker side.
 *
 * A text message is parsed with jansson and checked field by field; a
 * request that fails a check gets an `error` and the connection stays
 * open. Requests that need global state go to the supervisor: subscribe
 * (SUB; the local membership is added when SUB_REPLY comes back, which is
 * also when `subscribed` is sent, so the first delivery can never come
 * before it), publish and send (PUBLISH). Deliveries come back as one
 * DELIVER per worker: its text is framed once here and the one buffer is
 * queued to every local member (once plain and once compressed for each
 * permessage-deflate window in use, wk_deflate.h).
 *
 * The echo endpoint's handler is here too: it sends every message back.
 *
 * For an SSE stream (c->sse), what moves its resume cursor is told to
 * wk_sse.c as it happens: the welcome's token, subscribes and their
 * answers, unsubscribes, deliveries, resumes and a drain's `shutdown`.
 */
#include "wk_client.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/log.h"
#include "../proto/room.h"
#include "../proto/trace.h"
#include "wk_conn.h"
#include "wk_deflate.h"
#include "wk_frame.h"
#include "wk_ipc.h"
#include "wk_rate.h"
#include "wk_rooms.h"
#include "wk_sse.h"

/* Send {"type":"error",...}; ref may be NULL. */
static void
wk_client_error(struct wk_conn *c, const char *code, const char *reason,
		const char *ref, size_t reflen)
{
	json_t *e = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code,
			      "reason", reason);

	if (e != NULL && ref != NULL && reflen > 0)
		json_object_set_new(e, "ref", json_stringn(ref, reflen));
	wk_conn_send_json(c, e);
}

/*
 * May c use room (subscribe or publish)? The broadcast room and other
 * users' personal rooms never; a token with a "rooms" claim limits the
 * rest to its patterns (fnmatch).
 */
static int
room_allowed(struct wk_conn *c, const char *room, size_t rlen)
{
	const char *user;
	size_t i, ulen;
	json_t *p;

	if (room_is_broadcast(room, rlen))
		return 0;
	if ((user = room_personal_user(room, rlen, &ulen)) != NULL)
		return ulen == strlen(c->user) &&
		       memcmp(user, c->user, ulen) == 0;
	if (c->allowed_rooms == NULL)
		return 1;
	json_array_foreach (c->allowed_rooms, i, p) {
		if (json_is_string(p) &&
		    fnmatch(json_string_value(p), room, 0) == 0)
			return 1;
	}
	return 0;
}

/*
 * The optional "id" of a publish or send: the name rule of proto/room.h.
 * Returns WSD_OK (*id NULL when absent), or WSD_EINVAL after telling the
 * client.
 */
static int
get_id(struct wk_conn *c, json_t *req, const char **id, size_t *idlen)
{
	json_t *j = json_object_get(req, "id");

	*id = NULL;
	*idlen = 0;
	if (j == NULL)
		return WSD_OK;
	if (!json_is_string(j) ||
	    !room_name_valid(json_string_value(j), json_string_length(j))) {
		wk_client_error(c, "bad_request",
				"id must be a string of 1 to 128 bytes", NULL,
				0);
		return WSD_EINVAL;
	}
	*id = json_string_value(j);
	*idlen = json_string_length(j);
	return WSD_OK;
}

/*
 * The optional "trace" of a publish or send: a W3C traceparent
 * (proto/trace.h), passed through to the deliveries. Returns WSD_OK (out
 * "" when absent), or WSD_EINVAL after telling the client.
 */
static int
get_trace(struct wk_conn *c, json_t *req, char out[TRACE_LEN + 1],
	  const char *id, size_t idlen)
{
	json_t *j = json_object_get(req, "trace");

	out[0] = '\0';
	if (j == NULL)
		return WSD_OK;
	if (!json_is_string(j) ||
	    !trace_parse(json_string_value(j), json_string_length(j), out)) {
		wk_client_error(c, "bad_request",
				"trace must be a W3C traceparent", id, idlen);
		return WSD_EINVAL;
	}
	return WSD_OK;
}

static void
on_subscribe(struct wk_conn *c, json_t *req)
{
	json_t *jr = json_object_get(req, "room");
	json_t *js = json_object_get(req, "since");
	json_t *je = json_object_get(req, "epoch");
	const char *room = json_string_value(jr);
	size_t rlen = json_string_length(jr);
	struct proto_msg m;

	if (room == NULL ||
	    (js != NULL &&
	     (!json_is_integer(js) || json_integer_value(js) < 0)) ||
	    (je != NULL &&
	     (!json_is_string(je) || json_string_length(je) > WK_EPOCH_MAX))) {
		wk_client_error(c, "bad_request",
				"subscribe needs room (string), optional "
				"since (integer >= 0) and epoch (string)",
				NULL, 0);
		return;
	}
	if (!room_valid(room, rlen)) {
		wk_client_error(c, "bad_room", "invalid room name", NULL, 0);
		return;
	}
	if (!room_allowed(c, room, rlen)) {
		wk_client_error(c, "forbidden", "room not allowed", room, rlen);
		return;
	}
	if (!wk_room_is_member(c, room, rlen) &&
	    c->nrooms + c->pending_subs >= wk.cfg.max_rooms_per_conn) {
		wk_client_error(c, "too_many_rooms", "room limit reached", room,
				rlen);
		return;
	}
	memset(&m, 0, sizeof(m));
	m.type = PROTO_SUB;
	m.conn = c->id;
	m.room.p = room;
	m.room.len = (uint32_t)rlen;
	if (js != NULL) {
		m.since = (uint64_t)json_integer_value(js);
		m.flags = PROTO_F_SINCE;
	}
	if (je != NULL) {
		m.epoch.p = json_string_value(je);
		m.epoch.len = (uint32_t)json_string_length(je);
	}
	if (wk_ipc_send(&m) != 0) {
		wk_client_error(c, "unavailable", "try again", room, rlen);
		return;
	}
	c->pending_subs++;
	if (c->sse != NULL)
		wk_sse_want(c->sse, room, rlen, js != NULL, m.since);
}

static void
on_unsubscribe(struct wk_conn *c, json_t *req)
{
	json_t *jr = json_object_get(req, "room");
	const char *room = json_string_value(jr);
	size_t rlen = json_string_length(jr);
	struct proto_msg m;

	if (room == NULL) {
		wk_client_error(c, "bad_request", "unsubscribe needs room",
				NULL, 0);
		return;
	}
	if (room_is_personal(room, rlen) || wk_room_leave(c, room, rlen) != 0) {
		wk_client_error(c, "not_subscribed", "not in that room", room,
				rlen);
		return;
	}
	if (c->sse != NULL)
		wk_sse_left(c->sse, room, rlen);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_UNSUB;
	m.conn = c->id;
	m.room.p = room;
	m.room.len = (uint32_t)rlen;
	wk_ipc_send(&m);
}

static void
publish(struct wk_conn *c, const char *room, size_t rlen, json_t *data,
	const char *id, size_t idlen, const char *key, size_t klen,
	const char *trace)
{
	struct proto_msg m;
	char *text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);

	if (text == NULL) {
		wk_client_error(c, "internal", "out of memory", id, idlen);
		return;
	}
	/* jansson may write numbers longer than the client did. */
	if (strlen(text) > wk.cfg.max_message_bytes) {
		wk_client_error(c, "too_large", "data too large", id, idlen);
		free(text);
		return;
	}
	memset(&m, 0, sizeof(m));
	m.type = PROTO_PUBLISH;
	m.conn = c->id;
	m.room.p = room;
	m.room.len = (uint32_t)rlen;
	m.data = proto_cstr(text);
	m.id.p = id;
	m.id.len = (uint32_t)idlen;
	m.key.p = key;
	m.key.len = (uint32_t)klen;
	m.trace = proto_cstr(trace);
	if (wk_ipc_send(&m) != 0)
		wk_client_error(c, "unavailable", "try again", id, idlen);
	free(text);
	/* A supervisor that falls behind holds the publishers back. */
	wk_conn_ipc_check(c);
}

static void
on_publish(struct wk_conn *c, json_t *req)
{
	json_t *jr = json_object_get(req, "room");
	json_t *data = json_object_get(req, "data");
	json_t *jk = json_object_get(req, "key");
	const char *room = json_string_value(jr), *id;
	const char *key = json_string_value(jk);
	size_t rlen = json_string_length(jr), idlen;
	size_t klen = json_string_length(jk);
	char trace[TRACE_LEN + 1];

	if (get_id(c, req, &id, &idlen) != WSD_OK ||
	    get_trace(c, req, trace, id, idlen) != WSD_OK)
		return;
	/* A key follows the room name rule (1 to 128 bytes, no control). */
	if (jk != NULL && (key == NULL || !room_valid(key, klen))) {
		wk_client_error(c, "bad_request",
				"key must be a string of 1 "
				"to 128 bytes",
				id, idlen);
		return;
	}
	if (room == NULL || data == NULL) {
		wk_client_error(c, "bad_request", "publish needs room and data",
				id, idlen);
		return;
	}
	if (!room_valid(room, rlen)) {
		wk_client_error(c, "bad_room", "invalid room name", id, idlen);
		return;
	}
	if (room_is_personal(room, rlen) || !room_allowed(c, room, rlen)) {
		wk_client_error(c, "forbidden", "room not allowed", id, idlen);
		return;
	}
	publish(c, room, rlen, data, id, idlen, key, key ? klen : 0, trace);
}

static void
on_send(struct wk_conn *c, json_t *req)
{
	json_t *ju = json_object_get(req, "user");
	json_t *data = json_object_get(req, "data");
	const char *user = json_string_value(ju), *id;
	size_t ulen = json_string_length(ju), idlen;
	char room[ROOM_PERSONAL_MAX + 1], trace[TRACE_LEN + 1];
	int n;

	if (get_id(c, req, &id, &idlen) != WSD_OK ||
	    get_trace(c, req, trace, id, idlen) != WSD_OK)
		return;
	if (user == NULL || data == NULL || ulen == 0 || ulen > ROOM_NAME_MAX) {
		wk_client_error(c, "bad_request", "send needs user and data",
				id, idlen);
		return;
	}
	if ((n = room_personal_name(room, sizeof(room), user, ulen)) < 0) {
		wk_client_error(c, "bad_request", "invalid user id", id, idlen);
		return;
	}
	publish(c, room, (size_t)n, data, id, idlen, NULL, 0, trace);
}

/*
 * {"type":"resume","token":T,"rooms":{ROOM:{"seq":N,"epoch":E} | N}}: only
 * as the first message. The rooms are checked here (names, seq numbers,
 * epochs) and go to the supervisor as JSON text.
 */
static void
on_resume(struct wk_conn *c, json_t *req)
{
	json_t *jt = json_object_get(req, "token");
	json_t *jr = json_object_get(req, "rooms"), *v, *out;
	const char *name;
	struct proto_msg m;
	char *text;

	if (c->msgs_in != 1 || c->resuming || c->nrooms > 0 ||
	    c->pending_subs > 0) {
		wk_client_error(c, "resume_failed",
				"resume must be the first message", NULL, 0);
		return;
	}
	if (!json_is_string(jt) || json_string_length(jt) == 0 ||
	    json_string_length(jt) > WK_TOKEN_MAX ||
	    (jr != NULL && !json_is_object(jr)) ||
	    json_object_size(jr) > wk.cfg.max_rooms_per_conn + 1) {
		wk_client_error(c, "resume_failed",
				"resume needs token (string) and optional "
				"rooms (object)",
				NULL, 0);
		return;
	}
	if ((out = json_object()) == NULL) {
		wk_client_error(c, "internal", "out of memory", NULL, 0);
		return;
	}
	json_object_foreach (jr, name, v) {
		json_t *js = json_is_object(v) ? json_object_get(v, "seq") : v;
		json_t *je =
		    json_is_object(v) ? json_object_get(v, "epoch") : NULL;

		if (!room_valid(name, strlen(name)) || !json_is_integer(js) ||
		    json_integer_value(js) < 0 ||
		    (je != NULL && (!json_is_string(je) ||
				    json_string_length(je) > WK_EPOCH_MAX))) {
			wk_client_error(c, "resume_failed",
					"each room needs seq (integer >= 0) "
					"and optional epoch (string)",
					name, strlen(name));
			json_decref(out);
			return;
		}
		json_object_set_new(out, name,
				    json_pack("{s:O, s:s}", "seq", js, "epoch",
					      je ? json_string_value(je) : ""));
	}
	text = json_dumps(out, JSON_COMPACT);
	if (c->sse != NULL)
		wk_sse_resuming(c->sse, out);
	json_decref(out);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_RESUME;
	m.conn = c->id;
	m.token.p = json_string_value(jt);
	m.token.len = (uint32_t)json_string_length(jt);
	m.data = proto_cstr(text ? text : "{}");
	if (text == NULL || wk_ipc_send(&m) != 0)
		wk_client_error(c, "unavailable", "try again", NULL, 0);
	else
		c->resuming = 1;
	free(text);
}

static void
on_presence(struct wk_conn *c, json_t *req)
{
	json_t *jr = json_object_get(req, "room");
	const char *room = json_string_value(jr);
	size_t rlen = json_string_length(jr);
	struct proto_msg m;

	if (room == NULL || !room_valid(room, rlen)) {
		wk_client_error(c, "bad_request", "presence needs a valid room",
				NULL, 0);
		return;
	}
	if (room_is_personal(room, rlen) || !room_allowed(c, room, rlen)) {
		wk_client_error(c, "forbidden", "room not allowed", room, rlen);
		return;
	}
	memset(&m, 0, sizeof(m));
	m.type = PROTO_PRESENCE;
	m.conn = c->id;
	m.room.p = room;
	m.room.len = (uint32_t)rlen;
	if (wk_ipc_send(&m) != 0)
		wk_client_error(c, "unavailable", "try again", room, rlen);
}

void
wk_client_on_text(struct wk_conn *c, const uint8_t *msg, size_t len)
{
	json_error_t err;
	json_t *req = json_loadb((const char *)msg, len, 0, &err);
	const char *type;

	if (!json_is_object(req)) {
		wk_client_error(c, "bad_json", "expected one JSON object", NULL,
				0);
		json_decref(req);
		return;
	}
	type = json_string_value(json_object_get(req, "type"));
	if (type == NULL)
		wk_client_error(c, "bad_request", "type is required", NULL, 0);
	else if (strcmp(type, "ping") == 0)
		wk_conn_send_text(c, "{\"type\":\"pong\"}", 15);
	else if (strcmp(type, "subscribe") == 0)
		on_subscribe(c, req);
	else if (strcmp(type, "unsubscribe") == 0)
		on_unsubscribe(c, req);
	else if (strcmp(type, "publish") == 0)
		on_publish(c, req);
	else if (strcmp(type, "send") == 0)
		on_send(c, req);
	else if (strcmp(type, "resume") == 0)
		on_resume(c, req);
	else if (strcmp(type, "presence") == 0)
		on_presence(c, req);
	else
		wk_client_error(c, "unknown_type", "unknown message type", NULL,
				0);
	json_decref(req);
}

void
wk_client_on_sub_reply(struct wk_conn *c, const struct proto_msg *m)
{
	json_t *r;

	if (c->state != WK_OPEN)
		return;
	if (c->pending_subs > 0)
		c->pending_subs--;
	/* The personal room needs no local membership: its deliveries
	 * name the connection. */
	if (!room_is_personal(m->room.p, m->room.len) &&
	    wk_room_join(c, m->room.p, m->room.len) != 0) {
		wk_client_error(c, "internal", "out of memory", m->room.p,
				m->room.len);
		return;
	}
	if (c->sse != NULL)
		wk_sse_joined(c->sse, m->room.p, m->room.len, m->seq,
			      m->epoch.p ? m->epoch.p : "", m->epoch.len);
	r = json_pack("{s:s, s:s#, s:I, s:s#}", "type", "subscribed", "room",
		      m->room.p, (int)m->room.len, "seq", (json_int_t)m->seq,
		      "epoch", m->epoch.p ? m->epoch.p : "", (int)m->epoch.len);
	if (r != NULL && (m->flags & (PROTO_F_SINCE | PROTO_F_RECOVERED)))
		json_object_set_new(r, "recovered",
				    json_boolean(m->flags & PROTO_F_RECOVERED));
	wk_conn_send_json(c, r);
}

/* The room and key of a delivery as one 64-bit hash (FNV-1a), never 0. */
static uint64_t
key_hash(const struct proto_msg *m)
{
	uint64_t h = 0xcbf29ce484222325ull;
	uint32_t i;

	for (i = 0; i < m->room.len; i++)
		h = (h ^ (uint8_t)m->room.p[i]) * 0x100000001b3ull;
	h = (h ^ 0xff) * 0x100000001b3ull;
	for (i = 0; i < m->key.len; i++)
		h = (h ^ (uint8_t)m->key.p[i]) * 0x100000001b3ull;
	return h ? h : 1;
}

/* The delivery's frame for c, or NULL (out of memory: logged once). */
static struct wk_buf *
frame_for(struct wk_frameset *f, const struct wk_conn *c, const char *to,
	  int *logged)
{
	struct wk_buf *b = wk_frameset_get(f, c);

	if (b == NULL && !*logged) {
		log_error("deliver_failed", "to=%s error=%s", to,
			  log_q("out of memory"));
		*logged = 1;
	}
	return b;
}

/*
 * A delivery to one SSE stream moves its cursor: a replay or a personal
 * room's message by its seq, a drain's `shutdown` by its token (which
 * spends the one before).
 */
static void
sse_direct(struct wk_conn *c, const struct proto_msg *m)
{
	static const char shut[] = "{\"type\":\"shutdown\"";
	json_t *j, *t;

	if (m->room.len > 0) {
		wk_sse_advance(c->sse, m->room.p, m->room.len, m->seq,
			       room_is_personal(m->room.p, m->room.len));
		return;
	}
	if (m->data.len < sizeof(shut) - 1 ||
	    memcmp(m->data.p, shut, sizeof(shut) - 1) != 0)
		return;
	j = json_loadb(m->data.p, m->data.len, 0, NULL);
	t = json_object_get(j, "resume_token");
	if (json_is_string(t))
		wk_sse_token(c->sse, json_string_value(t),
			     json_string_length(t), 0);
	json_decref(j);
}

void
wk_client_on_deliver(struct wk_conn *c, const struct proto_msg *m)
{
	struct wk_frameset f;
	struct wk_buf *b;
	struct wk_room *room;
	struct wk_member *mem, *next;
	int logged = 0;

	/* A delivery to one connection that is gone costs nothing. */
	if (m->conn != 0 && (c == NULL || c->state != WK_OPEN))
		return;
	/* Framed (and compressed) on first need, once per kind. */
	wk_frameset_init(&f, WSLAY_TEXT_FRAME, m->data.p, m->data.len,
			 m->stamp);
	if (m->conn != 0) {
		/* A replay of a room the connection is not in (a resumed
		 * room the token does not allow) is not sent. */
		if (m->room.len == 0 ||
		    room_is_personal(m->room.p, m->room.len) ||
		    wk_room_is_member(c, m->room.p, m->room.len)) {
			if (c->sse != NULL)
				sse_direct(c, m);
			if ((b = frame_for(&f, c, "conn", &logged)) != NULL)
				wk_conn_send(c, b, 0);
		}
	} else if (m->flags & PROTO_F_BROADCAST) {
		struct wk_conn *tmp;

		HASH_ITER (hh, wk.conns, c, tmp) {
			if (c->state == WK_OPEN && !c->echo &&
			    c->id != m->exclude &&
			    (b = frame_for(&f, c, "room", &logged)) != NULL)
				wk_conn_send(c, b, 0);
		}
	} else if ((room = wk_room_find(m->room.p, m->room.len)) != NULL) {
		uint64_t key = m->key.len ? key_hash(m) : 0;

		/* A send may close a slow member; it stays in the room. */
		TAILQ_FOREACH_SAFE (mem, &room->members, in_room, next) {
			if (mem->conn->id == m->exclude)
				continue;
			if (mem->conn->sse != NULL)
				wk_sse_advance(mem->conn->sse, m->room.p,
					       m->room.len, m->seq, 0);
			if ((b = frame_for(&f, mem->conn, "room", &logged)) !=
			    NULL)
				wk_conn_send_room(mem->conn, b, room->policy,
						  key);
		}
	}
	wk_frameset_fini(&f);
}

void
wk_client_on_ack(struct wk_conn *c, const struct proto_msg *m)
{
	if (c->state != WK_OPEN)
		return;
	wk_conn_send_json(c, json_pack("{s:s, s:s#, s:I}", "type", "ack", "id",
				       m->id.p, (int)m->id.len, "seq",
				       (json_int_t)m->seq));
}

/*
 * RESUMED: the connection is the old session's now. Each room it rejoined
 * becomes a local membership, unless the connection's token does not
 * allow it (the supervisor is told to leave it again, and the client gets
 * `forbidden`); then `resumed` goes out, before the replays that follow.
 */
void
wk_client_on_resumed(struct wk_conn *c, const struct proto_msg *m)
{
	json_t *rooms = json_loadb(m->data.p, m->data.len, 0, NULL), *v, *r;
	json_t *refused = json_array();
	struct proto_msg ack;
	const char *name;
	void *tmp;
	char *user;
	size_t i;

	c->resuming = 0;
	if (c->state != WK_OPEN || !json_is_object(rooms) ||
	    (user = strndup(m->user.p, m->user.len)) == NULL) {
		json_decref(rooms);
		json_decref(refused);
		if (c->state == WK_OPEN)
			wk_conn_close(c, 1011, "internal error");
		return;
	}
	free(c->user);
	c->user = user;
	json_object_foreach_safe(rooms, tmp, name, v)
	{
		size_t len = strlen(name);
		struct proto_msg u;

		if (room_is_personal(name, len))
			continue;
		if (room_allowed(c, name, len) &&
		    (wk_room_is_member(c, name, len) ||
		     c->nrooms < wk.cfg.max_rooms_per_conn) &&
		    (wk_room_is_member(c, name, len) ||
		     wk_room_join(c, name, len) == 0))
			continue;
		memset(&u, 0, sizeof(u));
		u.type = PROTO_UNSUB;
		u.conn = c->id;
		u.room = proto_cstr(name);
		wk_ipc_send(&u);
		json_array_append_new(refused, json_string(name));
		json_object_del(rooms, name);
	}
	if (c->sse != NULL)
		wk_sse_resumed(c->sse, m->token.p, m->token.len, rooms);
	r = json_pack("{s:s, s:s#, s:s#, s:s#, s:O}", "type", "resumed",
		      "session", m->session.p, (int)m->session.len, "user",
		      m->user.p, (int)m->user.len, "resume_token", m->token.p,
		      (int)m->token.len, "rooms", rooms);
	wk_conn_send_json(c, r);
	/* The client may hold the fresh token now: the old one is spent. */
	memset(&ack, 0, sizeof(ack));
	ack.type = PROTO_RESUMED_ACK;
	ack.conn = c->id;
	wk_ipc_send(&ack);
	json_array_foreach (refused, i, v)
		wk_client_error(c, "forbidden", "room not allowed",
				json_string_value(v), json_string_length(v));
	json_decref(refused);
	json_decref(rooms);
}

void
wk_client_on_error(struct wk_conn *c, const struct proto_msg *m)
{
	char code[64], reason[256];

	if (c->state != WK_OPEN)
		return;
	/* A refused subscribe is no longer in flight, nor a resume. */
	if ((m->flags & PROTO_F_SUB) && c->pending_subs > 0)
		c->pending_subs--;
	if (m->code.len == 13 && memcmp(m->code.p, "resume_failed", 13) == 0) {
		c->resuming = 0;
		if (c->sse != NULL)
			wk_sse_resume_failed(c->sse);
	}
	snprintf(code, sizeof(code), "%.*s", (int)m->code.len, m->code.p);
	snprintf(reason, sizeof(reason), "%.*s", (int)m->reason.len,
		 m->reason.p);
	wk_client_error(c, code, reason, m->id.p, m->id.len);
}

/* A whole message of a wsd.v1 connection: JSON text, never binary. */
static void
client_message(struct wk_conn *c, int opcode, const uint8_t *msg, size_t len)
{
	if (wk_conn_charge(c, len) != WSD_OK)
		return;
	if (opcode == WSLAY_BINARY_FRAME) {
		wk_conn_close(c, 1003, "wsd.v1 is JSON text");
		return;
	}
	wk_client_on_text(c, msg, len);
}

/* A whole message on the echo endpoint: sent back as it came. */
static void
echo_message(struct wk_conn *c, int opcode, const uint8_t *msg, size_t len)
{
	struct wk_frameset f;
	struct wk_buf *b;

	if (wk_conn_charge(c, len) != WSD_OK)
		return;
	wk_frameset_init(&f, opcode, msg, len, 0);
	b = wk_frameset_get(&f, c);
	if (b != NULL && wk_conn_send(c, b, 0) == WSD_OK) {
		c->msgs_out--; /* echoes are not deliveries */
		wk.tot[PROTO_TOT_MSGS_OUT]--;
	}
	wk_frameset_fini(&f);
}

/* Is c paused (over its send rate, or the supervisor is behind)? */
static int
paused(const struct wk_conn *c)
{
	return c->rate != NULL && c->rate->paused != 0;
}

/*
 * Take p[0..len), an event stream's POSTed input, a client message a
 * line (LF or CRLF; blank lines skipped), as a WebSocket client's:
 * counted, charged to its send rate, handled. Only while c is open and
 * not paused, as a paused WebSocket is not read; returns the bytes taken.
 */
static size_t
take_lines(struct wk_conn *c, const char *start, size_t len)
{
	const char *p = start, *end = start + len;

	while (p < end && c->state == WK_OPEN && !paused(c)) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line = p, *e = nl ? nl : end;

		p = nl ? nl + 1 : end;
		while (e > line && (e[-1] == '\r' || e[-1] == ' '))
			e--;
		if (e == line)
			continue;
		if ((size_t)(e - line) > wk.cfg.max_message_bytes) {
			wk_conn_close(c, 1009, "message too big");
			break;
		}
		c->msgs_in++;
		wk.tot[PROTO_TOT_MSGS_IN]++;
		wk_mark_stats(c);
		if (wk_conn_charge(c, (size_t)(e - line)) != WSD_OK)
			break;
		wk_client_on_text(c, (const uint8_t *)line, (size_t)(e - line));
	}
	return (size_t)(p - start);
}

/* What waits of an event stream's input, taken now (the flow resumed). */
static void
take_held(struct wk_conn *c)
{
	size_t len;
	const char *held = wk_sse_held(c->sse, &len);

	wk_sse_take_held(c->sse, take_lines(c, held, len));
}

void
wk_client_sse_input(struct wk_conn *c, const char *data, size_t len)
{
	size_t waiting, used = 0;
	int rc;

	/* Nothing waits: taken straight from the message, and only what
	 * a pause leaves is kept, after what waits. */
	wk_sse_held(c->sse, &waiting);
	if (waiting == 0)
		used = take_lines(c, data, len);
	if (c->state != WK_OPEN)
		return;
	rc = wk_sse_hold(c->sse, data + used, len - used,
			 2 * (size_t)wk.cfg.max_message_bytes);
	if (rc == WSD_EFULL) {
		/* It went on sending while paused, past what may wait. */
		log_info("rate_close", "conn=%llu held_bytes=%zu code=4002%s",
			 (unsigned long long)c->id, waiting,
			 trace_log_kv(c->trace));
		wk.tot[PROTO_TOT_LIMIT_RATE_CLOSE]++;
		wk_conn_close(c, 4002, "rate limit exceeded");
		return;
	}
	if (rc != WSD_OK) {
		wk_conn_close(c, 1011, "out of memory");
		return;
	}
	if (waiting > 0)
		take_held(c);
}

/* {"type":"flow","state":"pause","reason":R} or {"type":"flow",
 * "state":"resume"}: the client is not read meanwhile (an event stream's
 * POSTed input waits). */
static void
client_flow(struct wk_conn *c, const char *reason)
{
	json_t *f =
	    reason ? json_pack("{s:s, s:s, s:s}", "type", "flow", "state",
			       "pause", "reason", reason)
		   : json_pack("{s:s, s:s}", "type", "flow", "state", "resume");

	wk_conn_send_json(c, f);
	if (reason == NULL && c->sse != NULL)
		take_held(c);
}

static const struct wk_handler client_handler = {.message = client_message,
						 .flow = client_flow};
static const struct wk_handler echo_handler = {.message = echo_message};

static void
send_welcome(struct wk_conn *c, const struct proto_msg *m)
{
	json_t *w;

	w = json_pack(
	    "{s:s, s:I, s:s#, s:s, s:s#, s:I, s:I}", "type", "welcome", "conn",
	    (json_int_t)c->id, "session", m->session.p, (int)m->session.len,
	    "user", c->user, "resume_token", m->token.p, (int)m->token.len,
	    "heartbeat_ms", (json_int_t)wk.cfg.heartbeat_interval_ms,
	    "max_message_bytes", (json_int_t)wk.cfg.max_message_bytes);
	if (c->sse != NULL && w != NULL) {
		/* What POST /sse/send must show for this stream. */
		json_object_set_new(w, "send_key",
				    json_string(wk_sse_key(c->sse)));
		wk_sse_token(c->sse, m->token.p, m->token.len, 1);
	}
	if (wk_conn_send_json(c, w) != WSD_OK)
		wk_conn_close(c, 1011, "internal error");
}

void
wk_client_open(struct wk_conn *c, const struct proto_msg *accept)
{
	if (c->echo) {
		wk_conn_set_handler(c, &echo_handler);
		return;
	}
	wk_conn_set_handler(c, &client_handler);
	send_welcome(c, accept);
}
