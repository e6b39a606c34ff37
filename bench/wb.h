/*
 * wsbench: declarations shared by the load generator's modules.
 *
 * wsbench is one program that forks itself into client processes. The
 * parent (wsbench.c) parses the options, samples the server's processes
 * from /proc (wb_proc.c), forks the children, tells them when to start and
 * merges what they report. Each child (wb_client.c) runs a libev loop over
 * its share of the connections; a connection (wb_conn.c) is a nonblocking
 * TCP socket bound to a loopback source address, an RFC 6455 client
 * handshake and a wslay client context. Latencies are kept in log-linear
 * histograms (wb_hist.c) that merge by addition.
 *
 * Child and parent talk over two pipes per child: the parent writes one
 * byte commands (WB_CMD_*), the child writes one struct wb_ready when its
 * connections are up and one struct wb_report (plus the fan-out arrays)
 * when its run is over.
 */
#ifndef WB_H
#define WB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>
#include <wslay/wslay.h>

enum wb_mode { WB_IDLE, WB_ECHO, WB_FANOUT, WB_CONNECT };

/* The options, filled by the parent and inherited by every child. */
struct wb_opts {
	enum wb_mode mode;
	const char *name; /* server label printed with the results */
	char host[64];	  /* server address, dotted IPv4 */
	int port;
	char path[256];	      /* request target; "{id}" becomes the conn id */
	const char *subproto; /* Sec-WebSocket-Protocol to offer, or NULL */
	int wsd;	      /* wsd.v1: wait for welcome, subscribe, publish */
	int conns;	      /* connections (subscribers in fanout) */
	int size;	      /* echo message bytes */
	double rate;	      /* echo: messages/s in all; fanout: publishes/s */
	double secs;	      /* echo and connect: seconds of load */
	int publishes;	      /* fanout: messages published */
	const char *room;     /* fanout: wsd room name */
	int naddrs;	      /* source addresses 127.0.0.2 .. 127.0.0.N+1 */
	int per_proc;	      /* most connections in one client process */
	int procs;	      /* client processes; 0 derives it from per_proc */
	int inflight;	      /* handshakes in flight per process */
	pid_t server_pid;     /* server root process; 0: no server sampling */
	double settle;	      /* idle: seconds to wait before sampling */
	double warmup;	      /* echo: seconds of load before measuring */
	double hs_timeout;    /* seconds allowed for connect plus handshake */
	double ready_timeout; /* seconds allowed for every child to get ready */
	int pad;       /* fanout: bytes of text added to each publish ("p") */
	int light;     /* idle: drop wslay after the 101 and answer
			  pings by hand (for a million connections) */
	int await_msg; /* idle: after START, wait for one message on
			  every connection (a broadcast whose data
			  holds "t": its CLOCK_REALTIME ns) */
	double await_secs;    /* idle: how long to wait for it */
	int retries;	      /* idle: open a failed connection again, up to
				 this many times */
	const char *hold_cmd; /* idle: run once all are up and sampled (it
				 sends the broadcast awaited) */
	int deflate; /* offer permessage-deflate (client_no_context_takeover)
			and inflate what comes compressed */
};

/*
 * Log-linear histogram of nanosecond values: exact below 128 ns, then 64
 * buckets per power of two (relative error under 1/64). Merged by adding
 * counts, so children can send theirs to the parent as plain memory.
 */
#define WB_HIST_BUCKETS (128 + 57 * 64)
struct wb_hist {
	uint64_t count;
	uint64_t max;
	uint64_t sum;
	uint64_t b[WB_HIST_BUCKETS];
};

void wb_hist_add(struct wb_hist *h, uint64_t ns);
void wb_hist_merge(struct wb_hist *dst, const struct wb_hist *src);
/* The value at quantile q (0..1): the middle of its bucket; 0 if empty. */
uint64_t wb_hist_quantile(const struct wb_hist *h, double q);

uint64_t wb_now_ns(void);

/* Child to parent: the connections are up (or have failed). */
struct wb_ready {
	int32_t connected;
	int32_t failed;
	uint64_t t_ready_ns; /* CLOCK_MONOTONIC when the last one settled */
};

/*
 * Child to parent at the end of a run. In fanout it is followed by npub
 * struct wb_pubstat, one per published message, for this child's
 * subscribers only.
 */
struct wb_report {
	uint64_t sent;	     /* echo messages or publishes sent */
	uint64_t received;   /* echoes or deliveries received */
	uint64_t connects;   /* connect mode: handshakes completed */
	uint64_t failures;   /* connects or handshakes that failed */
	uint64_t lost;	     /* connections that ended during the run */
	uint64_t bad;	     /* echo: replies that were not a whole message */
	uint64_t t_first_ns; /* first send (echo) or publish (fanout) */
	uint64_t t_last_ns;  /* last receive */
	uint64_t cpu_ns;     /* this client process's CPU during the run */
	uint32_t npub;
	uint32_t pad;
	struct wb_hist lat; /* round trip, delivery or handshake latency */
};

struct wb_pubstat {
	uint64_t max_ns; /* latency of the last receiver of this publish */
	uint64_t count;	 /* receivers that got it */
};

enum { WB_CMD_START = 'S', WB_CMD_QUIT = 'Q' };

/* wb_proc.c: the server's processes, and the kernel's socket figures. */
#define WB_SAMPLE_PROCS 16
struct wb_sample {
	int nprocs;
	pid_t pid[WB_SAMPLE_PROCS];	  /* the first processes, root first */
	uint64_t pss_of[WB_SAMPLE_PROCS]; /* and their PSS, with_pss only */
	uint64_t cpu_ns;  /* run time of every thread in the tree, schedstat */
	uint64_t tick_ns; /* utime + stime, tick-sampled, from stat */
	uint64_t user_ns; /* utime alone, from stat */
	uint64_t pss;	  /* bytes, summed over the tree */
	int64_t sockets_used;
	int64_t tcp_mem_pages;
	int64_t slab_kb; /* Slab: in /proc/meminfo */
};

/*
 * Sample the process tree under root (root and its descendants, found
 * through /proc/PID/task/TID/children). with_pss reads smaps_rollup too,
 * which is slower. A process that vanishes while sampled is skipped.
 */
void wb_sample_take(pid_t root, int with_pss, struct wb_sample *s);

/* wb_conn.c: one client connection. */
enum wb_conn_state {
	WB_C_FREE,
	WB_C_CONNECTING,
	WB_C_HANDSHAKE,
	WB_C_OPEN,
	WB_C_CLOSING
};

struct wb_hs;

struct wb_conn {
	ev_io io;
	wslay_event_context_ptr ws; /* from the 101 to the end */
	struct wb_hs *hs;	    /* during the handshake only */
	uint64_t t_start;	    /* when the connect began, ns */
	uint32_t id;		    /* global id: source address, "{id}" */
	uint8_t state;		    /* enum wb_conn_state */
	uint8_t ready;		    /* set by the mode: counted as up */
	uint8_t pub;		    /* fanout: the publisher */
	uint8_t in_recv;	    /* inside wslay_event_recv */
	uint8_t doomed;		    /* aborted inside a callback */
	uint8_t eof;		    /* the server closed the TCP stream */
	uint8_t drained;	    /* the last recv was short: no more yet */
	uint8_t pmd;		    /* permessage-deflate was agreed */
	uint8_t light;		    /* --light: no wslay after the 101 */
	uint8_t got;		    /* idle --await: its message came */
	uint8_t tries;		    /* --retries: attempts that failed */
	uint32_t partlen;	    /* light: bytes of a frame read in part */
	uint8_t *part;		    /* light: that frame so far, or NULL */
};

/* How a connection ended, as told to ops->end. */
enum wb_end {
	WB_END_FAILED, /* never opened: connect, handshake or timeout */
	WB_END_CLOSED, /* after a complete close handshake */
	WB_END_LOST    /* opened, then dropped without a close handshake */
};

/*
 * What the mode does with a connection's events. open: the 101 was
 * checked. msg: a whole text or binary message; msg is wslay's and valid
 * only during the call; the mode may call wb_conn_send, wb_conn_close and
 * wb_conn_abort from it (an abort then takes effect when wslay returns).
 * end: the connection is over and its descriptor closed; how is an enum
 * wb_end; the struct may be reused by wb_conn_open at once, even from
 * inside the end callback (the connection code touches it no more).
 */
struct wb_conn_ops {
	void (*open)(struct wb_conn *c);
	void (*msg)(struct wb_conn *c, int opcode, const uint8_t *msg,
		    size_t len);
	void (*end)(struct wb_conn *c, int how);
};

/* Set once per process before the first wb_conn_open. */
void wb_net_init(struct ev_loop *loop, const struct wb_opts *o,
		 const struct wb_conn_ops *ops);

/*
 * Start connecting c (state WB_C_FREE) as connection id. Returns 0 when
 * the connect is under way (ops->open or ops->end follows), -1 when it
 * failed at once (errno set, c left free, no callback).
 */
int wb_conn_open(struct wb_conn *c, uint32_t id);

/*
 * Send one message. wslay copies buf, so the caller may reuse it at once.
 * Returns 0, or -1 when the connection is not open or wslay refused (the
 * connection is then ended through ops->end before this returns).
 */
int wb_conn_send(struct wb_conn *c, int opcode, const void *buf, size_t len);

/*
 * Start a close handshake with code; ops->end follows when the server's
 * close frame has arrived (or the connection drops).
 */
void wb_conn_close(struct wb_conn *c, uint16_t code);

/*
 * Close the descriptor now, without a close frame; ops->end is called
 * (WB_END_FAILED before the 101, WB_END_LOST after), at once, or when
 * wslay returns if called from ops->msg.
 */
void wb_conn_abort(struct wb_conn *c);

/* wb_client.c: the body of a child process; never returns. */
void wb_child_main(const struct wb_opts *o, int index, int nprocs,
		   uint32_t first, int n, int cmd_fd, int rep_fd);

#endif
