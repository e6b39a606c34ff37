/*
 * sv_pack.h: a detached session as one msgpack array, and the checks of
 * unpacked msgpack objects the engines' readers share.
 */
#ifndef WSD_SV_PACK_H
#define WSD_SV_PACK_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "sv_engine.h"

#define NAME_MAX_BYTES 1024 /* a user or room name in a dump */

/* WSD_OK or WSD_ENOMEM. */
int sv_pack_str(msgpack_packer *pk, const char *s, size_t len);

/* Pack s as [id, nonce, conn, user, anonymous, created_ms, detached_ms,
 * expires_ms, [[room, seq, epoch], ...]]. WSD_OK or WSD_ENOMEM. */
int sv_sess_pack(msgpack_packer *pk, const struct sv_sess *s);

/* The session o packs (the caller's, sv_sess_free), expired or not; NULL
 * with *why when o is malformed or memory is out. */
struct sv_sess *sv_sess_unpack(const msgpack_object *o, const char **why);

int sv_is_array(const msgpack_object *o, uint32_t n);
int sv_is_uint(const msgpack_object *o);
/* A string of 1 to max bytes with no NUL. */
int sv_is_str(const msgpack_object *o, uint32_t max);
/* A string of at most SV_EPOCH_LEN bytes with no NUL. */
int sv_is_epoch(const msgpack_object *o);

#endif
