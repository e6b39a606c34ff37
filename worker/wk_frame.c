/*
 * wk_frame.c: server-side frames in shared buffers, and the frame
 * boundary tracker.
 *
 * wslay parses what clients send and runs the close handshake, but its
 * send path copies every payload into a per-connection 4 KB buffer and
 * writes it with one call per frame. A room delivery instead is framed
 * here once per worker into a reference-counted buffer that every
 * recipient's queue points to, and each queue leaves in one writev. A
 * server frame is unmasked, so framing is a 2 to 10 byte header (RFC 6455
 * section 5.2) in front of the payload.
 *
 * The tracker reads the headers of the frames a client sends, only to know
 * when the bytes handed to wslay end exactly between two messages: then
 * the connection's wslay context holds no state worth keeping and is freed
 * until the next frame arrives.
 */
#include "wk_frame.h"

#include <stdlib.h>
#include <string.h>

struct wk_buf *
wk_buf_new(uint32_t len)
{
	struct wk_buf *b = malloc(sizeof(*b) + len);

	if (b == NULL)
		return NULL;
	b->refs = 1;
	b->len = len;
	b->stamp = 0;
	return b;
}

void
wk_buf_unref(struct wk_buf *b)
{
	if (b != NULL && --b->refs == 0)
		free(b);
}

size_t
wk_frame_header_len(uint64_t len)
{
	if (len < 126)
		return 2;
	if (len <= 0xffff)
		return 4;
	return 10;
}

size_t
wk_frame_header(uint8_t *p, uint8_t first, uint64_t len)
{
	size_t h = wk_frame_header_len(len), i;

	p[0] = first;
	if (h == 2) {
		p[1] = (uint8_t)len;
	} else if (h == 4) {
		p[1] = 126;
		p[2] = (uint8_t)(len >> 8);
		p[3] = (uint8_t)len;
	} else {
		p[1] = 127;
		for (i = 0; i < 8; i++)
			p[2 + i] = (uint8_t)(len >> (56 - 8 * i));
	}
	return h;
}

struct wk_buf *
wk_frame_new(int opcode, const void *payload, size_t len)
{
	size_t h = wk_frame_header_len(len);
	struct wk_buf *b;
	uint8_t *p;

	if (len > UINT32_MAX - 16 ||
	    (b = wk_buf_new((uint32_t)(h + len))) == NULL)
		return NULL;
	p = (uint8_t *)b->data;
	wk_frame_header(p, (uint8_t)(0x80 | (opcode & 0x0f)), len);
	if (len > 0)
		memcpy(p + h, payload, len);
	return b;
}

static void
scan_header_done(struct wk_scan *s, uint64_t max)
{
	uint8_t len7 = s->hdr[1] & 0x7f, opcode = s->hdr[0] & 0x0f;
	uint64_t len = len7;
	int i;

	if (len7 == 126)
		len = ((uint64_t)s->hdr[2] << 8) | s->hdr[3];
	else if (len7 == 127)
		for (len = 0, i = 0; i < 8; i++)
			len = (len << 8) | s->hdr[2 + i];
	/* RFC 6455 5.2: the most significant bit is 0, and "the minimal
	 * number of bytes MUST be used to encode the length". */
	if ((len7 == 126 && len < 126) ||
	    (len7 == 127 && (len < 65536 || (len >> 63) != 0)))
		s->bad = WK_SCAN_BAD_LENGTH;
	/* Data frames open or close a message; control frames do neither. */
	else if (opcode < 0x8 && max > 0 && len > max)
		s->bad = WK_SCAN_TOO_BIG;
	else if (opcode < 0x8)
		s->in_msg = (s->hdr[0] & 0x80) == 0;
	else if (!(s->hdr[0] & 0x80) || len > 125 ||
		 (opcode == 0x8 && len == 1))
		s->bad = WK_SCAN_BAD_CONTROL;
	s->opcode = opcode;
	s->left = len;
	s->hlen = 0;
	s->need = 0;
}

size_t
wk_scan_feed(struct wk_scan *s, const uint8_t *p, size_t n, uint64_t max)
{
	const uint8_t *start = p, *hstart = p;

	s->close_seen = 0;
	while (n > 0 && !s->bad) {
		if (s->left > 0) {
			size_t take = s->left < n ? (size_t)s->left : n;

			s->left -= take;
			p += take;
			n -= take;
			continue;
		}
		if (s->hlen == 0) {
			hstart = p;
			if ((*p & 0x0f) == 0x8 && !s->close_seen) {
				s->close_seen = 1;
				s->close_off = (uint32_t)(p - start);
			}
		}
		s->hdr[s->hlen++] = *p++;
		n--;
		if (s->hlen == 2) {
			uint8_t len7 = s->hdr[1] & 0x7f;

			s->need = 2 +
				  (len7 == 126	 ? 2
				   : len7 == 127 ? 8
						 : 0) +
				  ((s->hdr[1] & 0x80) ? 4 : 0);
		}
		if (s->hlen >= 2 && s->hlen == s->need)
			scan_header_done(s, max);
	}
	return s->bad ? (size_t)(hstart - start) : (size_t)(p - start);
}

uint16_t
wk_scan_close_code(const struct wk_scan *s)
{
	return s->bad == WK_SCAN_TOO_BIG ? 1009 : 1002;
}

const char *
wk_scan_close_reason(const struct wk_scan *s)
{
	switch (s->bad) {
	case WK_SCAN_TOO_BIG: return "message too big";
	case WK_SCAN_BAD_LENGTH: return "bad frame length";
	default: return "bad control frame";
	}
}

int
wk_scan_idle(const struct wk_scan *s)
{
	return s->hlen == 0 && s->left == 0 && !s->in_msg;
}

int
wk_scan_in_close(const struct wk_scan *s)
{
	return (s->hlen > 0 && (s->hdr[0] & 0x0f) == 0x8) ||
	       (s->hlen == 0 && s->left > 0 && s->opcode == 0x8);
}

void
wk_scan_rewind(struct wk_scan *s)
{
	s->hlen = 0;
	s->need = 0;
	s->left = 0;
}
