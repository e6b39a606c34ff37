# tests/fuzz/fuzz.mk: libFuzzer targets for wsd (see tests/fuzz/README.md).
#
# Include it from the top-level Makefile (`include tests/fuzz/fuzz.mk`) or
# run it on its own from the repository root (`make -f tests/fuzz/fuzz.mk
# fuzz`). Every path is relative to the repository root, and every variable
# is FUZZ_-prefixed, so nothing here reads or changes CC, CFLAGS or BUILD
# of the main Makefile: the fuzz build is clang with the fuzzer, address
# and undefined sanitizers, into build/fuzz/.
#
#   make fuzz-build           build the five fuzzers
#   make fuzz                 run each for FUZZ_TIME seconds (default 60)
#   make fuzz-ipc ...         run one (fuzz-ipc, -config, -http, -client,
#                             -frames)
#   make fuzz-regress         run each fuzzer once over its committed corpus
#                             and crash reproducers (no fuzzing; CI smoke)
#   make fuzz-seeds           regenerate tests/fuzz/corpus/ipc/ seeds
#   make fuzz-cov             line coverage of the committed corpora, per
#                             source file (llvm-cov; build/fuzz/cov/)
#   make fuzz-clean           remove build/fuzz/
#
# FUZZ_TIME=N: seconds per target. FUZZ_MERGE=1: after the run, merge what
# the working corpus (build/fuzz/corpus/NAME) found into the committed
# corpus (tests/fuzz/corpus/NAME), only inputs reaching new code
# (-merge=1 -use_counters=0). FUZZ_TARGETS: the targets `make fuzz` runs
# (default: all five). FUZZ_ARGS: extra libFuzzer flags.

# Included before the main Makefile's first rule, this file must not steal
# the default goal; on its own, fuzz-build is the default.
FUZZ_STANDALONE := $(if $(filter 1,$(words $(MAKEFILE_LIST))),1)
FUZZ_SAVED_GOAL := $(.DEFAULT_GOAL)

FUZZ_CC ?= clang-14
FUZZ_DIR := tests/fuzz
FUZZ_OUT := build/fuzz
FUZZ_TIME ?= 60
FUZZ_MERGE ?= 0
FUZZ_NAMES := ipc config http client frames
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_ARGS ?=

FUZZ_PKGS := msgpack jansson libjwt libconfig openssl zlib libsystemd
# Evaluated once, on first use, and only when a fuzz rule needs it.
FUZZ_PKG_CFLAGS = $(eval FUZZ_PKG_CFLAGS := $(shell pkg-config --cflags \
	$(FUZZ_PKGS) 2>/dev/null))$(FUZZ_PKG_CFLAGS)
FUZZ_PKG_LIBS = $(eval FUZZ_PKG_LIBS := $(shell pkg-config --libs \
	$(FUZZ_PKGS) 2>/dev/null))$(FUZZ_PKG_LIBS)
FUZZ_LIBS = -lev -lnng -lwslay -lhttp_parser $(FUZZ_PKG_LIBS) -lpthread

# The project's warnings without -Werror: this build must not break on a
# warning that only clang emits in code this directory does not own.
FUZZ_WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
	$(FUZZ_WARN) -MMD -MP -fsanitize=fuzzer-no-link $(FUZZ_SAN)
FUZZ_LDFLAGS := -fsanitize=fuzzer $(FUZZ_SAN)

# The same sources as the main Makefile's CORE_SRC.
FUZZ_CORE_SRC := $(wildcard proto/*.c) $(filter-out supervisor/sv_main.c, \
	$(wildcard supervisor/*.c)) $(wildcard worker/*.c)
FUZZ_CORE_OBJ := $(FUZZ_CORE_SRC:%.c=$(FUZZ_OUT)/obj/%.o)
FUZZ_BINS := $(FUZZ_NAMES:%=$(FUZZ_OUT)/fuzz_%)
FUZZ_MAIN_OBJ := $(FUZZ_NAMES:%=$(FUZZ_OUT)/obj/$(FUZZ_DIR)/fuzz_%.o)

.PHONY: fuzz-build fuzz fuzz-regress fuzz-seeds fuzz-cov fuzz-clean \
	$(FUZZ_NAMES:%=fuzz-%)

fuzz-build: $(FUZZ_BINS)

$(FUZZ_OUT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_PKG_CFLAGS) -c $< -o $@

$(FUZZ_OUT)/libwsd-fuzz.a: $(FUZZ_CORE_OBJ)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_OUT)/fuzz_%: $(FUZZ_OUT)/obj/$(FUZZ_DIR)/fuzz_%.o \
		$(FUZZ_OUT)/libwsd-fuzz.a
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $(filter-out \
	    $(FUZZ_OUT)/libwsd-fuzz.a,$^) $(FUZZ_OUT)/libwsd-fuzz.a $(FUZZ_LIBS)

# The worker fuzzers share harness.c, which holds the supervisor's end of
# the worker's real IPC channel (nng over inproc://).
FUZZ_WORKER_BINS := $(FUZZ_OUT)/fuzz_http $(FUZZ_OUT)/fuzz_client \
	$(FUZZ_OUT)/fuzz_frames
$(FUZZ_WORKER_BINS): $(FUZZ_OUT)/obj/$(FUZZ_DIR)/harness.o

# Each run goes through the script, which copies the seeds to a working
# corpus, applies the target's libFuzzer flags and merges on request.
fuzz: fuzz-build
	FUZZ_TIME=$(FUZZ_TIME) FUZZ_MERGE=$(FUZZ_MERGE) \
	    FUZZ_ARGS="$(FUZZ_ARGS)" ./scripts/fuzz.sh run $(FUZZ_TARGETS)

$(FUZZ_NAMES:%=fuzz-%): fuzz-%: $(FUZZ_OUT)/fuzz_%
	FUZZ_TIME=$(FUZZ_TIME) FUZZ_MERGE=$(FUZZ_MERGE) \
	    FUZZ_ARGS="$(FUZZ_ARGS)" ./scripts/fuzz.sh run $*

fuzz-regress: fuzz-build
	./scripts/fuzz.sh regress $(FUZZ_TARGETS)

# The IPC seeds are written by a small program that encodes one valid
# message of each type with the project's own encoder.
FUZZ_SEED_SRC := proto/proto.c proto/settings.c proto/err.c proto/log.c
$(FUZZ_OUT)/gen_ipc_seeds: $(FUZZ_DIR)/gen_ipc_seeds.c $(FUZZ_SEED_SRC) \
		proto/proto.h proto/settings.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -g -O1 $(FUZZ_WARN) \
	    $(FUZZ_PKG_CFLAGS) $(FUZZ_SAN) $(FUZZ_DIR)/gen_ipc_seeds.c \
	    $(FUZZ_SEED_SRC) -o $@ $(FUZZ_PKG_LIBS) -lnng

fuzz-seeds: $(FUZZ_OUT)/gen_ipc_seeds
	$(FUZZ_OUT)/gen_ipc_seeds $(FUZZ_DIR)/corpus/ipc

# Coverage: the same sources built with clang's source-based coverage (no
# sanitizers), each target run once over its committed corpus, one report.
FUZZ_COV := $(FUZZ_OUT)/cov
FUZZ_COV_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -MMD -MP \
	-fprofile-instr-generate -fcoverage-mapping -fsanitize=fuzzer-no-link
FUZZ_COV_CORE := $(FUZZ_CORE_SRC:%.c=$(FUZZ_COV)/obj/%.o)
FUZZ_COV_BINS := $(FUZZ_NAMES:%=$(FUZZ_COV)/fuzz_%)
# llvm-cov takes the first binary as is and the others after -object.
FUZZ_COV_OBJECTS := $(firstword $(FUZZ_COV_BINS)) \
	$(addprefix -object ,$(wordlist 2,9,$(FUZZ_COV_BINS)))

$(FUZZ_COV)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_COV_CFLAGS) $(FUZZ_PKG_CFLAGS) -c $< -o $@

$(FUZZ_COV)/libwsd-cov.a: $(FUZZ_COV_CORE)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_COV)/fuzz_%: $(FUZZ_COV)/obj/$(FUZZ_DIR)/fuzz_%.o \
		$(FUZZ_COV)/libwsd-cov.a
	$(FUZZ_CC) -fprofile-instr-generate -fsanitize=fuzzer \
	    -o $@ $(filter-out $(FUZZ_COV)/libwsd-cov.a,$^) \
	    $(FUZZ_COV)/libwsd-cov.a $(FUZZ_LIBS)

$(FUZZ_COV)/fuzz_http $(FUZZ_COV)/fuzz_client $(FUZZ_COV)/fuzz_frames: \
	$(FUZZ_COV)/obj/$(FUZZ_DIR)/harness.o

fuzz-cov: $(FUZZ_COV_BINS)
	@rm -f $(FUZZ_COV)/*.profraw
	@for n in $(FUZZ_NAMES); do \
	    LLVM_PROFILE_FILE=$(FUZZ_COV)/$$n.profraw $(FUZZ_COV)/fuzz_$$n \
	        -runs=0 $(FUZZ_DIR)/corpus/$$n >/dev/null 2>&1 || exit 1; \
	done
	llvm-profdata-14 merge -o $(FUZZ_COV)/all.profdata $(FUZZ_COV)/*.profraw
	llvm-cov-14 report $(FUZZ_COV_OBJECTS) \
	    -instr-profile=$(FUZZ_COV)/all.profdata $(FUZZ_CORE_SRC)
	@echo "per line: llvm-cov-14 show $(FUZZ_COV_OBJECTS)" \
	    "-instr-profile=$(FUZZ_COV)/all.profdata FILE.c"

fuzz-clean:
	rm -rf $(FUZZ_OUT)

# Built through a pattern chain; keep them for the next incremental build.
.SECONDARY: $(FUZZ_MAIN_OBJ) \
	$(FUZZ_NAMES:%=$(FUZZ_COV)/obj/$(FUZZ_DIR)/fuzz_%.o)

-include $(FUZZ_CORE_OBJ:.o=.d) $(FUZZ_MAIN_OBJ:.o=.d) \
	$(FUZZ_OUT)/obj/$(FUZZ_DIR)/harness.d $(FUZZ_COV_CORE:.o=.d)

ifneq ($(FUZZ_STANDALONE),1)
.DEFAULT_GOAL := $(FUZZ_SAVED_GOAL)
endif
