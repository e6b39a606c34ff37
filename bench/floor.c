/*
 * floor: the least a WebSocket server can do, as a benchmark peer (not a
 * part of wsd). One process, one epoll loop, level-triggered: accept,
 * read the upgrade request, answer 101, then parse client frames and
 * answer each whole message with one write:
 *
 *	floor echo|broadcast PORT
 *
 * echo sends every text or binary message back on its connection;
 * broadcast sends it to every other open connection (as bench/peer-node.js
 * does). Pings get pongs, a close gets a close. There is no registry, no
 * queue, no timer, no limit beyond a 64 KiB frame: what a connection
 * costs here is its struct and its buffers while they hold bytes. A write
 * that the kernel takes only in part keeps the rest in a buffer of the
 * connection, written when the socket drains (the stream must stay
 * whole); nothing is dropped. Listens on 127.0.0.1 only, prints
 * "listening PORT", exits on SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define MAX_FRAME 65536
#define MAX_HEAD 8192
#define MAX_FDS 65536

struct fconn {
	int fd;
	int open; /* upgraded */
	int idx;  /* in opened[], once open */
	uint8_t *in;
	size_t inlen, incap;
	uint8_t *out; /* what a short write left */
	size_t outlen;
};

static struct fconn *conns[MAX_FDS];
static struct fconn *opened[MAX_FDS]; /* the open ones, densely */
static int nopened, broadcast, ep;
static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
drop(struct fconn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	conns[c->fd] = NULL;
	if (c->open) {
		opened[c->idx] = opened[--nopened];
		opened[c->idx]->idx = c->idx;
	}
	free(c->in);
	free(c->out);
	free(c);
}

static void
want_write(struct fconn *c, int on)
{
	struct epoll_event e = {.events = EPOLLIN | (on ? EPOLLOUT : 0),
				.data.fd = c->fd};

	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* Keep what the kernel did not take; -1 when out of memory. */
static int
keep(struct fconn *c, const struct iovec *iov, int n, size_t done)
{
	size_t total = 0;
	int i;

	for (i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (done >= total)
		return 0;
	{
		uint8_t *p = realloc(c->out, c->outlen + total - done);

		if (p == NULL)
			return -1;
		c->out = p;
	}
	for (i = 0; i < n; i++) {
		size_t len = iov[i].iov_len, skip = done < len ? done : len;

		memcpy(c->out + c->outlen, (uint8_t *)iov[i].iov_base + skip,
		       len - skip);
		c->outlen += len - skip;
		done -= skip;
	}
	want_write(c, 1);
	return 0;
}

/* One frame, one writev (header and payload); -1: the connection went. */
static int
send_frame(struct fconn *c, int opcode, const uint8_t *p, size_t len)
{
	uint8_t h[10];
	struct iovec iov[2];
	size_t hl = 2;
	ssize_t w = 0;

	h[0] = (uint8_t)(0x80 | opcode);
	if (len < 126) {
		h[1] = (uint8_t)len;
	} else if (len < 65536) {
		h[1] = 126;
		h[2] = (uint8_t)(len >> 8);
		h[3] = (uint8_t)len;
		hl = 4;
	} else {
		int i;

		h[1] = 127;
		for (i = 0; i < 8; i++)
			h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
		hl = 10;
	}
	iov[0].iov_base = h;
	iov[0].iov_len = hl;
	iov[1].iov_base = (void *)p;
	iov[1].iov_len = len;
	if (c->outlen == 0) {
		w = writev(c->fd, iov, 2);
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (w < 0)
			w = 0;
	}
	return keep(c, iov, 2, (size_t)w);
}

static void
flush_out(struct fconn *c)
{
	ssize_t w = write(c->fd, c->out, c->outlen);

	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR)
			drop(c);
		return;
	}
	memmove(c->out, c->out + w, c->outlen - (size_t)w);
	c->outlen -= (size_t)w;
	if (c->outlen == 0)
		want_write(c, 0);
}

static void
deliver(struct fconn *from, int opcode, const uint8_t *p, size_t len)
{
	int i;

	if (!broadcast) {
		if (send_frame(from, opcode, p, len) != 0)
			drop(from);
		return;
	}
	/* Downwards: a drop moves the last one, already done, into i. */
	for (i = nopened - 1; i >= 0; i--) {
		struct fconn *c = opened[i];

		if (c != from && send_frame(c, opcode, p, len) != 0)
			drop(c);
	}
}

/* The upgrade: 1 done, 0 more to read, -1 refuse. */
static int
upgrade(struct fconn *c)
{
	char *head = (char *)c->in, *end, *k, *line;
	unsigned char digest[SHA_DIGEST_LENGTH];
	char cat[128], acc[32], resp[256];
	size_t klen;
	int n;

	if ((end = memmem(head, c->inlen, "\r\n\r\n", 4)) == NULL)
		return c->inlen >= MAX_HEAD ? -1 : 0;
	*end = '\0';
	for (line = strstr(head, "\r\n"); line != NULL;
	     line = strstr(line + 2, "\r\n")) {
		if (strncasecmp(line + 2, "sec-websocket-key:", 18) == 0)
			break;
	}
	if (line == NULL)
		return -1;
	for (k = line + 20; *k == ' '; k++)
		;
	klen = strcspn(k, "\r\n ");
	if (klen == 0 || klen > 64)
		return -1;
	n = snprintf(cat, sizeof(cat), "%.*s" WS_GUID, (int)klen, k);
	SHA1((unsigned char *)cat, (size_t)n, digest);
	EVP_EncodeBlock((unsigned char *)acc, digest, sizeof(digest));
	n = snprintf(
	    resp, sizeof(resp),
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
	    acc);
	if (write(c->fd, resp, (size_t)n) != n)
		return -1;
	c->open = 1;
	c->idx = nopened;
	opened[nopened++] = c;
	klen = (size_t)(end + 4 - head);
	memmove(c->in, c->in + klen, c->inlen - klen);
	c->inlen -= klen;
	return 1;
}

/* Parse whole frames from c->in; -1: close the connection. */
static int
frames(struct fconn *c)
{
	size_t off = 0;

	for (;;) {
		uint8_t *f = c->in + off, mask[4];
		size_t avail = c->inlen - off, hl = 2, len, i;
		int opcode;

		if (avail < 2)
			break;
		opcode = f[0] & 0x0f;
		len = f[1] & 0x7f;
		if (!(f[1] & 0x80) || !(f[0] & 0x80))
			return -1; /* unmasked, or fragmented: not here */
		if (len == 126) {
			if (avail < 4)
				break;
			len = (size_t)f[2] << 8 | f[3];
			hl = 4;
		} else if (len == 127) {
			return -1; /* over MAX_FRAME */
		}
		if (len > MAX_FRAME)
			return -1;
		if (avail < hl + 4 + len)
			break;
		memcpy(mask, f + hl, 4);
		for (i = 0; i < len; i++)
			f[hl + 4 + i] ^= mask[i & 3];
		if (opcode == 1 || opcode == 2)
			deliver(c, opcode, f + hl + 4, len);
		else if (opcode == 9 && send_frame(c, 10, f + hl + 4, len) != 0)
			return -1;
		else if (opcode == 8) {
			send_frame(c, 8, f + hl + 4, len < 2 ? len : 2);
			return -1;
		}
		if (conns[c->fd] != c)
			return -2; /* dropped while delivering (echo) */
		off += hl + 4 + len;
	}
	memmove(c->in, c->in + off, c->inlen - off);
	c->inlen -= off;
	return 0;
}

static void
readable(struct fconn *c)
{
	ssize_t r;
	int rc;

	if (c->incap - c->inlen < 4096) {
		size_t cap = c->incap ? c->incap * 2 : 8192;
		uint8_t *p;

		if (cap > 2 * MAX_FRAME + 16 ||
		    (p = realloc(c->in, cap)) == NULL) {
			drop(c);
			return;
		}
		c->in = p;
		c->incap = cap;
	}
	r = read(c->fd, c->in + c->inlen, c->incap - c->inlen);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		drop(c);
		return;
	}
	if (r < 0)
		return;
	c->inlen += (size_t)r;
	if (!c->open) {
		if ((rc = upgrade(c)) < 0)
			drop(c);
		if (rc <= 0)
			return;
		if (c->inlen == 0) {
			free(c->in); /* an idle connection keeps no buffer */
			c->in = NULL;
			c->incap = 0;
			return;
		}
	}
	if ((rc = frames(c)) == -1)
		drop(c);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct epoll_event e, evs[256];
	int lfd, one = 1, port, i, n;

	if (argc != 3 ||
	    (strcmp(argv[1], "echo") != 0 &&
	     strcmp(argv[1], "broadcast") != 0) ||
	    (port = atoi(argv[2])) <= 0) {
		fprintf(stderr, "usage: floor echo|broadcast PORT\n");
		return 2;
	}
	broadcast = strcmp(argv[1], "broadcast") == 0;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(lfd, 4096) != 0) {
		perror("floor: listen");
		return 1;
	}
	ep = epoll_create1(0);
	e.events = EPOLLIN;
	e.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e);
	printf("listening %d\n", port);
	fflush(stdout);
	while (!stop) {
		n = epoll_wait(ep, evs, 256, 1000);
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			struct fconn *c;

			if (fd == lfd) {
				int cfd;

				while ((cfd = accept4(lfd, NULL, NULL,
						      SOCK_NONBLOCK)) >= 0) {
					if (cfd >= MAX_FDS ||
					    (c = calloc(1, sizeof(*c))) ==
						NULL) {
						close(cfd);
						continue;
					}
					setsockopt(cfd, IPPROTO_TCP,
						   TCP_NODELAY, &one,
						   sizeof(one));
					c->fd = cfd;
					conns[cfd] = c;
					e.events = EPOLLIN;
					e.data.fd = cfd;
					epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &e);
				}
				continue;
			}
			if ((c = conns[fd]) == NULL)
				continue;
			if ((evs[i].events & EPOLLOUT) && c->outlen > 0)
				flush_out(c);
			if ((c = conns[fd]) != NULL &&
			    (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				readable(c);
		}
	}
	return 0;
}
