/*
 * sv_pack.c: msgpack helpers shared by the engines (sv_pack.h): a
 * session as one msgpack array, as the memory engine's state file and the
 * Redis engine's session keys hold it, and the checks a reader makes of
 * what it unpacks.
 */
#include "sv_pack.h"

#include <stdlib.h>
#include <string.h>

#include "../proto/err.h"

void
sv_sess_free(struct sv_sess *s)
{
	uint32_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nrooms; i++)
		free(s->rooms[i].name);
	free(s->rooms);
	free(s->user);
	free(s);
}

int
sv_pack_str(msgpack_packer *pk, const char *s, size_t len)
{
	return msgpack_pack_str(pk, len) == 0 &&
		       msgpack_pack_str_body(pk, s, len) == 0
		   ? WSD_OK
		   : WSD_ENOMEM;
}

int
sv_sess_pack(msgpack_packer *pk, const struct sv_sess *s)
{
	uint32_t i;

	if (msgpack_pack_array(pk, 9) != 0 ||
	    msgpack_pack_bin(pk, sizeof(s->id)) != 0 ||
	    msgpack_pack_bin_body(pk, s->id, sizeof(s->id)) != 0 ||
	    msgpack_pack_uint64(pk, s->nonce) != 0 ||
	    msgpack_pack_uint64(pk, s->conn) != 0 ||
	    sv_pack_str(pk, s->user, strlen(s->user)) != WSD_OK ||
	    (s->anonymous ? msgpack_pack_true(pk) : msgpack_pack_false(pk)) !=
		0 ||
	    msgpack_pack_uint64(pk, s->created_ms) != 0 ||
	    msgpack_pack_uint64(pk, s->detached_ms) != 0 ||
	    msgpack_pack_uint64(pk, s->expires_ms) != 0 ||
	    msgpack_pack_array(pk, s->nrooms) != 0)
		return WSD_ENOMEM;
	for (i = 0; i < s->nrooms; i++) {
		const struct sv_sess_room *r = &s->rooms[i];

		if (msgpack_pack_array(pk, 3) != 0 ||
		    sv_pack_str(pk, r->name, strlen(r->name)) != WSD_OK ||
		    msgpack_pack_uint64(pk, r->seq) != 0 ||
		    sv_pack_str(pk, r->epoch, strlen(r->epoch)) != WSD_OK)
			return WSD_ENOMEM;
	}
	return WSD_OK;
}

int
sv_is_array(const msgpack_object *o, uint32_t n)
{
	return o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size == n;
}

int
sv_is_uint(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
}

/* A string of 1 to max bytes with no NUL. */
int
sv_is_str(const msgpack_object *o, uint32_t max)
{
	return o->type == MSGPACK_OBJECT_STR && o->via.str.size > 0 &&
	       o->via.str.size <= max &&
	       memchr(o->via.str.ptr, '\0', o->via.str.size) == NULL;
}

int
sv_is_epoch(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_STR &&
	       o->via.str.size <= SV_EPOCH_LEN &&
	       memchr(o->via.str.ptr, '\0', o->via.str.size) == NULL;
}

struct sv_sess *
sv_sess_unpack(const msgpack_object *o, const char **why)
{
	const msgpack_object *f = o->via.array.ptr;
	struct sv_sess *s;
	uint32_t i;

	*why = "a session is malformed";
	if (!sv_is_array(o, 9) || f[0].type != MSGPACK_OBJECT_BIN ||
	    f[0].via.bin.size != SV_SESSION_ID_BYTES || !sv_is_uint(&f[1]) ||
	    !sv_is_uint(&f[2]) || !sv_is_str(&f[3], NAME_MAX_BYTES) ||
	    f[4].type != MSGPACK_OBJECT_BOOLEAN || !sv_is_uint(&f[5]) ||
	    !sv_is_uint(&f[6]) || !sv_is_uint(&f[7]) ||
	    f[8].type != MSGPACK_OBJECT_ARRAY)
		return NULL;
	for (i = 0; i < f[8].via.array.size; i++) {
		const msgpack_object *x = f[8].via.array.ptr[i].via.array.ptr;

		if (!sv_is_array(&f[8].via.array.ptr[i], 3) ||
		    !sv_is_str(&x[0], NAME_MAX_BYTES) || !sv_is_uint(&x[1]) ||
		    !sv_is_epoch(&x[2]))
			return NULL;
	}
	*why = "out of memory";
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	memcpy(s->id, f[0].via.bin.ptr, sizeof(s->id));
	s->nonce = f[1].via.u64;
	s->conn = f[2].via.u64;
	s->user = strndup(f[3].via.str.ptr, f[3].via.str.size);
	s->anonymous = f[4].via.boolean;
	s->created_ms = f[5].via.u64;
	s->detached_ms = f[6].via.u64;
	s->expires_ms = f[7].via.u64;
	s->rooms = calloc(f[8].via.array.size + 1, sizeof(*s->rooms));
	if (s->user == NULL || s->rooms == NULL) {
		sv_sess_free(s);
		return NULL;
	}
	for (i = 0; i < f[8].via.array.size; i++) {
		const msgpack_object *x = f[8].via.array.ptr[i].via.array.ptr;
		struct sv_sess_room *r = &s->rooms[s->nrooms];

		if ((r->name = strndup(x[0].via.str.ptr, x[0].via.str.size)) ==
		    NULL) {
			sv_sess_free(s);
			return NULL;
		}
		r->seq = x[1].via.u64;
		memcpy(r->epoch, x[2].via.str.ptr, x[2].via.str.size);
		r->epoch[x[2].via.str.size] = '\0';
		s->nrooms++;
	}
	*why = NULL;
	return s;
}
