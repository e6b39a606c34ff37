/*
 * test_settings.c: the table of the settings that cross to the workers
 * (proto/settings.[ch]) and the CONFIG message built from it.
 *
 * The table must describe struct settings exactly (every member one row,
 * no overlap, in the wire order this file pins), give every setting its
 * documented default, and drive a CONFIG message that round-trips every
 * row at the ends of its range. A block with any value out of its row's
 * range, of the wrong type, or with a setting missing or extra must be
 * refused by the decoder (PROTO_BAD_FIELD), as must the malformed blocks
 * test_proto.c once checked by hand. Last, the helpers the supervisor's
 * config parser uses: setting and comparing values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../proto/proto.h"
#include "../../proto/log.h"
#include "../../proto/settings.h"

#define NROWS settings_worker_n

/* The wire order, written out here so that a reordered table shows. */
static const char *const wire_keys[] = {
    "limits.max_message_bytes",
    "limits.max_header_bytes",
    "limits.max_queue_bytes",
    "limits.max_queue_msgs",
    "limits.slow_consumer",
    "limits.max_rooms_per_conn",
    "heartbeat.interval_ms",
    "heartbeat.timeout_ms",
    "heartbeat.handshake_timeout_ms",
    "allow_anonymous",
    "demo_page",
    "sse",
    "ws_path",
    "echo_path",
    "jwt_secret",
    "origins",
    "jwt.keys",
    "jwt.leeway_s",
    "jwt.audience",
    "jwt.issuer",
    "jwt.info_max_bytes",
    "drain.timeout_ms",
    "log_level",
    "log_file",
    "log_format",
    "trusted_proxies",
    "limits.rate_msgs",
    "limits.rate_msgs_burst",
    "limits.rate_bytes",
    "limits.rate_bytes_burst",
    "limits.rate_grace_ms",
    "room_policies",
    "limits.worker_queue_bytes",
    "trusted_proxies_header",
    "compression.enabled",
    "compression.window_bits",
    "compression.mem_level",
    "compression.level",
    "compression.min_bytes",
    "tls:certs",
    "tls:tickets",
    "demo:key",
};

static int
is_num(const struct setting_row *r)
{
	return r->kind == SETTING_UINT || r->kind == SETTING_INT ||
	       r->kind == SETTING_BOOL || r->kind == SETTING_ENUM;
}

static size_t
kind_size(const struct setting_row *r)
{
	switch (r->kind) {
	case SETTING_UINT: return sizeof(uint64_t);
	case SETTING_INT:
	case SETTING_BOOL:
	case SETTING_ENUM: return sizeof(int);
	case SETTING_STR: return sizeof(char *);
	default: return sizeof(struct setting_list);
	}
}

static size_t
kind_align(const struct setting_row *r)
{
	return r->kind == SETTING_LIST ? _Alignof(struct setting_list)
				       : kind_size(r);
}

static size_t
align_up(size_t n, size_t a)
{
	return (n + a - 1) / a * a;
}

/* Every member of struct settings is one row: no overlap, no gap but the
 * padding a member's alignment needs, nothing after the last row. */
static void
test_table_covers_struct(void **state)
{
	const struct setting_row *order[64];
	size_t i, j, end = 0;

	(void)state;
	assert_int_equal(NROWS, sizeof(wire_keys) / sizeof(wire_keys[0]));
	assert_true(NROWS <= 64);
	for (i = 0; i < NROWS; i++) {
		assert_string_equal(settings_worker[i].key, wire_keys[i]);
		order[i] = &settings_worker[i];
	}
	/* Sort the rows by offset (insertion sort: few rows). */
	for (i = 1; i < NROWS; i++)
		for (j = i; j > 0 && order[j]->off < order[j - 1]->off; j--) {
			const struct setting_row *t = order[j];

			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (i = 0; i < NROWS; i++) {
		const struct setting_row *r = order[i];

		if (r->off != align_up(end, kind_align(r)))
			fail_msg("%s at offset %zu, expected %zu: a member "
				 "without a row, or rows overlapping",
				 r->key, r->off, align_up(end, kind_align(r)));
		end = r->off + kind_size(r);
	}
	assert_int_equal(sizeof(struct settings),
			 align_up(end, _Alignof(struct settings)));
	/* Every row is sane: a key found again, ranges in order. */
	for (i = 0; i < NROWS; i++) {
		const struct setting_row *r = &settings_worker[i];

		assert_ptr_equal(settings_find(settings_worker, NROWS, r->key),
				 r);
		assert_true(r->min <= r->max);
		if (is_num(r))
			assert_true(r->def >= r->min && r->def <= r->max);
		if (r->kind == SETTING_ENUM)
			assert_non_null(r->names);
		if (r->kind == SETTING_STR)
			assert_non_null(r->sdef);
		if (r->kind == SETTING_LIST)
			assert_true(r->elem_max > 0);
	}
	assert_null(settings_find(settings_worker, NROWS, "limits"));
	assert_null(settings_find(settings_worker, NROWS, "nope"));
}

/* The defaults of conf/wsd.conf, set by settings_init. */
static void
test_defaults(void **state)
{
	struct settings s;

	(void)state;
	memset(&s, 0xa5, sizeof(s));
	memset(&s.origins, 0, sizeof(s.origins));
	memset(&s.jwt_keys, 0, sizeof(s.jwt_keys));
	s.ws_path = s.echo_path = s.jwt_secret = NULL;
	s.jwt_audience = s.jwt_issuer = NULL;
	assert_int_equal(settings_init(settings_worker, NROWS, &s), WSD_OK);
	assert_int_equal(s.max_message_bytes, 65536);
	assert_int_equal(s.max_header_bytes, 8192);
	assert_int_equal(s.max_queue_bytes, 1048576);
	assert_int_equal(s.max_queue_msgs, 1000);
	assert_int_equal(s.slow_policy, PROTO_SLOW_DISCONNECT);
	assert_int_equal(s.max_rooms_per_conn, 100);
	assert_int_equal(s.heartbeat_interval_ms, 25000);
	assert_int_equal(s.heartbeat_timeout_ms, 10000);
	assert_int_equal(s.handshake_timeout_ms, 10000);
	assert_int_equal(s.allow_anonymous, 1);
	assert_int_equal(s.demo_page, 1);
	assert_string_equal(s.ws_path, "/ws");
	assert_string_equal(s.echo_path, "");
	assert_string_equal(s.jwt_secret, "");
	assert_int_equal(s.origins.n, 0);
	assert_int_equal(s.jwt_keys.n, 0);
	assert_int_equal(s.jwt_leeway_s, 30);
	assert_string_equal(s.jwt_audience, "");
	assert_string_equal(s.jwt_issuer, "");
	assert_int_equal(s.jwt_info_max_bytes, 1024);
	assert_int_equal(s.drain_timeout_ms, 30000);
	assert_int_equal(s.log_level, LOG_LEVEL_INFO);
	assert_int_equal(s.log_format, LOG_FORMAT_JSON);
	assert_string_equal(s.log_file, "");
	/* The supervisor draws the demo key at start: none by default. */
	assert_string_equal(s.demo_key, "");
	settings_free(settings_worker, NROWS, &s);
	assert_null(s.ws_path);
	assert_null(s.origins.v);
}

/* Encode s as a CONFIG message, decode it, load it into out. */
static void
roundtrip(const struct settings *s, struct settings *out)
{
	struct proto_msg m, back;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_CONFIG;
	m.config = s;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	assert_int_equal(proto_encode(&m, &pk), WSD_OK);
	msgpack_unpacked_init(&u);
	assert_int_equal(proto_decode(&back, &u, sb.data, sb.size), WSD_OK);
	assert_non_null(back.config_obj);
	assert_int_equal(settings_load(out, back.config_obj), WSD_OK);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}

/* Every row of a and b holds the same value. */
static void
assert_same(const struct settings *a, const struct settings *b)
{
	size_t i;
	uint32_t j;

	for (i = 0; i < NROWS; i++) {
		const struct setting_row *r = &settings_worker[i];
		const char *pa = (const char *)a + r->off;
		const char *pb = (const char *)b + r->off;

		if (is_num(r)) {
			assert_int_equal(setting_get_num(r, a),
					 setting_get_num(r, b));
		} else if (r->kind == SETTING_STR) {
			assert_string_equal(*(char *const *)pa,
					    *(char *const *)pb);
		} else {
			const struct setting_list *la = (const void *)pa;
			const struct setting_list *lb = (const void *)pb;

			assert_int_equal(la->n, lb->n);
			for (j = 0; j < la->n; j++)
				assert_string_equal(la->v[j], lb->v[j]);
		}
	}
}

/* A string of len bytes: '/' then 'a's (a valid path for any row). */
static char *
str_of_len(size_t len)
{
	char *s = malloc(len + 1);

	assert_non_null(s);
	memset(s, 'a', len);
	if (len > 0)
		s[0] = '/';
	s[len] = '\0';
	return s;
}

/* Every row at the low and the high end of its range survives CONFIG. */
static void
test_roundtrip_every_row(void **state)
{
	struct settings s, out;
	size_t i;
	int end;

	(void)state;
	for (i = 0; i < NROWS; i++) {
		const struct setting_row *r = &settings_worker[i];

		for (end = 0; end < 2; end++) {
			uint64_t v = end ? r->max : r->min;

			assert_int_equal(
			    settings_init(settings_worker, NROWS, &s), WSD_OK);
			if (is_num(r)) {
				assert_int_equal(setting_set_num(r, &s, v),
						 WSD_OK);
				assert_int_equal(setting_get_num(r, &s), v);
			} else if (r->kind == SETTING_STR) {
				char *x = str_of_len((size_t)v);

				assert_int_equal(setting_set_str(r, &s, x, v),
						 WSD_OK);
				free(x);
			} else {
				char *x = str_of_len(r->elem_max);
				uint64_t k;

				for (k = 0; k < v; k++)
					assert_int_equal(
					    setting_set_str(
						r, &s, x, r->elem_max - k % 2),
					    WSD_OK);
				free(x);
			}
			roundtrip(&s, &out);
			assert_same(&s, &out);
			settings_free(settings_worker, NROWS, &out);
			settings_free(settings_worker, NROWS, &s);
		}
	}
}

/* How raw_config packs the slot under test. */
enum raw {
	RAW_ROW,      /* the row's value in s */
	RAW_UINT,     /* the number v */
	RAW_NEG,      /* -1 */
	RAW_STR,      /* a string of v bytes */
	RAW_STR_NUL,  /* "a\0b" */
	RAW_STRS,     /* an array of v strings of w bytes */
	RAW_STRS_INT, /* an array of a string and a number */
	RAW_NIL,      /* nil */
};

static void
pack_row(msgpack_packer *pk, const struct setting_row *r,
	 const struct settings *s)
{
	const char *p = (const char *)s + r->off;
	uint32_t j;

	if (is_num(r)) {
		msgpack_pack_uint64(pk, setting_get_num(r, s));
	} else if (r->kind == SETTING_STR) {
		const char *v = *(char *const *)p;

		msgpack_pack_str(pk, strlen(v));
		msgpack_pack_str_body(pk, v, strlen(v));
	} else {
		const struct setting_list *l = (const void *)p;

		msgpack_pack_array(pk, l->n);
		for (j = 0; j < l->n; j++) {
			msgpack_pack_str(pk, strlen(l->v[j]));
			msgpack_pack_str_body(pk, l->v[j], strlen(l->v[j]));
		}
	}
}

static void
pack_raw(msgpack_packer *pk, enum raw how, uint64_t v, uint64_t w)
{
	static char buf[70000];
	uint64_t j;

	memset(buf, 'x', sizeof(buf));
	switch (how) {
	case RAW_UINT: msgpack_pack_uint64(pk, v); break;
	case RAW_NEG: msgpack_pack_int64(pk, -1); break;
	case RAW_STR:
		msgpack_pack_str(pk, v);
		msgpack_pack_str_body(pk, buf, v);
		break;
	case RAW_STR_NUL:
		msgpack_pack_str(pk, 3);
		msgpack_pack_str_body(pk, "a\0b", 3);
		break;
	case RAW_STRS:
		msgpack_pack_array(pk, v);
		for (j = 0; j < v; j++) {
			msgpack_pack_str(pk, w);
			msgpack_pack_str_body(pk, buf, w);
		}
		break;
	case RAW_STRS_INT:
		msgpack_pack_array(pk, 2);
		msgpack_pack_str(pk, 1);
		msgpack_pack_str_body(pk, "o", 1);
		msgpack_pack_uint32(pk, 80);
		break;
	default: msgpack_pack_nil(pk); break;
	}
}

/* Start a CONFIG message in sb: the array and its header, block to come. */
static void
config_header(msgpack_sbuffer *sb, msgpack_packer *pk)
{
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
	msgpack_pack_array(pk, 5);
	msgpack_pack_uint32(pk, PROTO_VERSION);
	msgpack_pack_uint32(pk, PROTO_CONFIG);
	msgpack_pack_uint32(pk, 3);
	msgpack_pack_uint32(pk, 9);
}

/*
 * Decode a CONFIG message whose block holds nvals values: the defaults,
 * but slot `slot` packed as `how` says (and, past the table, extra values
 * as numbers). Returns the decoder's failed check.
 */
static int
raw_config(size_t nvals, size_t slot, enum raw how, uint64_t v, uint64_t w)
{
	struct settings s;
	struct proto_msg m;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;
	size_t i;
	int rc;

	assert_int_equal(settings_init(settings_worker, NROWS, &s), WSD_OK);
	config_header(&sb, &pk);
	msgpack_pack_array(&pk, nvals);
	for (i = 0; i < nvals; i++) {
		if (i == slot && how != RAW_ROW)
			pack_raw(&pk, how, v, w);
		else if (i < NROWS)
			pack_row(&pk, &settings_worker[i], &s);
		else
			msgpack_pack_uint32(&pk, 1);
	}
	msgpack_unpacked_init(&u);
	rc = proto_decode(&m, &u, sb.data, sb.size);
	assert_true((rc == WSD_OK) == (m.bad == PROTO_BAD_NONE));
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
	settings_free(settings_worker, NROWS, &s);
	return (int)m.bad;
}

#define NONE PROTO_BAD_NONE
#define FIELD PROTO_BAD_FIELD

/* Just past either end of its range, every row is refused. */
static void
test_out_of_range_every_row(void **state)
{
	size_t i;

	(void)state;
	assert_int_equal(raw_config(NROWS, NROWS, RAW_ROW, 0, 0), NONE);
	for (i = 0; i < NROWS; i++) {
		const struct setting_row *r = &settings_worker[i];

		if (is_num(r)) {
			assert_int_equal(
			    raw_config(NROWS, i, RAW_UINT, r->max, 0), NONE);
			assert_int_equal(
			    raw_config(NROWS, i, RAW_UINT, r->max + 1, 0),
			    FIELD);
			assert_int_equal(
			    raw_config(NROWS, i, RAW_UINT, r->min, 0), NONE);
			if (r->min > 0)
				assert_int_equal(raw_config(NROWS, i, RAW_UINT,
							    r->min - 1, 0),
						 FIELD);
			assert_int_equal(
			    raw_config(NROWS, i, RAW_UINT, UINT64_MAX, 0),
			    FIELD);
		} else if (r->kind == SETTING_STR) {
			assert_int_equal(
			    raw_config(NROWS, i, RAW_STR, r->max, 0), NONE);
			assert_int_equal(
			    raw_config(NROWS, i, RAW_STR, r->max + 1, 0),
			    FIELD);
			if (r->min > 0)
				assert_int_equal(raw_config(NROWS, i, RAW_STR,
							    r->min - 1, 0),
						 FIELD);
			assert_int_equal(
			    raw_config(NROWS, i, RAW_STR_NUL, 0, 0), FIELD);
		} else {
			assert_int_equal(
			    raw_config(NROWS, i, RAW_STRS, r->max, r->elem_max),
			    NONE);
			assert_int_equal(
			    raw_config(NROWS, i, RAW_STRS, r->max + 1, 1),
			    FIELD);
			assert_int_equal(
			    raw_config(NROWS, i, RAW_STRS, 1000, 1), FIELD);
			assert_int_equal(
			    raw_config(NROWS, i, RAW_STRS, 2, r->elem_max + 1),
			    FIELD);
			assert_int_equal(
			    raw_config(NROWS, i, RAW_STRS_INT, 0, 0), FIELD);
		}
	}
}

/* A value of another kind, in every slot, is refused. */
static void
test_wrong_type_every_row(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NROWS; i++) {
		const struct setting_row *r = &settings_worker[i];

		assert_int_equal(raw_config(NROWS, i, RAW_NIL, 0, 0), FIELD);
		assert_int_equal(raw_config(NROWS, i, RAW_NEG, 0, 0), FIELD);
		if (is_num(r)) {
			assert_int_equal(raw_config(NROWS, i, RAW_STR, 1, 0),
					 FIELD);
			assert_int_equal(raw_config(NROWS, i, RAW_STRS, 0, 0),
					 FIELD);
		} else {
			assert_int_equal(raw_config(NROWS, i, RAW_UINT, 1, 0),
					 FIELD);
			if (r->kind == SETTING_STR)
				assert_int_equal(
				    raw_config(NROWS, i, RAW_STRS, 1, 1),
				    FIELD);
			else
				assert_int_equal(
				    raw_config(NROWS, i, RAW_STR, 1, 0), FIELD);
		}
	}
}

/* A block with a setting missing or one too many is refused. */
static void
test_missing_or_extra(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;
	struct proto_msg m;

	(void)state;
	assert_int_equal(raw_config(NROWS - 1, NROWS, RAW_ROW, 0, 0), FIELD);
	assert_int_equal(raw_config(NROWS + 1, NROWS, RAW_ROW, 0, 0), FIELD);
	assert_int_equal(raw_config(0, NROWS, RAW_ROW, 0, 0), FIELD);
	assert_int_equal(raw_config(2 * NROWS, NROWS, RAW_ROW, 0, 0), FIELD);
	/* The block not an array at all. */
	config_header(&sb, &pk);
	msgpack_pack_map(&pk, 0);
	msgpack_unpacked_init(&u);
	assert_int_equal(proto_decode(&m, &u, sb.data, sb.size), WSD_EPROTO);
	assert_int_equal(m.bad, FIELD);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}

/* The helpers behind the config parser: ranges, names, copy, diff. */
static void
test_set_copy_diff(void **state)
{
	const struct setting_row *q, *slow, *secret, *orig, *path;
	struct settings a, b;
	char buf[512];

	(void)state;
	q = settings_find(settings_worker, NROWS, "limits.max_queue_msgs");
	slow = settings_find(settings_worker, NROWS, "limits.slow_consumer");
	secret = settings_find(settings_worker, NROWS, "jwt_secret");
	orig = settings_find(settings_worker, NROWS, "origins");
	path = settings_find(settings_worker, NROWS, "ws_path");
	assert_non_null(q);
	assert_non_null(slow);
	assert_non_null(secret);
	assert_non_null(orig);
	assert_non_null(path);
	assert_int_equal(settings_init(settings_worker, NROWS, &a), WSD_OK);
	assert_int_equal(settings_init(settings_worker, NROWS, &b), WSD_OK);

	assert_int_equal(setting_set_num(q, &a, 0), WSD_EINVAL);
	assert_int_equal(setting_set_num(q, &a, 1000001), WSD_EINVAL);
	assert_int_equal(a.max_queue_msgs, 1000);
	assert_int_equal(setting_set_num(path, &a, 1), WSD_EINVAL);
	assert_int_equal(setting_enum_find(slow, "drop_oldest"),
			 PROTO_SLOW_DROP_OLDEST);
	assert_int_equal(setting_enum_find(slow, "drop"), WSD_EINVAL);
	assert_int_equal(setting_set_str(path, &a, "", 0), WSD_EINVAL);
	assert_int_equal(setting_set_str(path, &a, "/a\0b", 4), WSD_EINVAL);
	assert_string_equal(a.ws_path, "/ws");
	assert_int_equal(setting_set_str(q, &a, "x", 1), WSD_EINVAL);

	buf[0] = '\0';
	settings_diff(settings_worker, NROWS, &a, &b, buf, sizeof(buf));
	assert_string_equal(buf, "");
	assert_int_equal(setting_set_num(q, &b, 10), WSD_OK);
	assert_int_equal(setting_set_num(slow, &b, PROTO_SLOW_DROP_NEWEST),
			 WSD_OK);
	assert_int_equal(setting_set_str(secret, &b, "k", 1), WSD_OK);
	assert_int_equal(setting_set_str(orig, &b, "http://a", 8), WSD_OK);
	assert_int_equal(setting_set_str(orig, &b, "http://b", 8), WSD_OK);
	settings_diff(settings_worker, NROWS, &a, &b, buf, sizeof(buf));
	assert_string_equal(buf,
			    "limits.max_queue_msgs 1000 -> 10, "
			    "limits.slow_consumer disconnect -> drop_newest, "
			    "jwt_secret * -> *, origins 0 -> 2");

	/* Settings differ from themselves in nothing. */
	buf[0] = '\0';
	settings_diff(settings_worker, NROWS, &b, &b, buf, sizeof(buf));
	assert_string_equal(buf, "");
	setting_list_clear(orig, &b);
	assert_int_equal(b.origins.n, 0);
	/* A small buffer truncates the summary, never overruns it. */
	settings_diff(settings_worker, NROWS, &a, &b, buf, 12);
	assert_true(strlen(buf) < 12);
	settings_free(settings_worker, NROWS, &a);
	settings_free(settings_worker, NROWS, &b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table_covers_struct),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_roundtrip_every_row),
	    cmocka_unit_test(test_out_of_range_every_row),
	    cmocka_unit_test(test_wrong_type_every_row),
	    cmocka_unit_test(test_missing_or_extra),
	    cmocka_unit_test(test_set_copy_diff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
