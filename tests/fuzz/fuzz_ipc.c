/*
 * fuzz_ipc.c: libFuzzer target for the IPC codec (proto/proto.c).
 *
 * The input is one IPC message as it would arrive from the peer process.
 * proto_decode must return one of its codes without crashing, leaking or
 * reading outside the buffer. When it accepts the message, the decoded
 * struct is encoded again with proto_encode and decoded a second time; the
 * two decoded messages must be equal field by field (strings by content,
 * CONFIG blocks and STATS records included), and encoding the second one
 * must give the same bytes as encoding the first, and so must
 * proto_encode_nng, the encoder both processes send with. Any difference
 * is a codec bug and aborts, so the fuzzer reports it like a crash.
 *
 * As in tests/unit/test_proto.c, ASan is told to answer an impossible
 * allocation with NULL like glibc does: an array header can declare four
 * billion elements, msgpack-c allocates room for them before it sees the
 * bytes are missing, and the decoder then reports PROTO_EPARSE.
 */
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__asan_default_options(void);

const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1:max_allocation_size_mb=256";
}

static void
fail(const char *what, const struct proto_msg *m)
{
	fprintf(stderr, "fuzz_ipc: round trip mismatch in %s of a %s message\n",
		what, proto_type_name(m->type));
	abort();
}

static int
str_eq(struct proto_str a, struct proto_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* Both CONFIG blocks load, and into the same settings, row by row. */
static void
check_config(const struct proto_msg *a, const struct proto_msg *b)
{
	struct settings x, y;
	char diff[256] = "";

	if ((a->config_obj == NULL) != (b->config_obj == NULL))
		fail("config present", a);
	if (a->config_obj == NULL)
		return;
	if (settings_load(&x, a->config_obj) != WSD_OK ||
	    settings_load(&y, b->config_obj) != WSD_OK)
		fail("config load", a);
	settings_diff(settings_worker, settings_worker_n, &x, &y, diff,
		      sizeof(diff));
	if (diff[0] != '\0' || x.origins.n > 32)
		fail("config values", a);
	settings_free(settings_worker, settings_worker_n, &x);
	settings_free(settings_worker, settings_worker_n, &y);
}

static void
check_equal(const struct proto_msg *a, const struct proto_msg *b)
{
	struct proto_stats_rec ra, rb;
	uint32_t i;

	if (a->type != b->type || a->worker != b->worker || a->gen != b->gen)
		fail("header", a);
	if (a->conn != b->conn || a->seq != b->seq || a->since != b->since ||
	    a->exclude != b->exclude || a->status != b->status ||
	    a->flags != b->flags || a->pid != b->pid)
		fail("numbers", a);
	if (!str_eq(a->room, b->room) || !str_eq(a->user, b->user) ||
	    !str_eq(a->data, b->data) || !str_eq(a->id, b->id) ||
	    !str_eq(a->addr, b->addr) || !str_eq(a->agent, b->agent) ||
	    !str_eq(a->code, b->code) || !str_eq(a->reason, b->reason) ||
	    !str_eq(a->session, b->session) || !str_eq(a->token, b->token) ||
	    !str_eq(a->epoch, b->epoch) || !str_eq(a->key, b->key))
		fail("strings", a);
	check_config(a, b);
	if (a->nrecs != b->nrecs)
		fail("record count", a);
	for (i = 0; i < a->nrecs; i++) {
		proto_stats_get(a, i, &ra);
		proto_stats_get(b, i, &rb);
		if (memcmp(&ra, &rb, sizeof(ra)) != 0)
			fail("records", a);
	}
}

/*
 * Encode m (a decoded message) into sb. A decoded STATS message holds its
 * records as msgpack objects and a decoded CONFIG its block; the encoder
 * wants structs, so they are loaded into *recs and *cfg, which the caller
 * frees (release_encoded).
 */
static void
encode(const struct proto_msg *m, msgpack_sbuffer *sb,
       struct proto_stats_rec **recs, struct settings *cfg)
{
	struct proto_msg e = *m;
	msgpack_packer pk;
	uint32_t i;

	*recs = NULL;
	memset(cfg, 0, sizeof(*cfg));
	if (m->type == PROTO_CONFIG) {
		if (settings_load(cfg, m->config_obj) != WSD_OK)
			fail("config load", m);
		e.config = cfg;
	}
	if (m->type == PROTO_STATS && m->nrecs > 0) {
		*recs = calloc(m->nrecs, sizeof(**recs));
		if (*recs == NULL)
			abort();
		for (i = 0; i < m->nrecs; i++)
			proto_stats_get(m, i, &(*recs)[i]);
	}
	e.recs = *recs;
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	if (proto_encode(&e, &pk) != 0)
		fail("encode", m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	msgpack_unpacked u1, u2;
	msgpack_sbuffer sb1, sb2;
	struct proto_msg m1, m2;
	struct proto_stats_rec *r1, *r2;
	struct settings c1, c2;
	nng_msg *nm;
	int rc;

	msgpack_unpacked_init(&u1);
	rc = proto_decode(&m1, &u1, data, size);
	/* Both name tables must answer for any value. */
	(void)proto_bad_name(m1.bad);
	(void)wsd_strerror(rc);
	(void)proto_type_name(m1.type);
	if (rc != WSD_OK) {
		msgpack_unpacked_destroy(&u1);
		return 0;
	}
	msgpack_sbuffer_init(&sb1);
	encode(&m1, &sb1, &r1, &c1);

	msgpack_unpacked_init(&u2);
	rc = proto_decode(&m2, &u2, sb1.data, sb1.size);
	if (rc != WSD_OK) {
		fprintf(stderr, "fuzz_ipc: re-encoded message rejected: %s\n",
			proto_bad_name(m2.bad));
		fail("decode of the re-encoding", &m1);
	}
	check_equal(&m1, &m2);

	/* The encoding is canonical: a second round gives the same bytes. */
	msgpack_sbuffer_init(&sb2);
	encode(&m2, &sb2, &r2, &c2);
	if (sb1.size != sb2.size || memcmp(sb1.data, sb2.data, sb1.size) != 0)
		fail("bytes of the second encoding", &m1);

	/* proto_encode_nng (what both processes send) gives them too. */
	m2.recs = r2;
	if (m2.type == PROTO_CONFIG)
		m2.config = &c2;
	if (proto_encode_nng(&m2, &nm) != 0)
		fail("proto_encode_nng", &m1);
	if (nng_msg_len(nm) != sb1.size ||
	    memcmp(nng_msg_body(nm), sb1.data, sb1.size) != 0)
		fail("bytes of proto_encode_nng", &m1);
	nng_msg_free(nm);

	free(r2);
	settings_free(settings_worker, settings_worker_n, &c2);
	msgpack_sbuffer_destroy(&sb2);
	msgpack_unpacked_destroy(&u2);
	free(r1);
	settings_free(settings_worker, settings_worker_n, &c1);
	msgpack_sbuffer_destroy(&sb1);
	msgpack_unpacked_destroy(&u1);
	return 0;
}
