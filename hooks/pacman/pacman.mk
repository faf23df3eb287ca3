# hooks/pacman (included by the top Makefile): librekmod-alpm.so, the alpm
# hook program, the hooks, `make install-pacman` (what the Arch package
# ships) and `make pkg` (makepkg, as nobody, from hooks/pacman/PKGBUILD).
# libalpm is linked with -lalpm: its .pc file needs .pc files Debian lacks.
ALPM_LIBS  = -lalpm
PKG_FILE   = $(O)/rekmod-$(VERSION)-1-x86_64.pkg.tar.zst
ALPM_HOOKS = hooks/pacman/71-rekmod-install.hook hooks/pacman/50-rekmod-remove.hook

.PHONY: pkg install-pacman
all: $(O)/librekmod-alpm.so $(O)/rekmod-alpm-hook

ALPM_HOOK_OBJ := $(O)/hooks/pacman/hook.o $(O)/hooks/pacman/targets.o $(O)/hooks/pacman/alpmdb.o \
                 $(O)/hooks/common/hookcall.o
HOOK_OBJ += $(ALPM_HOOK_OBJ)
$(O)/hooks/pacman/alpmdb.o: PART_CFLAGS = -fPIC

$(O)/librekmod-alpm.so: $(O)/hooks/pacman/alpmdb.o $(O)/libshared.a
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,--no-undefined -o $@ $^ $(ALPM_LIBS)

# links the backend's code (alpmdb.o) directly: pacman runs its hooks where
# libalpm is
$(O)/rekmod-alpm-hook: $(ALPM_HOOK_OBJ) $(O)/libshared.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(ALPM_LIBS)

# The core of `make install` without Debian's libapt-pkg shim, plus the
# libalpm backend, the hook program and the hooks (man pages, completions,
# framework.conf: install-data).
install-pacman: $(O)/rekmod $(O)/librekmod-alpm.so $(O)/rekmod-alpm-hook install-data
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SYSCONFDIR)/dkms/framework.conf.d \
		$(DESTDIR)/var/lib/dkms $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(LIBDIR)/rekmod \
		$(DESTDIR)$(LIBDIR)/kernel/install.d $(DESTDIR)$(PREFIX)/share/libalpm/hooks
	install -m 0755 $(O)/rekmod $(DESTDIR)$(SBINDIR)/rekmod
	ln -sf rekmod $(DESTDIR)$(SBINDIR)/dkms
	install -m 0755 hooks/kernel-install/40-rekmod.install $(DESTDIR)$(LIBDIR)/kernel/install.d/40-rekmod.install
	install -m 0755 $(O)/librekmod-alpm.so $(DESTDIR)$(LIBDIR)/rekmod/librekmod-alpm.so
	install -m 0755 $(O)/rekmod-alpm-hook $(DESTDIR)$(LIBDIR)/rekmod/rekmod-alpm-hook
	install -m 0644 $(ALPM_HOOKS) $(DESTDIR)$(PREFIX)/share/libalpm/hooks/

# build/rekmod-<version>-1-x86_64.pkg.tar.zst: makepkg builds the source
# tarball of this tree as nobody in a temporary directory. No network.
pkg:
	$(call msg,PKG,$(PKG_FILE))
	$(Q)bash hooks/pacman/mkpkg.sh $(VERSION) $(PKG_FILE)
