/*
 * sv_registry.c: the connection, user and room indexes declared in
 * sv_registry.h. Hashes are uthash; lists are sys/queue.h. Every entry is
 * freed by exactly one function: connections by sv_reg_conn_remove, users
 * when their last connection goes, rooms when their last member goes (or
 * by sv_reg_room_drop, or fini).
 */
#include "sv_registry.h"

#include <stdlib.h>
#include <string.h>

void
sv_registry_init(struct sv_registry *r)
{
	int i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < SV_MAX_WORKERS; i++)
		TAILQ_INIT(&r->by_worker[i]);
}

static void
room_free(struct sv_room *room)
{
	free(room->per_worker);
	free(room->name);
	free(room);
}

void
sv_registry_fini(struct sv_registry *r)
{
	struct sv_conn *c, *ctmp;
	struct sv_room *room, *rtmp;

	HASH_ITER (hh, r->conns, c, ctmp) {
		sv_reg_conn_remove(r, c);
	}
	HASH_ITER (hh, r->rooms, room, rtmp) {
		HASH_DEL(r->rooms, room);
		r->nrooms--;
		room_free(room);
	}
}

static struct sv_user *
user_get(struct sv_registry *r, const char *name, size_t len)
{
	struct sv_user *u = sv_reg_user_find(r, name, len);

	if (u != NULL)
		return u;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	if ((u->name = strndup(name, len)) == NULL) {
		free(u);
		return NULL;
	}
	TAILQ_INIT(&u->conns);
	HASH_ADD_KEYPTR(hh, r->users, u->name, len, u);
	return u;
}

const char *
sv_reg_addr_ip(const char *addr, size_t alen, size_t *len)
{
	const char *colon = NULL;
	size_t i;

	if (alen > 0 && addr[0] == '[') {
		const char *rb = memchr(addr, ']', alen);

		*len = rb ? (size_t)(rb - addr - 1) : alen - 1;
		return addr + 1;
	}
	for (i = 0; i < alen; i++)
		if (addr[i] == ':')
			colon = addr + i;
	*len = colon ? (size_t)(colon - addr) : alen;
	return addr;
}

static struct sv_ipent *
ip_find(struct sv_registry *r, const char *addr, size_t alen)
{
	struct sv_ipent *e;
	size_t len;
	const char *ip = sv_reg_addr_ip(addr, alen, &len);

	HASH_FIND(hh, r->ips, ip, len, e);
	return e;
}

uint32_t
sv_reg_addr_count(struct sv_registry *r, const char *addr, size_t alen)
{
	struct sv_ipent *e = ip_find(r, addr, alen);

	return e ? e->nconns : 0;
}

static struct sv_ipent *
ip_get(struct sv_registry *r, const char *addr, size_t alen)
{
	struct sv_ipent *e = ip_find(r, addr, alen);
	size_t len;
	const char *ip = sv_reg_addr_ip(addr, alen, &len);

	if (e != NULL)
		return e;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	if ((e->ip = strndup(ip, len)) == NULL) {
		free(e);
		return NULL;
	}
	HASH_ADD_KEYPTR(hh, r->ips, e->ip, len, e);
	return e;
}

static void
ip_unlink(struct sv_registry *r, struct sv_conn *c)
{
	struct sv_ipent *e = c->ip;

	if (e != NULL && --e->nconns == 0) {
		HASH_DEL(r->ips, e);
		free(e->ip);
		free(e);
	}
	c->ip = NULL;
}

struct sv_conn *
sv_reg_conn_add(struct sv_registry *r, uint64_t id, int worker,
		const char *user, size_t ulen, const char *addr, size_t alen,
		const char *agent, size_t aglen, int anonymous, uint64_t now_ms)
{
	struct sv_conn *c;
	struct sv_user *u;

	if (worker < 0 || worker >= SV_MAX_WORKERS ||
	    sv_reg_conn_find(r, id) != NULL)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->agent = strndup(agent, aglen)) == NULL)
		goto fail;
	if ((c->ip = ip_get(r, addr, alen)) == NULL)
		goto fail;
	c->ip->nconns++;
	if ((u = user_get(r, user, ulen)) == NULL) {
		ip_unlink(r, c);
		goto fail;
	}
	c->id = id;
	c->worker = worker;
	c->user = u;
	c->anonymous = anonymous;
	c->connected_ms = c->last_seen_ms = now_ms;
	if (alen >= sizeof(c->addr))
		alen = sizeof(c->addr) - 1;
	memcpy(c->addr, addr, alen);
	LIST_INIT(&c->rooms);
	HASH_ADD(hh, r->conns, id, sizeof(c->id), c);
	TAILQ_INSERT_TAIL(&u->conns, c, by_user);
	u->nconns++;
	TAILQ_INSERT_TAIL(&r->by_worker[worker], c, by_worker);
	r->per_worker[worker]++;
	r->nconns++;
	return c;
fail:
	free(c->agent);
	free(c);
	return NULL;
}

struct sv_conn *
sv_reg_conn_find(struct sv_registry *r, uint64_t id)
{
	struct sv_conn *c;

	HASH_FIND(hh, r->conns, &id, sizeof(id), c);
	return c;
}

void
sv_reg_room_drop(struct sv_registry *r, struct sv_room *room)
{
	if (room->nmembers > 0)
		return;
	HASH_DEL(r->rooms, room);
	r->nrooms--;
	room_free(room);
}

static void
user_unlink(struct sv_registry *r, struct sv_conn *c)
{
	struct sv_user *u = c->user;

	TAILQ_REMOVE(&u->conns, c, by_user);
	if (--u->nconns == 0) {
		HASH_DEL(r->users, u);
		free(u->name);
		free(u);
	}
}

int
sv_reg_conn_set_user(struct sv_registry *r, struct sv_conn *c, const char *user,
		     size_t ulen)
{
	struct sv_user *u;

	if (strlen(c->user->name) == ulen &&
	    memcmp(c->user->name, user, ulen) == 0)
		return WSD_OK;
	if ((u = user_get(r, user, ulen)) == NULL)
		return WSD_ENOMEM;
	user_unlink(r, c);
	c->user = u;
	TAILQ_INSERT_TAIL(&u->conns, c, by_user);
	u->nconns++;
	return WSD_OK;
}

static void
ix_drop(struct sv_conn *c)
{
	struct sv_member_ix *e, *tmp;

	HASH_ITER (hh, c->rooms_ix, e, tmp) {
		HASH_DEL(c->rooms_ix, e);
		free(e);
	}
}

/* Index m in its connection's hash (when the connection has one).
 * Returns WSD_OK, or WSD_ENOMEM after dropping the whole index (the
 * scan still finds every membership). */
static int
ix_add(struct sv_conn *c, struct sv_member *m)
{
	struct sv_member_ix *e = calloc(1, sizeof(*e));

	if (e == NULL) {
		ix_drop(c);
		return WSD_ENOMEM;
	}
	e->room = m->room;
	e->m = m;
	HASH_ADD_PTR(c->rooms_ix, room, e);
	return WSD_OK;
}

/* c just reached SV_REG_INDEX_AT rooms: index them all. */
static void
ix_build(struct sv_conn *c)
{
	struct sv_member *m;

	LIST_FOREACH (m, &c->rooms, in_conn)
		if (ix_add(c, m) != WSD_OK)
			return;
}

static void
member_unlink(struct sv_registry *r, struct sv_member *m)
{
	struct sv_room *room = m->room;
	struct sv_conn *c = m->conn;

	if (c->rooms_ix != NULL) {
		struct sv_member_ix *e;

		HASH_FIND_PTR(c->rooms_ix, &room, e);
		if (e != NULL) {
			HASH_DEL(c->rooms_ix, e);
			free(e);
		}
		if (c->nrooms <= SV_REG_INDEX_AT / 2)
			ix_drop(c);
	}
	TAILQ_REMOVE(&room->members, m, in_room);
	LIST_REMOVE(m, in_conn);
	room->nmembers--;
	room->per_worker[m->conn->worker]--;
	m->conn->nrooms--;
	free(m);
	sv_reg_room_drop(r, room);
}

void
sv_reg_conn_remove(struct sv_registry *r, struct sv_conn *c)
{
	ix_drop(c);
	while (!LIST_EMPTY(&c->rooms))
		member_unlink(r, LIST_FIRST(&c->rooms));
	HASH_DEL(r->conns, c);
	user_unlink(r, c);
	ip_unlink(r, c);
	TAILQ_REMOVE(&r->by_worker[c->worker], c, by_worker);
	r->per_worker[c->worker]--;
	r->nconns--;
	if (c->held != NULL) {
		struct sv_held *h = c->held->next, *next;

		c->held->next = NULL; /* the ring, opened after its last */
		for (; h != NULL; h = next) {
			next = h->next;
			free(h);
		}
	}
	free(c->agent);
	free(c->info);
	free(c->trace);
	free(c);
}

uint32_t
sv_reg_worker_clear(struct sv_registry *r, int worker,
		    void (*leaving)(void *arg, struct sv_conn *c), void *arg)
{
	uint32_t n = 0;

	while (!TAILQ_EMPTY(&r->by_worker[worker])) {
		struct sv_conn *c = TAILQ_FIRST(&r->by_worker[worker]);

		if (leaving != NULL)
			leaving(arg, c);
		sv_reg_conn_remove(r, c);
		n++;
	}
	return n;
}

struct sv_user *
sv_reg_user_find(struct sv_registry *r, const char *name, size_t len)
{
	struct sv_user *u;

	HASH_FIND(hh, r->users, name, len, u);
	return u;
}

struct sv_user *
sv_reg_room_user(struct sv_registry *r, const char *name)
{
	const char *user;
	size_t ulen;

	if ((user = room_personal_user(name, strlen(name), &ulen)) == NULL)
		return NULL;
	return sv_reg_user_find(r, user, ulen);
}

uint32_t
sv_reg_room_on_worker(const struct sv_room *room, int w)
{
	return (uint32_t)w < room->nper_worker ? room->per_worker[w] : 0;
}

struct sv_room *
sv_reg_room_get(struct sv_registry *r, const char *name, size_t len, int create)
{
	struct sv_room *room;

	HASH_FIND(hh, r->rooms, name, len, room);
	if (room != NULL || !create)
		return room;
	if ((room = calloc(1, sizeof(*room))) == NULL)
		return NULL;
	if ((room->name = strndup(name, len)) == NULL) {
		free(room);
		return NULL;
	}
	TAILQ_INIT(&room->members);
	HASH_ADD_KEYPTR(hh, r->rooms, room->name, len, room);
	r->nrooms++;
	return room;
}

static struct sv_member *
member_find(struct sv_conn *c, struct sv_room *room)
{
	struct sv_member *m;

	if (c->rooms_ix != NULL) {
		struct sv_member_ix *e;

		HASH_FIND_PTR(c->rooms_ix, &room, e);
		return e ? e->m : NULL;
	}
	LIST_FOREACH (m, &c->rooms, in_conn)
		if (m->room == room)
			return m;
	return NULL;
}

int
sv_reg_is_member(struct sv_conn *c, struct sv_room *room)
{
	return member_find(c, room) != NULL;
}

int
sv_reg_join(struct sv_registry *r, struct sv_conn *c, struct sv_room *room)
{
	struct sv_member *m;

	(void)r;
	if (member_find(c, room) != NULL)
		return WSD_EEXIST;
	if ((uint32_t)c->worker >= room->nper_worker) {
		uint32_t n = (uint32_t)c->worker + 1, *pw;

		if ((pw = realloc(room->per_worker, n * sizeof(*pw))) == NULL)
			return WSD_ENOMEM;
		memset(pw + room->nper_worker, 0,
		       (n - room->nper_worker) * sizeof(*pw));
		room->per_worker = pw;
		room->nper_worker = n;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return WSD_ENOMEM;
	m->room = room;
	m->conn = c;
	TAILQ_INSERT_TAIL(&room->members, m, in_room);
	LIST_INSERT_HEAD(&c->rooms, m, in_conn);
	room->nmembers++;
	room->per_worker[c->worker]++;
	c->nrooms++;
	if (c->rooms_ix != NULL)
		ix_add(c, m);
	else if (c->nrooms >= SV_REG_INDEX_AT)
		ix_build(c);
	return WSD_OK;
}

int
sv_reg_leave(struct sv_registry *r, struct sv_conn *c, struct sv_room *room)
{
	struct sv_member *m = member_find(c, room);

	if (m == NULL)
		return WSD_ENOENT;
	member_unlink(r, m);
	return WSD_OK;
}
