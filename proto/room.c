/*
 * room.c: the naming rules declared in room.h.
 */
#include "room.h"

#include <string.h>

#include "err.h"

int
room_name_valid(const char *s, size_t n)
{
	size_t i;

	if (s == NULL || n == 0 || n > ROOM_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

int
room_is_personal(const char *s, size_t n)
{
	return n >= ROOM_PERSONAL_PREFIX_LEN &&
	       memcmp(s, ROOM_PERSONAL_PREFIX, ROOM_PERSONAL_PREFIX_LEN) == 0;
}

int
room_is_broadcast(const char *s, size_t n)
{
	return n == 1 && s[0] == ROOM_BROADCAST[0];
}

const char *
room_personal_user(const char *s, size_t n, size_t *ulen)
{
	if (!room_is_personal(s, n))
		return NULL;
	*ulen = n - ROOM_PERSONAL_PREFIX_LEN;
	return s + ROOM_PERSONAL_PREFIX_LEN;
}

int
room_valid(const char *s, size_t n)
{
	const char *user;
	size_t ulen;

	if ((user = room_personal_user(s, n, &ulen)) != NULL)
		return room_name_valid(user, ulen);
	return room_name_valid(s, n);
}

int
room_personal_name(char *buf, size_t len, const char *user, size_t ulen)
{
	if (!room_name_valid(user, ulen) ||
	    len < ROOM_PERSONAL_PREFIX_LEN + ulen + 1)
		return WSD_EINVAL;
	memcpy(buf, ROOM_PERSONAL_PREFIX, ROOM_PERSONAL_PREFIX_LEN);
	memcpy(buf + ROOM_PERSONAL_PREFIX_LEN, user, ulen);
	buf[ROOM_PERSONAL_PREFIX_LEN + ulen] = '\0';
	return (int)(ROOM_PERSONAL_PREFIX_LEN + ulen);
}
