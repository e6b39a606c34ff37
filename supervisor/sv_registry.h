/*
 * sv_registry.h: the authoritative registry of connections, users and
 * rooms, owned by the supervisor.
 *
 * A connection is indexed by id (hash), by user (a list per user), by
 * worker (a list per worker slot) and by room (a membership node that sits
 * in both the room's member list and the connection's room list). Removing
 * a connection unlinks it from every index in time proportional to its own
 * rooms, never to the size of the registry. Rooms carry their sequence
 * number, a per-worker member count (so a publish goes to exactly the
 * workers with members) and a bounded replay log.
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

struct sv_conn;
struct sv_room;

struct sv_member {
	struct sv_room *room;
	struct sv_conn *conn;
	TAILQ_ENTRY(sv_member) in_room;
	LIST_ENTRY(sv_member) in_conn;
};

struct sv_user {
	char *name;
	uint32_t nconns;
	TAILQ_HEAD(, sv_conn) conns;
	UT_hash_handle hh;
};

struct sv_conn {
	uint64_t id;
	int worker;
	struct sv_user *user;
	char *agent;
	char addr[64];
	char session[40];
	int anonymous;
	uint64_t connected_ms;
	uint64_t last_seen_ms;
	uint64_t queue_bytes, queue_msgs, drops, msgs_in, msgs_out;
	uint32_t nrooms;
	LIST_HEAD(, sv_member) rooms;
	TAILQ_ENTRY(sv_conn) by_user;
	TAILQ_ENTRY(sv_conn) by_worker;
	UT_hash_handle hh;
};

/* One entry of a room's replay log: the exact text sent to clients. */
struct sv_logent {
	uint64_t seq;
	char *payload;
	uint32_t len;
};

struct sv_room {
	char *name;
	uint64_t seq;
	uint64_t last_used_ms;
	uint32_t nmembers;
	uint32_t nper_worker; /* entries in per_worker */
	uint32_t *per_worker; /* members on each worker slot, grown on join */
	TAILQ_HEAD(, sv_member) members;
	/* Ring of the last messages, grown on demand up to log_max. */
	struct sv_logent *log;
	uint32_t log_max, log_cap, log_len, log_head;
	UT_hash_handle hh;
};

struct sv_registry {
	struct sv_conn *conns; /* uthash by id */
	struct sv_user *users; /* uthash by name */
	struct sv_room *rooms; /* uthash by name */
	uint32_t nconns;
	uint32_t log_cap; /* replay log size for new rooms */
	uint32_t per_worker[SV_MAX_WORKERS];
	TAILQ_HEAD(, sv_conn) by_worker[SV_MAX_WORKERS];
};

void sv_registry_init(struct sv_registry *r, uint32_t log_cap);

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

/* Remove a connection from every index and free it; c is invalid after. */
void sv_reg_conn_remove(struct sv_registry *r, struct sv_conn *c);

/* Remove every connection of a worker slot; returns how many. */
uint32_t sv_reg_worker_clear(struct sv_registry *r, int worker);

struct sv_user *sv_reg_user_find(struct sv_registry *r, const char *name,
				 size_t len);

/* The user whose personal room is name (a C string), or NULL: not a
 * personal room, or the user has no connection. */
struct sv_user *sv_reg_room_user(struct sv_registry *r, const char *name);

/* Find a room; with create, make it (seq 0) when missing. NULL: no memory
 * or (without create) no such room. */
struct sv_room *sv_reg_room_get(struct sv_registry *r, const char *name,
				size_t len, int create);

/* Members of room on worker slot w. */
uint32_t sv_reg_room_on_worker(const struct sv_room *room, int w);

/* Join c to room. Returns WSD_OK, WSD_EEXIST (already a member) or
 * WSD_ENOMEM (nothing changed). */
int sv_reg_join(struct sv_registry *r, struct sv_conn *c, struct sv_room *room);

/* Remove c from room. Returns WSD_OK or WSD_ENOENT (not a member). */
int sv_reg_leave(struct sv_registry *r, struct sv_conn *c,
		 struct sv_room *room);

/* The seq the room's next publish gets: the registry alone decides it. */
uint64_t sv_reg_room_next_seq(const struct sv_room *room);

/* The oldest seq the room's replay log still holds (its next seq when the
 * log is empty). */
uint64_t sv_reg_room_first_seq(const struct sv_room *room);

/*
 * Stamp the room's next sequence number and append payload (taken over:
 * the registry frees it when it falls out of the log) to the replay log.
 * Returns the new seq (the one sv_reg_room_next_seq gave).
 */
uint64_t sv_reg_room_append(struct sv_room *room, char *payload, uint32_t len,
			    uint64_t now_ms);

/* The log entry holding seq, or NULL when seq is outside the log. */
const struct sv_logent *sv_reg_room_log(const struct sv_room *room,
					uint64_t seq);

/*
 * Free rooms with no members that were last used before cutoff_ms.
 * Returns how many were freed.
 */
uint32_t sv_reg_room_sweep(struct sv_registry *r, uint64_t cutoff_ms);

#endif
