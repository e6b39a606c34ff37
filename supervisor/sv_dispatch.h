/*
 * sv_dispatch.h: what the supervisor does with each message a worker
 * sends, and with a worker's exit. The cycle hands these two functions to
 * the worker table (sv_workers_init), which calls them; nothing below
 * names them.
 */
#ifndef WSD_SV_DISPATCH_H
#define WSD_SV_DISPATCH_H

#include <stdint.h>

#include "../proto/proto.h"

struct sv;
struct sv_worker;

/* Handle one message of worker w (sv_worker_msg_fn). */
void sv_dispatch_msg(struct sv *sv, struct sv_worker *w,
		     const struct proto_msg *m);

/* Worker w is gone: its connections leave the registry at once. Returns
 * how many (sv_worker_exit_fn). */
uint32_t sv_dispatch_exit(struct sv *sv, struct sv_worker *w);

#endif
