/*
 * wsctl, the operator's command-line client for wsd (docs/wsctl.md,
 * docs/control.md, docs/wsctl.md). This file reads the command line, checks
 * it against one table of commands, builds the JSON request, hands it to
 * ctl_client.c and prints the reply, either as the daemon sent it (--json)
 * or through the human printers of ctl_print.c. Options may come before or
 * after the command; "--" ends them, for DATA that starts with a dash.
 *
 * Exit status: 0 done, 1 refused by the daemon, 2 usage error, 3 daemon not
 * reachable (enum ctl_exit).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "wsctl.h"
#include "../proto/version.h"

/* The control socket of the default config, and the variable that moves it. */
#define CTL_DEFAULT_SOCKET "/tmp/wsd/wsctl.sock"
#define CTL_SOCKET_ENV "WSD_CONTROL"

/* Connection ids are integers below 2^53 (docs/control.md). */
#define CTL_ID_MAX ((1LL << 53) - 1)

/* What an argument must look like, and how it goes into the request. */
enum arg_type {
	ARG_STRING, /* a UTF-8 string */
	ARG_ID,	    /* a connection id, 0 to 2^53 - 1 */
	ARG_COUNT,  /* a non-negative integer */
	ARG_DATA,   /* JSON if it parses as JSON, else a string */
	ARG_FILE,   /* a path, used locally and not put in the request */
	ARG_FLAG,   /* an option without a value: true */
	ARG_LIST,   /* "a,b,c": a list of strings ("" is the empty list) */
	ARG_JSON,   /* a JSON value, which must parse */
};

/* The per-command options; each takes a value. */
enum opt {
	OPT_USER,
	OPT_ROOM,
	OPT_WORKER,
	OPT_LIMIT,
	OPT_CONN,
	OPT_EXCLUDE,
	OPT_CODE,
	OPT_REASON,
	OPT_TIMEOUT,
	OPT_REVOKE,
	OPT_TTL,
	OPT_ROOMS,
	OPT_INFO,
	OPT_BY,
	OPT_KEY,
	OPT_TRACE,
	OPT_COUNT
};

#define OPT(o) (1u << (o))

/*
 * Each option's name on the command line is also its key in the request,
 * so `--user bob` becomes "user":"bob".
 */
static const struct {
	const char *name;
	enum arg_type type;
} opts[OPT_COUNT] = {
    [OPT_USER] = {"user", ARG_STRING},
    [OPT_ROOM] = {"room", ARG_STRING},
    [OPT_WORKER] = {"worker", ARG_COUNT},
    [OPT_LIMIT] = {"limit", ARG_COUNT},
    [OPT_CONN] = {"conn", ARG_ID},
    [OPT_EXCLUDE] = {"exclude", ARG_ID},
    [OPT_CODE] = {"code", ARG_COUNT},
    [OPT_REASON] = {"reason", ARG_STRING},
    [OPT_TIMEOUT] = {"timeout", ARG_COUNT},
    [OPT_REVOKE] = {"revoke", ARG_FLAG},
    [OPT_TTL] = {"ttl", ARG_COUNT},
    [OPT_BY] = {"by", ARG_STRING},
    [OPT_ROOMS] = {"rooms", ARG_LIST},
    [OPT_INFO] = {"info", ARG_JSON},
    [OPT_KEY] = {"key", ARG_STRING},
    [OPT_TRACE] = {"trace", ARG_STRING},
};

/* A positional argument of a command: its request key and type. */
struct pos_arg {
	const char *key;
	enum arg_type type;
};

#define CTL_MAX_POS 2

struct command {
	const char *name;
	unsigned opts;	 /* OPT() bits of the options it accepts */
	unsigned one_of; /* exactly one of these options must be given */
	struct pos_arg pos[CTL_MAX_POS];
	ctl_print_fn print;   /* NULL for checkconfig, which stays local */
	const char *synopsis; /* for the usage text */
	const char *about;
};

static const struct command commands[] = {
    {
	.name = "status",
	.print = ctl_print_status,
	.synopsis = "status",
	.about = "daemon state, uptime and counts",
    },
    {
	.name = "workers",
	.print = ctl_print_workers,
	.synopsis = "workers",
	.about = "the worker processes",
    },
    {
	.name = "worker",
	.pos = {{"action", ARG_STRING}, {"id", ARG_ID}},
	.print = ctl_print_worker,
	.synopsis = "worker restart ID",
	.about = "restart a worker slot, also one marked failed",
    },
    {
	.name = "conns",
	.opts =
	    OPT(OPT_USER) | OPT(OPT_ROOM) | OPT(OPT_WORKER) | OPT(OPT_LIMIT),
	.print = ctl_print_conns,
	.synopsis = "conns [--user U] [--room R] [--worker N] [--limit N]",
	.about = "connections, newest last",
    },
    {
	.name = "top",
	.opts = OPT(OPT_BY) | OPT(OPT_LIMIT),
	.print = ctl_print_top,
	.synopsis = "top [--by queue|drops|rtt|rate] [--limit N]",
	.about = "the worst connections first",
    },
    {
	.name = "conn",
	.pos = {{"id", ARG_ID}},
	.print = ctl_print_conn,
	.synopsis = "conn ID",
	.about = "everything known about one connection",
    },
    {
	.name = "rooms",
	.print = ctl_print_rooms,
	.synopsis = "rooms",
	.about = "rooms with members, seq and replay log size",
    },
    {
	.name = "room",
	.pos = {{"name", ARG_STRING}},
	.print = ctl_print_room,
	.synopsis = "room NAME",
	.about = "one room and its members",
    },
    {
	.name = "publish",
	.opts = OPT(OPT_KEY) | OPT(OPT_TRACE),
	.pos = {{"room", ARG_STRING}, {"data", ARG_DATA}},
	.print = ctl_print_publish,
	.synopsis = "publish ROOM DATA [--key K] [--trace TRACEPARENT]",
	.about = "publish to a room as the server",
    },
    {
	.name = "send",
	.opts = OPT(OPT_USER) | OPT(OPT_CONN) | OPT(OPT_TRACE),
	.one_of = OPT(OPT_USER) | OPT(OPT_CONN),
	.pos = {{"data", ARG_DATA}},
	.print = ctl_print_send,
	.synopsis = "send (--user U | --conn ID) DATA [--trace TRACEPARENT]",
	.about = "deliver to a user's connections, or to one",
    },
    {
	.name = "broadcast",
	.opts = OPT(OPT_EXCLUDE) | OPT(OPT_TRACE),
	.pos = {{"data", ARG_DATA}},
	.print = ctl_print_broadcast,
	.synopsis = "broadcast DATA [--exclude CONN] [--trace TRACEPARENT]",
	.about = "deliver to every connection",
    },
    {
	.name = "kick",
	.opts = OPT(OPT_CONN) | OPT(OPT_USER) | OPT(OPT_CODE) |
		OPT(OPT_REASON) | OPT(OPT_REVOKE),
	.one_of = OPT(OPT_CONN) | OPT(OPT_USER),
	.print = ctl_print_kick,
	.synopsis = "kick (--conn ID | --user U [--revoke]) [--code N] "
		    "[--reason TEXT]",
	.about = "close connections (default code 4003); --revoke also "
		 "spends the user's sessions",
    },
    {
	.name = "sessions",
	.opts = OPT(OPT_USER) | OPT(OPT_LIMIT),
	.print = ctl_print_sessions,
	.synopsis = "sessions [--user U] [--limit N]",
	.about = "sessions, connected or waiting to be resumed",
    },
    {
	.name = "nodes",
	.print = ctl_print_nodes,
	.synopsis = "nodes",
	.about = "with engine redis: the live nodes and their counts",
    },
    {
	.name = "reload",
	.print = ctl_print_reload,
	.synopsis = "reload",
	.about = "reload the config, as SIGHUP does",
    },
    {
	.name = "drain",
	.opts = OPT(OPT_TIMEOUT),
	.print = ctl_print_drain,
	.synopsis = "drain [--timeout S]",
	.about = "drain and exit, as SIGTERM does",
    },
    {
	.name = "stats",
	.print = ctl_print_stats,
	.synopsis = "stats",
	.about = "counters",
    },
    {
	.name = "token",
	.opts = OPT(OPT_USER) | OPT(OPT_TTL) | OPT(OPT_ROOMS) | OPT(OPT_INFO),
	.one_of = OPT(OPT_USER),
	.print = ctl_print_token,
	.synopsis = "token --user U [--ttl S] [--rooms P,...] [--info JSON]",
	.about = "a client JWT signed by the daemon (ttl 3600 s)",
    },
    {
	.name = "checktoken",
	.pos = {{"token", ARG_STRING}},
	.print = ctl_print_checktoken,
	.synopsis = "checktoken TOKEN",
	.about = "would the daemon accept this token, and why not",
    },
    {
	.name = "checkconfig",
	.pos = {{"file", ARG_FILE}},
	.synopsis = "checkconfig FILE",
	.about = "check a config file (runs wsd -t)",
    },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Synopses longer than this get their description on the next line. */
#define SYNOPSIS_WIDTH 32

static void
print_usage(FILE *f)
{
	size_t i;

	fputs("usage: wsctl [-s CONTROL_SOCKET] [--json] COMMAND [ARGS]\n\n"
	      "commands:\n",
	      f);
	for (i = 0; i < NCOMMANDS; i++) {
		if (strlen(commands[i].synopsis) < SYNOPSIS_WIDTH)
			fprintf(f, "  %-*s%s\n", SYNOPSIS_WIDTH,
				commands[i].synopsis, commands[i].about);
		else
			fprintf(f, "  %s\n  %-*s%s\n", commands[i].synopsis,
				SYNOPSIS_WIDTH, "", commands[i].about);
	}
	fprintf(f, "  %-*s%s\n", SYNOPSIS_WIDTH, "help", "this text");
	fputs(
	    "\noptions:\n"
	    "  -s PATH   control socket (default $" CTL_SOCKET_ENV
	    " or " CTL_DEFAULT_SOCKET ")\n"
	    "  --json    print the daemon's reply as one line of JSON\n"
	    "  -V        the versions of wsctl and its libraries (--version)\n"
	    "  --        end of options, for DATA that starts with '-'\n"
	    "\n"
	    "DATA is sent as JSON when it parses as JSON, else as a string.\n"
	    "Exit status: 0 done, 1 refused, 2 usage error, "
	    "3 daemon not reachable.\n",
	    f);
}

/* The command line once read, before it is checked against a command. */
struct cmdline {
	const char *socket;
	int json;
	int help;
	int version;
	const char *opt_val[OPT_COUNT];
	const char *pos[CTL_MAX_POS + 1]; /* the command name, then its args */
	int npos;
	int extra; /* positional arguments beyond what pos holds */
};

/*
 * Report a usage error on stderr, followed by the usage of cmd, or by the
 * whole usage text when the command is not known yet. Returns the exit
 * status for a usage error.
 */
static int __attribute__((format(printf, 2, 3)))
usage_error(const struct command *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("wsctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd != NULL) {
		fprintf(stderr,
			"\nusage: wsctl [-s CONTROL_SOCKET] [--json] %s\n"
			"Run 'wsctl help' for every command.\n",
			cmd->synopsis);
	} else {
		fputs("\n\n", stderr);
		print_usage(stderr);
	}
	return CTL_EXIT_USAGE;
}

/* The option called name (without dashes), or OPT_COUNT if there is none. */
static enum opt
find_opt(const char *name, size_t len)
{
	int o;

	for (o = 0; o < OPT_COUNT; o++)
		if (strlen(opts[o].name) == len &&
		    strncmp(opts[o].name, name, len) == 0)
			return (enum opt)o;
	return OPT_COUNT;
}

/*
 * Sort argv into global options, command options and positional arguments.
 * The strings stay in argv; cl only points at them. Returns 0, or
 * CTL_EXIT_USAGE having said why.
 */
static int
read_cmdline(int argc, char **argv, struct cmdline *cl)
{
	const char *arg, *eq;
	enum opt o;
	int i, end_of_opts = 0;

	memset(cl, 0, sizeof(*cl));
	for (i = 1; i < argc; i++) {
		arg = argv[i];
		/*
		 * A lone "-" and negative numbers ("-5" as DATA) are arguments,
		 * not options: no option starts with a digit.
		 */
		if (end_of_opts || arg[0] != '-' || arg[1] == '\0' ||
		    (arg[1] >= '0' && arg[1] <= '9')) {
			if (cl->npos < CTL_MAX_POS + 1)
				cl->pos[cl->npos++] = arg;
			else
				cl->extra++;
		} else if (strcmp(arg, "--") == 0) {
			end_of_opts = 1;
		} else if (strcmp(arg, "--json") == 0) {
			cl->json = 1;
		} else if (strcmp(arg, "--version") == 0 ||
			   strcmp(arg, "-V") == 0) {
			cl->version = 1;
		} else if (strcmp(arg, "-h") == 0 ||
			   strcmp(arg, "--help") == 0) {
			cl->help = 1;
		} else if (strcmp(arg, "-s") == 0) {
			if (cl->socket != NULL)
				return usage_error(NULL, "-s given twice");
			if (i + 1 == argc || argv[i + 1][0] == '\0')
				return usage_error(NULL,
						   "-s needs a socket path");
			cl->socket = argv[++i];
		} else if (arg[1] == '-') {
			eq = strchr(arg + 2, '=');
			o = find_opt(arg + 2, eq != NULL
						  ? (size_t)(eq - arg - 2)
						  : strlen(arg + 2));
			if (o == OPT_COUNT)
				return usage_error(NULL, "unknown option %s",
						   arg);
			if (cl->opt_val[o] != NULL)
				return usage_error(NULL, "--%s given twice",
						   opts[o].name);
			if (opts[o].type == ARG_FLAG && eq == NULL)
				cl->opt_val[o] = "true";
			else if (eq != NULL)
				cl->opt_val[o] = eq + 1;
			else if (i + 1 < argc)
				cl->opt_val[o] = argv[++i];
			else
				return usage_error(NULL, "--%s needs a value",
						   opts[o].name);
		} else {
			return usage_error(NULL, "unknown option %s", arg);
		}
	}
	return 0;
}

/*
 * Parse s as a decimal integer in [min, max], the whole string and nothing
 * else. Returns 0 and sets *out, or -1.
 */
static int
parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (*s == '\0' || (*s != '-' && *s != '+' && (*s < '0' || *s > '9')))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/*
 * "a,b,c" as the JSON list ["a","b","c"]; "" is the empty list. Returns a
 * new reference, or NULL having reported a usage error (an empty element,
 * bad UTF-8) or a failed allocation and set *status.
 */
static json_t *
list_value(const struct command *cmd, const char *what, const char *s,
	   int *status)
{
	json_t *v = json_array(), *e;
	const char *p = s, *comma;

	if (v == NULL)
		goto nomem;
	while (*s != '\0') {
		comma = strchr(p, ',');
		if (comma == NULL)
			comma = p + strlen(p);
		if (comma == p) {
			json_decref(v);
			*status =
			    usage_error(cmd, "%s has an empty element", what);
			return NULL;
		}
		e = json_stringn(p, (size_t)(comma - p));
		if (e == NULL) {
			json_decref(v);
			*status =
			    usage_error(cmd, "%s is not valid UTF-8", what);
			return NULL;
		}
		if (json_array_append_new(v, e) != 0)
			goto nomem;
		if (*comma == '\0')
			break;
		p = comma + 1;
	}
	return v;
nomem:
	json_decref(v);
	fputs("wsctl: out of memory\n", stderr);
	*status = CTL_EXIT_REFUSED;
	return NULL;
}

/*
 * Turn one argument of cmd into the JSON value the request carries. what
 * names the argument in error messages. Returns a new reference, or NULL
 * having reported a usage error or a failed allocation and set *status.
 */
static json_t *
arg_value(const struct command *cmd, const char *what, const char *s,
	  enum arg_type type, int *status)
{
	json_t *v = NULL;
	long long n;

	switch (type) {
	case ARG_ID:
		if (parse_int(s, 0, CTL_ID_MAX, &n) != 0) {
			*status = usage_error(
			    cmd,
			    "%s must be a connection id (an integer "
			    "from 0 to 2^53-1), not '%s'",
			    what, s);
			return NULL;
		}
		v = json_integer(n);
		break;
	case ARG_FLAG:
		if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0) {
			*status = usage_error(cmd,
					      "%s takes no value, or true "
					      "or false",
					      what);
			return NULL;
		}
		v = json_boolean(strcmp(s, "true") == 0);
		break;
	case ARG_COUNT:
		if (parse_int(s, 0, LLONG_MAX, &n) != 0) {
			*status = usage_error(
			    cmd, "%s must be a non-negative integer, not '%s'",
			    what, s);
			return NULL;
		}
		v = json_integer(n);
		break;
	case ARG_DATA:
		/*
		 * Anything that parses as JSON is sent as that value, so `42`,
		 * `true` and `{"a":1}` keep their types, and anything else,
		 * such as `hello`, is sent as a string. To send the string
		 * "42", quote it for JSON: '"42"'.
		 */
		v = json_loads(s, JSON_DECODE_ANY, NULL);
		if (v == NULL)
			v = json_string(s);
		if (v == NULL) {
			*status =
			    usage_error(cmd, "%s is not valid UTF-8", what);
			return NULL;
		}
		break;
	case ARG_LIST:
		v = list_value(cmd, what, s, status);
		if (v == NULL)
			return NULL;
		break;
	case ARG_JSON:
		v = json_loads(s, JSON_DECODE_ANY, NULL);
		if (v == NULL) {
			*status = usage_error(cmd, "%s must be JSON, not '%s'",
					      what, s);
			return NULL;
		}
		break;
	case ARG_STRING:
		v = json_string(s);
		if (v == NULL) {
			*status =
			    usage_error(cmd, "%s is not valid UTF-8", what);
			return NULL;
		}
		break;
	case ARG_FILE:
	default:
		/* Files are not sent: build_request never asks for their value.
		 */
		break;
	}
	if (v == NULL) {
		fputs("wsctl: out of memory\n", stderr);
		*status = CTL_EXIT_REFUSED;
	}
	return v;
}

/* "--user or --conn" for a mask of options, written into buf. */
static const char *
one_of_text(unsigned mask, char *buf, size_t size)
{
	size_t len = 0;
	int o;

	buf[0] = '\0';
	for (o = 0; o < OPT_COUNT; o++) {
		if (!(mask & OPT(o)) || len >= size)
			continue;
		len += (size_t)snprintf(buf + len, size - len, "%s--%s",
					len > 0 ? " or " : "", opts[o].name);
	}
	return buf;
}

/*
 * Check the command line against cmd and build its request into *reqp, a
 * new object the caller owns. Returns CTL_EXIT_OK, or another exit status
 * having reported why.
 */
static int
build_request(const struct command *cmd, const struct cmdline *cl,
	      json_t **reqp)
{
	json_t *req = NULL, *v;
	char what[32];
	int o, i, nargs, status = CTL_EXIT_REFUSED;
	unsigned given = 0, chosen;

	for (o = 0; o < OPT_COUNT; o++) {
		if (cl->opt_val[o] == NULL)
			continue;
		if (!(cmd->opts & OPT(o)))
			return usage_error(cmd, "%s does not take --%s",
					   cmd->name, opts[o].name);
		given |= OPT(o);
	}
	chosen = given & cmd->one_of;
	if (cmd->one_of != 0 && (chosen == 0 || (chosen & (chosen - 1)) != 0))
		return usage_error(
		    cmd, "%s needs exactly one of %s", cmd->name,
		    one_of_text(cmd->one_of, what, sizeof(what)));
	for (nargs = 0; nargs < CTL_MAX_POS && cmd->pos[nargs].key != NULL;
	     nargs++)
		;
	if (cl->npos - 1 + cl->extra != nargs)
		return usage_error(cmd, "%s takes %d argument%s, not %d",
				   cmd->name, nargs, nargs == 1 ? "" : "s",
				   cl->npos - 1 + cl->extra);

	req = json_object();
	if (req == NULL ||
	    json_object_set_new(req, "cmd", json_string(cmd->name)))
		goto nomem;
	for (i = 0; i < nargs; i++) {
		if (cmd->pos[i].type == ARG_FILE)
			continue;
		v = arg_value(cmd, cmd->pos[i].key, cl->pos[i + 1],
			      cmd->pos[i].type, &status);
		if (v == NULL)
			goto fail;
		if (json_object_set_new(req, cmd->pos[i].key, v) != 0)
			goto nomem;
	}
	for (o = 0; o < OPT_COUNT; o++) {
		if (cl->opt_val[o] == NULL)
			continue;
		snprintf(what, sizeof(what), "--%s", opts[o].name);
		v = arg_value(cmd, what, cl->opt_val[o], opts[o].type, &status);
		if (v == NULL)
			goto fail;
		if (json_object_set_new(req, opts[o].name, v) != 0)
			goto nomem;
	}
	*reqp = req;
	return CTL_EXIT_OK;

nomem:
	fputs("wsctl: out of memory\n", stderr);
	status = CTL_EXIT_REFUSED;
fail:
	json_decref(req);
	return status;
}

/*
 * The nng URL of the control socket: -s, else $WSD_CONTROL when set and not
 * empty, else the default. Returns a new string that the caller frees, or
 * NULL when out of memory.
 */
static char *
socket_url(const char *opt)
{
	const char *path = opt;

	if (path == NULL)
		path = getenv(CTL_SOCKET_ENV);
	if (path == NULL || *path == '\0')
		path = CTL_DEFAULT_SOCKET;
	/* A full nng URL is taken as it is; a path gets the ipc:// scheme. */
	if (strstr(path, "://") != NULL)
		return strdup(path);
	return ctl_strf("ipc://%s", path);
}

/*
 * With --json, a failure on this side still gives scripts one JSON
 * document on stdout, shaped like the daemon's refusals.
 */
static void
print_local_error(const char *why)
{
	json_t *res;
	char *line = NULL;

	res = json_pack("{s:b, s:s}", "ok", 0, "error", why);
	if (res != NULL)
		line = json_dumps(res, JSON_COMPACT);
	if (line != NULL)
		printf("%s\n", line);
	free(line);
	json_decref(res);
}

/*
 * Send the request and show the reply. Returns the exit status: 0 when the
 * daemon said ok:true, 1 when it said ok:false, 3 when it could not be
 * reached or its reply lacks a boolean "ok".
 */
static int
run_remote(const struct command *cmd, const json_t *req, const char *url,
	   int json)
{
	json_t *reply = NULL, *ok;
	const char *err;
	char *line = NULL, *msg = NULL;
	char why[CTL_ERRLEN];
	int rv, status;

	rv = ctl_client_call(url, req, &reply, why, sizeof(why));
	if (rv != 0) {
		fprintf(stderr, "wsctl: %s\n", why);
		if (json)
			print_local_error(why);
		return rv == CTL_ENOMEM ? CTL_EXIT_REFUSED
					: CTL_EXIT_UNREACHABLE;
	}

	ok = json_object_get(reply, "ok");
	if (json) {
		line = json_dumps(reply, JSON_COMPACT);
		if (line == NULL) {
			fputs("wsctl: out of memory\n", stderr);
			status = CTL_EXIT_REFUSED;
			goto done;
		}
		printf("%s\n", line);
	}
	if (!json_is_boolean(ok)) {
		fprintf(stderr,
			"wsctl: the reply from %s has no \"ok\" boolean\n",
			url);
		status = CTL_EXIT_UNREACHABLE;
		goto done;
	}
	if (json_is_false(ok)) {
		err = json_string_value(json_object_get(reply, "error"));
		msg = ctl_sanitize(err != NULL ? err
					       : "the daemon refused the "
						 "request without a reason");
		fprintf(stderr, "wsctl: %s\n", msg != NULL ? msg : "refused");
		status = CTL_EXIT_REFUSED;
		goto done;
	}
	status = CTL_EXIT_OK;
	if (!json && cmd->print(req, reply) != 0) {
		fputs("wsctl: out of memory\n", stderr);
		status = CTL_EXIT_REFUSED;
	}

done:
	free(msg);
	free(line);
	json_decref(reply);
	return status;
}

int
main(int argc, char **argv)
{
	struct cmdline cl;
	const struct command *cmd = NULL;
	json_t *req = NULL;
	char *url = NULL;
	size_t i;
	int status;

	status = read_cmdline(argc, argv, &cl);
	if (status != 0)
		return status;
	if (cl.version)
		return proto_version_print(stdout, "wsctl") == 0
			   ? CTL_EXIT_OK
			   : CTL_EXIT_REFUSED;
	/* help is not in the table: it needs no checking and no daemon. */
	if (cl.help || (cl.npos > 0 && strcmp(cl.pos[0], "help") == 0)) {
		print_usage(stdout);
		return CTL_EXIT_OK;
	}
	if (cl.npos == 0)
		return usage_error(NULL, "no command given");
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, cl.pos[0]) == 0)
			cmd = &commands[i];
	if (cmd == NULL)
		return usage_error(NULL, "unknown command '%s'", cl.pos[0]);

	status = build_request(cmd, &cl, &req);
	if (status != CTL_EXIT_OK)
		return status;

	if (cmd->print == NULL) {
		/* checkconfig is the only other command left at this point. */
		status = ctl_checkconfig_run(cl.pos[1], cl.json);
		goto done;
	}

	url = socket_url(cl.socket);
	if (url == NULL) {
		fputs("wsctl: out of memory\n", stderr);
		status = CTL_EXIT_REFUSED;
		goto done;
	}
	status = run_remote(cmd, req, url, cl.json);
	/* Release nng's global state too, so leak checkers see a clean exit. */
	nng_fini();

done:
	free(url);
	json_decref(req);
	/* Output that never reached its destination is a failure too. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fputs("wsctl: error writing the output\n", stderr);
		if (status == CTL_EXIT_OK)
			status = CTL_EXIT_REFUSED;
	}
	return status;
}
