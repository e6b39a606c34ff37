/*
 * test_accept.c: unit tests of wk_accept_key (worker/wk.h), the
 * Sec-WebSocket-Accept value of RFC 6455 section 4.2.2: base64 of the
 * SHA-1 of the client's key followed by the protocol GUID.
 *
 * The first key is the example of RFC 6455 section 1.3. The expected
 * values of the others were computed apart from wsd, in the shell:
 *   printf '%s' KEY258EAFA5-E914-47DA-95CA-C5AB0DC85B11 |
 *       openssl sha1 -binary | base64
 * The tests also check that exactly len bytes of the key are read and
 * that the answer is 28 characters and a NUL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../../worker/wk_http.h"

static void
check(const char *key, size_t len, const char *want)
{
	char out[29];

	memset(out, 0x55, sizeof(out));
	wk_accept_key(key, len, out);
	assert_int_equal(out[28], '\0');
	assert_string_equal(out, want);
}

static void
test_rfc6455_example(void **state)
{
	(void)state;
	check("dGhlIHNhbXBsZSBub25jZQ==", 24, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void
test_other_keys(void **state)
{
	(void)state;
	check("x3JJHMbDL1EzLkh9GBhXDw==", 24, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
	check("AQIDBAUGBwgJCgsMDQ4PEA==", 24, "C/0nmHhBztSRGR1CwL6Tf4ZjwpY=");
	check("AAAAAAAAAAAAAAAAAAAAAA==", 24, "ICX+Yqv66kxgM0FcWaLWlFLwTAI=");
}

/* Only key[0..len) counts: the key usually sits inside a request. */
static void
test_key_in_buffer(void **state)
{
	static const char req[] =
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

	(void)state;
	check(req + 19, 24, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	check("AQIDBAUGBwgJCgsMDQ4PEA==trailing", 24,
	      "C/0nmHhBztSRGR1CwL6Tf4ZjwpY=");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc6455_example),
	    cmocka_unit_test(test_other_keys),
	    cmocka_unit_test(test_key_in_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
