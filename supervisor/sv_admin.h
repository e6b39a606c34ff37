/*
 * sv_admin.h: the admin HTTP listener (/health, /ready, /metrics, /api).
 */
#ifndef WSD_SV_ADMIN_H
#define WSD_SV_ADMIN_H

struct sv;

/* Listen on the config's admin_listen ("" : no listener). Returns WSD_OK
 * or WSD_ECLOSED (cannot listen; logged). */
int sv_admin_start(struct sv *sv);
void sv_admin_stop(struct sv *sv);

#endif
