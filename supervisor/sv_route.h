/*
 * sv_route.h: room routing in the supervisor: publishes go to the engine
 * (which stamps the seq and logs the message) and then out as one DELIVER
 * per worker with members; subscriptions join the registry, are present
 * in the engine, and replay what a client missed; joins and leaves are
 * announced where the config says so.
 */
#ifndef WSD_SV_ROUTE_H
#define WSD_SV_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../proto/proto.h"
#include "sv_engine.h"
#include "sv_registry.h"

struct sv;

/* A publish completed: rc WSD_OK with its seq and the workers sent to
 * (-1: unknown, the engine delivers apart from completing), WSD_EFULL
 * (room limit), WSD_EAGAIN (the engine is unavailable) or WSD_ENOMEM. */
typedef void (*sv_route_done_fn)(void *arg, int rc, uint64_t seq, int nworkers);

/* A publish: to room, from (a user id, or "server"), data (JSON text,
 * copied), an optional client id and key (NULL: none; the key lets a
 * latest_per_key room replace a queued message of the same key). */
struct sv_route_pub {
	const char *room, *from, *data, *id, *key;
	size_t rlen, fromlen, datalen, idlen, keylen;
	uint64_t exclude;  /* a connection not to deliver to, or 0 */
	const char *trace; /* a checked traceparent (NUL-terminated), or NULL */
};

/* Make this module the engine's delivery (sv_engine.h): once the engine
 * is open. */
void sv_route_attach(struct sv *sv);

/*
 * Publish p to every member of its room but p->exclude. The engine stamps
 * and logs it; then one DELIVER goes to each worker with members (for a
 * personal room, one per connection of its user; for `*`, every worker).
 * done (may be NULL) is called once, maybe before this returns, maybe
 * later (a shared engine): p is copied as needed.
 */
void sv_route_publish(struct sv *sv, const struct sv_route_pub *p,
		      sv_route_done_fn done, void *arg);

/* Deliver data (JSON text) to one connection, outside any room, with a
 * checked traceparent (or NULL). Returns as sv_worker_send, or
 * WSD_ENOMEM. */
int sv_route_direct(struct sv *sv, struct sv_conn *c, const char *data,
		    size_t datalen, const char *trace);

/* Send text as it stands (a whole server message) to one connection. */
int sv_route_text(struct sv *sv, struct sv_conn *c, const char *text,
		  size_t len);

/* Send c an ERROR; ref may be empty; flags PROTO_F_SUB when it refuses a
 * SUB (the worker counts its SUBs in flight). */
void sv_route_error(struct sv *sv, struct sv_conn *c, const char *code,
		    const char *reason, struct proto_str ref, unsigned flags);

/*
 * Join c to room (not a personal room): the registry, the engine's
 * presence (a join announced where configured), within
 * limits.max_rooms_per_conn and limits.max_rooms. Returns WSD_OK,
 * WSD_EEXIST (a member already), or WSD_EFULL / WSD_ENOMEM with *code the
 * error code the client is told ("too_many_rooms", "room_limit",
 * "internal"); nothing changed on an error.
 */
int sv_route_join(struct sv *sv, struct sv_conn *c, const char *room,
		  size_t rlen, const char **code);

/* c is registered and accepted: the engine hears its personal room. */
void sv_route_came(struct sv *sv, struct sv_conn *c);

/* One watcher more (delta 1) or less (-1) of c's personal room: around
 * a change of c's user (a resume). */
void sv_route_personal(struct sv *sv, struct sv_conn *c, int delta);

/* Remove c from every room (presence, leaves announced) and from the
 * engine's counts; the registry unlinks the memberships when c is
 * removed. */
void sv_route_gone(struct sv *sv, struct sv_conn *c);

/* Replayed entries held back until they may be sent (a copy of each). */
struct sv_replay_ent {
	char *room;
	uint64_t seq;
	char *text;
	uint32_t len;
};

struct sv_replay_buf {
	struct sv_replay_ent *v;
	uint32_t n, cap;
};

/* The most entries one subscribe or resume replays at once. */
#define SV_REPLAY_BURST 2048

/* Entries one replay may send: half the client's send queue, at most
 * SV_REPLAY_BURST. Past it, the oldest are sent and recovered is false. */
uint32_t sv_route_replay_budget(const struct sv *sv);

/*
 * Read room's history: its seq, epoch and, with since_given, the entries
 * after since and up to until (UINT64_MAX: all) when epoch (NULL or "":
 * unchecked) is the room's, appended to buf, at most *budget of them
 * (which is lowered by as many). Fills *seq, epoch_out (SV_EPOCH_LEN + 1
 * bytes) and *recovered (false when the budget cut the replay short).
 * Returns WSD_OK, or as the engine's history.
 */
int sv_route_replay(struct sv *sv, const char *room, size_t rlen,
		    int since_given, uint64_t since, const char *epoch,
		    uint64_t until, uint32_t *budget, struct sv_replay_buf *buf,
		    uint64_t *seq, char *epoch_out, int *recovered);

/* Send c what buf holds, in order, as DELIVERs to c; then empty it. */
void sv_route_replay_flush(struct sv *sv, struct sv_conn *c,
			   struct sv_replay_buf *buf);

/* Connection c's SUB, UNSUB, PUBLISH and PRESENCE (c is the sender,
 * found once by the dispatcher). */
void sv_route_sub(struct sv *sv, struct sv_conn *c, const struct proto_msg *m);
void sv_route_unsub(struct sv *sv, struct sv_conn *c,
		    const struct proto_msg *m);
void sv_route_client_publish(struct sv *sv, struct sv_conn *c,
			     const struct proto_msg *m);
void sv_route_presence(struct sv *sv, struct sv_conn *c,
		       const struct proto_msg *m);

/* [{user, info, conns}] of a presence listing (a new JSON array). */
json_t *sv_route_users_json(const struct sv_presence *users, uint32_t n);

/* Does a pattern of list match room? */
int sv_route_pattern(const struct setting_list *list, const char *room);

/* Tell a connection's worker to close it. Returns as sv_worker_send. */
int sv_route_kick(struct sv *sv, struct sv_conn *c, int code,
		  const char *reason);

#endif
