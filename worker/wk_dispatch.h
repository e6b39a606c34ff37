/*
 * wk_dispatch.h: what the worker does with each message of its
 * supervisor: apply CONFIG, complete or refuse an admission, close a
 * kicked connection, and hand replies and deliveries to the client
 * protocol. wk_main.c gives wk_dispatch_msg to the channel.
 */
#ifndef WSD_WK_DISPATCH_H
#define WSD_WK_DISPATCH_H

#include "../proto/proto.h"

/* Handle one message of the supervisor (wk_ipc_msg_fn). */
void wk_dispatch_msg(const struct proto_msg *m);

/* Free the settings the last CONFIG left. */
void wk_dispatch_fini(void);

#endif
