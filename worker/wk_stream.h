/*
 * wk_stream.h: the session side of the SSE fallback: what a stream does
 * once it is open (the resume its Last-Event-ID asks for, then the rooms
 * of rooms=), and the client messages that POST /sse/send brought.
 */
#ifndef WSD_WK_STREAM_H
#define WSD_WK_STREAM_H

#include "../proto/proto.h"
#include "wk.h"

/* After the welcome of an SSE stream c: resume as its cursor says, or
 * join its rooms= now. */
void wk_stream_open(struct wk_conn *c);

/* A resume of c was answered (RESUMED, or an error): join the rooms of
 * rooms= the session did not bring back. */
void wk_stream_settled(struct wk_conn *c);

/* SSE_INPUT: the messages of a POST for c, if its key is c's. */
void wk_stream_input(struct wk_conn *c, const struct proto_msg *m);

#endif
