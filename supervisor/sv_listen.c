/*
 * sv_listen.c: listening sockets (sv_listen.h).
 */
#include "sv_listen.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../proto/err.h"
#include "../proto/log.h"
#include "sv_config.h"

static void
why_set(char *why, size_t len, const char *fmt, const char *a, const char *b)
{
	if (why != NULL && len > 0)
		snprintf(why, len, fmt, a, b);
}

int
sv_listen_open(const char *hostport, int backlog, char *why, size_t whylen)
{
	struct addrinfo hints, *res = NULL, *ai;
	char host[256], port[16];
	int p, fd = -1, one = 1, rc;

	if (sv_parse_hostport(hostport, host, sizeof(host), &p) != 0) {
		log_error("listen_failed", "listen=%s error=%s",
			  log_q(hostport), log_q("not ADDR:PORT"));
		why_set(why, whylen, "%s is not ADDR:PORT%s", hostport, "");
		return -1;
	}
	snprintf(port, sizeof(port), "%d", p);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res)) !=
	    0) {
		log_error("listen_failed", "listen=%s error=%s",
			  log_q(hostport), log_q(gai_strerror(rc)));
		why_set(why, whylen, "%s: %s", hostport, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
			    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			log_error("listen_failed", "listen=%s error=%s",
				  log_q(hostport), log_q(strerror(errno)));
			why_set(why, whylen, "cannot listen on %s: %s",
				hostport, strerror(errno));
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, backlog) == 0)
			break;
		log_error("listen_failed", "listen=%s error=%s",
			  log_q(hostport), log_q(strerror(errno)));
		why_set(why, whylen, "cannot listen on %s: %s", hostport,
			strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

int
sv_listen_open_all(const char *list, int backlog, struct sv_listeners *out,
		   char *why, size_t whylen)
{
	char addrs[SV_LISTENERS_MAX][SV_HOSTPORT_MAX];
	int i, n = sv_listen_split(list, addrs);

	out->n = 0;
	if (n < 0) {
		log_error("listen_failed", "listen=%s error=%s", log_q(list),
			  log_q("not ADDR:PORT"));
		why_set(why, whylen, "%s is not ADDR:PORT%s", list, "");
		return WSD_EINVAL;
	}
	for (i = 0; i < n; i++) {
		if ((out->fd[i] =
			 sv_listen_open(addrs[i], backlog, why, whylen)) < 0) {
			sv_listen_close_all(out);
			return WSD_EINVAL;
		}
		out->n = i + 1;
	}
	return WSD_OK;
}

void
sv_listen_close_all(struct sv_listeners *l)
{
	int i;

	for (i = 0; i < l->n; i++)
		close(l->fd[i]);
	l->n = 0;
}
