/*
 * wk.h: the worker process's types: its one state struct, the connection
 * object and what hangs off it. Each module declares its functions in a
 * header of its own; docs/architecture.md gives the layering.
 *
 * The modules, from the bottom up: wk_frame.c (shared frame buffers and
 * the frame boundary tracker), wk_io.c (the I/O seam: every read, writev
 * and shutdown of a client socket), wk_ipc.c (the channel to the
 * supervisor), wk_rooms.c (the local replica of room membership) and
 * wk_auth.c (tokens); wk_deflate.c (permessage-deflate) and wk_queue.c
 * (a connection's send queue); wk_ws.c (the wslay glue); wk_conn.c (a
 * connection's life); wk_http.c (the upgrade) and wk_client.c (wsd.v1 and the
 * echo endpoint); wk_accept.c (the listening socket); wk_dispatch.c (what the
 * supervisor says); wk_main.c (the process).
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
#include <sys/types.h>
#include <sys/uio.h>
#include <uthash.h>
#include <wslay/wslay.h>

#include "../proto/addr.h"
#include "../proto/err.h"
#include "../proto/proto.h"
#include "../proto/queue.h"

struct wk_rate;

/* A frame (or raw HTTP bytes) ready to write, shared by reference. */
struct wk_buf {
	uint32_t refs;
	uint32_t len;
	/* A delivery of a publish: mono_us when the supervisor took it
	 * (from DELIVER), for the publish-to-delivery latency; else 0. */
	uint64_t stamp;
	char data[];
};

/* One entry of a send queue: a reference to a buffer. */
struct wk_qent {
	STAILQ_ENTRY(wk_qent) link;
	struct wk_buf *buf;
	uint64_t key; /* a hash of room and key (latest_per_key), or 0 */
};

/* A connection's send queue (wk_queue.c). */
struct wk_queue {
	STAILQ_HEAD(, wk_qent) q;
	uint32_t off;  /* bytes of the first entry already written */
	uint32_t msgs; /* entries */
	uint64_t bytes;
};

/* Tracks frame boundaries of the bytes read, to know when wslay is idle
 * (wk_frame.c). */
struct wk_scan {
	uint64_t left; /* payload bytes of the current frame still to come */
	uint8_t hdr[14];
	uint8_t hlen;	    /* header bytes collected */
	uint8_t need;	    /* header length, once known */
	uint8_t in_msg;	    /* a fragmented data message is open */
	uint8_t bad;	    /* enum wk_scan_bad: why the stream is refused */
	uint8_t opcode;	    /* of the frame being read */
	uint8_t close_seen; /* last feed: a close frame header began... */
	uint32_t close_off; /* ...at this offset */
};

/* A close frame being collected whole (wk_ws.c). */
struct wk_stash {
	uint8_t len;
	uint8_t buf[2 + 4 + 125];
};

/*
 * permessage-deflate as a connection agreed to it (RFC 7692; wk_deflate.c
 * negotiates, compresses and inflates). All zero: not negotiated. The
 * server never keeps its compression context (it always answers
 * server_no_context_takeover), so what it sends depends only on
 * out_bits, and a delivery is compressed once per worker for each.
 */
struct wk_pmd {
	uint8_t on;
	uint8_t out_bits; /* our compressor's window, 9..15; 0: we send
			     uncompressed (server_max_window_bits=8) */
	uint8_t in_bits;  /* the client's window, 8..15 */
	uint8_t in_nct;	  /* client_no_context_takeover agreed */
	uint8_t ans_out;  /* answer server_max_window_bits=N (N) */
	uint8_t ans_in;	  /* answer client_max_window_bits=N (N) */
};

struct wk_conn;
struct wk_member;
struct wk_hs;
struct z_stream_s;
struct wk_tls;

/*
 * The I/O seam (wk_io.c, wk_tls.c): how a connection's socket is read,
 * written and shut down, plain or through TLS. read and writev return
 * the bytes moved (read: > 0), WSD_EAGAIN when the socket would block, or
 * WSD_ECLOSED when the peer closed or the socket failed.
 */
struct wk_io {
	ssize_t (*read)(struct wk_conn *c, void *buf, size_t len);
	ssize_t (*writev)(struct wk_conn *c, const struct iovec *iov, int n);
	/* Stop reading (SHUT_RD) or writing (SHUT_WR). */
	void (*shutdown)(struct wk_conn *c, int how);
	/* Release the transport and close the descriptor. */
	void (*close)(struct wk_conn *c);
	/* Whether bytes already read from the socket wait inside the
	 * transport (TLS records decrypted but not yet returned), which
	 * the socket's readiness does not show. NULL: never. */
	int (*pending)(struct wk_conn *c);
};

/*
 * What the layer above a connection does with it, set when the
 * connection is created (wk_http.c's handshake) and replaced when it is
 * upgraded (wk_client.c): wk_conn.c and wk_ws.c call up only through
 * these. Any may be NULL.
 */
struct wk_handler {
	/* The socket is readable while the connection is in WK_HANDSHAKE. */
	void (*read)(struct wk_conn *c);
	/* The connection was paused (reason: "rate_limit", "server_busy")
	 * or resumed (reason NULL): tell the client, if the protocol can. */
	void (*flow)(struct wk_conn *c, const char *reason);
	/* One whole data message (opcode text or binary) arrived. */
	void (*message)(struct wk_conn *c, int opcode, const uint8_t *msg,
			size_t len);
	/* The connection is destroyed: free what this layer keeps on it. */
	void (*fini)(struct wk_conn *c);
};

enum wk_conn_state {
	WK_HANDSHAKE = 0, /* reading the upgrade request */
	WK_ADMITTING,	  /* waiting for the supervisor's CONN_ACCEPT */
	WK_OPEN,
	WK_CLOSING, /* close frame queued; waiting for the peer's */
	WK_DEAD,    /* flush what is queued, then destroy */
};

/*
 * One client connection. The comment of each group names the module that
 * owns it; a member another module writes says so. wk_conn.c alone
 * changes state.
 */
struct wk_conn {
	/* wk_conn.c: the watchers, the life and its timers. */
	ev_io io;	/* io.fd is the socket */
	ev_timer timer; /* handshake timeout, heartbeat, close wait */
	uint64_t id;
	const struct wk_io *io_ops;
	const struct wk_handler *h;
	unsigned state : 3;	    /* enum wk_conn_state */
	unsigned echo : 1;	    /* the echo endpoint (set by wk_http.c) */
	unsigned writing : 1;	    /* EV_WRITE is armed */
	unsigned dirty : 1;	    /* on the flush list */
	unsigned stats_dirty : 1;   /* on the stats list */
	unsigned registered : 1;    /* CONN_OPEN sent: CONN_CLOSE is owed */
	unsigned awaiting_pong : 1; /* a heartbeat ping is out */
	unsigned eof : 1;	    /* the socket is gone: nothing to flush */
	unsigned close_armed : 1;   /* the close timer runs */
	unsigned resuming : 1;	    /* a RESUME is out (wk_client.c) */
	unsigned lingering : 1;	    /* written out, shut for writing: input
				       is read and dropped until EOF */
	uint16_t close_code;	    /* what we closed with (also wk_ws.c) */
	uint32_t rtt_us;	    /* wk_ws.c: the last ping's round trip */
	uint32_t linger_bytes;	    /* read and dropped while lingering, or
				       from an event stream's client */
	ev_tstamp last_rx;	    /* last bytes from the client (wk_ws.c) */
	ev_tstamp ping_at;
	/* wk_ws.c: the WebSocket side, while a frame is in progress. */
	wslay_event_context_ptr ws;
	struct wk_stash *stash;
	struct wk_scan scan;
	/* wk_deflate.c: what the handshake agreed (wk_http.c sets it), and
	 * the inflate stream of a client that keeps its context (NULL until
	 * its first compressed message, and for every other client). */
	struct wk_pmd pmd;
	struct z_stream_s *zin;
	/* wk_queue.c: what waits to be written. */
	struct wk_queue q;
	/* wk_conn.c: its send rate, once it sent a message (wk_rate.h). */
	struct wk_rate *rate;
	/* wk_tls.c: the TLS session of a connection on a TLS listener. */
	struct wk_tls *tls;
	/* wk_sse.c: the event stream of a connection that came by GET /sse
	 * (set by wk_http.c), or NULL for a WebSocket. */
	struct wk_sse *sse;
	/* wk_http.c and wk_auth.c: the handshake, and who the client is. */
	struct wk_hs *hs;
	char *user;
	char *trace; /* the upgrade's traceparent (proto/trace.h), or NULL */
	json_t *allowed_rooms; /* the token's "rooms" claim, or NULL */
	/* wk_client.c and wk_rooms.c: rooms. */
	uint32_t nrooms;
	uint32_t pending_subs; /* SUBs sent, not answered yet */
	LIST_HEAD(, wk_member) rooms;
	/* Counters sent in STATS: msgs_in by wk_ws.c, msgs_out and drops by
	 * wk_conn.c (an echo takes its message back out, in wk_client.c). */
	uint64_t drops, msgs_in, msgs_out;
	/* The lists and the index of struct wk. */
	TAILQ_ENTRY(wk_conn) dirty_link;
	TAILQ_ENTRY(wk_conn) stats_link;
	UT_hash_handle hh;
};

/* A room with local members (wk_rooms.c). */
struct wk_room {
	char *name;
	int policy; /* enum proto_slow_policy from room_policies, or -1 */
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

/* A setting in milliseconds as libev's seconds. */
#define WK_SECONDS(ms) ((ev_tstamp)(ms) / 1000.0)

/* Client listeners a worker may be given. */
#define WK_LISTENERS_MAX 8

/* Longest room epoch and resume token a client may send. */
#define WK_EPOCH_MAX 32
#define WK_TOKEN_MAX 1024

/* The worker process; one per process (wk_main.c owns it). */
struct wk {
	struct ev_loop *loop;
	int id;
	uint32_t epoch;	     /* the high bits of this process's conn ids */
	uint32_t next_conn;  /* wk_conn.c */
	struct settings cfg; /* wk_dispatch.c: from the last CONFIG */
	struct addr_cidrs proxies; /* wk_dispatch.c: cfg.trusted_proxies */
	uint32_t cfg_gen;	   /* its generation */
	int configured;		   /* a CONFIG was applied */
	int stopping;		   /* wk_main.c */
	struct wk_conn *conns;	   /* wk_conn.c: uthash by id */
	uint32_t nconns;
	uint64_t queued_bytes; /* wk_queue.c: in every send queue */
	uint64_t queued_msgs;  /* wk_queue.c */
	/* wk_queue.c: the non-empty send queues by depth bucket (stats.h). */
	uint32_t qdepth[STATS_QDEPTH_N + 1];
	/* The totals sent in STATS (proto/stats.h): each counter is added
	 * to by the module that sees the event (wk_io.c bytes, wk_ws.c
	 * messages in, round trips and 1009s, wk_conn.c messages out, drops
	 * and limits, wk_queue.c latency, wk_http.c refusals); wk_main.c
	 * fills the gauges, sends them and zeroes the counters. */
	uint64_t tot[PROTO_TOT_END];
	struct wk_room *rooms;	     /* wk_rooms.c: uthash by name */
	TAILQ_HEAD(, wk_conn) dirty; /* with output; see wk_mark_dirty */
	TAILQ_HEAD(, wk_conn) stats; /* counters changed; wk_mark_stats */
};

extern struct wk wk;

/*
 * The two lists every layer may put a connection on: connections with
 * output, which wk_main.c's prepare watcher flushes once per loop turn,
 * and connections whose counters changed, which its stats timer reports
 * once a second. A connection leaves both when it is destroyed.
 */
static inline void
wk_mark_dirty(struct wk_conn *c)
{
	if (c->dirty)
		return;
	c->dirty = 1;
	TAILQ_INSERT_TAIL(&wk.dirty, c, dirty_link);
}

static inline void
wk_unmark_dirty(struct wk_conn *c)
{
	if (!c->dirty)
		return;
	TAILQ_REMOVE(&wk.dirty, c, dirty_link);
	c->dirty = 0;
}

static inline void
wk_mark_stats(struct wk_conn *c)
{
	if (c->stats_dirty || !c->registered)
		return;
	c->stats_dirty = 1;
	TAILQ_INSERT_TAIL(&wk.stats, c, stats_link);
}

static inline void
wk_unmark_stats(struct wk_conn *c)
{
	if (!c->stats_dirty)
		return;
	TAILQ_REMOVE(&wk.stats, c, stats_link);
	c->stats_dirty = 0;
}

#endif
