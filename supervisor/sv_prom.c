/*
 * sv_prom.c: the Prometheus text writer of sv_prom.h. Every line is
 * appended with one vsnprintf into the buffer, grown by doubling.
 */
#include "sv_prom.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
sv_prom_init(struct sv_prom *p)
{
	memset(p, 0, sizeof(*p));
}

void
sv_prom_fini(struct sv_prom *p)
{
	free(p->buf);
	memset(p, 0, sizeof(*p));
}

char *
sv_prom_take(struct sv_prom *p, size_t *len)
{
	char *s = p->oom ? NULL : p->buf;

	if (s == NULL && !p->oom)
		s = strdup("");
	if (len != NULL)
		*len = s != NULL ? p->len : 0;
	if (s != p->buf)
		free(p->buf);
	memset(p, 0, sizeof(*p));
	return s;
}

static int
reserve(struct sv_prom *p, size_t more)
{
	size_t cap = p->cap ? p->cap : 4096;
	char *b;

	if (p->oom)
		return -1;
	while (cap < p->len + more + 1)
		cap *= 2;
	if (cap == p->cap)
		return 0;
	if ((b = realloc(p->buf, cap)) == NULL) {
		p->oom = 1;
		return -1;
	}
	p->buf = b;
	p->cap = cap;
	return 0;
}

static void __attribute__((format(printf, 2, 3)))
put(struct sv_prom *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (reserve(p, 0) != 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(p->buf + p->len, p->cap - p->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		p->oom = 1;
		return;
	}
	if ((size_t)n >= p->cap - p->len) {
		if (reserve(p, (size_t)n) != 0)
			return;
		va_start(ap, fmt);
		vsnprintf(p->buf + p->len, p->cap - p->len, fmt, ap);
		va_end(ap);
	}
	p->len += (size_t)n;
}

static void
put_value(struct sv_prom *p, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\')
			put(p, "\\\\");
		else if (*v == '"')
			put(p, "\\\"");
		else if (*v == '\n')
			put(p, "\\n");
		else
			put(p, "%c", *v);
	}
}

/* name{labels[,le="le"]} with the value still to come. */
static void
put_name(struct sv_prom *p, const char *name, const char *suffix,
	 const char *const *labels, const char *le)
{
	int first = 1;

	put(p, "%s%s", name, suffix);
	if ((labels == NULL || labels[0] == NULL) && le == NULL)
		return;
	put(p, "{");
	for (; labels != NULL && labels[0] != NULL && labels[1] != NULL;
	     labels += 2) {
		put(p, "%s%s=\"", first ? "" : ",", labels[0]);
		put_value(p, labels[1]);
		put(p, "\"");
		first = 0;
	}
	if (le != NULL)
		put(p, "%sle=\"%s\"", first ? "" : ",", le);
	put(p, "}");
}

void
sv_prom_family(struct sv_prom *p, const char *name, const char *type,
	       const char *help)
{
	put(p, "# HELP %s ", name);
	for (; *help != '\0'; help++) {
		if (*help == '\\')
			put(p, "\\\\");
		else if (*help == '\n')
			put(p, "\\n");
		else
			put(p, "%c", *help);
	}
	put(p, "\n# TYPE %s %s\n", name, type);
}

void
sv_prom_u64(struct sv_prom *p, const char *name, const char *const *labels,
	    uint64_t v)
{
	put_name(p, name, "", labels, NULL);
	put(p, " %llu\n", (unsigned long long)v);
}

void
sv_prom_f64(struct sv_prom *p, const char *name, const char *const *labels,
	    double v)
{
	put_name(p, name, "", labels, NULL);
	put(p, " %.10g\n", v);
}

void
sv_prom_hist(struct sv_prom *p, const char *name, const char *const *labels,
	     const uint64_t *bounds, unsigned n, double scale,
	     const uint64_t *buckets, uint64_t sum)
{
	uint64_t acc = 0;
	char le[32];
	unsigned i;

	for (i = 0; i <= n; i++) {
		acc += buckets[i];
		if (i < n)
			snprintf(le, sizeof(le), "%.10g",
				 (double)bounds[i] / scale);
		else
			snprintf(le, sizeof(le), "+Inf");
		put_name(p, name, "_bucket", labels, le);
		put(p, " %llu\n", (unsigned long long)acc);
	}
	put_name(p, name, "_sum", labels, NULL);
	put(p, " %.10g\n", (double)sum / scale);
	put_name(p, name, "_count", labels, NULL);
	put(p, " %llu\n", (unsigned long long)acc);
}
