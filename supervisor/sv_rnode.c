/*
 * sv_rnode.c: what several nodes share beside rooms and sessions
 * (sv_reng.h): presence, each user's connections, and the list of live
 * nodes.
 *
 * A node writes only its own entries: a hash per room of the users
 * present through it (user -> "CONNS INFO"), a field per user of its
 * connections, and its heartbeat key, on every shard, which expires
 * redis.node_ttl_ms after the last beat. A beat comes every third of
 * that, refreshing the TTLs of the node's presence hashes too; so a node
 * that dies without a word is out of every presence list, and out of
 * every user's count, within redis.node_ttl_ms. A node that stops cleanly
 * removes its entries at once.
 *
 * The counts a connection limit compares are read and incremented by one
 * script on the user's shard, skipping (and removing) the fields of nodes
 * whose heartbeat is gone: two nodes admitting the same user at once
 * cannot both pass the limit.
 */
#include "sv_reng.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/clock.h"
#include "../proto/err.h"
#include "../proto/log.h"
#include "../proto/room.h"

#define USER_TTL_MS 86400000 /* a user's counts outlive a day idle */

/* KEYS pn:ROOM; ARGV prefix, room. Flat [user, "CONNS INFO", ...] of
 * every node still present (the others' entries are gone: dropped). */
struct sv_redis_script reng_pres_get_lua = {
    "local out = {}\n"
    "for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  local h = redis.call('HGETALL', ARGV[1] .. 'pr:' .. ARGV[2] .. ':' "
    ".. node)\n"
    "  if #h == 0 then redis.call('SREM', KEYS[1], node) end\n"
    "  for i = 1, #h do out[#out + 1] = h[i] end\n"
    "end\n"
    "return out\n",
    ""};

/* KEYS uc:USER; ARGV node, limit, prefix, ttl. The user's connections
 * with this one, or -1 over the limit (nothing changed). */
struct sv_redis_script reng_user_admit_lua = {
    "local h = redis.call('HGETALL', KEYS[1])\n"
    "local sum = 0\n"
    "for i = 1, #h, 2 do\n"
    "  local n = tonumber(h[i + 1])\n"
    "  if n <= 0 or (h[i] ~= ARGV[1] and\n"
    "      redis.call('EXISTS', ARGV[3] .. 'node:' .. h[i]) == 0) then\n"
    "    redis.call('HDEL', KEYS[1], h[i])\n"
    "  else\n"
    "    sum = sum + n\n"
    "  end\n"
    "end\n"
    "if tonumber(ARGV[2]) > 0 and sum >= tonumber(ARGV[2]) then\n"
    "  return -1\n"
    "end\n"
    "redis.call('HINCRBY', KEYS[1], ARGV[1], 1)\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[4])\n"
    "return sum + 1\n",
    ""};

/* KEYS nodes; ARGV now, prefix. Flat [id, heartbeat JSON, ...]. */
struct sv_redis_script reng_nodes_lua = {
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])\n"
    "local out = {}\n"
    "for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n"
    "  local v = redis.call('GET', ARGV[2] .. 'node:' .. id)\n"
    "  if v then out[#out + 1] = id; out[#out + 1] = v end\n"
    "end\n"
    "return out\n",
    ""};

/* A command whose reply nobody waits for: failures are counted by the
 * link. */
static void
ignore(void *arg, const redisReply *rep)
{
	(void)arg;
	(void)rep;
}

/* "pr:ROOM:NODE" and "pn:ROOM" of room. */
static int
presence_keys(const struct reng *x, const char *room, size_t rlen,
	      char kp[RENG_KEY_MAX], size_t *kplen, char kn[RENG_KEY_MAX],
	      size_t *knlen)
{
	char name[RENG_KEY_MAX];
	int n =
	    snprintf(name, sizeof(name), "%.*s:%s", (int)rlen, room, x->node);

	if (n <= 0 || n >= (int)sizeof(name))
		return WSD_EINVAL;
	*kplen = reng_key(x, kp, "pr:", name, (size_t)n);
	*knlen = reng_key(x, kn, "pn:", room, rlen);
	return *kplen > 0 && *knlen > 0 ? WSD_OK : WSD_EINVAL;
}

/* The user's entry in this node's presence hash of room: conns, info. */
static void
presence_write(struct reng *x, const char *room, size_t rlen, const char *user,
	       uint32_t conns, const char *info)
{
	char kp[RENG_KEY_MAX], kn[RENG_KEY_MAX], ttl[24], *val = NULL;
	size_t kplen, knlen;
	int shard = reng_shard(x, room, rlen), n;

	if (presence_keys(x, room, rlen, kp, &kplen, kn, &knlen) != WSD_OK)
		return;
	snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)x->node_ttl_ms);
	if (conns == 0) {
		const char *argv[3] = {"HDEL", kp, user};
		size_t lens[3] = {4, kplen, strlen(user)};

		sv_redis_cmd(x->redis, shard, ignore, NULL, 3, argv, lens);
		return;
	}
	if ((n = asprintf(&val, "%u %s", conns, info ? info : "null")) < 0)
		return;
	{
		const char *hset[4] = {"HSET", kp, user, val};
		size_t hl[4] = {4, kplen, strlen(user), (size_t)n};
		const char *px[3] = {"PEXPIRE", kp, ttl};
		size_t pl[3] = {7, kplen, strlen(ttl)};
		const char *sadd[3] = {"SADD", kn, x->node};
		size_t sl[3] = {4, knlen, strlen(x->node)};
		const char *pxn[3] = {"PEXPIRE", kn, ttl};
		size_t pnl[3] = {7, knlen, strlen(ttl)};

		sv_redis_cmd(x->redis, shard, ignore, NULL, 4, hset, hl);
		sv_redis_cmd(x->redis, shard, ignore, NULL, 3, px, pl);
		sv_redis_cmd(x->redis, shard, ignore, NULL, 3, sadd, sl);
		sv_redis_cmd(x->redis, shard, ignore, NULL, 3, pxn, pnl);
	}
	free(val);
}

/* The info this node keeps for user in room (the mirror's). */
struct info_ctx {
	const char *user;
	char *info;
};

static void
got_info(void *arg, int rc, const struct sv_presence *users, uint32_t n)
{
	struct info_ctx *c = arg;
	uint32_t i;

	for (i = 0; rc == WSD_OK && i < n; i++)
		if (strcmp(users[i].user, c->user) == 0 && users[i].info)
			c->info = strdup(users[i].info);
}

int
reng_presence_add(struct sv_engine *e, const char *room, size_t rlen,
		  const char *user, const char *info)
{
	struct reng *x = e->impl;
	int n = x->mirror.ops->presence_add(&x->mirror, room, rlen, user, info);

	if (n > 0)
		presence_write(x, room, rlen, user, (uint32_t)n, info);
	return n;
}

int
reng_presence_remove(struct sv_engine *e, const char *room, size_t rlen,
		     const char *user)
{
	struct reng *x = e->impl;
	int n = x->mirror.ops->presence_remove(&x->mirror, room, rlen, user);
	struct info_ctx c = {user, NULL};

	if (n > 0)
		x->mirror.ops->presence_get(&x->mirror, room, rlen, got_info,
					    &c);
	if (n >= 0)
		presence_write(x, room, rlen, user, (uint32_t)n, c.info);
	free(c.info);
	return n;
}

struct pres_ctx {
	sv_eng_presence_fn cb;
	void *arg;
};

static void
on_presence(void *arg, const redisReply *rep)
{
	struct pres_ctx *c = arg;
	struct sv_presence *v = NULL;
	uint32_t n = 0;
	size_t i;

	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY) {
		c->cb(c->arg, WSD_EAGAIN, NULL, 0);
		free(c);
		return;
	}
	if (rep->elements > 0 &&
	    (v = calloc(rep->elements / 2 + 1, sizeof(*v))) == NULL) {
		c->cb(c->arg, WSD_ENOMEM, NULL, 0);
		free(c);
		return;
	}
	/* One line per user, whatever nodes it is present through. */
	for (i = 0; i + 1 < rep->elements; i += 2) {
		const redisReply *u = rep->element[i],
				 *val = rep->element[i + 1];
		const char *sp;
		uint32_t j, conns;

		if (u->type != REDIS_REPLY_STRING ||
		    val->type != REDIS_REPLY_STRING ||
		    (sp = strchr(val->str, ' ')) == NULL)
			continue;
		conns = (uint32_t)strtoul(val->str, NULL, 10);
		for (j = 0; j < n; j++)
			if (strcmp(v[j].user, u->str) == 0)
				break;
		if (j == n) {
			v[n].user = u->str;
			v[n].info = strcmp(sp + 1, "null") == 0 ? NULL : sp + 1;
			n++;
		}
		v[j].conns += conns;
	}
	c->cb(c->arg, WSD_OK, v, n);
	free(v);
	free(c);
}

void
reng_presence_get(struct sv_engine *e, const char *room, size_t rlen,
		  sv_eng_presence_fn cb, void *arg)
{
	struct reng *x = e->impl;
	char kn[RENG_KEY_MAX];
	const char *argv[3] = {kn, x->prefix, room};
	size_t lens[3] = {reng_key(x, kn, "pn:", room, rlen), x->plen, rlen};
	struct pres_ctx *c = malloc(sizeof(*c));

	if (c == NULL || lens[0] == 0) {
		free(c);
		cb(arg, WSD_ENOMEM, NULL, 0);
		return;
	}
	c->cb = cb;
	c->arg = arg;
	if (sv_redis_eval(x->redis, reng_shard(x, room, rlen),
			  &reng_pres_get_lua, on_presence, c, 1, 3, argv,
			  lens) != WSD_OK) {
		free(c);
		cb(arg, WSD_EAGAIN, NULL, 0);
	}
}

/* ------------------------------------------------------------------ */
/* Connections per user. */

struct admit_ctx {
	sv_eng_ready_fn cb;
	void *arg;
};

static void
on_admit(void *arg, const redisReply *rep)
{
	struct admit_ctx *c = arg;
	int rc = WSD_EAGAIN;

	if (rep != NULL && rep->type == REDIS_REPLY_INTEGER)
		rc = rep->integer < 0 ? WSD_EFULL : WSD_OK;
	c->cb(c->arg, rc);
	free(c);
}

void
reng_admit(struct sv_engine *e, const char *user, uint64_t limit,
	   sv_eng_ready_fn cb, void *arg)
{
	struct reng *x = e->impl;
	char ku[RENG_KEY_MAX], lim[24], ttl[24];
	const char *argv[5] = {ku, x->node, lim, x->prefix, ttl};
	size_t lens[5];
	struct admit_ctx *c = malloc(sizeof(*c));

	lens[0] = reng_key(x, ku, "uc:", user, strlen(user));
	lens[1] = strlen(x->node);
	lens[2] = (size_t)snprintf(lim, sizeof(lim), "%llu",
				   (unsigned long long)limit);
	lens[3] = x->plen;
	lens[4] = (size_t)snprintf(ttl, sizeof(ttl), "%d", USER_TTL_MS);
	if (c == NULL || lens[0] == 0) {
		free(c);
		cb(arg, WSD_ENOMEM);
		return;
	}
	c->cb = cb;
	c->arg = arg;
	if (sv_redis_eval(x->redis, reng_shard(x, user, strlen(user)),
			  &reng_user_admit_lua, on_admit, c, 1, 5, argv,
			  lens) != WSD_OK) {
		free(c);
		cb(arg, WSD_EAGAIN);
	}
}

void
reng_release(struct sv_engine *e, const char *user)
{
	struct reng *x = e->impl;
	char ku[RENG_KEY_MAX];
	const char *argv[4] = {"HINCRBY", ku, x->node, "-1"};
	size_t lens[4] = {7, reng_key(x, ku, "uc:", user, strlen(user)),
			  strlen(x->node), 2};

	if (lens[1] > 0)
		sv_redis_cmd(x->redis, reng_shard(x, user, strlen(user)),
			     ignore, NULL, 4, argv, lens);
}

/* ------------------------------------------------------------------ */
/* Nodes. */

struct nodes_ctx {
	sv_eng_nodes_fn cb;
	void *arg;
};

static void
on_nodes(void *arg, const redisReply *rep)
{
	struct nodes_ctx *c = arg;
	struct sv_eng_node *v;
	uint32_t n = 0;
	size_t i;

	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY) {
		c->cb(c->arg, WSD_EAGAIN, NULL, 0);
		free(c);
		return;
	}
	if ((v = calloc(rep->elements / 2 + 1, sizeof(*v))) == NULL) {
		c->cb(c->arg, WSD_ENOMEM, NULL, 0);
		free(c);
		return;
	}
	for (i = 0; i + 1 < rep->elements; i += 2)
		if (rep->element[i]->type == REDIS_REPLY_STRING &&
		    rep->element[i + 1]->type == REDIS_REPLY_STRING) {
			v[n].id = rep->element[i]->str;
			v[n].info = rep->element[i + 1]->str;
			n++;
		}
	c->cb(c->arg, WSD_OK, v, n);
	free(v);
	free(c);
}

void
reng_nodes(struct sv_engine *e, sv_eng_nodes_fn cb, void *arg)
{
	struct reng *x = e->impl;
	char kz[RENG_KEY_MAX], now[24];
	const char *argv[3] = {kz, now, x->prefix};
	size_t lens[3] = {reng_key(x, kz, "nodes", "", 0), 0, x->plen};
	struct nodes_ctx *c = malloc(sizeof(*c));

	lens[1] = (size_t)snprintf(now, sizeof(now), "%llu",
				   (unsigned long long)wall_ms());
	if (c == NULL || lens[0] == 0) {
		free(c);
		cb(arg, WSD_ENOMEM, NULL, 0);
		return;
	}
	c->cb = cb;
	c->arg = arg;
	if (sv_redis_eval(x->redis, 0, &reng_nodes_lua, on_nodes, c, 1, 3, argv,
			  lens) != WSD_OK) {
		free(c);
		cb(arg, WSD_EAGAIN, NULL, 0);
	}
}

/* The heartbeat's JSON. NULL when out of memory. */
static char *
beat_json(struct reng *x)
{
	json_t *o = json_pack(
	    "{s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "id", x->node_id, "instance",
	    x->node, "address", x->listen, "connections", (json_int_t)x->conns,
	    "users", (json_int_t)x->users, "rooms",
	    (json_int_t)HASH_COUNT(x->rooms), "beat_ms", (json_int_t)wall_ms());
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

void
reng_node_beat(struct reng *x)
{
	char kn[RENG_KEY_MAX], kz[RENG_KEY_MAX], ttl[24], exp[24],
	    kp[RENG_KEY_MAX], kr[RENG_KEY_MAX];
	size_t knlen = reng_key(x, kn, "node:", x->node, strlen(x->node)),
	       kzlen = reng_key(x, kz, "nodes", "", 0), kplen, krlen;
	char *info = beat_json(x);
	struct rroom *r, *tmp;
	int i;

	snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)x->node_ttl_ms);
	snprintf(exp, sizeof(exp), "%llu",
		 (unsigned long long)(wall_ms() + x->node_ttl_ms));
	for (i = 0; info != NULL && knlen > 0 && i < sv_redis_nshards(x->redis);
	     i++) {
		const char *argv[5] = {"SET", kn, info, "PX", ttl};
		size_t lens[5] = {3, knlen, strlen(info), 2, strlen(ttl)};

		sv_redis_cmd(x->redis, i, ignore, NULL, 5, argv, lens);
	}
	if (kzlen > 0) {
		const char *argv[4] = {"ZADD", kz, exp, x->node};
		size_t lens[4] = {4, kzlen, strlen(exp), strlen(x->node)};

		sv_redis_cmd(x->redis, 0, ignore, NULL, 4, argv, lens);
	}
	free(info);
	/* This node's presence lives as long as its beats. */
	HASH_ITER (hh, x->rooms, r, tmp) {
		if (r->watchers == 0 || room_is_personal(r->name, r->len) ||
		    room_is_broadcast(r->name, r->len) ||
		    presence_keys(x, r->name, r->len, kp, &kplen, kr, &krlen) !=
			WSD_OK)
			continue;
		{
			const char *a1[3] = {"PEXPIRE", kp, ttl};
			size_t l1[3] = {7, kplen, strlen(ttl)};
			const char *a2[3] = {"PEXPIRE", kr, ttl};
			size_t l2[3] = {7, krlen, strlen(ttl)};

			sv_redis_cmd(x->redis, r->shard, ignore, NULL, 3, a1,
				     l1);
			sv_redis_cmd(x->redis, r->shard, ignore, NULL, 3, a2,
				     l2);
		}
	}
}

static void
on_beat(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	reng_node_beat(t->data);
}

void
reng_node_start(struct reng *x)
{
	double every = (double)x->node_ttl_ms / 3000.0;

	ev_timer_init(&x->beat, on_beat, 0.2, every);
	x->beat.data = x;
	ev_timer_start(x->loop, &x->beat);
}

void
reng_node_stop(struct reng *x)
{
	char kn[RENG_KEY_MAX], kz[RENG_KEY_MAX], kp[RENG_KEY_MAX],
	    kr[RENG_KEY_MAX];
	size_t knlen = reng_key(x, kn, "node:", x->node, strlen(x->node)),
	       kzlen = reng_key(x, kz, "nodes", "", 0), kplen, krlen;
	redisContext *c[SV_REDIS_MAX_SHARDS] = {NULL};
	struct rroom *r, *tmp;
	redisReply *rep;
	int i, sent[SV_REDIS_MAX_SHARDS] = {0};

	ev_timer_stop(x->loop, &x->beat);
	/* Gone at once, not after the TTL: a clean stop says so. */
	for (i = 0; i < sv_redis_nshards(x->redis); i++) {
		if ((c[i] = sv_redis_connect_sync(x->redis, i, 500)) == NULL)
			continue;
		if (knlen > 0 &&
		    redisAppendCommand(c[i], "DEL %b", kn, knlen) == REDIS_OK)
			sent[i]++;
	}
	if (c[0] != NULL && kzlen > 0 &&
	    redisAppendCommand(c[0], "ZREM %b %s", kz, kzlen, x->node) ==
		REDIS_OK)
		sent[0]++;
	HASH_ITER (hh, x->rooms, r, tmp) {
		if (c[r->shard] == NULL || r->watchers == 0 ||
		    presence_keys(x, r->name, r->len, kp, &kplen, kr, &krlen) !=
			WSD_OK)
			continue;
		if (redisAppendCommand(c[r->shard], "DEL %b", kp, kplen) ==
		    REDIS_OK)
			sent[r->shard]++;
	}
	for (i = 0; i < sv_redis_nshards(x->redis); i++) {
		if (c[i] == NULL)
			continue;
		while (sent[i]-- > 0 &&
		       redisGetReply(c[i], (void **)&rep) == REDIS_OK)
			freeReplyObject(rep);
		redisFree(c[i]);
	}
}
