# wsd: build, run and test. `make` builds bin/wsd and bin/wsctl; `make run`
# starts wsd with conf/wsd.conf; `make test` runs every test and ends with
# one line "N passed, N failed". SANITIZE=1 builds and tests with
# AddressSanitizer and UndefinedBehaviorSanitizer into bin/san/.
# Missing dependencies are installed by scripts/install-deps.sh.

CC ?= cc
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith
PKGS := msgpack jansson libjwt libconfig openssl zlib libsystemd hiredis
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g $(WARN) -MMD -MP

ifeq ($(SANITIZE),1)
  BUILD := build/san
  BIN := bin/san
  CFLAGS := $(CFLAGS_BASE) -O1 -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDFLAGS := -fsanitize=address,undefined
else
  BUILD := build/rel
  BIN := bin
  CFLAGS := $(CFLAGS_BASE) -O2
  LDFLAGS :=
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LIBS = -lev -lnng -lwslay -lhttp_parser $(PKG_LIBS) -lpthread

CORE_SRC := $(wildcard proto/*.c) $(filter-out supervisor/sv_main.c, \
	$(wildcard supervisor/*.c)) $(wildcard worker/*.c)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
WSCTL_SRC := $(wildcard wsctl/*.c)
WSCTL_OBJ := $(WSCTL_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps run test unit e2e clean fmt fmt-check install uninstall FORCE
all: deps $(BIN)/wsd $(BIN)/wsctl

# Installs only what is missing; quick when everything is there.
deps:
	@./scripts/install-deps.sh --no-npm

worker/wk_demo.c: worker/wk_demo.html scripts/embed.sh
	sh scripts/embed.sh worker/wk_demo.html worker/wk_demo.c

worker/wk_clientlib.c: clients/js/wsd-client.js scripts/embed.sh
	sh scripts/embed.sh clients/js/wsd-client.js worker/wk_clientlib.c

supervisor/sv_dashboard.c: supervisor/sv_dashboard.html scripts/embed.sh
	sh scripts/embed.sh supervisor/sv_dashboard.html supervisor/sv_dashboard.c

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

# What --version prints besides WSD_VERSION: the git revision (when this
# is a git checkout of its own) and the libraries without a runtime
# version function. Rewritten only when it changes, so that only
# version.o is rebuilt.
GIT_REV = $(shell [ "$$(git -C $(CURDIR) rev-parse --show-toplevel 2>/dev/null)" \
	= "$(CURDIR)" ] && git -C $(CURDIR) describe --always --dirty 2>/dev/null \
	|| echo unknown)

$(BUILD)/gen/build_info.h: FORCE
	@mkdir -p $(dir $@)
	@printf '#define WSD_GIT_REV "%s"\n#define WSD_LIBJWT_VERSION "%s"\n#define WSD_LIBSYSTEMD_VERSION "%s"\n' \
	    "$(GIT_REV)" "$$(pkg-config --modversion libjwt 2>/dev/null || echo unknown)" \
	    "$$(pkg-config --modversion libsystemd 2>/dev/null || echo unknown)" > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

$(BUILD)/proto/version.o: $(BUILD)/gen/build_info.h
$(BUILD)/proto/version.o: CFLAGS += -I$(BUILD)/gen

$(BUILD)/libwsd.a: $(CORE_OBJ)
	ar rcs $@ $^

$(BIN)/wsd: $(BUILD)/supervisor/sv_main.o $(BUILD)/libwsd.a
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BIN)/wsctl: $(WSCTL_OBJ) $(BUILD)/proto/version.o
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libwsd.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Wno-missing-prototypes $< -o $@ \
		$(LDFLAGS) $(BUILD)/libwsd.a $(LIBS) -lcmocka

run: all
	@./scripts/run.sh $(BIN)/wsd conf/wsd.conf

test: all $(UNIT_BIN)
	@./scripts/install-deps.sh
	@BUILD=$(BUILD) BIN=$(BIN) ./scripts/run-tests.sh

clean:
	rm -rf build bin

# `make install [PREFIX=/usr/local] [DESTDIR=]`: wsd and wsctl in sbin
# (both are the administrator's, section 8, and `wsctl checkconfig` runs
# the wsd next to it), the example config in
# SYSCONFDIR/wsd (PREFIX/etc, or /etc when PREFIX is /usr; an existing
# wsd.conf is kept), the systemd unit and the man pages. Installing
# rebuilds nothing that `make` did not: it only needs the binaries.
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR ?= $(PREFIX)/lib/systemd/system
MANDIR ?= $(PREFIX)/share/man
MAN8 := docs/man/wsd.8 docs/man/wsctl.8
MAN5 := docs/man/wsd.conf.5

# The installed config runs under the unit: the run directory is the
# unit's RuntimeDirectory, and the state file, snapshot and resume key
# file go to its StateDirectory, which survives restarts.
INSTALL_CONF_SED := -e 's|^run_dir = .*|run_dir = "/run/wsd";|' \
	-e 's|^state_dir = .*|state_dir = "/var/lib/wsd";|' \
	-e 's|^  key_file = .*|  key_file = "/var/lib/wsd/session.keys";|'
UNIT_SED := -e 's|/usr/local/sbin|$(SBINDIR)|g' \
	-e 's|/usr/local/etc|$(SYSCONFDIR)|g'

install: $(BIN)/wsd $(BIN)/wsctl
	install -d $(DESTDIR)$(SBINDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/wsd $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 755 $(BIN)/wsd $(DESTDIR)$(SBINDIR)/wsd
	install -m 755 $(BIN)/wsctl $(DESTDIR)$(SBINDIR)/wsctl
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/wsd/wsd.conf ]; then \
	    echo "install: keeping $(DESTDIR)$(SYSCONFDIR)/wsd/wsd.conf"; \
	else \
	    echo "install: $(DESTDIR)$(SYSCONFDIR)/wsd/wsd.conf"; \
	    sed $(INSTALL_CONF_SED) conf/wsd.conf > $(DESTDIR)$(SYSCONFDIR)/wsd/wsd.conf.tmp && \
	    chmod 644 $(DESTDIR)$(SYSCONFDIR)/wsd/wsd.conf.tmp && \
	    mv $(DESTDIR)$(SYSCONFDIR)/wsd/wsd.conf.tmp $(DESTDIR)$(SYSCONFDIR)/wsd/wsd.conf; \
	fi
	sed $(UNIT_SED) conf/wsd.service > $(DESTDIR)$(UNITDIR)/wsd.service
	chmod 644 $(DESTDIR)$(UNITDIR)/wsd.service
	install -m 644 $(MAN8) $(DESTDIR)$(MANDIR)/man8
	install -m 644 $(MAN5) $(DESTDIR)$(MANDIR)/man5

# Removes what install put there, except the config (it may be edited).
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/wsd $(DESTDIR)$(SBINDIR)/wsctl \
	    $(DESTDIR)$(UNITDIR)/wsd.service \
	    $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(MAN8))) \
	    $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(MAN5)))

# One mechanical style (STYLE.md habit 13): clang-format 14 with the
# committed .clang-format, over every C file but the generated ones (the
# pages and the client library that embed.sh writes).
FMT_SRC = $(filter-out worker/wk_demo.c worker/wk_clientlib.c \
	supervisor/sv_dashboard.c, $(wildcard proto/*.[ch] \
	supervisor/*.[ch] worker/*.[ch] wsctl/*.[ch] tests/unit/*.c \
	tests/fuzz/*.[ch] bench/*.[ch]))

fmt:
	clang-format -i $(FMT_SRC)

# Lists the files clang-format would change and fails when there are any.
fmt-check:
	@bad=0; for f in $(FMT_SRC); do \
	    clang-format "$$f" | cmp -s - "$$f" || { echo "fmt: $$f"; bad=1; }; \
	done; [ $$bad -eq 0 ] || { echo "run make fmt"; exit 1; }

-include $(CORE_OBJ:.o=.d) $(WSCTL_OBJ:.o=.d) $(BUILD)/supervisor/sv_main.d \
	$(UNIT_BIN:=.d)
include bench/Makefile.inc
include tests/fuzz/fuzz.mk
