/*
 * wsbench: latency histograms and the clock.
 *
 * A histogram in the spirit of HdrHistogram, fixed to nanoseconds: values
 * under 128 ns have a bucket each; above, every power of two is split into
 * 64 equal buckets, so a reported quantile is within 1/64 (1.6 %) of the
 * true value. Counts only add, so histograms from several processes merge
 * by adding them bucket by bucket. All times come from CLOCK_MONOTONIC,
 * which is shared by every process on the machine: a timestamp written by
 * one client process can be compared with the clock of another.
 */
#include <string.h>
#include <time.h>

#include "wb.h"

uint64_t
wb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned
bucket_of(uint64_t v)
{
	int msb, shift;

	if (v < 128)
		return (unsigned)v;
	msb = 63 - __builtin_clzll(v);
	shift = msb - 6;
	return 128u + (unsigned)(shift - 1) * 64u +
	       (unsigned)((v >> shift) - 64);
}

/* The middle of bucket i. */
static uint64_t
bucket_mid(unsigned i)
{
	unsigned shift, sub;

	if (i < 128)
		return i;
	shift = (i - 128) / 64 + 1;
	sub = (i - 128) % 64 + 64;
	return ((uint64_t)sub << shift) + (((uint64_t)1 << shift) >> 1);
}

void
wb_hist_add(struct wb_hist *h, uint64_t ns)
{
	h->b[bucket_of(ns)]++;
	h->count++;
	h->sum += ns;
	if (ns > h->max)
		h->max = ns;
}

void
wb_hist_merge(struct wb_hist *dst, const struct wb_hist *src)
{
	unsigned i;

	for (i = 0; i < WB_HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t
wb_hist_quantile(const struct wb_hist *h, double q)
{
	uint64_t rank, seen = 0, v;
	unsigned i;

	if (h->count == 0)
		return 0;
	rank = (uint64_t)(q * (double)h->count + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	for (i = 0; i < WB_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			v = bucket_mid(i);
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}
