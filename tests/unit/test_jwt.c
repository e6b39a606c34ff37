/*
 * test_jwt.c: client tokens (proto/jwt.[ch]) against the settings that
 * carry the keys and the claim rules.
 *
 * Tokens are made here two ways: with libjwt from the private half of
 * keys generated in the test (OpenSSL EVP), and by hand (base64url, HMAC)
 * for what libjwt will not produce: alg none, a typ other than JWT, an
 * HS256 token keyed with an RSA public key's PEM text (alg confusion),
 * broken segments. Every refusal is checked by its reason, so that a
 * token refused for the wrong cause shows.
 *
 * Demo tokens (kid "demo", the demo key of the settings) have rules of
 * their own, pinned last: only the demo key verifies them, only while
 * demo_page and allow_anonymous are on, only for a sub "demo:...", and
 * the demo key verifies nothing else; the body of POST /demo/token
 * (wk_auth.c) is checked here too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "../../proto/err.h"
#include "../../proto/jwt.h"
#include "../../proto/settings.h"
#include "../../worker/wk_auth.h"

#define NOW 1700000000LL

/* Keys generated once for the whole file: PEM text, malloc'd. */
static char *rsa_pub, *rsa_priv, *ec_pub, *ec_priv;

static char *
pem_of(EVP_PKEY *k, int private)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;

	assert_non_null(b);
	if (private)
		assert_int_equal(
		    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL),
		    1);
	else
		assert_int_equal(PEM_write_bio_PUBKEY(b, k), 1);
	n = BIO_get_mem_data(b, &p);
	out = strndup(p, (size_t)n);
	assert_non_null(out);
	BIO_free(b);
	return out;
}

static int
setup(void **state)
{
	EVP_PKEY *rsa = EVP_RSA_gen(2048), *ec = EVP_EC_gen("P-256");

	(void)state;
	if (rsa == NULL || ec == NULL)
		return -1;
	rsa_pub = pem_of(rsa, 0);
	rsa_priv = pem_of(rsa, 1);
	ec_pub = pem_of(ec, 0);
	ec_priv = pem_of(ec, 1);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	free(rsa_pub);
	free(rsa_priv);
	free(ec_pub);
	free(ec_priv);
	return 0;
}

/* Default settings, with jwt_secret and the keys given (NULL-ended). */
static void
settings_with(struct settings *s, const char *secret, ...)
{
	const struct setting_row *r =
	    settings_find(settings_worker, settings_worker_n, "jwt.keys");
	const char *k;
	va_list ap;

	assert_int_equal(settings_init(settings_worker, settings_worker_n, s),
			 WSD_OK);
	free(s->jwt_secret);
	s->jwt_secret = strdup(secret);
	va_start(ap, secret);
	while ((k = va_arg(ap, const char *)) != NULL)
		assert_int_equal(setting_set_str(r, s, k, strlen(k)), WSD_OK);
	va_end(ap);
}

static void
settings_done(struct settings *s)
{
	settings_free(settings_worker, settings_worker_n, s);
}

/* "KID:ALG:" followed by the PEM text, malloc'd. */
static char *
key_elem(const char *kid, const char *alg, const char *pem)
{
	char *e = NULL;

	assert_true(asprintf(&e, "%s:%s:%s", kid, alg, pem) > 0);
	return e;
}

static char *
b64url(const void *data, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1), *p;
	int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);

	out[n] = '\0';
	while (n > 0 && out[n - 1] == '=')
		out[--n] = '\0';
	for (p = out; *p; p++)
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
	return out;
}

/*
 * A token by hand: header and payload JSON, signed with HMAC md and key
 * (md NULL: the signature is sig as given).
 */
static char *
hand_token(const char *header, const char *payload, const EVP_MD *md,
	   const char *key, const char *sig)
{
	char *h = b64url(header, strlen(header));
	char *p = b64url(payload, strlen(payload));
	char *input = NULL, *s, *out = NULL;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	assert_true(asprintf(&input, "%s.%s", h, p) > 0);
	if (md != NULL) {
		HMAC(md, key, (int)strlen(key), (unsigned char *)input,
		     strlen(input), mac, &maclen);
		s = b64url(mac, maclen);
	} else {
		s = strdup(sig);
	}
	assert_true(asprintf(&out, "%s.%s", input, s) > 0);
	free(h);
	free(p);
	free(s);
	free(input);
	return out;
}

/* A token made by libjwt: alg, key (secret or private PEM), kid or NULL. */
static char *
lib_token(jwt_alg_t alg, const char *key, const char *kid, const char *claims)
{
	jwt_t *jwt = NULL;
	char *out;

	assert_int_equal(jwt_new(&jwt), 0);
	assert_int_equal(
	    jwt_set_alg(jwt, alg, (const unsigned char *)key, (int)strlen(key)),
	    0);
	if (kid != NULL)
		assert_int_equal(jwt_add_header(jwt, "kid", kid), 0);
	assert_int_equal(jwt_add_grants_json(jwt, claims), 0);
	out = jwt_encode_str(jwt);
	assert_non_null(out);
	jwt_free(jwt);
	return out;
}

/* Claims for alice, valid around NOW. */
static const char *const ALICE = "{\"sub\":\"alice\",\"exp\":1700003600}";

/* Verify tok; returns the reason ("ok" when accepted). */
static const char *
check(const struct settings *s, const char *tok, struct proto_jwt_claims *c)
{
	struct proto_jwt_claims tmp;
	const char *why = "unset";
	int rc;

	rc = proto_jwt_verify(s, tok, strlen(tok), NOW, c ? c : &tmp, &why);
	if (rc == WSD_OK) {
		if (c == NULL)
			proto_jwt_claims_free(&tmp);
		return "ok";
	}
	assert_int_equal(rc, WSD_EINVAL);
	return why;
}

static void
test_sign_verify_roundtrip(void **state)
{
	struct settings s;
	struct proto_jwt_claims c;
	json_t *rooms = json_pack("[s, s]", "chat-*", "news");
	const char *why = NULL;
	char *tok = NULL;

	(void)state;
	settings_with(&s, "", "k1:HS256:first-secret", "k2:HS512:other", NULL);
	assert_int_equal(proto_jwt_sign(&s, "alice", 600, rooms,
					"{\"name\": \"Alice\"}", NOW, &tok,
					&why),
			 WSD_OK);
	assert_string_equal(check(&s, tok, &c), "ok");
	assert_string_equal(c.user, "alice");
	assert_string_equal(c.kid, "k1");
	assert_string_equal(c.alg, "HS256");
	assert_int_equal(c.exp, NOW + 600);
	assert_true(json_equal(c.rooms, rooms));
	assert_string_equal(c.info, "{\"name\":\"Alice\"}");
	proto_jwt_claims_free(&c);
	assert_null(c.user);
	/* Past its ttl (and the leeway) the same token is refused. */
	assert_int_equal(
	    proto_jwt_verify(&s, tok, strlen(tok), NOW + 631, &c, &why),
	    WSD_EINVAL);
	assert_string_equal(why, "expired");
	free(tok);
	/* Without a claim of either kind, neither comes back. */
	assert_int_equal(
	    proto_jwt_sign(&s, "bob", 60, NULL, NULL, NOW, &tok, &why), WSD_OK);
	assert_string_equal(check(&s, tok, &c), "ok");
	assert_null(c.rooms);
	assert_null(c.info);
	proto_jwt_claims_free(&c);
	free(tok);
	json_decref(rooms);
	settings_done(&s);
}

static void
test_sign_refusals(void **state)
{
	struct settings s;
	const char *why = NULL;
	char *tok = NULL, big[1100];
	json_t *bad = json_pack("[s, i]", "a", 1);

	(void)state;
	settings_with(&s, "", NULL);
	assert_int_equal(
	    proto_jwt_sign(&s, "alice", 60, NULL, NULL, NOW, &tok, &why),
	    WSD_EINVAL);
	assert_non_null(strstr(why, "no signing key"));
	settings_done(&s);

	/* Public keys cannot sign. */
	{
		char *rs = key_elem("rsa", "RS256", rsa_pub);

		settings_with(&s, "", rs, NULL);
		assert_int_equal(proto_jwt_sign(&s, "alice", 60, NULL, NULL,
						NOW, &tok, &why),
				 WSD_EINVAL);
		assert_non_null(strstr(why, "public"));
		assert_null(tok);
		settings_done(&s);
		free(rs);
	}

	/* jwt_secret signs HS256 without kid. */
	settings_with(&s, "legacy", NULL);
	assert_int_equal(
	    proto_jwt_sign(&s, "alice", 60, NULL, NULL, NOW, &tok, &why),
	    WSD_OK);
	{
		struct proto_jwt_claims c;

		assert_string_equal(check(&s, tok, &c), "ok");
		assert_string_equal(c.kid, "");
		assert_string_equal(c.alg, "HS256");
		proto_jwt_claims_free(&c);
	}
	free(tok);
	tok = NULL;
	assert_int_equal(
	    proto_jwt_sign(&s, "", 60, NULL, NULL, NOW, &tok, &why),
	    WSD_EINVAL);
	assert_int_equal(
	    proto_jwt_sign(&s, "alice", 0, NULL, NULL, NOW, &tok, &why),
	    WSD_EINVAL);
	assert_int_equal(
	    proto_jwt_sign(&s, "alice", 60, bad, NULL, NOW, &tok, &why),
	    WSD_EINVAL);
	assert_string_equal(why, "rooms must be a list of strings");
	assert_int_equal(
	    proto_jwt_sign(&s, "alice", 60, NULL, "[1]", NOW, &tok, &why),
	    WSD_EINVAL);
	assert_string_equal(why, "info must be a JSON object");
	/* An info over jwt.info_max_bytes (1024) is not signed. */
	memset(big, 'x', sizeof(big));
	memcpy(big, "{\"a\":\"", 6);
	memcpy(big + 1050, "\"}", 3);
	assert_int_equal(
	    proto_jwt_sign(&s, "alice", 60, NULL, big, NOW, &tok, &why),
	    WSD_EINVAL);
	assert_string_equal(why, "info claim too large");
	assert_null(tok);
	json_decref(bad);
	settings_done(&s);
}

static void
test_hs384_hs512_and_legacy(void **state)
{
	struct settings s;
	struct proto_jwt_claims c;
	char *t;

	(void)state;
	settings_with(&s, "legacy-secret", "a:HS384:three-eight-four",
		      "b:HS512:five-twelve", NULL);
	t = lib_token(JWT_ALG_HS384, "three-eight-four", "a", ALICE);
	assert_string_equal(check(&s, t, &c), "ok");
	assert_string_equal(c.kid, "a");
	assert_string_equal(c.alg, "HS384");
	proto_jwt_claims_free(&c);
	free(t);
	/* Without kid, the keys of the token's alg are tried. */
	t = lib_token(JWT_ALG_HS512, "five-twelve", NULL, ALICE);
	assert_string_equal(check(&s, t, &c), "ok");
	assert_string_equal(c.kid, "b");
	proto_jwt_claims_free(&c);
	free(t);
	/* A kid names one key: b's secret under kid a is refused. */
	t = lib_token(JWT_ALG_HS512, "five-twelve", "a", ALICE);
	assert_string_equal(check(&s, t, NULL), "alg not allowed for key");
	free(t);
	t = lib_token(JWT_ALG_HS384, "five-twelve", "a", ALICE);
	assert_string_equal(check(&s, t, NULL), "bad signature");
	free(t);
	/* jwt_secret is a key without kid for every HS alg. */
	t = lib_token(JWT_ALG_HS512, "legacy-secret", NULL, ALICE);
	assert_string_equal(check(&s, t, &c), "ok");
	assert_string_equal(c.kid, "");
	proto_jwt_claims_free(&c);
	free(t);
	t = lib_token(JWT_ALG_HS256, "legacy-secret", NULL, ALICE);
	assert_string_equal(check(&s, t, NULL), "ok");
	free(t);
	/* ... but not under a kid. */
	t = lib_token(JWT_ALG_HS256, "legacy-secret", "legacy", ALICE);
	assert_string_equal(check(&s, t, NULL), "unknown kid");
	free(t);
	/* No HS256 key but jwt_secret: another secret is a bad signature. */
	t = lib_token(JWT_ALG_HS256, "guess", NULL, ALICE);
	assert_string_equal(check(&s, t, NULL), "bad signature");
	free(t);
	settings_done(&s);
	/* Without jwt_secret and without an HS256 key, nothing to try. */
	settings_with(&s, "", "a:HS384:three-eight-four", NULL);
	t = lib_token(JWT_ALG_HS256, "three-eight-four", NULL, ALICE);
	assert_string_equal(check(&s, t, NULL), "no key for alg");
	free(t);
	settings_done(&s);
}

static void
test_rs256_es256(void **state)
{
	struct settings s;
	struct proto_jwt_claims c;
	char *rs = key_elem("rsa", "RS256", rsa_pub);
	char *es = key_elem("ec", "ES256", ec_pub);
	char *t;
	size_t n;

	(void)state;
	settings_with(&s, "", rs, es, NULL);
	t = lib_token(JWT_ALG_RS256, rsa_priv, "rsa", ALICE);
	assert_string_equal(check(&s, t, &c), "ok");
	assert_string_equal(c.kid, "rsa");
	assert_string_equal(c.alg, "RS256");
	proto_jwt_claims_free(&c);
	/* A changed signature byte. */
	n = strlen(t);
	t[n - 3] = t[n - 3] == 'A' ? 'B' : 'A';
	assert_string_equal(check(&s, t, NULL), "bad signature");
	free(t);
	t = lib_token(JWT_ALG_ES256, ec_priv, "ec", ALICE);
	assert_string_equal(check(&s, t, &c), "ok");
	assert_string_equal(c.alg, "ES256");
	proto_jwt_claims_free(&c);
	free(t);
	/* Without kid, by alg. */
	t = lib_token(JWT_ALG_ES256, ec_priv, NULL, ALICE);
	assert_string_equal(check(&s, t, &c), "ok");
	assert_string_equal(c.kid, "ec");
	proto_jwt_claims_free(&c);
	free(t);
	t = lib_token(JWT_ALG_RS256, rsa_priv, NULL, ALICE);
	assert_string_equal(check(&s, t, NULL), "ok");
	free(t);
	/* An RS256 token under the EC key's kid. */
	t = lib_token(JWT_ALG_RS256, rsa_priv, "ec", ALICE);
	assert_string_equal(check(&s, t, NULL), "alg not allowed for key");
	free(t);
	settings_done(&s);
	free(rs);
	free(es);
}

/* HS256 keyed with the RSA public key's PEM text must never pass. */
static void
test_alg_confusion(void **state)
{
	struct settings s;
	char *rs = key_elem("rsa", "RS256", rsa_pub);
	char *t;

	(void)state;
	settings_with(&s, "", rs, NULL);
	t = hand_token("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"rsa\"}",
		       ALICE, EVP_sha256(), rsa_pub, NULL);
	assert_string_equal(check(&s, t, NULL), "alg not allowed for key");
	free(t);
	t = hand_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", ALICE,
		       EVP_sha256(), rsa_pub, NULL);
	assert_string_equal(check(&s, t, NULL), "no key for alg");
	free(t);
	settings_done(&s);
	/* With an HS256 key beside it, still a bad signature. */
	settings_with(&s, "legacy", rs, "h:HS256:hmac-secret", NULL);
	t = hand_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", ALICE,
		       EVP_sha256(), rsa_pub, NULL);
	assert_string_equal(check(&s, t, NULL), "bad signature");
	free(t);
	/* A lower-case alg is not the key's ALG (libjwt would take it). */
	t = hand_token("{\"alg\":\"hs256\"}", ALICE, EVP_sha256(),
		       "hmac-secret", NULL);
	assert_string_equal(check(&s, t, NULL), "alg not supported");
	free(t);
	t = hand_token("{\"alg\":\"HS256\"}", ALICE, EVP_sha256(),
		       "hmac-secret", NULL);
	assert_string_equal(check(&s, t, NULL), "ok");
	free(t);
	settings_done(&s);
	free(rs);
}

static void
test_alg_none(void **state)
{
	static const char *const headers[] = {
	    "{\"alg\":\"none\"}", "{\"alg\":\"none\",\"typ\":\"JWT\"}",
	    "{\"alg\":\"NONE\"}", "{\"alg\":\"None\",\"kid\":\"h\"}"};
	struct settings s;
	size_t i;
	char *t;

	(void)state;
	settings_with(&s, "legacy", "h:HS256:hmac-secret", NULL);
	for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		t = hand_token(headers[i], ALICE, NULL, NULL, "");
		assert_string_equal(check(&s, t, NULL), "alg none not allowed");
		free(t);
		t = hand_token(headers[i], ALICE, NULL, NULL, "c2ln");
		assert_string_equal(check(&s, t, NULL), "alg none not allowed");
		free(t);
	}
	settings_done(&s);
	/* Not even with no key configured at all. */
	settings_with(&s, "", NULL);
	t = hand_token("{\"alg\":\"none\"}", ALICE, NULL, NULL, "");
	assert_string_equal(check(&s, t, NULL), "alg none not allowed");
	free(t);
	settings_done(&s);
}

static void
test_unknown_kid(void **state)
{
	struct settings s;
	char *t;

	(void)state;
	settings_with(&s, "legacy", "h:HS256:hmac-secret", NULL);
	t = lib_token(JWT_ALG_HS256, "hmac-secret", "other", ALICE);
	assert_string_equal(check(&s, t, NULL), "unknown kid");
	free(t);
	t = hand_token("{\"alg\":\"HS256\",\"kid\":7}", ALICE, EVP_sha256(),
		       "hmac-secret", NULL);
	assert_string_equal(check(&s, t, NULL), "malformed");
	free(t);
	settings_done(&s);
}

/* exp, nbf and the leeway (jwt.leeway_s, default 30). */
static void
test_time_claims(void **state)
{
	struct settings s;
	char claims[256], *t;
	static const struct {
		long long exp, nbf; /* relative to NOW; nbf 0: none */
		const char *want;
		uint64_t leeway;
	} cases[] = {
	    {-31, 0, "expired", 30}, {-30, 0, "ok", 30},
	    {-29, 0, "ok", 30},	     {-1, 0, "expired", 0},
	    {0, 0, "ok", 0},	     {60, 31, "not yet valid", 30},
	    {60, 30, "ok", 30},	     {60, 1, "not yet valid", 0},
	    {60, -5, "ok", 0},	     {-3000, 0, "expired", 3600 - 1000},
	    {-3000, 0, "ok", 3600},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		settings_with(&s, "legacy", NULL);
		s.jwt_leeway_s = cases[i].leeway;
		if (cases[i].nbf != 0)
			snprintf(claims, sizeof(claims),
				 "{\"sub\":\"a\",\"exp\":%lld,\"nbf\":%lld}",
				 NOW + cases[i].exp, NOW + cases[i].nbf);
		else
			snprintf(claims, sizeof(claims),
				 "{\"sub\":\"a\",\"exp\":%lld}",
				 NOW + cases[i].exp);
		t = lib_token(JWT_ALG_HS256, "legacy", NULL, claims);
		if (strcmp(check(&s, t, NULL), cases[i].want) != 0)
			fail_msg("case %zu: %s, not %s", i, check(&s, t, NULL),
				 cases[i].want);
		free(t);
		settings_done(&s);
	}
	settings_with(&s, "legacy", NULL);
	t = lib_token(JWT_ALG_HS256, "legacy", NULL, "{\"sub\":\"a\"}");
	assert_string_equal(check(&s, t, NULL), "missing exp");
	free(t);
	t = lib_token(JWT_ALG_HS256, "legacy", NULL,
		      "{\"sub\":\"a\",\"exp\":\"1700003600\"}");
	assert_string_equal(check(&s, t, NULL), "missing exp");
	free(t);
	/* A NumericDate may have a fraction. */
	t = lib_token(JWT_ALG_HS256, "legacy", NULL,
		      "{\"sub\":\"a\",\"exp\":1700000010.5}");
	assert_string_equal(check(&s, t, NULL), "ok");
	free(t);
	t = lib_token(JWT_ALG_HS256, "legacy", NULL,
		      "{\"sub\":\"a\",\"exp\":1700003600,\"nbf\":\"x\"}");
	assert_string_equal(check(&s, t, NULL), "malformed");
	free(t);
	settings_done(&s);
}

static void
test_tampered(void **state)
{
	struct settings s;
	char *t, *dot, *forged, *body;

	(void)state;
	settings_with(&s, "legacy", NULL);
	t = lib_token(JWT_ALG_HS256, "legacy", NULL, ALICE);
	/* Another payload under the first signature. */
	body = b64url("{\"sub\":\"admin\",\"exp\":1700003600}",
		      strlen("{\"sub\":\"admin\",\"exp\":1700003600}"));
	dot = strchr(t, '.');
	assert_true(asprintf(&forged, "%.*s.%s%s", (int)(dot - t), t, body,
			     strrchr(t, '.')) > 0);
	assert_string_equal(check(&s, forged, NULL), "bad signature");
	free(forged);
	free(body);
	/* A signature cut short, or missing. */
	t[strlen(t) - 2] = '\0';
	assert_string_equal(check(&s, t, NULL), "bad signature");
	*(strrchr(t, '.') + 1) = '\0';
	assert_string_equal(check(&s, t, NULL), "bad signature");
	free(t);
	settings_done(&s);
}

static void
test_malformed(void **state)
{
	static const char *const bad[] = {
	    "",
	    "abc",
	    "a.b",
	    "a.b.c.d",
	    "!!!.e30.c2ln",
	    ".e30.c2ln",
	    "eyJhbGciOiJIUzI1NiJ9..c2ln",		    /* no payload */
	    "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln",	    /* "not json" */
	    "WzFd.e30.c2ln",				    /* header [1] */
	    "e30.e30.c2ln",				    /* no alg */
	    "eyJhbGciOjF9.e30.c2ln",			    /* alg 1 */
	    "eyJhbGciOiJIUzI1NiJ9.WzFd.c2ln",		    /* payload [1] */
	    "eyJhbGciOiJIUzI1NiJ9.e30.c2ln\"",		    /* a quote */
	    "eyJhbGciOiJIUzI1NiIsImFsZyI6Im5vbmUifQ.e30.x", /* alg twice */
	};
	struct settings s;
	struct proto_jwt_claims c;
	const char *why;
	size_t i;
	char *t;

	(void)state;
	settings_with(&s, "legacy", NULL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *got = check(&s, bad[i], NULL);

		if (strcmp(got, "malformed") != 0 &&
		    strcmp(got, "bad signature") != 0)
			fail_msg("\"%s\": %s", bad[i], got);
		/* Nothing that is not a JWT ever reaches a signature. */
		if (strcmp(got, "malformed") != 0 && i < 12)
			fail_msg("\"%s\": %s, not malformed", bad[i], got);
	}
	/* A NUL inside the length. */
	assert_int_equal(proto_jwt_verify(&s, "e30\0.e30.x", 10, NOW, &c, &why),
			 WSD_EINVAL);
	assert_string_equal(why, "malformed");
	/* Another typ is refused (libjwt would refuse it too). */
	t = hand_token("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", ALICE,
		       EVP_sha256(), "legacy", NULL);
	assert_string_equal(check(&s, t, NULL), "typ is not JWT");
	free(t);
	/* An unknown alg. */
	t = hand_token("{\"alg\":\"RS384\"}", ALICE, EVP_sha256(), "legacy",
		       NULL);
	assert_string_equal(check(&s, t, NULL), "alg not supported");
	free(t);
	settings_done(&s);
}

static void
test_audience_issuer(void **state)
{
	static const struct {
		const char *claims, *want;
	} cases[] = {
	    {"{\"sub\":\"a\",\"exp\":1700003600}", "wrong issuer"},
	    {"{\"sub\":\"a\",\"exp\":1700003600,\"iss\":\"me\"}",
	     "wrong audience"},
	    {"{\"sub\":\"a\",\"exp\":1700003600,\"iss\":\"other\",\"aud\":"
	     "\"wsd\"}",
	     "wrong issuer"},
	    {"{\"sub\":\"a\",\"exp\":1700003600,\"iss\":\"me\",\"aud\":"
	     "\"wsd\"}",
	     "ok"},
	    {"{\"sub\":\"a\",\"exp\":1700003600,\"iss\":\"me\",\"aud\":[\"x\","
	     "\"wsd\"]}",
	     "ok"},
	    {"{\"sub\":\"a\",\"exp\":1700003600,\"iss\":\"me\",\"aud\":[\"x\","
	     "\"wsdx\"]}",
	     "wrong audience"},
	    {"{\"sub\":\"a\",\"exp\":1700003600,\"iss\":\"me\",\"aud\":[]}",
	     "wrong audience"},
	    {"{\"sub\":\"a\",\"exp\":1700003600,\"iss\":\"me\",\"aud\":1}",
	     "wrong audience"},
	};
	struct settings s;
	size_t i;
	char *t;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		settings_with(&s, "legacy", NULL);
		free(s.jwt_audience);
		free(s.jwt_issuer);
		s.jwt_audience = strdup("wsd");
		s.jwt_issuer = strdup("me");
		t = lib_token(JWT_ALG_HS256, "legacy", NULL, cases[i].claims);
		if (strcmp(check(&s, t, NULL), cases[i].want) != 0)
			fail_msg("case %zu: %s, not %s", i, check(&s, t, NULL),
				 cases[i].want);
		settings_done(&s);
		/* Unset, neither is checked. */
		settings_with(&s, "legacy", NULL);
		assert_string_equal(check(&s, t, NULL), "ok");
		settings_done(&s);
		free(t);
	}
}

static void
test_sub_rooms_info(void **state)
{
	struct settings s;
	struct proto_jwt_claims c;
	char claims[2200], *t;

	(void)state;
	settings_with(&s, "legacy", NULL);
	t = lib_token(JWT_ALG_HS256, "legacy", NULL,
		      "{\"sub\":\"\",\"exp\":1700003600}");
	assert_string_equal(check(&s, t, NULL), "missing or invalid sub");
	free(t);
	t = lib_token(JWT_ALG_HS256, "legacy", NULL,
		      "{\"sub\":\"a\\nb\",\"exp\":1700003600}");
	assert_string_equal(check(&s, t, NULL), "missing or invalid sub");
	free(t);
	t = lib_token(JWT_ALG_HS256, "legacy", NULL,
		      "{\"sub\":5,\"exp\":1700003600}");
	assert_string_equal(check(&s, t, NULL), "missing or invalid sub");
	free(t);
	/* rooms that is not a list allows none: an empty list. */
	t = lib_token(JWT_ALG_HS256, "legacy", NULL,
		      "{\"sub\":\"a\",\"exp\":1700003600,\"rooms\":\"x\"}");
	assert_string_equal(check(&s, t, &c), "ok");
	assert_true(json_is_array(c.rooms));
	assert_int_equal(json_array_size(c.rooms), 0);
	proto_jwt_claims_free(&c);
	free(t);
	/* info: an object, compact, at most jwt.info_max_bytes. */
	t = lib_token(JWT_ALG_HS256, "legacy", NULL,
		      "{\"sub\":\"a\",\"exp\":1700003600,\"info\":[1]}");
	assert_string_equal(check(&s, t, NULL), "info must be an object");
	free(t);
	t = lib_token(JWT_ALG_HS256, "legacy", NULL,
		      "{\"sub\":\"a\",\"exp\":1700003600,\"info\":\"x\"}");
	assert_string_equal(check(&s, t, NULL), "info must be an object");
	free(t);
	/* {"n":"xxx..."}: 8 bytes besides the x's; 1024 is the limit. */
	snprintf(claims, sizeof(claims),
		 "{\"sub\":\"a\",\"exp\":1700003600,\"info\": {\"n\" : "
		 "\"%01016d\"}}",
		 0);
	t = lib_token(JWT_ALG_HS256, "legacy", NULL, claims);
	assert_string_equal(check(&s, t, &c), "ok");
	assert_int_equal(strlen(c.info), 1024);
	assert_int_equal(strncmp(c.info, "{\"n\":\"0", 7), 0);
	proto_jwt_claims_free(&c);
	free(t);
	snprintf(claims, sizeof(claims),
		 "{\"sub\":\"a\",\"exp\":1700003600,\"info\":{\"n\":"
		 "\"%01017d\"}}",
		 0);
	t = lib_token(JWT_ALG_HS256, "legacy", NULL, claims);
	assert_string_equal(check(&s, t, NULL), "info claim too large");
	s.jwt_info_max_bytes = 1025;
	assert_string_equal(check(&s, t, NULL), "ok");
	free(t);
	settings_done(&s);
}

static void
test_key_parse_check(void **state)
{
	static const char *const bad[] = {
	    "",		 "k",	     "k:HS256",	  ":HS256:x",	   "k:HS257:x",
	    "k:hs256:x", "k:HS256:", "k:RS384:x", "k\001:HS256:x",
	};
	struct proto_jwt_key k;
	const char *why;
	char *e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (proto_jwt_key_parse(bad[i], &k, &why) != WSD_EINVAL)
			fail_msg("\"%s\" parsed", bad[i]);
	assert_int_equal(proto_jwt_key_parse("k:HS256:a:b", &k, &why), WSD_OK);
	assert_int_equal(k.kidlen, 1);
	assert_string_equal(k.alg, "HS256");
	assert_string_equal(k.value, "a:b");
	assert_true(k.hmac);
	assert_int_equal(proto_jwt_key_check(&k, &why), WSD_OK);
	/* A PEM of the wrong type, or no PEM. */
	e = key_elem("r", "RS256", ec_pub);
	assert_int_equal(proto_jwt_key_parse(e, &k, &why), WSD_OK);
	assert_int_equal(proto_jwt_key_check(&k, &why), WSD_EINVAL);
	free(e);
	e = key_elem("e", "ES256", rsa_pub);
	assert_int_equal(proto_jwt_key_parse(e, &k, &why), WSD_OK);
	assert_int_equal(proto_jwt_key_check(&k, &why), WSD_EINVAL);
	free(e);
	assert_int_equal(proto_jwt_key_parse("e:ES256:secret", &k, &why),
			 WSD_OK);
	assert_int_equal(proto_jwt_key_check(&k, &why), WSD_EINVAL);
	e = key_elem("e", "ES256", ec_pub);
	assert_int_equal(proto_jwt_key_parse(e, &k, &why), WSD_OK);
	assert_int_equal(proto_jwt_key_check(&k, &why), WSD_OK);
	free(e);
	e = key_elem("r", "RS256", rsa_pub);
	assert_int_equal(proto_jwt_key_parse(e, &k, &why), WSD_OK);
	assert_int_equal(proto_jwt_key_check(&k, &why), WSD_OK);
	free(e);
}

/* The demo key of the tests: bytes 0x01..0x20 (no NUL, so hand_token
 * can take it as a string), and the same as hex. */
static const char DEMO_HEX[] =
    "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";
static const char DEMO_HEX2[] =
    "a102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";

static void
demo_key_set(struct settings *s, const char *hex)
{
	const struct setting_row *r =
	    settings_find(settings_worker, settings_worker_n, "demo:key");

	assert_non_null(r);
	assert_int_equal(setting_set_str(r, s, hex, strlen(hex)), WSD_OK);
}

static char *
demo_raw_key(void)
{
	char *k = malloc(33);
	int i;

	for (i = 0; i < 32; i++)
		k[i] = (char)(i + 1);
	k[32] = '\0';
	return k;
}

/* Mint a demo token for name; the reason when refused. */
static const char *
mint(const struct settings *s, const char *name, char **tok)
{
	const char *why = "unset";

	*tok = NULL;
	if (proto_jwt_sign_demo(s, name, strlen(name), NOW, tok, &why) ==
	    WSD_OK)
		return "ok";
	assert_null(*tok);
	return why;
}

/* A minted token verifies as demo:NAME with its info, and only then. */
static void
test_demo_roundtrip(void **state)
{
	struct settings s;
	struct proto_jwt_claims c;
	const char *why;
	char *tok;

	(void)state;
	settings_with(&s, "legacy", "k1:HS256:hmac-secret", NULL);
	assert_false(proto_jwt_demo_on(&s)); /* no key drawn yet */
	assert_string_equal(mint(&s, "alice", &tok), "demo tokens are off");
	demo_key_set(&s, DEMO_HEX);
	assert_true(proto_jwt_demo_on(&s));
	assert_string_equal(mint(&s, "Alice B_2-x", &tok), "ok");
	assert_string_equal(check(&s, tok, &c), "ok");
	assert_string_equal(c.user, "demo:Alice B_2-x");
	assert_string_equal(c.kid, "demo");
	assert_string_equal(c.alg, "HS256");
	assert_int_equal(c.exp, NOW + PROTO_JWT_DEMO_TTL);
	assert_string_equal(c.info, "{\"name\":\"Alice B_2-x\"}");
	assert_null(c.rooms);
	proto_jwt_claims_free(&c);
	/* An hour later (and the leeway) it is expired. */
	assert_int_equal(proto_jwt_verify(&s, tok, strlen(tok),
					  NOW + PROTO_JWT_DEMO_TTL + 31, &c,
					  &why),
			 WSD_EINVAL);
	assert_string_equal(why, "expired");
	/* A restart draws another key: the old token no longer verifies. */
	free(s.demo_key);
	s.demo_key = NULL;
	demo_key_set(&s, DEMO_HEX2);
	assert_string_equal(check(&s, tok, NULL), "bad signature");
	free(tok);
	settings_done(&s);
}

static void
test_demo_names(void **state)
{
	static const char *const bad[] = {
	    "",
	    " alice",
	    "alice ",
	    "al.ice",
	    "al/ice",
	    "al:ice",
	    "\xc3\xa9t\xc3\xa9",
	    "a\tb",
	    "<b>",
	    "x\"y",
	    "aaaaaaaaaaaaaaaaaaaaaaaaa", /* 25 */
	};
	struct settings s;
	const char *why;
	char *tok;
	size_t i;

	(void)state;
	settings_with(&s, "", NULL);
	demo_key_set(&s, DEMO_HEX);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_string_equal(
		    mint(&s, bad[i], &tok),
		    "a name is 1 to 24 letters, digits, spaces, _ or -, "
		    "and neither begins nor ends with a space");
	assert_string_equal(mint(&s, "aaaaaaaaaaaaaaaaaaaaaaaa", &tok), "ok");
	free(tok);
	assert_string_equal(mint(&s, "a b", &tok), "ok");
	free(tok);
	/* A NUL inside the name is refused too. */
	assert_int_equal(proto_jwt_sign_demo(&s, "a\0b", 3, NOW, &tok, &why),
			 WSD_EINVAL);
	assert_null(tok);
	settings_done(&s);
}

/* jwt.issuer and jwt.audience are the backend's: a demo token names
 * neither and still verifies, while the backend's tokens must. */
static void
test_demo_issuer_audience(void **state)
{
	struct settings s;
	char *tok, *t;

	(void)state;
	settings_with(&s, "legacy", NULL);
	demo_key_set(&s, DEMO_HEX);
	free(s.jwt_issuer);
	s.jwt_issuer = strdup("https://backend.example");
	free(s.jwt_audience);
	s.jwt_audience = strdup("wsd");
	assert_string_equal(mint(&s, "erin", &tok), "ok");
	assert_string_equal(check(&s, tok, NULL), "ok");
	t = lib_token(JWT_ALG_HS256, "legacy", NULL, ALICE);
	assert_string_equal(check(&s, t, NULL), "wrong issuer");
	free(t);
	free(tok);
	settings_done(&s);
}

/* Demo tokens work only while demo_page and allow_anonymous are on. */
static void
test_demo_switches(void **state)
{
	struct settings s;
	char *tok, *other;

	(void)state;
	settings_with(&s, "", NULL);
	demo_key_set(&s, DEMO_HEX);
	assert_string_equal(mint(&s, "bob", &tok), "ok");
	s.demo_page = 0;
	assert_false(proto_jwt_demo_on(&s));
	assert_string_equal(check(&s, tok, NULL), "demo tokens are off");
	assert_string_equal(mint(&s, "bob", &other), "demo tokens are off");
	s.demo_page = 1;
	s.allow_anonymous = 0;
	assert_false(proto_jwt_demo_on(&s));
	assert_string_equal(check(&s, tok, NULL), "demo tokens are off");
	s.allow_anonymous = 1;
	assert_string_equal(check(&s, tok, NULL), "ok");
	/* A key that is not 64 hex digits is no key. */
	free(s.demo_key);
	s.demo_key = NULL;
	demo_key_set(&s, "0102");
	assert_false(proto_jwt_demo_on(&s));
	assert_string_equal(check(&s, tok, NULL), "demo tokens are off");
	free(s.demo_key);
	s.demo_key = NULL;
	demo_key_set(
	    &s,
	    "zz02030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20");
	assert_string_equal(check(&s, tok, NULL), "demo tokens are off");
	free(tok);
	settings_done(&s);
}

/*
 * kid "demo" is checked with the demo key alone, and only for demo
 * users; the demo key verifies no other token; no config key may be
 * called "demo".
 */
static void
test_demo_key_isolation(void **state)
{
	struct settings s;
	struct proto_jwt_key k;
	const char *why;
	char *raw = demo_raw_key(), *t;

	(void)state;
	settings_with(&s, "legacy", "k1:HS256:hmac-secret", NULL);
	demo_key_set(&s, DEMO_HEX);
	/* Forged: the demo key's signature over another user. */
	t = hand_token("{\"alg\":\"HS256\",\"kid\":\"demo\"}", ALICE,
		       EVP_sha256(), raw, NULL);
	assert_string_equal(check(&s, t, NULL),
			    "a demo token's sub must begin with demo:");
	free(t);
	/* kid demo signed with a config key or jwt_secret: never good. */
	t = hand_token("{\"alg\":\"HS256\",\"kid\":\"demo\"}",
		       "{\"sub\":\"demo:alice\",\"exp\":1700003600}",
		       EVP_sha256(), "hmac-secret", NULL);
	assert_string_equal(check(&s, t, NULL), "bad signature");
	free(t);
	t = hand_token("{\"alg\":\"HS256\",\"kid\":\"demo\"}",
		       "{\"sub\":\"demo:alice\",\"exp\":1700003600}",
		       EVP_sha256(), "legacy", NULL);
	assert_string_equal(check(&s, t, NULL), "bad signature");
	free(t);
	/* Another alg under kid demo, even keyed with the demo key. */
	t = hand_token("{\"alg\":\"HS512\",\"kid\":\"demo\"}",
		       "{\"sub\":\"demo:alice\",\"exp\":1700003600}",
		       EVP_sha512(), raw, NULL);
	assert_string_equal(check(&s, t, NULL), "alg not allowed for key");
	free(t);
	/* The demo key signs a token without kid, or with another kid. */
	t = hand_token("{\"alg\":\"HS256\"}",
		       "{\"sub\":\"demo:alice\",\"exp\":1700003600}",
		       EVP_sha256(), raw, NULL);
	assert_string_equal(check(&s, t, NULL), "bad signature");
	free(t);
	t = hand_token("{\"alg\":\"HS256\",\"kid\":\"k1\"}",
		       "{\"sub\":\"demo:alice\",\"exp\":1700003600}",
		       EVP_sha256(), raw, NULL);
	assert_string_equal(check(&s, t, NULL), "bad signature");
	free(t);
	/* With the demo key signing right, a demo sub passes. */
	t = hand_token("{\"alg\":\"HS256\",\"kid\":\"demo\"}",
		       "{\"sub\":\"demo:alice\",\"exp\":1700003600}",
		       EVP_sha256(), raw, NULL);
	assert_string_equal(check(&s, t, NULL), "ok");
	free(t);
	/* The id is reserved in jwt.keys. */
	assert_int_equal(proto_jwt_key_parse("demo:HS256:secret", &k, &why),
			 WSD_EINVAL);
	assert_string_equal(
	    why, "the key id demo is reserved for the demo page's tokens");
	assert_int_equal(proto_jwt_key_parse("demo2:HS256:secret", &k, &why),
			 WSD_OK);
	free(raw);
	settings_done(&s);
}

/* POST /demo/token's body, as wk_auth_demo_token reads it. */
static void
test_demo_endpoint_body(void **state)
{
	static const char *const bad_body[] = {
	    "",
	    "nope",
	    "[]",
	    "{}",
	    "{\"name\":7}",
	    "{\"nom\":\"alice\"}",
	    "{\"name\":\"a\",\"name\":\"b\"}",
	};
	struct settings s;
	struct proto_jwt_claims c;
	const char *why;
	json_t *o;
	char *ans;
	size_t i;

	(void)state;
	settings_with(&s, "", NULL);
	demo_key_set(&s, DEMO_HEX);
	for (i = 0; i < sizeof(bad_body) / sizeof(bad_body[0]); i++) {
		assert_int_equal(wk_auth_demo_token(&s, bad_body[i],
						    strlen(bad_body[i]), NOW,
						    &ans, &why),
				 WSD_EINVAL);
		assert_null(ans);
		assert_string_equal(
		    why,
		    "the body must be a JSON object with a name (a string)");
	}
	assert_int_equal(
	    wk_auth_demo_token(&s, "{\"name\":\"a.b\"}", 14, NOW, &ans, &why),
	    WSD_EINVAL);
	assert_int_equal(wk_auth_demo_token(&s, "{\"name\":\"a\\u0000b\"}", 19,
					    NOW, &ans, &why),
			 WSD_EINVAL);
	assert_int_equal(
	    wk_auth_demo_token(&s, "{\"name\":\"carol\"}", 16, NOW, &ans, &why),
	    WSD_OK);
	o = json_loads(ans, 0, NULL);
	assert_non_null(o);
	assert_int_equal(json_object_size(o), 3);
	assert_string_equal(json_string_value(json_object_get(o, "user")),
			    "demo:carol");
	assert_int_equal(json_integer_value(json_object_get(o, "expires_in")),
			 3600);
	assert_string_equal(
	    check(&s, json_string_value(json_object_get(o, "token")), &c),
	    "ok");
	assert_string_equal(c.user, "demo:carol");
	proto_jwt_claims_free(&c);
	json_decref(o);
	free(ans);
	s.allow_anonymous = 0;
	assert_int_equal(
	    wk_auth_demo_token(&s, "{\"name\":\"carol\"}", 16, NOW, &ans, &why),
	    WSD_EINVAL);
	assert_string_equal(why, "demo tokens are off");
	settings_done(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sign_verify_roundtrip),
	    cmocka_unit_test(test_sign_refusals),
	    cmocka_unit_test(test_hs384_hs512_and_legacy),
	    cmocka_unit_test(test_rs256_es256),
	    cmocka_unit_test(test_alg_confusion),
	    cmocka_unit_test(test_alg_none),
	    cmocka_unit_test(test_unknown_kid),
	    cmocka_unit_test(test_time_claims),
	    cmocka_unit_test(test_tampered),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_audience_issuer),
	    cmocka_unit_test(test_sub_rooms_info),
	    cmocka_unit_test(test_key_parse_check),
	    cmocka_unit_test(test_demo_roundtrip),
	    cmocka_unit_test(test_demo_names),
	    cmocka_unit_test(test_demo_switches),
	    cmocka_unit_test(test_demo_issuer_audience),
	    cmocka_unit_test(test_demo_key_isolation),
	    cmocka_unit_test(test_demo_endpoint_body),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
