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
