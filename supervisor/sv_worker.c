/*
 * sv_worker.c: the worker table. Spawns each worker (fork, then exec of
 * our own binary in worker mode, so the child starts clean of the
 * supervisor's nng threads), gives it a private nng pair channel in the
 * run directory, sends it the config, and handles what it says. When a
 * worker exits, its connections leave the registry at once and it is
 * restarted with a delay that doubles while it keeps dying young (s6's
 * rule: never restart faster than the minimum delay). Exit status 100
 * means "do not restart me" (a fatal setup error).
 */
#include "sv.h"

#include <errno.h>
#include <fcntl.h>
#include <nng/protocol/pair0/pair.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../proto/log.h"

#define RESTART_MIN_MS 100
#define RESTART_MAX_MS 10000
#define YOUNG_MS 5000
#define CRASH_LOOP 5
#define NO_RESTART_STATUS 100

static ev_child child_watcher;

static void worker_spawn(struct sv *sv, struct sv_worker *w);

static struct sv *
sv_of(struct ev_loop *loop)
{
	return ev_userdata(loop);
}

static void
ipc_path(const struct sv *sv, int id, char *buf, size_t len)
{
	snprintf(buf, len, "ipc://%s/w%d.ipc", sv->cfg->run_dir, id);
}

int
sv_worker_send(struct sv *sv, struct sv_worker *w, struct proto_msg *m)
{
	nng_msg *msg;
	int rc;

	if (!w->sock_open || w->state == SV_W_DEAD)
		return -1;
	m->worker = (uint32_t)w->id;
	m->gen = sv->cfg->generation;
	if (proto_encode_nng(m, &msg) != 0)
		goto drop;
	if ((rc = nng_sendmsg(w->sock, msg, NNG_FLAG_NONBLOCK)) != 0) {
		nng_msg_free(msg);
		if (w->ipc_drops++ % 1000 == 0)
			log_warn("worker %d: IPC queue refused %s (%s), %llu "
				 "dropped so far",
				 w->id, proto_type_name(m->type),
				 nng_strerror(rc),
				 (unsigned long long)w->ipc_drops);
		sv->stats.ipc_drops++;
		return -1;
	}
	return 0;
drop:
	sv->stats.ipc_drops++;
	return -1;
}

void
sv_workers_configure(struct sv *sv)
{
	struct proto_msg m;
	int i;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_CONFIG;
	m.config = &sv->cfg->w;
	for (i = 0; i < SV_MAX_WORKERS; i++) {
		struct sv_worker *w = &sv->workers[i];

		if (w->state == SV_W_STARTING || w->state == SV_W_READY)
			sv_worker_send(sv, w, &m);
	}
}

int
sv_workers_ready(const struct sv *sv)
{
	int i, n = 0;

	for (i = 0; i < SV_MAX_WORKERS; i++)
		if (sv->workers[i].state == SV_W_READY)
			n++;
	return n;
}

static void
make_session(struct sv *sv, const struct proto_msg *m, char *sid, char *token)
{
	unsigned char raw[16], mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	int i;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		memset(raw, 0, sizeof(raw));
	for (i = 0; i < 16; i++)
		sprintf(sid + 2 * i, "%02x", raw[i]);
	/* The token binds the session to its user; resume checks the MAC. */
	HMAC(EVP_sha256(), sv->token_key, sizeof(sv->token_key),
	     (const unsigned char *)m->user.p, m->user.len, mac, &maclen);
	sprintf(token, "1.%s.", sid);
	for (i = 0; i < 16; i++)
		sprintf(token + 35 + 2 * i, "%02x", mac[i] ^ raw[i]);
}

static void
on_conn_open(struct sv *sv, struct sv_worker *w, const struct proto_msg *m)
{
	struct proto_msg r;
	struct sv_user *u;
	struct sv_conn *c;
	char sid[33], token[72];

	memset(&r, 0, sizeof(r));
	r.type = PROTO_CONN_ACCEPT;
	r.conn = m->conn;
	u = sv_reg_user_find(&sv->reg, m->user.p, m->user.len);
	if (sv->draining || sv->reg.nconns >= sv->cfg->max_connections)
		r.status = 503;
	else if (u != NULL && u->nconns >= sv->cfg->max_connections_per_user)
		r.status = 429;
	if (r.status == 0) {
		c = sv_reg_conn_add(
		    &sv->reg, m->conn, w->id, m->user.p, m->user.len, m->addr.p,
		    m->addr.len, m->agent.p, m->agent.len,
		    (m->flags & PROTO_F_ANONYMOUS) != 0, wall_ms());
		if (c == NULL) {
			log_error("worker %d: cannot register conn %llu "
				  "(duplicate id or out of memory)",
				  w->id, (unsigned long long)m->conn);
			r.status = 503;
		} else {
			make_session(sv, m, sid, token);
			memcpy(c->session, sid, sizeof(sid));
			r.session = proto_cstr(sid);
			r.token = proto_cstr(token);
			sv->stats.conns_opened++;
		}
	}
	if (r.status != 0)
		sv->stats.conns_refused++;
	sv_worker_send(sv, w, &r);
}

static void
on_conn_close(struct sv *sv, const struct proto_msg *m)
{
	struct sv_conn *c = sv_reg_conn_find(&sv->reg, m->conn);

	if (c == NULL)
		return;
	sv_reg_conn_remove(&sv->reg, c);
	sv->stats.conns_closed++;
}

static void
on_stats(struct sv *sv, const struct proto_msg *m)
{
	struct proto_stats_rec rec;
	struct sv_conn *c;
	uint32_t i;

	for (i = 0; i < m->nrecs; i++) {
		proto_stats_get(m, i, &rec);
		if ((c = sv_reg_conn_find(&sv->reg, rec.conn)) == NULL)
			continue;
		c->last_seen_ms = rec.last_seen_ms;
		c->queue_bytes = rec.queue_bytes;
		c->queue_msgs = rec.queue_msgs;
		c->drops = rec.drops;
		c->msgs_in = rec.msgs_in;
		c->msgs_out = rec.msgs_out;
	}
}

/* A message a worker may send only about its own connections. */
static int
owns_conn(struct sv *sv, struct sv_worker *w, uint64_t id)
{
	struct sv_conn *c = sv_reg_conn_find(&sv->reg, id);

	return c == NULL || c->worker == w->id;
}

static void
dispatch(struct sv *sv, struct sv_worker *w, const struct proto_msg *m)
{
	if (m->type != PROTO_STATS && m->type != PROTO_HELLO &&
	    m->type != PROTO_READY && !owns_conn(sv, w, m->conn)) {
		log_error("worker %d: %s for conn %llu of another worker; "
			  "ignored",
			  w->id, proto_type_name(m->type),
			  (unsigned long long)m->conn);
		return;
	}
	switch (m->type) {
	case PROTO_HELLO:
		log_debug("worker %d: hello from pid %llu", w->id,
			  (unsigned long long)m->pid);
		break;
	case PROTO_READY:
		w->gen = m->gen;
		if (w->state == SV_W_STARTING) {
			w->state = SV_W_READY;
			log_info("worker %d ready (pid %d, generation %u)",
				 w->id, (int)w->pid, w->gen);
		}
		break;
	case PROTO_CONN_OPEN: on_conn_open(sv, w, m); break;
	case PROTO_CONN_CLOSE: on_conn_close(sv, m); break;
	case PROTO_SUB: sv_route_sub(sv, w, m); break;
	case PROTO_UNSUB: sv_route_unsub(sv, m); break;
	case PROTO_PUBLISH: sv_route_publish_msg(sv, w, m); break;
	case PROTO_STATS: on_stats(sv, m); break;
	default:
		log_error("worker %d: unexpected %s; dropping the worker",
			  w->id, proto_type_name(m->type));
		if (w->pid > 0)
			kill(w->pid, SIGKILL);
	}
}

static void
on_worker_readable(struct ev_loop *loop, ev_io *io, int revents)
{
	struct sv *sv = sv_of(loop);
	struct sv_worker *w = io->data;
	msgpack_unpacked u;
	struct proto_msg m;
	nng_msg *msg;
	int rc, budget = 256;

	(void)revents;
	while (budget-- > 0 && w->sock_open) {
		if (nng_recvmsg(w->sock, &msg, NNG_FLAG_NONBLOCK) != 0)
			break;
		msgpack_unpacked_init(&u);
		rc = proto_decode(&m, &u, nng_msg_body(msg), nng_msg_len(msg));
		if (rc != WSD_OK) {
			log_error("worker %d: malformed IPC message (%s); "
				  "dropping the worker",
				  w->id, proto_bad_name(m.bad));
			if (w->pid > 0)
				kill(w->pid, SIGKILL);
		} else if (m.worker != (uint32_t)w->id) {
			log_error("worker %d: message claims worker %u; "
				  "dropping the worker",
				  w->id, m.worker);
			if (w->pid > 0)
				kill(w->pid, SIGKILL);
		} else {
			dispatch(sv, w, &m);
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
	if (!w->sock_open)
		return;
	ev_io_stop(sv->loop, &w->rio);
	nng_close(w->sock);
	w->sock_open = 0;
}

static int
channel_open(struct sv *sv, struct sv_worker *w)
{
	char url[256];
	int fd, rv;

	ipc_path(sv, w->id, url, sizeof(url));
	unlink(url + strlen("ipc://"));
	if ((rv = nng_pair0_open(&w->sock)) != 0)
		goto fail;
	w->sock_open = 1;
	if ((rv = nng_socket_set_int(w->sock, NNG_OPT_SENDBUF, 8192)) != 0 ||
	    (rv = nng_socket_set_int(w->sock, NNG_OPT_RECVBUF, 8192)) != 0 ||
	    (rv = nng_socket_set_size(w->sock, NNG_OPT_RECVMAXSZ,
				      PROTO_MAX_DATA + 65536)) != 0 ||
	    (rv = nng_listen(w->sock, url, NULL, 0)) != 0 ||
	    (rv = nng_socket_get_int(w->sock, NNG_OPT_RECVFD, &fd)) != 0)
		goto fail;
	ev_io_init(&w->rio, on_worker_readable, fd, EV_READ);
	w->rio.data = w;
	ev_io_start(sv->loop, &w->rio);
	return 0;
fail:
	log_error("worker %d: cannot open IPC channel %s: %s", w->id, url,
		  nng_strerror(rv));
	channel_close(sv, w);
	return -1;
}

static void
exec_worker(struct sv *sv, struct sv_worker *w)
{
	char id[16], epoch[16], fd[16], level[16], url[256];
	char *argv[] = {sv->self_exe, "--worker",    id,    "--epoch",
			epoch,	      "--ipc",	     url,   "--listen-fd",
			fd,	      "--log-level", level, NULL};

	snprintf(id, sizeof(id), "%d", w->id);
	snprintf(epoch, sizeof(epoch), "%u", w->epoch);
	snprintf(level, sizeof(level), "%d", sv->cfg->log_level);
	ipc_path(sv, w->id, url, sizeof(url));
	/* Die with the supervisor; keep only stdio and the listener. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		_exit(NO_RESTART_STATUS);
	if (sv->listen_fd != 3 && dup2(sv->listen_fd, 3) < 0)
		_exit(NO_RESTART_STATUS);
	if (sv->listen_fd == 3 && fcntl(3, F_SETFD, 0) < 0)
		_exit(NO_RESTART_STATUS);
	snprintf(fd, sizeof(fd), "%d", 3);
	close_range(4, ~0U, 0);
	execv(sv->self_exe, argv);
	_exit(NO_RESTART_STATUS);
}

static void
worker_spawn(struct sv *sv, struct sv_worker *w)
{
	pid_t pid;

	if (channel_open(sv, w) != 0)
		goto retry;
	w->epoch = sv->next_epoch++;
	if ((pid = fork()) < 0) {
		log_error("worker %d: fork: %s", w->id, strerror(errno));
		channel_close(sv, w);
		goto retry;
	}
	if (pid == 0)
		exec_worker(sv, w);
	w->pid = pid;
	w->state = SV_W_STARTING;
	w->started_ms = wall_ms();
	log_info("worker %d started (pid %d)", w->id, (int)pid);
	sv_workers_configure(sv);
	return;
retry:
	w->state = SV_W_DEAD;
	ev_timer_set(&w->restart_timer, RESTART_MAX_MS / 1000.0, 0.);
	ev_timer_start(sv->loop, &w->restart_timer);
}

static void
on_restart_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct sv *sv = sv_of(loop);
	struct sv_worker *w = t->data;

	(void)revents;
	if (sv->draining || w->id >= sv->cfg->workers) {
		w->state = SV_W_EMPTY;
		return;
	}
	w->restarts++;
	sv->stats.worker_restarts++;
	worker_spawn(sv, w);
}

static struct sv_worker *
worker_by_pid(struct sv *sv, pid_t pid)
{
	int i;

	for (i = 0; i < SV_MAX_WORKERS; i++)
		if (sv->workers[i].pid == pid &&
		    sv->workers[i].state != SV_W_EMPTY)
			return &sv->workers[i];
	return NULL;
}

static void
on_child(struct ev_loop *loop, ev_child *cw, int revents)
{
	struct sv *sv = sv_of(loop);
	struct sv_worker *w = worker_by_pid(sv, cw->rpid);
	int st = cw->rstatus;
	uint64_t lived, delay;
	uint32_t dropped;

	(void)revents;
	if (w == NULL)
		return;
	lived = wall_ms() - w->started_ms;
	dropped = sv_reg_worker_clear(&sv->reg, w->id);
	sv->stats.conns_closed += dropped;
	channel_close(sv, w);
	w->pid = 0;
	w->state = SV_W_DEAD;
	if (WIFSIGNALED(st))
		log_warn("worker %d killed by signal %d after %llu ms; %u "
			 "connections dropped",
			 w->id, WTERMSIG(st), (unsigned long long)lived,
			 dropped);
	else
		log_warn("worker %d exited with status %d after %llu ms; %u "
			 "connections dropped",
			 w->id, WEXITSTATUS(st), (unsigned long long)lived,
			 dropped);
	if (sv->draining)
		return;
	if (WIFEXITED(st) && WEXITSTATUS(st) == NO_RESTART_STATUS) {
		log_error("worker %d asked not to be restarted", w->id);
		return;
	}
	w->quick_deaths = lived < YOUNG_MS ? w->quick_deaths + 1 : 0;
	delay = RESTART_MIN_MS;
	if (w->quick_deaths > 0)
		delay <<= (w->quick_deaths > 7 ? 7 : w->quick_deaths);
	if (delay > RESTART_MAX_MS)
		delay = RESTART_MAX_MS;
	if (w->quick_deaths >= CRASH_LOOP)
		log_error("worker %d is crash-looping (%u quick deaths); "
			  "next restart in %llu ms",
			  w->id, w->quick_deaths, (unsigned long long)delay);
	ev_timer_set(&w->restart_timer, (double)delay / 1000.0, 0.);
	ev_timer_start(loop, &w->restart_timer);
}

int
sv_workers_start(struct sv *sv)
{
	int i;

	if (RAND_bytes(sv->token_key, sizeof(sv->token_key)) != 1) {
		log_error("cannot draw the token key from OpenSSL's RNG");
		return -1;
	}
	ev_child_init(&child_watcher, on_child, 0, 0);
	ev_child_start(sv->loop, &child_watcher);
	for (i = 0; i < SV_MAX_WORKERS; i++) {
		struct sv_worker *w = &sv->workers[i];

		w->id = i;
		ev_timer_init(&w->restart_timer, on_restart_timer, 0., 0.);
		w->restart_timer.data = w;
	}
	for (i = 0; i < sv->cfg->workers; i++)
		worker_spawn(sv, &sv->workers[i]);
	return 0;
}

void
sv_workers_stop(struct sv *sv)
{
	int i, left;
	uint64_t deadline = wall_ms() + 5000;

	for (i = 0; i < SV_MAX_WORKERS; i++) {
		struct sv_worker *w = &sv->workers[i];

		ev_timer_stop(sv->loop, &w->restart_timer);
		if (w->pid > 0)
			kill(w->pid, SIGTERM);
	}
	/* Reap them here: the loop is about to stop. */
	do {
		left = 0;
		for (i = 0; i < SV_MAX_WORKERS; i++) {
			struct sv_worker *w = &sv->workers[i];

			if (w->pid > 0 && waitpid(w->pid, NULL, WNOHANG) == 0)
				left++;
			else
				w->pid = 0;
		}
		if (left)
			usleep(10000);
	} while (left && wall_ms() < deadline);
	for (i = 0; i < SV_MAX_WORKERS; i++) {
		struct sv_worker *w = &sv->workers[i];

		if (w->pid > 0) {
			kill(w->pid, SIGKILL);
			waitpid(w->pid, NULL, 0);
			w->pid = 0;
		}
		channel_close(sv, w);
	}
	ev_child_stop(sv->loop, &child_watcher);
}
