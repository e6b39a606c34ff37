/*
 * sv_message.h: the JSON text of the server messages the supervisor
 * builds for clients (pure). Each is built once and sent as it stands.
 */
#ifndef WSD_SV_MESSAGE_H
#define WSD_SV_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

/*
 * {"type":"message","room":R,"seq":N,"from":F,"data":D,"id":I}. room may
 * be NULL (a direct delivery: no room, no seq), id may be NULL. data is
 * JSON text from a trusted source (a worker that parsed it, or jansson).
 * Returns a malloc'd buffer the caller owns, with its length in *lenp, or
 * NULL when out of memory.
 */
char *sv_message_json(const char *room, size_t roomlen, uint64_t seq,
		      const char *from, size_t fromlen, const char *data,
		      size_t datalen, const char *id, size_t idlen,
		      size_t *lenp);

#endif
