/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* os-release (core/lib/dkmsconf.c os_release_distro, which the context reads
 * from <root>/etc/os-release) and the install location it selects. The input
 * is the os-release text. Findings: sanitizer reports, leaks, a distro id
 * that is empty or not collapsed as `echo $ID` leaves it (blanks at either
 * end, two in a row, a tab or newline). */
#include <stdlib.h>
#include <string.h>

#include "dkmsconf.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	char *d = os_release_distro(text);
	if (d) {
		size_t l = strlen(d);
		if (!l || d[0] == ' ' || d[l - 1] == ' ' || strstr(d, "  ") || strpbrk(d, "\t\n"))
			fuzz_fail("os_release_distro gave an id that is not collapsed", data, size);
		const char *loc = dest_location_override(d, NULL, "/kernel/extra");
		if (!loc || loc[0] != '/')
			fuzz_fail("dest_location_override gave no absolute location", data, size);
	}
	free(d);
	free(text);
	return 0;
}
