/*
 * test_proto.c: unit tests of the IPC codec in proto/proto.h.
 *
 * Every message type of enum proto_type is encoded with every field of its
 * schema set, decoded again, and compared field by field; the fields
 * outside the schema must come back zeroed, and the wire layout (which
 * array slot holds which field) is pinned against a table kept here,
 * independent of proto.c. Malformed input must be rejected with the
 * decoder error that names the failed check: not one msgpack object
 * (empty, every truncation, trailing bytes), a bad header (not an array,
 * fewer than four elements, a header slot of the wrong type or range), the
 * wrong version, an unknown type, the wrong field count, and a field of the
 * wrong type or size (string for int and back, negative ints, over-long
 * strings, STATS records of the wrong shape; CONFIG's block is checked
 * row by row in test_settings.c). Last, every
 * byte of valid messages is flipped to several values and the decoder must
 * return one of its codes without crashing (run under the sanitizers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../proto/proto.h"

/*
 * A flipped byte can turn an array header into one that declares four
 * billion elements; msgpack_unpack_next allocates room for them before it
 * finds the bytes missing, and glibc's malloc answers NULL (the decoder
 * then reports EPARSE). ASan's allocator aborts instead unless told to
 * behave like malloc; this only takes effect in the sanitizer build.
 */
const char *__asan_default_options(void);

const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1:max_allocation_size_mb=256";
}

/* The fields of struct proto_msg, as this test names them. */
enum tf {
	TF_CONN,
	TF_SEQ,
	TF_SINCE,
	TF_EXCLUDE,
	TF_STATUS,
	TF_FLAGS,
	TF_PID,
	TF_STAMP,
	TF_ROOM,
	TF_USER,
	TF_DATA,
	TF_ID,
	TF_ADDR,
	TF_AGENT,
	TF_CODE,
	TF_REASON,
	TF_SESSION,
	TF_TOKEN,
	TF_EPOCH,
	TF_KEY,
	TF_TRACE,
	TF_CONFIG,
	TF_RECORDS,
	TF_TOTALS,
	TF_COUNT
};

#define NUM_FIELDS 8  /* TF_CONN .. TF_STAMP are integers */
#define STR_FIELDS 13 /* TF_ROOM .. TF_TRACE are strings */

/*
 * The wire layout of every message type, written out from the protocol
 * description in proto.h rather than read from proto.c, so that a change
 * of order in the codec's schema table shows up here.
 */
struct layout {
	uint32_t type;
	int n;
	enum tf f[8];
};

static const struct layout layouts[] = {
    {PROTO_HELLO, 1, {TF_PID}},
    {PROTO_CONFIG, 1, {TF_CONFIG}},
    {PROTO_READY, 0, {0}},
    {PROTO_CONN_OPEN,
     8,
     {TF_CONN, TF_USER, TF_ADDR, TF_AGENT, TF_FLAGS, TF_DATA, TF_TOKEN,
      TF_TRACE}},
    {PROTO_CONN_ACCEPT, 4, {TF_CONN, TF_STATUS, TF_SESSION, TF_TOKEN}},
    {PROTO_CONN_CLOSE, 2, {TF_CONN, TF_STATUS}},
    {PROTO_SUB, 5, {TF_CONN, TF_ROOM, TF_SINCE, TF_FLAGS, TF_EPOCH}},
    {PROTO_SUB_REPLY, 5, {TF_CONN, TF_ROOM, TF_SEQ, TF_FLAGS, TF_EPOCH}},
    {PROTO_UNSUB, 2, {TF_CONN, TF_ROOM}},
    {PROTO_PUBLISH, 6, {TF_CONN, TF_ROOM, TF_DATA, TF_ID, TF_KEY, TF_TRACE}},
    {PROTO_DELIVER,
     8,
     {TF_ROOM, TF_SEQ, TF_CONN, TF_EXCLUDE, TF_FLAGS, TF_DATA, TF_KEY,
      TF_STAMP}},
    {PROTO_ACK, 3, {TF_CONN, TF_ID, TF_SEQ}},
    {PROTO_ERROR, 5, {TF_CONN, TF_CODE, TF_REASON, TF_ID, TF_FLAGS}},
    {PROTO_KICK, 3, {TF_CONN, TF_STATUS, TF_REASON}},
    {PROTO_STATS, 2, {TF_RECORDS, TF_TOTALS}},
    {PROTO_RESUME, 3, {TF_CONN, TF_TOKEN, TF_DATA}},
    {PROTO_RESUMED, 5, {TF_CONN, TF_SESSION, TF_USER, TF_TOKEN, TF_DATA}},
    {PROTO_PRESENCE, 2, {TF_CONN, TF_ROOM}},
    {PROTO_RESUMED_ACK, 1, {TF_CONN}},
    {PROTO_DRAINING, 0, {0}},
    {PROTO_REOPEN_LOG, 0, {0}},
    {PROTO_SSE_INPUT, 3, {TF_CONN, TF_TOKEN, TF_DATA}},
};

#define NLAYOUTS (sizeof(layouts) / sizeof(layouts[0]))

static const struct proto_stats_rec recs[] = {
    {1, 1700000000000ull, 10, 1, 0, 5, 6, 1500, 1},
    {UINT64_MAX, 2, 3, 4, 5, 6, 7, 8, 9},
    {0x123456789abcdefull, 0, 0, 0, 0, 0, 0, 0, 0},
    {42, 1700000000123ull, 65536, 17, 99, 1000000, 2000000, 250, 0},
};

#define NRECS (sizeof(recs) / sizeof(recs[0]))

/* A worker's totals: each value its index times 1000, the last one
 * UINT64_MAX (filled in by the first test that needs them). */
static uint64_t tots[PROTO_TOT_END];

static void
fill_tots(void)
{
	uint32_t i;

	for (i = 0; i < PROTO_TOT_END; i++)
		tots[i] = (uint64_t)i * 1000;
	tots[PROTO_TOT_END - 1] = UINT64_MAX;
}

static char *origins[] = {
    "https://a.example",
    "https://b.example:8443",
    "http://localhost",
};

static char *jwt_keys[] = {
    "a:HS256:secret",
    "b:RS256:-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n",
};

/*
 * Settings with every member away from its default and inside its row's
 * range (the decoder checks ranges). Strings borrow static storage.
 */
static struct settings cfg_all = {
    .max_message_bytes = 1u << 20,
    .max_header_bytes = 8193,
    .max_queue_bytes = 1ull << 32,
    .max_queue_msgs = 1000,
    .slow_policy = PROTO_SLOW_DROP_OLDEST,
    .max_rooms_per_conn = 64,
    .heartbeat_interval_ms = 25001,
    .heartbeat_timeout_ms = 60000,
    .handshake_timeout_ms = 5000,
    .allow_anonymous = 0,
    .demo_page = 1,
    .ws_path = "/ws",
    .echo_path = "/echo",
    .jwt_secret = "s3cret-\x01\x02",
    .origins = {sizeof(origins) / sizeof(origins[0]), origins},
    .jwt_keys = {sizeof(jwt_keys) / sizeof(jwt_keys[0]), jwt_keys},
    .jwt_leeway_s = 60,
    .jwt_audience = "wsd",
    .jwt_issuer = "https://issuer.example",
    .jwt_info_max_bytes = 2048,
    .drain_timeout_ms = 12000,
    .log_level = 3,
    .log_file = "/var/log/wsd.log",
    .log_format = 1,
    .rate_msgs = 50,
    .rate_msgs_burst = 75,
    .rate_bytes = 1000000,
    .rate_bytes_burst = 2000000,
    .rate_grace_ms = 5000,
    .deflate = 1,
    .deflate_window_bits = 10,
    .deflate_mem_level = 7,
    .deflate_level = 3,
    .deflate_min_bytes = 1000,
    .demo_key =
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
};

static uint64_t *
num_of(struct proto_msg *m, enum tf f)
{
	switch (f) {
	case TF_CONN: return &m->conn;
	case TF_SEQ: return &m->seq;
	case TF_SINCE: return &m->since;
	case TF_EXCLUDE: return &m->exclude;
	case TF_STATUS: return &m->status;
	case TF_FLAGS: return &m->flags;
	case TF_PID: return &m->pid;
	case TF_STAMP: return &m->stamp;
	default: return NULL;
	}
}

static struct proto_str *
str_of(struct proto_msg *m, enum tf f)
{
	switch (f) {
	case TF_ROOM: return &m->room;
	case TF_USER: return &m->user;
	case TF_DATA: return &m->data;
	case TF_ID: return &m->id;
	case TF_ADDR: return &m->addr;
	case TF_AGENT: return &m->agent;
	case TF_CODE: return &m->code;
	case TF_REASON: return &m->reason;
	case TF_SESSION: return &m->session;
	case TF_TOKEN: return &m->token;
	case TF_EPOCH: return &m->epoch;
	case TF_KEY: return &m->key;
	case TF_TRACE: return &m->trace;
	default: return NULL;
	}
}

static struct proto_str
bytes(const char *p, size_t n)
{
	struct proto_str s = {p, (uint32_t)n};

	return s;
}

/*
 * A message of type with every field of struct proto_msg set to a
 * distinct value, including the ones outside the type's schema (the
 * encoder must ignore those). Strings borrow static storage.
 */
static void
fill_all(struct proto_msg *m, uint32_t type)
{
	static const char data[] = "{\"text\":\"h\xc3\xa9llo\",\"n\":1}";

	memset(m, 0, sizeof(*m));
	m->type = type;
	m->worker = UINT32_MAX;
	m->gen = 7;
	m->conn = 0x0102030405060708ull;
	m->seq = UINT64_MAX;
	m->since = 41;
	m->exclude = 0x8000000000000000ull;
	m->status = 1008;
	m->flags = PROTO_F_ANONYMOUS | PROTO_F_SINCE | PROTO_F_RECOVERED |
		   PROTO_F_BROADCAST | PROTO_F_SUB;
	m->pid = 31337;
	m->room = proto_cstr("room:lobby");
	m->user = proto_cstr("user-\xc3\xa4\xe2\x82\xac");
	m->data = bytes(data, sizeof(data) - 1);
	m->id = proto_cstr("msg-0001");
	m->addr = proto_cstr("[::1]:54321");
	m->agent = proto_cstr("Mozilla/5.0 (test)");
	m->code = proto_cstr("forbidden");
	m->reason = proto_cstr("room not allowed");
	m->session = proto_cstr("0123456789abcdef0123456789abcdef");
	m->token = proto_cstr("tok.en.value");
	m->key = proto_cstr("AAPL");
	m->epoch = proto_cstr("0badf00d");
	m->config = &cfg_all;
	m->recs = recs;
	m->nrecs = NRECS;
	m->stamp = 123456789012ull;
	m->tots = tots;
	m->ntots = PROTO_TOT_END;
}

static void
encode(const struct proto_msg *m, msgpack_sbuffer *sb)
{
	msgpack_packer pk;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	assert_int_equal(proto_encode(m, &pk), 0);
}

/*
 * Decode buf[0..len) with a fresh msgpack_unpacked; returns the check that
 * failed (PROTO_BAD_NONE when it decoded). The return code must agree:
 * WSD_OK exactly when no check failed, WSD_EPROTO otherwise.
 */
static int
decode_once(const void *buf, size_t len)
{
	struct proto_msg m;
	msgpack_unpacked u;
	int rc;

	msgpack_unpacked_init(&u);
	memset(&m, 0x5a, sizeof(m));
	rc = proto_decode(&m, &u, buf, len);
	msgpack_unpacked_destroy(&u);
	if (m.bad == PROTO_BAD_NONE)
		assert_int_equal(rc, WSD_OK);
	else
		assert_int_equal(rc, WSD_EPROTO);
	return (int)m.bad;
}

static void
assert_str_eq(struct proto_str got, struct proto_str want)
{
	assert_int_equal(got.len, want.len);
	if (want.len > 0)
		assert_memory_equal(got.p, want.p, want.len);
}

static void
assert_str_empty(struct proto_str s)
{
	assert_int_equal(s.len, 0);
	assert_null(s.p);
}

static int
has_field(const struct layout *l, enum tf f)
{
	int i;

	for (i = 0; i < l->n; i++)
		if (l->f[i] == f)
			return 1;
	return 0;
}

/* Load a decoded CONFIG block and compare it with want, member by member. */
static void
assert_config_eq(const msgpack_object *obj, const struct settings *want)
{
	struct settings loaded, *got = &loaded;
	uint32_t i;

	assert_non_null(obj);
	assert_int_equal(settings_load(got, obj), WSD_OK);
	assert_int_equal(got->max_message_bytes, want->max_message_bytes);
	assert_int_equal(got->max_header_bytes, want->max_header_bytes);
	assert_int_equal(got->max_queue_bytes, want->max_queue_bytes);
	assert_int_equal(got->max_queue_msgs, want->max_queue_msgs);
	assert_int_equal(got->max_rooms_per_conn, want->max_rooms_per_conn);
	assert_int_equal(got->slow_policy, want->slow_policy);
	assert_int_equal(got->heartbeat_interval_ms,
			 want->heartbeat_interval_ms);
	assert_int_equal(got->heartbeat_timeout_ms, want->heartbeat_timeout_ms);
	assert_int_equal(got->handshake_timeout_ms, want->handshake_timeout_ms);
	assert_int_equal(got->allow_anonymous, want->allow_anonymous);
	assert_int_equal(got->demo_page, want->demo_page);
	assert_string_equal(got->ws_path, want->ws_path);
	assert_string_equal(got->echo_path, want->echo_path);
	assert_string_equal(got->jwt_secret, want->jwt_secret);
	assert_int_equal(got->origins.n, want->origins.n);
	for (i = 0; i < want->origins.n; i++)
		assert_string_equal(got->origins.v[i], want->origins.v[i]);
	assert_int_equal(got->jwt_keys.n, want->jwt_keys.n);
	for (i = 0; i < want->jwt_keys.n; i++)
		assert_string_equal(got->jwt_keys.v[i], want->jwt_keys.v[i]);
	assert_int_equal(got->jwt_leeway_s, want->jwt_leeway_s);
	assert_string_equal(got->jwt_audience, want->jwt_audience);
	assert_string_equal(got->jwt_issuer, want->jwt_issuer);
	assert_int_equal(got->jwt_info_max_bytes, want->jwt_info_max_bytes);
	assert_int_equal(got->drain_timeout_ms, want->drain_timeout_ms);
	assert_int_equal(got->log_level, want->log_level);
	assert_string_equal(got->log_file, want->log_file);
	assert_int_equal(got->log_format, want->log_format);
	assert_string_equal(got->demo_key, want->demo_key);
	settings_free(settings_worker, settings_worker_n, got);
}

static void
assert_rec_eq(const struct proto_stats_rec *got,
	      const struct proto_stats_rec *want)
{
	assert_int_equal(got->conn, want->conn);
	assert_int_equal(got->last_seen_ms, want->last_seen_ms);
	assert_int_equal(got->queue_bytes, want->queue_bytes);
	assert_int_equal(got->queue_msgs, want->queue_msgs);
	assert_int_equal(got->drops, want->drops);
	assert_int_equal(got->msgs_in, want->msgs_in);
	assert_int_equal(got->msgs_out, want->msgs_out);
	assert_int_equal(got->rtt_us, want->rtt_us);
	assert_int_equal(got->flags, want->flags);
}

/*
 * Compare a decoded message with the one encoded: every field of the
 * layout equal, every other field zero.
 */
static void
assert_decoded(const struct layout *l, struct proto_msg *got,
	       struct proto_msg *want)
{
	uint32_t i;
	int f;

	assert_int_equal(got->type, want->type);
	assert_int_equal(got->worker, want->worker);
	assert_int_equal(got->gen, want->gen);
	for (f = TF_CONN; f < TF_CONN + NUM_FIELDS; f++) {
		if (has_field(l, f))
			assert_int_equal(*num_of(got, f), *num_of(want, f));
		else
			assert_int_equal(*num_of(got, f), 0);
	}
	for (f = TF_ROOM; f < TF_ROOM + STR_FIELDS; f++) {
		if (has_field(l, f))
			assert_str_eq(*str_of(got, f), *str_of(want, f));
		else
			assert_str_empty(*str_of(got, f));
	}
	assert_null(got->config);
	if (has_field(l, TF_CONFIG))
		assert_config_eq(got->config_obj, want->config);
	else
		assert_null(got->config_obj);
	assert_null(got->recs);
	if (has_field(l, TF_RECORDS)) {
		assert_int_equal(got->nrecs, want->nrecs);
		if (want->nrecs > 0)
			assert_non_null(got->rec_objs);
		for (i = 0; i < want->nrecs; i++) {
			struct proto_stats_rec r;

			memset(&r, 0xa5, sizeof(r));
			proto_stats_get(got, i, &r);
			assert_rec_eq(&r, &want->recs[i]);
		}
	} else {
		assert_int_equal(got->nrecs, 0);
		assert_null(got->rec_objs);
	}
	assert_null(got->tots);
	if (has_field(l, TF_TOTALS)) {
		uint64_t t[PROTO_TOT_END];

		assert_int_equal(got->ntots, want->ntots);
		assert_int_equal(proto_stats_totals(got, t), want->ntots > 0);
		if (want->ntots > 0)
			assert_memory_equal(t, want->tots, sizeof(t));
	} else {
		assert_int_equal(got->ntots, 0);
		assert_null(got->tot_objs);
	}
}

static void
assert_obj_uint(const msgpack_object *o, uint64_t v)
{
	assert_int_equal(o->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
	assert_int_equal(o->via.u64, v);
}

static void
assert_obj_str(const msgpack_object *o, struct proto_str s)
{
	assert_int_equal(o->type, MSGPACK_OBJECT_STR);
	assert_int_equal(o->via.str.size, s.len);
	if (s.len > 0)
		assert_memory_equal(o->via.str.ptr, s.p, s.len);
}

/* Check the raw msgpack layout of an encoded message against l. */
static void
assert_layout(const struct layout *l, const msgpack_sbuffer *sb,
	      struct proto_msg *want)
{
	const msgpack_object *a;
	msgpack_unpacked u;
	size_t off = 0;
	int i;

	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, sb->data, sb->size, &off),
			 MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(off, sb->size);
	assert_int_equal(u.data.type, MSGPACK_OBJECT_ARRAY);
	assert_int_equal(u.data.via.array.size, 4 + l->n);
	a = u.data.via.array.ptr;
	assert_obj_uint(&a[0], PROTO_VERSION);
	assert_obj_uint(&a[1], l->type);
	assert_obj_uint(&a[2], want->worker);
	assert_obj_uint(&a[3], want->gen);
	for (i = 0; i < l->n; i++) {
		const msgpack_object *o = &a[4 + i];

		if (l->f[i] == TF_CONFIG) {
			assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
			/* The block's slots: test_settings.c pins the
			 * order of every row. */
			assert_int_equal(o->via.array.size, 42);
			assert_obj_uint(&o->via.array.ptr[0],
					want->config->max_message_bytes);
			assert_obj_uint(&o->via.array.ptr[10],
					(uint64_t)want->config->demo_page);
			assert_obj_uint(&o->via.array.ptr[11],
					(uint64_t)want->config->sse);
			assert_obj_str(&o->via.array.ptr[12],
				       proto_cstr(want->config->ws_path));
			assert_obj_str(&o->via.array.ptr[14],
				       proto_cstr(want->config->jwt_secret));
			assert_int_equal(o->via.array.ptr[15].type,
					 MSGPACK_OBJECT_ARRAY);
			assert_int_equal(o->via.array.ptr[15].via.array.size,
					 want->config->origins.n);
			assert_int_equal(o->via.array.ptr[16].via.array.size,
					 want->config->jwt_keys.n);
			assert_obj_str(&o->via.array.ptr[18],
				       proto_cstr(want->config->jwt_audience));
			assert_obj_str(&o->via.array.ptr[41],
				       proto_cstr(want->config->demo_key));
		} else if (l->f[i] == TF_RECORDS) {
			assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
			assert_int_equal(o->via.array.size, want->nrecs);
		} else if (l->f[i] == TF_TOTALS) {
			assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
			assert_int_equal(o->via.array.size, want->ntots);
		} else if (num_of(want, l->f[i]) != NULL) {
			assert_obj_uint(o, *num_of(want, l->f[i]));
		} else {
			assert_obj_str(o, *str_of(want, l->f[i]));
		}
	}
	msgpack_unpacked_destroy(&u);
}

static void
roundtrip(const struct layout *l, struct proto_msg *in)
{
	msgpack_sbuffer sb;
	msgpack_unpacked u;
	struct proto_msg out;

	encode(in, &sb);
	assert_layout(l, &sb, in);
	msgpack_unpacked_init(&u);
	memset(&out, 0x5a, sizeof(out));
	assert_int_equal(proto_decode(&out, &u, sb.data, sb.size), WSD_OK);
	assert_decoded(l, &out, in);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}

/* Every type, every schema field set, decoded equal; the rest zeroed. */
static void
test_roundtrip_every_type(void **state)
{
	struct proto_msg m;
	size_t i;

	(void)state;
	fill_tots();
	/* The table covers every type exactly once, in enum order. */
	assert_int_equal(NLAYOUTS, PROTO_TYPE_END - 1);
	for (i = 0; i < NLAYOUTS; i++) {
		assert_int_equal(layouts[i].type, i + 1);
		fill_all(&m, layouts[i].type);
		roundtrip(&layouts[i], &m);
	}
}

/*
 * Empty strings, zero numbers, no records; CONFIG with the lowest value
 * of every row (empty strings where a row allows them, no origins).
 */
static void
test_roundtrip_empty_values(void **state)
{
	static char slash[] = "/";
	struct settings low;
	struct proto_msg m;
	size_t i;

	(void)state;
	memset(&low, 0, sizeof(low));
	low.max_message_bytes = 16;
	low.max_header_bytes = 512;
	low.max_queue_bytes = 1024;
	low.max_queue_msgs = 1;
	low.max_rooms_per_conn = 1;
	low.deflate_window_bits = 9;
	low.deflate_mem_level = 1;
	low.deflate_level = 1;
	low.heartbeat_interval_ms = 100;
	low.heartbeat_timeout_ms = 100;
	low.handshake_timeout_ms = 100;
	low.ws_path = slash;
	low.echo_path = "";
	low.jwt_secret = "";
	low.jwt_audience = "";
	low.jwt_issuer = "";
	low.jwt_info_max_bytes = 2;
	low.drain_timeout_ms = 100;
	low.log_file = "";
	low.rate_msgs_burst = 1;
	low.demo_key = "";
	for (i = 0; i < NLAYOUTS; i++) {
		memset(&m, 0, sizeof(m));
		m.type = layouts[i].type;
		m.room = bytes("", 0);
		m.config = &low;
		roundtrip(&layouts[i], &m);
	}
}

/*
 * CONFIG at its limits: 32 origins up to 256 bytes, the longest strings,
 * and 32 jwt.keys of 16384 bytes each (PEM public keys): half a megabyte,
 * well inside the decoder's and nng's limits.
 */
static void
test_roundtrip_config_limits(void **state)
{
	static char names[32][257], path[257], secret[513];
	static char keys[32][16385], aud[257];
	static char *list[32], *klist[32];
	struct settings big = cfg_all;
	struct proto_msg m;
	int i;

	(void)state;
	for (i = 0; i < 32; i++) {
		memset(names[i], 'o', (size_t)i + 1);
		list[i] = names[i];
	}
	memset(names[31], 'o', 256);
	memset(path, 'p', 256);
	path[0] = '/';
	memset(secret, 's', 512);
	big.origins.n = 32;
	big.origins.v = list;
	big.ws_path = path;
	big.jwt_secret = secret;
	for (i = 0; i < 32; i++) {
		memset(keys[i], 'k', 16384);
		memcpy(keys[i], "kid:ES256:", 10);
		keys[i][0] = (char)('A' + i);
		klist[i] = keys[i];
	}
	big.jwt_keys.n = 32;
	big.jwt_keys.v = klist;
	memset(aud, 'a', 256);
	big.jwt_audience = aud;
	fill_all(&m, PROTO_CONFIG);
	m.config = &big;
	roundtrip(&layouts[PROTO_CONFIG - 1], &m);
}

/* Several STATS records, and strings of exactly PROTO_MAX_NAME bytes. */
static void
test_roundtrip_stats_and_names(void **state)
{
	static char name[PROTO_MAX_NAME];
	static char data[PROTO_MAX_NAME * 5];
	struct proto_stats_rec many[300];
	struct proto_msg m;
	size_t i;

	(void)state;
	for (i = 0; i < 300; i++) {
		many[i].conn = i + 1;
		many[i].last_seen_ms = 1700000000000ull + i;
		many[i].queue_bytes = i * 1000;
		many[i].queue_msgs = i;
		many[i].drops = i % 3;
		many[i].msgs_in = (uint64_t)1 << (i % 64);
		many[i].msgs_out = UINT64_MAX - i;
	}
	fill_all(&m, PROTO_STATS);
	m.recs = many;
	m.nrecs = 300;
	roundtrip(&layouts[PROTO_STATS - 1], &m);

	memset(name, 'r', sizeof(name));
	memset(data, 'd', sizeof(data));
	fill_all(&m, PROTO_PUBLISH);
	m.room = bytes(name, sizeof(name));
	m.id = bytes(name, sizeof(name));
	m.data = bytes(data, sizeof(data)); /* data may exceed the name limit */
	roundtrip(&layouts[PROTO_PUBLISH - 1], &m);
}

/* The encoder refuses types outside the enum. */
static void
test_encode_bad_type(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct proto_msg m;

	(void)state;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	memset(&m, 0, sizeof(m));
	m.type = 0;
	assert_int_equal(proto_encode(&m, &pk), WSD_EINVAL);
	m.type = PROTO_TYPE_END;
	assert_int_equal(proto_encode(&m, &pk), WSD_EINVAL);
	msgpack_sbuffer_destroy(&sb);
}

static void
test_empty_buffer(void **state)
{
	static const char one[1] = {0};

	(void)state;
	assert_int_equal(decode_once(one, 0), PROTO_BAD_PARSE);
	assert_int_equal(decode_once(NULL, 0), PROTO_BAD_PARSE);
}

/* Every proper prefix of a valid message of every type is EPARSE. */
static void
test_truncated(void **state)
{
	struct proto_msg m;
	msgpack_sbuffer sb;
	size_t i, len;

	(void)state;
	for (i = 0; i < NLAYOUTS; i++) {
		fill_all(&m, layouts[i].type);
		encode(&m, &sb);
		for (len = 0; len < sb.size; len++) {
			/* A heap copy of exactly len bytes, so ASan sees any
			 * read past the end. */
			char *p = malloc(len ? len : 1);

			assert_non_null(p);
			memcpy(p, sb.data, len);
			assert_int_equal(decode_once(p, len), PROTO_BAD_PARSE);
			free(p);
		}
		assert_int_equal(decode_once(sb.data, sb.size), PROTO_BAD_NONE);
		msgpack_sbuffer_destroy(&sb);
	}
}

/* A valid message followed by anything is not one msgpack object. */
static void
test_trailing_garbage(void **state)
{
	static const unsigned char tails[][2] = {
	    {0x00, 0}, {0xc0, 0}, {0x91, 0x01}, {0xff, 0}, {0xc1, 0},
	};
	struct proto_msg m;
	msgpack_sbuffer sb;
	size_t i, t;
	char *twice;

	(void)state;
	for (i = 0; i < NLAYOUTS; i++) {
		fill_all(&m, layouts[i].type);
		encode(&m, &sb);
		for (t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
			msgpack_sbuffer_write(&sb, (const char *)tails[t],
					      tails[t][1] ? 2 : 1);
			assert_int_equal(decode_once(sb.data, sb.size),
					 PROTO_BAD_PARSE);
			sb.size -= tails[t][1] ? 2 : 1;
		}
		/* Two whole messages back to back are not one either. */
		twice = malloc(2 * sb.size);
		assert_non_null(twice);
		memcpy(twice, sb.data, sb.size);
		memcpy(twice + sb.size, sb.data, sb.size);
		assert_int_equal(decode_once(twice, 2 * sb.size),
				 PROTO_BAD_PARSE);
		free(twice);
		msgpack_sbuffer_destroy(&sb);
	}
}

/* Pack a raw message: an array of n elements, each packed by the caller. */
static void
raw_begin(msgpack_sbuffer *sb, msgpack_packer *pk, uint32_t n)
{
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
	assert_int_equal(msgpack_pack_array(pk, n), 0);
}

static void
raw_header(msgpack_packer *pk, uint32_t version, uint32_t type)
{
	msgpack_pack_uint32(pk, version);
	msgpack_pack_uint32(pk, type);
	msgpack_pack_uint32(pk, 3);
	msgpack_pack_uint32(pk, 9);
}

static int
raw_decode(msgpack_sbuffer *sb)
{
	int rc = decode_once(sb->data, sb->size);

	msgpack_sbuffer_destroy(sb);
	return rc;
}

static void
test_not_an_array(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	(void)state;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_uint32(&pk, 1);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_HEADER);

	msgpack_sbuffer_init(&sb);
	msgpack_pack_str(&pk, 5);
	msgpack_pack_str_body(&pk, "hello", 5);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_HEADER);

	msgpack_sbuffer_init(&sb);
	msgpack_pack_map(&pk, 1);
	msgpack_pack_uint32(&pk, 1);
	msgpack_pack_uint32(&pk, 1);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_HEADER);

	msgpack_sbuffer_init(&sb);
	msgpack_pack_nil(&pk);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_HEADER);

	msgpack_sbuffer_init(&sb);
	msgpack_pack_bin(&pk, 4);
	msgpack_pack_bin_body(&pk, "\x94\x01\x03\x00", 4);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_HEADER);
}

static void
test_short_array(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint32_t n, i;

	(void)state;
	for (n = 0; n < 4; n++) {
		raw_begin(&sb, &pk, n);
		/* Version, READY, worker: a valid prefix of a header. */
		for (i = 0; i < n; i++)
			msgpack_pack_uint32(&pk, i == 1 ? PROTO_READY : 1);
		assert_int_equal(raw_decode(&sb), PROTO_BAD_HEADER);
	}
}

/* Each header slot given a value of the wrong type or range. */
static void
test_header_wrong_types(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int slot, kind;

	(void)state;
	for (slot = 0; slot < 4; slot++) {
		for (kind = 0; kind < 7; kind++) {
			uint32_t vals[4] = {PROTO_VERSION, PROTO_READY, 1, 1};
			int i;

			raw_begin(&sb, &pk, 4);
			for (i = 0; i < 4; i++) {
				if (i != slot) {
					msgpack_pack_uint32(&pk, vals[i]);
					continue;
				}
				switch (kind) {
				case 0:
					msgpack_pack_str(&pk, 1);
					msgpack_pack_str_body(&pk, "1", 1);
					break;
				case 1: msgpack_pack_int32(&pk, -1); break;
				case 2: msgpack_pack_nil(&pk); break;
				case 3: msgpack_pack_double(&pk, 1.0); break;
				case 4: msgpack_pack_true(&pk); break;
				case 5:
					msgpack_pack_uint64(
					    &pk, (uint64_t)UINT32_MAX + 1);
					break;
				default: msgpack_pack_array(&pk, 0); break;
				}
			}
			assert_int_equal(raw_decode(&sb), PROTO_BAD_HEADER);
		}
	}
}

static void
test_version(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	(void)state;
	raw_begin(&sb, &pk, 4);
	raw_header(&pk, 2, PROTO_READY);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_VERSION);

	raw_begin(&sb, &pk, 4);
	raw_header(&pk, 0, PROTO_READY);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_VERSION);

	raw_begin(&sb, &pk, 4);
	raw_header(&pk, UINT32_MAX, PROTO_READY);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_VERSION);

	/* The version is checked before the type. */
	raw_begin(&sb, &pk, 4);
	raw_header(&pk, 2, 0);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_VERSION);

	raw_begin(&sb, &pk, 4);
	raw_header(&pk, PROTO_VERSION, PROTO_READY);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_NONE);
}

static void
test_type(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	(void)state;
	raw_begin(&sb, &pk, 4);
	raw_header(&pk, PROTO_VERSION, 0);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_TYPE);

	raw_begin(&sb, &pk, 4);
	raw_header(&pk, PROTO_VERSION, PROTO_TYPE_END);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_TYPE);

	raw_begin(&sb, &pk, 5);
	raw_header(&pk, PROTO_VERSION, PROTO_TYPE_END + 1);
	msgpack_pack_uint32(&pk, 1);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_TYPE);

	raw_begin(&sb, &pk, 4);
	raw_header(&pk, PROTO_VERSION, UINT32_MAX);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_TYPE);
}

/*
 * Re-pack the message in a as an array of count elements: element i is
 * repl when i == at, a->ptr[i] while there is one, and 7 after that.
 */
static void
repack(const msgpack_object_array *a, uint32_t count, uint32_t at,
       const msgpack_object *repl, msgpack_sbuffer *sb)
{
	msgpack_packer pk;
	uint32_t i;

	raw_begin(sb, &pk, count);
	for (i = 0; i < count; i++) {
		if (i == at)
			msgpack_pack_object(&pk, *repl);
		else if (i < a->size)
			msgpack_pack_object(&pk, a->ptr[i]);
		else
			msgpack_pack_uint32(&pk, 7);
	}
}

/*
 * Run fn on the unpacked valid message of each type; u keeps the objects
 * alive while fn repacks them.
 */
static void
for_each_valid(void (*fn)(const struct layout *, const msgpack_object_array *))
{
	struct proto_msg m;
	msgpack_sbuffer sb;
	msgpack_unpacked u;
	size_t i, off;

	for (i = 0; i < NLAYOUTS; i++) {
		fill_all(&m, layouts[i].type);
		encode(&m, &sb);
		msgpack_unpacked_init(&u);
		off = 0;
		assert_int_equal(
		    msgpack_unpack_next(&u, sb.data, sb.size, &off),
		    MSGPACK_UNPACK_SUCCESS);
		fn(&layouts[i], &u.data.via.array);
		msgpack_unpacked_destroy(&u);
		msgpack_sbuffer_destroy(&sb);
	}
}

static void
count_one(const struct layout *l, const msgpack_object_array *a)
{
	msgpack_sbuffer sb;

	/* Unchanged: OK. */
	repack(a, a->size, UINT32_MAX, NULL, &sb);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_NONE);
	/* One field too many. */
	repack(a, a->size + 1, UINT32_MAX, NULL, &sb);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_COUNT);
	/* One field too few (a type without fields cannot have fewer). */
	if (l->n > 0) {
		repack(a, a->size - 1, UINT32_MAX, NULL, &sb);
		assert_int_equal(raw_decode(&sb), PROTO_BAD_COUNT);
	}
	/* Many too many. */
	repack(a, a->size + 9, UINT32_MAX, NULL, &sb);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_COUNT);
}

static void
test_count(void **state)
{
	(void)state;
	for_each_valid(count_one);
}

static msgpack_object
obj_str(const char *s)
{
	msgpack_object o;

	memset(&o, 0, sizeof(o));
	o.type = MSGPACK_OBJECT_STR;
	o.via.str.ptr = s;
	o.via.str.size = (uint32_t)strlen(s);
	return o;
}

static msgpack_object
obj_of(msgpack_object_type t)
{
	msgpack_object o;

	memset(&o, 0, sizeof(o));
	o.type = t;
	switch (t) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER: o.via.u64 = 7; break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: o.via.i64 = -1; break;
	case MSGPACK_OBJECT_FLOAT64: o.via.f64 = 1.5; break;
	case MSGPACK_OBJECT_BOOLEAN: o.via.boolean = true; break;
	case MSGPACK_OBJECT_BIN:
		o.via.bin.ptr = "bin";
		o.via.bin.size = 3;
		break;
	default: break; /* nil, empty array, empty map */
	}
	return o;
}

/*
 * Every field of every type replaced by values of other msgpack types:
 * a string where an int is expected, an int where a string is, a
 * negative int, nil, a float, a boolean, binary data, an array, a map.
 */
static void
field_types_one(const struct layout *l, const msgpack_object_array *a)
{
	static const msgpack_object_type kinds[] = {
	    MSGPACK_OBJECT_POSITIVE_INTEGER,
	    MSGPACK_OBJECT_NEGATIVE_INTEGER,
	    MSGPACK_OBJECT_NIL,
	    MSGPACK_OBJECT_FLOAT64,
	    MSGPACK_OBJECT_BOOLEAN,
	    MSGPACK_OBJECT_BIN,
	    MSGPACK_OBJECT_ARRAY,
	    MSGPACK_OBJECT_MAP,
	    MSGPACK_OBJECT_STR,
	};
	msgpack_sbuffer sb;
	int i;
	size_t k;

	for (i = 0; i < l->n; i++) {
		msgpack_object_type own = a->ptr[4 + i].type;

		for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			msgpack_object o = kinds[k] == MSGPACK_OBJECT_STR
					       ? obj_str("12")
					       : obj_of(kinds[k]);

			if (kinds[k] == own)
				continue;
			repack(a, a->size, 4 + (uint32_t)i, &o, &sb);
			assert_int_equal(raw_decode(&sb), PROTO_BAD_FIELD);
		}
	}
}

static void
test_field_wrong_types(void **state)
{
	(void)state;
	for_each_valid(field_types_one);
}

/* The cases the brief names, spelled out one by one. */
static void
test_field_named_cases(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	(void)state;
	/* CONN_CLOSE with a string conn. */
	raw_begin(&sb, &pk, 6);
	raw_header(&pk, PROTO_VERSION, PROTO_CONN_CLOSE);
	msgpack_pack_str(&pk, 2);
	msgpack_pack_str_body(&pk, "17", 2);
	msgpack_pack_uint32(&pk, 1000);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_FIELD);

	/* UNSUB with an int room. */
	raw_begin(&sb, &pk, 6);
	raw_header(&pk, PROTO_VERSION, PROTO_UNSUB);
	msgpack_pack_uint32(&pk, 17);
	msgpack_pack_uint32(&pk, 5);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_FIELD);

	/* HELLO with a negative pid. */
	raw_begin(&sb, &pk, 5);
	raw_header(&pk, PROTO_VERSION, PROTO_HELLO);
	msgpack_pack_int64(&pk, -1234);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_FIELD);

	/* The same HELLO with the pid positive is fine. */
	raw_begin(&sb, &pk, 5);
	raw_header(&pk, PROTO_VERSION, PROTO_HELLO);
	msgpack_pack_int64(&pk, 1234);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_NONE);

	/* ACK with the most negative seq. */
	raw_begin(&sb, &pk, 7);
	raw_header(&pk, PROTO_VERSION, PROTO_ACK);
	msgpack_pack_uint32(&pk, 1);
	msgpack_pack_str(&pk, 1);
	msgpack_pack_str_body(&pk, "i", 1);
	msgpack_pack_int64(&pk, INT64_MIN);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_FIELD);
}

/* A SUB of room[0..rlen) with the epoch epoch[0..elen). */
static void
pack_sub(msgpack_packer *pk, const char *room, size_t rlen, const char *epoch,
	 size_t elen)
{
	raw_header(pk, PROTO_VERSION, PROTO_SUB);
	msgpack_pack_uint32(pk, 1);
	msgpack_pack_str(pk, rlen);
	msgpack_pack_str_body(pk, room, rlen);
	msgpack_pack_uint32(pk, 0);
	msgpack_pack_uint32(pk, 0);
	msgpack_pack_str(pk, elen);
	msgpack_pack_str_body(pk, epoch, elen);
}

/* Names are limited to PROTO_MAX_NAME bytes, data to PROTO_MAX_DATA. */
static void
test_string_limits(void **state)
{
	static char name[PROTO_MAX_NAME + 1];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char *big;

	(void)state;
	memset(name, 'n', sizeof(name));
	raw_begin(&sb, &pk, 9);
	pack_sub(&pk, name, PROTO_MAX_NAME, "", 0);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_NONE);

	raw_begin(&sb, &pk, 9);
	pack_sub(&pk, name, PROTO_MAX_NAME + 1, "", 0);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_FIELD);

	/* The epoch is a name too. */
	raw_begin(&sb, &pk, 9);
	pack_sub(&pk, "r", 1, name, PROTO_MAX_NAME);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_NONE);

	raw_begin(&sb, &pk, 9);
	pack_sub(&pk, "r", 1, name, PROTO_MAX_NAME + 1);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_FIELD);

	/* A SUB of the old shape, without its epoch. */
	raw_begin(&sb, &pk, 8);
	raw_header(&pk, PROTO_VERSION, PROTO_SUB);
	msgpack_pack_uint32(&pk, 1);
	msgpack_pack_str(&pk, 1);
	msgpack_pack_str_body(&pk, "r", 1);
	msgpack_pack_uint32(&pk, 0);
	msgpack_pack_uint32(&pk, 0);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_COUNT);

	/* A reason (not data) over the limit. */
	raw_begin(&sb, &pk, 7);
	raw_header(&pk, PROTO_VERSION, PROTO_KICK);
	msgpack_pack_uint32(&pk, 1);
	msgpack_pack_uint32(&pk, 4001);
	msgpack_pack_str(&pk, PROTO_MAX_NAME + 1);
	msgpack_pack_str_body(&pk, name, PROTO_MAX_NAME + 1);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_FIELD);

	/* Data of PROTO_MAX_DATA + 1 bytes. */
	big = malloc(PROTO_MAX_DATA + 1);
	assert_non_null(big);
	memset(big, 'x', PROTO_MAX_DATA + 1);
	raw_begin(&sb, &pk, 10);
	raw_header(&pk, PROTO_VERSION, PROTO_PUBLISH);
	msgpack_pack_uint32(&pk, 1);
	msgpack_pack_str(&pk, 1);
	msgpack_pack_str_body(&pk, "r", 1);
	msgpack_pack_str(&pk, PROTO_MAX_DATA + 1);
	msgpack_pack_str_body(&pk, big, PROTO_MAX_DATA + 1);
	msgpack_pack_str(&pk, 0);
	msgpack_pack_str(&pk, 0);
	msgpack_pack_str(&pk, 0);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_FIELD);

	/* And of exactly PROTO_MAX_DATA bytes. */
	raw_begin(&sb, &pk, 10);
	raw_header(&pk, PROTO_VERSION, PROTO_PUBLISH);
	msgpack_pack_uint32(&pk, 1);
	msgpack_pack_str(&pk, 1);
	msgpack_pack_str_body(&pk, "r", 1);
	msgpack_pack_str(&pk, PROTO_MAX_DATA);
	msgpack_pack_str_body(&pk, big, PROTO_MAX_DATA);
	msgpack_pack_str(&pk, 0);
	msgpack_pack_str(&pk, 0);
	msgpack_pack_str(&pk, 0);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_NONE);
	free(big);
}

/* A STATS message whose records have these field counts. */
static void
pack_stats_raw(msgpack_sbuffer *sb, const uint32_t *nfields, uint32_t nrec)
{
	msgpack_packer pk;
	uint32_t i, j;

	raw_begin(sb, &pk, 6);
	raw_header(&pk, PROTO_VERSION, PROTO_STATS);
	msgpack_pack_array(&pk, nrec);
	for (i = 0; i < nrec; i++) {
		msgpack_pack_array(&pk, nfields[i]);
		for (j = 0; j < nfields[i]; j++)
			msgpack_pack_uint64(&pk, i * 10 + j);
	}
	msgpack_pack_array(&pk, 0); /* no totals */
}

static void
test_stats_malformed(void **state)
{
	static const uint32_t ok[3] = {9, 9, 9};
	static const uint32_t six[3] = {9, 8, 9};
	static const uint32_t eight[1] = {10};
	static const uint32_t zero[1] = {0};
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint32_t i;

	(void)state;
	pack_stats_raw(&sb, ok, 3);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_NONE);
	pack_stats_raw(&sb, six, 3);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_FIELD);
	pack_stats_raw(&sb, six, 2);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_FIELD);
	pack_stats_raw(&sb, eight, 1);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_FIELD);
	pack_stats_raw(&sb, zero, 1);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_FIELD);
	pack_stats_raw(&sb, ok, 0);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_NONE);

	/* A record that is not an array. */
	raw_begin(&sb, &pk, 6);
	raw_header(&pk, PROTO_VERSION, PROTO_STATS);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_uint32(&pk, 7);
	msgpack_pack_array(&pk, 0);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_FIELD);

	/* A record with a negative, a string, a nil in its last slot. */
	for (i = 0; i < 3; i++) {
		uint32_t j;

		raw_begin(&sb, &pk, 6);
		raw_header(&pk, PROTO_VERSION, PROTO_STATS);
		msgpack_pack_array(&pk, 1);
		msgpack_pack_array(&pk, 9);
		for (j = 0; j < 8; j++)
			msgpack_pack_uint32(&pk, j);
		if (i == 0) {
			msgpack_pack_int32(&pk, -5);
		} else if (i == 1) {
			msgpack_pack_str(&pk, 1);
			msgpack_pack_str_body(&pk, "5", 1);
		} else {
			msgpack_pack_nil(&pk);
		}
		msgpack_pack_array(&pk, 0);
		assert_int_equal(raw_decode(&sb), PROTO_BAD_FIELD);
	}

	/* The records slot is a map. */
	raw_begin(&sb, &pk, 6);
	raw_header(&pk, PROTO_VERSION, PROTO_STATS);
	msgpack_pack_map(&pk, 0);
	msgpack_pack_array(&pk, 0);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_FIELD);
}

/* More than PROTO_MAX_RECORDS records are refused. */
static void
test_stats_too_many(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint32_t n, i, j;

	(void)state;
	for (n = PROTO_MAX_RECORDS; n <= PROTO_MAX_RECORDS + 1; n++) {
		raw_begin(&sb, &pk, 6);
		raw_header(&pk, PROTO_VERSION, PROTO_STATS);
		msgpack_pack_array(&pk, n);
		for (i = 0; i < n; i++) {
			msgpack_pack_array(&pk, 9);
			for (j = 0; j < 9; j++)
				msgpack_pack_uint32(&pk, j);
		}
		msgpack_pack_array(&pk, 0);
		assert_int_equal(raw_decode(&sb), n == PROTO_MAX_RECORDS
						      ? PROTO_BAD_NONE
						      : PROTO_BAD_FIELD);
	}
}

/* The totals: none, or PROTO_TOT_END values or more (a newer worker's
 * extra ones ignored); fewer, or one that is not an unsigned, refused. */
static void
test_stats_totals(void **state)
{
	static const uint32_t ok[1] = {9};
	uint32_t n, i,
	    lens[] = {0, 1, PROTO_TOT_END - 1, PROTO_TOT_END,
		      PROTO_TOT_END + 5};
	msgpack_sbuffer sb;
	msgpack_packer pk;

	(void)state;
	for (n = 0; n < sizeof(lens) / sizeof(lens[0]); n++) {
		raw_begin(&sb, &pk, 6);
		raw_header(&pk, PROTO_VERSION, PROTO_STATS);
		msgpack_pack_array(&pk, 1);
		msgpack_pack_array(&pk, ok[0]);
		for (i = 0; i < ok[0]; i++)
			msgpack_pack_uint32(&pk, i);
		msgpack_pack_array(&pk, lens[n]);
		for (i = 0; i < lens[n]; i++)
			msgpack_pack_uint64(&pk, i);
		assert_int_equal(raw_decode(&sb),
				 lens[n] == 0 || lens[n] >= PROTO_TOT_END
				     ? PROTO_BAD_NONE
				     : PROTO_BAD_FIELD);
	}
	/* A negative value among them. */
	raw_begin(&sb, &pk, 6);
	raw_header(&pk, PROTO_VERSION, PROTO_STATS);
	msgpack_pack_array(&pk, 0);
	msgpack_pack_array(&pk, PROTO_TOT_END);
	for (i = 0; i < PROTO_TOT_END; i++)
		msgpack_pack_int64(&pk, i == 3 ? -1 : (int64_t)i);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_FIELD);
	/* The old shape, without totals, is a wrong count. */
	raw_begin(&sb, &pk, 5);
	raw_header(&pk, PROTO_VERSION, PROTO_STATS);
	msgpack_pack_array(&pk, 0);
	assert_int_equal(raw_decode(&sb), PROTO_BAD_COUNT);
}

/*
 * After a successful decode, touch everything the message borrows, so a
 * sanitizer sees any pointer into freed or foreign memory.
 */
static void
touch(const struct proto_msg *m)
{
	volatile unsigned sum = 0;
	struct proto_msg *mm = (struct proto_msg *)m;
	uint32_t i, j;
	int f;

	for (f = TF_ROOM; f < TF_ROOM + STR_FIELDS; f++) {
		const struct proto_str *s = str_of(mm, f);

		for (j = 0; j < s->len; j++)
			sum += (unsigned char)s->p[j];
	}
	if (m->config_obj != NULL) {
		struct settings cfg;

		assert_int_equal(settings_load(&cfg, m->config_obj), WSD_OK);
		for (i = 0; i < cfg.origins.n; i++)
			sum += (unsigned char)cfg.origins.v[i][0];
		settings_free(settings_worker, settings_worker_n, &cfg);
	}
	for (i = 0; i < m->nrecs; i++) {
		struct proto_stats_rec r;

		proto_stats_get(m, i, &r);
		sum += (unsigned)r.conn;
	}
	(void)sum;
}

/*
 * Flip each byte of a valid message of every type to several values; the
 * decoder must return one of its codes and never crash or read outside
 * the buffer (the copy is exactly the message's size, for ASan).
 */
static void
test_byte_flips(void **state)
{
	struct proto_msg m, out;
	msgpack_sbuffer sb;
	msgpack_unpacked u;
	size_t i, pos, v;
	unsigned long counts[8] = {0};

	(void)state;
	for (i = 0; i < NLAYOUTS; i++) {
		fill_all(&m, layouts[i].type);
		encode(&m, &sb);
		for (pos = 0; pos < sb.size; pos++) {
			unsigned char orig = (unsigned char)sb.data[pos];
			const unsigned char vals[] = {
			    0x00,
			    0x01,
			    0x7f,
			    0x80,
			    0x90,
			    0x9f,
			    0xa0,
			    0xc0,
			    0xc1,
			    0xc2,
			    0xc4,
			    0xcc,
			    0xcf,
			    0xd0,
			    0xd3,
			    0xd9,
			    0xdb,
			    0xdc,
			    0xdd,
			    0xde,
			    0xdf,
			    0xe0,
			    0xff,
			    (unsigned char)(orig ^ 0x01),
			    (unsigned char)(orig ^ 0x80),
			    (unsigned char)(orig + 1),
			    (unsigned char)(orig - 1),
			};

			for (v = 0; v < sizeof(vals); v++) {
				char *p = malloc(sb.size);
				int rc;

				assert_non_null(p);
				memcpy(p, sb.data, sb.size);
				p[pos] = (char)vals[v];
				msgpack_unpacked_init(&u);
				rc = proto_decode(&out, &u, p, sb.size);
				assert_true(rc == WSD_OK || rc == WSD_EPROTO);
				assert_true((rc == WSD_OK) ==
					    (out.bad == PROTO_BAD_NONE));
				assert_true(out.bad <= PROTO_BAD_FIELD);
				if (rc == WSD_OK)
					touch(&out);
				counts[out.bad]++;
				msgpack_unpacked_destroy(&u);
				free(p);
			}
		}
		msgpack_sbuffer_destroy(&sb);
	}
	/* The flips reached more than one check. */
	assert_true(counts[0] > 0);
	assert_true(counts[PROTO_BAD_PARSE] > 0);
	assert_true(counts[PROTO_BAD_FIELD] > 0);
}

static void
test_names(void **state)
{
	struct proto_str s;

	(void)state;
	assert_string_equal(proto_type_name(PROTO_HELLO), "HELLO");
	assert_string_equal(proto_type_name(PROTO_STATS), "STATS");
	assert_string_equal(proto_type_name(PROTO_DELIVER), "DELIVER");
	assert_string_equal(proto_type_name(PROTO_RESUME), "RESUME");
	assert_string_equal(proto_type_name(PROTO_RESUMED), "RESUMED");
	assert_string_equal(proto_type_name(PROTO_PRESENCE), "PRESENCE");
	assert_string_equal(proto_type_name(0), "unknown");
	assert_string_equal(proto_type_name(PROTO_TYPE_END), "unknown");
	assert_string_equal(proto_bad_name(PROTO_BAD_NONE), "ok");
	assert_string_equal(proto_bad_name(PROTO_BAD_COUNT),
			    "wrong field count");
	assert_string_equal(proto_bad_name((enum proto_bad)99),
			    "unknown error");
	assert_string_equal(wsd_strerror(WSD_OK), "ok");
	assert_string_equal(wsd_strerror(WSD_EAGAIN), "try again");
	assert_string_equal(wsd_strerror(WSD_ENOMEM), "out of memory");
	assert_string_equal(wsd_strerror(-99), "unknown");
	s = proto_cstr("abc");
	assert_int_equal(s.len, 3);
	s = proto_cstr(NULL);
	assert_int_equal(s.len, 0);
}

/* A NUL byte in any string field is refused: names become C strings. */
static void
test_nul_in_string(void **state)
{
	static const char withnul[] = "ab\0cd";
	struct proto_str *fields[] = {NULL, NULL, NULL};
	struct proto_msg m;
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		msgpack_sbuffer sb;
		msgpack_packer pk;
		msgpack_unpacked u;
		struct proto_msg out;

		memset(&m, 0, sizeof(m));
		m.type = PROTO_PUBLISH;
		m.room = proto_cstr("r");
		m.data = proto_cstr("{}");
		m.id = proto_cstr("x");
		fields[0] = &m.room;
		fields[1] = &m.data;
		fields[2] = &m.id;
		fields[i]->p = withnul;
		fields[i]->len = sizeof(withnul) - 1;
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		assert_int_equal(proto_encode(&m, &pk), 0);
		msgpack_unpacked_init(&u);
		assert_int_equal(proto_decode(&out, &u, sb.data, sb.size),
				 WSD_EPROTO);
		assert_int_equal(out.bad, PROTO_BAD_FIELD);
		msgpack_unpacked_destroy(&u);
		msgpack_sbuffer_destroy(&sb);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip_every_type),
	    cmocka_unit_test(test_roundtrip_empty_values),
	    cmocka_unit_test(test_roundtrip_config_limits),
	    cmocka_unit_test(test_roundtrip_stats_and_names),
	    cmocka_unit_test(test_encode_bad_type),
	    cmocka_unit_test(test_empty_buffer),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_nul_in_string),
	    cmocka_unit_test(test_trailing_garbage),
	    cmocka_unit_test(test_not_an_array),
	    cmocka_unit_test(test_short_array),
	    cmocka_unit_test(test_header_wrong_types),
	    cmocka_unit_test(test_version),
	    cmocka_unit_test(test_type),
	    cmocka_unit_test(test_count),
	    cmocka_unit_test(test_field_wrong_types),
	    cmocka_unit_test(test_field_named_cases),
	    cmocka_unit_test(test_string_limits),
	    cmocka_unit_test(test_stats_malformed),
	    cmocka_unit_test(test_stats_too_many),
	    cmocka_unit_test(test_stats_totals),
	    cmocka_unit_test(test_byte_flips),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
