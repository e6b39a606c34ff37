/*
 * wk_dispatch.c: the worker's answer to each supervisor message
 * (wk_dispatch.h). A message about a connection names it by id; it is
 * looked up once, here, and a message about a connection that is gone
 * meanwhile is dropped (its CONN_CLOSE is on its way to the supervisor).
 * An unexpected message type means the two processes disagree on the
 * protocol: the worker exits and the supervisor starts a fresh one.
 */
#include "wk_dispatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/log.h"
#include "../proto/trace.h"
#include "wk.h"
#include "wk_accept.h"
#include "wk_client.h"
#include "wk_conn.h"
#include "wk_http.h"
#include "wk_ipc.h"
#include "wk_rooms.h"
#include "wk_stream.h"
#include "wk_tls.h"

/*
 * Load a CONFIG message (every value was range-checked by the decoder)
 * and make it the worker's settings. Handshakes in flight keep the
 * buffer size they started with. Returns WSD_OK or WSD_ENOMEM (the old
 * settings stay).
 */
static int
apply_config(const struct proto_msg *m)
{
	struct settings s;
	const char *why = "out of memory";
	uint32_t bad = 0;
	int retime;

	if (settings_load(&s, m->config_obj) != WSD_OK) {
		settings_free(settings_worker, settings_worker_n, &s);
		return WSD_ENOMEM;
	}
	retime = s.heartbeat_interval_ms != wk.cfg.heartbeat_interval_ms ||
		 s.heartbeat_timeout_ms != wk.cfg.heartbeat_timeout_ms;
	settings_free(settings_worker, settings_worker_n, &wk.cfg);
	wk.cfg = s;
	wk.cfg_gen = m->gen;
	if (retime)
		wk_conn_retime_all();
	wk_rooms_repolicy();
	wk_tls_configure();
	/* The supervisor checked every element; a failure here is memory. */
	addr_cidrs_free(&wk.proxies);
	if (addr_cidrs_parse(wk.cfg.trusted_proxies.v, wk.cfg.trusted_proxies.n,
			     &wk.proxies, &bad, &why) != 0)
		log_error("trusted_proxies_failed", "error=%s", log_q(why));
	/* The log follows the supervisor's: a new level and format, and
	 * log_file opened again (a new path, or the same one after a
	 * rotation). */
	log_set_level((enum log_level)wk.cfg.log_level);
	log_set_format((enum log_format)wk.cfg.log_format);
	if (wk.cfg.log_file[0] != '\0' && log_reopen(wk.cfg.log_file) != 0)
		log_error("log_file_failed", "path=%s error=%s",
			  log_q(wk.cfg.log_file), log_q(strerror(errno)));
	return WSD_OK;
}

static void
on_config(const struct proto_msg *m)
{
	struct proto_msg r;

	if (apply_config(m) != WSD_OK) {
		log_error("config_failed", "generation=%u error=%s", m->gen,
			  log_q("out of memory"));
		exit(PROTO_EXIT_NO_RESTART);
	}
	memset(&r, 0, sizeof(r));
	r.type = PROTO_READY;
	wk_ipc_send(&r);
	if (!wk.configured) {
		wk.configured = 1;
		wk_accept_start();
	}
	log_debug("config_applied", "generation=%u", m->gen);
}

static void
on_accept(struct wk_conn *c, const struct proto_msg *m)
{
	wk_http_on_accept(c, m);
	if (c->state == WK_OPEN)
		wk_client_open(c, m);
	if (c->state == WK_OPEN && c->sse != NULL)
		wk_stream_open(c);
	wk_conn_settle(c);
}

static void
on_kick(struct wk_conn *c, const struct proto_msg *m)
{
	char reason[124];

	snprintf(reason, sizeof(reason), "%.*s", (int)m->reason.len,
		 m->reason.p);
	/* A drain closes every client with 1001 and counts them in its own
	 * log lines; a kick by an operator is worth a line each. */
	if (m->status == 1001)
		log_debug("drain_close", "conn=%llu code=1001%s",
			  (unsigned long long)c->id, trace_log_kv(c->trace));
	else
		log_info("kicked", "conn=%llu code=%d%s",
			 (unsigned long long)c->id, (int)m->status,
			 trace_log_kv(c->trace));
	wk_conn_close(c, (int)m->status, reason);
	wk_conn_settle(c);
}

void
wk_dispatch_msg(const struct proto_msg *m)
{
	struct wk_conn *c = m->conn != 0 ? wk_conn_find(m->conn) : NULL;

	switch (m->type) {
	case PROTO_CONFIG: on_config(m); return;
	case PROTO_REOPEN_LOG:
		if (wk.cfg.log_file[0] != '\0' &&
		    log_reopen(wk.cfg.log_file) != 0)
			log_error("log_file_failed", "path=%s error=%s",
				  log_q(wk.cfg.log_file),
				  log_q(strerror(errno)));
		return;
	case PROTO_DELIVER: wk_client_on_deliver(c, m); return;
	case PROTO_CONN_ACCEPT:
	case PROTO_SUB_REPLY:
	case PROTO_ACK:
	case PROTO_ERROR:
	case PROTO_RESUMED:
	case PROTO_SSE_INPUT:
	case PROTO_KICK: break;
	default:
		log_error("ipc_unexpected", "type=%s",
			  proto_type_name(m->type));
		exit(1);
	}
	if (c == NULL)
		return;
	switch (m->type) {
	case PROTO_CONN_ACCEPT:
		if (c->state == WK_ADMITTING)
			on_accept(c, m);
		break;
	case PROTO_SUB_REPLY: wk_client_on_sub_reply(c, m); break;
	case PROTO_ACK: wk_client_on_ack(c, m); break;
	case PROTO_ERROR:
		wk_client_on_error(c, m);
		if (c->sse != NULL && c->state == WK_OPEN && !c->resuming)
			wk_stream_settled(c);
		break;
	case PROTO_RESUMED:
		wk_client_on_resumed(c, m);
		if (c->sse != NULL && c->state == WK_OPEN)
			wk_stream_settled(c);
		break;
	case PROTO_SSE_INPUT: wk_stream_input(c, m); break;
	default: on_kick(c, m); break;
	}
}

void
wk_dispatch_fini(void)
{
	settings_free(settings_worker, settings_worker_n, &wk.cfg);
	addr_cidrs_free(&wk.proxies);
}
