/*
 * sv_config.c: builds a configuration generation from defaults, a libconfig
 * file and command-line overrides.
 *
 * Every key is a row of one of two tables of the same kind
 * (proto/settings.h): sv_keys below for the supervisor's own keys, and
 * proto's settings_worker for what the workers get. Loading walks the
 * file's settings and looks each one up in the tables, so an unknown key
 * or a value of the wrong type or range is an error that names the file
 * and line. Nothing is applied until the whole file checked out.
 */
#include "sv_config.h"

#include <errno.h>
#include <libconfig.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../proto/addr.h"
#include "../proto/err.h"
#include "../proto/jwt.h"
#include "../proto/log.h"
#include "../proto/room.h"
#include "sv_slot.h"

#define OFF(f) offsetof(struct sv_config, f)

static const char *const engine_names[] = {"memory", "redis", NULL};
#define PATH_MAX_BYTES 4095
#define ADMIN_KEY_MIN 16  /* bytes: a key a person cannot guess */
#define ADMIN_KEY_MAX 256 /* bytes */

static const struct setting_row sv_keys[] = {
    {"listen", SETTING_STR, OFF(listen), 1, PATH_MAX_BYTES, 0, "127.0.0.1:8080",
     NULL, 0, 0},
    {"workers", SETTING_INT, OFF(workers), 1, SV_MAX_WORKERS, 2, NULL, NULL, 0,
     0},
    /* The socket paths below it must fit a sockaddr_un. */
    {"run_dir", SETTING_STR, OFF(run_dir), 1, 80, 0, "/tmp/wsd", NULL, 0, 0},
    {"control_socket", SETTING_STR, OFF(control_socket), 0, PATH_MAX_BYTES, 0,
     "", NULL, 0, 0},
    {"admin_listen", SETTING_STR, OFF(admin_listen), 0, PATH_MAX_BYTES, 0,
     "127.0.0.1:8081", NULL, 0, 0},
    {"pidfile", SETTING_STR, OFF(pidfile), 0, PATH_MAX_BYTES, 0, "", NULL, 0,
     0},
    /* The admin API's bearer key: required beyond loopback. */
    {"admin.key", SETTING_STR, OFF(admin_key), 0, ADMIN_KEY_MAX, 0, "", NULL, 0,
     SETTING_SECRET},
    {"admin.key_file", SETTING_STR, OFF(admin_key_file), 0, PATH_MAX_BYTES, 0,
     "", NULL, 0, 0},
    {"admin.metrics_public", SETTING_BOOL, OFF(admin_metrics_public), 0, 1, 0,
     NULL, NULL, 0, 0},
    {"state_dir", SETTING_STR, OFF(state_dir), 0, PATH_MAX_BYTES - 16, 0, "",
     NULL, 0, 0},
    {"state_snapshot_ms", SETTING_UINT, OFF(state_snapshot_ms), 0, 86400000, 0,
     NULL, NULL, 0, 0},
    /* 0: no limit (the default for the global and per-user limits). */
    {"limits.max_connections", SETTING_UINT, OFF(max_connections), 0, 10000000,
     0, NULL, NULL, 0, 0},
    {"limits.max_connections_per_user", SETTING_UINT,
     OFF(max_connections_per_user), 0, 10000000, 0, NULL, NULL, 0, 0},
    {"limits.max_connections_per_address", SETTING_UINT,
     OFF(max_connections_per_address), 0, 10000000, 1000, NULL, NULL, 0, 0},
    /* New connections a second (token buckets; 0: no limit; a burst of
     * 0 is one second's worth). */
    {"limits.connect_rate", SETTING_UINT, OFF(connect_rate), 0, 10000000, 0,
     NULL, NULL, 0, 0},
    {"limits.connect_burst", SETTING_UINT, OFF(connect_burst), 0, 10000000, 0,
     NULL, NULL, 0, 0},
    {"limits.connect_rate_per_address", SETTING_UINT,
     OFF(connect_rate_per_address), 0, 10000000, 0, NULL, NULL, 0, 0},
    {"limits.connect_burst_per_address", SETTING_UINT,
     OFF(connect_burst_per_address), 0, 10000000, 0, NULL, NULL, 0, 0},
    {"restart.max_exits", SETTING_UINT, OFF(restart_max_exits), 0,
     SV_SLOT_EXITS_MAX, 5, NULL, NULL, 0, 0},
    {"restart.window_ms", SETTING_UINT, OFF(restart_window_ms), 1000, 86400000,
     60000, NULL, NULL, 0, 0},
    {"drain.spread_ms", SETTING_UINT, OFF(drain_spread_ms), 0, 600000, 10000,
     NULL, NULL, 0, 0},
    {"ready.min_workers", SETTING_UINT, OFF(ready_min_workers), 0,
     SV_MAX_WORKERS, 1, NULL, NULL, 0, 0},
    {"limits.max_rooms", SETTING_UINT, OFF(max_rooms), 1, 100000000, 100000,
     NULL, NULL, 0, 0},
    {"replay.size", SETTING_UINT, OFF(replay_size), 0, 1000000, 256, NULL, NULL,
     0, 0},
    {"replay.ttl_ms", SETTING_UINT, OFF(replay_ttl_ms), 1000, 604800000, 600000,
     NULL, NULL, 0, 0},
    {"replay.max_bytes", SETTING_UINT, OFF(replay_max_bytes), 0,
     UINT64_C(1) << 40, UINT64_C(64) << 20, NULL, NULL, 0, 0},
    {"sessions.ttl_ms", SETTING_UINT, OFF(session_ttl_ms), 1000, 604800000,
     300000, NULL, NULL, 0, 0},
    {"sessions.max", SETTING_UINT, OFF(sessions_max), 0, 100000000, 100000,
     NULL, NULL, 0, 0},
    {"sessions.max_bytes", SETTING_UINT, OFF(sessions_max_bytes), 0,
     UINT64_C(1) << 40, UINT64_C(64) << 20, NULL, NULL, 0, 0},
    {"sessions.token_ttl_ms", SETTING_UINT, OFF(token_ttl_ms), 1000,
     UINT64_C(31536000000), 86400000, NULL, NULL, 0, 0},
    {"sessions.keys", SETTING_LIST, OFF(session_keys), 0, SV_KEYS_MAX, 0, NULL,
     NULL, SV_KEY_ID_MAX + 1 + SV_KEY_SECRET_MAX, SETTING_SECRET},
    {"sessions.key_file", SETTING_STR, OFF(key_file), 0, PATH_MAX_BYTES, 0, "",
     NULL, 0, 0},
    {"presence.query", SETTING_LIST, OFF(presence_query), 0, 64, 0, NULL, NULL,
     ROOM_NAME_MAX, 0},
    {"presence.announce", SETTING_LIST, OFF(presence_announce), 0, 64, 0, NULL,
     NULL, ROOM_NAME_MAX, 0},
    /* Where rooms, sessions and presence live: this process, or Redis
     * shared by several nodes (sv_reng.c). */
    {"engine", SETTING_ENUM, OFF(engine), 0, SV_ENGINE_REDIS, SV_ENGINE_MEMORY,
     NULL, engine_names, 0, 0},
    {"redis.addresses", SETTING_LIST, OFF(redis_addresses), 0, 16, 0, NULL,
     NULL, 255, 0},
    {"redis.prefix", SETTING_STR, OFF(redis_prefix), 1, 64, 0, "wsd:", NULL, 0,
     0},
    {"redis.timeout_ms", SETTING_UINT, OFF(redis_timeout_ms), 50, 60000, 2000,
     NULL, NULL, 0, 0},
    {"redis.node_ttl_ms", SETTING_UINT, OFF(redis_node_ttl_ms), 1000, 600000,
     10000, NULL, NULL, 0, 0},
    {"node_id", SETTING_STR, OFF(node_id), 0, 128, 0, "", NULL, 0, 0},
};

#define NKEYS (sizeof(sv_keys) / sizeof(sv_keys[0]))

/* The groups a file may have; every key in one is "group.key". */
static const char *const groups[] = {
    "limits",  "heartbeat", "replay", "sessions", "presence",	 "jwt",
    "restart", "ready",	    "drain",  "admin",	  "compression", "redis"};

static int set_cstr(struct sv_config *c, const char *key, const char *v);

/* The row of a key in either table, and the struct its value lives in. */
static const struct setting_row *
key_find(struct sv_config *c, const char *name, void **base)
{
	const struct setting_row *r;

	if ((r = settings_find(sv_keys, NKEYS, name)) != NULL) {
		*base = c;
		return r;
	}
	if ((r = settings_find(settings_worker, settings_worker_n, name)) !=
	    NULL) {
		*base = &c->w;
		return r;
	}
	return NULL;
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

/* "disconnect, drop_newest or drop_oldest" for an ENUM row. */
static void
enum_choices(const struct setting_row *r, char *buf, size_t len)
{
	size_t n = 0;
	uint64_t i;

	buf[0] = '\0';
	for (i = 0; i <= r->max && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s",
				      i == 0	    ? ""
				      : i == r->max ? " or "
						    : ", ",
				      r->names[i]);
}

/* The last part of a dotted key, as error messages name it. */
static const char *
short_key(const struct setting_row *r)
{
	const char *dot = strrchr(r->key, '.');

	return dot ? dot + 1 : r->key;
}

static int
apply_num(const struct setting_row *r, void *base, config_setting_t *s,
	  const char *file, char *err, size_t errlen)
{
	int t = config_setting_type(s);
	long long v;

	if (r->kind == SETTING_BOOL) {
		if (t != CONFIG_TYPE_BOOL) {
			fail_at(err, errlen, file, s,
				"%s must be true or false", r->key);
			return WSD_EINVAL;
		}
		return setting_set_num(r, base,
				       (uint64_t)config_setting_get_bool(s));
	}
	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
		fail_at(err, errlen, file, s, "%s must be an integer", r->key);
		return WSD_EINVAL;
	}
	v = config_setting_get_int64(s);
	if (v < 0 || setting_set_num(r, base, (uint64_t)v) != WSD_OK) {
		fail_at(err, errlen, file, s,
			"%s must be between %llu and %llu", r->key,
			(unsigned long long)r->min, (unsigned long long)r->max);
		return WSD_EINVAL;
	}
	return WSD_OK;
}

static int
apply_str(const struct setting_row *r, void *base, config_setting_t *s,
	  const char *file, char *err, size_t errlen)
{
	const char *v = config_setting_get_string(s);
	char choices[128];
	int i, rc;

	if (v == NULL) {
		fail_at(err, errlen, file, s, "%s must be a string", r->key);
		return WSD_EINVAL;
	}
	if (r->kind == SETTING_ENUM) {
		if ((i = setting_enum_find(r, v)) < 0) {
			enum_choices(r, choices, sizeof(choices));
			fail_at(err, errlen, file, s, "%s must be %s",
				short_key(r), choices);
			return WSD_EINVAL;
		}
		return setting_set_num(r, base, (uint64_t)i);
	}
	rc = setting_set_str(r, base, v, strlen(v));
	if (rc == WSD_EINVAL)
		fail_at(err, errlen, file, s, "%s must be %llu to %llu bytes",
			r->key, (unsigned long long)r->min,
			(unsigned long long)r->max);
	return rc;
}

static int
apply_list(const struct setting_row *r, void *base, config_setting_t *s,
	   const char *file, char *err, size_t errlen)
{
	int i, n, rc;

	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		fail_at(err, errlen, file, s, "%s must be a list [ ... ]",
			r->key);
		return WSD_EINVAL;
	}
	n = config_setting_length(s);
	if (n < 0 || (uint64_t)n > r->max) {
		fail_at(err, errlen, file, s, "at most %llu %s",
			(unsigned long long)r->max, r->key);
		return WSD_EINVAL;
	}
	setting_list_clear(r, base);
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);

		if (v == NULL) {
			fail_at(err, errlen, file, e, "%s must be strings",
				r->key);
			return WSD_EINVAL;
		}
		if ((rc = setting_set_str(r, base, v, strlen(v))) != WSD_OK) {
			if (rc == WSD_EINVAL)
				fail_at(err, errlen, file, e,
					"an element of %s is limited to %u "
					"bytes",
					r->key, r->elem_max);
			return rc;
		}
	}
	return WSD_OK;
}

/* A string member of a listeners group, copied into *out. */
static int
listener_str(config_setting_t *g, const char *name, char **out,
	     const char *file, char *err, size_t errlen)
{
	config_setting_t *m = config_setting_get_member(g, name);
	const char *v = m ? config_setting_get_string(m) : NULL;

	if (v == NULL || v[0] == '\0' || strlen(v) > PATH_MAX_BYTES) {
		fail_at(err, errlen, file, m ? m : g,
			"listeners: %s must be a non-empty string", name);
		return WSD_EINVAL;
	}
	if ((*out = strdup(v)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", file);
		return WSD_ENOMEM;
	}
	return WSD_OK;
}

/* Only the members in names[] may be in g. */
static int
listener_members(config_setting_t *g, const char *const *names,
		 const char *what, const char *file, char *err, size_t errlen)
{
	int i, n = config_setting_length(g);
	const char *const *k;

	for (i = 0; i < n; i++) {
		config_setting_t *m = config_setting_get_elem(g, (unsigned)i);

		for (k = names; *k != NULL; k++)
			if (strcmp(config_setting_name(m), *k) == 0)
				break;
		if (*k == NULL) {
			fail_at(err, errlen, file, m, "unknown key %s.%s", what,
				config_setting_name(m));
			return WSD_EINVAL;
		}
	}
	return WSD_OK;
}

/* One `tls` group: cert and key, or certs = ( { cert; key; }, ... ). */
static int
parse_tls(struct sv_listener *l, config_setting_t *t, const char *file,
	  char *err, size_t errlen)
{
	static const char *const tls_keys[] = {"cert", "key", "certs", NULL};
	static const char *const pair_keys[] = {"cert", "key", NULL};
	config_setting_t *certs = config_setting_get_member(t, "certs");
	int i, n, rc;

	if (!config_setting_is_group(t)) {
		fail_at(err, errlen, file, t, "listeners: tls must be a group");
		return WSD_EINVAL;
	}
	if ((rc = listener_members(t, tls_keys, "listeners.tls", file, err,
				   errlen)) != WSD_OK)
		return rc;
	l->tls = 1;
	if (config_setting_get_member(t, "cert") != NULL ||
	    config_setting_get_member(t, "key") != NULL || certs == NULL) {
		if ((rc = listener_str(t, "cert", &l->cert[0], file, err,
				       errlen)) != WSD_OK ||
		    (rc = listener_str(t, "key", &l->key[0], file, err,
				       errlen)) != WSD_OK)
			return rc;
		l->ncerts = 1;
	}
	if (certs == NULL)
		return WSD_OK;
	if (!config_setting_is_list(certs) ||
	    (n = config_setting_length(certs)) < 1 ||
	    (uint32_t)n + l->ncerts > SV_CERTS_MAX) {
		fail_at(err, errlen, file, certs,
			"listeners: tls.certs must be a list ( { cert = ...; "
			"key = ...; }, ... ) of 1 to %d",
			SV_CERTS_MAX);
		return WSD_EINVAL;
	}
	for (i = 0; i < n; i++) {
		config_setting_t *p =
		    config_setting_get_elem(certs, (unsigned)i);

		if (!config_setting_is_group(p) ||
		    (rc = listener_members(p, pair_keys, "listeners.tls.certs",
					   file, err, errlen)) != WSD_OK ||
		    (rc = listener_str(p, "cert", &l->cert[l->ncerts], file,
				       err, errlen)) != WSD_OK ||
		    (rc = listener_str(p, "key", &l->key[l->ncerts], file, err,
				       errlen)) != WSD_OK) {
			if (!config_setting_is_group(p))
				fail_at(err, errlen, file, p,
					"listeners: an element of tls.certs "
					"must be a group");
			return WSD_EINVAL;
		}
		l->ncerts++;
	}
	return WSD_OK;
}

/* listeners = ( { listen = "ADDR:PORT"; tls = { ... }; }, ... ). */
static int
parse_listeners(struct sv_config *c, config_setting_t *s, const char *file,
		char *err, size_t errlen)
{
	static const char *const keys[] = {"listen", "tls", NULL};
	int i, n, rc;

	if (!config_setting_is_list(s) || (n = config_setting_length(s)) < 1 ||
	    n > SV_LISTENERS_MAX) {
		fail_at(err, errlen, file, s,
			"listeners must be a list ( { listen = \"ADDR:PORT\"; "
			"}, ... ) of 1 to %d",
			SV_LISTENERS_MAX);
		return WSD_EINVAL;
	}
	for (i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
		struct sv_listener *l = &c->listeners[c->nlisteners];
		config_setting_t *t;

		if (!config_setting_is_group(g)) {
			fail_at(err, errlen, file, g,
				"listeners: each element must be a group");
			return WSD_EINVAL;
		}
		c->nlisteners++;
		l->line = config_setting_source_line(g);
		if ((rc = listener_members(g, keys, "listeners", file, err,
					   errlen)) != WSD_OK ||
		    (rc = listener_str(g, "listen", &l->listen, file, err,
				       errlen)) != WSD_OK)
			return rc;
		if (strchr(l->listen, ',') != NULL) {
			fail_at(err, errlen, file, g,
				"listeners: listen \"%s\" is not ADDR:PORT",
				l->listen);
			return WSD_EINVAL;
		}
		if ((t = config_setting_get_member(g, "tls")) != NULL &&
		    (rc = parse_tls(l, t, file, err, errlen)) != WSD_OK)
			return rc;
	}
	return WSD_OK;
}

static void
listeners_free(struct sv_config *c)
{
	uint32_t i, j;

	for (i = 0; i < c->nlisteners; i++) {
		free(c->listeners[i].listen);
		for (j = 0; j < c->listeners[i].ncerts; j++) {
			free(c->listeners[i].cert[j]);
			free(c->listeners[i].key[j]);
		}
	}
	memset(c->listeners, 0, sizeof(c->listeners));
	c->nlisteners = 0;
}

/*
 * Read a PEM file whole into buf (max bytes). Returns its length, or -1
 * with the reason in why.
 */
static long
read_pem(const char *path, char *buf, size_t max, const char **why)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL) {
		*why = strerror(errno);
		return -1;
	}
	n = fread(buf, 1, max, f);
	if (ferror(f) || n == max) {
		*why = n == max ? "too large" : strerror(errno);
		fclose(f);
		return -1;
	}
	fclose(f);
	if (memchr(buf, '\0', n) != NULL) {
		*why = "not a PEM file";
		return -1;
	}
	return (long)n;
}

/* The reason of OpenSSL's last error, or dflt; the error queue is
 * emptied. */
static const char *
ssl_why(const char *dflt)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : dflt;
}

/*
 * Check a certificate chain file and its key file as OpenSSL will load
 * them: the first certificate is the leaf, the others its chain, and the
 * key must be the leaf's. On success the element "INDEX\nCHAIN\nKEY" is
 * appended to c->w.tls_certs. The message names the file and the reason,
 * never the key's contents.
 */
static int
load_cert(struct sv_config *c, uint32_t index, const char *cert,
	  const char *key, const char *file, int line, char *err, size_t errlen)
{
	const struct setting_row *r =
	    settings_find(settings_worker, settings_worker_n, "tls:certs");
	size_t max = r->elem_max;
	char *buf = malloc(max + 1);
	const char *why = "out of memory", *bad = cert;
	long pre, nc = -1, nk = -1;
	X509 *leaf = NULL, *x;
	EVP_PKEY *pk = NULL;
	BIO *bio = NULL;
	int rc = WSD_EINVAL, nchain = 0;

	if (buf == NULL)
		goto fail;
	pre = snprintf(buf, max, "%u\n", index);
	if ((nc = read_pem(cert, buf + pre, max - (size_t)pre - 1, &why)) < 0)
		goto fail;
	buf[pre + nc] = '\n';
	bad = key;
	if ((nk = read_pem(key, buf + pre + nc + 1,
			   max - (size_t)(pre + nc) - 1, &why)) < 0)
		goto fail;
	buf[pre + nc + 1 + nk] = '\0';
	bad = cert;
	if ((bio = BIO_new_mem_buf(buf + pre, (int)nc)) == NULL)
		goto fail;
	if ((leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
		why = "no PEM certificate in it";
		ERR_clear_error();
		goto fail;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		X509_free(x);
		nchain++;
	}
	ERR_clear_error();
	BIO_free(bio);
	bad = key;
	if ((bio = BIO_new_mem_buf(buf + pre + nc + 1, (int)nk)) == NULL)
		goto fail;
	if ((pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL) {
		why = "no PEM private key in it (or it is encrypted)";
		ERR_clear_error();
		goto fail;
	}
	if (X509_check_private_key(leaf, pk) != 1) {
		why = "the key does not match the certificate";
		ssl_why(NULL);
		goto fail;
	}
	if ((rc = setting_set_str(r, &c->w, buf, strlen(buf))) != WSD_OK) {
		why = rc == WSD_ENOMEM ? "out of memory" : "too large";
		rc = WSD_EINVAL;
		goto fail;
	}
	rc = WSD_OK;
	goto done;
fail:
	if (line > 0)
		snprintf(err, errlen, "%s:%d: listeners: tls %s: %s", file,
			 line, bad, why);
	else
		snprintf(err, errlen, "%s: listeners: tls %s: %s", file, bad,
			 why);
done:
	BIO_free(bio);
	X509_free(leaf);
	EVP_PKEY_free(pk);
	if (buf != NULL) {
		OPENSSL_cleanse(buf, max + 1);
		free(buf);
	}
	(void)nchain;
	return rc;
}

/*
 * Once the file and the overrides are read: `listen` becomes the
 * listeners' addresses, comma-separated, and the TLS listeners'
 * certificates are read and checked. A -l override stands for one plain
 * listener and replaces the file's listeners.
 */
static int
build_listeners(struct sv_config *c, const struct sv_overrides *ov,
		const char *file, char *err, size_t errlen)
{
	char buf[PATH_MAX_BYTES + 1];
	size_t used = 0;
	uint32_t i, j;
	int rc;

	if (ov != NULL && ov->listen != NULL)
		listeners_free(c);
	if (c->nlisteners == 0)
		return WSD_OK;
	if (c->listen_in_file) {
		snprintf(err, errlen,
			 "%s: listen and listeners cannot both be set", file);
		return WSD_EINVAL;
	}
	buf[0] = '\0';
	for (i = 0; i < c->nlisteners; i++) {
		int n = snprintf(buf + used, sizeof(buf) - used, "%s%s",
				 i ? "," : "", c->listeners[i].listen);

		if (n < 0 || (size_t)n >= sizeof(buf) - used) {
			snprintf(err, errlen, "%s: listeners: too long", file);
			return WSD_EINVAL;
		}
		used += (size_t)n;
	}
	if ((rc = set_cstr(c, "listen", buf)) != WSD_OK) {
		snprintf(err, errlen, "%s: out of memory", file);
		return rc;
	}
	for (i = 0; i < c->nlisteners; i++)
		for (j = 0; j < c->listeners[i].ncerts; j++)
			if ((rc = load_cert(c, i, c->listeners[i].cert[j],
					    c->listeners[i].key[j], file,
					    c->listeners[i].line, err,
					    errlen)) != WSD_OK)
				return rc;
	return WSD_OK;
}

static int
is_group(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (strcmp(name, groups[i]) == 0)
			return 1;
	return 0;
}

static int
apply_setting(struct sv_config *c, config_setting_t *s, const char *prefix,
	      const char *file, char *err, size_t errlen)
{
	const struct setting_row *r;
	char name[128];
	void *base;
	int i, n, rc;

	snprintf(name, sizeof(name), "%s%s", prefix,
		 config_setting_name(s) ? config_setting_name(s) : "");
	if (*prefix == '\0' && strcmp(name, "listeners") == 0)
		return parse_listeners(c, s, file, err, errlen);
	if (*prefix == '\0' && strcmp(name, "listen") == 0)
		c->listen_in_file = 1;
	if (config_setting_is_group(s)) {
		if (*prefix != '\0' || !is_group(name)) {
			fail_at(err, errlen, file, s, "unknown group %s", name);
			return WSD_EINVAL;
		}
		strncat(name, ".", sizeof(name) - strlen(name) - 1);
		n = config_setting_length(s);
		for (i = 0; i < n; i++)
			if ((rc = apply_setting(
				 c, config_setting_get_elem(s, (unsigned)i),
				 name, file, err, errlen)) != WSD_OK)
				return rc;
		return WSD_OK;
	}
	if (strcmp(name, "workers") == 0 &&
	    config_setting_type(s) == CONFIG_TYPE_STRING) {
		if (strcmp(config_setting_get_string(s), "auto") != 0) {
			fail_at(err, errlen, file, s,
				"workers must be an integer or \"auto\"");
			return WSD_EINVAL;
		}
		c->workers_auto = 1;
		return WSD_OK;
	}
	if ((r = key_find(c, name, &base)) == NULL) {
		fail_at(err, errlen, file, s, "unknown key %s", name);
		return WSD_EINVAL;
	}
	switch (r->kind) {
	case SETTING_UINT:
	case SETTING_INT:
	case SETTING_BOOL: return apply_num(r, base, s, file, err, errlen);
	case SETTING_LIST: return apply_list(r, base, s, file, err, errlen);
	default: return apply_str(r, base, s, file, err, errlen);
	}
}

/* A loopback address: the admin API may listen there without a key. */
static int
is_loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
	       strcmp(host, "localhost") == 0;
}

static int set_cstr(struct sv_config *c, const char *key, const char *v);

/*
 * admin.key, or the first line of admin.key_file when admin.key is not
 * set (trailing CR/LF dropped): at least ADMIN_KEY_MIN bytes. The error
 * names the file, never the key.
 */
static int
read_admin_key(struct sv_config *c, const char *file, char *err, size_t errlen)
{
	char buf[ADMIN_KEY_MAX + 2];
	size_t n = 0;
	FILE *f;

	if (c->admin_key[0] == '\0' && c->admin_key_file[0] != '\0') {
		if ((f = fopen(c->admin_key_file, "r")) == NULL) {
			snprintf(err, errlen,
				 "%s: admin.key_file: cannot read %s", file,
				 c->admin_key_file);
			return WSD_EINVAL;
		}
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		n = strcspn(buf, "\r\n");
		buf[n] = '\0';
		if (n > ADMIN_KEY_MAX || memchr(buf, '\0', n) != NULL) {
			snprintf(err, errlen,
				 "%s: admin.key_file: %s holds more than %d "
				 "bytes on its first line",
				 file, c->admin_key_file, ADMIN_KEY_MAX);
			return WSD_EINVAL;
		}
		if (set_cstr(c, "admin.key", buf) != WSD_OK) {
			snprintf(err, errlen, "%s: out of memory", file);
			return WSD_EINVAL;
		}
		OPENSSL_cleanse(buf, sizeof(buf));
	}
	if (c->admin_key[0] != '\0' && strlen(c->admin_key) < ADMIN_KEY_MIN) {
		snprintf(err, errlen,
			 "%s: admin.key%s is shorter than %d bytes", file,
			 c->admin_key_file[0] ? " (from admin.key_file)" : "",
			 ADMIN_KEY_MIN);
		return WSD_EINVAL;
	}
	return WSD_OK;
}

int
sv_config_check_admin(const struct sv_config *c, const char *file, char *err,
		      size_t errlen)
{
	char host[256];
	int port;

	if (c->admin_listen[0] == '\0' || c->admin_key[0] != '\0')
		return WSD_OK;
	if (sv_parse_hostport(c->admin_listen, host, sizeof(host), &port) ==
		0 &&
	    is_loopback(host))
		return WSD_OK;
	snprintf(err, errlen,
		 "%s: admin_listen \"%s\" is not a loopback address: set "
		 "admin.key or admin.key_file, which the admin API then "
		 "requires",
		 file, c->admin_listen);
	return WSD_EINVAL;
}

/*
 * workers = "auto": as many workers as limits.max_connections needs at
 * the descriptor limit a worker gets (RLIMIT_NOFILE, less
 * WORKER_FD_RESERVE that a worker keeps for itself), and at least one
 * per CPU. Without limits.max_connections, one per CPU.
 */
#define WORKER_FD_RESERVE 64

static int
size_workers(struct sv_config *c, const char *file, char *err, size_t errlen)
{
	struct rlimit rl;
	uint64_t per, need = 0;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		rl.rlim_cur = 1u << 20;
	per = rl.rlim_cur > 2 * WORKER_FD_RESERVE
		  ? rl.rlim_cur - WORKER_FD_RESERVE
		  : rl.rlim_cur / 2;
	if (c->max_connections > 0)
		need = (c->max_connections + per - 1) / per;
	if (need < (uint64_t)(cpus > 0 ? cpus : 1))
		need = (uint64_t)(cpus > 0 ? cpus : 1);
	if (need > SV_MAX_WORKERS) {
		snprintf(err, errlen,
			 "%s: workers = \"auto\": limits.max_connections %llu "
			 "needs %llu workers at %llu descriptors each; at most "
			 "%d",
			 file, (unsigned long long)c->max_connections,
			 (unsigned long long)need, (unsigned long long)per,
			 SV_MAX_WORKERS);
		return WSD_EINVAL;
	}
	c->workers = (int)need;
	return WSD_OK;
}

/* The rules between keys, once every key is read. */
static int
check_whole(struct sv_config *c, const char *file, char *err, size_t errlen)
{
	char host[256], addrs[SV_LISTENERS_MAX][SV_HOSTPORT_MAX];
	int port;

	if (c->workers_auto && size_workers(c, file, err, errlen) != WSD_OK)
		return WSD_EINVAL;
	if (sv_listen_split(c->listen, addrs) < 0) {
		snprintf(err, errlen, "%s: listen \"%s\" is not ADDR:PORT",
			 file, c->listen);
		return WSD_EINVAL;
	}
	if (*c->admin_listen != '\0' &&
	    sv_parse_hostport(c->admin_listen, host, sizeof(host), &port) !=
		0) {
		snprintf(err, errlen,
			 "%s: admin_listen \"%s\" is not ADDR:PORT", file,
			 c->admin_listen);
		return WSD_EINVAL;
	}
	if (read_admin_key(c, file, err, errlen) != WSD_OK)
		return WSD_EINVAL;
	if (sv_config_check_admin(c, file, err, errlen) != WSD_OK)
		return WSD_EINVAL;
	if (c->w.rate_bytes > 0 && c->w.rate_bytes_burst > 0 &&
	    c->w.rate_bytes_burst < c->w.max_message_bytes) {
		snprintf(err, errlen,
			 "%s: limits.rate_bytes_burst must be at least "
			 "limits.max_message_bytes when limits.rate_bytes is "
			 "set (or no message of the largest size could pass)",
			 file);
		return WSD_EINVAL;
	}
	if (c->w.ws_path[0] != '/' ||
	    (c->w.echo_path[0] != '\0' && c->w.echo_path[0] != '/')) {
		snprintf(err, errlen,
			 "%s: ws_path and echo_path must start "
			 "with /",
			 file);
		return WSD_EINVAL;
	}
	if (strcmp(c->w.ws_path, c->w.echo_path) == 0) {
		snprintf(err, errlen, "%s: ws_path and echo_path must differ",
			 file);
		return WSD_EINVAL;
	}
	if (c->w.max_queue_bytes < c->w.max_message_bytes + 1024) {
		snprintf(err, errlen,
			 "%s: limits.max_queue_bytes must be at least "
			 "max_message_bytes + 1024",
			 file);
		return WSD_EINVAL;
	}
	return WSD_OK;
}

/*
 * Read the file of a "KID:ALG:@PATH" element into a new element
 * "KID:ALG:CONTENTS" of at most max bytes. Returns it (malloc'd), or NULL
 * with err set.
 */
static char *
read_key_file(const char *elem, const char *path, size_t max, const char *file,
	      char *err, size_t errlen)
{
	size_t pre = (size_t)(path - 1 - elem), n;
	char *out = NULL;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL || (out = malloc(max + 2)) == NULL)
		goto cannot;
	memcpy(out, elem, pre);
	n = fread(out + pre, 1, max + 1 - pre, f);
	if (ferror(f))
		goto cannot;
	if (pre + n > max) {
		snprintf(err, errlen,
			 "%s: jwt.keys: %s is too large (an element is limited "
			 "to %zu bytes)",
			 file, path, max);
		goto fail;
	}
	out[pre + n] = '\0';
	if (memchr(out + pre, '\0', n) != NULL || n == 0)
		goto cannot;
	fclose(f);
	return out;
cannot:
	snprintf(err, errlen, "%s: jwt.keys: cannot read %s", file, path);
fail:
	if (f != NULL)
		fclose(f);
	free(out);
	return NULL;
}

/*
 * The checks of jwt.keys once the file is read: every element parses,
 * its "@PATH" is replaced by the file's contents (so that a reload reads
 * the files again and the workers get the keys themselves), every key is
 * usable, and no key id is given twice.
 */
static int
load_jwt_keys(struct sv_config *c, const char *file, char *err, size_t errlen)
{
	const struct setting_row *r =
	    settings_find(settings_worker, settings_worker_n, "jwt.keys");
	struct setting_list *l = &c->w.jwt_keys;
	struct proto_jwt_key k, o;
	const char *why;
	char *text;
	uint32_t i, j;
	int rc;

	for (i = 0; i < l->n; i++) {
		if (proto_jwt_key_parse(l->v[i], &k, &why) != WSD_OK) {
			snprintf(err, errlen, "%s: jwt.keys: element %u: %s",
				 file, i + 1, why);
			return WSD_EINVAL;
		}
		if (k.value[0] == '@') {
			if ((text = read_key_file(l->v[i], k.value + 1,
						  r->elem_max, file, err,
						  errlen)) == NULL)
				return WSD_EINVAL;
			free(l->v[i]);
			l->v[i] = text;
			if (proto_jwt_key_parse(l->v[i], &k, &why) != WSD_OK)
				return WSD_EINVAL;
		}
		if ((rc = proto_jwt_key_check(&k, &why)) != WSD_OK) {
			snprintf(err, errlen, "%s: jwt.keys: key %.*s: %s",
				 file, (int)k.kidlen, k.kid,
				 rc == WSD_ENOMEM ? "out of memory" : why);
			return rc;
		}
		for (j = 0; j < i; j++)
			if (proto_jwt_key_parse(l->v[j], &o, &why) == WSD_OK &&
			    o.kidlen == k.kidlen &&
			    memcmp(o.kid, k.kid, k.kidlen) == 0) {
				snprintf(err, errlen,
					 "%s: jwt.keys: key id %.*s is given "
					 "twice",
					 file, (int)k.kidlen, k.kid);
				return WSD_EINVAL;
			}
	}
	return WSD_OK;
}

/* Every trusted_proxies element is an address or a CIDR block. */
static int
check_proxies(const struct sv_config *c, const char *file, char *err,
	      size_t errlen)
{
	const struct setting_list *l = &c->w.trusted_proxies;
	struct addr_cidrs cidrs;
	const char *why = "";
	uint32_t bad = 0;
	int rc = addr_cidrs_parse(l->v, l->n, &cidrs, &bad, &why);

	if (rc == -2) {
		snprintf(err, errlen, "%s: trusted_proxies: out of memory",
			 file);
		return WSD_ENOMEM;
	}
	if (rc != 0) {
		snprintf(err, errlen,
			 "%s: trusted_proxies: element %u (\"%s\"): %s", file,
			 bad + 1, l->v[bad], why);
		return WSD_EINVAL;
	}
	addr_cidrs_free(&cidrs);
	return WSD_OK;
}

/* Every room_policies element is PATTERN=POLICY. */
static int
check_room_policies(const struct sv_config *c, const char *file, char *err,
		    size_t errlen)
{
	const struct setting_list *l = &c->w.room_policies;
	const char *why;
	size_t plen;
	uint32_t i;
	int policy;

	for (i = 0; i < l->n; i++)
		if (settings_room_policy(l->v[i], &plen, &policy, &why) != 0) {
			snprintf(err, errlen,
				 "%s: room_policies: element %u (\"%s\"): %s",
				 file, i + 1, l->v[i], why);
			return WSD_EINVAL;
		}
	return WSD_OK;
}

/* Set one of the supervisor's own string keys. */
static int
set_cstr(struct sv_config *c, const char *key, const char *v)
{
	return setting_set_str(settings_find(sv_keys, NKEYS, key), c, v,
			       strlen(v));
}

static int
derive_paths(struct sv_config *c)
{
	char buf[512];

	if (c->control_socket[0] == '\0') {
		snprintf(buf, sizeof(buf), "%s/wsctl.sock", c->run_dir);
		if (set_cstr(c, "control_socket", buf) != WSD_OK)
			return WSD_ENOMEM;
	}
	if (c->pidfile[0] == '\0') {
		snprintf(buf, sizeof(buf), "%s/wsd.pid", c->run_dir);
		if (set_cstr(c, "pidfile", buf) != WSD_OK)
			return WSD_ENOMEM;
	}
	if (c->state_dir[0] == '\0' &&
	    set_cstr(c, "state_dir", c->run_dir) != WSD_OK)
		return WSD_ENOMEM;
	if (c->key_file[0] == '\0') {
		snprintf(buf, sizeof(buf), "%s/session.keys", c->run_dir);
		if (set_cstr(c, "sessions.key_file", buf) != WSD_OK)
			return WSD_ENOMEM;
	}
	return WSD_OK;
}

int
sv_config_read_key_file(struct sv_config *c, char *err, size_t errlen)
{
	char text[SV_KEYS_MAX * (SV_KEY_ID_MAX + SV_KEY_SECRET_MAX + 2) + 1024];
	const char *why;
	unsigned line;
	size_t n;
	FILE *f;

	sv_keys_clear(&c->keys);
	if ((f = fopen(c->key_file, "r")) == NULL) {
		if (errno == ENOENT)
			return WSD_ENOENT;
		snprintf(err, errlen, "%s: cannot read the file: %s",
			 c->key_file, strerror(errno));
		return WSD_EINVAL;
	}
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	if (n == sizeof(text) - 1) {
		snprintf(err, errlen, "%s: too large for %d keys", c->key_file,
			 SV_KEYS_MAX);
		return WSD_EINVAL;
	}
	if (sv_keys_parse_file(&c->keys, text, n, &line, &why) != WSD_OK) {
		OPENSSL_cleanse(text, sizeof(text));
		snprintf(err, errlen, "%s:%u: %s", c->key_file, line, why);
		return WSD_EINVAL;
	}
	OPENSSL_cleanse(text, sizeof(text));
	if (c->keys.n == 0) {
		snprintf(err, errlen, "%s: no key in the file", c->key_file);
		return WSD_EINVAL;
	}
	return WSD_OK;
}

/* The resume token keys: sessions.keys, or else the key file (which
 * sv_cycle.c creates when it is missing). */
static int
load_keys(struct sv_config *c, const char *file, char *err, size_t errlen)
{
	const char *why;
	uint32_t i;
	int rc;

	if (c->session_keys.n == 0) {
		rc = sv_config_read_key_file(c, err, errlen);
		return rc == WSD_ENOENT ? WSD_OK : rc;
	}
	for (i = 0; i < c->session_keys.n; i++) {
		const char *k = c->session_keys.v[i];

		if (sv_keys_add(&c->keys, k, strlen(k), &why) != WSD_OK) {
			snprintf(err, errlen,
				 "%s: sessions.keys element %u: %s", file,
				 i + 1, why);
			return WSD_EINVAL;
		}
	}
	return WSD_OK;
}

static int
load_file(struct sv_config *c, const char *path, char *err, size_t errlen)
{
	config_t cf;
	config_setting_t *root;
	int i, n, rc = WSD_EINVAL;

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
		if ((rc = apply_setting(
			 c, config_setting_get_elem(root, (unsigned)i), "",
			 path, err, errlen)) != WSD_OK)
			goto done;
	rc = WSD_OK;
done:
	config_destroy(&cf);
	return rc;
}

static int
apply_overrides(struct sv_config *c, const struct sv_overrides *ov, char *err,
		size_t errlen)
{
	const struct {
		const char *key, *v;
	} strs[] = {
	    {"listen", ov->listen},
	    {"control_socket", ov->control_socket},
	    {"admin_listen", ov->admin_listen},
	    {"run_dir", ov->run_dir},
	};
	size_t i;
	int rc;

	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		if (strs[i].v == NULL)
			continue;
		if ((rc = set_cstr(c, strs[i].key, strs[i].v)) != WSD_OK) {
			const struct setting_row *r =
			    settings_find(sv_keys, NKEYS, strs[i].key);

			if (rc == WSD_ENOMEM)
				snprintf(err, errlen, "%s: out of memory",
					 strs[i].key);
			else
				snprintf(err, errlen,
					 "%s must be %llu to %llu bytes",
					 strs[i].key,
					 (unsigned long long)r->min,
					 (unsigned long long)r->max);
			return rc;
		}
	}
	if (ov->workers > SV_MAX_WORKERS) {
		snprintf(err, errlen, "-w: at most %d workers", SV_MAX_WORKERS);
		return WSD_EINVAL;
	}
	if (ov->workers > 0) {
		c->workers = ov->workers;
		c->workers_auto = 0;
	}
	return WSD_OK;
}

struct sv_config *
sv_config_load(const char *path, const struct sv_overrides *ov, char *err,
	       size_t errlen)
{
	struct sv_config *c;
	const char *name = path ? path : "(defaults)";

	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto nomem;
	if (settings_init(sv_keys, NKEYS, c) != WSD_OK ||
	    settings_init(settings_worker, settings_worker_n, &c->w) != WSD_OK)
		goto nomem;
	if (path != NULL) {
		if ((c->path = strdup(path)) == NULL)
			goto nomem;
		if (load_file(c, path, err, errlen) != WSD_OK)
			goto fail;
	}
	if (ov != NULL && apply_overrides(c, ov, err, errlen) != WSD_OK)
		goto fail;
	if (build_listeners(c, ov, name, err, errlen) != WSD_OK)
		goto fail;
	if (check_whole(c, name, err, errlen) != WSD_OK ||
	    load_jwt_keys(c, name, err, errlen) != WSD_OK ||
	    check_proxies(c, name, err, errlen) != WSD_OK ||
	    check_room_policies(c, name, err, errlen) != WSD_OK)
		goto fail;
	if (derive_paths(c) != WSD_OK)
		goto nomem;
	if (load_keys(c, name, err, errlen) != WSD_OK)
		goto fail;
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
	if (c == NULL)
		return;
	settings_free(sv_keys, NKEYS, c);
	listeners_free(c);
	sv_keys_clear(&c->keys);
	settings_free(settings_worker, settings_worker_n, &c->w);
	free(c->path);
	free(c);
}

int
sv_config_keep(struct sv_config *next, const struct sv_config *cur,
	       const char *key)
{
	const struct setting_row *r = settings_find(sv_keys, NKEYS, key);
	const char *v;

	if (r == NULL)
		return WSD_EINVAL;
	if (r->kind == SETTING_LIST) {
		const struct setting_list *from =
		    (const void *)((const char *)cur + r->off);
		struct setting_list *to = (void *)((char *)next + r->off);
		uint32_t i;
		char **vv = calloc(from->n + 1, sizeof(*vv));

		if (vv == NULL)
			return WSD_ENOMEM;
		for (i = 0; i < from->n; i++)
			if ((vv[i] = strdup(from->v[i])) == NULL) {
				while (i > 0)
					free(vv[--i]);
				free(vv);
				return WSD_ENOMEM;
			}
		setting_list_clear(r, next);
		to->v = vv;
		to->n = from->n;
		return WSD_OK;
	}
	if (r->kind != SETTING_STR)
		return setting_set_num(r, next, setting_get_num(r, cur));
	v = *(char *const *)((const char *)cur + r->off);
	return setting_set_str(r, next, v, strlen(v));
}

void
sv_config_changes(const struct sv_config *a, const struct sv_config *b,
		  settings_diff_fn *fn, void *arg)
{
	settings_each_diff(sv_keys, NKEYS, a, b, fn, arg);
	settings_each_diff(settings_worker, settings_worker_n, &a->w, &b->w, fn,
			   arg);
}

void
sv_config_diff(const struct sv_config *a, const struct sv_config *b, char *buf,
	       size_t len)
{
	buf[0] = '\0';
	settings_diff(sv_keys, NKEYS, a, b, buf, len);
	settings_diff(settings_worker, settings_worker_n, &a->w, &b->w, buf,
		      len);
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
			return WSD_EINVAL;
		hl = (size_t)(rb - s - 1);
		s++;
		colon = rb + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return WSD_EINVAL;
		hl = (size_t)(colon - s);
	}
	if (hl >= hostlen)
		return WSD_EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || end == colon + 1 || p < 0 || p > 65535)
		return WSD_EINVAL;
	*port = (int)p;
	return WSD_OK;
}

int
sv_listen_split(const char *list, char out[SV_LISTENERS_MAX][SV_HOSTPORT_MAX])
{
	char host[256];
	const char *p = list;
	int n = 0, port;

	for (;;) {
		size_t len = strcspn(p, ",");

		if (n == SV_LISTENERS_MAX || len == 0 || len >= SV_HOSTPORT_MAX)
			return -1;
		memcpy(out[n], p, len);
		out[n][len] = '\0';
		if (sv_parse_hostport(out[n], host, sizeof(host), &port) != 0)
			return -1;
		n++;
		if (p[len] == '\0')
			return n;
		p += len + 1;
	}
}

int
sv_config_keep_listeners(struct sv_config *next, const struct sv_config *cur)
{
	const struct setting_row *r =
	    settings_find(settings_worker, settings_worker_n, "tls:certs");
	uint32_t i;
	int rc;

	if ((rc = sv_config_keep(next, cur, "listen")) != WSD_OK)
		return rc;
	setting_list_clear(r, &next->w);
	for (i = 0; i < cur->w.tls_certs.n; i++)
		if ((rc = setting_set_str(r, &next->w, cur->w.tls_certs.v[i],
					  strlen(cur->w.tls_certs.v[i]))) !=
		    WSD_OK)
			return rc;
	return WSD_OK;
}
