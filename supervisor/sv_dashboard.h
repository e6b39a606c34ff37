/*
 * sv_dashboard.h -- the dashboard page the admin listener serves on GET /.
 *
 * The page lives in supervisor/sv_dashboard.html; supervisor/sv_dashboard.c
 * is generated from it by scripts/embed.sh (run by the Makefile when the
 * html changes). sv_dashboard_html is NUL-terminated;
 * sv_dashboard_html_len excludes the NUL.
 */
#ifndef SV_DASHBOARD_H
#define SV_DASHBOARD_H

#include <stddef.h>

extern const char sv_dashboard_html[];
extern const size_t sv_dashboard_html_len;

#endif /* SV_DASHBOARD_H */
