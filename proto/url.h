/*
 * url.h: the one decoder of URL query values (%XX escapes and '+' for a
 * space, as browsers encode a query), shared by the admin API's query
 * strings (supervisor/sv_query.c) and the client listener's (the SSE
 * stream's rooms= and last_event_id=, worker/wk_http.c). Pure.
 */
#ifndef WSD_URL_H
#define WSD_URL_H

#include <stddef.h>

/*
 * Decode in[0..len) into out (at least len + 1 bytes), NUL-terminated.
 * Returns the decoded length, or -1 for a bad escape or a NUL (%00): no
 * decoded value ever holds one.
 */
int url_decode(const char *in, size_t len, char *out);

#endif
