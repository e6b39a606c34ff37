/*
 * test_token.c: unit tests of resume tokens and their keys
 * (supervisor/sv_token.h).
 *
 * Covered: a minted token has the documented text (every part checked,
 * the MAC recomputed here with OpenSSL's HMAC-SHA256) and verifies back
 * to the fields it was minted from, at the limits of each field; a token
 * with any one part changed (kid, sid, conn, exp, nonce, user, mac), and
 * a token with any one byte changed anywhere, is refused; an expired
 * token is refused as "expired", one of a key that is not (or no longer)
 * listed as "unknown key", one of a listed id with another secret as
 * "bad signature"; rotation (the first key signs, every key verifies);
 * malformed text (empty, too long, parts missing or extra, wrong lengths,
 * upper-case hex, a NUL byte) refused as "malformed"; the rules of
 * sv_keys_add (id charset and length, secret of 16 to 256 bytes, no
 * duplicate id, at most 16 keys; keys unchanged on a refusal); and key
 * files (comments, blank lines, both separators, CRLF, the line number of
 * an error). Time is passed in, so nothing here depends on the clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../../proto/err.h"
#include "../../supervisor/sv_token.h"

#define NOW 1700000000000ull
#define SECRET1 "0123456789abcdef-one"
#define SECRET2 "fedcba9876543210-two"

/* keys made of the "ID:SECRET" strings given, in order. */
static void
keys_of(struct sv_keys *keys, const char *const *specs, size_t n)
{
	const char *why = NULL;
	size_t i;

	memset(keys, 0, sizeof(*keys));
	for (i = 0; i < n; i++)
		assert_int_equal(
		    sv_keys_add(keys, specs[i], strlen(specs[i]), &why),
		    WSD_OK);
	assert_int_equal(keys->n, n);
}

static void
keys_k1(struct sv_keys *keys)
{
	static const char *const specs[] = {"k1:" SECRET1};

	keys_of(keys, specs, 1);
}

static void
keys_k2(struct sv_keys *keys)
{
	static const char *const specs[] = {"k2:" SECRET2};

	keys_of(keys, specs, 1);
}

static void
keys_k2_k1(struct sv_keys *keys)
{
	static const char *const specs[] = {"k2:" SECRET2, "k1:" SECRET1};

	keys_of(keys, specs, 2);
}

/* A token's fields: sid 00 01 .. 0f, and the user given. */
static void
fields(struct sv_token *t, const char *user)
{
	int i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < SV_SESSION_ID_BYTES; i++)
		t->sid[i] = (uint8_t)i;
	t->conn = 0x1234abcdull;
	t->exp_ms = NOW + 60000;
	t->nonce = 0xdeadbeefcafef00dull;
	t->ulen = strlen(user);
	memcpy(t->user, user, t->ulen);
}

static int
mint(const struct sv_keys *keys, const struct sv_token *t,
     char out[SV_TOKEN_MAX])
{
	int n = sv_token_mint(keys, t, out);

	assert_true(n > 0);
	assert_int_equal(strlen(out), (size_t)n);
	return n;
}

/* Verify a C string; returns the rc, the reason in *why. */
static int
verify(const struct sv_keys *keys, const char *tok, uint64_t now,
       const char **why)
{
	struct sv_token t;

	return sv_token_verify(keys, tok, strlen(tok), now, &t, why);
}

/* tok must be refused for reason. */
static void
assert_refused(const struct sv_keys *keys, const char *tok, size_t len,
	       const char *reason)
{
	struct sv_token t;
	const char *why = NULL;

	assert_int_equal(sv_token_verify(keys, tok, len, NOW, &t, &why),
			 WSD_EINVAL);
	assert_non_null(why);
	assert_string_equal(why, reason);
}

static void
assert_same(const struct sv_token *got, const struct sv_token *want,
	    const char *kid)
{
	assert_string_equal(got->kid, kid);
	assert_memory_equal(got->sid, want->sid, SV_SESSION_ID_BYTES);
	assert_int_equal(got->conn, want->conn);
	assert_int_equal(got->exp_ms, want->exp_ms);
	assert_int_equal(got->nonce, want->nonce);
	assert_int_equal(got->ulen, want->ulen);
	assert_memory_equal(got->user, want->user, want->ulen);
	assert_int_equal(got->user[got->ulen], '\0');
}

/* Mint t under keys, verify it with vkeys, compare. */
static void
roundtrip(const struct sv_keys *keys, const struct sv_keys *vkeys,
	  const struct sv_token *t, const char *kid)
{
	char tok[SV_TOKEN_MAX];
	struct sv_token back;
	const char *why = "unset";
	int n = mint(keys, t, tok);

	memset(&back, 0x5a, sizeof(back));
	assert_int_equal(
	    sv_token_verify(vkeys, tok, (size_t)n, NOW, &back, &why), WSD_OK);
	assert_null(why);
	assert_same(&back, t, kid);
}

/* The index of the start of part i (0: "v1") of tok, and its length. */
static size_t
part_at(const char *tok, int i, size_t *len)
{
	const char *p = tok, *dot;

	while (i-- > 0) {
		p = strchr(p, '.');
		assert_non_null(p);
		p++;
	}
	dot = strchr(p, '.');
	*len = dot ? (size_t)(dot - p) : strlen(p);
	return (size_t)(p - tok);
}

static void
test_mint_text(void **state)
{
	static const char prefix[] = "v1.k1.000102030405060708090a0b0c0d0e0f."
				     "1234abcd.1700000060000.deadbeefcafef00d."
				     "616c696365.";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0, i;
	char tok[SV_TOKEN_MAX], hex[2 * EVP_MAX_MD_SIZE + 1];
	struct sv_keys keys;
	struct sv_token t;
	int n;

	(void)state;
	keys_k1(&keys);
	fields(&t, "alice");
	strcpy(t.kid, "ignored");
	n = mint(&keys, &t, tok);
	assert_int_equal(n, sizeof(prefix) - 1 + 64);
	assert_memory_equal(tok, prefix, sizeof(prefix) - 1);
	/* The MAC: HMAC-SHA256 of all before it, final dot included. */
	assert_non_null(HMAC(EVP_sha256(), SECRET1, (int)strlen(SECRET1),
			     (const unsigned char *)prefix, sizeof(prefix) - 1,
			     mac, &maclen));
	assert_int_equal(maclen, 32);
	for (i = 0; i < maclen; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	assert_string_equal(tok + sizeof(prefix) - 1, hex);
	/* Minting is a function of its input. */
	{
		char again[SV_TOKEN_MAX];

		assert_int_equal(mint(&keys, &t, again), n);
		assert_string_equal(again, tok);
	}
}

static void
test_roundtrip(void **state)
{
	char user[ROOM_NAME_MAX + 1];
	struct sv_keys keys;
	struct sv_token t;

	(void)state;
	keys_k1(&keys);
	fields(&t, "alice");
	roundtrip(&keys, &keys, &t, "k1");

	/* The extremes of each number; a user of any bytes, the longest. */
	t.conn = 0;
	t.exp_ms = UINT64_MAX;
	t.nonce = 0;
	memset(user, 0xff, sizeof(user));
	user[0] = '.';
	user[1] = ':';
	t.ulen = ROOM_NAME_MAX;
	memcpy(t.user, user, ROOM_NAME_MAX);
	roundtrip(&keys, &keys, &t, "k1");
	t.conn = UINT64_MAX;
	t.nonce = UINT64_MAX;
	t.exp_ms = NOW; /* expires this very ms: still valid */
	t.ulen = 1;
	roundtrip(&keys, &keys, &t, "k1");
}

static void
test_mint_refuses(void **state)
{
	char tok[SV_TOKEN_MAX];
	struct sv_keys keys, none;
	struct sv_token t;

	(void)state;
	keys_k1(&keys);
	memset(&none, 0, sizeof(none));
	fields(&t, "alice");
	assert_int_equal(sv_token_mint(&none, &t, tok), WSD_EINVAL);
	t.ulen = 0;
	assert_int_equal(sv_token_mint(&keys, &t, tok), WSD_EINVAL);
	t.ulen = ROOM_NAME_MAX + 1;
	assert_int_equal(sv_token_mint(&keys, &t, tok), WSD_EINVAL);
}

/* Part i of tok with its first character replaced by c. */
static void
tamper_part(const char *tok, int i, char c, char *out)
{
	size_t len, at = part_at(tok, i, &len);

	strcpy(out, tok);
	assert_true(len > 0);
	assert_true(out[at] != c);
	out[at] = c;
}

/* Each part changed to another value of the right shape is refused. */
static void
test_tampered_parts(void **state)
{
	static const struct {
		int part;
		char c;
		const char *why;
	} cases[] = {
	    {1, 'j', "unknown key"},   /* kid k1 -> j1 */
	    {2, 'f', "bad signature"}, /* sid */
	    {3, '9', "bad signature"}, /* conn */
	    {4, '2', "bad signature"}, /* exp: later, not expired */
	    {5, 'a', "bad signature"}, /* nonce */
	    {6, '7', "bad signature"}, /* user "alice" -> "qlice" */
	    {7, '0', "bad signature"}, /* mac */
	};
	static const char *const two[] = {"k1:" SECRET1, "j1:" SECRET1};
	char tok[SV_TOKEN_MAX], bad[SV_TOKEN_MAX];
	struct sv_keys keys, both;
	struct sv_token t;
	const char *why = NULL;
	size_t i, len;

	(void)state;
	keys_k1(&keys);
	fields(&t, "alice");
	mint(&keys, &t, tok);
	/* The mac starts with a digit other than '0' for this input, and
	 * the other parts with the characters the table replaces. */
	assert_true(tok[part_at(tok, 7, &len)] != '0');
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tamper_part(tok, cases[i].part, cases[i].c, bad);
		assert_refused(&keys, bad, strlen(bad), cases[i].why);
	}
	/* Another listed key id with the same secret: still the MAC of
	 * other text, so a bad signature. */
	keys_of(&both, two, 2);
	tamper_part(tok, 1, 'j', bad);
	assert_refused(&both, bad, strlen(bad), "bad signature");
	/* And the untouched token still verifies. */
	assert_int_equal(verify(&keys, tok, NOW, &why), WSD_OK);
}

/* Any one byte of a token changed to anything: never accepted. */
static void
test_tampered_bytes(void **state)
{
	static const char vals[] = "0123456789abcdefABCDEFjkvx.-_:+ \x01\xff";
	char tok[SV_TOKEN_MAX], bad[SV_TOKEN_MAX];
	struct sv_keys keys;
	struct sv_token t;
	size_t pos, v;
	int n;

	(void)state;
	keys_k1(&keys);
	fields(&t, "bob");
	n = mint(&keys, &t, tok);
	for (pos = 0; pos < (size_t)n; pos++) {
		for (v = 0; v < sizeof(vals) - 1; v++) {
			struct sv_token out;
			const char *why = NULL;

			if (tok[pos] == vals[v])
				continue;
			memcpy(bad, tok, (size_t)n);
			bad[pos] = vals[v];
			assert_int_equal(sv_token_verify(&keys, bad, (size_t)n,
							 NOW, &out, &why),
					 WSD_EINVAL);
			assert_non_null(why);
		}
	}
}

static void
test_expired(void **state)
{
	char tok[SV_TOKEN_MAX];
	struct sv_keys keys;
	struct sv_token t;
	const char *why = NULL;

	(void)state;
	keys_k1(&keys);
	fields(&t, "alice");
	t.exp_ms = NOW - 1;
	mint(&keys, &t, tok);
	assert_refused(&keys, tok, strlen(tok), "expired");
	/* The same token a ms earlier was still good. */
	assert_int_equal(verify(&keys, tok, NOW - 1, &why), WSD_OK);
	assert_int_equal(verify(&keys, tok, NOW - 2, &why), WSD_OK);
	assert_int_equal(verify(&keys, tok, UINT64_MAX, &why), WSD_EINVAL);
	assert_string_equal(why, "expired");
	/* Expiry is checked after the signature. */
	tok[strlen(tok) - 1] = tok[strlen(tok) - 1] == '0' ? '1' : '0';
	assert_refused(&keys, tok, strlen(tok), "bad signature");
}

static void
test_unknown_key(void **state)
{
	char tok[SV_TOKEN_MAX];
	struct sv_keys k1, k2, none;
	struct sv_token t;

	(void)state;
	keys_k1(&k1);
	keys_k2(&k2);
	memset(&none, 0, sizeof(none));
	fields(&t, "alice");
	mint(&k1, &t, tok);
	assert_refused(&k2, tok, strlen(tok), "unknown key");
	assert_refused(&none, tok, strlen(tok), "unknown key");
}

/* A listed id whose secret is not the one that signed. */
static void
test_wrong_secret(void **state)
{
	static const char *const other[] = {"k1:" SECRET2};
	char tok[SV_TOKEN_MAX];
	struct sv_keys k1, k1b;
	struct sv_token t;

	(void)state;
	keys_k1(&k1);
	keys_of(&k1b, other, 1);
	fields(&t, "alice");
	mint(&k1, &t, tok);
	assert_refused(&k1b, tok, strlen(tok), "bad signature");
}

/* The first key signs, every key verifies; a removed key does not. */
static void
test_rotation(void **state)
{
	static const char *const k1_k2[] = {"k1:" SECRET1, "k2:" SECRET2};
	char tok[SV_TOKEN_MAX];
	struct sv_keys k1, k2, k21, k12;
	struct sv_token t;
	const char *why;

	(void)state;
	keys_k1(&k1);
	keys_k2(&k2);
	keys_k2_k1(&k21);
	keys_of(&k12, k1_k2, 2);
	fields(&t, "alice");

	/* Minted before the rotation, verified after it. */
	roundtrip(&k1, &k21, &t, "k1");
	/* Minted after it: signed by k2, the first. */
	mint(&k21, &t, tok);
	assert_memory_equal(tok, "v1.k2.", 6);
	roundtrip(&k21, &k2, &t, "k2");
	roundtrip(&k21, &k21, &t, "k2");
	roundtrip(&k21, &k12, &t, "k2");
	assert_refused(&k1, tok, strlen(tok), "unknown key");

	/* k1 removed (cleared and k2 listed alone): its tokens go. */
	mint(&k1, &t, tok);
	assert_int_equal(verify(&k21, tok, NOW, &why), WSD_OK);
	sv_keys_clear(&k21);
	assert_int_equal(k21.n, 0);
	assert_refused(&k21, tok, strlen(tok), "unknown key");
	keys_k2(&k21);
	assert_refused(&k21, tok, strlen(tok), "unknown key");
}

/* tok with part i replaced by repl (a C string; may hold dots). */
static void
replace_part(const char *tok, int i, const char *repl, char *out)
{
	size_t len, at = part_at(tok, i, &len);

	memcpy(out, tok, at);
	strcpy(out + at, repl);
	strcat(out, tok + at + len);
}

/* tok without part i and its dot. */
static void
drop_part(const char *tok, int i, char *out)
{
	size_t len, at = part_at(tok, i, &len);

	memcpy(out, tok, at);
	strcpy(out + at, tok + at + len + 1);
}

static void
test_malformed(void **state)
{
	static const struct {
		int part;
		const char *repl;
	} cases[] = {
	    {0, "v2"},
	    {0, "V1"},
	    {0, ""},
	    {1, ""},
	    {1, "k!"},
	    {1, "k1234567890123456789012345678901x"}, /* 33 */
	    {2, "000102030405060708090A0B0C0D0E0F"},  /* upper case */
	    {2, "000102030405060708090a0b0c0d0e0"},   /* 31 */
	    {2, "000102030405060708090a0b0c0d0e0f0"}, /* 33 */
	    {2, "000102030405060708090a0b0c0d0e0g"},
	    {3, ""},
	    {3, "-1"},
	    {3, "+1"},
	    {3, " 1"},
	    {3, "123456789012345678901234"}, /* 24 digits */
	    {3, "12z"},
	    {4, ""},
	    {4, "1700000060000x"},
	    {4, "17000000600.00"}, /* an extra part */
	    {5, "deadbeefcafef00"},
	    {5, "deadbeefcafef00d0"},
	    {5, "deadbeefcafef0zd"},
	    {6, ""},
	    {6, "616c69636"},  /* odd length */
	    {6, "616C696365"}, /* upper case */
	    {6, "616c69636x"},
	    {7, ""},
	    {7, "0123"},
	};
	char tok[SV_TOKEN_MAX], bad[2 * SV_TOKEN_MAX];
	char user[2 * ROOM_NAME_MAX + 3];
	struct sv_keys keys;
	struct sv_token t;
	size_t i, len;
	int n;

	(void)state;
	keys_k1(&keys);
	fields(&t, "alice");
	n = mint(&keys, &t, tok);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		replace_part(tok, cases[i].part, cases[i].repl, bad);
		assert_refused(&keys, bad, strlen(bad), "malformed");
	}
	/* A user of more than ROOM_NAME_MAX bytes (the token is short
	 * enough: the user is what is refused). */
	memset(user, 'a', 2 * (ROOM_NAME_MAX + 1));
	user[2 * (ROOM_NAME_MAX + 1)] = '\0';
	replace_part(tok, 6, user, bad);
	assert_true(strlen(bad) < SV_TOKEN_MAX);
	assert_refused(&keys, bad, strlen(bad), "malformed");

	assert_refused(&keys, "", 0, "malformed");
	assert_refused(&keys, "v1", 2, "malformed");
	assert_refused(&keys, "v1.", 3, "malformed");
	/* The mac and its dot gone; the last dot gone; a part dropped. */
	part_at(tok, 7, &len);
	assert_refused(&keys, tok, (size_t)n - len, "malformed");
	assert_refused(&keys, tok, (size_t)n - len - 1, "malformed");
	assert_refused(&keys, tok, (size_t)n - 1, "malformed");
	drop_part(tok, 5, bad);
	assert_refused(&keys, bad, strlen(bad), "malformed");
	drop_part(tok, 2, bad);
	assert_refused(&keys, bad, strlen(bad), "malformed");
	/* A dot at the end, or anything after the mac. */
	snprintf(bad, sizeof(bad), "%s.", tok);
	assert_refused(&keys, bad, strlen(bad), "malformed");
	snprintf(bad, sizeof(bad), "%s0", tok);
	assert_refused(&keys, bad, strlen(bad), "malformed");
	/* A NUL byte, in a part and at the end (len counts it). */
	memcpy(bad, tok, (size_t)n + 1);
	assert_refused(&keys, bad, (size_t)n + 1, "malformed");
	bad[part_at(tok, 2, &len) + 3] = '\0';
	assert_refused(&keys, bad, (size_t)n, "malformed");
	/* Too long: SV_TOKEN_MAX bytes and more are refused unread. */
	memset(bad, 'v', sizeof(bad));
	assert_refused(&keys, bad, SV_TOKEN_MAX, "malformed");
	assert_refused(&keys, bad, sizeof(bad), "malformed");
	memcpy(bad, tok, (size_t)n);
	assert_refused(&keys, bad, SV_TOKEN_MAX, "malformed");
}

/*
 * Numbers written another way than mint writes them: refused, since the
 * MAC covers the text. (CONN, EXP and NONCE are read with strtoull, so
 * upper case, "0x", leading zeros and values over 64 bits, which mint
 * never writes, get past the syntax check and fail on the signature
 * instead of being "malformed"; only the refusal is asserted.)
 */
static void
test_noncanonical(void **state)
{
	static const struct {
		int part;
		const char *repl;
	} cases[] = {
	    {3, "1234ABCD"},
	    {3, "0x1234abcd"},
	    {3, "01234abcd"},
	    {4, "01700000060000"},
	    {5, "DEADBEEFCAFEF00D"},
	    {5, "0xadbeefcafef00d"},
	    {3, "12345678901234567890123"}, /* over 64 bits */
	    {4, "99999999999999999999999"}, /* over 64 bits */
	};
	char tok[SV_TOKEN_MAX], bad[SV_TOKEN_MAX + 8];
	struct sv_keys keys;
	struct sv_token t;
	size_t i;

	(void)state;
	keys_k1(&keys);
	fields(&t, "alice");
	mint(&keys, &t, tok);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sv_token out;
		const char *why = NULL;

		replace_part(tok, cases[i].part, cases[i].repl, bad);
		assert_int_equal(
		    sv_token_verify(&keys, bad, strlen(bad), NOW, &out, &why),
		    WSD_EINVAL);
		assert_non_null(why);
	}
}

/* The longest token fits SV_TOKEN_MAX, and verifies. */
static void
test_longest(void **state)
{
	static const char id[] = "k1234567890123456789012345678901"; /* 32 */
	char spec[SV_KEY_ID_MAX + 1 + sizeof(SECRET1)];
	char tok[SV_TOKEN_MAX];
	struct sv_keys keys;
	struct sv_token t;
	const char *why = NULL;
	int n;

	(void)state;
	snprintf(spec, sizeof(spec), "%s:%s", id, SECRET1);
	memset(&keys, 0, sizeof(keys));
	assert_int_equal(sv_keys_add(&keys, spec, strlen(spec), &why), WSD_OK);
	fields(&t, "x");
	memset(t.user, 'u', ROOM_NAME_MAX);
	t.ulen = ROOM_NAME_MAX;
	t.conn = UINT64_MAX;
	t.exp_ms = UINT64_MAX;
	n = sv_token_mint(&keys, &t, tok);
	assert_int_equal(n, SV_TOKEN_MAX - 1);
	roundtrip(&keys, &keys, &t, id);
}

static void
assert_add_refused(struct sv_keys *keys, const char *s, size_t len)
{
	struct sv_keys before = *keys;
	const char *why = NULL;

	assert_int_equal(sv_keys_add(keys, s, len, &why), WSD_EINVAL);
	assert_non_null(why);
	assert_memory_equal(keys, &before, sizeof(before));
}

static void
test_keys_add(void **state)
{
	char s[400], id[40];
	struct sv_keys keys;
	const char *why = NULL;
	int i;

	(void)state;
	memset(&keys, 0, sizeof(keys));
	/* Every allowed id character. */
	assert_int_equal(sv_keys_add(&keys, "aZ09-_:" SECRET1,
				     strlen("aZ09-_:" SECRET1), &why),
			 WSD_OK);
	assert_string_equal(keys.k[0].id, "aZ09-_");
	assert_int_equal(keys.k[0].len, strlen(SECRET1));
	assert_memory_equal(keys.k[0].secret, SECRET1, strlen(SECRET1));
	/* The first colon ends the id; the secret may hold colons and any
	 * byte, and only len counts. */
	memcpy(s, "k2:ab:cd\0efghijklmnopXYZ", 25);
	assert_int_equal(sv_keys_add(&keys, s, 22, &why), WSD_OK);
	assert_string_equal(keys.k[1].id, "k2");
	assert_int_equal(keys.k[1].len, 19);
	assert_memory_equal(keys.k[1].secret, "ab:cd\0efghijklmnopX", 19);

	assert_add_refused(&keys, SECRET1, strlen(SECRET1)); /* no colon */
	assert_add_refused(&keys, ":" SECRET1, strlen(SECRET1) + 1);
	assert_add_refused(&keys, "k.3:" SECRET1, strlen(SECRET1) + 4);
	assert_add_refused(&keys, "k 3:" SECRET1, strlen(SECRET1) + 4);
	assert_add_refused(&keys, "k\xc3\xa9:" SECRET1, strlen(SECRET1) + 4);
	/* An id of 32 characters, and of 33. */
	memset(id, 'i', 33);
	snprintf(s, sizeof(s), "%.32s:%s", id, SECRET1);
	assert_int_equal(sv_keys_add(&keys, s, strlen(s), &why), WSD_OK);
	snprintf(s, sizeof(s), "%.33s:%s", id, SECRET1);
	assert_add_refused(&keys, s, strlen(s));
	/* Secrets of 15, 16, 256 and 257 bytes. */
	memcpy(s, "s1:", 3);
	memset(s + 3, 'x', 300);
	assert_add_refused(&keys, s, 3 + 15);
	assert_int_equal(sv_keys_add(&keys, s, 3 + 16, &why), WSD_OK);
	memcpy(s, "s2:", 3);
	assert_add_refused(&keys, s, 3 + 257);
	assert_int_equal(sv_keys_add(&keys, s, 3 + 256, &why), WSD_OK);
	assert_int_equal(keys.k[keys.n - 1].len, 256);
	/* An id listed twice, even with another secret. */
	assert_add_refused(&keys, "k2:" SECRET2, strlen(SECRET2) + 3);
	assert_add_refused(&keys, "s1:" SECRET2, strlen(SECRET2) + 3);
	/* But ids are case sensitive. */
	assert_int_equal(
	    sv_keys_add(&keys, "K2:" SECRET2, strlen(SECRET2) + 3, &why),
	    WSD_OK);
	assert_int_equal(keys.n, 6);

	/* At most 16. */
	for (i = (int)keys.n; i < SV_KEYS_MAX; i++) {
		snprintf(s, sizeof(s), "n%d:%s", i, SECRET1);
		assert_int_equal(sv_keys_add(&keys, s, strlen(s), &why),
				 WSD_OK);
	}
	assert_int_equal(keys.n, SV_KEYS_MAX);
	snprintf(s, sizeof(s), "last:%s", SECRET1);
	assert_add_refused(&keys, s, strlen(s));
	assert_int_equal(sv_keys_add(&keys, s, strlen(s), &why), WSD_EINVAL);
	assert_string_equal(why, "at most 16 keys");
	sv_keys_clear(&keys);
	assert_int_equal(keys.n, 0);
	assert_int_equal(keys.k[0].secret[0], 0);
}

static int
parse(struct sv_keys *keys, const char *text, unsigned *line, const char **why)
{
	memset(keys, 0, sizeof(*keys));
	*why = NULL;
	return sv_keys_parse_file(keys, text, strlen(text), line, why);
}

static void
assert_key(const struct sv_keys *keys, uint32_t i, const char *id,
	   const char *secret)
{
	assert_true(i < keys->n);
	assert_string_equal(keys->k[i].id, id);
	assert_int_equal(keys->k[i].len, strlen(secret));
	assert_memory_equal(keys->k[i].secret, secret, strlen(secret));
}

static void
test_parse_file(void **state)
{
	static const char text[] = "# wsd resume keys\n"
				   "\n"
				   "new " SECRET2 "\n"
				   "old:" SECRET1 "\r\n"
				   "\r\n"
				   "   \n"
				   "#old2:" SECRET1 "\n"
				   "mixed " SECRET1 ":with-colon  \n"
				   "last:" SECRET2;
	struct sv_keys keys;
	const char *why;
	unsigned line = 99;

	(void)state;
	assert_int_equal(parse(&keys, text, &line, &why), WSD_OK);
	assert_int_equal(keys.n, 4);
	assert_key(&keys, 0, "new", SECRET2);
	assert_key(&keys, 1, "old", SECRET1);
	assert_key(&keys, 2, "mixed", SECRET1 ":with-colon");
	assert_key(&keys, 3, "last", SECRET2);
	assert_int_equal(parse(&keys, "", &line, &why), WSD_OK);
	assert_int_equal(keys.n, 0);
	assert_int_equal(parse(&keys, "\n\n# only comments\n", &line, &why),
			 WSD_OK);
	assert_int_equal(keys.n, 0);
	/* The first key signs: a file's order is kept. */
	assert_int_equal(parse(&keys, text, &line, &why), WSD_OK);
	assert_string_equal(keys.k[0].id, "new");
}

/* The last line without a newline is read too. */
static void
test_parse_file_last_line(void **state)
{
	struct sv_keys keys;
	const char *why;
	unsigned line;

	(void)state;
	assert_int_equal(parse(&keys, "a " SECRET1 "\nb:" SECRET2, &line, &why),
			 WSD_OK);
	assert_int_equal(keys.n, 2);
	assert_key(&keys, 1, "b", SECRET2);
}

static void
test_parse_file_errors(void **state)
{
	static const struct {
		const char *text;
		unsigned line;
	} cases[] = {
	    {"nosep\n", 1},
	    {"# c\n\nk1 " SECRET1 "\nk2 short\n", 4},
	    {"k1 " SECRET1 "\r\nk1:" SECRET2 "\r\n", 2}, /* twice */
	    {"\n\n\nbad.id " SECRET1, 4},
	    {"k1 " SECRET1 "\n" SECRET1 "\n", 2}, /* a secret alone */
	    {" # indented is not a comment\n", 1},
	};
	struct sv_keys keys;
	const char *why;
	unsigned line;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		line = 0;
		assert_int_equal(parse(&keys, cases[i].text, &line, &why),
				 WSD_EINVAL);
		assert_int_equal(line, cases[i].line);
		assert_non_null(why);
	}
	/* Seventeen keys: the 17th line. */
	{
		char text[17 * 40];
		size_t off = 0;
		int k;

		for (k = 0; k < 17; k++)
			off += (size_t)snprintf(text + off, sizeof(text) - off,
						"k%d %s\n", k, SECRET1);
		assert_int_equal(parse(&keys, text, &line, &why), WSD_EINVAL);
		assert_int_equal(line, 17);
		assert_string_equal(why, "at most 16 keys");
	}
}

static void
test_sid(void **state)
{
	uint8_t a[SV_SESSION_ID_BYTES], b[SV_SESSION_ID_BYTES];
	char hex[SV_SESSION_ID_LEN + 1];
	uint64_t n1 = 0, n2 = 0;
	int i;

	(void)state;
	for (i = 0; i < SV_SESSION_ID_BYTES; i++)
		a[i] = (uint8_t)(0xf0 + i);
	sv_token_sid_hex(a, hex);
	assert_string_equal(hex, "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
	assert_int_equal(sv_token_sid_parse(hex, 32, b), WSD_OK);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(sv_token_sid_parse(hex, 31, b), WSD_EINVAL);
	assert_int_equal(
	    sv_token_sid_parse("F0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF", 32, b),
	    WSD_EINVAL);
	/* Fresh ids and nonces differ (a 2^-128 and 2^-64 chance not). */
	assert_int_equal(sv_token_new_sid(a), WSD_OK);
	assert_int_equal(sv_token_new_sid(b), WSD_OK);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(sv_token_new_nonce(&n1), WSD_OK);
	assert_int_equal(sv_token_new_nonce(&n2), WSD_OK);
	assert_true(n1 != n2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mint_text),
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_mint_refuses),
	    cmocka_unit_test(test_tampered_parts),
	    cmocka_unit_test(test_tampered_bytes),
	    cmocka_unit_test(test_expired),
	    cmocka_unit_test(test_unknown_key),
	    cmocka_unit_test(test_wrong_secret),
	    cmocka_unit_test(test_rotation),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_noncanonical),
	    cmocka_unit_test(test_longest),
	    cmocka_unit_test(test_keys_add),
	    cmocka_unit_test(test_parse_file),
	    cmocka_unit_test(test_parse_file_last_line),
	    cmocka_unit_test(test_parse_file_errors),
	    cmocka_unit_test(test_sid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
