/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mkdeb / mkrpm: being written (issue 10); placeholder so the tree links. */
#include "internal.h"

_public_ int rekmod_mkdeb(struct rekmod_ctx *ctx, const struct rekmod_pack_options *opts)
{
	(void)opts;
	dk_error(ctx, "mkdeb is not built yet");
	return REKMOD_E_GENERIC;
}

_public_ int rekmod_mkrpm(struct rekmod_ctx *ctx, const struct rekmod_pack_options *opts)
{
	(void)opts;
	dk_error(ctx, "mkrpm is not built yet");
	return REKMOD_E_GENERIC;
}
