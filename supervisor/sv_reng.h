/*
 * sv_reng.h: the Redis engine's parts, shared by its files: sv_reng.c
 * (rooms: seq, history and fan-out between nodes), sv_rsess.c (sessions)
 * and sv_rnode.c (presence, connections per user, the node list). The
 * engine's users see only sv_engine.h and sv_reng_open.
 *
 * In Redis, under the prefix P (redis.prefix), on the shard of the room
 * or user a key is named after:
 *   P m:ROOM    hash {epoch, seq}: the room's last seq and its epoch
 *   P x:ROOM    stream of the room's messages, entry id SEQ-0, fields
 *               p (the payload: who published what) and ms (when)
 *   P c:ROOM    the channel every publish to ROOM is announced on, as
 *               "SEQ:EPOCH:PAYLOAD"
 *   P d:ROOM\nUSER\nID  a client message id's seq (a resend is not
 *               stamped again)
 *   P s:SID     hash {n: nonce, d: the session, packed}: detached
 *   P su:USER   set of the user's detached session ids
 *   P pr:ROOM:NODE  hash user -> "CONNS INFO": who is present via NODE
 *   P pn:ROOM   set of nodes with presence in ROOM
 *   P nr:NODE   set of the rooms NODE has presence in (per shard)
 *   P uc:USER   hash node -> connections of USER on NODE
 *   P node:NODE the node's heartbeat (JSON), on every shard, with a TTL
 *   P nodes     sorted set of nodes by heartbeat expiry, on shard 0
 *   P k:NODE    NODE's keepalive channel (sv_redis.h)
 * Every key has a TTL, refreshed while it is in use, so what a dead node
 * or a forgotten room leaves expires.
 */
#ifndef WSD_SV_RENG_H
#define WSD_SV_RENG_H

#include <ev.h>
#include <stdint.h>
#include <uthash.h>

#include "sv_config.h"
#include "sv_engine.h"
#include "sv_redis.h"

#define RENG_KEY_MAX 768
#define RENG_NODE_MAX 160 /* node_id "/" boot nonce */

struct rwref; /* a prepare waiting on a room */

/* A room this node hears (or is making ready to). */
struct rroom {
	char *name;
	size_t len;
	int shard;
	uint32_t watchers; /* this node's members */
	int sub;	   /* 0: not subscribed, 1: asked, 2: confirmed */
	int live;	   /* the mirror holds the room as Redis has it */
	int reading;	   /* a history read in flight */
	int again;	   /* heard something meanwhile: read once more */
	uint64_t idle_ms;  /* watchers 0 since */
	struct rwref *waits;
	UT_hash_handle hh;
};

/* A user's connections this node counts in Redis (admitted, not yet
 * released), to write again after a lost link. */
struct ucount {
	char *user;
	uint32_t n;
	UT_hash_handle hh;
};

struct reng {
	struct sv_engine *self;
	struct sv_engine mirror; /* a memory engine: the rooms heard, and
				    this node's presence */
	struct sv_redis *redis;
	struct ev_loop *loop;
	char prefix[65];
	size_t plen;
	char node[RENG_NODE_MAX]; /* this node's instance: id/boot */
	char node_id[129];	  /* as configured, or HOST:PORT */
	char listen[256];	  /* for the node list */
	struct sv_eng_limits lim;
	uint64_t node_ttl_ms;
	struct rroom *rooms;
	struct ucount *ucounts;
	int dirty;   /* a link was lost: the state is to be written anew */
	int closing; /* reng_close has begun */
	char keepalive[RENG_KEY_MAX]; /* the node's keepalive channel */
	ev_timer beat;
	/* counters */
	uint64_t gaps_filled, gaps_lost, epoch_changes, unavailable;
	uint64_t sessions_put_failed;
	/* what the last heartbeat told (sv_rnode.c) */
	uint64_t conns, users;
};

/* A key: the prefix, kind ("m:"), then the name. Returns its length, or
 * 0 when it does not fit. */
size_t reng_key(const struct reng *x, char *buf, const char *kind,
		const char *name, size_t len);

/* The shard of a room, a user. */
int reng_shard(const struct reng *x, const char *name, size_t len);

/* Sessions (sv_rsess.c). */
int reng_session_put(struct sv_engine *e, struct sv_sess *s);
void reng_session_take(struct sv_engine *e,
		       const uint8_t id[SV_SESSION_ID_BYTES], uint64_t nonce,
		       const char *user, sv_eng_take_fn cb, void *arg);
uint32_t reng_session_revoke(struct sv_engine *e, const char *user);
void reng_session_each(struct sv_engine *e, const char *user, uint32_t limit,
		       sv_eng_each_fn cb, void *arg);
/* Put the live sessions now, waiting for Redis (at exit only). */
int reng_sessions_flush(struct reng *x, struct sv_sess *const *live,
			uint32_t nlive);

/* Presence, users' connections and the node list (sv_rnode.c). */
int reng_presence_add(struct sv_engine *e, const char *room, size_t rlen,
		      const char *user, const char *info);
int reng_presence_remove(struct sv_engine *e, const char *room, size_t rlen,
			 const char *user);
void reng_presence_get(struct sv_engine *e, const char *room, size_t rlen,
		       sv_eng_presence_fn cb, void *arg);
void reng_admit(struct sv_engine *e, const char *user, uint64_t limit,
		sv_eng_ready_fn cb, void *arg);
void reng_release(struct sv_engine *e, const char *user);
void reng_nodes(struct sv_engine *e, sv_eng_nodes_fn cb, void *arg);
/* A heartbeat now (also when a shard's links are up again, before any
 * command that counts this node's entries). */
void reng_node_beat(struct reng *x);
/* After a lost link: a new instance name, and the state written anew. */
void reng_node_rewrite(struct reng *x);
void reng_node_start(struct reng *x);
void reng_node_stop(struct reng *x);

#endif
