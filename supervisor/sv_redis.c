/*
 * sv_redis.c: links to Redis shards on the supervisor's loop
 * (sv_redis.h), on hiredis's asynchronous API and its libev adapter.
 *
 * A link keeps the commands in flight in a ring, oldest first, with the
 * time each was sent and whose reply it is: Redis answers in order, so a
 * reply (or, when the link is lost, hiredis's NULL for each command left)
 * belongs to the ring's head. A watchdog looks at the heads ten times a
 * second: a reply later than the timeout, or a connect that has not
 * completed in it, drops the link; every command left gets NULL, and the
 * link is made again after a backoff (100 ms doubling to 5 s, then a
 * random half to all of it, so nodes that lost the same Redis do not
 * come back in step).
 */
#include "sv_redis.h"

#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/clock.h"
#include "../proto/err.h"
#include "../proto/log.h"

#define RING_POINTS 160 /* points per shard on the hash ring */
#define BACKOFF_MIN 0.1
#define BACKOFF_MAX 5.0
#define WATCHDOG_S 0.1

struct inflight {
	uint64_t sent_us;
	sv_redis_reply_fn fn; /* NULL: nobody waits (a script load) */
	void *arg;
};

struct link {
	struct sv_redis *r;
	int shard, is_sub;
	redisAsyncContext *ac;
	int up;		   /* connected */
	int dropping;	   /* this side is freeing ac */
	uint64_t since_us; /* when the connect began */
	ev_timer retry;
	double backoff;
	struct inflight *ring; /* SV_REDIS_MAX_INFLIGHT */
	uint32_t head, n;
	uint64_t rtt_us, errors, reconnects;
	int ever_up;
	/* A subscription link: what it last heard, and its subscribes not
	 * confirmed yet (since: when the oldest of them was sent, or the
	 * last confirmation came). */
	uint64_t heard_us;
	uint32_t sub_pending;
	uint64_t sub_since_us;
};

struct shard {
	char host[256];
	int port;
	char address[300];
	struct link cmd, sub;
};

struct point {
	uint64_t hash;
	int shard;
};

struct sv_redis {
	struct ev_loop *loop;
	uint64_t timeout_us;
	char keepalive[256]; /* "" : none */
	uint64_t beat_us;    /* the last keepalive publish */
	int closing;
	struct sv_redis_script *const *scripts;
	struct sv_redis_handlers h;
	int n;
	struct shard s[SV_REDIS_MAX_SHARDS];
	struct point *ring;
	uint32_t npoints;
	ev_timer watchdog;
};

static void link_connect(struct link *l);

/* FNV-1a with a final mix: the same on every node. */
static uint64_t
hash64(const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static int
point_cmp(const void *a, const void *b)
{
	const struct point *x = a, *y = b;

	return x->hash < y->hash ? -1 : x->hash > y->hash;
}

int
sv_redis_shard(const struct sv_redis *r, const char *key, size_t len)
{
	uint64_t h = hash64(key, len);
	uint32_t lo = 0, hi = r->npoints;

	if (r->n == 1)
		return 0;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (r->ring[mid].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	return r->ring[lo == r->npoints ? 0 : lo].shard;
}

int
sv_redis_nshards(const struct sv_redis *r)
{
	return r->n;
}

int
sv_redis_up(const struct sv_redis *r, int shard)
{
	return r->s[shard].cmd.up && r->s[shard].sub.up;
}

/* The ring's head: the command a reply answers. */
static struct inflight
ring_pop(struct link *l)
{
	struct inflight f = l->ring[l->head];

	l->head = (l->head + 1) % SV_REDIS_MAX_INFLIGHT;
	l->n--;
	return f;
}

static void
on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	struct link *l = priv;
	const redisReply *rep = reply;
	struct inflight f;

	(void)ac;
	if (l->n == 0)
		return;
	f = ring_pop(l);
	if (rep != NULL)
		l->rtt_us = mono_us() - f.sent_us;
	else
		l->errors++;
	if (rep != NULL && rep->type == REDIS_REPLY_ERROR && f.fn == NULL)
		log_warn("redis_script_failed", "address=%s error=%s",
			 log_q(l->r->s[l->shard].address), log_q(rep->str));
	if (f.fn != NULL)
		f.fn(f.arg, rep);
}

/* Send on l, with the reply to fn; the link must be there. */
static int
link_send(struct link *l, sv_redis_reply_fn fn, void *arg, int argc,
	  const char **argv, const size_t *argvlen)
{
	uint32_t tail;

	if (l->n == SV_REDIS_MAX_INFLIGHT || l->ac == NULL || l->r->closing)
		return WSD_EAGAIN;
	tail = (l->head + l->n) % SV_REDIS_MAX_INFLIGHT;
	l->ring[tail] = (struct inflight){mono_us(), fn, arg};
	if (redisAsyncCommandArgv(l->ac, on_reply, l, argc, argv, argvlen) !=
	    REDIS_OK)
		return WSD_ENOMEM;
	l->n++;
	return WSD_OK;
}

/* The shard's state changed: tell the user. */
static void
shard_changed(struct link *l, int was_up)
{
	struct sv_redis *r = l->r;
	int now = sv_redis_up(r, l->shard);

	if (now && !was_up && r->h.up != NULL)
		r->h.up(r->h.arg, l->shard);
	else if (!now && was_up && r->h.down != NULL)
		r->h.down(r->h.arg, l->shard);
}

static void
schedule_retry(struct link *l)
{
	uint32_t rnd = 0;
	double d;

	RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
	l->backoff = l->backoff == 0		    ? BACKOFF_MIN
		     : l->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX
						    : l->backoff * 2;
	d = l->backoff * (0.5 + 0.5 * (double)rnd / 4294967296.0);
	ev_timer_set(&l->retry, d, 0.);
	ev_timer_start(l->r->loop, &l->retry);
}

/* l's connection is gone (hiredis frees it): every command left gets
 * none, and a new one is made later. */
static void
link_lost(struct link *l, const char *why)
{
	int was_up = sv_redis_up(l->r, l->shard);

	while (l->n > 0) {
		struct inflight f = ring_pop(l);

		l->errors++;
		if (f.fn != NULL)
			f.fn(f.arg, NULL);
	}
	if (l->up || !l->ever_up)
		log_warn("redis_link_lost", "address=%s link=%s reason=%s",
			 log_q(l->r->s[l->shard].address),
			 l->is_sub ? "sub" : "cmd", log_q(why));
	l->ac = NULL;
	l->up = 0;
	l->sub_pending = 0;
	shard_changed(l, was_up);
	if (!l->r->closing)
		schedule_retry(l);
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
	struct link *l = ac->data;
	int was_up;

	if (status != REDIS_OK) {
		/* hiredis frees ac after this returns. */
		if (!l->dropping)
			link_lost(l, ac->errstr);
		return;
	}
	was_up = sv_redis_up(l->r, l->shard);
	redisEnableKeepAlive((redisContext *)&ac->c);
	l->up = 1;
	l->backoff = 0;
	l->heard_us = mono_us();
	if (l->ever_up)
		l->reconnects++;
	l->ever_up = 1;
	log_info("redis_link_up", "address=%s link=%s",
		 log_q(l->r->s[l->shard].address), l->is_sub ? "sub" : "cmd");
	shard_changed(l, was_up);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	struct link *l = ac->data;

	(void)status;
	if (!l->dropping)
		link_lost(l, ac->errstr[0] ? ac->errstr : "closed");
}

/* This side ends l's connection (a late reply or connect). */
static void
link_drop(struct link *l, const char *why)
{
	redisAsyncContext *ac = l->ac;

	if (ac == NULL)
		return;
	l->dropping = 1;
	redisAsyncFree(ac); /* the commands left get NULL */
	l->dropping = 0;
	link_lost(l, why);
}

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *priv);

/* (UN)SUBSCRIBE on a subscription link; a subscribe is waited for. */
static int
sub_send(struct link *l, const char *channel, size_t len, int on)
{
	const char *argv[2] = {on ? "SUBSCRIBE" : "UNSUBSCRIBE", channel};
	size_t lens[2] = {on ? 9 : 11, len};

	if (redisAsyncCommandArgv(l->ac, on_sub_reply, l, 2, argv, lens) !=
	    REDIS_OK)
		return WSD_ENOMEM;
	if (on && l->sub_pending++ == 0)
		l->sub_since_us = mono_us();
	return WSD_OK;
}

static void
link_connect(struct link *l)
{
	struct shard *s = &l->r->s[l->shard];
	struct sv_redis_script *const *sc;
	redisAsyncContext *ac = redisAsyncConnect(s->host, s->port);

	l->since_us = mono_us();
	if (ac == NULL || ac->err) {
		if (ac != NULL)
			redisAsyncFree(ac);
		schedule_retry(l);
		return;
	}
	ac->data = l;
	l->ac = ac;
	if (redisLibevAttach(l->r->loop, ac) != REDIS_OK) {
		link_drop(l, "cannot attach to the loop");
		return;
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	if (l->is_sub && l->r->keepalive[0] != '\0')
		sub_send(l, l->r->keepalive, strlen(l->r->keepalive), 1);
	/* Sent once the connect completes, before any other command. */
	for (sc = l->r->scripts; !l->is_sub && sc != NULL && *sc != NULL;
	     sc++) {
		const char *argv[3] = {"SCRIPT", "LOAD", (*sc)->text};
		size_t lens[3] = {6, 4, strlen((*sc)->text)};

		link_send(l, NULL, NULL, 3, argv, lens);
	}
}

static void
on_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	link_connect(t->data);
}

static void
watch_link(struct link *l, uint64_t now, uint64_t timeout)
{
	if (l->ac == NULL)
		return;
	if (!l->up && now - l->since_us > timeout)
		link_drop(l, "connect timed out");
	else if (l->n > 0 && now - l->ring[l->head].sent_us > timeout)
		link_drop(l, "reply timed out");
	else if (l->up && l->sub_pending > 0 && now - l->sub_since_us > timeout)
		link_drop(l, "subscribe timed out");
	else if (l->up && l->is_sub && l->r->keepalive[0] != '\0' &&
		 now - l->heard_us > 2 * timeout)
		link_drop(l, "nothing heard");
}

/* The keepalive on each shard whose links are up: the command link
 * publishes, the subscription link hears it. */
static void
keepalive(struct sv_redis *r, uint64_t now)
{
	const char *argv[3] = {"PUBLISH", r->keepalive, "1"};
	size_t lens[3] = {7, strlen(r->keepalive), 1};
	int i;

	if (r->keepalive[0] == '\0' || now - r->beat_us < r->timeout_us / 2)
		return;
	r->beat_us = now;
	for (i = 0; i < r->n; i++)
		if (sv_redis_up(r, i))
			link_send(&r->s[i].cmd, NULL, NULL, 3, argv, lens);
}

static void
on_watchdog(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct sv_redis *r = t->data;
	uint64_t now = mono_us();
	int i;

	(void)loop;
	(void)revents;
	for (i = 0; i < r->n; i++) {
		watch_link(&r->s[i].cmd, now, r->timeout_us);
		watch_link(&r->s[i].sub, now, r->timeout_us);
	}
	keepalive(r, now);
}

static int
parse_address(struct shard *s, const char *a)
{
	const char *colon = strrchr(a, ':');
	char *end;
	long port;

	if (colon == NULL || colon == a ||
	    (size_t)(colon - a) >= sizeof(s->host))
		return WSD_EINVAL;
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return WSD_EINVAL;
	memcpy(s->host, a, (size_t)(colon - a));
	s->host[colon - a] = '\0';
	s->port = (int)port;
	snprintf(s->address, sizeof(s->address), "%s", a);
	return WSD_OK;
}

static void
link_init(struct sv_redis *r, struct link *l, int shard, int is_sub)
{
	l->r = r;
	l->shard = shard;
	l->is_sub = is_sub;
	ev_timer_init(&l->retry, on_retry, 0., 0.);
	l->retry.data = l;
}

int
sv_redis_open(struct sv_redis **out, struct ev_loop *loop,
	      const struct setting_list *addresses, uint64_t timeout_ms,
	      const char *keepalive, struct sv_redis_script *const *scripts,
	      const struct sv_redis_handlers *h, const char **why)
{
	struct sv_redis *r;
	struct sv_redis_script *const *sc;
	uint32_t i, j;

	*why = "redis.addresses needs 1 to 16 host:port addresses";
	if (addresses->n == 0 || addresses->n > SV_REDIS_MAX_SHARDS)
		return WSD_EINVAL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return WSD_ENOMEM;
	r->loop = loop;
	r->timeout_us = timeout_ms * 1000;
	snprintf(r->keepalive, sizeof(r->keepalive), "%s",
		 keepalive ? keepalive : "");
	r->scripts = scripts;
	r->h = *h;
	r->n = (int)addresses->n;
	for (i = 0; i < addresses->n; i++) {
		if (parse_address(&r->s[i], addresses->v[i]) != WSD_OK) {
			*why = "a redis.addresses element is not host:port";
			free(r);
			return WSD_EINVAL;
		}
		link_init(r, &r->s[i].cmd, (int)i, 0);
		link_init(r, &r->s[i].sub, (int)i, 1);
	}
	r->npoints = (uint32_t)r->n * RING_POINTS;
	r->ring = calloc(r->npoints, sizeof(*r->ring));
	for (i = 0; r->ring != NULL && i < (uint32_t)r->n; i++) {
		r->s[i].cmd.ring =
		    calloc(SV_REDIS_MAX_INFLIGHT, sizeof(struct inflight));
		r->s[i].sub.ring =
		    calloc(SV_REDIS_MAX_INFLIGHT, sizeof(struct inflight));
		if (r->s[i].cmd.ring == NULL || r->s[i].sub.ring == NULL)
			break;
		for (j = 0; j < RING_POINTS; j++) {
			char name[320];
			int n = snprintf(name, sizeof(name), "%s#%u",
					 r->s[i].address, j);

			r->ring[i * RING_POINTS + j] =
			    (struct point){hash64(name, (size_t)n), (int)i};
		}
	}
	if (r->ring == NULL || i < (uint32_t)r->n) {
		*why = "out of memory";
		sv_redis_close(r);
		return WSD_ENOMEM;
	}
	qsort(r->ring, r->npoints, sizeof(*r->ring), point_cmp);
	for (sc = scripts; sc != NULL && *sc != NULL; sc++) {
		unsigned char md[SHA_DIGEST_LENGTH];

		SHA1((const unsigned char *)(*sc)->text, strlen((*sc)->text),
		     md);
		for (j = 0; j < SHA_DIGEST_LENGTH; j++)
			snprintf((*sc)->sha + 2 * j, 3, "%02x", md[j]);
	}
	ev_timer_init(&r->watchdog, on_watchdog, WATCHDOG_S, WATCHDOG_S);
	r->watchdog.data = r;
	ev_timer_start(loop, &r->watchdog);
	for (i = 0; i < (uint32_t)r->n; i++) {
		link_connect(&r->s[i].cmd);
		link_connect(&r->s[i].sub);
	}
	*out = r;
	return WSD_OK;
}

static void
link_close(struct link *l)
{
	ev_timer_stop(l->r->loop, &l->retry);
	if (l->ac != NULL) {
		l->dropping = 1;
		redisAsyncFree(l->ac);
		l->ac = NULL;
	}
	while (l->n > 0) {
		struct inflight f = ring_pop(l);

		if (f.fn != NULL)
			f.fn(f.arg, NULL);
	}
	free(l->ring);
}

void
sv_redis_close(struct sv_redis *r)
{
	int i;

	if (r == NULL)
		return;
	ev_timer_stop(r->loop, &r->watchdog);
	/* Nothing is told of the shards going down: the user is closing.
	 * Every link is down before any goes, so a reply's callback that
	 * sends again is refused, never queued on a link being freed. */
	r->h.up = NULL;
	r->h.down = NULL;
	r->h.message = NULL;
	r->h.subscribed = NULL;
	r->closing = 1;
	for (i = 0; i < r->n; i++) {
		r->s[i].cmd.up = 0;
		r->s[i].sub.up = 0;
	}
	for (i = 0; i < r->n; i++) {
		link_close(&r->s[i].cmd);
		link_close(&r->s[i].sub);
	}
	free(r->ring);
	free(r);
}

int
sv_redis_cmd(struct sv_redis *r, int shard, sv_redis_reply_fn fn, void *arg,
	     int argc, const char **argv, const size_t *argvlen)
{
	struct link *l = &r->s[shard].cmd;

	if (!l->up)
		return WSD_EAGAIN;
	return link_send(l, fn, arg, argc, argv, argvlen);
}

#define EVAL_MAX_ARGS 24

int
sv_redis_eval(struct sv_redis *r, int shard,
	      const struct sv_redis_script *script, sv_redis_reply_fn fn,
	      void *arg, int nkeys, int argc, const char **argv,
	      const size_t *argvlen)
{
	const char *v[EVAL_MAX_ARGS + 3];
	size_t lens[EVAL_MAX_ARGS + 3];
	char nk[16];
	int i;

	if (argc > EVAL_MAX_ARGS)
		return WSD_EINVAL;
	v[0] = "EVALSHA";
	lens[0] = 7;
	v[1] = script->sha;
	lens[1] = 40;
	lens[2] = (size_t)snprintf(nk, sizeof(nk), "%d", nkeys);
	v[2] = nk;
	for (i = 0; i < argc; i++) {
		v[i + 3] = argv[i];
		lens[i + 3] = argvlen[i];
	}
	return sv_redis_cmd(r, shard, fn, arg, argc + 3, v, lens);
}

static void
on_sub_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	struct link *l = priv;
	const redisReply *rep = reply;

	(void)ac;
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != 3)
		return;
	l->heard_us = mono_us();
	if (rep->element[0]->type == REDIS_REPLY_STRING &&
	    strcmp(rep->element[0]->str, "subscribe") == 0 &&
	    l->sub_pending > 0) {
		l->sub_pending--;
		l->sub_since_us = l->heard_us;
	}
	/* The keepalive is this file's own. */
	if (rep->element[1]->type == REDIS_REPLY_STRING &&
	    l->r->keepalive[0] != '\0' &&
	    strcmp(rep->element[1]->str, l->r->keepalive) == 0)
		return;
	if (rep->element[0]->type == REDIS_REPLY_STRING &&
	    strcmp(rep->element[0]->str, "subscribe") == 0 &&
	    rep->element[1]->type == REDIS_REPLY_STRING &&
	    l->r->h.subscribed != NULL)
		l->r->h.subscribed(l->r->h.arg, l->shard, rep->element[1]->str,
				   rep->element[1]->len);
	else if (rep->element[0]->type == REDIS_REPLY_STRING &&
		 strcmp(rep->element[0]->str, "message") == 0 &&
		 rep->element[1]->type == REDIS_REPLY_STRING &&
		 rep->element[2]->type == REDIS_REPLY_STRING &&
		 l->r->h.message != NULL)
		l->r->h.message(l->r->h.arg, l->shard, rep->element[1]->str,
				rep->element[1]->len, rep->element[2]->str,
				rep->element[2]->len);
}

int
sv_redis_subscribe(struct sv_redis *r, int shard, const char *channel,
		   size_t len, int on)
{
	struct link *l = &r->s[shard].sub;

	if (!l->up)
		return WSD_EAGAIN;
	return sub_send(l, channel, len, on);
}

void
sv_redis_link(const struct sv_redis *r, int shard, struct sv_eng_link *out)
{
	const struct shard *s = &r->s[shard];

	out->address = s->address;
	out->up = sv_redis_up(r, shard);
	out->rtt_us = s->cmd.rtt_us;
	out->errors = s->cmd.errors + s->sub.errors;
	out->reconnects = s->cmd.reconnects + s->sub.reconnects;
	out->inflight = s->cmd.n;
}

redisContext *
sv_redis_connect_sync(const struct sv_redis *r, int shard, uint64_t timeout_ms)
{
	struct timeval tv = {(time_t)(timeout_ms / 1000),
			     (suseconds_t)(timeout_ms % 1000) * 1000};
	redisContext *c =
	    redisConnectWithTimeout(r->s[shard].host, r->s[shard].port, tv);

	if (c == NULL || c->err || redisSetTimeout(c, tv) != REDIS_OK) {
		if (c != NULL)
			redisFree(c);
		return NULL;
	}
	return c;
}
