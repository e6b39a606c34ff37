/*
 * wk_sse.c: a Server-Sent Events stream's state (wk_sse.h): the send key
 * that POST /sse/send must show, the resume cursor that is each event's
 * id, and the events themselves.
 *
 * The cursor holds what the client has been sent, not what the room
 * holds: a subscribe with since starts at since (the replay that follows
 * moves it on), one without at the room's seq; a resume starts each room
 * at the seq the client gave, and the rooms it did not give at the
 * room's. A message a queue policy dropped moves it on all the same, as
 * the seq gap shows the client (the library asks the replay log for it).
 */
#include "wk_sse.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/err.h"
#include "../proto/url.h"
#include "wk_frame.h"

/* An epoch the cursor keeps (the supervisor's are 8 hex digits). */
#define EPOCH_MAX 16

/* A room in the cursor: what its client was last sent of it. */
struct sse_room {
	char *name;   /* NUL-terminated */
	char *quoted; /* the name as a JSON string (ASCII), for the id */
	uint64_t seq;
	char epoch[EPOCH_MAX + 1]; /* letters and digits; "" when unknown */
};

struct wk_sse {
	char key[WK_SSE_KEY_LEN + 1];
	char *token; /* the cursor's resume token, as a JSON string */
	char *fresh; /* the welcome's token while a resume is due (raw) */
	struct sse_room *room; /* the cursor's rooms, in no order */
	uint32_t nroom, cap;
	json_t *want;  /* {ROOM: since} of subscribes with since that are out */
	json_t *asked; /* a resume's rooms while it is out, or NULL */
	int dirty;     /* the cursor changed since the last id written */
	int resume_due; /* the request's cursor asks for a resume */
	char *resume;	/* that resume, JSON text */
	char *join;	/* the request's rooms=, decoded */
	char *held;	/* POSTed input not taken yet (the client is paused) */
	size_t nheld;
};

/* base64url without padding of in[0..n) into out (4 * n / 3 + 4 bytes). */
static size_t
b64url(const unsigned char *in, size_t n, char *out)
{
	int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	int i;

	while (len > 0 && out[len - 1] == '=')
		len--;
	for (i = 0; i < len; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	out[len] = '\0';
	return (size_t)len;
}

struct wk_sse *
wk_sse_new(void)
{
	struct wk_sse *s = calloc(1, sizeof(*s));
	unsigned char raw[16];

	if (s == NULL || RAND_bytes(raw, sizeof(raw)) != 1 ||
	    (s->want = json_object()) == NULL) {
		wk_sse_free(s);
		return NULL;
	}
	b64url(raw, sizeof(raw), s->key);
	return s;
}

void
wk_sse_free(struct wk_sse *s)
{
	uint32_t i;

	if (s == NULL)
		return;

	for (i = 0; i < s->nroom; i++) {
		free(s->room[i].name);
		free(s->room[i].quoted);
	}
	free(s->room);
	free(s->token);
	free(s->fresh);
	free(s->held);
	json_decref(s->want);
	json_decref(s->asked);
	free(s->resume);
	free(s->join);
	free(s);
}

const char *
wk_sse_key(const struct wk_sse *s)
{
	return s->key;
}

int
wk_sse_key_is(const struct wk_sse *s, const char *k, size_t len)
{
	return len == WK_SSE_KEY_LEN && CRYPTO_memcmp(s->key, k, len) == 0;
}

/*
 * A cursor, {"t":TOKEN,"r":{ROOM:[SEQ,EPOCH]}}, checked for shape; the
 * resume it asks for ({"type":"resume","token":T,"rooms":{ROOM:{"seq":N,
 * "epoch":E}}}, which wk_client.c checks further), or NULL.
 */
static char *
resume_of(const char *text, size_t len)
{
	json_t *c = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *tok = json_object_get(c, "t"), *rooms = json_object_get(c, "r");
	json_t *r = NULL, *out = json_object(), *v;
	const char *name;
	char *text_out = NULL;

	if (!json_is_string(tok) || (rooms != NULL && !json_is_object(rooms)) ||
	    out == NULL)
		goto done;
	json_object_foreach (rooms, name, v) {
		json_t *seq = json_array_get(v, 0), *ep = json_array_get(v, 1);

		if (!json_is_array(v) || json_array_size(v) != 2 ||
		    !json_is_integer(seq) || !json_is_string(ep) ||
		    json_object_set_new(
			out, name,
			json_pack("{s:O, s:O}", "seq", seq, "epoch", ep)) != 0)
			goto done;
	}
	r = json_pack("{s:s, s:O, s:O}", "type", "resume", "token", tok,
		      "rooms", out);
	text_out = r ? json_dumps(r, JSON_COMPACT) : NULL;
done:
	json_decref(r);
	json_decref(out);
	json_decref(c);
	return text_out;
}

int
wk_sse_set_request(struct wk_sse *s, const char *cursor, size_t len,
		   const char *rooms, size_t rlen)
{
	if (len > 0 && len <= WK_SSE_CURSOR_MAX) {
		s->resume = resume_of(cursor, len);
		s->resume_due = s->resume != NULL;
	}
	if (rlen > 0) {
		if ((s->join = malloc(rlen + 1)) == NULL)
			return WSD_ENOMEM;
		if (url_decode(rooms, rlen, s->join) < 0) {
			free(s->join);
			s->join = NULL;
		}
	}
	return WSD_OK;
}

char *
wk_sse_take_resume(struct wk_sse *s)
{
	char *r = s->resume;

	s->resume = NULL;
	return r;
}

char *
wk_sse_take_rooms(struct wk_sse *s)
{
	char *r = s->join;

	s->join = NULL;
	return r;
}

/* s[0..n) as a JSON string in ASCII (malloc'd), or NULL (not UTF-8, or
 * out of memory). */
static char *
quote(const char *str, size_t n)
{
	json_t *j = json_stringn(str, n);
	char *q = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : NULL;

	json_decref(j);
	return q;
}

/* The cursor's token becomes tok[0..len). */
static void
set_token(struct wk_sse *s, const char *tok, size_t len)
{
	char *q = quote(tok, len);

	if (q == NULL)
		return;
	free(s->token);
	s->token = q;
	s->dirty = 1;
}

void
wk_sse_token(struct wk_sse *s, const char *tok, size_t len, int welcome)
{
	/* A resume is due: the welcome's token stands for a new session,
	 * which the cursor names only if the resume fails. */
	if (welcome && s->resume_due) {
		free(s->fresh);
		s->fresh = strndup(tok, len);
		return;
	}
	set_token(s, tok, len);
}

/* The index of room[0..rlen) in the cursor, or -1. */
static int
find(const struct wk_sse *s, const char *room, size_t rlen)
{
	uint32_t i;

	for (i = 0; i < s->nroom; i++)
		if (strncmp(s->room[i].name, room, rlen) == 0 &&
		    s->room[i].name[rlen] == '\0')
			return (int)i;
	return -1;
}

/* room is at seq in epoch (kept only if it is letters and digits). */
static void
set_pos(struct wk_sse *s, const char *room, size_t rlen, uint64_t seq,
	const char *epoch, size_t elen)
{
	int i = find(s, room, rlen);
	struct sse_room *r;
	size_t k;

	if (i < 0) {
		if (s->nroom == s->cap) {
			uint32_t cap = s->cap ? 2 * s->cap : 4;
			struct sse_room *n = realloc(s->room, cap * sizeof(*n));

			if (n == NULL)
				return;
			s->room = n;
			s->cap = cap;
		}
		r = &s->room[s->nroom];
		if ((r->name = strndup(room, rlen)) == NULL ||
		    (r->quoted = quote(room, rlen)) == NULL) {
			free(r->name);
			return;
		}
		s->nroom++;
	} else {
		r = &s->room[i];
	}
	r->seq = seq;
	for (k = 0; k < elen && k < EPOCH_MAX &&
		    ((epoch[k] >= '0' && epoch[k] <= '9') ||
		     (epoch[k] >= 'a' && epoch[k] <= 'z') ||
		     (epoch[k] >= 'A' && epoch[k] <= 'Z'));
	     k++)
		r->epoch[k] = epoch[k];
	r->epoch[k == elen ? k : 0] = '\0';
	s->dirty = 1;
}

static void
drop_room(struct wk_sse *s, uint32_t i)
{
	free(s->room[i].name);
	free(s->room[i].quoted);
	s->room[i] = s->room[--s->nroom];
	s->dirty = 1;
}

/* room[0..rlen) as a NUL-terminated key, or NULL (too long). */
static const char *
key_of(char buf[256], const char *room, size_t rlen)
{
	if (rlen >= 256)
		return NULL;
	memcpy(buf, room, rlen);
	buf[rlen] = '\0';
	return buf;
}

void
wk_sse_want(struct wk_sse *s, const char *room, size_t rlen, int has_since,
	    uint64_t since)
{
	char buf[256];
	const char *k = key_of(buf, room, rlen);

	if (k == NULL)
		return;
	if (has_since)
		json_object_set_new(s->want, k,
				    json_integer((json_int_t)since));
	else
		json_object_del(s->want, k);
}

void
wk_sse_joined(struct wk_sse *s, const char *room, size_t rlen, uint64_t seq,
	      const char *epoch, size_t elen)
{
	char buf[256];
	const char *k = key_of(buf, room, rlen);
	json_t *since;

	if (k == NULL)
		return;
	since = json_object_get(s->want, k);
	if (since != NULL && (uint64_t)json_integer_value(since) < seq)
		seq = (uint64_t)json_integer_value(since);
	set_pos(s, room, rlen, seq, epoch, elen);
	json_object_del(s->want, k);
}

void
wk_sse_left(struct wk_sse *s, const char *room, size_t rlen)
{
	char buf[256];
	const char *k = key_of(buf, room, rlen);
	int i = find(s, room, rlen);

	if (k != NULL)
		json_object_del(s->want, k);
	if (i >= 0)
		drop_room(s, (uint32_t)i);
}

void
wk_sse_advance(struct wk_sse *s, const char *room, size_t rlen, uint64_t seq,
	       int add)
{
	int i = find(s, room, rlen);

	if (i >= 0) {
		s->room[i].seq = seq;
		s->dirty = 1;
	} else if (add) {
		set_pos(s, room, rlen, seq, "", 0);
	}
}

void
wk_sse_resuming(struct wk_sse *s, json_t *asked)
{
	json_decref(s->asked);
	s->asked = json_incref(asked);
}

void
wk_sse_resumed(struct wk_sse *s, const char *tok, size_t len,
	       const json_t *rooms)
{
	const char *name;
	json_t *v;

	s->resume_due = 0;
	free(s->fresh);
	s->fresh = NULL;
	set_token(s, tok, len);
	while (s->nroom > 0)
		drop_room(s, s->nroom - 1);
	json_object_foreach ((json_t *)rooms, name, v) {
		json_t *mine = json_object_get(s->asked, name);
		const char *ep = json_string_value(json_object_get(v, "epoch"));
		const char *mep =
		    json_string_value(json_object_get(mine, "epoch"));
		json_int_t seq = json_integer_value(json_object_get(v, "seq"));
		json_int_t mseq =
		    json_integer_value(json_object_get(mine, "seq"));

		/* The client's seq, which the replay that follows moves
		 * on, while it is within the room's epoch and not ahead of
		 * it; else (nothing is replayed) the room's. */
		if (mine != NULL &&
		    (mep == NULL || mep[0] == '\0' ||
		     (ep != NULL && strcmp(mep, ep) == 0)) &&
		    mseq <= seq)
			seq = mseq;
		set_pos(s, name, strlen(name), (uint64_t)seq, ep ? ep : "",
			ep ? strlen(ep) : 0);
	}
	json_decref(s->asked);
	s->asked = NULL;
	s->dirty = 1;
}

void
wk_sse_resume_failed(struct wk_sse *s)
{
	/* The stream goes on as the welcome's fresh session. */
	if (s->fresh != NULL) {
		set_token(s, s->fresh, strlen(s->fresh));
		free(s->fresh);
		s->fresh = NULL;
	}
	s->resume_due = 0;
	json_decref(s->asked);
	s->asked = NULL;
}

/* The most the id line of the cursor takes. */
static size_t
id_size(const struct wk_sse *s)
{
	size_t n = sizeof("id: {\"t\":\"\",\"r\":{}}\n") +
		   (s->token ? strlen(s->token) : 0);
	uint32_t i;

	for (i = 0; i < s->nroom; i++)
		n += strlen(s->room[i].quoted) +
		     sizeof(":[18446744073709551615,\"\"],") + EPOCH_MAX;
	return n;
}

/* Write the cursor's id line, "id: {"t":T,"r":{ROOM:[SEQ,"E"],...}}\n"
 * (ASCII: no line end inside), at p; returns its end. */
static char *
id_write(const struct wk_sse *s, char *p)
{
	uint32_t i;

	p += sprintf(p, "id: {\"t\":%s,\"r\":{", s->token ? s->token : "\"\"");
	for (i = 0; i < s->nroom; i++)
		p += sprintf(
		    p, "%s%s:[%llu,\"%s\"]", i ? "," : "", s->room[i].quoted,
		    (unsigned long long)s->room[i].seq, s->room[i].epoch);
	memcpy(p, "}}\n", 3);
	return p + 3;
}

struct wk_buf *
wk_sse_event(struct wk_sse *s, const char *text, size_t len)
{
	size_t lines = 1, i, n;
	struct wk_buf *b;
	char *p;

	for (i = 0; i < len; i++)
		lines += text[i] == '\n';
	/* The id when the cursor changed, "data: " per line, its end, and
	 * the blank line after the event. */
	n = (s->dirty ? id_size(s) : 0) + len + lines * 7 + 1;
	if (n > UINT32_MAX || (b = wk_buf_new((uint32_t)n)) == NULL)
		return NULL;
	p = b->data;
	if (s->dirty)
		p = id_write(s, p);
	memcpy(p, "data: ", 6);
	p += 6;
	for (i = 0; i < len; i++) {
		if (text[i] == '\r')
			continue; /* a line end for EventSource too */
		*p++ = text[i];
		if (text[i] == '\n') {
			memcpy(p, "data: ", 6);
			p += 6;
		}
	}
	*p++ = '\n';
	*p++ = '\n';
	b->len = (uint32_t)(p - b->data);
	s->dirty = 0;
	return b;
}

struct wk_buf *
wk_sse_comment(void)
{
	struct wk_buf *b = wk_buf_new(3);

	if (b != NULL)
		memcpy(b->data, ":\n\n", 3);
	return b;
}

int
wk_sse_hold(struct wk_sse *s, const char *p, size_t len, size_t max)
{
	char *b;

	if (len == 0)
		return WSD_OK;
	if (s->nheld + len > max)
		return WSD_EFULL;
	if ((b = realloc(s->held, s->nheld + len)) == NULL)
		return WSD_ENOMEM;
	memcpy(b + s->nheld, p, len);
	s->held = b;
	s->nheld += len;
	return WSD_OK;
}

const char *
wk_sse_held(const struct wk_sse *s, size_t *len)
{
	*len = s->nheld;
	return s->held;
}

void
wk_sse_take_held(struct wk_sse *s, size_t n)
{
	if (n >= s->nheld) {
		free(s->held);
		s->held = NULL;
		s->nheld = 0;
		return;
	}
	memmove(s->held, s->held + n, s->nheld - n);
	s->nheld -= n;
}
