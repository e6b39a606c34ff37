/*
 * wk_accept.h: the listening socket every worker inherits from the
 * supervisor. The kernel spreads connections among the workers; each new
 * one starts its handshake with wk_http.c's handler.
 */
#ifndef WSD_WK_ACCEPT_H
#define WSD_WK_ACCEPT_H

/* Get ready to accept on fd (nothing is accepted before wk_accept_start). */
void wk_accept_init(int fd);

/* Accept connections (after the first CONFIG). */
void wk_accept_start(void);

/* Accept no more (stopping): this worker's copy of the listening socket
 * is closed, so that once every worker holding an old address is gone,
 * connects to it are refused at once rather than left waiting. */
void wk_accept_stop(void);

#endif
