# rekmod — plain GNU make. `make`, `make check`, `make install DESTDIR= PREFIX=`, V=1.
VERSION    := 0.1.0
PREFIX     ?= /usr
SBINDIR    ?= $(PREFIX)/sbin
LIBDIR     ?= $(PREFIX)/lib
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
DESTDIR    ?=

CC      ?= cc
O       := build
WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes \
           -Wstrict-prototypes -Wvla -Wno-unused-parameter
CFLAGS  ?= -O2 -g
# Recursively expanded: pkg-config runs when a recipe needs it, so that
# `make deps check` on a fresh machine sees the libraries deps just installed.
BASECFLAGS = -std=gnu11 $(WARN) -fvisibility=hidden -D_GNU_SOURCE \
           -DREKMOD_VERSION='"$(VERSION)"' -DREKMOD_BACKEND_DIR='"$(LIBDIR)/rekmod"' \
           -Icore/include -Icore/lib -Ihooks/apt \
           $(shell pkg-config --cflags libkmod liblzma libzstd zlib libcrypto 2>/dev/null)
LIBS    = $(shell pkg-config --libs libkmod liblzma libzstd zlib libcrypto 2>/dev/null || \
           echo -lkmod -llzma -lzstd -lz -lcrypto)
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-7s %s\n' $(1) $(2)
endif

LIB_SRC  := $(wildcard core/lib/*.c)
CLI_SRC  := $(wildcard core/cli/*.c)
UNIT_SRC := $(wildcard tests/unit/test-*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(O)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(O)/%.o)
SAN_LIB_OBJ := $(LIB_SRC:%.c=$(O)/san/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(O)/tests/%)

.PHONY: all check unit integration compat install uninstall clean demo deps bench deb
all: $(O)/rekmod $(O)/librekmod-apt.so

# hooks/rpm and hooks/pacman: their programs, `make rpm`, `make pkg`
-include hooks/rpm/rpm.mk hooks/pacman/pacman.mk

# hooks/apt: the libapt-pkg shim, a backend the core loads with dlopen
CXX     ?= c++
$(O)/librekmod-apt.so: hooks/apt/aptshim.cc hooks/apt/rekmod-apt.h
	$(call msg,CXX,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CXX) -std=c++17 -O2 -g -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden \
		-o $@ $< -lapt-pkg

$(O)/%.o: %.c $(wildcard core/lib/*.h core/include/*.h)
	$(call msg,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASECFLAGS) $(CFLAGS) -c $< -o $@

$(O)/san/%.o: %.c $(wildcard core/lib/*.h core/include/*.h)
	$(call msg,CC-SAN,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASECFLAGS) -O1 -g $(SAN) -c $< -o $@

$(O)/librekmod.a: $(LIB_OBJ)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/librekmod-san.a: $(SAN_LIB_OBJ)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/rekmod: $(CLI_OBJ) $(O)/librekmod.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(O)/librekmod.a $(LIBS)

$(O)/tests/%: tests/unit/%.c $(O)/librekmod-san.a $(wildcard tests/unit/*.h)
	$(call msg,CC-TEST,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASECFLAGS) -O1 -g $(SAN) -Itests/unit -o $@ $< $(O)/librekmod-san.a $(LIBS) -lcmocka

# Unit tests under ASan+UBSan, then integration and differential tests with
# real kernel headers, real make, depmod and Debian's dkms (see README).
check: unit integration compat

unit: $(UNIT_BIN) $(O)/librekmod-apt.so
	$(Q)set -e; for t in $(UNIT_BIN); do \
		echo "== $$t"; REKMOD_TEST_SRCDIR=$(CURDIR) ASAN_OPTIONS=detect_leaks=1 \
		UBSAN_OPTIONS=print_stacktrace=1 $$t; done

integration: $(O)/rekmod
	$(Q)for t in tests/integration/run.sh tests/integration/test-*.sh; do \
		echo "== $$t"; rc=0; REKMOD=$(CURDIR)/$(O)/rekmod bash $$t || rc=$$?; \
		if [ $$rc = 77 ]; then echo "== $$t skipped"; elif [ $$rc != 0 ]; then exit 1; fi; done

compat: $(O)/rekmod
	$(Q)REKMOD=$(CURDIR)/$(O)/rekmod bash tests/compat/dkms-diff.sh
	$(Q)REKMOD=$(CURDIR)/$(O)/rekmod bash tests/compat/conf-diff.sh && REKMOD=$(CURDIR)/$(O)/rekmod bash tests/compat/build-parity.sh

# Installs the build and test dependencies from Debian's archive (root).
deps:
	$(Q)bash tests/deps.sh

# Builds rekmod, registers examples/hello in a scratch root, builds and
# installs it for every kernel with headers, prints status.
demo: $(O)/rekmod
	$(Q)REKMOD=$(CURDIR)/$(O)/rekmod bash examples/demo.sh

bench: $(O)/rekmod
	$(Q)REKMOD=$(CURDIR)/$(O)/rekmod bash bench/status.sh
	$(Q)REKMOD=$(CURDIR)/$(O)/rekmod bash bench/build.sh

install: $(O)/rekmod $(O)/librekmod-apt.so
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SYSCONFDIR)/dkms/framework.conf.d \
		$(DESTDIR)/var/lib/dkms $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(O)/rekmod $(DESTDIR)$(SBINDIR)/rekmod
	ln -sf rekmod $(DESTDIR)$(SBINDIR)/dkms
	install -m 0644 core/rekmod.8 $(DESTDIR)$(MANDIR)/man8/rekmod.8
	install -d $(DESTDIR)$(LIBDIR)/rekmod $(DESTDIR)$(LIBDIR)/kernel/install.d
	install -m 0644 $(O)/librekmod-apt.so $(DESTDIR)$(LIBDIR)/rekmod/librekmod-apt.so
	install -m 0755 hooks/kernel-install/40-rekmod.install $(DESTDIR)$(LIBDIR)/kernel/install.d/40-rekmod.install

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/rekmod $(DESTDIR)$(SBINDIR)/dkms $(DESTDIR)$(MANDIR)/man8/rekmod.8 \
		$(DESTDIR)$(LIBDIR)/kernel/install.d/40-rekmod.install $(DESTDIR)$(LIBDIR)/rekmod/librekmod-apt.so

clean:
	rm -rf $(O)

# The Debian package (hooks/apt): rekmod, the dkms drop-in, kernel and apt hooks.
deb: $(O)/rekmod
	$(Q)bash hooks/apt/mkdeb.sh $(VERSION) $(O)/rekmod_$(VERSION)_$(shell dpkg --print-architecture).deb
