/*
 * Declarations shared by the files of wsctl, the command-line client of
 * wsd's control socket. wsctl.c parses the command line and builds the
 * request, ctl_client.c carries it over nng to the supervisor, ctl_print.c
 * turns the reply into text for a person with the tables of ctl_table.c,
 * and ctl_checkconfig.c runs `wsd -t` for the one command that never
 * reaches the daemon. The exit statuses are part of the external contract
 * (docs/wsctl.md), so they live here once.
 */
#ifndef WSCTL_H
#define WSCTL_H

#include <stddef.h>

#include <jansson.h>

/* Exit statuses of wsctl, as promised to operators and scripts. */
enum ctl_exit {
	CTL_EXIT_OK = 0,      /* done */
	CTL_EXIT_REFUSED = 1, /* the daemon said ok:false, or a local failure */
	CTL_EXIT_USAGE = 2,   /* bad command line */
	CTL_EXIT_UNREACHABLE =
	    3, /* no socket, no reply in time, or no JSON object */
};

/* Return codes of the functions below: 0, or one of these. */
enum ctl_err {
	CTL_ENOMEM = -1, /* an allocation failed; nothing was done */
	CTL_EUNREACH =
	    -2, /* the daemon could not be reached or gave no object */
};

/* How long wsctl waits to send a request and to receive its reply. */
#define CTL_TIMEOUT_MS 5000

/* Room for the description of a failed call, as ctl_client_call needs. */
#define CTL_ERRLEN 256

/*
 * Send one request over the control socket at url (an nng URL such as
 * "ipc:///tmp/wsd/wsctl.sock") and wait for the reply. The request is
 * borrowed and not changed. On success, returns 0 and stores in *replyp a
 * new reference to the reply, which is always a JSON object; the caller
 * owns it and releases it with json_decref. Returns CTL_EUNREACH when the
 * socket cannot be dialled, the exchange fails or times out, or the reply
 * is not a JSON object, and CTL_ENOMEM when the request cannot be
 * encoded; in both cases *replyp is untouched and why (whylen bytes, best
 * CTL_ERRLEN) holds a sentence saying what went wrong, without "wsctl:".
 */
int ctl_client_call(const char *url, const json_t *req, json_t **replyp,
		    char *why, size_t whylen);

/*
 * A table of text cells, printed with its columns padded to the widest
 * cell and two spaces between columns. The table owns its cells.
 */
struct ctl_table;

/* The most columns a table may have. */
#define CTL_TABLE_MAXCOLS 16

/*
 * Create a table of ncols columns, 1 to CTL_TABLE_MAXCOLS. headers is NULL
 * for a table without a header row, or ncols strings that are copied.
 * Returns NULL when out of memory or when ncols is out of range.
 */
struct ctl_table *ctl_table_create(size_t ncols, const char *const *headers);

/* Free a table and every cell in it. Accepts NULL. */
void ctl_table_destroy(struct ctl_table *t);

/*
 * Append one cell, filling rows from left to right. The table takes
 * ownership of text, a malloc'd string, whether or not the call succeeds;
 * a NULL text stands for a failed allocation upstream and makes the call
 * fail, so callers can pass a formatter's result straight in. Returns 0 or
 * CTL_ENOMEM.
 */
int ctl_table_put(struct ctl_table *t, char *text);

/* Number of complete and partial rows, header not counted. */
size_t ctl_table_rows(const struct ctl_table *t);

/* Print the table to stdout; a partial last row simply ends early. */
void ctl_table_print(const struct ctl_table *t);

/*
 * Format like printf into a new string that the caller frees. Returns NULL
 * when out of memory.
 */
char *ctl_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Copy s for a terminal: control characters (C0, DEL and C1), which a
 * client could put in its user id or agent string, become '?'. s must be
 * valid UTF-8, as every jansson string is. Returns a new string that the
 * caller frees, or NULL when out of memory.
 */
char *ctl_sanitize(const char *s);

/*
 * Printers of the human output, one per command. Each takes the request
 * that was sent and the daemon's successful reply (both borrowed), writes
 * to stdout and returns 0, or CTL_ENOMEM having printed nothing or a
 * partial result.
 */
typedef int (*ctl_print_fn)(const json_t *req, const json_t *reply);

int ctl_print_status(const json_t *req, const json_t *reply);
int ctl_print_workers(const json_t *req, const json_t *reply);
int ctl_print_worker(const json_t *req, const json_t *reply);
int ctl_print_conns(const json_t *req, const json_t *reply);
int ctl_print_top(const json_t *req, const json_t *reply);
int ctl_print_conn(const json_t *req, const json_t *reply);
int ctl_print_rooms(const json_t *req, const json_t *reply);
int ctl_print_room(const json_t *req, const json_t *reply);
int ctl_print_publish(const json_t *req, const json_t *reply);
int ctl_print_send(const json_t *req, const json_t *reply);
int ctl_print_broadcast(const json_t *req, const json_t *reply);
int ctl_print_kick(const json_t *req, const json_t *reply);
int ctl_print_sessions(const json_t *req, const json_t *reply);
int ctl_print_nodes(const json_t *req, const json_t *reply);
int ctl_print_reload(const json_t *req, const json_t *reply);
int ctl_print_drain(const json_t *req, const json_t *reply);
int ctl_print_stats(const json_t *req, const json_t *reply);
int ctl_print_token(const json_t *req, const json_t *reply);
int ctl_print_checktoken(const json_t *req, const json_t *reply);

/*
 * Run `wsd -t -c file` and wait for it. The wsd binary is looked for next
 * to the running wsctl executable first, then on PATH. Without json, wsd's
 * stdout and stderr go straight to ours; with json, they are collected and
 * printed as one JSON object {"ok", "output"} (plus "error" when the check
 * failed). Returns the exit status for wsctl: CTL_EXIT_OK when wsd exited
 * with status 0, CTL_EXIT_REFUSED otherwise (including when it could not
 * be started, which is reported on stderr).
 */
int ctl_checkconfig_run(const char *file, int json);

#endif
