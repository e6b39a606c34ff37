/*
 * sv_query.h: the query string of an admin API read (GET /api/CMD?...)
 * as the JSON request wsctl would send, and the admin key check. Pure:
 * tested alone in tests/unit/test_query.c.
 */
#ifndef WSD_SV_QUERY_H
#define WSD_SV_QUERY_H

#include <jansson.h>
#include <stddef.h>

/*
 * Parse "k=v&k=v" (the part after '?', URL-encoded: %XX and '+') into a
 * new JSON object. The names a read takes are user, room, name, by and
 * token (strings) and id, worker and limit (non-negative integers, as
 * wsctl sends them). Returns the object, or NULL with a sentence in err
 * for an unknown or repeated name, a bad escape, a NUL, or a number that
 * is not one.
 */
json_t *sv_query_parse(const char *q, char *err, size_t errlen);

/*
 * Whether the value of an Authorization header (NULL: none) is
 * "Bearer KEY" for key. Compares SHA-256 digests in constant time, so
 * neither the key nor its length shows in the time taken.
 */
int sv_query_key_ok(const char *authorization, const char *key);

#endif
