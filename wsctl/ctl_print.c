/*
 * wsctl's human output: one printer per command, turning the daemon's
 * reply (docs/control.md) into tables for lists, "key:  value" blocks for
 * single objects and one line for actions. Replies are read defensively:
 * a missing key prints as "-" or is left out, a value of an unexpected type
 * is shown as it is, and keys the daemon adds later are shown after the
 * known ones, so a newer daemon never breaks an older wsctl. Strings from
 * clients (user ids, agents) are sanitized before they reach the terminal.
 * --json output does not come through here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wsctl.h"

/* How a value is shown. */
enum fmt {
	FMT_VALUE, /* as it is: strings bare, booleans yes/no, arrays joined */
	FMT_DURATION, /* seconds as "2h05m" */
	FMT_TIME,     /* Unix time (s or ms) as a UTC date and time */
};

/* One line of a "key:  value" block. */
struct field {
	const char *key;
	const char *label;
	enum fmt fmt;
};

/* One column of a list. */
struct column {
	const char *header;
	const char *key;
	enum fmt fmt;
};

/* A Unix time above this is taken to be in milliseconds (year 5138). */
#define MS_THRESHOLD 100000000000LL

static char *fmt_value(const json_t *v);

/* Join the elements of an array with ", "; "-" for an empty one. */
static char *
fmt_array(const json_t *v)
{
	size_t i, len = 0, n;
	char *out = NULL, *el = NULL, *grown;

	if (json_array_size(v) == 0)
		return strdup("-");
	for (i = 0; i < json_array_size(v); i++) {
		el = fmt_value(json_array_get(v, i));
		if (el == NULL)
			goto fail;
		n = strlen(el);
		grown = realloc(out, len + n + 3);
		if (grown == NULL)
			goto fail;
		out = grown;
		if (i > 0) {
			memcpy(out + len, ", ", 2);
			len += 2;
		}
		memcpy(out + len, el, n + 1);
		len += n;
		free(el);
		el = NULL;
	}
	return out;

fail:
	free(el);
	free(out);
	return NULL;
}

/*
 * Format any JSON value for a person. Returns a new string that the caller
 * frees, or NULL when out of memory. A NULL v (a missing key) gives "-".
 */
static char *
fmt_value(const json_t *v)
{
	char *dump, *s;

	switch (v == NULL ? JSON_NULL : json_typeof(v)) {
	case JSON_STRING: return ctl_sanitize(json_string_value(v));
	case JSON_INTEGER:
		return ctl_strf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL: return ctl_strf("%g", json_real_value(v));
	case JSON_TRUE: return strdup("yes");
	case JSON_FALSE: return strdup("no");
	case JSON_ARRAY: return fmt_array(v);
	case JSON_OBJECT:
		dump = json_dumps(v, JSON_COMPACT);
		if (dump == NULL)
			return NULL;
		s = ctl_sanitize(dump);
		free(dump);
		return s;
	case JSON_NULL:
	default: return strdup("-");
	}
}

/* Seconds as "3d04h", "2h05m", "4m07s" or "7s"; other values as they are. */
static char *
fmt_duration(const json_t *v)
{
	long long s;

	if (!json_is_number(v) || json_number_value(v) < 0)
		return fmt_value(v);
	s = json_is_integer(v) ? json_integer_value(v)
			       : (long long)json_real_value(v);
	if (s >= 86400)
		return ctl_strf("%lldd%02lldh", s / 86400, s % 86400 / 3600);
	if (s >= 3600)
		return ctl_strf("%lldh%02lldm", s / 3600, s % 3600 / 60);
	if (s >= 60)
		return ctl_strf("%lldm%02llds", s / 60, s % 60);
	return ctl_strf("%llds", s);
}

/*
 * A Unix time as "2024-05-01 12:00:00 UTC". docs/control.md does not say
 * whether times are seconds or milliseconds, so a number too large to be
 * seconds in this era is read as milliseconds. Strings (an ISO date the
 * daemon formatted itself) and other values are shown as they are.
 */
static char *
fmt_time(const json_t *v)
{
	char buf[64];
	long long t;
	time_t tt;
	struct tm tm;

	if (!json_is_number(v) || json_number_value(v) < 0)
		return fmt_value(v);
	t = json_is_integer(v) ? json_integer_value(v)
			       : (long long)json_real_value(v);
	if (t > MS_THRESHOLD)
		t /= 1000;
	tt = (time_t)t;
	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		return fmt_value(v);
	return strdup(buf);
}

static char *
fmt_as(const json_t *v, enum fmt fmt)
{
	switch (fmt) {
	case FMT_DURATION: return fmt_duration(v);
	case FMT_TIME: return fmt_time(v);
	case FMT_VALUE:
	default: return fmt_value(v);
	}
}

/* "1 worker", "3 workers", "- workers" when the count is missing. */
static char *
fmt_count(const json_t *v, const char *noun)
{
	char *n, *s;

	n = fmt_value(v);
	if (n == NULL)
		return NULL;
	s = ctl_strf("%s %s%s", n, noun,
		     json_is_integer(v) && json_integer_value(v) == 1 ? ""
								      : "s");
	free(n);
	return s;
}

/*
 * Add the line "label:  value" to a key/value table, or, for a non-empty
 * object, one line per member with dotted labels ("closed.4001:  3"), so
 * nested counters print flat.
 */
static int
put_flat(struct ctl_table *t, const char *label, const json_t *v)
{
	const char *key;
	const json_t *member;
	char *sub;
	int rv;

	if (json_is_object(v) && json_object_size(v) > 0) {
		json_object_foreach ((json_t *)v, key, member) {
			sub = ctl_strf("%s.%s", label, key);
			if (sub == NULL)
				return CTL_ENOMEM;
			rv = put_flat(t, sub, member);
			free(sub);
			if (rv != 0)
				return rv;
		}
		return 0;
	}
	if (ctl_table_put(t, ctl_strf("%s:", label)) != 0 ||
	    ctl_table_put(t, fmt_value(v)) != 0)
		return CTL_ENOMEM;
	return 0;
}

static int
is_known(const char *key, const struct field *fields, size_t n)
{
	size_t i;

	if (strcmp(key, "ok") == 0)
		return 1;
	for (i = 0; i < n; i++)
		if (strcmp(key, fields[i].key) == 0)
			return 1;
	return 0;
}

/*
 * Print obj as a "key:  value" block: the listed fields first, in order,
 * skipping those that are missing, then every other member except "ok".
 * Prints nothing when there is nothing to print, and returns the number of
 * lines printed through *lines when lines is not NULL.
 */
static int
print_fields(const json_t *obj, const struct field *fields, size_t n,
	     size_t *lines)
{
	struct ctl_table *t;
	const json_t *v;
	const char *key;
	size_t i;
	int rv = CTL_ENOMEM;

	t = ctl_table_create(2, NULL);
	if (t == NULL)
		return CTL_ENOMEM;
	for (i = 0; i < n; i++) {
		v = json_object_get(obj, fields[i].key);
		if (v == NULL)
			continue;
		if (ctl_table_put(t, ctl_strf("%s:", fields[i].label)) != 0 ||
		    ctl_table_put(t, fmt_as(v, fields[i].fmt)) != 0)
			goto fail;
	}
	json_object_foreach ((json_t *)obj, key, v) {
		if (!is_known(key, fields, n) && put_flat(t, key, v) != 0)
			goto fail;
	}
	ctl_table_print(t);
	if (lines != NULL)
		*lines = ctl_table_rows(t);
	rv = 0;

fail:
	ctl_table_destroy(t);
	return rv;
}

/*
 * Print an array of objects as a table with the given columns, or "no
 * NOUN" when it is empty or missing.
 */
static int
print_list(const json_t *arr, const struct column *cols, size_t ncols,
	   const char *noun)
{
	const char *headers[CTL_TABLE_MAXCOLS];
	struct ctl_table *t;
	const json_t *row;
	size_t i, c;
	int rv = CTL_ENOMEM;

	if (json_array_size(arr) == 0) {
		printf("no %s\n", noun);
		return 0;
	}
	for (c = 0; c < ncols; c++)
		headers[c] = cols[c].header;
	t = ctl_table_create(ncols, headers);
	if (t == NULL)
		return CTL_ENOMEM;
	for (i = 0; i < json_array_size(arr); i++) {
		row = json_array_get(arr, i);
		for (c = 0; c < ncols; c++)
			if (ctl_table_put(
				t, fmt_as(json_object_get(row, cols[c].key),
					  cols[c].fmt)) != 0)
				goto fail;
	}
	ctl_table_print(t);
	rv = 0;

fail:
	ctl_table_destroy(t);
	return rv;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

int
ctl_print_status(const json_t *req, const json_t *reply)
{
	static const struct field fields[] = {
	    {"version", "version", FMT_VALUE},
	    {"state", "state", FMT_VALUE},
	    {"uptime_s", "uptime", FMT_DURATION},
	    {"generation", "generation", FMT_VALUE},
	    {"workers_ready", "workers_ready", FMT_VALUE},
	    {"workers_total", "workers_total", FMT_VALUE},
	    {"connections", "connections", FMT_VALUE},
	    {"users", "users", FMT_VALUE},
	    {"rooms", "rooms", FMT_VALUE},
	    {"sessions", "detached_sessions", FMT_VALUE},
	    {"engine", "engine", FMT_VALUE},
	};
	const json_t *links = json_object_get(reply, "engine_links");
	size_t i;
	int rv;

	(void)req;
	if ((rv = print_fields(reply, fields, NELEM(fields), NULL)) != 0)
		return rv;
	/* A shared engine's links, one line each. */
	for (i = 0; json_is_array(links) && i < json_array_size(links); i++) {
		const json_t *l = json_array_get(links, i);

		printf("%-20s%s %s rtt=%" JSON_INTEGER_FORMAT
		       "us errors=%" JSON_INTEGER_FORMAT
		       " reconnects=%" JSON_INTEGER_FORMAT "\n",
		       i == 0 ? "engine_links:" : "",
		       json_string_value(json_object_get(l, "address"))
			   ? json_string_value(json_object_get(l, "address"))
			   : "?",
		       json_is_true(json_object_get(l, "up")) ? "up" : "down",
		       json_integer_value(json_object_get(l, "rtt_us")),
		       json_integer_value(json_object_get(l, "errors")),
		       json_integer_value(json_object_get(l, "reconnects")));
	}
	return 0;
}

int
ctl_print_worker(const json_t *req, const json_t *reply)
{
	(void)req;
	printf("worker %" JSON_INTEGER_FORMAT " restarting (%s)\n",
	       json_integer_value(json_object_get(reply, "id")),
	       json_string_value(json_object_get(reply, "state"))
		   ? json_string_value(json_object_get(reply, "state"))
		   : "?");
	return 0;
}

int
ctl_print_workers(const json_t *req, const json_t *reply)
{
	static const struct column cols[] = {
	    {"ID", "id", FMT_VALUE},
	    {"PID", "pid", FMT_VALUE},
	    {"GEN", "generation", FMT_VALUE},
	    {"STATE", "state", FMT_VALUE},
	    {"CONNS", "connections", FMT_VALUE},
	    {"RESTARTS", "restarts", FMT_VALUE},
	    {"DROPS", "drops", FMT_VALUE},
	    {"LAST EXIT", "last_exit", FMT_VALUE},
	    {"UPTIME", "uptime_s", FMT_DURATION},
	};

	(void)req;
	return print_list(json_object_get(reply, "workers"), cols, NELEM(cols),
			  "workers");
}

int
ctl_print_conns(const json_t *req, const json_t *reply)
{
	static const struct column cols[] = {
	    {"ID", "id", FMT_VALUE},
	    {"USER", "user", FMT_VALUE},
	    {"WORKER", "worker", FMT_VALUE},
	    {"ADDR", "addr", FMT_VALUE},
	    {"AGE", "age_s", FMT_DURATION},
	    {"IDLE", "idle_s", FMT_DURATION},
	    {"QMSGS", "queue_msgs", FMT_VALUE},
	    {"QBYTES", "queue_bytes", FMT_VALUE},
	    {"DROPS", "drops", FMT_VALUE},
	};
	const json_t *conns = json_object_get(reply, "conns");
	const json_t *total = json_object_get(reply, "total");
	size_t shown = json_array_size(conns);
	int cut, rv;

	(void)req;
	/* Say so when the limit cut the list short, even to nothing. */
	cut = json_is_integer(total) && json_integer_value(total) >= 0 &&
	      (size_t)json_integer_value(total) != shown;
	if (shown > 0 || !cut) {
		rv = print_list(conns, cols, NELEM(cols), "connections");
		if (rv != 0)
			return rv;
	}
	if (cut)
		printf("%zu of %" JSON_INTEGER_FORMAT " connections shown\n",
		       shown, json_integer_value(total));
	return 0;
}

/* top: the connections with their queue, drops, round trip, rates and
 * flow state, worst first. */
int
ctl_print_top(const json_t *req, const json_t *reply)
{
	static const struct column cols[] = {
	    {"ID", "id", FMT_VALUE},
	    {"USER", "user", FMT_VALUE},
	    {"WORKER", "worker", FMT_VALUE},
	    {"QMSGS", "queue_msgs", FMT_VALUE},
	    {"QBYTES", "queue_bytes", FMT_VALUE},
	    {"DROPS", "drops", FMT_VALUE},
	    {"RTT_MS", "rtt_ms", FMT_VALUE},
	    {"IN/S", "rate_in", FMT_VALUE},
	    {"OUT/S", "rate_out", FMT_VALUE},
	    {"FLOW", "flow", FMT_VALUE},
	};

	(void)req;
	return print_list(json_object_get(reply, "conns"), cols, NELEM(cols),
			  "connections");
}

int
ctl_print_conn(const json_t *req, const json_t *reply)
{
	static const struct field fields[] = {
	    {"id", "id", FMT_VALUE},
	    {"user", "user", FMT_VALUE},
	    {"anonymous", "anonymous", FMT_VALUE},
	    {"worker", "worker", FMT_VALUE},
	    {"addr", "addr", FMT_VALUE},
	    {"transport", "transport", FMT_VALUE},
	    {"agent", "agent", FMT_VALUE},
	    {"traceparent", "traceparent", FMT_VALUE},
	    {"connected_at", "connected_at", FMT_TIME},
	    {"last_seen", "last_seen", FMT_TIME},
	    {"age_s", "age", FMT_DURATION},
	    {"idle_s", "idle", FMT_DURATION},
	    {"session", "session", FMT_VALUE},
	    {"info", "info", FMT_VALUE},
	    {"rooms", "rooms", FMT_VALUE},
	    {"queue_msgs", "queue_msgs", FMT_VALUE},
	    {"queue_bytes", "queue_bytes", FMT_VALUE},
	    {"drops", "drops", FMT_VALUE},
	    {"msgs_in", "msgs_in", FMT_VALUE},
	    {"msgs_out", "msgs_out", FMT_VALUE},
	    {"rate_in", "rate_in", FMT_VALUE},
	    {"rate_out", "rate_out", FMT_VALUE},
	    {"rtt_ms", "rtt_ms", FMT_VALUE},
	    {"flow", "flow", FMT_VALUE},
	};

	(void)req;
	return print_fields(json_object_get(reply, "conn"), fields,
			    NELEM(fields), NULL);
}

int
ctl_print_rooms(const json_t *req, const json_t *reply)
{
	static const struct column cols[] = {
	    {"NAME", "name", FMT_VALUE},
	    {"MEMBERS", "members", FMT_VALUE},
	    {"USERS", "users", FMT_VALUE},
	    {"SEQ", "seq", FMT_VALUE},
	    {"EPOCH", "epoch", FMT_VALUE},
	    {"LOG", "log", FMT_VALUE},
	    {"LOGBYTES", "log_bytes", FMT_VALUE},
	};

	(void)req;
	return print_list(json_object_get(reply, "rooms"), cols, NELEM(cols),
			  "rooms");
}

int
ctl_print_room(const json_t *req, const json_t *reply)
{
	static const struct field fields[] = {
	    {"name", "name", FMT_VALUE},
	    {"seq", "seq", FMT_VALUE},
	    {"epoch", "epoch", FMT_VALUE},
	    {"log", "log", FMT_VALUE},
	    {"log_bytes", "log_bytes", FMT_VALUE},
	    {"members", "members", FMT_VALUE},
	    {"users", "users", FMT_VALUE},
	};

	(void)req;
	return print_fields(json_object_get(reply, "room"), fields,
			    NELEM(fields), NULL);
}

/* The reply's value for key, or the request's when the reply lacks it. */
static const json_t *
reply_or_req(const json_t *reply, const json_t *req, const char *key)
{
	const json_t *v = json_object_get(reply, key);

	return v != NULL ? v : json_object_get(req, key);
}

int
ctl_print_publish(const json_t *req, const json_t *reply)
{
	char *room = fmt_value(reply_or_req(reply, req, "room"));
	char *seq = fmt_value(json_object_get(reply, "seq"));
	char *workers = fmt_count(json_object_get(reply, "workers"), "worker");
	int rv = CTL_ENOMEM;

	if (room != NULL && seq != NULL && workers != NULL) {
		printf("published to room %s at seq %s (%s)\n", room, seq,
		       workers);
		rv = 0;
	}
	free(workers);
	free(seq);
	free(room);
	return rv;
}

int
ctl_print_send(const json_t *req, const json_t *reply)
{
	char *workers = fmt_count(json_object_get(reply, "workers"), "worker");
	char *to = NULL, *room = NULL, *seq = NULL;
	int rv = CTL_ENOMEM;

	if (workers == NULL)
		goto fail;
	if (json_object_get(req, "conn") != NULL) {
		to = fmt_value(reply_or_req(reply, req, "conn"));
		if (to == NULL)
			goto fail;
		printf("sent to connection %s (%s)\n", to, workers);
	} else {
		to = fmt_value(json_object_get(req, "user"));
		room = fmt_value(json_object_get(reply, "room"));
		seq = fmt_value(json_object_get(reply, "seq"));
		if (to == NULL || room == NULL || seq == NULL)
			goto fail;
		printf("sent to user %s in room %s at seq %s (%s)\n", to, room,
		       seq, workers);
	}
	rv = 0;

fail:
	free(seq);
	free(room);
	free(to);
	free(workers);
	return rv;
}

int
ctl_print_broadcast(const json_t *req, const json_t *reply)
{
	char *seq = fmt_value(json_object_get(reply, "seq"));
	char *workers = fmt_count(json_object_get(reply, "workers"), "worker");
	int rv = CTL_ENOMEM;

	(void)req;
	if (seq != NULL && workers != NULL) {
		printf("broadcast at seq %s (%s)\n", seq, workers);
		rv = 0;
	}
	free(workers);
	free(seq);
	return rv;
}

int
ctl_print_kick(const json_t *req, const json_t *reply)
{
	char *kicked =
	    fmt_count(json_object_get(reply, "kicked"), "connection");

	(void)req;
	if (kicked == NULL)
		return CTL_ENOMEM;
	printf("kicked %s\n", kicked);
	free(kicked);
	if (json_is_integer(json_object_get(reply, "revoked"))) {
		char *revoked =
		    fmt_count(json_object_get(reply, "revoked"), "session");

		if (revoked == NULL)
			return CTL_ENOMEM;
		printf("revoked %s\n", revoked);
		free(revoked);
	}
	return 0;
}

int
ctl_print_sessions(const json_t *req, const json_t *reply)
{
	static const struct column cols[] = {
	    {"SESSION", "session", FMT_VALUE},
	    {"USER", "user", FMT_VALUE},
	    {"CONNECTED", "connected", FMT_VALUE},
	    {"CONN", "conn", FMT_VALUE},
	    {"AGE", "age_s", FMT_DURATION},
	    {"EXPIRES", "expires_s", FMT_DURATION},
	    {"ROOMS", "rooms", FMT_VALUE},
	};

	(void)req;
	return print_list(json_object_get(reply, "sessions"), cols, NELEM(cols),
			  "sessions");
}

int
ctl_print_nodes(const json_t *req, const json_t *reply)
{
	static const struct column cols[] = {
	    {"NODE", "id", FMT_VALUE},
	    {"ADDRESS", "address", FMT_VALUE},
	    {"CONNS", "connections", FMT_VALUE},
	    {"USERS", "users", FMT_VALUE},
	    {"ROOMS", "rooms", FMT_VALUE},
	    {"INSTANCE", "instance", FMT_VALUE},
	};

	(void)req;
	return print_list(json_object_get(reply, "nodes"), cols, NELEM(cols),
			  "nodes");
}

/* reload: the generation, then each change and how it was applied
 * (live, rolled, or refused with the reason). */
int
ctl_print_reload(const json_t *req, const json_t *reply)
{
	const json_t *changes = json_object_get(reply, "changes");
	const json_t *gen = json_object_get(reply, "generation");
	size_t i;

	(void)req;
	printf("configuration reloaded: generation %lld\n",
	       json_is_integer(gen) ? (long long)json_integer_value(gen) : 0);
	if (!json_is_array(changes) || json_array_size(changes) == 0) {
		printf("  nothing changed\n");
		return 0;
	}
	for (i = 0; i < json_array_size(changes); i++) {
		const char *line =
		    json_string_value(json_array_get(changes, i));

		if (line != NULL)
			printf("  %s\n", line);
	}
	return 0;
}

/* drain has no reply keys: a confirmation and whatever the daemon said. */

int
ctl_print_drain(const json_t *req, const json_t *reply)
{
	(void)req;
	printf("draining\n");
	return print_fields(reply, NULL, 0, NULL);
}

int
ctl_print_stats(const json_t *req, const json_t *reply)
{
	size_t lines = 0;
	int rv;

	(void)req;
	rv = print_fields(reply, NULL, 0, &lines);
	if (rv == 0 && lines == 0)
		printf("no counters\n");
	return rv;
}

/* The token alone on its line, so that $(wsctl token ...) is the token. */
int
ctl_print_token(const json_t *req, const json_t *reply)
{
	const char *tok = json_string_value(json_object_get(reply, "token"));

	(void)req;
	printf("%s\n", tok != NULL ? tok : "-");
	return 0;
}

int
ctl_print_checktoken(const json_t *req, const json_t *reply)
{
	static const struct field fields[] = {
	    {"user", "user", FMT_VALUE},   {"kid", "kid", FMT_VALUE},
	    {"alg", "alg", FMT_VALUE},	   {"exp", "expires", FMT_TIME},
	    {"rooms", "rooms", FMT_VALUE}, {"info", "info", FMT_VALUE},
	};

	(void)req;
	printf("token accepted\n");
	return print_fields(reply, fields, NELEM(fields), NULL);
}
