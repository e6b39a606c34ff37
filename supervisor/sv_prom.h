/*
 * sv_prom.h: the Prometheus text exposition format (version 0.0.4), as a
 * writer into one growing buffer. Pure: it knows no metric of wsd, only
 * how a family, a sample and a histogram are written.
 *
 * Labels are given as a NULL-terminated list of name, value pairs
 * ({"worker", "0", NULL}); values are escaped (backslash, double quote,
 * newline), names are the caller's and must be valid. A writer that ran
 * out of memory remembers it: every later call does nothing and
 * sv_prom_take returns NULL.
 */
#ifndef WSD_SV_PROM_H
#define WSD_SV_PROM_H

#include <stddef.h>
#include <stdint.h>

struct sv_prom {
	char *buf;
	size_t len, cap;
	int oom;
};

void sv_prom_init(struct sv_prom *p);

/* Free what the writer holds (the text, unless it was taken). */
void sv_prom_fini(struct sv_prom *p);

/* The text written, NUL-terminated, for the caller to free; the writer
 * is empty after. NULL when memory ran out. */
char *sv_prom_take(struct sv_prom *p, size_t *len);

/* Start a family: its # HELP and # TYPE lines. type is "counter",
 * "gauge" or "histogram". */
void sv_prom_family(struct sv_prom *p, const char *name, const char *type,
		    const char *help);

/* One sample of an integer value; labels may be NULL. */
void sv_prom_u64(struct sv_prom *p, const char *name, const char *const *labels,
		 uint64_t v);

/* One sample of a real value. */
void sv_prom_f64(struct sv_prom *p, const char *name, const char *const *labels,
		 double v);

/*
 * The samples of one histogram: name_bucket for each of the n bounds
 * and +Inf (cumulative), name_sum and name_count. buckets holds n + 1
 * counts, not cumulative (bucket i: values up to bounds[i] and above
 * bounds[i-1]; bucket n: above every bound); bounds and sum are in units
 * of 1/scale of the exposed unit (microseconds with scale 1e6 give
 * seconds).
 */
void sv_prom_hist(struct sv_prom *p, const char *name,
		  const char *const *labels, const uint64_t *bounds, unsigned n,
		  double scale, const uint64_t *buckets, uint64_t sum);

#endif
