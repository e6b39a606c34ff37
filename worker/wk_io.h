/*
 * wk_io.h: the I/O seam of a client connection (struct wk_io in wk.h).
 * Every read, writev, shutdown and close of a client socket goes through
 * the connection's io_ops, so that TLS can take the place of a plain
 * socket without the layers above noticing.
 */
#ifndef WSD_WK_IO_H
#define WSD_WK_IO_H

#include "wk.h"

/* A plain, non-blocking TCP socket (or any stream socket): c->io.fd. */
extern const struct wk_io wk_io_plain;

#endif
