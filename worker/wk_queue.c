/*
 * wk_queue.c: the send queue of wk_queue.h. A frame that is partly
 * written stays first in the queue with q->off bytes gone, and is never
 * dropped: the client would see half a frame.
 *
 * Every change of a queue's length moves it between the buckets of the
 * worker's depth histogram (wk.qdepth, empty queues not counted), so a
 * scrape never walks the connections; a frame that carries a publish's
 * stamp is counted in the publish-to-delivery latency when its last byte
 * is written.
 */
#include "wk_queue.h"

#include <stdlib.h>

#include "../proto/clock.h"
#include "../proto/queue.h"
#include "../proto/stats.h"
#include "wk_frame.h"

#define IOV_BATCH 128  /* entries per writev */
#define WRITE_ROUNDS 8 /* writevs per call, at most */

void
wk_queue_init(struct wk_queue *q)
{
	STAILQ_INIT(&q->q);
	q->off = 0;
	q->msgs = 0;
	q->bytes = 0;
}

/* A queue went from `from` messages to `to`: move it between buckets. */
static void
depth_moved(uint32_t from, uint32_t to)
{
	unsigned a = stats_bucket(stats_qdepth, STATS_QDEPTH_N, from);
	unsigned b = stats_bucket(stats_qdepth, STATS_QDEPTH_N, to);

	if (a == b)
		return;
	if (from > 0)
		wk.qdepth[a]--;
	if (to > 0)
		wk.qdepth[b]++;
}

/* Unlink and free the entry after prev (NULL: the first one), with its
 * bytes and count; the one place an entry leaves a queue. */
static void
remove_after(struct wk_queue *q, struct wk_qent *prev)
{
	struct wk_qent *e =
	    prev ? STAILQ_NEXT(prev, link) : STAILQ_FIRST(&q->q);

	if (prev == NULL)
		STAILQ_REMOVE_HEAD(&q->q, link);
	else
		STAILQ_REMOVE_AFTER(&q->q, prev, link);
	q->bytes -= e->buf->len;
	wk.queued_bytes -= e->buf->len;
	wk.queued_msgs--;
	depth_moved(q->msgs, q->msgs - 1);
	q->msgs--;
	wk_buf_unref(e->buf);
	free(e);
}

static void
pop(struct wk_queue *q)
{
	remove_after(q, NULL);
}

void
wk_queue_clear(struct wk_queue *q)
{
	while (!STAILQ_EMPTY(&q->q))
		pop(q);
	q->off = 0;
}

uint32_t
wk_queue_discard_unsent(struct wk_queue *q)
{
	struct wk_qent *first = STAILQ_FIRST(&q->q);
	uint32_t n = 0;

	if (first != NULL && q->off == 0) {
		n = (uint32_t)q->msgs;
		wk_queue_clear(q);
		return n;
	}
	while (first != NULL && STAILQ_NEXT(first, link) != NULL) {
		remove_after(q, first);
		n++;
	}
	return n;
}

static int
push_key(struct wk_queue *q, struct wk_buf *b, uint64_t key)
{
	struct wk_qent *e = malloc(sizeof(*e));

	if (e == NULL)
		return WSD_ENOMEM;
	b->refs++;
	e->buf = b;
	e->key = key;
	STAILQ_INSERT_TAIL(&q->q, e, link);
	q->bytes += b->len;
	wk.queued_bytes += b->len;
	wk.queued_msgs++;
	depth_moved(q->msgs, q->msgs + 1);
	q->msgs++;
	return WSD_OK;
}

int
wk_queue_push(struct wk_queue *q, struct wk_buf *b)
{
	return push_key(q, b, 0);
}

/*
 * latest_per_key: the queued frame of the same key, if one is not started
 * yet, is dropped and b goes to the end (so seqs still only go up).
 * Returns WSD_OK (replaced), WSD_ENOENT (no such frame) or WSD_ENOMEM.
 */
static int
replace_key(struct wk_queue *q, struct wk_buf *b, uint64_t key)
{
	struct wk_qent *prev = NULL, *e = STAILQ_FIRST(&q->q);

	if (e != NULL && q->off > 0) {
		prev = e;
		e = STAILQ_NEXT(e, link);
	}
	for (; e != NULL; prev = e, e = STAILQ_NEXT(e, link)) {
		if (e->key != key)
			continue;
		remove_after(q, prev);
		return push_key(q, b, key);
	}
	return WSD_ENOENT;
}

/* Make room for need more bytes by dropping the oldest unstarted frames.
 * Returns WSD_OK, or WSD_EFULL when only a started frame is left. */
static int
drop_oldest(struct wk_queue *q, uint32_t need, const struct wk_qlimit *lim,
	    uint64_t *drops)
{
	struct wk_qent *first = STAILQ_FIRST(&q->q), *e;

	while (q->bytes + need > lim->bytes || q->msgs + 1 > lim->msgs) {
		/* Never cut a frame that is partly written. */
		e = q->off > 0 ? STAILQ_NEXT(first, link) : first;
		if (e == NULL)
			return WSD_EFULL;
		if (e == first) {
			pop(q);
			first = STAILQ_FIRST(&q->q);
		} else {
			remove_after(q, first);
		}
		(*drops)++;
	}
	return WSD_OK;
}

int
wk_queue_offer(struct wk_queue *q, struct wk_buf *b,
	       const struct wk_qlimit *lim, uint64_t key, uint64_t *drops)
{
	int oldest = lim->policy == PROTO_SLOW_DROP_OLDEST ||
		     lim->policy == PROTO_SLOW_LATEST_PER_KEY;

	if (lim->policy == PROTO_SLOW_LATEST_PER_KEY && key != 0) {
		int rc = replace_key(q, b, key);

		if (rc != WSD_ENOENT) {
			(*drops)++;
			return rc;
		}
	}
	if (wk_queue_full(q, b->len, lim)) {
		if (!oldest || drop_oldest(q, b->len, lim, drops) != WSD_OK) {
			(*drops)++;
			return WSD_EFULL;
		}
	}
	return push_key(q, b,
			lim->policy == PROTO_SLOW_LATEST_PER_KEY ? key : 0);
}

int
wk_queue_write(struct wk_queue *q, struct wk_conn *c)
{
	struct iovec iov[IOV_BATCH];
	struct wk_qent *e;
	uint64_t now = 0;
	ssize_t n;
	int cnt, rounds = 0;

	while (!STAILQ_EMPTY(&q->q) && rounds++ < WRITE_ROUNDS) {
		cnt = 0;
		STAILQ_FOREACH (e, &q->q, link) {
			if (cnt == IOV_BATCH)
				break;
			iov[cnt].iov_base = e->buf->data + (cnt ? 0 : q->off);
			iov[cnt].iov_len = e->buf->len - (cnt ? 0 : q->off);
			cnt++;
		}
		n = c->io_ops->writev(c, iov, cnt);
		if (n == WSD_EAGAIN)
			return WSD_EAGAIN;
		if (n < 0)
			return WSD_ECLOSED;
		while (n > 0) {
			e = STAILQ_FIRST(&q->q);
			if ((size_t)n >= e->buf->len - q->off) {
				n -= (ssize_t)(e->buf->len - q->off);
				q->off = 0;
				if (e->buf->stamp != 0) {
					if (now == 0)
						now = mono_us();
					stats_observe(&wk.tot[PROTO_TOT_LAT],
						      stats_lat_us, STATS_LAT_N,
						      now > e->buf->stamp
							  ? now - e->buf->stamp
							  : 0);
				}
				pop(q);
			} else {
				q->off += (uint32_t)n;
				n = 0;
			}
		}
		if (q->off > 0)
			return WSD_EAGAIN; /* partial write: the socket is full
					    */
	}
	return STAILQ_EMPTY(&q->q) ? WSD_OK : WSD_EAGAIN;
}
