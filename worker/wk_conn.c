/*
 * wk_conn.c: a client connection's life (wk_conn.h), its timers and its
 * sending.
 *
 * States: WK_HANDSHAKE while the layer above reads the upgrade request
 * (c->h->read), WK_ADMITTING while the supervisor decides, WK_OPEN while
 * frames flow (wk_ws.c reads them), WK_CLOSING once our close frame is
 * queued, WK_DEAD when what is queued is written and the connection is
 * destroyed. Every change of state is in this file.
 *
 * Writing: every outgoing frame is a reference to a shared buffer in the
 * connection's queue (wk_queue.c), bounded in bytes and messages; when a
 * message does not fit, the slow-consumer policy decides. Connections with
 * something queued are on the flush list, which wk_main.c's prepare
 * watcher writes once per loop iteration, one writev each.
 *
 * The one timer is the handshake timeout, then the heartbeat (a ping after
 * heartbeat.interval_ms without a frame from the client; close 4000 if
 * nothing comes within heartbeat.timeout_ms), then the wait for the
 * peer's close frame, then the linger.
 *
 * A dead connection is never closed with unread input, which would turn
 * everything still in flight to the client, our close frame or HTTP
 * answer included, into a reset: once its queue is written, it is shut
 * for writing (the client sees the end after our last byte) and lingers,
 * reading and dropping what comes, until the client's end or CLOSE_WAIT.
 */
#include "wk_conn.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../proto/log.h"
#include "../proto/trace.h"
#include "wk_deflate.h"
#include "wk_frame.h"
#include "wk_ipc.h"
#include "wk_queue.h"
#include "wk_rate.h"
#include "wk_rooms.h"
#include "wk_sse.h"
#include "wk_ws.h"

#define container_of(p, type, member)                                          \
	((type *)((char *)(p)-offsetof(type, member)))

#define CLOSE_WAIT 2.0	       /* seconds to wait for the peer's close */
#define LINGER_MAX (16u << 20) /* bytes a lingering client may still send */
#define PAUSE_TICK 0.01	       /* how often paused connections are looked at */
#define IPC_PAUSE_HIGH (8u << 20) /* outbox bytes that pause publishers */
#define IPC_PAUSE_LOW (1u << 20)  /* ... and that let them go on */

/* Connections paused for their rate or the IPC channel (wk_rate.h). */
static TAILQ_HEAD(, wk_rate) paused = TAILQ_HEAD_INITIALIZER(paused);
static ev_timer pause_timer;

static void on_io(struct ev_loop *loop, ev_io *w, int revents);
static void on_timer(struct ev_loop *loop, ev_timer *w, int revents);

struct wk_conn *
wk_conn_find(uint64_t id)
{
	struct wk_conn *c;

	HASH_FIND(hh, wk.conns, &id, sizeof(id), c);
	return c;
}

static struct wk_qlimit
limits(void)
{
	struct wk_qlimit lim = {wk.cfg.max_queue_bytes, wk.cfg.max_queue_msgs,
				wk.cfg.slow_policy};

	return lim;
}

/*
 * A client whose own send queue is over its limits is not read until the
 * queue drains: what it sends (pings, echo requests) only adds replies it
 * does not take, so its input waits in the kernel instead of our memory.
 */
static int
over_limits(const struct wk_conn *c)
{
	struct wk_qlimit lim = limits();

	return wk_queue_over(&c->q, &lim);
}

static int
is_paused(const struct wk_conn *c)
{
	return c->rate != NULL && c->rate->paused != 0;
}

static void
update_io(struct wk_conn *c)
{
	int ev = 0;

	if (!c->eof && (((c->state == WK_HANDSHAKE || c->state == WK_OPEN ||
			  c->state == WK_CLOSING) &&
			 !over_limits(c) && !is_paused(c)) ||
			c->lingering))
		ev |= EV_READ;
	if (c->writing)
		ev |= EV_WRITE;
	if (ev == (c->io.events & (EV_READ | EV_WRITE)) && ev_is_active(&c->io))
		return;
	ev_io_stop(wk.loop, &c->io);
	if (ev != 0) {
		ev_io_set(&c->io, c->io.fd, ev);
		ev_io_start(wk.loop, &c->io);
		/* Stopping the watcher forgot a read the transport owes. */
		if ((ev & EV_READ) && c->io_ops->pending != NULL &&
		    c->io_ops->pending(c))
			ev_feed_event(wk.loop, &c->io, EV_READ);
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
wk_conn_create(int fd, const struct wk_io *io, const struct wk_handler *h)
{
	struct wk_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->id = ((uint64_t)wk.epoch << 32) | ++wk.next_conn;
	c->io_ops = io;
	c->h = h;
	c->state = WK_HANDSHAKE;
	wk_queue_init(&c->q);
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
wk_conn_set_handler(struct wk_conn *c, const struct wk_handler *h)
{
	c->h = h;
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
	wk_unmark_stats(c);
}

void
wk_conn_destroy(struct wk_conn *c)
{
	unregister(c);
	if (c->rate != NULL) {
		if (c->rate->paused)
			TAILQ_REMOVE(&paused, c->rate, link);
		free(c->rate);
	}
	HASH_DEL(wk.conns, c);
	wk.nconns--;
	wk_unmark_dirty(c);
	ev_io_stop(wk.loop, &c->io);
	ev_timer_stop(wk.loop, &c->timer);
	c->io_ops->close(c);
	wk_queue_clear(&c->q);
	wk_ws_fini(c);
	wk_sse_free(c->sse);
	if (c->h != NULL && c->h->fini != NULL)
		c->h->fini(c);
	wk_room_leave_all(c);
	free(c->user);
	free(c->trace);
	json_decref(c->allowed_rooms);
	free(c);
}

/* Written out and dead: shut for writing, then read until the end. */
static void
linger(struct wk_conn *c)
{
	c->lingering = 1;
	c->io_ops->shutdown(c, SHUT_WR);
	arm_timer(c, CLOSE_WAIT);
}

/*
 * Read and drop what c sends, at most 16 reads a wakeup: 1 once that is
 * over (its end, an error, or LINGER_MAX bytes dropped), else 0.
 */
static int
drop_input(struct wk_conn *c)
{
	static char sink[16384];
	int rounds;
	ssize_t n;

	for (rounds = 0; rounds < 16; rounds++) {
		n = c->io_ops->read(c, sink, sizeof(sink));
		if (n == WSD_EAGAIN)
			return 0;
		if (n <= 0 || (c->linger_bytes += (uint32_t)n) >= LINGER_MAX)
			return 1;
	}
	return 0;
}

/*
 * What a lingering client still sends is dropped; its end (or an error)
 * ends the linger. So does LINGER_MAX: the rest of an oversized message
 * is read, so that the close frame reaches the client before the socket
 * is reset, but a client that goes on sending (a flooder closed with
 * 4002) does not get the worker to read for it until CLOSE_WAIT.
 */
static void
linger_read(struct wk_conn *c)
{
	if (drop_input(c))
		c->eof = 1;
}

void
wk_conn_settle(struct wk_conn *c)
{
	if (c->state >= WK_CLOSING)
		unregister(c);
	if (c->state == WK_DEAD && (wk_queue_empty(&c->q) || c->eof)) {
		if (c->eof) {
			wk_conn_destroy(c);
			return;
		}
		if (!c->lingering)
			linger(c);
	}
	update_io(c);
}

void
wk_conn_admitting(struct wk_conn *c)
{
	c->state = WK_ADMITTING;
	c->registered = 1;
}

void
wk_conn_refused(struct wk_conn *c)
{
	c->registered = 0;
}

void
wk_conn_open(struct wk_conn *c)
{
	/* Writing the 101 may have found the socket dead. */
	if (c->state != WK_HANDSHAKE && c->state != WK_ADMITTING)
		return;
	c->state = WK_OPEN;
	c->last_rx = ev_now(wk.loop);
	arm_timer(c, WK_SECONDS(wk.cfg.heartbeat_interval_ms));
	update_io(c);
}

void
wk_conn_end(struct wk_conn *c)
{
	c->state = WK_DEAD;
}

void
wk_conn_abort(struct wk_conn *c)
{
	c->eof = 1;
	c->state = WK_DEAD;
}

/* Apply what the WebSocket side said (enum wk_ws_state). */
static void
ws_says(struct wk_conn *c, int st)
{
	switch (st) {
	case WK_WS_GONE: wk_conn_abort(c); break;
	case WK_WS_DONE: c->state = WK_DEAD; break;
	case WK_WS_CLOSING:
		if (c->state != WK_DEAD)
			c->state = WK_CLOSING;
		if (!c->close_armed) {
			c->close_armed = 1;
			arm_timer(c, CLOSE_WAIT);
		}
		break;
	default: break;
	}
}

/*
 * An event stream has no close frame: its last event says the code,
 * {"type":"close","code":N,"reason":R}, and the response ends (the
 * connection is written out, then shut).
 */
static void
sse_close(struct wk_conn *c, int code, const char *reason)
{
	json_t *j = json_pack("{s:s, s:i, s:s}", "type", "close", "code", code,
			      "reason", reason ? reason : "");
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	struct wk_buf *b =
	    text ? wk_sse_event(c->sse, text, strlen(text)) : NULL;

	c->close_code = (uint16_t)code;
	if (b != NULL)
		wk_conn_send(c, b, 1);
	wk_buf_unref(b);
	free(text);
	json_decref(j);
	c->state = WK_DEAD;
	wk_mark_dirty(c);
}

/*
 * Close c with code; what a close for a fault discards of its queue is
 * counted as dropped by `why` (an index of the worker's totals: the
 * policy, the worker's budget, or a close).
 */
static void
close_counted(struct wk_conn *c, int code, const char *reason, unsigned why)
{
	if (c->state == WK_CLOSING || c->state == WK_DEAD)
		return;
	if (c->state != WK_OPEN) {
		c->state = WK_DEAD;
		return;
	}
	c->state = WK_CLOSING;
	c->close_armed = 1;
	arm_timer(c, CLOSE_WAIT);
	/* A close for a fault (a slow consumer, a kick, a dead peer) goes
	 * next: the unsent messages are in the replay logs, and the client
	 * must not wait behind them (or never see the close). 1000 and 1001
	 * let the queue go first (a drain's `shutdown` is in it). */
	if (code != 1000 && code != 1001) {
		uint32_t lost = wk_queue_discard_unsent(&c->q);

		c->drops += lost;
		wk.tot[why] += lost;
	}
	if (c->sse != NULL) {
		sse_close(c, code, reason);
		return;
	}
	ws_says(c, wk_ws_close(c, (uint16_t)code, reason));
	wk_mark_dirty(c);
}

void
wk_conn_close(struct wk_conn *c, int code, const char *reason)
{
	close_counted(c, code, reason, PROTO_TOT_DROPS_CLOSE);
}

void
wk_conn_flush(struct wk_conn *c)
{
	if (wk_queue_write(&c->q, c) == WSD_ECLOSED) {
		wk_conn_abort(c);
		return;
	}
	c->writing = !wk_queue_empty(&c->q);
	if (c->writing)
		wk_mark_stats(c);
}

int
wk_conn_send(struct wk_conn *c, struct wk_buf *b, int force)
{
	return wk_conn_send_room(
	    c, b, force ? WK_POLICY_FORCE : WK_POLICY_DEFAULT, 0);
}

/*
 * The worker's send queues together are over limits.worker_queue_bytes:
 * the largest give way first, closed with 4001 (what they held is in the
 * replay logs), until the total is back within the budget.
 */
static void
shed(void)
{
	static ev_tstamp last;
	uint64_t budget = wk.cfg.worker_queue_bytes;
	/* Only a queue this large gives way: what closing connections still
	 * hold (a frame half written) is not freed by closing another, and
	 * a healthy client with a few messages queued is never the one. */
	uint64_t floor = wk.cfg.max_queue_bytes / 4;
	struct wk_conn *c, *tmp, *big;
	int rounds;

	if (ev_now(wk.loop) - last < 0.01)
		return;
	last = ev_now(wk.loop);
	for (rounds = 0; rounds < 64 && wk.queued_bytes > budget; rounds++) {
		big = NULL;
		HASH_ITER (hh, wk.conns, c, tmp) {
			if (c->state == WK_OPEN &&
			    (big == NULL || c->q.bytes > big->q.bytes))
				big = c;
		}
		if (big == NULL || big->q.bytes < floor)
			return;
		/* Over limits.worker_queue_bytes: the largest queue goes. */
		log_info("worker_budget_close",
			 "conn=%llu worker_queued_bytes=%llu queued_bytes=%llu "
			 "code=4001%s",
			 (unsigned long long)big->id,
			 (unsigned long long)wk.queued_bytes,
			 (unsigned long long)big->q.bytes,
			 trace_log_kv(big->trace));
		wk.tot[PROTO_TOT_LIMIT_WORKER_QUEUE]++;
		close_counted(big, 4001, "slow consumer", PROTO_TOT_DROPS_SHED);
	}
}

int
wk_conn_send_room(struct wk_conn *c, struct wk_buf *b, int policy, uint64_t key)
{
	struct wk_qlimit lim = limits();
	int force = policy == WK_POLICY_FORCE, rc;
	uint64_t drops0 = c->drops;

	if (c->state == WK_DEAD || (!force && c->state == WK_CLOSING))
		return WSD_ECLOSED;
	if (force) {
		rc = wk_queue_push(&c->q, b);
	} else {
		/* Frames queued in this loop turn have not been offered to
		 * the socket yet; write them before calling the client slow. */
		if (!c->writing && wk_queue_full(&c->q, b->len, &lim)) {
			wk_conn_flush(c);
			if (c->state == WK_DEAD)
				return WSD_ECLOSED;
		}
		if (policy >= 0)
			lim.policy = policy;
		if (wk_queue_full(&c->q, b->len, &lim))
			wk.tot[PROTO_TOT_LIMIT_MAX_QUEUE]++;
		rc = wk_queue_offer(&c->q, b, &lim, key, &c->drops);
		if (lim.policy < STATS_POLICIES)
			wk.tot[PROTO_TOT_DROPS + lim.policy] +=
			    c->drops - drops0;
		if (rc == WSD_EFULL) {
			wk_mark_stats(c);
			if (lim.policy == PROTO_SLOW_DISCONNECT) {
				log_info("send_queue_full",
					 "conn=%llu queued_bytes=%llu "
					 "queued_msgs=%u code=4001%s",
					 (unsigned long long)c->id,
					 (unsigned long long)c->q.bytes,
					 c->q.msgs, trace_log_kv(c->trace));
				close_counted(c, 4001, "slow consumer",
					      PROTO_TOT_DROPS +
						  PROTO_SLOW_DISCONNECT);
			}
			return WSD_EFULL;
		}
	}
	if (rc != WSD_OK)
		return rc;
	if (!force) {
		c->msgs_out++;
		wk.tot[PROTO_TOT_MSGS_OUT]++;
	}
	if (wk.cfg.worker_queue_bytes > 0 &&
	    wk.queued_bytes > wk.cfg.worker_queue_bytes)
		shed();
	wk_mark_dirty(c);
	wk_mark_stats(c);
	return WSD_OK;
}

int
wk_conn_send_text(struct wk_conn *c, const char *text, size_t len)
{
	struct wk_frameset f;
	struct wk_buf *b;
	int rc;

	/* Compressed when the connection negotiated it and it pays. */
	wk_frameset_init(&f, WSLAY_TEXT_FRAME, text, len, 0);
	b = wk_frameset_get(&f, c);
	rc = b != NULL ? wk_conn_send(c, b, 0) : WSD_ENOMEM;
	wk_frameset_fini(&f);
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

/* ------------------------------------------------------------------ */
/* Flow control for senders. */

static void
rate_limits(struct wk_rate_limits *l)
{
	l->msgs = (double)wk.cfg.rate_msgs;
	l->msgs_burst = (double)wk.cfg.rate_msgs_burst;
	l->bytes = (double)wk.cfg.rate_bytes;
	/* Burst 0: the larger of a second's worth and the largest message. */
	l->bytes_burst =
	    (double)(wk.cfg.rate_bytes_burst ? wk.cfg.rate_bytes_burst
		     : wk.cfg.rate_bytes > wk.cfg.max_message_bytes
			 ? wk.cfg.rate_bytes
			 : wk.cfg.max_message_bytes);
	l->grace = WK_SECONDS(wk.cfg.rate_grace_ms);
}

static struct wk_rate *
rate_of(struct wk_conn *c, const struct wk_rate_limits *l)
{
	if (c->rate == NULL &&
	    (c->rate = calloc(1, sizeof(*c->rate))) != NULL) {
		wk_rate_init(c->rate, l, ev_now(wk.loop));
		c->rate->c = c;
	}
	return c->rate;
}

static void
flow(struct wk_conn *c, const char *reason)
{
	if (c->state == WK_OPEN && c->h != NULL && c->h->flow != NULL)
		c->h->flow(c, reason);
}

/* Look at the paused connections: each goes on once nothing holds it. */
static void
on_pause_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct wk_rate_limits l;
	struct wk_rate *r, *next;
	double now = ev_now(loop);

	(void)revents;
	rate_limits(&l);
	for (r = TAILQ_FIRST(&paused); r != NULL; r = next) {
		next = TAILQ_NEXT(r, link);
		if ((r->paused & WK_PAUSE_RATE) &&
		    wk_rate_wait(r, &l, now) <= 0)
			r->paused &= ~WK_PAUSE_RATE;
		if ((r->paused & WK_PAUSE_IPC) &&
		    wk_ipc_backlog() < IPC_PAUSE_LOW)
			r->paused &= ~WK_PAUSE_IPC;
		if (r->paused)
			continue;
		TAILQ_REMOVE(&paused, r, link);
		flow(r->c, NULL);
		update_io(r->c);
		/* What waits in the kernel is read now, not at the next
		 * byte. */
		if (ev_is_active(&r->c->io))
			ev_feed_event(loop, &r->c->io, EV_READ);
	}
	if (TAILQ_EMPTY(&paused))
		ev_timer_stop(loop, t);
}

void
wk_conn_pause(struct wk_conn *c, unsigned why)
{
	struct wk_rate_limits l;
	struct wk_rate *r;

	rate_limits(&l);
	if ((r = rate_of(c, &l)) == NULL)
		return;
	if ((why & WK_PAUSE_RATE) && !(r->paused & WK_PAUSE_RATE))
		wk.tot[PROTO_TOT_LIMIT_RATE]++;
	if ((why & WK_PAUSE_IPC) && !(r->paused & WK_PAUSE_IPC))
		wk.tot[PROTO_TOT_LIMIT_IPC]++;
	if (r->paused == 0) {
		TAILQ_INSERT_TAIL(&paused, r, link);
		flow(c, why & WK_PAUSE_RATE ? "rate_limit" : "server_busy");
	}
	r->paused |= why;
	if (!ev_is_active(&pause_timer)) {
		ev_timer_init(&pause_timer, on_pause_tick, PAUSE_TICK,
			      PAUSE_TICK);
		ev_timer_start(wk.loop, &pause_timer);
	}
	update_io(c);
}

int
wk_conn_charge(struct wk_conn *c, size_t len)
{
	struct wk_rate_limits l;
	struct wk_rate *r;
	int rc;

	rate_limits(&l);
	if ((l.msgs <= 0 && l.bytes <= 0) || (r = rate_of(c, &l)) == NULL)
		return WSD_OK;
	rc = wk_rate_charge(r, &l, ev_now(wk.loop), len);
	if (rc < 0) {
		log_info("rate_close", "conn=%llu over_s=%.1f code=4002%s",
			 (unsigned long long)c->id, l.grace,
			 trace_log_kv(c->trace));
		wk.tot[PROTO_TOT_LIMIT_RATE_CLOSE]++;
		wk_conn_close(c, 4002, "rate limit exceeded");
		return WSD_ECLOSED;
	}
	if (rc > 0)
		wk_conn_pause(c, WK_PAUSE_RATE);
	return WSD_OK;
}

int
wk_conn_ipc_busy(void)
{
	return wk_ipc_backlog() >= IPC_PAUSE_HIGH;
}

void
wk_conn_ipc_check(struct wk_conn *c)
{
	if (wk_ipc_backlog() >= IPC_PAUSE_HIGH)
		wk_conn_pause(c, WK_PAUSE_IPC);
}

static void
heartbeat(struct wk_conn *c)
{
	static const uint8_t ping[2] = {0x89, 0x00};
	ev_tstamp now = ev_now(wk.loop), idle = now - c->last_rx;
	ev_tstamp interval = WK_SECONDS(wk.cfg.heartbeat_interval_ms);
	ev_tstamp timeout = WK_SECONDS(wk.cfg.heartbeat_timeout_ms);
	struct wk_buf *b;

	/* An event stream is kept alive with a comment; a peer that is gone
	 * shows as a write error or a full queue. */
	if (c->sse != NULL) {
		if (now - c->ping_at >= interval &&
		    (b = wk_sse_comment()) != NULL) {
			wk_conn_send(c, b, 1);
			wk_buf_unref(b);
			c->ping_at = now;
		}
		arm_timer(c, interval - (now - c->ping_at));
		return;
	}
	if (c->awaiting_pong) {
		if (c->last_rx > c->ping_at) {
			c->awaiting_pong = 0;
			arm_timer(c, interval - idle);
			return;
		}
		/* An interval shorter than the timeout is kept too: look
		 * again at the next interval while the timeout runs. */
		if (now - c->ping_at < timeout) {
			arm_timer(c, interval < timeout - (now - c->ping_at)
					 ? interval
					 : timeout - (now - c->ping_at));
			return;
		}
		log_debug("heartbeat_timeout",
			  "conn=%llu timeout_s=%.1f code=4000%s",
			  (unsigned long long)c->id,
			  WK_SECONDS(wk.cfg.heartbeat_timeout_ms),
			  trace_log_kv(c->trace));
		wk_conn_close(c, 4000, "heartbeat timeout");
		/* The peer is presumed dead: send the close, do not wait. */
		c->state = WK_DEAD;
		return;
	}
	if (idle < interval) {
		arm_timer(c, interval - idle);
		return;
	}
	if ((b = wk_buf_new(sizeof(ping))) != NULL) {
		memcpy(b->data, ping, sizeof(ping));
		wk_conn_send(c, b, 1);
		wk_buf_unref(b);
	}
	c->awaiting_pong = 1;
	c->ping_at = now;
	arm_timer(c, interval < timeout ? interval : timeout);
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
		log_debug("handshake_timeout", "conn=%llu",
			  (unsigned long long)c->id);
		wk_conn_abort(c);
		break;
	default:
		/* The peer never answered our close: drop the socket. */
		wk_conn_abort(c);
	}
	wk_conn_settle(c);
}

/* An event stream's client has nothing more to say: what it sends is
 * dropped (LINGER_MAX bytes at most), and its end ends the stream. */
static void
sse_read(struct wk_conn *c)
{
	if (drop_input(c))
		wk_conn_abort(c);
}

static void
on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct wk_conn *c = container_of(w, struct wk_conn, io);

	(void)loop;
	if (revents & EV_WRITE) {
		wk_conn_flush(c);
		wk_unmark_dirty(c);
	}
	if ((revents & EV_READ) && c->lingering && !c->eof)
		linger_read(c);
	else if ((revents & EV_READ) && c->state != WK_DEAD && !c->eof &&
		 !over_limits(c)) {
		if (c->state == WK_HANDSHAKE) {
			if (c->h != NULL && c->h->read != NULL)
				c->h->read(c);
		} else if (c->sse != NULL) {
			sse_read(c);
		} else if (c->state == WK_OPEN || c->state == WK_CLOSING) {
			ws_says(c, wk_ws_read(c));
		}
	}
	wk_conn_settle(c);
}

void
wk_conn_retime_all(void)
{
	ev_tstamp now = ev_now(wk.loop);
	ev_tstamp interval = WK_SECONDS(wk.cfg.heartbeat_interval_ms);
	ev_tstamp timeout = WK_SECONDS(wk.cfg.heartbeat_timeout_ms);
	struct wk_conn *c, *tmp;

	HASH_ITER (hh, wk.conns, c, tmp) {
		if (c->state != WK_OPEN || c->close_armed)
			continue;
		if (c->awaiting_pong)
			arm_timer(c, interval < timeout - (now - c->ping_at)
					 ? interval
					 : timeout - (now - c->ping_at));
		else
			arm_timer(c, interval - (now - c->last_rx));
	}
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
