/*
 * sv_redis.h: the supervisor's links to Redis, for the Redis engine
 * (sv_reng.c). Each configured address is a shard with two hiredis
 * asynchronous connections on the supervisor's libev loop: one for
 * commands, one for subscriptions. A key (a room name, a session id, a
 * user id) picks its shard by consistent hashing over the addresses, so
 * adding a shard moves about 1/n of the keys.
 *
 * Nothing here blocks the loop. A command's reply comes in a callback;
 * a command gets no reply (its callback gets NULL) when its link is lost
 * or when a reply is later than the timeout (the link is dropped then,
 * since Redis answers in order). A lost link is made again with backoff
 * and jitter. A command on a link that is down, or with too many in
 * flight, is refused at once (WSD_EAGAIN): nothing is queued without
 * bound.
 */
#ifndef WSD_SV_REDIS_H
#define WSD_SV_REDIS_H

#include <ev.h>
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "../proto/settings.h"
#include "sv_engine.h"

#define SV_REDIS_MAX_SHARDS 16
#define SV_REDIS_MAX_INFLIGHT 16384 /* commands per link */

struct sv_redis;

/* What the links tell their user (the engine). */
struct sv_redis_handlers {
	/* A message on a channel this node subscribed to on shard. */
	void (*message)(void *arg, int shard, const char *channel, size_t clen,
			const char *data, size_t len);
	/* Redis confirmed a subscription: what is published from now on
	 * is heard. */
	void (*subscribed)(void *arg, int shard, const char *channel,
			   size_t clen);
	/* Both links of shard are up (again): subscriptions are to be
	 * made again, and what was missed meanwhile read. */
	void (*up)(void *arg, int shard);
	/* A link of shard is lost. */
	void (*down)(void *arg, int shard);
	void *arg;
};

/* A Lua script, loaded on every (new) link; sha is filled at open. */
struct sv_redis_script {
	const char *text;
	char sha[41];
};

/*
 * Open links to each of the n addresses ("host:port"), reconnecting on
 * their own from now on; scripts (NULL-terminated, outliving the links)
 * are loaded on each command link before its first command. timeout_ms
 * bounds a reply, and a subscription's confirmation. keepalive (or NULL)
 * names a channel of this process's own: each subscription link listens
 * to it and the command link publishes on it every timeout_ms / 2, so a
 * subscription link that hears nothing for twice timeout_ms (a peer or
 * path that went silent) is dropped as well. Returns WSD_OK, WSD_EINVAL
 * (*why says which address), WSD_ENOMEM.
 */
int sv_redis_open(struct sv_redis **out, struct ev_loop *loop,
		  const struct setting_list *addresses, uint64_t timeout_ms,
		  const char *keepalive, struct sv_redis_script *const *scripts,
		  const struct sv_redis_handlers *h, const char **why);
void sv_redis_close(struct sv_redis *r);

int sv_redis_nshards(const struct sv_redis *r);
/* The shard a key belongs to. */
int sv_redis_shard(const struct sv_redis *r, const char *key, size_t len);
/* 1 when both links of shard are up. */
int sv_redis_up(const struct sv_redis *r, int shard);

/* A command's reply, valid during the call; NULL when it got none. */
typedef void (*sv_redis_reply_fn)(void *arg, const redisReply *rep);

/*
 * Send a command (argv, argc strings of argvlen bytes) on shard's command
 * link. WSD_OK (fn is called once, later), or WSD_EAGAIN (the link is
 * down or has SV_REDIS_MAX_INFLIGHT commands in flight; fn is not
 * called), WSD_ENOMEM.
 */
int sv_redis_cmd(struct sv_redis *r, int shard, sv_redis_reply_fn fn, void *arg,
		 int argc, const char **argv, const size_t *argvlen);

/* EVALSHA of script with nkeys keys first in argv; as sv_redis_cmd. */
int sv_redis_eval(struct sv_redis *r, int shard,
		  const struct sv_redis_script *script, sv_redis_reply_fn fn,
		  void *arg, int nkeys, int argc, const char **argv,
		  const size_t *argvlen);

/* (Un)subscribe to channel on shard's subscription link; WSD_OK or
 * WSD_EAGAIN (the link is down: the up handler subscribes again). */
int sv_redis_subscribe(struct sv_redis *r, int shard, const char *channel,
		       size_t len, int on);

/* A blocking connection to shard (hiredis's synchronous API), for what
 * must be written before the process exits; NULL when it cannot be
 * made within timeout_ms. The caller frees it (redisFree). */
redisContext *sv_redis_connect_sync(const struct sv_redis *r, int shard,
				    uint64_t timeout_ms);

/* What status and metrics say of shard's links. */
void sv_redis_link(const struct sv_redis *r, int shard,
		   struct sv_eng_link *out);

#endif
