/*
 * sv_session.h: sessions, owned by the supervisor.
 *
 * Every admitted connection begins a session (or, with `resume`, takes an
 * old one back). While its connection lives, a session is part of the
 * connection's registry entry: its id, the nonce of its one valid resume
 * token, when it began. When the connection goes, the session is detached
 * into the engine with its user and its rooms, each with the seq the room
 * had then, and waits `sessions.ttl_ms` to be resumed. A resume checks the
 * token (sv_token.h), takes the session (from the engine, or from a
 * connection still registered: a takeover), rejoins its rooms and the
 * ones the client lists, answers RESUMED with a fresh token, then sends
 * what the client missed in each room, before anything live.
 */
#ifndef WSD_SV_SESSION_H
#define WSD_SV_SESSION_H

#include <msgpack.h>

#include <stdint.h>

#include "../proto/proto.h"
#include "sv_registry.h"
#include "sv_token.h"

struct sv;

/* Begin a new session for c and mint its token into token. Returns
 * WSD_OK, or WSD_EAGAIN (no random bytes, no key: c is unchanged). */
int sv_session_begin(struct sv *sv, struct sv_conn *c,
		     char token[SV_TOKEN_MAX]);

/* c is going: keep its session in the engine (unless revoked). */
void sv_session_detach(struct sv *sv, struct sv_conn *c);

/* c's worker sent it `resumed` (RESUMED_ACK): the token it resumed with
 * is spent from now on. */
void sv_session_resumed(struct sv_conn *c);

/*
 * Pack the engine's dump (sv_engine.h) with the session of every
 * connected client in it, as if each had just been detached (the
 * connections stay as they are; *nlive: how many). For the state file
 * and its snapshots. Returns WSD_OK or WSD_ENOMEM.
 */
int sv_session_dump(struct sv *sv, msgpack_packer *pk, uint32_t *nlive);

/*
 * Tell c the server is going: {"type":"shutdown","reconnect_after_ms":J,
 * "resume_token":T} with J drawn evenly from [0, spread_ms), then close
 * it with 1001. Returns WSD_OK or as sv_worker_send.
 */
int sv_session_shutdown(struct sv *sv, struct sv_conn *c, uint64_t spread_ms);

/*
 * c's RESUME. A shared engine answers later (the session is taken out of
 * Redis, the rooms are made ready): done(arg, conn) is called once the
 * resume is over, answered or refused, maybe before this returns; c may
 * be gone by then (done gets its id).
 */
typedef void (*sv_session_done_fn)(void *arg, uint64_t conn);
void sv_session_resume(struct sv *sv, struct sv_conn *c,
		       const struct proto_msg *m, sv_session_done_fn done,
		       void *arg);

/* Spend every session of user: detached ones are forgotten, attached ones
 * are marked so that they are not kept when their connection goes (the
 * caller kicks those). Returns how many were spent. */
uint32_t sv_session_revoke(struct sv *sv, const char *user);

#endif
