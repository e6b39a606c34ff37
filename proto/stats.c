/*
 * stats.c: the histogram bounds and the bucket arithmetic of stats.h,
 * shared by the worker (which counts) and the supervisor (which shows).
 * Pure.
 */
#include "stats.h"

const uint64_t stats_lat_us[STATS_LAT_N] = {
    100,   250,	   500,	   1000,   2500,    5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

const uint64_t stats_qdepth[STATS_QDEPTH_N] = {0,  1,	2,   5,	  10,  20,
					       50, 100, 200, 500, 1000};

const char *const stats_tls_fail_names[STATS_TLS_FAIL_N] = {"http_request",
							    "protocol_version",
							    "no_shared_cipher",
							    "peer_alert",
							    "eof",
							    "timeout",
							    "other"};

const uint16_t stats_refused_status[STATS_REFUSED_N] = {
    400, 401, 403, 404, 405, 426, 429, 431, 500, 503};

unsigned
stats_bucket(const uint64_t *bounds, unsigned n, uint64_t v)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (v <= bounds[i])
			return i;
	return n;
}

unsigned
stats_refused_index(int status)
{
	unsigned i;

	for (i = 0; i < STATS_REFUSED_N; i++)
		if (stats_refused_status[i] == status)
			return i;
	return STATS_REFUSED_N;
}

void
stats_observe(uint64_t *h, const uint64_t *bounds, unsigned n, uint64_t v)
{
	h[stats_bucket(bounds, n, v)]++;
	h[n + 1] += v;
}
