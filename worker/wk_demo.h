/*
 * wk_demo.h -- the demo chat page served on GET / when demo_page is on.
 *
 * The page lives in worker/wk_demo.html; worker/wk_demo.c is generated
 * from it by scripts/embed.sh (run by the Makefile when the html changes).
 * wk_demo_html is NUL-terminated; wk_demo_html_len excludes the NUL.
 */
#ifndef WK_DEMO_H
#define WK_DEMO_H

#include <stddef.h>

extern const char wk_demo_html[];
extern const size_t wk_demo_html_len;

#endif /* WK_DEMO_H */
