/*
 * sv_ctl.h: the control socket for wsctl (nng rep0 over ipc://, mode
 * 0600) and the commands behind it, which the admin HTTP API shares.
 */
#ifndef WSD_SV_CTL_H
#define WSD_SV_CTL_H

#include <jansson.h>
#include <stddef.h>

struct sv;

/* What a command may ask of the layer above (the cycle), given at start. */
struct sv_ctl_actions {
	/* Reload the config file; as sv_cycle_reload. */
	int (*reload)(struct sv *sv, char *msg, size_t len);
	/* Drain and exit; as sv_cycle_drain. */
	void (*drain)(struct sv *sv, double timeout_s);
};

/*
 * Open the control socket at the config's control_socket path. act must
 * outlive the socket. Returns WSD_OK or WSD_ECLOSED (logged).
 */
int sv_ctl_start(struct sv *sv, const struct sv_ctl_actions *act);
void sv_ctl_stop(struct sv *sv);

/* A command's reply (a new JSON object, the function's to decref). */
typedef void (*sv_ctl_reply_fn)(void *arg, json_t *rep);

/* Run one command; fn gets its reply once: before this returns, or later
 * for a command that waits on a shared engine (a publish). */
void sv_ctl_call(struct sv *sv, const json_t *req, sv_ctl_reply_fn fn,
		 void *arg);

/* 1 when cmd names a command sv_ctl_call knows. */
int sv_ctl_known(const char *cmd);

#endif
