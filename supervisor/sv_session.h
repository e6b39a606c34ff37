/*
 * sv_session.h: sessions and resume tokens, owned by the supervisor.
 *
 * Every admitted connection gets a session id and a resume token, which
 * its welcome message carries. The token binds the session to its user
 * with an HMAC under a key drawn when the supervisor starts. Only minting
 * lives here so far: resuming a session (the client's `resume` message),
 * session lifetimes and keys from the config are not built yet, and a
 * `resume` is answered `unsupported` (docs/architecture.md).
 */
#ifndef WSD_SV_SESSION_H
#define WSD_SV_SESSION_H

#include <stddef.h>

#define SV_SESSION_ID_LEN 32 /* hex digits */
#define SV_TOKEN_MAX 72	     /* a token as a C string, with its NUL */

struct sv_sessions {
	unsigned char key[32]; /* HMAC key of the resume tokens */
};

/* Draw the token key. Returns WSD_OK, or WSD_EAGAIN when OpenSSL's random
 * generator could not give one. */
int sv_sessions_init(struct sv_sessions *s);

/* Forget the key. */
void sv_sessions_fini(struct sv_sessions *s);

/*
 * Mint a session for user[0..ulen): its id (SV_SESSION_ID_LEN hex digits)
 * into id and its resume token into token, both NUL-terminated. Returns
 * WSD_OK, or WSD_EAGAIN when OpenSSL could give no random bytes or no
 * MAC (nothing written).
 */
int sv_session_mint(struct sv_sessions *s, const char *user, size_t ulen,
		    char id[SV_SESSION_ID_LEN + 1], char token[SV_TOKEN_MAX]);

#endif
