/*
 * sv.h: the supervisor process: its one state struct and the functions
 * its modules call on each other.
 *
 * There is one struct sv per process (sv_main.c owns it). The modules:
 * sv_worker.c spawns, watches and talks to workers; sv_route.c turns
 * publishes into sequence numbers, replay-log entries and deliveries;
 * sv_ctl.c answers wsctl and the admin API; sv_admin.c is the admin HTTP
 * listener. The registry and config have their own headers.
 */
#ifndef WSD_SV_H
#define WSD_SV_H

#include <ev.h>
#include <jansson.h>
#include <nng/nng.h>
#include <stdint.h>
#include <sys/types.h>

#include "../proto/clock.h"
#include "../proto/proto.h"
#include "sv_config.h"
#include "sv_dedupe.h"
#include "sv_registry.h"

#define WSD_VERSION "0.1.0"

enum sv_worker_state {
	SV_W_EMPTY = 0, /* slot unused (beyond the configured count) */
	SV_W_STARTING,	/* forked, not ready yet */
	SV_W_READY,	/* accepting */
	SV_W_DEAD,	/* exited; a restart is scheduled */
};

struct sv_worker {
	int id;
	enum sv_worker_state state;
	pid_t pid;
	uint32_t epoch; /* spawn number: the high bits of its conn ids */
	uint32_t gen;	/* config generation it last applied */
	uint32_t restarts;
	uint32_t quick_deaths; /* consecutive deaths soon after start */
	uint64_t started_ms;
	nng_socket sock;
	int sock_open;
	ev_io rio;
	ev_timer restart_timer;
	uint64_t ipc_drops; /* messages to it that its queue refused */
};

struct sv_counters {
	uint64_t conns_opened, conns_closed, conns_refused;
	uint64_t publishes, deliveries, worker_restarts, ipc_drops;
};

struct sv {
	struct ev_loop *loop;
	struct sv_config *cfg;
	struct sv_registry reg;
	struct sv_dedupe dedupe;
	struct sv_worker workers[SV_MAX_WORKERS];
	int listen_fd;
	char self_exe[4096];
	uint32_t next_epoch;
	uint64_t started_ms;
	int draining;
	int daemon;		     /* started with -d */
	unsigned char token_key[32]; /* HMAC key of resume tokens */
	struct sv_counters stats;
	ev_timer sweep_timer;
};

/* sv_main.c */
/* Reload the config file. Returns 0 with a summary of the changes in msg,
 * or -1 with the reason (FILE:LINE) while the old generation runs on. */
int sv_reload(struct sv *sv, char *msg, size_t len);
/* Stop accepting, close clients, exit; a second call exits at once. */
void sv_drain_begin(struct sv *sv, double timeout_s);
/* A listening TCP socket on "ADDR:PORT" (non-blocking, CLOEXEC), or -1. */
int sv_listen_open(const char *hostport, int backlog);

/* sv_worker.c */
int sv_workers_start(struct sv *sv);
void sv_workers_stop(struct sv *sv);
/* Encode m and queue it to worker w without blocking. Returns 0 or -1
 * (worker gone or its queue full; counted in ipc_drops). */
int sv_worker_send(struct sv *sv, struct sv_worker *w, struct proto_msg *m);
/* Send the current config generation to every live worker. */
void sv_workers_configure(struct sv *sv);
int sv_workers_ready(const struct sv *sv);

/* sv_route.c */
/*
 * Publish data (JSON text, copied) to a room as from (a user id, or
 * "server"), with an optional client id (NULL: none). Stamps the next
 * seq, logs it and sends one DELIVER per worker with members. Returns the
 * seq, or 0 when memory ran out; *nworkers gets the workers sent to.
 */
uint64_t sv_route_publish(struct sv *sv, struct sv_room *room, const char *from,
			  size_t fromlen, const char *data, size_t datalen,
			  const char *id, size_t idlen, uint64_t exclude,
			  int *nworkers);
/* Deliver data to one connection, outside any room. Returns 0 or -1. */
int sv_route_direct(struct sv *sv, struct sv_conn *c, const char *data,
		    size_t datalen);
/* Handle a worker's SUB, UNSUB or PUBLISH. */
void sv_route_sub(struct sv *sv, struct sv_worker *w,
		  const struct proto_msg *m);
void sv_route_unsub(struct sv *sv, const struct proto_msg *m);
void sv_route_publish_msg(struct sv *sv, struct sv_worker *w,
			  const struct proto_msg *m);
/* Tell a connection's worker to close it. Returns 0 or -1. */
int sv_route_kick(struct sv *sv, struct sv_conn *c, int code,
		  const char *reason);

/* sv_ctl.c */
int sv_ctl_start(struct sv *sv);
void sv_ctl_stop(struct sv *sv);
/* Run one command; returns a new JSON reply object (caller decrefs). */
json_t *sv_ctl_run(struct sv *sv, const json_t *req);

/* sv_admin.c */
int sv_admin_start(struct sv *sv);
void sv_admin_stop(struct sv *sv);

#endif
