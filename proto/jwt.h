/*
 * jwt.h: client tokens (JWT), verified and signed against the settings
 * that cross to the workers, so the worker (at the upgrade) and the
 * supervisor (wsctl token and checktoken) give the same answer.
 *
 * The keys are the list jwt.keys, each element "KID:ALG:VALUE" with ALG
 * one of HS256, HS384, HS512 (VALUE is the HMAC secret) or RS256, ES256
 * (VALUE is a PEM public key), plus the legacy jwt_secret, a key without
 * kid for HS256, HS384 and HS512. In a config file VALUE may be "@PATH";
 * the supervisor replaces it with the file's contents when it loads the
 * config, so what reaches this module is always the key itself.
 *
 * The token's header is read here before libjwt sees it: "alg" must be
 * exactly the ALG of the key used (an RS256 public key is never taken as
 * an HMAC secret), "none" is always refused, and a "kid" selects its key
 * alone. Pure: nothing here logs, and no token is kept.
 *
 * Demo tokens are the one exception to "the keys of the config": the
 * demo page mints them (POST /demo/token) for names people type, signed
 * HS256 with the demo key (settings.h demo_key, which the supervisor
 * draws at every start) and kid "demo". A token whose kid is "demo" is
 * checked with the demo key alone, only while demo_page and
 * allow_anonymous are both on, and only when its sub begins with
 * "demo:"; no key of the config may have the id "demo", and the demo
 * key is tried for no other token. A demo token so proves nothing that
 * an anonymous connection could not claim: anyone may mint any name.
 */
#ifndef WSD_PROTO_JWT_H
#define WSD_PROTO_JWT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "settings.h"

#define PROTO_JWT_KID_MAX 128	  /* bytes of a key id */
#define PROTO_JWT_TOKEN_MAX 65536 /* bytes of a token we look at */

#define PROTO_JWT_DEMO_KID "demo"     /* the kid of demo tokens */
#define PROTO_JWT_DEMO_PREFIX "demo:" /* their sub: the prefix, the name */
#define PROTO_JWT_DEMO_TTL 3600	      /* seconds a demo token is valid */
#define PROTO_JWT_DEMO_NAME_MAX 24    /* bytes of a demo name */
#define PROTO_JWT_DEMO_KEY_LEN 32     /* bytes of the demo key */

/* One element of jwt.keys, split; every pointer borrows from the element. */
struct proto_jwt_key {
	const char *kid;
	size_t kidlen;
	const char *alg; /* "HS256", ..., NUL-terminated, static */
	const char *value;
	size_t valuelen;
	int hmac; /* HS*: value is a secret; else a PEM public key */
};

/* What a verified token says. */
struct proto_jwt_claims {
	char *user;    /* sub, malloc'd */
	json_t *rooms; /* the rooms claim (an array), or NULL */
	char *info;    /* the info claim as compact JSON, or NULL */
	int64_t exp;   /* seconds since the epoch */
	char kid[PROTO_JWT_KID_MAX + 1]; /* the key's id; "" for jwt_secret */
	const char *alg;		 /* static */
};

/*
 * Split s, an element of jwt.keys, into k (which borrows from s). Returns
 * WSD_OK, or WSD_EINVAL with *why, a static reason ("KID:ALG:VALUE
 * expected", "unknown alg", ...).
 */
int proto_jwt_key_parse(const char *s, struct proto_jwt_key *k,
			const char **why);

/*
 * Check that a parsed key can be used: a non-empty secret, or a PEM that
 * holds a public key of its alg's type (RSA for RS256, EC P-256 for
 * ES256). Returns WSD_OK, WSD_EINVAL with *why, or WSD_ENOMEM.
 */
int proto_jwt_key_check(const struct proto_jwt_key *k, const char **why);

/*
 * Verify tok[0..len) against s at time now (seconds since the epoch).
 * Returns WSD_OK with *out filled (the caller frees it with
 * proto_jwt_claims_free); WSD_EINVAL with *why, a static reason for a
 * person ("expired", "bad signature", "unknown kid", ...) and *out
 * zeroed; or WSD_ENOMEM. The token is only read.
 */
int proto_jwt_verify(const struct settings *s, const char *tok, size_t len,
		     int64_t now, struct proto_jwt_claims *out,
		     const char **why);

/* Free what a successful proto_jwt_verify put in c, and zero it. */
void proto_jwt_claims_free(struct proto_jwt_claims *c);

/*
 * Sign a token for user, valid from now for ttl_s seconds, with rooms (an
 * array of patterns, borrowed; NULL: no claim) and info (JSON text of an
 * object, at most jwt.info_max_bytes once compact; NULL: no claim). The
 * key is the first HS* key of jwt.keys (its kid goes in the header), else
 * jwt_secret as HS256 without kid. Returns WSD_OK with *out (malloc'd,
 * the caller's), WSD_EINVAL with *why (no key that can sign, a bad user,
 * rooms or info), or WSD_ENOMEM.
 */
int proto_jwt_sign(const struct settings *s, const char *user, uint64_t ttl_s,
		   const json_t *rooms, const char *info, int64_t now,
		   char **out, const char **why);

/*
 * Whether s lets demo tokens be minted and verified: demo_page and
 * allow_anonymous on, and a demo key of 64 hex digits. 1 or 0.
 */
int proto_jwt_demo_on(const struct settings *s);

/*
 * Mint a demo token for name[0..len): sub "demo:NAME", info {"name":
 * NAME}, exp now + PROTO_JWT_DEMO_TTL, kid "demo", HS256 with the demo
 * key. A name is 1 to PROTO_JWT_DEMO_NAME_MAX bytes of ASCII letters,
 * digits, space, '_' and '-', neither beginning nor ending with a space.
 * Returns WSD_OK with *out (malloc'd, the caller's), WSD_EINVAL with
 * *why (a bad name, or demo tokens off: see proto_jwt_demo_on), or
 * WSD_ENOMEM. name is only read.
 */
int proto_jwt_sign_demo(const struct settings *s, const char *name, size_t len,
			int64_t now, char **out, const char **why);

#endif
