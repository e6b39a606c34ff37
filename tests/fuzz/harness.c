/*
 * harness.c: the worker harness of fuzz_http and fuzz_client (harness.h).
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../proto/log.h"

int fh_ipc_up;
unsigned fh_ipc_count;
struct fh_ipc_msg fh_ipc_msgs[FH_IPC_MAX];

void
fh_worker_init(void)
{
	const char *lv = getenv("FUZZ_LOG");

	log_init("fuzz worker", lv && strcmp(lv, "debug") == 0
				    ? LOG_LEVEL_DEBUG
				    : LOG_LEVEL_ERROR);
	signal(SIGPIPE, SIG_IGN);
	memset(&wk, 0, sizeof(wk));
	wk.loop = ev_default_loop(0);
	wk.id = 1;
	wk.epoch = 7;
	wk.listen_fd = -1;
	wk.configured = 1;
	TAILQ_INIT(&wk.dirty);
	TAILQ_INIT(&wk.stats);

	wk.cfg_gen = 1;
	/* The defaults of the settings table, plus an echo path, a secret
	 * and two origins, which the fuzzers switch on and off by setting
	 * origins.n to 2 or 0. */
	if (wk.loop == NULL || settings_init(settings_worker, settings_worker_n,
					     &wk.cfg) != WSD_OK)
		abort();
	free(wk.cfg.echo_path);
	free(wk.cfg.jwt_secret);
	wk.cfg.echo_path = strdup("/echo");
	wk.cfg.jwt_secret = strdup("s3cret");
	if (!wk.cfg.echo_path || !wk.cfg.jwt_secret ||
	    setting_set_str(
		settings_find(settings_worker, settings_worker_n, "origins"),
		&wk.cfg, "http://127.0.0.1:8080", 21) != WSD_OK ||
	    setting_set_str(
		settings_find(settings_worker, settings_worker_n, "origins"),
		&wk.cfg, "https://example.com", 19) != WSD_OK)
		abort();
	wk.cfg.origins.n = 0;
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
fh_ipc_reset(void)
{
	unsigned i;

	for (i = 0; i < fh_ipc_count; i++) {
		msgpack_unpacked_destroy(&fh_ipc_msgs[i].u);
		msgpack_sbuffer_destroy(&fh_ipc_msgs[i].sb);
	}
	fh_ipc_count = 0;
}

int
__wrap_wk_ipc_send(struct proto_msg *m)
{
	struct fh_ipc_msg *k;
	msgpack_packer pk;
	int rc;

	if (!fh_ipc_up || fh_ipc_count == FH_IPC_MAX)
		return -1;
	/* What wk_ipc_send itself fills in. */
	m->worker = (uint32_t)wk.id;
	m->gen = wk.cfg_gen;
	k = &fh_ipc_msgs[fh_ipc_count];
	msgpack_sbuffer_init(&k->sb);
	msgpack_packer_init(&pk, &k->sb, msgpack_sbuffer_write);
	if (proto_encode(m, &pk) != 0) {
		fprintf(stderr, "fuzz: the worker's %s does not encode\n",
			proto_type_name(m->type));
		abort();
	}
	msgpack_unpacked_init(&k->u);
	rc = proto_decode(&k->m, &k->u, k->sb.data, k->sb.size);
	if (rc != WSD_OK) {
		fprintf(stderr,
			"fuzz: the supervisor would refuse the worker's %s "
			"(%s) and kill the worker\n",
			proto_type_name(m->type), proto_bad_name(k->m.bad));
		abort();
	}
	fh_ipc_count++;
	return 0;
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
