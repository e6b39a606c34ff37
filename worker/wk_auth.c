/*
 * wk_auth.c: tokens and user ids (wk_auth.h); the JWT itself is checked
 * by proto/jwt.c, which the supervisor shares for wsctl.
 */
#include "wk_auth.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../proto/err.h"
#include "../proto/jwt.h"
#include "../proto/room.h"

#define ANON_PREFIX "anon-"

/* Find "name=value" among sep-separated pairs of s[0..len) (in a cookie
 * header, spaces before a pair are skipped); returns 1 with the value, or
 * 0. */
static int
find_pair(const char *s, size_t len, char sep, const char *name,
	  const char **val, size_t *vlen)
{
	size_t nl = strlen(name);
	const char *p = s, *end = s + len;

	while (p < end) {
		const char *e;

		while (p < end && (*p == sep || (sep == ';' && *p == ' ')))
			p++;
		e = memchr(p, sep, (size_t)(end - p));
		if (e == NULL)
			e = end;
		if ((size_t)(e - p) > nl && strncmp(p, name, nl) == 0 &&
		    p[nl] == '=') {
			*val = p + nl + 1;
			*vlen = (size_t)(e - p - nl - 1);
			return 1;
		}
		p = e;
	}
	return 0;
}

int
wk_auth_query(const char *q, size_t qlen, const char *name, const char **v,
	      size_t *len)
{
	return q != NULL && find_pair(q, qlen, '&', name, v, len);
}

int
wk_auth_find_resume(const char *q, size_t qlen, const char **tok, size_t *len)
{
	return q != NULL && find_pair(q, qlen, '&', "resume", tok, len);
}

int
wk_auth_find(const char *q, size_t qlen, const char *authz, size_t authzlen,
	     const char *cookie, size_t cookielen, const char **tok,
	     size_t *len)
{
	if (q != NULL && find_pair(q, qlen, '&', "token", tok, len))
		return 1;
	if (authzlen > 7 && strncasecmp(authz, "Bearer ", 7) == 0) {
		*tok = authz + 7;
		*len = authzlen - 7;
		return 1;
	}
	return cookielen > 0 &&
	       find_pair(cookie, cookielen, ';', "wsd_token", tok, len);
}

int
wk_auth_verify(const char *tok, size_t len, const struct settings *cfg,
	       char **user, json_t **rooms, char **info, const char **why)
{
	struct proto_jwt_claims c;
	int rc;

	*user = NULL;
	*rooms = NULL;
	*info = NULL;
	rc = proto_jwt_verify(cfg, tok, len, (int64_t)time(NULL), &c, why);
	if (rc == WSD_ENOMEM)
		*why = "out of memory";
	if (rc != WSD_OK)
		return rc;
	*user = c.user;
	*rooms = c.rooms;
	*info = c.info;
	return WSD_OK;
}

int
wk_auth_demo_token(const struct settings *cfg, const char *body, size_t len,
		   int64_t now, char **answer, const char **why)
{
	json_t *req, *ans = NULL;
	const json_t *name;
	char *tok = NULL,
	     user[sizeof(PROTO_JWT_DEMO_PREFIX) + PROTO_JWT_DEMO_NAME_MAX];
	int rc;

	*answer = NULL;
	req = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	name = json_object_get(req, "name");
	if (!json_is_object(req) || !json_is_string(name)) {
		json_decref(req);
		*why = "the body must be a JSON object with a name (a string)";
		return WSD_EINVAL;
	}
	rc = proto_jwt_sign_demo(cfg, json_string_value(name),
				 json_string_length(name), now, &tok, why);
	if (rc == WSD_OK) {
		snprintf(user, sizeof(user), "%s%s", PROTO_JWT_DEMO_PREFIX,
			 json_string_value(name));
		ans = json_pack("{s:s, s:s, s:i}", "token", tok, "user", user,
				"expires_in", PROTO_JWT_DEMO_TTL);
		if (ans == NULL ||
		    (*answer = json_dumps(ans, JSON_COMPACT)) == NULL) {
			*why = "out of memory";
			rc = WSD_ENOMEM;
		}
	}
	json_decref(ans);
	json_decref(req);
	free(tok);
	return rc;
}

char *
wk_auth_anonymous(void)
{
	unsigned char rnd[8];
	char id[sizeof(ANON_PREFIX) + 16];
	size_t i;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return NULL;
	memcpy(id, ANON_PREFIX, sizeof(ANON_PREFIX) - 1);
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(id + sizeof(ANON_PREFIX) - 1 + 2 * i, 3, "%02x",
			 rnd[i]);
	return strdup(id);
}
