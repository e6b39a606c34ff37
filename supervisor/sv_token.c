/*
 * sv_token.c: resume tokens and their keys (sv_token.h), with OpenSSL's
 * HMAC, random generator and constant-time compare.
 */
#include "sv_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/err.h"

#define MAC_HEX 64

static int
key_id_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > SV_KEY_ID_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return 0;
	}
	return 1;
}

static const struct sv_key *
key_find(const struct sv_keys *keys, const char *id, size_t len)
{
	uint32_t i;

	for (i = 0; i < keys->n; i++)
		if (strlen(keys->k[i].id) == len &&
		    memcmp(keys->k[i].id, id, len) == 0)
			return &keys->k[i];
	return NULL;
}

static int
key_add(struct sv_keys *keys, const char *id, size_t idlen, const char *sec,
	size_t seclen, const char **why)
{
	struct sv_key *k;

	if (!key_id_valid(id, idlen)) {
		*why = "a key id is 1 to 32 letters, digits, - or _";
		return WSD_EINVAL;
	}
	if (seclen < SV_KEY_SECRET_MIN || seclen > SV_KEY_SECRET_MAX) {
		*why = "a key secret is 16 to 256 bytes";
		return WSD_EINVAL;
	}
	if (key_find(keys, id, idlen) != NULL) {
		*why = "a key id is listed twice";
		return WSD_EINVAL;
	}
	if (keys->n == SV_KEYS_MAX) {
		*why = "at most 16 keys";
		return WSD_EINVAL;
	}
	k = &keys->k[keys->n++];
	memcpy(k->id, id, idlen);
	k->id[idlen] = '\0';
	memcpy(k->secret, sec, seclen);
	k->len = seclen;
	return WSD_OK;
}

int
sv_keys_add(struct sv_keys *keys, const char *s, size_t len, const char **why)
{
	const char *colon = memchr(s, ':', len);

	if (colon == NULL) {
		*why = "a key is \"ID:SECRET\"";
		return WSD_EINVAL;
	}
	return key_add(keys, s, (size_t)(colon - s), colon + 1,
		       len - (size_t)(colon - s) - 1, why);
}

void
sv_keys_clear(struct sv_keys *keys)
{
	OPENSSL_cleanse(keys, sizeof(*keys));
}

int
sv_keys_parse_file(struct sv_keys *keys, const char *text, size_t len,
		   unsigned *line, const char **why)
{
	const char *p = text, *end = text + len;

	*line = 0;
	while (p < end) {
		const char *e = memchr(p, '\n', (size_t)(end - p)), *sep;
		size_t n;

		if (e == NULL)
			e = end;
		n = (size_t)(e - p);
		(*line)++;
		while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' ||
				 p[n - 1] == '\t'))
			n--;
		if (n > 0 && p[0] != '#') {
			const char *sec, *e2 = p + n;

			/* The id ends at the first space, tab or colon (none
			 * can be in an id); blanks after it are not secret. */
			for (sep = p; sep < e2 && *sep != ' ' && *sep != '\t' &&
				      *sep != ':';
			     sep++)
				;
			if (sep >= e2) {
				*why = "a line is \"ID SECRET\"";
				return WSD_EINVAL;
			}
			sec = sep + 1;
			if (*sep != ':')
				while (sec < e2 &&
				       (*sec == ' ' || *sec == '\t'))
					sec++;
			if (key_add(keys, p, (size_t)(sep - p), sec,
				    (size_t)(e2 - sec), why) != WSD_OK)
				return WSD_EINVAL;
		}
		p = e + 1;
	}
	return WSD_OK;
}

int
sv_token_new_sid(uint8_t sid[SV_SESSION_ID_BYTES])
{
	return RAND_bytes(sid, SV_SESSION_ID_BYTES) == 1 ? WSD_OK : WSD_EAGAIN;
}

int
sv_token_new_nonce(uint64_t *nonce)
{
	return RAND_bytes((unsigned char *)nonce, sizeof(*nonce)) == 1
		   ? WSD_OK
		   : WSD_EAGAIN;
}

static void
hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
unhex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Lower-case hex s[0..2n) into out[0..n); WSD_OK or WSD_EINVAL. */
static int
unhex(const char *s, size_t len, uint8_t *out, size_t n)
{
	size_t i;

	if (len != 2 * n)
		return WSD_EINVAL;
	for (i = 0; i < n; i++) {
		int hi = unhex_digit(s[2 * i]), lo = unhex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return WSD_EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return WSD_OK;
}

void
sv_token_sid_hex(const uint8_t sid[SV_SESSION_ID_BYTES],
		 char out[SV_SESSION_ID_LEN + 1])
{
	hex(sid, SV_SESSION_ID_BYTES, out);
}

int
sv_token_sid_parse(const char *s, size_t len, uint8_t sid[SV_SESSION_ID_BYTES])
{
	return unhex(s, len, sid, SV_SESSION_ID_BYTES);
}

/* HMAC-SHA256 of msg[0..len) under k, in hex. */
static int
mac_hex(const struct sv_key *k, const char *msg, size_t len,
	char out[MAC_HEX + 1])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	if (HMAC(EVP_sha256(), k->secret, (int)k->len,
		 (const unsigned char *)msg, len, mac, &maclen) == NULL ||
	    maclen != MAC_HEX / 2)
		return WSD_EAGAIN;
	hex(mac, maclen, out);
	return WSD_OK;
}

int
sv_token_mint(const struct sv_keys *keys, const struct sv_token *t,
	      char out[SV_TOKEN_MAX])
{
	char sid[SV_SESSION_ID_LEN + 1], user[2 * ROOM_NAME_MAX + 1];
	char mac[MAC_HEX + 1];
	int n;

	if (keys->n == 0 || t->ulen == 0 || t->ulen > ROOM_NAME_MAX)
		return WSD_EINVAL;
	sv_token_sid_hex(t->sid, sid);
	hex((const uint8_t *)t->user, t->ulen, user);
	n = snprintf(out, SV_TOKEN_MAX, "v1.%s.%s.%llx.%llu.%016llx.%s.",
		     keys->k[0].id, sid, (unsigned long long)t->conn,
		     (unsigned long long)t->exp_ms,
		     (unsigned long long)t->nonce, user);
	if (n < 0 || n + MAC_HEX >= SV_TOKEN_MAX)
		return WSD_EINVAL;
	/* The MAC covers everything before it, the final dot included. */
	if (mac_hex(&keys->k[0], out, (size_t)n, mac) != WSD_OK)
		return WSD_EAGAIN;
	memcpy(out + n, mac, MAC_HEX + 1);
	return n + MAC_HEX;
}

/* The next dot-separated part of [*p, end): its start and length. */
static int
part(const char **p, const char *end, const char **s, size_t *len)
{
	const char *dot = memchr(*p, '.', (size_t)(end - *p));

	if (dot == NULL)
		return WSD_EINVAL;
	*s = *p;
	*len = (size_t)(dot - *p);
	*p = dot + 1;
	return WSD_OK;
}

/*
 * Parse the unsigned number that fills s[0..len): lower-case hex (base
 * 16) or decimal digits, no sign, no prefix, no leading zero (but "0"),
 * at most 64 bits. The token's text is the one it was minted as.
 */
static int
number(const char *s, size_t len, int base, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || (len > 1 && s[0] == '0'))
		return WSD_EINVAL;
	for (i = 0; i < len; i++) {
		int d = base == 16
			    ? unhex_digit(s[i])
			    : (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1);

		if (d < 0 || v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return WSD_EINVAL;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	*out = v;
	return WSD_OK;
}

/* Is s[0..len) lower-case hex? */
static int
is_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (unhex_digit(s[i]) < 0)
			return 0;
	return 1;
}

int
sv_token_verify(const struct sv_keys *keys, const char *tok, size_t len,
		uint64_t now_ms, struct sv_token *t, const char **why)
{
	const char *p = tok, *end = tok + len, *s, *mac;
	char want[MAC_HEX + 1];
	const struct sv_key *k;
	uint8_t nonce[8];
	size_t n, i;

	memset(t, 0, sizeof(*t));
	*why = "malformed";
	if (len >= SV_TOKEN_MAX || memchr(tok, '\0', len) != NULL ||
	    part(&p, end, &s, &n) != WSD_OK || n != 2 || memcmp(s, "v1", 2))
		return WSD_EINVAL;
	if (part(&p, end, &s, &n) != WSD_OK || !key_id_valid(s, n))
		return WSD_EINVAL;
	memcpy(t->kid, s, n);
	k = key_find(keys, s, n);
	if (part(&p, end, &s, &n) != WSD_OK ||
	    unhex(s, n, t->sid, SV_SESSION_ID_BYTES) != WSD_OK)
		return WSD_EINVAL;
	if (part(&p, end, &s, &n) != WSD_OK ||
	    number(s, n, 16, &t->conn) != WSD_OK)
		return WSD_EINVAL;
	if (part(&p, end, &s, &n) != WSD_OK ||
	    number(s, n, 10, &t->exp_ms) != WSD_OK)
		return WSD_EINVAL;
	if (part(&p, end, &s, &n) != WSD_OK || n != 16 ||
	    unhex(s, n, nonce, sizeof(nonce)) != WSD_OK)
		return WSD_EINVAL;
	for (i = 0; i < sizeof(nonce); i++)
		t->nonce = t->nonce << 8 | nonce[i];
	if (part(&p, end, &s, &n) != WSD_OK || n == 0 || n % 2 != 0 ||
	    n / 2 > ROOM_NAME_MAX ||
	    unhex(s, n, (uint8_t *)t->user, n / 2) != WSD_OK)
		return WSD_EINVAL;
	t->ulen = n / 2;
	t->user[t->ulen] = '\0';
	mac = p;
	if ((size_t)(end - mac) != MAC_HEX || !is_hex(mac, MAC_HEX))
		return WSD_EINVAL;
	if (k == NULL) {
		*why = "unknown key";
		return WSD_EINVAL;
	}
	if (mac_hex(k, tok, (size_t)(mac - tok), want) != WSD_OK ||
	    CRYPTO_memcmp(want, mac, MAC_HEX) != 0) {
		*why = "bad signature";
		return WSD_EINVAL;
	}
	if (t->exp_ms < now_ms) {
		*why = "expired";
		return WSD_EINVAL;
	}
	*why = NULL;
	return WSD_OK;
}
