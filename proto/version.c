/*
 * version.c: the version report of both binaries (version.h). Each
 * library is asked for its version where it has a function for it
 * (libev, nng, msgpack-c, jansson, OpenSSL, zlib, http-parser), so the
 * report names the library actually loaded, which can be newer than the
 * one built against. wslay and libconfig only have header macros, and
 * libjwt and libsystemd not even that: their versions come from their
 * pkg-config files, passed in by the Makefile (WSD_LIBJWT_VERSION,
 * WSD_LIBSYSTEMD_VERSION) along with the git revision, in the generated
 * git_rev.h.
 */
#include "version.h"

#include <ev.h>
#include <http_parser.h>
#include <jansson.h>
#include <libconfig.h>
#include <msgpack.h>
#include <nng/nng.h>
#include <openssl/crypto.h>
#include <wslay/wslay.h>
#include <zlib.h>

/* Written by the Makefile; a build without it (the fuzz build) says
 * "unknown". */
#if defined(__has_include)
#if __has_include("build_info.h")
#include "build_info.h"
#endif
#endif

#ifndef WSD_GIT_REV
#define WSD_GIT_REV "unknown"
#endif
#ifndef WSD_LIBJWT_VERSION
#define WSD_LIBJWT_VERSION "unknown"
#endif
#ifndef WSD_LIBSYSTEMD_VERSION
#define WSD_LIBSYSTEMD_VERSION "unknown"
#endif

#define STR_(x) #x
#define STR(x) STR_(x)

const char *
proto_version_git(void)
{
	return WSD_GIT_REV[0] != '\0' ? WSD_GIT_REV : "unknown";
}

int
proto_version_print(FILE *f, const char *prog)
{
	unsigned long hp = http_parser_version();

	fprintf(f, "%s %s (git %s)\n", prog, WSD_VERSION, proto_version_git());
	fprintf(f, "  libev %d.%d\n", ev_version_major(), ev_version_minor());
	fprintf(f, "  nng %s\n", nng_version());
	fprintf(f, "  wslay %s (headers)\n", WSLAY_VERSION);
	fprintf(f, "  msgpack-c %s\n", msgpack_version());
	fprintf(f, "  jansson %s\n", jansson_version_str());
	fprintf(f, "  libjwt %s (pkg-config)\n", WSD_LIBJWT_VERSION);
	fprintf(f, "  libconfig %s.%s.%s (headers)\n", STR(LIBCONFIG_VER_MAJOR),
		STR(LIBCONFIG_VER_MINOR), STR(LIBCONFIG_VER_REVISION));
	fprintf(f, "  http-parser %lu.%lu.%lu\n", (hp >> 16) & 255,
		(hp >> 8) & 255, hp & 255);
	fprintf(f, "  OpenSSL %s\n", OpenSSL_version(OPENSSL_VERSION_STRING));
	fprintf(f, "  zlib %s\n", zlibVersion());
	fprintf(f, "  libsystemd %s (pkg-config)\n", WSD_LIBSYSTEMD_VERSION);
	return fflush(f) != 0 || ferror(f) ? -1 : 0;
}
