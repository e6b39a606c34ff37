/*
 * wk_ipc.c: the worker's channel to its supervisor (wk_ipc.h), an nng
 * pair1 socket dialled to the supervisor's ipc:// listener. Incoming
 * messages are read from the loop through nng's receive descriptor,
 * decoded with full validation and handed to the callback given at open;
 * a message that fails validation means the supervisor and this worker
 * disagree on the protocol, so the worker exits and lets the supervisor
 * start a fresh one. When the pipe to the supervisor goes away, nng tells
 * us on its own thread and an ev_async brings the news to the loop.
 *
 * Nothing a worker says is dropped: a message nng's queue refuses waits,
 * in order, in an outbox retried every few milliseconds (a lost
 * CONN_CLOSE would leave a ghost in the registry). The outbox is bounded;
 * a supervisor that stops taking messages for that long gets a worker
 * that exits, and the supervisor's restart cleans up after it.
 */
#include "wk_ipc.h"

#include <nng/protocol/pair1/pair.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/log.h"
#include "wk.h"

#define IPC_QUEUE 8192 /* messages nng holds each way */
#define OUTBOX_MAX 1000000
#define OUTBOX_MAX_BYTES (512ull << 20)
#define OUTBOX_RETRY 0.005
#define RECV_BUDGET 1024 /* messages read per wakeup */

struct outmsg {
	STAILQ_ENTRY(outmsg) link;
	nng_msg *msg;
};

static nng_socket sock;
static int sock_open;
static ev_io recv_io;
static ev_async gone;
static wk_ipc_msg_fn *msg_cb;
static wk_ipc_gone_fn *gone_cb;
static uint64_t sent;
static STAILQ_HEAD(, outmsg) outbox = STAILQ_HEAD_INITIALIZER(outbox);
static uint32_t outbox_len;
static uint64_t outbox_bytes;
static ev_timer outbox_timer;

/* Send what waits, in order, until nng refuses again. */
static void
outbox_flush(void)
{
	struct outmsg *o;

	while ((o = STAILQ_FIRST(&outbox)) != NULL) {
		size_t len = nng_msg_len(o->msg);

		if (nng_sendmsg(sock, o->msg, NNG_FLAG_NONBLOCK) != 0)
			return;
		STAILQ_REMOVE_HEAD(&outbox, link);
		outbox_len--;
		outbox_bytes -= len;
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
	struct outmsg *o;
	nng_msg *msg;
	int rc;

	if (!sock_open)
		return WSD_ECLOSED;
	m->worker = (uint32_t)wk.id;
	m->gen = wk.cfg_gen;
	if ((rc = proto_encode_nng(m, &msg)) != WSD_OK)
		return rc;
	sent++;
	if (STAILQ_EMPTY(&outbox) &&
	    nng_sendmsg(sock, msg, NNG_FLAG_NONBLOCK) == 0)
		return WSD_OK;
	/* Keep it, behind whatever already waits. */
	if ((o = malloc(sizeof(*o))) == NULL || outbox_len >= OUTBOX_MAX ||
	    outbox_bytes + nng_msg_len(msg) > OUTBOX_MAX_BYTES) {
		log_error("ipc_stuck", "msgs=%u bytes=%llu", outbox_len,
			  (unsigned long long)outbox_bytes);
		exit(1);
	}
	if (refused++ % 10000 == 0)
		log_warn("ipc_queue_full", "type=%s waiting=%u",
			 proto_type_name(m->type), outbox_len + 1);
	o->msg = msg;
	STAILQ_INSERT_TAIL(&outbox, o, link);
	outbox_len++;
	outbox_bytes += nng_msg_len(msg);
	if (!ev_is_active(&outbox_timer))
		ev_timer_start(wk.loop, &outbox_timer);
	return WSD_OK;
}

uint32_t
wk_ipc_backlog_msgs(void)
{
	return outbox_len;
}

uint64_t
wk_ipc_sent(void)
{
	return sent;
}

uint64_t
wk_ipc_backlog(void)
{
	return outbox_bytes;
}

static void
on_readable(struct ev_loop *loop, ev_io *io, int revents)
{
	msgpack_unpacked u;
	struct proto_msg m;
	nng_msg *msg;
	int budget = RECV_BUDGET;

	(void)revents;
	while (budget-- > 0 && sock_open &&
	       nng_recvmsg(sock, &msg, NNG_FLAG_NONBLOCK) == 0) {
		msgpack_unpacked_init(&u);
		if (proto_decode(&m, &u, nng_msg_body(msg), nng_msg_len(msg)) !=
			WSD_OK ||
		    m.worker != (uint32_t)wk.id) {
			log_error("ipc_malformed", "reason=%s",
				  log_q(m.bad != PROTO_BAD_NONE
					    ? proto_bad_name(m.bad)
					    : "wrong worker id"));
			exit(1);
		}
		msg_cb(&m);
		msgpack_unpacked_destroy(&u);
		nng_msg_free(msg);
	}
	if (budget < 0)
		ev_feed_event(loop, io, EV_READ);
}

static void
on_gone(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	gone_cb();
}

static void
on_pipe_gone(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)ev;
	(void)arg;
	/* nng's thread: only the async signal is safe here. */
	ev_async_send(wk.loop, &gone);
}

int
wk_ipc_open(const char *url, wk_ipc_msg_fn *on_msg, wk_ipc_gone_fn *gone_fn)
{
	int fd, rv;

	msg_cb = on_msg;
	gone_cb = gone_fn;
	ev_async_init(&gone, on_gone);
	ev_async_start(wk.loop, &gone);
	ev_timer_init(&outbox_timer, on_outbox_timer, OUTBOX_RETRY,
		      OUTBOX_RETRY);
	if ((rv = nng_pair1_open(&sock)) != 0)
		goto fail;
	sock_open = 1;
	if ((rv = nng_socket_set_int(sock, NNG_OPT_SENDBUF, IPC_QUEUE)) != 0 ||
	    (rv = nng_socket_set_int(sock, NNG_OPT_RECVBUF, IPC_QUEUE)) != 0 ||
	    (rv = nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ,
				      PROTO_MAX_DATA + 65536)) != 0 ||
	    (rv = nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, on_pipe_gone,
				  NULL)) != 0 ||
	    (rv = nng_socket_set_ms(sock, NNG_OPT_RECONNMINT, 10)) != 0 ||
	    (rv = nng_socket_set_ms(sock, NNG_OPT_RECONNMAXT, 200)) != 0 ||
	    /* Non-blocking: nng keeps retrying in the background (a busy
	     * machine may refuse the first attempt); wk_main gives up if no
	     * CONFIG arrives in time. */
	    (rv = nng_dial(sock, url, NULL, NNG_FLAG_NONBLOCK)) != 0 ||
	    (rv = nng_socket_get_int(sock, NNG_OPT_RECVFD, &fd)) != 0)
		goto fail;
	ev_io_init(&recv_io, on_readable, fd, EV_READ);
	ev_io_start(wk.loop, &recv_io);
	return WSD_OK;
fail:
	log_error("ipc_open_failed", "url=%s error=%s", log_q(url),
		  log_q(nng_strerror(rv)));
	wk_ipc_close();
	return WSD_ECLOSED;
}

void
wk_ipc_close(void)
{
	ev_async_stop(wk.loop, &gone);
	if (!sock_open)
		return;
	ev_io_stop(wk.loop, &recv_io);
	ev_timer_stop(wk.loop, &outbox_timer);
	while (!STAILQ_EMPTY(&outbox)) {
		struct outmsg *o = STAILQ_FIRST(&outbox);

		STAILQ_REMOVE_HEAD(&outbox, link);
		nng_msg_free(o->msg);
		free(o);
	}
	outbox_len = 0;
	outbox_bytes = 0;
	/* Its pipe's end is ours, not a lost supervisor. */
	nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, NULL, NULL);
	nng_close(sock);
	sock_open = 0;
}
