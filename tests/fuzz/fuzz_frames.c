/*
 * fuzz_frames.c: libFuzzer target for the bytes a client sends after the
 * upgrade, through the worker's real read path: the I/O seam, the frame
 * boundary tracker and the close-frame stash (wk_frame.c, wk_ws.c),
 * wslay, and permessage-deflate's bounded inflation (wk_deflate.c), up
 * to the echo handler or the wsd.v1 handler, and the frames (compressed
 * or not) sent back.
 *
 * The input: byte 0 chooses the connection's permessage-deflate
 * parameters as a handshake would have agreed them (bit 0: negotiated;
 * bit 1: client_no_context_takeover, else the connection keeps its own
 * inflate stream; bits 2-4: the client's window, 8 + n; bits 5-7: ours,
 * 8 + n, where 8 means we send uncompressed); byte 1 the endpoint (bit
 * 0: wsd.v1, else the echo), compression.min_bytes (bit 1: 0, else 64)
 * and the size of the pieces the rest is written in (bits 2-7: 1 + 61 *
 * n bytes, so frames and headers are cut everywhere). The rest is what
 * the client sends: masked frames, or anything. After each piece the
 * worker's loop runs once (the connection reads), and what it wrote is
 * read from the peer end. Then the peer end is shut, the loop runs until
 * the connection is gone or gives up, and it is destroyed; the worker's
 * state must be empty again and LeakSanitizer checks the rest.
 *
 * limits.max_message_bytes is 8192 here, so the inflated-size limit
 * (1009) is reached by small inputs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../worker/wk_client.h"
#include "../../worker/wk_conn.h"
#include "../../worker/wk_deflate.h"
#include "../../worker/wk_io.h"
#include "harness.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fh_worker_init();
	wk.cfg.max_message_bytes = 8192;
	wk.cfg.max_queue_bytes = 8192 + 1024;
	wk.cfg.max_queue_msgs = 64;
	wk.cfg.deflate = 1;
	return 0;
}

static struct wk_conn *
open_conn(int fd, uint8_t p, int v1)
{
	static const struct proto_msg accept = {
	    .type = PROTO_CONN_ACCEPT,
	    .session = {"s-0", 3},
	    .token = {"r1.s-0.00", 9},
	};
	struct wk_conn *c;
	unsigned out = 8u + (unsigned)(p >> 5);

	if ((c = wk_conn_create(fd, &wk_io_plain, NULL)) == NULL)
		abort();
	if ((c->user = strdup("fuzzer")) == NULL)
		abort();
	c->echo = !v1;
	if (p & 1) {
		c->pmd.on = 1;
		c->pmd.in_nct = (p >> 1) & 1;
		c->pmd.in_bits = (uint8_t)(8 + ((p >> 2) & 7));
		c->pmd.out_bits = out >= 9 ? (uint8_t)out : 0;
	}
	wk_conn_admitting(c);
	wk_conn_open(c);
	wk_client_open(c, &accept);
	return c;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wk_conn *c;
	uint64_t id;
	size_t off = 2, piece;
	int sv[2], round;

	if (size < 2)
		return 0;
	wk.cfg.deflate_min_bytes = (data[1] & 2) ? 0 : 64;
	piece = 1 + 61 * (size_t)(data[1] >> 2);
	fh_socketpair(sv, 0);
	c = open_conn(sv[1], data[0], data[1] & 1);
	id = c->id;
	while (off < size && wk_conn_find(id) != NULL) {
		size_t k = size - off < piece ? size - off : piece;
		ssize_t n = write(sv[0], data + off, k);

		if (n <= 0)
			break; /* not read any more: the connection is done */
		off += (size_t)n;
		ev_run(wk.loop, EVRUN_NOWAIT);
		if ((c = wk_conn_find(id)) != NULL) {
			wk_conn_flush(c);
			wk_conn_settle(c);
		}
		fh_drain(sv[0]);
	}
	/* The client's end: the connection reads it and ends. */
	shutdown(sv[0], SHUT_WR);
	for (round = 0; round < 8 && (c = wk_conn_find(id)) != NULL; round++) {
		ev_run(wk.loop, EVRUN_NOWAIT);
		if ((c = wk_conn_find(id)) != NULL) {
			wk_conn_flush(c);
			wk_conn_settle(c);
		}
		fh_drain(sv[0]);
	}
	if ((c = wk_conn_find(id)) != NULL)
		wk_conn_destroy(c);
	close(sv[0]);
	fh_ipc_collect();
	fh_ipc_reset();
	fh_check_empty();
	return 0;
}
