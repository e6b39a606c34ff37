/*
 * sv_notify.h: telling the service manager (systemd, Type=notify) where
 * the supervisor is in its life: ready, reloading, stopping. Without
 * NOTIFY_SOCKET in the environment every call does nothing.
 */
#ifndef WSD_SV_NOTIFY_H
#define WSD_SV_NOTIFY_H

/*
 * READY=1 with MAINPID= (this process) and STATUS=status. The first call
 * marks the daemon ready (sv_notify_was_ready); later ones end a reload.
 * status is copied.
 */
void sv_notify_ready(const char *status);

/* Whether sv_notify_ready was called: the first READY=1 went out. */
int sv_notify_was_ready(void);

/* RELOADING=1 with MONOTONIC_USEC= (now, CLOCK_MONOTONIC) and a STATUS. */
void sv_notify_reloading(void);

/* STOPPING=1 with STATUS=status (copied). */
void sv_notify_stopping(const char *status);

#endif
