/*
 * wk_accept.h: the listening socket every worker inherits from the
 * supervisor. The kernel spreads connections among the workers; each new
 * one starts its handshake with wk_http.c's handler.
 */
#ifndef WSD_WK_ACCEPT_H
#define WSD_WK_ACCEPT_H

/* Get ready to accept on fd, the client listener of that index (nothing
 * is accepted before wk_accept_start). A listener with certificates
 * (wk_tls.h) speaks TLS. */
void wk_accept_init(int index, int fd);

/* Accept connections (after the first CONFIG). */
void wk_accept_start(void);

/* Accept no more (stopping): this worker's copies of the listening sockets
 * are closed, so that once every worker holding an old address is gone,
 * connects to it are refused at once rather than left waiting. */
void wk_accept_stop(void);

#endif
