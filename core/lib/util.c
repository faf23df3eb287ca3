/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The engine's log sink; the generic helpers are in core/shared. */
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

/* ---- log ---- */

void rk_vlogf(const struct rk_log *log, int priority, const char *fmt, va_list ap)
{
	if (!log || !log->fn || priority > log->max_priority)
		return;
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		return;
	log->fn(log->userdata, priority, msg);
	free(msg);
}

void rk_logf(const struct rk_log *log, int priority, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rk_vlogf(log, priority, fmt, ap);
	va_end(ap);
}
