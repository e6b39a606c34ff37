/*
 * wk_ws.c: the wslay glue of wk_ws.h.
 *
 * A connection's wslay context exists only while a frame is in progress:
 * it is created when bytes arrive and freed again when the bytes read end
 * between two whole messages with nothing queued inside wslay (wk_scan in
 * wk_frame.c tells), so an idle connection holds none of its 9 KB. What
 * wslay wants to send (pongs, the close frame) goes to the connection's
 * send queue through its send callback.
 *
 * A close frame reaches wslay whole and first in a wslay_event_recv call,
 * for two faults of wslay 1.1.1: it checks the UTF-8 of a close reason per
 * read, skipping two bytes of each piece as if each began with the code;
 * and when a ping and a close come in one call it sends only the close,
 * dropping the pong the ping is owed. So ws_recv holds a close frame back
 * in c->stash (at most 131 bytes) unless it starts the call, and wk_ws_read
 * calls wslay again once the replies to the earlier frames are queued.
 *
 * With permessage-deflate negotiated (wk_deflate.c), wslay lets RSV1
 * through on the first frame of a data message (on a continuation or a
 * control frame it is still 1002) and hands over the compressed message;
 * the limits on what is read are then the compressed bound of
 * max_message_bytes, and the message limit itself applies to the
 * inflated size, while it inflates (1009). Data that does not inflate
 * closes with 1007, as does inflated text that is not UTF-8, which wslay
 * cannot check before inflation.
 */
#include "wk_ws.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "wk_deflate.h"
#include "wk_frame.h"
#include "wk_queue.h"
#include "wk_rate.h"

#define READ_BUDGET (256 * 1024) /* bytes per connection per loop turn */

/*
 * The read in progress: wslay's callbacks get only the connection, so
 * what steers one wk_ws_read call lives here while it runs (NULL
 * otherwise; one loop thread, one read at a time).
 */
struct ws_read {
	struct wk_conn *c;
	size_t budget; /* bytes still to read in this call */
	int seq;       /* recv callbacks in this wslay_event_recv call */
	int drained;   /* a read came back short: the socket is empty */
	int gone;      /* the socket reached its end or failed */
};

static struct ws_read *cur;

/* The largest frame or message wslay and the tracker let through: the
 * message limit, or what a compressed message within it may take. */
static uint64_t
read_limit(const struct wk_conn *c)
{
	return c->pmd.on ? wk_deflate_bound(wk.cfg.max_message_bytes)
			 : wk.cfg.max_message_bytes;
}

/*
 * Fail the connection from the read path: the close frame is queued in
 * wslay and nothing more is read. A message over the limit is the
 * server's decision: its 1009 goes before what was queued (those
 * messages are in the replay logs). A protocol error's close follows the
 * replies already owed.
 */
static void
ws_fail(struct wk_conn *c, wslay_event_context_ptr ctx, uint16_t code,
	const char *why)
{
	c->close_code = code;
	if (code == 1009) {
		uint32_t lost = wk_queue_discard_unsent(&c->q);

		c->drops += lost;
		wk.tot[PROTO_TOT_DROPS_CLOSE] += lost;
		wk.tot[PROTO_TOT_LIMIT_MAX_MESSAGE]++;
	}
	wslay_event_queue_close(ctx, code, (const uint8_t *)why, strlen(why));
	wslay_event_shutdown_read(ctx);
}

/* Is p[0..n) UTF-8 (RFC 3629: no overlong forms, no surrogates, at most
 * U+10FFFF)? wslay checks the text it sees; this is for inflated text. */
static int
utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0, k, need;
	uint32_t cp, min;

	while (i < n) {
		uint8_t b = p[i++];

		if (b < 0x80)
			continue;
		if (b >= 0xc2 && b <= 0xdf) {
			need = 1, cp = b & 0x1f, min = 0x80;
		} else if (b >= 0xe0 && b <= 0xef) {
			need = 2, cp = b & 0x0f, min = 0x800;
		} else if (b >= 0xf0 && b <= 0xf4) {
			need = 3, cp = b & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (n - i < need)
			return 0;
		for (k = 0; k < need; k++, i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
	}
	return 1;
}

/* Tell wslay there is nothing to read now; returns its -1. */
static ssize_t
would_block(wslay_event_context_ptr ctx)
{
	wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
	return -1;
}

/*
 * Read through the connection's I/O seam for wslay: the bytes read (the
 * client was heard from), or -1 with wslay's error set: would block, or
 * the socket is gone (the read in progress says so).
 */
static ssize_t
seam_read(struct wk_conn *c, wslay_event_context_ptr ctx, uint8_t *buf,
	  size_t len)
{
	ssize_t n = c->io_ops->read(c, buf, len);

	if (n > 0) {
		c->last_rx = ev_now(wk.loop);
		return n;
	}
	if (n == WSD_EAGAIN)
		return would_block(ctx);
	cur->gone = 1;
	wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

/* The held frame's whole length once its first two bytes are in, or 0.
 * Over sizeof(buf) means a control frame over 125 bytes. */
static size_t
stash_total(const struct wk_stash *st)
{
	if (st->len < 2)
		return 0;
	return 2 + ((st->buf[1] & 0x80) ? 4 : 0) + (st->buf[1] & 0x7f);
}

static int
stash_complete(const struct wk_stash *st)
{
	return st->len >= 2 && st->len >= stash_total(st);
}

/* Collect the rest of the held close frame; hand it over whole. */
static ssize_t
stash_recv(struct wk_conn *c, wslay_event_context_ptr ctx, uint8_t *buf,
	   size_t len)
{
	struct wk_stash *st = c->stash;
	size_t total = 0, want;
	ssize_t n;

	if (cur->seq > 1) /* not first in this call: the next call takes it */
		return would_block(ctx);
	for (;;) {
		total = stash_total(st);
		if (total > sizeof(st->buf)) {
			/* Over 125 bytes: the tracker flags it (1002). */
			break;
		}
		if (total != 0 && st->len == total)
			break;
		want = total == 0 ? (size_t)(2 - st->len) : total - st->len;
		if ((n = seam_read(c, ctx, st->buf + st->len, want)) < 0)
			return -1;
		st->len += (uint8_t)n;
	}
	n = (ssize_t)wk_scan_feed(&c->scan, st->buf, st->len, 0);
	if (n > (ssize_t)len)
		n = (ssize_t)len; /* wslay always offers more than 131 */
	memcpy(buf, st->buf, (size_t)n);
	free(st);
	c->stash = NULL;
	return n > 0 ? n : would_block(ctx);
}

/* Hold back the close frame that starts at offset k of the n bytes in
 * buf (see the file comment). Returns the bytes before it, or
 * WSD_ENOMEM. */
static ssize_t
stash_hold(struct wk_conn *c, const uint8_t *buf, size_t n)
{
	size_t k = c->scan.close_off, keep = n - k;

	if ((c->stash = calloc(1, sizeof(*c->stash))) == NULL)
		return WSD_ENOMEM;
	/* Bytes after a whole close frame are never read. */
	if (keep > sizeof(c->stash->buf))
		keep = sizeof(c->stash->buf);
	memcpy(c->stash->buf, buf + k, keep);
	c->stash->len = (uint8_t)keep;
	if (stash_complete(c->stash))
		c->stash->len = (uint8_t)stash_total(c->stash);
	/* The tracker sees the frame again when it is handed over: back to
	 * the boundary before it. */
	wk_scan_rewind(&c->scan);
	return (ssize_t)k;
}

static ssize_t
ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
	void *user)
{
	struct wk_conn *c = user;
	ssize_t n;

	(void)flags;
	cur->seq++;
	if (c->scan.bad)
		return would_block(ctx);
	/* A held close frame is owed to wslay whatever the budget. */
	if (c->stash != NULL)
		return stash_recv(c, ctx, buf, len);
	/* A paused sender is not read (its bytes wait in the kernel, and TCP
	 * pushes back on it). */
	if (cur->budget == 0 || cur->drained ||
	    (c->rate != NULL && c->rate->paused))
		return would_block(ctx);
	if (len > cur->budget)
		len = cur->budget;
	if ((n = seam_read(c, ctx, buf, len)) < 0)
		return -1;
	/* Level-triggered: if more arrives, the loop calls us again. */
	if ((size_t)n < len)
		cur->drained = 1;
	cur->budget -= (size_t)n;
	/* Hand wslay the frames before a bad one, if any. */
	n = (ssize_t)wk_scan_feed(&c->scan, buf, (size_t)n, read_limit(c));
	if (!c->scan.bad && c->scan.close_seen &&
	    (wk_scan_in_close(&c->scan) || c->scan.close_off > 0 ||
	     cur->seq > 1) &&
	    (n = stash_hold(c, buf, (size_t)n)) < 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return n > 0 ? n : would_block(ctx);
}

static ssize_t
ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
	void *user)
{
	struct wk_conn *c = user;
	struct wk_buf *b;
	int rc;

	(void)flags;
	if ((b = wk_buf_new((uint32_t)len)) == NULL) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	memcpy(b->data, data, len);
	rc = wk_queue_push(&c->q, b);
	wk_buf_unref(b);
	if (rc != WSD_OK) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	wk_mark_dirty(c);
	wk_mark_stats(c);
	return (ssize_t)len;
}

static void
ws_on_msg(wslay_event_context_ptr ctx,
	  const struct wslay_event_on_msg_recv_arg *a, void *user)
{
	struct wk_conn *c = user;
	const uint8_t *msg = a->msg;
	size_t len = a->msg_length;
	uint8_t *inflated = NULL;

	if (a->opcode == WSLAY_PONG && c->awaiting_pong) {
		double rtt = ev_now(wk.loop) - c->ping_at;

		c->rtt_us = rtt > 4000 ? 4000000000u : (uint32_t)(rtt * 1e6);
		stats_observe(&wk.tot[PROTO_TOT_RTT], stats_lat_us, STATS_LAT_N,
			      c->rtt_us);
		wk_mark_stats(c);
	}
	if (a->opcode != WSLAY_TEXT_FRAME && a->opcode != WSLAY_BINARY_FRAME)
		return; /* ping, pong and close are wslay's */
	if (c->state != WK_OPEN)
		return; /* we are closing: what follows is not read */
	/* A pong wslay queued for a ping that came before this message's
	 * last frame goes out first: control frames are answered in the
	 * order they were received, before a message completed after them. */
	if (wslay_event_get_queued_msg_count(ctx) > 0)
		wslay_event_send(ctx);
	if (a->rsv & WSLAY_RSV1_BIT) {
		/* Only a connection that negotiated deflate gets here. */
		int rc = wk_deflate_inflate(c, a->msg, a->msg_length,
					    wk.cfg.max_message_bytes, &inflated,
					    &len);

		if (rc == WK_DEFLATE_TOO_BIG) {
			ws_fail(c, ctx, 1009, "message too big");
			return;
		}
		if (rc != WSD_OK) {
			ws_fail(c, ctx, rc == WSD_ENOMEM ? 1011 : 1007,
				rc == WSD_ENOMEM ? "internal error"
						 : "invalid compressed data");
			return;
		}
		msg = inflated;
		if (a->opcode == WSLAY_TEXT_FRAME && !utf8_valid(msg, len)) {
			free(inflated);
			ws_fail(c, ctx, 1007, "invalid UTF-8");
			return;
		}
		wk.tot[PROTO_TOT_DEFLATE_IN]++;
		if (len > a->msg_length)
			wk.tot[PROTO_TOT_DEFLATE_IN_SAVED] +=
			    len - a->msg_length;
	} else if (len > wk.cfg.max_message_bytes) {
		/* Within the compressed bound, over the limit. */
		ws_fail(c, ctx, 1009, "message too big");
		return;
	}
	c->msgs_in++;
	wk.tot[PROTO_TOT_MSGS_IN]++;
	wk_mark_stats(c);
	if (c->h != NULL && c->h->message != NULL)
		c->h->message(c, a->opcode, msg, len);
	free(inflated);
}

/* The context, created when a frame starts. Returns WSD_OK or
 * WSD_ENOMEM. */
static int
ws_ensure(struct wk_conn *c)
{
	struct wslay_event_callbacks cb = {
	    .recv_callback = ws_recv,
	    .send_callback = ws_send,
	    .on_msg_recv_callback = ws_on_msg,
	};

	if (c->ws != NULL)
		return WSD_OK;
	if (wslay_event_context_server_init(&c->ws, &cb, c) != 0) {
		c->ws = NULL;
		return WSD_ENOMEM;
	}
	wslay_event_config_set_max_recv_msg_length(c->ws, read_limit(c));
	if (c->pmd.on)
		wslay_event_config_set_allowed_rsv_bits(c->ws, WSLAY_RSV1_BIT);
	return WSD_OK;
}

/* After wslay has read or queued: move its output and say where the
 * close handshake stands; free the context of an idle open connection. */
static int
pump(struct wk_conn *c)
{
	int st = WK_WS_OPEN;

	if (wslay_event_send(c->ws) != 0)
		return WK_WS_DONE;
	if (wslay_event_get_close_sent(c->ws)) {
		if (wslay_event_get_close_received(c->ws) ||
		    !wslay_event_get_read_enabled(c->ws)) {
			/* Handshake done, or the connection was failed. */
			if (c->close_code == 0)
				c->close_code =
				    wslay_event_get_status_code_sent(c->ws);
			return WK_WS_DONE;
		}
		st = WK_WS_CLOSING;
	}
	if (st == WK_WS_OPEN && c->state == WK_OPEN && wk_scan_idle(&c->scan) &&
	    c->stash == NULL && wslay_event_get_queued_msg_count(c->ws) == 0) {
		wslay_event_context_free(c->ws);
		c->ws = NULL;
	}
	return st;
}

int
wk_ws_read(struct wk_conn *c)
{
	struct ws_read r = {c, READ_BUDGET, 0, 0, 0};
	int rc, st;

	if (ws_ensure(c) != WSD_OK)
		return WK_WS_GONE;
	cur = &r;
	for (;;) {
		r.seq = 0;
		rc = wslay_event_recv(c->ws);
		/* Gone: the socket ended or failed, in a read or in a flush
		 * a message handler's send ran. */
		if (rc != 0 || r.gone || c->eof) {
			if (c->close_code == 0)
				c->close_code = 1006;
			st = WK_WS_GONE;
			break;
		}
		if (c->scan.bad && !wslay_event_get_close_sent(c->ws) &&
		    wslay_event_get_read_enabled(c->ws))
			ws_fail(c, c->ws, wk_scan_close_code(&c->scan),
				wk_scan_close_reason(&c->scan));
		st = pump(c);
		/* A held close frame goes to wslay in a call of its own. */
		if (st == WK_WS_DONE || c->state == WK_DEAD || c->ws == NULL ||
		    c->stash == NULL || !stash_complete(c->stash) ||
		    !wslay_event_get_read_enabled(c->ws) || r.seq == 0)
			break;
	}
	cur = NULL;
	return st;
}

int
wk_ws_close(struct wk_conn *c, uint16_t code, const char *reason)
{
	if (ws_ensure(c) != WSD_OK)
		return WK_WS_GONE;
	c->close_code = code;
	wslay_event_queue_close(c->ws, code, (const uint8_t *)reason,
				reason ? strlen(reason) : 0);
	/* A close for a fault does not wait for the client's close frame:
	 * what it still sends (a flooder's backlog, megabytes of it) is not
	 * parsed but dropped by the linger, which ends at its EOF. 1000 and
	 * 1001 keep the closing handshake. */
	if (code != 1000 && code != 1001)
		wslay_event_shutdown_read(c->ws);
	/* Inside this connection's read, wslay sends it when the read pumps. */
	if (cur != NULL && cur->c == c)
		return WK_WS_CLOSING;
	return pump(c);
}

void
wk_ws_fini(struct wk_conn *c)
{
	if (c->ws != NULL)
		wslay_event_context_free(c->ws);
	c->ws = NULL;
	free(c->stash);
	c->stash = NULL;
	wk_deflate_conn_fini(c);
}
