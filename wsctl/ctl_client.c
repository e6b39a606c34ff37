/*
 * The transport of wsctl: one request and one reply over the supervisor's
 * control socket, an nng rep0 socket that wsctl reaches with a req0 socket.
 * Requests and replies are single JSON objects in UTF-8 without a trailing
 * NUL (docs/control.md). Every failure here means the same thing to an
 * operator, "the daemon is not reachable", so each one is described in
 * words for the caller to show and returned as CTL_EUNREACH.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "wsctl.h"

int
ctl_client_call(const char *url, const json_t *req, json_t **replyp, char *why,
		size_t whylen)
{
	nng_socket sock = NNG_SOCKET_INITIALIZER;
	int opened = 0;
	char *reqbuf = NULL;
	char *rbuf = NULL;
	size_t rlen = 0;
	json_t *reply = NULL;
	json_error_t jerr;
	int rv;
	int ret = CTL_EUNREACH;

	reqbuf = json_dumps(req, JSON_COMPACT);
	if (reqbuf == NULL) {
		snprintf(why, whylen, "out of memory encoding the request");
		ret = CTL_ENOMEM;
		goto fail;
	}

	if ((rv = nng_req0_open(&sock)) != 0) {
		snprintf(why, whylen, "cannot open an nng socket: %s",
			 nng_strerror(rv));
		goto fail;
	}
	opened = 1;

	if ((rv = nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, CTL_TIMEOUT_MS)) !=
		0 ||
	    (rv = nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, CTL_TIMEOUT_MS)) !=
		0) {
		snprintf(why, whylen, "cannot set the socket timeouts: %s",
			 nng_strerror(rv));
		goto fail;
	}

	/*
	 * Without NNG_FLAG_NONBLOCK the dial happens now, so a missing socket
	 * file or a daemon that is not listening fails here at once instead of
	 * being retried in the background until the receive times out.
	 */
	if ((rv = nng_dial(sock, url, NULL, 0)) != 0) {
		snprintf(why, whylen,
			 "cannot connect to %s: %s (is wsd running?)", url,
			 nng_strerror(rv));
		goto fail;
	}

	/* Without NNG_FLAG_ALLOC nng copies the buffer; we still own reqbuf. */
	if ((rv = nng_send(sock, reqbuf, strlen(reqbuf), 0)) != 0) {
		snprintf(why, whylen, "cannot send the request to %s: %s", url,
			 nng_strerror(rv));
		goto fail;
	}

	/* With NNG_FLAG_ALLOC nng allocates rbuf; we free it with nng_free. */
	if ((rv = nng_recv(sock, &rbuf, &rlen, NNG_FLAG_ALLOC)) != 0) {
		if (rv == NNG_ETIMEDOUT)
			snprintf(why, whylen, "no reply from %s within %d s",
				 url, CTL_TIMEOUT_MS / 1000);
		else
			snprintf(why, whylen,
				 "cannot receive the reply from %s: %s", url,
				 nng_strerror(rv));
		rbuf = NULL;
		goto fail;
	}

	reply = json_loadb(rbuf, rlen, 0, &jerr);
	if (reply == NULL) {
		snprintf(why, whylen, "the reply from %s is not JSON: %s", url,
			 jerr.text);
		goto fail;
	}
	if (!json_is_object(reply)) {
		snprintf(why, whylen, "the reply from %s is not a JSON object",
			 url);
		goto fail;
	}

	nng_free(rbuf, rlen);
	nng_close(sock);
	free(reqbuf);
	*replyp = reply;
	return 0;

fail:
	json_decref(reply);
	if (rbuf != NULL)
		nng_free(rbuf, rlen);
	if (opened)
		nng_close(sock);
	free(reqbuf);
	return ret;
}
