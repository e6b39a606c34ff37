/*
 * sv_state.c: the state file format and its I/O (sv_state.h), with
 * OpenSSL's SHA-256 for the checksum.
 */
#include "sv_state.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../proto/err.h"

#define MAGIC "WSDSTATE"
#define MAGIC_LEN 8
#define HEAD_LEN (MAGIC_LEN + 4 + 8)
#define SUM_LEN SHA256_DIGEST_LENGTH

static uint64_t
get_be(const unsigned char *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void
put_be(unsigned char *p, uint64_t v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

int
sv_state_check(const void *buf, size_t len, const void **payload, size_t *plen,
	       const char **why)
{
	const unsigned char *b = buf;
	unsigned char sum[SUM_LEN];
	uint64_t n;

	if (len < MAGIC_LEN || memcmp(b, MAGIC, MAGIC_LEN) != 0) {
		*why = "not a wsd state file";
		return WSD_EPROTO;
	}
	if (len < HEAD_LEN) {
		*why = "truncated";
		return WSD_EPROTO;
	}
	if (get_be(b + MAGIC_LEN, 4) != SV_STATE_VERSION) {
		*why = "another version of the state file";
		return WSD_EPROTO;
	}
	n = get_be(b + MAGIC_LEN + 4, 8);
	if (n > SV_STATE_MAX || len - HEAD_LEN < n + SUM_LEN) {
		*why = "truncated";
		return WSD_EPROTO;
	}
	if (len - HEAD_LEN != n + SUM_LEN) {
		*why = "bytes after the checksum";
		return WSD_EPROTO;
	}
	SHA256(b, HEAD_LEN + n, sum);
	if (CRYPTO_memcmp(sum, b + HEAD_LEN + n, SUM_LEN) != 0) {
		*why = "checksum mismatch (corrupt)";
		return WSD_EPROTO;
	}
	*payload = b + HEAD_LEN;
	*plen = (size_t)n;
	return WSD_OK;
}

int
sv_state_frame(const void *payload, size_t plen, void **out, size_t *outlen)
{
	size_t len = HEAD_LEN + plen + SUM_LEN;
	unsigned char *b = malloc(len);

	if (b == NULL)
		return WSD_ENOMEM;
	memcpy(b, MAGIC, MAGIC_LEN);
	put_be(b + MAGIC_LEN, SV_STATE_VERSION, 4);
	put_be(b + MAGIC_LEN + 4, plen, 8);
	if (plen > 0)
		memcpy(b + HEAD_LEN, payload, plen);
	SHA256(b, HEAD_LEN + plen, b + HEAD_LEN + plen);
	*out = b;
	*outlen = len;
	return WSD_OK;
}

/* Write all of buf to fd; WSD_OK or WSD_EINVAL (errno set). */
static int
write_all(int fd, const unsigned char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return WSD_EINVAL;
		buf += n;
		len -= (size_t)n;
	}
	return WSD_OK;
}

int
sv_state_write(const char *path, const void *payload, size_t plen, char *err,
	       size_t errlen)
{
	char tmp[4200], dir[4200];
	void *buf;
	size_t len;
	int fd, dfd, rc;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return WSD_EINVAL;
	}
	if (sv_state_frame(payload, plen, &buf, &len) != WSD_OK) {
		snprintf(err, errlen, "%s: out of memory", path);
		return WSD_EINVAL;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	rc = fd < 0 ? WSD_EINVAL : write_all(fd, buf, len);
	if (rc == WSD_OK && fsync(fd) != 0)
		rc = WSD_EINVAL;
	if (fd >= 0 && close(fd) != 0)
		rc = WSD_EINVAL;
	if (rc == WSD_OK && rename(tmp, path) != 0)
		rc = WSD_EINVAL;
	if (rc != WSD_OK) {
		snprintf(err, errlen, "%s: cannot write the state file: %s",
			 path, strerror(errno));
		unlink(tmp);
	} else {
		/* The rename is durable once the directory is. */
		snprintf(dir, sizeof(dir), "%s", path);
		if ((dfd = open(dirname(dir), O_RDONLY | O_CLOEXEC)) >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	free(buf);
	return rc;
}

int
sv_state_read(const char *path, void **buf, const void **payload, size_t *plen,
	      char *err, size_t errlen)
{
	struct stat st;
	const char *why;
	unsigned char *b;
	size_t got = 0;
	int fd;

	*buf = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return WSD_ENOENT;
		snprintf(err, errlen, "%s: cannot read the state file: %s",
			 path, strerror(errno));
		return WSD_EINVAL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > SV_STATE_MAX + HEAD_LEN + SUM_LEN ||
	    (b = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen,
			 "%s: not a regular file of a size we read", path);
		close(fd);
		return WSD_EINVAL;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, b + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (sv_state_check(b, got, payload, plen, &why) != WSD_OK) {
		snprintf(err, errlen, "%s: %s", path, why);
		free(b);
		return WSD_EPROTO;
	}
	*buf = b;
	return WSD_OK;
}
