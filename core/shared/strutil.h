/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Memory, strings, growable strings and string vectors for every part of
 * rekmod (engine, command, hooks, backends). Allocation failure aborts. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- memory and strings (abort on out-of-memory, like git's xmalloc) ---- */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) _printf_(1, 2);
char *xvasprintf(const char *fmt, va_list ap) _printf_(1, 0);
bool endswith(const char *s, const char *suffix);
/* A kernel release, module name or version: 1 to 200 of [A-Za-z0-9._+~:-]
 * (what real ones use: 6.12.117+deb12-amd64, 1:2.0~rc1), not starting with
 * '-' or '.'; safe as one path component and as a word in a MAKE line. */
bool name_is_valid(const char *s);
/* The same for the n bytes at s (a component cut out of a longer path). */
bool name_is_valid_n(const char *s, size_t n);

/* Growable string. */
struct strbuf {
	char *s;
	size_t len, cap;
};
void sb_putc(struct strbuf *b, char c);
void sb_puts(struct strbuf *b, const char *s);
void sb_putn(struct strbuf *b, const char *s, size_t n);
void sb_printf(struct strbuf *b, const char *fmt, ...) _printf_(2, 3);
char *sb_steal(struct strbuf *b); /* never NULL */
void sb_free(struct strbuf *b);

/* NULL-terminated string vectors. */
size_t strv_len(char *const *v);
void strv_push(char ***v, char *s); /* takes ownership of s */
/* pushes a copy of s unless v holds it already */
void strv_push_unique(char ***v, const char *s);
void strv_free(char **v);
bool strv_contains(char *const *v, const char *s);
static inline void strv_freep(char ***v)
{
	strv_free(*v);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)

/* The value of the first NAME=value line of a text (a kernel .config, one of
 * rekmod's records), surrounding double quotes removed; NULL when absent. */
char *text_value(const char *text, const char *name);
/* NAME=y? */
bool text_yes(const char *text, const char *name);

/* Compare versions the way dkms's VER() does: digit runs compared as
 * numbers, other characters as bytes. <0, 0, >0. */
int version_compare(const char *a, const char *b);

/* Optimal string alignment distance (a swap of neighbours is one edit);
 * (size_t)-1 for strings over 64 bytes. For "did you mean" hints. */
size_t edit_distance(const char *s, const char *t);

#ifdef __cplusplus
}
#endif
