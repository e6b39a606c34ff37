/*
 * trace.h: W3C Trace Context (https://www.w3.org/TR/trace-context/), the
 * `traceparent` value a client sends on the upgrade request and in the
 * `trace` field of a publish or send. wsd starts no traces of its own: it
 * checks the value, keeps it with the connection or the message, and
 * shows it in `wsctl conn`, in log lines and in deliveries, so that an
 * operator can follow a request from the backend through wsd to clients.
 *
 * A traceparent is VERSION "-" TRACE_ID "-" PARENT_ID "-" FLAGS: 2, 32,
 * 16 and 2 lowercase hex digits (55 characters). The version ff, and a
 * trace id or parent id of only zeros, are invalid. Version 00 is
 * exactly 55 characters; a later version may carry more after a "-" at
 * offset 55, which is not kept (the W3C rule for versions a vendor does
 * not know).
 */
#ifndef WSD_TRACE_H
#define WSD_TRACE_H

#include <stddef.h>

#define TRACE_LEN 55

/*
 * Check s[0..n) as a traceparent. Valid: copy the 55 characters kept
 * into out (NUL-terminated) and return 1; else return 0 (out untouched).
 */
int trace_parse(const char *s, size_t n, char out[TRACE_LEN + 1]);

/*
 * " trace=T" to end the fields of a log call (proto/log.h) about
 * something that carries the traceparent T, or "" when trace is NULL. One
 * static buffer: one use per log call.
 */
const char *trace_log_kv(const char *trace);

#endif
