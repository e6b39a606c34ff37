/*
 * harness.h: what fuzz_http, fuzz_client and fuzz_frames share to run worker
 * code outside a worker process.
 *
 * fh_worker_init sets up the worker global `wk` as wk_main would after a
 * CONFIG: the default libev loop (never run; connections start watchers
 * on it and wk_conn_destroy stops them), the settings table's defaults
 * plus an echo path, a JWT secret and two origins (switched on and off
 * with wk.cfg.origins.n), and the flush and stats lists. SIGPIPE is
 * ignored, as in a worker.
 *
 * The worker's IPC channel is real: wk_ipc.c dials an nng pair socket
 * over inproc:// whose other end the harness holds, as the supervisor
 * would. fh_ipc_collect receives what the worker sent since the last
 * call (wk_ipc_sent says how many), decodes each message with the
 * supervisor's decoder (a message it refuses aborts: the supervisor would
 * kill the worker), and keeps it in fh_ipc_msgs until fh_ipc_reset, so
 * the fuzzer can play the supervisor's part; its answers go to the
 * worker through fh_reply, encoded and decoded as the channel would carry
 * them. fh_ipc_set(0) closes the worker's channel, so its sends fail as
 * when the supervisor is gone; fh_ipc_set(1) opens it again.
 */
#ifndef WSD_FUZZ_HARNESS_H
#define WSD_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "../../worker/wk.h"

#define FH_IPC_MAX 64 /* messages kept per collection; more are dropped */

struct fh_ipc_msg {
	struct proto_msg m;
	msgpack_unpacked u;
	nng_msg *raw;
};

extern unsigned fh_ipc_count;
extern struct fh_ipc_msg fh_ipc_msgs[FH_IPC_MAX];

/* Set up `wk` and the channel once per process; FUZZ_LOG=debug turns on
 * worker logs. */
void fh_worker_init(void);

/* Open (1) or close (0) the worker's channel to the supervisor. */
void fh_ipc_set(int up);

/* Receive and keep what the worker sent since the last call. */
void fh_ipc_collect(void);

/* Forget the kept IPC messages and free their buffers. */
void fh_ipc_reset(void);

/* Hand m to the worker as the channel would: encoded, decoded, then
 * wk_dispatch_msg. */
void fh_reply(struct proto_msg *m);

/*
 * A connected, non-blocking AF_UNIX stream pair. sndbuf, when not 0, is
 * the send buffer of sv[1] (the connection's end: small makes writes
 * fail with EAGAIN soon). Aborts on failure.
 */
void fh_socketpair(int sv[2], int sndbuf);

/* Read and drop whatever is readable on fd. Returns the byte count. */
size_t fh_drain(int fd);

/*
 * The global state must be back to empty once every connection was
 * destroyed: no connections, rooms or list entries. Aborts otherwise.
 */
void fh_check_empty(void);

/* FNV-1a of the input, to vary a run's shape by its content. */
uint32_t fh_hash(const uint8_t *data, size_t size);

#endif
