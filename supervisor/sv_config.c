/*
 * sv_config.c: builds a configuration generation from defaults, a libconfig
 * file and command-line overrides.
 *
 * The keys are one table: name (dotted for groups), kind, where the value
 * goes and its allowed range. Loading walks the file's settings and looks
 * each one up in the table, so an unknown key or a value of the wrong
 * type or range is an error that names the file and line. Nothing is
 * applied until the whole file checked out.
 */
#include "sv_config.h"

#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/log.h"

enum kind { K_INT, K_BOOL, K_STR, K_LEVEL, K_SLOW, K_STRLIST };

struct key {
	const char *name;
	enum kind kind;
	size_t off;
	uint64_t min, max;
};

#define OFF(f) offsetof(struct sv_config, f)

static const struct key keys[] = {
    {"listen", K_STR, OFF(listen), 0, 0},
    {"workers", K_INT, OFF(workers), 1, SV_MAX_WORKERS},
    {"run_dir", K_STR, OFF(run_dir), 0, 0},
    {"control_socket", K_STR, OFF(control_socket), 0, 0},
    {"admin_listen", K_STR, OFF(admin_listen), 0, 0},
    {"pidfile", K_STR, OFF(pidfile), 0, 0},
    {"log_level", K_LEVEL, OFF(log_level), 0, 0},
    {"log_file", K_STR, OFF(log_file), 0, 0},
    {"ws_path", K_STR, OFF(ws_path), 0, 0},
    {"echo_path", K_STR, OFF(echo_path), 0, 0},
    {"demo_page", K_BOOL, OFF(demo_page), 0, 1},
    {"allow_anonymous", K_BOOL, OFF(allow_anonymous), 0, 1},
    {"origins", K_STRLIST, OFF(origins), 0, PROTO_MAX_ORIGINS},
    {"jwt_secret", K_STR, OFF(jwt_secret), 0, 0},
    {"limits.max_connections", K_INT, OFF(max_connections), 1, 10000000},
    {"limits.max_connections_per_user", K_INT, OFF(max_connections_per_user), 1,
     10000000},
    /* Re-serialized JSON may grow; 16 MB leaves room under the IPC cap. */
    {"limits.max_message_bytes", K_INT, OFF(max_message_bytes), 16, 16u << 20},
    {"limits.max_header_bytes", K_INT, OFF(max_header_bytes), 512, 65536},
    {"limits.max_queue_bytes", K_INT, OFF(max_queue_bytes), 1024, 1ull << 32},
    {"limits.max_queue_msgs", K_INT, OFF(max_queue_msgs), 1, 1000000},
    {"limits.slow_consumer", K_SLOW, OFF(slow_policy), 0, 0},
    {"limits.max_rooms_per_conn", K_INT, OFF(max_rooms_per_conn), 1, 100000},
    {"heartbeat.interval_ms", K_INT, OFF(heartbeat_interval_ms), 100, 3600000},
    {"heartbeat.timeout_ms", K_INT, OFF(heartbeat_timeout_ms), 100, 3600000},
    {"heartbeat.handshake_timeout_ms", K_INT, OFF(handshake_timeout_ms), 100,
     600000},
    {"replay.size", K_INT, OFF(replay_size), 0, 1000000},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const slow_names[] = {"disconnect", "drop_newest",
					 "drop_oldest"};

static void *
field(struct sv_config *c, const struct key *k)
{
	return (char *)c + k->off;
}

static int
set_str(char **dst, const char *v)
{
	char *s = strdup(v);

	if (s == NULL)
		return -1;
	free(*dst);
	*dst = s;
	return 0;
}

static int
set_defaults(struct sv_config *c)
{
	c->workers = 2;
	c->log_level = LOG_LEVEL_INFO;
	c->demo_page = 1;
	c->allow_anonymous = 1;
	c->max_connections = 100000;
	c->max_connections_per_user = 100;
	c->max_message_bytes = 65536;
	c->max_header_bytes = 8192;
	c->max_queue_bytes = 1048576;
	c->max_queue_msgs = 4096;
	c->slow_policy = PROTO_SLOW_DISCONNECT;
	c->max_rooms_per_conn = 128;
	c->heartbeat_interval_ms = 25000;
	c->heartbeat_timeout_ms = 10000;
	c->handshake_timeout_ms = 10000;
	c->replay_size = 256;
	if (set_str(&c->listen, "127.0.0.1:8080") != 0 ||
	    set_str(&c->run_dir, "/tmp/wsd") != 0 ||
	    set_str(&c->control_socket, "") != 0 ||
	    set_str(&c->admin_listen, "127.0.0.1:8081") != 0 ||
	    set_str(&c->pidfile, "") != 0 || set_str(&c->log_file, "") != 0 ||
	    set_str(&c->ws_path, "/ws") != 0 ||
	    set_str(&c->echo_path, "") != 0 || set_str(&c->jwt_secret, "") != 0)
		return -1;
	return 0;
}

static void
fail_at(char *err, size_t errlen, const char *file, const config_setting_t *s,
	const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (s != NULL && config_setting_source_line(s) > 0)
		snprintf(err, errlen, "%s:%u: %s", file,
			 config_setting_source_line(s), what);
	else
		snprintf(err, errlen, "%s: %s", file, what);
}

static const struct key *
key_find(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static int
apply_int(struct sv_config *c, const struct key *k, config_setting_t *s,
	  const char *file, char *err, size_t errlen)
{
	long long v;
	int t = config_setting_type(s);

	if (k->kind == K_BOOL) {
		if (t != CONFIG_TYPE_BOOL) {
			fail_at(err, errlen, file, s,
				"%s must be true or false", k->name);
			return -1;
		}
		*(int *)field(c, k) = config_setting_get_bool(s);
		return 0;
	}
	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
		fail_at(err, errlen, file, s, "%s must be an integer", k->name);
		return -1;
	}
	v = config_setting_get_int64(s);
	if (v < 0 || (uint64_t)v < k->min || (uint64_t)v > k->max) {
		fail_at(err, errlen, file, s,
			"%s must be between %llu and %llu", k->name,
			(unsigned long long)k->min, (unsigned long long)k->max);
		return -1;
	}
	if (strcmp(k->name, "workers") == 0)
		*(int *)field(c, k) = (int)v;
	else
		*(uint64_t *)field(c, k) = (uint64_t)v;
	return 0;
}

static int
apply_named(struct sv_config *c, const struct key *k, config_setting_t *s,
	    const char *file, char *err, size_t errlen)
{
	const char *v = config_setting_get_string(s);
	int i;

	if (v == NULL) {
		fail_at(err, errlen, file, s, "%s must be a string", k->name);
		return -1;
	}
	if (k->kind == K_STR)
		return set_str(field(c, k), v);
	if (k->kind == K_LEVEL) {
		if ((i = log_level_parse(v)) < 0) {
			fail_at(err, errlen, file, s,
				"log_level must be error, warn, info or debug");
			return -1;
		}
		c->log_level = i;
		return 0;
	}
	for (i = 0; i < 3; i++)
		if (strcmp(v, slow_names[i]) == 0) {
			c->slow_policy = i;
			return 0;
		}
	fail_at(err, errlen, file, s,
		"slow_consumer must be disconnect, drop_newest or drop_oldest");
	return -1;
}

static int
apply_list(struct sv_config *c, config_setting_t *s, const char *file,
	   char *err, size_t errlen)
{
	int i, n;

	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		fail_at(err, errlen, file, s, "origins must be a list [ ... ]");
		return -1;
	}
	n = config_setting_length(s);
	if (n > PROTO_MAX_ORIGINS) {
		fail_at(err, errlen, file, s, "at most %d origins",
			PROTO_MAX_ORIGINS);
		return -1;
	}
	for (i = 0; i < c->norigins; i++)
		free(c->origins[i]);
	c->norigins = 0;
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);

		if (v == NULL) {
			fail_at(err, errlen, file, e,
				"origins must be strings");
			return -1;
		}
		if ((c->origins[i] = strdup(v)) == NULL)
			return -1;
		c->norigins++;
	}
	return 0;
}

static int
apply_setting(struct sv_config *c, config_setting_t *s, const char *prefix,
	      const char *file, char *err, size_t errlen)
{
	char name[128];
	const struct key *k;
	int i, n;

	snprintf(name, sizeof(name), "%s%s", prefix,
		 config_setting_name(s) ? config_setting_name(s) : "");
	if (config_setting_is_group(s)) {
		if (*prefix != '\0') {
			fail_at(err, errlen, file, s, "unknown group %s", name);
			return -1;
		}
		if (strcmp(name, "limits") != 0 &&
		    strcmp(name, "heartbeat") != 0 &&
		    strcmp(name, "replay") != 0) {
			fail_at(err, errlen, file, s, "unknown group %s", name);
			return -1;
		}
		strncat(name, ".", sizeof(name) - strlen(name) - 1);
		n = config_setting_length(s);
		for (i = 0; i < n; i++)
			if (apply_setting(
				c, config_setting_get_elem(s, (unsigned)i),
				name, file, err, errlen) != 0)
				return -1;
		return 0;
	}
	if ((k = key_find(name)) == NULL) {
		fail_at(err, errlen, file, s, "unknown key %s", name);
		return -1;
	}
	switch (k->kind) {
	case K_INT:
	case K_BOOL: return apply_int(c, k, s, file, err, errlen);
	case K_STRLIST: return apply_list(c, s, file, err, errlen);
	default: return apply_named(c, k, s, file, err, errlen);
	}
}

static int
check_whole(struct sv_config *c, const char *file, char *err, size_t errlen)
{
	char host[256];
	int port;

	if (sv_parse_hostport(c->listen, host, sizeof(host), &port) != 0) {
		snprintf(err, errlen, "%s: listen \"%s\" is not ADDR:PORT",
			 file, c->listen);
		return -1;
	}
	if (*c->admin_listen != '\0' &&
	    sv_parse_hostport(c->admin_listen, host, sizeof(host), &port) !=
		0) {
		snprintf(err, errlen,
			 "%s: admin_listen \"%s\" is not ADDR:PORT", file,
			 c->admin_listen);
		return -1;
	}
	/* Until the admin API has a bearer key, it stays on loopback. */
	if (*c->admin_listen != '\0' &&
	    sv_parse_hostport(c->admin_listen, host, sizeof(host), &port) ==
		0 &&
	    strncmp(host, "127.", 4) != 0 && strcmp(host, "::1") != 0 &&
	    strcmp(host, "localhost") != 0) {
		snprintf(err, errlen,
			 "%s: admin_listen must be a loopback "
			 "address (the admin API has no "
			 "authentication yet)",
			 file);
		return -1;
	}
	if (c->ws_path[0] != '/' ||
	    (c->echo_path[0] != '\0' && c->echo_path[0] != '/')) {
		snprintf(err, errlen,
			 "%s: ws_path and echo_path must start "
			 "with /",
			 file);
		return -1;
	}
	if (strcmp(c->ws_path, c->echo_path) == 0) {
		snprintf(err, errlen, "%s: ws_path and echo_path must differ",
			 file);
		return -1;
	}
	/* What workers get in CONFIG must pass the IPC decoder's limits. */
	if (strlen(c->ws_path) > 256 || strlen(c->echo_path) > 256 ||
	    strlen(c->jwt_secret) > 512) {
		snprintf(err, errlen,
			 "%s: ws_path and echo_path are limited to 256 bytes, "
			 "jwt_secret to 512",
			 file);
		return -1;
	}
	for (int i = 0; i < c->norigins; i++)
		if (strlen(c->origins[i]) > 256) {
			snprintf(err, errlen,
				 "%s: an origin is limited to 256 bytes", file);
			return -1;
		}
	if (c->max_queue_bytes < c->max_message_bytes + 1024) {
		snprintf(err, errlen,
			 "%s: limits.max_queue_bytes must be at least "
			 "max_message_bytes + 1024",
			 file);
		return -1;
	}
	if (c->run_dir[0] == '\0' || strlen(c->run_dir) > 80) {
		snprintf(err, errlen,
			 "%s: run_dir must be a path of at most "
			 "80 bytes",
			 file);
		return -1;
	}
	return 0;
}

static int
derive_paths(struct sv_config *c)
{
	char buf[512];

	if (c->control_socket[0] == '\0') {
		snprintf(buf, sizeof(buf), "%s/wsctl.sock", c->run_dir);
		if (set_str(&c->control_socket, buf) != 0)
			return -1;
	}
	if (c->pidfile[0] == '\0') {
		snprintf(buf, sizeof(buf), "%s/wsd.pid", c->run_dir);
		if (set_str(&c->pidfile, buf) != 0)
			return -1;
	}
	return 0;
}

static int
load_file(struct sv_config *c, const char *path, char *err, size_t errlen)
{
	config_t cf;
	config_setting_t *root;
	int i, n, rc = -1;

	config_init(&cf);
	if (config_read_file(&cf, path) != CONFIG_TRUE) {
		if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "%s: cannot read the file", path);
		else
			snprintf(err, errlen, "%s:%d: %s",
				 config_error_file(&cf) ? config_error_file(&cf)
							: path,
				 config_error_line(&cf),
				 config_error_text(&cf));
		goto done;
	}
	root = config_root_setting(&cf);
	n = config_setting_length(root);
	for (i = 0; i < n; i++)
		if (apply_setting(c, config_setting_get_elem(root, (unsigned)i),
				  "", path, err, errlen) != 0)
			goto done;
	rc = 0;
done:
	config_destroy(&cf);
	return rc;
}

static int
apply_overrides(struct sv_config *c, const struct sv_overrides *ov)
{
	if (ov == NULL)
		return 0;
	if ((ov->listen && set_str(&c->listen, ov->listen) != 0) ||
	    (ov->control_socket &&
	     set_str(&c->control_socket, ov->control_socket) != 0) ||
	    (ov->admin_listen &&
	     set_str(&c->admin_listen, ov->admin_listen) != 0) ||
	    (ov->run_dir && set_str(&c->run_dir, ov->run_dir) != 0))
		return -1;
	if (ov->workers > 0)
		c->workers = ov->workers;
	return 0;
}

struct sv_config *
sv_config_load(const char *path, const struct sv_overrides *ov, char *err,
	       size_t errlen)
{
	struct sv_config *c;
	const char *name = path ? path : "(defaults)";

	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto nomem;
	if (set_defaults(c) != 0)
		goto nomem;
	if (path != NULL) {
		if ((c->path = strdup(path)) == NULL)
			goto nomem;
		if (load_file(c, path, err, errlen) != 0)
			goto fail;
	}
	if (apply_overrides(c, ov) != 0)
		goto nomem;
	if (ov != NULL && ov->workers > SV_MAX_WORKERS) {
		snprintf(err, errlen, "-w: at most %d workers", SV_MAX_WORKERS);
		goto fail;
	}
	if (check_whole(c, name, err, errlen) != 0)
		goto fail;
	if (derive_paths(c) != 0)
		goto nomem;
	return c;
nomem:
	snprintf(err, errlen, "%s: out of memory", name);
fail:
	sv_config_free(c);
	return NULL;
}

void
sv_config_free(struct sv_config *c)
{
	int i;

	if (c == NULL)
		return;
	free(c->path);
	free(c->listen);
	free(c->run_dir);
	free(c->control_socket);
	free(c->admin_listen);
	free(c->pidfile);
	free(c->log_file);
	free(c->ws_path);
	free(c->echo_path);
	free(c->jwt_secret);
	for (i = 0; i < c->norigins; i++)
		free(c->origins[i]);
	free(c);
}

void
sv_config_to_proto(const struct sv_config *c, struct proto_config *pc)
{
	int i;

	memset(pc, 0, sizeof(*pc));
	pc->max_message_bytes = c->max_message_bytes;
	pc->max_header_bytes = c->max_header_bytes;
	pc->max_queue_bytes = c->max_queue_bytes;
	pc->max_queue_msgs = c->max_queue_msgs;
	pc->max_rooms_per_conn = c->max_rooms_per_conn;
	pc->slow_policy = (uint64_t)c->slow_policy;
	pc->heartbeat_interval_ms = c->heartbeat_interval_ms;
	pc->heartbeat_timeout_ms = c->heartbeat_timeout_ms;
	pc->handshake_timeout_ms = c->handshake_timeout_ms;
	pc->allow_anonymous = (uint64_t)c->allow_anonymous;
	pc->demo_page = (uint64_t)c->demo_page;
	pc->ws_path = proto_cstr(c->ws_path);
	pc->echo_path = proto_cstr(c->echo_path);
	pc->jwt_secret = proto_cstr(c->jwt_secret);
	pc->norigins = (uint32_t)c->norigins;
	for (i = 0; i < c->norigins; i++)
		pc->origins[i] = proto_cstr(c->origins[i]);
}

static void
diff_add(char *buf, size_t len, const char *name, const char *from,
	 const char *to)
{
	size_t n = strlen(buf);

	if (n >= len - 1)
		return;
	snprintf(buf + n, len - n, "%s%s %s -> %s", n ? ", " : "", name, from,
		 to);
}

void
sv_config_diff(const struct sv_config *a, const struct sv_config *b, char *buf,
	       size_t len)
{
	char x[64], y[64];
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		const void *fa = (const char *)a + k->off;
		const void *fb = (const char *)b + k->off;

		if (k->kind == K_STR) {
			const char *sa = *(char *const *)fa;
			const char *sb = *(char *const *)fb;

			if (strcmp(sa, sb) != 0)
				diff_add(
				    buf, len, k->name,
				    strcmp(k->name, "jwt_secret") ? sa : "*",
				    strcmp(k->name, "jwt_secret") ? sb : "*");
			continue;
		}
		if (k->kind == K_STRLIST) {
			int j, same = a->norigins == b->norigins;

			for (j = 0; same && j < a->norigins; j++)
				same =
				    strcmp(a->origins[j], b->origins[j]) == 0;
			if (!same) {
				snprintf(x, sizeof(x), "%d", a->norigins);
				snprintf(y, sizeof(y), "%d", b->norigins);
				diff_add(buf, len, "origins", x, y);
			}
			continue;
		}
		if (k->kind == K_INT && strcmp(k->name, "workers") != 0) {
			uint64_t va = *(const uint64_t *)fa;
			uint64_t vb = *(const uint64_t *)fb;

			if (va == vb)
				continue;
			snprintf(x, sizeof(x), "%llu", (unsigned long long)va);
			snprintf(y, sizeof(y), "%llu", (unsigned long long)vb);
		} else {
			int va = *(const int *)fa, vb = *(const int *)fb;

			if (va == vb)
				continue;
			snprintf(x, sizeof(x), "%d", va);
			snprintf(y, sizeof(y), "%d", vb);
		}
		diff_add(buf, len, k->name, x, y);
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "nothing");
}

int
sv_parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon;
	char *end;
	long p;
	size_t hl;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':')
			return -1;
		hl = (size_t)(rb - s - 1);
		s++;
		colon = rb + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return -1;
		hl = (size_t)(colon - s);
	}
	if (hl >= hostlen)
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || end == colon + 1 || p < 0 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}
