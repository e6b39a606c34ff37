/*
 * jwt.c: verifying and signing client tokens (jwt.h) with libjwt.
 *
 * libjwt 1.10 decides what to verify from the token itself: it takes the
 * alg of the header as given, skips the signature check when the key is
 * NULL and accepts "none" without a key. So nothing reaches jwt_decode
 * before this file has read the header on its own (base64url, jansson)
 * and picked a key whose ALG is exactly the token's alg; jwt_decode then
 * only checks the signature with that key, and its alg is compared once
 * more. The claims are read from our own parse of the payload, whose
 * bytes the signature covers.
 */
#include "jwt.h"

#include <errno.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "room.h"

/* A signed token lives at most this long (wsctl token --ttl). */
#define TTL_MAX 31536000u

struct alg {
	const char *name;
	jwt_alg_t id;
	int hmac;
};

static const struct alg algs[] = {
    {"HS256", JWT_ALG_HS256, 1}, {"HS384", JWT_ALG_HS384, 1},
    {"HS512", JWT_ALG_HS512, 1}, {"RS256", JWT_ALG_RS256, 0},
    {"ES256", JWT_ALG_ES256, 0},
};

#define NALGS (sizeof(algs) / sizeof(algs[0]))

/* The alg called name[0..len) exactly (case matters), or NULL. */
static const struct alg *
alg_find(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NALGS; i++)
		if (strlen(algs[i].name) == len &&
		    memcmp(algs[i].name, name, len) == 0)
			return &algs[i];
	return NULL;
}

int
proto_jwt_key_parse(const char *s, struct proto_jwt_key *k, const char **why)
{
	const char *c1 = strchr(s, ':'), *c2;
	const struct alg *a;

	memset(k, 0, sizeof(*k));
	*why = "KID:ALG:SECRET or KID:ALG:@FILE expected";
	if (c1 == NULL || (c2 = strchr(c1 + 1, ':')) == NULL)
		return WSD_EINVAL;
	if ((size_t)(c1 - s) > PROTO_JWT_KID_MAX ||
	    !room_name_valid(s, (size_t)(c1 - s))) {
		*why =
		    "the key id must be 1 to 128 bytes without control bytes";
		return WSD_EINVAL;
	}
	if ((size_t)(c1 - s) == sizeof(PROTO_JWT_DEMO_KID) - 1 &&
	    memcmp(s, PROTO_JWT_DEMO_KID, sizeof(PROTO_JWT_DEMO_KID) - 1) ==
		0) {
		*why = "the key id demo is reserved for the demo page's tokens";
		return WSD_EINVAL;
	}
	if ((a = alg_find(c1 + 1, (size_t)(c2 - c1 - 1))) == NULL) {
		*why = "ALG must be HS256, HS384, HS512, RS256 or ES256";
		return WSD_EINVAL;
	}
	if (c2[1] == '\0') {
		*why = "the key is empty";
		return WSD_EINVAL;
	}
	k->kid = s;
	k->kidlen = (size_t)(c1 - s);
	k->alg = a->name;
	k->hmac = a->hmac;
	k->value = c2 + 1;
	k->valuelen = strlen(c2 + 1);
	return WSD_OK;
}

int
proto_jwt_key_check(const struct proto_jwt_key *k, const char **why)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio;
	char group[64];
	int rc = WSD_EINVAL;

	if (k->hmac)
		return WSD_OK; /* any non-empty secret, as parsed */
	if ((bio = BIO_new_mem_buf(k->value, (int)k->valuelen)) == NULL)
		return WSD_ENOMEM;
	pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (strcmp(k->alg, "RS256") == 0) {
		*why = "an RS256 key must be an RSA public key in PEM";
		if (pkey != NULL && EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA)
			rc = WSD_OK;
	} else {
		*why = "an ES256 key must be an EC P-256 public key in PEM";
		if (pkey != NULL && EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC &&
		    EVP_PKEY_get_utf8_string_param(
			pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
			NULL) == 1 &&
		    strcmp(group, "prime256v1") == 0)
			rc = WSD_OK;
	}
	EVP_PKEY_free(pkey);
	return rc;
}

static int
b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Decode the unpadded base64url s[0..len) and parse it as a JSON object.
 * Returns a new reference, or NULL (not base64url, not one JSON object,
 * a key given twice, or out of memory).
 */
static json_t *
segment_json(const char *s, size_t len)
{
	unsigned char *buf;
	json_t *o = NULL;
	uint32_t acc = 0;
	size_t i, n = 0;
	int bits = 0, v;

	if (len == 0 || len % 4 == 1 || (buf = malloc(len)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if ((v = b64url_value((unsigned char)s[i])) < 0)
			goto done;
		acc = (acc << 6) | (uint32_t)v;
		if ((bits += 6) >= 8) {
			bits -= 8;
			buf[n++] = (unsigned char)(acc >> bits);
		}
	}
	o = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
done:
	free(buf);
	return o;
}

/* Does the aud claim (a string or an array of strings) name want? */
static int
audience_ok(const json_t *aud, const char *want)
{
	const json_t *v;
	size_t i;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	json_array_foreach (aud, i, v)
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), want) == 0)
			return 1;
	return 0;
}

/* The token t (NUL-terminated) checked with one key: WSD_OK, WSD_EINVAL
 * (the signature does not verify with it) or WSD_ENOMEM. */
static int
try_key(const char *t, const struct alg *a, const char *key, size_t keylen)
{
	jwt_t *jwt = NULL;
	int rv, rc;

	if (keylen == 0 || keylen > INT32_MAX)
		return WSD_EINVAL;
	rv = jwt_decode(&jwt, t, (const unsigned char *)key, (int)keylen);
	if (rv == ENOMEM)
		rc = WSD_ENOMEM;
	else if (rv == 0 && jwt != NULL && jwt_get_alg(jwt) == a->id)
		rc = WSD_OK;
	else
		rc = WSD_EINVAL;
	jwt_free(jwt);
	return rc;
}

/* The demo key of s as bytes: 1 with key filled, or 0 (none, or not 64
 * hex digits). */
static int
demo_key(const struct settings *s, unsigned char key[PROTO_JWT_DEMO_KEY_LEN])
{
	const char *h = s->demo_key;
	size_t i;
	int hi, lo;

	if (h == NULL || strlen(h) != 2 * PROTO_JWT_DEMO_KEY_LEN)
		return 0;
	for (i = 0; i < PROTO_JWT_DEMO_KEY_LEN; i++) {
		if ((hi = OPENSSL_hexchar2int((unsigned char)h[2 * i])) < 0 ||
		    (lo = OPENSSL_hexchar2int((unsigned char)h[2 * i + 1])) < 0)
			return 0;
		key[i] = (unsigned char)(hi << 4 | lo);
	}
	return 1;
}

int
proto_jwt_demo_on(const struct settings *s)
{
	unsigned char key[PROTO_JWT_DEMO_KEY_LEN];
	int on = s->demo_page && s->allow_anonymous && demo_key(s, key);

	OPENSSL_cleanse(key, sizeof(key));
	return on;
}

/* A token of kid "demo": its signature checked with the demo key alone,
 * as verify_signature. */
static int
verify_demo(const struct settings *s, const char *t, const struct alg *a,
	    struct proto_jwt_claims *out, const char **why)
{
	unsigned char key[PROTO_JWT_DEMO_KEY_LEN];
	int rc;

	if (!s->demo_page || !s->allow_anonymous || !demo_key(s, key)) {
		*why = "demo tokens are off";
		return WSD_EINVAL;
	}
	if (a == NULL || strcmp(a->name, "HS256") != 0) {
		OPENSSL_cleanse(key, sizeof(key));
		*why = "alg not allowed for key";
		return WSD_EINVAL;
	}
	rc = try_key(t, a, (const char *)key, sizeof(key));
	OPENSSL_cleanse(key, sizeof(key));
	if (rc == WSD_EINVAL)
		*why = "bad signature";
	if (rc == WSD_OK) {
		strcpy(out->kid, PROTO_JWT_DEMO_KID);
		out->alg = a->name;
	}
	return rc;
}

/*
 * Find the key for a token whose header is hdr and verify the signature
 * of t with it. Returns WSD_OK with out->kid (the key's id, "" for
 * jwt_secret) and out->alg set, WSD_EINVAL with *why, or WSD_ENOMEM.
 */
static int
verify_signature(const struct settings *s, const char *t, const json_t *hdr,
		 struct proto_jwt_claims *out, const char **why)
{
	const char *alg = json_string_value(json_object_get(hdr, "alg"));
	const json_t *jkid = json_object_get(hdr, "kid");
	const json_t *typ = json_object_get(hdr, "typ");
	const char *want = json_string_value(jkid);
	const struct alg *a;
	struct proto_jwt_key k;
	const char *kwhy;
	uint32_t i;
	int rc, tried = 0;

	*why = "malformed";
	if (alg == NULL || (jkid != NULL && want == NULL))
		return WSD_EINVAL;
	if (strcasecmp(alg, "none") == 0) {
		*why = "alg none not allowed";
		return WSD_EINVAL;
	}
	/* libjwt refuses another typ; say so before it does. */
	if (typ != NULL && (!json_is_string(typ) ||
			    strcasecmp(json_string_value(typ), "JWT") != 0)) {
		*why = "typ is not JWT";
		return WSD_EINVAL;
	}
	a = alg_find(alg, strlen(alg));
	/* The demo key, and it alone, for kid "demo" (jwt.h). */
	if (want != NULL && strcmp(want, PROTO_JWT_DEMO_KID) == 0)
		return verify_demo(s, t, a, out, why);
	for (i = 0; i < s->jwt_keys.n; i++) {
		if (proto_jwt_key_parse(s->jwt_keys.v[i], &k, &kwhy) != WSD_OK)
			continue;
		if (want != NULL) {
			if (strlen(want) != k.kidlen ||
			    memcmp(want, k.kid, k.kidlen) != 0)
				continue;
			if (a == NULL || strcmp(k.alg, a->name) != 0) {
				*why = "alg not allowed for key";
				return WSD_EINVAL;
			}
		} else if (a == NULL || strcmp(k.alg, a->name) != 0) {
			continue;
		}
		tried++;
		if ((rc = try_key(t, a, k.value, k.valuelen)) != WSD_EINVAL) {
			if (rc == WSD_OK) {
				memcpy(out->kid, k.kid, k.kidlen);
				out->kid[k.kidlen] = '\0';
				out->alg = a->name;
			}
			return rc;
		}
		if (want != NULL)
			break; /* a kid names one key only */
	}
	if (want != NULL && tried == 0) {
		*why = "unknown kid";
		return WSD_EINVAL;
	}
	if (want == NULL && a != NULL && a->hmac && s->jwt_secret[0] != '\0') {
		tried++;
		if ((rc = try_key(t, a, s->jwt_secret,
				  strlen(s->jwt_secret))) != WSD_EINVAL) {
			out->kid[0] = '\0';
			out->alg = a->name;
			return rc;
		}
	}
	if (tried > 0)
		*why = "bad signature";
	else if (a == NULL)
		*why = "alg not supported";
	else
		*why = "no key for alg";
	return WSD_EINVAL;
}

/* The claims of a verified payload pl into out; as proto_jwt_verify. */
static int
read_claims(const struct settings *s, const json_t *pl, int64_t now,
	    struct proto_jwt_claims *out, const char **why)
{
	const json_t *exp = json_object_get(pl, "exp");
	const json_t *nbf = json_object_get(pl, "nbf");
	const json_t *v;
	const char *sub;
	double leeway = (double)s->jwt_leeway_s;
	/* jwt.issuer and jwt.audience describe the backend's tokens; a demo
	 * token (out->kid is set by now) is wsd's own and names neither. */
	int demo = strcmp(out->kid, PROTO_JWT_DEMO_KID) == 0;

	if (!json_is_number(exp)) {
		*why = "missing exp";
		return WSD_EINVAL;
	}
	if ((double)now > json_number_value(exp) + leeway) {
		*why = "expired";
		return WSD_EINVAL;
	}
	if (nbf != NULL && !json_is_number(nbf)) {
		*why = "malformed";
		return WSD_EINVAL;
	}
	if (nbf != NULL && (double)now + leeway < json_number_value(nbf)) {
		*why = "not yet valid";
		return WSD_EINVAL;
	}
	v = json_object_get(pl, "iss");
	if (!demo && s->jwt_issuer[0] != '\0' &&
	    (!json_is_string(v) ||
	     strcmp(json_string_value(v), s->jwt_issuer) != 0)) {
		*why = "wrong issuer";
		return WSD_EINVAL;
	}
	if (!demo && s->jwt_audience[0] != '\0' &&
	    !audience_ok(json_object_get(pl, "aud"), s->jwt_audience)) {
		*why = "wrong audience";
		return WSD_EINVAL;
	}
	sub = json_string_value(json_object_get(pl, "sub"));
	if (sub == NULL || !room_name_valid(sub, strlen(sub))) {
		*why = "missing or invalid sub";
		return WSD_EINVAL;
	}
	v = json_object_get(pl, "info");
	if (v != NULL && !json_is_object(v)) {
		*why = "info must be an object";
		return WSD_EINVAL;
	}
	if (v != NULL) {
		if ((out->info = json_dumps(v, JSON_COMPACT)) == NULL)
			return WSD_ENOMEM;
		if (strlen(out->info) > s->jwt_info_max_bytes) {
			*why = "info claim too large";
			return WSD_EINVAL;
		}
	}
	if ((out->user = strdup(sub)) == NULL)
		return WSD_ENOMEM;
	v = json_object_get(pl, "rooms");
	/* A claim that is not a list allows no room at all. */
	if (v != NULL)
		out->rooms =
		    json_is_array(v) ? json_incref((json_t *)v) : json_array();
	if (v != NULL && out->rooms == NULL)
		return WSD_ENOMEM;
	if (json_number_value(exp) >= 9e18)
		out->exp = INT64_MAX;
	else
		out->exp = (int64_t)json_number_value(exp);
	return WSD_OK;
}

int
proto_jwt_verify(const struct settings *s, const char *tok, size_t len,
		 int64_t now, struct proto_jwt_claims *out, const char **why)
{
	json_t *hdr = NULL, *pl = NULL;
	const char *d1, *d2;
	char *t = NULL;
	int rc = WSD_EINVAL;

	memset(out, 0, sizeof(*out));
	*why = "malformed";
	if (len == 0 || len > PROTO_JWT_TOKEN_MAX ||
	    memchr(tok, '\0', len) != NULL)
		return WSD_EINVAL;
	if ((t = strndup(tok, len)) == NULL)
		return WSD_ENOMEM;
	if ((d1 = strchr(t, '.')) == NULL ||
	    (d2 = strchr(d1 + 1, '.')) == NULL || strchr(d2 + 1, '.') != NULL)
		goto done;
	if ((hdr = segment_json(t, (size_t)(d1 - t))) == NULL ||
	    (pl = segment_json(d1 + 1, (size_t)(d2 - d1 - 1))) == NULL)
		goto done;
	if ((rc = verify_signature(s, t, hdr, out, why)) != WSD_OK)
		goto done;
	rc = read_claims(s, pl, now, out, why);
	/* Only demo users come from the demo key, whatever it signed. */
	if (rc == WSD_OK && strcmp(out->kid, PROTO_JWT_DEMO_KID) == 0 &&
	    strncmp(out->user, PROTO_JWT_DEMO_PREFIX,
		    sizeof(PROTO_JWT_DEMO_PREFIX) - 1) != 0) {
		*why = "a demo token's sub must begin with demo:";
		rc = WSD_EINVAL;
	}
done:
	if (rc != WSD_OK)
		proto_jwt_claims_free(out);
	json_decref(hdr);
	json_decref(pl);
	free(t);
	return rc;
}

void
proto_jwt_claims_free(struct proto_jwt_claims *c)
{
	free(c->user);
	json_decref(c->rooms);
	free(c->info);
	memset(c, 0, sizeof(*c));
}

/* The key proto_jwt_sign uses: WSD_OK with *k, or WSD_EINVAL with *why. */
static int
signing_key(const struct settings *s, struct proto_jwt_key *k, const char **why)
{
	const char *kwhy;
	uint32_t i;

	for (i = 0; i < s->jwt_keys.n; i++)
		if (proto_jwt_key_parse(s->jwt_keys.v[i], k, &kwhy) == WSD_OK &&
		    k->hmac)
			return WSD_OK;
	if (s->jwt_secret[0] != '\0') {
		memset(k, 0, sizeof(*k));
		k->alg = "HS256";
		k->hmac = 1;
		k->value = s->jwt_secret;
		k->valuelen = strlen(s->jwt_secret);
		return WSD_OK;
	}
	*why = s->jwt_keys.n > 0 ? "only public keys are configured (jwt.keys "
				   "needs an HS256, HS384 or HS512 key to sign)"
				 : "no signing key is configured (jwt.keys or "
				   "jwt_secret)";
	return WSD_EINVAL;
}

/* The claims of a new token as one object; as proto_jwt_sign. */
static int
sign_claims(const struct settings *s, const char *user, uint64_t ttl_s,
	    const json_t *rooms, const char *info, int64_t now, json_t **out,
	    const char **why)
{
	json_t *c, *v;
	const json_t *p;
	char *text;
	size_t i, n;

	*why = "out of memory";
	if ((c = json_pack("{s:s, s:I, s:I}", "sub", user, "iat",
			   (json_int_t)now, "exp",
			   (json_int_t)(now + (int64_t)ttl_s))) == NULL)
		return WSD_ENOMEM;
	if (rooms != NULL) {
		json_array_foreach (rooms, i, p)
			if (!json_is_string(p))
				break;
		if (!json_is_array(rooms) || i < json_array_size(rooms)) {
			*why = "rooms must be a list of strings";
			goto invalid;
		}
		if ((v = json_deep_copy(rooms)) == NULL ||
		    json_object_set_new(c, "rooms", v) != 0)
			goto nomem;
	}
	if (info != NULL) {
		v = json_loads(info, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(v)) {
			json_decref(v);
			*why = "info must be a JSON object";
			goto invalid;
		}
		text = json_dumps(v, JSON_COMPACT);
		n = text ? strlen(text) : 0;
		free(text);
		if (text == NULL || json_object_set_new(c, "info", v) != 0)
			goto nomem;
		if (n > s->jwt_info_max_bytes) {
			*why = "info claim too large";
			goto invalid;
		}
	}
	*out = c;
	return WSD_OK;
invalid:
	json_decref(c);
	return WSD_EINVAL;
nomem:
	json_decref(c);
	return WSD_ENOMEM;
}

/*
 * The token of claims (borrowed) signed with alg (an HS* name) and
 * key[0..keylen), with kid in the header unless it is "". Returns WSD_OK
 * with *out (malloc'd) or WSD_ENOMEM with *why.
 */
static int
encode(const char *alg, const unsigned char *key, size_t keylen,
       const char *kid, const json_t *claims, char **out, const char **why)
{
	jwt_t *jwt = NULL;
	char *text = NULL;
	int rc = WSD_ENOMEM;

	*why = "out of memory";
	if ((text = json_dumps(claims, JSON_COMPACT)) == NULL ||
	    jwt_new(&jwt) != 0)
		goto done;
	if (jwt_set_alg(jwt, jwt_str_alg(alg), key, (int)keylen) != 0 ||
	    (kid[0] != '\0' && jwt_add_header(jwt, "kid", kid) != 0) ||
	    jwt_add_grants_json(jwt, text) != 0 ||
	    (*out = jwt_encode_str(jwt)) == NULL)
		goto done;
	rc = WSD_OK;
done:
	jwt_free(jwt);
	free(text);
	return rc;
}

int
proto_jwt_sign(const struct settings *s, const char *user, uint64_t ttl_s,
	       const json_t *rooms, const char *info, int64_t now, char **out,
	       const char **why)
{
	struct proto_jwt_key k;
	char kid[PROTO_JWT_KID_MAX + 1];
	json_t *claims = NULL;
	int rc;

	*out = NULL;
	if (user == NULL || !room_name_valid(user, strlen(user))) {
		*why = "the user id must be 1 to 128 bytes without control "
		       "bytes";
		return WSD_EINVAL;
	}
	if (ttl_s == 0 || ttl_s > TTL_MAX) {
		*why = "ttl must be 1 to 31536000 seconds";
		return WSD_EINVAL;
	}
	if ((rc = signing_key(s, &k, why)) != WSD_OK ||
	    (rc = sign_claims(s, user, ttl_s, rooms, info, now, &claims,
			      why)) != WSD_OK)
		return rc;
	memcpy(kid, k.kid ? k.kid : "", k.kidlen);
	kid[k.kidlen] = '\0';
	rc = encode(k.alg, (const unsigned char *)k.value, k.valuelen, kid,
		    claims, out, why);
	json_decref(claims);
	return rc;
}

/* Is name[0..len) a demo name (jwt.h)? */
static int
demo_name_valid(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > PROTO_JWT_DEMO_NAME_MAX || name[0] == ' ' ||
	    name[len - 1] == ' ')
		return 0;
	for (i = 0; i < len; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == ' ' || ch == '_' ||
		      ch == '-'))
			return 0;
	}
	return 1;
}

int
proto_jwt_sign_demo(const struct settings *s, const char *name, size_t len,
		    int64_t now, char **out, const char **why)
{
	unsigned char key[PROTO_JWT_DEMO_KEY_LEN];
	char sub[sizeof(PROTO_JWT_DEMO_PREFIX) + PROTO_JWT_DEMO_NAME_MAX];
	json_t *claims;
	int rc;

	*out = NULL;
	if (!demo_name_valid(name, len)) {
		*why = "a name is 1 to 24 letters, digits, spaces, _ or -, "
		       "and neither begins nor ends with a space";
		return WSD_EINVAL;
	}
	if (!s->demo_page || !s->allow_anonymous || !demo_key(s, key)) {
		*why = "demo tokens are off";
		return WSD_EINVAL;
	}
	snprintf(sub, sizeof(sub), "%s%.*s", PROTO_JWT_DEMO_PREFIX, (int)len,
		 name);
	*why = "out of memory";
	claims = json_pack("{s:s, s:I, s:I, s:{s:s#}}", "sub", sub, "iat",
			   (json_int_t)now, "exp",
			   (json_int_t)(now + PROTO_JWT_DEMO_TTL), "info",
			   "name", name, (int)len);
	rc = claims == NULL ? WSD_ENOMEM
			    : encode("HS256", key, sizeof(key),
				     PROTO_JWT_DEMO_KID, claims, out, why);
	OPENSSL_cleanse(key, sizeof(key));
	json_decref(claims);
	return rc;
}
