/*
 * sv_state.h: the state file that carries the engine's memory across a
 * planned restart (pure file format and I/O, no engine knowledge).
 *
 * A state file is a header, a payload and a checksum:
 *
 *   "WSDSTATE"  8 bytes
 *   version     4 bytes, big-endian (SV_STATE_VERSION)
 *   length      8 bytes, big-endian: the payload's size
 *   payload     length bytes (the engine's msgpack, sv_mem.c)
 *   sha256      32 bytes over everything before it
 *
 * It is written to a temporary file beside the target, fsynced and
 * renamed over it, so a crash while writing leaves the old file or none.
 * A reader accepts a file only when every part checks out; anything else
 * (missing, foreign, another version, truncated, flipped bytes) is
 * refused with a reason, and the daemon starts without it.
 */
#ifndef WSD_SV_STATE_H
#define WSD_SV_STATE_H

#include <stddef.h>
#include <stdint.h>

#define SV_STATE_VERSION 1
#define SV_STATE_MAX (1ull << 34) /* 16 GiB: larger is not ours */

/*
 * Check a whole file's bytes buf[0..len): on WSD_OK, *payload and *plen
 * point into buf; otherwise WSD_EPROTO with a static reason in *why.
 */
int sv_state_check(const void *buf, size_t len, const void **payload,
		   size_t *plen, const char **why);

/*
 * Frame payload[0..plen) as a state file into a new malloc'd buffer
 * (*out, *outlen). WSD_OK or WSD_ENOMEM.
 */
int sv_state_frame(const void *payload, size_t plen, void **out,
		   size_t *outlen);

/*
 * Write payload as the state file at path (temporary file, fsync,
 * rename, fsync of the directory). WSD_OK, or WSD_EINVAL with the reason
 * in err.
 */
int sv_state_write(const char *path, const void *payload, size_t plen,
		   char *err, size_t errlen);

/*
 * Read and check the state file at path into a new malloc'd buffer
 * (*buf, which the caller frees) with the payload in *payload, *plen.
 * WSD_OK; WSD_ENOENT when there is no file; WSD_EPROTO (refused, the
 * reason in err) or WSD_EINVAL (unreadable, the reason in err).
 */
int sv_state_read(const char *path, void **buf, const void **payload,
		  size_t *plen, char *err, size_t errlen);

#endif
