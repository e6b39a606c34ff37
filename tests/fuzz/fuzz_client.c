/*
 * fuzz_client.c: libFuzzer target for the wsd.v1 JSON handler
 * (worker/wk_client.c) and the replies and deliveries it turns into
 * frames.
 *
 * The input is a sequence of client text messages, one per line (split
 * at '\n'; at most 512 lines, none longer than max_message_bytes, which
 * wslay enforces before this handler; an empty input is one empty
 * message). Two open connections of user "fuzzer" are made as the
 * worker's dispatcher leaves them after an admission (wk_conn_create on a
 * socketpair, admitted, opened and handed to wk_client_open, which sends
 * the welcome): A without a token "rooms" claim and B with one (a JSON
 * array of fnmatch patterns, odd ones included). Every line goes to
 * wk_client_on_text of A, then of B. What a handler sends to the
 * supervisor goes through the worker's real channel to the harness
 * (harness.h), which checks that the supervisor's decoder accepts it;
 * this file then answers through the worker's dispatcher as sv_route.c
 * would: SUB gets a SUB_REPLY (so the connection joins the
 * room in the worker's replica) and, with since, the replayed messages,
 * or now and then the ERROR too_many_rooms; PUBLISH gets a DELIVER to the
 * room (or, for a personal room, to the connection) and an ACK or an
 * ERROR when it had an id. So the later lines of an input can
 * unsubscribe, fill the room limit and receive deliveries. At the end a
 * broadcast DELIVER goes to every connection.
 *
 * Send queues are short (16 messages), the sockets' send buffers small,
 * and the peer ends are read only every 4th or every 64th line (by the
 * input's hash), so queues fill: the slow-consumer policy (also chosen by
 * the hash) drops, or closes with 4001, which runs wk_conn_close and
 * wslay's close path. Then both connections are destroyed, and the
 * worker's global state (connections, rooms, flush and stats lists) must
 * be empty again; LeakSanitizer checks the rest.
 *
 * With FUZZ_DUMP set in the environment, every frame the two peers read
 * is printed ("A <- op 1: {...}"), to see what an input does.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../worker/wk_client.h"
#include "../../worker/wk_conn.h"
#include "../../worker/wk_io.h"
#include "harness.h"

#define MAX_LINES 512

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const patterns =
    "[\"lobby\", \"chat.*\", \"room-[0-9]\", \"team/*/news\", \"[\", "
    "\"\\\\\", \"[!a-z]*\", \"user:*\", 7, null]";

static uint64_t next_seq;
static unsigned npublish, nsub;
static int dump; /* FUZZ_DUMP set: print what each connection receives */

/*
 * Read what the connection wrote to its peer end. With FUZZ_DUMP, print
 * each server frame (unmasked, so the header is 2, 4 or 10 bytes); a
 * frame cut by a full buffer is printed as far as it came.
 */
static void
drain(int fd, const char *name)
{
	static uint8_t buf[1 << 16];
	size_t len = 0, off = 0, hl, pl;
	ssize_t n;

	if (!dump) {
		fh_drain(fd);
		return;
	}
	while (len < sizeof(buf) &&
	       (n = read(fd, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)n;
	while (off + 2 <= len) {
		pl = buf[off + 1] & 0x7f;
		hl = 2;
		if (pl == 126 && off + 4 <= len) {
			pl = (size_t)buf[off + 2] << 8 | buf[off + 3];
			hl = 4;
		} else if (pl == 127) {
			pl = 0;
			hl = 10;
		}
		if (off + hl + pl > len)
			pl = len > off + hl ? len - off - hl : 0;
		fprintf(stderr, "%s <- op %x: %.*s\n", name, buf[off] & 0xf,
			(int)pl, (const char *)buf + off + hl);
		off += hl + pl;
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fh_worker_init();
	/* The supervisor wants max_queue_bytes >= max_message_bytes + 1024;
	 * 16 messages is the limit that fills first. */
	wk.cfg.max_queue_msgs = 16;
	wk.cfg.max_queue_bytes = 16384 + 1024;
	wk.cfg.max_rooms_per_conn = 8;
	wk.cfg.max_message_bytes = 16384;
	dump = getenv("FUZZ_DUMP") != NULL;
	return 0;
}

static struct wk_conn *
open_conn(int sv[2], int with_rooms)
{
	static const struct proto_msg accept = {
	    .type = PROTO_CONN_ACCEPT,
	    .session = {"s-0", 3},
	    .token = {"r1.s-0.00", 9},
	};
	struct wk_conn *c;

	fh_socketpair(sv, 4096);
	if ((c = wk_conn_create(sv[1], &wk_io_plain, NULL)) == NULL)
		abort();
	if ((c->user = strdup("fuzzer")) == NULL)
		abort();
	if (with_rooms &&
	    (c->allowed_rooms = json_loads(patterns, 0, NULL)) == NULL)
		abort();
	wk_conn_admitting(c);
	wk_conn_open(c);
	wk_client_open(c, &accept);
	return c;
}

/* The client JSON of a room message, as sv_route builds it. */
static char *
message_text(const struct proto_msg *p, uint64_t seq)
{
	json_t *data =
	    json_loadb(p->data.p, p->data.len, JSON_DECODE_ANY, NULL);
	json_t *msg;
	char *text;

	if (data == NULL) {
		fprintf(stderr, "fuzz_client: PUBLISH data is not JSON\n");
		abort();
	}
	msg = json_pack("{s:s, s:s#, s:I, s:s, s:o}", "type", "message", "room",
			p->room.p, (int)p->room.len, "seq", (json_int_t)seq,
			"from", "fuzzer", "data", data);
	text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	json_decref(msg);
	if (text == NULL)
		abort();
	return text;
}

static void
answer_publish(const struct proto_msg *p)
{
	struct proto_msg d;
	char *text;
	uint64_t seq = ++next_seq;

	text = message_text(p, seq);
	memset(&d, 0, sizeof(d));
	d.type = PROTO_DELIVER;
	d.room = p->room;
	d.seq = seq;
	d.data = proto_cstr(text);
	/* A personal room has no member list: its DELIVER names the
	 * connection; a room's reaches its members but the sender. */
	if (p->room.len >= 5 && memcmp(p->room.p, "user:", 5) == 0)
		d.conn = p->conn;
	else
		d.exclude = (npublish & 1) ? p->conn : 0;
	fh_reply(&d);
	free(text);
	if (p->id.len == 0)
		return;
	memset(&d, 0, sizeof(d));
	d.conn = p->conn;
	d.id = p->id;
	if (++npublish % 3 == 0) {
		d.type = PROTO_ERROR;
		d.code = proto_cstr("duplicate");
		d.reason = proto_cstr("id already seen in this room");
		fh_reply(&d);
	} else {
		d.type = PROTO_ACK;
		d.seq = seq;
		fh_reply(&d);
	}
}

/*
 * As sv_route_sub: every fifth SUB is refused with too_many_rooms (the
 * supervisor's own room limit); the others get a SUB_REPLY with the
 * room's seq, RECOVERED when since is covered, and with since the
 * messages after it (at most four) as DELIVERs naming the connection.
 */
static void
answer_sub(const struct proto_msg *p)
{
	struct proto_msg r;
	uint64_t s;

	memset(&r, 0, sizeof(r));
	r.conn = p->conn;
	r.room = p->room;
	if (++nsub % 5 == 0) {
		r.type = PROTO_ERROR;
		r.code = proto_cstr("too_many_rooms");
		r.reason = proto_cstr("room limit reached");
		r.id = p->room;
		r.flags = PROTO_F_SUB;
		fh_reply(&r);
		return;
	}
	r.type = PROTO_SUB_REPLY;
	r.epoch = proto_cstr("0fuzz0ep");
	r.seq = next_seq;
	if ((p->flags & PROTO_F_SINCE) && p->since <= next_seq)
		r.flags = PROTO_F_RECOVERED;
	fh_reply(&r);
	if (!(p->flags & PROTO_F_SINCE))
		return;
	for (s = p->since + 1; s <= next_seq && s <= p->since + 4; s++) {
		memset(&r, 0, sizeof(r));
		r.type = PROTO_DELIVER;
		r.conn = p->conn;
		r.room = p->room;
		r.seq = s;
		r.data = proto_cstr("{\"type\":\"message\",\"replayed\":1}");
		fh_reply(&r);
	}
}

/*
 * As sv_session_resume: every other RESUME is refused with resume_failed;
 * the others get a RESUMED naming every room the client listed (plus one
 * it did not, as a session's own room would be), then one replayed
 * DELIVER per room, to the connection.
 */
static void
answer_resume(const struct proto_msg *p)
{
	static unsigned nresume;
	json_t *in = json_loadb(p->data.p, p->data.len, 0, NULL), *out, *v;
	struct proto_msg r;
	const char *name;
	char *text;

	memset(&r, 0, sizeof(r));
	r.conn = p->conn;
	if (++nresume % 2 == 0 || !json_is_object(in)) {
		r.type = PROTO_ERROR;
		r.code = proto_cstr("resume_failed");
		r.reason = proto_cstr("the session cannot be resumed");
		fh_reply(&r);
		json_decref(in);
		return;
	}
	out = json_object();
	json_object_set_new(out, "session-room",
			    json_pack("{s:i, s:s, s:b}", "seq", 3, "epoch",
				      "0fuzz0ep", "recovered", 1));
	json_object_foreach (in, name, v)
		json_object_set_new(out, name,
				    json_pack("{s:I, s:s, s:b}", "seq",
					      (json_int_t)next_seq, "epoch",
					      "0fuzz0ep", "recovered", 0));
	text = json_dumps(out, JSON_COMPACT);
	r.type = PROTO_RESUMED;
	r.session = proto_cstr("00112233445566778899aabbccddeeff");
	r.user = proto_cstr("anon-fuzz");
	r.token = proto_cstr("v1.k1.fuzz");
	r.data = proto_cstr(text ? text : "{}");
	fh_reply(&r);
	json_object_foreach (out, name, v) {
		memset(&r, 0, sizeof(r));
		r.type = PROTO_DELIVER;
		r.conn = p->conn;
		r.room = proto_cstr(name);
		r.seq = 1;
		r.data = proto_cstr("{\"type\":\"message\",\"replayed\":1}");
		fh_reply(&r);
	}
	free(text);
	json_decref(out);
	json_decref(in);
}

/* As sv_route_presence: a presence reply, or forbidden every third. */
static void
answer_presence(const struct proto_msg *p)
{
	static unsigned npresence;
	struct proto_msg r;

	memset(&r, 0, sizeof(r));
	r.conn = p->conn;
	if (++npresence % 3 == 0) {
		r.type = PROTO_ERROR;
		r.code = proto_cstr("forbidden");
		r.reason = proto_cstr("presence is not available");
		r.id = p->room;
		fh_reply(&r);
		return;
	}
	r.type = PROTO_DELIVER;
	r.data = proto_cstr("{\"type\":\"presence\",\"users\":[]}");
	fh_reply(&r);
}

/* Play the supervisor for what the handler just sent. */
static void
answer_ipc(void)
{
	unsigned i;

	fh_ipc_collect();
	for (i = 0; i < fh_ipc_count; i++) {
		const struct proto_msg *p = &fh_ipc_msgs[i].m;

		switch (p->type) {
		case PROTO_SUB: answer_sub(p); break;
		case PROTO_PUBLISH: answer_publish(p); break;
		case PROTO_RESUME: answer_resume(p); break;
		case PROTO_PRESENCE: answer_presence(p); break;
		case PROTO_UNSUB:
		case PROTO_RESUMED_ACK:
		case PROTO_CONN_CLOSE: break;
		default:
			fprintf(stderr, "fuzz_client: the worker sent %s\n",
				proto_type_name(p->type));
			abort();
		}
	}
	fh_ipc_reset();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char bcast[] = "{\"type\":\"message\",\"room\":\"*\","
				    "\"seq\":1,\"data\":\"maintenance\"}";
	uint32_t h = fh_hash(data, size);
	struct wk_conn *a, *b;
	struct proto_msg d;
	size_t off = 0, len;
	const uint8_t *nl;
	int sa[2], sb[2], line = 0, drain_every = (h & 16) ? 4 : 64;

	wk.cfg.slow_policy = (int)(h % 3);
	next_seq = 0;
	npublish = 0;
	nsub = 0;
	a = open_conn(sa, 0);
	b = open_conn(sb, 1);

	/* Lines end at '\n'; a final newline does not start an empty one. */
	while ((off < size || (off == 0 && size == 0)) && line++ < MAX_LINES) {
		nl = memchr(data + off, '\n', size - off);
		len = nl ? (size_t)(nl - (data + off)) : size - off;
		/* wslay closes with 1009 before a longer message gets here. */
		if (len <= wk.cfg.max_message_bytes) {
			wk_client_on_text(a, data + off, len);
			answer_ipc();
			wk_client_on_text(b, data + off, len);
			answer_ipc();
		}
		if (line % drain_every == 0) {
			drain(sa[0], "A");
			drain(sb[0], "B");
		}
		off += len + 1;
	}

	memset(&d, 0, sizeof(d));
	d.type = PROTO_DELIVER;
	d.room = proto_cstr("*");
	d.seq = 1;
	d.flags = PROTO_F_BROADCAST;
	d.exclude = (h & 8) ? a->id : 0;
	d.data = proto_cstr(bcast);
	fh_reply(&d);

	wk_conn_flush(a);
	wk_conn_flush(b);
	if (dump) {
		drain(sa[0], "A");
		drain(sb[0], "B");
	}
	wk_conn_destroy(a);
	wk_conn_destroy(b);
	close(sa[0]);
	close(sb[0]);
	fh_ipc_collect();
	fh_ipc_reset();
	fh_check_empty();
	return 0;
}
