/*
 * wk_main.c: the worker process. The supervisor execs `wsd --worker ID
 * --epoch E --ipc URL --listen-fd FD --log-level L`; the worker dials the
 * IPC channel, says HELLO, waits for CONFIG (wk_dispatch.c starts
 * accepting once it has one), and runs the loop: a prepare watcher writes
 * every connection with output once per iteration, a timer reports the
 * connections whose counters changed once a second, with the worker's
 * totals (proto/stats.h) in the first STATS of each round.
 *
 * The open descriptors reported are counted from bookkeeping: every
 * connection holds one, and the rest (the listener, the IPC channel,
 * libev's) are counted by listing /proc/self/fd only while there are
 * few connections, so that a report never walks 100,000 entries.
 *
 * SIGTERM, from the supervisor (a reload that rolls or removes this
 * worker, `wsctl worker restart`) or from anyone (systemd, an operator),
 * drains this worker: it accepts no more, says DRAINING, and the
 * supervisor tells each of its clients to reconnect (`shutdown` with a
 * resume token, then close 1001); the worker exits when the last one is
 * gone, or at drain.timeout_ms closes the rest itself. SIGQUIT, the
 * supervisor's last word at its own exit, and losing the supervisor
 * close every connection with 1001 at once and exit after a short grace
 * period. SIGINT is the supervisor's (a Ctrl-C reaches the whole process
 * group; the supervisor drains), as are SIGHUP and the user signals.
 */
#include "wk_main.h"

#include <dirent.h>
#include <malloc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../proto/clock.h"
#include "../proto/log.h"
#include "wk.h"
#include "wk_accept.h"
#include "wk_conn.h"
#include "wk_deflate.h"
#include "wk_dispatch.h"
#include "wk_ipc.h"
#include "wk_tls.h"
#include "wk_rate.h"

#define STATS_INTERVAL 1.0
#define STATS_BATCH 4096
#define TRIM_INTERVAL 10.0
#define STOP_GRACE 2.0
#define STOP_POLL 0.02
#define CONFIG_DEADLINE 15.0
#define FDS_WALK_MAX 64 /* connections up to which /proc/self/fd is read */

struct wk wk;

static ev_prepare flush_watcher;
static ev_timer stats_timer, stop_timer, config_timer, drain_timer;
static ev_signal sig_term, sig_quit;
static ev_tstamp stop_started, drain_started; /* drain: SIGTERM seen */

static void
on_config_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)t;
	(void)revents;
	if (wk.configured)
		return;
	log_error("config_missing", "deadline_s=%.0f", CONFIG_DEADLINE);
	exit(1);
}

static void
on_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct wk_conn *c;

	(void)loop;
	(void)w;
	(void)revents;
	while ((c = TAILQ_FIRST(&wk.dirty)) != NULL) {
		wk_unmark_dirty(c);
		wk_conn_flush(c);
		wk_conn_settle(c);
	}
}

/* Descriptors that are not connections, counted when cheap. */
static uint32_t base_fds;

static uint64_t
open_fds(void)
{
	DIR *d;
	struct dirent *e;
	uint32_t n = 0;

	if (wk.nconns <= FDS_WALK_MAX && (d = opendir("/proc/self/fd"))) {
		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] != '.')
				n++;
		closedir(d);
		n--; /* the directory's own descriptor */
		base_fds = n > wk.nconns ? n - wk.nconns : 0;
	}
	return (uint64_t)base_fds + wk.nconns;
}

/* The worker's totals: its counters since the last STATS, its gauges
 * now. Zeroes the counters once they are sent. */
static void
totals(struct proto_msg *m)
{
	uint32_t i, nonempty = 0;

	for (i = 1; i <= STATS_QDEPTH_N; i++) {
		wk.tot[PROTO_TOT_QDEPTH + i] = wk.qdepth[i];
		nonempty += wk.qdepth[i];
	}
	wk.tot[PROTO_TOT_QDEPTH] =
	    wk.nconns > nonempty ? wk.nconns - nonempty : 0;
	wk.tot[PROTO_TOT_QDEPTH_SUM] = wk.queued_msgs;
	wk.tot[PROTO_TOT_QUEUED_BYTES] = wk.queued_bytes;
	wk.tot[PROTO_TOT_OUTBOX_MSGS] = wk_ipc_backlog_msgs();
	wk.tot[PROTO_TOT_OUTBOX_BYTES] = wk_ipc_backlog();
	wk.tot[PROTO_TOT_FDS] = open_fds();
	wk.tot[PROTO_TOT_CONNS] = wk.nconns;
	m->tots = wk.tot;
	m->ntots = PROTO_TOT_END;
}

/*
 * Give the kernel back the heap pages freed since the last time, every
 * TRIM_INTERVAL seconds: bursts of handshakes and deliveries leave free
 * chunks that glibc would otherwise keep resident.
 */
static void
trim_heap(struct ev_loop *loop)
{
	static ev_tstamp last;

	if (ev_now(loop) - last < TRIM_INTERVAL)
		return;
	last = ev_now(loop);
	malloc_trim(0);
}

/* Send a STATS; once its totals went, the counters start again. */
static void
send_stats(struct proto_msg *m)
{
	if (wk_ipc_send(m) != WSD_OK || m->ntots == 0)
		return;
	memset(wk.tot, 0, PROTO_TOT_GAUGES * sizeof(wk.tot[0]));
	m->tots = NULL;
	m->ntots = 0;
}

static void
on_stats(struct ev_loop *loop, ev_timer *t, int revents)
{
	static struct proto_stats_rec recs[STATS_BATCH];
	uint64_t now = wall_ms(), mono_now;
	struct proto_msg m;
	struct wk_conn *c;
	uint32_t n = 0;

	(void)t;
	(void)revents;
	mono_now = (uint64_t)(ev_now(loop) * 1000);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_STATS;
	m.recs = recs;
	totals(&m);
	while ((c = TAILQ_FIRST(&wk.stats)) != NULL) {
		wk_unmark_stats(c);
		recs[n].conn = c->id;
		recs[n].last_seen_ms =
		    now - (mono_now - (uint64_t)(c->last_rx * 1000));
		recs[n].queue_bytes = c->q.bytes;
		recs[n].queue_msgs = c->q.msgs;
		recs[n].drops = c->drops;
		recs[n].msgs_in = c->msgs_in;
		recs[n].msgs_out = c->msgs_out;
		recs[n].rtt_us = c->rtt_us;
		recs[n].flags =
		    c->rate != NULL && c->rate->paused ? PROTO_REC_PAUSED : 0;
		if (++n == STATS_BATCH) {
			m.nrecs = n;
			send_stats(&m);
			n = 0;
		}
	}
	if (n > 0 || m.ntots > 0) {
		m.nrecs = n;
		send_stats(&m);
	}
	trim_heap(loop);
}

static void
on_stop_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	if (wk.nconns == 0 || ev_now(loop) - stop_started >= STOP_GRACE)
		ev_break(loop, EVBREAK_ALL);
}

static void
stop(const char *why)
{
	if (wk.stopping)
		return;
	wk.stopping = 1;
	ev_timer_stop(wk.loop, &drain_timer);
	log_info("stopping", "reason=%s conns=%u", log_q(why), wk.nconns);
	wk_accept_stop();
	wk_conn_close_all(1001, "going away");
	stop_started = ev_now(wk.loop);
	ev_timer_init(&stop_timer, on_stop_timer, STOP_POLL, STOP_POLL);
	ev_timer_start(wk.loop, &stop_timer);
}

static void
on_drain_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	if (wk.nconns == 0) {
		log_info("drained", "conns=0");
		ev_break(loop, EVBREAK_ALL);
	} else if (ev_now(loop) - drain_started >=
		   WK_SECONDS(wk.cfg.drain_timeout_ms)) {
		ev_timer_stop(loop, &drain_timer);
		stop("drain deadline");
	}
}

/* SIGTERM: accept no more and let the supervisor tell every client. */
static void
drain(void)
{
	struct proto_msg m;

	if (wk.stopping || ev_is_active(&drain_timer))
		return;
	/* Said first, so that the slot replaces this worker (no crash). */
	memset(&m, 0, sizeof(m));
	m.type = PROTO_DRAINING;
	wk_ipc_send(&m);
	if (!wk.configured) {
		stop("SIGTERM before any CONFIG");
		return;
	}
	log_info("draining", "conns=%u", wk.nconns);
	wk_accept_stop();
	drain_started = ev_now(wk.loop);
	ev_timer_init(&drain_timer, on_drain_timer, STOP_POLL, STOP_POLL);
	ev_timer_start(wk.loop, &drain_timer);
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	if (w->signum == SIGTERM) {
		drain();
	} else {
		stop("SIGQUIT");
	}
}

static void
on_supervisor_gone(void)
{
	stop("the supervisor is gone");
}

static int
parse_args(int argc, char **argv, const char **url, int *level, int *format,
	   int *fd, int *nfd)
{
	int i;

	for (i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--epoch") == 0)
			wk.epoch = (uint32_t)strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--ipc") == 0)
			*url = argv[i + 1];
		else if (strcmp(argv[i], "--listen-fd") == 0 &&
			 *nfd < WK_LISTENERS_MAX)
			fd[(*nfd)++] = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--log-level") == 0)
			*level = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--log-format") == 0)
			*format = atoi(argv[i + 1]);
		else
			return WSD_EINVAL;
	}
	wk.id = atoi(argv[1]);
	for (i = 0; i < *nfd; i++)
		if (fd[i] <= 2)
			return WSD_EINVAL;
	return *url != NULL && *nfd > 0 && wk.epoch > 0 ? WSD_OK : WSD_EINVAL;
}

int
wk_main(int argc, char **argv)
{
	struct proto_msg hello;
	const char *url = NULL;
	int level = LOG_LEVEL_INFO, format = LOG_FORMAT_JSON;
	int listen_fd[WK_LISTENERS_MAX], nlisten = 0, i;
	struct wk_conn *c, *tmp;

	if (argc < 3 || parse_args(argc - 1, argv + 1, &url, &level, &format,
				   listen_fd, &nlisten) != WSD_OK) {
		fprintf(stderr, "wsd: bad worker arguments (workers are "
				"started by the supervisor)\n");
		return PROTO_EXIT_NO_RESTART;
	}
	log_init("worker", wk.id, (enum log_level)level,
		 (enum log_format)format);
	signal(SIGPIPE, SIG_IGN);
	/* Reload and the user signals are the supervisor's: one sent here
	 * by mistake (`kill -HUP $(pidof ...)`) must not end a worker. */
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	/* Until its watcher runs, a SIGQUIT (the supervisor died) must not
	 * dump core; losing the channel stops the worker anyway. */
	signal(SIGQUIT, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	{
		char name[16];

		snprintf(name, sizeof(name), "wsd: worker %d", wk.id);
		prctl(PR_SET_NAME, name);
	}
	wk.loop = ev_default_loop(EVFLAG_AUTO);
	TAILQ_INIT(&wk.dirty);
	TAILQ_INIT(&wk.stats);
	for (i = 0; i < nlisten; i++)
		wk_accept_init(i, listen_fd[i]);
	ev_prepare_init(&flush_watcher, on_flush);
	ev_prepare_start(wk.loop, &flush_watcher);
	ev_timer_init(&stats_timer, on_stats, STATS_INTERVAL, STATS_INTERVAL);
	ev_timer_start(wk.loop, &stats_timer);
	ev_signal_init(&sig_term, on_signal, SIGTERM);
	ev_signal_start(wk.loop, &sig_term);
	ev_signal_init(&sig_quit, on_signal, SIGQUIT);
	ev_signal_start(wk.loop, &sig_quit);
	ev_timer_init(&drain_timer, on_drain_timer, STOP_POLL, STOP_POLL);
	if (wk_ipc_open(url, wk_dispatch_msg, on_supervisor_gone) != WSD_OK)
		return PROTO_EXIT_NO_RESTART;
	ev_timer_init(&config_timer, on_config_deadline, CONFIG_DEADLINE, 0.);
	ev_timer_start(wk.loop, &config_timer);
	memset(&hello, 0, sizeof(hello));
	hello.type = PROTO_HELLO;
	hello.pid = (uint64_t)getpid();
	wk_ipc_send(&hello);
	ev_run(wk.loop, 0);
	HASH_ITER (hh, wk.conns, c, tmp) {
		wk_conn_destroy(c);
	}
	on_stats(wk.loop, &stats_timer, 0);
	wk_ipc_close();
	wk_dispatch_fini();
	wk_deflate_shutdown();
	wk_tls_fini();
	ev_loop_destroy(wk.loop);
	return 0;
}
