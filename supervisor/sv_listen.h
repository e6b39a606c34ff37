/*
 * sv_listen.h: listening TCP sockets, for the client listener (bound by
 * the cycle before any worker exists, inherited by every worker) and the
 * admin listener.
 */
#ifndef WSD_SV_LISTEN_H
#define WSD_SV_LISTEN_H

/*
 * A listening socket on "ADDR:PORT" (non-blocking, close-on-exec), or -1
 * after logging why (not ADDR:PORT, unknown address, cannot bind).
 */
int sv_listen_open(const char *hostport, int backlog);

#endif
