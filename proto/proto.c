/*
 * proto.c: the msgpack codec for the IPC messages declared in proto.h.
 *
 * Each message type has a schema: the list of fields that follow the
 * four-element header, in order. Encoding walks the schema and packs each
 * field; decoding walks the same schema and accepts a field only when its
 * msgpack type and size are right. CONFIG and STATS have composite fields
 * that are checked element by element: the config block against the rows
 * of settings.c, the record list here.
 * A decoded message borrows every string from the input buffer and every
 * array from the msgpack zone; nothing is copied.
 */
#include "proto.h"

#include "err.h"

#include <string.h>

enum field {
	F_END = 0,
	F_CONN,
	F_SEQ,
	F_SINCE,
	F_EXCLUDE,
	F_STATUS,
	F_FLAGS,
	F_PID,
	F_STAMP,
	F_ROOM,
	F_USER,
	F_DATA,
	F_ID,
	F_ADDR,
	F_AGENT,
	F_CODE,
	F_REASON,
	F_SESSION,
	F_TOKEN,
	F_EPOCH,
	F_KEY,
	F_TRACE,
	F_CONFIG,
	F_RECORDS,
	F_TOTALS,
};

#define MAX_FIELDS 8

struct schema {
	const char *name;
	enum field fields[MAX_FIELDS];
};

static const struct schema schemas[PROTO_TYPE_END] = {
    [PROTO_HELLO] = {"HELLO", {F_PID}},
    [PROTO_CONFIG] = {"CONFIG", {F_CONFIG}},
    [PROTO_READY] = {"READY", {F_END}},
    [PROTO_CONN_OPEN] = {"CONN_OPEN",
			 {F_CONN, F_USER, F_ADDR, F_AGENT, F_FLAGS, F_DATA,
			  F_TOKEN, F_TRACE}},
    [PROTO_CONN_ACCEPT] = {"CONN_ACCEPT",
			   {F_CONN, F_STATUS, F_SESSION, F_TOKEN}},
    [PROTO_CONN_CLOSE] = {"CONN_CLOSE", {F_CONN, F_STATUS}},
    [PROTO_SUB] = {"SUB", {F_CONN, F_ROOM, F_SINCE, F_FLAGS, F_EPOCH}},
    [PROTO_SUB_REPLY] = {"SUB_REPLY",
			 {F_CONN, F_ROOM, F_SEQ, F_FLAGS, F_EPOCH}},
    [PROTO_UNSUB] = {"UNSUB", {F_CONN, F_ROOM}},
    [PROTO_PUBLISH] = {"PUBLISH",
		       {F_CONN, F_ROOM, F_DATA, F_ID, F_KEY, F_TRACE}},
    [PROTO_DELIVER] = {"DELIVER",
		       {F_ROOM, F_SEQ, F_CONN, F_EXCLUDE, F_FLAGS, F_DATA,
			F_KEY, F_STAMP}},
    [PROTO_ACK] = {"ACK", {F_CONN, F_ID, F_SEQ}},
    [PROTO_ERROR] = {"ERROR", {F_CONN, F_CODE, F_REASON, F_ID, F_FLAGS}},
    [PROTO_KICK] = {"KICK", {F_CONN, F_STATUS, F_REASON}},
    [PROTO_STATS] = {"STATS", {F_RECORDS, F_TOTALS}},
    [PROTO_RESUME] = {"RESUME", {F_CONN, F_TOKEN, F_DATA}},
    [PROTO_RESUMED] = {"RESUMED", {F_CONN, F_SESSION, F_USER, F_TOKEN, F_DATA}},
    [PROTO_PRESENCE] = {"PRESENCE", {F_CONN, F_ROOM}},
    [PROTO_RESUMED_ACK] = {"RESUMED_ACK", {F_CONN}},
    [PROTO_DRAINING] = {"DRAINING", {F_END}},
    [PROTO_REOPEN_LOG] = {"REOPEN_LOG", {F_END}},
    [PROTO_SSE_INPUT] = {"SSE_INPUT", {F_CONN, F_TOKEN, F_DATA}},
};

#define REC_FIELDS 9

static uint64_t *
msg_num(struct proto_msg *m, enum field f)
{
	switch (f) {
	case F_CONN: return &m->conn;
	case F_SEQ: return &m->seq;
	case F_SINCE: return &m->since;
	case F_EXCLUDE: return &m->exclude;
	case F_STATUS: return &m->status;
	case F_FLAGS: return &m->flags;
	case F_PID: return &m->pid;
	case F_STAMP: return &m->stamp;
	default: return NULL;
	}
}

static struct proto_str *
msg_str(struct proto_msg *m, enum field f)
{
	switch (f) {
	case F_ROOM: return &m->room;
	case F_USER: return &m->user;
	case F_DATA: return &m->data;
	case F_ID: return &m->id;
	case F_ADDR: return &m->addr;
	case F_AGENT: return &m->agent;
	case F_CODE: return &m->code;
	case F_REASON: return &m->reason;
	case F_SESSION: return &m->session;
	case F_TOKEN: return &m->token;
	case F_EPOCH: return &m->epoch;
	case F_KEY: return &m->key;
	case F_TRACE: return &m->trace;
	default: return NULL;
	}
}

static int
pack_str(msgpack_packer *pk, struct proto_str s)
{
	if (msgpack_pack_str(pk, s.len) != 0)
		return WSD_ENOMEM;
	if (msgpack_pack_str_body(pk, s.len ? s.p : "", s.len) != 0)
		return WSD_ENOMEM;
	return WSD_OK;
}

static int
pack_records(msgpack_packer *pk, const struct proto_stats_rec *r, uint32_t n)
{
	uint32_t i;

	if (msgpack_pack_array(pk, n) != 0)
		return WSD_ENOMEM;
	for (i = 0; i < n; i++) {
		if (msgpack_pack_array(pk, REC_FIELDS) != 0 ||
		    msgpack_pack_uint64(pk, r[i].conn) != 0 ||
		    msgpack_pack_uint64(pk, r[i].last_seen_ms) != 0 ||
		    msgpack_pack_uint64(pk, r[i].queue_bytes) != 0 ||
		    msgpack_pack_uint64(pk, r[i].queue_msgs) != 0 ||
		    msgpack_pack_uint64(pk, r[i].drops) != 0 ||
		    msgpack_pack_uint64(pk, r[i].msgs_in) != 0 ||
		    msgpack_pack_uint64(pk, r[i].msgs_out) != 0 ||
		    msgpack_pack_uint64(pk, r[i].rtt_us) != 0 ||
		    msgpack_pack_uint64(pk, r[i].flags) != 0)
			return WSD_ENOMEM;
	}
	return WSD_OK;
}

static int
pack_totals(msgpack_packer *pk, const uint64_t *t, uint32_t n)
{
	uint32_t i;

	if (msgpack_pack_array(pk, n) != 0)
		return WSD_ENOMEM;
	for (i = 0; i < n; i++)
		if (msgpack_pack_uint64(pk, t[i]) != 0)
			return WSD_ENOMEM;
	return WSD_OK;
}

static int
schema_len(const struct schema *s)
{
	int n = 0;

	while (n < MAX_FIELDS && s->fields[n] != F_END)
		n++;
	return n;
}

int
proto_encode(const struct proto_msg *m, msgpack_packer *pk)
{
	struct proto_msg *mm = (struct proto_msg *)m; /* read only below */
	const struct schema *s;
	int i, n;

	if (m->type == 0 || m->type >= PROTO_TYPE_END ||
	    (m->type == PROTO_CONFIG && m->config == NULL))
		return WSD_EINVAL;
	s = &schemas[m->type];
	n = schema_len(s);
	if (msgpack_pack_array(pk, 4 + n) != 0 ||
	    msgpack_pack_uint32(pk, PROTO_VERSION) != 0 ||
	    msgpack_pack_uint32(pk, m->type) != 0 ||
	    msgpack_pack_uint32(pk, m->worker) != 0 ||
	    msgpack_pack_uint32(pk, m->gen) != 0)
		return WSD_ENOMEM;
	for (i = 0; i < n; i++) {
		enum field f = s->fields[i];
		int rc;

		if (f == F_CONFIG)
			rc = settings_pack(pk, m->config);
		else if (f == F_RECORDS)
			rc = pack_records(pk, m->recs, m->nrecs);
		else if (f == F_TOTALS)
			rc = pack_totals(pk, m->tots, m->ntots);
		else if (msg_num(mm, f) != NULL)
			rc = msgpack_pack_uint64(pk, *msg_num(mm, f)) == 0
				 ? WSD_OK
				 : WSD_ENOMEM;
		else
			rc = pack_str(pk, *msg_str(mm, f));
		if (rc != WSD_OK)
			return rc;
	}
	return WSD_OK;
}

int
proto_encode_nng(const struct proto_msg *m, nng_msg **out)
{
	static msgpack_sbuffer sb;
	msgpack_packer pk;
	nng_msg *msg;
	int rc;

	msgpack_sbuffer_clear(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	rc = proto_encode(m, &pk);
	if (rc == WSD_OK && nng_msg_alloc(&msg, sb.size) != 0)
		rc = WSD_ENOMEM;
	if (rc == WSD_OK) {
		memcpy(nng_msg_body(msg), sb.data, sb.size);
		*out = msg;
	}
	/* One large message should not pin its buffer for good. */
	if (sb.alloc > (1u << 20)) {
		msgpack_sbuffer_destroy(&sb);
		memset(&sb, 0, sizeof(sb));
	}
	return rc;
}

static int
get_uint(const msgpack_object *o, uint64_t *out)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return WSD_EPROTO;
	*out = o->via.u64;
	return WSD_OK;
}

/*
 * A string field: msgpack str, at most max bytes, and no NUL byte (names
 * become C strings on the other side, and JSON text never holds a raw NUL).
 */
static int
get_str(const msgpack_object *o, uint32_t max, struct proto_str *out)
{
	if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > max ||
	    (o->via.str.size > 0 &&
	     memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL))
		return WSD_EPROTO;
	out->p = o->via.str.ptr;
	out->len = o->via.str.size;
	return WSD_OK;
}

static uint32_t
str_limit(enum field f)
{
	return f == F_DATA ? PROTO_MAX_DATA : PROTO_MAX_NAME;
}

/* The CONFIG block: checked row by row, loaded later by the worker. */
static int
decode_config(const msgpack_object *o, struct proto_msg *m)
{
	if (settings_check(o) != WSD_OK)
		return WSD_EPROTO;
	m->config_obj = o;
	return WSD_OK;
}

static int
decode_records(const msgpack_object *o, struct proto_msg *m)
{
	uint32_t i, j;

	if (o->type != MSGPACK_OBJECT_ARRAY ||
	    o->via.array.size > PROTO_MAX_RECORDS)
		return WSD_EPROTO;
	for (i = 0; i < o->via.array.size; i++) {
		const msgpack_object *r = &o->via.array.ptr[i];

		if (r->type != MSGPACK_OBJECT_ARRAY ||
		    r->via.array.size != REC_FIELDS)
			return WSD_EPROTO;
		for (j = 0; j < REC_FIELDS; j++)
			if (r->via.array.ptr[j].type !=
			    MSGPACK_OBJECT_POSITIVE_INTEGER)
				return WSD_EPROTO;
	}
	m->rec_objs = o->via.array.ptr;
	m->nrecs = o->via.array.size;
	return WSD_OK;
}

/*
 * The worker's totals: none, or at least PROTO_TOT_END unsigned values (a
 * newer worker may send more; those are ignored).
 */
static int
decode_totals(const msgpack_object *o, struct proto_msg *m)
{
	uint32_t i;

	if (o->type != MSGPACK_OBJECT_ARRAY ||
	    (o->via.array.size != 0 && o->via.array.size < PROTO_TOT_END) ||
	    o->via.array.size > PROTO_TOT_END + 1024)
		return WSD_EPROTO;
	for (i = 0; i < o->via.array.size; i++)
		if (o->via.array.ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return WSD_EPROTO;
	m->tot_objs = o->via.array.ptr;
	m->ntots = o->via.array.size;
	return WSD_OK;
}

static enum proto_bad
decode_header(const msgpack_object *a, struct proto_msg *m)
{
	uint64_t v[4];
	int i;

	for (i = 0; i < 4; i++)
		if (get_uint(&a[i], &v[i]) != 0 || v[i] > UINT32_MAX)
			return PROTO_BAD_HEADER;
	if (v[0] != PROTO_VERSION)
		return PROTO_BAD_VERSION;
	if (v[1] == 0 || v[1] >= PROTO_TYPE_END)
		return PROTO_BAD_TYPE;
	m->type = (uint32_t)v[1];
	m->worker = (uint32_t)v[2];
	m->gen = (uint32_t)v[3];
	return PROTO_BAD_NONE;
}

/* Decode into m; returns which check failed, or PROTO_BAD_NONE. */
static enum proto_bad
decode(struct proto_msg *m, msgpack_unpacked *u, const void *buf, size_t len)
{
	const msgpack_object *a;
	const struct schema *s;
	enum proto_bad bad;
	size_t off = 0;
	int i, n, rc;

	if (msgpack_unpack_next(u, buf, len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    off != len)
		return PROTO_BAD_PARSE;
	if (u->data.type != MSGPACK_OBJECT_ARRAY || u->data.via.array.size < 4)
		return PROTO_BAD_HEADER;
	a = u->data.via.array.ptr;
	if ((bad = decode_header(a, m)) != PROTO_BAD_NONE)
		return bad;
	s = &schemas[m->type];
	n = schema_len(s);
	if (u->data.via.array.size != (uint32_t)(4 + n))
		return PROTO_BAD_COUNT;
	for (i = 0; i < n; i++) {
		const msgpack_object *o = &a[4 + i];
		enum field f = s->fields[i];
		uint64_t *num;

		if (f == F_CONFIG)
			rc = decode_config(o, m);
		else if (f == F_RECORDS)
			rc = decode_records(o, m);
		else if (f == F_TOTALS)
			rc = decode_totals(o, m);
		else if ((num = msg_num(m, f)) != NULL)
			rc = get_uint(o, num);
		else
			rc = get_str(o, str_limit(f), msg_str(m, f));
		if (rc != WSD_OK)
			return PROTO_BAD_FIELD;
	}
	return PROTO_BAD_NONE;
}

int
proto_decode(struct proto_msg *m, msgpack_unpacked *u, const void *buf,
	     size_t len)
{
	enum proto_bad bad;

	memset(m, 0, sizeof(*m));
	if ((bad = decode(m, u, buf, len)) == PROTO_BAD_NONE)
		return WSD_OK;
	memset(m, 0, sizeof(*m));
	m->bad = bad;
	return WSD_EPROTO;
}

void
proto_stats_get(const struct proto_msg *m, uint32_t i,
		struct proto_stats_rec *out)
{
	const msgpack_object *f = m->rec_objs[i].via.array.ptr;

	out->conn = f[0].via.u64;
	out->last_seen_ms = f[1].via.u64;
	out->queue_bytes = f[2].via.u64;
	out->queue_msgs = f[3].via.u64;
	out->drops = f[4].via.u64;
	out->msgs_in = f[5].via.u64;
	out->msgs_out = f[6].via.u64;
	out->rtt_us = f[7].via.u64;
	out->flags = f[8].via.u64;
}

int
proto_stats_totals(const struct proto_msg *m, uint64_t *out)
{
	uint32_t i;

	if (m->ntots < PROTO_TOT_END || m->tot_objs == NULL)
		return 0;
	for (i = 0; i < PROTO_TOT_END; i++)
		out[i] = m->tot_objs[i].via.u64;
	return 1;
}

const char *
proto_type_name(uint32_t type)
{
	if (type == 0 || type >= PROTO_TYPE_END)
		return "unknown";
	return schemas[type].name;
}

const char *
proto_bad_name(enum proto_bad bad)
{
	switch (bad) {
	case PROTO_BAD_NONE: return "ok";
	case PROTO_BAD_PARSE: return "not one msgpack object";
	case PROTO_BAD_HEADER: return "bad header";
	case PROTO_BAD_VERSION: return "protocol version mismatch";
	case PROTO_BAD_TYPE: return "unknown message type";
	case PROTO_BAD_COUNT: return "wrong field count";
	case PROTO_BAD_FIELD: return "bad field";
	default: return "unknown error";
	}
}

struct proto_str
proto_cstr(const char *s)
{
	struct proto_str r = {s, s ? (uint32_t)strlen(s) : 0};

	return r;
}
