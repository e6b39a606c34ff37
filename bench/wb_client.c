/*
 * wsbench: one client process.
 *
 * A child owns a contiguous range of connection ids and runs them on one
 * libev loop. It opens them with a bounded number of handshakes in flight,
 * counts a connection as up once the mode says so (the 101 for a plain
 * server; wsd's welcome, or its "subscribed" for a fan-out subscriber),
 * and writes a struct wb_ready to the parent when every connection is up
 * or has failed. On the parent's START it runs the mode:
 *
 *  - idle: report how many connections are still up; with --await,
 *    first wait for one message on each (a broadcast whose data carries
 *    "t", its CLOCK_REALTIME send time in ns) and time it;
 *  - echo: send messages of o->size bytes, each carrying its send time,
 *    spread round robin over the connections at this process's share of
 *    the offered rate (open loop: the schedule does not wait for replies),
 *    for o->secs seconds, and time each echo;
 *  - fanout: child 0 also holds the publisher, which publishes
 *    o->publishes messages at o->rate per second, each carrying its index
 *    and send time; every subscriber times every delivery, and per publish
 *    the child keeps its slowest receiver;
 *  - connect: keep o->inflight connections cycling (connect, upgrade, close
 *    handshake) for o->secs seconds.
 *
 * Then it writes its struct wb_report and waits for QUIT (or the parent's
 * end of the pipe), and exits, which closes every socket at once.
 * Every phase is bounded in time: a handshake that takes longer than
 * o->hs_timeout is aborted by a once-a-second sweep, and a run that does
 * not see all its replies ends at a deadline.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "wb.h"

#define TICK 0.001		/* send schedule granularity, seconds */
#define GRACE_NS 3000000000ull	/* echo: wait for late replies */
#define FGRACE_NS 5000000000ull /* fanout: wait for late deliveries */
#define CLOSE_NS 5000000000ull	/* connect: a close may take this long */

static struct {
	struct ev_loop *loop;
	const struct wb_opts *o;
	int index, nprocs;
	struct wb_conn *conns;
	int n; /* entries in conns (the last is child 0's publisher) */
	uint32_t first;
	int next, inflight, nready, nfailed, nup;
	int ready_sent, running, finished;
	int cmd_fd, rep_fd;
	ev_io cmd_io;
	ev_timer tick, sweep;
	uint64_t t_run, cpu_run;
	struct wb_report rep;
	struct wb_pubstat *pubs;
	/* echo: quota and sent_all count the warm-up too, rep.sent not */
	uint64_t quota, sent_all, recv_all, t_meas;
	double prate;
	int rr;
	char *payload;
	/* fanout */
	struct wb_conn *pub;
	uint64_t expect;
	/* connect */
	uint32_t next_id;
	int open_slots;
	/* idle --await */
	ev_timer await_t;
} cl;

static void
write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t r;

	while (len > 0) {
		r = write(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			exit(3); /* the parent is gone */
		p += r;
		len -= (size_t)r;
	}
}

/* Find key in a message that is not NUL-terminated; parse the number. */
static int
find_u64(const uint8_t *msg, size_t len, const char *key, uint64_t *out)
{
	const uint8_t *p = memmem(msg, len, key, strlen(key)), *end = msg + len;
	uint64_t v = 0;

	if (p == NULL)
		return -1;
	p += strlen(key);
	if (p >= end || *p < '0' || *p > '9')
		return -1;
	while (p < end && *p >= '0' && *p <= '9')
		v = v * 10 + (uint64_t)(*p++ - '0');
	*out = v;
	return 0;
}

static int
has(const uint8_t *msg, size_t len, const char *s)
{
	return memmem(msg, len, s, strlen(s)) != NULL;
}

static void
send_ready(void)
{
	struct wb_ready r;

	if (cl.ready_sent || cl.next < cl.n || cl.inflight > 0)
		return;
	cl.ready_sent = 1;
	r.connected = cl.nready;
	r.failed = cl.nfailed;
	r.t_ready_ns = wb_now_ns();
	write_full(cl.rep_fd, &r, sizeof(r));
}

static void
start_more(void)
{
	struct wb_conn *c;
	uint32_t id;

	while (cl.inflight < cl.o->inflight && cl.next < cl.n) {
		c = &cl.conns[cl.next];
		id = c == cl.pub ? (uint32_t)cl.o->conns
				 : cl.first + (uint32_t)cl.next;
		cl.next++;
		if (wb_conn_open(c, id) != 0) {
			if (cl.nfailed++ < 3)
				fprintf(stderr, "wsbench: connect %u: %s\n", id,
					strerror(errno));
			continue;
		}
		cl.inflight++;
	}
	send_ready();
}

static void
mark_ready(struct wb_conn *c)
{
	if (c->ready)
		return;
	c->ready = 1;
	cl.nready++;
	cl.nup++;
	cl.inflight--;
	start_more();
}

static uint64_t
self_cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) *
		   1000000000u +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u;
}

static void
finish(void)
{
	if (cl.finished)
		return;
	cl.finished = 1;
	cl.rep.cpu_ns = self_cpu_ns() - cl.cpu_run;
	cl.running = 0;
	ev_timer_stop(cl.loop, &cl.tick);
	ev_timer_stop(cl.loop, &cl.await_t);
	cl.rep.npub = cl.pubs ? (uint32_t)cl.o->publishes : 0;
	write_full(cl.rep_fd, &cl.rep, sizeof(cl.rep));
	if (cl.pubs)
		write_full(cl.rep_fd, cl.pubs,
			   sizeof(*cl.pubs) * (size_t)cl.o->publishes);
}

/* Connect mode: put one more connection on a free slot. */
static void
cycle_open(struct wb_conn *c)
{
	uint32_t id = cl.next_id++ * (uint32_t)cl.nprocs + (uint32_t)cl.index;

	if (wb_conn_open(c, id) != 0) {
		cl.rep.failures++;
		return; /* the tick tries this slot again */
	}
	cl.open_slots++;
}

/* Connect mode: the connection is up; count it and close it. */
static void
count_connect(struct wb_conn *c)
{
	c->ready = 1;
	cl.rep.connects++;
	wb_hist_add(&cl.rep.lat, wb_now_ns() - c->t_start);
	wb_conn_close(c, 1000);
}

static void
on_open(struct wb_conn *c)
{
	if (cl.o->wsd)
		return; /* up when the welcome arrives */
	if (cl.o->mode == WB_CONNECT)
		count_connect(c);
	else
		mark_ready(c);
}

static void
wsd_control(struct wb_conn *c, const uint8_t *msg, size_t len)
{
	const struct wb_opts *o = cl.o;
	char buf[300];
	int n;

	if (has(msg, len, "\"welcome\"")) {
		if (o->mode == WB_CONNECT)
			count_connect(c);
		else if (o->mode == WB_FANOUT && !c->pub) {
			n = snprintf(buf, sizeof(buf),
				     "{\"type\":\"subscribe\",\"room\":\"%s\"}",
				     o->room);
			wb_conn_send(c, WSLAY_TEXT_FRAME, buf, (size_t)n);
		} else
			mark_ready(c);
	} else if (has(msg, len, "\"subscribed\"")) {
		mark_ready(c);
	} else if (has(msg, len, "\"error\"")) {
		if (cl.nfailed < 3)
			fprintf(stderr, "wsbench: connection %u: %.*s\n", c->id,
				(int)(len > 200 ? 200 : len),
				(const char *)msg);
		wb_conn_abort(c);
	}
}

static void
on_delivery(const uint8_t *msg, size_t len, uint64_t now)
{
	uint64_t t, i, lat;

	if (find_u64(msg, len, "\"t\":", &t) != 0 ||
	    find_u64(msg, len, "\"i\":", &i) != 0 ||
	    i >= (uint64_t)cl.o->publishes)
		return;
	lat = now > t ? now - t : 0;
	wb_hist_add(&cl.rep.lat, lat);
	if (lat > cl.pubs[i].max_ns)
		cl.pubs[i].max_ns = lat;
	cl.pubs[i].count++;
	cl.rep.received++;
	cl.rep.t_last_ns = now;
	if (cl.rep.received == cl.expect &&
	    (cl.pub == NULL || cl.rep.sent == (uint64_t)cl.o->publishes))
		finish();
}

/*
 * An echo is the message we sent, whole: o->size bytes that start with the
 * send time in 16 hex digits. Anything else (a server that relays the
 * pieces of a frame as separate messages) is counted as bad.
 */
static void
on_echo(const uint8_t *msg, size_t len, uint64_t now)
{
	uint64_t t = 0;
	size_t k;

	if (len != (size_t)cl.o->size) {
		cl.rep.bad++;
		return;
	}
	for (k = 0; k < 16; k++) {
		if (msg[k] >= '0' && msg[k] <= '9')
			t = t << 4 | (uint64_t)(msg[k] - '0');
		else if (msg[k] >= 'a' && msg[k] <= 'f')
			t = t << 4 | (uint64_t)(msg[k] - 'a' + 10);
		else {
			cl.rep.bad++;
			return;
		}
	}
	cl.recv_all++;
	if (t >= cl.t_meas) {
		wb_hist_add(&cl.rep.lat, now > t ? now - t : 0);
		cl.rep.received++;
		cl.rep.t_last_ns = now;
	}
	if (cl.sent_all == cl.quota && cl.recv_all >= cl.quota)
		finish();
}

static uint64_t
realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Idle --await: the first message with "t" on each connection. */
static void
on_awaited(struct wb_conn *c, const uint8_t *msg, size_t len)
{
	uint64_t t, now = realtime_ns();

	if (c->got || find_u64(msg, len, "\"t\":", &t) != 0)
		return;
	c->got = 1;
	wb_hist_add(&cl.rep.lat, now > t ? now - t : 0);
	cl.rep.received++;
	cl.rep.t_last_ns = wb_now_ns();
	if (cl.running && cl.rep.received >= cl.expect)
		finish();
}

static void
on_await_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)t;
	(void)revents;
	finish();
}

static void
on_msg(struct wb_conn *c, int opcode, const uint8_t *msg, size_t len)
{
	const struct wb_opts *o = cl.o;

	(void)opcode;
	if (!c->ready && o->wsd) {
		wsd_control(c, msg, len);
		return;
	}
	if (o->mode == WB_IDLE && o->await_msg && c->ready) {
		on_awaited(c, msg, len);
		return;
	}
	if (!cl.running || c->pub)
		return;
	if (o->mode == WB_ECHO)
		on_echo(msg, len, wb_now_ns());
	else if (o->mode == WB_FANOUT)
		on_delivery(msg, len, wb_now_ns());
}

static void
on_end(struct wb_conn *c, int how)
{
	(void)how; /* a drop during the run is counted the same either way */
	if (cl.o->mode == WB_CONNECT) {
		cl.open_slots--;
		if (!c->ready)
			cl.rep.failures++;
		if (cl.running &&
		    wb_now_ns() < cl.t_run + (uint64_t)(cl.o->secs * 1e9))
			cycle_open(c);
		else if (cl.running && cl.open_slots == 0)
			finish();
		return;
	}
	if (!c->ready) {
		cl.inflight--;
		/* A handshake the server dropped (its timeout, under the
		 * load of a million connecting) is tried again, as a real
		 * client would. */
		if (c->tries < cl.o->retries && !cl.ready_sent) {
			c->tries++;
			if (wb_conn_open(c, c->id) == 0) {
				cl.inflight++;
				return;
			}
		}
		cl.nfailed++;
		start_more();
		return;
	}
	cl.nup--;
	if (cl.ready_sent)
		cl.rep.lost++;
	if (c == cl.pub)
		cl.pub = NULL;
}

static const struct wb_conn_ops ops = {on_open, on_msg, on_end};

static void
echo_tick(uint64_t now)
{
	uint64_t elapsed = now - cl.t_run, target, t;
	uint64_t span = (uint64_t)((cl.o->warmup + cl.o->secs) * 1e9);
	struct wb_conn *c = NULL;
	int tries;

	target = elapsed >= span ? cl.quota
				 : (uint64_t)(cl.prate * (double)elapsed / 1e9);
	if (target > cl.quota)
		target = cl.quota;
	while (cl.sent_all < target && cl.nup > 0) {
		for (tries = 0; tries < cl.n; tries++) {
			c = &cl.conns[cl.rr];
			cl.rr = (cl.rr + 1) % cl.n;
			if (c->state == WB_C_OPEN && c->ready)
				break;
		}
		if (tries == cl.n)
			break;
		t = wb_now_ns();
		snprintf(cl.payload, 17, "%016" PRIx64, t);
		cl.payload[16] = 'x';
		if (wb_conn_send(c, WSLAY_TEXT_FRAME, cl.payload,
				 (size_t)cl.o->size) != 0)
			continue;
		cl.sent_all++;
		if (t >= cl.t_meas) {
			if (cl.rep.sent++ == 0)
				cl.rep.t_first_ns = t;
		}
	}
	if (cl.nup == 0 && cl.sent_all < cl.quota)
		cl.quota = cl.sent_all; /* nothing left to send on */
	if (cl.sent_all >= cl.quota &&
	    (cl.recv_all >= cl.sent_all || now > cl.t_run + span + GRACE_NS))
		finish();
}

static void
fanout_tick(uint64_t now)
{
	const struct wb_opts *o = cl.o;
	uint64_t target, elapsed = now - cl.t_run;
	static char buf[61000], pad[60001];
	int n, plen = o->pad < 0 ? 0 : o->pad > 60000 ? 60000 : o->pad;

	/* Text like a chat message's, the same every time. */
	if (plen > 0 && pad[0] == '\0') {
		static const char words[] = "the room said hello to everyone ";
		int k;

		for (k = 0; k < plen; k++)
			pad[k] = words[k % (sizeof(words) - 1)];
		pad[plen] = '\0';
	}

	if (cl.pub != NULL && cl.rep.sent < (uint64_t)o->publishes) {
		target = (uint64_t)(o->rate * (double)elapsed / 1e9) + 1;
		if (target > (uint64_t)o->publishes)
			target = (uint64_t)o->publishes;
		while (cl.pub != NULL && cl.rep.sent < target) {
			uint64_t t = wb_now_ns();

			if (o->wsd)
				n = snprintf(buf, sizeof(buf),
					     "{\"type\":\"publish\",\"room\":"
					     "\"%s\",\"data\":{\"t\":%" PRIu64
					     ",\"i\":%" PRIu64 "%s%s%s}}",
					     o->room, t, cl.rep.sent,
					     plen ? ",\"p\":\"" : "", pad,
					     plen ? "\"" : "");
			else
				n = snprintf(buf, sizeof(buf),
					     "{\"t\":%" PRIu64 ",\"i\":%" PRIu64
					     "%s%s%s}",
					     t, cl.rep.sent,
					     plen ? ",\"p\":\"" : "", pad,
					     plen ? "\"" : "");
			if (cl.rep.sent == 0)
				cl.rep.t_first_ns = t;
			if (wb_conn_send(cl.pub, WSLAY_TEXT_FRAME, buf,
					 (size_t)n) != 0)
				break;
			cl.rep.sent++;
		}
	}
	if ((cl.rep.received >= cl.expect &&
	     (cl.pub == NULL || cl.rep.sent >= (uint64_t)o->publishes)) ||
	    now > cl.t_run + (uint64_t)((double)o->publishes / o->rate * 1e9) +
		      FGRACE_NS)
		finish();
}

static void
connect_tick(uint64_t now)
{
	int i;

	if (now < cl.t_run + (uint64_t)(cl.o->secs * 1e9)) {
		for (i = 0; i < cl.n; i++)
			if (cl.conns[i].state == WB_C_FREE)
				cycle_open(&cl.conns[i]);
		return;
	}
	if (cl.open_slots == 0 ||
	    now > cl.t_run + (uint64_t)(cl.o->secs * 1e9) + CLOSE_NS) {
		for (i = 0; i < cl.n; i++)
			wb_conn_abort(&cl.conns[i]);
		finish();
	}
}

static void
on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
	uint64_t now = wb_now_ns();

	(void)loop;
	(void)t;
	(void)revents;
	if (!cl.running)
		return;
	switch (cl.o->mode) {
	case WB_ECHO: echo_tick(now); break;
	case WB_FANOUT: fanout_tick(now); break;
	case WB_CONNECT: connect_tick(now); break;
	default: break;
	}
}

/* Abort handshakes (and close handshakes) that take too long. */
static void
on_sweep(struct ev_loop *loop, ev_timer *t, int revents)
{
	uint64_t now = wb_now_ns(), limit = (uint64_t)(cl.o->hs_timeout * 1e9);
	struct wb_conn *c;
	int i;

	(void)loop;
	(void)t;
	(void)revents;
	for (i = 0; i < cl.n; i++) {
		c = &cl.conns[i];
		if (c->state == WB_C_FREE ||
		    (c->ready && c->state == WB_C_OPEN))
			continue;
		if (now - c->t_start > limit + (c->ready ? CLOSE_NS : 0))
			wb_conn_abort(c);
	}
}

static void
start_run(void)
{
	const struct wb_opts *o = cl.o;
	int i;

	cl.running = 1;
	cl.t_run = wb_now_ns();
	cl.cpu_run = self_cpu_ns();
	switch (o->mode) {
	case WB_IDLE:
		if (!o->await_msg) {
			cl.rep.received = (uint64_t)cl.nup;
			finish();
			return;
		}
		cl.expect = (uint64_t)cl.nup;
		if (cl.rep.received >= cl.expect) {
			finish();
			return;
		}
		ev_timer_init(&cl.await_t, on_await_timeout, o->await_secs, 0);
		ev_timer_start(cl.loop, &cl.await_t);
		return;
	case WB_ECHO:
		cl.prate = o->rate * (double)cl.n / (double)o->conns;
		cl.quota = (uint64_t)(cl.prate * (o->warmup + o->secs) + 0.5);
		cl.t_meas = cl.t_run + (uint64_t)(o->warmup * 1e9);
		break;
	case WB_FANOUT:
		for (i = 0; i < cl.n; i++)
			if (cl.conns[i].ready && !cl.conns[i].pub)
				cl.expect += (uint64_t)o->publishes;
		break;
	case WB_CONNECT:
		for (i = 0; i < cl.n; i++)
			cycle_open(&cl.conns[i]);
		break;
	}
	ev_timer_start(cl.loop, &cl.tick);
}

static void
on_cmd(struct ev_loop *loop, ev_io *w, int revents)
{
	char cmd;
	ssize_t r;

	(void)loop;
	(void)revents;
	r = read(w->fd, &cmd, 1);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r == 1 && cmd == WB_CMD_START && !cl.running && !cl.finished) {
		start_run();
		return;
	}
	exit(0); /* QUIT, or the parent is gone: the kernel closes all */
}

void
wb_child_main(const struct wb_opts *o, int index, int nprocs, uint32_t first,
	      int n, int cmd_fd, int rep_fd)
{
	memset(&cl, 0, sizeof(cl));
	cl.loop = ev_default_loop(EVFLAG_AUTO);
	cl.o = o;
	cl.index = index;
	cl.nprocs = nprocs;
	cl.first = first;
	cl.cmd_fd = cmd_fd;
	cl.rep_fd = rep_fd;
	cl.n = n;
	if (o->mode == WB_CONNECT) {
		cl.n = o->inflight;
		cl.next = cl.n; /* nothing to open before START */
	} else if (o->mode == WB_FANOUT && index == 0)
		cl.n = n + 1;
	cl.conns = calloc((size_t)cl.n, sizeof(*cl.conns));
	cl.payload = malloc((size_t)o->size + 32);
	if (o->mode == WB_FANOUT)
		cl.pubs = calloc((size_t)o->publishes, sizeof(*cl.pubs));
	if (cl.conns == NULL || cl.payload == NULL ||
	    (o->mode == WB_FANOUT && cl.pubs == NULL)) {
		fprintf(stderr, "wsbench: out of memory\n");
		exit(2);
	}
	memset(cl.payload, 'x', (size_t)o->size);
	if (o->mode == WB_FANOUT && index == 0) {
		cl.pub = &cl.conns[n];
		cl.pub->pub = 1;
	}
	wb_net_init(cl.loop, o, &ops);
	ev_io_init(&cl.cmd_io, on_cmd, cmd_fd, EV_READ);
	ev_io_start(cl.loop, &cl.cmd_io);
	ev_timer_init(&cl.tick, on_tick, TICK, TICK);
	ev_timer_init(&cl.sweep, on_sweep, 1.0, 1.0);
	ev_timer_start(cl.loop, &cl.sweep);
	start_more();
	ev_run(cl.loop, 0);
	exit(0);
}
