/*
 * gen_ipc_seeds.c: writes the seed corpus of fuzz_ipc, one valid message
 * of each IPC type (and a few variants: CONFIG with origins, STATS with no
 * and with several records, DELIVER to a room and to everyone, SUB with
 * and without an epoch, ERROR of a refused SUB), encoded
 * with the project's own proto_encode. Run by `make fuzz-seeds`; the
 * output is deterministic, so rerunning it changes no committed file
 * unless the codec changed.
 *
 * Usage: gen_ipc_seeds DIR. Each file is DIR/NN-NAME.msgpack. Exits 1
 * when a message cannot be encoded or a file cannot be written.
 */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../proto/proto.h"

static const char *dir;
static int seq;

/* Encode m, check that it decodes, and write it to DIR/NN-name.msgpack. */
static void
emit(const char *name, const struct proto_msg *m)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;
	struct proto_msg back;
	char path[512];
	FILE *f;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (proto_encode(m, &pk) != 0) {
		fprintf(stderr, "gen_ipc_seeds: cannot encode %s\n", name);
		exit(1);
	}
	msgpack_unpacked_init(&u);
	if (proto_decode(&back, &u, sb.data, sb.size) != WSD_OK) {
		fprintf(stderr, "gen_ipc_seeds: %s does not decode\n", name);
		exit(1);
	}
	msgpack_unpacked_destroy(&u);
	snprintf(path, sizeof(path), "%s/%02d-%s.msgpack", dir, ++seq, name);
	if ((f = fopen(path, "wb")) == NULL ||
	    fwrite(sb.data, 1, sb.size, f) != sb.size || fclose(f) != 0) {
		fprintf(stderr, "gen_ipc_seeds: cannot write %s\n", path);
		exit(1);
	}
	msgpack_sbuffer_destroy(&sb);
}

/* A message of type t from worker 1, config generation 3. */
static struct proto_msg
msg(enum proto_type t)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = t;
	m.worker = 1;
	m.gen = 3;
	return m;
}

/* The table's defaults, with an echo path, a secret and norigins origins. */
static const struct settings *
config(int norigins)
{
	static char *origins[] = {"http://127.0.0.1:8080",
				  "https://example.com"};
	static struct settings c;
	static int done;

	if (!done &&
	    (settings_init(settings_worker, settings_worker_n, &c) != WSD_OK ||
	     setting_set_str(
		 settings_find(settings_worker, settings_worker_n, "echo_path"),
		 &c, "/echo", 5) != WSD_OK ||
	     setting_set_str(settings_find(settings_worker, settings_worker_n,
					   "jwt_secret"),
			     &c, "s3cret", 6) != WSD_OK))
		exit(1);
	done = 1;
	c.slow_policy = PROTO_SLOW_DROP_OLDEST;
	c.origins.n = (uint32_t)norigins;
	c.origins.v = origins;
	return &c;
}

int
main(int argc, char **argv)
{
	struct proto_stats_rec recs[3] = {
	    {0x100000001ull, 1700000000000ull, 0, 0, 0, 1, 2, 800, 0},
	    {0x100000002ull, 1700000000500ull, 4096, 3, 7, 100, 250, 0, 1},
	    {UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX,
	     UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX},
	};
	struct proto_msg m;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_ipc_seeds DIR\n");
		return 1;
	}
	dir = argv[1];

	m = msg(PROTO_HELLO);
	m.pid = 4242;
	emit("hello", &m);

	m = msg(PROTO_CONFIG);
	m.config = config(0);
	emit("config", &m);
	m = msg(PROTO_CONFIG);
	m.config = config(2);
	emit("config-origins", &m);

	m = msg(PROTO_READY);
	emit("ready", &m);

	m = msg(PROTO_CONN_OPEN);
	m.conn = 0x100000001ull;
	m.user = proto_cstr("alice");
	m.addr = proto_cstr("127.0.0.1:50312");
	m.agent = proto_cstr("Mozilla/5.0");
	m.data = proto_cstr("{\"name\":\"Alice\"}");
	m.trace = proto_cstr(
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
	emit("conn-open", &m);
	m.trace = proto_cstr("");
	m.user = proto_cstr("anon-0123456789abcdef");
	m.agent = proto_cstr("");
	m.data = proto_cstr("");
	m.flags = PROTO_F_ANONYMOUS;
	emit("conn-open-anon", &m);

	m = msg(PROTO_CONN_ACCEPT);
	m.conn = 0x100000001ull;
	m.session = proto_cstr("s-5f2c9a");
	m.token = proto_cstr("r1.5f2c9a.3a7bd3e2360a3d29eea436fcfb7e44c7");
	emit("conn-accept", &m);
	m.status = 429;
	m.session = proto_cstr("");
	m.token = proto_cstr("");
	emit("conn-accept-429", &m);

	m = msg(PROTO_CONN_CLOSE);
	m.conn = 0x100000001ull;
	m.status = 1000;
	emit("conn-close", &m);

	m = msg(PROTO_SUB);
	m.conn = 0x100000001ull;
	m.room = proto_cstr("lobby");
	emit("sub", &m);
	m.since = 17;
	m.flags = PROTO_F_SINCE;
	m.epoch = proto_cstr("0badf00d");
	emit("sub-since", &m);

	m = msg(PROTO_SUB_REPLY);
	m.conn = 0x100000001ull;
	m.room = proto_cstr("lobby");
	m.seq = 42;
	m.flags = PROTO_F_RECOVERED;
	m.epoch = proto_cstr("0badf00d");
	emit("sub-reply", &m);

	m = msg(PROTO_UNSUB);
	m.conn = 0x100000001ull;
	m.room = proto_cstr("lobby");
	emit("unsub", &m);

	m = msg(PROTO_PUBLISH);
	m.conn = 0x100000001ull;
	m.room = proto_cstr("lobby");
	m.data = proto_cstr("{\"text\":\"hello\"}");
	m.id = proto_cstr("msg-1");
	m.key = proto_cstr("AAPL");
	m.trace = proto_cstr(
	    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00");
	emit("publish", &m);

	m = msg(PROTO_DELIVER);
	m.room = proto_cstr("lobby");
	m.seq = 43;
	m.exclude = 0x100000001ull;
	m.data = proto_cstr("{\"type\":\"message\",\"room\":\"lobby\","
			    "\"seq\":43,\"data\":{\"text\":\"hello\"}}");
	m.key = proto_cstr("AAPL");
	emit("deliver", &m);
	m.key = proto_cstr("");
	m.room = proto_cstr("*");
	m.flags = PROTO_F_BROADCAST;
	m.exclude = 0;
	emit("deliver-broadcast", &m);

	m = msg(PROTO_ACK);
	m.conn = 0x100000001ull;
	m.id = proto_cstr("msg-1");
	m.seq = 43;
	emit("ack", &m);

	m = msg(PROTO_ERROR);
	m.conn = 0x100000001ull;
	m.code = proto_cstr("forbidden");
	m.reason = proto_cstr("room not allowed");
	m.id = proto_cstr("msg-2");
	emit("error", &m);

	m = msg(PROTO_KICK);
	m.conn = 0x100000001ull;
	m.status = 4003;
	m.reason = proto_cstr("kicked by operator");
	emit("kick", &m);

	m = msg(PROTO_STATS);
	emit("stats-empty", &m);
	m.recs = recs;
	m.nrecs = 3;
	emit("stats", &m);

	/* Added with the sessions: numbered after the others, so that the
	 * names of the older seeds stay. */
	m = msg(PROTO_ERROR);
	m.conn = 0x100000001ull;
	m.code = proto_cstr("room_full");
	m.reason = proto_cstr("too many rooms");
	m.flags = PROTO_F_SUB;
	emit("error-sub", &m);

	m = msg(PROTO_RESUME);
	m.conn = 0x100000002ull;
	m.token = proto_cstr(
	    "v1.k1.000102030405060708090a0b0c0d0e0f.100000001.1700000060000."
	    "deadbeefcafef00d.616c696365."
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
	m.data = proto_cstr("{\"lobby\":{\"seq\":41,\"epoch\":\"0badf00d\"}}");
	emit("resume", &m);

	m = msg(PROTO_RESUMED);
	m.conn = 0x100000002ull;
	m.session = proto_cstr("000102030405060708090a0b0c0d0e0f");
	m.user = proto_cstr("alice");
	m.token = proto_cstr("v1.k1.000102030405060708090a0b0c0d0e0f.100000002."
			     "1700000120000.0123456789abcdef.616c696365."
			     "ffeeddccbbaa99887766554433221100"
			     "ffeeddccbbaa99887766554433221100");
	m.data = proto_cstr("{\"lobby\":{\"seq\":43,\"epoch\":\"0badf00d\","
			    "\"recovered\":true}}");
	emit("resumed", &m);

	m = msg(PROTO_PRESENCE);
	m.conn = 0x100000002ull;
	m.room = proto_cstr("lobby");
	emit("presence", &m);

	m = msg(PROTO_RESUMED_ACK);
	m.conn = 0x100000002ull;
	emit("resumed-ack", &m);

	m = msg(PROTO_DRAINING);
	emit("draining", &m);

	m = msg(PROTO_REOPEN_LOG);
	emit("reopen-log", &m);

	m = msg(PROTO_SSE_INPUT);
	m.conn = 0x100000002ull;
	m.token = proto_cstr("Zm9vYmFyYmF6cXV4cXV1eA");
	m.data = proto_cstr("{\"type\":\"ping\"}\n");
	emit("sse-input", &m);
	return 0;
}
