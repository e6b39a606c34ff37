/*
 * sv_cycle.h: the supervisor's life, in the manner of nginx's ngx_cycle.c:
 * bringing the process up on a config generation, reloading into a new
 * generation (or keeping the old one), draining, and taking it all down.
 */
#ifndef WSD_SV_CYCLE_H
#define WSD_SV_CYCLE_H

#include <stddef.h>

struct sv;

/*
 * Bring the supervisor up on sv->cfg (loaded by the caller) in the loop
 * sv->loop: the run directory, the client listener (before any worker
 * exists), daemonizing with -d, the log file and pidfile, the registry,
 * the control socket, the admin listener and the workers. Returns WSD_OK,
 * or an error (logged) after which sv_cycle_stop cleans up.
 */
int sv_cycle_start(struct sv *sv, int daemon);

/*
 * Reload the config file into a new generation. Returns WSD_OK with a
 * summary of the changes in msg, or WSD_EINVAL (the reason, "FILE:LINE:
 * problem", in msg) or WSD_ENOMEM while the old generation runs on.
 */
int sv_cycle_reload(struct sv *sv, char *msg, size_t len);

/*
 * Drain: refuse new connections, tell every client to go (`shutdown`,
 * then 1001; sv_drain.h), stop the workers once the clients are gone and
 * end the loop once the workers are, or when timeout_s (<= 0:
 * drain.timeout_ms) passed. A second call ends the loop at once.
 */
void sv_cycle_drain(struct sv *sv, double timeout_s);

/* SIGUSR1: open log_file again (it was moved away, for rotation), here
 * and in every worker. */
void sv_cycle_reopen_log(struct sv *sv);

/* Take down what sv_cycle_start brought up, in reverse. */
void sv_cycle_stop(struct sv *sv);

#endif
