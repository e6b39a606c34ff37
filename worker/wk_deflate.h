/*
 * wk_deflate.h: permessage-deflate (RFC 7692) with zlib: the negotiation
 * of the handshake, the compression of what the server sends and the
 * bounded inflation of what a client sends.
 */
#ifndef WSD_WK_DEFLATE_H
#define WSD_WK_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "wk.h"

/*
 * Find, in one Sec-WebSocket-Extensions value hdr[0..len), the first
 * permessage-deflate offer that can be accepted, with our compressor's
 * window at most window_bits (9..15). An offer with an unknown
 * parameter, a parameter twice, a value where none belongs or a window
 * size that is not 8..15 is declined (RFC 7692 section 5), as is any
 * other extension; a later offer may still be taken. Returns 1 with *out
 * set to what the answer agrees, or 0 (nothing acceptable; *out
 * untouched). Pure: no global state is read.
 */
int wk_deflate_negotiate(const char *hdr, size_t len, unsigned window_bits,
			 struct wk_pmd *out);

/*
 * Write the Sec-WebSocket-Extensions value that answers the offer p was
 * negotiated from into buf (len bytes, NUL-terminated). Returns the
 * length written, or -1 when buf is too small.
 */
int wk_deflate_answer(const struct wk_pmd *p, char *buf, size_t len);

/* The largest compressed message a client may send when it may inflate
 * to max bytes: what deflate makes of incompressible data, plus slack. */
uint64_t wk_deflate_bound(uint64_t max);

/*
 * Inflate one compressed message of c (in[0..len), the payload without
 * the 00 00 ff ff tail that RFC 7692 section 7.2.2 removes) into a new
 * buffer. Output is produced in bounded steps and never past max bytes:
 * a message that would inflate beyond max stops there. The inflate
 * stream is the worker's shared one when the client does not keep its
 * context (reset for each message), or c->zin (created on first use,
 * freed by wk_deflate_conn_fini). Returns WSD_OK with *out (malloc'ed,
 * the caller frees it; NULL when *outlen is 0) and *outlen,
 * WK_DEFLATE_TOO_BIG, WK_DEFLATE_BAD (not valid deflate data) or
 * WSD_ENOMEM; on failure nothing is returned to free.
 */
#define WK_DEFLATE_TOO_BIG (-100)
#define WK_DEFLATE_BAD (-101)
int wk_deflate_inflate(struct wk_conn *c, const uint8_t *in, size_t len,
		       size_t max, uint8_t **out, size_t *outlen);

/* Free c's inflate stream, if any. */
void wk_deflate_conn_fini(struct wk_conn *c);

/*
 * The frames of one outgoing message for any number of recipients, each
 * built on first need: the plain frame, and one compressed frame per
 * window size our compressors use, so a room delivery is compressed at
 * most once per worker for each parameter set and shared by reference
 * like the plain frame. payload is borrowed until wk_frameset_fini.
 */
struct wk_frameset {
	int opcode;
	const void *payload;
	size_t len;
	uint64_t stamp; /* set on every buffer built (struct wk_buf) */
	struct wk_buf *plain;
	struct wk_buf *z[8]; /* by window bits 8..15 */
	struct wk_buf *sse;  /* the last event built for an SSE stream */
};

void wk_frameset_init(struct wk_frameset *f, int opcode, const void *payload,
		      size_t len, uint64_t stamp);

/*
 * The frame for c: for an SSE stream, an event of its own (its cursor is
 * its own); compressed (RSV1) when c negotiated permessage-deflate
 * with a window we compress with, the message is at least
 * compression.min_bytes and compressing saves bytes; else plain. The
 * buffer is the set's (the caller takes a reference to keep it beyond
 * wk_frameset_fini, as queueing does). NULL when out of memory.
 */
struct wk_buf *wk_frameset_get(struct wk_frameset *f, const struct wk_conn *c);

/* Drop the set's references to its buffers. */
void wk_frameset_fini(struct wk_frameset *f);

/* The worker's compressors and shared inflate stream, freed at exit. */
void wk_deflate_shutdown(void);

#endif
