/*
 * wk_auth.h: who a client is: its token, found where docs/protocol.md says to
 * look (the query's token=, an Authorization: Bearer header, the cookie
 * wsd_token, first match wins), verified as a JWT with the configured
 * keys (proto/jwt.h); or, when anonymous clients are allowed, a generated
 * user id; and the demo page's tokens, minted for a name (POST
 * /demo/token). Pure: it reads only what it is given, and never logs a
 * token.
 */
#ifndef WSD_WK_AUTH_H
#define WSD_WK_AUTH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../proto/settings.h"

/*
 * Find the client's token in the query string q[0..qlen) (NULL: none),
 * the Authorization header value and the Cookie header value (each may be
 * empty). Returns 1 with *tok and *len pointing into those inputs, or 0
 * when the request carries no token.
 */
int wk_auth_find(const char *q, size_t qlen, const char *authz, size_t authzlen,
		 const char *cookie, size_t cookielen, const char **tok,
		 size_t *len);

/*
 * Verify tok[0..len) with the keys and claim rules of cfg, now
 * (proto_jwt_verify). Returns WSD_OK with *user (the sub, malloc'd),
 * *rooms (the "rooms" claim as a JSON array, or NULL without one) and
 * *info (the "info" claim as compact JSON text, malloc'd, or NULL), all
 * the caller's; WSD_EINVAL with *why, a static reason; or WSD_ENOMEM.
 */
int wk_auth_verify(const char *tok, size_t len, const struct settings *cfg,
		   char **user, json_t **rooms, char **info, const char **why);

/*
 * A generated user id for an anonymous client: "anon-" and 16 hex
 * digits, malloc'd. NULL when out of memory or out of random bytes.
 */
char *wk_auth_anonymous(void);

/*
 * POST /demo/token: body[0..len) is {"name": NAME}; mint NAME a demo token
 * with cfg's demo key, valid from now (proto_jwt_sign_demo). Returns
 * WSD_OK with *answer, the JSON object to send ({"token", "user",
 * "expires_in"}, malloc'd, the caller's); WSD_EINVAL with *why, a static
 * reason for the person (not JSON, a bad name, demo tokens off); or
 * WSD_ENOMEM. body is only read. The token is in *answer alone.
 */
int wk_auth_demo_token(const struct settings *cfg, const char *body, size_t len,
		       int64_t now, char **answer, const char **why);

/* The value of name=VALUE in the query q[0..qlen) (not decoded): 1 with
 * it, or 0. */
int wk_auth_query(const char *q, size_t qlen, const char *name, const char **v,
		  size_t *len);

/* A resume token in the query (resume=TOKEN): 1 with it, or 0. */
int wk_auth_find_resume(const char *q, size_t qlen, const char **tok,
			size_t *len);

#endif
