/*
 * test_prom.c: the Prometheus text writer (supervisor/sv_prom.c) and the
 * histogram arithmetic the workers count with (proto/stats.c): families
 * with HELP and TYPE, samples with and without labels, escaped label
 * values, histograms written cumulative with +Inf, _sum and _count, a
 * buffer that grows past its first size, and the bucket of a value at,
 * between and above the bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../proto/stats.h"
#include "../../supervisor/sv_prom.h"

static char *
take(struct sv_prom *p)
{
	size_t len = 0;
	char *s = sv_prom_take(p, &len);

	assert_non_null(s);
	assert_int_equal(strlen(s), len);
	return s;
}

static void
test_family_and_samples(void **state)
{
	static const char *const lab[] = {"worker", "0", "state", "ready",
					  NULL};
	struct sv_prom p;
	char *s;

	(void)state;
	sv_prom_init(&p);
	sv_prom_family(&p, "wsd_x_total", "counter", "Things counted.");
	sv_prom_u64(&p, "wsd_x_total", NULL, 18446744073709551615ull);
	sv_prom_u64(&p, "wsd_x_total", lab, 0);
	sv_prom_f64(&p, "wsd_y_seconds", NULL, 0.25);
	s = take(&p);
	assert_string_equal(s, "# HELP wsd_x_total Things counted.\n"
			       "# TYPE wsd_x_total counter\n"
			       "wsd_x_total 18446744073709551615\n"
			       "wsd_x_total{worker=\"0\",state=\"ready\"} 0\n"
			       "wsd_y_seconds 0.25\n");
	free(s);
}

static void
test_escaping(void **state)
{
	static const char *const lab[] = {"v", "a\"b\\c\nd", NULL};
	struct sv_prom p;
	char *s;

	(void)state;
	sv_prom_init(&p);
	sv_prom_family(&p, "m", "gauge", "back\\slash and\nnewline");
	sv_prom_u64(&p, "m", lab, 1);
	s = take(&p);
	assert_string_equal(s, "# HELP m back\\\\slash and\\nnewline\n"
			       "# TYPE m gauge\n"
			       "m{v=\"a\\\"b\\\\c\\nd\"} 1\n");
	free(s);
}

static void
test_histogram(void **state)
{
	static const uint64_t bounds[] = {100, 2500, 1000000};
	static const uint64_t buckets[] = {1, 0, 2, 3};
	static const char *const lab[] = {"worker", "1", NULL};
	struct sv_prom p;
	char *s;

	(void)state;
	sv_prom_init(&p);
	sv_prom_hist(&p, "h_seconds", NULL, bounds, 3, 1e6, buckets, 2500000);
	sv_prom_hist(&p, "d", lab, bounds, 1, 1, buckets, 7);
	s = take(&p);
	assert_string_equal(s, "h_seconds_bucket{le=\"0.0001\"} 1\n"
			       "h_seconds_bucket{le=\"0.0025\"} 1\n"
			       "h_seconds_bucket{le=\"1\"} 3\n"
			       "h_seconds_bucket{le=\"+Inf\"} 6\n"
			       "h_seconds_sum 2.5\n"
			       "h_seconds_count 6\n"
			       "d_bucket{worker=\"1\",le=\"100\"} 1\n"
			       "d_bucket{worker=\"1\",le=\"+Inf\"} 1\n"
			       "d_sum{worker=\"1\"} 7\n"
			       "d_count{worker=\"1\"} 1\n");
	free(s);
}

/* Far more than the first 4096 bytes: every line arrives whole. */
static void
test_grows(void **state)
{
	struct sv_prom p;
	char want[64], *s, *line;
	unsigned i;

	(void)state;
	sv_prom_init(&p);
	for (i = 0; i < 5000; i++)
		sv_prom_u64(&p, "wsd_a_rather_long_metric_name_for_growth",
			    NULL, i);
	s = take(&p);
	line = s;
	for (i = 0; i < 5000; i++) {
		snprintf(want, sizeof(want),
			 "wsd_a_rather_long_metric_name_for_growth %u\n", i);
		assert_memory_equal(line, want, strlen(want));
		line += strlen(want);
	}
	assert_int_equal(*line, '\0');
	free(s);
}

static void
test_empty(void **state)
{
	struct sv_prom p;
	char *s;

	(void)state;
	sv_prom_init(&p);
	s = take(&p);
	assert_string_equal(s, "");
	free(s);
	sv_prom_init(&p);
	sv_prom_u64(&p, "x", NULL, 1);
	sv_prom_fini(&p);
	assert_null(p.buf);
}

static void
test_buckets(void **state)
{
	uint64_t h[STATS_LAT_N + 2];

	(void)state;
	assert_int_equal(stats_bucket(stats_qdepth, STATS_QDEPTH_N, 0), 0);
	assert_int_equal(stats_bucket(stats_qdepth, STATS_QDEPTH_N, 1), 1);
	assert_int_equal(stats_bucket(stats_qdepth, STATS_QDEPTH_N, 3), 3);
	assert_int_equal(stats_bucket(stats_qdepth, STATS_QDEPTH_N, 1000),
			 STATS_QDEPTH_N - 1);
	assert_int_equal(stats_bucket(stats_qdepth, STATS_QDEPTH_N, 1001),
			 STATS_QDEPTH_N);
	memset(h, 0, sizeof(h));
	stats_observe(h, stats_lat_us, STATS_LAT_N, 0);
	stats_observe(h, stats_lat_us, STATS_LAT_N, 100);
	stats_observe(h, stats_lat_us, STATS_LAT_N, 101);
	stats_observe(h, stats_lat_us, STATS_LAT_N, 99999999);
	assert_int_equal(h[0], 2);
	assert_int_equal(h[1], 1);
	assert_int_equal(h[STATS_LAT_N], 1);
	assert_int_equal(h[STATS_LAT_N + 1], 0 + 100 + 101 + 99999999);
	assert_int_equal(stats_refused_index(426), 5);
	assert_int_equal(stats_refused_index(418), STATS_REFUSED_N);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_family_and_samples),
	    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_histogram),
	    cmocka_unit_test(test_grows),
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_buckets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
