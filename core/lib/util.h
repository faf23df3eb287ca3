/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The engine's helpers: the log sink (the library never prints, it calls
 * this), and the generic helpers of the shared layer (core/shared: strings,
 * string vectors, files, child processes), which knows nothing of the
 * engine. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/types.h>
#include <syslog.h>

#include "fileio.h"
#include "macro.h"
#include "process.h"
#include "strutil.h"

/* ---- log sink: the library never prints, it calls this ---- */
struct rk_log {
	void (*fn)(void *userdata, int priority, const char *msg);
	void *userdata;
	int max_priority; /* messages above this priority are dropped */
};

void rk_logf(const struct rk_log *log, int priority, const char *fmt, ...) _printf_(3, 4);
void rk_vlogf(const struct rk_log *log, int priority, const char *fmt, va_list ap) _printf_(3, 0);
#define rk_err(l, ...) rk_logf((l), LOG_ERR, __VA_ARGS__)
#define rk_warn(l, ...) rk_logf((l), LOG_WARNING, __VA_ARGS__)
#define rk_notice(l, ...) rk_logf((l), LOG_NOTICE, __VA_ARGS__)
#define rk_info(l, ...) rk_logf((l), LOG_INFO, __VA_ARGS__)
#define rk_debug(l, ...) rk_logf((l), LOG_DEBUG, __VA_ARGS__)
