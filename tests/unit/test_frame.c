/*
 * test_frame.c: unit tests of worker/wk_frame.c, the server frame builder
 * and the client frame boundary tracker.
 *
 * Framing: wk_frame_new must produce exactly the RFC 6455 section 5.2
 * header (FIN set, the opcode, no mask, the 7-bit, 16-bit or 64-bit length
 * form) for payloads of 0, 125, 126, 65535 and 65536 bytes, followed by a
 * copy of the payload; wk_buf is freed on the last unref (ASan and LSan
 * in the SANITIZE=1 build catch an early or missing free).
 *
 * Tracking: wk_scan_idle must be true only when the bytes fed so far end
 * between two whole messages: not in a header (even one byte of it), not
 * in a payload, not inside a fragmented message (control frames between
 * fragments do not end it), for masked client frames fed byte by byte and
 * for 16-bit and 64-bit lengths. A control frame that breaks RFC 6455
 * section 5.5 (fragmented, over 125 bytes, a close with a 1-byte payload)
 * sets s->bad, and wk_scan_feed returns the offset of that frame's first
 * byte in the buffer fed, so the good frames before it still reach wslay.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../worker/wk_frame.h"

#define OP_CONT 0x0
#define OP_TEXT 0x1
#define OP_BIN 0x2
#define OP_CLOSE 0x8
#define OP_PING 0x9
#define OP_PONG 0xa

static const uint8_t mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/*
 * Write a client frame into out: fin, opcode, masked or not, with the
 * length in the shortest form unless form forces 16 (126) or 64 (127)
 * bits. Only the header is written when payload is NULL (the caller
 * feeds the payload bytes itself). Returns the bytes written.
 */
static size_t
frame_hdr(uint8_t *out, int fin, int opcode, int masked, uint64_t len, int form)
{
	size_t n = 0;
	int i;

	out[n++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
	if (form == 0)
		form = len < 126 ? 7 : len <= 0xffff ? 16 : 64;
	if (form == 7) {
		out[n++] = (uint8_t)((masked ? 0x80 : 0) | len);
	} else if (form == 16) {
		out[n++] = (uint8_t)((masked ? 0x80 : 0) | 126);
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		out[n++] = (uint8_t)((masked ? 0x80 : 0) | 127);
		for (i = 7; i >= 0; i--)
			out[n++] = (uint8_t)(len >> (8 * i));
	}
	if (masked) {
		memcpy(out + n, mask_key, 4);
		n += 4;
	}
	return n;
}

static size_t
frame(uint8_t *out, int fin, int opcode, int masked, const void *payload,
      size_t len)
{
	const uint8_t *p = payload;
	size_t n = frame_hdr(out, fin, opcode, masked, len, 0), i;

	for (i = 0; i < len; i++)
		out[n + i] = masked ? (uint8_t)(p[i] ^ mask_key[i % 4]) : p[i];
	return n + len;
}

/* Feed n bytes in one call; they must all be accepted. */
static void
feed_all(struct wk_scan *s, const uint8_t *p, size_t n)
{
	assert_int_equal(wk_scan_feed(s, p, n, 0), n);
	assert_false(s->bad);
}

static void
test_header_len(void **state)
{
	(void)state;
	assert_int_equal(wk_frame_header_len(0), 2);
	assert_int_equal(wk_frame_header_len(125), 2);
	assert_int_equal(wk_frame_header_len(126), 4);
	assert_int_equal(wk_frame_header_len(65535), 4);
	assert_int_equal(wk_frame_header_len(65536), 10);
	assert_int_equal(wk_frame_header_len(UINT64_MAX), 10);
}

static void
check_frame(int opcode, size_t len, const uint8_t *want_hdr, size_t hlen)
{
	uint8_t *payload = malloc(len ? len : 1);
	struct wk_buf *b;
	size_t i;

	assert_non_null(payload);
	for (i = 0; i < len; i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	b = wk_frame_new(opcode, payload, len);
	assert_non_null(b);
	assert_int_equal(b->refs, 1);
	assert_int_equal(b->len, hlen + len);
	assert_memory_equal(b->data, want_hdr, hlen);
	if (len > 0)
		assert_memory_equal(b->data + hlen, payload, len);
	/* The payload was copied: the caller's buffer is its own again. */
	memset(payload, 0, len);
	for (i = 0; i < len; i++)
		assert_int_equal((uint8_t)b->data[hlen + i],
				 (uint8_t)(i * 7 + 3));
	wk_buf_unref(b);
	free(payload);
}

static void
test_frame_new(void **state)
{
	static const uint8_t h0[] = {0x81, 0x00};
	static const uint8_t h125[] = {0x81, 125};
	static const uint8_t h126[] = {0x81, 126, 0x00, 126};
	static const uint8_t h65535[] = {0x82, 126, 0xff, 0xff};
	static const uint8_t h65536[] = {0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0};
	static const uint8_t h70000[] = {0x82, 127,  0,	   0,	 0,
					 0,    0x00, 0x01, 0x11, 0x70};
	static const uint8_t close2[] = {0x88, 2};
	static const uint8_t ping0[] = {0x89, 0};
	static const uint8_t pong5[] = {0x8a, 5};

	(void)state;
	check_frame(OP_TEXT, 0, h0, sizeof(h0));
	check_frame(OP_TEXT, 125, h125, sizeof(h125));
	check_frame(OP_TEXT, 126, h126, sizeof(h126));
	check_frame(OP_BIN, 65535, h65535, sizeof(h65535));
	check_frame(OP_TEXT, 65536, h65536, sizeof(h65536));
	check_frame(OP_BIN, 70000, h70000, sizeof(h70000));
	check_frame(OP_CLOSE, 2, close2, sizeof(close2));
	check_frame(OP_PING, 0, ping0, sizeof(ping0));
	check_frame(OP_PONG, 5, pong5, sizeof(pong5));
}

/* A NULL payload is fine when there are no bytes to copy. */
static void
test_frame_empty_null(void **state)
{
	struct wk_buf *b;

	(void)state;
	b = wk_frame_new(OP_PING, NULL, 0);
	assert_non_null(b);
	assert_int_equal(b->len, 2);
	assert_int_equal((uint8_t)b->data[0], 0x89);
	assert_int_equal((uint8_t)b->data[1], 0);
	wk_buf_unref(b);
}

/*
 * A buffer lives while any queue refers to it: wk_conn_send takes a
 * reference with refs++, and each holder drops its own with unref. Under
 * ASan a free before the last unref shows up as a use after free below,
 * and a missing one as a leak.
 */
static void
test_buf_refs(void **state)
{
	struct wk_buf *b;

	(void)state;
	b = wk_buf_new(16);
	assert_non_null(b);
	assert_int_equal(b->refs, 1);
	assert_int_equal(b->len, 16);
	memset(b->data, 'z', 16);
	b->refs++;
	b->refs++;
	wk_buf_unref(b);
	assert_int_equal(b->refs, 2);
	assert_int_equal(b->data[15], 'z');
	wk_buf_unref(b);
	assert_int_equal(b->refs, 1);
	wk_buf_unref(b);
	wk_buf_unref(NULL);

	b = wk_buf_new(0);
	assert_non_null(b);
	assert_int_equal(b->len, 0);
	wk_buf_unref(b);
}

/* wk_frame_new's output read back by the tracker: one whole message. */
static void
test_scan_reads_server_frames(void **state)
{
	static const size_t lens[] = {0, 1, 125, 126, 65535, 65536, 70000};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct wk_scan s;
		uint8_t *payload = calloc(1, lens[i] + 1);
		struct wk_buf *b = wk_frame_new(OP_TEXT, payload, lens[i]);

		assert_non_null(b);
		memset(&s, 0, sizeof(s));
		feed_all(&s, (uint8_t *)b->data, b->len);
		assert_true(wk_scan_idle(&s));
		/* One byte short is not idle. */
		memset(&s, 0, sizeof(s));
		feed_all(&s, (uint8_t *)b->data, b->len - 1);
		assert_false(wk_scan_idle(&s));
		wk_buf_unref(b);
		free(payload);
	}
}

static void
test_scan_whole_frames(void **state)
{
	uint8_t buf[512];
	struct wk_scan s;
	size_t n = 0;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_true(wk_scan_idle(&s));
	n += frame(buf + n, 1, OP_TEXT, 1, "hello", 5);
	feed_all(&s, buf, n);
	assert_true(wk_scan_idle(&s));

	/* Several frames in one buffer, of every kind. */
	n = 0;
	n += frame(buf + n, 1, OP_TEXT, 1, "{\"type\":\"ping\"}", 15);
	n += frame(buf + n, 1, OP_BIN, 1, "\x00\x01\x02", 3);
	n += frame(buf + n, 1, OP_PING, 1, "", 0);
	n += frame(buf + n, 1, OP_PONG, 1, "abc", 3);
	n += frame(buf + n, 1, OP_TEXT, 1, "", 0);
	n += frame(buf + n, 1, OP_CLOSE, 1, "\x03\xe8", 2);
	feed_all(&s, buf, n);
	assert_true(wk_scan_idle(&s));
	assert_int_equal(s.left, 0);
	assert_int_equal(s.hlen, 0);
}

static void
test_scan_mid_header(void **state)
{
	uint8_t buf[64];
	struct wk_scan s;
	size_t n, i;

	(void)state;
	n = frame(buf, 1, OP_TEXT, 1, "hi", 2);
	/* Stop after each header byte (2 + 4 of mask). */
	for (i = 1; i < 6; i++) {
		memset(&s, 0, sizeof(s));
		feed_all(&s, buf, i);
		assert_false(wk_scan_idle(&s));
		feed_all(&s, buf + i, n - i);
		assert_true(wk_scan_idle(&s));
	}
	/* An empty frame is whole with its header. */
	memset(&s, 0, sizeof(s));
	n = frame(buf, 1, OP_TEXT, 1, "", 0);
	feed_all(&s, buf, 1);
	assert_false(wk_scan_idle(&s));
	feed_all(&s, buf + 1, n - 1);
	assert_true(wk_scan_idle(&s));
}

static void
test_scan_mid_payload(void **state)
{
	uint8_t buf[64];
	struct wk_scan s;
	size_t n;

	(void)state;
	memset(&s, 0, sizeof(s));
	n = frame(buf, 1, OP_TEXT, 1, "hello world", 11);
	feed_all(&s, buf, 6); /* the header */
	assert_false(wk_scan_idle(&s));
	assert_int_equal(s.left, 11);
	feed_all(&s, buf + 6, 5);
	assert_false(wk_scan_idle(&s));
	assert_int_equal(s.left, 6);
	feed_all(&s, buf + 11, n - 12);
	assert_false(wk_scan_idle(&s));
	feed_all(&s, buf + n - 1, 1);
	assert_true(wk_scan_idle(&s));
}

static void
test_scan_fragmented(void **state)
{
	uint8_t buf[256];
	struct wk_scan s;
	size_t a, b, c;

	(void)state;
	memset(&s, 0, sizeof(s));
	a = frame(buf, 0, OP_TEXT, 1, "one ", 4);
	b = frame(buf + a, 0, OP_CONT, 1, "two ", 4);
	c = frame(buf + a + b, 1, OP_CONT, 1, "three", 5);
	feed_all(&s, buf, a);
	assert_false(wk_scan_idle(&s));
	assert_true(s.in_msg);
	feed_all(&s, buf + a, b);
	assert_false(wk_scan_idle(&s));
	feed_all(&s, buf + a + b, c);
	assert_true(wk_scan_idle(&s));

	/* All at once, then a binary message in two fragments. */
	memset(&s, 0, sizeof(s));
	feed_all(&s, buf, a + b + c);
	assert_true(wk_scan_idle(&s));
	a = frame(buf, 0, OP_BIN, 1, "x", 1);
	b = frame(buf + a, 1, OP_CONT, 1, "y", 1);
	feed_all(&s, buf, a);
	assert_false(wk_scan_idle(&s));
	feed_all(&s, buf + a, b);
	assert_true(wk_scan_idle(&s));
}

static void
test_scan_control_between_fragments(void **state)
{
	uint8_t buf[256];
	struct wk_scan s;
	size_t n = 0, m;

	(void)state;
	memset(&s, 0, sizeof(s));
	n += frame(buf + n, 0, OP_TEXT, 1, "part1", 5);
	feed_all(&s, buf, n);
	assert_false(wk_scan_idle(&s));

	m = frame(buf + n, 1, OP_PING, 1, "p", 1);
	feed_all(&s, buf + n, m);
	n += m;
	assert_false(wk_scan_idle(&s));

	m = frame(buf + n, 1, OP_PONG, 1, "", 0);
	feed_all(&s, buf + n, m);
	n += m;
	assert_false(wk_scan_idle(&s));

	m = frame(buf + n, 0, OP_CONT, 1, "part2", 5);
	feed_all(&s, buf + n, m);
	n += m;
	assert_false(wk_scan_idle(&s));

	m = frame(buf + n, 1, OP_CLOSE, 1,
		  "\x03\xe8"
		  "bye",
		  5);
	feed_all(&s, buf + n, m);
	n += m;
	assert_false(wk_scan_idle(&s));

	m = frame(buf + n, 1, OP_CONT, 1, "end", 3);
	feed_all(&s, buf + n, m);
	n += m;
	assert_true(wk_scan_idle(&s));

	/* The same bytes in one call end the same way. */
	memset(&s, 0, sizeof(s));
	feed_all(&s, buf, n);
	assert_true(wk_scan_idle(&s));
}

/*
 * Masked frames byte by byte: idle exactly at the end of each whole
 * message, and at no other byte.
 */
static void
test_scan_byte_by_byte(void **state)
{
	static char big[300];
	uint8_t buf[1024];
	size_t ends[8], nends = 0, n = 0, i, e = 0;
	struct wk_scan s;

	(void)state;
	memset(big, 'b', sizeof(big));
	n += frame(buf + n, 1, OP_TEXT, 1, "abc", 3);
	ends[nends++] = n;
	n += frame(buf + n, 1, OP_TEXT, 1, "", 0);
	ends[nends++] = n;
	n += frame(buf + n, 0, OP_TEXT, 1, "fr", 2);
	n += frame(buf + n, 1, OP_PING, 1, "", 0);
	n += frame(buf + n, 1, OP_CONT, 1, "ag", 2);
	ends[nends++] = n;
	n += frame(buf + n, 1, OP_BIN, 1, big, sizeof(big)); /* 16-bit */
	ends[nends++] = n;
	n += frame(buf + n, 1, OP_PING, 1, "12345", 5);
	ends[nends++] = n;
	assert_true(n <= sizeof(buf));

	memset(&s, 0, sizeof(s));
	for (i = 0; i < n; i++) {
		assert_int_equal(wk_scan_feed(&s, buf + i, 1, 0), 1);
		assert_false(s.bad);
		if (e < nends && i + 1 == ends[e]) {
			assert_true(wk_scan_idle(&s));
			e++;
		} else {
			assert_false(wk_scan_idle(&s));
		}
	}
	assert_int_equal(e, nends);
}

static void
test_scan_long_lengths(void **state)
{
	uint8_t hdr[16], *payload;
	struct wk_scan s;
	size_t h;

	(void)state;
	/* 16-bit: 126 and 65535 bytes, masked. */
	memset(&s, 0, sizeof(s));
	h = frame_hdr(hdr, 1, OP_TEXT, 1, 126, 0);
	assert_int_equal(h, 8);
	feed_all(&s, hdr, 3);
	assert_false(wk_scan_idle(&s));
	feed_all(&s, hdr + 3, h - 3);
	assert_int_equal(s.left, 126);
	payload = calloc(1, 70000);
	assert_non_null(payload);
	feed_all(&s, payload, 125);
	assert_false(wk_scan_idle(&s));
	feed_all(&s, payload, 1);
	assert_true(wk_scan_idle(&s));

	h = frame_hdr(hdr, 1, OP_BIN, 1, 65535, 0);
	feed_all(&s, hdr, h);
	assert_int_equal(s.left, 65535);
	feed_all(&s, payload, 65535);
	assert_true(wk_scan_idle(&s));

	/* 64-bit: 65536 bytes, and 70000 given in two parts. */
	h = frame_hdr(hdr, 1, OP_BIN, 1, 65536, 0);
	assert_int_equal(h, 14);
	feed_all(&s, hdr, 9);
	assert_false(wk_scan_idle(&s));
	feed_all(&s, hdr + 9, h - 9);
	assert_int_equal(s.left, 65536);
	feed_all(&s, payload, 65536);
	assert_true(wk_scan_idle(&s));

	h = frame_hdr(hdr, 1, OP_TEXT, 1, 70000, 0);
	feed_all(&s, hdr, h);
	feed_all(&s, payload, 40000);
	assert_false(wk_scan_idle(&s));
	feed_all(&s, payload, 30000);
	assert_true(wk_scan_idle(&s));

	/* A length over 32 bits is counted in full. */
	h = frame_hdr(hdr, 1, OP_BIN, 1, 0x100000005ull, 0);
	feed_all(&s, hdr, h);
	assert_int_equal(s.left, 0x100000005ull);
	feed_all(&s, payload, 70000);
	assert_int_equal(s.left, 0x100000005ull - 70000);
	assert_false(wk_scan_idle(&s));

	free(payload);
}

/* RFC 6455 5.2: a length in a longer form than it needs, or a 64-bit
 * length with its top bit set, is refused at the header (1002); so is a
 * data frame declared over the limit (1009), before any payload. */
static void
test_scan_bad_lengths(void **state)
{
	static const struct {
		uint64_t len;
		int form, bad;
	} cases[] = {
	    {3, 16, WK_SCAN_BAD_LENGTH},
	    {125, 16, WK_SCAN_BAD_LENGTH},
	    {4, 64, WK_SCAN_BAD_LENGTH},
	    {65535, 64, WK_SCAN_BAD_LENGTH},
	    {1ull << 63, 64, WK_SCAN_BAD_LENGTH},
	    {~0ull, 64, WK_SCAN_BAD_LENGTH},
	    {1ull << 62, 64, WK_SCAN_TOO_BIG},
	    {65537, 64, WK_SCAN_TOO_BIG},
	    {65536, 64, WK_SCAN_OK},
	    {126, 16, WK_SCAN_OK},
	    {65535, 16, WK_SCAN_OK},
	};
	uint8_t hdr[16];
	struct wk_scan s;
	size_t i, h;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&s, 0, sizeof(s));
		h = frame_hdr(hdr, 1, OP_BIN, 1, cases[i].len, cases[i].form);
		assert_int_equal(wk_scan_feed(&s, hdr, h, 65536),
				 cases[i].bad ? 0 : h);
		assert_int_equal(s.bad, cases[i].bad);
		if (cases[i].bad == WK_SCAN_TOO_BIG) {
			assert_int_equal(wk_scan_close_code(&s), 1009);
			assert_string_equal(wk_scan_close_reason(&s),
					    "message too big");
		} else if (cases[i].bad) {
			assert_int_equal(wk_scan_close_code(&s), 1002);
		}
	}
	/* With no limit, only the encoding counts; a control frame's
	 * length is the control rule's (over 125: BAD_CONTROL). */
	memset(&s, 0, sizeof(s));
	h = frame_hdr(hdr, 1, OP_TEXT, 0, 1ull << 40, 64);
	assert_int_equal(wk_scan_feed(&s, hdr, h, 0), h);
	assert_false(s.bad);
	memset(&s, 0, sizeof(s));
	h = frame_hdr(hdr, 1, OP_PING, 1, 200, 16);
	assert_int_equal(wk_scan_feed(&s, hdr, h, 65536), 0);
	assert_int_equal(s.bad, WK_SCAN_BAD_CONTROL);
	assert_string_equal(wk_scan_close_reason(&s), "bad control frame");
	/* A bad length after good frames: found at its own offset. */
	memset(&s, 0, sizeof(s));
	{
		uint8_t buf[64];
		size_t g = frame(buf, 1, OP_TEXT, 1, "hi", 2);

		h = frame_hdr(buf + g, 1, OP_TEXT, 1, 5, 64);
		assert_int_equal(wk_scan_feed(&s, buf, g + h, 65536), g);
		assert_int_equal(s.bad, WK_SCAN_BAD_LENGTH);
	}
}

/* Feed buf whole; the bad frame must be found at offset want. */
static void
expect_bad(const uint8_t *buf, size_t n, size_t want)
{
	struct wk_scan s;

	memset(&s, 0, sizeof(s));
	assert_int_equal(wk_scan_feed(&s, buf, n, 0), want);
	assert_true(s.bad);
	/* Nothing more is accepted after a bad frame. */
	assert_int_equal(wk_scan_feed(&s, buf, n, 0), 0);
	assert_true(s.bad);
}

static void
test_scan_bad_control(void **state)
{
	static char p126[126];
	uint8_t buf[512];
	size_t n, g;
	struct wk_scan s;

	(void)state;
	memset(p126, 'p', sizeof(p126));
	/* A ping with FIN clear. */
	n = frame(buf, 0, OP_PING, 1, "x", 1);
	expect_bad(buf, n, 0);
	/* A pong and a close with FIN clear. */
	n = frame(buf, 0, OP_PONG, 1, "", 0);
	expect_bad(buf, n, 0);
	n = frame(buf, 0, OP_CLOSE, 1, "\x03\xe8", 2);
	expect_bad(buf, n, 0);
	/* A ping of 126 bytes (16-bit length form). */
	n = frame(buf, 1, OP_PING, 1, p126, sizeof(p126));
	expect_bad(buf, n, 0);
	/* A close of 126 bytes and one with a 64-bit length. */
	n = frame(buf, 1, OP_CLOSE, 1, p126, sizeof(p126));
	expect_bad(buf, n, 0);
	n = frame_hdr(buf, 1, OP_PONG, 1, 70000, 0);
	expect_bad(buf, n, 0);
	/* A close with a 1-byte payload. */
	n = frame(buf, 1, OP_CLOSE, 1, "\x03", 1);
	expect_bad(buf, n, 0);
	/* The same, unmasked (the header is 4 bytes shorter). */
	n = frame(buf, 1, OP_CLOSE, 0, "\x03", 1);
	expect_bad(buf, n, 0);

	/* Good frames first: the offset is where the bad one starts. */
	g = frame(buf, 1, OP_TEXT, 1, "hello", 5);
	n = g + frame(buf + g, 0, OP_PING, 1, "x", 1);
	expect_bad(buf, n, g);
	n = g + frame(buf + g, 1, OP_PING, 1, p126, sizeof(p126));
	expect_bad(buf, n, g);
	n = g + frame(buf + g, 1, OP_CLOSE, 1, "\x03", 1);
	expect_bad(buf, n, g);
	/* Several good ones, including a fragment and a ping, first. */
	g = frame(buf, 1, OP_TEXT, 1, "a", 1);
	g += frame(buf + g, 0, OP_TEXT, 1, "b", 1);
	g += frame(buf + g, 1, OP_PING, 1, "ok", 2);
	g += frame(buf + g, 1, OP_CONT, 1, "c", 1);
	n = g + frame(buf + g, 1, OP_CLOSE, 1, "\x03", 1);
	n += frame(buf + n, 1, OP_TEXT, 1, "after", 5);
	expect_bad(buf, n, g);
	/* The bad frame's header only, nothing of its payload yet. */
	expect_bad(buf, g + 6, g);

	/* Control frames at the limits are fine. */
	memset(&s, 0, sizeof(s));
	n = frame(buf, 1, OP_PING, 1, p126, 125);
	n += frame(buf + n, 1, OP_CLOSE, 1, "", 0);
	n += frame(buf + n, 1, OP_CLOSE, 1, "\x03\xe8", 2);
	n += frame(buf + n, 1, OP_PONG, 1, p126, 125);
	feed_all(&s, buf, n);
	assert_true(wk_scan_idle(&s));
}

/* A bad frame whose header began in an earlier read starts at 0. */
static void
test_scan_bad_split(void **state)
{
	uint8_t buf[64];
	struct wk_scan s;
	size_t g, n;

	(void)state;
	memset(&s, 0, sizeof(s));
	g = frame(buf, 1, OP_TEXT, 1, "hello", 5);
	n = g + frame(buf + g, 0, OP_PING, 1, "x", 1);
	/* The good frame and the bad one's first byte... */
	feed_all(&s, buf, g + 1);
	/* ...then the rest of its header. */
	assert_int_equal(wk_scan_feed(&s, buf + g + 1, n - g - 1, 0), 0);
	assert_true(s.bad);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_len),
	    cmocka_unit_test(test_frame_new),
	    cmocka_unit_test(test_frame_empty_null),
	    cmocka_unit_test(test_buf_refs),
	    cmocka_unit_test(test_scan_reads_server_frames),
	    cmocka_unit_test(test_scan_whole_frames),
	    cmocka_unit_test(test_scan_mid_header),
	    cmocka_unit_test(test_scan_mid_payload),
	    cmocka_unit_test(test_scan_fragmented),
	    cmocka_unit_test(test_scan_control_between_fragments),
	    cmocka_unit_test(test_scan_byte_by_byte),
	    cmocka_unit_test(test_scan_long_lengths),
	    cmocka_unit_test(test_scan_bad_lengths),
	    cmocka_unit_test(test_scan_bad_control),
	    cmocka_unit_test(test_scan_bad_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
