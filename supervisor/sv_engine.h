/*
 * sv_engine.h: where room seqs and epochs, replay logs, detached sessions
 * and presence live, behind one interface.
 *
 * The callers (sv_route.c, sv_session.c, sv_ctl.c) never touch the
 * storage: they submit an operation and get its result in a callback. The
 * memory engine (sv_mem.c) completes every operation before the submit
 * returns; an engine shared by several nodes (Redis) completes later, so a
 * caller keeps in its callback argument only what it can look up again
 * (a connection id, never a pointer to a connection that may be gone).
 *
 * A room here is its history: its seq (the last one stamped), its epoch (a
 * random string, new whenever the history is lost: the room is created,
 * or forgotten and created again), its bounded replay log, and the users
 * present. A seq means something only within its epoch.
 *
 * A session here is a detached one: its connection went away and it
 * waits, for `sessions.ttl_ms`, to be resumed. An attached session lives
 * with its connection in the registry (sv_registry.h).
 */
#ifndef WSD_SV_ENGINE_H
#define WSD_SV_ENGINE_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "sv_token.h"

#define SV_EPOCH_LEN 8 /* hex digits */

/* The budgets an engine keeps to; set at start and on every reload. */
struct sv_eng_limits {
	uint64_t replay_size;	     /* entries per room */
	uint64_t replay_ttl_ms;	     /* age of an entry */
	uint64_t replay_max_bytes;   /* all logs together */
	uint64_t max_rooms;	     /* rooms with history or presence */
	uint64_t sessions_max;	     /* detached sessions */
	uint64_t sessions_max_bytes; /* their memory, roughly */
};

/* One entry of a replay log: the exact text clients get. */
struct sv_eng_entry {
	uint64_t seq;
	const char *text;
	uint32_t len;
};

/* A publish to stamp. The strings are borrowed for the call. */
struct sv_eng_pub {
	const char *room;
	size_t rlen;
	const char *from;
	size_t fromlen;
	const char *data; /* JSON text */
	size_t datalen;
	const char *id; /* may be NULL */
	size_t idlen;
	const char *trace; /* a checked traceparent, or NULL */
	const char *key;   /* a latest_per_key key, or NULL */
	size_t keylen;
	uint64_t exclude; /* a connection of this node not to deliver to */
	uint64_t stamp;	  /* mono_us when this node took it */
};

/*
 * A publish completed: rc WSD_OK with its seq; WSD_EFULL (a new room over
 * limits.max_rooms), WSD_ENOMEM, or WSD_EAGAIN (the engine cannot take it
 * now: a shared engine's link is down or saturated). sends is what the
 * delivery on this node sent, or -1 when the delivery comes apart from
 * the completion (a shared engine delivers what its subscription hears).
 */
typedef void (*sv_eng_pub_fn)(void *arg, int rc, uint64_t seq, int sends);

/*
 * A stamped message to deliver to this node's members of its room, in
 * seq order per room, each seq once. The memory engine delivers within
 * publish; a shared engine delivers every publish of every node as its
 * subscription hears it, filling a gap from the room's history first.
 * exclude, stamp and trace are the publishing node's (0 or NULL on the
 * others). Returns the sends.
 */
struct sv_eng_delivery {
	const char *room;
	size_t rlen;
	const struct sv_eng_entry *e;
	const char *key; /* or NULL */
	size_t keylen;
	uint64_t exclude;
	uint64_t stamp;
	const char *trace;
};
typedef int (*sv_eng_deliver_fn)(void *arg, const struct sv_eng_delivery *d);

/* Rooms made ready for a synchronous history read: WSD_OK, or an error
 * (WSD_EAGAIN: the shared engine is unreachable). */
typedef void (*sv_eng_ready_fn)(void *arg, int rc);

/* One link of a shared engine, for status and metrics. */
struct sv_eng_link {
	const char *address;
	int up;
	uint64_t rtt_us;     /* the last command's round trip */
	uint64_t errors;     /* commands failed or timed out */
	uint64_t reconnects; /* links made again after a loss */
	uint64_t inflight;
};
typedef void (*sv_eng_link_fn)(void *arg, const struct sv_eng_link *l);

/* One live node of a shared engine: its id and what its heartbeat says
 * (a JSON object: address, connections, users, rooms, ...). */
struct sv_eng_node {
	const char *id;
	const char *info;
};
typedef void (*sv_eng_nodes_fn)(void *arg, int rc, const struct sv_eng_node *v,
				uint32_t n);

/* What a history read found. */
struct sv_eng_hist {
	int rc; /* WSD_OK, WSD_ENOENT (no such room, without SV_ENG_CREATE),
		   WSD_EFULL (room limit), WSD_ENOMEM */
	uint64_t seq;	   /* the room's last seq */
	const char *epoch; /* the room's epoch */
	int recovered;	   /* every entry after since is in entries */
	uint32_t n;	   /* entries after since, oldest first */
	const struct sv_eng_entry *(*entry)(const struct sv_eng_hist *h,
					    uint32_t i);
	const void *priv; /* the engine's */
};

typedef void (*sv_eng_hist_fn)(void *arg, const struct sv_eng_hist *h);

/* Bits of the history flags. */
#define SV_ENG_SINCE 0x1u  /* since is given: read the entries after it */
#define SV_ENG_CREATE 0x2u /* make the room when it has no history */

/* A room of a detached session, and the seq its client had reached. */
struct sv_sess_room {
	char *name;
	uint64_t seq;
	char epoch[SV_EPOCH_LEN + 1];
};

struct sv_sess {
	uint8_t id[SV_SESSION_ID_BYTES];
	uint64_t nonce; /* of the one valid token */
	uint64_t conn;	/* the connection it was last attached to */
	char *user;
	int anonymous;
	uint64_t created_ms, detached_ms, expires_ms;
	uint32_t nrooms;
	struct sv_sess_room *rooms;
};

/*
 * A session take completed: WSD_OK with s (the caller's, free with
 * sv_sess_free), WSD_ENOENT (no such session: never, expired or revoked)
 * or WSD_EINVAL (the nonce is not the session's: a spent token).
 */
typedef void (*sv_eng_take_fn)(void *arg, int rc, struct sv_sess *s);

/* One session in a listing (valid during the call); NULL once, when the
 * listing is over (maybe after the call that asked for it returned). */
typedef void (*sv_eng_each_fn)(void *arg, const struct sv_sess *s);

/* One user present in a room (valid during the call). */
struct sv_presence {
	const char *user;
	const char *info; /* JSON text, or NULL */
	uint32_t conns;
};
typedef void (*sv_eng_presence_fn)(void *arg, int rc,
				   const struct sv_presence *users, uint32_t n);

/* What a listing says of one room (valid during the call). */
struct sv_eng_room {
	const char *name;
	uint64_t seq;
	const char *epoch;
	uint32_t log_len;
	uint64_t log_bytes;
	uint32_t present; /* users */
};
typedef void (*sv_eng_room_fn)(void *arg, const struct sv_eng_room *r);

struct sv_eng_stats {
	uint64_t rooms, replay_entries, replay_bytes, sessions, session_bytes;
	uint64_t room_limit_hits, replay_evictions, sessions_evicted;
	/* a shared engine's: missed deliveries read from the history, and
	 * those the history no longer had */
	uint64_t gaps_filled, gaps_lost;
};

struct sv_engine;

struct sv_engine_ops {
	const char *name;
	void (*set_limits)(struct sv_engine *e, const struct sv_eng_limits *l);
	/* Stamp the room's next seq, log the message, complete. */
	void (*publish)(struct sv_engine *e, const struct sv_eng_pub *p,
			sv_eng_pub_fn cb, void *arg);
	/* The room's seq and epoch and, with SV_ENG_SINCE, the entries
	 * after since (none when epoch is given and is not the room's).
	 * Completes before it returns for a room made ready (prepare) and
	 * watched since; a shared engine answers WSD_EAGAIN otherwise. */
	void (*history)(struct sv_engine *e, const char *room, size_t rlen,
			uint64_t since, const char *epoch, unsigned flags,
			sv_eng_hist_fn cb, void *arg);
	/* This node has one member more (delta 1) or less (-1) in room: a
	 * shared engine hears the rooms with members. NULL: nothing to do. */
	void (*watch)(struct sv_engine *e, const char *room, size_t rlen,
		      int delta);
	/* Make the n rooms' history readable synchronously (watching them
	 * if need be), then call cb, once, maybe before it returns. */
	void (*prepare)(struct sv_engine *e, const char *const *rooms,
			uint32_t n, sv_eng_ready_fn cb, void *arg);
	/* Each link to a shared store; none for the memory engine. */
	void (*links)(struct sv_engine *e, sv_eng_link_fn cb, void *arg);
	/* One connection more of user (from a token) on this node, within
	 * limit (0: none) across every node: cb WSD_OK, WSD_EFULL (over the
	 * limit) or WSD_EAGAIN. NULL: this node's count is all there is. */
	void (*admit)(struct sv_engine *e, const char *user, uint64_t limit,
		      sv_eng_ready_fn cb, void *arg);
	/* One connection less of an admitted user. NULL as admit. */
	void (*release)(struct sv_engine *e, const char *user);
	/* The live nodes; NULL: this one is all there is. */
	void (*nodes)(struct sv_engine *e, sv_eng_nodes_fn cb, void *arg);
	/* What this node holds now, for its heartbeat (NULL: unused). */
	void (*counts)(struct sv_engine *e, uint64_t conns, uint64_t users);
	/* Keep a detached session (taken over) until its expiry. */
	int (*session_put)(struct sv_engine *e, struct sv_sess *s);
	/* Remove and hand over the session id when its nonce is nonce
	 * (user, the token's, says where a shared engine keeps it). */
	void (*session_take)(struct sv_engine *e,
			     const uint8_t id[SV_SESSION_ID_BYTES],
			     uint64_t nonce, const char *user,
			     sv_eng_take_fn cb, void *arg);
	/* Is a detached session id waiting with this nonce (its token the
	 * latest)? Nothing changes. */
	int (*session_peek)(struct sv_engine *e,
			    const uint8_t id[SV_SESSION_ID_BYTES],
			    uint64_t nonce);
	/* Forget every session of user; returns how many. */
	uint32_t (*session_revoke)(struct sv_engine *e, const char *user);
	/* Each session (of user, or all with NULL), at most limit, then
	 * NULL. A shared engine lists only a user's (none for NULL). */
	void (*session_each)(struct sv_engine *e, const char *user,
			     uint32_t limit, sv_eng_each_fn cb, void *arg);
	/* user (one more connection of it) is present in room; info is
	 * JSON text or NULL. Returns the user's connections in the room
	 * now, or WSD_EFULL (room limit) or WSD_ENOMEM. */
	int (*presence_add)(struct sv_engine *e, const char *room, size_t rlen,
			    const char *user, const char *info);
	/* One connection of user less; returns how many are left, or
	 * WSD_ENOENT (not present). */
	int (*presence_remove)(struct sv_engine *e, const char *room,
			       size_t rlen, const char *user);
	void (*presence_get)(struct sv_engine *e, const char *room, size_t rlen,
			     sv_eng_presence_fn cb, void *arg);
	/* Each room (or only name, when not NULL), at most limit. */
	void (*rooms)(struct sv_engine *e, const char *name, uint32_t limit,
		      sv_eng_room_fn cb, void *arg);
	/* Expire sessions and log entries; forget rooms with no presence,
	 * no log and no use since idle_ms before now, unless in_use says
	 * the room is still in use (a connected user's personal room). */
	void (*sweep)(struct sv_engine *e, uint64_t now_ms, uint64_t idle_ms,
		      int (*in_use)(void *arg, const char *room), void *arg);
	void (*stats)(struct sv_engine *e, struct sv_eng_stats *out);
	/* Pack what the engine holds across a restart (rooms with their
	 * seq, epoch and log; detached sessions, and the nlive sessions of
	 * connected clients in live, packed as if detached) as one msgpack
	 * object. WSD_OK or WSD_ENOMEM. */
	int (*dump)(struct sv_engine *e, msgpack_packer *pk,
		    struct sv_sess *const *live, uint32_t nlive);
	/* Give every room a new epoch (what came after the dump it was
	 * restored from is unknown: a snapshot before a crash). */
	void (*new_epochs)(struct sv_engine *e);
	/* Load a dump into an empty engine, within today's budgets.
	 * WSD_OK, or WSD_EPROTO with *why (the engine may hold part of it:
	 * close and open it again). */
	int (*restore)(struct sv_engine *e, const msgpack_object *o,
		       const char **why);
	void (*close)(struct sv_engine *e);
};

struct sv_engine {
	const struct sv_engine_ops *ops;
	void *impl;
	/* The user's, set before the first publish. */
	sv_eng_deliver_fn deliver;
	void *deliver_arg;
};

static inline void
sv_eng_count_down(void *arg, const struct sv_eng_link *l)
{
	if (!l->up)
		(*(int *)arg)++;
}

/* How many of the engine's links are down (0 for the memory engine). */
static inline int
sv_eng_links_down(struct sv_engine *e)
{
	int n = 0;

	if (e->ops->links != NULL)
		e->ops->links(e, sv_eng_count_down, &n);
	return n;
}

/* Open the memory engine (sv_mem.c). WSD_OK or WSD_ENOMEM. */
int sv_mem_open(struct sv_engine *e, const struct sv_eng_limits *l);

struct ev_loop;
struct sv_config;

/*
 * Open the Redis engine (sv_reng.c) on loop, with the config's redis.*
 * keys and node_id; it connects on its own from now on (and again after
 * a loss). WSD_OK, or WSD_EINVAL / WSD_ENOMEM with *why.
 */
int sv_reng_open(struct sv_engine *e, const struct sv_eng_limits *l,
		 struct ev_loop *loop, const struct sv_config *cfg,
		 const char **why);

/*
 * A memory engine as a mirror of a shared one (the Redis engine keeps the
 * rooms this node hears in one): room is at seq in epoch (a new epoch
 * empties its log), with text (copied) the entry of seq, or NULL when
 * only the position is known. A seq that does not follow the log's last
 * empties it first. WSD_OK, WSD_EEXIST (text for a seq it has), WSD_EFULL
 * (room limit), WSD_ENOMEM.
 */
int sv_mem_mirror(struct sv_engine *e, const char *room, size_t rlen,
		  const char *epoch, uint64_t seq, const char *text,
		  size_t len);

/* Free a session and all it holds. NULL is allowed. */
void sv_sess_free(struct sv_sess *s);

#endif
