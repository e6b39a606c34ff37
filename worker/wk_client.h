/*
 * wk_client.h: what an open connection does with its messages: the wsd.v1
 * JSON protocol on the WebSocket path, the echo on the echo path; and
 * what the supervisor's replies and deliveries become for a client.
 */
#ifndef WSD_WK_CLIENT_H
#define WSD_WK_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "../proto/proto.h"
#include "wk.h"

/*
 * Take over an upgraded connection (WK_OPEN) that the supervisor admitted
 * with accept (its CONN_ACCEPT): wsd.v1 (the welcome is sent) or, on the
 * echo path, the echo.
 */
void wk_client_open(struct wk_conn *c, const struct proto_msg *accept);

/* Handle one complete text message of wsd.v1. */
void wk_client_on_text(struct wk_conn *c, const uint8_t *msg, size_t len);

/* The messages of an event stream's POST (one a line), taken in order
 * after what still waits from earlier ones; while c is paused they wait,
 * up to twice limits.max_message_bytes (then 4002). */
void wk_client_sse_input(struct wk_conn *c, const char *data, size_t len);

/* The supervisor's replies about connection c. */
void wk_client_on_sub_reply(struct wk_conn *c, const struct proto_msg *m);
void wk_client_on_ack(struct wk_conn *c, const struct proto_msg *m);
void wk_client_on_resumed(struct wk_conn *c, const struct proto_msg *m);
void wk_client_on_error(struct wk_conn *c, const struct proto_msg *m);

/*
 * A DELIVER: to connection c when it names one (c NULL: that connection is
 * gone), else to every local member of its room, or with
 * PROTO_F_BROADCAST to every wsd.v1 connection. Framed once, shared.
 */
void wk_client_on_deliver(struct wk_conn *c, const struct proto_msg *m);

#endif
