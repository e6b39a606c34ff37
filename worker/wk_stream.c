/*
 * wk_stream.c: an SSE stream's session (wk_stream.h).
 *
 * What the stream's request asked for is played as the client would have
 * sent it over a WebSocket, through wk_client.c: first the `resume` of
 * its cursor, then a `subscribe` for each room of rooms= that the resume
 * did not bring back (only once the resume is answered, so that a room's
 * replay and its `subscribed` cannot cross). The messages of a POST come
 * here through the supervisor and are taken like a WebSocket client's:
 * counted, charged to the client's send rate, checked by wk_client.c.
 */
#include "wk_stream.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/log.h"
#include "wk_client.h"
#include "wk_conn.h"
#include "wk_rooms.h"
#include "wk_sse.h"

void
wk_stream_open(struct wk_conn *c)
{
	char *resume = wk_sse_take_resume(c->sse);

	if (resume != NULL) {
		/* It is the stream's first message. */
		c->msgs_in++;
		wk_client_on_text(c, (const uint8_t *)resume, strlen(resume));
		free(resume);
		/* Refused before it reached the supervisor. */
		if (!c->resuming)
			wk_sse_resume_failed(c->sse);
	}
	if (c->state == WK_OPEN && !c->resuming)
		wk_stream_settled(c);
}

void
wk_stream_settled(struct wk_conn *c)
{
	char *rooms = wk_sse_take_rooms(c->sse), *p, *next;

	for (p = rooms; p != NULL && c->state == WK_OPEN; p = next) {
		size_t len;
		json_t *sub;
		char *text;

		next = strchr(p, ',');
		len = next ? (size_t)(next - p) : strlen(p);
		if (next != NULL)
			next++;
		if (len == 0 || wk_room_is_member(c, p, len))
			continue;
		sub = json_pack("{s:s, s:s#}", "type", "subscribe", "room", p,
				(int)len);
		text = sub ? json_dumps(sub, JSON_COMPACT) : NULL;
		if (text != NULL)
			wk_client_on_text(c, (const uint8_t *)text,
					  strlen(text));
		free(text);
		json_decref(sub);
	}
	free(rooms);
}

void
wk_stream_input(struct wk_conn *c, const struct proto_msg *m)
{
	if (c->sse == NULL || c->state != WK_OPEN ||
	    !wk_sse_key_is(c->sse, m->token.p, m->token.len)) {
		log_debug("sse_input_refused", "conn=%llu",
			  (unsigned long long)c->id);
		return;
	}
	c->last_rx = ev_now(wk.loop);
	wk_client_sse_input(c, m->data.p, m->data.len);
	wk_conn_settle(c);
}
