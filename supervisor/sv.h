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
#include "sv_listen.h"
#include "sv_worker.h"

/* WSD_VERSION, the release, is in proto/version.h (wsctl prints it too). */

/* Connections closed are counted by close code, up to SV_CLOSE_CODES
 * distinct codes (the rest together); two pseudo-codes count the
 * connections that went with their worker's process and those a resume
 * took over. */
#define SV_CLOSE_CODES 32
#define SV_CLOSE_WORKER_EXIT 0x10000u
#define SV_CLOSE_REPLACED 0x10001u

struct sv_close_count {
	uint32_t code;
	uint64_t n;
};

/* Counters shown by `wsctl stats` and /metrics; each module counts its. */
struct sv_counters {
	uint64_t conns_opened, conns_closed, conns_refused; /* sv_dispatch */
	/* ... and why: each limit, and a drain */
	uint64_t refused_global, refused_user, refused_address,
	    refused_draining;
	uint64_t refused_connect_rate, resumes_over_rate;
	uint64_t publishes, deliveries; /* sv_route */
	uint64_t publishes_unavailable; /* sv_route: the engine could not */
	uint64_t worker_restarts, ipc_drops;		     /* sv_worker */
	uint64_t resumes, resume_failures, sessions_revoked; /* sv_session */
	/* sv_dispatch and sv_session: conns_closed by code. */
	struct sv_close_count closed_by[SV_CLOSE_CODES];
	uint32_t nclosed_by;
	uint64_t closed_other;
	/* sv_dispatch: the counters of every worker's STATS, added up
	 * (proto/stats.h), and each slot's gauges from its last STATS
	 * (zeroed when its process exits). */
	uint64_t wtot[PROTO_TOT_GAUGES];
	uint64_t wgauge[SV_MAX_WORKERS][PROTO_TOT_END];
};

/* Count n connections closed with code (or a pseudo-code). */
static inline void
sv_count_closed(struct sv_counters *s, uint32_t code, uint64_t n)
{
	uint32_t i;

	for (i = 0; i < s->nclosed_by; i++)
		if (s->closed_by[i].code == code)
			break;
	if (i == s->nclosed_by) {
		if (i == SV_CLOSE_CODES) {
			s->closed_other += n;
			return;
		}
		s->closed_by[i].code = code;
		s->closed_by[i].n = 0;
		s->nclosed_by++;
	}
	s->closed_by[i].n += n;
}

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
	struct sv_listeners listeners; /* the client listeners */
	/* The TLS session ticket keys (hex), current first, and their
	 * rotation. */
	char tickets[2][161];
	ev_timer ticket_timer;
	/* The demo page's token key (hex; proto/jwt.h), drawn at start and
	 * given to every generation; never saved, so a restart ends every
	 * demo token. */
	char demo_key[65];
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
