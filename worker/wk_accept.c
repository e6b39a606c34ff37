/*
 * wk_accept.c: accepting client connections (wk_accept.h). A worker that
 * runs out of descriptors pauses accepting for a moment instead of
 * spinning: the pending connect stays in the kernel's queue, and another
 * worker may take it.
 */
#include "wk_accept.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../proto/log.h"
#include "wk.h"
#include "wk_conn.h"
#include "wk_http.h"
#include "wk_io.h"
#include "wk_tls.h"

#define ACCEPT_BUDGET 64 /* connections accepted per wakeup */
#define ACCEPT_PAUSE 0.1 /* seconds without accepting when out of fds */

struct listener {
	ev_io io;
	int index; /* among the client listeners */
};

static struct listener listeners[WK_LISTENERS_MAX];
static int nlisteners;
static ev_timer pause_timer;
static int accepting;

/*
 * Let the kernel end a dead peer too: data it never acknowledges within
 * one heartbeat interval and timeout ends the connection
 * (TCP_USER_TIMEOUT), and keepalive probes an idle one at the same pace.
 * The heartbeat still decides for live peers that stop answering.
 */
static void
tune_liveness(int fd)
{
	unsigned user_ms = (unsigned)(wk.cfg.heartbeat_interval_ms +
				      wk.cfg.heartbeat_timeout_ms);
	int one = 1, idle = (int)(wk.cfg.heartbeat_interval_ms / 1000) + 1;
	int intvl = (int)(wk.cfg.heartbeat_timeout_ms / 3000) + 1, cnt = 3;

	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_ms,
		   sizeof(user_ms));
}

static void
on_accept(struct ev_loop *loop, ev_io *io, int revents)
{
	struct listener *l = (struct listener *)io;
	int fd, one = 1, budget = ACCEPT_BUDGET, i;
	struct wk_conn *c;

	(void)revents;
	while (budget-- > 0) {
		fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				log_warn("accept_paused",
					 "error=%s conns=%u pause_ms=%.0f",
					 log_q(strerror(errno)), wk.nconns,
					 ACCEPT_PAUSE * 1000);
				for (i = 0; i < nlisteners; i++)
					ev_io_stop(loop, &listeners[i].io);
				ev_timer_set(&pause_timer, ACCEPT_PAUSE, 0.);
				ev_timer_start(loop, &pause_timer);
			} else if (errno == EINVAL) {
				/* The supervisor shut the listener: the
				 * daemon is exiting. */
				log_debug("listener_shut", "%s", "");
				wk_accept_stop();
			}
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		tune_liveness(fd);
		if (!wk_tls_listener(l->index)) {
			if (wk_conn_create(fd, &wk_io_plain,
					   &wk_http_handler) == NULL)
				close(fd);
			continue;
		}
		/* The handshake runs inside the seam's first reads. */
		if ((c = wk_conn_create(fd, &wk_io_tls, &wk_http_handler)) ==
		    NULL)
			close(fd);
		else if (wk_tls_attach(c, l->index) != WSD_OK)
			wk_conn_destroy(c);
	}
}

static void
on_pause_end(struct ev_loop *loop, ev_timer *t, int revents)
{
	int i;

	(void)t;
	(void)revents;
	for (i = 0; accepting && i < nlisteners; i++)
		if (listeners[i].io.fd >= 0)
			ev_io_start(loop, &listeners[i].io);
}

void
wk_accept_init(int index, int fd)
{
	struct listener *l;

	if (nlisteners == WK_LISTENERS_MAX)
		return;
	l = &listeners[nlisteners++];
	l->index = index;
	ev_io_init(&l->io, on_accept, fd, EV_READ);
	ev_timer_init(&pause_timer, on_pause_end, ACCEPT_PAUSE, 0.);
}

void
wk_accept_start(void)
{
	int i;

	accepting = 1;
	for (i = 0; i < nlisteners; i++)
		if (listeners[i].io.fd >= 0)
			ev_io_start(wk.loop, &listeners[i].io);
}

void
wk_accept_stop(void)
{
	int i;

	accepting = 0;
	ev_timer_stop(wk.loop, &pause_timer);
	for (i = 0; i < nlisteners; i++) {
		ev_io_stop(wk.loop, &listeners[i].io);
		if (listeners[i].io.fd >= 0) {
			close(listeners[i].io.fd);
			ev_io_set(&listeners[i].io, -1, EV_READ);
		}
	}
}
