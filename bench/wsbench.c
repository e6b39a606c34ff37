/*
 * wsbench: a WebSocket load generator for wsd and its peers.
 *
 *   wsbench -m idle|echo|fanout|connect -u ws://127.0.0.1:PORT/PATH
 *           [-n NAME] [-p SERVER_PID] [--wsd] [--proto SUBPROTOCOL]
 *           [-c CONNS] [-s BYTES] [-r RATE] [-t SECS] [-P PUBLISHES] ...
 *
 * The parent process parses the options, splits the connections over
 * client processes (each holds at most --per-proc, because a process may
 * not have more than 20,000 descriptors here), forks them, waits until
 * every child has its connections up, samples the server (CPU time, and in
 * idle mode its PSS and the kernel's socket figures: wb_proc.c), starts the
 * run, collects the children's reports, samples again, and prints one line
 * of key=value pairs followed by one line for people. Connections go only
 * to loopback addresses, from source addresses 127.0.0.2 upwards. Every
 * wait is bounded; children that do not answer in time are killed by PID.
 *
 * Exit status: 0 when the run completed (even if some connections
 * failed: the counts say so), 1 when it could not be run, 2 on usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wb.h"

#define MAX_PROCS 64

struct child {
	pid_t pid;
	int cmd_fd, rep_fd;
	uint32_t first;
	int n;
	struct wb_ready ready;
	struct wb_report rep;
	struct wb_pubstat *pubs;
	int have_ready, have_rep;
};

static struct child kids[MAX_PROCS];
static int nkids;
static double user_share; /* user time / CPU time of the server, from ticks */

static void
usage(void)
{
	fprintf(
	    stderr,
	    "usage: wsbench -m MODE -u ws://127.0.0.1:PORT/PATH [options]\n"
	    "  -m, --mode M        idle, echo, fanout or connect\n"
	    "  -u, --url URL       server (loopback, plain ws://)\n"
	    "  -n, --name NAME     label for the output (default: server)\n"
	    "  -p, --pid PID       server process; its tree is sampled\n"
	    "      --wsd           speak wsd.v1 (welcome, subscribe, "
	    "publish)\n"
	    "      --proto P       offer Sec-WebSocket-Protocol P\n"
	    "      --deflate       offer permessage-deflate "
	    "(client_no_context_takeover)\n"
	    "      --pad B         fanout: B bytes of text in each publish "
	    "(0..60000)\n"
	    "  -c, --conns N       connections or subscribers (default "
	    "200)\n"
	    "  -s, --size B        echo message bytes, >= 16 (default 64)\n"
	    "  -r, --rate R        echo msg/s in all (10000) or fanout "
	    "publishes/s (10)\n"
	    "  -t, --secs T        echo and connect duration (default 10)\n"
	    "  -P, --publishes N   fanout messages published (default 100)\n"
	    "      --room NAME     fanout room for wsd (default bench)\n"
	    "  -a, --addrs N       source addresses 127.0.0.2.. (default "
	    "200)\n"
	    "      --per-proc N    most connections per process (15000)\n"
	    "  -j, --procs N       client processes (default: derived)\n"
	    "      --inflight N    handshakes in flight per process (256; "
	    "connect: 32)\n"
	    "      --settle S      idle: wait before sampling (default 2)\n"
	    "      --light         idle: no wslay after the upgrade (pings "
	    "answered by hand)\n"
	    "      --await S       idle: then wait up to S s for one message "
	    "on each\n"
	    "                      connection whose data has \"t\" "
	    "(CLOCK_REALTIME ns)\n"
	    "      --hold-cmd CMD  idle: run CMD (sh -c) once all are up and "
	    "sampled\n"
	    "      --retries N     idle: open a failed connection again, up "
	    "to N times\n"
	    "      --warmup S      echo: load before measuring (default 1)\n"
	    "      --hs-timeout S  handshake limit (default 10)\n"
	    "      --ready-timeout S  limit for all connections (120)\n"
	    "  URL paths may contain {id}, replaced by the connection id.\n");
	exit(2);
}

static int
parse_url(struct wb_opts *o, const char *url)
{
	const char *p, *slash;
	char *end;
	long port;

	if (strncmp(url, "ws://", 5) != 0)
		return -1;
	p = url + 5;
	slash = strchr(p, '/');
	end = strchr(p, ':');
	if (end == NULL || (slash != NULL && end > slash) ||
	    (size_t)(end - p) >= sizeof(o->host))
		return -1;
	memcpy(o->host, p, (size_t)(end - p));
	o->host[end - p] = '\0';
	port = strtol(end + 1, &end, 10);
	if (port <= 0 || port > 65535 || (*end != '/' && *end != '\0'))
		return -1;
	o->port = (int)port;
	snprintf(o->path, sizeof(o->path), "%s", *end ? end : "/");
	/* Loopback only: this tool never loads another machine. */
	return strncmp(o->host, "127.", 4) == 0 ? 0 : -1;
}

static void
parse(struct wb_opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"mode", 1, 0, 'm'},	  {"url", 1, 0, 'u'},
	    {"name", 1, 0, 'n'},	  {"pid", 1, 0, 'p'},
	    {"wsd", 0, 0, 'W'},		  {"proto", 1, 0, 'X'},
	    {"conns", 1, 0, 'c'},	  {"size", 1, 0, 's'},
	    {"rate", 1, 0, 'r'},	  {"secs", 1, 0, 't'},
	    {"publishes", 1, 0, 'P'},	  {"room", 1, 0, 'R'},
	    {"addrs", 1, 0, 'a'},	  {"per-proc", 1, 0, 'M'},
	    {"procs", 1, 0, 'j'},	  {"inflight", 1, 0, 'I'},
	    {"settle", 1, 0, 'S'},	  {"hs-timeout", 1, 0, 'H'},
	    {"ready-timeout", 1, 0, 'T'}, {"warmup", 1, 0, 'w'},
	    {"deflate", 0, 0, 'D'},	  {"pad", 1, 0, 'G'},
	    {"light", 0, 0, 'L'},	  {"await", 1, 0, 'A'},
	    {"hold-cmd", 1, 0, 'C'},	  {"retries", 1, 0, 'Y'},
	    {"help", 0, 0, 'h'},	  {0, 0, 0, 0}};
	const char *mode = NULL, *url = NULL;
	int ch, rate_set = 0;

	memset(o, 0, sizeof(*o));
	o->name = "server";
	o->conns = 200;
	o->size = 64;
	o->rate = 10000;
	o->secs = 10;
	o->publishes = 100;
	o->room = "bench";
	o->naddrs = 200;
	o->per_proc = 15000;
	o->settle = 2;
	o->warmup = 1;
	o->hs_timeout = 10;
	o->ready_timeout = 120;
	while ((ch = getopt_long(argc, argv, "m:u:n:p:c:s:r:t:P:a:j:h", lo,
				 NULL)) != -1) {
		switch (ch) {
		case 'm': mode = optarg; break;
		case 'u': url = optarg; break;
		case 'n': o->name = optarg; break;
		case 'p': o->server_pid = (pid_t)atoi(optarg); break;
		case 'W': o->wsd = 1; break;
		case 'D': o->deflate = 1; break;
		case 'G': o->pad = atoi(optarg); break;
		case 'X': o->subproto = optarg; break;
		case 'c': o->conns = atoi(optarg); break;
		case 's': o->size = atoi(optarg); break;
		case 'r':
			o->rate = atof(optarg);
			rate_set = 1;
			break;
		case 't': o->secs = atof(optarg); break;
		case 'P': o->publishes = atoi(optarg); break;
		case 'R': o->room = optarg; break;
		case 'a': o->naddrs = atoi(optarg); break;
		case 'M': o->per_proc = atoi(optarg); break;
		case 'j': o->procs = atoi(optarg); break;
		case 'I': o->inflight = atoi(optarg); break;
		case 'S': o->settle = atof(optarg); break;
		case 'L': o->light = 1; break;
		case 'A':
			o->await_msg = 1;
			o->await_secs = atof(optarg);
			break;
		case 'C': o->hold_cmd = optarg; break;
		case 'Y': o->retries = atoi(optarg); break;
		case 'H': o->hs_timeout = atof(optarg); break;
		case 'T': o->ready_timeout = atof(optarg); break;
		case 'w': o->warmup = atof(optarg); break;
		default: usage();
		}
	}
	if (mode == NULL || url == NULL || optind != argc)
		usage();
	if (strcmp(mode, "idle") == 0)
		o->mode = WB_IDLE;
	else if (strcmp(mode, "echo") == 0)
		o->mode = WB_ECHO;
	else if (strcmp(mode, "fanout") == 0)
		o->mode = WB_FANOUT;
	else if (strcmp(mode, "connect") == 0)
		o->mode = WB_CONNECT;
	else
		usage();
	if (parse_url(o, url) != 0) {
		fprintf(stderr, "wsbench: %s: want ws://127.x.x.x:PORT/PATH\n",
			url);
		exit(2);
	}
	if (o->mode == WB_FANOUT && !rate_set)
		o->rate = 10;
	if (o->inflight <= 0)
		o->inflight = o->mode == WB_CONNECT ? 32 : 256;
	if (o->conns < 1 || o->size < 16 || o->size > 1 << 20 || o->rate <= 0 ||
	    o->secs <= 0 || o->secs > 3600 || o->warmup < 0 || o->warmup > 60 ||
	    o->publishes < 1 || o->publishes > 1000000 || o->naddrs < 1 ||
	    o->naddrs > 250 || o->per_proc < 1 || o->per_proc > 19000 ||
	    o->procs < 0 || o->procs > MAX_PROCS || o->inflight > 10000 ||
	    strlen(o->room) > 100) {
		fprintf(stderr, "wsbench: option out of range\n");
		exit(2);
	}
}

static void
kill_kids(void)
{
	int i;

	for (i = 0; i < nkids; i++)
		if (kids[i].pid > 0)
			kill(kids[i].pid, SIGKILL);
}

/*
 * Read len bytes from fd before the deadline (monotonic ns). Returns 0,
 * or -1 on timeout or when the child's end closed first.
 */
static int
read_by(int fd, void *buf, size_t len, uint64_t deadline)
{
	struct pollfd pfd = {fd, POLLIN, 0};
	char *p = buf;
	uint64_t now;
	ssize_t r;

	while (len > 0) {
		now = wb_now_ns();
		if (now >= deadline)
			return -1;
		r = poll(&pfd, 1, (int)((deadline - now) / 1000000 + 1));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		r = read(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

static void
command_all(char cmd)
{
	int i;

	for (i = 0; i < nkids; i++)
		if (write(kids[i].cmd_fd, &cmd, 1) != 1)
			fprintf(stderr, "wsbench: child %d is gone\n", i);
}

static void
spawn(const struct wb_opts *o, int nprocs)
{
	int cmd[2], rep[2], i, j, total = o->mode == WB_CONNECT ? 0 : o->conns;
	pid_t pid;

	for (i = 0; i < nprocs; i++) {
		struct child *k = &kids[i];

		k->first = (uint32_t)((int64_t)total * i / nprocs);
		k->n = (int)((int64_t)total * (i + 1) / nprocs) - (int)k->first;
		if (pipe2(cmd, O_CLOEXEC) != 0 || pipe2(rep, O_CLOEXEC) != 0) {
			perror("wsbench: pipe");
			kill_kids();
			exit(1);
		}
		fflush(NULL);
		pid = fork();
		if (pid < 0) {
			perror("wsbench: fork");
			kill_kids();
			exit(1);
		}
		if (pid == 0) {
			for (j = 0; j < i; j++) {
				close(kids[j].cmd_fd);
				close(kids[j].rep_fd);
			}
			close(cmd[1]);
			close(rep[0]);
			wb_child_main(o, i, nprocs, k->first, k->n, cmd[0],
				      rep[1]);
		}
		close(cmd[0]);
		close(rep[1]);
		k->pid = pid;
		k->cmd_fd = cmd[1];
		k->rep_fd = rep[0];
		nkids = i + 1;
	}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double
us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static double
mb(uint64_t bytes)
{
	return (double)bytes / 1048576.0;
}

static void
print_idle(const struct wb_opts *o, const struct wb_sample *s0,
	   const struct wb_sample *s1, int connected, int failed,
	   double connect_s, const struct wb_report *r)
{
	uint64_t still_up = o->await_msg ? 0 : r->received;
	double per =
	    connected ? ((double)s1->pss - (double)s0->pss) / connected : 0;
	double kslab = connected ? ((double)s1->slab_kb - (double)s0->slab_kb) *
				       1024.0 / connected
				 : 0;
	double tcpmem = connected
			    ? (double)(s1->tcp_mem_pages - s0->tcp_mem_pages) *
				  4096.0 / connected
			    : 0;
	int i;

	printf("mode=idle server=%s conns=%d connected=%d failed=%d "
	       "still_up=%" PRIu64 " procs=%d connect_s=%.2f "
	       "connect_rate=%.0f server_procs=%d pss_before=%" PRIu64
	       " pss_after=%" PRIu64 " pss_per_conn=%.0f sockets_delta=%" PRId64
	       " tcp_mem_pages_delta=%" PRId64 " tcp_mem_per_conn=%.0f "
	       "slab_per_conn_both_ends=%.0f ",
	       o->name, o->conns, connected, failed, still_up, nkids, connect_s,
	       connect_s > 0 ? connected / connect_s : 0, s1->nprocs, s0->pss,
	       s1->pss, per, s1->sockets_used - s0->sockets_used,
	       s1->tcp_mem_pages - s0->tcp_mem_pages, tcpmem, kslab);
	/* Each process's growth, root (e.g. wsd's supervisor) first. */
	printf("pss_growth_by_process=");
	for (i = 0; i < s1->nprocs && i < WB_SAMPLE_PROCS; i++) {
		uint64_t before = 0;
		int j;

		for (j = 0; j < s0->nprocs && j < WB_SAMPLE_PROCS; j++)
			if (s0->pid[j] == s1->pid[i])
				before = s0->pss_of[j];
		printf("%s%d:%.0f", i ? "," : "", (int)s1->pid[i],
		       connected ? ((double)s1->pss_of[i] - (double)before) /
				       connected
				 : 0);
	}
	if (o->await_msg)
		printf(" awaited=%" PRIu64 " await_p50_ms=%.1f "
		       "await_p99_ms=%.1f await_max_ms=%.1f",
		       r->received,
		       (double)wb_hist_quantile(&r->lat, 0.5) / 1e6,
		       (double)wb_hist_quantile(&r->lat, 0.99) / 1e6,
		       (double)r->lat.max / 1e6);
	printf("\n");
	printf("%s idle: %d/%d connections up in %.1f s (%d client "
	       "processes); server PSS %.1f -> %.1f MB over %d processes = "
	       "%.0f bytes/connection; kernel slab +%.0f bytes/connection "
	       "(client and server ends), TCP buffers %.0f bytes/connection\n",
	       o->name, connected, o->conns, connect_s, nkids, mb(s0->pss),
	       mb(s1->pss), s1->nprocs, per, kslab, tcpmem);
	if (o->await_msg)
		printf("%s idle: the awaited message reached %" PRIu64
		       " connections; p50 %.1f ms, p99 %.1f ms, last %.1f "
		       "ms\n",
		       o->name, r->received,
		       (double)wb_hist_quantile(&r->lat, 0.5) / 1e6,
		       (double)wb_hist_quantile(&r->lat, 0.99) / 1e6,
		       (double)r->lat.max / 1e6);
}

static void
print_echo(const struct wb_opts *o, const struct wb_report *r, int connected,
	   double cpu_s, double client_s)
{
	double span = r->t_last_ns > r->t_first_ns
			  ? (double)(r->t_last_ns - r->t_first_ns) / 1e9
			  : 0;
	double tput = span > 0 ? (double)r->received / span : 0;
	double per = r->received ? cpu_s * 1e6 / (double)r->received : 0;

	printf("mode=echo server=%s conns=%d connected=%d size=%d rate=%.0f "
	       "secs=%.1f sent=%" PRIu64 " received=%" PRIu64 " lost=%" PRIu64
	       " bad=%" PRIu64
	       " throughput=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f "
	       "max_us=%.1f server_cpu_s=%.3f server_user_share=%.2f "
	       "cpu_per_msg_us=%.2f client_cpu_s=%.3f\n",
	       o->name, o->conns, connected, o->size, o->rate, o->secs, r->sent,
	       r->received, r->lost, r->bad, tput,
	       us(wb_hist_quantile(&r->lat, .5)),
	       us(wb_hist_quantile(&r->lat, .99)),
	       us(wb_hist_quantile(&r->lat, .999)), us(r->lat.max), cpu_s,
	       user_share, per, client_s);
	printf("%s echo: %d connections, %d-byte messages at %.0f/s for %.0f "
	       "s: %" PRIu64 "/%" PRIu64 " echoed (%" PRIu64 " bad), %.0f "
	       "msg/s; round trip p50 "
	       "%.0f us, p99 %.0f us, p99.9 %.0f us; server CPU %.2f s = %.2f "
	       "us/message\n",
	       o->name, connected, o->size, o->rate, o->secs, r->received,
	       r->sent, r->bad, tput, us(wb_hist_quantile(&r->lat, .5)),
	       us(wb_hist_quantile(&r->lat, .99)),
	       us(wb_hist_quantile(&r->lat, .999)), cpu_s, per);
}

static void
print_fanout(const struct wb_opts *o, const struct wb_report *r, int subs,
	     double cpu_s, double client_s)
{
	uint64_t *last = calloc((size_t)o->publishes, sizeof(*last));
	uint64_t complete = 0, expected = (uint64_t)subs * r->sent;
	double span = r->t_last_ns > r->t_first_ns
			  ? (double)(r->t_last_ns - r->t_first_ns) / 1e9
			  : 0;
	double rate = span > 0 ? (double)r->received / span : 0;
	double per = r->received ? cpu_s * 1e6 / (double)r->received : 0;
	uint64_t lp50 = 0, lp99 = 0, lmax = 0, cnt;
	int i, k, np = 0;

	for (i = 0; last != NULL && i < o->publishes && (uint64_t)i < r->sent;
	     i++) {
		uint64_t m = 0;

		cnt = 0;
		for (k = 0; k < nkids; k++) {
			if (kids[k].pubs == NULL)
				continue;
			cnt += kids[k].pubs[i].count;
			if (kids[k].pubs[i].max_ns > m)
				m = kids[k].pubs[i].max_ns;
		}
		if (cnt == (uint64_t)subs)
			complete++;
		last[np++] = m;
	}
	if (np > 0) {
		qsort(last, (size_t)np, sizeof(*last), cmp_u64);
		lp50 = last[(np - 1) / 2];
		lp99 = last[(size_t)ceil(np * 0.99) - 1];
		lmax = last[np - 1];
	}
	free(last);
	printf("mode=fanout server=%s subs=%d connected=%d publishes=%d "
	       "rate=%.1f sent=%" PRIu64 " deliveries=%" PRIu64
	       " expected=%" PRIu64 " complete_publishes=%" PRIu64
	       " lost=%" PRIu64 " deliveries_per_s=%.0f p50_us=%.1f "
	       "p99_us=%.1f last_p50_ms=%.2f last_p99_ms=%.2f "
	       "last_max_ms=%.2f server_cpu_s=%.3f server_user_share=%.2f "
	       "cpu_per_delivery_us=%.3f client_cpu_s=%.3f\n",
	       o->name, o->conns, subs, o->publishes, o->rate, r->sent,
	       r->received, expected, complete, r->lost, rate,
	       us(wb_hist_quantile(&r->lat, .5)),
	       us(wb_hist_quantile(&r->lat, .99)), (double)lp50 / 1e6,
	       (double)lp99 / 1e6, (double)lmax / 1e6, cpu_s, user_share, per,
	       client_s);
	printf("%s fanout: %d subscribers, %" PRIu64 " publishes at %.0f/s: "
	       "%" PRIu64 "/%" PRIu64 " deliveries, %.0f/s; delivery p50 %.1f "
	       "ms, p99 %.1f ms; last receiver p50 %.1f ms, p99 %.1f ms; "
	       "server CPU %.2f s = %.2f us/delivery\n",
	       o->name, subs, r->sent, o->rate, r->received, expected, rate,
	       us(wb_hist_quantile(&r->lat, .5)) / 1000,
	       us(wb_hist_quantile(&r->lat, .99)) / 1000, (double)lp50 / 1e6,
	       (double)lp99 / 1e6, cpu_s, per);
}

static void
print_connect(const struct wb_opts *o, const struct wb_report *r, double cpu_s,
	      double client_s)
{
	double rate = (double)r->connects / o->secs;
	double per = r->connects ? cpu_s * 1e6 / (double)r->connects : 0;

	printf(
	    "mode=connect server=%s secs=%.1f procs=%d inflight=%d "
	    "connects=%" PRIu64 " failures=%" PRIu64
	    " connects_per_s=%.0f hs_p50_us=%.0f hs_p99_us=%.0f "
	    "server_cpu_s=%.3f server_user_share=%.2f cpu_per_connect_us=%.1f "
	    "client_cpu_s=%.3f\n",
	    o->name, o->secs, nkids, o->inflight * nkids, r->connects,
	    r->failures, rate, us(wb_hist_quantile(&r->lat, .5)),
	    us(wb_hist_quantile(&r->lat, .99)), cpu_s, user_share, per,
	    client_s);
	printf("%s connect: %.0f connections/s (open, upgrade, close "
	       "handshake; %d in flight) for %.0f s, %" PRIu64 " failed; "
	       "handshake p50 %.0f us; server CPU %.1f us/connection\n",
	       o->name, rate, o->inflight * nkids, o->secs, r->failures,
	       us(wb_hist_quantile(&r->lat, .5)), per);
}

static void
reap(void)
{
	uint64_t deadline = wb_now_ns() + 10000000000ull;
	int i, st, left;

	do {
		left = 0;
		for (i = 0; i < nkids; i++) {
			if (kids[i].pid <= 0)
				continue;
			if (waitpid(kids[i].pid, &st, WNOHANG) == kids[i].pid)
				kids[i].pid = 0;
			else
				left++;
		}
		if (left > 0) {
			if (wb_now_ns() > deadline) {
				kill_kids();
				deadline = UINT64_MAX;
			}
			usleep(20000);
		}
	} while (left > 0);
}

int
main(int argc, char **argv)
{
	struct wb_opts o;
	struct wb_sample s0, s1;
	struct wb_report total;
	struct rlimit rl;
	uint64_t t0, t_ready = 0, deadline;
	int nprocs, i, connected = 0, failed = 0;
	double run_s, client_s = 0, cpu_s;

	parse(&o, argc, argv);
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (o.procs > 0)
		nprocs = o.procs;
	else if (o.mode == WB_CONNECT)
		nprocs = 1;
	else
		nprocs = (o.conns + o.per_proc - 1) / o.per_proc;
	if (o.mode != WB_CONNECT && nprocs > o.conns)
		nprocs = o.conns;
	if ((uint64_t)(o.conns / nprocs) + 64 > (uint64_t)rl.rlim_cur &&
	    o.mode != WB_CONNECT) {
		fprintf(stderr,
			"wsbench: %d connections per process exceed the "
			"descriptor limit %llu; use more processes (-j)\n",
			o.conns / nprocs, (unsigned long long)rl.rlim_cur);
		return 2;
	}
	wb_sample_take(o.server_pid, o.mode == WB_IDLE, &s0);
	if (o.server_pid > 0 && s0.nprocs == 0) {
		fprintf(stderr, "wsbench: no process %d\n", (int)o.server_pid);
		return 1;
	}
	t0 = wb_now_ns();
	spawn(&o, nprocs);

	deadline = t0 + (uint64_t)(o.ready_timeout * 1e9);
	for (i = 0; i < nkids; i++) {
		if (read_by(kids[i].rep_fd, &kids[i].ready,
			    sizeof(kids[i].ready), deadline) != 0) {
			fprintf(stderr,
				"wsbench: client %d not ready in time\n", i);
			kill_kids();
			reap();
			return 1;
		}
		connected += kids[i].ready.connected;
		failed += kids[i].ready.failed;
		if (kids[i].ready.t_ready_ns > t_ready)
			t_ready = kids[i].ready.t_ready_ns;
	}
	if (o.mode != WB_CONNECT)
		fprintf(
		    stderr, "wsbench: %s: %d connected, %d failed in %.2f s\n",
		    o.name, connected, failed, (double)(t_ready - t0) / 1e9);

	if (o.mode == WB_IDLE) {
		usleep((useconds_t)(o.settle * 1e6));
		wb_sample_take(o.server_pid, 1, &s1);
		command_all(WB_CMD_START);
		if (o.hold_cmd != NULL) {
			fflush(stdout);
			if (system(o.hold_cmd) != 0)
				fprintf(stderr, "wsbench: --hold-cmd failed\n");
		}
	} else {
		command_all(WB_CMD_START);
		if (o.mode == WB_ECHO)
			usleep((useconds_t)(o.warmup * 1e6));
		wb_sample_take(o.server_pid, 0, &s0);
	}

	switch (o.mode) {
	case WB_ECHO: run_s = o.secs + 10; break;
	case WB_CONNECT: run_s = o.secs + 10; break;
	case WB_FANOUT: run_s = o.publishes / o.rate + 10; break;
	default: run_s = 10 + (o.await_msg ? o.await_secs : 0);
	}
	deadline = wb_now_ns() + (uint64_t)(run_s * 1e9);
	memset(&total, 0, sizeof(total));
	for (i = 0; i < nkids; i++) {
		struct child *k = &kids[i];

		if (read_by(k->rep_fd, &k->rep, sizeof(k->rep), deadline) !=
		    0) {
			fprintf(stderr, "wsbench: client %d did not report\n",
				i);
			continue;
		}
		if (k->rep.npub > 0) {
			k->pubs = calloc(k->rep.npub, sizeof(*k->pubs));
			if (k->pubs == NULL ||
			    read_by(k->rep_fd, k->pubs,
				    k->rep.npub * sizeof(*k->pubs),
				    deadline) != 0) {
				free(k->pubs);
				k->pubs = NULL;
				continue;
			}
		}
		k->have_rep = 1;
		total.sent += k->rep.sent;
		total.received += k->rep.received;
		total.connects += k->rep.connects;
		total.failures += k->rep.failures;
		total.lost += k->rep.lost;
		total.bad += k->rep.bad;
		if (k->rep.t_first_ns &&
		    (!total.t_first_ns || k->rep.t_first_ns < total.t_first_ns))
			total.t_first_ns = k->rep.t_first_ns;
		if (k->rep.t_last_ns > total.t_last_ns)
			total.t_last_ns = k->rep.t_last_ns;
		wb_hist_merge(&total.lat, &k->rep.lat);
		client_s += (double)k->rep.cpu_ns / 1e9;
	}
	if (o.mode != WB_IDLE)
		wb_sample_take(o.server_pid, 0, &s1);
	command_all(WB_CMD_QUIT);
	reap();

	cpu_s = (double)(s1.cpu_ns - s0.cpu_ns) / 1e9;
	user_share = s1.tick_ns > s0.tick_ns
			 ? (double)(s1.user_ns - s0.user_ns) /
			       (double)(s1.tick_ns - s0.tick_ns)
			 : 0;
	if (s1.nprocs != s0.nprocs)
		fprintf(stderr,
			"wsbench: the server had %d processes, then %d\n",
			s0.nprocs, s1.nprocs);
	switch (o.mode) {
	case WB_IDLE:
		print_idle(&o, &s0, &s1, connected, failed,
			   (double)(t_ready - t0) / 1e9, &total);
		break;
	case WB_ECHO: print_echo(&o, &total, connected, cpu_s, client_s); break;
	case WB_FANOUT:
		/* The publisher is one of the connections counted as up. */
		print_fanout(&o, &total, connected - 1, cpu_s, client_s);
		break;
	case WB_CONNECT: print_connect(&o, &total, cpu_s, client_s); break;
	}
	fflush(stdout);
	return 0;
}
