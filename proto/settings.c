/*
 * settings.c: the table of the settings that workers get, and the
 * functions that read, compare, pack and check settings from any table
 * of rows (settings.h).
 */
#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "proto.h"

#define OFF(f) offsetof(struct settings, f)

/* In the order of enum proto_slow_policy. */
const char *const proto_slow_names[] = {"disconnect", "drop_newest",
					"drop_oldest", "latest_per_key"};

static const char *const proxy_header_names[] = {"x-forwarded-for", "forwarded",
						 "proxy-protocol"};

const struct setting_row settings_worker[] = {
    /* Re-serialized JSON may grow; 16 MB leaves room under the IPC cap. */
    {"limits.max_message_bytes", SETTING_UINT, OFF(max_message_bytes), 16,
     16u << 20, 65536, NULL, NULL, 0, 0},
    {"limits.max_header_bytes", SETTING_UINT, OFF(max_header_bytes), 512, 65536,
     8192, NULL, NULL, 0, 0},
    {"limits.max_queue_bytes", SETTING_UINT, OFF(max_queue_bytes), 1024,
     1ull << 32, 1048576, NULL, NULL, 0, 0},
    {"limits.max_queue_msgs", SETTING_UINT, OFF(max_queue_msgs), 1, 1000000,
     1000, NULL, NULL, 0, 0},
    {"limits.slow_consumer", SETTING_ENUM, OFF(slow_policy), 0,
     PROTO_SLOW_LATEST_PER_KEY, PROTO_SLOW_DISCONNECT, NULL, proto_slow_names,
     0, 0},
    {"limits.max_rooms_per_conn", SETTING_UINT, OFF(max_rooms_per_conn), 1,
     100000, 100, NULL, NULL, 0, 0},
    {"heartbeat.interval_ms", SETTING_UINT, OFF(heartbeat_interval_ms), 100,
     3600000, 25000, NULL, NULL, 0, 0},
    {"heartbeat.timeout_ms", SETTING_UINT, OFF(heartbeat_timeout_ms), 100,
     3600000, 10000, NULL, NULL, 0, 0},
    {"heartbeat.handshake_timeout_ms", SETTING_UINT, OFF(handshake_timeout_ms),
     100, 600000, 10000, NULL, NULL, 0, 0},
    {"allow_anonymous", SETTING_BOOL, OFF(allow_anonymous), 0, 1, 1, NULL, NULL,
     0, 0},
    {"demo_page", SETTING_BOOL, OFF(demo_page), 0, 1, 1, NULL, NULL, 0, 0},
    /* The Server-Sent Events fallback (GET /sse, POST /sse/send). */
    {"sse", SETTING_BOOL, OFF(sse), 0, 1, 1, NULL, NULL, 0, 0},
    {"ws_path", SETTING_STR, OFF(ws_path), 1, 256, 0, "/ws", NULL, 0, 0},
    {"echo_path", SETTING_STR, OFF(echo_path), 0, 256, 0, "", NULL, 0, 0},
    {"jwt_secret", SETTING_STR, OFF(jwt_secret), 0, 512, 0, "", NULL, 0,
     SETTING_SECRET},
    {"origins", SETTING_LIST, OFF(origins), 0, 32, 0, NULL, NULL, 256, 0},
    /* An element holds a PEM public key once the supervisor read it. */
    {"jwt.keys", SETTING_LIST, OFF(jwt_keys), 0, 32, 0, NULL, NULL, 16384,
     SETTING_SECRET},
    {"jwt.leeway_s", SETTING_UINT, OFF(jwt_leeway_s), 0, 3600, 30, NULL, NULL,
     0, 0},
    {"jwt.audience", SETTING_STR, OFF(jwt_audience), 0, 256, 0, "", NULL, 0, 0},
    {"jwt.issuer", SETTING_STR, OFF(jwt_issuer), 0, 256, 0, "", NULL, 0, 0},
    {"jwt.info_max_bytes", SETTING_UINT, OFF(jwt_info_max_bytes), 2, 65536,
     1024, NULL, NULL, 0, 0},
    /* How long a drain (the daemon's or one worker's) waits for clients
     * to close before the rest are closed without waiting. */
    {"drain.timeout_ms", SETTING_UINT, OFF(drain_timeout_ms), 100, 3600000,
     30000, NULL, NULL, 0, 0},
    /* The supervisor's too; a worker applies a new level and reopens
     * the file (appending) on every CONFIG. */
    {"log_level", SETTING_ENUM, OFF(log_level), 0, LOG_LEVEL_DEBUG,
     LOG_LEVEL_INFO, NULL, log_level_names, 0, 0},
    {"log_file", SETTING_STR, OFF(log_file), 0, 4095, 0, "", NULL, 0, 0},
    /* One JSON object per line, or text (proto/log.h); applied live. */
    {"log_format", SETTING_ENUM, OFF(log_format), 0, LOG_FORMAT_TEXT,
     LOG_FORMAT_JSON, NULL, log_format_names, 0, 0},
    /* Peers whose X-Forwarded-For / Forwarded name the client (proto/addr.h:
     * "ADDR" or "ADDR/PREFIX"). */
    {"trusted_proxies", SETTING_LIST, OFF(trusted_proxies), 0, 64, 0, NULL,
     NULL, 64, 0},
    /* What one connection may send (token buckets; worker/wk_rate.h): a
     * rate of 0 is no limit. Over it, the connection is paused (`flow`);
     * still over it after rate_grace_ms, closed with 4002. */
    {"limits.rate_msgs", SETTING_UINT, OFF(rate_msgs), 0, 1000000, 100, NULL,
     NULL, 0, 0},
    {"limits.rate_msgs_burst", SETTING_UINT, OFF(rate_msgs_burst), 1, 10000000,
     200, NULL, NULL, 0, 0},
    {"limits.rate_bytes", SETTING_UINT, OFF(rate_bytes), 0, 1ull << 32, 0, NULL,
     NULL, 0, 0},
    {"limits.rate_bytes_burst", SETTING_UINT, OFF(rate_bytes_burst), 0,
     1ull << 32, 0, NULL, NULL, 0, 0},
    {"limits.rate_grace_ms", SETTING_UINT, OFF(rate_grace_ms), 0, 3600000,
     10000, NULL, NULL, 0, 0},
    /* "PATTERN=POLICY": the slow-consumer policy of the rooms whose name
     * matches PATTERN (fnmatch), the first match winning; other rooms
     * have limits.slow_consumer. */
    {"room_policies", SETTING_LIST, OFF(room_policies), 0, 64, 0, NULL, NULL,
     160, 0},
    /* All send queues of one worker together; over it, the largest give
     * way first (closed with 4001). 0: no budget. */
    {"limits.worker_queue_bytes", SETTING_UINT, OFF(worker_queue_bytes), 0,
     1ull << 40, 256ull << 20, NULL, NULL, 0, 0},
    /* The one header the trusted proxies set (and overwrite): a client's
     * own copy of the other one would pass through them unchecked. */
    {"trusted_proxies_header", SETTING_ENUM, OFF(proxy_header), 0, 2, 0, NULL,
     proxy_header_names, 0, 0},
    /* permessage-deflate (RFC 7692; worker/wk_deflate.c): off unless
     * enabled. window_bits bounds our compressor's window and, when the
     * client lets us, the client's (and so the inflate memory a client
     * that keeps its context costs); mem_level and level are zlib's for
     * the worker's compressors; a message under min_bytes goes out
     * uncompressed. */
    {"compression.enabled", SETTING_BOOL, OFF(deflate), 0, 1, 0, NULL, NULL, 0,
     0},
    {"compression.window_bits", SETTING_UINT, OFF(deflate_window_bits), 9, 15,
     15, NULL, NULL, 0, 0},
    {"compression.mem_level", SETTING_UINT, OFF(deflate_mem_level), 1, 9, 8,
     NULL, NULL, 0, 0},
    {"compression.level", SETTING_UINT, OFF(deflate_level), 1, 9, 6, NULL, NULL,
     0, 0},
    {"compression.min_bytes", SETTING_UINT, OFF(deflate_min_bytes), 0,
     16u << 20, 256, NULL, NULL, 0, 0},
    /* Filled by the supervisor (settings.h): certificates with their
     * keys, and the ticket keys it rotates. */
    {"tls:certs", SETTING_LIST, OFF(tls_certs), 0, 64, 0, NULL, NULL, 65536,
     SETTING_SECRET},
    {"tls:tickets", SETTING_LIST, OFF(tls_tickets), 0, 4, 0, NULL, NULL, 160,
     SETTING_SECRET},
    /* The demo page's token key (settings.h), hex; "" before the
     * supervisor has drawn it. */
    {"demo:key", SETTING_STR, OFF(demo_key), 0, 64, 0, "", NULL, 0,
     SETTING_SECRET},
};

const size_t settings_worker_n =
    sizeof(settings_worker) / sizeof(settings_worker[0]);

static void *
at(const struct setting_row *r, void *base)
{
	return (char *)base + r->off;
}

static const void *
at_c(const struct setting_row *r, const void *base)
{
	return (const char *)base + r->off;
}

static int
is_num(const struct setting_row *r)
{
	return r->kind == SETTING_UINT || r->kind == SETTING_INT ||
	       r->kind == SETTING_BOOL || r->kind == SETTING_ENUM;
}

const struct setting_row *
settings_find(const struct setting_row *rows, size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(rows[i].key, key) == 0)
			return &rows[i];
	return NULL;
}

uint64_t
setting_get_num(const struct setting_row *r, const void *base)
{
	if (r->kind == SETTING_UINT)
		return *(const uint64_t *)at_c(r, base);
	return (uint64_t) * (const int *)at_c(r, base);
}

int
setting_set_num(const struct setting_row *r, void *base, uint64_t v)
{
	if (!is_num(r) || v < r->min || v > r->max)
		return WSD_EINVAL;
	if (r->kind == SETTING_UINT)
		*(uint64_t *)at(r, base) = v;
	else
		*(int *)at(r, base) = (int)v;
	return WSD_OK;
}

static int
str_ok(const char *s, size_t len, uint64_t min, uint64_t max)
{
	return len >= min && len <= max &&
	       (len == 0 || memchr(s, '\0', len) == NULL);
}

int
setting_set_str(const struct setting_row *r, void *base, const char *s,
		size_t len)
{
	struct setting_list *l;
	char *copy, **v;

	if (r->kind == SETTING_STR) {
		if (!str_ok(s, len, r->min, r->max))
			return WSD_EINVAL;
		if ((copy = strndup(len ? s : "", len)) == NULL)
			return WSD_ENOMEM;
		free(*(char **)at(r, base));
		*(char **)at(r, base) = copy;
		return WSD_OK;
	}
	if (r->kind != SETTING_LIST)
		return WSD_EINVAL;
	l = at(r, base);
	if (l->n >= r->max || !str_ok(s, len, 0, r->elem_max))
		return WSD_EINVAL;
	if ((v = realloc(l->v, (l->n + 1) * sizeof(*v))) == NULL)
		return WSD_ENOMEM;
	l->v = v;
	if ((l->v[l->n] = strndup(len ? s : "", len)) == NULL)
		return WSD_ENOMEM;
	l->n++;
	return WSD_OK;
}

void
setting_list_clear(const struct setting_row *r, void *base)
{
	struct setting_list *l = at(r, base);
	uint32_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int
setting_enum_find(const struct setting_row *r, const char *name)
{
	uint64_t i;

	for (i = 0; r->names != NULL && i <= r->max; i++)
		if (strcmp(r->names[i], name) == 0)
			return (int)i;
	return WSD_EINVAL;
}

void
settings_free(const struct setting_row *rows, size_t n, void *base)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (rows[i].kind == SETTING_STR) {
			free(*(char **)at(&rows[i], base));
			*(char **)at(&rows[i], base) = NULL;
		} else if (rows[i].kind == SETTING_LIST) {
			setting_list_clear(&rows[i], base);
		}
	}
}

int
settings_init(const struct setting_row *rows, size_t n, void *base)
{
	const struct setting_row *r;
	int rc;

	/* What base held before is not ours to free. */
	for (r = rows; r < rows + n; r++) {
		if (r->kind == SETTING_STR)
			*(char **)at(r, base) = NULL;
		else if (r->kind == SETTING_LIST)
			memset(at(r, base), 0, sizeof(struct setting_list));
	}
	for (r = rows; r < rows + n; r++) {
		if (is_num(r))
			rc = setting_set_num(r, base, r->def);
		else if (r->kind == SETTING_STR)
			rc = setting_set_str(r, base, r->sdef, strlen(r->sdef));
		else
			rc = WSD_OK; /* a list starts empty */
		if (rc != WSD_OK)
			return rc;
	}
	return WSD_OK;
}

static int
lists_equal(const struct setting_list *a, const struct setting_list *b)
{
	uint32_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return 0;
	return 1;
}

int
settings_room_policy(const char *entry, size_t *patlen, int *policy,
		     const char **why)
{
	const char *eq = strrchr(entry, '=');
	int i;

	if (eq == NULL || eq == entry) {
		*why = "not PATTERN=POLICY";
		return -1;
	}
	for (i = 0; i <= PROTO_SLOW_LATEST_PER_KEY; i++)
		if (strcmp(eq + 1, proto_slow_names[i]) == 0) {
			*patlen = (size_t)(eq - entry);
			*policy = i;
			return 0;
		}
	*why = "the policy is not disconnect, drop_newest, drop_oldest or "
	       "latest_per_key";
	return -1;
}

void
settings_each_diff(const struct setting_row *rows, size_t n, const void *a,
		   const void *b, settings_diff_fn *fn, void *arg)
{
	const struct setting_row *r;
	char x[64], y[64];

	for (r = rows; r < rows + n; r++) {
		if (is_num(r)) {
			uint64_t va = setting_get_num(r, a);
			uint64_t vb = setting_get_num(r, b);

			if (va == vb)
				continue;
			if (r->kind == SETTING_ENUM) {
				fn(arg, r->key, r->names[va], r->names[vb]);
				continue;
			}
			snprintf(x, sizeof(x), "%llu", (unsigned long long)va);
			snprintf(y, sizeof(y), "%llu", (unsigned long long)vb);
			fn(arg, r->key, x, y);
		} else if (r->kind == SETTING_STR) {
			const char *sa = *(char *const *)at_c(r, a);
			const char *sb = *(char *const *)at_c(r, b);

			if (strcmp(sa, sb) == 0)
				continue;
			if (r->flags & SETTING_SECRET)
				fn(arg, r->key, "*", "*");
			else
				fn(arg, r->key, sa, sb);
		} else {
			const struct setting_list *la = at_c(r, a);
			const struct setting_list *lb = at_c(r, b);

			if (lists_equal(la, lb))
				continue;
			snprintf(x, sizeof(x), "%u", la->n);
			snprintf(y, sizeof(y), "%u", lb->n);
			fn(arg, r->key, x, y);
		}
	}
}

struct diff_buf {
	char *buf;
	size_t len;
};

static void
diff_add(void *arg, const char *key, const char *from, const char *to)
{
	struct diff_buf *d = arg;
	size_t n = strlen(d->buf);

	if (n + 1 >= d->len)
		return;
	snprintf(d->buf + n, d->len - n, "%s%s %s -> %s", n ? ", " : "", key,
		 from, to);
}

void
settings_diff(const struct setting_row *rows, size_t n, const void *a,
	      const void *b, char *buf, size_t len)
{
	struct diff_buf d = {buf, len};

	settings_each_diff(rows, n, a, b, diff_add, &d);
}

static int
pack_str(msgpack_packer *pk, const char *s)
{
	size_t len = strlen(s);

	if (msgpack_pack_str(pk, len) != 0 ||
	    msgpack_pack_str_body(pk, s, len) != 0)
		return WSD_ENOMEM;
	return WSD_OK;
}

int
settings_pack(msgpack_packer *pk, const struct settings *s)
{
	const struct setting_row *r;
	const struct setting_list *l;
	uint32_t i;

	if (msgpack_pack_array(pk, settings_worker_n) != 0)
		return WSD_ENOMEM;
	for (r = settings_worker; r < settings_worker + settings_worker_n;
	     r++) {
		if (is_num(r)) {
			if (msgpack_pack_uint64(pk, setting_get_num(r, s)) != 0)
				return WSD_ENOMEM;
		} else if (r->kind == SETTING_STR) {
			if (pack_str(pk, *(char *const *)at_c(r, s)) != WSD_OK)
				return WSD_ENOMEM;
		} else {
			l = at_c(r, s);
			if (msgpack_pack_array(pk, l->n) != 0)
				return WSD_ENOMEM;
			for (i = 0; i < l->n; i++)
				if (pack_str(pk, l->v[i]) != WSD_OK)
					return WSD_ENOMEM;
		}
	}
	return WSD_OK;
}

static int
check_str(const msgpack_object *o, uint64_t min, uint64_t max)
{
	return o->type == MSGPACK_OBJECT_STR &&
	       str_ok(o->via.str.ptr, o->via.str.size, min, max);
}

/* Is o a valid value of row r? */
static int
check_value(const struct setting_row *r, const msgpack_object *o)
{
	uint32_t i;

	if (is_num(r))
		return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
		       o->via.u64 >= r->min && o->via.u64 <= r->max;
	if (r->kind == SETTING_STR)
		return check_str(o, r->min, r->max);
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < r->min ||
	    o->via.array.size > r->max)
		return 0;
	for (i = 0; i < o->via.array.size; i++)
		if (!check_str(&o->via.array.ptr[i], 0, r->elem_max))
			return 0;
	return 1;
}

int
settings_check(const msgpack_object *o)
{
	size_t i;

	if (o->type != MSGPACK_OBJECT_ARRAY ||
	    o->via.array.size != settings_worker_n)
		return WSD_EPROTO;
	for (i = 0; i < settings_worker_n; i++)
		if (!check_value(&settings_worker[i], &o->via.array.ptr[i]))
			return WSD_EPROTO;
	return WSD_OK;
}

int
settings_load(struct settings *out, const msgpack_object *o)
{
	const struct setting_row *r;
	const msgpack_object *v;
	uint32_t i;
	int rc = WSD_OK;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < settings_worker_n && rc == WSD_OK; i++) {
		r = &settings_worker[i];
		v = &o->via.array.ptr[i];
		if (is_num(r)) {
			rc = setting_set_num(r, out, v->via.u64);
		} else if (r->kind == SETTING_STR) {
			rc = setting_set_str(r, out, v->via.str.ptr,
					     v->via.str.size);
		} else {
			uint32_t j;

			for (j = 0; j < v->via.array.size && rc == WSD_OK; j++)
				rc = setting_set_str(
				    r, out, v->via.array.ptr[j].via.str.ptr,
				    v->via.array.ptr[j].via.str.size);
		}
	}
	return rc;
}
