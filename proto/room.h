/*
 * room.h: the naming rules that the supervisor and the workers share, so
 * that both sides of the IPC agree on what a room is.
 *
 * A name (a room, a user id, the id of a publish) is 1 to ROOM_NAME_MAX
 * bytes with no control character (no byte below 0x20, no 0x7f): names
 * are shown to operators, logged as ids, and cross the IPC as strings,
 * which never hold a NUL. A personal room is "user:" followed by a user
 * id: its members are that user's connections, so a `send` to a user is a
 * publish to it. "*" is the broadcast room (every connection); clients
 * never join it or publish to it.
 */
#ifndef WSD_ROOM_H
#define WSD_ROOM_H

#include <stddef.h>

#define ROOM_NAME_MAX 128
#define ROOM_PERSONAL_PREFIX "user:"
#define ROOM_PERSONAL_PREFIX_LEN 5
#define ROOM_PERSONAL_MAX (ROOM_PERSONAL_PREFIX_LEN + ROOM_NAME_MAX)
#define ROOM_BROADCAST "*"

/* Does s[0..n) follow the name rule? */
int room_name_valid(const char *s, size_t n);

/* Is s[0..n) a room a client may name: a name, or "user:" and a name? */
int room_valid(const char *s, size_t n);

/* Does s[0..n) start with the personal-room prefix? */
int room_is_personal(const char *s, size_t n);

/* Is s[0..n) the broadcast room? */
int room_is_broadcast(const char *s, size_t n);

/*
 * The user id of the personal room s[0..n): returns a pointer into s and
 * its length in *ulen, or NULL when s is not a personal room.
 */
const char *room_personal_user(const char *s, size_t n, size_t *ulen);

/*
 * Write the personal room of user[0..ulen) as a C string into buf (len
 * bytes, at least ROOM_PERSONAL_MAX + 1). Returns its length, or
 * WSD_EINVAL when the user id breaks the name rule (buf untouched).
 */
int room_personal_name(char *buf, size_t len, const char *user, size_t ulen);

#endif
