/*
 * log.c: the log line writer declared in log.h. A call's "key=value"
 * text is formatted first, then split into fields and written as one
 * JSON object or one line of text. A line is built in one bounded buffer
 * and written with one write(2), so lines from the supervisor and its
 * workers never interleave mid-line on a shared stderr; a line that
 * would not fit loses whole fields from its end, so it stays valid JSON.
 */
#include "log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char log_process[16] = "wsd";
static int log_worker = -1;
static enum log_level log_cur = LOG_LEVEL_INFO;
static enum log_format log_fmt = LOG_FORMAT_JSON;

const char *const log_level_names[LOG_LEVEL_DEBUG + 1] = {"error", "warn",
							  "info", "debug"};

const char *const log_format_names[LOG_FORMAT_TEXT + 1] = {"json", "text"};

void
log_init(const char *process, int worker, enum log_level level,
	 enum log_format format)
{
	snprintf(log_process, sizeof(log_process), "%s", process);
	log_worker = worker;
	log_cur = level;
	log_fmt = format;
}

void
log_set_level(enum log_level level)
{
	log_cur = level;
}

void
log_set_format(enum log_format format)
{
	log_fmt = format;
}

int
log_reopen(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

	if (fd < 0)
		return -1;
	if (fd != STDERR_FILENO) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	return 0;
}

/*
 * The length of the UTF-8 sequence at s (n bytes left), or 0 when it is
 * not one: a bad lead byte, a missing continuation, an overlong form, a
 * surrogate or a code point past U+10FFFF.
 */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/*
 * Write s (n bytes) into out (room bytes, room > 0) as the inside of a
 * JSON string, NUL-terminated. Stops before an escape that would not
 * fit. Returns the bytes written.
 */
static size_t
escape(char *out, size_t room, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t o = 0, i = 0, k;
	char esc[8];

	while (i < n) {
		k = utf8_len(u + i, n - i);
		if (k == 0) {
			snprintf(esc, sizeof(esc), "\\ufffd");
			k = 1;
		} else if (u[i] == '"' || u[i] == '\\') {
			snprintf(esc, sizeof(esc), "\\%c", u[i]);
		} else if (u[i] < 0x20 || u[i] == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", u[i]);
		} else {
			if (o + k >= room)
				break;
			memcpy(out + o, s + i, k);
			o += k;
			i += k;
			continue;
		}
		if (o + strlen(esc) >= room)
			break;
		memcpy(out + o, esc, strlen(esc));
		o += strlen(esc);
		i += k;
	}
	out[o] = '\0';
	return o;
}

const char *
log_qn(const char *s, size_t n)
{
	/* Room for every input byte to become a 6-byte escape. */
	static __thread char bufs[8][LOG_QUOTE_MAX * 6 + 3];
	static __thread unsigned next;
	char *b = bufs[next++ % 8];
	size_t o;

	if (s == NULL)
		n = 0;
	if (n > LOG_QUOTE_MAX)
		n = LOG_QUOTE_MAX;
	b[0] = '"';
	o = 1 + escape(b + 1, sizeof(bufs[0]) - 2, s ? s : "", n);
	b[o++] = '"';
	b[o] = '\0';
	return b;
}

const char *
log_q(const char *s)
{
	return log_qn(s, s ? strnlen(s, LOG_QUOTE_MAX) : 0);
}

/* A line being built: len bytes of buf, never past cap. */
struct line {
	char buf[LOG_LINE_MAX];
	size_t len, cap;
	int full;
};

static void
put(struct line *l, const char *s, size_t n)
{
	if (l->full || l->len + n > l->cap) {
		l->full = 1;
		return;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void
puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

/* Put s (n bytes) as a JSON string, quotes included. */
static void
put_json_str(struct line *l, const char *s, size_t n)
{
	char tmp[LOG_LINE_MAX];
	size_t k;

	put(l, "\"", 1);
	k = escape(tmp, sizeof(tmp), s, n);
	if (k < n && k + 1 >= sizeof(tmp))
		l->full = 1;
	put(l, tmp, k);
	put(l, "\"", 1);
}

/* Whether v (n bytes) is a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)? */
static int
is_number(const char *v, size_t n)
{
	size_t i = 0, d;

	if (i < n && v[i] == '-')
		i++;
	for (d = i; i < n && v[i] >= '0' && v[i] <= '9'; i++)
		;
	if (i == d || (v[d] == '0' && i - d > 1))
		return 0;
	if (i < n && v[i] == '.') {
		for (d = ++i; i < n && v[i] >= '0' && v[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
	}
	return i == n;
}

/* The length of the quoted value at v ('"' first), through its closing
 * quote; or 0 when it has none. */
static size_t
quoted_len(const char *v)
{
	size_t i;

	for (i = 1; v[i] != '\0'; i++) {
		if (v[i] == '\\' && v[i + 1] != '\0')
			i++;
		else if (v[i] == '"')
			return i + 1;
	}
	return 0;
}

/* Put one field: key (klen bytes) and value (vlen bytes, quoted when
 * q). Either all of it goes in or nothing and the line is full. */
static void
put_field(struct line *l, const char *key, size_t klen, const char *val,
	  size_t vlen, int q)
{
	size_t mark = l->len;
	size_t i;

	if (log_fmt == LOG_FORMAT_TEXT) {
		put(l, " ", 1);
		put(l, key, klen);
		put(l, "=", 1);
		if (q) {
			put(l, val, vlen);
		} else {
			/* Unquoted values are ours; still, keep the line
			 * one line. */
			for (i = 0; i < vlen; i++)
				put(l,
				    (unsigned char)val[i] < 0x20 ? "?"
								 : val + i,
				    1);
		}
	} else {
		put(l, ",", 1);
		put_json_str(l, key, klen);
		put(l, ":", 1);
		if (q || is_number(val, vlen) ||
		    (vlen == 4 && memcmp(val, "true", 4) == 0) ||
		    (vlen == 5 && memcmp(val, "false", 5) == 0))
			put(l, val, vlen);
		else
			put_json_str(l, val, vlen);
	}
	if (l->full)
		l->len = mark;
}

/*
 * Split text into "key=value" fields and put them. Text that is not a
 * field (a bug at a call site) goes in as one "msg" field, whole.
 */
static void
put_fields(struct line *l, const char *text)
{
	const char *p = text, *key, *val;
	size_t klen, vlen;
	int q;

	while (*p != '\0' && !l->full) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		key = p;
		for (klen = 0; (key[klen] >= 'a' && key[klen] <= 'z') ||
			       (key[klen] >= '0' && key[klen] <= '9') ||
			       key[klen] == '_' || key[klen] == '.';
		     klen++)
			;
		if (klen == 0 || key[klen] != '=') {
			put_field(l, "msg", 3, p, strlen(p), 0);
			return;
		}
		val = key + klen + 1;
		q = val[0] == '"' && (vlen = quoted_len(val)) != 0;
		if (!q)
			for (vlen = 0; val[vlen] != '\0' && val[vlen] != ' ';
			     vlen++)
				;
		put_field(l, key, klen, val, vlen, q);
		p = val + vlen;
	}
}

void
log_event(enum log_level level, const char *event, const char *fmt, ...)
{
	static const char cut_json[] = ",\"truncated\":true}\n";
	static const char cut_text[] = " truncated=true\n";
	char text[LOG_LINE_MAX], head[96], ts[32];
	struct line l;
	struct timeval tv;
	struct tm tm;
	va_list ap;
	int cut;

	if (level > log_cur)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	l.len = 0;
	l.full = 0;
	l.cap = sizeof(l.buf) - sizeof(cut_json);
	if (log_fmt == LOG_FORMAT_TEXT) {
		if (log_worker >= 0)
			snprintf(head, sizeof(head), "%s.%d", log_process,
				 log_worker);
		else
			snprintf(head, sizeof(head), "%s", log_process);
		l.len = (size_t)snprintf(
		    l.buf, sizeof(l.buf), "%s.%03ldZ %s %s[%d] %s", ts,
		    (long)tv.tv_usec / 1000, log_level_names[level], head,
		    (int)getpid(), event);
	} else {
		l.len = (size_t)snprintf(l.buf, sizeof(l.buf),
					 "{\"time\":\"%s.%03ldZ\",\"level\":\"%"
					 "s\",\"process\":\"%s\"",
					 ts, (long)tv.tv_usec / 1000,
					 log_level_names[level], log_process);
		if (log_worker >= 0) {
			snprintf(head, sizeof(head), ",\"worker\":%d",
				 log_worker);
			puts_(&l, head);
		}
		snprintf(head, sizeof(head),
			 ",\"pid\":%d,\"event\":", (int)getpid());
		puts_(&l, head);
		put_json_str(&l, event, strlen(event));
	}
	put_fields(&l, text);
	cut = l.full;
	/* The cap left room for the end, truncated or not. */
	l.cap = sizeof(l.buf);
	l.full = 0;
	if (log_fmt == LOG_FORMAT_TEXT)
		puts_(&l, cut ? cut_text : "\n");
	else
		puts_(&l, cut ? cut_json : "}\n");
	if (write(STDERR_FILENO, l.buf, l.len) < 0)
		return;
}
