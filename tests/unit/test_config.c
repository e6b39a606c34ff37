/*
 * test_config.c: the supervisor's config loader (supervisor/sv_config.c)
 * reading the worker settings through proto/settings.h's table.
 *
 * For every row of settings_worker, a file that sets the key to a value
 * other than its default must load with that value in the generation's
 * settings; a file that sets it just outside its range (or to a value of
 * the wrong type) must be refused with "FILE:LINE: ..." naming the line
 * and the key. The reload summary names each changed key, and the keys a
 * reload cannot change yet keep their running values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "../../proto/err.h"
#include "../../proto/proto.h"
#include "../../supervisor/sv_config.h"

static char path[] = "/tmp/wsd-test-config-XXXXXX";

static int
setup(void **state)
{
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

/*
 * Write a file whose line 3 sets key (dotted: "group.name" becomes a
 * group) to the libconfig text value, and load it.
 */
static struct sv_config *
load_with(const char *key, const char *value, char *err, size_t errlen)
{
	const char *dot = strchr(key, '.');
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "# test\nworkers = 1;\n");
	if (dot != NULL)
		fprintf(f, "%.*s = {\n  %s = %s;\n};\n", (int)(dot - key), key,
			dot + 1, value);
	else
		fprintf(f, "%s = %s;\n", key, value);
	assert_int_equal(fclose(f), 0);
	err[0] = '\0';
	return sv_config_load(path, NULL, err, errlen);
}

/* A value other than the default, valid with every other default. */
static void
other_value(const struct setting_row *r, char *buf, size_t len)
{
	if (r->kind == SETTING_BOOL)
		snprintf(buf, len, "%s", r->def ? "false" : "true");
	else if (r->kind == SETTING_ENUM)
		snprintf(buf, len, "\"%s\"",
			 r->names[(r->def + 1) % (r->max + 1)]);
	else if (r->kind == SETTING_STR)
		snprintf(buf, len, "\"/other-%s\"", r->key);
	else if (strcmp(r->key, "jwt.keys") == 0)
		snprintf(buf, len, "[\"a:HS256:x\", \"b:HS512:y\"]");
	else if (strcmp(r->key, "room_policies") == 0)
		snprintf(buf, len,
			 "[\"a.*=drop_oldest\", \"b=latest_per_key\"]");
	else if (strcmp(r->key, "trusted_proxies") == 0)
		snprintf(buf, len, "[\"10.0.0.0/8\", \"::1\"]");
	else if (r->kind == SETTING_LIST)
		snprintf(buf, len, "[\"http://a\", \"http://b\"]");
	else
		snprintf(buf, len, "%llu",
			 (unsigned long long)(r->def < r->max ? r->def + 1
							      : r->def - 1));
}

static void
test_every_row_loads(void **state)
{
	char value[256], err[512];
	size_t i;

	(void)state;
	for (i = 0; i < settings_worker_n; i++) {
		const struct setting_row *r = &settings_worker[i];
		const char *p;
		struct sv_config *c;

		/* The supervisor's own (tls:certs): no key of the file. */
		if (strchr(r->key, ':') != NULL)
			continue;
		other_value(r, value, sizeof(value));
		c = load_with(r->key, value, err, sizeof(err));
		if (c == NULL)
			fail_msg("%s = %s: %s", r->key, value, err);
		p = (const char *)&c->w + r->off;
		switch (r->kind) {
		case SETTING_STR:
			assert_string_equal(*(char *const *)p + 7, r->key);
			break;
		case SETTING_LIST:
			assert_int_equal(((const struct setting_list *)p)->n,
					 2);
			break;
		case SETTING_ENUM:
			assert_int_equal(setting_get_num(r, &c->w),
					 (r->def + 1) % (r->max + 1));
			break;
		case SETTING_BOOL:
			assert_int_equal(setting_get_num(r, &c->w), !r->def);
			break;
		default:
			assert_int_not_equal(setting_get_num(r, &c->w), r->def);
			break;
		}
		sv_config_free(c);
	}
}

/* err starts with "PATH:LINE: " and names the key. */
static void
assert_err_at(const char *err, int line, const char *key)
{
	char want[128];
	const char *dot = strrchr(key, '.');

	snprintf(want, sizeof(want), "%s:%d: ", path, line);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("error \"%s\" does not start with \"%s\"", err, want);
	if (strstr(err, dot ? dot + 1 : key) == NULL)
		fail_msg("error \"%s\" does not name %s", err, key);
}

static void
test_every_row_refuses(void **state)
{
	char value[4200], err[512];
	size_t i;

	(void)state;
	for (i = 0; i < settings_worker_n; i++) {
		const struct setting_row *r = &settings_worker[i];
		int line = strchr(r->key, '.') ? 4 : 3;

		if (strchr(r->key, ':') != NULL)
			continue;

		if (r->kind == SETTING_UINT) {
			/* libconfig 1.5 reads a literal over 32 bits only
			 * with an L suffix (it wraps one without). */
			snprintf(value, sizeof(value), "%llu%s",
				 (unsigned long long)r->max + 1,
				 r->max + 1 > 2147483647u ? "L" : "");
			assert_null(load_with(r->key, value, err, sizeof(err)));
			assert_err_at(err, line, r->key);
			assert_non_null(strstr(err, "must be between"));
			if (r->min > 0) {
				snprintf(value, sizeof(value), "%llu",
					 (unsigned long long)r->min - 1);
				assert_null(
				    load_with(r->key, value, err, sizeof(err)));
				assert_err_at(err, line, r->key);
			}
			assert_null(
			    load_with(r->key, "\"1\"", err, sizeof(err)));
			assert_err_at(err, line, r->key);
		} else if (r->kind == SETTING_BOOL) {
			assert_null(load_with(r->key, "1", err, sizeof(err)));
			assert_err_at(err, line, r->key);
		} else if (r->kind == SETTING_ENUM) {
			assert_null(
			    load_with(r->key, "\"x\"", err, sizeof(err)));
			assert_err_at(err, line, r->key);
			assert_non_null(strstr(err, r->names[0]));
		} else if (r->kind == SETTING_STR) {
			value[0] = '"';
			memset(value + 1, 'a', r->max + 1);
			value[1] = '/';
			snprintf(value + 2 + r->max, 3, "\"");
			assert_null(load_with(r->key, value, err, sizeof(err)));
			assert_err_at(err, line, r->key);
			assert_null(load_with(r->key, "7", err, sizeof(err)));
			assert_err_at(err, line, r->key);
		} else {
			size_t n = 0;
			uint64_t k;

			n += (size_t)snprintf(value, sizeof(value), "[");
			for (k = 0; k <= r->max; k++)
				n += (size_t)snprintf(value + n,
						      sizeof(value) - n,
						      "%s\"o\"", k ? "," : "");
			snprintf(value + n, sizeof(value) - n, "]");
			assert_null(load_with(r->key, value, err, sizeof(err)));
			assert_err_at(err, line, r->key);
			assert_null(load_with(r->key, "[1]", err, sizeof(err)));
			assert_err_at(err, line, r->key);
		}
	}
	/* An unknown key of a known group, and an unknown group. */
	assert_null(load_with("limits.nope", "1", err, sizeof(err)));
	assert_err_at(err, 4, "limits.nope");
	assert_null(load_with("nope.x", "1", err, sizeof(err)));
	assert_non_null(strstr(err, "unknown group nope"));
}

static void
test_diff_and_fixed_keys(void **state)
{
	struct sv_config *a, *b;
	char err[512], diff[512];

	(void)state;
	a = load_with("heartbeat.interval_ms", "1000", err, sizeof(err));
	assert_non_null(a);
	b = load_with("limits.slow_consumer", "\"drop_oldest\"", err,
		      sizeof(err));
	assert_non_null(b);
	sv_config_diff(a, b, diff, sizeof(diff));
	assert_string_equal(diff,
			    "limits.slow_consumer disconnect -> drop_oldest, "
			    "heartbeat.interval_ms 1000 -> 25000");
	sv_config_diff(a, a, diff, sizeof(diff));
	assert_string_equal(diff, "nothing");
	/* A refused change keeps the running value. */
	free(a->listen);
	a->listen = strdup("127.0.0.1:9999");
	assert_non_null(a->listen);
	assert_int_equal(sv_config_keep(b, a, "listen"), WSD_OK);
	assert_string_equal(b->listen, "127.0.0.1:9999");
	/* Numbers, names and lists too (engine, redis.addresses). */
	a->workers = 3;
	assert_int_equal(sv_config_keep(b, a, "workers"), WSD_OK);
	assert_int_equal(b->workers, 3);
	a->engine = SV_ENGINE_REDIS;
	assert_int_equal(sv_config_keep(b, a, "engine"), WSD_OK);
	assert_int_equal(b->engine, SV_ENGINE_REDIS);
	{
		char *v[2] = {"127.0.0.1:7001", "127.0.0.1:7002"};
		struct setting_list keep = a->redis_addresses;

		a->redis_addresses = (struct setting_list){2, v};
		assert_int_equal(sv_config_keep(b, a, "redis.addresses"),
				 WSD_OK);
		a->redis_addresses = keep;
		assert_int_equal(b->redis_addresses.n, 2);
		assert_string_equal(b->redis_addresses.v[1], "127.0.0.1:7002");
	}
	assert_int_equal(sv_config_keep(b, a, "no_such_key"), WSD_EINVAL);
	sv_config_free(a);
	sv_config_free(b);
}

/* Write text to a new temporary file; returns its path (static). */
static const char *
temp_file(const char *text)
{
	static char kpath[] = "/tmp/wsd-test-key-XXXXXX";
	int fd;

	strcpy(kpath, "/tmp/wsd-test-key-XXXXXX");
	fd = mkstemp(kpath);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return kpath;
}

/*
 * jwt.keys: "@FILE" is replaced by the file's contents when the config is
 * loaded (a reload reads it again), and a key that cannot be used fails
 * the load with the file and the reason.
 */
static void
test_jwt_key_files(void **state)
{
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	struct sv_config *c;
	char value[600], err[512], want[600], *pem;
	const char *kp;
	BIO *b;
	long n;

	(void)state;
	assert_non_null(ec);
	b = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PUBKEY(b, ec), 1);
	n = BIO_get_mem_data(b, &pem);
	pem = strndup(pem, (size_t)n);
	BIO_free(b);
	EVP_PKEY_free(ec);

	kp = temp_file(pem);
	snprintf(value, sizeof(value), "[\"h:HS256:s\", \"e:ES256:@%s\"]", kp);
	c = load_with("jwt.keys", value, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_int_equal(c->w.jwt_keys.n, 2);
	assert_string_equal(c->w.jwt_keys.v[0], "h:HS256:s");
	assert_int_equal(strncmp(c->w.jwt_keys.v[1], "e:ES256:-----BEGIN", 18),
			 0);
	assert_string_equal(c->w.jwt_keys.v[1] + 8, pem);
	sv_config_free(c);

	/* The file is gone: the load fails and names it. */
	unlink(kp);
	assert_null(load_with("jwt.keys", value, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: jwt.keys: cannot read %s", path, kp);
	assert_string_equal(err, want);

	/* Not a public key of the alg's type. */
	kp = temp_file("not a key\n");
	snprintf(value, sizeof(value), "[\"r:RS256:@%s\"]", kp);
	assert_null(load_with("jwt.keys", value, err, sizeof(err)));
	assert_non_null(strstr(err, "jwt.keys: key r: an RS256 key"));
	unlink(kp);
	kp = temp_file(pem);
	snprintf(value, sizeof(value), "[\"r:RS256:@%s\"]", kp);
	assert_null(load_with("jwt.keys", value, err, sizeof(err)));
	assert_non_null(strstr(err, "key r: an RS256 key must be an RSA"));
	unlink(kp);

	/* Syntax, and a kid given twice. */
	assert_null(load_with("jwt.keys", "[\"h:HS999:s\"]", err, sizeof(err)));
	assert_non_null(strstr(err, "jwt.keys: element 1: ALG must be"));
	assert_null(load_with("jwt.keys", "[\"nocolon\"]", err, sizeof(err)));
	assert_non_null(strstr(err, "jwt.keys: element 1:"));
	assert_null(load_with("jwt.keys", "[\"h:HS256:a\", \"h:HS512:b\"]", err,
			      sizeof(err)));
	assert_non_null(strstr(err, "key id h is given twice"));
	free(pem);
}

/* conf/wsd.conf shows the defaults: loading it changes nothing. */
static void
test_shipped_file_is_the_defaults(void **state)
{
	struct sv_config *d, *f;
	char err[512], diff[512];

	(void)state;
	d = sv_config_load(NULL, NULL, err, sizeof(err));
	assert_non_null(d);
	f = sv_config_load("conf/wsd.conf", NULL, err, sizeof(err));
	if (f == NULL)
		fail_msg("conf/wsd.conf: %s", err);
	sv_config_diff(d, f, diff, sizeof(diff));
	assert_string_equal(diff, "nothing");
	sv_config_free(d);
	sv_config_free(f);
}

/* Write text to the test file and load it; err set when it fails. */
static struct sv_config *
load_text(const char *text, const struct sv_overrides *ov, char *err,
	  size_t errlen)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	err[0] = '\0';
	return sv_config_load(path, ov, err, errlen);
}

/* workers = "auto": sized from limits.max_connections and the descriptor
 * limit, at least one per CPU; -w still wins; too many is refused. */
static void
test_workers_auto(void **state)
{
	struct rlimit rl;
	struct sv_overrides ov;
	struct sv_config *c;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t per;
	char err[512];

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	per = rl.rlim_cur - 64;
	c = load_text("workers = \"auto\";\n", NULL, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_int_equal(c->workers, cpus);
	sv_config_free(c);
	/* Exactly what per workers can hold, then one more connection. */
	{
		char text[256];
		uint64_t n = per * (uint64_t)(cpus + 3);

		snprintf(text, sizeof(text),
			 "workers = \"auto\";\nlimits = { max_connections = "
			 "%llu; };\n",
			 (unsigned long long)n);
		assert_non_null(c = load_text(text, NULL, err, sizeof(err)));
		assert_int_equal(c->workers, cpus + 3);
		sv_config_free(c);
		snprintf(text, sizeof(text),
			 "workers = \"auto\";\nlimits = { max_connections = "
			 "%llu; };\n",
			 (unsigned long long)n + 1);
		assert_non_null(c = load_text(text, NULL, err, sizeof(err)));
		assert_int_equal(c->workers, cpus + 4);
		sv_config_free(c);
		/* -w overrides it. */
		memset(&ov, 0, sizeof(ov));
		ov.workers = 3;
		assert_non_null(c = load_text(text, &ov, err, sizeof(err)));
		assert_int_equal(c->workers, 3);
		sv_config_free(c);
	}
	/* More than SV_MAX_WORKERS: refused, saying why. */
	assert_null(load_text("workers = \"auto\";\nlimits = { "
			      "max_connections = 10000000; };\n",
			      NULL, err, sizeof(err)));
	if (rl.rlim_cur * SV_MAX_WORKERS < 10000000)
		assert_non_null(strstr(err, "at most 64"));
	/* Another string is refused at its line. */
	assert_null(
	    load_text("\nworkers = \"many\";\n", NULL, err, sizeof(err)));
	assert_non_null(strstr(err, ":2: workers must be an integer or "
				    "\"auto\""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_row_loads),
	    cmocka_unit_test(test_every_row_refuses),
	    cmocka_unit_test(test_diff_and_fixed_keys),
	    cmocka_unit_test(test_jwt_key_files),
	    cmocka_unit_test(test_shipped_file_is_the_defaults),
	    cmocka_unit_test(test_workers_auto),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
