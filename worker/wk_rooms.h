/*
 * wk_rooms.h: the worker's replica of room membership, for its own
 * connections only: it turns one DELIVER per room into the list of local
 * recipients.
 */
#ifndef WSD_WK_ROOMS_H
#define WSD_WK_ROOMS_H

#include <stddef.h>

#include "wk.h"

/* The room, or NULL when it has no local member. */
struct wk_room *wk_room_find(const char *name, size_t len);

int wk_room_is_member(struct wk_conn *c, const char *name, size_t len);

/* Returns WSD_OK or WSD_ENOMEM; joining twice is a no-op returning
 * WSD_OK. */
int wk_room_join(struct wk_conn *c, const char *name, size_t len);

/* The slow-consumer policy room_policies gives the room name (the first
 * pattern that matches), or -1: limits.slow_consumer. */
int wk_room_policy(const char *name);

/* Look the policy of every room up again (a new config). */
void wk_rooms_repolicy(void);

/* Returns WSD_OK, or WSD_ENOENT when c was not a member. */
int wk_room_leave(struct wk_conn *c, const char *name, size_t len);

void wk_room_leave_all(struct wk_conn *c);

#endif
