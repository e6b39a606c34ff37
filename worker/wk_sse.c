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
#include <stdlib.h>
#include <string.h>

#include "../proto/err.h"
#include "wk_frame.h"

struct wk_sse {
	char key[WK_SSE_KEY_LEN + 1];
	char *token;   /* the cursor's resume token, or NULL */
	char *fresh;   /* the welcome's token while a resume is due */
	json_t *rooms; /* {ROOM: {"seq": N, "epoch": E}} */
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
	    (s->rooms = json_object()) == NULL ||
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
	if (s == NULL)
		return;
	free(s->token);
	free(s->fresh);
	free(s->held);
	json_decref(s->rooms);
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

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int
wk_sse_unescape(const char *in, size_t len, char *out)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		char ch = in[i];

		if (ch == '%') {
			int hi, lo;

			if (i + 2 >= len || (hi = hexval(in[i + 1])) < 0 ||
			    (lo = hexval(in[i + 2])) < 0)
				return -1;
			ch = (char)(hi << 4 | lo);
			i += 2;
		}
		if (ch == '\0')
			return -1;
		out[n++] = ch;
	}
	out[n] = '\0';
	return (int)n;
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
		if (wk_sse_unescape(rooms, rlen, s->join) < 0) {
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

void
wk_sse_token(struct wk_sse *s, const char *tok, size_t len, int welcome)
{
	char *t;

	if ((t = strndup(tok, len)) == NULL)
		return;
	/* A resume is due: the welcome's token stands for a new session,
	 * which the cursor names only if the resume fails. */
	if (welcome && s->resume_due) {
		free(s->fresh);
		s->fresh = t;
		return;
	}
	free(s->token);
	s->token = t;
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

static void
set_pos(struct wk_sse *s, const char *room, json_int_t seq, const char *epoch)
{
	json_object_set_new(
	    s->rooms, room,
	    json_pack("{s:I, s:s}", "seq", seq, "epoch", epoch));
	s->dirty = 1;
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
	char buf[256], ep[64];
	const char *k = key_of(buf, room, rlen);
	json_t *since;

	if (k == NULL || elen >= sizeof(ep))
		return;
	memcpy(ep, epoch, elen);
	ep[elen] = '\0';
	since = json_object_get(s->want, k);
	if (since != NULL && (uint64_t)json_integer_value(since) < seq)
		seq = (uint64_t)json_integer_value(since);
	set_pos(s, k, (json_int_t)seq, ep);
	json_object_del(s->want, k);
}

void
wk_sse_left(struct wk_sse *s, const char *room, size_t rlen)
{
	char buf[256];
	const char *k = key_of(buf, room, rlen);

	if (k == NULL)
		return;
	json_object_del(s->want, k);
	if (json_object_del(s->rooms, k) == 0)
		s->dirty = 1;
}

void
wk_sse_advance(struct wk_sse *s, const char *room, size_t rlen, uint64_t seq,
	       int add)
{
	char buf[256];
	const char *k = key_of(buf, room, rlen);
	json_t *r;

	if (k == NULL)
		return;
	if ((r = json_object_get(s->rooms, k)) == NULL) {
		if (add)
			set_pos(s, k, (json_int_t)seq, "");
		return;
	}
	json_object_set_new(r, "seq", json_integer((json_int_t)seq));
	s->dirty = 1;
}

void
wk_sse_resuming(struct wk_sse *s, json_t *asked)
{
	json_decref(s->asked);
	s->asked = json_incref(asked);
}

void
wk_sse_resumed(struct wk_sse *s, const char *tok, size_t len, const char *rooms,
	       size_t rlen)
{
	json_t *got = json_loadb(rooms, rlen, 0, NULL), *v;
	const char *name;

	s->resume_due = 0;
	free(s->fresh);
	s->fresh = NULL;
	wk_sse_token(s, tok, len, 0);
	json_object_clear(s->rooms);
	json_object_foreach (got, name, v) {
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
		set_pos(s, name, seq, ep ? ep : "");
	}
	json_decref(got);
	json_decref(s->asked);
	s->asked = NULL;
	s->dirty = 1;
}

void
wk_sse_resume_failed(struct wk_sse *s)
{
	/* The stream goes on as the welcome's fresh session. */
	if (s->fresh != NULL) {
		free(s->token);
		s->token = s->fresh;
		s->fresh = NULL;
		s->dirty = 1;
	}
	s->resume_due = 0;
	json_decref(s->asked);
	s->asked = NULL;
}

/* The cursor as an id line, "id: {...}\n" (ASCII: no line end), malloc'd
 * in *out; its length. */
static size_t
id_line(struct wk_sse *s, char **out)
{
	json_t *c = json_object(), *r = json_object(), *v;
	const char *name;
	char *text = NULL, *line = NULL;
	size_t n, len = 0;

	if (c == NULL || r == NULL)
		goto done;
	json_object_foreach (s->rooms, name, v)
		if (json_object_set_new(
			r, name,
			json_pack("[O, O]", json_object_get(v, "seq"),
				  json_object_get(v, "epoch"))) != 0)
			goto done;
	if (json_object_set_new(c, "t",
				json_string(s->token ? s->token : "")) != 0 ||
	    json_object_set(c, "r", r) != 0)
		goto done;
	text = json_dumps(c, JSON_COMPACT | JSON_ENSURE_ASCII);
	n = text ? strlen(text) : 0;
	if (text != NULL && (line = malloc(n + 6)) != NULL) {
		memcpy(line, "id: ", 4);
		memcpy(line + 4, text, n);
		line[4 + n] = '\n';
		len = n + 5;
	}
done:
	free(text);
	json_decref(r);
	json_decref(c);
	*out = line;
	return len;
}

struct wk_buf *
wk_sse_event(struct wk_sse *s, const char *text, size_t len)
{
	char *id = NULL;
	size_t idlen = s->dirty ? id_line(s, &id) : 0, lines = 1, i, n;
	struct wk_buf *b;
	char *p;

	if (s->dirty && id == NULL)
		return NULL;
	for (i = 0; i < len; i++)
		lines += text[i] == '\n';
	/* "data: " per line, its end, and the blank line after the event. */
	n = idlen + len + lines * 7 + 1;
	if (n > UINT32_MAX || (b = wk_buf_new((uint32_t)n)) == NULL) {
		free(id);
		return NULL;
	}
	p = b->data;
	if (id != NULL)
		memcpy(p, id, idlen);
	p += idlen;
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
	free(id);
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
