/*
 * harness.c: the worker harness of fuzz_http and fuzz_client (harness.h).
 */
#include "harness.h"

#include <nng/protocol/pair1/pair.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../proto/log.h"
#include "../../worker/wk_dispatch.h"
#include "../../worker/wk_ipc.h"

#define RECV_TIMEOUT_MS 5000
#define PIPE_WAIT_MS 5000

unsigned fh_ipc_count;
struct fh_ipc_msg fh_ipc_msgs[FH_IPC_MAX];

static nng_socket sv_sock; /* the supervisor's end */
static char url[64];
static int up;
static uint64_t seen; /* of wk_ipc_sent(), received already */
/* Pipes the supervisor's end saw come and go (nng's threads count). */
static unsigned pipes_added, pipes_removed;

static void
on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)arg;
	__atomic_add_fetch(ev == NNG_PIPE_EV_ADD_POST ? &pipes_added
						      : &pipes_removed,
			   1, __ATOMIC_SEQ_CST);
}

/*
 * Wait until the supervisor's end holds exactly `want` pipes. A pair
 * socket takes one peer: a worker that dials again before the old pipe
 * is gone is refused, and what it sent meanwhile is lost.
 */
static void
wait_pipes(unsigned want)
{
	int ms;

	for (ms = 0; ms < PIPE_WAIT_MS; ms++) {
		if (__atomic_load_n(&pipes_added, __ATOMIC_SEQ_CST) -
			__atomic_load_n(&pipes_removed, __ATOMIC_SEQ_CST) ==
		    want)
			return;
		usleep(1000);
	}
	fprintf(stderr, "fuzz: the worker's channel did not %s\n",
		want ? "connect" : "close");
	abort();
}

static void
on_msg(const struct proto_msg *m)
{
	/* The loop never runs, so nothing reaches the worker this way. */
	(void)m;
	abort();
}

static void
on_gone(void)
{
	fprintf(stderr, "fuzz: the worker lost its channel\n");
	abort();
}

void
fh_ipc_set(int want)
{
	if (want && !up) {
		if (wk_ipc_open(url, on_msg, on_gone) != WSD_OK)
			abort();
		up = 1;
		wait_pipes(1);
	} else if (!want && up) {
		fh_ipc_collect();
		wk_ipc_close();
		up = 0;
		wait_pipes(0);
		/* What was sent after the last collection died with it. */
		seen = wk_ipc_sent();
	}
}

void
fh_worker_init(void)
{
	const char *lv = getenv("FUZZ_LOG");
	const struct setting_row *orig;

	log_init("worker", 1,
		 lv && strcmp(lv, "debug") == 0 ? LOG_LEVEL_DEBUG
						: LOG_LEVEL_ERROR,
		 LOG_FORMAT_JSON);
	signal(SIGPIPE, SIG_IGN);
	memset(&wk, 0, sizeof(wk));
	wk.loop = ev_default_loop(0);
	wk.id = 1;
	wk.epoch = 7;
	wk.configured = 1;
	wk.cfg_gen = 1;
	TAILQ_INIT(&wk.dirty);
	TAILQ_INIT(&wk.stats);
	orig = settings_find(settings_worker, settings_worker_n, "origins");
	if (wk.loop == NULL || orig == NULL ||
	    settings_init(settings_worker, settings_worker_n, &wk.cfg) !=
		WSD_OK)
		abort();
	free(wk.cfg.echo_path);
	free(wk.cfg.jwt_secret);
	wk.cfg.echo_path = strdup("/echo");
	wk.cfg.jwt_secret = strdup("s3cret");
	if (!wk.cfg.echo_path || !wk.cfg.jwt_secret ||
	    setting_set_str(orig, &wk.cfg, "http://127.0.0.1:8080", 21) !=
		WSD_OK ||
	    setting_set_str(orig, &wk.cfg, "https://example.com", 19) != WSD_OK)
		abort();
	/* Two origins stay owned; n switches them on and off (the fuzzers
	 * never free wk.cfg). */
	wk.cfg.origins.n = 0;

	snprintf(url, sizeof(url), "inproc://wsd-fuzz-%d", (int)getpid());
	if (nng_pair1_open(&sv_sock) != 0 ||
	    nng_socket_set_ms(sv_sock, NNG_OPT_RECVTIMEO, RECV_TIMEOUT_MS) !=
		0 ||
	    nng_pipe_notify(sv_sock, NNG_PIPE_EV_ADD_POST, on_pipe, NULL) !=
		0 ||
	    nng_pipe_notify(sv_sock, NNG_PIPE_EV_REM_POST, on_pipe, NULL) !=
		0 ||
	    nng_listen(sv_sock, url, NULL, 0) != 0)
		abort();
	fh_ipc_set(1);
}

void
fh_ipc_collect(void)
{
	struct fh_ipc_msg *k;
	nng_msg *msg;
	int rc;

	while (seen < wk_ipc_sent()) {
		if ((rc = nng_recvmsg(sv_sock, &msg, 0)) != 0) {
			fprintf(stderr,
				"fuzz: a message of the worker did "
				"not arrive: %s\n",
				nng_strerror(rc));
			abort();
		}
		seen++;
		if (fh_ipc_count == FH_IPC_MAX) {
			nng_msg_free(msg);
			continue;
		}
		k = &fh_ipc_msgs[fh_ipc_count];
		msgpack_unpacked_init(&k->u);
		if (proto_decode(&k->m, &k->u, nng_msg_body(msg),
				 nng_msg_len(msg)) != WSD_OK ||
		    k->m.worker != (uint32_t)wk.id) {
			fprintf(stderr,
				"fuzz: the supervisor would refuse the "
				"worker's message (%s) and kill the worker\n",
				proto_bad_name(k->m.bad));
			abort();
		}
		k->raw = msg;
		fh_ipc_count++;
	}
}

void
fh_ipc_reset(void)
{
	unsigned i;

	for (i = 0; i < fh_ipc_count; i++) {
		msgpack_unpacked_destroy(&fh_ipc_msgs[i].u);
		nng_msg_free(fh_ipc_msgs[i].raw);
	}
	fh_ipc_count = 0;
}

void
fh_reply(struct proto_msg *m)
{
	struct proto_msg back;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;

	m->worker = (uint32_t)wk.id;
	m->gen = wk.cfg_gen;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_unpacked_init(&u);
	if (proto_encode(m, &pk) != WSD_OK ||
	    proto_decode(&back, &u, sb.data, sb.size) != WSD_OK) {
		fprintf(stderr,
			"fuzz: the harness's %s does not survive the "
			"codec\n",
			proto_type_name(m->type));
		abort();
	}
	wk_dispatch_msg(&back);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}

void
fh_socketpair(int sv[2], int sndbuf)
{
	int big = 1 << 20;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv) != 0) {
		perror("fuzz: socketpair");
		abort();
	}
	/* Room for a whole 64 KB input in one write. */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (sndbuf > 0)
		setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf,
			   sizeof(sndbuf));
}

size_t
fh_drain(int fd)
{
	char buf[16384];
	size_t total = 0;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += (size_t)n;
	return total;
}

void
fh_check_empty(void)
{
	if (wk.conns != NULL || wk.nconns != 0 || wk.rooms != NULL ||
	    !TAILQ_EMPTY(&wk.dirty) || !TAILQ_EMPTY(&wk.stats)) {
		fprintf(stderr, "fuzz: worker state left behind after every "
				"connection was destroyed\n");
		abort();
	}
}

uint32_t
fh_hash(const uint8_t *data, size_t size)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	return h;
}
