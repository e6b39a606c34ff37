/*
 * test_utf8.c: UTF-8 validation of text messages and close reasons.
 *
 * The validation is wslay's; these tests pin the behaviour wsd depends on.
 * wsd (worker/wk_ws.c) has no validator of its own: it creates a wslay
 * server context with recv, send and on_msg_recv callbacks and relies on
 * wslay 1.1.1 to check text as it arrives, fragment by fragment, and to
 * fail the connection with close code 1007 at the first invalid byte
 * (docs/protocol.md, "Frames"). Each test here sets wslay up the same way:
 * the recv callback serves masked client frames built by the test, the
 * send callback captures what wslay writes, and after wslay_event_recv
 * and wslay_event_send the captured close frame, if any, is parsed for
 * its code.
 *
 * Covered: valid multi-byte text (including the boundary code points)
 * reaches on_msg_recv and nothing is sent; overlong forms, surrogates,
 * code points over U+10FFFF, stray continuation bytes, bytes that never
 * occur in UTF-8 and a sequence cut off at the end of the message close
 * with 1007; an invalid byte in fragment 1 of 3 closes with 1007 before
 * fragments 2 and 3 arrive; a code point split across fragments is
 * accepted; a close frame whose reason is not UTF-8 is answered with
 * 1007; binary messages are not checked.
 *
 * wslay checks a close reason per read and gets it wrong when a close
 * frame is split across reads; wsd never hands it a close frame in
 * pieces, which test_wsconn.c checks on wsd's own read path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <wslay/wslay.h>

#define OP_CONT 0x0
#define OP_TEXT 0x1
#define OP_BIN 0x2
#define OP_CLOSE 0x8

/* What one wslay context has been given and has produced. */
struct peer {
	wslay_event_context_ptr ws;
	uint8_t in[4096];
	size_t in_len, in_off;
	size_t chunk; /* when not 0, recv hands out at most this many bytes */
	uint8_t out[4096];
	size_t out_len;
	int nmsgs;
	int opcode;
	uint8_t msg[1024];
	size_t msg_len;
	uint16_t status_code;
};

static ssize_t
recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
	void *user)
{
	struct peer *p = user;
	size_t n = p->in_len - p->in_off;

	(void)flags;
	if (n == 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (n > len)
		n = len;
	if (p->chunk > 0 && n > p->chunk)
		n = p->chunk;
	memcpy(buf, p->in + p->in_off, n);
	p->in_off += n;
	return (ssize_t)n;
}

static ssize_t
send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
	void *user)
{
	struct peer *p = user;

	(void)ctx;
	(void)flags;
	if (len > sizeof(p->out) - p->out_len) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	memcpy(p->out + p->out_len, data, len);
	p->out_len += len;
	return (ssize_t)len;
}

static void
on_msg_cb(wslay_event_context_ptr ctx,
	  const struct wslay_event_on_msg_recv_arg *a, void *user)
{
	struct peer *p = user;

	(void)ctx;
	p->nmsgs++;
	p->opcode = a->opcode;
	p->status_code = a->status_code;
	p->msg_len =
	    a->msg_length < sizeof(p->msg) ? a->msg_length : sizeof(p->msg);
	if (p->msg_len > 0)
		memcpy(p->msg, a->msg, p->msg_len);
}

/* As ws_ensure in worker/wk_ws.c sets up a connection's context. */
static int
setup(void **state)
{
	struct wslay_event_callbacks cb = {
	    .recv_callback = recv_cb,
	    .send_callback = send_cb,
	    .on_msg_recv_callback = on_msg_cb,
	};
	struct peer *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return -1;
	if (wslay_event_context_server_init(&p->ws, &cb, p) != 0) {
		free(p);
		return -1;
	}
	wslay_event_config_set_max_recv_msg_length(p->ws, 1 << 20);
	*state = p;
	return 0;
}

static int
teardown(void **state)
{
	struct peer *p = *state;

	wslay_event_context_free(p->ws);
	free(p);
	return 0;
}

/*
 * A fresh context in *state for the next case of a test; teardown frees
 * the last one even when an assertion fails half-way.
 */
static struct peer *
renew(void **state)
{
	teardown(state);
	assert_int_equal(setup(state), 0);
	return *state;
}

/* Append a masked client frame to the bytes the peer will read. */
static void
put_frame(struct peer *p, int fin, int opcode, const void *payload, size_t len)
{
	static const uint8_t key[4] = {0xa1, 0x5c, 0x07, 0xe2};
	const uint8_t *s = payload;
	uint8_t *o = p->in + p->in_len;
	size_t n = 0, i;

	assert_true(len <= 0xffff && p->in_len + len + 8 <= sizeof(p->in));
	o[n++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
	if (len < 126) {
		o[n++] = (uint8_t)(0x80 | len);
	} else {
		o[n++] = 0x80 | 126;
		o[n++] = (uint8_t)(len >> 8);
		o[n++] = (uint8_t)len;
	}
	memcpy(o + n, key, 4);
	n += 4;
	for (i = 0; i < len; i++)
		o[n + i] = (uint8_t)(s[i] ^ key[i % 4]);
	p->in_len += n + len;
}

/* Let wslay read what there is and write what it wants to. */
static void
pump(struct peer *p)
{
	assert_int_equal(wslay_event_recv(p->ws), 0);
	assert_int_equal(wslay_event_send(p->ws), 0);
}

/*
 * With reads cut short, wslay returns after each one, as wsd's ws_read
 * does when the socket has nothing more; the loop stands for the socket
 * becoming readable again.
 */
static void
pump_all(struct peer *p)
{
	int i;

	for (i = 0; i < 10000; i++) {
		pump(p);
		if (p->in_off == p->in_len ||
		    !wslay_event_get_read_enabled(p->ws))
			return;
	}
	fail_msg("wslay stopped reading");
}

/*
 * The close code of the one frame wslay sent: a server frame, unmasked,
 * FIN set, opcode close. Returns 0 when nothing was sent.
 */
static int
sent_close_code(const struct peer *p)
{
	size_t len;

	if (p->out_len == 0)
		return 0;
	assert_true(p->out_len >= 2);
	assert_int_equal(p->out[0], 0x80 | OP_CLOSE);
	assert_int_equal(p->out[1] & 0x80, 0); /* servers do not mask */
	len = p->out[1] & 0x7f;
	assert_true(len < 126);
	assert_int_equal(p->out_len, 2 + len);
	if (len < 2)
		return -1; /* a close without a code */
	return (p->out[2] << 8) | p->out[3];
}

static void
expect_valid_text(struct peer *p, const char *text, size_t len)
{
	put_frame(p, 1, OP_TEXT, text, len);
	pump(p);
	assert_int_equal(p->nmsgs, 1);
	assert_int_equal(p->opcode, WSLAY_TEXT_FRAME);
	assert_int_equal(p->msg_len, len);
	assert_memory_equal(p->msg, text, len);
	assert_int_equal(sent_close_code(p), 0);
	assert_int_equal(p->out_len, 0);
	assert_true(wslay_event_get_read_enabled(p->ws));
}

static void
test_valid_multibyte(void **state)
{
	static const char text[] =
	    "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 "
	    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 "
	    "\xe4\xbd\xa0\xe5\xa5\xbd";

	expect_valid_text(*state, text, sizeof(text) - 1);
}

/* The first and last code point of each length, around the surrogates. */
static void
test_valid_boundaries(void **state)
{
	static const char text[] = "\x00\x7f"	       /* U+0000, U+007F */
				   "\xc2\x80\xdf\xbf"  /* U+0080, U+07FF */
				   "\xe0\xa0\x80"      /* U+0800 */
				   "\xed\x9f\xbf"      /* U+D7FF */
				   "\xee\x80\x80"      /* U+E000 */
				   "\xef\xbf\xbf"      /* U+FFFF */
				   "\xf0\x90\x80\x80"  /* U+10000 */
				   "\xf4\x8f\xbf\xbf"; /* U+10FFFF */

	expect_valid_text(*state, text, sizeof(text) - 1);
}

static void
test_valid_empty(void **state)
{
	expect_valid_text(*state, "", 0);
}

/* One text frame holding bad; wslay must answer with close 1007. */
static void
expect_1007(void **state, const char *bad, size_t len)
{
	struct peer *p = renew(state);
	char text[64];
	size_t n;

	/* Valid text around the bad bytes: the check is not only at 0. */
	memcpy(text, "ok \xc3\xa9 ", 6);
	memcpy(text + 6, bad, len);
	n = 6 + len;
	put_frame(p, 1, OP_TEXT, text, n);
	pump(p);
	assert_int_equal(p->nmsgs, 0);
	assert_int_equal(sent_close_code(p), 1007);
	assert_false(wslay_event_get_read_enabled(p->ws));
	assert_true(wslay_event_get_close_sent(p->ws));
	assert_int_equal(wslay_event_get_status_code_sent(p->ws), 1007);

	/* And the bad bytes alone. */
	p = renew(state);
	put_frame(p, 1, OP_TEXT, bad, len);
	pump(p);
	assert_int_equal(p->nmsgs, 0);
	assert_int_equal(sent_close_code(p), 1007);
}

static void
test_invalid_overlong(void **state)
{
	expect_1007(state, "\xc0\x80", 2);	   /* U+0000 in two bytes */
	expect_1007(state, "\xc1\xbf", 2);	   /* U+007F in two bytes */
	expect_1007(state, "\xe0\x80\x80", 3);	   /* in three bytes */
	expect_1007(state, "\xf0\x80\x80\x80", 4); /* in four bytes */
}

static void
test_invalid_surrogate(void **state)
{
	expect_1007(state, "\xed\xa0\x80", 3); /* U+D800 */
	expect_1007(state, "\xed\xbf\xbf", 3); /* U+DFFF */
}

static void
test_invalid_over_max(void **state)
{
	expect_1007(state, "\xf4\x90\x80\x80", 4); /* U+110000 */
	expect_1007(state, "\xf5\x80\x80\x80", 4);
}

static void
test_invalid_bytes(void **state)
{
	expect_1007(state, "\x80", 1); /* a lone continuation byte */
	expect_1007(state, "a\xbf", 2);
	expect_1007(state, "\xfe", 1);
	expect_1007(state, "\xff", 1);
	expect_1007(state, "\xc3(",
		    2); /* a lead byte without its continuation */
}

static void
test_invalid_truncated_at_end(void **state)
{
	expect_1007(state, "\xe2\x82", 2);
	expect_1007(state, "\xf0\x9f\x98", 3);
	expect_1007(state, "\xc3", 1);
}

/*
 * The invalid byte is in fragment 1 of 3; only fragment 1 has arrived.
 * wslay must fail the connection now, not wait for the message to end.
 */
static void
test_fragment_fail_fast(void **state)
{
	struct peer *p = *state;

	put_frame(p, 0, OP_TEXT, "abc\xc0\x80", 5);
	pump(p);
	assert_int_equal(p->nmsgs, 0);
	assert_int_equal(sent_close_code(p), 1007);
	assert_false(wslay_event_get_read_enabled(p->ws));

	/* The rest of the message changes nothing. */
	p->out_len = 0;
	put_frame(p, 0, OP_CONT, "def", 3);
	put_frame(p, 1, OP_CONT, "ghi", 3);
	pump(p);
	assert_int_equal(p->nmsgs, 0);
	assert_int_equal(p->out_len, 0);
}

/* The same with the bad byte in fragment 2 of 3, after a valid one. */
static void
test_fragment_fail_fast_second(void **state)
{
	struct peer *p = *state;

	put_frame(p, 0, OP_TEXT, "ab\xe2\x82", 4); /* valid so far */
	pump(p);
	assert_int_equal(p->out_len, 0);
	assert_true(wslay_event_get_read_enabled(p->ws));
	put_frame(p, 0, OP_CONT, "\xac\xed\xa0\x80", 4); /* then a surrogate */
	pump(p);
	assert_int_equal(p->nmsgs, 0);
	assert_int_equal(sent_close_code(p), 1007);
}

/* A code point split across fragments at every possible place. */
static void
test_fragment_split_code_point(void **state)
{
	static const char cp[] = "\xf0\x9f\x98\x80"; /* U+1F600 */
	size_t a, b;

	for (a = 0; a <= 4; a++) {
		for (b = a; b <= 4; b++) {
			struct peer *p = renew(state);
			char want[8];

			put_frame(p, 0, OP_TEXT, cp, a);
			pump(p);
			assert_int_equal(p->out_len, 0);
			put_frame(p, 0, OP_CONT, cp + a, b - a);
			pump(p);
			assert_int_equal(p->out_len, 0);
			put_frame(p, 1, OP_CONT, cp + b, 4 - b);
			pump(p);
			assert_int_equal(sent_close_code(p), 0);
			assert_int_equal(p->nmsgs, 1);
			assert_int_equal(p->opcode, WSLAY_TEXT_FRAME);
			memcpy(want, cp, 4);
			assert_int_equal(p->msg_len, 4);
			assert_memory_equal(p->msg, want, 4);
		}
	}
}

/* A message that ends inside a code point, the end in the last fragment. */
static void
test_fragment_truncated_at_end(void **state)
{
	struct peer *p = *state;

	put_frame(p, 0, OP_TEXT, "a\xe2", 2);
	put_frame(p, 1, OP_CONT, "\x82", 1);
	pump(p);
	assert_int_equal(p->nmsgs, 0);
	assert_int_equal(sent_close_code(p), 1007);
}

/* A close whose reason is valid UTF-8 is answered with the same code. */
static void
test_close_valid_reason(void **state)
{
	struct peer *p = *state;

	put_frame(p, 1, OP_CLOSE,
		  "\x03\xe8"
		  "bye \xe2\x82\xac",
		  9);
	pump(p);
	assert_true(wslay_event_get_close_received(p->ws));
	assert_int_equal(wslay_event_get_status_code_received(p->ws), 1000);
	assert_int_equal(sent_close_code(p), 1000);
}

static void
test_close_invalid_reason(void **state)
{
	static const char *const reasons[] = {
	    "\x03\xe8"
	    "bye \xc0\x80",
	    "\x03\xe8\xed\xa0\x80",
	    "\x03\xe8"
	    "ab\xe2\x82",
	    "\x0f\xa0\xff",
	};
	static const size_t lens[] = {8, 5, 6, 3};
	size_t i;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct peer *p = renew(state);

		put_frame(p, 1, OP_CLOSE, reasons[i], lens[i]);
		pump(p);
		assert_int_equal(sent_close_code(p), 1007);
	}
}

/* Binary data is not text: wslay passes it on unchecked. */
static void
test_binary_not_checked(void **state)
{
	struct peer *p = *state;

	put_frame(p, 1, OP_BIN, "\xc0\x80\xff\xfe\xed\xa0\x80", 7);
	pump(p);
	assert_int_equal(p->nmsgs, 1);
	assert_int_equal(p->opcode, WSLAY_BINARY_FRAME);
	assert_int_equal(p->msg_len, 7);
	assert_int_equal(p->out_len, 0);
}

/* After a valid message the context reads on: the state is per message. */
static void
test_state_resets_between_messages(void **state)
{
	struct peer *p = *state;

	put_frame(p, 1, OP_TEXT, "\xe2\x82\xac", 3);
	put_frame(p, 1, OP_TEXT, "\xc3\xa9", 2);
	pump(p);
	assert_int_equal(p->nmsgs, 2);
	assert_int_equal(p->msg_len, 2);
	assert_memory_equal(p->msg, "\xc3\xa9", 2);
	assert_int_equal(p->out_len, 0);
}

/*
 * A text frame that arrives in pieces (TCP splits a frame anywhere, and
 * wsd hands wslay each read as it comes) is validated as one: a valid
 * message passes at every cut, an invalid one is caught at every cut.
 */
static void
test_text_split_reads(void **state)
{
	static const char good[] = "bye \xe2\x82\xac \xf0\x9f\x98\x80!";
	static const char bad[] = "bye \xe2\x82 \xf0\x9f\x98\x80!";
	size_t chunk;

	for (chunk = 1; chunk <= sizeof(good) + 6; chunk++) {
		struct peer *p = renew(state);

		p->chunk = chunk;
		put_frame(p, 1, OP_TEXT, good, sizeof(good) - 1);
		pump_all(p);
		assert_int_equal(sent_close_code(p), 0);
		assert_int_equal(p->nmsgs, 1);
		assert_int_equal(p->msg_len, sizeof(good) - 1);

		p = renew(state);
		p->chunk = chunk;
		put_frame(p, 1, OP_TEXT, bad, sizeof(bad) - 1);
		pump_all(p);
		assert_int_equal(p->nmsgs, 0);
		assert_int_equal(sent_close_code(p), 1007);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_valid_multibyte, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_valid_boundaries, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_valid_empty, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_overlong, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_surrogate, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_over_max, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_bytes, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_truncated_at_end,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fragment_fail_fast, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_fragment_fail_fast_second,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fragment_split_code_point,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fragment_truncated_at_end,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_valid_reason, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_close_invalid_reason, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_binary_not_checked, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_state_resets_between_messages,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_text_split_reads, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
