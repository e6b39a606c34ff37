/*
 * test_deflate.c: unit tests of worker/wk_deflate.c, permessage-deflate.
 *
 * Negotiation (RFC 7692 section 7.1): each parameter alone and together,
 * with and without values, quoted values, whitespace; invalid values,
 * duplicates, unknown parameters and values where none belong decline
 * that offer and a later one is taken; other extensions are skipped; the
 * server's window is the smaller of the offer's and ours, the client's is
 * lowered only when it offered client_max_window_bits; the answer text.
 *
 * Inflation: a message compressed with zlib the way a client does (sync
 * flush, tail removed) comes back whole; a message that inflates past the
 * limit fails with WK_DEFLATE_TOO_BIG however small it is compressed,
 * exactly at the limit it passes; garbage is WK_DEFLATE_BAD; a client
 * that keeps its context gets its own stream, which carries the window
 * across messages (a second message that refers back into the first
 * inflates), and one that does not keeps none.
 *
 * Frame sets: a message is compressed once per window size and the frame
 * shared by every connection with that window; a connection without
 * deflate, or a message under min_bytes or one that does not shrink, gets
 * the plain frame; a compressed frame has RSV1, the right length form,
 * and inflates back to the message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "../../worker/wk_deflate.h"
#include "../../worker/wk_frame.h"

static int
setup(void **state)
{
	(void)state;
	memset(&wk, 0, sizeof(wk));
	assert_int_equal(
	    settings_init(settings_worker, settings_worker_n, &wk.cfg), WSD_OK);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	wk_deflate_shutdown();
	settings_free(settings_worker, settings_worker_n, &wk.cfg);
	return 0;
}

/* Negotiate hdr with our window w; returns 1/0 and the answer text. */
static int
neg(const char *hdr, unsigned w, struct wk_pmd *p, char *ans, size_t alen)
{
	int ok;

	memset(p, 0, sizeof(*p));
	ok = wk_deflate_negotiate(hdr, strlen(hdr), w, p);
	ans[0] = '\0';
	if (ok)
		assert_true(wk_deflate_answer(p, ans, alen) > 0);
	return ok;
}

#define EXT "permessage-deflate; server_no_context_takeover"

static void
test_negotiate_accepts(void **state)
{
	static const struct {
		const char *offer;
		unsigned w;
		const char *answer;
		uint8_t out_bits, in_bits, in_nct;
	} cases[] = {
	    {"permessage-deflate", 15, EXT, 15, 15, 0},
	    {"permessage-deflate", 12, EXT, 12, 15, 0},
	    {"PERMESSAGE-DEFLATE", 15, EXT, 15, 15, 0},
	    {"permessage-deflate; server_no_context_takeover", 15, EXT, 15, 15,
	     0},
	    {"permessage-deflate; client_no_context_takeover", 15,
	     EXT "; client_no_context_takeover", 15, 15, 1},
	    {"permessage-deflate; client_max_window_bits", 15,
	     EXT "; client_max_window_bits=15", 15, 15, 0},
	    {"permessage-deflate; client_max_window_bits", 10,
	     EXT "; client_max_window_bits=10", 10, 10, 0},
	    {"permessage-deflate; client_max_window_bits=9", 12,
	     EXT "; client_max_window_bits=9", 12, 9, 0},
	    {"permessage-deflate; client_max_window_bits=8", 12,
	     EXT "; client_max_window_bits=8", 12, 8, 0},
	    {"permessage-deflate; client_max_window_bits=14", 12,
	     EXT "; client_max_window_bits=12", 12, 12, 0},
	    {"permessage-deflate; server_max_window_bits=10", 15,
	     EXT "; server_max_window_bits=10", 10, 15, 0},
	    {"permessage-deflate; server_max_window_bits=15", 11,
	     EXT "; server_max_window_bits=11", 11, 15, 0},
	    /* 8: accepted, but we send uncompressed (out_bits 0). */
	    {"permessage-deflate; server_max_window_bits=8", 15,
	     EXT "; server_max_window_bits=8", 0, 15, 0},
	    {"permessage-deflate; client_max_window_bits=\"10\"", 15,
	     EXT "; client_max_window_bits=10", 15, 10, 0},
	    {"permessage-deflate ;\tserver_max_window_bits = 9 ; "
	     "client_no_context_takeover",
	     15, EXT "; client_no_context_takeover; server_max_window_bits=9",
	     9, 15, 1},
	    {"permessage-deflate; server_no_context_takeover; "
	     "client_no_context_takeover; server_max_window_bits=13; "
	     "client_max_window_bits=11",
	     15,
	     EXT "; client_no_context_takeover; server_max_window_bits=13; "
		 "client_max_window_bits=11",
	     13, 11, 1},
	    /* Other extensions are skipped; the first good offer wins. */
	    {"x-webkit-deflate-frame; max_window_bits=10, permessage-deflate",
	     15, EXT, 15, 15, 0},
	    {"permessage-deflate; bogus, permessage-deflate; "
	     "server_max_window_bits=10, permessage-deflate",
	     15, EXT "; server_max_window_bits=10", 10, 15, 0},
	    {"permessage-deflate; x=\"a,b\", permessage-deflate; "
	     "client_no_context_takeover",
	     15, EXT "; client_no_context_takeover", 15, 15, 1},
	    {", ,permessage-deflate,", 15, EXT, 15, 15, 0},
	};
	char ans[200];
	struct wk_pmd p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!neg(cases[i].offer, cases[i].w, &p, ans, sizeof(ans)))
			fail_msg("declined: %s", cases[i].offer);
		assert_string_equal(ans, cases[i].answer);
		assert_int_equal(p.on, 1);
		assert_int_equal(p.out_bits, cases[i].out_bits);
		assert_int_equal(p.in_bits, cases[i].in_bits);
		assert_int_equal(p.in_nct, cases[i].in_nct);
	}
}

static void
test_negotiate_declines(void **state)
{
	static const char *const offers[] = {
	    "",
	    "permessage-deflatex",
	    "x-webkit-deflate-frame",
	    "permessage-deflate; foo",
	    "permessage-deflate; foo=1",
	    "permessage-deflate; server_max_window_bits",
	    "permessage-deflate; server_max_window_bits=7",
	    "permessage-deflate; server_max_window_bits=16",
	    "permessage-deflate; server_max_window_bits=08",
	    "permessage-deflate; server_max_window_bits=-9",
	    "permessage-deflate; client_max_window_bits=1a",
	    "permessage-deflate; client_max_window_bits=",
	    "permessage-deflate; client_max_window_bits=\"\"",
	    "permessage-deflate; client_max_window_bits=\"10",
	    "permessage-deflate; client_max_window_bits=\"1 0\"",
	    "permessage-deflate; server_no_context_takeover; "
	    "server_no_context_takeover",
	    "permessage-deflate; client_no_context_takeover; "
	    "client_no_context_takeover",
	    "permessage-deflate; client_max_window_bits; "
	    "client_max_window_bits=10",
	    "permessage-deflate; server_max_window_bits=10; "
	    "server_max_window_bits=11",
	    "permessage-deflate; server_no_context_takeover=1",
	    "permessage-deflate; client_no_context_takeover=\"x\"",
	    "permessage-deflate;;",
	    "permessage-deflate; =10",
	    "permessage-deflate server_no_context_takeover",
	    "permessage-deflate; foo, x-other",
	};
	char ans[200];
	struct wk_pmd p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(offers) / sizeof(offers[0]); i++)
		if (neg(offers[i], 15, &p, ans, sizeof(ans)))
			fail_msg("accepted: %s -> %s", offers[i], ans);
}

static void
test_answer_too_small(void **state)
{
	struct wk_pmd p = {1, 10, 10, 1, 10, 10};
	char small[20];

	(void)state;
	assert_int_equal(wk_deflate_answer(&p, small, sizeof(small)), -1);
}

/* in compressed as a client does: raw deflate, sync flush, no tail. */
static size_t
client_compress(z_stream *z, const void *in, size_t len, uint8_t *out,
		size_t cap)
{
	z->next_in = (Bytef *)in;
	z->avail_in = (uInt)len;
	z->next_out = out;
	z->avail_out = (uInt)cap;
	assert_int_equal(deflate(z, Z_SYNC_FLUSH), Z_OK);
	assert_int_equal(z->avail_in, 0);
	assert_true(cap - z->avail_out >= 4);
	return cap - z->avail_out - 4;
}

static size_t
compress_once(const void *in, size_t len, uint8_t *out, size_t cap, int bits)
{
	z_stream z;
	size_t n;

	memset(&z, 0, sizeof(z));
	assert_int_equal(
	    deflateInit2(&z, 6, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY),
	    Z_OK);
	n = client_compress(&z, in, len, out, cap);
	deflateEnd(&z);
	return n;
}

static void
test_inflate(void **state)
{
	static uint8_t msg[100000], z[120000];
	struct wk_conn c;
	uint8_t *out;
	size_t i, n, outlen;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.pmd = (struct wk_pmd){1, 15, 15, 1, 0, 0};
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)("abcdefgh"[i % 8] + (i / 5000));
	n = compress_once(msg, sizeof(msg), z, sizeof(z), 15);
	assert_true(n < sizeof(msg) / 4);
	assert_int_equal(
	    wk_deflate_inflate(&c, z, n, sizeof(msg), &out, &outlen), WSD_OK);
	assert_int_equal(outlen, sizeof(msg));
	assert_memory_equal(out, msg, sizeof(msg));
	free(out);
	/* One byte under the message: too big, however it is cut. */
	assert_int_equal(
	    wk_deflate_inflate(&c, z, n, sizeof(msg) - 1, &out, &outlen),
	    WK_DEFLATE_TOO_BIG);
	assert_null(out);
	/* No context kept for this client. */
	assert_null(c.zin);
	/* An empty message: the empty block alone. */
	n = compress_once("", 0, z, sizeof(z), 15);
	assert_int_equal(wk_deflate_inflate(&c, z, n, 10, &out, &outlen),
			 WSD_OK);
	assert_int_equal(outlen, 0);
	assert_null(out);
}

static void
test_inflate_bomb(void **state)
{
	/* 16 MB of zeros compress to about 16 KB; the limit is 64 KB. */
	size_t big = 16u << 20, n;
	uint8_t *zeros = calloc(1, big), *z = malloc(big), *out;
	struct wk_conn c;
	size_t outlen;

	(void)state;
	assert_non_null(zeros);
	assert_non_null(z);
	memset(&c, 0, sizeof(c));
	c.pmd = (struct wk_pmd){1, 15, 15, 0, 0, 0};
	n = compress_once(zeros, big, z, big, 15);
	assert_true(n < 32768);
	assert_int_equal(wk_deflate_inflate(&c, z, n, 65536, &out, &outlen),
			 WK_DEFLATE_TOO_BIG);
	assert_null(out);
	wk_deflate_conn_fini(&c);
	free(zeros);
	free(z);
}

static void
test_inflate_bad(void **state)
{
	static const uint8_t junk[] = {0xff, 0xff, 0xff, 0x00, 0x12, 0x34};
	struct wk_conn c;
	uint8_t *out;
	size_t outlen;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.pmd = (struct wk_pmd){1, 15, 15, 1, 0, 0};
	assert_int_equal(
	    wk_deflate_inflate(&c, junk, sizeof(junk), 1000, &out, &outlen),
	    WK_DEFLATE_BAD);
	assert_null(out);
	/* The shared stream is fine for the next message. */
	{
		uint8_t z[64];
		size_t n = compress_once("hello", 5, z, sizeof(z), 15);

		assert_int_equal(
		    wk_deflate_inflate(&c, z, n, 1000, &out, &outlen), WSD_OK);
		assert_int_equal(outlen, 5);
		assert_memory_equal(out, "hello", 5);
		free(out);
	}
}

static void
test_inflate_takeover(void **state)
{
	const char *m1 = "the quick brown fox jumps over the lazy dog, "
			 "the quick brown fox jumps over the lazy dog";
	uint8_t z1[256], z2[256], *out;
	size_t n1, n2, outlen;
	struct wk_conn c;
	z_stream cz;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.pmd = (struct wk_pmd){1, 15, 10, 0, 0, 10};
	memset(&cz, 0, sizeof(cz));
	assert_int_equal(
	    deflateInit2(&cz, 9, Z_DEFLATED, -10, 8, Z_DEFAULT_STRATEGY), Z_OK);
	n1 = client_compress(&cz, m1, strlen(m1), z1, sizeof(z1));
	/* The same text again: a back reference into message 1. */
	n2 = client_compress(&cz, m1, strlen(m1), z2, sizeof(z2));
	deflateEnd(&cz);
	assert_true(n2 < 10);
	assert_int_equal(wk_deflate_inflate(&c, z1, n1, 1000, &out, &outlen),
			 WSD_OK);
	assert_non_null(c.zin);
	free(out);
	assert_int_equal(wk_deflate_inflate(&c, z2, n2, 1000, &out, &outlen),
			 WSD_OK);
	assert_int_equal(outlen, strlen(m1));
	assert_memory_equal(out, m1, outlen);
	free(out);
	wk_deflate_conn_fini(&c);
	assert_null(c.zin);
	/* Without takeover, message 2 alone refers to nothing: bad. */
	c.pmd.in_nct = 1;
	assert_int_not_equal(
	    wk_deflate_inflate(&c, z2, n2, 1000, &out, &outlen), WSD_OK);
}

/* The payload of a server frame b and its RSV1. */
static const uint8_t *
frame_payload(const struct wk_buf *b, size_t *len, int *rsv1)
{
	const uint8_t *p = (const uint8_t *)b->data;
	size_t h = 2, l = p[1] & 0x7f;

	if (l == 126) {
		l = ((size_t)p[2] << 8) | p[3];
		h = 4;
	} else if (l == 127) {
		size_t i;

		for (l = 0, i = 0; i < 8; i++)
			l = (l << 8) | p[2 + i];
		h = 10;
	}
	assert_int_equal(h + l, b->len);
	assert_int_equal(p[0] & 0x80, 0x80);
	assert_int_equal(p[1] & 0x80, 0);
	*rsv1 = (p[0] & 0x40) != 0;
	*len = l;
	return p + h;
}

static void
test_frameset(void **state)
{
	static char msg[70000];
	struct wk_conn a, b, other, plain;
	struct wk_frameset f;
	struct wk_buf *fa, *fb, *fo, *fp;
	const uint8_t *pl;
	uint8_t *out;
	size_t i, len, outlen;
	int rsv1;

	(void)state;
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = "0123456789abcdef"[(i * 7) % 16 ^ (i / 1000) % 16];
	memset(&a, 0, sizeof(a));
	a.pmd = (struct wk_pmd){1, 15, 15, 1, 0, 0};
	b = a;
	other = a;
	other.pmd.out_bits = 9;
	memset(&plain, 0, sizeof(plain));
	wk_frameset_init(&f, 1, msg, sizeof(msg), 42);
	fa = wk_frameset_get(&f, &a);
	fb = wk_frameset_get(&f, &b);
	fo = wk_frameset_get(&f, &other);
	fp = wk_frameset_get(&f, &plain);
	assert_non_null(fa);
	/* Once per window size, shared by reference. */
	assert_ptr_equal(fa, fb);
	assert_ptr_not_equal(fa, fo);
	assert_ptr_not_equal(fa, fp);
	assert_int_equal(fa->stamp, 42);
	assert_int_equal(fp->stamp, 42);
	pl = frame_payload(fa, &len, &rsv1);
	assert_true(rsv1);
	assert_true(len < sizeof(msg));
	/* It inflates back (as a client with a 15-bit window would). */
	assert_int_equal(
	    wk_deflate_inflate(&a, pl, len, sizeof(msg), &out, &outlen),
	    WSD_OK);
	assert_int_equal(outlen, sizeof(msg));
	assert_memory_equal(out, msg, sizeof(msg));
	free(out);
	pl = frame_payload(fo, &len, &rsv1);
	assert_true(rsv1);
	pl = frame_payload(fp, &len, &rsv1);
	assert_false(rsv1);
	assert_int_equal(len, sizeof(msg));
	assert_memory_equal(pl, msg, len);
	/* A reference taken (as a queue does) outlives the set. */
	fa->refs++;
	wk_frameset_fini(&f);
	assert_int_equal(fa->refs, 1);
	wk_buf_unref(fa);

	/* Under min_bytes: plain, even for a deflate connection. */
	wk.cfg.deflate_min_bytes = 100;
	wk_frameset_init(&f, 1, msg, 99, 0);
	fa = wk_frameset_get(&f, &a);
	frame_payload(fa, &len, &rsv1);
	assert_false(rsv1);
	assert_ptr_equal(fa, wk_frameset_get(&f, &plain));
	wk_frameset_fini(&f);

	/* What does not shrink goes plain too. */
	{
		uint8_t rnd[300];
		uint32_t x = 2463534242u;

		for (i = 0; i < sizeof(rnd); i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			rnd[i] = (uint8_t)x;
		}
		wk_frameset_init(&f, 2, rnd, sizeof(rnd), 0);
		fa = wk_frameset_get(&f, &a);
		frame_payload(fa, &len, &rsv1);
		assert_false(rsv1);
		assert_ptr_equal(fa, wk_frameset_get(&f, &b));
		assert_ptr_equal(fa, wk_frameset_get(&f, &plain));
		wk_frameset_fini(&f);
	}

	/* server_max_window_bits=8: accepted, sent plain. */
	a.pmd.out_bits = 0;
	wk_frameset_init(&f, 1, msg, sizeof(msg), 0);
	fa = wk_frameset_get(&f, &a);
	frame_payload(fa, &len, &rsv1);
	assert_false(rsv1);
	wk_frameset_fini(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_negotiate_accepts),
	    cmocka_unit_test(test_negotiate_declines),
	    cmocka_unit_test(test_answer_too_small),
	    cmocka_unit_test_setup_teardown(test_inflate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_inflate_bomb, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_inflate_bad, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_inflate_takeover, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_frameset, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
