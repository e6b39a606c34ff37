/*
 * test_wsconn.c: the worker's WebSocket read path (worker/wk_ws.c) on a
 * real socket pair, driven through the libev loop as in a worker: frames
 * are written to the peer end in pieces of every size, and the close frame
 * wsd sends back is read and checked.
 *
 * It pins the workaround for wslay 1.1.1 checking the UTF-8 of a close
 * reason per read: wsd collects a close frame whole before wslay sees it,
 * so a valid reason is echoed (1000) and an invalid one refused (1007)
 * however the frame is cut.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../worker/wk_client.h"
#include "../../worker/wk_conn.h"
#include "../../worker/wk_io.h"

static int
setup(void **state)
{
	(void)state;
	memset(&wk, 0, sizeof(wk));
	wk.loop = ev_default_loop(0);
	wk.epoch = 1;
	assert_int_equal(
	    settings_init(settings_worker, settings_worker_n, &wk.cfg), WSD_OK);
	wk.cfg.max_queue_bytes = 1 << 20;
	wk.cfg.max_queue_msgs = 1000;
	wk.cfg.heartbeat_interval_ms = 60000;
	wk.cfg.heartbeat_timeout_ms = 60000;
	wk.cfg.handshake_timeout_ms = 60000;
	TAILQ_INIT(&wk.dirty);
	TAILQ_INIT(&wk.stats);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	settings_free(settings_worker, settings_worker_n, &wk.cfg);
	return 0;
}

/* An echo connection on fd, upgraded as wk_dispatch.c leaves it. */
static struct wk_conn *
open_echo(int fd)
{
	static const struct proto_msg accept = {.type = PROTO_CONN_ACCEPT};
	struct wk_conn *c = wk_conn_create(fd, &wk_io_plain, NULL);

	assert_non_null(c);
	c->echo = 1;
	wk_conn_open(c);
	wk_client_open(c, &accept);
	return c;
}

/* A masked client frame (mask 0x37fa213d) into out; returns its length. */
static size_t
client_frame(uint8_t *out, int opcode, const void *payload, size_t len)
{
	static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
	size_t i;

	out[0] = (uint8_t)(0x80 | opcode);
	out[1] = (uint8_t)(0x80 | len); /* control frames: len <= 125 */
	memcpy(out + 2, mask, 4);
	for (i = 0; i < len; i++)
		out[6 + i] = ((const uint8_t *)payload)[i] ^ mask[i % 4];
	return 6 + len;
}

/*
 * Open an echo connection, write frame in pieces of at most chunk bytes
 * (running the loop after each), and return the close code wsd answered
 * with (0: no close frame).
 */
static int
close_code_for(const uint8_t *frame, size_t flen, size_t chunk)
{
	uint8_t out[256];
	struct wk_conn *c;
	uint64_t id;
	size_t off;
	ssize_t n;
	int sv[2], code = 0;

	assert_int_equal(
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	c = open_echo(sv[0]);
	id = c->id;
	for (off = 0; off < flen; off += chunk) {
		size_t k = flen - off < chunk ? flen - off : chunk;

		assert_int_equal(write(sv[1], frame + off, k), (ssize_t)k);
		ev_run(wk.loop, EVRUN_NOWAIT);
	}
	/* Flush what the connection queued, as the worker's prepare watcher
	 * would, and let it finish. */
	if ((c = wk_conn_find(id)) != NULL) {
		wk_conn_flush(c);
		wk_conn_settle(c);
	}
	n = read(sv[1], out, sizeof(out));
	if (n >= 4 && out[0] == 0x88)
		code = out[2] << 8 | out[3];
	if ((c = wk_conn_find(id)) != NULL)
		wk_conn_destroy(c);
	close(sv[1]);
	return code;
}

static void
test_close_reason_any_cut(void **state)
{
	static const char good[] = "\x03\xe8"
				   "bye \xe2\x82\xac";
	static const char bad[] = "\x03\xe8"
				  "bye \xc0\x80";
	uint8_t frame[140];
	size_t flen, chunk;
	int wrong = 0, got;

	(void)state;
	flen = client_frame(frame, 0x8, good, sizeof(good) - 1);
	for (chunk = 1; chunk <= flen; chunk++)
		if ((got = close_code_for(frame, flen, chunk)) != 1000) {
			print_message("valid reason, pieces of %zu: %d\n",
				      chunk, got);
			wrong++;
		}
	flen = client_frame(frame, 0x8, bad, sizeof(bad) - 1);
	for (chunk = 1; chunk <= flen; chunk++)
		if ((got = close_code_for(frame, flen, chunk)) != 1007) {
			print_message("invalid reason, pieces of %zu: %d\n",
				      chunk, got);
			wrong++;
		}
	assert_int_equal(wrong, 0);
}

/* A ping, then a close, cut anywhere: the pong comes first, then 1000. */
static void
test_ping_then_close_cut(void **state)
{
	uint8_t frame[64];
	size_t flen, chunk;

	(void)state;
	flen = client_frame(frame, 0x9, "hi", 2);
	flen += client_frame(frame + flen, 0x8, "\x03\xe8", 2);
	for (chunk = 1; chunk <= flen; chunk++) {
		uint8_t out[64];
		struct wk_conn *c;
		uint64_t id;
		size_t off;
		ssize_t n;
		int sv[2];

		assert_int_equal(
		    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
		c = open_echo(sv[0]);
		id = c->id;
		for (off = 0; off < flen; off += chunk) {
			size_t k = flen - off < chunk ? flen - off : chunk;

			assert_int_equal(write(sv[1], frame + off, k),
					 (ssize_t)k);
			ev_run(wk.loop, EVRUN_NOWAIT);
		}
		if ((c = wk_conn_find(id)) != NULL) {
			wk_conn_flush(c);
			wk_conn_settle(c);
		}
		n = read(sv[1], out, sizeof(out));
		if (n < 8) {
			ssize_t m = read(sv[1], out + (n > 0 ? n : 0), 32);
			print_message("pieces of %zu: read %zd then %zd: %02x "
				      "%02x %02x %02x\n",
				      chunk, n, m, out[0], out[1], out[4],
				      out[5]);
		}
		assert_true(n >= 8);
		assert_int_equal(out[0], 0x8a); /* pong */
		assert_int_equal(out[1], 2);
		assert_memory_equal(out + 2, "hi", 2);
		assert_int_equal(out[4], 0x88); /* close 1000 */
		assert_int_equal(out[6] << 8 | out[7], 1000);
		if ((c = wk_conn_find(id)) != NULL)
			wk_conn_destroy(c);
		close(sv[1]);
	}
}

/* A connection whose socket died while its 101 was written stays dead:
 * opening it must not bring it back to WK_OPEN. */
static void
test_open_keeps_a_dead_connection(void **state)
{
	struct wk_conn *c;
	uint64_t id;
	int sv[2];

	(void)state;
	assert_int_equal(
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	c = wk_conn_create(sv[0], &wk_io_plain, NULL);
	assert_non_null(c);
	id = c->id;
	wk_conn_admitting(c);
	wk_conn_abort(c);
	wk_conn_open(c);
	assert_int_equal(c->state, WK_DEAD);
	wk_conn_refused(c); /* no CONN_CLOSE: there is no channel here */
	wk_conn_settle(c);  /* destroys it */
	assert_null(wk_conn_find(id));
	assert_int_equal(wk.nconns, 0);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_close_reason_any_cut, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_ping_then_close_cut, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_open_keeps_a_dead_connection,
					    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
