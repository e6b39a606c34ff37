/*
 * test_state.c: the state file's reader and writer (supervisor/sv_state.c):
 * a round trip through a real file, every truncation point, every byte
 * flipped, another version, a foreign file, bytes after the checksum, a
 * missing file, and an empty payload.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../proto/err.h"
#include "../../supervisor/sv_state.h"

static const char payload[] = "\x93\x01\x02\xa3"
			      "abc"; /* some msgpack */

static void *
framed(size_t *len)
{
	void *buf;

	assert_int_equal(
	    sv_state_frame(payload, sizeof(payload) - 1, &buf, len), WSD_OK);
	return buf;
}

static void
test_round_trip_file(void **state)
{
	char dir[] = "/tmp/wsd-test-state-XXXXXX", path[128], err[256];
	const void *p;
	void *buf;
	size_t plen;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state", dir);
	assert_int_equal(sv_state_read(path, &buf, &p, &plen, err, sizeof(err)),
			 WSD_ENOENT);
	assert_int_equal(sv_state_write(path, payload, sizeof(payload) - 1, err,
					sizeof(err)),
			 WSD_OK);
	assert_int_equal(sv_state_read(path, &buf, &p, &plen, err, sizeof(err)),
			 WSD_OK);
	assert_int_equal(plen, sizeof(payload) - 1);
	assert_memory_equal(p, payload, plen);
	free(buf);
	/* Written again: replaced whole, no temporary file left. */
	assert_int_equal(sv_state_write(path, "x", 1, err, sizeof(err)),
			 WSD_OK);
	assert_int_equal(sv_state_read(path, &buf, &p, &plen, err, sizeof(err)),
			 WSD_OK);
	assert_int_equal(plen, 1);
	free(buf);
	snprintf(err, sizeof(err), "%s.tmp", path);
	assert_int_equal(access(err, F_OK), -1);
	/* A corrupt file on disk is refused with the file named. */
	{
		FILE *f = fopen(path, "r+b");

		assert_non_null(f);
		fseek(f, 22, SEEK_SET);
		fputc('Z', f);
		fclose(f);
	}
	assert_int_equal(sv_state_read(path, &buf, &p, &plen, err, sizeof(err)),
			 WSD_EPROTO);
	assert_non_null(strstr(err, path));
	assert_null(buf);
	unlink(path);
	rmdir(dir);
}

static void
test_every_truncation(void **state)
{
	const char *why;
	const void *p;
	size_t len, plen, n;
	unsigned char *buf = framed(&len);

	(void)state;
	assert_int_equal(sv_state_check(buf, len, &p, &plen, &why), WSD_OK);
	for (n = 0; n < len; n++) {
		why = NULL;
		assert_int_equal(sv_state_check(buf, n, &p, &plen, &why),
				 WSD_EPROTO);
		assert_non_null(why);
	}
	free(buf);
}

static void
test_every_flip(void **state)
{
	const char *why;
	const void *p;
	size_t len, plen, i;
	unsigned char *buf = framed(&len);
	int bit;

	(void)state;
	for (i = 0; i < len; i++)
		for (bit = 0; bit < 8; bit++) {
			buf[i] ^= (unsigned char)(1u << bit);
			assert_int_equal(
			    sv_state_check(buf, len, &p, &plen, &why),
			    WSD_EPROTO);
			buf[i] ^= (unsigned char)(1u << bit);
		}
	assert_int_equal(sv_state_check(buf, len, &p, &plen, &why), WSD_OK);
	free(buf);
}

static void
test_version_foreign_trailing(void **state)
{
	const char *why;
	const void *p;
	size_t len, plen;
	unsigned char *buf = framed(&len), *big;

	(void)state;
	buf[11] = SV_STATE_VERSION + 1;
	assert_int_equal(sv_state_check(buf, len, &p, &plen, &why), WSD_EPROTO);
	assert_string_equal(why, "another version of the state file");
	buf[11] = SV_STATE_VERSION;
	assert_int_equal(
	    sv_state_check("PK\3\4 a zip file, say", 20, &p, &plen, &why),
	    WSD_EPROTO);
	assert_string_equal(why, "not a wsd state file");
	big = malloc(len + 1);
	assert_non_null(big);
	memcpy(big, buf, len);
	big[len] = 0;
	assert_int_equal(sv_state_check(big, len + 1, &p, &plen, &why),
			 WSD_EPROTO);
	assert_string_equal(why, "bytes after the checksum");
	free(big);
	free(buf);
}

static void
test_empty_payload(void **state)
{
	const char *why;
	const void *p;
	size_t len, plen;
	void *buf;

	(void)state;
	assert_int_equal(sv_state_frame("", 0, &buf, &len), WSD_OK);
	assert_int_equal(sv_state_check(buf, len, &p, &plen, &why), WSD_OK);
	assert_int_equal(plen, 0);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_file),
	    cmocka_unit_test(test_every_truncation),
	    cmocka_unit_test(test_every_flip),
	    cmocka_unit_test(test_version_foreign_trailing),
	    cmocka_unit_test(test_empty_payload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
