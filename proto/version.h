/*
 * version.h: what `wsd --version` and `wsctl --version` print. The
 * release is WSD_VERSION; the git revision is baked in at build time
 * (the Makefile writes $(BUILD)/gen/build_info.h); every library's version is
 * read from the library itself when it has a runtime function, and
 * otherwise from its headers or its pkg-config file at build time (each
 * line says which).
 */
#ifndef WSD_VERSION_H
#define WSD_VERSION_H

#include <stdio.h>

#define WSD_VERSION "0.1.0"

/* The git revision of the build ("git describe --always --dirty"), or
 * "unknown" outside a git checkout. The string is static. */
const char *proto_version_git(void);

/*
 * Print "PROG VERSION (git REV)" and then one line per linked library,
 * "  NAME VERSION", with " (headers)" or " (pkg-config)" after the ones
 * not read at run time. Returns 0, or -1 when the output could not be
 * written.
 */
int proto_version_print(FILE *f, const char *prog);

#endif
