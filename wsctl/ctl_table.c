/*
 * Text tables for wsctl's human output, and the two string helpers every
 * printer needs. A table is a flat, growing array of malloc'd cells filled
 * row by row; printing pads each column to its widest cell, counting UTF-8
 * characters rather than bytes so that non-ASCII user ids line up, with two
 * spaces between columns and no trailing blanks. The same table without a
 * header row prints the "key:  value" blocks of status, conn and stats.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsctl.h"

struct ctl_table {
	size_t ncols;
	int has_header; /* cells[0 .. ncols-1] are the header row */
	size_t ncells;
	size_t cap;
	char **cells;
};

/* Columns are separated by this many spaces. */
#define CTL_TABLE_GAP 2

/* The width of a UTF-8 string on a terminal, one column per character. */
static size_t
utf8_width(const char *s)
{
	size_t w = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			w++;
	return w;
}

char *
ctl_strf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

char *
ctl_sanitize(const char *s)
{
	const unsigned char *in = (const unsigned char *)s;
	char *out, *p;

	out = malloc(strlen(s) + 1);
	if (out == NULL)
		return NULL;
	for (p = out; *in != '\0'; in++) {
		if (*in < 0x20 || *in == 0x7F) {
			*p++ = '?';
		} else if (in[0] == 0xC2 && in[1] >= 0x80 && in[1] <= 0x9F) {
			/* U+0080 to U+009F, the C1 controls, in two bytes. */
			*p++ = '?';
			in++;
		} else {
			*p++ = (char)*in;
		}
	}
	*p = '\0';
	return out;
}

struct ctl_table *
ctl_table_create(size_t ncols, const char *const *headers)
{
	struct ctl_table *t;
	size_t i;

	if (ncols == 0 || ncols > CTL_TABLE_MAXCOLS)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->ncols = ncols;
	if (headers != NULL) {
		t->has_header = 1;
		for (i = 0; i < ncols; i++)
			if (ctl_table_put(t, strdup(headers[i])) != 0)
				goto fail;
	}
	return t;

fail:
	ctl_table_destroy(t);
	return NULL;
}

void
ctl_table_destroy(struct ctl_table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

int
ctl_table_put(struct ctl_table *t, char *text)
{
	char **cells;
	size_t cap;

	if (text == NULL)
		return CTL_ENOMEM;
	if (t->ncells == t->cap) {
		cap = t->cap == 0 ? 32 : t->cap * 2;
		cells = realloc(t->cells, cap * sizeof(*cells));
		if (cells == NULL) {
			free(text);
			return CTL_ENOMEM;
		}
		t->cells = cells;
		t->cap = cap;
	}
	t->cells[t->ncells++] = text;
	return 0;
}

size_t
ctl_table_rows(const struct ctl_table *t)
{
	size_t rows = (t->ncells + t->ncols - 1) / t->ncols;

	return t->has_header ? rows - 1 : rows;
}

void
ctl_table_print(const struct ctl_table *t)
{
	size_t widths[CTL_TABLE_MAXCOLS] = {0};
	size_t i, col, w;

	for (i = 0; i < t->ncells; i++) {
		col = i % t->ncols;
		if ((w = utf8_width(t->cells[i])) > widths[col])
			widths[col] = w;
	}
	for (i = 0; i < t->ncells; i++) {
		col = i % t->ncols;
		fputs(t->cells[i], stdout);
		if (col + 1 == t->ncols || i + 1 == t->ncells) {
			fputc('\n', stdout);
			continue;
		}
		for (w = utf8_width(t->cells[i]);
		     w < widths[col] + CTL_TABLE_GAP; w++)
			fputc(' ', stdout);
	}
}
