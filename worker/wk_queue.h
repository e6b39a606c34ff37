/*
 * wk_queue.h: a connection's send queue: references to shared frame
 * buffers, bounded in bytes and in messages, the drop policies that apply
 * when it is full, and the writev that empties it (through the
 * connection's I/O seam). Entries are a buffer reference now; a room's
 * policy and a message key can join them later.
 */
#ifndef WSD_WK_QUEUE_H
#define WSD_WK_QUEUE_H

#include <stdint.h>

#include "wk.h"

/* The bounds of a queue and what to do when a message does not fit. */
struct wk_qlimit {
	uint64_t bytes;
	uint64_t msgs;
	int policy; /* enum proto_slow_policy */
};

void wk_queue_init(struct wk_queue *q);

/* Drop every entry (their buffers lose a reference). */
void wk_queue_clear(struct wk_queue *q);

/* Drop every entry not yet started (a partly written frame stays, or the
 * client would see half of it); returns how many were dropped. For a
 * close that must go next. */
uint32_t wk_queue_discard_unsent(struct wk_queue *q);

static inline int
wk_queue_empty(const struct wk_queue *q)
{
	return STAILQ_EMPTY(&q->q);
}

/*
 * Append a reference to b (the caller keeps its own), whatever the
 * limits: for handshake answers and control frames. Returns WSD_OK or
 * WSD_ENOMEM (nothing queued).
 */
int wk_queue_push(struct wk_queue *q, struct wk_buf *b);

/*
 * Would a frame of len more bytes break lim? An empty queue takes any one
 * frame, so a message near the size limit is never refused outright.
 * (Inline: every send asks.)
 */
static inline int
wk_queue_full(const struct wk_queue *q, uint32_t len,
	      const struct wk_qlimit *lim)
{
	return q->msgs > 0 &&
	       (q->bytes + len > lim->bytes || q->msgs + 1 > lim->msgs);
}

/* Is the queue over lim already (its owner stops reading the client)? */
static inline int
wk_queue_over(const struct wk_queue *q, const struct wk_qlimit *lim)
{
	return q->bytes > lim->bytes || q->msgs > lim->msgs;
}

/*
 * Append a reference to b within lim, applying lim->policy when it does
 * not fit: drop_newest drops b, drop_oldest drops the oldest frames not
 * yet started until b fits, disconnect takes nothing (the caller closes
 * the connection). latest_per_key first drops a queued frame (not yet
 * started) with the same key (a hash of room and key, not 0) and appends
 * b, fit or not; otherwise it acts as drop_oldest. Every frame dropped or
 * replaced, b included, is added to *drops. Returns WSD_OK (b queued),
 * WSD_EFULL (b not queued) or WSD_ENOMEM.
 */
int wk_queue_offer(struct wk_queue *q, struct wk_buf *b,
		   const struct wk_qlimit *lim, uint64_t key, uint64_t *drops);

/*
 * Write the queue to c's socket (c->io_ops), one writev per batch of
 * entries, until it is empty, the socket is full, or eight writevs were
 * made (the loop's other connections get their turn). Returns WSD_OK
 * (empty now), WSD_EAGAIN (what is left waits for the next flush) or
 * WSD_ECLOSED (the write failed; the socket is dead).
 */
int wk_queue_write(struct wk_queue *q, struct wk_conn *c);

#endif
