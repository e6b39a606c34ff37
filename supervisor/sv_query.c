/*
 * sv_query.c: the admin API's query strings and its key check (see
 * sv_query.h). A query string becomes the same JSON object wsctl would
 * send for the command, so the API and wsctl share sv_ctl.c's code.
 */
#include "sv_query.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../proto/url.h"

static const char *const string_names[] = {"user", "room", "name", "by",
					   "token"};
static const char *const number_names[] = {"id", "worker", "limit"};

static int
listed(const char *name, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return 1;
	return 0;
}

json_t *
sv_query_parse(const char *q, char *err, size_t errlen)
{
	json_t *o = json_object();
	const char *p = q, *amp, *eq;
	char *name = NULL, *value = NULL, *end;
	unsigned long long v;
	size_t len;

	if (o == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	while (*p != '\0') {
		amp = strchr(p, '&');
		len = amp ? (size_t)(amp - p) : strlen(p);
		if (len == 0)
			goto next;
		eq = memchr(p, '=', len);
		if ((name = malloc(len + 1)) == NULL ||
		    (value = malloc(len + 1)) == NULL)
			goto nomem;
		if (url_decode(p, eq ? (size_t)(eq - p) : len, name) < 0 ||
		    (eq && url_decode(eq + 1, len - (size_t)(eq + 1 - p),
				      value) < 0)) {
			snprintf(err, errlen, "a bad %%-escape in the query");
			goto fail;
		}
		if (eq == NULL)
			value[0] = '\0';
		if (json_object_get(o, name) != NULL) {
			snprintf(err, errlen, "%.64s is given twice", name);
			goto fail;
		}
		if (listed(name, string_names,
			   sizeof(string_names) / sizeof(string_names[0]))) {
			if (json_object_set_new(o, name, json_string(value)) !=
			    0) {
				snprintf(err, errlen, "%.64s is not UTF-8 text",
					 name);
				goto fail;
			}
		} else if (listed(name, number_names,
				  sizeof(number_names) /
				      sizeof(number_names[0]))) {
			v = strtoull(value, &end, 10);
			if (!isdigit((unsigned char)value[0]) || *end != '\0' ||
			    v > (unsigned long long)INT64_MAX) {
				snprintf(err, errlen,
					 "%.64s must be a non-negative integer",
					 name);
				goto fail;
			}
			json_object_set_new(o, name,
					    json_integer((json_int_t)v));
		} else {
			snprintf(err, errlen, "unknown argument %.64s", name);
			goto fail;
		}
		free(name);
		free(value);
		name = value = NULL;
	next:
		if (amp == NULL)
			break;
		p = amp + 1;
	}
	return o;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	free(name);
	free(value);
	json_decref(o);
	return NULL;
}

int
sv_query_key_ok(const char *authorization, const char *key)
{
	unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
	const char *given;

	if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7))
		return 0;
	given = authorization + 7;
	while (*given == ' ')
		given++;
	SHA256((const unsigned char *)given, strlen(given), a);
	SHA256((const unsigned char *)key, strlen(key), b);
	return CRYPTO_memcmp(a, b, sizeof(a)) == 0;
}
