// SPDX-License-Identifier: LGPL-2.1-or-later
// rekmod's libapt-pkg shim: the extern "C" functions of rekmod-apt.h on top
// of libapt-pkg's cache. Every exception and every queued apt error stays
// in here; the caller sees 0 or -errno. The cache is built in memory only
// (no pkgcache.bin is written), from the root's dpkg status and apt lists.
#include <apt-pkg/cachefile.h>
#include <apt-pkg/configuration.h>
#include <apt-pkg/error.h>
#include <apt-pkg/init.h>
#include <apt-pkg/pkgcache.h>
#include <apt-pkg/pkgsystem.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "pkgdb-backend.h"
#include "rekmod-apt.h"
#include "strutil.h"

namespace {

// Points apt's configuration at root and opens the cache; nullptr on error.
pkgCacheFile *open_cache(const char *root)
{
	if (!pkgInitConfig(*_config))
		return nullptr;
	std::string r = root && *root ? root : "";
	if (!r.empty()) {
		_config->Set("Dir", r + "/");
		_config->Set("Dir::State::status", r + "/var/lib/dpkg/status");
	}
	_config->Set("Dir::Cache::pkgcache", "");
	_config->Set("Dir::Cache::srcpkgcache", "");
	if (!pkgInitSystem(*_config, _system))
		return nullptr;
	auto *cf = new pkgCacheFile;
	if (cf->GetPkgCache() == nullptr) {
		delete cf;
		return nullptr;
	}
	return cf;
}

int fail(int err)
{
	_error->Discard();
	return err;
}

} // namespace

extern "C" _public_ int rekmod_apt_list_installed(const char *root, const char *prefix,
					 int (*cb)(const char *, const char *, void *), void *userdata)
{
	try {
		pkgCacheFile *cf = open_cache(root);
		if (!cf)
			return fail(-EIO);
		int r = 0;
		size_t n = prefix ? std::strlen(prefix) : 0;
		pkgCache *c = cf->GetPkgCache();
		for (pkgCache::PkgIterator p = c->PkgBegin(); !p.end() && r == 0; ++p) {
			if (p.CurrentVer().end() || p->CurrentState != pkgCache::State::Installed)
				continue;
			if (n && std::strncmp(p.Name(), prefix, n) != 0)
				continue;
			r = cb(p.Name(), p.CurrentVer().VerStr(), userdata);
		}
		delete cf;
		_error->Discard();
		return r;
	} catch (...) {
		return fail(-EIO);
	}
}

// The backend function of core/shared/pkgdb-backend.h. The name is built
// with std::string (the one string helper kept in C++ here: it lives inside
// the try block, where an allocation failure is an exception like apt's).
extern "C" _public_ int rekmod_pkgdb_headers_package(const char *root, const char *kver, char **ret_name)
{
	if (!name_is_valid(kver) || !ret_name)
		return -EINVAL;
	try {
		pkgCacheFile *cf = open_cache(root);
		if (!cf)
			return fail(-EIO);
		std::string name = std::string("linux-headers-") + kver;
		pkgCache::PkgIterator p = cf->GetPkgCache()->FindPkg(name);
		bool known = !p.end() && (!p.CurrentVer().end() || !p.VersionList().end());
		delete cf;
		_error->Discard();
		if (!known)
			return -ENOENT;
		char *s = strdup(name.c_str());
		if (!s)
			return -ENOMEM;
		*ret_name = s;
		return 0;
	} catch (...) {
		return fail(-EIO);
	}
}

// The name the shim exported before the backend interface had one name;
// the loader still looks it up, and older callers may use it.
extern "C" _public_ int rekmod_apt_headers_package(const char *root, const char *kver, char **ret_name)
{
	return rekmod_pkgdb_headers_package(root, kver, ret_name);
}
