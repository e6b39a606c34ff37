/*
 * proto.h: every message that crosses the IPC channel between the
 * supervisor and a worker, in one place.
 *
 * A message is one msgpack array: [version, type, worker, generation,
 * field...]. Which fields follow, in which order and of which msgpack type,
 * is fixed per message type by the schema table in proto.c; the decoder
 * checks the version, the type, the field count, every field's type and
 * every string's length (and that it holds no NUL byte) before it fills a
 * struct proto_msg. A message that
 * fails any check is a bug in the peer: the caller logs it and drops the
 * peer (STYLE.md, habit 5). Nothing here touches a socket.
 */
#ifndef WSD_PROTO_H
#define WSD_PROTO_H

#include <msgpack.h>
#include <nng/nng.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "settings.h"
#include "stats.h"

#define PROTO_VERSION 1

/* The exit status of a worker that must not be restarted (a fatal setup
 * error: bad arguments, a config it cannot apply). */
#define PROTO_EXIT_NO_RESTART 100

/* Limits the decoder enforces on strings, in bytes. */
#define PROTO_MAX_NAME 1024	   /* rooms, users, ids, addresses */
#define PROTO_MAX_DATA (64u << 20) /* message payloads */
#define PROTO_MAX_RECORDS 65536	   /* per STATS message */

/* Message types. W: worker to supervisor; S: supervisor to worker. */
enum proto_type {
	PROTO_HELLO = 1,   /* W: pid; first message of a worker */
	PROTO_CONFIG,	   /* S: struct settings (settings.h), a generation */
	PROTO_READY,	   /* W: config applied, accepting */
	PROTO_CONN_OPEN,   /* W: conn, user, addr, agent, flags, data (the
			      token's info claim, JSON text, or ""), token
			      (a resume token from ?resume=, or ""), trace
			      (the upgrade's traceparent, or ""); asks to
			      admit */
	PROTO_CONN_ACCEPT, /* S: conn, status (0 or HTTP status), session, token
			    */
	PROTO_CONN_CLOSE,  /* W: conn, code; the connection is gone */
	PROTO_SUB, /* W: conn, room, since, flags (PROTO_F_SINCE), epoch ("":
		      none given) */
	PROTO_SUB_REPLY, /* S: conn, room, seq, flags (PROTO_F_RECOVERED),
			    epoch (the room's) */
	PROTO_UNSUB,	 /* W: conn, room */
	PROTO_PUBLISH,	 /* W: conn, room, data (JSON text), id, key, trace ("":
			    none) */
	PROTO_DELIVER,	 /* S: room, seq, conn (0: room members), exclude, data,
			    key (for latest_per_key rooms; "": none), stamp
			    (mono_us when the supervisor took the publish; 0:
			    not a publish) */
	PROTO_ACK,	 /* S: conn, id, seq */
	PROTO_ERROR,	 /* S: conn, code (text), reason, id, flags
			    (PROTO_F_SUB) */
	PROTO_KICK,	 /* S: conn, status (close code), reason */
	PROTO_STATS,	 /* W: records (one per connection that changed),
			    totals (the worker's, stats.h; or empty) */
	PROTO_RESUME,	 /* W: conn, token, data (the client's rooms, JSON) */
	PROTO_RESUMED,	 /* S: conn, session, user, token, data (JSON object
			    {room: {seq, epoch, recovered}}) */
	PROTO_PRESENCE,	 /* W: conn, room; answered by a DELIVER or ERROR */
	PROTO_RESUMED_ACK, /* W: conn; `resumed` is on its way to the client */
	PROTO_DRAINING,	   /* W: got SIGTERM; accepts no more and waits for
			      its clients to be told and gone */
	PROTO_REOPEN_LOG,  /* S: open log_file again (after a rotation) */
	PROTO_SSE_INPUT,   /* W and S: conn, token (its send key), data
			      (newline-separated client messages): what a
			      POST /sse/send carried, to the worker that
			      holds the SSE stream conn, through the
			      supervisor */
	PROTO_TYPE_END
};

/* Bits of proto_msg.flags. */
#define PROTO_F_ANONYMOUS 0x1u /* CONN_OPEN: no token, generated user id */
#define PROTO_F_SINCE 0x2u     /* SUB: since is set */
#define PROTO_F_RECOVERED 0x4u /* SUB_REPLY: the replay covered the gap */
#define PROTO_F_BROADCAST 0x8u /* DELIVER: every local connection */
#define PROTO_F_SUB 0x10u      /* ERROR: the refused request was a SUB */
#define PROTO_F_SSE 0x20u      /* CONN_OPEN: an event stream (GET /sse) */

/*
 * A string borrowed from a decoded message: not NUL-terminated, valid only
 * while the buffer and the msgpack_unpacked it was decoded from live.
 */
struct proto_str {
	const char *p;
	uint32_t len;
};

/* What a worker does when a connection's send queue is full. */
enum proto_slow_policy {
	PROTO_SLOW_DISCONNECT = 0,
	PROTO_SLOW_DROP_NEWEST,
	PROTO_SLOW_DROP_OLDEST,
	PROTO_SLOW_LATEST_PER_KEY, /* a message replaces the queued one of its
				      key; without a key, drop_oldest */
};

/* One connection's counters in a STATS message. */
struct proto_stats_rec {
	uint64_t conn;
	uint64_t last_seen_ms; /* wall clock, ms since the epoch */
	uint64_t queue_bytes;
	uint64_t queue_msgs;
	uint64_t drops;
	uint64_t msgs_in;
	uint64_t msgs_out;
	uint64_t rtt_us; /* the last ping's round trip, 0: none yet */
	uint64_t flags;	 /* PROTO_REC_* */
};

#define PROTO_REC_PAUSED 0x1u /* the connection is paused (`flow`) */

/* Which check of the decoder a malformed message failed (for the log). */
enum proto_bad {
	PROTO_BAD_NONE = 0,
	PROTO_BAD_PARSE,   /* not one complete msgpack object */
	PROTO_BAD_HEADER,  /* not an array with a valid header */
	PROTO_BAD_VERSION, /* another protocol version */
	PROTO_BAD_TYPE,	   /* unknown message type */
	PROTO_BAD_COUNT,   /* wrong number of fields */
	PROTO_BAD_FIELD,   /* a field of the wrong type or size */
};

/*
 * A decoded (or to-be-encoded) message. Only the fields of the type's
 * schema are meaningful; the decoder zeroes the rest.
 */
struct proto_msg {
	uint32_t type;
	uint32_t worker;
	uint32_t gen;
	uint64_t conn;
	uint64_t seq;
	uint64_t since;
	uint64_t exclude;
	uint64_t status;
	uint64_t flags;
	uint64_t pid;
	uint64_t stamp; /* DELIVER */
	struct proto_str room;
	struct proto_str user;
	struct proto_str data;
	struct proto_str id;
	struct proto_str addr;
	struct proto_str agent;
	struct proto_str code;
	struct proto_str reason;
	struct proto_str session;
	struct proto_str token;
	struct proto_str epoch;
	struct proto_str key; /* PUBLISH, DELIVER: the message's key, or "" */
	/* CONN_OPEN: the upgrade's traceparent; PUBLISH: the message's
	 * trace (proto/trace.h, checked by the worker); "": none. */
	struct proto_str trace;
	/* CONFIG: to encode, point config at the settings; decoded, load
	 * config_obj (checked row by row) with settings_load. */
	const struct settings *config;
	const msgpack_object *config_obj;
	/* STATS: to encode, point recs at nrecs records; decoded, see below. */
	const struct proto_stats_rec *recs;
	uint32_t nrecs;
	const msgpack_object *rec_objs; /* decoded STATS: validated records */
	/* STATS: the worker's totals, PROTO_TOT_END of them or none (0). To
	 * encode, point tots at them; decoded, see proto_stats_totals. */
	const uint64_t *tots;
	uint32_t ntots;
	const msgpack_object *tot_objs;
	enum proto_bad bad; /* why proto_decode refused it */
};

/*
 * Pack m with pk. Strings are copied into the packer's buffer, so m may
 * borrow from anywhere. Returns WSD_OK, WSD_EINVAL for an unknown type (or
 * a CONFIG without settings), or WSD_ENOMEM when the packer's write callback
 * failed (the buffer holds a partial message and must be discarded).
 */
int proto_encode(const struct proto_msg *m, msgpack_packer *pk);

/*
 * Encode m into a new nng message for the caller to send (or free). The
 * message is packed into one growing buffer kept by this module and
 * copied into the nng message once (nng grows a message by reallocating
 * it to the exact size on every append, which is quadratic). Not
 * thread-safe: each process encodes on its loop thread. Returns WSD_OK,
 * WSD_EINVAL for an unknown type or WSD_ENOMEM (*out untouched).
 */
int proto_encode_nng(const struct proto_msg *m, nng_msg **out);

/*
 * Decode the message in buf[0..len) into m. The caller has initialised u
 * with msgpack_unpacked_init and destroys it when done with m; strings and
 * STATS records in m borrow from buf and u. Returns WSD_OK, or WSD_EPROTO
 * with m zeroed but for m->bad, the check that failed.
 */
int proto_decode(struct proto_msg *m, msgpack_unpacked *u, const void *buf,
		 size_t len);

/* Record i (< m->nrecs) of a decoded STATS message. */
void proto_stats_get(const struct proto_msg *m, uint32_t i,
		     struct proto_stats_rec *out);

/* The totals of a decoded STATS message into out (PROTO_TOT_END
 * values); returns 1, or 0 when the message carries none (out
 * untouched). */
int proto_stats_totals(const struct proto_msg *m, uint64_t *out);

/* The name of a message type for logs, or "unknown". */
const char *proto_type_name(uint32_t type);

/* The name of a failed decoder check for logs. */
const char *proto_bad_name(enum proto_bad bad);

/* A proto_str from a NUL-terminated C string (which it borrows). */
struct proto_str proto_cstr(const char *s);

#endif
