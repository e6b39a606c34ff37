/*
 * err.c: names of the return codes declared in err.h, for log lines.
 */
#include "err.h"

const char *
wsd_strerror(int rc)
{
	switch (rc) {
	case WSD_OK: return "ok";
	case WSD_EINVAL: return "invalid";
	case WSD_ENOMEM: return "out of memory";
	case WSD_EAGAIN: return "try again";
	case WSD_EFULL: return "full";
	case WSD_ECLOSED: return "closed";
	case WSD_EPROTO: return "protocol error";
	case WSD_EEXIST: return "exists";
	case WSD_ENOENT: return "not found";
	default: return "unknown";
	}
}
