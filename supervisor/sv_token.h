/*
 * sv_token.h: resume tokens and the keys that sign them (pure).
 *
 * A resume token names a session and proves the supervisor issued it:
 *
 *   v1.KID.SID.CONN.EXP.NONCE.USER.MAC
 *
 * KID is the id of the signing key, SID the session id (32 hex digits),
 * CONN the connection the token was issued to (hex; where the session
 * lives while attached), EXP the expiry in ms since the epoch (decimal),
 * NONCE 16 hex digits drawn at random for this token, USER the user id in
 * hex, and MAC the HMAC-SHA256 under the key KID of everything before it,
 * in hex. Only one token of a session is valid at a time: the session
 * remembers the nonce of its current token, so a token that was used (or
 * replaced) is spent. Keys come from the config (`sessions.keys`, or the
 * key file): the first signs, every key verifies, so a reload that puts a
 * new key first rotates without refusing tokens already handed out.
 */
#ifndef WSD_SV_TOKEN_H
#define WSD_SV_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "../proto/room.h"

#define SV_SESSION_ID_BYTES 16
#define SV_SESSION_ID_LEN 32 /* hex digits */
#define SV_KEY_ID_MAX 32
#define SV_KEY_SECRET_MIN 16
#define SV_KEY_SECRET_MAX 256
#define SV_KEYS_MAX 16
/* "v1." kid "." sid "." conn "." exp "." nonce "." user "." mac, NUL */
#define SV_TOKEN_MAX                                                           \
	(3 + SV_KEY_ID_MAX + 1 + SV_SESSION_ID_LEN + 1 + 16 + 1 + 20 + 1 +     \
	 16 + 1 + 2 * ROOM_NAME_MAX + 1 + 64 + 1)

struct sv_key {
	char id[SV_KEY_ID_MAX + 1];
	unsigned char secret[SV_KEY_SECRET_MAX];
	size_t len;
};

struct sv_keys {
	uint32_t n;
	struct sv_key k[SV_KEYS_MAX];
};

/* What a token says. */
struct sv_token {
	char kid[SV_KEY_ID_MAX + 1]; /* set by sv_token_verify */
	uint8_t sid[SV_SESSION_ID_BYTES];
	uint64_t conn;
	uint64_t exp_ms;
	uint64_t nonce;
	char user[ROOM_NAME_MAX + 1];
	size_t ulen;
};

/*
 * Add the key "ID:SECRET" (s[0..len)) to keys: ID of 1 to 32 letters,
 * digits, '-' or '_', SECRET of 16 to 256 bytes, ID not yet in keys.
 * Returns WSD_OK, or WSD_EINVAL with a static reason in *why.
 */
int sv_keys_add(struct sv_keys *keys, const char *s, size_t len,
		const char **why);

/* Forget every key (cleansed). */
void sv_keys_clear(struct sv_keys *keys);

/*
 * Add the keys of a key file's text: one "ID SECRET" or "ID:SECRET" per
 * line, blank lines and lines starting with # ignored. Returns WSD_OK, or
 * WSD_EINVAL with *line (1-based) and *why.
 */
int sv_keys_parse_file(struct sv_keys *keys, const char *text, size_t len,
		       unsigned *line, const char **why);

/* A new random session id, or a new random nonce. WSD_OK or WSD_EAGAIN
 * (OpenSSL had no random bytes). */
int sv_token_new_sid(uint8_t sid[SV_SESSION_ID_BYTES]);
int sv_token_new_nonce(uint64_t *nonce);

/* sid as 32 hex digits and a NUL. */
void sv_token_sid_hex(const uint8_t sid[SV_SESSION_ID_BYTES],
		      char out[SV_SESSION_ID_LEN + 1]);

/* Parse 32 hex digits; WSD_OK or WSD_EINVAL. */
int sv_token_sid_parse(const char *s, size_t len,
		       uint8_t sid[SV_SESSION_ID_BYTES]);

/*
 * Sign t (its kid is ignored) with the first key into out
 * (SV_TOKEN_MAX bytes). Returns the token's length, WSD_EINVAL when there
 * is no key or the user is too long, or WSD_EAGAIN when OpenSSL failed.
 */
int sv_token_mint(const struct sv_keys *keys, const struct sv_token *t,
		  char out[SV_TOKEN_MAX]);

/*
 * Check tok[0..len): its syntax, a key of keys with its KID, the MAC
 * (compared in constant time) and the expiry against now_ms. Returns
 * WSD_OK with *t filled, or WSD_EINVAL with a static reason in *why
 * ("malformed", "unknown key", "bad signature", "expired").
 */
int sv_token_verify(const struct sv_keys *keys, const char *tok, size_t len,
		    uint64_t now_ms, struct sv_token *t, const char **why);

#endif
