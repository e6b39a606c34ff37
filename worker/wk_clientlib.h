/*
 * wk_clientlib.h -- the JavaScript client library served on
 * GET /wsd-client.js when demo_page is on, for the demo page to import.
 *
 * The library lives in clients/js/wsd-client.js; worker/wk_clientlib.c is
 * generated from it by scripts/embed.sh (run by the Makefile when the
 * library changes), so the worker serves the very file the library's
 * tests run. wk_clientlib_js is NUL-terminated; wk_clientlib_js_len
 * excludes the NUL.
 */
#ifndef WK_CLIENTLIB_H
#define WK_CLIENTLIB_H

#include <stddef.h>

extern const char wk_clientlib_js[];
extern const size_t wk_clientlib_js_len;

#endif /* WK_CLIENTLIB_H */
