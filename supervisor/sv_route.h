/*
 * sv_route.h: room routing in the supervisor: publishes become sequence
 * numbers, replay-log entries and one DELIVER per worker with members;
 * subscriptions join the registry and replay what a client missed.
 */
#ifndef WSD_SV_ROUTE_H
#define WSD_SV_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "../proto/proto.h"
#include "sv_registry.h"

struct sv;

/*
 * Publish data (JSON text, copied) to a room as from (a user id, or
 * "server"), with an optional client id (NULL: none). Stamps the room's
 * next seq, logs it and sends one DELIVER per worker with members (or, for
 * a personal room, one per connection of its user). Returns the seq, or 0
 * when memory ran out or the message is over the IPC limit (nothing
 * published); *nworkers (may be NULL) gets the workers sent to.
 */
uint64_t sv_route_publish(struct sv *sv, struct sv_room *room, const char *from,
			  size_t fromlen, const char *data, size_t datalen,
			  const char *id, size_t idlen, uint64_t exclude,
			  int *nworkers);

/* Deliver data (JSON text) to one connection, outside any room. Returns
 * as sv_worker_send, or WSD_ENOMEM. */
int sv_route_direct(struct sv *sv, struct sv_conn *c, const char *data,
		    size_t datalen);

/* Connection c's SUB, UNSUB and PUBLISH (c is the sender, found once by
 * the dispatcher). */
void sv_route_sub(struct sv *sv, struct sv_conn *c, const struct proto_msg *m);
void sv_route_unsub(struct sv *sv, struct sv_conn *c,
		    const struct proto_msg *m);
void sv_route_client_publish(struct sv *sv, struct sv_conn *c,
			     const struct proto_msg *m);

/* Tell a connection's worker to close it. Returns as sv_worker_send. */
int sv_route_kick(struct sv *sv, struct sv_conn *c, int code,
		  const char *reason);

#endif
