/*
 * trace.c: the traceparent check of trace.h.
 */
#include "trace.h"

#include <stdio.h>
#include <string.h>

/* Are s[0..n) lowercase hex digits, and (nonzero) not all "0"? */
static int
hex_run(const char *s, size_t n, int nonzero)
{
	int any = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return 0;
		any |= ch != '0';
	}
	return !nonzero || any;
}

int
trace_parse(const char *s, size_t n, char out[TRACE_LEN + 1])
{
	if (s == NULL || n < TRACE_LEN)
		return 0;
	if (!hex_run(s, 2, 0) || memcmp(s, "ff", 2) == 0)
		return 0;
	if (memcmp(s, "00", 2) == 0 ? n != TRACE_LEN
				    : n > TRACE_LEN && s[TRACE_LEN] != '-')
		return 0;
	if (s[2] != '-' || s[35] != '-' || s[52] != '-')
		return 0;
	if (!hex_run(s + 3, 32, 1) || !hex_run(s + 36, 16, 1) ||
	    !hex_run(s + 53, 2, 0))
		return 0;
	memcpy(out, s, TRACE_LEN);
	out[TRACE_LEN] = '\0';
	return 1;
}

const char *
trace_log_kv(const char *trace)
{
	static char kv[sizeof(" trace=") + TRACE_LEN];

	if (trace == NULL)
		return "";
	snprintf(kv, sizeof(kv), " trace=%s", trace);
	return kv;
}
