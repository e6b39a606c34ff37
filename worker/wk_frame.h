/*
 * wk_frame.h: server frames in shared, reference-counted buffers, and the
 * boundary tracker that tells when the bytes read from a client end
 * between two whole messages.
 */
#ifndef WSD_WK_FRAME_H
#define WSD_WK_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "wk.h"

/* A buffer of len bytes with one reference; NULL when out of memory. */
struct wk_buf *wk_buf_new(uint32_t len);

/* Drop a reference (NULL is allowed); the last one frees the buffer. */
void wk_buf_unref(struct wk_buf *b);

/* A whole server frame (FIN set, unmasked) carrying payload (copied), with
 * one reference; NULL when out of memory or too large. */
struct wk_buf *wk_frame_new(int opcode, const void *payload, size_t len);

/* The header length of an unmasked frame with a payload of len bytes. */
size_t wk_frame_header_len(uint64_t len);

/* Write that header into p (at least 10 bytes), with first as its first
 * byte (FIN, RSV bits, opcode); returns its length. */
size_t wk_frame_header(uint8_t *p, uint8_t first, uint64_t len);

/* Why the tracker refused a frame (struct wk_scan's bad). */
enum wk_scan_bad {
	WK_SCAN_OK = 0,
	WK_SCAN_BAD_CONTROL, /* fragmented, over 125 bytes, or a 1-byte close */
	WK_SCAN_BAD_LENGTH,  /* a 64-bit length with the top bit set, or a
				length not in its shortest encoding */
	WK_SCAN_TOO_BIG,     /* a data frame declared over the message limit */
};

/*
 * Feed bytes read from a client to the boundary tracker; max is the
 * largest data frame payload allowed (0: any). Returns n, or, when a
 * frame header breaks a rule that wslay does not check at the header
 * (enum wk_scan_bad), the offset where that frame starts (s->bad is set),
 * so that none of its payload has to be read.
 */
size_t wk_scan_feed(struct wk_scan *s, const uint8_t *p, size_t n,
		    uint64_t max);

/* The close code and reason for a refused stream: 1002 or 1009. */
uint16_t wk_scan_close_code(const struct wk_scan *s);
const char *wk_scan_close_reason(const struct wk_scan *s);

/* True when the bytes so far end exactly between two whole messages. */
int wk_scan_idle(const struct wk_scan *s);

/* True when the bytes so far end inside a close frame (header or payload). */
int wk_scan_in_close(const struct wk_scan *s);

/* Forget a partly read frame: the tracker is back at a frame boundary. */
void wk_scan_rewind(struct wk_scan *s);

#endif
