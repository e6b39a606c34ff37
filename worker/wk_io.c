/*
 * wk_io.c: the plain-socket operations of the I/O seam (wk_io.h). They
 * turn read(2), writev(2) and shutdown(2) into the seam's return codes:
 * bytes moved, WSD_EAGAIN (would block, or interrupted: try again), or
 * WSD_ECLOSED (end of stream or a socket error). The bytes moved are
 * counted in the worker's totals (wk.tot).
 */
#include "wk_io.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

static ssize_t
plain_read(struct wk_conn *c, void *buf, size_t len)
{
	ssize_t n = read(c->io.fd, buf, len);

	if (n > 0) {
		wk.tot[PROTO_TOT_BYTES_IN] += (uint64_t)n;
		return n;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return WSD_EAGAIN;
	return WSD_ECLOSED;
}

static ssize_t
plain_writev(struct wk_conn *c, const struct iovec *iov, int n)
{
	ssize_t k = writev(c->io.fd, iov, n);

	if (k >= 0) {
		wk.tot[PROTO_TOT_BYTES_OUT] += (uint64_t)k;
		return k;
	}
	if (errno == EAGAIN || errno == EINTR)
		return WSD_EAGAIN;
	return WSD_ECLOSED;
}

static void
plain_shutdown(struct wk_conn *c, int how)
{
	shutdown(c->io.fd, how);
}

static void
plain_close(struct wk_conn *c)
{
	close(c->io.fd);
}

const struct wk_io wk_io_plain = {
    .read = plain_read,
    .writev = plain_writev,
    .shutdown = plain_shutdown,
    .close = plain_close,
};
