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
 * cannot both pass the limit. Presence is read the same way, skipping
 * nodes without a heartbeat.
 *
 * What a node writes while a link is down is lost, and an answer lost
 * with a link leaves Redis unsure. So after a link was lost the node
 * takes a new instance name (its old heartbeat is deleted, so whatever
 * the old name left counts no more at once) and writes its whole state
 * again under the new one: each user's connections (kept here, in
 * x->ucounts) and each room's presence (the mirror's).
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
#include <openssl/rand.h>

#define USER_TTL_MS 86400000 /* a user's counts outlive a day idle */

/* KEYS pn:ROOM; ARGV prefix, room. Flat [user, "CONNS INFO", ...] of
 * every node still present (the others' entries are gone: dropped). */
struct sv_redis_script reng_pres_get_lua = {
    "local out = {}\n"
    "for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  local h = {}\n"
    "  if redis.call('EXISTS', ARGV[1] .. 'node:' .. node) == 1 then\n"
    "    h = redis.call('HGETALL', ARGV[1] .. 'pr:' .. ARGV[2] .. ':' "
    ".. node)\n"
    "  end\n"
    "  if #h == 0 then redis.call('SREM', KEYS[1], node) end\n"
    "  for i = 1, #h do out[#out + 1] = h[i] end\n"
    "end\n"
    "return out\n",
    ""};

/* KEYS pr:ROOM:NODE, pn:ROOM, nr:NODE; ARGV user, "CONNS INFO" ("":
 * gone), node, room, ttl. This node's entry for user in room, and the
 * room in the node's set of rooms on this shard (refreshed by beats). */
struct sv_redis_script reng_pres_set_lua = {
    "if ARGV[2] == '' then\n"
    "  redis.call('HDEL', KEYS[1], ARGV[1])\n"
    "  return 0\n"
    "end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('SADD', KEYS[2], ARGV[3])\n"
    "redis.call('SADD', KEYS[3], ARGV[4])\n"
    "for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, ARGV[5]) end\n"
    "return 1\n",
    ""};

/* KEYS nr:NODE; ARGV prefix, node, ttl. The TTLs of the node's presence
 * on this shard, refreshed in one step (a room whose hash is gone
 * leaves the set). */
struct sv_redis_script reng_pres_refresh_lua = {
    "for _, room in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  local k = ARGV[1] .. 'pr:' .. room .. ':' .. ARGV[2]\n"
    "  if redis.call('PEXPIRE', k, ARGV[3]) == 0 then\n"
    "    redis.call('SREM', KEYS[1], room)\n"
    "  else\n"
    "    redis.call('PEXPIRE', ARGV[1] .. 'pn:' .. room, ARGV[3])\n"
    "  end\n"
    "end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "return 1\n",
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

/* The user's entry in this node's presence hash of room: conns, info
 * (conns 0: gone). */
static void
presence_write(struct reng *x, const char *room, size_t rlen, const char *user,
	       uint32_t conns, const char *info)
{
	char kp[RENG_KEY_MAX], kn[RENG_KEY_MAX], kr[RENG_KEY_MAX], ttl[24],
	    *val = NULL;
	const char *argv[8];
	size_t lens[8], kplen, knlen;
	int n = 0;

	if (presence_keys(x, room, rlen, kp, &kplen, kn, &knlen) != WSD_OK ||
	    (lens[2] = reng_key(x, kr, "nr:", x->node, strlen(x->node))) == 0)
		return;
	if (conns > 0 &&
	    (n = asprintf(&val, "%u %s", conns, info ? info : "null")) < 0)
		return;
	snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)x->node_ttl_ms);
	argv[0] = kp;
	lens[0] = kplen;
	argv[1] = kn;
	lens[1] = knlen;
	argv[2] = kr;
	argv[3] = user;
	lens[3] = strlen(user);
	argv[4] = conns > 0 ? val : "";
	lens[4] = (size_t)n;
	argv[5] = x->node;
	lens[5] = strlen(x->node);
	argv[6] = room;
	lens[6] = rlen;
	argv[7] = ttl;
	lens[7] = strlen(ttl);
	sv_redis_eval(x->redis, reng_shard(x, room, rlen), &reng_pres_set_lua,
		      ignore, NULL, 3, 8, argv, lens);
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

/* user's connections counted here: n more (or, negative, fewer). */
static void
count(struct reng *x, const char *user, int n)
{
	struct ucount *u;

	HASH_FIND_STR(x->ucounts, user, u);
	if (u == NULL && n > 0) {
		if ((u = calloc(1, sizeof(*u))) == NULL ||
		    (u->user = strdup(user)) == NULL) {
			free(u);
			return;
		}
		HASH_ADD_KEYPTR(hh, x->ucounts, u->user, strlen(u->user), u);
	}
	if (u == NULL)
		return;
	u->n = n < 0 && (uint32_t)-n > u->n ? 0 : u->n + (uint32_t)n;
	if (u->n == 0) {
		HASH_DEL(x->ucounts, u);
		free(u->user);
		free(u);
	}
}

struct admit_ctx {
	struct reng *x;
	sv_eng_ready_fn cb;
	void *arg;
	char user[];
};

static void
on_admit(void *arg, const redisReply *rep)
{
	struct admit_ctx *c = arg;
	int rc = WSD_EAGAIN;

	if (rep != NULL && rep->type == REDIS_REPLY_INTEGER)
		rc = rep->integer < 0 ? WSD_EFULL : WSD_OK;
	if (rc == WSD_OK)
		count(c->x, c->user, 1);
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
	struct admit_ctx *c = malloc(sizeof(*c) + strlen(user) + 1);

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
	c->x = x;
	c->cb = cb;
	c->arg = arg;
	strcpy(c->user, user);
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

	count(x, user, -1);
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
	    kr[RENG_KEY_MAX];
	size_t knlen = reng_key(x, kn, "node:", x->node, strlen(x->node)),
	       kzlen = reng_key(x, kz, "nodes", "", 0),
	       krlen = reng_key(x, kr, "nr:", x->node, strlen(x->node));
	char *info = beat_json(x);
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
	/* This node's presence lives as long as its beats: one script a
	 * shard, over the node's set of rooms there. */
	for (i = 0; krlen > 0 && i < sv_redis_nshards(x->redis); i++) {
		const char *argv[4] = {kr, x->prefix, x->node, ttl};
		size_t lens[4] = {krlen, x->plen, strlen(x->node), strlen(ttl)};

		sv_redis_eval(x->redis, i, &reng_pres_refresh_lua, ignore, NULL,
			      1, 4, argv, lens);
	}
}

struct rewrite_ctx {
	struct reng *x;
	struct rroom *r;
};

static void
rewrite_one(void *arg, int rc, const struct sv_presence *users, uint32_t n)
{
	struct rewrite_ctx *c = arg;
	uint32_t i;

	for (i = 0; rc == WSD_OK && i < n; i++)
		presence_write(c->x, c->r->name, c->r->len, users[i].user,
			       users[i].conns, users[i].info);
}

/*
 * A link was lost: this node takes a new instance name, deletes the old
 * one's heartbeat (on the shards up now; elsewhere it expires) and
 * writes its state anew: a beat, each user's connections, each room's
 * presence.
 */
void
reng_node_rewrite(struct reng *x)
{
	char old[RENG_NODE_MAX], kn[RENG_KEY_MAX], kz[RENG_KEY_MAX],
	    ku[RENG_KEY_MAX], n[16], boot[9];
	size_t knlen = reng_key(x, kn, "node:", x->node, strlen(x->node)),
	       kzlen = reng_key(x, kz, "nodes", "", 0);
	struct ucount *u, *utmp;
	struct rroom *r, *rtmp;
	uint32_t v = 0;
	int i;

	snprintf(old, sizeof(old), "%s", x->node);
	for (i = 0; knlen > 0 && i < sv_redis_nshards(x->redis); i++) {
		const char *argv[2] = {"DEL", kn};
		size_t lens[2] = {3, knlen};

		sv_redis_cmd(x->redis, i, ignore, NULL, 2, argv, lens);
	}
	if (kzlen > 0) {
		const char *argv[3] = {"ZREM", kz, old};
		size_t lens[3] = {4, kzlen, strlen(old)};

		sv_redis_cmd(x->redis, 0, ignore, NULL, 3, argv, lens);
	}
	RAND_bytes((unsigned char *)&v, sizeof(v));
	snprintf(boot, sizeof(boot), "%08x", v);
	snprintf(x->node, sizeof(x->node), "%s/%s", x->node_id, boot);
	log_info("node_renamed", "from=%s to=%s", log_q(old), log_q(x->node));
	reng_node_beat(x);
	HASH_ITER (hh, x->ucounts, u, utmp) {
		size_t kl = reng_key(x, ku, "uc:", u->user, strlen(u->user));
		const char *argv[4] = {"HSET", ku, x->node, n};
		size_t lens[4] = {4, kl, strlen(x->node), 0};

		lens[3] = (size_t)snprintf(n, sizeof(n), "%u", u->n);
		if (kl > 0)
			sv_redis_cmd(x->redis,
				     reng_shard(x, u->user, strlen(u->user)),
				     ignore, NULL, 4, argv, lens);
	}
	HASH_ITER (hh, x->rooms, r, rtmp) {
		struct rewrite_ctx c = {x, r};

		if (r->watchers > 0 && !room_is_personal(r->name, r->len) &&
		    !room_is_broadcast(r->name, r->len))
			x->mirror.ops->presence_get(&x->mirror, r->name, r->len,
						    rewrite_one, &c);
	}
	x->dirty = 0;
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
