/*
 * sv_admin.c: the admin HTTP listener in the supervisor. It answers
 * GET / (the dashboard page, sv_dashboard.html, which reads the API of
 * the listener that served it), GET /health (200 while this loop runs),
 * GET /ready (200 while accepting with every worker ready, else 503),
 * GET /metrics (Prometheus text, written by sv_metrics.c) and
 * /api/CMD (the control commands of sv_ctl.c as JSON over HTTP: GET for
 * reads, POST with a JSON body for everything). A request with an Origin
 * header comes from another web page and is refused (the dashboard's own
 * reads are same-origin GETs, which carry none), and actions need POST with
 * Content-Type application/json, which a page cannot send to another
 * origin without asking first: so no web page in a browser on this host
 * can drive the daemon. One request per connection;
 * requests are parsed with http_parser, and the socket never blocks.
 */
#include "sv_admin.h"

#include "sv.h"

#include <ctype.h>
#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../proto/log.h"
#include "sv_ctl.h"
#include "sv_dashboard.h"
#include "sv_listen.h"
#include "sv_metrics.h"
#include "sv_query.h"

#define ADMIN_MAX_REQ 65536

struct admin_conn {
	ev_io io;
	ev_timer timer;
	http_parser parser;
	char url[256];
	size_t urllen;
	char field[32]; /* the header name being read, lower case */
	size_t fieldlen;
	int in_value;	/* the last piece was of a value: a name starts anew */
	int has_origin; /* an Origin header came */
	char ctype[64]; /* the Content-Type header, as much as fits */
	size_t ctypelen;
	char auth[512]; /* the Authorization header, "" if none or too long */
	size_t authlen;
	int auth_over; /* it was longer than auth holds */
	int json_body; /* Content-Type: application/json */
	char *body;
	size_t bodylen;
	int done;
	char *out;
	size_t outlen, outoff;
	size_t inlen;
	int waiting; /* an API call answers later */
	int gone;    /* ... to a connection closed meanwhile */
};

static int admin_fd = -1;
static ev_io admin_io;

static void
conn_free(struct ev_loop *loop, struct admin_conn *ac)
{
	ev_io_stop(loop, &ac->io);
	ev_timer_stop(loop, &ac->timer);
	close(ac->io.fd);
	free(ac->body);
	free(ac->out);
	free(ac);
}

static int
on_url(http_parser *p, const char *at, size_t len)
{
	struct admin_conn *ac = p->data;

	if (ac->urllen + len >= sizeof(ac->url))
		return -1;
	memcpy(ac->url + ac->urllen, at, len);
	ac->urllen += len;
	ac->url[ac->urllen] = '\0';
	return 0;
}

/* Appends [at, at + len) to buf (size bytes, *used of them taken),
 * keeping what fits; 1 if some did not fit. */
static int
append(char *buf, size_t size, size_t *used, const char *at, size_t len)
{
	size_t n = len < size - 1 - *used ? len : size - 1 - *used;

	memcpy(buf + *used, at, n);
	*used += n;
	buf[*used] = '\0';
	return n < len;
}

/* A header name, and its value, may come in pieces (one per read). */
static int
on_field(http_parser *p, const char *at, size_t len)
{
	struct admin_conn *ac = p->data;
	size_t i;

	if (ac->in_value) {
		ac->in_value = 0;
		ac->fieldlen = 0;
	}
	append(ac->field, sizeof(ac->field), &ac->fieldlen, at, len);
	for (i = 0; i < ac->fieldlen; i++)
		ac->field[i] = (char)tolower((unsigned char)ac->field[i]);
	return 0;
}

static int
on_value(http_parser *p, const char *at, size_t len)
{
	struct admin_conn *ac = p->data;

	ac->in_value = 1;
	if (strcmp(ac->field, "origin") == 0)
		ac->has_origin = 1;
	if (strcmp(ac->field, "content-type") == 0) {
		append(ac->ctype, sizeof(ac->ctype), &ac->ctypelen, at, len);
		ac->json_body =
		    strncasecmp(ac->ctype, "application/json", 16) == 0;
	}
	if (strcmp(ac->field, "authorization") == 0) {
		if (ac->authlen + len >= sizeof(ac->auth)) {
			ac->auth_over = 1;
		} else {
			memcpy(ac->auth + ac->authlen, at, len);
			ac->authlen += len;
			ac->auth[ac->authlen] = '\0';
		}
	}
	return 0;
}

static int
on_body(http_parser *p, const char *at, size_t len)
{
	struct admin_conn *ac = p->data;
	char *b;

	if (ac->bodylen + len > ADMIN_MAX_REQ)
		return -1;
	if ((b = realloc(ac->body, ac->bodylen + len + 1)) == NULL)
		return -1;
	memcpy(b + ac->bodylen, at, len);
	ac->body = b;
	ac->bodylen += len;
	return 0;
}

static int
on_complete(http_parser *p)
{
	((struct admin_conn *)p->data)->done = 1;
	return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_body = on_body,
    .on_message_complete = on_complete,
};

/* The response, with extra header lines (each ending in CRLF, or ""). */
static void
respond_with(struct admin_conn *ac, int status, const char *reason,
	     const char *ctype, const char *extra, const char *body)
{
	size_t blen = strlen(body);
	int n;

	n = asprintf(&ac->out,
		     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n"
		     "Cache-Control: no-store\r\n%s\r\n%s",
		     status, reason, ctype, blen, extra, body);
	if (n < 0) {
		ac->out = NULL;
		ac->outlen = 0;
		return;
	}
	ac->outlen = (size_t)n;
}

static void
respond(struct admin_conn *ac, int status, const char *reason,
	const char *ctype, const char *body)
{
	respond_with(ac, status, reason, ctype, "", body);
}

/* {"ok":false,"error":why} with status. */
static void
refuse(struct admin_conn *ac, int status, const char *reason, const char *extra,
       const char *why)
{
	json_t *o = json_pack("{s:b, s:s}", "ok", 0, "error", why);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

	respond_with(ac, status, reason, "application/json", extra,
		     text ? text : "{\"ok\":false}");
	free(text);
	json_decref(o);
}

static void
metrics(struct sv *sv, struct admin_conn *ac)
{
	char *body = sv_metrics_text(sv, NULL);

	if (body == NULL) {
		respond(ac, 500, "Internal Server Error", "text/plain", "");
		return;
	}
	respond(ac, 200, "OK", "text/plain; version=0.0.4", body);
	free(body);
}

/* 200 while accepting: not draining, ready.min_workers workers ready
 * (and at least one). The body says why not, or what is degraded. */
static void
ready(struct sv *sv, struct admin_conn *ac)
{
	uint64_t want = sv->cfg->ready_min_workers;
	int n = sv_workers_ready(sv);
	char body[128];

	if (want == 0)
		want = 1;
	if (sv->draining) {
		respond(ac, 503, "Service Unavailable", "text/plain",
			"draining\n");
		return;
	}
	if (sv_eng_links_down(&sv->eng) > 0) {
		snprintf(body, sizeof(body),
			 "engine unreachable: %d Redis link(s) down\n",
			 sv_eng_links_down(&sv->eng));
		respond(ac, 503, "Service Unavailable", "text/plain", body);
		return;
	}
	if ((uint64_t)n < want) {
		snprintf(body, sizeof(body), "%d of %llu workers ready\n", n,
			 (unsigned long long)want);
		respond(ac, 503, "Service Unavailable", "text/plain", body);
		return;
	}
	snprintf(body, sizeof(body), "%s: %d of %d workers ready\n",
		 sv_workers_degraded(sv) ? "degraded" : "ready", n,
		 sv->cfg->workers);
	respond(ac, 200, "OK", "text/plain", body);
}

static void writing(struct ev_loop *loop, struct admin_conn *ac);

static void
api_reply(void *arg, json_t *rep)
{
	struct admin_conn *ac = arg;
	int st = json_is_true(json_object_get(rep, "ok")) ? 200 : 400;
	char *text = json_dumps(rep, JSON_COMPACT);
	struct ev_loop *loop = ac->io.data;

	json_decref(rep);
	if (ac->gone) {
		free(text);
		free(ac->body);
		free(ac);
		return;
	}
	respond(ac, st, st == 200 ? "OK" : "Bad Request", "application/json",
		text ? text : "{}");
	free(text);
	/* Answered later: the reply is written now. */
	if (ac->waiting) {
		ac->waiting = 0;
		writing(loop, ac);
	}
}

static void
api(struct sv *sv, struct admin_conn *ac, const char *cmd, const char *query)
{
	json_t *req = NULL;
	json_error_t err;
	char why[160];

	if (!sv_ctl_known(cmd)) {
		snprintf(why, sizeof(why), "unknown command %.64s", cmd);
		refuse(ac, 404, "Not Found", "", why);
		return;
	}
	if (query != NULL) {
		if ((req = sv_query_parse(query, why, sizeof(why))) == NULL) {
			refuse(ac, 400, "Bad Request", "", why);
			return;
		}
	} else if (ac->bodylen > 0) {
		req = json_loadb(ac->body, ac->bodylen, 0, &err);
		if (!json_is_object(req)) {
			json_decref(req);
			respond(ac, 400, "Bad Request", "application/json",
				"{\"ok\":false,\"error\":\"the body is not a "
				"JSON object\"}");
			return;
		}
	} else {
		req = json_object();
	}
	json_object_set_new(req, "cmd", json_string(cmd));
	ac->io.data = sv->loop;
	sv_ctl_call(sv, req, api_reply, ac);
	json_decref(req);
	if (ac->out == NULL)
		ac->waiting = 1;
}

/* Commands a GET may run: they change nothing. */
static int
read_only(const char *cmd)
{
	static const char *const reads[] = {
	    "status", "workers",    "conns",	"conn", "rooms", "room",
	    "stats",  "checktoken", "sessions", "top",	"nodes"};
	size_t i;

	for (i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
		if (strcmp(cmd, reads[i]) == 0)
			return 1;
	return 0;
}

static void
route(struct sv *sv, struct admin_conn *ac)
{
	int method = ac->parser.method;
	char *q = strchr(ac->url, '?');
	const char *key = sv->cfg->admin_key;

	if (q != NULL)
		*q++ = '\0';
	if (ac->has_origin) {
		respond(ac, 403, "Forbidden", "text/plain",
			"requests from web pages are refused\n");
		return;
	}
	/* With a key, everything but /health, the page itself (it asks for
	 * the key) and, when public, /metrics needs it. */
	if (key[0] != '\0' && strcmp(ac->url, "/health") != 0 &&
	    strcmp(ac->url, "/") != 0 &&
	    !(sv->cfg->admin_metrics_public &&
	      strcmp(ac->url, "/metrics") == 0) &&
	    (ac->auth_over ||
	     !sv_query_key_ok(ac->authlen ? ac->auth : NULL, key))) {
		refuse(ac, 401, "Unauthorized",
		       "WWW-Authenticate: Bearer realm=\"wsd\"\r\n",
		       ac->authlen || ac->auth_over
			   ? "the admin key is wrong"
			   : "the admin API needs Authorization: Bearer KEY "
			     "(admin.key)");
		return;
	}
	if (strncmp(ac->url, "/api/", 5) == 0) {
		/* An unknown command is 404 whatever the method. */
		if (!sv_ctl_known(ac->url + 5) ||
		    (method == HTTP_POST && ac->json_body))
			api(sv, ac, ac->url + 5, NULL);
		else if (method == HTTP_GET && read_only(ac->url + 5))
			api(sv, ac, ac->url + 5, q ? q : "");
		else
			respond(ac, 405, "Method Not Allowed", "text/plain",
				"use POST with Content-Type: "
				"application/json\n");
		return;
	}
	if (method != HTTP_GET) {
		respond(ac, 405, "Method Not Allowed", "text/plain",
			"method not allowed\n");
		return;
	}
	if (strcmp(ac->url, "/") == 0)
		respond(ac, 200, "OK", "text/html; charset=utf-8",
			sv_dashboard_html);
	else if (strcmp(ac->url, "/health") == 0)
		respond(ac, 200, "OK", "text/plain", "ok\n");
	else if (strcmp(ac->url, "/ready") == 0)
		ready(sv, ac);
	else if (strcmp(ac->url, "/metrics") == 0)
		metrics(sv, ac);
	else
		respond(ac, 404, "Not Found", "text/plain", "not found\n");
}

static void
on_conn_io(struct ev_loop *loop, ev_io *io, int revents)
{
	struct admin_conn *ac = (struct admin_conn *)io;
	struct sv *sv = ev_userdata(loop);
	char buf[4096];
	ssize_t n;
	size_t used;

	if (revents & EV_READ) {
		n = read(io->fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			conn_free(loop, ac);
			return;
		}
		if (n < 0)
			return;
		ac->inlen += (size_t)n;
		used =
		    http_parser_execute(&ac->parser, &settings, buf, (size_t)n);
		if (used != (size_t)n || ac->inlen > ADMIN_MAX_REQ) {
			respond(ac, 400, "Bad Request", "text/plain",
				"bad request\n");
		} else if (ac->done) {
			route(sv, ac);
		} else {
			return;
		}
		if (ac->waiting) { /* nothing more is read meanwhile */
			ev_io_stop(loop, io);
			return;
		}
		writing(loop, ac);
		return;
	}
	if (revents & EV_WRITE) {
		n = write(io->fd, ac->out + ac->outoff,
			  ac->outlen - ac->outoff);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n > 0)
			ac->outoff += (size_t)n;
		if (n <= 0 || ac->outoff == ac->outlen)
			conn_free(loop, ac);
	}
}

/* The response is ready: written as the socket takes it. */
static void
writing(struct ev_loop *loop, struct admin_conn *ac)
{
	if (ac->out == NULL) {
		conn_free(loop, ac);
		return;
	}
	ev_io_stop(loop, &ac->io);
	ev_io_set(&ac->io, ac->io.fd, EV_WRITE);
	ev_io_start(loop, &ac->io);
}

static void
on_conn_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct admin_conn *ac = t->data;

	(void)revents;
	if (ac->waiting) { /* the reply to come frees it */
		ev_io_stop(loop, &ac->io);
		close(ac->io.fd);
		ac->gone = 1;
		return;
	}
	conn_free(loop, ac);
}

static void
on_accept(struct ev_loop *loop, ev_io *io, int revents)
{
	struct admin_conn *ac;
	int fd;

	(void)revents;
	while ((fd = accept4(io->fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if ((ac = calloc(1, sizeof(*ac))) == NULL) {
			close(fd);
			continue;
		}
		http_parser_init(&ac->parser, HTTP_REQUEST);
		ac->parser.data = ac;
		ev_io_init(&ac->io, on_conn_io, fd, EV_READ);
		ev_timer_init(&ac->timer, on_conn_timeout, 10., 0.);
		ac->timer.data = ac;
		ev_io_start(loop, &ac->io);
		ev_timer_start(loop, &ac->timer);
	}
}

int
sv_admin_start(struct sv *sv)
{
	if (sv->cfg->admin_listen[0] == '\0')
		return WSD_OK;
	if ((admin_fd = sv_listen_open(sv->cfg->admin_listen, 64, NULL, 0)) < 0)
		return WSD_ECLOSED;
	ev_io_init(&admin_io, on_accept, admin_fd, EV_READ);
	ev_io_start(sv->loop, &admin_io);
	return WSD_OK;
}

void
sv_admin_stop(struct sv *sv)
{
	if (admin_fd < 0)
		return;
	ev_io_stop(sv->loop, &admin_io);
	close(admin_fd);
	admin_fd = -1;
}
