/*
 * log.h: one log line per event, to stderr, shared by the supervisor and
 * the workers. A line is a JSON object (log_format "json", the default)
 * or a line of text ("text"), and carries the time, the level, the
 * process ("supervisor" or "worker", with the worker's slot) and pid, a
 * short stable event name, and the fields of the call. docs/logs.md
 * lists the events.
 *
 * A call names its event and gives its fields as printf-formatted
 * "key=value" pairs separated by single spaces:
 *
 *	log_info("worker_exit", "slot=%d status=%d", w->id, status);
 *
 * A value is a JSON number when it looks like one, true or false when
 * it is that word, else a string. A value that
 * may hold a space, a quote, '=', a control character or bytes that are
 * not UTF-8 (anything a client sent: a user id, an address, a reason;
 * and strerror texts, paths) must go through log_q(), which quotes it so
 * that the line stays parseable. Lines never contain message contents or
 * tokens: callers log counts and ids.
 *
 * The level names carry a LOG_LEVEL_ prefix so that this header and
 * <syslog.h> (LOG_INFO, LOG_DEBUG, ...) can be included together.
 */
#ifndef WSD_LOG_H
#define WSD_LOG_H

#include <stddef.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

enum log_format {
	LOG_FORMAT_JSON = 0,
	LOG_FORMAT_TEXT,
};

/* The longest line written, newline included; a longer one loses its
 * last fields (and says "truncated") but stays one valid line. */
#define LOG_LINE_MAX 2048

/* The longest value log_q() keeps, in bytes of the input. */
#define LOG_QUOTE_MAX 256

/*
 * Set the process shown in each line ("supervisor" or "worker"), the
 * worker's slot (-1: none), the level and the format.
 */
void log_init(const char *process, int worker, enum log_level level,
	      enum log_format format);
void log_set_level(enum log_level level);
void log_set_format(enum log_format format);

/*
 * Point stderr (every log line) at path, appending and creating it with
 * mode 0640: a new log_file, or the same one after it was moved away
 * (rotation). Returns 0, or -1 with errno set (stderr unchanged).
 */
int log_reopen(const char *path);

/* The names of the levels, in enum order: "error", "warn", "info",
 * "debug" (the config's log_level values and each line's level). */
extern const char *const log_level_names[LOG_LEVEL_DEBUG + 1];

/* The names of the formats, in enum order: "json", "text". */
extern const char *const log_format_names[LOG_FORMAT_TEXT + 1];

/*
 * Quote s (NUL-terminated; NULL is logged as "") or its first n bytes
 * (log_qn) as a JSON string literal: '"' and '\' escaped, control
 * characters as \u00XX, bytes that are not UTF-8 as \ufffd, and cut
 * after LOG_QUOTE_MAX bytes. The result lives in one of eight buffers
 * of this thread that the next calls reuse: it is valid until the eighth
 * call after this one, so one log call may quote up to eight values.
 */
const char *log_q(const char *s);
const char *log_qn(const char *s, size_t n);

/* Write one line of event at level; fmt gives the fields (above). */
void log_event(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(...) log_event(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_event(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_event(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_event(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
