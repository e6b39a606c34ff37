/*
 * sv_message.h: the JSON text of the server messages the supervisor
 * builds for clients (pure). Each is built once and sent as it stands.
 */
#ifndef WSD_SV_MESSAGE_H
#define WSD_SV_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

/* The fields of a message delivery. The strings are borrowed. */
struct sv_message {
	const char *room; /* NULL: a direct delivery (no room, no seq) */
	size_t roomlen;
	const char *from;
	size_t fromlen;
	const char *data; /* JSON text from a trusted source (a worker
			     that parsed it, or jansson) */
	size_t datalen;
	const char *id; /* may be NULL */
	size_t idlen;
	const char *trace; /* a checked traceparent (proto/trace.h), or
			      NULL */
};

/*
 * {"type":"message","room":R,"seq":N,"from":F,"data":D,"id":I,"trace":T}
 * for m and seq, without the fields m does not have. Returns a malloc'd
 * buffer the caller owns, with its length in *lenp, or NULL when out of
 * memory.
 */
char *sv_message_json(const struct sv_message *m, uint64_t seq, size_t *lenp);

#endif
