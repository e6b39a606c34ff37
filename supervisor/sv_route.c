/*
 * sv_route.c: room routing in the supervisor. A publish gets the room's
 * next sequence number, its client-facing JSON text is built once and
 * appended to the room's replay log, and one DELIVER goes to each worker
 * that has members in the room; each worker frames it once and fans it out
 * to its own connections. A personal room `user:ID` has no member list:
 * its members are the user's connections (the user index), and each gets
 * its own DELIVER. Subscribes join the registry and, with `since`,
 * replay what the log still holds, in order, before any live delivery
 * (the worker's channel is ordered, and the supervisor is one thread).
 */
#include "sv_route.h"

#include "sv.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/log.h"

/* Append the JSON encoding of the string s[0..len) to out (jansson),
 * growing it. Returns WSD_OK or WSD_ENOMEM. */
static int
json_str_append(json_t *tmp, const char *s, size_t len, char **out,
		size_t *olen, size_t *ocap)
{
	size_t need;
	char *p;

	if (json_string_setn_nocheck(tmp, s, len) != 0)
		return WSD_ENOMEM;
	need = json_dumpb(tmp, NULL, 0, JSON_ENCODE_ANY);
	if (need == 0)
		return WSD_ENOMEM;
	if (*olen + need + 1 > *ocap) {
		size_t cap = (*olen + need + 1) * 2;

		if ((p = realloc(*out, cap)) == NULL)
			return WSD_ENOMEM;
		*out = p;
		*ocap = cap;
	}
	json_dumpb(tmp, *out + *olen, need, JSON_ENCODE_ANY);
	*olen += need;
	return WSD_OK;
}

/* Append s[0..len) to out, growing it. Returns WSD_OK or WSD_ENOMEM. */
static int
raw_append(const char *s, size_t len, char **out, size_t *olen, size_t *ocap)
{
	char *p;

	if (*olen + len + 1 > *ocap) {
		size_t cap = (*olen + len + 1) * 2;

		if ((p = realloc(*out, cap)) == NULL)
			return WSD_ENOMEM;
		*out = p;
		*ocap = cap;
	}
	memcpy(*out + *olen, s, len);
	*olen += len;
	return WSD_OK;
}

/*
 * Build {"type":"message","room":R,"seq":N,"from":F,"data":D,"id":I}.
 * room may be NULL (a direct delivery: no room, no seq), id may be NULL.
 * data is JSON text from a trusted source (a worker that parsed it, or
 * jansson). Returns a malloc'd buffer the caller owns, or NULL.
 */
static char *
message_json(const char *room, size_t roomlen, uint64_t seq, const char *from,
	     size_t fromlen, const char *data, size_t datalen, const char *id,
	     size_t idlen, size_t *lenp)
{
	char *out = NULL, num[32];
	size_t olen = 0, ocap = 0;
	json_t *tmp = json_string("");
	int n, bad = tmp == NULL;

	bad =
	    bad || raw_append("{\"type\":\"message\"", 17, &out, &olen, &ocap);
	if (room != NULL) {
		n = snprintf(num, sizeof(num), ",\"seq\":%llu",
			     (unsigned long long)seq);
		bad = bad || raw_append(",\"room\":", 8, &out, &olen, &ocap) ||
		      json_str_append(tmp, room, roomlen, &out, &olen, &ocap) ||
		      raw_append(num, (size_t)n, &out, &olen, &ocap);
	}
	bad = bad || raw_append(",\"from\":", 8, &out, &olen, &ocap) ||
	      json_str_append(tmp, from, fromlen, &out, &olen, &ocap) ||
	      raw_append(",\"data\":", 8, &out, &olen, &ocap) ||
	      raw_append(data, datalen, &out, &olen, &ocap);
	if (id != NULL && idlen > 0)
		bad = bad || raw_append(",\"id\":", 6, &out, &olen, &ocap) ||
		      json_str_append(tmp, id, idlen, &out, &olen, &ocap);
	bad = bad || raw_append("}", 1, &out, &olen, &ocap);
	json_decref(tmp);
	if (bad) {
		free(out);
		return NULL;
	}
	*lenp = olen;
	return out;
}

uint64_t
sv_route_publish(struct sv *sv, struct sv_room *room, const char *from,
		 size_t fromlen, const char *data, size_t datalen,
		 const char *id, size_t idlen, uint64_t exclude, int *nworkers)
{
	uint64_t seq = sv_reg_room_next_seq(room);
	struct proto_msg m;
	size_t len;
	char *payload;
	int i, sent = 0, all = strcmp(room->name, ROOM_BROADCAST) == 0;

	payload = message_json(room->name, strlen(room->name), seq, from,
			       fromlen, data, datalen, id, idlen, &len);
	if (payload == NULL)
		return 0;
	memset(&m, 0, sizeof(m));
	m.type = PROTO_DELIVER;
	m.room.p = room->name;
	m.room.len = (uint32_t)strlen(room->name);
	if (len > PROTO_MAX_DATA) {
		free(payload);
		return 0;
	}
	m.seq = seq;
	m.exclude = exclude;
	m.flags = all ? PROTO_F_BROADCAST : 0;
	m.data.p = payload; /* handed to the replay log after the sends */
	m.data.len = (uint32_t)len;
	if (room_is_personal(room->name, strlen(room->name))) {
		struct sv_user *u = sv_reg_room_user(&sv->reg, room->name);
		struct sv_conn *c;

		if (u != NULL)
			TAILQ_FOREACH (c, &u->conns, by_user) {
				m.conn = c->id;
				if (c->id != exclude &&
				    sv_worker_send(sv,
						   sv_worker_get(sv, c->worker),
						   &m) == WSD_OK)
					sent++;
			}
	} else {
		for (i = 0; i < SV_MAX_WORKERS; i++) {
			struct sv_worker *w = sv_worker_get(sv, i);

			if (!sv_worker_up(w))
				continue;
			if (!all && sv_reg_room_on_worker(room, i) == 0)
				continue;
			if (sv_worker_send(sv, w, &m) == WSD_OK)
				sent++;
		}
	}
	/* The log takes the payload over (and may free it at once). */
	sv_reg_room_append(room, payload, (uint32_t)len, wall_ms());
	sv->stats.publishes++;
	sv->stats.deliveries += (uint64_t)sent;
	if (nworkers != NULL)
		*nworkers = sent;
	return m.seq;
}

int
sv_route_direct(struct sv *sv, struct sv_conn *c, const char *data,
		size_t datalen)
{
	struct proto_msg m;
	size_t len;
	char *payload;
	int rc;

	payload =
	    message_json(NULL, 0, 0, "server", 6, data, datalen, NULL, 0, &len);
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

static void
send_error(struct sv *sv, struct sv_worker *w, uint64_t conn, const char *code,
	   const char *reason, struct proto_str ref)
{
	struct proto_msg e;

	memset(&e, 0, sizeof(e));
	e.type = PROTO_ERROR;
	e.conn = conn;
	e.code = proto_cstr(code);
	e.reason = proto_cstr(reason);
	e.id = ref;
	sv_worker_send(sv, w, &e);
}

void
sv_route_sub(struct sv *sv, struct sv_conn *c, const struct proto_msg *m)
{
	struct sv_worker *w = sv_worker_get(sv, c->worker);
	struct sv_room *room;
	struct proto_msg r, d;
	uint64_t s;
	int recovered = 1;

	if (c->nrooms >= sv->cfg->w.max_rooms_per_conn &&
	    (room = sv_reg_room_get(&sv->reg, m->room.p, m->room.len, 0)) ==
		NULL) {
		send_error(sv, w, m->conn, "too_many_rooms",
			   "room limit reached", m->room);
		return;
	}
	room = sv_reg_room_get(&sv->reg, m->room.p, m->room.len, 1);
	/* A personal room's members are implicit: the user's connections. */
	if (room == NULL || (!room_is_personal(room->name, m->room.len) &&
			     sv_reg_join(&sv->reg, c, room) == WSD_ENOMEM)) {
		send_error(sv, w, m->conn, "internal", "out of memory",
			   m->room);
		return;
	}
	memset(&r, 0, sizeof(r));
	r.type = PROTO_SUB_REPLY;
	r.conn = m->conn;
	r.room = m->room;
	r.seq = room->seq;
	if (m->flags & PROTO_F_SINCE) {
		/* Recovered when every seq after since is still in the log. */
		recovered = m->since <= room->seq &&
			    (m->since == room->seq ||
			     sv_reg_room_log(room, m->since + 1) != NULL);
		/* SINCE tells the worker to say recovered, true or false. */
		r.flags = PROTO_F_SINCE | (recovered ? PROTO_F_RECOVERED : 0);
	}
	sv_worker_send(sv, w, &r);
	if (!(m->flags & PROTO_F_SINCE))
		return;
	memset(&d, 0, sizeof(d));
	d.type = PROTO_DELIVER;
	d.conn = c->id;
	d.room = m->room;
	/* Walk only what the log holds, however old since is. */
	s = m->since + 1;
	if (s < sv_reg_room_first_seq(room))
		s = sv_reg_room_first_seq(room);
	for (; s <= room->seq && m->since < room->seq; s++) {
		const struct sv_logent *e = sv_reg_room_log(room, s);

		if (e == NULL)
			continue;
		d.seq = e->seq;
		d.data.p = e->payload;
		d.data.len = e->len;
		sv_worker_send(sv, w, &d);
	}
}

void
sv_route_unsub(struct sv *sv, struct sv_conn *c, const struct proto_msg *m)
{
	struct sv_room *room;

	room = sv_reg_room_get(&sv->reg, m->room.p, m->room.len, 0);
	if (room != NULL)
		sv_reg_leave(&sv->reg, c, room);
}

void
sv_route_client_publish(struct sv *sv, struct sv_conn *c,
			const struct proto_msg *m)
{
	struct sv_worker *w = sv_worker_get(sv, c->worker);
	struct sv_room *room;
	struct proto_msg a;
	uint64_t seq;
	size_t ulen;

	ulen = strlen(c->user->name);
	seq = m->id.len == 0 ? 0
			     : sv_dedupe_find(&sv->dedupe, m->room.p,
					      m->room.len, c->user->name, ulen,
					      m->id.p, m->id.len, wall_ms());
	if (seq == 0) {
		room = sv_reg_room_get(&sv->reg, m->room.p, m->room.len, 1);
		seq = room == NULL
			  ? 0
			  : sv_route_publish(sv, room, c->user->name, ulen,
					     m->data.p, m->data.len, m->id.p,
					     m->id.len, 0, NULL);
		if (seq == 0) {
			send_error(sv, w, m->conn, "internal", "out of memory",
				   m->id);
			return;
		}
		if (m->id.len > 0)
			sv_dedupe_add(&sv->dedupe, m->room.p, m->room.len,
				      c->user->name, ulen, m->id.p, m->id.len,
				      seq, wall_ms());
	}
	if (m->id.len == 0)
		return;
	memset(&a, 0, sizeof(a));
	a.type = PROTO_ACK;
	a.conn = m->conn;
	a.id = m->id;
	a.seq = seq;
	sv_worker_send(sv, w, &a);
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
