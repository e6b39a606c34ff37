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

/*
 * Feed bytes read from a client to the boundary tracker. Returns n, or,
 * when a frame header breaks the control-frame rules that wslay does not
 * check (a control frame fragmented, over 125 bytes, or a close with a
 * 1-byte payload), the offset where that frame starts (s->bad is set).
 */
size_t wk_scan_feed(struct wk_scan *s, const uint8_t *p, size_t n);

/* True when the bytes so far end exactly between two whole messages. */
int wk_scan_idle(const struct wk_scan *s);

/* True when the bytes so far end inside a close frame (header or payload). */
int wk_scan_in_close(const struct wk_scan *s);

/* Forget a partly read frame: the tracker is back at a frame boundary. */
void wk_scan_rewind(struct wk_scan *s);

#endif
