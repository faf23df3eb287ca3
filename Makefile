# rekmod — plain GNU make. `make`, `make check`, `make install DESTDIR= PREFIX=`, V=1.
VERSION    := 0.1.0
PREFIX     ?= /usr
SBINDIR    ?= $(PREFIX)/sbin
LIBDIR     ?= $(PREFIX)/lib
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/vendor-completions
DESTDIR    ?=
# DKMS=1: `make install` also provides the dkms names (command, man page,
# completions), as links to rekmod's; never over another package's file.
DKMS       ?=

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

.PHONY: all check unit integration compat install install-data uninstall clean demo deps deps-build \
	deps-test bench deb
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

# Installs dependencies from Debian's archive (root): deps-build what `make`
# and `make demo` need (compilers, libraries, qemu and the 6.12 kernel image
# the demo boots), deps-test what `make check` needs on top. deps: both.
# one run of apt for both, so that `make -j deps` never runs two apt-get at once
deps:
	$(Q)bash tests/deps.sh
deps-build:
	$(Q)bash tests/deps.sh build
deps-test:
	$(Q)bash tests/deps.sh test

# Builds rekmod, registers examples/hello in a scratch root, builds and
# installs it for every kernel with headers, prints status.
demo: $(O)/rekmod
	$(Q)REKMOD=$(CURDIR)/$(O)/rekmod bash examples/demo.sh

bench: $(O)/rekmod
	$(Q)REKMOD=$(CURDIR)/$(O)/rekmod bash bench/status.sh
	$(Q)REKMOD=$(CURDIR)/$(O)/rekmod bash bench/build.sh

# `make install`: rekmod, its man pages, completions and hooks. The dkms
# names only with DKMS=1, and only where no other file (another package's
# dkms) is in the way. `make uninstall` removes what install put there: the
# dkms names only while they are links to rekmod, framework.conf only while
# it is the untouched template.
MAN_PAGES   := man/rekmod.8 man/rekmod-hooks.7 man/dkms.conf.5 man/framework.conf.5
# dkms name -> rekmod's file, relative to the same directory
DKMS_LINKS  := $(SBINDIR)/dkms:rekmod $(MANDIR)/man8/dkms.8:rekmod.8 \
               $(BASHCOMPDIR)/dkms:rekmod $(ZSHCOMPDIR)/_dkms:_rekmod

install: $(O)/rekmod $(O)/librekmod-apt.so install-data
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)/var/lib/dkms
	install -m 0755 $(O)/rekmod $(DESTDIR)$(SBINDIR)/rekmod
	install -d $(DESTDIR)$(LIBDIR)/rekmod $(DESTDIR)$(LIBDIR)/kernel/install.d
	install -m 0644 $(O)/librekmod-apt.so $(DESTDIR)$(LIBDIR)/rekmod/librekmod-apt.so
	install -m 0755 hooks/kernel-install/40-rekmod.install $(DESTDIR)$(LIBDIR)/kernel/install.d/40-rekmod.install

# What every package ships beside the programs: man pages, completions, the
# commented framework.conf template (kept when one exists), the dkms links.
install-data:
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(SYSCONFDIR)/dkms/framework.conf.d
	set -e; for m in $(MAN_PAGES); do \
		install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m#man/}; done
	install -m 0644 completion/rekmod.bash $(DESTDIR)$(BASHCOMPDIR)/rekmod
	install -m 0644 completion/_rekmod $(DESTDIR)$(ZSHCOMPDIR)/_rekmod
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/dkms/framework.conf ]; then \
		echo "make install: keeping $(DESTDIR)$(SYSCONFDIR)/dkms/framework.conf"; \
	else install -m 0644 man/framework.conf $(DESTDIR)$(SYSCONFDIR)/dkms/framework.conf; fi
ifneq ($(DKMS),)
	@set -e; for l in $(DKMS_LINKS); do \
		bash man/dkms-name.sh check "$(DESTDIR)" "$${l%%:*}" "$${l#*:}"; done
	set -e; for l in $(DKMS_LINKS); do ln -sfn "$${l#*:}" "$(DESTDIR)$${l%%:*}"; done
endif

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/rekmod $(DESTDIR)$(LIBDIR)/kernel/install.d/40-rekmod.install \
		$(DESTDIR)$(LIBDIR)/rekmod/librekmod-apt.so \
		$(DESTDIR)$(BASHCOMPDIR)/rekmod $(DESTDIR)$(ZSHCOMPDIR)/_rekmod \
		$(foreach m,$(MAN_PAGES),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m)))
	@set -e; for l in $(DKMS_LINKS); do \
		bash man/dkms-name.sh remove "$(DESTDIR)" "$${l%%:*}" "$${l#*:}"; done
	@if cmp -s man/framework.conf $(DESTDIR)$(SYSCONFDIR)/dkms/framework.conf; then \
		rm -f $(DESTDIR)$(SYSCONFDIR)/dkms/framework.conf; \
	elif [ -e $(DESTDIR)$(SYSCONFDIR)/dkms/framework.conf ]; then \
		echo "make uninstall: keeping $(DESTDIR)$(SYSCONFDIR)/dkms/framework.conf (changed or not ours)"; fi

clean:
	rm -rf $(O)

# The Debian package (hooks/apt): rekmod, the dkms drop-in, kernel and apt hooks.
deb: $(O)/rekmod
	$(Q)bash hooks/apt/mkdeb.sh $(VERSION) $(O)/rekmod_$(VERSION)_$(shell dpkg --print-architecture).deb
