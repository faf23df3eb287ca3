# hooks/rpm (included by the top Makefile): librekmod-rpm.so (librpm), the
# file-trigger program, `make rpm` (the binary package, with rpmbuild).
RPM_CFLAGS = $(shell pkg-config --cflags rpm 2>/dev/null)
RPM_LIBS   = $(shell pkg-config --libs rpm 2>/dev/null || echo -lrpm -lrpmio)
RPM_ARCH   = $(shell rpm --eval '%{_arch}' 2>/dev/null || uname -m)
RPM_FILE   = $(O)/rekmod-$(VERSION)-1.$(RPM_ARCH).rpm

.PHONY: rpm install-rpm-hooks
all: $(O)/librekmod-rpm.so $(O)/rekmod-rpm-trigger

RPM_TRIGGER_OBJ := $(O)/hooks/rpm/trigger.o $(O)/hooks/rpm/trigger-paths.o $(O)/hooks/common/hookcall.o
HOOK_OBJ += $(RPM_TRIGGER_OBJ) $(O)/hooks/rpm/rpmdb.o
$(O)/hooks/rpm/rpmdb.o: PART_CFLAGS = -fPIC $(RPM_CFLAGS)

$(O)/librekmod-rpm.so: $(O)/hooks/rpm/rpmdb.o $(O)/libshared.a
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,--no-undefined -o $@ $^ $(RPM_LIBS)

# links only libc and the shared layer: it must start in any root; librpm is
# reached through librekmod-rpm.so with dlopen (core/shared/pkgdb-backend.c)
$(O)/rekmod-rpm-trigger: $(RPM_TRIGGER_OBJ) $(O)/libshared.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^

install-rpm-hooks: $(O)/librekmod-rpm.so $(O)/rekmod-rpm-trigger
	install -d $(DESTDIR)$(LIBDIR)/rekmod
	install -m 0755 $(O)/librekmod-rpm.so $(DESTDIR)$(LIBDIR)/rekmod/librekmod-rpm.so
	install -m 0755 $(O)/rekmod-rpm-trigger $(DESTDIR)$(LIBDIR)/rekmod/rekmod-rpm-trigger

# build/rekmod-<version>-1.<arch>.rpm: rpmbuild in a temporary _topdir and
# rpm database, no network
rpm: $(O)/rekmod $(O)/librekmod-apt.so $(O)/librekmod-rpm.so $(O)/rekmod-rpm-trigger
	$(call msg,RPM,$(RPM_FILE))
	$(Q)bash hooks/rpm/mkrpm.sh $(VERSION) $(RPM_FILE)
