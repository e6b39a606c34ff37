/*
 * sv_connrate.h: the rate of new connections, as token buckets: one for
 * the whole daemon and one per client address (limits.connect_rate and
 * limits.connect_rate_per_address, with their bursts). Pure: the clock
 * is the caller's, so every rule is tested alone
 * (tests/unit/test_connrate.c); sv_dispatch.c asks at each admission.
 *
 * The per-address buckets are kept in a hash bounded at
 * SV_CONNRATE_ADDRS entries; a bucket that has refilled is forgotten by
 * sv_connrate_sweep. When the hash is full, a new address is held to the
 * global bucket alone (and that is counted).
 */
#ifndef WSD_SV_CONNRATE_H
#define WSD_SV_CONNRATE_H

#include <stddef.h>
#include <stdint.h>
#include <uthash.h>

#define SV_CONNRATE_ADDRS 65536

struct sv_connrate_limits {
	double rate, burst;	      /* global; rate 0: no limit */
	double addr_rate, addr_burst; /* per address; rate 0: no limit */
};

struct sv_connrate_addr {
	char *ip;
	double tokens, at;
	UT_hash_handle hh;
};

struct sv_connrate {
	double tokens, at; /* the global bucket */
	struct sv_connrate_addr *addrs;
	uint32_t naddrs;
	uint64_t full; /* addresses held to the global bucket: hash full */
};

/* The limits from the config's values (a burst of 0: one second's
 * worth). */
void sv_connrate_limits(struct sv_connrate_limits *l, uint64_t rate,
			uint64_t burst, uint64_t addr_rate,
			uint64_t addr_burst);

void sv_connrate_init(struct sv_connrate *r);
void sv_connrate_fini(struct sv_connrate *r);

/*
 * May one more connection from ip[0..len) come in at now (seconds)?
 * Returns 1 and takes a token from each bucket that applies, or 0 (over:
 * nothing is taken).
 */
int sv_connrate_take(struct sv_connrate *r, const struct sv_connrate_limits *l,
		     const char *ip, size_t len, double now);

/* Forget the per-address buckets that are full again at now. */
void sv_connrate_sweep(struct sv_connrate *r,
		       const struct sv_connrate_limits *l, double now);

#endif
