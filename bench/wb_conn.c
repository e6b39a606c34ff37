/*
 * wsbench: one WebSocket client connection.
 *
 * A connection is a nonblocking TCP socket bound to a loopback source
 * address before connect (IP_BIND_ADDRESS_NO_PORT, so the port is chosen
 * per destination and the 28,000 ephemeral ports serve each source address
 * afresh), an RFC 6455 upgrade written and checked here (the key and the
 * Sec-WebSocket-Accept value come from OpenSSL's random generator, SHA-1
 * and base64), then a wslay event context in client mode that frames,
 * masks (with masks drawn from a pool filled by RAND_bytes) and parses.
 * Every connection's one ev_io follows what wslay wants: read while it
 * wants to read, write while it has queued frames. The handshake state
 * (request, response buffer, expected accept value, bytes that came after
 * the response head) is allocated for the handshake only and freed once
 * those bytes are consumed, so an idle connection costs its struct and
 * wslay's context.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "wb.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define HS_BUF 4096
#define MAX_FAIL_LOGS 3

struct wb_hs {
	size_t req_len, req_off; /* request bytes, and how many went out */
	size_t len;		 /* response bytes read */
	size_t left_off;	 /* after the head: next byte for wslay */
	size_t head_end;	 /* end of the response head, 0 until seen */
	char accept[32];	 /* the Sec-WebSocket-Accept we expect */
	char req[1024];
	char buf[HS_BUF];
};

static struct {
	struct ev_loop *loop;
	const struct wb_opts *o;
	const struct wb_conn_ops *ops;
	struct wslay_event_callbacks cb;
	struct sockaddr_in dst;
	uint8_t rnd[4096];
	size_t rnd_off;
	int fail_logs;
} net;

static void
random_bytes(uint8_t *out, size_t len)
{
	if (net.rnd_off + len > sizeof(net.rnd)) {
		if (RAND_bytes(net.rnd, sizeof(net.rnd)) != 1)
			abort(); /* no randomness: nothing sensible to send */
		net.rnd_off = 0;
	}
	memcpy(out, net.rnd + net.rnd_off, len);
	net.rnd_off += len;
}

static void
fail_log(const struct wb_conn *c, const char *what, const char *detail)
{
	if (net.fail_logs++ >= MAX_FAIL_LOGS)
		return;
	fprintf(stderr, "wsbench[%d]: connection %u: %s%s%s\n", (int)getpid(),
		c->id, what, detail ? ": " : "", detail ? detail : "");
}

/*
 * The one way out: release everything, then tell the mode, as the last
 * thing done with c, so the mode may reopen it from the callback.
 */
static void
conn_end(struct wb_conn *c, int how)
{
	if (c->state == WB_C_FREE)
		return;
	if (how == WB_END_LOST && c->ready && c->state == WB_C_OPEN)
		fail_log(c, "dropped",
			 c->eof ? "the server closed the stream"
			 : c->ws && wslay_event_get_close_received(c->ws)
			     ? "close frame from the server"
			     : "protocol or I/O error");
	ev_io_stop(net.loop, &c->io);
	close(c->io.fd);
	if (c->ws != NULL)
		wslay_event_context_free(c->ws);
	c->ws = NULL;
	free(c->hs);
	c->hs = NULL;
	free(c->part);
	c->part = NULL;
	c->partlen = 0;
	c->light = 0;
	c->state = WB_C_FREE;
	c->in_recv = c->doomed = c->eof = c->drained = 0;
	net.ops->end(c, how);
}

static void
set_events(struct wb_conn *c, int events)
{
	if ((c->io.events & (EV_READ | EV_WRITE)) == events)
		return;
	ev_io_stop(net.loop, &c->io);
	ev_io_set(&c->io, c->io.fd, events);
	ev_io_start(net.loop, &c->io);
}

/* Follow wslay: end the connection when it wants neither direction. */
static void
settle(struct wb_conn *c)
{
	int ev = 0;

	if (wslay_event_want_read(c->ws))
		ev |= EV_READ;
	if (wslay_event_want_write(c->ws))
		ev |= EV_WRITE;
	if (ev == 0) {
		conn_end(c, wslay_event_get_close_received(c->ws)
				? WB_END_CLOSED
				: WB_END_LOST);
		return;
	}
	set_events(c, ev);
}

static ssize_t
on_ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
	   void *user)
{
	struct wb_conn *c = user;
	struct wb_hs *hs = c->hs;
	size_t n;
	ssize_t r;

	(void)flags;
	if (c->doomed) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (hs != NULL) {
		/* Bytes that arrived with the 101 come first. */
		n = hs->len - hs->left_off;
		if (n > len)
			n = len;
		memcpy(buf, hs->buf + hs->left_off, n);
		hs->left_off += n;
		if (hs->left_off == hs->len) {
			free(hs);
			c->hs = NULL;
		}
		return (ssize_t)n;
	}
	/*
	 * A read shorter than asked for emptied the socket; with libev's
	 * level-triggered epoll, more data will be reported anyway, so the
	 * read that would only say EAGAIN is skipped: one read per wake-up.
	 */
	if (c->drained) {
		c->drained = 0;
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	r = recv(c->io.fd, buf, len, 0);
	if (r > 0) {
		c->drained = (size_t)r < len;
		return r;
	}
	if (r < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
	else {
		c->eof = 1;
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	}
	return -1;
}

static ssize_t
on_ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
	   int flags, void *user)
{
	struct wb_conn *c = user;
	ssize_t r;

	(void)flags;
	r = send(c->io.fd, data, len, MSG_NOSIGNAL);
	if (r >= 0)
		return r;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
	else
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

static int
on_ws_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
	(void)ctx;
	(void)user;
	random_bytes(buf, len);
	return 0;
}

/*
 * Inflate a compressed message (RFC 7692: the 00 00 ff ff tail added back)
 * into a buffer of this process, valid until the next call. wsd always
 * answers server_no_context_takeover, so each message stands alone and one
 * stream, reset per message, serves every connection. Returns the length,
 * or -1.
 */
static ssize_t
inflate_msg(const uint8_t *in, size_t len, uint8_t **out)
{
	static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
	static z_stream z;
	static int ready;
	static uint8_t *buf;
	static size_t cap;
	size_t have = 0;
	int pass, rc = Z_OK;

	if (!ready) {
		if (inflateInit2(&z, -15) != Z_OK)
			return -1;
		ready = 1;
	}
	inflateReset(&z);
	for (pass = 0; pass < 2 && rc != Z_STREAM_END; pass++) {
		z.next_in = (Bytef *)(pass == 0 ? in : tail);
		z.avail_in = (uInt)(pass == 0 ? len : sizeof(tail));
		while (z.avail_in > 0 || have == cap) {
			if (have == cap) {
				size_t ncap = cap ? cap * 2 : 65536;
				uint8_t *nb = realloc(buf, ncap);

				if (nb == NULL)
					return -1;
				buf = nb;
				cap = ncap;
			}
			z.next_out = buf + have;
			z.avail_out = (uInt)(cap - have);
			rc = inflate(&z, Z_SYNC_FLUSH);
			have = cap - z.avail_out;
			if (rc == Z_STREAM_END ||
			    (rc == Z_BUF_ERROR && z.avail_out > 0))
				break;
			if (rc != Z_OK && rc != Z_BUF_ERROR)
				return -1;
		}
	}
	*out = buf;
	return (ssize_t)have;
}

static void
on_ws_msg(wslay_event_context_ptr ctx,
	  const struct wslay_event_on_msg_recv_arg *a, void *user)
{
	struct wb_conn *c = user;
	uint8_t *msg;
	ssize_t n;

	(void)ctx;
	if (c->doomed)
		return;
	if (a->opcode != WSLAY_TEXT_FRAME && a->opcode != WSLAY_BINARY_FRAME)
		return;
	if (a->rsv & WSLAY_RSV1_BIT) {
		if ((n = inflate_msg(a->msg, a->msg_length, &msg)) < 0) {
			fail_log(c, "message does not inflate", NULL);
			return;
		}
		net.ops->msg(c, a->opcode, msg, (size_t)n);
		return;
	}
	net.ops->msg(c, a->opcode, a->msg, a->msg_length);
}

/*
 * The light path (--light, for idle connections by the hundred thousand):
 * after the 101 the connection has no wslay context (its 8.8 KB would be
 * 8.8 GB at a million). Server frames are parsed here: a ping is
 * answered with a pong, a text or binary message (whole, as wsd sends
 * them) goes to the mode, a close is answered and ends the connection.
 * A frame read in part waits in c->part until the rest comes.
 */
static int
light_send(struct wb_conn *c, int opcode, const uint8_t *p, size_t len)
{
	uint8_t f[14 + 256], mask[4];
	size_t hl = 2, i;

	if (len > 256)
		return -1; /* only pongs, closes and small messages here */
	f[0] = (uint8_t)(0x80 | opcode);
	if (len < 126) {
		f[1] = (uint8_t)(0x80 | len);
	} else {
		f[1] = 0x80 | 126;
		f[2] = (uint8_t)(len >> 8);
		f[3] = (uint8_t)len;
		hl = 4;
	}
	random_bytes(mask, 4);
	memcpy(f + hl, mask, 4);
	for (i = 0; i < len; i++)
		f[hl + 4 + i] = p[i] ^ mask[i & 3];
	/* A pong that does not fit the socket buffer now is not owed
	 * again: the server's next ping asks anew. */
	return send(c->io.fd, f, hl + 4 + len, MSG_NOSIGNAL) < 0 &&
		       errno != EAGAIN && errno != EWOULDBLOCK
		   ? -1
		   : 0;
}

/* Parse the frames in p[0..n); returns -1 when the connection ended. */
static int
light_frames(struct wb_conn *c, const uint8_t *p, size_t n)
{
	size_t off = 0;

	while (n - off >= 2) {
		const uint8_t *f = p + off;
		uint64_t plen = f[1] & 0x7f;
		size_t hl = 2;
		int opcode = f[0] & 0x0f;

		if (f[1] & 0x80) {
			fail_log(c, "a masked frame from the server", NULL);
			conn_end(c, WB_END_LOST);
			return -1;
		}
		if (plen == 126) {
			if (n - off < 4)
				break;
			plen = (uint64_t)f[2] << 8 | f[3];
			hl = 4;
		} else if (plen == 127) {
			int i;

			if (n - off < 10)
				break;
			for (plen = 0, i = 0; i < 8; i++)
				plen = plen << 8 | f[2 + i];
			hl = 10;
		}
		if (plen > (1u << 24)) {
			fail_log(c, "a frame over 16 MiB", NULL);
			conn_end(c, WB_END_LOST);
			return -1;
		}
		if (n - off < hl + plen)
			break;
		off += hl + (size_t)plen;
		if (opcode == 0x9) {
			if (light_send(c, 0xa, f + hl, (size_t)plen) != 0) {
				conn_end(c, WB_END_LOST);
				return -1;
			}
		} else if (opcode == 0x8) {
			if (c->state == WB_C_OPEN)
				light_send(c, 0x8, f + hl, plen < 2 ? plen : 2);
			conn_end(c, WB_END_CLOSED);
			return -1;
		} else if ((opcode == 0x1 || opcode == 0x2) && (f[0] & 0x80)) {
			net.ops->msg(c, opcode, f + hl, (size_t)plen);
			if (c->state != WB_C_OPEN && c->state != WB_C_CLOSING)
				return -1;
		}
	}
	/* Keep what is left of a frame read in part. */
	if (off < n) {
		uint8_t *keep = malloc(n - off);

		if (keep == NULL) {
			conn_end(c, WB_END_LOST);
			return -1;
		}
		memcpy(keep, p + off, n - off);
		free(c->part);
		c->part = keep;
		c->partlen = (uint32_t)(n - off);
	} else if (c->part != NULL && p != c->part) {
		free(c->part);
		c->part = NULL;
		c->partlen = 0;
	}
	return 0;
}

static void
light_read(struct wb_conn *c)
{
	static uint8_t buf[65536];
	ssize_t r;

	for (;;) {
		size_t have = 0;

		if (c->part != NULL) {
			have = c->partlen < sizeof(buf) ? c->partlen : 0;
			if (have == 0) {
				conn_end(c, WB_END_LOST); /* a huge frame */
				return;
			}
			memcpy(buf, c->part, have);
			free(c->part);
			c->part = NULL;
			c->partlen = 0;
		}
		r = recv(c->io.fd, buf + have, sizeof(buf) - have, 0);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (have > 0)
				light_frames(c, buf, have);
			return;
		}
		if (r <= 0) {
			c->eof = 1;
			conn_end(c, c->state == WB_C_CLOSING ? WB_END_CLOSED
							     : WB_END_LOST);
			return;
		}
		if (light_frames(c, buf, have + (size_t)r) != 0)
			return;
		if ((size_t)r < sizeof(buf) - have)
			return; /* drained: level-triggered, more wakes us */
	}
}

/* Read and write as wslay wants; the connection may end here. */
static void
ws_io(struct wb_conn *c, int revents)
{
	int r;

	if (revents & EV_READ) {
		c->drained = 0;
		c->in_recv = 1;
		r = wslay_event_recv(c->ws);
		c->in_recv = 0;
		if (c->doomed) {
			conn_end(c, WB_END_LOST);
			return;
		}
		if (r != 0) {
			conn_end(c, wslay_event_get_close_received(c->ws) &&
					    wslay_event_get_close_sent(c->ws)
					? WB_END_CLOSED
					: WB_END_LOST);
			return;
		}
	}
	if (wslay_event_want_write(c->ws) && wslay_event_send(c->ws) != 0) {
		conn_end(c, WB_END_LOST);
		return;
	}
	settle(c);
}

static int
check_response(struct wb_conn *c)
{
	struct wb_hs *hs = c->hs;
	char *line, *next, *end = hs->buf + hs->head_end, *v;

	if (hs->head_end < 12 || memcmp(hs->buf, "HTTP/1.1 101", 12) != 0) {
		line = memchr(hs->buf, '\r', hs->head_end);
		if (line != NULL)
			*line = '\0';
		fail_log(c, "upgrade refused", hs->buf);
		return -1;
	}
	for (line = hs->buf; line < end; line = next + 2) {
		next = memmem(line, (size_t)(end - line), "\r\n", 2);
		if (next == NULL)
			break;
		if (next - line < 21 ||
		    strncasecmp(line, "sec-websocket-accept:", 21) != 0)
			continue;
		for (v = line + 21; v < next && (*v == ' ' || *v == '\t'); v++)
			;
		if (next - v >= 28 && memcmp(v, hs->accept, 28) == 0) {
			/* The extension answered, if it was offered. */
			c->pmd = net.o->deflate &&
				 memmem(hs->buf, hs->head_end,
					"permessage-deflate", 18) != NULL;
			return 0;
		}
		fail_log(c, "wrong Sec-WebSocket-Accept", NULL);
		return -1;
	}
	fail_log(c, "no Sec-WebSocket-Accept", NULL);
	return -1;
}

static void
handshake_read(struct wb_conn *c)
{
	struct wb_hs *hs = c->hs;
	char *p;
	ssize_t r;

	for (;;) {
		if (hs->len >= HS_BUF - 1) {
			fail_log(c, "response head too large", NULL);
			conn_end(c, WB_END_FAILED);
			return;
		}
		r = recv(c->io.fd, hs->buf + hs->len, HS_BUF - 1 - hs->len, 0);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			fail_log(c, "closed during the handshake",
				 r < 0 ? strerror(errno) : NULL);
			conn_end(c, WB_END_FAILED);
			return;
		}
		hs->len += (size_t)r;
		hs->buf[hs->len] = '\0';
		if ((p = strstr(hs->buf, "\r\n\r\n")) != NULL)
			break;
	}
	hs->head_end = (size_t)(p + 4 - hs->buf);
	if (net.o->light) {
		uint8_t rest[HS_BUF];
		size_t nrest = hs->len - hs->head_end;

		if (check_response(c) != 0) {
			conn_end(c, WB_END_FAILED);
			return;
		}
		memcpy(rest, hs->buf + hs->head_end, nrest);
		free(hs);
		c->hs = NULL;
		c->light = 1;
		c->state = WB_C_OPEN;
		set_events(c, EV_READ);
		net.ops->open(c);
		if (c->state == WB_C_OPEN && nrest > 0)
			light_frames(c, rest, nrest);
		return;
	}
	if (check_response(c) != 0 ||
	    wslay_event_context_client_init(&c->ws, &net.cb, c) != 0) {
		conn_end(c, WB_END_FAILED);
		return;
	}
	if (c->pmd)
		wslay_event_config_set_allowed_rsv_bits(c->ws, WSLAY_RSV1_BIT);
	hs->left_off = hs->head_end;
	if (hs->left_off == hs->len) {
		free(hs);
		c->hs = NULL;
	}
	c->state = WB_C_OPEN;
	net.ops->open(c);
	if (c->state != WB_C_OPEN && c->state != WB_C_CLOSING)
		return; /* ended (and maybe reopened) by the mode */
	/* Frames that came with the 101 are read now, not on the next event. */
	ws_io(c, c->hs != NULL ? EV_READ : 0);
}

static void
handshake_write(struct wb_conn *c)
{
	struct wb_hs *hs = c->hs;
	int err = 0;
	socklen_t elen = sizeof(err);
	ssize_t r;

	if (c->state == WB_C_CONNECTING) {
		if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &err, &elen) !=
		    0)
			err = errno;
		if (err != 0) {
			fail_log(c, "connect", strerror(err));
			conn_end(c, WB_END_FAILED);
			return;
		}
		c->state = WB_C_HANDSHAKE;
	}
	while (hs->req_off < hs->req_len) {
		r = send(c->io.fd, hs->req + hs->req_off,
			 hs->req_len - hs->req_off, MSG_NOSIGNAL);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r < 0) {
			fail_log(c, "sending the upgrade", strerror(errno));
			conn_end(c, WB_END_FAILED);
			return;
		}
		hs->req_off += (size_t)r;
	}
	set_events(c, EV_READ);
}

static void
on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct wb_conn *c = (struct wb_conn *)w; /* io is the first member */

	(void)loop;
	switch (c->state) {
	case WB_C_CONNECTING: handshake_write(c); break;
	case WB_C_HANDSHAKE:
		if (c->hs->req_off < c->hs->req_len)
			handshake_write(c);
		else
			handshake_read(c);
		break;
	case WB_C_OPEN:
	case WB_C_CLOSING:
		if (c->light)
			light_read(c);
		else
			ws_io(c, revents);
		break;
	default: break;
	}
}

void
wb_net_init(struct ev_loop *loop, const struct wb_opts *o,
	    const struct wb_conn_ops *ops)
{
	memset(&net, 0, sizeof(net));
	net.loop = loop;
	net.o = o;
	net.ops = ops;
	net.rnd_off = sizeof(net.rnd);
	net.cb.recv_callback = on_ws_recv;
	net.cb.send_callback = on_ws_send;
	net.cb.genmask_callback = on_ws_genmask;
	net.cb.on_msg_recv_callback = on_ws_msg;
	net.dst.sin_family = AF_INET;
	net.dst.sin_port = htons((uint16_t)o->port);
	inet_pton(AF_INET, o->host, &net.dst.sin_addr);
}

/* The request target with "{id}" replaced by the connection id. */
static void
format_path(char *out, size_t len, const char *path, uint32_t id)
{
	const char *p = strstr(path, "{id}");

	if (p == NULL)
		snprintf(out, len, "%s", path);
	else
		snprintf(out, len, "%.*s%u%s", (int)(p - path), path, id,
			 p + 4);
}

static void
make_request(struct wb_hs *hs, uint32_t id)
{
	const struct wb_opts *o = net.o;
	unsigned char raw[16], digest[SHA_DIGEST_LENGTH];
	char key[32], cat[64], path[300], proto[128] = "", ext[96] = "";
	int n;

	random_bytes(raw, sizeof(raw));
	EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
	n = snprintf(cat, sizeof(cat), "%s" WS_GUID, key);
	SHA1((const unsigned char *)cat, (size_t)n, digest);
	EVP_EncodeBlock((unsigned char *)hs->accept, digest, sizeof(digest));
	format_path(path, sizeof(path), o->path, id);
	if (o->subproto != NULL)
		snprintf(proto, sizeof(proto),
			 "Sec-WebSocket-Protocol: %.80s\r\n", o->subproto);
	if (o->deflate)
		snprintf(ext, sizeof(ext),
			 "Sec-WebSocket-Extensions: permessage-deflate; "
			 "client_no_context_takeover\r\n");
	n = snprintf(hs->req, sizeof(hs->req),
		     "GET %s HTTP/1.1\r\nHost: %s:%d\r\n"
		     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
		     "%s%s\r\n",
		     path, o->host, o->port, key, proto, ext);
	hs->req_len =
	    (size_t)n < sizeof(hs->req) ? (size_t)n : sizeof(hs->req) - 1;
}

int
wb_conn_open(struct wb_conn *c, uint32_t id)
{
	struct sockaddr_in src;
	struct wb_hs *hs = NULL;
	int fd, one = 1, saved;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	src.sin_addr.s_addr = htonl(0x7f000002u + id % (uint32_t)net.o->naddrs);
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0)
		goto fail;
	if (connect(fd, (struct sockaddr *)&net.dst, sizeof(net.dst)) != 0 &&
	    errno != EINPROGRESS)
		goto fail;
	if ((hs = malloc(sizeof(*hs))) == NULL)
		goto fail;
	hs->req_off = hs->len = hs->left_off = hs->head_end = 0;
	make_request(hs, id);
	c->hs = hs;
	c->ws = NULL;
	c->id = id;
	c->state = WB_C_CONNECTING;
	c->ready = c->in_recv = c->doomed = c->eof = c->drained = 0;
	/* c->pub belongs to the mode */
	c->t_start = wb_now_ns();
	ev_io_init(&c->io, on_io, fd, EV_WRITE);
	ev_io_start(net.loop, &c->io);
	return 0;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int
wb_conn_send(struct wb_conn *c, int opcode, const void *buf, size_t len)
{
	struct wslay_event_msg m;

	if (c->state != WB_C_OPEN || c->doomed)
		return -1;
	if (c->light) {
		if (light_send(c, opcode, buf, len) != 0) {
			wb_conn_abort(c);
			return -1;
		}
		return 0;
	}
	m.opcode = (uint8_t)opcode;
	m.msg = buf;
	m.msg_length = len;
	if (wslay_event_queue_msg(c->ws, &m) != 0) {
		wb_conn_abort(c);
		return -1;
	}
	if (c->in_recv)
		return 0; /* ws_io sends once wslay_event_recv returns */
	if (wslay_event_send(c->ws) != 0) {
		conn_end(c, WB_END_LOST);
		return -1;
	}
	settle(c);
	return 0;
}

void
wb_conn_close(struct wb_conn *c, uint16_t code)
{
	if (c->state != WB_C_OPEN || c->doomed)
		return;
	c->state = WB_C_CLOSING;
	if (c->light) {
		uint8_t cc[2] = {(uint8_t)(code >> 8), (uint8_t)code};

		light_send(c, 0x8, cc, 2);
		return;
	}
	wslay_event_queue_close(c->ws, code, NULL, 0);
	if (c->in_recv)
		return;
	if (wslay_event_send(c->ws) != 0) {
		conn_end(c, WB_END_LOST);
		return;
	}
	settle(c);
}

void
wb_conn_abort(struct wb_conn *c)
{
	if (c->state == WB_C_FREE)
		return;
	if (c->in_recv) {
		c->doomed = 1;
		return;
	}
	conn_end(c, c->state == WB_C_OPEN || c->state == WB_C_CLOSING
			? WB_END_LOST
			: WB_END_FAILED);
}
