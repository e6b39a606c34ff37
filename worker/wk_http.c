/*
 * wk_http.c: takes a new connection through the HTTP/1.1 upgrade.
 *
 * The request head is collected in one buffer of max_header_bytes and
 * parsed by http_parser as it arrives; header values are spans of that
 * buffer, so nothing is copied. When the head is complete the request is
 * checked in the order of docs/protocol.md (path, method, upgrade headers
 * and version, key, origin, token: wk_auth.c) and either answered with its
 * HTTP status or handed to the supervisor, which alone knows the global
 * and per-user counts (CONN_OPEN). Its CONN_ACCEPT completes the
 * handshake (the 101; wk_client.c then takes the connection over) or
 * refuses it (429 or 503). The handshake state is freed as soon as the
 * connection is upgraded or refused.
 *
 * Sec-WebSocket-Extensions may come in several headers: each is looked at
 * as it ends, in order, until one holds a permessage-deflate offer that
 * wk_deflate.c accepts; the 101 carries the answer to that offer.
 *
 * The same parse serves the few plain HTTP requests of the client
 * listener: with demo_page on, GET / (the demo page), GET /wsd-client.js
 * (the client library it imports) and, while anonymous clients are
 * allowed too, POST /demo/token (a demo token for a name, wk_auth.c);
 * and POST /sse/send. A POST's body is read to its Content-Length into
 * memory of the request's own.
 */
#include "wk_http.h"

#include <arpa/inet.h>
#include <http_parser.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "../proto/log.h"
#include "../proto/trace.h"
#include "../proto/url.h"
#include "wk_auth.h"
#include "wk_clientlib.h"
#include "wk_conn.h"
#include "wk_deflate.h"
#include "wk_demo.h"
#include "wk_frame.h"
#include "wk_ipc.h"
#include "wk_sse.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define DEMO_BODY_MAX 1024 /* bytes of a POST /demo/token body */

/* Which POST a request is, once its path is known. */
enum post_kind { POST_NONE = 0, POST_SSE, POST_DEMO_TOKEN };

struct span {
	uint32_t off, len;
};

enum hdr {
	H_UPGRADE,
	H_CONNECTION,
	H_KEY,
	H_VERSION,
	H_PROTOCOL,
	H_ORIGIN,
	H_AUTH,
	H_COOKIE,
	H_AGENT,
	H_HOST,
	H_XFF,
	H_FORWARDED,
	H_TRACE,
	H_EXTENSIONS,
	H_LAST_EVENT_ID,
	H_COUNT
};

static const char *const hdr_names[H_COUNT] = {"upgrade",
					       "connection",
					       "sec-websocket-key",
					       "sec-websocket-version",
					       "sec-websocket-protocol",
					       "origin",
					       "authorization",
					       "cookie",
					       "user-agent",
					       "host",
					       "x-forwarded-for",
					       "forwarded",
					       "traceparent",
					       "sec-websocket-extensions",
					       "last-event-id"};

struct wk_hs {
	http_parser parser;
	struct span url;
	struct span field, value;
	int last_was_value;
	int cur;	 /* enum hdr of the header being read, or -1 */
	int dup;	 /* a header that must be single came twice */
	int trace_twice; /* two traceparent headers: neither is kept */
	int headers_done;
	uint32_t consumed; /* bytes the parser took, through the head */
	struct span h[H_COUNT];
	uint32_t len, cap;
	char *buf;
	int owned_buf;	   /* buf is ours, not the shared one */
	char accept[29];   /* while admitting: Sec-WebSocket-Accept */
	int proto;	   /* while admitting: answer with wsd.v1 */
	struct wk_pmd pmd; /* the permessage-deflate offer accepted */
	/* The PROXY protocol, from a trusted proxy: a header is due first
	 * (pp_need), and the client it named (pp_have, pp_ip). */
	uint8_t pp_need, pp_have;
	struct addr_ip pp_ip;
	/* A POST: the body, read to body_need bytes, and for /sse/send the
	 * stream it is for. */
	int post; /* enum post_kind */
	char *body;
	uint32_t body_len, body_need;
	uint64_t post_conn;
	char post_key[WK_SSE_KEY_LEN + 1];
};

/*
 * Most upgrade requests arrive in one read: those are parsed in this
 * shared buffer and never cost the connection a buffer of its own. Only a
 * request that arrives in pieces is copied to a buffer of its own.
 */
static struct wk_hs scratch;
static char *shared_buf;
static uint32_t shared_cap;

static int
on_url(http_parser *p, const char *at, size_t len)
{
	struct wk_hs *hs = p->data;

	if (hs->url.len == 0)
		hs->url.off = (uint32_t)(at - hs->buf);
	hs->url.len += (uint32_t)len;
	return 0;
}

static void
header_end(struct wk_hs *hs)
{
	int i;

	hs->cur = -1;
	for (i = 0; i < H_COUNT; i++) {
		if (strlen(hdr_names[i]) == hs->field.len &&
		    strncasecmp(hs->buf + hs->field.off, hdr_names[i],
				hs->field.len) == 0) {
			if (i == H_EXTENSIONS) {
				/* Offers may span headers: the first one
				 * accepted wins. */
				if (wk.cfg.deflate && !hs->pmd.on)
					wk_deflate_negotiate(
					    hs->buf + hs->value.off,
					    hs->value.len,
					    (unsigned)
						wk.cfg.deflate_window_bits,
					    &hs->pmd);
				break;
			}
			if (hs->h[i].len != 0 || hs->h[i].off != 0) {
				hs->dup |= (i == H_KEY || i == H_VERSION ||
					    i == H_HOST);
				hs->trace_twice |= i == H_TRACE;
			}
			hs->h[i] = hs->value;
			break;
		}
	}
}

static int
on_field(http_parser *p, const char *at, size_t len)
{
	struct wk_hs *hs = p->data;

	if (hs->last_was_value) {
		header_end(hs);
		hs->field.len = 0;
		hs->value.len = 0;
	}
	if (hs->field.len == 0)
		hs->field.off = (uint32_t)(at - hs->buf);
	hs->field.len += (uint32_t)len;
	hs->last_was_value = 0;
	return 0;
}

static int
on_value(http_parser *p, const char *at, size_t len)
{
	struct wk_hs *hs = p->data;

	if (!hs->last_was_value) {
		hs->value.off = (uint32_t)(at - hs->buf);
		hs->value.len = 0;
	}
	hs->value.len += (uint32_t)len;
	hs->last_was_value = 1;
	return 0;
}

static int
on_headers_complete(http_parser *p)
{
	struct wk_hs *hs = p->data;

	if (hs->last_was_value)
		header_end(hs);
	hs->headers_done = 1;
	/* Stop here: a body, if any, is not ours to read. */
	return 2;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_complete,
};

static void
hs_free(struct wk_hs *hs)
{
	if (hs == NULL)
		return;
	if (hs->owned_buf)
		free(hs->buf);
	free(hs->body);
	if (hs != &scratch)
		free(hs);
}

void
wk_accept_key(const char *key, size_t len, char out[29])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	/* SHA-1 of key + GUID, base64: RFC 6455 section 4.2.2. */
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, key, len) != 1 ||
	    EVP_DigestUpdate(ctx, WS_GUID, sizeof(WS_GUID) - 1) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		mdlen = 0;
	EVP_MD_CTX_free(ctx);
	if (mdlen != 20) {
		memset(out, 0, 29);
		return;
	}
	EVP_EncodeBlock((unsigned char *)out, md, 20);
}

/* Queue raw bytes (an HTTP answer); force: outside the queue limits. */
static void
send_raw(struct wk_conn *c, const char *s, size_t len)
{
	struct wk_buf *b = wk_buf_new((uint32_t)len);

	if (b == NULL) {
		wk_conn_abort(c);
		return;
	}
	memcpy(b->data, s, len);
	if (wk_conn_send(c, b, 1) != WSD_OK)
		wk_conn_abort(c);
	wk_buf_unref(b);
}

static const char *
status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

/* Answer with an error status and close after it is written. */
static void
reject(struct wk_conn *c, int status, const char *why)
{
	char head[512];
	const char *extra = "";
	int n;

	if (status == 405)
		extra = c->hs != NULL && c->hs->post ? "Allow: POST\r\n"
						     : "Allow: GET\r\n";
	else if (status == 426)
		extra = "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n";
	else if (status == 503 || status == 429)
		extra = "Retry-After: 5\r\n";
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
		     "Content-Length: %zu\r\n%sConnection: close\r\n\r\n%s\n",
		     status, status_text(status), strlen(why) + 1, extra, why);
	log_debug("handshake_refused", "conn=%llu status=%d reason=%s",
		  (unsigned long long)c->id, status, log_q(why));
	wk.tot[PROTO_TOT_REFUSED + stats_refused_index(status)]++;
	send_raw(c, head, (size_t)n);
	hs_free(c->hs);
	c->hs = NULL;
	wk_conn_end(c);
	c->io_ops->shutdown(c, SHUT_RD);
}

/*
 * Answer a plain HTTP request with status, a body of type (both
 * borrowed; the body is copied into the send queue) and cache (the
 * Cache-Control value), and close once it is written. A POST is shut for
 * reading too, as a rejection is: its body has been read whole.
 */
static void
answer(struct wk_conn *c, int status, const char *type, const char *cache,
       const char *body, size_t len)
{
	int post = c->hs != NULL && c->hs->post != POST_NONE;
	char head[320];
	int n;

	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
		     "Content-Length: %zu\r\nCache-Control: %s\r\n"
		     "Connection: close\r\n\r\n",
		     status, status_text(status), type, len, cache);
	send_raw(c, head, (size_t)n);
	send_raw(c, body, len);
	hs_free(c->hs);
	c->hs = NULL;
	wk_conn_end(c);
	if (post)
		c->io_ops->shutdown(c, SHUT_RD);
}

/* A POST /demo/token refused with status: {"error": why}. */
static void
demo_error(struct wk_conn *c, int status, const char *why)
{
	json_t *o = json_pack("{s:s}", "error", why);
	char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	log_debug("demo_token_refused", "conn=%llu status=%d reason=%s",
		  (unsigned long long)c->id, status, log_q(why));
	if (text == NULL) {
		reject(c, 503, "out of memory");
		return;
	}
	answer(c, status, "application/json", "no-store", text, strlen(text));
	free(text);
}

static int
span_eq(const struct wk_hs *hs, struct span s, const char *v)
{
	return s.len == strlen(v) &&
	       strncasecmp(hs->buf + s.off, v, s.len) == 0;
}

/* Does the comma-separated header value contain token (any case)? */
static int
has_token(const struct wk_hs *hs, struct span s, const char *token)
{
	const char *p = hs->buf + s.off, *end = p + s.len;
	size_t tl = strlen(token);

	while (p < end) {
		const char *q;

		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		q = p;
		while (q < end && *q != ',')
			q++;
		while (q > p && (q[-1] == ' ' || q[-1] == '\t'))
			q--;
		if ((size_t)(q - p) == tl && strncasecmp(p, token, tl) == 0)
			return 1;
		while (p < end && *p != ',')
			p++;
	}
	return 0;
}

static int
valid_key(const struct wk_hs *hs)
{
	unsigned char out[32];
	struct span k = hs->h[H_KEY];

	/* base64 of 16 bytes: 24 characters ending in "==". */
	if (k.len != 24 || hs->buf[k.off + 22] != '=' ||
	    hs->buf[k.off + 23] != '=')
		return 0;
	return EVP_DecodeBlock(out, (const unsigned char *)hs->buf + k.off,
			       24) == 18;
}

/*
 * Who the client is: the user of its token, or, without one, a generated
 * anonymous id when allowed. Returns WSD_OK (c->user set; *anonymous
 * says which), WSD_EINVAL with *why (answer 401), or WSD_ENOMEM.
 */
static int
authenticate(struct wk_conn *c, const char *q, size_t qlen, int *anonymous,
	     char **info, const char **why)
{
	struct wk_hs *hs = c->hs;
	const char *tok;
	size_t len;

	*anonymous = 0;
	if (wk_auth_find(q, qlen, hs->buf + hs->h[H_AUTH].off,
			 hs->h[H_AUTH].len, hs->buf + hs->h[H_COOKIE].off,
			 hs->h[H_COOKIE].len, &tok, &len))
		return wk_auth_verify(tok, len, &wk.cfg, &c->user,
				      &c->allowed_rooms, info, why);
	if (!wk.cfg.allow_anonymous) {
		*why = "a token is required";
		return WSD_EINVAL;
	}
	*anonymous = 1;
	return (c->user = wk_auth_anonymous()) != NULL ? WSD_OK : WSD_ENOMEM;
}

static int
origin_allowed(const struct wk_hs *hs)
{
	uint32_t i;

	if (wk.cfg.origins.n == 0)
		return 1;
	for (i = 0; i < wk.cfg.origins.n; i++)
		if (span_eq(hs, hs->h[H_ORIGIN], wk.cfg.origins.v[i]))
			return 1;
	return 0;
}

static void peer_addr(struct wk_conn *c, char *buf, size_t len);

/*
 * Keep the upgrade's traceparent with the connection (proto/trace.h).
 * One that is not valid, or sent twice, is ignored, as W3C Trace Context
 * says: the connection is not refused for it.
 */
static void
take_trace(struct wk_conn *c, const struct wk_hs *hs)
{
	const char *v = hs->buf + hs->h[H_TRACE].off;
	size_t n = hs->h[H_TRACE].len;
	char t[TRACE_LEN + 1];

	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n == 0 || hs->trace_twice || !trace_parse(v, n, t))
		return;
	c->trace = strdup(t); /* out of memory: no trace, nothing worse */
}

/* Ask the supervisor to admit c; info (the token's info claim, or NULL)
 * goes with it and is the supervisor's to keep. */
static void
admit(struct wk_conn *c, int anonymous, const char *info, const char *q,
      size_t qlen)
{
	const char *resume = NULL;
	size_t rlen = 0;
	struct wk_hs *hs = c->hs, *keep;
	struct proto_msg m;
	char addr[64], agent[256];
	uint32_t i;

	/* Keep only what the answer needs while the supervisor decides. */
	if ((keep = calloc(1, sizeof(*keep))) == NULL) {
		reject(c, 503, "out of memory");
		return;
	}
	wk_accept_key(hs->buf + hs->h[H_KEY].off, hs->h[H_KEY].len,
		      keep->accept);
	keep->proto = hs->h[H_PROTOCOL].len > 0 &&
		      has_token(hs, hs->h[H_PROTOCOL], "wsd.v1") && !c->echo;
	keep->pmd = hs->pmd;
	peer_addr(c, addr, sizeof(addr));
	memset(&m, 0, sizeof(m));
	m.type = PROTO_CONN_OPEN;
	m.conn = c->id;
	m.user = proto_cstr(c->user);
	m.addr = proto_cstr(addr);
	/* The agent is shown to operators: printable bytes only (and never
	 * a NUL, which the IPC decoder refuses). */
	m.agent.len = hs->h[H_AGENT].len > 256 ? 256 : hs->h[H_AGENT].len;
	memcpy(agent, hs->buf + hs->h[H_AGENT].off, m.agent.len);
	for (i = 0; i < m.agent.len; i++)
		if ((unsigned char)agent[i] < 0x20 || agent[i] == 0x7f)
			agent[i] = '?';
	m.agent.p = agent;
	m.flags = (anonymous ? PROTO_F_ANONYMOUS : 0) |
		  (c->sse != NULL ? PROTO_F_SSE : 0);
	if (info != NULL)
		m.data = proto_cstr(info); /* for presence and wsctl */
	take_trace(c, hs);
	if (c->trace != NULL)
		m.trace = proto_cstr(c->trace);
	/* A client that comes back with ?resume= is resumed by the
	 * supervisor right after its welcome, and is let in ahead of fresh
	 * connections when connects are over their rate. */
	if (wk_auth_find_resume(q, qlen, &resume, &rlen) && rlen > 0 &&
	    rlen <= WK_TOKEN_MAX) {
		m.token.p = resume;
		m.token.len = (uint32_t)rlen;
	}
	if (wk_ipc_send(&m) != WSD_OK) {
		free(keep);
		reject(c, 503, "the supervisor is unavailable");
		return;
	}
	hs_free(hs);
	c->hs = keep;
	wk_conn_admitting(c);
}

/*
 * GET /sse: an event stream instead of an upgrade, with the same checks
 * after the path (origin, token) and the same admission. Its cursor comes
 * from Last-Event-ID (what EventSource sends when it reconnects) or from
 * last_event_id= (for a client that opens a new EventSource), the rooms to
 * join from rooms=.
 */
static void
sse_request(struct wk_conn *c, const char *q, size_t qlen)
{
	struct wk_hs *hs = c->hs;
	const char *cur = hs->buf + hs->h[H_LAST_EVENT_ID].off, *rooms = NULL;
	size_t clen = hs->h[H_LAST_EVENT_ID].len, rlen = 0;
	char *decoded = NULL;
	int anonymous, rc, n;
	const char *why;
	char *info = NULL;

	/* A browser sends no Origin with a same-origin GET (the Fetch
	 * standard), as it does with every WebSocket upgrade. */
	if (hs->h[H_ORIGIN].len > 0 && !origin_allowed(hs)) {
		reject(c, 403, "origin not allowed");
		return;
	}
	if (hs->consumed < hs->len) {
		reject(c, 400, "data sent after the request");
		return;
	}
	if (clen == 0 && q != NULL &&
	    wk_auth_query(q, qlen, "last_event_id", &cur, &clen)) {
		/* Percent-encoded in a query: decoded into a copy of its own,
		 * which the stream's state takes (dropped when it is bad). */
		if ((decoded = malloc(clen + 1)) == NULL) {
			reject(c, 503, "out of memory");
			return;
		}
		n = url_decode(cur, clen, decoded);
		cur = decoded;
		clen = n < 0 ? 0 : (size_t)n;
	}
	if (q != NULL)
		wk_auth_query(q, qlen, "rooms", &rooms, &rlen);
	if ((c->sse = wk_sse_new()) == NULL ||
	    wk_sse_set_request(c->sse, cur, clen, rooms, rlen) != WSD_OK) {
		free(decoded);
		reject(c, 503, "out of memory");
		return;
	}
	free(decoded);
	if ((rc = authenticate(c, q, qlen, &anonymous, &info, &why)) !=
	    WSD_OK) {
		reject(c, rc == WSD_ENOMEM ? 503 : 401,
		       rc == WSD_ENOMEM ? "out of memory" : why);
		free(info);
		return;
	}
	admit(c, anonymous, info, q, qlen);
	free(info);
}

/* The whole body of a POST /demo/token is here: mint the token. The
 * answer holds it; nothing logs it. */
static void
demo_token_done(struct wk_conn *c)
{
	struct wk_hs *hs = c->hs;
	const char *why = "out of memory";
	char *ans = NULL;
	int rc;

	rc = wk_auth_demo_token(&wk.cfg, hs->body, hs->body_len,
				(int64_t)time(NULL), &ans, &why);
	if (rc == WSD_OK)
		answer(c, 200, "application/json", "no-store", ans,
		       strlen(ans));
	else
		demo_error(c, rc == WSD_ENOMEM ? 503 : 400, why);
	free(ans);
}

/* The whole body of a POST /sse/send is here: to the supervisor, which
 * hands it to the worker that holds the stream. */
static void
sse_post_done(struct wk_conn *c)
{
	struct wk_hs *hs = c->hs;
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_SSE_INPUT;
	m.conn = hs->post_conn;
	m.token = proto_cstr(hs->post_key);
	m.data.p = hs->body;
	m.data.len = hs->body_len;
	if (memchr(hs->body, '\0', hs->body_len) != NULL)
		reject(c, 400, "the body holds a NUL byte");
	else if (wk_conn_ipc_busy() || wk_ipc_send(&m) != WSD_OK)
		reject(c, 503, "the supervisor is unavailable");
	else
		answer(c, 202, "application/json", "no-store",
		       "{\"ok\":true}\n", 12);
}

/* Read more of a POST's body; the whole of it is answered. */
static void
post_read(struct wk_conn *c)
{
	struct wk_hs *hs = c->hs;
	ssize_t n = c->io_ops->read(c, hs->body + hs->body_len,
				    hs->body_need - hs->body_len);

	if (n == WSD_EAGAIN)
		return;
	if (n <= 0) {
		wk_conn_abort(c);
		return;
	}
	hs->body_len += (uint32_t)n;
	if (hs->body_len == hs->body_need) {
		if (hs->post == POST_DEMO_TOKEN)
			demo_token_done(c);
		else
			sse_post_done(c);
	}
}

/*
 * The body of a POST of kind, at most max bytes: its Content-Length
 * checked (411, 413 too_big, 400 empty, answered by err), and moved, with
 * what of it came with the head, into handshake state of its own (the
 * head is in the shared buffer). That state, or NULL once answered.
 */
static struct wk_hs *
post_keep(struct wk_conn *c, enum post_kind kind, uint64_t max,
	  const char *too_big, const char *empty,
	  void (*err)(struct wk_conn *c, int status, const char *why))
{
	struct wk_hs *hs = c->hs, *keep;
	uint64_t len = hs->parser.content_length;
	size_t have = hs->len - hs->consumed;

	if (len == ULLONG_MAX || (hs->parser.flags & F_CHUNKED)) {
		err(c, 411, "a Content-Length is required");
		return NULL;
	}
	if (len == 0 || len > max) {
		err(c, len ? 413 : 400, len ? too_big : empty);
		return NULL;
	}
	if (have > len) {
		err(c, 400, "data sent after the request");
		return NULL;
	}
	if ((keep = calloc(1, sizeof(*keep))) == NULL ||
	    (keep->body = malloc(len + 1)) == NULL) {
		free(keep);
		reject(c, 503, "out of memory");
		return NULL;
	}
	keep->post = kind;
	keep->body_need = (uint32_t)len;
	keep->body_len = (uint32_t)have;
	memcpy(keep->body, hs->buf + hs->consumed, have);
	hs_free(hs);
	c->hs = keep;
	return keep;
}

/*
 * POST /sse/send?conn=ID&key=KEY: the client messages of an event stream,
 * one JSON object per line, at most max_message_bytes in all. Checked
 * here for what the request alone shows; the worker that holds the
 * stream checks the key and the messages. The request head is in the
 * shared buffer: what the answer needs moves to memory of its own.
 */
static void
sse_post_begin(struct wk_conn *c, const char *q, size_t qlen)
{
	struct wk_hs *hs = c->hs, *keep;
	const char *v, *key;
	size_t vlen = 0, klen = 0;
	uint64_t conn = 0;
	size_t i;
	char num[24];

	hs->post = POST_SSE;
	if (hs->parser.method != HTTP_POST) {
		reject(c, 405, "messages are sent with POST");
		return;
	}
	if (!origin_allowed(hs)) {
		reject(c, 403, "origin not allowed");
		return;
	}
	if (q == NULL || !wk_auth_query(q, qlen, "conn", &v, &vlen) ||
	    vlen == 0 || vlen >= sizeof(num) ||
	    !wk_auth_query(q, qlen, "key", &key, &klen) ||
	    klen != WK_SSE_KEY_LEN) {
		reject(c, 400, "conn and key (from the welcome) are required");
		return;
	}
	for (i = 0; i < vlen; i++) {
		if (v[i] < '0' || v[i] > '9' || conn > UINT64_MAX / 10 - 1) {
			reject(c, 400, "conn must be a connection id");
			return;
		}
		conn = conn * 10 + (uint64_t)(v[i] - '0');
	}
	if ((keep = post_keep(c, POST_SSE, wk.cfg.max_message_bytes,
			      "over max_message_bytes", "no messages",
			      reject)) == NULL)
		return;
	keep->post_conn = conn;
	memcpy(keep->post_key, key, klen);
	if (keep->body_len == keep->body_need)
		sse_post_done(c);
}

/* HTTP/1.1 with one Host header (RFC 9112 3.2), or a 400 and 0. */
static int
http11_with_host(struct wk_conn *c)
{
	struct wk_hs *hs = c->hs;

	if (hs->parser.http_major != 1 || hs->parser.http_minor < 1) {
		reject(c, 400, "HTTP/1.1 is required");
		return 0;
	}
	if (hs->h[H_HOST].len == 0 || hs->dup) {
		reject(c, 400, "exactly one Host header is required");
		return 0;
	}
	return 1;
}

/*
 * POST /demo/token, with demo_page and allow_anonymous on: a body of at
 * most DEMO_BODY_MAX bytes, {"name": NAME}, answered with a demo token
 * for NAME (wk_auth_demo_token). The request head is in the shared
 * buffer: what the answer needs moves to memory of its own.
 */
static void
demo_token_begin(struct wk_conn *c)
{
	struct wk_hs *hs = c->hs, *keep;

	hs->post = POST_DEMO_TOKEN;
	if (hs->parser.method != HTTP_POST) {
		reject(c, 405, "a demo token is asked for with POST");
		return;
	}
	if (!origin_allowed(hs)) {
		reject(c, 403, "origin not allowed");
		return;
	}
	if ((keep = post_keep(c, POST_DEMO_TOKEN, DEMO_BODY_MAX,
			      "the body is over 1024 bytes",
			      "the body must be a JSON object with a name "
			      "(a string)",
			      demo_error)) == NULL)
		return;
	if (keep->body_len == keep->body_need)
		demo_token_done(c);
}

/* The demo page's GETs, when demo_page is on: 1 when path[0..plen) was
 * one of them (answered), 0 otherwise. */
static int
demo_get(struct wk_conn *c, const char *path, size_t plen)
{
	if (!wk.cfg.demo_page || c->hs->parser.method != HTTP_GET)
		return 0;
	if (plen == 1 && path[0] == '/') {
		answer(c, 200, "text/html; charset=utf-8", "no-cache",
		       wk_demo_html, wk_demo_html_len);
		return 1;
	}
	if (plen == 14 && memcmp(path, "/wsd-client.js", 14) == 0) {
		answer(c, 200, "text/javascript; charset=utf-8", "no-cache",
		       wk_clientlib_js, wk_clientlib_js_len);
		return 1;
	}
	return 0;
}

static void
check_request(struct wk_conn *c)
{
	struct wk_hs *hs = c->hs;
	const char *url = hs->buf + hs->url.off, *q;
	size_t plen, qlen = 0;
	int is_ws, is_echo, is_sse, anonymous, rc;
	const char *why;
	char *info = NULL;

	q = memchr(url, '?', hs->url.len);
	plen = q ? (size_t)(q - url) : hs->url.len;
	if (q) {
		q++;
		qlen = hs->url.len - plen - 1;
	}
	is_ws = plen == strlen(wk.cfg.ws_path) &&
		memcmp(url, wk.cfg.ws_path, plen) == 0;
	is_echo = wk.cfg.echo_path[0] && plen == strlen(wk.cfg.echo_path) &&
		  memcmp(url, wk.cfg.echo_path, plen) == 0;
	is_sse = wk.cfg.sse && plen == 4 && memcmp(url, "/sse", 4) == 0;
	if (wk.cfg.sse && plen == 9 && memcmp(url, "/sse/send", 9) == 0) {
		if (hs->parser.method == HTTP_POST && !http11_with_host(c))
			return;
		sse_post_begin(c, q, qlen);
		return;
	}
	if (wk.cfg.demo_page && wk.cfg.allow_anonymous && plen == 11 &&
	    memcmp(url, "/demo/token", 11) == 0 && !is_ws && !is_echo) {
		demo_token_begin(c);
		return;
	}
	if (!is_ws && !is_echo && !is_sse) {
		if (!demo_get(c, url, plen))
			reject(c, 404, "not found");
		return;
	}
	if (hs->parser.method != HTTP_GET) {
		reject(c, 405,
		       is_sse ? "an event stream is opened with GET"
			      : "WebSocket upgrades use GET");
		return;
	}
	if (!http11_with_host(c))
		return;
	if (is_sse) {
		sse_request(c, q, qlen);
		return;
	}
	if (!has_token(hs, hs->h[H_UPGRADE], "websocket") ||
	    !has_token(hs, hs->h[H_CONNECTION], "upgrade") ||
	    !span_eq(hs, hs->h[H_VERSION], "13") || hs->dup) {
		reject(c, hs->dup ? 400 : 426,
		       "a version 13 WebSocket upgrade is required");
		return;
	}
	if (!valid_key(hs)) {
		reject(c, 400, "missing or malformed Sec-WebSocket-Key");
		return;
	}
	if (!origin_allowed(hs)) {
		reject(c, 403, "origin not allowed");
		return;
	}
	if (hs->consumed < hs->len) {
		reject(c, 400, "data sent before the handshake completed");
		return;
	}
	c->echo = is_echo;
	if ((rc = authenticate(c, q, qlen, &anonymous, &info, &why)) !=
	    WSD_OK) {
		if (rc == WSD_ENOMEM)
			reject(c, 503, "out of memory");
		else
			reject(c, 401, why);
		free(info);
		return;
	}
	admit(c, anonymous, info, q, qlen);
	free(info);
}

/* The TCP peer's address as text and its port; 0, or -1 (unknown). */
static int
peer_of(struct wk_conn *c, char host[ADDR_TEXT_MAX], int *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getpeername(c->io.fd, (struct sockaddr *)&ss, &sl) != 0)
		return -1;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s->sin_addr, host, ADDR_TEXT_MAX);
		*port = ntohs(s->sin_port);
		return 0;
	}
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s->sin6_addr, host, ADDR_TEXT_MAX);
		*port = ntohs(s->sin6_port);
		return 0;
	}
	return -1;
}

/* Is the TCP peer a trusted proxy that speaks the PROXY protocol? */
static int
proxy_protocol_peer(struct wk_conn *c)
{
	char host[ADDR_TEXT_MAX];
	struct addr_ip ip;
	int port;

	return wk.cfg.proxy_header == 2 && wk.proxies.n > 0 &&
	       peer_of(c, host, &port) == 0 &&
	       addr_parse_ip(host, strlen(host), &ip) == 0 &&
	       addr_cidrs_match(&wk.proxies, &ip);
}

/*
 * The client's address, "IP:PORT" ("[IP]:PORT" for IPv6): the TCP peer's,
 * or, from a trusted proxy, the one its PROXY header or its
 * X-Forwarded-For or Forwarded names (port 0: not known), which is the
 * address limited and listed.
 */
static void
peer_addr(struct wk_conn *c, char *buf, size_t len)
{
	struct wk_hs *hs = c->hs;
	char host[ADDR_TEXT_MAX] = "?";
	struct addr_ip peer, client;
	int port = 0, have = 0;
	/* Only the header the proxies are said to set is read. */
	int fwd = wk.cfg.proxy_header == 1;
	struct span h = hs->h[fwd ? H_FORWARDED : H_XFF];
	const char *hv = h.len ? hs->buf + h.off : NULL;

	have = peer_of(c, host, &port) == 0;
	if (hs->pp_have) {
		addr_format(&hs->pp_ip, host);
		port = 0;
	} else if (have && wk.proxies.n > 0 && wk.cfg.proxy_header < 2 &&
		   addr_parse_ip(host, strlen(host), &peer) == 0 &&
		   addr_forwarded_client(&wk.proxies, &peer, fwd ? NULL : hv,
					 fwd ? 0 : h.len, fwd ? hv : NULL,
					 fwd ? h.len : 0, &client)) {
		addr_format(&client, host);
		port = 0;
	}
	snprintf(buf, len, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

/* Give a request that came in pieces a buffer of its own. Returns
 * WSD_OK or WSD_ENOMEM. */
static int
hs_keep(struct wk_conn *c)
{
	struct wk_hs *own = malloc(sizeof(*own));
	char *b = malloc(scratch.cap);

	if (own == NULL || b == NULL) {
		free(own);
		free(b);
		return WSD_ENOMEM;
	}
	*own = scratch;
	memcpy(b, scratch.buf, scratch.len);
	own->buf = b;
	own->owned_buf = 1;
	own->parser.data = own;
	c->hs = own;
	return WSD_OK;
}

void
wk_http_on_read(struct wk_conn *c)
{
	struct wk_hs *hs = c->hs;
	ssize_t n;
	size_t used;

	if (hs != NULL && hs->body != NULL) {
		post_read(c);
		goto done;
	}
	if (hs == NULL) {
		if (shared_cap < wk.cfg.max_header_bytes) {
			char *b = realloc(shared_buf, wk.cfg.max_header_bytes);

			if (b == NULL) {
				wk_conn_abort(c);
				return;
			}
			shared_buf = b;
			shared_cap = (uint32_t)wk.cfg.max_header_bytes;
		}
		hs = &scratch;
		memset(hs, 0, sizeof(*hs));
		http_parser_init(&hs->parser, HTTP_REQUEST);
		hs->parser.data = hs;
		hs->cur = -1;
		hs->buf = shared_buf;
		hs->cap = (uint32_t)wk.cfg.max_header_bytes;
		hs->pp_need = (uint8_t)proxy_protocol_peer(c);
		c->hs = hs;
	}
	n = c->io_ops->read(c, hs->buf + hs->len, hs->cap - hs->len);
	if (n == WSD_EAGAIN)
		goto keep;
	if (n < 0) {
		wk_conn_abort(c);
		goto done;
	}
	if (hs->pp_need) {
		int have = 0;
		int k =
		    addr_proxy_parse((const uint8_t *)hs->buf,
				     hs->len + (size_t)n, &hs->pp_ip, &have);

		if (k < 0) {
			reject(c, 400, "a PROXY protocol header is required");
			goto done;
		}
		if (k == 0) {
			hs->len += (uint32_t)n;
			if (hs->len == hs->cap)
				reject(c, 400, "bad PROXY protocol header");
			else
				goto keep;
			goto done;
		}
		/* The request starts after it. */
		n = (ssize_t)(hs->len + (size_t)n - (size_t)k);
		memmove(hs->buf, hs->buf + k, (size_t)n);
		hs->len = 0;
		hs->pp_need = 0;
		hs->pp_have = (uint8_t)have;
		if (n == 0)
			goto keep;
	}
	used = http_parser_execute(&hs->parser, &settings, hs->buf + hs->len,
				   (size_t)n);
	hs->consumed = hs->len + (uint32_t)used;
	hs->len += (uint32_t)n;
	if (hs->headers_done)
		check_request(c);
	else if (HTTP_PARSER_ERRNO(&hs->parser) != HPE_OK || used != (size_t)n)
		reject(c, 400, "malformed HTTP request");
	else if (hs->len == hs->cap)
		reject(c, 431, "request head too large");
	else
		goto keep;
	goto done;
keep:
	if (hs == &scratch && hs_keep(c) != WSD_OK)
		wk_conn_abort(c);
done:
	/* The shared buffer never outlives this call. */
	if (c->hs == &scratch)
		c->hs = NULL;
	if (c->state == WK_DEAD && c->hs != NULL) {
		hs_free(c->hs);
		c->hs = NULL;
	}
}

void
wk_http_on_accept(struct wk_conn *c, const struct proto_msg *m)
{
	struct wk_hs *hs = c->hs;
	char head[512], ext[160] = "";
	int n;

	if (c->state != WK_ADMITTING || hs == NULL)
		return;
	if (m->status != 0) {
		wk_conn_refused(c);
		reject(c, (int)m->status,
		       m->status == 429
			   ? "too many connections for this user or address"
			   : "overloaded or draining");
		return;
	}
	if (c->sse != NULL) {
		static const char head_sse[] =
		    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
		    "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\n"
		    "Connection: close\r\n\r\n";

		send_raw(c, head_sse, sizeof(head_sse) - 1);
		hs_free(hs);
		c->hs = NULL;
		wk_conn_open(c);
		wk_mark_stats(c);
		return;
	}
	if (hs->pmd.on) {
		char v[128];

		if (wk_deflate_answer(&hs->pmd, v, sizeof(v)) < 0)
			hs->pmd.on = 0; /* cannot happen: v is large enough */
		else
			snprintf(ext, sizeof(ext),
				 "Sec-WebSocket-Extensions: %s\r\n", v);
	}
	n = snprintf(
	    head, sizeof(head),
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %.28s\r\n%s%s\r\n",
	    hs->accept, hs->proto ? "Sec-WebSocket-Protocol: wsd.v1\r\n" : "",
	    ext);
	send_raw(c, head, (size_t)n);
	c->pmd = hs->pmd;
	hs_free(hs);
	c->hs = NULL;
	wk_conn_open(c);
	wk_mark_stats(c);
}

/* The connection is destroyed during its handshake. */
static void
hs_fini(struct wk_conn *c)
{
	hs_free(c->hs);
	c->hs = NULL;
}

const struct wk_handler wk_http_handler = {
    .read = wk_http_on_read,
    .fini = hs_fini,
};
