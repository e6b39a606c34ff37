/*
 * wk_ipc.h: the worker's channel to its supervisor, a transport: it sends,
 * keeps what nng refuses in order, and hands every message it receives to
 * a callback. It knows no message handler by name.
 */
#ifndef WSD_WK_IPC_H
#define WSD_WK_IPC_H

#include <stdint.h>

#include "../proto/proto.h"

/* A message from the supervisor, decoded and checked; valid for the call. */
typedef void wk_ipc_msg_fn(const struct proto_msg *m);
/* The supervisor is gone (called on the loop, once). */
typedef void wk_ipc_gone_fn(void);

/*
 * Dial the supervisor at url (non-blocking: nng keeps retrying) and read
 * it from the loop. Returns WSD_OK or WSD_ECLOSED (logged).
 */
int wk_ipc_open(const char *url, wk_ipc_msg_fn *on_msg,
		wk_ipc_gone_fn *on_gone);

/* Close the channel; what waits in the outbox is dropped. */
void wk_ipc_close(void);

/*
 * Encode and send m to the supervisor without blocking (m->worker and
 * m->gen are filled in); when nng's queue is full it waits, in order, in
 * the outbox. Returns WSD_OK, WSD_ECLOSED (no channel), or WSD_ENOMEM or
 * WSD_EINVAL (m does not encode). A full outbox ends the process.
 */
int wk_ipc_send(struct proto_msg *m);

/* Messages waiting in the outbox. */
uint32_t wk_ipc_backlog_msgs(void);

/* How many messages wk_ipc_send took since the process started. */
uint64_t wk_ipc_sent(void);

/* Bytes waiting in the outbox (nng's queue to the supervisor was full):
 * the publishers are paused while it is long. */
uint64_t wk_ipc_backlog(void);

#endif
