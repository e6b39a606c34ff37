/*
 * wk_main.c: the worker process. The supervisor execs `wsd --worker ID
 * --epoch E --ipc URL --listen-fd FD --log-level L`; the worker dials the
 * IPC channel, says HELLO, waits for CONFIG, and only then accepts on the
 * inherited listening socket. Every worker accepts on the same socket, so
 * the kernel spreads connections among them. SIGTERM (from the
 * supervisor's drain or shutdown) closes every connection with 1001 and
 * exits once they are gone or after a short grace period; losing the
 * supervisor does the same.
 */
#include "wk_main.h"

#include "wk.h"

#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "../proto/clock.h"
#include "../proto/log.h"

#define STATS_INTERVAL 1.0
#define STATS_BATCH 4096
#define TRIM_INTERVAL 10.0
#define ACCEPT_PAUSE 0.1
#define STOP_GRACE 2.0
#define CONFIG_DEADLINE 15.0

struct wk wk;
static ev_timer stop_timer;
static ev_timer config_timer;

static void
on_config_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)t;
	(void)revents;
	if (wk.configured)
		return;
	log_error("no CONFIG from the supervisor within %.0f s; exiting",
		  CONFIG_DEADLINE);
	exit(1);
}

static ev_timer accept_pause;

static void
on_accept_resume(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	if (!wk.stopping)
		ev_io_start(loop, &wk.accept_io);
}

static void
on_accept(struct ev_loop *loop, ev_io *io, int revents)
{
	int fd, one = 1, budget = 64;

	(void)revents;
	while (budget-- > 0) {
		fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			/* Out of descriptors: the pending connect stays
			 * pending (another worker may take it); stop trying
			 * for a moment instead of spinning. */
			if (errno == EMFILE || errno == ENFILE) {
				log_warn("accept: %s with %u connections; "
					 "pausing accepts for %.0f ms",
					 strerror(errno), wk.nconns,
					 ACCEPT_PAUSE * 1000);
				ev_io_stop(loop, io);
				ev_timer_set(&accept_pause, ACCEPT_PAUSE, 0.);
				ev_timer_start(loop, &accept_pause);
			}
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (wk_conn_create(fd) == NULL)
			close(fd);
	}
}

static void
on_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct wk_conn *c;

	(void)loop;
	(void)w;
	(void)revents;
	while ((c = TAILQ_FIRST(&wk.dirty)) != NULL) {
		TAILQ_REMOVE(&wk.dirty, c, dirty_link);
		c->dirty = 0;
		wk_conn_flush(c);
		wk_conn_settle(c);
	}
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
	while ((c = TAILQ_FIRST(&wk.stats)) != NULL) {
		TAILQ_REMOVE(&wk.stats, c, stats_link);
		c->stats_dirty = 0;
		recs[n].conn = c->id;
		recs[n].last_seen_ms =
		    now - (mono_now - (uint64_t)(c->last_rx * 1000));
		recs[n].queue_bytes = c->q_bytes;
		recs[n].queue_msgs = c->q_msgs;
		recs[n].drops = c->drops;
		recs[n].msgs_in = c->msgs_in;
		recs[n].msgs_out = c->msgs_out;
		if (++n == STATS_BATCH) {
			m.nrecs = n;
			wk_ipc_send(&m);
			n = 0;
		}
	}
	if (n > 0) {
		m.nrecs = n;
		wk_ipc_send(&m);
	}
	trim_heap(loop);
}

static void
on_stop_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	if (wk.nconns == 0 || ev_now(loop) - wk.stop_started >= STOP_GRACE)
		ev_break(loop, EVBREAK_ALL);
}

static void
stop(const char *why)
{
	if (wk.stopping)
		return;
	wk.stopping = 1;
	log_info("stopping (%s): closing %u connections", why, wk.nconns);
	ev_io_stop(wk.loop, &wk.accept_io);
	ev_timer_stop(wk.loop, &accept_pause);
	wk_conn_close_all(1001, "going away");
	wk.stop_started = ev_now(wk.loop);
	ev_timer_init(&stop_timer, on_stop_timer, 0.02, 0.02);
	ev_timer_start(wk.loop, &stop_timer);
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	stop("signal");
}

static void
on_ipc_gone(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	stop("the supervisor is gone");
}

static int
parse_args(int argc, char **argv, const char **url, int *level)
{
	int i;

	for (i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--epoch") == 0)
			wk.epoch = (uint32_t)strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--ipc") == 0)
			*url = argv[i + 1];
		else if (strcmp(argv[i], "--listen-fd") == 0)
			wk.listen_fd = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--log-level") == 0)
			*level = atoi(argv[i + 1]);
		else
			return -1;
	}
	wk.id = atoi(argv[1]);
	return *url != NULL && wk.listen_fd > 2 && wk.epoch > 0 ? 0 : -1;
}

int
wk_main(int argc, char **argv)
{
	struct proto_msg hello;
	const char *url = NULL;
	char role[32];
	int level = LOG_LEVEL_INFO;
	struct wk_conn *c, *tmp;

	if (argc < 3 || parse_args(argc - 1, argv + 1, &url, &level) != 0) {
		fprintf(stderr, "wsd: bad worker arguments (workers are "
				"started by the supervisor)\n");
		return 100;
	}
	snprintf(role, sizeof(role), "worker %d", wk.id);
	log_init(role, (enum log_level)level);
	signal(SIGPIPE, SIG_IGN);
	wk.loop = ev_default_loop(EVFLAG_AUTO);
	TAILQ_INIT(&wk.dirty);
	TAILQ_INIT(&wk.stats);
	ev_io_init(&wk.accept_io, on_accept, wk.listen_fd, EV_READ);
	ev_timer_init(&accept_pause, on_accept_resume, ACCEPT_PAUSE, 0.);
	ev_prepare_init(&wk.flush_watcher, on_flush);
	ev_prepare_start(wk.loop, &wk.flush_watcher);
	ev_timer_init(&wk.stats_timer, on_stats, STATS_INTERVAL,
		      STATS_INTERVAL);
	ev_timer_start(wk.loop, &wk.stats_timer);
	ev_async_init(&wk.ipc_gone, on_ipc_gone);
	ev_async_start(wk.loop, &wk.ipc_gone);
	ev_signal_init(&wk.sig_term, on_signal, SIGTERM);
	ev_signal_start(wk.loop, &wk.sig_term);
	ev_signal_init(&wk.sig_int, on_signal, SIGINT);
	ev_signal_start(wk.loop, &wk.sig_int);
	if (wk_ipc_open(url) != 0)
		return 100;
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
	on_stats(wk.loop, &wk.stats_timer, 0);
	wk_ipc_close();
	ev_loop_destroy(wk.loop);
	return 0;
}
