/*
 * wk.h: the worker process: its state, the connection object and the
 * functions its modules call on each other.
 *
 * A worker holds client sockets. wk_main.c runs the loop and accepts;
 * wk_ipc.c is the channel to the supervisor; wk_http.c takes a connection
 * through the HTTP upgrade; wk_conn.c owns the WebSocket side (wslay,
 * send queue, heartbeat, close); wk_client.c speaks wsd.v1; wk_rooms.c is
 * the local replica of room membership; wk_frame.c builds frames in
 * shared, reference-counted buffers.
 *
 * Memory per idle connection is kept small on purpose: the handshake state
 * and the wslay context (about 9 KB with its buffers) exist only while a
 * handshake or a frame is in progress, and a delivery is one buffer shared
 * by every recipient's queue.
 */
#ifndef WSD_WK_H
#define WSD_WK_H

#include <ev.h>
#include <jansson.h>
#include <nng/nng.h>
#include <stdint.h>
#include "../proto/queue.h"
#include <uthash.h>
#include <wslay/wslay.h>

#include "../proto/err.h"
#include "../proto/proto.h"

/* A frame (or raw HTTP bytes) ready to write, shared by reference. */
struct wk_buf {
	uint32_t refs;
	uint32_t len;
	char data[];
};

struct wk_qent {
	STAILQ_ENTRY(wk_qent) link;
	struct wk_buf *buf;
};

enum wk_conn_state {
	WK_HANDSHAKE = 0, /* reading the upgrade request */
	WK_ADMITTING,	  /* waiting for the supervisor's CONN_ACCEPT */
	WK_OPEN,
	WK_CLOSING, /* close frame queued; waiting for the peer's */
	WK_DEAD,    /* flush what is queued, then destroy */
};

/* Tracks frame boundaries of the bytes read, to know when wslay is idle. */
struct wk_scan {
	uint64_t left; /* payload bytes of the current frame still to come */
	uint8_t hdr[14];
	uint8_t hlen;	    /* header bytes collected */
	uint8_t need;	    /* header length, once known */
	uint8_t in_msg;	    /* a fragmented data message is open */
	uint8_t bad;	    /* a control frame broke RFC 6455 section 5.5 */
	uint8_t opcode;	    /* of the frame being read */
	uint8_t close_seen; /* last feed: a close frame header began... */
	uint32_t close_off; /* ...at this offset */
};

/* A close frame being collected whole (see ws_recv in wk_conn.c). */
struct wk_stash {
	uint8_t len;
	uint8_t buf[2 + 4 + 125];
};

struct wk_member;
struct wk_hs;

struct wk_conn {
	ev_io io;
	ev_timer timer; /* handshake timeout, then heartbeat */
	uint64_t id;
	uint8_t state;
	uint8_t echo;	     /* the echo endpoint, not wsd.v1 */
	uint8_t writing;     /* EV_WRITE is armed */
	uint8_t dirty;	     /* on the flush list */
	uint8_t stats_dirty; /* on the stats list */
	uint8_t registered;  /* CONN_OPEN sent: CONN_CLOSE is owed */
	uint8_t awaiting_pong;
	uint8_t eof;
	uint8_t close_armed; /* the close timer runs */
	uint16_t close_code; /* what we closed with, for the log */
	uint32_t nrooms;
	uint32_t pending_subs; /* SUBs sent, not answered yet */
	ev_tstamp last_rx;
	ev_tstamp ping_at;
	struct wk_hs *hs;
	struct wk_stash *stash;
	wslay_event_context_ptr ws;
	struct wk_scan scan;
	char *user;
	json_t *allowed_rooms; /* the token's "rooms" claim, or NULL */
	uint32_t q_off;	       /* bytes of the first entry already written */
	uint32_t q_msgs;
	uint64_t q_bytes;
	uint64_t drops, msgs_in, msgs_out;
	STAILQ_HEAD(, wk_qent) q;
	LIST_HEAD(, wk_member) rooms;
	TAILQ_ENTRY(wk_conn) dirty_link;
	TAILQ_ENTRY(wk_conn) stats_link;
	UT_hash_handle hh;
};

/* A setting in milliseconds as libev's seconds. */
#define WK_SECONDS(ms) ((ev_tstamp)(ms) / 1000.0)

struct wk {
	struct ev_loop *loop;
	int id;
	uint32_t epoch;
	uint32_t next_conn;
	int listen_fd;
	int configured;
	int stopping;
	ev_tstamp stop_started;
	struct settings cfg; /* loaded from the last CONFIG message */
	uint32_t cfg_gen;    /* its generation */
	nng_socket sock;
	ev_io ipc_io;
	ev_io accept_io;
	ev_prepare flush_watcher;
	ev_timer stats_timer;
	ev_async ipc_gone;
	ev_signal sig_term, sig_int;
	struct wk_conn *conns; /* uthash by id */
	uint32_t nconns;
	struct wk_room *rooms; /* uthash by name */
	TAILQ_HEAD(, wk_conn) dirty;
	TAILQ_HEAD(, wk_conn) stats;
};

extern struct wk wk;

/* wk_ipc.c */
int wk_ipc_open(const char *url);
void wk_ipc_close(void);
/* Encode and send m to the supervisor without blocking; when nng's queue
 * is full it waits in order in the outbox. Returns 0, or -1 when the
 * channel is closed or m cannot be encoded. */
int wk_ipc_send(struct proto_msg *m);

/* wk_frame.c */
/* A buffer of len bytes with one reference; NULL when out of memory. */
struct wk_buf *wk_buf_new(uint32_t len);
void wk_buf_unref(struct wk_buf *b);
/* A whole server frame (FIN set, unmasked) carrying payload (copied). */
struct wk_buf *wk_frame_new(int opcode, const void *payload, size_t len);
/* The header length of an unmasked frame with a payload of len bytes. */
size_t wk_frame_header_len(uint64_t len);
/*
 * Feed bytes read from a client to the boundary tracker. Returns n, or,
 * when a frame header breaks the control-frame rules that wslay does not
 * check (a control frame fragmented, over 125 bytes, or a close with a
 * 1-byte payload), the offset where that frame starts (s->bad is set).
 */
size_t wk_scan_feed(struct wk_scan *s, const uint8_t *p, size_t n);
/* True when the bytes so far end exactly between two whole messages. */
int wk_scan_idle(const struct wk_scan *s);
/* True when the bytes so far end inside a close frame (header or payload). */
int wk_scan_in_close(const struct wk_scan *s);
/* Forget a partly read frame: the tracker is back at a frame boundary. */
void wk_scan_rewind(struct wk_scan *s);

/* wk_http.c */
/* Compute Sec-WebSocket-Accept for key[0..len) into out (29 bytes). */
void wk_accept_key(const char *key, size_t len, char out[29]);
/* Handle readable bytes of a connection in WK_HANDSHAKE. */
void wk_http_on_read(struct wk_conn *c);
/* The supervisor admitted (status 0) or refused the connection. */
void wk_http_on_accept(struct wk_conn *c, const struct proto_msg *m);
void wk_hs_free(struct wk_hs *hs);

/* wk_conn.c */
struct wk_conn *wk_conn_create(int fd);
/* Free everything the connection owns; c is invalid after. */
void wk_conn_destroy(struct wk_conn *c);
struct wk_conn *wk_conn_find(uint64_t id);
/*
 * Queue a reference to b (the caller keeps its own reference). With force,
 * the queue limits do not apply (handshake answers, control frames).
 * Returns WSD_OK, WSD_EFULL (the policy was applied: dropped, or the
 * connection is closing with 4001), WSD_ECLOSED (closing: not queued) or
 * WSD_ENOMEM (not queued).
 */
int wk_conn_send(struct wk_conn *c, struct wk_buf *b, int force);
/* Frame and queue one text message (copied). Returns as wk_conn_send. */
int wk_conn_send_text(struct wk_conn *c, const char *text, size_t len);
/*
 * Serialize obj compactly and queue it as one text message. Takes over
 * the reference to obj (NULL is allowed and sends nothing: a failed
 * json_pack). Returns as wk_conn_send, or WSD_ENOMEM.
 */
int wk_conn_send_json(struct wk_conn *c, json_t *obj);
/* Start the close handshake with code and reason. */
void wk_conn_close(struct wk_conn *c, int code, const char *reason);
/* Write the queue now (one writev); called by the flush watcher. */
void wk_conn_flush(struct wk_conn *c);
/* The connection finished its handshake: start WebSocket mode. */
void wk_conn_open(struct wk_conn *c);
/* Handle the end of a loop callback: destroy a dead connection. */
void wk_conn_settle(struct wk_conn *c);
void wk_conn_mark_stats(struct wk_conn *c);
/* Close every connection with code (shutdown). */
void wk_conn_close_all(int code, const char *reason);

/* wk_client.c */
/* Handle one complete text message of wsd.v1. */
void wk_client_on_text(struct wk_conn *c, const uint8_t *msg, size_t len);
/* Send {"type":"error",...}; ref may be NULL. */
void wk_client_error(struct wk_conn *c, const char *code, const char *reason,
		     const char *ref, size_t reflen);
/* Supervisor replies and deliveries. */
void wk_client_on_sub_reply(const struct proto_msg *m);
void wk_client_on_deliver(const struct proto_msg *m);
void wk_client_on_ack(const struct proto_msg *m);
void wk_client_on_error(const struct proto_msg *m);

/* wk_rooms.c */
struct wk_room {
	char *name;
	TAILQ_HEAD(, wk_member) members;
	uint32_t nmembers;
	UT_hash_handle hh;
};

struct wk_member {
	struct wk_room *room;
	struct wk_conn *conn;
	TAILQ_ENTRY(wk_member) in_room;
	LIST_ENTRY(wk_member) in_conn;
};

struct wk_room *wk_room_find(const char *name, size_t len);
int wk_room_is_member(struct wk_conn *c, const char *name, size_t len);
/* Returns WSD_OK or WSD_ENOMEM; joining twice is a no-op returning WSD_OK. */
int wk_room_join(struct wk_conn *c, const char *name, size_t len);
/* Returns WSD_OK, or WSD_ENOENT when c was not a member. */
int wk_room_leave(struct wk_conn *c, const char *name, size_t len);
void wk_room_leave_all(struct wk_conn *c);

#endif
