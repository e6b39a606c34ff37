/*
 * harness.h: what fuzz_http and fuzz_client share to run worker code
 * outside a worker process.
 *
 * fh_worker_init sets up the worker global `wk` as wk_main would after a
 * CONFIG: the default libev loop (never run; connections start watchers
 * on it and wk_conn_destroy stops them), a config with the defaults of
 * conf/wsd.conf plus an echo path and a JWT secret, and the flush and
 * stats lists. SIGPIPE is ignored, as in a worker.
 *
 * Both fuzzers are linked with -Wl,--wrap=wk_ipc_send, so the worker's
 * calls to wk_ipc_send land in __wrap_wk_ipc_send here instead of an nng
 * socket. While fh_ipc_up is 0 it fails like a worker whose supervisor is
 * gone. While it is 1, every message is encoded with proto_encode and
 * decoded with proto_decode as the supervisor would (a message the
 * supervisor's decoder refuses aborts: it would kill the worker), and
 * kept in fh_ipc_msgs until fh_ipc_reset, so the fuzzer can play the
 * supervisor's part. Strings of a kept message borrow from its own copy
 * of the encoded bytes.
 */
#ifndef WSD_FUZZ_HARNESS_H
#define WSD_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "../../worker/wk.h"

#define FH_IPC_MAX 64 /* messages kept; more is "queue full" (-1) */

struct fh_ipc_msg {
	struct proto_msg m;
	msgpack_unpacked u;
	msgpack_sbuffer sb;
};

extern int fh_ipc_up;
extern unsigned fh_ipc_count;
extern struct fh_ipc_msg fh_ipc_msgs[FH_IPC_MAX];

/* Set up `wk` once per process; FUZZ_LOG=debug turns on worker logs. */
void fh_worker_init(void);

/*
 * A connected, non-blocking AF_UNIX stream pair. sndbuf, when not 0, is
 * the send buffer of sv[1] (the connection's end: small makes writes
 * fail with EAGAIN soon). Aborts on failure.
 */
void fh_socketpair(int sv[2], int sndbuf);

/* Read and drop whatever is readable on fd. Returns the byte count. */
size_t fh_drain(int fd);

/* Forget the kept IPC messages and free their buffers. */
void fh_ipc_reset(void);

/*
 * The global state must be back to empty once every connection was
 * destroyed: no connections, rooms or list entries. Aborts otherwise.
 */
void fh_check_empty(void);

/* FNV-1a of the input, to vary a run's shape by its content. */
uint32_t fh_hash(const uint8_t *data, size_t size);

int __wrap_wk_ipc_send(struct proto_msg *m);

#endif
