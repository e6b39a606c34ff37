/*
 * err.h: the return codes of wsd, one vocabulary for the supervisor, the
 * workers and proto/ (STYLE.md habit 3). A function that can fail returns
 * WSD_OK (0) or one of the negative codes below, and its comment says
 * which. WSD_EAGAIN is kept apart from the errors: it means nothing was
 * done and the same call may succeed later (a socket that would block, a
 * peer that has not drained its queue yet). Functions that return a
 * pointer return NULL instead, leave state untouched, and say why in their
 * comment.
 */
#ifndef WSD_ERR_H
#define WSD_ERR_H

enum wsd_err {
	WSD_OK = 0,
	WSD_EINVAL = -1,  /* the arguments or the input are not acceptable */
	WSD_ENOMEM = -2,  /* out of memory; nothing was changed */
	WSD_EAGAIN = -3,  /* try again later; nothing was done */
	WSD_EFULL = -4,	  /* a bounded queue or table is at its limit */
	WSD_ECLOSED = -5, /* the connection or channel is closing or gone */
	WSD_EPROTO = -6,  /* the peer broke the protocol */
	WSD_EEXIST = -7,  /* it is there already */
	WSD_ENOENT = -8,  /* no such thing */
};

/* A short name of a code for logs ("out of memory"), or "unknown". */
const char *wsd_strerror(int rc);

#endif
