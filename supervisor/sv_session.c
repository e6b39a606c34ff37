/*
 * sv_session.c: session ids and resume tokens (sv_session.h).
 *
 * A session id is 16 random bytes in hex. A token is "1.ID.MAC", where
 * MAC is the first 16 bytes of HMAC-SHA256(key, user), masked with the
 * id's bytes, in hex: it names the session and proves it was minted here
 * for that user.
 */
#include "sv_session.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "../proto/err.h"

int
sv_sessions_init(struct sv_sessions *s)
{
	if (RAND_bytes(s->key, sizeof(s->key)) != 1)
		return WSD_EAGAIN;
	return WSD_OK;
}

void
sv_sessions_fini(struct sv_sessions *s)
{
	OPENSSL_cleanse(s->key, sizeof(s->key));
}

int
sv_session_mint(struct sv_sessions *s, const char *user, size_t ulen,
		char id[SV_SESSION_ID_LEN + 1], char token[SV_TOKEN_MAX])
{
	unsigned char raw[SV_SESSION_ID_LEN / 2], mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t i;
	int n;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return WSD_EAGAIN;
	if (HMAC(EVP_sha256(), s->key, sizeof(s->key),
		 (const unsigned char *)user, ulen, mac, &maclen) == NULL ||
	    maclen < sizeof(raw))
		return WSD_EAGAIN;
	for (i = 0; i < sizeof(raw); i++)
		snprintf(id + 2 * i, 3, "%02x", raw[i]);
	n = snprintf(token, SV_TOKEN_MAX, "1.%s.", id);
	for (i = 0; i < sizeof(raw); i++)
		snprintf(token + n + 2 * i, 3, "%02x", mac[i] ^ raw[i]);
	return WSD_OK;
}
