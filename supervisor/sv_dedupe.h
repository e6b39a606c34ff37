/*
 * sv_dedupe.h: the publish dedupe window. A client that publishes with an
 * `id` and retries (after a reconnect, say) must not publish twice: the
 * supervisor remembers (room, user, id) -> seq for a bounded time and
 * count, and answers a repeat with the first seq and no new delivery.
 */
#ifndef WSD_SV_DEDUPE_H
#define WSD_SV_DEDUPE_H

#include <stddef.h>
#include <stdint.h>

#include "../proto/err.h"
#include "../proto/queue.h"
#include <uthash.h>

struct sv_dedupe_ent {
	char *key;
	size_t keylen;
	uint64_t seq;
	uint64_t at_ms;
	TAILQ_ENTRY(sv_dedupe_ent) order;
	UT_hash_handle hh;
};

struct sv_dedupe {
	struct sv_dedupe_ent *byk; /* uthash by key */
	TAILQ_HEAD(, sv_dedupe_ent) fifo;
	uint32_t count, max;
	uint64_t window_ms;
};

void sv_dedupe_init(struct sv_dedupe *d, uint32_t max, uint64_t window_ms);
void sv_dedupe_fini(struct sv_dedupe *d);

/* The seq of an earlier publish of (room, user, id) in the window, or 0. */
uint64_t sv_dedupe_find(struct sv_dedupe *d, const char *room, size_t rlen,
			const char *user, size_t ulen, const char *id,
			size_t idlen, uint64_t now_ms);

/* Remember a publish. Returns WSD_OK, or WSD_ENOMEM (not kept). */
int sv_dedupe_add(struct sv_dedupe *d, const char *room, size_t rlen,
		  const char *user, size_t ulen, const char *id, size_t idlen,
		  uint64_t seq, uint64_t now_ms);

#endif
