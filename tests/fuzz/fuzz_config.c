/*
 * fuzz_config.c: libFuzzer target for the config loader
 * (supervisor/sv_config.c) and what the supervisor does with a loaded
 * generation.
 *
 * The input is the text of a config file. It is written to one temporary
 * file (made once with mkstemp, rewritten for every input) and loaded with
 * sv_config_load, with and without command-line overrides. A load must
 * either fail with a message in err or return a generation, and must leak
 * nothing either way. A generation that loads is then used as the
 * supervisor would use it: summarised against the defaults with
 * sv_config_diff in both directions (also into a small buffer, which
 * truncates), and sent as the CONFIG message (its member w). That message
 * is encoded and must decode and load again, equal to what was sent: a
 * config the supervisor accepts but a worker's decoder refuses would make
 * every worker exit on start, so this target aborts on it.
 *
 * libconfig's `@include "FILE"` reads any file the process can open
 * (/dev/zero, a FIFO), which only proves the fuzzer can hang libconfig;
 * inputs containing it are skipped.
 *
 * libconfig 1.5 (Debian 12) leaks the string tokens it has scanned when
 * a syntax error follows them (hyperrealm/libconfig#142, fixed in 1.7 by
 * #155): `log_levelog_"verbose";` leaks 64 bytes from strbuf_append, and
 * `jwt_secret = "a" "b"c"";` a byte per token from libconfig_yylex. Those
 * two allocation sites are suppressed below. Since most broken inputs hit
 * them, and libFuzzer runs a full leak scan after every input that leaks
 * (about 100 ms), scripts/fuzz.sh runs this target with -detect_leaks=0:
 * a leak of wsd's own is then reported once, when the run ends, with its
 * allocation stack but without the input that caused it.
 */
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../proto/log.h"
#include "../../proto/proto.h"
#include "../../supervisor/sv_config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

const char *
__lsan_default_suppressions(void)
{
	return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

static char path[] = "/tmp/wsd-fuzz-config-XXXXXX";
static int fd = -1;
static struct sv_config *defaults;

static void
remove_file(void)
{
	unlink(path);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	(void)argc;
	(void)argv;
	log_init("fuzz_config", -1, LOG_LEVEL_ERROR, LOG_FORMAT_JSON);
	if ((fd = mkstemp(path)) < 0) {
		perror("fuzz_config: mkstemp");
		abort();
	}
	atexit(remove_file);
	if ((defaults = sv_config_load(NULL, NULL, err, sizeof(err))) == NULL) {
		fprintf(stderr, "fuzz_config: defaults: %s\n", err);
		abort();
	}
	return 0;
}

static void
write_input(const uint8_t *data, size_t size)
{
	size_t off = 0;
	ssize_t n;

	if (ftruncate(fd, 0) != 0)
		abort();
	while (off < size) {
		n = pwrite(fd, data + off, size - off, (off_t)off);
		if (n <= 0)
			abort();
		off += (size_t)n;
	}
}

/*
 * The CONFIG message built from c must survive the IPC codec, and the
 * worker must load from it exactly the settings c holds.
 */
static void
check_proto(const struct sv_config *c)
{
	struct proto_msg m, back;
	struct settings loaded;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;
	char diff[256] = "";
	int rc;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_CONFIG;
	m.gen = c->generation;
	m.config = &c->w;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (proto_encode(&m, &pk) != 0)
		abort();
	msgpack_unpacked_init(&u);
	rc = proto_decode(&back, &u, sb.data, sb.size);
	if (rc != WSD_OK) {
		fprintf(stderr,
			"fuzz_config: a config that loads gives a CONFIG "
			"message the worker refuses: %s\n",
			proto_bad_name(back.bad));
		abort();
	}
	if (settings_load(&loaded, back.config_obj) != WSD_OK)
		abort();
	settings_diff(settings_worker, settings_worker_n, &c->w, &loaded, diff,
		      sizeof(diff));
	if (diff[0] != '\0') {
		fprintf(stderr, "fuzz_config: the worker loads other settings "
				"than the supervisor sent\n");
		abort();
	}
	settings_free(settings_worker, settings_worker_n, &loaded);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}

static void
use(struct sv_config *c)
{
	char big[2048], small[40];

	sv_config_diff(defaults, c, big, sizeof(big));
	sv_config_diff(c, defaults, big, sizeof(big));
	sv_config_diff(c, defaults, small, sizeof(small));
	sv_config_diff(c, c, small, sizeof(small));
	if (strcmp(small, "nothing") != 0) {
		fprintf(stderr, "fuzz_config: a config differs from itself\n");
		abort();
	}
	check_proto(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct sv_overrides ov = {
	    .listen = "[::1]:9000",
	    .workers = 3,
	    .admin_listen = "",
	    .run_dir = "/tmp/wsd-fuzz",
	};
	struct sv_config *c;
	char err[512];

	if (memmem(data, size, "@include", 8) != NULL)
		return 0;
	write_input(data, size);

	err[0] = '\0';
	c = sv_config_load(path, NULL, err, sizeof(err));
	if (c == NULL) {
		if (err[0] == '\0') {
			fprintf(stderr, "fuzz_config: failed without an "
					"error message\n");
			abort();
		}
	} else {
		use(c);
		sv_config_free(c);
	}

	c = sv_config_load(path, &ov, err, sizeof(err));
	if (c != NULL) {
		use(c);
		sv_config_free(c);
	}
	return 0;
}
