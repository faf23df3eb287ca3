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
CXX     ?= c++
O       := build
WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes \
           -Wstrict-prototypes -Wvla -Wno-unused-parameter
CFLAGS   ?= -O2 -g
CXXFLAGS ?= -O2 -g
CPPFLAGS ?=
LDFLAGS  ?=
# Every compile: header dependencies tracked by the compiler (build/**/*.d).
BASECFLAGS := -std=gnu11 $(WARN) -fvisibility=hidden -MMD -MP
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
# Recursively expanded: pkg-config runs when a recipe needs it, so that
# `make deps check` on a fresh machine sees the libraries deps just installed.
LIB_PKGS := libkmod liblzma libzstd zlib libcrypto
LIBS    = $(shell pkg-config --libs $(LIB_PKGS) 2>/dev/null || echo -lkmod -llzma -lzstd -lz -lcrypto)

# Include paths and defines per part. The shared layer (core/shared: strings,
# files, processes, the package-database backend loader) sees only itself;
# the engine sees its own headers and the shared layer; the command, the
# public header and the shared layer; a hook its own folder, hooks/common and
# the shared layer, never core/lib.
SHARED_CPPFLAGS = -D_GNU_SOURCE -Icore/shared -DREKMOD_BACKEND_DIR='"$(LIBDIR)/rekmod"'
LIB_CPPFLAGS    = -D_GNU_SOURCE -Icore/include -Icore/lib -Icore/shared -DREKMOD_VERSION='"$(VERSION)"' \
                  $(shell pkg-config --cflags $(LIB_PKGS) 2>/dev/null)
CLI_CPPFLAGS    = -D_GNU_SOURCE -Icore/include -Icore/shared -DREKMOD_VERSION='"$(VERSION)"'
HOOK_CPPFLAGS   = -D_GNU_SOURCE -I$(<D) -Ihooks/common -Icore/shared -DREKMOD_SBIN='"$(SBINDIR)/rekmod"'
UNIT_CPPFLAGS   = $(LIB_CPPFLAGS) -Ihooks/apt -Itests/unit

$(O)/core/shared/%.o $(O)/san/core/shared/%.o: PART_CPPFLAGS = $(SHARED_CPPFLAGS)
$(O)/core/lib/%.o $(O)/san/core/lib/%.o: PART_CPPFLAGS = $(LIB_CPPFLAGS)
$(O)/core/cli/%.o: PART_CPPFLAGS = $(CLI_CPPFLAGS)
$(O)/hooks/%.o: PART_CPPFLAGS = $(HOOK_CPPFLAGS)
# the shared layer goes into the backends (shared objects) too
$(O)/core/shared/%.o: PART_CFLAGS = -fPIC

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-7s %s\n' $(1) $(2)
endif

SHARED_SRC := $(wildcard core/shared/*.c)
LIB_SRC    := $(wildcard core/lib/*.c)
CLI_SRC    := $(wildcard core/cli/*.c)
UNIT_SRC   := $(wildcard tests/unit/test-*.c)
SHARED_OBJ := $(SHARED_SRC:%.c=$(O)/%.o)
LIB_OBJ    := $(LIB_SRC:%.c=$(O)/%.o)
CLI_OBJ    := $(CLI_SRC:%.c=$(O)/%.o)
SAN_SHARED_OBJ := $(SHARED_SRC:%.c=$(O)/san/%.o)
SAN_LIB_OBJ := $(LIB_SRC:%.c=$(O)/san/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(O)/tests/%)

.PHONY: all check check-tests unit integration suites compat compat-diff parity install install-data uninstall clean demo deps deps-build \
	deps-test bench deb
all: $(O)/rekmod $(O)/librekmod-apt.so

# hooks/rpm and hooks/pacman: their programs, `make rpm`, `make pkg`
-include hooks/rpm/rpm.mk hooks/pacman/pacman.mk

$(O)/%.o: %.c
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(PART_CPPFLAGS) $(BASECFLAGS) $(PART_CFLAGS) $(CFLAGS) -c $< -o $@

$(O)/san/%.o: %.c
	$(call msg,CC-SAN,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(PART_CPPFLAGS) $(BASECFLAGS) -O1 -g $(SAN) -c $< -o $@

$(O)/%.o: %.cc
	$(call msg,CXX,$<)
	@mkdir -p $(@D)
	$(Q)$(CXX) $(CPPFLAGS) $(PART_CPPFLAGS) -std=c++17 -Wall -Wextra -Werror -fvisibility=hidden -MMD -MP \
		-fPIC $(CXXFLAGS) -c $< -o $@

$(O)/libshared.a: $(SHARED_OBJ)
$(O)/libshared-san.a: $(SAN_SHARED_OBJ)
$(O)/librekmod.a: $(LIB_OBJ)
$(O)/librekmod-san.a: $(SAN_LIB_OBJ)
$(O)/libshared.a $(O)/libshared-san.a $(O)/librekmod.a $(O)/librekmod-san.a:
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# No $(LIBS): the library loads libcrypto, libkmod and the compressors with
# dlopen when a verb first needs them (core/lib/dlopen.c; dlopen is in glibc).
$(O)/rekmod: $(CLI_OBJ) $(O)/librekmod.a $(O)/libshared.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^

# FAULTS=1 (or `make build/rekmod-faults`): the command with fault injection
# (tests/faults/inject.c): every call that writes, renames, unlinks, makes a
# directory or starts a process is a step it can die at or fail (ENOSPC).
# A separate binary; the release build/rekmod never has it.
FAULT_CALLS := write pwrite sendfile rename renameat unlink unlinkat rmdir mkdir mkdirat symlink symlinkat \
	link ftruncate fork posix_spawnp
ifeq ($(FAULTS),1)
all: $(O)/rekmod-faults
endif
$(O)/rekmod-faults: $(CLI_OBJ) $(O)/tests/faults/inject.o $(O)/librekmod.a $(O)/libshared.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $(foreach c,$(FAULT_CALLS),-Wl,--wrap=$(c)) -o $@ $^

# hooks/apt: the libapt-pkg shim, a backend the core loads with dlopen
$(O)/librekmod-apt.so: $(O)/hooks/apt/aptshim.o $(O)/libshared.a
	$(call msg,CXXLD,$@)
	$(Q)$(CXX) $(CXXFLAGS) $(LDFLAGS) -shared -Wl,--no-undefined -o $@ $^ -lapt-pkg

$(O)/tests/%: tests/unit/%.c $(O)/librekmod-san.a $(O)/libshared-san.a
	$(call msg,CC-TEST,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(UNIT_CPPFLAGS) $(BASECFLAGS) -MF $@.d -O1 -g $(SAN) $(LDFLAGS) -o $@ \
		$< $(filter %.a,$^) $(LIBS) -lcmocka

-include $(patsubst %.o,%.d,$(SHARED_OBJ) $(LIB_OBJ) $(CLI_OBJ) $(SAN_SHARED_OBJ) $(SAN_LIB_OBJ) \
	$(HOOK_OBJ) $(O)/hooks/apt/aptshim.o) $(UNIT_BIN:%=%.d)

# Unit tests under ASan+UBSan, then integration and differential tests with
# real kernel headers, real make, depmod and Debian's dkms (see README).
# Around them, tests/host-snapshot.sh: the host's /lib/modules, /var/lib/dkms,
# /etc and /usr/src must be byte for byte as before (mtimes included), else
# check fails with the list of changed paths.
check:
	@mkdir -p $(O)
	$(Q)bash tests/host-snapshot.sh record $(O)/host-before.manifest
	$(Q)rc=0; $(MAKE) --no-print-directory check-tests || rc=$$?; \
		bash tests/host-snapshot.sh compare $(O)/host-before.manifest || rc=1; exit $$rc

# check-tests: build parity (most of the run's compiling: 1,955 s of a 34-minute run on two
# cores) starts first, in the background at nice 10, in its own session; unit, integration,
# suites and compat-diff run meanwhile and mostly leave one of the two cores idle, which it
# takes.  Its output follows theirs (and is in $(O)/build-parity.log).  A failure in the
# foreground stops it.
CHECK_FOREGROUND = unit integration suites compat-diff
check-tests: $(O)/rekmod
	$(Q)log=$(O)/build-parity.log; \
	echo "== tests/compat/build-parity.sh: started in the background (output at the end, and in $$log)"; \
	$(PARITY_ENV) setsid nice -n 10 bash tests/compat/build-parity.sh >$$log 2>&1 </dev/null & pid=$$!; \
	trap 'pkill -TERM -s '$$pid'; exit 130' INT TERM; \
	rc=0; $(MAKE) --no-print-directory $(CHECK_FOREGROUND) || rc=$$?; \
	[ $$rc = 0 ] || pkill -TERM -s $$pid; \
	t0=$$(date +%s); prc=0; wait $$pid || prc=$$?; \
	echo "== tests/compat/build-parity.sh (exit $$prc; waited $$(( $$(date +%s) - t0 ))s for it)"; cat $$log; \
	[ $$rc = 0 ] && { [ $$prc = 0 ] || [ $$prc = 77 ]; }

unit: $(UNIT_BIN) $(O)/librekmod-apt.so
	$(Q)set -e; for t in $(UNIT_BIN); do \
		echo "== $$t"; REKMOD_TEST_SRCDIR=$(CURDIR) ASAN_OPTIONS=detect_leaks=1 \
		UBSAN_OPTIONS=print_stacktrace=1 $$t; done

integration: $(O)/rekmod
	$(Q)for t in tests/integration/run.sh tests/integration/test-*.sh; do \
		echo "== $$t"; rc=0; REKMOD=$(CURDIR)/$(O)/rekmod bash $$t || rc=$$?; \
		if [ $$rc = 77 ]; then echo "== $$t skipped"; elif [ $$rc != 0 ]; then exit 1; fi; done

# tests/e2e, tests/faults, tests/fuzz: each *.sh of these folders, run as the integration ones are
# (exit 77 = skipped); a folder's own build rules (fuzz harnesses) are its scripts' business.
SUITE_DIRS := tests/e2e tests/faults tests/fuzz
suites: $(O)/rekmod
	$(Q)for t in $(foreach d,$(SUITE_DIRS),$(sort $(wildcard $(d)/test-*.sh))); do \
		echo "== $$t"; rc=0; REKMOD=$(CURDIR)/$(O)/rekmod bash $$t || rc=$$?; \
		if [ $$rc = 77 ]; then echo "== $$t skipped"; elif [ $$rc != 0 ]; then exit 1; fi; done

# compat: the differentials against Debian's dkms (compat-diff: no compile of any package's
# module), then build parity: zfs-dkms and nvidia-kernel-dkms through dkms and rekmod on the
# newest 6.1 and 6.12 kernels (tests/compat/build-parity.sh; PARITY_KERNELS=61 or 612 for
# one of them, PARITY_ONLY narrows the packages).
PARITY_ENV = REKMOD=$(CURDIR)/$(O)/rekmod ONLY="$${PARITY_ONLY:-zfs-dkms nvidia-kernel-dkms}" \
	PARITY_KERNELS="$${PARITY_KERNELS:-61 612}"
compat: compat-diff parity
compat-diff: $(O)/rekmod
	$(Q)REKMOD=$(CURDIR)/$(O)/rekmod bash tests/compat/dkms-diff.sh
	$(Q)rc=0; REKMOD=$(CURDIR)/$(O)/rekmod bash tests/compat/test-dkms3.sh || rc=$$?; [ $$rc = 0 ] || [ $$rc = 77 ]
	$(Q)REKMOD=$(CURDIR)/$(O)/rekmod bash tests/compat/conf-diff.sh
parity: $(O)/rekmod
	$(Q)rc=0; $(PARITY_ENV) bash tests/compat/build-parity.sh || rc=$$?; [ $$rc = 0 ] || [ $$rc = 77 ]

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

# keeps build/test-cache: the downloaded packages and built roots the tests reuse
clean:
	$(Q)if [ -d $(O) ]; then find $(O) -mindepth 1 -maxdepth 1 ! -name test-cache -exec rm -rf {} +; fi

# The Debian package (hooks/apt): rekmod, the dkms drop-in, kernel and apt hooks.
deb: $(O)/rekmod
	$(Q)bash hooks/apt/mkdeb.sh $(VERSION) $(O)/rekmod_$(VERSION)_$(shell dpkg --print-architecture).deb

# ---- fuzzing: libFuzzer harnesses of tests/fuzz (fuzz-*.c), built with clang into build/fuzz/ ----
# The library, the shared layer and the hooks' parsers are compiled again with
# coverage and ASan+UBSan (build/fuzz/obj/); `make fuzz` builds every harness,
# tests/fuzz/test-fuzz.sh (make suites) builds and runs each for a short time.
FUZZ_CC      ?= clang
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1 -g
FUZZ_OBJ_DIR := $(O)/fuzz/obj
FUZZ_CPPFLAGS = $(LIB_CPPFLAGS) -Ihooks/common -Ihooks/rpm -Ihooks/pacman -Itests/fuzz -DFUZZ_SRCDIR='"$(CURDIR)"'
FUZZ_LIB_OBJ    := $(LIB_SRC:%.c=$(FUZZ_OBJ_DIR)/%.o)
FUZZ_SHARED_OBJ := $(SHARED_SRC:%.c=$(FUZZ_OBJ_DIR)/%.o)
FUZZ_COMMON     := $(FUZZ_OBJ_DIR)/tests/fuzz/fuzz-common.o $(FUZZ_SHARED_OBJ)
FUZZ_HOOK_OBJ   := $(FUZZ_OBJ_DIR)/hooks/common/hookcall.o
FUZZ_NAMES := dkmsconf confdiff framework osrelease rpmhook alpmhook apthook
FUZZ_BIN   := $(FUZZ_NAMES:%=$(O)/fuzz/fuzz-%)

$(FUZZ_OBJ_DIR)/core/shared/%.o: PART_CPPFLAGS = $(SHARED_CPPFLAGS)
$(FUZZ_OBJ_DIR)/core/lib/%.o: PART_CPPFLAGS = $(LIB_CPPFLAGS)
$(FUZZ_OBJ_DIR)/hooks/%.o: PART_CPPFLAGS = $(HOOK_CPPFLAGS)
$(FUZZ_OBJ_DIR)/tests/fuzz/%.o: PART_CPPFLAGS = $(FUZZ_CPPFLAGS)
$(FUZZ_OBJ_DIR)/%.o: %.c
	$(call msg,CC-FUZZ,$<)
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(PART_CPPFLAGS) $(BASECFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@

# harness: its own object, what it exercises, libFuzzer's main
$(O)/fuzz/fuzz-dkmsconf $(O)/fuzz/fuzz-confdiff $(O)/fuzz/fuzz-framework $(O)/fuzz/fuzz-osrelease: \
	FUZZ_DEPS = $(FUZZ_LIB_OBJ)
$(O)/fuzz/fuzz-rpmhook: FUZZ_DEPS = $(FUZZ_OBJ_DIR)/hooks/rpm/trigger-paths.o $(FUZZ_HOOK_OBJ)
$(O)/fuzz/fuzz-alpmhook: FUZZ_DEPS = $(FUZZ_OBJ_DIR)/hooks/pacman/targets.o $(FUZZ_HOOK_OBJ)
$(O)/fuzz/fuzz-apthook: FUZZ_DEPS =
.SECONDEXPANSION:
$(FUZZ_BIN): $(O)/fuzz/%: $(FUZZ_OBJ_DIR)/tests/fuzz/%.o $$(FUZZ_DEPS) $(FUZZ_COMMON)
	$(call msg,LD-FUZZ,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $(LDFLAGS) -o $@ $^ -ldl

.PHONY: fuzz
fuzz: $(FUZZ_BIN)

-include $(patsubst %.o,%.d,$(FUZZ_LIB_OBJ) $(FUZZ_COMMON) $(FUZZ_HOOK_OBJ) \
	$(FUZZ_OBJ_DIR)/hooks/rpm/trigger-paths.o $(FUZZ_OBJ_DIR)/hooks/pacman/targets.o \
	$(FUZZ_NAMES:%=$(FUZZ_OBJ_DIR)/tests/fuzz/fuzz-%.o))
