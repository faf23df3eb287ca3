# hooks/rpm (included by the top Makefile): librekmod-rpm.so (librpm), the
# file-trigger program, `make rpm` (the binary package, with rpmbuild).
RPM_CFLAGS = $(shell pkg-config --cflags rpm 2>/dev/null)
RPM_LIBS   = $(shell pkg-config --libs rpm 2>/dev/null || echo -lrpm -lrpmio)
RPM_ARCH   = $(shell rpm --eval '%{_arch}' 2>/dev/null || uname -m)
RPM_FILE   = $(O)/rekmod-$(VERSION)-1.$(RPM_ARCH).rpm

.PHONY: rpm install-rpm-hooks
all: $(O)/librekmod-rpm.so $(O)/rekmod-rpm-trigger

$(O)/librekmod-rpm.so: hooks/rpm/rpmdb.c hooks/rpm/rekmod-rpm.h
	$(call msg,CCLD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASECFLAGS) $(CFLAGS) $(RPM_CFLAGS) -fPIC -shared -Wl,--no-undefined \
		-o $@ $< $(RPM_LIBS)

# links only libc and rekmod's util.o: it must start in any root; librpm is
# reached through librekmod-rpm.so with dlopen, when it loads
$(O)/rekmod-rpm-trigger: hooks/rpm/trigger.c hooks/rpm/trigger-paths.c hooks/rpm/rekmod-rpm.h \
		hooks/common/hookcall.c hooks/common/hookcall.h $(O)/core/lib/util.o
	$(call msg,LD,$@)
	$(Q)$(CC) $(BASECFLAGS) $(CFLAGS) -DREKMOD_SBIN='"$(SBINDIR)/rekmod"' -Ihooks/rpm -Ihooks/common -o $@ \
		hooks/rpm/trigger.c hooks/rpm/trigger-paths.c hooks/common/hookcall.c $(O)/core/lib/util.o

install-rpm-hooks: $(O)/librekmod-rpm.so $(O)/rekmod-rpm-trigger
	install -d $(DESTDIR)$(LIBDIR)/rekmod
	install -m 0755 $(O)/librekmod-rpm.so $(DESTDIR)$(LIBDIR)/rekmod/librekmod-rpm.so
	install -m 0755 $(O)/rekmod-rpm-trigger $(DESTDIR)$(LIBDIR)/rekmod/rekmod-rpm-trigger

# build/rekmod-<version>-1.<arch>.rpm: rpmbuild in a temporary _topdir and
# rpm database, no network
rpm: $(O)/rekmod $(O)/librekmod-apt.so $(O)/librekmod-rpm.so $(O)/rekmod-rpm-trigger
	$(call msg,RPM,$(RPM_FILE))
	$(Q)bash hooks/rpm/mkrpm.sh $(VERSION) $(RPM_FILE)
