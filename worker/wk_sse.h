/*
 * wk_sse.h: the Server-Sent Events side of a wsd.v1 connection that came
 * by GET /sse instead of a WebSocket upgrade: its send key, its resume
 * cursor, and its server messages as events.
 *
 * The cursor is what a reconnecting EventSource needs to come back
 * without loss: the newest resume token and, for each room, the last seq
 * sent and the room's epoch. It is the event id (the ASCII JSON
 * {"t":TOKEN,"r":{ROOM:[SEQ,EPOCH]}}, the fields of a `resume`), written
 * on each event after which it changed, so that the browser's
 * Last-Event-ID is always the cursor of the last event it got.
 * Nothing here touches a socket or the connection: wk_client.c tells it
 * what happened, wk_deflate.c and wk_conn.c ask it for events.
 */
#ifndef WSD_WK_SSE_H
#define WSD_WK_SSE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "wk.h"

/* The send key: base64url of 16 random bytes. */
#define WK_SSE_KEY_LEN 22

/* Largest Last-Event-ID (or last_event_id=) taken, in bytes. */
#define WK_SSE_CURSOR_MAX 16384

/* A stream's state, with a fresh send key; NULL when out of memory or out
 * of random bytes. */
struct wk_sse *wk_sse_new(void);
void wk_sse_free(struct wk_sse *s);

/* The send key, NUL-terminated; and whether k[0..len) is it (in constant
 * time). */
const char *wk_sse_key(const struct wk_sse *s);
int wk_sse_key_is(const struct wk_sse *s, const char *k, size_t len);

/*
 * The request's Last-Event-ID (cursor[0..len)) and rooms= (a
 * comma-separated list, URL-encoded: proto/url.h), kept until the stream
 * opens.
 * A cursor that does not decode is dropped (the stream starts a fresh
 * session). Returns WSD_OK or WSD_ENOMEM.
 */
int wk_sse_set_request(struct wk_sse *s, const char *cursor, size_t len,
		       const char *rooms, size_t rlen);

/* The `resume` message (JSON text, malloc'd) the request's cursor asks
 * for, or NULL without one; once. */
char *wk_sse_take_resume(struct wk_sse *s);

/* The rooms= list, decoded (malloc'd, comma-separated), or NULL;
 * once. */
char *wk_sse_take_rooms(struct wk_sse *s);

/* What changes the cursor (wk_client.c): the welcome's or a shutdown's
 * token (a welcome's, while a resume is due, only if the resume fails), a
 * subscribe that is out (with since or without), its answer, an
 * unsubscribe, a delivery, a resume that is out (asked: its rooms,
 * {ROOM:{"seq":N,"epoch":E}}), its answer or its failure. */
void wk_sse_token(struct wk_sse *s, const char *tok, size_t len, int welcome);
void wk_sse_want(struct wk_sse *s, const char *room, size_t rlen, int has_since,
		 uint64_t since);
void wk_sse_joined(struct wk_sse *s, const char *room, size_t rlen,
		   uint64_t seq, const char *epoch, size_t elen);
void wk_sse_left(struct wk_sse *s, const char *room, size_t rlen);
void wk_sse_advance(struct wk_sse *s, const char *room, size_t rlen,
		    uint64_t seq, int add);
void wk_sse_resuming(struct wk_sse *s, json_t *asked);
void wk_sse_resumed(struct wk_sse *s, const char *tok, size_t len,
		    const json_t *rooms);
void wk_sse_resume_failed(struct wk_sse *s);

/*
 * The event for one server message text[0..len): an id line when the
 * cursor changed since the last event, then the text as data lines (one
 * per line of it). One reference; NULL when out of memory.
 */
struct wk_buf *wk_sse_event(struct wk_sse *s, const char *text, size_t len);

/*
 * POSTed input that waits while its client is paused (wk_client.c): held
 * adds p[0..len) after what waits (WSD_OK; WSD_EFULL past max bytes in
 * all, WSD_ENOMEM), held gives what waits, take_held drops its first n
 * bytes once taken.
 */
int wk_sse_hold(struct wk_sse *s, const char *p, size_t len, size_t max);
const char *wk_sse_held(const struct wk_sse *s, size_t *len);
void wk_sse_take_held(struct wk_sse *s, size_t n);

/* A heartbeat: a comment line, which EventSource ignores. */
struct wk_buf *wk_sse_comment(void);

#endif
