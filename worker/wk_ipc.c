/*
 * wk_ipc.c: the worker's channel to its supervisor, an nng pair1 socket
 * dialled to the supervisor's ipc:// listener. Incoming messages are read
 * from the loop through nng's receive descriptor, decoded with full
 * validation and dispatched; a message that fails validation means the
 * supervisor and this worker disagree on the protocol, so the worker
 * exits and lets the supervisor start a fresh one. When the pipe to the
 * supervisor goes away, nng tells us on its own thread and an ev_async
 * brings the news to the loop, which stops the worker (no orphans).
 *
 * Nothing a worker says is dropped: a message nng's queue refuses waits,
 * in order, in an outbox retried every few milliseconds (a lost
 * CONN_CLOSE would leave a ghost in the registry). The outbox is bounded;
 * a supervisor that stops taking messages for that long gets a worker
 * that exits, and the supervisor's restart cleans up after it.
 */
#include "wk.h"

#include <nng/protocol/pair1/pair.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/log.h"

#define OUTBOX_MAX 1000000
#define OUTBOX_RETRY 0.005

struct outmsg {
	STAILQ_ENTRY(outmsg) link;
	nng_msg *msg;
};

static int sock_open;
static STAILQ_HEAD(, outmsg) outbox = STAILQ_HEAD_INITIALIZER(outbox);
static uint32_t outbox_len;
static ev_timer outbox_timer;

/* Send what waits, in order, until nng refuses again. */
static void
outbox_flush(void)
{
	struct outmsg *o;

	while ((o = STAILQ_FIRST(&outbox)) != NULL) {
		if (nng_sendmsg(wk.sock, o->msg, NNG_FLAG_NONBLOCK) != 0)
			return;
		STAILQ_REMOVE_HEAD(&outbox, link);
		outbox_len--;
		free(o);
	}
	ev_timer_stop(wk.loop, &outbox_timer);
}

static void
on_outbox_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)t;
	(void)revents;
	outbox_flush();
}

int
wk_ipc_send(struct proto_msg *m)
{
	static uint64_t refused;
	nng_msg *msg;
	int rc;

	if (!sock_open)
		return -1;
	m->worker = (uint32_t)wk.id;
	m->gen = wk.cfg_gen;
	if (proto_encode_nng(m, &msg) != 0)
		return -1;
	if (STAILQ_EMPTY(&outbox) &&
	    (rc = nng_sendmsg(wk.sock, msg, NNG_FLAG_NONBLOCK)) == 0)
		return 0;
	/* Keep it, behind whatever already waits. */
	struct outmsg *o = malloc(sizeof(*o));

	if (o == NULL || outbox_len >= OUTBOX_MAX) {
		log_error("the supervisor has not taken %u messages; exiting",
			  outbox_len);
		exit(1);
	}
	if (refused++ % 10000 == 0)
		log_warn("IPC queue to the supervisor full: %s waits (%u "
			 "waiting)",
			 proto_type_name(m->type), outbox_len + 1);
	o->msg = msg;
	STAILQ_INSERT_TAIL(&outbox, o, link);
	outbox_len++;
	if (!ev_is_active(&outbox_timer))
		ev_timer_start(wk.loop, &outbox_timer);
	return 0;
}

/*
 * Load a CONFIG message (every value was range-checked by the decoder)
 * and make it the worker's settings. Handshakes in flight keep the
 * buffer size they started with. Returns WSD_OK or WSD_ENOMEM (the old
 * settings stay).
 */
static int
apply_config(const struct proto_msg *m)
{
	struct settings s;

	if (settings_load(&s, m->config_obj) != WSD_OK) {
		settings_free(settings_worker, settings_worker_n, &s);
		return WSD_ENOMEM;
	}
	settings_free(settings_worker, settings_worker_n, &wk.cfg);
	wk.cfg = s;
	wk.cfg_gen = m->gen;
	return WSD_OK;
}

static void on_kick(const struct proto_msg *m);

static void
dispatch(const struct proto_msg *m)
{
	struct proto_msg r;
	struct wk_conn *c;

	switch (m->type) {
	case PROTO_CONFIG:
		if (apply_config(m) != 0) {
			log_error("cannot apply CONFIG generation %u (out of "
				  "memory); exiting",
				  m->gen);
			exit(100);
		}
		memset(&r, 0, sizeof(r));
		r.type = PROTO_READY;
		wk_ipc_send(&r);
		if (!wk.configured) {
			wk.configured = 1;
			ev_io_start(wk.loop, &wk.accept_io);
		}
		log_debug("applied config generation %u", m->gen);
		break;
	case PROTO_CONN_ACCEPT:
		if ((c = wk_conn_find(m->conn)) != NULL) {
			wk_http_on_accept(c, m);
			wk_conn_settle(c);
		}
		break;
	case PROTO_SUB_REPLY: wk_client_on_sub_reply(m); break;
	case PROTO_DELIVER: wk_client_on_deliver(m); break;
	case PROTO_ACK: wk_client_on_ack(m); break;
	case PROTO_ERROR: wk_client_on_error(m); break;
	case PROTO_KICK: on_kick(m); break;
	default:
		log_error("unexpected %s from the supervisor; exiting",
			  proto_type_name(m->type));
		exit(1);
	}
}

static void
on_kick(const struct proto_msg *m)
{
	struct wk_conn *c = wk_conn_find(m->conn);
	char reason[124];

	if (c == NULL)
		return;
	snprintf(reason, sizeof(reason), "%.*s", (int)m->reason.len,
		 m->reason.p);
	log_info("conn %llu kicked with %d", (unsigned long long)c->id,
		 (int)m->status);
	wk_conn_close(c, (int)m->status, reason);
	wk_conn_settle(c);
}

static void
on_readable(struct ev_loop *loop, ev_io *io, int revents)
{
	msgpack_unpacked u;
	struct proto_msg m;
	nng_msg *msg;
	int rc, budget = 1024;

	(void)revents;
	while (budget-- > 0 &&
	       nng_recvmsg(wk.sock, &msg, NNG_FLAG_NONBLOCK) == 0) {
		msgpack_unpacked_init(&u);
		rc = proto_decode(&m, &u, nng_msg_body(msg), nng_msg_len(msg));
		if (rc != WSD_OK || m.worker != (uint32_t)wk.id) {
			log_error("malformed IPC message from the supervisor "
				  "(%s); exiting",
				  rc != WSD_OK ? proto_bad_name(m.bad)
					       : "wrong worker id");
			exit(1);
		}
		dispatch(&m);
		msgpack_unpacked_destroy(&u);
		nng_msg_free(msg);
	}
	if (budget < 0)
		ev_feed_event(loop, io, EV_READ);
}

static void
on_pipe_gone(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)ev;
	(void)arg;
	/* nng's thread: only the async signal is safe here. */
	ev_async_send(wk.loop, &wk.ipc_gone);
}

int
wk_ipc_open(const char *url)
{
	int fd, rv;

	if ((rv = nng_pair1_open(&wk.sock)) != 0)
		goto fail;
	sock_open = 1;
	if ((rv = nng_socket_set_int(wk.sock, NNG_OPT_SENDBUF, 8192)) != 0 ||
	    (rv = nng_socket_set_int(wk.sock, NNG_OPT_RECVBUF, 8192)) != 0 ||
	    (rv = nng_socket_set_size(wk.sock, NNG_OPT_RECVMAXSZ,
				      PROTO_MAX_DATA + 65536)) != 0 ||
	    (rv = nng_pipe_notify(wk.sock, NNG_PIPE_EV_REM_POST, on_pipe_gone,
				  NULL)) != 0 ||
	    (rv = nng_socket_set_ms(wk.sock, NNG_OPT_RECONNMINT, 10)) != 0 ||
	    (rv = nng_socket_set_ms(wk.sock, NNG_OPT_RECONNMAXT, 200)) != 0 ||
	    /* Non-blocking: nng keeps retrying in the background (a busy
	     * machine may refuse the first attempt); wk_main gives up if no
	     * CONFIG arrives in time. */
	    (rv = nng_dial(wk.sock, url, NULL, NNG_FLAG_NONBLOCK)) != 0 ||
	    (rv = nng_socket_get_int(wk.sock, NNG_OPT_RECVFD, &fd)) != 0)
		goto fail;
	ev_io_init(&wk.ipc_io, on_readable, fd, EV_READ);
	ev_io_start(wk.loop, &wk.ipc_io);
	ev_timer_init(&outbox_timer, on_outbox_timer, OUTBOX_RETRY,
		      OUTBOX_RETRY);
	return 0;
fail:
	log_error("cannot open the IPC channel %s: %s", url, nng_strerror(rv));
	wk_ipc_close();
	return -1;
}

void
wk_ipc_close(void)
{
	if (!sock_open)
		return;
	ev_io_stop(wk.loop, &wk.ipc_io);
	ev_timer_stop(wk.loop, &outbox_timer);
	while (!STAILQ_EMPTY(&outbox)) {
		struct outmsg *o = STAILQ_FIRST(&outbox);

		STAILQ_REMOVE_HEAD(&outbox, link);
		nng_msg_free(o->msg);
		free(o);
	}
	outbox_len = 0;
	nng_close(wk.sock);
	sock_open = 0;
	settings_free(settings_worker, settings_worker_n, &wk.cfg);
}
