/*
 * wk_conn.c: one client connection in a worker, from accept to destroy.
 *
 * Reading: in the handshake, bytes go to wk_http.c; after it, to wslay,
 * whose context is created when a frame starts and freed again when the
 * bytes read end between two whole messages with nothing queued inside
 * wslay (wk_scan in wk_frame.c tells). wslay validates the frames (masking,
 * opcodes, reserved bits, control frame rules, UTF-8 of text as it
 * arrives, close codes), answers pings and runs the close handshake; what
 * it wants to send lands in our queue through its send callback.
 *
 * Writing: every outgoing frame is a reference to a wk_buf in the
 * connection's queue, bounded in bytes and messages (the slow-consumer
 * policy decides what happens when full). Connections with something
 * queued sit on a list that an ev_prepare watcher flushes once per loop
 * iteration, one writev each.
 *
 * Lifetime: a connection is destroyed only at the end of a loop callback
 * (wk_conn_settle), never inside wslay's callbacks, so no callback sees a
 * freed connection.
 */
#include "wk.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../proto/log.h"

#define container_of(p, type, member)                                          \
	((type *)((char *)(p)-offsetof(type, member)))

#define READ_BUDGET (256 * 1024) /* bytes per connection per loop turn */
#define CLOSE_WAIT 2.0		 /* seconds to wait for the peer's close */
#define IOV_BATCH 128

static size_t read_budget;
static int in_recv;  /* inside wslay_event_recv: it sends afterwards */
static int recv_seq; /* recv callbacks in this wslay_event_recv call */
static int drained;  /* a read came back short: the socket is empty */

static void on_io(struct ev_loop *loop, ev_io *w, int revents);
static void on_timer(struct ev_loop *loop, ev_timer *w, int revents);

struct wk_conn *
wk_conn_find(uint64_t id)
{
	struct wk_conn *c;

	HASH_FIND(hh, wk.conns, &id, sizeof(id), c);
	return c;
}

/*
 * A client whose own send queue is over its limits is not read until the
 * queue drains: what it sends (pings, echo requests) only adds replies it
 * does not take, so its input waits in the kernel instead of our memory.
 */
static int
over_limits(const struct wk_conn *c)
{
	return c->q_bytes > wk.cfg.max_queue_bytes ||
	       c->q_msgs > wk.cfg.max_queue_msgs;
}

static void
update_io(struct wk_conn *c)
{
	int ev = 0;

	if (!c->eof &&
	    (c->state == WK_HANDSHAKE || c->state == WK_OPEN ||
	     c->state == WK_CLOSING) &&
	    !over_limits(c))
		ev |= EV_READ;
	if (c->writing)
		ev |= EV_WRITE;
	if (ev == (c->io.events & (EV_READ | EV_WRITE)) && ev_is_active(&c->io))
		return;
	ev_io_stop(wk.loop, &c->io);
	if (ev != 0) {
		ev_io_set(&c->io, c->io.fd, ev);
		ev_io_start(wk.loop, &c->io);
	}
}

static void
arm_timer(struct wk_conn *c, double after)
{
	ev_timer_stop(wk.loop, &c->timer);
	ev_timer_set(&c->timer, after > 0.001 ? after : 0.001, 0.);
	ev_timer_start(wk.loop, &c->timer);
}

struct wk_conn *
wk_conn_create(int fd)
{
	struct wk_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->id = ((uint64_t)wk.epoch << 32) | ++wk.next_conn;
	STAILQ_INIT(&c->q);
	LIST_INIT(&c->rooms);
	ev_io_init(&c->io, on_io, fd, EV_READ);
	ev_timer_init(&c->timer, on_timer, 0., 0.);
	c->last_rx = ev_now(wk.loop);
	HASH_ADD(hh, wk.conns, id, sizeof(c->id), c);
	wk.nconns++;
	ev_io_start(wk.loop, &c->io);
	arm_timer(c, WK_SECONDS(wk.cfg.handshake_timeout_ms));
	return c;
}

void
wk_conn_mark_stats(struct wk_conn *c)
{
	if (c->stats_dirty || !c->registered)
		return;
	c->stats_dirty = 1;
	TAILQ_INSERT_TAIL(&wk.stats, c, stats_link);
}

static void
mark_dirty(struct wk_conn *c)
{
	if (c->dirty)
		return;
	c->dirty = 1;
	TAILQ_INSERT_TAIL(&wk.dirty, c, dirty_link);
}

static void
queue_pop(struct wk_conn *c)
{
	struct wk_qent *e = STAILQ_FIRST(&c->q);

	STAILQ_REMOVE_HEAD(&c->q, link);
	c->q_bytes -= e->buf->len;
	c->q_msgs--;
	wk_buf_unref(e->buf);
	free(e);
}

/*
 * Tell the supervisor the connection is gone. Called as soon as a close
 * starts, not when the socket is finally closed: a closing connection
 * takes no more messages, and a dead peer never answers the close.
 */
static void
unregister(struct wk_conn *c)
{
	struct proto_msg m;

	if (!c->registered)
		return;
	memset(&m, 0, sizeof(m));
	m.type = PROTO_CONN_CLOSE;
	m.conn = c->id;
	m.status = c->close_code;
	wk_ipc_send(&m);
	c->registered = 0;
	if (c->stats_dirty) {
		TAILQ_REMOVE(&wk.stats, c, stats_link);
		c->stats_dirty = 0;
	}
}

void
wk_conn_destroy(struct wk_conn *c)
{
	unregister(c);
	HASH_DEL(wk.conns, c);
	wk.nconns--;
	if (c->dirty)
		TAILQ_REMOVE(&wk.dirty, c, dirty_link);
	ev_io_stop(wk.loop, &c->io);
	ev_timer_stop(wk.loop, &c->timer);
	close(c->io.fd);
	while (!STAILQ_EMPTY(&c->q))
		queue_pop(c);
	if (c->ws != NULL)
		wslay_event_context_free(c->ws);
	free(c->stash);
	wk_hs_free(c->hs);
	wk_room_leave_all(c);
	free(c->user);
	json_decref(c->allowed_rooms);
	free(c);
}

void
wk_conn_settle(struct wk_conn *c)
{
	if (c->state >= WK_CLOSING)
		unregister(c);
	if (c->state == WK_DEAD && (STAILQ_EMPTY(&c->q) || c->eof))
		wk_conn_destroy(c);
	else
		update_io(c);
}

/* Make room in a full queue by dropping the oldest unstarted frames. */
static int
drop_oldest(struct wk_conn *c, uint32_t need)
{
	struct wk_qent *first = STAILQ_FIRST(&c->q), *e;

	while ((c->q_bytes + need > wk.cfg.max_queue_bytes ||
		c->q_msgs + 1 > wk.cfg.max_queue_msgs)) {
		/* Never cut a frame that is partly written. */
		e = c->q_off > 0 ? STAILQ_NEXT(first, link) : first;
		if (e == NULL)
			return -1;
		if (e == first) {
			queue_pop(c);
			first = STAILQ_FIRST(&c->q);
		} else {
			STAILQ_REMOVE_AFTER(&c->q, first, link);
			c->q_bytes -= e->buf->len;
			c->q_msgs--;
			wk_buf_unref(e->buf);
			free(e);
		}
		c->drops++;
	}
	return 0;
}

/* Would len more bytes break the limits? An empty queue takes any one
 * frame, so a message near the size limit is never refused outright. */
static int
queue_full(const struct wk_conn *c, uint32_t len)
{
	return c->q_msgs > 0 && (c->q_bytes + len > wk.cfg.max_queue_bytes ||
				 c->q_msgs + 1 > wk.cfg.max_queue_msgs);
}

int
wk_conn_send(struct wk_conn *c, struct wk_buf *b, int force)
{
	struct wk_qent *e;

	if (c->state == WK_DEAD || (!force && c->state == WK_CLOSING))
		return WSD_ECLOSED;
	/*
	 * Frames queued in this loop turn have not been offered to the socket
	 * yet; write them before calling the client slow.
	 */
	if (!force && !c->writing && queue_full(c, b->len)) {
		wk_conn_flush(c);
		if (c->state == WK_DEAD)
			return WSD_ECLOSED;
	}
	if (!force && queue_full(c, b->len)) {
		wk_conn_mark_stats(c);
		switch (wk.cfg.slow_policy) {
		case PROTO_SLOW_DROP_NEWEST: c->drops++; return WSD_EFULL;
		case PROTO_SLOW_DROP_OLDEST:
			if (drop_oldest(c, b->len) == 0)
				break;
			c->drops++;
			return WSD_EFULL;
		default:
			c->drops++;
			log_info("conn %llu: send queue full (%llu bytes, %u "
				 "messages); closing 4001",
				 (unsigned long long)c->id,
				 (unsigned long long)c->q_bytes, c->q_msgs);
			wk_conn_close(c, 4001, "slow consumer");
			return WSD_EFULL;
		}
	}
	if ((e = malloc(sizeof(*e))) == NULL)
		return WSD_ENOMEM;
	b->refs++;
	e->buf = b;
	STAILQ_INSERT_TAIL(&c->q, e, link);
	c->q_bytes += b->len;
	c->q_msgs++;
	if (!force)
		c->msgs_out++;
	mark_dirty(c);
	wk_conn_mark_stats(c);
	return WSD_OK;
}

int
wk_conn_send_text(struct wk_conn *c, const char *text, size_t len)
{
	struct wk_buf *b = wk_frame_new(WSLAY_TEXT_FRAME, text, len);
	int rc;

	if (b == NULL)
		return WSD_ENOMEM;
	rc = wk_conn_send(c, b, 0);
	wk_buf_unref(b);
	return rc;
}

int
wk_conn_send_json(struct wk_conn *c, json_t *obj)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	int rc = text ? wk_conn_send_text(c, text, strlen(text)) : WSD_ENOMEM;

	free(text);
	json_decref(obj);
	return rc;
}

void
wk_conn_flush(struct wk_conn *c)
{
	struct iovec iov[IOV_BATCH];
	struct wk_qent *e;
	ssize_t n;
	int cnt, rounds = 0;

	while (!STAILQ_EMPTY(&c->q) && rounds++ < 8) {
		cnt = 0;
		STAILQ_FOREACH (e, &c->q, link) {
			if (cnt == IOV_BATCH)
				break;
			iov[cnt].iov_base = e->buf->data + (cnt ? 0 : c->q_off);
			iov[cnt].iov_len = e->buf->len - (cnt ? 0 : c->q_off);
			cnt++;
		}
		n = writev(c->io.fd, iov, cnt);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			c->eof = 1;
			c->state = WK_DEAD;
			return;
		}
		while (n > 0) {
			e = STAILQ_FIRST(&c->q);
			if ((size_t)n >= e->buf->len - c->q_off) {
				n -= (ssize_t)(e->buf->len - c->q_off);
				c->q_off = 0;
				queue_pop(c);
			} else {
				c->q_off += (uint32_t)n;
				n = 0;
			}
		}
		if (c->q_off > 0)
			break; /* partial write: the socket is full */
	}
	c->writing = !STAILQ_EMPTY(&c->q);
	if (c->writing)
		wk_conn_mark_stats(c);
}

/*
 * A close frame reaches wslay whole and first in a wslay_event_recv call,
 * for two faults of wslay 1.1.1: it checks the UTF-8 of a close reason per
 * read, skipping two bytes of each piece as if each began with the code;
 * and when a ping and a close come in one call it sends only the close,
 * dropping the pong the ping is owed. So ws_recv holds a close frame back
 * in c->stash (at most 131 bytes) unless it starts the call, and ws_read
 * calls wslay again once the replies to the earlier frames are queued.
 */
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

	if (recv_seq > 1) {
		/* Not first in this call: the next call takes it. */
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	for (;;) {
		total = stash_total(st);
		if (total > sizeof(st->buf)) {
			/* Over 125 bytes: the tracker flags it (1002). */
			break;
		}
		if (total != 0 && st->len == total)
			break;
		want = total == 0 ? (size_t)(2 - st->len) : total - st->len;
		n = read(c->io.fd, st->buf + st->len, want);
		if (n <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				c->eof = 1;
				wslay_event_set_error(
				    ctx, WSLAY_ERR_CALLBACK_FAILURE);
			} else {
				wslay_event_set_error(ctx,
						      WSLAY_ERR_WOULDBLOCK);
			}
			return -1;
		}
		st->len += (uint8_t)n;
		c->last_rx = ev_now(wk.loop);
	}
	n = (ssize_t)wk_scan_feed(&c->scan, st->buf, st->len);
	if (n > (ssize_t)len)
		n = (ssize_t)len; /* wslay always offers more than 131 */
	memcpy(buf, st->buf, (size_t)n);
	free(st);
	c->stash = NULL;
	if (n == 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	return n;
}

static ssize_t
ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
	void *user)
{
	struct wk_conn *c = user;
	ssize_t n;

	(void)flags;
	recv_seq++;
	if (c->scan.bad) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	/* A held close frame is owed to wslay whatever the budget. */
	if (c->stash != NULL)
		return stash_recv(c, ctx, buf, len);
	if (read_budget == 0 || drained) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (len > read_budget)
		len = read_budget;
	n = read(c->io.fd, buf, len);
	/* Level-triggered: if more arrives, the loop calls us again. */
	if (n >= 0 && (size_t)n < len)
		drained = 1;
	if (n > 0) {
		read_budget -= (size_t)n;
		c->last_rx = ev_now(wk.loop);
		/* Hand wslay the frames before a bad one, if any. */
		n = (ssize_t)wk_scan_feed(&c->scan, buf, (size_t)n);
		if (!c->scan.bad && c->scan.close_seen &&
		    (wk_scan_in_close(&c->scan) || c->scan.close_off > 0 ||
		     recv_seq > 1)) {
			/* Hold the close back (see stash_complete). */
			size_t k = c->scan.close_off, keep = (size_t)n - k;

			if ((c->stash = calloc(1, sizeof(*c->stash))) == NULL) {
				wslay_event_set_error(
				    ctx, WSLAY_ERR_CALLBACK_FAILURE);
				return -1;
			}
			/* Bytes after a whole close frame are never read. */
			if (keep > sizeof(c->stash->buf))
				keep = sizeof(c->stash->buf);
			memcpy(c->stash->buf, buf + k, keep);
			c->stash->len = (uint8_t)keep;
			if (stash_complete(c->stash))
				c->stash->len = (uint8_t)stash_total(c->stash);
			/* The tracker sees the frame again when it is handed
			 * over: back to the boundary before it. */
			wk_scan_rewind(&c->scan);
			n = (ssize_t)k;
		}
		if (n == 0) {
			wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
			return -1;
		}
		return n;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	c->eof = 1;
	wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

static ssize_t
ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
	void *user)
{
	struct wk_conn *c = user;
	struct wk_buf *b;

	(void)flags;
	if ((b = wk_buf_new((uint32_t)len)) == NULL) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	memcpy(b->data, data, len);
	wk_conn_send(c, b, 1);
	wk_buf_unref(b);
	return (ssize_t)len;
}

static void
ws_on_msg(wslay_event_context_ptr ctx,
	  const struct wslay_event_on_msg_recv_arg *a, void *user)
{
	struct wk_conn *c = user;
	struct wk_buf *b;

	if (a->opcode != WSLAY_TEXT_FRAME && a->opcode != WSLAY_BINARY_FRAME)
		return; /* ping, pong and close are wslay's */
	if (c->state != WK_OPEN)
		return; /* we are closing: what follows is not read */
	c->msgs_in++;
	wk_conn_mark_stats(c);
	if (c->echo) {
		b = wk_frame_new(a->opcode, a->msg, a->msg_length);
		if (b != NULL && wk_conn_send(c, b, 0) == WSD_OK)
			c->msgs_out--; /* echoes are not deliveries */
		wk_buf_unref(b);
		return;
	}
	if (a->opcode == WSLAY_BINARY_FRAME) {
		wslay_event_queue_close(ctx, 1003,
					(const uint8_t *)"wsd.v1 is "
							 "JSON text",
					18);
		c->close_code = 1003;
		c->state = WK_CLOSING;
		return;
	}
	wk_client_on_text(c, a->msg, a->msg_length);
}

static int
ws_ensure(struct wk_conn *c)
{
	struct wslay_event_callbacks cb = {
	    .recv_callback = ws_recv,
	    .send_callback = ws_send,
	    .on_msg_recv_callback = ws_on_msg,
	};

	if (c->ws != NULL)
		return 0;
	if (wslay_event_context_server_init(&c->ws, &cb, c) != 0) {
		c->ws = NULL;
		return WSD_ENOMEM;
	}
	wslay_event_config_set_max_recv_msg_length(c->ws,
						   wk.cfg.max_message_bytes);
	return 0;
}

/* After wslay has read or queued: move its output and decide the state. */
static void
ws_after(struct wk_conn *c)
{
	if (wslay_event_send(c->ws) != 0) {
		c->state = WK_DEAD;
		return;
	}
	if (wslay_event_get_close_sent(c->ws)) {
		if (wslay_event_get_close_received(c->ws) ||
		    !wslay_event_get_read_enabled(c->ws)) {
			/* Handshake done, or the connection was failed. */
			if (c->close_code == 0)
				c->close_code =
				    wslay_event_get_status_code_sent(c->ws);
			c->state = WK_DEAD;
		} else if (!c->close_armed) {
			c->state = WK_CLOSING;
			c->close_armed = 1;
			arm_timer(c, CLOSE_WAIT);
		}
	}
	if (c->state == WK_OPEN && wk_scan_idle(&c->scan) && c->stash == NULL &&
	    wslay_event_get_queued_msg_count(c->ws) == 0) {
		wslay_event_context_free(c->ws);
		c->ws = NULL;
	}
}

static void
ws_read(struct wk_conn *c)
{
	int rc;

	if (ws_ensure(c) != 0) {
		c->state = WK_DEAD;
		return;
	}
	read_budget = READ_BUDGET;
	drained = 0;
	for (;;) {
		recv_seq = 0;
		in_recv = 1;
		rc = wslay_event_recv(c->ws);
		in_recv = 0;
		if (rc != 0 || c->eof) {
			c->eof = 1;
			c->state = WK_DEAD;
			if (c->close_code == 0)
				c->close_code = 1006;
			return;
		}
		if (c->scan.bad && !wslay_event_get_close_sent(c->ws) &&
		    wslay_event_get_read_enabled(c->ws)) {
			wslay_event_queue_close(c->ws, 1002,
						(const uint8_t *)"bad control "
								 "frame",
						17);
			wslay_event_shutdown_read(c->ws);
			c->close_code = 1002;
		}
		ws_after(c);
		/* A held close frame goes to wslay in a call of its own. */
		if (c->state == WK_DEAD || c->ws == NULL || c->stash == NULL ||
		    !stash_complete(c->stash) ||
		    !wslay_event_get_read_enabled(c->ws) || recv_seq == 0)
			break;
	}
}

void
wk_conn_close(struct wk_conn *c, int code, const char *reason)
{
	if (c->state == WK_CLOSING || c->state == WK_DEAD)
		return;
	if (c->state != WK_OPEN) {
		c->state = WK_DEAD;
		return;
	}
	if (ws_ensure(c) != 0) {
		c->state = WK_DEAD;
		return;
	}
	c->close_code = (uint16_t)code;
	wslay_event_queue_close(c->ws, (uint16_t)code, (const uint8_t *)reason,
				reason ? strlen(reason) : 0);
	c->state = WK_CLOSING;
	c->close_armed = 1;
	arm_timer(c, CLOSE_WAIT);
	if (!in_recv)
		ws_after(c);
	mark_dirty(c);
}

void
wk_conn_open(struct wk_conn *c)
{
	c->state = WK_OPEN;
	c->last_rx = ev_now(wk.loop);
	arm_timer(c, WK_SECONDS(wk.cfg.heartbeat_interval_ms));
	update_io(c);
}

static void
heartbeat(struct wk_conn *c)
{
	static const uint8_t ping[2] = {0x89, 0x00};
	ev_tstamp now = ev_now(wk.loop), idle = now - c->last_rx;
	struct wk_buf *b;

	if (c->awaiting_pong) {
		if (c->last_rx > c->ping_at) {
			c->awaiting_pong = 0;
			arm_timer(c, WK_SECONDS(wk.cfg.heartbeat_interval_ms) -
					 idle);
			return;
		}
		log_debug("conn %llu: no pong within %.1f s; closing 4000",
			  (unsigned long long)c->id,
			  WK_SECONDS(wk.cfg.heartbeat_timeout_ms));
		wk_conn_close(c, 4000, "heartbeat timeout");
		/* The peer is presumed dead: send the close, do not wait. */
		c->state = WK_DEAD;
		return;
	}
	if (idle < WK_SECONDS(wk.cfg.heartbeat_interval_ms)) {
		arm_timer(c, WK_SECONDS(wk.cfg.heartbeat_interval_ms) - idle);
		return;
	}
	if ((b = wk_buf_new(sizeof(ping))) != NULL) {
		memcpy(b->data, ping, sizeof(ping));
		wk_conn_send(c, b, 1);
		wk_buf_unref(b);
	}
	c->awaiting_pong = 1;
	c->ping_at = now;
	arm_timer(c, WK_SECONDS(wk.cfg.heartbeat_timeout_ms));
}

static void
on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct wk_conn *c = container_of(w, struct wk_conn, timer);

	(void)loop;
	(void)revents;
	switch (c->state) {
	case WK_OPEN: heartbeat(c); break;
	case WK_HANDSHAKE:
	case WK_ADMITTING:
		log_debug("conn %llu: handshake timeout",
			  (unsigned long long)c->id);
		c->eof = 1;
		c->state = WK_DEAD;
		break;
	default:
		/* The peer never answered our close: drop the socket. */
		c->eof = 1;
		c->state = WK_DEAD;
	}
	wk_conn_settle(c);
}

static void
on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct wk_conn *c = container_of(w, struct wk_conn, io);

	(void)loop;
	if (revents & EV_WRITE) {
		wk_conn_flush(c);
		if (c->dirty) {
			TAILQ_REMOVE(&wk.dirty, c, dirty_link);
			c->dirty = 0;
		}
	}
	if ((revents & EV_READ) && c->state != WK_DEAD && !c->eof &&
	    !over_limits(c)) {
		if (c->state == WK_HANDSHAKE)
			wk_http_on_read(c);
		else if (c->state == WK_OPEN || c->state == WK_CLOSING)
			ws_read(c);
	}
	wk_conn_settle(c);
}

void
wk_conn_close_all(int code, const char *reason)
{
	struct wk_conn *c, *tmp;

	HASH_ITER (hh, wk.conns, c, tmp) {
		if (c->state == WK_OPEN)
			wk_conn_close(c, code, reason);
		else if (c->state != WK_CLOSING)
			c->state = WK_DEAD;
		wk_conn_settle(c);
	}
}
