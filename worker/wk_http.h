/*
 * wk_http.h: takes a new connection through the HTTP/1.1 upgrade: parse,
 * check, answer a refusal with its HTTP status, serve the demo page, ask
 * the supervisor to admit (CONN_OPEN), and complete the handshake with
 * the 101 once it does.
 */
#ifndef WSD_WK_HTTP_H
#define WSD_WK_HTTP_H

#include <stddef.h>

#include "../proto/proto.h"
#include "wk.h"

/* The handler of a connection in its handshake: a new connection starts
 * with it (wk_accept.c). */
extern const struct wk_handler wk_http_handler;

/* Compute Sec-WebSocket-Accept for key[0..len) into out (29 bytes). */
void wk_accept_key(const char *key, size_t len, char out[29]);

/* Read and handle the request head of a connection in WK_HANDSHAKE (the
 * handler's read). */
void wk_http_on_read(struct wk_conn *c);

/*
 * The supervisor's CONN_ACCEPT for c: status 0 writes the 101 and opens
 * the connection (WK_OPEN; the caller hands it to wk_client.c), 429 or
 * 503 answers with that status.
 */
void wk_http_on_accept(struct wk_conn *c, const struct proto_msg *m);

#endif
