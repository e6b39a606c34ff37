/*
 * sv_listen.h: listening TCP sockets, for the client listener (bound by
 * the cycle before any worker exists, inherited by every worker) and the
 * admin listener.
 */
#ifndef WSD_SV_LISTEN_H
#define WSD_SV_LISTEN_H

#include <stddef.h>

/*
 * A listening socket on "ADDR:PORT" (non-blocking, close-on-exec), or -1
 * after logging why (not ADDR:PORT, unknown address, cannot bind), which
 * is also put in why (whylen bytes) unless why is NULL.
 */
int sv_listen_open(const char *hostport, int backlog, char *why, size_t whylen);

#endif
