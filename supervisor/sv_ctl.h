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

/* Run one command; returns a new JSON reply object (caller decrefs). */
json_t *sv_ctl_run(struct sv *sv, const json_t *req);

/* 1 when cmd names a command sv_ctl_run knows. */
int sv_ctl_known(const char *cmd);

#endif
