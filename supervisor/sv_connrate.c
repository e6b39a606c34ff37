/*
 * sv_connrate.c: the connect-rate buckets of sv_connrate.h.
 */
#include "sv_connrate.h"

#include <stdlib.h>
#include <string.h>

static double
refill(double tokens, double at, double now, double rate, double burst)
{
	if (now > at)
		tokens += (now - at) * rate;
	return tokens > burst ? burst : tokens;
}

void
sv_connrate_limits(struct sv_connrate_limits *l, uint64_t rate, uint64_t burst,
		   uint64_t addr_rate, uint64_t addr_burst)
{
	l->rate = (double)rate;
	l->burst = (double)(burst ? burst : rate);
	l->addr_rate = (double)addr_rate;
	l->addr_burst = (double)(addr_burst ? addr_burst : addr_rate);
}

void
sv_connrate_init(struct sv_connrate *r)
{
	memset(r, 0, sizeof(*r));
	r->tokens = -1; /* full at the first take */
}

void
sv_connrate_fini(struct sv_connrate *r)
{
	struct sv_connrate_addr *a, *tmp;

	HASH_ITER (hh, r->addrs, a, tmp) {
		HASH_DEL(r->addrs, a);
		free(a->ip);
		free(a);
	}
	r->naddrs = 0;
}

static struct sv_connrate_addr *
addr_get(struct sv_connrate *r, const struct sv_connrate_limits *l,
	 const char *ip, size_t len, double now)
{
	struct sv_connrate_addr *a;

	HASH_FIND(hh, r->addrs, ip, len, a);
	if (a != NULL)
		return a;
	if (r->naddrs >= SV_CONNRATE_ADDRS ||
	    (a = calloc(1, sizeof(*a))) == NULL) {
		r->full++;
		return NULL;
	}
	if ((a->ip = strndup(ip, len)) == NULL) {
		free(a);
		r->full++;
		return NULL;
	}
	a->tokens = l->addr_burst;
	a->at = now;
	HASH_ADD_KEYPTR(hh, r->addrs, a->ip, len, a);
	r->naddrs++;
	return a;
}

int
sv_connrate_take(struct sv_connrate *r, const struct sv_connrate_limits *l,
		 const char *ip, size_t len, double now)
{
	struct sv_connrate_addr *a = NULL;

	if (l->rate > 0) {
		r->tokens = r->tokens < 0 ? l->burst
					  : refill(r->tokens, r->at, now,
						   l->rate, l->burst);
		r->at = now;
		if (r->tokens < 1)
			return 0;
	}
	if (l->addr_rate > 0 && (a = addr_get(r, l, ip, len, now)) != NULL) {
		a->tokens =
		    refill(a->tokens, a->at, now, l->addr_rate, l->addr_burst);
		a->at = now;
		if (a->tokens < 1)
			return 0;
		a->tokens -= 1;
	}
	if (l->rate > 0)
		r->tokens -= 1;
	return 1;
}

void
sv_connrate_sweep(struct sv_connrate *r, const struct sv_connrate_limits *l,
		  double now)
{
	struct sv_connrate_addr *a, *tmp;

	HASH_ITER (hh, r->addrs, a, tmp) {
		if (l->addr_rate > 0 &&
		    refill(a->tokens, a->at, now, l->addr_rate, l->addr_burst) <
			l->addr_burst)
			continue;
		HASH_DEL(r->addrs, a);
		free(a->ip);
		free(a);
		r->naddrs--;
	}
}
