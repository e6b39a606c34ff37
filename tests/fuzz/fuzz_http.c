/*
 * fuzz_http.c: libFuzzer target for the worker's HTTP upgrade handling
 * (worker/wk_http.c), driven through a real connection object.
 *
 * The input is what a client sends on a fresh TCP connection. For each
 * input a socketpair stands in for the socket: the input is written to
 * one end, wk_conn_create takes the other (a plain socket, handled by
 * wk_http.c's handler), and wk_http_on_read is called as the read watcher
 * would call it until the connection leaves WK_HANDSHAKE (the end is
 * half-closed once everything is written, so a request that never
 * completes ends in EOF). Each input runs twice:
 *
 * 1. In one write: no origin list, anonymous clients and the demo page
 *    allowed, 8 KB heads. For one input in eight (by its hash) the
 *    supervisor is unreachable (the worker's channel is closed, so
 *    wk_ipc_send fails) and an upgrade that passes every check is
 *    answered 503; for the others the harness answers as in run 2. (The
 *    channel is closed and opened again only then: each reopening costs
 *    more than a run.)
 * 2. In pieces (a piece size between 1 and 61 bytes chosen from the
 *    input's hash, at most about 64 pieces), which takes the path that
 *    gives a slow request a buffer of its own, with two allowed origins,
 *    2 KB heads, and the supervisor reachable through the harness
 *    (harness.h): the CONN_OPEN the worker sends must survive the IPC
 *    codec, and the supervisor's answer (admit, or 429 or 503, chosen
 *    from the hash) goes through the worker's dispatcher, which writes
 *    the 101 and the welcome. Anonymous clients and the demo page are
 *    switched by bits of the hash.
 *
 * After each run the queued answer is written out and checked: it is an
 * HTTP/1.1 status line with one of the statuses wsd uses, the handshake
 * state was freed, and the connection ended where it should (WK_DEAD, or
 * WK_OPEN after an admitted upgrade or event stream, GET /sse). A POST
 * /sse/send whose body is read goes to the harness as SSE_INPUT. Then
 * wk_conn_destroy, and the worker's global state must be empty again;
 * LeakSanitizer checks the rest.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../worker/wk_conn.h"
#include "../../worker/wk_http.h"
#include "../../worker/wk_io.h"
#include "harness.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

static int ipc_up; /* the worker's channel is open in this run */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fh_worker_init();
	return 0;
}

static void
fail(const char *why, const char *out, size_t len)
{
	fprintf(stderr, "fuzz_http: %s; answer (%zu bytes): %.*s\n", why, len,
		(int)(len > 200 ? 200 : len), out);
	abort();
}

/* Is the answer the status line wsd writes, with a status it uses? */
static void
check_answer(const char *out, size_t len, int state)
{
	static const char *const ok[] = {
	    "101", "200", "202", "400", "401", "403", "404",
	    "405", "411", "413", "426", "429", "431", "503",
	};
	size_t i;
	int stream;

	if (len == 0) {
		if (state == WK_OPEN)
			fail("admitted without an answer", out, len);
		return;
	}
	if (len < 13 || memcmp(out, "HTTP/1.1 ", 9) != 0 || out[12] != ' ')
		fail("not an HTTP/1.1 status line", out, len);
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (memcmp(out + 9, ok[i], 3) == 0)
			break;
	if (i == sizeof(ok) / sizeof(ok[0]))
		fail("a status wsd does not use", out, len);
	/* Open after a 101, or after the 200 of an event stream. */
	stream = memcmp(out + 9, "200", 3) == 0 &&
		 memmem(out, len, "text/event-stream", 17) != NULL;
	if ((memcmp(out + 9, "101", 3) == 0 || stream) != (state == WK_OPEN))
		fail("101 (or an event stream) and WK_OPEN disagree", out, len);
	if (memmem(out, len, "\r\n\r\n", 4) == NULL)
		fail("the head does not end", out, len);
}

/* Play the supervisor: answer the CONN_OPEN the worker just sent. */
static void
answer_conn_open(struct wk_conn *c, uint32_t h)
{
	const struct proto_msg *open;
	struct proto_msg a;

	fh_ipc_collect();
	if (fh_ipc_count != 1)
		fail("admitting without exactly one IPC message", "", 0);
	open = &fh_ipc_msgs[0].m;
	if (open->type != PROTO_CONN_OPEN || open->conn != c->id ||
	    open->user.len != strlen(c->user) ||
	    memcmp(open->user.p, c->user, open->user.len) != 0)
		fail("CONN_OPEN does not describe the connection", "", 0);
	memset(&a, 0, sizeof(a));
	a.type = PROTO_CONN_ACCEPT;
	a.conn = c->id;
	a.status = (h & 7) == 0 ? 429 : (h & 7) == 1 ? 503 : 0;
	a.session = proto_cstr("s-3f9a0c11");
	a.token = proto_cstr("r1.3f9a0c11.0123456789abcdef");
	fh_reply(&a);
}

static void
run(const uint8_t *data, size_t size, size_t piece, uint32_t h)
{
	static char out[65536];
	struct wk_conn *c;
	uint64_t id;
	size_t off = 0, len;
	ssize_t n;
	int sv[2], shut = 0;

	fh_socketpair(sv, 0);
	if ((c = wk_conn_create(sv[1], &wk_io_plain, &wk_http_handler)) == NULL)
		abort();
	id = c->id;
	while (c->state == WK_HANDSHAKE) {
		if (off < size) {
			n = write(sv[0], data + off,
				  size - off < piece ? size - off : piece);
			if (n > 0)
				off += (size_t)n;
		} else if (!shut) {
			shutdown(sv[0], SHUT_WR);
			shut = 1;
		}
		wk_http_on_read(c);
		/* In pieces, also a read that finds nothing new. */
		if (piece < size && c->state == WK_HANDSHAKE)
			wk_http_on_read(c);
	}
	if (c->state == WK_ADMITTING) {
		if (!ipc_up || c->hs == NULL)
			fail("admitting without IPC or handshake state", "", 0);
		answer_conn_open(c, h);
		/* The dispatcher settled it: still there, its answer queued. */
		if ((c = wk_conn_find(id)) == NULL)
			fail("destroyed before its answer was written", "", 0);
	}
	if (c->hs != NULL)
		fail("handshake state kept after the handshake", "", 0);
	if (c->state != WK_DEAD && c->state != WK_OPEN)
		fail("the handshake ended in an unexpected state", "", 0);

	wk_conn_flush(c);
	len = 0;
	while (len < sizeof(out) &&
	       (n = read(sv[0], out + len, sizeof(out) - len)) > 0)
		len += (size_t)n;
	check_answer(out, len, c->state);

	wk_conn_destroy(c);
	close(sv[0]);
	fh_ipc_collect();
	fh_ipc_reset();
	fh_check_empty();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t h = fh_hash(data, size);
	size_t piece;

	ipc_up = (h & 0x700) != 0;
	fh_ipc_set(ipc_up);
	wk.cfg.origins.n = 0;
	wk.cfg.max_header_bytes = 8192;
	wk.cfg.allow_anonymous = 1;
	wk.cfg.demo_page = 1;
	run(data, size, size ? size : 1, h);

	piece = 1 + (h >> 8) % 61;
	if (piece < size / 64 + 1)
		piece = size / 64 + 1;
	ipc_up = 1;
	fh_ipc_set(1);
	wk.cfg.origins.n = 2;
	wk.cfg.max_header_bytes = 2048;
	wk.cfg.allow_anonymous = (h >> 3) & 1;
	wk.cfg.demo_page = (h >> 4) & 1;
	run(data, size, piece, h);
	return 0;
}
