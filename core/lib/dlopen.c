/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Libraries only some verbs need are loaded on first use: OpenSSL (the MOK
 * key, mkdeb's md5sums), libkmod (modinfo, signatures) and the compressors.
 * Linked, every run would map and relocate them before main, status and
 * --version included: libcrypto alone was most of rekmod's start-up time. */
#include <dlfcn.h>

#include "internal.h"

int dl_load(struct dl_lib *lib, char **ret_error)
{
	if (lib->handle)
		return 0;
	void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		if (ret_error)
			*ret_error = xasprintf("cannot load %s (%s); install %s", lib->soname, dlerror(), lib->package);
		return -ELIBACC;
	}
	for (const struct dl_sym *s = lib->syms; s->name; s++) {
		void *p = dlsym(h, s->name);
		if (!p) {
			if (ret_error)
				*ret_error = xasprintf("%s has no %s (%s); install %s", lib->soname, s->name, dlerror(),
						       lib->package);
			dlclose(h);
			return -ELIBACC;
		}
		memcpy(s->slot, &p, sizeof(p)); /* POSIX: a function pointer has the size of void * */
	}
	lib->handle = h;
	return 0;
}
