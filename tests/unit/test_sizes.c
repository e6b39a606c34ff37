/*
 * test_sizes.c: the per-connection structures against the budget that
 * docs/memory.md documents field by field. A change that makes one of
 * them larger fails here until the page and these numbers say why; one
 * that makes them smaller should lower the numbers too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../supervisor/sv_registry.h"
#include "../../worker/wk.h"

/* docs/memory.md, x86-64 with glibc. */
#define WK_CONN_BUDGET 432
#define WK_MEMBER_BUDGET 48
#define SV_CONN_BUDGET 368
#define SV_USER_BUDGET 88
#define SV_MEMBER_BUDGET 48

static void
test_worker(void **state)
{
	(void)state;
	assert_in_range(sizeof(struct wk_conn), 1, WK_CONN_BUDGET);
	assert_in_range(sizeof(struct wk_member), 1, WK_MEMBER_BUDGET);
}

static void
test_supervisor(void **state)
{
	(void)state;
	assert_in_range(sizeof(struct sv_conn), 1, SV_CONN_BUDGET);
	assert_in_range(sizeof(struct sv_user), 1, SV_USER_BUDGET);
	assert_in_range(sizeof(struct sv_member), 1, SV_MEMBER_BUDGET);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_worker),
	    cmocka_unit_test(test_supervisor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
