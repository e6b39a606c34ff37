/*
 * wk_deflate.c: permessage-deflate (RFC 7692) with zlib (wk_deflate.h).
 *
 * Negotiation: the first acceptable offer wins, and the answer always
 * carries server_no_context_takeover: the server compresses every message
 * on its own, with a compressor of the worker that is reset between
 * messages. So a compressed frame depends only on the window size, and a
 * room delivery is compressed once per worker for each window size in use
 * and shared by reference like a plain frame. A connection holds no
 * compressor.
 *
 * Inflation: a client that agreed client_no_context_takeover (it offered
 * it) is inflated with the worker's one shared stream, reset for each
 * message, so it too holds no zlib state. A client that did not offer it
 * may refer back into its earlier messages, so its inflate stream lives
 * as long as the connection: zlib's inflate state (about 7 KB) and a
 * window of 2^in_bits bytes, at most 2^compression.window_bits when the
 * client offered client_max_window_bits (the answer lowers it), else 32
 * KB (RFC 7692 section 7.1.2.2: the server cannot lower a window the
 * client did not offer to negotiate). Either way the output is bounded:
 * it grows in steps up to the message limit and inflation stops there.
 *
 * wslay buffers a whole message, so a message is inflated in one call,
 * after its last frame: nothing of an inflation is kept between reads.
 */
#include "wk_deflate.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "wk_frame.h"
#include "wk_sse.h"

#define EXT_NAME "permessage-deflate"
#define OUT_STEP 16384 /* the first step of an inflation's output */

/* ------------------------------------------------------------------ */
/* Negotiation (RFC 7692 section 7.1; the grammar of RFC 6455 9.1). */

struct offer {
	int ok;		  /* no parameter broke a rule */
	int snct, cnct;	  /* *_no_context_takeover */
	int sbits, cbits; /* *_max_window_bits: 0 absent, -1 no value */
	int has_s, has_c; /* the window parameters came */
};

static int
is_tchar(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') ||
	       strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static size_t
skip_ows(const char *p, size_t i, size_t n)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i;
}

static size_t
token_end(const char *p, size_t i, size_t n)
{
	while (i < n && p[i] != '\0' && is_tchar(p[i]))
		i++;
	return i;
}

/* Skip to the comma that ends this extension (outside quotes), or n. */
static size_t
skip_extension(const char *p, size_t i, size_t n)
{
	int quoted = 0;

	for (; i < n; i++) {
		if (quoted && p[i] == '\\' && i + 1 < n)
			i++;
		else if (p[i] == '"')
			quoted = !quoted;
		else if (!quoted && p[i] == ',')
			break;
	}
	return i;
}

/* "8" to "15", no leading zero (RFC 7692 section 7.1.2.1). */
static int
window_value(const char *v, size_t len)
{
	if (len == 1 && (v[0] == '8' || v[0] == '9'))
		return v[0] - '0';
	if (len == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
		return 10 + (v[1] - '0');
	return 0;
}

/* Apply one parameter (value NULL: none) to the offer. */
static void
offer_param(struct offer *o, const char *name, size_t nlen, const char *v,
	    size_t vlen)
{
#define IS(s) (nlen == sizeof(s) - 1 && strncasecmp(name, s, nlen) == 0)
	if (IS("server_no_context_takeover")) {
		if (o->snct || v != NULL)
			o->ok = 0;
		o->snct = 1;
	} else if (IS("client_no_context_takeover")) {
		if (o->cnct || v != NULL)
			o->ok = 0;
		o->cnct = 1;
	} else if (IS("server_max_window_bits")) {
		/* A value is required here. */
		if (o->has_s || v == NULL ||
		    (o->sbits = window_value(v, vlen)) == 0)
			o->ok = 0;
		o->has_s = 1;
	} else if (IS("client_max_window_bits")) {
		if (o->has_c ||
		    (v != NULL && (o->cbits = window_value(v, vlen)) == 0))
			o->ok = 0;
		if (v == NULL)
			o->cbits = -1;
		o->has_c = 1;
	} else {
		o->ok = 0;
	}
#undef IS
}

/*
 * Parse the parameters of one extension from p[i..n) (i after its name)
 * into o. Returns the index of the comma that ends it, or n.
 */
static size_t
parse_params(const char *p, size_t i, size_t n, struct offer *o)
{
	char val[16];

	for (;;) {
		size_t ns, ne, vl = 0;
		const char *v = NULL;

		i = skip_ows(p, i, n);
		if (i >= n || p[i] == ',')
			return i;
		if (p[i] != ';')
			goto bad;
		i = skip_ows(p, i + 1, n);
		ns = i;
		ne = i = token_end(p, i, n);
		if (ne == ns)
			goto bad;
		i = skip_ows(p, i, n);
		if (i < n && p[i] == '=') {
			i = skip_ows(p, i + 1, n);
			if (i < n && p[i] == '"') {
				/* A quoted value is unquoted, then must be a
				 * token (RFC 6455 section 9.1). */
				int badv = 0;

				for (i++; i < n && p[i] != '"'; i++) {
					if (p[i] == '\\' && ++i >= n)
						goto bad;
					if (vl == sizeof(val) ||
					    !is_tchar(p[i]))
						badv = 1;
					else
						val[vl++] = p[i];
				}
				if (i >= n)
					goto bad; /* no closing quote */
				i++;
				/* Read to its end, refused: the offer is. */
				if (badv || vl == 0)
					o->ok = 0;
				v = val;
			} else {
				size_t vs = i;

				i = token_end(p, i, n);
				if (i == vs)
					goto bad;
				v = p + vs;
				vl = i - vs;
			}
		}
		offer_param(o, p + ns, ne - ns, v, vl);
	}
bad:
	o->ok = 0;
	return skip_extension(p, i, n);
}

int
wk_deflate_negotiate(const char *hdr, size_t len, unsigned window_bits,
		     struct wk_pmd *out)
{
	size_t i = 0, ns, ne;

	while (i < len) {
		struct offer o = {1, 0, 0, 0, 0, 0, 0};

		while (i < len &&
		       (hdr[i] == ' ' || hdr[i] == '\t' || hdr[i] == ','))
			i++;
		if (i >= len)
			break;
		ns = i;
		ne = i = token_end(hdr, i, len);
		if (ne == ns) {
			i = skip_extension(hdr, i, len);
			continue;
		}
		i = parse_params(hdr, i, len, &o);
		if (!o.ok || ne - ns != sizeof(EXT_NAME) - 1 ||
		    strncasecmp(hdr + ns, EXT_NAME, ne - ns) != 0)
			continue;
		memset(out, 0, sizeof(*out));
		out->on = 1;
		/* Our window: at most what the client allows. 8 is not a
		 * window zlib compresses raw deflate with: we then send
		 * uncompressed (each message is ours to compress or not). */
		if (o.has_s) {
			unsigned b = (unsigned)o.sbits < window_bits
					 ? (unsigned)o.sbits
					 : window_bits;

			out->ans_out = (uint8_t)b;
			out->out_bits = b >= 9 ? (uint8_t)b : 0;
		} else {
			out->out_bits = (uint8_t)window_bits;
		}
		/* The client's window: lowered to ours when it lets us. */
		if (o.has_c) {
			unsigned b =
			    o.cbits > 0 && (unsigned)o.cbits < window_bits
				? (unsigned)o.cbits
				: window_bits;

			out->ans_in = (uint8_t)b;
			out->in_bits = (uint8_t)b;
		} else {
			out->in_bits = 15;
		}
		out->in_nct = (uint8_t)o.cnct;
		return 1;
	}
	return 0;
}

int
wk_deflate_answer(const struct wk_pmd *p, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s; server_no_context_takeover%s", EXT_NAME,
			 p->in_nct ? "; client_no_context_takeover" : "");

	if (n >= 0 && (size_t)n < len && p->ans_out)
		n += snprintf(buf + n, len - (size_t)n,
			      "; server_max_window_bits=%u", p->ans_out);
	if (n >= 0 && (size_t)n < len && p->ans_in)
		n += snprintf(buf + n, len - (size_t)n,
			      "; client_max_window_bits=%u", p->ans_in);
	return n >= 0 && (size_t)n < len ? n : -1;
}

/* ------------------------------------------------------------------ */
/* Inflation. */

uint64_t
wk_deflate_bound(uint64_t max)
{
	/* Stored blocks cost 5 bytes per 65535; a client's encoder may do
	 * worse on tiny blocks, so a generous 1/64 plus a constant. */
	return max + (max >> 6) + 1024;
}

static z_stream *shared_in; /* for clients without context takeover */

static z_stream *
inflate_new(int bits)
{
	z_stream *z = calloc(1, sizeof(*z));

	if (z == NULL)
		return NULL;
	if (inflateInit2(z, -bits) != Z_OK) {
		free(z);
		return NULL;
	}
	return z;
}

static void
inflate_free(z_stream *z)
{
	if (z == NULL)
		return;
	inflateEnd(z);
	free(z);
}

int
wk_deflate_inflate(struct wk_conn *c, const uint8_t *in, size_t len, size_t max,
		   uint8_t **out, size_t *outlen)
{
	static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
	size_t cap = OUT_STEP, have = 0;
	uint8_t *buf = NULL, *nb;
	int pass, rc = Z_OK, result = WSD_OK;
	z_stream *z;

	*out = NULL;
	*outlen = 0;
	if (c->pmd.in_nct) {
		/* A window of 15 inflates any window the client used. */
		if (shared_in == NULL && (shared_in = inflate_new(15)) == NULL)
			return WSD_ENOMEM;
		z = shared_in;
		inflateReset(z);
	} else {
		/* At least 9: zlib compresses a requested 8 with 9. */
		if (c->zin == NULL &&
		    (c->zin = inflate_new(
			 c->pmd.in_bits < 9 ? 9 : c->pmd.in_bits)) == NULL)
			return WSD_ENOMEM;
		z = c->zin;
	}
	if (cap > max + 1)
		cap = max + 1;
	if ((buf = malloc(cap)) == NULL)
		return WSD_ENOMEM;
	/* The message, then the tail the sender removed. */
	for (pass = 0; pass < 2 && rc != Z_STREAM_END; pass++) {
		z->next_in = (Bytef *)(pass == 0 ? in : tail);
		z->avail_in = (uInt)(pass == 0 ? len : sizeof(tail));
		/* A full buffer may hide more output: look again. */
		while (z->avail_in > 0 || have == cap) {
			if (have == cap) {
				if (cap > max) {
					result = WK_DEFLATE_TOO_BIG;
					goto fail;
				}
				cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
				if ((nb = realloc(buf, cap)) == NULL) {
					result = WSD_ENOMEM;
					goto fail;
				}
				buf = nb;
			}
			z->next_out = buf + have;
			z->avail_out = (uInt)(cap - have);
			rc = inflate(z, Z_SYNC_FLUSH);
			have = cap - z->avail_out;
			if (rc == Z_STREAM_END)
				break; /* a final block: the rest is ignored */
			if (rc == Z_BUF_ERROR && z->avail_out > 0)
				break; /* no progress with room left: done */
			if (rc != Z_OK && rc != Z_BUF_ERROR) {
				result = rc == Z_MEM_ERROR ? WSD_ENOMEM
							   : WK_DEFLATE_BAD;
				goto fail;
			}
		}
		if (have > max) {
			result = WK_DEFLATE_TOO_BIG;
			goto fail;
		}
	}
	/* A final block ends the stream: the next message starts one. */
	if (rc == Z_STREAM_END)
		inflateReset(z);
	if (have == 0) {
		free(buf);
		buf = NULL;
	}
	*out = buf;
	*outlen = have;
	return WSD_OK;
fail:
	free(buf);
	return result;
}

void
wk_deflate_conn_fini(struct wk_conn *c)
{
	inflate_free(c->zin);
	c->zin = NULL;
}

/* ------------------------------------------------------------------ */
/* Compression. */

/* The worker's compressors, by window bits 9..15, made on first use with
 * the level and mem_level they were made with. */
static struct {
	z_stream *z;
	int level, mem;
} zout[8];

static z_stream *
compressor(unsigned bits)
{
	int level = (int)wk.cfg.deflate_level,
	    mem = (int)wk.cfg.deflate_mem_level;
	z_stream *z = zout[bits - 8].z;

	if (z != NULL &&
	    (zout[bits - 8].level != level || zout[bits - 8].mem != mem)) {
		/* A reload changed them. */
		deflateEnd(z);
		free(z);
		zout[bits - 8].z = z = NULL;
	}
	if (z != NULL) {
		deflateReset(z);
		return z;
	}
	if ((z = calloc(1, sizeof(*z))) == NULL)
		return NULL;
	if (deflateInit2(z, level, Z_DEFLATED, -(int)bits, mem,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		free(z);
		return NULL;
	}
	zout[bits - 8].z = z;
	zout[bits - 8].level = level;
	zout[bits - 8].mem = mem;
	return z;
}

/*
 * A compressed frame of payload with window bits, or NULL: out of memory,
 * or it would not be smaller than the plain frame (*nosave set).
 */
static struct wk_buf *
compress_frame(int opcode, const void *payload, size_t len, unsigned bits,
	       int *nosave)
{
	z_stream *z = compressor(bits);
	size_t bound, clen, hl;
	struct wk_buf *b;
	uint8_t h[10];

	*nosave = 0;
	if (z == NULL || len > UINT32_MAX / 2)
		return NULL;
	/* deflateBound does not count the sync flush's empty block. */
	bound = deflateBound(z, (uLong)len) + 16;
	if ((b = wk_buf_new((uint32_t)(10 + bound))) == NULL)
		return NULL;
	z->next_in = (Bytef *)payload;
	z->avail_in = (uInt)len;
	z->next_out = (Bytef *)b->data + 10;
	z->avail_out = (uInt)bound;
	if (deflate(z, Z_SYNC_FLUSH) != Z_OK || z->avail_in != 0 ||
	    z->avail_out == 0) {
		wk_buf_unref(b);
		return NULL;
	}
	clen = bound - z->avail_out;
	/* Z_SYNC_FLUSH ends with 00 00 ff ff, which the frame leaves out
	 * (RFC 7692 section 7.2.1). */
	if (clen < 4 ||
	    memcmp(b->data + 10 + clen - 4, "\x00\x00\xff\xff", 4) != 0) {
		wk_buf_unref(b);
		return NULL;
	}
	clen -= 4;
	if (clen >= len) {
		*nosave = 1;
		wk_buf_unref(b);
		return NULL;
	}
	hl = wk_frame_header(h, (uint8_t)(0x80 | 0x40 | (opcode & 0x0f)), clen);
	memmove(b->data + hl, b->data + 10, clen);
	memcpy(b->data, h, hl);
	b->len = (uint32_t)(hl + clen);
	return b;
}

void
wk_frameset_init(struct wk_frameset *f, int opcode, const void *payload,
		 size_t len, uint64_t stamp)
{
	memset(f, 0, sizeof(*f));
	f->opcode = opcode;
	f->payload = payload;
	f->len = len;
	f->stamp = stamp;
}

static struct wk_buf *
plain(struct wk_frameset *f)
{
	if (f->plain == NULL &&
	    (f->plain = wk_frame_new(f->opcode, f->payload, f->len)) != NULL)
		f->plain->stamp = f->stamp;
	return f->plain;
}

struct wk_buf *
wk_frameset_get(struct wk_frameset *f, const struct wk_conn *c)
{
	unsigned bits = c->pmd.out_bits;
	int nosave;

	if (c->sse != NULL) {
		wk_buf_unref(f->sse);
		if ((f->sse = wk_sse_event(c->sse, f->payload, f->len)) != NULL)
			f->sse->stamp = f->stamp;
		return f->sse;
	}
	if (!c->pmd.on || bits < 9 || bits > 15 ||
	    f->len < wk.cfg.deflate_min_bytes || f->len == 0)
		return plain(f);
	if (f->z[bits - 8] != NULL && f->z[bits - 8] != f->plain)
		goto compressed;
	if (f->z[bits - 8] == NULL) {
		struct wk_buf *b = compress_frame(f->opcode, f->payload, f->len,
						  bits, &nosave);

		if (b == NULL) {
			/* Not worth it (or no memory for it): the plain
			 * frame stands in, for every later recipient too. */
			if ((b = plain(f)) == NULL)
				return NULL;
			b->refs++;
		}
		b->stamp = f->stamp;
		f->z[bits - 8] = b;
		if (b == f->plain)
			return b;
	}
compressed:
	/* Counted per recipient, as it is sent (wk.h's totals). */
	wk.tot[PROTO_TOT_DEFLATE_OUT]++;
	wk.tot[PROTO_TOT_DEFLATE_OUT_SAVED] +=
	    wk_frame_header_len(f->len) + f->len - f->z[bits - 8]->len;
	return f->z[bits - 8];
}

void
wk_frameset_fini(struct wk_frameset *f)
{
	size_t i;

	for (i = 0; i < 8; i++)
		wk_buf_unref(f->z[i]);
	wk_buf_unref(f->sse);
	wk_buf_unref(f->plain);
	memset(f, 0, sizeof(*f));
}

void
wk_deflate_shutdown(void)
{
	size_t i;

	for (i = 0; i < 8; i++) {
		if (zout[i].z != NULL) {
			deflateEnd(zout[i].z);
			free(zout[i].z);
		}
		zout[i].z = NULL;
	}
	inflate_free(shared_in);
	shared_in = NULL;
}
