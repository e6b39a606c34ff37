/*
 * sv_listen.h: listening TCP sockets, for the client listener (bound by
 * the cycle before any worker exists, inherited by every worker) and the
 * admin listener.
 */
#ifndef WSD_SV_LISTEN_H
#define WSD_SV_LISTEN_H

#include <stddef.h>

#include "sv_config.h"

/* The client listeners, in the order of listen's addresses. */
struct sv_listeners {
	int n;
	int fd[SV_LISTENERS_MAX];
};

/*
 * A listening socket on "ADDR:PORT" (non-blocking, close-on-exec), or -1
 * after logging why (not ADDR:PORT, unknown address, cannot bind), which
 * is also put in why (whylen bytes) unless why is NULL.
 */
int sv_listen_open(const char *hostport, int backlog, char *why, size_t whylen);

/*
 * Open every address of list ("ADDR:PORT,..."; sv_listen_split) into
 * out. Returns WSD_OK, or WSD_EINVAL (nothing left open; why set as by
 * sv_listen_open).
 */
int sv_listen_open_all(const char *list, int backlog, struct sv_listeners *out,
		       char *why, size_t whylen);

/* Close every listener of l (n becomes 0). */
void sv_listen_close_all(struct sv_listeners *l);

#endif
