/*
 * sv.h: the supervisor process: its one state struct.
 *
 * There is one struct sv per process (sv_main.c owns it); every member
 * names the module that owns it. The modules, each with its header, from
 * the bottom up (docs/architecture.md has the layering and what each may
 * call): sv_config, sv_registry, sv_dedupe, sv_token, sv_message,
 * sv_mem (the memory engine) and sv_slot hold data and rules; sv_worker is the
 * worker table and its channels; sv_route routes publishes and subscriptions;
 * sv_session keeps sessions; sv_drain tells clients to go; sv_dispatch
 * handles what workers say; sv_ctl answers wsctl and the admin API;
 * sv_admin is the admin HTTP listener; sv_cycle starts and stops it all,
 * reloads and drains; sv_main is the command line, the loop and the signals.
 */
#ifndef WSD_SV_H
#define WSD_SV_H

#include <ev.h>
#include <stdint.h>
#include <sys/types.h>

#include "../proto/clock.h"
#include "../proto/err.h"
#include "../proto/proto.h"
#include "../proto/version.h"
#include "sv_config.h"
#include "sv_connrate.h"
#include "sv_dedupe.h"
#include "sv_drain.h"
#include "sv_registry.h"
#include "sv_engine.h"
#include "sv_worker.h"

/* WSD_VERSION, the release, is in proto/version.h (wsctl prints it too). */

/* Counters shown by `wsctl stats` and /metrics; each module counts its. */
struct sv_counters {
	uint64_t conns_opened, conns_closed, conns_refused; /* sv_dispatch */
	/* ... and why: each limit, and a drain */
	uint64_t refused_global, refused_user, refused_address,
	    refused_draining;
	uint64_t refused_connect_rate, resumes_over_rate;
	uint64_t publishes, deliveries;			     /* sv_route */
	uint64_t worker_restarts, ipc_drops;		     /* sv_worker */
	uint64_t resumes, resume_failures, sessions_revoked; /* sv_session */
};

struct sv {
	struct ev_loop *loop;	 /* sv_main */
	struct sv_config *cfg;	 /* sv_cycle: the running generation */
	struct sv_overrides ov;	 /* sv_main: the command line's, for reloads */
	struct sv_registry reg;	 /* sv_registry, changed by sv_dispatch */
	struct sv_dedupe dedupe; /* sv_route */
	struct sv_engine eng;	 /* sv_cycle opens it; sv_route, sv_session */
	struct sv_workers workers;   /* sv_worker */
	struct sv_drain drain;	     /* sv_drain */
	struct sv_connrate connrate; /* sv_dispatch: connects a second */
	struct sv_counters stats;
	/* sv_cycle */
	int listen_fd;
	char self_exe[4096];
	uint64_t started_ms;
	int draining;
	int daemon;	     /* started with -d */
	int pidfile_written; /* ours to remove at exit */
	int up;		     /* sv_cycle_start completed */
	int ready_pending;   /* a reload's READY=1 waits for its roll */
	ev_timer sweep_timer, drain_timer, drain_poll, roll_timer,
	    snapshot_timer;
	/* A reload's roll onto a new listener: the slots still to restart,
	 * the one restarting now (-1: none) and its old process. */
	uint64_t roll_mask;
	int roll_slot;
	pid_t roll_pid;
	uint32_t drain_total; /* connections when the drain began */
	uint64_t drain_told0; /* sv->drain.told then (told in worker drains) */
	int drain_stopping;   /* every client told: the workers are stopped */
};

#endif
