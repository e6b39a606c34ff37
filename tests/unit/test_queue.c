/*
 * test_queue.c: a connection's send queue (worker/wk_queue.c) on a real
 * socket pair: its bookkeeping and buffer references, its bounds, the
 * three slow-consumer policies (drop the newest, drop the oldest frames
 * not yet started, take nothing so the caller disconnects), and the
 * writev that empties it: whole and in order, partial when the socket is
 * full (a partly written frame is never dropped), and a dead peer.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../worker/wk_frame.h"
#include "../../worker/wk_io.h"
#include "../../worker/wk_queue.h"

struct fixture {
	struct wk_conn c; /* only io.fd and io_ops are used */
	int peer;
};

static int
setup(void **state)
{
	static struct fixture f;
	int sv[2], small = 4096;

	memset(&f, 0, sizeof(f));
	assert_int_equal(
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	f.c.io.fd = sv[0];
	f.c.io_ops = &wk_io_plain;
	f.peer = sv[1];
	wk_queue_init(&f.c.q);
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	wk_queue_clear(&f->c.q);
	close(f->c.io.fd);
	close(f->peer);
	return 0;
}

/* A buffer of len bytes, each the byte tag. */
static struct wk_buf *
buf(uint32_t len, char tag)
{
	struct wk_buf *b = wk_buf_new(len);

	assert_non_null(b);
	memset(b->data, tag, len);
	return b;
}

/* Queue len bytes of tag, whatever the limits; drop our reference. */
static void
push(struct wk_queue *q, uint32_t len, char tag)
{
	struct wk_buf *b = buf(len, tag);

	assert_int_equal(wk_queue_push(q, b), WSD_OK);
	wk_buf_unref(b);
}

/* The tags of the queue's entries, first to last, as a string. */
static void
tags(const struct wk_queue *q, char *out, size_t len)
{
	const struct wk_qent *e;
	size_t n = 0;

	STAILQ_FOREACH (e, &q->q, link)
		if (n + 1 < len)
			out[n++] = e->buf->data[e->buf->len - 1];
	out[n] = '\0';
}

/* Everything readable on the peer, into out; returns the count. */
static size_t
drain(int fd, char *out, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len && (n = read(fd, out + got, len - got)) > 0)
		got += (size_t)n;
	return got;
}

static void
test_bookkeeping_and_refs(void **state)
{
	struct fixture *f = *state;
	struct wk_queue *q = &f->c.q, other;
	struct wk_buf *b = buf(100, 'a');

	wk_queue_init(&other);
	assert_true(wk_queue_empty(q));
	/* One buffer shared by two queues: one reference each. */
	assert_int_equal(wk_queue_push(q, b), WSD_OK);
	assert_int_equal(wk_queue_push(&other, b), WSD_OK);
	assert_int_equal(b->refs, 3);
	assert_int_equal(q->msgs, 1);
	assert_int_equal(q->bytes, 100);
	push(q, 50, 'b');
	assert_int_equal(q->msgs, 2);
	assert_int_equal(q->bytes, 150);
	wk_queue_clear(&other);
	assert_int_equal(b->refs, 2);
	wk_queue_clear(q);
	assert_int_equal(b->refs, 1);
	assert_true(wk_queue_empty(q));
	assert_int_equal(q->bytes, 0);
	assert_int_equal(q->msgs, 0);
	wk_buf_unref(b);
}

static void
test_bounds(void **state)
{
	struct fixture *f = *state;
	struct wk_queue *q = &f->c.q;
	struct wk_qlimit lim = {1000, 3, PROTO_SLOW_DROP_NEWEST};

	/* An empty queue takes any one frame, even over the byte bound. */
	assert_false(wk_queue_full(q, 5000, &lim));
	push(q, 400, 'a');
	assert_false(wk_queue_full(q, 600, &lim));
	assert_true(wk_queue_full(q, 601, &lim));
	push(q, 100, 'b');
	push(q, 100, 'c');
	/* Three messages: the count bound is reached first. */
	assert_true(wk_queue_full(q, 1, &lim));
	assert_false(wk_queue_over(q, &lim));
	push(q, 500, 'd');
	assert_true(wk_queue_over(q, &lim));
}

static void
test_drop_newest(void **state)
{
	struct fixture *f = *state;
	struct wk_queue *q = &f->c.q;
	struct wk_qlimit lim = {1000, 2, PROTO_SLOW_DROP_NEWEST};
	struct wk_buf *b = buf(10, 'z');
	uint64_t drops = 0;
	char t[16];

	push(q, 10, 'a');
	push(q, 10, 'b');
	assert_int_equal(wk_queue_offer(q, b, &lim, 0, &drops), WSD_EFULL);
	assert_int_equal(drops, 1);
	assert_int_equal(b->refs, 1);
	tags(q, t, sizeof(t));
	assert_string_equal(t, "ab");
	wk_buf_unref(b);
}

static void
test_disconnect_takes_nothing(void **state)
{
	struct fixture *f = *state;
	struct wk_queue *q = &f->c.q;
	struct wk_qlimit lim = {100, 10, PROTO_SLOW_DISCONNECT};
	struct wk_buf *b = buf(60, 'z');
	uint64_t drops = 0;

	push(q, 60, 'a');
	assert_int_equal(wk_queue_offer(q, b, &lim, 0, &drops), WSD_EFULL);
	assert_int_equal(drops, 1);
	assert_int_equal(q->msgs, 1);
	wk_buf_unref(b);
	/* Within the bounds every policy queues. */
	b = buf(40, 'y');
	assert_int_equal(wk_queue_offer(q, b, &lim, 0, &drops), WSD_OK);
	assert_int_equal(drops, 1);
	assert_int_equal(q->msgs, 2);
	wk_buf_unref(b);
}

static void
test_drop_oldest(void **state)
{
	struct fixture *f = *state;
	struct wk_queue *q = &f->c.q;
	struct wk_qlimit lim = {1000, 3, PROTO_SLOW_DROP_OLDEST};
	struct wk_buf *b;
	uint64_t drops = 0;
	char t[16];

	push(q, 100, 'a');
	push(q, 100, 'b');
	push(q, 100, 'c');
	/* Full by count: the oldest goes. */
	b = buf(100, 'd');
	assert_int_equal(wk_queue_offer(q, b, &lim, 0, &drops), WSD_OK);
	wk_buf_unref(b);
	assert_int_equal(drops, 1);
	tags(q, t, sizeof(t));
	assert_string_equal(t, "bcd");
	/* Full by bytes: as many as it takes, no more. */
	b = buf(900, 'e');
	assert_int_equal(wk_queue_offer(q, b, &lim, 0, &drops), WSD_OK);
	wk_buf_unref(b);
	assert_int_equal(drops, 3);
	tags(q, t, sizeof(t));
	assert_string_equal(t, "de");
	assert_int_equal(q->bytes, 1000);
}

/* A frame the socket took in part is never dropped. */
static void
test_drop_oldest_keeps_a_started_frame(void **state)
{
	struct fixture *f = *state;
	struct wk_queue *q = &f->c.q;
	struct wk_qlimit lim = {1 << 20, 2, PROTO_SLOW_DROP_OLDEST};
	static char out[1 << 20];
	struct wk_buf *b;
	uint64_t drops = 0;
	char t[16];

	push(q, 600000, 'a');
	assert_int_equal(wk_queue_write(q, &f->c), WSD_EAGAIN);
	assert_true(q->off > 0 && q->off < 600000);
	push(q, 10, 'b');
	b = buf(10, 'c');
	assert_int_equal(wk_queue_offer(q, b, &lim, 0, &drops), WSD_OK);
	wk_buf_unref(b);
	tags(q, t, sizeof(t));
	assert_string_equal(t, "ac");
	assert_int_equal(drops, 1);
	/* Only the started frame is left to drop: the new one is refused. */
	b = buf(10, 'd');
	lim.msgs = 1;
	assert_int_equal(wk_queue_offer(q, b, &lim, 0, &drops), WSD_EFULL);
	wk_buf_unref(b);
	tags(q, t, sizeof(t));
	assert_string_equal(t, "a");
	assert_int_equal(drops, 3);
	/* The peer gets frame a whole. */
	while (wk_queue_write(q, &f->c) == WSD_EAGAIN)
		(void)drain(f->peer, out, sizeof(out));
	assert_true(wk_queue_empty(q));
	assert_int_equal(q->off, 0);
}

/* Many frames through a small socket buffer arrive whole and in order. */
/* Offer len bytes of tag with key under lim; returns the rc. */
static int
offer_key(struct wk_queue *q, const struct wk_qlimit *lim, uint32_t len,
	  char tag, uint64_t key, uint64_t *drops)
{
	struct wk_buf *b = buf(len, tag);
	int rc = wk_queue_offer(q, b, lim, key, drops);

	wk_buf_unref(b);
	return rc;
}

/* latest_per_key: a frame takes the place of the queued one of its key
 * (not of a started one), fit or not; without a key, or with a new one
 * on a full queue, it acts as drop_oldest; another policy ignores keys. */
static void
test_latest_per_key(void **state)
{
	struct fixture *f = *state;
	struct wk_queue *q = &f->c.q;
	struct wk_qlimit lim = {1 << 20, 3, PROTO_SLOW_LATEST_PER_KEY};
	uint64_t drops = 0;
	char t[16];

	assert_int_equal(offer_key(q, &lim, 10, 'a', 1, &drops), WSD_OK);
	assert_int_equal(offer_key(q, &lim, 20, 'b', 2, &drops), WSD_OK);
	assert_int_equal(offer_key(q, &lim, 30, 'c', 1, &drops), WSD_OK);
	tags(q, t, sizeof(t));
	assert_string_equal(t, "bc");
	assert_int_equal(q->bytes, 50);
	assert_int_equal(q->msgs, 2);
	assert_int_equal(drops, 1);
	/* No key: queued as any frame. */
	assert_int_equal(offer_key(q, &lim, 5, 'd', 0, &drops), WSD_OK);
	tags(q, t, sizeof(t));
	assert_string_equal(t, "bcd");
	/* Full (3 messages): a known key still replaces, at the end... */
	assert_int_equal(offer_key(q, &lim, 5, 'e', 2, &drops), WSD_OK);
	tags(q, t, sizeof(t));
	assert_string_equal(t, "cde");
	/* ...a new key makes room by dropping the oldest. */
	assert_int_equal(offer_key(q, &lim, 5, 'f', 3, &drops), WSD_OK);
	tags(q, t, sizeof(t));
	assert_string_equal(t, "def");
	assert_int_equal(drops, 3);
	/* Another policy: keys do not replace. */
	wk_queue_clear(q);
	lim.policy = PROTO_SLOW_DROP_NEWEST;
	assert_int_equal(offer_key(q, &lim, 10, 'a', 1, &drops), WSD_OK);
	assert_int_equal(offer_key(q, &lim, 10, 'b', 1, &drops), WSD_OK);
	tags(q, t, sizeof(t));
	assert_string_equal(t, "ab");
}

/* A started frame is never replaced: the client would see half of one
 * message and half of another. */
static void
test_latest_per_key_keeps_a_started_frame(void **state)
{
	struct fixture *f = *state;
	struct wk_queue *q = &f->c.q;
	struct wk_qlimit lim = {1 << 20, 100, PROTO_SLOW_LATEST_PER_KEY};
	static char out[1 << 20];
	uint64_t drops = 0;
	char t[16];

	assert_int_equal(offer_key(q, &lim, 600000, 'a', 7, &drops), WSD_OK);
	assert_int_equal(wk_queue_write(q, &f->c), WSD_EAGAIN);
	assert_true(q->off > 0);
	assert_int_equal(offer_key(q, &lim, 10, 'b', 7, &drops), WSD_OK);
	assert_int_equal(offer_key(q, &lim, 10, 'c', 7, &drops), WSD_OK);
	tags(q, t, sizeof(t));
	assert_string_equal(t, "ac");
	assert_int_equal(drops, 1);
	while (wk_queue_write(q, &f->c) == WSD_EAGAIN)
		(void)drain(f->peer, out, sizeof(out));
	assert_true(wk_queue_empty(q));
}

static void
test_write_in_order(void **state)
{
	struct fixture *f = *state;
	struct wk_queue *q = &f->c.q;
	static char out[300000];
	size_t got = 0, i, off = 0;
	int rc, rounds = 0;

	for (i = 0; i < 300; i++)
		push(q, 1000, (char)('A' + i % 26));
	assert_int_equal(q->bytes, 300000);
	do {
		rc = wk_queue_write(q, &f->c);
		assert_true(rc == WSD_OK || rc == WSD_EAGAIN);
		got += drain(f->peer, out + got, sizeof(out) - got);
		rounds++;
	} while (rc == WSD_EAGAIN && rounds < 100000);
	assert_int_equal(rc, WSD_OK);
	got += drain(f->peer, out + got, sizeof(out) - got);
	assert_int_equal(got, 300000);
	assert_true(rounds > 1); /* the socket filled at least once */
	for (i = 0; i < 300; i++, off += 1000)
		assert_int_equal(out[off], 'A' + i % 26);
	assert_true(wk_queue_empty(q));
	assert_int_equal(q->bytes, 0);
}

static void
test_write_to_a_closed_peer(void **state)
{
	struct fixture *f = *state;
	struct wk_queue *q = &f->c.q;

	push(q, 100, 'a');
	close(f->peer);
	f->peer = socket(AF_UNIX, SOCK_STREAM, 0); /* for teardown */
	assert_int_equal(wk_queue_write(q, &f->c), WSD_ECLOSED);
	/* Nothing was written: the queue still holds the frame. */
	assert_int_equal(q->msgs, 1);
	/* An empty queue writes nothing and is done. */
	wk_queue_clear(q);
	assert_int_equal(wk_queue_write(q, &f->c), WSD_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_bookkeeping_and_refs, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drop_newest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_takes_nothing,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drop_oldest, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_drop_oldest_keeps_a_started_frame, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_latest_per_key, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_latest_per_key_keeps_a_started_frame, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_in_order, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_write_to_a_closed_peer, setup,
					    teardown),
	};

	signal(SIGPIPE, SIG_IGN); /* as in a worker */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
