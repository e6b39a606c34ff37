/*
 * sv_rsess.c: detached sessions in Redis (sv_reng.h), so a client resumes
 * on any node. A session is kept on its user's shard as a hash {n: the
 * nonce of its one valid token, d: the session packed as sv_pack.h
 * packs it}, expiring when the session does, and its id is in the user's
 * set (for revoking and listing). A take is one script: it checks the
 * nonce and deletes the session in the same step, so a token is spent on
 * every node at once, and two nodes cannot both resume one session.
 */
#include "sv_reng.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/clock.h"
#include "../proto/err.h"
#include "../proto/log.h"
#include "sv_pack.h"
#include "sv_token.h"

/* KEYS s, su; ARGV nonce, packed, ttl, sid. */
struct sv_redis_script reng_sess_put_lua = {
    "redis.call('HSET', KEYS[1], 'n', ARGV[1], 'd', ARGV[2])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "redis.call('SADD', KEYS[2], ARGV[4])\n"
    "if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[3]) then\n"
    "  redis.call('PEXPIRE', KEYS[2], ARGV[3])\n"
    "end\n"
    "return 1\n",
    ""};

/* KEYS s, su; ARGV nonce, sid. The packed session, 0 (none) or -1 (the
 * nonce is not its: a spent token). */
struct sv_redis_script reng_sess_take_lua = {
    "local n = redis.call('HGET', KEYS[1], 'n')\n"
    "if not n then return 0 end\n"
    "if n ~= ARGV[1] then return -1 end\n"
    "local d = redis.call('HGET', KEYS[1], 'd')\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('SREM', KEYS[2], ARGV[2])\n"
    "return d\n",
    ""};

/* KEYS su; ARGV prefix. How many went. */
struct sv_redis_script reng_sess_revoke_lua = {
    "local n = 0\n"
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  n = n + redis.call('DEL', ARGV[1] .. 's:' .. id)\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "return n\n",
    ""};

/* KEYS su; ARGV prefix, limit. The packed sessions. */
struct sv_redis_script reng_sess_list_lua = {
    "local out = {}\n"
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  local d = redis.call('HGET', ARGV[1] .. 's:' .. id, 'd')\n"
    "  if d then out[#out + 1] = d else redis.call('SREM', KEYS[1], id) "
    "end\n"
    "  if #out >= tonumber(ARGV[2]) then break end\n"
    "end\n"
    "return out\n",
    ""};

/* The argv of a put of s: its keys, nonce, packing, ttl, id. */
struct put_args {
	char ks[RENG_KEY_MAX], ku[RENG_KEY_MAX], nonce[24], ttl[24],
	    sid[SV_SESSION_ID_LEN + 1];
	msgpack_sbuffer sb;
	const char *argv[6];
	size_t lens[6];
};

static int
put_args(struct reng *x, const struct sv_sess *s, struct put_args *a)
{
	msgpack_packer pk;
	uint64_t now = wall_ms();

	msgpack_sbuffer_init(&a->sb);
	msgpack_packer_init(&pk, &a->sb, msgpack_sbuffer_write);
	sv_token_sid_hex(s->id, a->sid);
	if (sv_sess_pack(&pk, s) != WSD_OK ||
	    (a->lens[0] =
		 reng_key(x, a->ks, "s:", a->sid, SV_SESSION_ID_LEN)) == 0 ||
	    (a->lens[1] =
		 reng_key(x, a->ku, "su:", s->user, strlen(s->user))) == 0) {
		msgpack_sbuffer_destroy(&a->sb);
		return WSD_ENOMEM;
	}
	snprintf(a->nonce, sizeof(a->nonce), "%llu",
		 (unsigned long long)s->nonce);
	snprintf(a->ttl, sizeof(a->ttl), "%llu",
		 (unsigned long long)(s->expires_ms > now ? s->expires_ms - now
							  : 1));
	a->argv[0] = a->ks;
	a->argv[1] = a->ku;
	a->argv[2] = a->nonce;
	a->lens[2] = strlen(a->nonce);
	a->argv[3] = a->sb.data;
	a->lens[3] = a->sb.size;
	a->argv[4] = a->ttl;
	a->lens[4] = strlen(a->ttl);
	a->argv[5] = a->sid;
	a->lens[5] = SV_SESSION_ID_LEN;
	return WSD_OK;
}

static void
on_put(void *arg, const redisReply *rep)
{
	struct reng *x = arg;

	if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
		x->sessions_put_failed++;
		log_warn("session_save_failed", "engine=redis error=%s",
			 log_q(rep ? rep->str : "no reply"));
	}
}

int
reng_session_put(struct sv_engine *e, struct sv_sess *s)
{
	struct reng *x = e->impl;
	struct put_args a;
	int rc;

	if ((rc = put_args(x, s, &a)) == WSD_OK) {
		rc = sv_redis_eval(
		    x->redis, reng_shard(x, s->user, strlen(s->user)),
		    &reng_sess_put_lua, on_put, x, 2, 6, a.argv, a.lens);
		msgpack_sbuffer_destroy(&a.sb);
	}
	if (rc != WSD_OK)
		x->sessions_put_failed++;
	sv_sess_free(s);
	return rc;
}

struct take_ctx {
	sv_eng_take_fn cb;
	void *arg;
};

static void
on_take(void *arg, const redisReply *rep)
{
	struct take_ctx *c = arg;
	msgpack_unpacked u;
	struct sv_sess *s = NULL;
	const char *why = "no reply";
	int rc = WSD_EAGAIN;

	if (rep != NULL && rep->type == REDIS_REPLY_INTEGER) {
		rc = rep->integer < 0 ? WSD_EINVAL : WSD_ENOENT;
	} else if (rep != NULL && rep->type == REDIS_REPLY_STRING) {
		msgpack_unpacked_init(&u);
		if (msgpack_unpack_next(&u, rep->str, rep->len, NULL) ==
		    MSGPACK_UNPACK_SUCCESS)
			s = sv_sess_unpack(&u.data, &why);
		msgpack_unpacked_destroy(&u);
		if (s == NULL)
			log_warn("session_malformed", "engine=redis why=%s",
				 log_q(why ? why : "not msgpack"));
		rc = s != NULL ? WSD_OK : WSD_ENOENT;
	}
	c->cb(c->arg, rc, s);
	free(c);
}

void
reng_session_take(struct sv_engine *e, const uint8_t id[SV_SESSION_ID_BYTES],
		  uint64_t nonce, const char *user, sv_eng_take_fn cb,
		  void *arg)
{
	struct reng *x = e->impl;
	char ks[RENG_KEY_MAX], ku[RENG_KEY_MAX], n[24],
	    sid[SV_SESSION_ID_LEN + 1];
	const char *argv[4] = {ks, ku, n, sid};
	size_t lens[4];
	struct take_ctx *c = malloc(sizeof(*c));

	sv_token_sid_hex(id, sid);
	lens[0] = reng_key(x, ks, "s:", sid, SV_SESSION_ID_LEN);
	lens[1] = reng_key(x, ku, "su:", user, strlen(user));
	lens[2] =
	    (size_t)snprintf(n, sizeof(n), "%llu", (unsigned long long)nonce);
	lens[3] = SV_SESSION_ID_LEN;
	if (c == NULL || lens[0] == 0 || lens[1] == 0) {
		free(c);
		cb(arg, WSD_ENOENT, NULL);
		return;
	}
	c->cb = cb;
	c->arg = arg;
	if (sv_redis_eval(x->redis, reng_shard(x, user, strlen(user)),
			  &reng_sess_take_lua, on_take, c, 2, 4, argv,
			  lens) != WSD_OK) {
		free(c);
		cb(arg, WSD_EAGAIN, NULL);
	}
}

static void
on_revoked(void *arg, const redisReply *rep)
{
	struct reng *x = arg;

	(void)x;
	if (rep != NULL && rep->type == REDIS_REPLY_INTEGER)
		log_info("sessions_revoked", "engine=redis detached=%lld",
			 rep->integer);
	else
		log_warn("sessions_revoke_failed", "engine=redis error=%s",
			 log_q(rep && rep->str ? rep->str : "no reply"));
}

uint32_t
reng_session_revoke(struct sv_engine *e, const char *user)
{
	struct reng *x = e->impl;
	char ku[RENG_KEY_MAX];
	const char *argv[2] = {ku, x->prefix};
	size_t lens[2] = {reng_key(x, ku, "su:", user, strlen(user)), x->plen};

	/* Detached sessions go in Redis; how many is logged when it
	 * answers (the caller counts what it knows: this node's). */
	if (lens[0] > 0)
		sv_redis_eval(x->redis, reng_shard(x, user, strlen(user)),
			      &reng_sess_revoke_lua, on_revoked, x, 1, 2, argv,
			      lens);
	return 0;
}

struct each_ctx {
	sv_eng_each_fn cb;
	void *arg;
};

static void
on_list(void *arg, const redisReply *rep)
{
	struct each_ctx *c = arg;
	size_t i;

	for (i = 0;
	     rep != NULL && rep->type == REDIS_REPLY_ARRAY && i < rep->elements;
	     i++) {
		const redisReply *d = rep->element[i];
		msgpack_unpacked u;
		struct sv_sess *s = NULL;
		const char *why;

		if (d->type != REDIS_REPLY_STRING)
			continue;
		msgpack_unpacked_init(&u);
		if (msgpack_unpack_next(&u, d->str, d->len, NULL) ==
		    MSGPACK_UNPACK_SUCCESS)
			s = sv_sess_unpack(&u.data, &why);
		msgpack_unpacked_destroy(&u);
		if (s != NULL && s->expires_ms >= wall_ms())
			c->cb(c->arg, s);
		sv_sess_free(s);
	}
	c->cb(c->arg, NULL);
	free(c);
}

void
reng_session_each(struct sv_engine *e, const char *user, uint32_t limit,
		  sv_eng_each_fn cb, void *arg)
{
	struct reng *x = e->impl;
	char ku[RENG_KEY_MAX], lim[24];
	const char *argv[3] = {ku, x->prefix, lim};
	size_t lens[3];
	struct each_ctx *c;

	/* All sessions would be a SCAN of every shard: a user's only. */
	if (user == NULL || limit == 0 || (c = malloc(sizeof(*c))) == NULL) {
		cb(arg, NULL);
		return;
	}
	lens[0] = reng_key(x, ku, "su:", user, strlen(user));
	lens[1] = x->plen;
	lens[2] = (size_t)snprintf(lim, sizeof(lim), "%u", limit);
	c->cb = cb;
	c->arg = arg;
	if (lens[0] == 0 ||
	    sv_redis_eval(x->redis, reng_shard(x, user, strlen(user)),
			  &reng_sess_list_lua, on_list, c, 1, 3, argv,
			  lens) != WSD_OK) {
		free(c);
		cb(arg, NULL);
	}
}

int
reng_sessions_flush(struct reng *x, struct sv_sess *const *live, uint32_t nlive)
{
	int i, n = sv_redis_nshards(x->redis), rc = WSD_OK;
	uint32_t j, sent[SV_REDIS_MAX_SHARDS] = {0};
	redisContext *c[SV_REDIS_MAX_SHARDS] = {NULL};
	redisReply *rep;

	for (i = 0; i < n; i++)
		c[i] = sv_redis_connect_sync(x->redis, i, 1000);
	for (j = 0; j < nlive; j++) {
		struct put_args a;
		int sh = reng_shard(x, live[j]->user, strlen(live[j]->user));
		const char *argv[9];
		size_t lens[9];
		char nk[4] = "2";
		int k;

		if (c[sh] == NULL || put_args(x, live[j], &a) != WSD_OK) {
			rc = WSD_EAGAIN;
			continue;
		}
		/* EVAL, not EVALSHA: a new connection, maybe a new server. */
		argv[0] = "EVAL";
		lens[0] = 4;
		argv[1] = reng_sess_put_lua.text;
		lens[1] = strlen(reng_sess_put_lua.text);
		argv[2] = nk;
		lens[2] = 1;
		for (k = 0; k < 6; k++) {
			argv[k + 3] = a.argv[k];
			lens[k + 3] = a.lens[k];
		}
		if (redisAppendCommandArgv(c[sh], 9, argv, lens) == REDIS_OK)
			sent[sh]++;
		msgpack_sbuffer_destroy(&a.sb);
	}
	for (i = 0; i < n; i++) {
		if (c[i] == NULL)
			continue;
		for (j = 0; j < sent[i]; j++) {
			if (redisGetReply(c[i], (void **)&rep) != REDIS_OK) {
				rc = WSD_EAGAIN;
				break;
			}
			if (rep->type == REDIS_REPLY_ERROR)
				rc = WSD_EAGAIN;
			freeReplyObject(rep);
		}
		redisFree(c[i]);
	}
	if (rc != WSD_OK)
		log_warn("sessions_flush_failed", "engine=redis sessions=%u",
			 nlive);
	return rc;
}
