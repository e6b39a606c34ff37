/*
 * stats.h: what a worker reports in STATS besides its connection
 * records: its totals, one array of unsigned values indexed by enum
 * proto_tot, and the histogram bounds that worker and supervisor share.
 *
 * The values before PROTO_TOT_GAUGES are counters, sent as increments
 * since the last STATS that carried totals (the supervisor adds them up,
 * so a worker's restart never makes a total go down); the values from it
 * on are the worker's state at the time of sending. A histogram is its
 * bucket counts (not cumulative: bucket i counts the values v with
 * bounds[i-1] < v <= bounds[i], the last one those above every bound)
 * followed by the sum of the values.
 */
#ifndef WSD_STATS_H
#define WSD_STATS_H

#include <stdint.h>

/* Publish-to-delivery latency and pong round trip, in microseconds. */
#define STATS_LAT_N 16
extern const uint64_t stats_lat_us[STATS_LAT_N];

/* Per-connection send queue depth, in messages. */
#define STATS_QDEPTH_N 11
extern const uint64_t stats_qdepth[STATS_QDEPTH_N];

/* The HTTP statuses of refused handshakes counted apart; the others are
 * counted together ("other"). */
#define STATS_REFUSED_N 10
extern const uint16_t stats_refused_status[STATS_REFUSED_N];

/* Why a TLS handshake failed (enum stats_tls_fail; the names are the
 * label values of wsd_tls_handshake_failures_total). */
enum stats_tls_fail {
	STATS_TLS_HTTP = 0, /* plain HTTP sent to a TLS listener */
	STATS_TLS_VERSION,  /* no protocol version in common */
	STATS_TLS_CIPHER,   /* no cipher (or group) in common */
	STATS_TLS_ALERT,    /* the client sent an alert (refused us) */
	STATS_TLS_EOF,	    /* the client closed during the handshake */
	STATS_TLS_TIMEOUT,  /* closed before it completed (timeout) */
	STATS_TLS_OTHER,    /* any other protocol error */
	STATS_TLS_FAIL_N
};
extern const char *const stats_tls_fail_names[STATS_TLS_FAIL_N];

/* The slow-consumer policies (enum proto_slow_policy), in order. */
#define STATS_POLICIES 4

enum proto_tot {
	/* Counters: increments since the last totals. */
	PROTO_TOT_MSGS_IN = 0, /* data messages from clients */
	PROTO_TOT_MSGS_OUT,    /* messages queued for clients */
	PROTO_TOT_BYTES_IN,    /* bytes read from client sockets */
	PROTO_TOT_BYTES_OUT,   /* bytes written to client sockets */
	/* Messages dropped, by the policy that dropped them: one per
	 * enum proto_slow_policy, then limits.worker_queue_bytes (a queue
	 * closed to bring the worker's total back), then a close for a
	 * fault (kick, heartbeat, 1009) discarding what was queued. */
	PROTO_TOT_DROPS,
	PROTO_TOT_DROPS_SHED = PROTO_TOT_DROPS + STATS_POLICIES,
	PROTO_TOT_DROPS_CLOSE,
	/* Limits hit. */
	PROTO_TOT_LIMIT_RATE,	      /* a client paused for its send rate */
	PROTO_TOT_LIMIT_RATE_CLOSE,   /* ... and closed 4002 */
	PROTO_TOT_LIMIT_MAX_QUEUE,    /* a message did not fit a send queue */
	PROTO_TOT_LIMIT_WORKER_QUEUE, /* a queue closed for the worker's */
	PROTO_TOT_LIMIT_MAX_MESSAGE,  /* a client message over the limit */
	PROTO_TOT_LIMIT_IPC,	      /* a client paused for the IPC backlog */
	/* Handshakes refused, by status (stats_refused_status, then other). */
	PROTO_TOT_REFUSED,
	/* TLS handshakes failed, by enum stats_tls_fail; completed, full
	 * and resumed. */
	PROTO_TOT_TLS_FAIL = PROTO_TOT_REFUSED + STATS_REFUSED_N + 1,
	PROTO_TOT_TLS_FULL = PROTO_TOT_TLS_FAIL + STATS_TLS_FAIL_N,
	PROTO_TOT_TLS_RESUMED,
	/* Publish-to-delivery latency: buckets, then the sum (us). */
	PROTO_TOT_LAT,
	PROTO_TOT_LAT_SUM = PROTO_TOT_LAT + STATS_LAT_N + 1,
	/* Pong round trip: buckets, then the sum (us). */
	PROTO_TOT_RTT,
	PROTO_TOT_RTT_SUM = PROTO_TOT_RTT + STATS_LAT_N + 1,
	/* permessage-deflate: messages sent compressed (one per recipient)
	 * and the bytes that saved on the wire; compressed messages
	 * received and the bytes they inflated beyond their size. */
	PROTO_TOT_DEFLATE_OUT,
	PROTO_TOT_DEFLATE_OUT_SAVED,
	PROTO_TOT_DEFLATE_IN,
	PROTO_TOT_DEFLATE_IN_SAVED,
	/* Gauges: the values now. */
	PROTO_TOT_GAUGES,
	/* Connections by send queue depth: buckets, then the messages. */
	PROTO_TOT_QDEPTH = PROTO_TOT_GAUGES,
	PROTO_TOT_QDEPTH_SUM = PROTO_TOT_QDEPTH + STATS_QDEPTH_N + 1,
	PROTO_TOT_QUEUED_BYTES, /* in every send queue */
	PROTO_TOT_OUTBOX_MSGS,	/* waiting to go to the supervisor */
	PROTO_TOT_OUTBOX_BYTES,
	PROTO_TOT_FDS, /* open descriptors */
	PROTO_TOT_CONNS,
	PROTO_TOT_END
};

/*
 * The bucket of v among n ascending bounds: the first i with
 * v <= bounds[i], or n when v is above them all. Pure.
 */
unsigned stats_bucket(const uint64_t *bounds, unsigned n, uint64_t v);

/* The index among PROTO_TOT_REFUSED's counters of an HTTP status. */
unsigned stats_refused_index(int status);

/* Count one value v into the histogram at h (n bounds: n + 1 buckets,
 * then the sum). */
void stats_observe(uint64_t *h, const uint64_t *bounds, unsigned n, uint64_t v);

#endif
