/*
 * sv_registry.h: the authoritative registry of connections, users and
 * rooms, owned by the supervisor.
 *
 * A connection is indexed by id (hash), by user (a list per user), by
 * worker (a list per worker slot) and by room (a membership node that sits
 * in both the room's member list and the connection's room list). Removing
 * a connection unlinks it from every index in time proportional to its own
 * rooms, never to the size of the registry. A room here is its members
 * only, with a per-worker member count (so a publish goes to exactly the
 * workers with members); it is freed when its last member leaves. Seqs,
 * epochs and replay logs are the engine's (sv_engine.h). A personal room
 * `user:ID` has no entry: its members are the user's connections.
 *
 * A connection carries its attached session: the session id, the nonce
 * of its one valid resume token, when the session began, and the info
 * of the client's token.
 */
#ifndef WSD_SV_REGISTRY_H
#define WSD_SV_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "../proto/queue.h"
#include <uthash.h>

#include "../proto/err.h"
#include "../proto/room.h"
#include "sv_config.h"
#include "sv_token.h"

struct sv_conn;
struct sv_room;

struct sv_member {
	struct sv_room *room;
	struct sv_conn *conn;
	TAILQ_ENTRY(sv_member) in_room;
	LIST_ENTRY(sv_member) in_conn;
};

/* A connection in SV_REG_INDEX_AT rooms or more finds its membership of
 * a room through a hash (by room), so that a join or leave costs O(1)
 * however many rooms it is in; below, a scan of its few rooms is
 * cheaper than the hash's memory. */
#define SV_REG_INDEX_AT 16

struct sv_member_ix {
	const struct sv_room *room;
	struct sv_member *m;
	UT_hash_handle hh;
};

struct sv_user {
	char *name;
	uint32_t nconns;
	TAILQ_HEAD(, sv_conn) conns;
	UT_hash_handle hh;
};

/* A client address (the IP, without the port) and its connections. */
struct sv_ipent {
	char *ip;
	uint32_t nconns;
	UT_hash_handle hh;
};

/* A message of a connection's worker held back (sv_dispatch.c) while an
 * engine operation of the connection is in flight: its encoding. */
struct sv_held {
	struct sv_held *next;
	size_t len;
	char buf[];
};

struct sv_conn {
	uint64_t id;
	int worker;
	uint32_t nrooms;
	struct sv_user *user;
	struct sv_ipent *ip;
	char *agent;
	char addr[64];
	char *info;  /* the token's info claim (JSON text), or NULL */
	char *trace; /* the upgrade's traceparent (proto/trace.h), or NULL */
	uint8_t sid[SV_SESSION_ID_BYTES];
	uint64_t nonce;
	uint64_t session_ms; /* when the session began */
	/* A user from a token: its personal room's seq at admission (what
	 * came after went to this connection live). */
	uint64_t admit_personal_seq;
	/* After a resume, the token nonce before it: still good until the
	 * worker says it sent `resumed` (RESUMED_ACK). */
	uint64_t prev_nonce;
	unsigned anonymous : 1;
	unsigned sse : 1;     /* an event stream, not a WebSocket */
	unsigned revoked : 1; /* not kept when it goes */
	unsigned taken : 1;   /* a resume took its session over: not kept */
	unsigned resume_unconfirmed : 1; /* resumed, not known to be sent */
	unsigned drain_queued : 1;	 /* sv_drain.c: to be told to go */
	/* sv_dispatch.c: an engine operation of it is in flight (its
	 * admission, a subscribe, a resume); what its worker sends
	 * meanwhile waits in held, in order (the registry frees it). */
	unsigned busy : 1;
	unsigned admitting : 1; /* not accepted yet */
	unsigned counted : 1;	/* in the engine's count of its user */
	uint32_t nheld;
	struct sv_held *held; /* the last held; a ring: its next is the first */
	uint64_t connected_ms;
	uint64_t last_seen_ms;
	uint64_t queue_bytes, queue_msgs, drops, msgs_in, msgs_out;
	/* From STATS too: the last ping's round trip, whether it is paused
	 * (`flow`), and the message rates since the STATS before. */
	uint32_t rtt_us;
	unsigned paused : 1;
	float rate_in, rate_out; /* messages a second */
	uint64_t stats_ms;	 /* when the last STATS came */
	LIST_HEAD(, sv_member) rooms;
	struct sv_member_ix *rooms_ix; /* see SV_REG_INDEX_AT; or NULL */
	TAILQ_ENTRY(sv_conn) by_user;
	TAILQ_ENTRY(sv_conn) by_worker;
	UT_hash_handle hh;
};

struct sv_room {
	char *name;
	uint32_t nmembers;
	uint32_t nper_worker; /* entries in per_worker */
	uint32_t *per_worker; /* members on each worker slot, grown on join */
	TAILQ_HEAD(, sv_member) members;
	UT_hash_handle hh;
};

struct sv_registry {
	struct sv_conn *conns; /* uthash by id */
	struct sv_user *users; /* uthash by name */
	struct sv_ipent *ips;  /* uthash by address */
	struct sv_room *rooms; /* uthash by name */
	uint32_t nconns, nrooms;
	uint32_t per_worker[SV_MAX_WORKERS];
	TAILQ_HEAD(, sv_conn) by_worker[SV_MAX_WORKERS];
};

/* The IP part of an address "IP:PORT" or "[IP]:PORT": its start and
 * length in *len. */
const char *sv_reg_addr_ip(const char *addr, size_t alen, size_t *len);

/* How many connections come from the IP of addr ("IP:PORT"). */
uint32_t sv_reg_addr_count(struct sv_registry *r, const char *addr,
			   size_t alen);

void sv_registry_init(struct sv_registry *r);

/* Free every connection, user and room. */
void sv_registry_fini(struct sv_registry *r);

/*
 * Add a connection. user, addr and agent are copied. Returns the entry, or
 * NULL when the id is taken or memory ran out (registry unchanged).
 */
struct sv_conn *sv_reg_conn_add(struct sv_registry *r, uint64_t id, int worker,
				const char *user, size_t ulen, const char *addr,
				size_t alen, const char *agent, size_t aglen,
				int anonymous, uint64_t now_ms);

struct sv_conn *sv_reg_conn_find(struct sv_registry *r, uint64_t id);

/* Move c to user (a resumed anonymous session takes its old user id).
 * Returns WSD_OK or WSD_ENOMEM (c unchanged). */
int sv_reg_conn_set_user(struct sv_registry *r, struct sv_conn *c,
			 const char *user, size_t ulen);

/* Remove a connection from every index and free it; c is invalid after. */
void sv_reg_conn_remove(struct sv_registry *r, struct sv_conn *c);

/* Remove every connection of a worker slot, each shown first to leaving
 * (may be NULL; it must not remove the connection); returns how many. */
uint32_t sv_reg_worker_clear(struct sv_registry *r, int worker,
			     void (*leaving)(void *arg, struct sv_conn *c),
			     void *arg);

struct sv_user *sv_reg_user_find(struct sv_registry *r, const char *name,
				 size_t len);

/* The user whose personal room is name (a C string), or NULL: not a
 * personal room, or the user has no connection. */
struct sv_user *sv_reg_room_user(struct sv_registry *r, const char *name);

/* Find a room; with create, make it when missing (a room with no member
 * is freed again by sv_reg_leave or sv_reg_room_drop). NULL: no memory
 * or (without create) no such room. */
struct sv_room *sv_reg_room_get(struct sv_registry *r, const char *name,
				size_t len, int create);

/* Free room if it has no member (a join that failed after the get). */
void sv_reg_room_drop(struct sv_registry *r, struct sv_room *room);

/* Is c a member of room? */
int sv_reg_is_member(struct sv_conn *c, struct sv_room *room);

/* Members of room on worker slot w. */
uint32_t sv_reg_room_on_worker(const struct sv_room *room, int w);

/* Join c to room. Returns WSD_OK, WSD_EEXIST (already a member) or
 * WSD_ENOMEM (nothing changed). */
int sv_reg_join(struct sv_registry *r, struct sv_conn *c, struct sv_room *room);

/* Remove c from room; the room is freed with its last member (room is
 * invalid then). Returns WSD_OK or WSD_ENOENT (not a member). */
int sv_reg_leave(struct sv_registry *r, struct sv_conn *c,
		 struct sv_room *room);

#endif
