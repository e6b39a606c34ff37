/*
 * wk_ws.h: the WebSocket side of an upgraded connection: wslay reads and
 * validates what the client sends (masking, opcodes, reserved bits,
 * control frame rules, UTF-8 of text as it arrives, close codes), answers
 * pings and runs the close handshake; whole data messages go up through
 * the connection's handler. The connection's state is not changed here:
 * each call says what happened, and wk_conn.c decides.
 */
#ifndef WSD_WK_WS_H
#define WSD_WK_WS_H

#include <stdint.h>

#include "wk.h"

/* What the WebSocket side says of a connection after a call. */
enum wk_ws_state {
	WK_WS_OPEN = 0, /* nothing decided */
	WK_WS_CLOSING,	/* our close is queued; the peer's is awaited */
	WK_WS_DONE,	/* the close handshake ended, or the connection was
			   failed: write what is queued, then destroy */
	WK_WS_GONE,	/* the socket is dead (end of stream, an error, no
			   memory): destroy now */
};

/*
 * Read what the client sent, up to a budget per call, and let wslay
 * handle it; whole messages go to c->h->message while c is WK_OPEN.
 * c->close_code gets the code wsd closed with, when it closed. Returns
 * an enum wk_ws_state.
 */
int wk_ws_read(struct wk_conn *c);

/*
 * Queue a close frame with code and reason (at most 123 bytes). Inside a
 * message handler, wslay sends it once the read is done. Returns an enum
 * wk_ws_state: WK_WS_CLOSING, what sending it found, or WK_WS_GONE when
 * no wslay context could be made.
 */
int wk_ws_close(struct wk_conn *c, uint16_t code, const char *reason);

/* Free the wslay context and a held close frame, if any. */
void wk_ws_fini(struct wk_conn *c);

#endif
