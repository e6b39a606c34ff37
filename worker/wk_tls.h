/*
 * wk_tls.h: TLS for the client listeners that have certificates: the TLS
 * operations of the I/O seam (struct wk_io), and the worker's TLS
 * contexts, built from the certificates and ticket keys the supervisor
 * sends in every CONFIG (settings.h: tls_certs, tls_tickets).
 */
#ifndef WSD_WK_TLS_H
#define WSD_WK_TLS_H

#include "wk.h"

/* A connection on a TLS listener: c->tls holds its session. The
 * handshake runs inside the first reads, so the handshake timeout of the
 * connection bounds it. */
extern const struct wk_io wk_io_tls;

/* Whether the client listener of that index speaks TLS (it has
 * certificates in the last CONFIG). */
int wk_tls_listener(int index);

/*
 * Give c (created with wk_io_tls on the listener of that index) its TLS
 * session in server mode. Returns WSD_OK, or WSD_ENOMEM / WSD_EINVAL (no
 * context for the listener): the caller destroys c.
 */
int wk_tls_attach(struct wk_conn *c, int index);

/*
 * Apply wk.cfg's tls_certs and tls_tickets (after a CONFIG): the contexts
 * are rebuilt when the certificates changed, and the ticket keys replaced.
 * Connections keep the context they started with. A context that cannot
 * be built keeps the old ones and is logged (the supervisor checked the
 * files, so it is a bug or memory).
 */
void wk_tls_configure(void);

/* Free the contexts (at exit, after every connection is destroyed). */
void wk_tls_fini(void);

#endif
