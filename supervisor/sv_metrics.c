/*
 * sv_metrics.c: what GET /metrics shows, in the Prometheus text format
 * (written by sv_prom.c). It owns the list of families: their names,
 * types, labels and help, and where each value comes from.
 *
 * A scrape must stay cheap with 100,000 connections, so nothing here
 * walks the connections or the rooms: the registry keeps its counts as
 * it changes (connections in all and per worker, users, rooms with
 * members), the engine its own (sv_engine.h's stats), the workers send
 * their totals in STATS once a second (proto/stats.h: counters as
 * increments, added up in sv_dispatch.c; gauges and the send queue
 * depth histogram as they stand), and the processes' CPU time and
 * memory are read from /proc/PID/stat and /proc/PID/statm, two small
 * files per process. The supervisor's open descriptors are counted in
 * /proc/self/fd (it holds no client socket, so the list is short); each
 * worker's come in its STATS.
 */
#include "sv_metrics.h"

#include "sv.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../proto/stats.h"
#include "sv_prom.h"

/* A worker slot's id as a label value. */
struct wlabel {
	char id[12];
};

/* Two samples of name that differ in one label (label=a, label=b). */
static void
two_samples(struct sv_prom *p, const char *name, const char *label,
	    const char *a, uint64_t va, const char *b, uint64_t vb)
{
	const char *la[] = {label, a, NULL};
	const char *lb[] = {label, b, NULL};

	sv_prom_u64(p, name, la, va);
	sv_prom_u64(p, name, lb, vb);
}

static struct wlabel
wlabel(int id)
{
	struct wlabel l;

	snprintf(l.id, sizeof(l.id), "%d", id);
	return l;
}

/* Is slot i shown: configured, or still running something? */
static int
shown(struct sv *sv, int i)
{
	struct sv_worker *w = sv_worker_get(sv, i);

	return w != NULL &&
	       (i < sv->cfg->workers || w->state != SV_SLOT_STOPPED);
}

/* CPU seconds (user and system) and resident bytes of pid (0: this
 * process) from /proc; returns 0, or -1 when the process is gone. */
static int
proc_usage(pid_t pid, double *cpu, uint64_t *rss)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0, size = 0, res = 0;
	FILE *f;
	size_t n;

	if (pid == 0)
		snprintf(path, sizeof(path), "/proc/self/stat");
	else
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: fields are
	 * counted from the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1,
		   " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
		   &st) != 2)
		return -1;
	*cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	if (pid == 0)
		snprintf(path, sizeof(path), "/proc/self/statm");
	else
		snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fscanf(f, "%lu %lu", &size, &res) != 2)
		res = 0;
	fclose(f);
	*rss = (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
	return 0;
}

static uint64_t
self_fds(void)
{
	struct dirent *e;
	uint64_t n = 0;
	DIR *d;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0; /* the directory's own */
}

/* One process_* family: the supervisor's value without a label, then each
 * running worker's with its slot; from f (CPU seconds) or else u. */
static void
per_process(struct sv_prom *p, const char *name, const char *type,
	    const char *help, const int *up, const double *f, const uint64_t *u)
{
	int i;

	sv_prom_family(p, name, type, help);
	for (i = 0; i <= SV_MAX_WORKERS; i++) {
		struct wlabel l = wlabel(i - 1);
		const char *lab[] = {"worker", l.id, NULL};

		if (!up[i])
			continue;
		if (f != NULL)
			sv_prom_f64(p, name, i ? lab : NULL, f[i]);
		else
			sv_prom_u64(p, name, i ? lab : NULL, u[i]);
	}
}

static void
processes(struct sv *sv, struct sv_prom *p)
{
	double cpu[SV_MAX_WORKERS + 1];
	uint64_t rss[SV_MAX_WORKERS + 1], fds[SV_MAX_WORKERS + 1];
	int up[SV_MAX_WORKERS + 1], i;

	memset(up, 0, sizeof(up));
	up[0] = proc_usage(0, &cpu[0], &rss[0]) == 0;
	fds[0] = self_fds();
	for (i = 0; i < SV_MAX_WORKERS; i++) {
		struct sv_worker *w = sv_worker_get(sv, i);

		up[i + 1] = w->pid > 0 &&
			    proc_usage(w->pid, &cpu[i + 1], &rss[i + 1]) == 0;
		fds[i + 1] = sv->stats.wgauge[i][PROTO_TOT_FDS];
	}
	per_process(p, "process_cpu_seconds_total", "counter",
		    "User and system CPU time of the supervisor (no label) "
		    "and of each worker process.",
		    up, cpu, NULL);
	per_process(p, "process_resident_memory_bytes", "gauge",
		    "Resident memory of the supervisor (no label) and of "
		    "each worker process.",
		    up, NULL, rss);
	/* The supervisor's is counted even when /proc/self/stat was not read.
	 */
	up[0] = 1;
	per_process(p, "process_open_fds", "gauge",
		    "Open file descriptors of the supervisor (no label) and "
		    "of each worker (from its last STATS: its connections "
		    "and the descriptors counted while it had few).",
		    up, NULL, fds);
}

static void
connections(struct sv *sv, struct sv_prom *p)
{
	const struct sv_counters *s = &sv->stats;
	char code[16];
	uint32_t i;
	int w;

	sv_prom_family(p, "wsd_connections", "gauge",
		       "Connections admitted and open, on every worker.");
	sv_prom_u64(p, "wsd_connections", NULL, sv->reg.nconns);
	sv_prom_family(p, "wsd_worker_connections", "gauge",
		       "Connections admitted and open, by worker.");
	for (w = 0; w < SV_MAX_WORKERS; w++) {
		struct wlabel l = wlabel(w);
		const char *lab[] = {"worker", l.id, NULL};

		if (shown(sv, w))
			sv_prom_u64(p, "wsd_worker_connections", lab,
				    sv->reg.per_worker[w]);
	}
	sv_prom_family(p, "wsd_connections_opened_total", "counter",
		       "Connections admitted.");
	sv_prom_u64(p, "wsd_connections_opened_total", NULL, s->conns_opened);
	sv_prom_family(
	    p, "wsd_connections_closed_total", "counter",
	    "Connections gone, by the close code the worker reported "
	    "(none: no close code; worker_exit: went with their "
	    "worker's process; replaced: taken over by a resume; "
	    "other: beyond the codes counted apart).");
	for (i = 0; i < s->nclosed_by; i++) {
		const char *lab[] = {"code", code, NULL};

		if (s->closed_by[i].code == SV_CLOSE_WORKER_EXIT)
			snprintf(code, sizeof(code), "worker_exit");
		else if (s->closed_by[i].code == SV_CLOSE_REPLACED)
			snprintf(code, sizeof(code), "replaced");
		else if (s->closed_by[i].code == 0)
			snprintf(code, sizeof(code), "none");
		else
			snprintf(code, sizeof(code), "%u",
				 s->closed_by[i].code);
		sv_prom_u64(p, "wsd_connections_closed_total", lab,
			    s->closed_by[i].n);
	}
	if (s->closed_other > 0) {
		const char *lab[] = {"code", "other", NULL};

		sv_prom_u64(p, "wsd_connections_closed_total", lab,
			    s->closed_other);
	}
	sv_prom_family(p, "wsd_connections_refused_total", "counter",
		       "Connections the supervisor refused at admission.");
	sv_prom_u64(p, "wsd_connections_refused_total", NULL, s->conns_refused);
	sv_prom_family(p, "wsd_connections_refused_by_total", "counter",
		       "Connections the supervisor refused at admission, by "
		       "reason.");
	{
		static const char *const why[] = {"max_connections", "per_user",
						  "per_address", "draining",
						  "connect_rate"};
		uint64_t v[] = {s->refused_global, s->refused_user,
				s->refused_address, s->refused_draining,
				s->refused_connect_rate};

		for (i = 0; i < 5; i++) {
			const char *lab[] = {"reason", why[i], NULL};

			sv_prom_u64(p, "wsd_connections_refused_by_total", lab,
				    v[i]);
		}
	}
	sv_prom_family(p, "wsd_handshakes_refused_total", "counter",
		       "WebSocket handshakes answered with an HTTP error by "
		       "the workers, by status (the supervisor's refusals "
		       "included).");
	for (i = 0; i <= STATS_REFUSED_N; i++) {
		char st[8];
		const char *lab[] = {"status", st, NULL};

		if (i < STATS_REFUSED_N)
			snprintf(st, sizeof(st), "%u", stats_refused_status[i]);
		else
			snprintf(st, sizeof(st), "other");
		sv_prom_u64(p, "wsd_handshakes_refused_total", lab,
			    s->wtot[PROTO_TOT_REFUSED + i]);
	}
	sv_prom_family(p, "wsd_tls_handshakes_total", "counter",
		       "TLS handshakes completed on the TLS listeners, full "
		       "or resumed (a session ticket or the session cache).");
	two_samples(p, "wsd_tls_handshakes_total", "kind", "full",
		    s->wtot[PROTO_TOT_TLS_FULL], "resumed",
		    s->wtot[PROTO_TOT_TLS_RESUMED]);
	sv_prom_family(p, "wsd_tls_handshake_failures_total", "counter",
		       "TLS handshakes that failed, by reason: http_request "
		       "(plain HTTP to a TLS port), protocol_version, "
		       "no_shared_cipher, peer_alert (the client refused us, "
		       "e.g. our certificate), eof, timeout, other.");
	for (i = 0; i < STATS_TLS_FAIL_N; i++) {
		const char *lab[] = {"reason", stats_tls_fail_names[i], NULL};

		sv_prom_u64(p, "wsd_tls_handshake_failures_total", lab,
			    s->wtot[PROTO_TOT_TLS_FAIL + i]);
	}
}

static void
state(struct sv *sv, struct sv_prom *p, const struct sv_eng_stats *es)
{
	const struct sv_counters *s = &sv->stats;

	sv_prom_family(p, "wsd_users", "gauge",
		       "Distinct users with a connection.");
	sv_prom_u64(p, "wsd_users", NULL, HASH_COUNT(sv->reg.users));
	sv_prom_family(
	    p, "wsd_rooms", "gauge",
	    "Rooms the engine keeps (a seq, an epoch, a replay log).");
	sv_prom_u64(p, "wsd_rooms", NULL, es->rooms);
	sv_prom_family(p, "wsd_rooms_with_members", "gauge",
		       "Rooms with at least one subscribed connection.");
	sv_prom_u64(p, "wsd_rooms_with_members", NULL, sv->reg.nrooms);
	sv_prom_family(p, "wsd_sessions", "gauge",
		       "Sessions: connected, or detached and waiting to be "
		       "resumed.");
	{
		const char *c[] = {"state", "connected", NULL};
		const char *d[] = {"state", "detached", NULL};

		sv_prom_u64(p, "wsd_sessions", c, sv->reg.nconns);
		sv_prom_u64(p, "wsd_sessions", d, es->sessions);
	}
	sv_prom_family(p, "wsd_session_bytes", "gauge",
		       "Bytes the detached sessions hold.");
	sv_prom_u64(p, "wsd_session_bytes", NULL, es->session_bytes);
	sv_prom_family(p, "wsd_sessions_evicted_total", "counter",
		       "Detached sessions dropped for the sessions bound.");
	sv_prom_u64(p, "wsd_sessions_evicted_total", NULL,
		    es->sessions_evicted);
	sv_prom_family(p, "wsd_resumes_total", "counter", "Sessions resumed.");
	sv_prom_u64(p, "wsd_resumes_total", NULL, s->resumes);
	sv_prom_family(p, "wsd_resume_failures_total", "counter",
		       "Resumes refused (bad, expired or unknown token).");
	sv_prom_u64(p, "wsd_resume_failures_total", NULL, s->resume_failures);
	sv_prom_family(p, "wsd_resumes_over_rate_total", "counter",
		       "Connections let in over the connect rate because they "
		       "came back with a valid resume token.");
	sv_prom_u64(p, "wsd_resumes_over_rate_total", NULL,
		    s->resumes_over_rate);
	sv_prom_family(p, "wsd_sessions_revoked_total", "counter",
		       "Sessions revoked by an operator.");
	sv_prom_u64(p, "wsd_sessions_revoked_total", NULL, s->sessions_revoked);
	sv_prom_family(p, "wsd_replay_entries", "gauge",
		       "Messages kept in the rooms' replay logs.");
	sv_prom_u64(p, "wsd_replay_entries", NULL, es->replay_entries);
	sv_prom_family(p, "wsd_replay_bytes", "gauge",
		       "Bytes kept in the rooms' replay logs.");
	sv_prom_u64(p, "wsd_replay_bytes", NULL, es->replay_bytes);
	sv_prom_family(p, "wsd_replay_evictions_total", "counter",
		       "Replay log entries dropped for a budget.");
	sv_prom_u64(p, "wsd_replay_evictions_total", NULL,
		    es->replay_evictions);
	sv_prom_family(
	    p, "wsd_room_limit_total", "counter",
	    "Publishes or joins refused for the engine's room bound.");
	sv_prom_u64(p, "wsd_room_limit_total", NULL, es->room_limit_hits);
}

static void
traffic(struct sv *sv, struct sv_prom *p)
{
	const struct sv_counters *s = &sv->stats;
	unsigned i;

	sv_prom_family(p, "wsd_messages_received_total", "counter",
		       "Data messages received from clients.");
	sv_prom_u64(p, "wsd_messages_received_total", NULL,
		    s->wtot[PROTO_TOT_MSGS_IN]);
	sv_prom_family(p, "wsd_messages_sent_total", "counter",
		       "Messages queued for clients (deliveries, replies, "
		       "acks; not echoes, pings or closes).");
	sv_prom_u64(p, "wsd_messages_sent_total", NULL,
		    s->wtot[PROTO_TOT_MSGS_OUT]);
	sv_prom_family(p, "wsd_received_bytes_total", "counter",
		       "Bytes read from client sockets (handshakes and "
		       "framing included).");
	sv_prom_u64(p, "wsd_received_bytes_total", NULL,
		    s->wtot[PROTO_TOT_BYTES_IN]);
	sv_prom_family(p, "wsd_sent_bytes_total", "counter",
		       "Bytes written to client sockets (handshakes and "
		       "framing included).");
	sv_prom_u64(p, "wsd_sent_bytes_total", NULL,
		    s->wtot[PROTO_TOT_BYTES_OUT]);
	sv_prom_family(p, "wsd_publishes_total", "counter",
		       "Messages published to rooms.");
	sv_prom_u64(p, "wsd_publishes_total", NULL, s->publishes);
	sv_prom_family(p, "wsd_ipc_deliveries_total", "counter",
		       "DELIVER messages sent to workers for publishes.");
	sv_prom_u64(p, "wsd_ipc_deliveries_total", NULL, s->deliveries);
	sv_prom_family(p, "wsd_drops_total", "counter",
		       "Messages for clients dropped, by the policy that "
		       "dropped them (the slow-consumer policies; "
		       "worker_queue: a queue closed for "
		       "limits.worker_queue_bytes; close: what was queued when "
		       "a connection was closed for a fault).");
	for (i = 0; i < STATS_POLICIES + 2; i++) {
		const char *name = i < STATS_POLICIES	 ? proto_slow_names[i]
				   : i == STATS_POLICIES ? "worker_queue"
							 : "close";
		const char *lab[] = {"policy", name, NULL};

		sv_prom_u64(p, "wsd_drops_total", lab,
			    s->wtot[PROTO_TOT_DROPS + i]);
	}
	sv_prom_family(p, "wsd_limit_hits_total", "counter",
		       "Times a limit was hit, by limit.");
	{
		static const char *const names[] = {
		    "rate",	   "rate_close",  "max_queue", "worker_queue",
		    "max_message", "ipc_backlog", "global",    "per_user",
		    "per_address", "connect_rate"};
		uint64_t v[] = {s->wtot[PROTO_TOT_LIMIT_RATE],
				s->wtot[PROTO_TOT_LIMIT_RATE_CLOSE],
				s->wtot[PROTO_TOT_LIMIT_MAX_QUEUE],
				s->wtot[PROTO_TOT_LIMIT_WORKER_QUEUE],
				s->wtot[PROTO_TOT_LIMIT_MAX_MESSAGE],
				s->wtot[PROTO_TOT_LIMIT_IPC],
				s->refused_global,
				s->refused_user,
				s->refused_address,
				s->refused_connect_rate};

		for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
			const char *lab[] = {"limit", names[i], NULL};

			sv_prom_u64(p, "wsd_limit_hits_total", lab, v[i]);
		}
	}
	sv_prom_family(p, "wsd_compressed_messages_total", "counter",
		       "Messages with permessage-deflate, by direction: sent "
		       "compressed (each recipient), received compressed.");
	two_samples(p, "wsd_compressed_messages_total", "direction", "out",
		    s->wtot[PROTO_TOT_DEFLATE_OUT], "in",
		    s->wtot[PROTO_TOT_DEFLATE_IN]);
	sv_prom_family(p, "wsd_compression_saved_bytes_total", "counter",
		       "Bytes permessage-deflate saved on the wire, by "
		       "direction: the plain frames' size less the "
		       "compressed frames' sent, the inflated size less the "
		       "compressed size received.");
	two_samples(p, "wsd_compression_saved_bytes_total", "direction", "out",
		    s->wtot[PROTO_TOT_DEFLATE_OUT_SAVED], "in",
		    s->wtot[PROTO_TOT_DEFLATE_IN_SAVED]);
	sv_prom_family(p, "wsd_delivery_latency_seconds", "histogram",
		       "From the supervisor taking a publish to a worker "
		       "writing its last byte to a subscriber's socket, one "
		       "observation per delivery.");
	sv_prom_hist(p, "wsd_delivery_latency_seconds", NULL, stats_lat_us,
		     STATS_LAT_N, 1e6, &s->wtot[PROTO_TOT_LAT],
		     s->wtot[PROTO_TOT_LAT_SUM]);
	sv_prom_family(p, "wsd_pong_round_trip_seconds", "histogram",
		       "From a heartbeat ping to the client's pong.");
	sv_prom_hist(p, "wsd_pong_round_trip_seconds", NULL, stats_lat_us,
		     STATS_LAT_N, 1e6, &s->wtot[PROTO_TOT_RTT],
		     s->wtot[PROTO_TOT_RTT_SUM]);
}

/* One family of the IPC queues, both ways for each worker: messages, or
 * (bytes) their bytes. */
static void
ipc_queue(struct sv *sv, struct sv_prom *p, const char *name, const char *help,
	  int bytes)
{
	int w;

	sv_prom_family(p, name, "gauge", help);
	for (w = 0; w < SV_MAX_WORKERS; w++) {
		struct wlabel l = wlabel(w);
		const char *to_w[] = {"worker", l.id, "direction", "to_worker",
				      NULL};
		const char *to_s[] = {"worker", l.id, "direction",
				      "to_supervisor", NULL};
		const struct sv_worker *wk = sv_worker_get(sv, w);

		if (!shown(sv, w))
			continue;
		sv_prom_u64(p, name, to_w,
			    bytes ? wk->outbox_bytes : wk->outbox_len);
		sv_prom_u64(p, name, to_s,
			    sv->stats.wgauge[w][bytes ? PROTO_TOT_OUTBOX_BYTES
						      : PROTO_TOT_OUTBOX_MSGS]);
	}
}

static void
queues(struct sv *sv, struct sv_prom *p)
{
	uint64_t depth[STATS_QDEPTH_N + 1], sum = 0;
	unsigned i;
	int w;

	memset(depth, 0, sizeof(depth));
	for (w = 0; w < SV_MAX_WORKERS; w++) {
		for (i = 0; i <= STATS_QDEPTH_N; i++)
			depth[i] += sv->stats.wgauge[w][PROTO_TOT_QDEPTH + i];
		sum += sv->stats.wgauge[w][PROTO_TOT_QDEPTH_SUM];
	}
	sv_prom_family(p, "wsd_send_queue_depth", "histogram",
		       "Connections by the messages in their send queue, as "
		       "the workers last reported (a snapshot: buckets go "
		       "down as queues drain).");
	sv_prom_hist(p, "wsd_send_queue_depth", NULL, stats_qdepth,
		     STATS_QDEPTH_N, 1, depth, sum);
	sv_prom_family(p, "wsd_send_queue_bytes", "gauge",
		       "Bytes in every send queue of a worker.");
	for (w = 0; w < SV_MAX_WORKERS; w++) {
		struct wlabel l = wlabel(w);
		const char *lab[] = {"worker", l.id, NULL};

		if (shown(sv, w))
			sv_prom_u64(
			    p, "wsd_send_queue_bytes", lab,
			    sv->stats.wgauge[w][PROTO_TOT_QUEUED_BYTES]);
	}
	ipc_queue(sv, p, "wsd_ipc_queue_messages",
		  "IPC messages waiting because nng's queue was full: in "
		  "the supervisor's outbox to a worker (to_worker) or in "
		  "a worker's outbox to the supervisor (to_supervisor).",
		  0);
	ipc_queue(sv, p, "wsd_ipc_queue_bytes",
		  "Bytes of the IPC messages of wsd_ipc_queue_messages.", 1);
	sv_prom_family(p, "wsd_drain_queue_connections", "gauge",
		       "Connections waiting to be told to go by a drain.");
	sv_prom_u64(p, "wsd_drain_queue_connections", NULL,
		    sv->drain.n - sv->drain.next);
	sv_prom_family(p, "wsd_ipc_drops_total", "counter",
		       "Messages for workers dropped with a stuck worker.");
	sv_prom_u64(p, "wsd_ipc_drops_total", NULL, sv->stats.ipc_drops);
	sv_prom_family(p, "wsd_workers_stuck_total", "counter",
		       "Workers killed for taking no IPC messages.");
	sv_prom_u64(p, "wsd_workers_stuck_total", NULL, sv->workers.stuck);
}

static void
workers(struct sv *sv, struct sv_prom *p)
{
	int w, st;

	sv_prom_family(p, "wsd_workers_ready", "gauge", "Workers ready.");
	sv_prom_u64(p, "wsd_workers_ready", NULL,
		    (uint64_t)sv_workers_ready(sv));
	sv_prom_family(p, "wsd_worker_restarts_total", "counter",
		       "Worker processes started again in their slot.");
	for (w = 0; w < SV_MAX_WORKERS; w++) {
		struct wlabel l = wlabel(w);
		const char *lab[] = {"worker", l.id, NULL};

		if (shown(sv, w))
			sv_prom_u64(p, "wsd_worker_restarts_total", lab,
				    sv_worker_get(sv, w)->restarts);
	}
	sv_prom_family(p, "wsd_worker_state", "gauge",
		       "1 for the state each worker slot is in, 0 for the "
		       "others.");
	for (w = 0; w < SV_MAX_WORKERS; w++) {
		struct wlabel l = wlabel(w);

		if (!shown(sv, w))
			continue;
		for (st = 0; st < SV_SLOT_NSTATES; st++) {
			const char *lab[] = {
			    "worker", l.id, "state",
			    sv_slot_state_name((enum sv_slot_state)st), NULL};

			sv_prom_u64(p, "wsd_worker_state", lab,
				    sv_worker_get(sv, w)->state ==
					(enum sv_slot_state)st);
		}
	}
}

struct links {
	struct sv_eng_link v[16];
	uint32_t n;
};

static void
link_kept(void *arg, const struct sv_eng_link *l)
{
	struct links *x = arg;

	if (x->n < 16)
		x->v[x->n++] = *l;
}

/* The engine, and each link of a shared one by address. */
static void
engine(struct sv *sv, struct sv_prom *p, const struct sv_eng_stats *es)
{
	struct links k = {.n = 0};
	const char *eng[] = {"engine", sv->eng.ops->name, NULL};
	uint32_t i;

	sv_prom_family(p, "wsd_engine_info", "gauge",
		       "The engine in use (label engine: memory or redis).");
	sv_prom_u64(p, "wsd_engine_info", eng, 1);
	sv_prom_family(p, "wsd_publishes_unavailable_total", "counter",
		       "Publishes refused because the engine could not take "
		       "them (error unavailable).");
	sv_prom_u64(p, "wsd_publishes_unavailable_total", NULL,
		    sv->stats.publishes_unavailable);
	sv_prom_family(p, "wsd_engine_gaps_filled_total", "counter",
		       "Messages this node missed live and delivered from the "
		       "room's history in Redis.");
	sv_prom_u64(p, "wsd_engine_gaps_filled_total", NULL, es->gaps_filled);
	sv_prom_family(p, "wsd_engine_gaps_lost_total", "counter",
		       "Messages this node missed that the room's history no "
		       "longer had (clients see the seq gap).");
	sv_prom_u64(p, "wsd_engine_gaps_lost_total", NULL, es->gaps_lost);
	if (sv->eng.ops->links == NULL)
		return;
	sv->eng.ops->links(&sv->eng, link_kept, &k);
	sv_prom_family(p, "wsd_engine_link_up", "gauge",
		       "1 while both links to the Redis shard are up.");
	for (i = 0; i < k.n; i++) {
		const char *l[] = {"address", k.v[i].address, NULL};

		sv_prom_u64(p, "wsd_engine_link_up", l, (uint64_t)k.v[i].up);
	}
	sv_prom_family(p, "wsd_engine_link_rtt_seconds", "gauge",
		       "The last command's round trip to the Redis shard.");
	for (i = 0; i < k.n; i++) {
		const char *l[] = {"address", k.v[i].address, NULL};

		sv_prom_f64(p, "wsd_engine_link_rtt_seconds", l,
			    (double)k.v[i].rtt_us / 1e6);
	}
	sv_prom_family(p, "wsd_engine_link_errors_total", "counter",
		       "Commands to the Redis shard that failed or timed out.");
	for (i = 0; i < k.n; i++) {
		const char *l[] = {"address", k.v[i].address, NULL};

		sv_prom_u64(p, "wsd_engine_link_errors_total", l,
			    k.v[i].errors);
	}
	sv_prom_family(p, "wsd_engine_link_reconnects_total", "counter",
		       "Links to the Redis shard made again after a loss.");
	for (i = 0; i < k.n; i++) {
		const char *l[] = {"address", k.v[i].address, NULL};

		sv_prom_u64(p, "wsd_engine_link_reconnects_total", l,
			    k.v[i].reconnects);
	}
	sv_prom_family(p, "wsd_engine_link_inflight", "gauge",
		       "Commands sent to the Redis shard, not answered yet.");
	for (i = 0; i < k.n; i++) {
		const char *l[] = {"address", k.v[i].address, NULL};

		sv_prom_u64(p, "wsd_engine_link_inflight", l, k.v[i].inflight);
	}
}

char *
sv_metrics_text(struct sv *sv, size_t *len)
{
	struct sv_eng_stats es;
	struct sv_prom p;

	memset(&es, 0, sizeof(es));
	sv->eng.ops->stats(&sv->eng, &es);
	sv_prom_init(&p);
	connections(sv, &p);
	state(sv, &p, &es);
	engine(sv, &p, &es);
	traffic(sv, &p);
	queues(sv, &p);
	workers(sv, &p);
	processes(sv, &p);
	return sv_prom_take(&p, len);
}
