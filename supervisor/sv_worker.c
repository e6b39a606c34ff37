/*
 * sv_worker.c: the worker table of sv_worker.h: slots, processes and
 * channels. What to do when is sv_slot.c's table; this file does it.
 */
#include "sv.h"

#include <errno.h>
#include <fcntl.h>
#include <nng/protocol/pair1/pair.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../proto/log.h"

#define IPC_QUEUE 8192	   /* messages nng holds each way */
#define RECV_BUDGET 256	   /* messages read per wakeup */
#define STOP_DEADLINE 5000 /* ms sv_workers_fini waits before SIGKILL */

static void sv_worker_event(struct sv *sv, struct sv_worker *w,
			    enum sv_slot_event ev);

static void
ipc_path(const struct sv *sv, int id, char *buf, size_t len)
{
	snprintf(buf, len, "ipc://%s/w%d.ipc", sv->cfg->run_dir, id);
}

struct sv_worker *
sv_worker_get(struct sv *sv, int id)
{
	if (id < 0 || id >= SV_MAX_WORKERS)
		return NULL;
	return &sv->workers.slot[id];
}

int
sv_worker_up(const struct sv_worker *w)
{
	return w->pid > 0 && w->sock_open;
}

static void
outbox_clear(struct sv_worker *w)
{
	struct sv_outmsg *o;

	while ((o = STAILQ_FIRST(&w->outbox)) != NULL) {
		STAILQ_REMOVE_HEAD(&w->outbox, link);
		nng_msg_free(o->msg);
		free(o);
	}
	w->outbox_len = 0;
	w->outbox_bytes = 0;
}

/* w takes no messages: kill it (its slot restarts it; its clients
 * resume) and drop what waited for it. */
static void
stuck(struct sv *sv, struct sv_worker *w, const char *why)
{
	log_error("worker_stuck", "worker=%d reason=%s msgs=%u bytes=%llu",
		  w->id, log_q(why), w->outbox_len,
		  (unsigned long long)w->outbox_bytes);
	sv->workers.stuck++;
	sv->stats.ipc_drops += w->outbox_len;
	w->drops += w->outbox_len;
	outbox_clear(w);
	if (w->pid > 0)
		kill(w->pid, SIGKILL);
}

/* Send what waits for w, in order, until nng refuses again. */
static void
outbox_flush(struct sv *sv, struct sv_worker *w)
{
	struct sv_outmsg *o;
	uint64_t now = wall_ms();

	while ((o = STAILQ_FIRST(&w->outbox)) != NULL) {
		size_t len = nng_msg_len(o->msg);

		if (nng_sendmsg(w->sock, o->msg, NNG_FLAG_NONBLOCK) != 0)
			break;
		STAILQ_REMOVE_HEAD(&w->outbox, link);
		free(o);
		w->outbox_len--;
		w->outbox_bytes -= len;
		w->outbox_since = now;
	}
	if (w->outbox_len > 0 && now - w->outbox_since > SV_OUTBOX_DEADLINE_MS)
		stuck(sv, w, "it took nothing for 10 s");
}

static void
on_outbox_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct sv *sv = ev_userdata(loop);
	int i, waiting = 0;

	(void)revents;
	for (i = 0; i < SV_MAX_WORKERS; i++) {
		struct sv_worker *w = &sv->workers.slot[i];

		if (w->outbox_len > 0 && w->sock_open)
			outbox_flush(sv, w);
		waiting += w->outbox_len > 0;
	}
	if (!waiting)
		ev_timer_stop(loop, t);
}

int
sv_worker_send(struct sv *sv, struct sv_worker *w, struct proto_msg *m)
{
	struct sv_outmsg *o;
	nng_msg *msg;
	size_t len;
	int rc;

	if (!sv_worker_up(w))
		return WSD_ECLOSED;
	m->worker = (uint32_t)w->id;
	m->gen = sv->cfg->generation;
	if ((rc = proto_encode_nng(m, &msg)) != WSD_OK) {
		log_error("ipc_encode_failed", "worker=%d type=%s error=%s",
			  w->id, proto_type_name(m->type),
			  log_q(wsd_strerror(rc)));
		sv->stats.ipc_drops++;
		w->drops++;
		return rc;
	}
	if (w->outbox_len == 0 &&
	    nng_sendmsg(w->sock, msg, NNG_FLAG_NONBLOCK) == 0)
		return WSD_OK;
	/* Behind whatever already waits, so that order holds. */
	len = nng_msg_len(msg);
	if (w->outbox_bytes + len > SV_OUTBOX_MAX_BYTES ||
	    (o = malloc(sizeof(*o))) == NULL) {
		nng_msg_free(msg);
		sv->stats.ipc_drops++;
		w->drops++;
		stuck(sv, w, "its outbox is full");
		return WSD_EFULL;
	}
	if (w->outbox_len == 0) {
		w->outbox_since = wall_ms();
		log_warn("ipc_queue_full", "worker=%d", w->id);
	}
	o->msg = msg;
	STAILQ_INSERT_TAIL(&w->outbox, o, link);
	w->outbox_len++;
	w->outbox_bytes += len;
	if (!ev_is_active(&sv->workers.outbox_timer))
		ev_timer_start(sv->loop, &sv->workers.outbox_timer);
	return WSD_OK;
}

static void
send_config(struct sv *sv, struct sv_worker *w)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_CONFIG;
	m.config = &sv->cfg->w;
	sv_worker_send(sv, w, &m);
}

void
sv_workers_configure(struct sv *sv)
{
	int i;

	for (i = 0; i < SV_MAX_WORKERS; i++)
		send_config(sv, &sv->workers.slot[i]);
}

void
sv_workers_reopen_log(struct sv *sv)
{
	struct proto_msg m;
	int i;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_REOPEN_LOG;
	for (i = 0; i < SV_MAX_WORKERS; i++)
		sv_worker_send(sv, &sv->workers.slot[i], &m);
}

int
sv_workers_ready(const struct sv *sv)
{
	int i, n = 0;

	for (i = 0; i < SV_MAX_WORKERS; i++)
		if (sv->workers.slot[i].state == SV_SLOT_READY)
			n++;
	return n;
}

int
sv_workers_running(const struct sv *sv)
{
	int i, n = 0;

	for (i = 0; i < SV_MAX_WORKERS; i++)
		if (sv->workers.slot[i].pid > 0)
			n++;
	return n;
}

void
sv_worker_kill(struct sv *sv, struct sv_worker *w, const char *why)
{
	(void)sv;
	log_error("worker_dropped", "worker=%d reason=%s", w->id, log_q(why));
	if (w->pid > 0)
		kill(w->pid, SIGKILL);
}

static void
on_readable(struct ev_loop *loop, ev_io *io, int revents)
{
	struct sv *sv = ev_userdata(loop);
	struct sv_worker *w = io->data;
	msgpack_unpacked u;
	struct proto_msg m;
	nng_msg *msg;
	int budget = RECV_BUDGET;
	char why[128];

	(void)revents;
	while (budget-- > 0 && w->sock_open) {
		if (nng_recvmsg(w->sock, &msg, NNG_FLAG_NONBLOCK) != 0)
			break;
		msgpack_unpacked_init(&u);
		if (proto_decode(&m, &u, nng_msg_body(msg), nng_msg_len(msg)) !=
		    WSD_OK) {
			snprintf(why, sizeof(why), "malformed IPC message (%s)",
				 proto_bad_name(m.bad));
			sv_worker_kill(sv, w, why);
		} else if (m.worker != (uint32_t)w->id) {
			snprintf(why, sizeof(why), "message claims worker %u",
				 m.worker);
			sv_worker_kill(sv, w, why);
		} else {
			sv->workers.on_msg(sv, w, &m);
		}
		msgpack_unpacked_destroy(&u);
		nng_msg_free(msg);
	}
	/* Not drained: let the loop come back without waiting for the fd. */
	if (budget < 0)
		ev_feed_event(loop, io, EV_READ);
}

static void
channel_close(struct sv *sv, struct sv_worker *w)
{
	if (w->outbox_len > 0)
		log_warn("worker_outbox_lost", "worker=%d msgs=%u", w->id,
			 w->outbox_len);
	outbox_clear(w);
	if (!w->sock_open)
		return;
	ev_io_stop(sv->loop, &w->rio);
	nng_close(w->sock);
	w->sock_open = 0;
}

/*
 * A fresh channel for a new worker process, so that nothing queued for a
 * dead worker reaches its successor. Returns WSD_OK or WSD_ECLOSED (nng
 * refused; logged). The channel is an nng pair v1 socket: nng 1.5's pair
 * v0 leaks the two descriptors of its receive pollable on every close
 * (fixed upstream in nng 1.6, nanomsg/nng#1640), which cost the
 * supervisor two descriptors per worker restart.
 */
static int
channel_open(struct sv *sv, struct sv_worker *w)
{
	char url[256];
	int fd, rv;

	ipc_path(sv, w->id, url, sizeof(url));
	unlink(url + strlen("ipc://"));
	if ((rv = nng_pair1_open(&w->sock)) != 0)
		goto fail;
	w->sock_open = 1;
	if ((rv = nng_socket_set_int(w->sock, NNG_OPT_SENDBUF, IPC_QUEUE)) !=
		0 ||
	    (rv = nng_socket_set_int(w->sock, NNG_OPT_RECVBUF, IPC_QUEUE)) !=
		0 ||
	    (rv = nng_socket_set_size(w->sock, NNG_OPT_RECVMAXSZ,
				      PROTO_MAX_DATA + 65536)) != 0 ||
	    (rv = nng_listen(w->sock, url, NULL, 0)) != 0 ||
	    (rv = nng_socket_get_int(w->sock, NNG_OPT_RECVFD, &fd)) != 0)
		goto fail;
	ev_io_init(&w->rio, on_readable, fd, EV_READ);
	w->rio.data = w;
	ev_io_start(sv->loop, &w->rio);
	return WSD_OK;
fail:
	log_error("ipc_open_failed", "worker=%d url=%s error=%s", w->id,
		  log_q(url), log_q(nng_strerror(rv)));
	channel_close(sv, w);
	return WSD_ECLOSED;
}

/* In the child: become `wsd --worker ID ...`; never returns. The client
 * listeners become descriptors 3, 4, ... in their order, each named by a
 * --listen-fd. */
static void
exec_worker(struct sv *sv, struct sv_worker *w)
{
	char id[16], epoch[16], level[16], format[16], url[256];
	char fds[SV_LISTENERS_MAX][16], name[32];
	/* argv[0] names the process in ps and keeps `pidof wsd` to the
	 * supervisor. */
	char *argv[12 + 2 * SV_LISTENERS_MAX] = {
	    name, "--worker",	 id,	"--epoch",	epoch, "--ipc",
	    url,  "--log-level", level, "--log-format", format};
	int tmp[SV_LISTENERS_MAX], i, n = sv->listeners.n, a = 11;

	snprintf(name, sizeof(name), "wsd: worker %d", w->id);
	snprintf(id, sizeof(id), "%d", w->id);
	snprintf(epoch, sizeof(epoch), "%u", w->epoch);
	snprintf(level, sizeof(level), "%d", sv->cfg->w.log_level);
	snprintf(format, sizeof(format), "%d", sv->cfg->w.log_format);
	ipc_path(sv, w->id, url, sizeof(url));
	/* Die with the supervisor; keep only stdio and the listeners. */
	prctl(PR_SET_PDEATHSIG, SIGQUIT);
	if (getppid() == 1)
		_exit(SV_SLOT_NO_RESTART);
	/* Out of the way of 3..3+n first, then into place (dup2 clears
	 * close-on-exec). */
	for (i = 0; i < n; i++)
		if ((tmp[i] = fcntl(sv->listeners.fd[i], F_DUPFD_CLOEXEC,
				    3 + SV_LISTENERS_MAX)) < 0)
			_exit(SV_SLOT_NO_RESTART);
	for (i = 0; i < n; i++) {
		if (dup2(tmp[i], 3 + i) < 0)
			_exit(SV_SLOT_NO_RESTART);
		snprintf(fds[i], sizeof(fds[i]), "%d", 3 + i);
		argv[a++] = "--listen-fd";
		argv[a++] = fds[i];
	}
	argv[a] = NULL;
	close_range((unsigned)(3 + n), ~0U, 0);
	execv(sv->self_exe, argv);
	_exit(SV_SLOT_NO_RESTART);
}

/* The SPAWN action: a channel, a process, its CONFIG. */
static void
spawn(struct sv *sv, struct sv_worker *w)
{
	pid_t pid;

	if (channel_open(sv, w) != WSD_OK) {
		sv_worker_event(sv, w, SV_SLOT_EV_SPAWN_FAILED);
		return;
	}
	if (w->epoch != 0) {
		w->restarts++;
		sv->stats.worker_restarts++;
	}
	w->epoch = sv->workers.next_epoch++;
	if ((pid = fork()) < 0) {
		log_error("worker_fork_failed", "worker=%d error=%s", w->id,
			  log_q(strerror(errno)));
		channel_close(sv, w);
		sv_worker_event(sv, w, SV_SLOT_EV_SPAWN_FAILED);
		return;
	}
	if (pid == 0)
		exec_worker(sv, w);
	w->pid = pid;
	w->draining = 0;
	w->started_ms = wall_ms();
	log_info("worker_started", "worker=%d worker_pid=%d", w->id, (int)pid);
	send_config(sv, w);
}

static void
arm(struct sv *sv, struct sv_worker *w, uint64_t ms)
{
	ev_timer_stop(sv->loop, &w->timer);
	ev_timer_set(&w->timer, (double)ms / 1000.0, 0.);
	ev_timer_start(sv->loop, &w->timer);
}

static void
backoff(struct sv *sv, struct sv_worker *w)
{
	uint64_t delay = sv_slot_backoff_ms(&w->young, w->lived_ms);

	if (w->young >= SV_SLOT_CRASH_LOOP)
		log_error("worker_backoff",
			  "worker=%d quick_deaths=%u delay_ms=%llu", w->id,
			  w->young, (unsigned long long)delay);
	arm(sv, w, delay);
}

/* Feed an event to a slot: its next state, and the action carried out.
 * The one place a slot's state changes. */
static void
sv_worker_event(struct sv *sv, struct sv_worker *w, enum sv_slot_event ev)
{
	struct sv_slot_step st = sv_slot_step(w->state, ev);
	enum sv_slot_state was = w->state;

	w->state = st.next;
	if (was != st.next)
		log_debug("slot_transition", "worker=%d from=%s on=%s to=%s",
			  w->id, sv_slot_state_name(was),
			  log_q(sv_slot_event_name(ev)),
			  sv_slot_state_name(st.next));
	switch (st.action) {
	case SV_SLOT_DO_SPAWN: spawn(sv, w); break;
	case SV_SLOT_DO_TERM:
		if (w->pid > 0)
			kill(w->pid, SIGTERM);
		break;
	case SV_SLOT_DO_BACKOFF: backoff(sv, w); break;
	case SV_SLOT_DO_RETRY: arm(sv, w, SV_SLOT_RESTART_MAX_MS); break;
	case SV_SLOT_DO_CANCEL: ev_timer_stop(sv->loop, &w->timer); break;
	case SV_SLOT_DO_GIVE_UP:
		log_error("worker_failed", "worker=%d reason=%s", w->id,
			  log_q("asked not to be restarted"));
		break;
	default: break;
	}
}

void
sv_worker_ready(struct sv *sv, struct sv_worker *w, uint32_t gen)
{
	enum sv_slot_state was = w->state;

	w->gen = gen;
	sv_worker_event(sv, w, SV_SLOT_EV_READY);
	if (was == SV_SLOT_STARTING && w->state == SV_SLOT_READY)
		log_info("worker_ready",
			 "worker=%d worker_pid=%d generation=%u", w->id,
			 (int)w->pid, w->gen);
}

void
sv_worker_draining(struct sv *sv, struct sv_worker *w, int replace)
{
	w->draining = 1;
	sv_worker_event(sv, w, replace ? SV_SLOT_EV_DRAINING : SV_SLOT_EV_STOP);
}

void
sv_workers_want(struct sv *sv, int n)
{
	int i;

	for (i = 0; i < SV_MAX_WORKERS; i++)
		sv_worker_event(sv, &sv->workers.slot[i],
				i < n ? SV_SLOT_EV_START : SV_SLOT_EV_STOP);
}

static void
on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)revents;
	sv_worker_event(ev_userdata(loop), t->data, SV_SLOT_EV_TIMER);
}

static struct sv_worker *
worker_by_pid(struct sv *sv, pid_t pid)
{
	int i;

	for (i = 0; i < SV_MAX_WORKERS; i++)
		if (sv->workers.slot[i].pid == pid)
			return &sv->workers.slot[i];
	return NULL;
}

/* A worker's process ended: its connections go, its slot decides. */
static void
on_child(struct ev_loop *loop, ev_child *cw, int revents)
{
	struct sv *sv = ev_userdata(loop);
	struct sv_worker *w = worker_by_pid(sv, cw->rpid);
	int st = cw->rstatus;
	uint32_t dropped;

	(void)revents;
	if (w == NULL || cw->rpid <= 0)
		return;
	w->lived_ms = wall_ms() - w->started_ms;
	w->last_status = st;
	dropped = sv->workers.on_exit(sv, w);
	channel_close(sv, w);
	w->pid = 0;
	/* A worker exits 0 only after a drain: one the supervisor asked for
	 * (a stop, a restart, a reload's roll) or a SIGTERM to the worker
	 * itself. That is expected, so info; anything else is a crash. */
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		log_info("worker_exit",
			 "worker=%d worker_pid=%d status=0 lived_ms=%llu "
			 "conns=%u",
			 w->id, (int)cw->rpid, (unsigned long long)w->lived_ms,
			 dropped);
	else if (WIFSIGNALED(st))
		log_warn("worker_crash",
			 "worker=%d worker_pid=%d signal=%d lived_ms=%llu "
			 "conns=%u",
			 w->id, (int)cw->rpid, WTERMSIG(st),
			 (unsigned long long)w->lived_ms, dropped);
	else
		log_warn("worker_crash",
			 "worker=%d worker_pid=%d status=%d lived_ms=%llu "
			 "conns=%u",
			 w->id, (int)cw->rpid, WEXITSTATUS(st),
			 (unsigned long long)w->lived_ms, dropped);
	if (WIFEXITED(st) && WEXITSTATUS(st) == SV_SLOT_NO_RESTART) {
		sv_worker_event(sv, w, SV_SLOT_EV_EXIT_FATAL);
		return;
	}
	/* An exit nobody asked for counts towards a crash loop. */
	if ((w->state == SV_SLOT_READY || w->state == SV_SLOT_STARTING) &&
	    sv_slot_crash_loop(w->exits, &w->nexits, wall_ms(),
			       (uint32_t)sv->cfg->restart_max_exits,
			       sv->cfg->restart_window_ms)) {
		/* Not restarted until `wsctl worker restart` or a reload. */
		log_error("worker_crash_loop",
			  "worker=%d exits=%llu window_ms=%llu", w->id,
			  (unsigned long long)sv->cfg->restart_max_exits,
			  (unsigned long long)sv->cfg->restart_window_ms);
		w->crash_loop = 1;
		sv_worker_event(sv, w, SV_SLOT_EV_EXIT_FATAL);
		return;
	}
	sv_worker_event(sv, w, SV_SLOT_EV_EXIT);
}

void
sv_worker_restart(struct sv *sv, struct sv_worker *w)
{
	w->nexits = 0;
	w->young = 0;
	w->crash_loop = 0;
	if (w->state != SV_SLOT_FAILED && w->state != SV_SLOT_STOPPED)
		sv_worker_event(sv, w, SV_SLOT_EV_STOP);
	sv_worker_event(sv, w, SV_SLOT_EV_START);
}

int
sv_workers_degraded(struct sv *sv)
{
	int i;

	for (i = 0; i < SV_MAX_WORKERS; i++)
		if (sv->workers.slot[i].state == SV_SLOT_FAILED)
			return 1;
	return 0;
}

int
sv_workers_init(struct sv *sv, sv_worker_msg_fn *on_msg,
		sv_worker_exit_fn *on_exit)
{
	int i;

	sv->workers.on_msg = on_msg;
	sv->workers.on_exit = on_exit;
	sv->workers.next_epoch = 1;
	for (i = 0; i < SV_MAX_WORKERS; i++) {
		struct sv_worker *w = &sv->workers.slot[i];

		memset(w, 0, sizeof(*w));
		w->id = i;
		w->state = SV_SLOT_STOPPED;
		w->last_status = -1;
		STAILQ_INIT(&w->outbox);
		ev_timer_init(&w->timer, on_timer, 0., 0.);
		w->timer.data = w;
	}
	ev_timer_init(&sv->workers.outbox_timer, on_outbox_timer, 0.005, 0.005);
	ev_child_init(&sv->workers.child, on_child, 0, 0);
	ev_child_start(sv->loop, &sv->workers.child);
	return WSD_OK;
}

void
sv_workers_fini(struct sv *sv)
{
	uint64_t deadline = wall_ms() + STOP_DEADLINE;
	int i, left;

	ev_child_stop(sv->loop, &sv->workers.child);
	ev_timer_stop(sv->loop, &sv->workers.outbox_timer);
	for (i = 0; i < SV_MAX_WORKERS; i++)
		if (sv->workers.slot[i].pid > 0)
			kill(sv->workers.slot[i].pid, SIGQUIT);
	sv_workers_want(sv, 0);
	/* Reap them here: the loop is about to stop. */
	do {
		left = 0;
		for (i = 0; i < SV_MAX_WORKERS; i++) {
			struct sv_worker *w = &sv->workers.slot[i];

			if (w->pid > 0 && waitpid(w->pid, NULL, WNOHANG) == 0)
				left++;
			else if (w->pid > 0) {
				w->pid = 0;
				sv_worker_event(sv, w, SV_SLOT_EV_EXIT);
			}
		}
		if (left)
			usleep(10000);
	} while (left && wall_ms() < deadline);
	for (i = 0; i < SV_MAX_WORKERS; i++) {
		struct sv_worker *w = &sv->workers.slot[i];

		if (w->pid > 0) {
			kill(w->pid, SIGKILL);
			waitpid(w->pid, NULL, 0);
			w->pid = 0;
			sv_worker_event(sv, w, SV_SLOT_EV_EXIT);
		}
		ev_timer_stop(sv->loop, &w->timer);
		channel_close(sv, w);
	}
}
