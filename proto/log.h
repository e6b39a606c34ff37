/*
 * log.h: one log line per event, to stderr, shared by the supervisor and
 * the workers. Each line carries the time, the process role and pid, and
 * the level. Lines never contain message contents or tokens: callers log
 * counts and ids.
 *
 * The level names carry a LOG_LEVEL_ prefix so that this header and
 * <syslog.h> (LOG_INFO, LOG_DEBUG, ...) can be included together.
 */
#ifndef WSD_LOG_H
#define WSD_LOG_H

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Set the role shown in each line ("supervisor", "worker 1") and level. */
void log_init(const char *role, enum log_level level);
void log_set_level(enum log_level level);

/*
 * Point stderr (every log line) at path, appending and creating it with
 * mode 0640: a new log_file, or the same one after it was moved away
 * (rotation). Returns 0, or -1 with errno set (stderr unchanged).
 */
int log_reopen(const char *path);

/* The names of the levels, in enum order: "error", "warn", "info",
 * "debug" (the config's log_level values and each line's level). */
extern const char *const log_level_names[LOG_LEVEL_DEBUG + 1];

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
