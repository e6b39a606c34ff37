/*
 * queue.h: <sys/queue.h> plus the two macros that BSD has and glibc
 * lacks (safe traversal while removing, and removal after an element).
 */
#ifndef WSD_QUEUE_H
#define WSD_QUEUE_H

#include <sys/queue.h>

#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)                             \
	for ((var) = TAILQ_FIRST((head));                                      \
	     (var) && ((tvar) = TAILQ_NEXT((var), field), 1); (var) = (tvar))
#endif

#ifndef STAILQ_REMOVE_AFTER
#define STAILQ_REMOVE_AFTER(head, elm, field)                                  \
	do {                                                                   \
		if (((elm)->field.stqe_next =                                  \
			 (elm)->field.stqe_next->field.stqe_next) == NULL)     \
			(head)->stqh_last = &(elm)->field.stqe_next;           \
	} while (0)
#endif

#endif
