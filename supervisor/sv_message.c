/*
 * sv_message.c: the JSON text of the server messages (sv_message.h). The
 * client's data is JSON text already; only the strings around it are
 * encoded, with jansson.
 */
#include "sv_message.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/err.h"

/* Append the JSON encoding of the string s[0..len) to out (jansson),
 * growing it. Returns WSD_OK or WSD_ENOMEM. */
static int
json_str_append(json_t *tmp, const char *s, size_t len, char **out,
		size_t *olen, size_t *ocap)
{
	size_t need;
	char *p;

	if (json_string_setn_nocheck(tmp, s, len) != 0)
		return WSD_ENOMEM;
	need = json_dumpb(tmp, NULL, 0, JSON_ENCODE_ANY);
	if (need == 0)
		return WSD_ENOMEM;
	if (*olen + need + 1 > *ocap) {
		size_t cap = (*olen + need + 1) * 2;

		if ((p = realloc(*out, cap)) == NULL)
			return WSD_ENOMEM;
		*out = p;
		*ocap = cap;
	}
	json_dumpb(tmp, *out + *olen, need, JSON_ENCODE_ANY);
	*olen += need;
	return WSD_OK;
}

/* Append s[0..len) to out, growing it. Returns WSD_OK or WSD_ENOMEM. */
static int
raw_append(const char *s, size_t len, char **out, size_t *olen, size_t *ocap)
{
	char *p;

	if (*olen + len + 1 > *ocap) {
		size_t cap = (*olen + len + 1) * 2;

		if ((p = realloc(*out, cap)) == NULL)
			return WSD_ENOMEM;
		*out = p;
		*ocap = cap;
	}
	memcpy(*out + *olen, s, len);
	*olen += len;
	return WSD_OK;
}

char *
sv_message_json(const struct sv_message *m, uint64_t seq, size_t *lenp)
{
	char *out = NULL, num[32];
	size_t olen = 0, ocap = 0;
	json_t *tmp = json_string("");
	int n, bad = tmp == NULL;

	bad =
	    bad || raw_append("{\"type\":\"message\"", 17, &out, &olen, &ocap);
	if (m->room != NULL) {
		n = snprintf(num, sizeof(num), ",\"seq\":%llu",
			     (unsigned long long)seq);
		bad = bad || raw_append(",\"room\":", 8, &out, &olen, &ocap) ||
		      json_str_append(tmp, m->room, m->roomlen, &out, &olen,
				      &ocap) ||
		      raw_append(num, (size_t)n, &out, &olen, &ocap);
	}
	bad = bad || raw_append(",\"from\":", 8, &out, &olen, &ocap) ||
	      json_str_append(tmp, m->from, m->fromlen, &out, &olen, &ocap) ||
	      raw_append(",\"data\":", 8, &out, &olen, &ocap) ||
	      raw_append(m->data, m->datalen, &out, &olen, &ocap);
	if (m->id != NULL && m->idlen > 0)
		bad = bad || raw_append(",\"id\":", 6, &out, &olen, &ocap) ||
		      json_str_append(tmp, m->id, m->idlen, &out, &olen, &ocap);
	if (m->trace != NULL && *m->trace != '\0')
		bad = bad || raw_append(",\"trace\":", 9, &out, &olen, &ocap) ||
		      json_str_append(tmp, m->trace, strlen(m->trace), &out,
				      &olen, &ocap);
	bad = bad || raw_append("}", 1, &out, &olen, &ocap);
	json_decref(tmp);
	if (bad) {
		free(out);
		return NULL;
	}
	*lenp = olen;
	return out;
}
