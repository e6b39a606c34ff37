/*
 * sv_metrics.h: the text of GET /metrics (Prometheus exposition format
 * 0.0.4); docs/metrics.md names and explains every family.
 */
#ifndef WSD_SV_METRICS_H
#define WSD_SV_METRICS_H

#include <stddef.h>

struct sv;

/*
 * Every family, from the supervisor's counters and registry, the engine,
 * the worker table, the workers' last STATS, and /proc for the
 * processes' CPU and memory. Returns the text (NUL-terminated, its
 * length in *len) for the caller to free, or NULL when memory ran out.
 */
char *sv_metrics_text(struct sv *sv, size_t *len);

#endif
