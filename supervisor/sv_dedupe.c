/*
 * sv_dedupe.c: the dedupe window of sv_dedupe.h. Entries are hashed by
 * the key "room\0user\0id" and kept in arrival order, so expiry (by age
 * or by count) always removes from the front.
 */
#include "sv_dedupe.h"

#include <stdlib.h>
#include <string.h>

void
sv_dedupe_init(struct sv_dedupe *d, uint32_t max, uint64_t window_ms)
{
	memset(d, 0, sizeof(*d));
	TAILQ_INIT(&d->fifo);
	d->max = max;
	d->window_ms = window_ms;
}

static void
ent_free(struct sv_dedupe *d, struct sv_dedupe_ent *e)
{
	HASH_DEL(d->byk, e);
	TAILQ_REMOVE(&d->fifo, e, order);
	d->count--;
	free(e->key);
	free(e);
}

void
sv_dedupe_fini(struct sv_dedupe *d)
{
	while (!TAILQ_EMPTY(&d->fifo))
		ent_free(d, TAILQ_FIRST(&d->fifo));
}

static void
expire(struct sv_dedupe *d, uint64_t now_ms)
{
	struct sv_dedupe_ent *e;

	while ((e = TAILQ_FIRST(&d->fifo)) != NULL &&
	       (d->count > d->max || e->at_ms + d->window_ms < now_ms))
		ent_free(d, e);
}

/* Build the key into a malloc'd buffer; NULL when out of memory. */
static char *
make_key(const char *room, size_t rlen, const char *user, size_t ulen,
	 const char *id, size_t idlen, size_t *len)
{
	char *k;

	*len = rlen + ulen + idlen + 2;
	if ((k = malloc(*len)) == NULL)
		return NULL;
	memcpy(k, room, rlen);
	k[rlen] = '\0';
	memcpy(k + rlen + 1, user, ulen);
	k[rlen + 1 + ulen] = '\0';
	memcpy(k + rlen + ulen + 2, id, idlen);
	return k;
}

uint64_t
sv_dedupe_find(struct sv_dedupe *d, const char *room, size_t rlen,
	       const char *user, size_t ulen, const char *id, size_t idlen,
	       uint64_t now_ms)
{
	struct sv_dedupe_ent *e;
	size_t len;
	char *k;

	expire(d, now_ms);
	if ((k = make_key(room, rlen, user, ulen, id, idlen, &len)) == NULL)
		return 0;
	HASH_FIND(hh, d->byk, k, len, e);
	free(k);
	return e ? e->seq : 0;
}

int
sv_dedupe_add(struct sv_dedupe *d, const char *room, size_t rlen,
	      const char *user, size_t ulen, const char *id, size_t idlen,
	      uint64_t seq, uint64_t now_ms)
{
	struct sv_dedupe_ent *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return WSD_ENOMEM;
	e->key = make_key(room, rlen, user, ulen, id, idlen, &e->keylen);
	if (e->key == NULL) {
		free(e);
		return WSD_ENOMEM;
	}
	e->seq = seq;
	e->at_ms = now_ms;
	HASH_ADD_KEYPTR(hh, d->byk, e->key, e->keylen, e);
	TAILQ_INSERT_TAIL(&d->fifo, e, order);
	d->count++;
	expire(d, now_ms);
	return WSD_OK;
}
