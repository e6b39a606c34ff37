/*
 * wk_conn.h: one client connection in a worker, from accept to destroy,
 * as one state machine (enum wk_conn_state in wk.h): the functions below
 * are the only ones that change a connection's state. The layer above
 * reaches the connection by these calls and is reached through the
 * handler it sets (struct wk_handler); the socket is reached through the
 * connection's I/O operations (struct wk_io).
 *
 * Lifetime: a connection is destroyed only at the end of a loop callback
 * (wk_conn_settle), never inside wslay's callbacks, so no callback sees a
 * freed connection.
 */
#ifndef WSD_WK_CONN_H
#define WSD_WK_CONN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "wk.h"

/*
 * A connection on socket fd (non-blocking), in WK_HANDSHAKE, read with io
 * and handled by h (both must outlive it), its handshake timer armed.
 * Returns NULL when out of memory (fd untouched).
 */
struct wk_conn *wk_conn_create(int fd, const struct wk_io *io,
			       const struct wk_handler *h);

/* Free everything the connection owns and close its socket; the
 * supervisor is told (CONN_CLOSE) if it was registered. c is invalid
 * after. */
void wk_conn_destroy(struct wk_conn *c);

struct wk_conn *wk_conn_find(uint64_t id);

/* Let the layer above handle the connection from now on. */
void wk_conn_set_handler(struct wk_conn *c, const struct wk_handler *h);

/* WK_HANDSHAKE -> WK_ADMITTING: CONN_OPEN went to the supervisor, so a
 * CONN_CLOSE is owed from now on. */
void wk_conn_admitting(struct wk_conn *c);

/* The supervisor did not register it (refused): no CONN_CLOSE is owed. */
void wk_conn_refused(struct wk_conn *c);

/* The handshake is done: WK_OPEN, reading frames, heartbeat armed. A
 * connection that ended meanwhile (WK_DEAD) stays ended. */
void wk_conn_open(struct wk_conn *c);

/* Write what is queued, then destroy: nothing more is read or sent. */
void wk_conn_end(struct wk_conn *c);

/* The socket is gone or unusable: destroy without writing anything. */
void wk_conn_abort(struct wk_conn *c);

/* Start the close handshake with code and reason (WK_OPEN), or end the
 * connection (before it is open). Nothing more is delivered to it. */
void wk_conn_close(struct wk_conn *c, int code, const char *reason);

/*
 * Queue a reference to b (the caller keeps its own reference). With force,
 * the queue limits do not apply (handshake answers, control frames).
 * Returns WSD_OK, WSD_EFULL (the slow-consumer policy was applied:
 * dropped, or the connection is closing with 4001), WSD_ECLOSED (closing:
 * not queued) or WSD_ENOMEM (not queued).
 */
int wk_conn_send(struct wk_conn *c, struct wk_buf *b, int force);

/*
 * Queue b as a delivery of a room whose slow-consumer policy is policy
 * (enum proto_slow_policy, or WK_POLICY_DEFAULT: limits.slow_consumer,
 * or WK_POLICY_FORCE: as wk_conn_send with force), with key (a hash of
 * room and message key, or 0) for latest_per_key. Returns as
 * wk_conn_send.
 */
#define WK_POLICY_DEFAULT (-1)
#define WK_POLICY_FORCE (-2)
int wk_conn_send_room(struct wk_conn *c, struct wk_buf *b, int policy,
		      uint64_t key);

/* Frame and queue one text message (copied). Returns as wk_conn_send. */
int wk_conn_send_text(struct wk_conn *c, const char *text, size_t len);

/*
 * Serialize obj compactly and queue it as one text message. Takes over
 * the reference to obj (NULL is allowed and sends nothing: a failed
 * json_pack). Returns as wk_conn_send.
 */
int wk_conn_send_json(struct wk_conn *c, json_t *obj);

/* Write the queue now (one writev per batch); called by the flush
 * watcher. A write error ends the connection. */
void wk_conn_flush(struct wk_conn *c);

/* At the end of a loop callback: destroy a dead connection, or watch for
 * what it waits for. c may be invalid after. */
void wk_conn_settle(struct wk_conn *c);

/* Close every connection with code (shutdown). */
void wk_conn_close_all(int code, const char *reason);

/* The heartbeat settings changed: every open connection's timer is set
 * again from its last input (or its ping), so the new interval and
 * timeout apply at once, not after the old timer fires. */
void wk_conn_retime_all(void);

/*
 * Flow control for senders (wk_rate.h): charge a message of len bytes
 * that c sent. Over its rate, c is paused: not read until its buckets
 * refill, with `flow` told through its handler; over it past the grace
 * period, it is closed with 4002. Returns WSD_OK, or WSD_ECLOSED (do not
 * act on the message).
 */
int wk_conn_charge(struct wk_conn *c, size_t len);

/* Pause c for why (WK_PAUSE_*) until that clears. */
void wk_conn_pause(struct wk_conn *c, unsigned why);

/* Is the supervisor behind (the IPC outbox over the mark that pauses
 * publishers)? */
int wk_conn_ipc_busy(void);

/* c just sent something to the supervisor: pause it while the channel's
 * backlog is long (WK_PAUSE_IPC). */
void wk_conn_ipc_check(struct wk_conn *c);

#endif
