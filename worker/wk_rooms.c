/*
 * wk_rooms.c: the worker's replica of room membership, for its own
 * connections only. The supervisor sends one DELIVER per worker per room
 * message; this index turns it into the list of local recipients. A
 * membership node sits in the room's list and in the connection's list,
 * so leaving and disconnecting cost O(1) per room. A room with no local
 * members is freed at once.
 */
#include "wk_rooms.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

struct wk_room *
wk_room_find(const char *name, size_t len)
{
	struct wk_room *r;

	HASH_FIND(hh, wk.rooms, name, len, r);
	return r;
}

static struct wk_member *
member_find(struct wk_conn *c, const char *name, size_t len)
{
	struct wk_room *r = wk_room_find(name, len);
	struct wk_member *m;

	if (r == NULL)
		return NULL;
	/* Scan the shorter of the two lists. */
	if (c->nrooms <= r->nmembers) {
		LIST_FOREACH (m, &c->rooms, in_conn)
			if (m->room == r)
				return m;
	} else {
		TAILQ_FOREACH (m, &r->members, in_room)
			if (m->conn == c)
				return m;
	}
	return NULL;
}

int
wk_room_is_member(struct wk_conn *c, const char *name, size_t len)
{
	return member_find(c, name, len) != NULL;
}

int
wk_room_policy(const char *name)
{
	const struct setting_list *l = &wk.cfg.room_policies;
	char pat[256];
	const char *why;
	size_t plen;
	uint32_t i;
	int policy;

	for (i = 0; i < l->n; i++) {
		if (settings_room_policy(l->v[i], &plen, &policy, &why) != 0 ||
		    plen >= sizeof(pat))
			continue;
		memcpy(pat, l->v[i], plen);
		pat[plen] = '\0';
		if (fnmatch(pat, name, 0) == 0)
			return policy;
	}
	return -1;
}

void
wk_rooms_repolicy(void)
{
	struct wk_room *r, *tmp;

	HASH_ITER (hh, wk.rooms, r, tmp) {
		r->policy = wk_room_policy(r->name);
	}
}

int
wk_room_join(struct wk_conn *c, const char *name, size_t len)
{
	struct wk_room *r;
	struct wk_member *m;

	if (member_find(c, name, len) != NULL)
		return WSD_OK;
	if ((r = wk_room_find(name, len)) == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return WSD_ENOMEM;
		if ((r->name = strndup(name, len)) == NULL) {
			free(r);
			return WSD_ENOMEM;
		}
		TAILQ_INIT(&r->members);
		r->policy = wk_room_policy(r->name);
		HASH_ADD_KEYPTR(hh, wk.rooms, r->name, len, r);
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		if (r->nmembers == 0) {
			HASH_DEL(wk.rooms, r);
			free(r->name);
			free(r);
		}
		return WSD_ENOMEM;
	}
	m->room = r;
	m->conn = c;
	TAILQ_INSERT_TAIL(&r->members, m, in_room);
	LIST_INSERT_HEAD(&c->rooms, m, in_conn);
	r->nmembers++;
	c->nrooms++;
	return WSD_OK;
}

static void
member_free(struct wk_member *m)
{
	struct wk_room *r = m->room;

	TAILQ_REMOVE(&r->members, m, in_room);
	LIST_REMOVE(m, in_conn);
	m->conn->nrooms--;
	free(m);
	if (--r->nmembers == 0) {
		HASH_DEL(wk.rooms, r);
		free(r->name);
		free(r);
	}
}

int
wk_room_leave(struct wk_conn *c, const char *name, size_t len)
{
	struct wk_member *m = member_find(c, name, len);

	if (m == NULL)
		return WSD_ENOENT;
	member_free(m);
	return WSD_OK;
}

void
wk_room_leave_all(struct wk_conn *c)
{
	while (!LIST_EMPTY(&c->rooms))
		member_free(LIST_FIRST(&c->rooms));
}
