/*
 * wk_tls.c: TLS through the I/O seam (wk_tls.h), with OpenSSL.
 *
 * Contexts. Each TLS listener has one SSL_CTX per certificate: the first
 * is the default, the others are chosen by the client's SNI name (the
 * first whose certificate matches it, X509_check_host). They are built
 * from the PEM the supervisor read and checked (tls_certs), so a worker
 * never opens a key file and always serves what the supervisor checked;
 * a CONFIG with other certificates builds new contexts, and connections
 * keep the one they started with (SSL_new holds a reference). TLS 1.2
 * and 1.3 only, ECDHE with AES-GCM or ChaCha20 for 1.2, OpenSSL's 1.3
 * suites, no renegotiation, ALPN http/1.1.
 *
 * Resumption. Session tickets are sealed with the supervisor's ticket
 * keys (tls_tickets, the same in every worker: a client resumes on any
 * worker; the first key seals, every key opens, and a ticket opened with
 * an older key is renewed). A session cache per worker serves the clients
 * that resume by session id.
 *
 * The seam. The handshake runs inside the first SSL_read calls, so the
 * connection's handshake timeout bounds it, and the layers above see
 * WSD_EAGAIN until the request bytes arrive. Three things the plain seam
 * does not have:
 * - Records decrypted but not yet returned are not visible to the
 *   level-triggered read watcher: a read that leaves some (SSL_pending)
 *   feeds the watcher another read event, and so does wk_conn.c when it
 *   restarts the watcher (the seam's pending operation).
 * - SSL_write must be retried with the same bytes after WANT_WRITE, while
 *   the queue above may change meanwhile (a close discards what is
 *   unsent). So the bytes of such a write are copied to a stage the
 *   session owns and reported as written, like bytes a kernel buffer
 *   took; the stage is written first on the next writev, or by the
 *   session's own write watcher when nothing else is queued, and a shut
 *   for writing waits for it.
 * - A read that needs to write (a TLS 1.3 key update, an alert) arms the
 *   same write watcher, which feeds the read watcher once it could write.
 * Idle connections keep no record buffers (SSL_MODE_RELEASE_BUFFERS).
 *
 * Failed handshakes are counted by reason (enum stats_tls_fail) and close
 * only their connection; completed ones are counted full or resumed.
 */
#include "wk_tls.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../proto/log.h"
#include "../proto/stats.h"

#define CERTS_MAX 8	     /* contexts of one listener */
#define CHUNK 16384	     /* plaintext bytes per SSL_write: one record */
#define TICKET_KEYS_MAX 4    /* as settings.c's tls_tickets */
#define SESSION_CACHE 4096   /* sessions cached per context */
#define TICKET_LIFETIME 7200 /* seconds: two rotations of the keys */

#define CIPHERS_12                                                             \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"           \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"           \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* The session of one connection (c->tls). */
struct wk_tls {
	SSL *ssl;
	struct wk_conn *c;
	ev_io wio;   /* writable: the stage, or a read that wanted to write */
	char *stage; /* bytes SSL_write still holds (reported as written) */
	uint32_t stage_len, stage_off;
	unsigned hs_done : 1;	       /* the handshake completed */
	unsigned counted : 1;	       /* its failure was counted */
	unsigned fatal : 1;	       /* a fatal error: no more SSL calls */
	unsigned read_wants_write : 1; /* a read waits for writability */
	unsigned shut_wr : 1;	       /* shut for writing once staged out */
};

struct listener {
	SSL_CTX *ctx[CERTS_MAX];
	int n;
};

struct ticket_key {
	unsigned char name[16], aes[32], hmac[32];
};

static struct listener listeners[WK_LISTENERS_MAX];
static unsigned char certs_digest[32]; /* of the tls_certs applied */
static struct ticket_key tkeys[TICKET_KEYS_MAX];
static int ntkeys;
static char scratch[CHUNK]; /* a writev's buffers, coalesced */

int
wk_tls_listener(int index)
{
	return index >= 0 && index < WK_LISTENERS_MAX && listeners[index].n > 0;
}

/* ------------------------------------------------------------------ */
/* Contexts. */

/* ALPN: http/1.1 when the client offers it; else no ALPN answer. */
static int
on_alpn(SSL *s, const unsigned char **out, unsigned char *outlen,
	const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h11[] = "\x08http/1.1";
	unsigned char *o;

	(void)s;
	(void)arg;
	if (SSL_select_next_proto(&o, outlen, h11, sizeof(h11) - 1, in,
				  inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = o;
	return SSL_TLSEXT_ERR_OK;
}

/* SNI: the first certificate of the listener that matches the name; the
 * default (the first) when none does or no name was sent. */
static int
on_servername(SSL *s, int *alert, void *arg)
{
	struct listener *l = arg;
	const char *name = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
	int i;

	(void)alert;
	if (name == NULL)
		return SSL_TLSEXT_ERR_OK;
	for (i = 0; i < l->n; i++) {
		X509 *x = SSL_CTX_get0_certificate(l->ctx[i]);

		if (x != NULL && X509_check_host(x, name, 0, 0, NULL) == 1) {
			if (i > 0 && SSL_set_SSL_CTX(s, l->ctx[i]) == NULL)
				return SSL_TLSEXT_ERR_ALERT_FATAL;
			break;
		}
	}
	return SSL_TLSEXT_ERR_OK;
}

static int
ticket_mac(EVP_MAC_CTX *hctx, unsigned char *key)
{
	OSSL_PARAM params[3];

	params[0] =
	    OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, 32);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)"sha256", 0);
	params[2] = OSSL_PARAM_construct_end();
	return EVP_MAC_CTX_set_params(hctx, params);
}

/*
 * Seal (enc) a ticket with the current key, or open one with the key its
 * name gives: 1 done, 2 opened with an older key (issue a new ticket), 0
 * no such key (a full handshake) or no key to seal with (no ticket), -1
 * an error.
 */
static int
on_ticket(SSL *s, unsigned char name[16], unsigned char *iv,
	  EVP_CIPHER_CTX *ctx, EVP_MAC_CTX *hctx, int enc)
{
	int i;

	(void)s;
	if (enc) {
		if (ntkeys == 0)
			return 0;
		memcpy(name, tkeys[0].name, 16);
		if (RAND_bytes(iv, 16) != 1 ||
		    EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL,
				       tkeys[0].aes, iv) != 1 ||
		    ticket_mac(hctx, tkeys[0].hmac) != 1)
			return -1;
		return 1;
	}
	for (i = 0; i < ntkeys; i++)
		if (memcmp(name, tkeys[i].name, 16) == 0)
			break;
	if (i == ntkeys)
		return 0;
	if (ticket_mac(hctx, tkeys[i].hmac) != 1 ||
	    EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, tkeys[i].aes,
			       iv) != 1)
		return -1;
	return i == 0 ? 1 : 2;
}

/* The reason of OpenSSL's last error (for a log line), queue emptied. */
static const char *
ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : "unknown";
}

/*
 * A context for one "INDEX\nCHAIN PEM\nKEY PEM" element of tls_certs:
 * *index set, the SNI callback pointed at its listener. Returns NULL
 * with *why set (never the key's bytes).
 */
static SSL_CTX *
ctx_build(const char *elem, int *index, const char **why)
{
	char *end;
	long idx = strtol(elem, &end, 10);
	const char *pem = end + 1;
	SSL_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	BIO *bio = NULL;
	X509 *x = NULL;

	*why = "malformed element";
	if (end == elem || *end != '\n' || idx < 0 || idx >= WK_LISTENERS_MAX)
		return NULL;
	*index = (int)idx;
	*why = "out of memory";
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		goto fail;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE |
				     SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
				  SSL_MODE_ENABLE_PARTIAL_WRITE |
				  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_set_cipher_list(ctx, CIPHERS_12) != 1)
		goto ssl;
	SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
	SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
	SSL_CTX_set_tlsext_servername_arg(ctx, &listeners[idx]);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_sess_set_cache_size(ctx, SESSION_CACHE);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"wsd", 3);
	SSL_CTX_set_timeout(ctx, TICKET_LIFETIME);
	SSL_CTX_set_num_tickets(ctx, 1);
	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL)
		goto fail;
	if ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL ||
	    SSL_CTX_use_certificate(ctx, x) != 1)
		goto ssl;
	X509_free(x);
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1)
			goto ssl;
	ERR_clear_error();
	BIO_free(bio);
	/* The key follows the chain; a reader of its own skips the
	 * certificates. */
	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL)
		goto fail;
	if ((pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL ||
	    SSL_CTX_use_PrivateKey(ctx, pk) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto ssl;
	EVP_PKEY_free(pk);
	BIO_free(bio);
	return ctx;
ssl:
	*why = ssl_reason();
fail:
	X509_free(x);
	EVP_PKEY_free(pk);
	BIO_free(bio);
	SSL_CTX_free(ctx);
	return NULL;
}

static void
listeners_free(struct listener *ls)
{
	int i, j;

	for (i = 0; i < WK_LISTENERS_MAX; i++) {
		for (j = 0; j < ls[i].n; j++)
			SSL_CTX_free(ls[i].ctx[j]);
		ls[i].n = 0;
	}
}

static void
digest_certs(const struct setting_list *l, unsigned char out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 0;
	uint32_t i;

	memset(out, 0, 32);
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto done;
	for (i = 0; i < l->n; i++)
		EVP_DigestUpdate(md, l->v[i], strlen(l->v[i]) + 1);
	EVP_DigestFinal_ex(md, out, &n);
done:
	EVP_MD_CTX_free(md);
}

static void
configure_certs(void)
{
	const struct setting_list *l = &wk.cfg.tls_certs;
	struct listener next[WK_LISTENERS_MAX];
	unsigned char d[32];
	const char *why;
	uint32_t i;
	int index;
	SSL_CTX *ctx;

	digest_certs(l, d);
	if (memcmp(d, certs_digest, sizeof(d)) == 0)
		return;
	memset(next, 0, sizeof(next));
	for (i = 0; i < l->n; i++) {
		if ((ctx = ctx_build(l->v[i], &index, &why)) == NULL ||
		    next[index].n == CERTS_MAX) {
			SSL_CTX_free(ctx);
			log_error("tls_config_failed",
				  "element=%u error=%s kept=old", i + 1,
				  log_q(ctx ? "too many certificates" : why));
			listeners_free(next);
			return;
		}
		next[index].ctx[next[index].n++] = ctx;
	}
	/* The SNI callbacks point at listeners[], which takes the new
	 * contexts whole. */
	listeners_free(listeners);
	memcpy(listeners, next, sizeof(next));
	memcpy(certs_digest, d, sizeof(d));
	if (l->n > 0)
		log_info("tls_configured", "certificates=%u", l->n);
}

static int
unhex(const char *s, unsigned char *out, size_t n)
{
	size_t i;
	unsigned v;

	for (i = 0; i < n; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	return 0;
}

static void
configure_tickets(void)
{
	const struct setting_list *l = &wk.cfg.tls_tickets;
	struct ticket_key k[TICKET_KEYS_MAX];
	uint32_t i;

	for (i = 0; i < l->n && i < TICKET_KEYS_MAX; i++) {
		if (strlen(l->v[i]) != 160 || unhex(l->v[i], k[i].name, 16) ||
		    unhex(l->v[i] + 32, k[i].aes, 32) ||
		    unhex(l->v[i] + 96, k[i].hmac, 32)) {
			log_error("tls_tickets_failed", "element=%u kept=old",
				  i + 1);
			OPENSSL_cleanse(k, sizeof(k));
			return;
		}
	}
	OPENSSL_cleanse(tkeys, sizeof(tkeys));
	memcpy(tkeys, k, sizeof(k));
	ntkeys = (int)i;
	OPENSSL_cleanse(k, sizeof(k));
}

void
wk_tls_configure(void)
{
	configure_certs();
	configure_tickets();
}

void
wk_tls_fini(void)
{
	listeners_free(listeners);
	OPENSSL_cleanse(tkeys, sizeof(tkeys));
	ntkeys = 0;
}

/* ------------------------------------------------------------------ */
/* The handshake's outcome. */

static void
count_failure(struct wk_tls *t, unsigned why, const char *detail)
{
	if (t->counted || t->hs_done)
		return;
	t->counted = 1;
	wk.tot[PROTO_TOT_TLS_FAIL + why]++;
	log_debug("tls_handshake_failed", "conn=%llu reason=%s detail=%s",
		  (unsigned long long)t->c->id, stats_tls_fail_names[why],
		  log_q(detail));
}

/* Why the handshake failed, from SSL_get_error's e and the error queue
 * (emptied). */
static void
handshake_failed(struct wk_tls *t, int e)
{
	unsigned long err = ERR_peek_last_error();
	int r = ERR_GET_REASON(err);
	const char *detail = ssl_reason();
	unsigned why = STATS_TLS_OTHER;

	if (e == SSL_ERROR_SYSCALL || r == SSL_R_UNEXPECTED_EOF_WHILE_READING)
		why = STATS_TLS_EOF;
	else if (r == SSL_R_HTTP_REQUEST || r == SSL_R_HTTPS_PROXY_REQUEST)
		why = STATS_TLS_HTTP;
	else if (r == SSL_R_UNSUPPORTED_PROTOCOL ||
		 r == SSL_R_WRONG_VERSION_NUMBER ||
		 r == SSL_R_UNKNOWN_PROTOCOL || r == SSL_R_VERSION_TOO_LOW)
		why = STATS_TLS_VERSION;
	else if (r == SSL_R_NO_SHARED_CIPHER || r == SSL_R_NO_SHARED_GROUPS ||
		 r == SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM)
		why = STATS_TLS_CIPHER;
	else if (r >= SSL_AD_REASON_OFFSET && r < SSL_AD_REASON_OFFSET + 256)
		why = STATS_TLS_ALERT;
	count_failure(t, why,
		      e == SSL_ERROR_SYSCALL ? "end of stream" : detail);
}

static void
handshake_done(struct wk_tls *t)
{
	const char *sni = SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name);
	int reused = SSL_session_reused(t->ssl);

	t->hs_done = 1;
	wk.tot[reused ? PROTO_TOT_TLS_RESUMED : PROTO_TOT_TLS_FULL]++;
	log_debug("tls_handshake",
		  "conn=%llu version=%s cipher=%s resumed=%d "
		  "sni=%s",
		  (unsigned long long)t->c->id, SSL_get_version(t->ssl),
		  SSL_get_cipher_name(t->ssl), reused, log_q(sni ? sni : ""));
}

/* ------------------------------------------------------------------ */
/* The seam. */

static void
want_write(struct wk_tls *t)
{
	if (!ev_is_active(&t->wio))
		ev_io_start(wk.loop, &t->wio);
}

static void
stage_free(struct wk_tls *t)
{
	free(t->stage);
	t->stage = NULL;
	t->stage_len = t->stage_off = 0;
}

/* Write what is staged. Returns WSD_OK (nothing staged any more),
 * WSD_EAGAIN, or WSD_ECLOSED (t->fatal). */
static int
stage_flush(struct wk_tls *t)
{
	int n, e;

	while (t->stage_len > 0) {
		ERR_clear_error();
		n = SSL_write(t->ssl, t->stage + t->stage_off,
			      (int)(t->stage_len - t->stage_off));
		if (n > 0) {
			t->stage_off += (uint32_t)n;
			if (t->stage_off == t->stage_len)
				stage_free(t);
			continue;
		}
		e = SSL_get_error(t->ssl, n);
		if (e == SSL_ERROR_WANT_WRITE) {
			want_write(t);
			return WSD_EAGAIN;
		}
		if (e == SSL_ERROR_WANT_READ)
			return WSD_EAGAIN;
		ERR_clear_error();
		t->fatal = 1;
		stage_free(t);
		return WSD_ECLOSED;
	}
	return WSD_OK;
}

/* Send close_notify (best effort) and shut the socket for writing. */
static void
shut_wr_now(struct wk_tls *t)
{
	if (!t->fatal && t->hs_done) {
		ERR_clear_error();
		SSL_shutdown(t->ssl);
		ERR_clear_error();
	}
	shutdown(t->c->io.fd, SHUT_WR);
}

/* The socket is writable again: the stage goes out, then what waited. */
static void
on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct wk_tls *t = w->data;
	int rc;

	(void)revents;
	ev_io_stop(loop, w);
	rc = stage_flush(t);
	if (rc == WSD_EAGAIN)
		return;
	if (rc == WSD_OK && t->shut_wr) {
		t->shut_wr = 0;
		shut_wr_now(t);
	}
	/* A read that waited, or the news of a fatal error, is the read
	 * side's to take. */
	if ((t->read_wants_write || rc == WSD_ECLOSED) &&
	    ev_is_active(&t->c->io) && (t->c->io.events & EV_READ))
		ev_feed_event(loop, &t->c->io, EV_READ);
	t->read_wants_write = 0;
}

static ssize_t
tls_read(struct wk_conn *c, void *buf, size_t len)
{
	struct wk_tls *t = c->tls;
	int n, e;

	if (t->fatal)
		return WSD_ECLOSED;
	if (t->stage_len > 0 && stage_flush(t) == WSD_ECLOSED)
		return WSD_ECLOSED;
	ERR_clear_error();
	n = SSL_read(t->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	if (!t->hs_done && SSL_is_init_finished(t->ssl))
		handshake_done(t);
	if (n > 0) {
		wk.tot[PROTO_TOT_BYTES_IN] += (uint64_t)n;
		/* Records already decrypted wait where the read watcher does
		 * not look. */
		if (SSL_pending(t->ssl) > 0)
			ev_feed_event(wk.loop, &c->io, EV_READ);
		return n;
	}
	e = SSL_get_error(t->ssl, n);
	switch (e) {
	case SSL_ERROR_WANT_READ: return WSD_EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		t->read_wants_write = 1;
		want_write(t);
		return WSD_EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		/* close_notify: answered at close. */
		count_failure(t, STATS_TLS_EOF, "close_notify");
		return WSD_ECLOSED;
	default:
		t->fatal = 1;
		if (!t->hs_done)
			handshake_failed(t, e);
		ERR_clear_error();
		return WSD_ECLOSED;
	}
}

static ssize_t
tls_writev(struct wk_conn *c, const struct iovec *iov, int niov)
{
	struct wk_tls *t = c->tls;
	const char *p;
	size_t len = 0;
	int i, n, e, rc;

	if (t->fatal)
		return WSD_ECLOSED;
	if (t->stage_len > 0 && (rc = stage_flush(t)) != WSD_OK)
		return rc;
	if (niov == 1 || (niov > 0 && iov[0].iov_len >= CHUNK)) {
		p = iov[0].iov_base;
		len = iov[0].iov_len < CHUNK ? iov[0].iov_len : CHUNK;
	} else {
		/* One record from many small frames. */
		for (i = 0; i < niov && len < CHUNK; i++) {
			size_t k = iov[i].iov_len < CHUNK - len ? iov[i].iov_len
								: CHUNK - len;

			memcpy(scratch + len, iov[i].iov_base, k);
			len += k;
		}
		p = scratch;
	}
	if (len == 0)
		return 0;
	ERR_clear_error();
	n = SSL_write(t->ssl, p, (int)len);
	if (n > 0) {
		wk.tot[PROTO_TOT_BYTES_OUT] += (uint64_t)n;
		return n;
	}
	e = SSL_get_error(t->ssl, n);
	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
		/* SSL_write holds these bytes now: it must be given them
		 * again, whatever the queue above does meanwhile. */
		if ((t->stage = malloc(len)) == NULL) {
			t->fatal = 1;
			return WSD_ECLOSED;
		}
		memcpy(t->stage, p, len);
		t->stage_len = (uint32_t)len;
		t->stage_off = 0;
		if (e == SSL_ERROR_WANT_WRITE)
			want_write(t);
		wk.tot[PROTO_TOT_BYTES_OUT] += (uint64_t)len;
		return (ssize_t)len;
	}
	ERR_clear_error();
	t->fatal = 1;
	return WSD_ECLOSED;
}

static void
tls_shutdown(struct wk_conn *c, int how)
{
	struct wk_tls *t = c->tls;

	if (how != SHUT_WR) {
		shutdown(c->io.fd, how);
		return;
	}
	if (t->stage_len > 0 && !t->fatal)
		t->shut_wr = 1;
	else
		shut_wr_now(t);
}

static void
tls_close(struct wk_conn *c)
{
	struct wk_tls *t = c->tls;

	if (t != NULL) {
		/* Closed by us before it completed: the handshake timeout,
		 * or the worker stopping. */
		count_failure(t, STATS_TLS_TIMEOUT, "closed before completion");
		if (!t->fatal && t->hs_done &&
		    !(SSL_get_shutdown(t->ssl) & SSL_SENT_SHUTDOWN)) {
			ERR_clear_error();
			SSL_shutdown(t->ssl);
			ERR_clear_error();
		}
		ev_io_stop(wk.loop, &t->wio);
		SSL_free(t->ssl);
		free(t->stage);
		free(t);
		c->tls = NULL;
	}
	close(c->io.fd);
}

static int
tls_pending(struct wk_conn *c)
{
	return c->tls != NULL && !c->tls->fatal && SSL_pending(c->tls->ssl) > 0;
}

const struct wk_io wk_io_tls = {
    .read = tls_read,
    .writev = tls_writev,
    .shutdown = tls_shutdown,
    .close = tls_close,
    .pending = tls_pending,
};

int
wk_tls_attach(struct wk_conn *c, int index)
{
	struct wk_tls *t;

	if (!wk_tls_listener(index))
		return WSD_EINVAL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return WSD_ENOMEM;
	if ((t->ssl = SSL_new(listeners[index].ctx[0])) == NULL ||
	    SSL_set_fd(t->ssl, c->io.fd) != 1) {
		ERR_clear_error();
		SSL_free(t->ssl);
		free(t);
		return WSD_ENOMEM;
	}
	SSL_set_accept_state(t->ssl);
	t->c = c;
	ev_io_init(&t->wio, on_writable, c->io.fd, EV_WRITE);
	t->wio.data = t;
	/* Counted from here: a connection that goes before this is not a
	 * TLS handshake yet. */
	c->tls = t;
	return WSD_OK;
}
