/*
 * sv_worker.h: the worker table: one slot per worker id, the worker
 * process in it, and the IPC channel to that process.
 *
 * A slot's state changes in one place, sv_worker.c's event function, by
 * the rules of sv_slot.h, which the table carries out: it spawns (fork, then
 * exec of our own binary in worker mode, so the child starts clean of the
 * supervisor's nng threads), signals, reaps and restarts workers. Each
 * worker gets a private nng pair channel in the run directory and its
 * CONFIG as soon as it is spawned. The table is a transport: every message
 * a worker sends is decoded, checked against the worker's id, and handed
 * to the callback given at sv_workers_init; it knows no message handler by
 * name. A malformed message is a bug in the worker: the worker is killed
 * (and restarted).
 */
#ifndef WSD_SV_WORKER_H
#define WSD_SV_WORKER_H

#include <ev.h>
#include <nng/nng.h>
#include <stdint.h>
#include <sys/types.h>

#include "../proto/proto.h"
#include "../proto/queue.h"
#include "sv_config.h"
#include "sv_slot.h"

struct sv;
struct sv_worker;

#define SV_OUTBOX_MAX_BYTES (256ull << 20) /* waiting for one worker */
#define SV_OUTBOX_DEADLINE_MS 10000	   /* taking nothing this long: stuck */

struct sv_outmsg {
	STAILQ_ENTRY(sv_outmsg) link;
	nng_msg *msg;
};

/* A message from worker w, decoded and checked; m is valid for the call. */
typedef void sv_worker_msg_fn(struct sv *sv, struct sv_worker *w,
			      const struct proto_msg *m);
/* Worker w's process is gone; returns how many connections went with it
 * (for the log line). */
typedef uint32_t sv_worker_exit_fn(struct sv *sv, struct sv_worker *w);

struct sv_worker {
	int id;
	enum sv_slot_state state;
	pid_t pid;	/* 0 when no process runs */
	uint32_t epoch; /* spawn number: the high bits of its conn ids */
	uint32_t gen;	/* config generation it last applied */
	uint32_t restarts;
	/* Messages dropped in this slot, across its processes: its clients'
	 * (as their STATS report them) and IPC messages meant for it. */
	uint64_t drops;
	uint32_t young;	 /* consecutive deaths soon after start */
	int last_status; /* wait status of its last exit, -1: none yet */
	uint64_t started_ms;
	uint64_t lived_ms; /* how long its last process ran */
	nng_socket sock;
	int sock_open;
	ev_io rio;
	ev_timer timer;			   /* the restart timer */
	uint64_t exits[SV_SLOT_EXITS_MAX]; /* recent unexpected exits */
	uint32_t nexits;
	int crash_loop; /* FAILED for crashing, not for exit status 100 */
	int draining;	/* its process said DRAINING: admit no more to it */
	/* What nng's queue to it refused, in order, sent first once it can
	 * take more: nothing for a worker is dropped. */
	STAILQ_HEAD(, sv_outmsg) outbox;
	uint32_t outbox_len;
	uint64_t outbox_bytes;
	uint64_t outbox_since; /* when the oldest waiting message was queued */
};

struct sv_workers {
	struct sv_worker slot[SV_MAX_WORKERS];
	uint32_t next_epoch;
	ev_child child;
	ev_timer outbox_timer; /* flushes the outboxes while any is full */
	uint64_t stuck;	       /* workers killed for not taking messages */
	sv_worker_msg_fn *on_msg;
	sv_worker_exit_fn *on_exit;
};

/*
 * Set up the table (every slot STOPPED) and watch for exiting children;
 * messages go to on_msg, exits to on_exit. Start workers with
 * sv_workers_want. Returns WSD_OK.
 */
int sv_workers_init(struct sv *sv, sv_worker_msg_fn *on_msg,
		    sv_worker_exit_fn *on_exit);

/*
 * Stop every worker and reap it, here and now: SIGQUIT (close every
 * connection with 1001 and exit), up to 5 s, then SIGKILL. For the end of
 * the process, when the loop no longer runs.
 */
void sv_workers_fini(struct sv *sv);

/* Worker w applied config generation gen (it said READY). */
void sv_worker_ready(struct sv *sv, struct sv_worker *w, uint32_t gen);

/* Worker w said it is draining (it got SIGTERM): it is admitted no new
 * connection (w->draining); with replace, the slot starts a new worker
 * once it exits (and the exit is no crash); without, the slot stops. */
void sv_worker_draining(struct sv *sv, struct sv_worker *w, int replace);

/* Kill worker w now: it broke the protocol. It is restarted. */
void sv_worker_kill(struct sv *sv, struct sv_worker *w, const char *why);

/* Start slots 0..n-1 and stop the others (n = 0 stops all). */
void sv_workers_want(struct sv *sv, int n);

/*
 * Encode m and queue it to worker w without blocking; m->worker and m->gen
 * are filled in. When nng's queue to w is full, m waits in w's outbox,
 * in order, and goes as soon as w takes more. A worker that takes nothing
 * for SV_OUTBOX_DEADLINE_MS, or whose outbox outgrows SV_OUTBOX_MAX_BYTES,
 * is stuck: it is killed and restarted (its clients resume; their rooms'
 * messages are in the replay logs), and what waited for it is dropped
 * with it, logged. Returns WSD_OK, WSD_ECLOSED (no worker process or
 * channel in the slot), WSD_EFULL (w was just found stuck), WSD_ENOMEM
 * or WSD_EINVAL (m does not encode).
 */
int sv_worker_send(struct sv *sv, struct sv_worker *w, struct proto_msg *m);

/* Restart slot w (also one FAILED): its crash record is forgotten, a
 * running worker is stopped and started again. */
void sv_worker_restart(struct sv *sv, struct sv_worker *w);

/* Is any slot FAILED? */
int sv_workers_degraded(struct sv *sv);

/* Send the current config generation to every worker that has a channel. */
void sv_workers_configure(struct sv *sv);

/* Tell every worker that has a channel to open log_file again. */
void sv_workers_reopen_log(struct sv *sv);

/* Does w take messages (a process runs and its channel is open)? A
 * stopping worker does, until its connections are closed. */
int sv_worker_up(const struct sv_worker *w);

/* Slot id, or NULL when id is out of range. */
struct sv_worker *sv_worker_get(struct sv *sv, int id);

/* How many slots are READY. */
int sv_workers_ready(const struct sv *sv);

/* How many worker processes are alive. */
int sv_workers_running(const struct sv *sv);

#endif
