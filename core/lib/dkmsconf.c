/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dkms.conf evaluation and post-processing, following dkms 3.0.10's
 * safe_source / read_conf (plus the BUILD_EXCLUSIVE_* family of dkms 3.x). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dkmsconf.h"
#include "macro.h"
#include "util.h"

const char *const conf_whitelist[] = {
	"CLEAN", "PACKAGE_NAME", "PACKAGE_VERSION", "POST_ADD", "POST_BUILD", "POST_INSTALL",
	"POST_REMOVE", "PRE_BUILD", "PRE_INSTALL", "BUILD_DEPENDS", "BUILD_EXCLUSIVE_KERNEL",
	"BUILD_EXCLUSIVE_ARCH", "BUILD_EXCLUSIVE_CONFIG", "build_exclude", "OBSOLETE_BY", "MAKE",
	"MAKE_MATCH", "PATCH", "PATCH_MATCH", "patch_array", "BUILT_MODULE_NAME",
	"built_module_name", "BUILT_MODULE_LOCATION", "built_module_location", "DEST_MODULE_NAME",
	"dest_module_name", "DEST_MODULE_LOCATION", "dest_module_location", "STRIP", "strip",
	"AUTOINSTALL", "NO_WEAK_MODULES", "SIGN_FILE", "MOK_SIGNING_KEY", "MOK_CERTIFICATE",
	"REMAKE_INITRD", "MODULES_CONF", "MODULES_CONF_OBSOLETES", "MODULES_CONF_ALIAS_TYPE",
	"MODULES_CONF_OBSOLETE_ONLY",
	/* dkms 3.x */
	"BUILD_EXCLUSIVE_KERNEL_MIN", "BUILD_EXCLUSIVE_KERNEL_MAX", "BUILD_DEPENDS_REBUILD",
	/* rekmod: never reuse a build for another kernel */
	"NO_REUSE",
	NULL,
};

static const char *const deprecated_names[] = {
	"REMAKE_INITRD", "MODULES_CONF", "MODULES_CONF_OBSOLETES", "MODULES_CONF_ALIAS_TYPE",
	"MODULES_CONF_OBSOLETE_ONLY", "OBSOLETE_BY", /* dkms 3.x (3.0.10 reads OBSOLETE_BY silently) */
	NULL,
};

/* conf_env members, in the order of the bash script's positional arguments */
static const char *const env_names[] = {
	"kernelver", "arch", "kernel_source_dir", "kernel_config", "dkms_tree", "source_tree",
	"install_tree", "module", "module_version", "parallel_jobs", "current_kernel",
	"running_distribution", "tmp_location",
};
#define N_ENV ARRAY_SIZE(env_names)

static void env_values(const struct conf_env *env, const char *out[N_ENV])
{
	static const struct conf_env none;
	if (!env)
		env = &none;
	const char *v[N_ENV] = {
		env->kernelver, env->arch, env->kernel_source_dir, env->kernel_config,
		env->dkms_tree, env->source_tree, env->install_tree, env->module,
		env->module_version, env->parallel_jobs, env->current_kernel,
		env->running_distribution, env->tmp_location,
	};
	for (size_t i = 0; i < N_ENV; i++)
		out[i] = v[i] ? v[i] : "";
}

/* dkms expands every value a second time: a variable of its own holding
 * quotes, $, ` or \ would be run or re-quoted. Refused instead. */
static int env_check(const struct conf_env *env, const struct rk_log *log)
{
	const char *v[N_ENV];
	env_values(env, v);
	for (size_t i = 0; i < N_ENV; i++)
		if (strpbrk(v[i], "$`\"\\\n")) {
			rk_err(log, "%s=\"%s\" holds a quote, $, ` or \\, which dkms would expand again while reading dkms.conf; use a name without them",
			       env_names[i], v[i]);
			return -EINVAL;
		}
	return 0;
}

static bool in_list(const char *const *list, const char *name)
{
	for (; *list; list++)
		if (streq(*list, name))
			return true;
	return false;
}

static bool is_whitelisted(const char *name)
{
	return in_list(conf_whitelist, name);
}

/* ---- struct conf_vars ---- */

static struct conf_var *vars_find(const struct conf_vars *v, const char *name, size_t *ret_pos)
{
	size_t lo = 0, hi = v ? v->n_vars : 0;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(v->vars[mid].name, name);
		if (c == 0) {
			if (ret_pos)
				*ret_pos = mid;
			return &v->vars[mid];
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (ret_pos)
		*ret_pos = lo;
	return NULL;
}

static struct conf_var *vars_add(struct conf_vars *v, const char *name)
{
	size_t pos;
	struct conf_var *var = vars_find(v, name, &pos);
	if (var)
		return var;
	v->vars = xrealloc(v->vars, (v->n_vars + 1) * sizeof(*v->vars));
	memmove(v->vars + pos + 1, v->vars + pos, (v->n_vars - pos) * sizeof(*v->vars));
	v->n_vars++;
	v->vars[pos] = (struct conf_var){ .name = xstrdup(name) };
	return &v->vars[pos];
}

static void var_clear(struct conf_var *var)
{
	for (size_t i = 0; i < var->n_elems; i++)
		free(var->elems[i].value);
	free(var->elems);
	free(var->name);
}

/* takes ownership of value */
static void var_set(struct conf_var *var, unsigned long index, char *value)
{
	size_t lo = 0, hi = var->n_elems;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (var->elems[mid].index == index) {
			free(var->elems[mid].value);
			var->elems[mid].value = value;
			return;
		}
		if (var->elems[mid].index < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	var->elems = xrealloc(var->elems, (var->n_elems + 1) * sizeof(*var->elems));
	memmove(var->elems + lo + 1, var->elems + lo, (var->n_elems - lo) * sizeof(*var->elems));
	var->n_elems++;
	var->elems[lo] = (struct conf_elem){ .index = index, .value = value };
}

static void vars_remove_at(struct conf_vars *v, size_t pos)
{
	var_clear(&v->vars[pos]);
	memmove(v->vars + pos, v->vars + pos + 1, (v->n_vars - pos - 1) * sizeof(*v->vars));
	v->n_vars--;
}

/* drop the names a file's subshell would not hand back */
static void vars_keep_whitelisted(struct conf_vars *v)
{
	for (size_t i = v->n_vars; i > 0; i--)
		if (!is_whitelisted(v->vars[i - 1].name))
			vars_remove_at(v, i - 1);
}

void conf_vars_free(struct conf_vars *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n_vars; i++)
		var_clear(&v->vars[i]);
	free(v->vars);
	free(v);
}

static void conf_vars_freep(struct conf_vars **v)
{
	conf_vars_free(*v);
}
#define _cleanup_vars_ _cleanup_(conf_vars_freep)

const struct conf_var *conf_vars_get(const struct conf_vars *v, const char *name)
{
	return vars_find(v, name, NULL);
}

const char *conf_vars_elem(const struct conf_vars *v, const char *name, unsigned long index)
{
	const struct conf_var *var = conf_vars_get(v, name);
	size_t lo = 0, hi = var ? var->n_elems : 0;
	while (lo < hi) { /* elems are sorted by index */
		size_t mid = (lo + hi) / 2;
		if (var->elems[mid].index == index)
			return var->elems[mid].value;
		if (var->elems[mid].index < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

unsigned long conf_vars_count(const struct conf_vars *v, const char *name)
{
	const struct conf_var *var = conf_vars_get(v, name);
	if (!var || var->n_elems == 0)
		return 0;
	return var->elems[var->n_elems - 1].index + 1;
}

bool conf_vars_equal(const struct conf_vars *a, const struct conf_vars *b)
{
	size_t na = a ? a->n_vars : 0, nb = b ? b->n_vars : 0;
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		const struct conf_var *x = &a->vars[i], *y = &b->vars[i];
		if (!streq(x->name, y->name) || x->n_elems != y->n_elems)
			return false;
		for (size_t j = 0; j < x->n_elems; j++)
			if (x->elems[j].index != y->elems[j].index ||
			    !streq(x->elems[j].value, y->elems[j].value))
				return false;
	}
	return true;
}

static void sb_put_escaped(struct strbuf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\\')
			sb_puts(b, "\\\\");
		else if (c == '\n')
			sb_puts(b, "\\n");
		else if (c == '\r')
			sb_puts(b, "\\r");
		else if (c == '\t')
			sb_puts(b, "\\t");
		else if (c < 0x20 || c == 0x7f)
			sb_printf(b, "\\x%02x", c);
		else
			sb_putc(b, (char)c);
	}
}

char *conf_vars_dump(const struct conf_vars *v)
{
	struct strbuf b = { 0 };
	for (size_t i = 0; v && i < v->n_vars; i++)
		for (size_t j = 0; j < v->vars[i].n_elems; j++) {
			sb_printf(&b, "%s[%lu]=", v->vars[i].name, v->vars[i].elems[j].index);
			sb_put_escaped(&b, v->vars[i].elems[j].value);
			sb_putc(&b, '\n');
		}
	return sb_steal(&b);
}

/* ---- native reader ---- */

/* dkms sources each file in a subshell (first expansion), prints every
 * whitelisted element through an unquoted `eval echo` and sources that output
 * again in its own shell (second expansion): `parent` is dkms's shell, `scope`
 * the subshell of the file being read. */
struct native {
	struct conf_vars *parent; /* whitelisted names after the files read so far */
	struct conf_vars *scope;  /* the subshell: parent + this file's assignments */
	bool pass2;               /* expanding the echoed line in dkms's shell */
	const char *env[N_ENV];
	const char *dir; /* the evaluator's working directory (pathname expansion) */
	char **entries;  /* its entries, loaded on demand */
	bool entries_loaded;
};

static bool is_name_start(char c)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_name_char(char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

/* Names bash treats specially (or our bash script uses): assigning them is
 * left to bash. */
static bool is_special_name(const char *n)
{
	static const char *const prefixes[] = { "BASH", "COMP_", "LC_", "HIST", "READLINE_", "_rk_",
						"PS", "MAIL", "DKMS_DIRECTIVE", NULL };
	static const char *const names[] = {
		"RANDOM", "SRANDOM", "SECONDS", "LINENO", "EPOCHSECONDS", "EPOCHREALTIME", "UID",
		"EUID", "PPID", "SHELLOPTS", "GROUPS", "FUNCNAME", "IFS", "PATH", "HOME", "OPTIND",
		"OPTARG", "OPTERR", "HOSTNAME", "DIRSTACK", "PWD", "OLDPWD", "SHLVL", "PIPESTATUS",
		"TMOUT", "CDPATH", "GLOBIGNORE", "POSIXLY_CORRECT", "LANG", "TERM", "COLUMNS",
		"LINES", "PROMPT_COMMAND", "ENV", "FIGNORE", "EXECIGNORE", "TIMEFORMAT",
		"auto_resume", "histchars", "HOSTFILE", "IGNOREEOF", "MACHTYPE", "OSTYPE",
		"HOSTTYPE", "_", "INPUTRC", "CHILD_MAX", "FUNCNEST", "EMACS", "SHELL", "REPLY",
		"COPROC", "INSIDE_EMACS", "TMPDIR", NULL,
	};
	for (const char *const *p = prefixes; *p; p++)
		if (startswith(n, *p))
			return true;
	return in_list(names, n);
}

static bool native_lookup(const struct native *n, const char *name, unsigned long idx, const char **ret)
{
	/* the subshell's own variables do not reach dkms's shell */
	const struct conf_vars *vars = n->pass2 ? n->parent : n->scope;
	const struct conf_var *var = conf_vars_get(vars, name);
	if (var) {
		const char *s = conf_vars_elem(vars, name, idx);
		*ret = s ? s : "";
		return true;
	}
	for (size_t i = 0; i < N_ENV; i++)
		if (streq(env_names[i], name)) {
			*ret = idx == 0 ? n->env[i] : "";
			return true;
		}
	if (is_whitelisted(name)) {
		*ret = "";
		return true;
	}
	return false;
}

/* "0" or digits without a leading zero (bash reads 010 as octal) */
static int parse_index(const char **pp, char close, unsigned long *ret)
{
	const char *p = *pp;
	unsigned long v = 0;
	if (!isdigit((unsigned char)*p) || (p[0] == '0' && p[1] != close))
		return -ENOTSUP;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (ULONG_MAX - 9) / 10)
			return -ENOTSUP; /* bash wraps it; let bash say what it means */
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (*p != close)
		return -ENOTSUP;
	*pp = p + 1;
	*ret = v;
	return 0;
}

/* $name, ${name} or ${name[N]}; *pp points at the '$' */
static int native_expand(const struct native *n, const char **pp, struct strbuf *out)
{
	const char *p = *pp + 1;
	bool brace = *p == '{';
	unsigned long idx = 0;
	if (brace)
		p++;
	if (!is_name_start(*p))
		return -ENOTSUP;
	const char *start = p;
	while (is_name_char(*p))
		p++;
	_cleanup_free_ char *name = xstrndup(start, (size_t)(p - start));
	if (brace) {
		if (*p == '[') {
			p++;
			if (parse_index(&p, ']', &idx) < 0)
				return -ENOTSUP;
		}
		if (*p != '}')
			return -ENOTSUP;
		p++;
	}
	const char *val;
	if (!native_lookup(n, name, idx, &val))
		return -ENOTSUP;
	sb_puts(out, val);
	*pp = p;
	return 0;
}

static int native_dquote(const struct native *n, const char **pp, struct strbuf *out)
{
	const char *p = *pp + 1;
	for (;;) {
		char c = *p;
		if (c == '\0' || c == '`')
			return -ENOTSUP;
		if (c == '"')
			break;
		if (c == '$') {
			if (native_expand(n, &p, out) < 0)
				return -ENOTSUP;
			continue;
		}
		if (c == '\\') {
			char d = p[1];
			if (d == '\0')
				return -ENOTSUP;
			if (d == '$' || d == '`' || d == '"' || d == '\\') {
				sb_putc(out, d);
				p += 2;
				continue;
			}
		}
		sb_putc(out, c);
		p++;
	}
	*pp = p + 1;
	return 0;
}

/* One assignment value word; stops at unquoted blank or end of line. */
static int native_word(const struct native *n, const char **pp, struct strbuf *out)
{
	const char *p = *pp;
	while (*p && *p != ' ' && *p != '\t') {
		char c = *p;
		if (c == '\'') {
			const char *e = strchr(p + 1, '\'');
			if (!e)
				return -ENOTSUP;
			sb_putn(out, p + 1, (size_t)(e - p - 1));
			p = e + 1;
		} else if (c == '"') {
			if (native_dquote(n, &p, out) < 0)
				return -ENOTSUP;
		} else if (c == '$') {
			if (native_expand(n, &p, out) < 0)
				return -ENOTSUP;
		} else if (c == '\\') {
			if (!p[1])
				return -ENOTSUP;
			sb_putc(out, p[1]);
			p += 2;
		} else if (strchr("|&;<>()`~", c)) {
			return -ENOTSUP;
		} else {
			sb_putc(out, c);
			p++;
		}
	}
	*pp = p;
	return 0;
}

static bool is_blank_line(const char *p)
{
	return p[strspn(p, " \t\r")] == '\0';
}

/* NAME[idx]=value; a dkms variable (plain scalar) keeps its value as [0] */
static void native_assign(struct native *n, const char *name, unsigned long idx, char *value)
{
	if (!conf_vars_get(n->scope, name)) {
		const char *old;
		if (!is_whitelisted(name) && native_lookup(n, name, 0, &old) && idx != 0)
			var_set(vars_add(n->scope, name), 0, xstrdup(old));
	}
	var_set(vars_add(n->scope, name), idx, value);
}

static int native_line(struct native *n, const char *line)
{
	const char *p = line + strspn(line, " \t");
	if (*p == '#' || is_blank_line(p))
		return 0;
	if (!is_name_start(*p))
		return -ENOTSUP;
	const char *start = p;
	while (is_name_char(*p))
		p++;
	_cleanup_free_ char *name = xstrndup(start, (size_t)(p - start));
	unsigned long idx = 0;
	if (*p == '[') {
		p++;
		if (parse_index(&p, ']', &idx) < 0)
			return -ENOTSUP;
	}
	if (*p != '=' || is_special_name(name))
		return -ENOTSUP;
	p++;
	struct strbuf val = { 0 };
	if (native_word(n, &p, &val) < 0) {
		sb_free(&val);
		return -ENOTSUP;
	}
	p += strspn(p, " \t");
	if (*p != '\0' && *p != '#') {
		sb_free(&val);
		return -ENOTSUP;
	}
	native_assign(n, name, idx, sb_steal(&val));
	return 0;
}

static struct conf_vars *vars_copy(const struct conf_vars *v)
{
	struct conf_vars *c = xcalloc(1, sizeof(*c));
	for (size_t i = 0; v && i < v->n_vars; i++) {
		struct conf_var *var = vars_add(c, v->vars[i].name);
		for (size_t j = 0; j < v->vars[i].n_elems; j++)
			var_set(var, v->vars[i].elems[j].index, xstrdup(v->vars[i].elems[j].value));
	}
	return c;
}

/* What `eval echo NAME[i]=\"${NAME[i]%$CR}\"` makes of a value: one trailing
 * CR removed (dkms 3.x), then the unquoted expansion split at blanks and
 * newlines and joined by single spaces; a leading or trailing run leaves one
 * space, as the fields next to NAME[i]=" and the closing quote do. */
static char *echo_collapse(const char *v)
{
	size_t l = strlen(v);
	if (l > 0 && v[l - 1] == '\r')
		l--;
	struct strbuf b = { 0 };
	bool blank = false;
	for (size_t i = 0; i < l; i++) {
		if (v[i] == ' ' || v[i] == '\t' || v[i] == '\n') {
			blank = true;
			continue;
		}
		if (blank)
			sb_putc(&b, ' ');
		blank = false;
		sb_putc(&b, v[i]);
	}
	if (blank)
		sb_putc(&b, ' ');
	return sb_steal(&b);
}

static void native_load_entries(struct native *n)
{
	if (n->entries_loaded)
		return;
	n->entries_loaded = true;
	n->entries = xcalloc(1, sizeof(char *));
	DIR *d = n->dir ? opendir(n->dir) : NULL;
	for (struct dirent *e; d && (e = readdir(d));)
		if (!streq(e->d_name, ".") && !streq(e->d_name, ".."))
			strv_push(&n->entries, xstrdup(e->d_name));
	if (d)
		closedir(d);
}

static bool has_glob(const char *f, size_t l)
{
	for (size_t i = 0; i < l; i++)
		if (f[i] == '*' || f[i] == '?' || f[i] == '[' ||
		    (i + 1 < l && f[i + 1] == '(' && strchr("+@!", f[i])))
			return true;
	return false;
}

/* Could pattern field f (length l) match an entry of the working directory?
 * Only the literal prefix is compared: true means "maybe". */
static bool glob_may_match(struct native *n, const char *f, size_t l)
{
	if (memchr(f, '/', l))
		return true;
	size_t pre = 0;
	while (pre < l && !strchr("*?[\\", f[pre]) && !(pre + 1 < l && f[pre + 1] == '(' && strchr("+@!", f[pre])))
		pre++;
	native_load_entries(n);
	for (char **e = n->entries; *e; e++)
		if (strncmp(*e, f, pre) == 0)
			return true;
	return false;
}

/* The echoed words undergo pathname expansion in dkms's working directory;
 * the native reader only goes on when no word can match a file. */
static bool echo_globs(struct native *n, const char *name, const char *collapsed)
{
	if (glob_may_match(n, name, strlen(name))) /* the first word is NAME[i]="... */
		return true;
	const char *p = collapsed;
	if (*p != ' ')
		p += strcspn(p, " "); /* the value's first word is part of it */
	while (*p) {
		p += strspn(p, " ");
		size_t l = strcspn(p, " ");
		if (l && has_glob(p, l) && glob_may_match(n, p, l))
			return true;
		p += l;
	}
	return false;
}

/* The second expansion: collapsed value c inside double quotes in dkms's
 * shell. A quote or backquote ends or opens other quoting: bash then. */
static int native_pass2(struct native *n, const char *c, struct strbuf *out)
{
	for (const char *p = c; *p;) {
		if (*p == '"' || *p == '`')
			return -ENOTSUP;
		if (*p == '\\') {
			if (!p[1])
				return -ENOTSUP; /* would escape the closing quote */
			if (strchr("$`\"\\", p[1]))
				p++;
			sb_putc(out, *p++);
		} else if (*p == '$' && (p[1] == '{' || is_name_start(p[1]))) {
			n->pass2 = true;
			int r = native_expand(n, &p, out);
			n->pass2 = false;
			if (r < 0)
				return r;
		} else if (*p == '$' && !(p[1] == '\0' || strchr(" /.,:=%+^", p[1]))) {
			return -ENOTSUP; /* special parameters, $( $[ $" ... */
		} else {
			sb_putc(out, *p++);
		}
	}
	return 0;
}

/* The subshell prints each whitelisted element (dkms's order, indices
 * ascending); dkms's shell sources the lines one by one. */
static int native_reecho(struct native *n, const struct conf_vars *scope)
{
	for (const char *const *name = conf_whitelist; *name; name++) {
		const struct conf_var *var = conf_vars_get(scope, *name);
		for (size_t j = 0; var && j < var->n_elems; j++) {
			_cleanup_free_ char *c = echo_collapse(var->elems[j].value);
			if (echo_globs(n, *name, c))
				return -ENOTSUP;
			struct strbuf out = { 0 };
			if (native_pass2(n, c, &out) < 0) {
				sb_free(&out);
				return -ENOTSUP;
			}
			var_set(vars_add(n->parent, *name), var->elems[j].index, sb_steal(&out));
		}
	}
	return 0;
}

static int native_file(struct native *n, const char *path, const struct rk_log *log)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = read_file(path, &text, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		rk_err(log, "%s: cannot read: %s", path, strerror(-r));
		return r;
	}
	if (strlen(text) != len)
		return -ENOTSUP; /* NUL bytes */
	_cleanup_vars_ struct conf_vars *scope = vars_copy(n->parent);
	n->scope = scope;
	for (char *line = text; line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		r = native_line(n, line);
		if (r < 0)
			return r;
		line = nl ? nl + 1 : NULL;
	}
	vars_keep_whitelisted(scope);
	n->scope = NULL;
	return native_reecho(n, scope);
}

static const char *first_existing(const char *const *files, size_t n_files)
{
	for (size_t i = 0; i < n_files; i++)
		if (path_exists(files[i]))
			return files[i];
	return NULL;
}

/* The directory both evaluators work in: that of the first file read. */
static char *eval_dir(const char *const *files, size_t n_files)
{
	const char *first = first_existing(files, n_files);
	const char *slash = first ? strrchr(first, '/') : NULL;
	if (!first)
		return NULL;
	if (!slash)
		return getcwd(NULL, 0);
	return xstrndup(first, slash == first ? 1 : (size_t)(slash - first));
}

int conf_eval_native(const char *const *files, size_t n_files, const struct conf_env *env,
		     const struct rk_log *log, struct conf_vars **ret)
{
	if (env_check(env, log) < 0)
		return -EINVAL;
	for (char **e = environ; e && *e; e++)
		if (startswith(*e, "DKMS_DIRECTIVE"))
			return -ENOTSUP; /* safe_source echoes these too: bash */
	_cleanup_vars_ struct conf_vars *parent = xcalloc(1, sizeof(*parent));
	_cleanup_free_ char *dir = eval_dir(files, n_files);
	struct native n = { .parent = parent, .dir = dir };
	env_values(env, n.env);
	int r = 0;
	for (size_t i = 0; i < n_files && r >= 0; i++)
		r = native_file(&n, files[i], log);
	strv_free(n.entries);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(parent);
	return 0;
}

/* ---- bash evaluator ---- */

/* Prints every element of every whitelisted array as name\0index\0value\0.
 * WL is replaced by the whitelist. */
#define PRINT_VARS                                                                 \
	"for _rk_n in WL; do "                                                     \
	"builtin eval \"_rk_ix=(\\\"\\${!$_rk_n[@]}\\\")\"; "                      \
	"for _rk_i in \"${_rk_ix[@]}\"; do "                                       \
	"[[ $_rk_i == +([0-9]) ]] || continue; "                                   \
	"builtin eval \"_rk_v=\\${$_rk_n[\\$_rk_i]}\"; "                           \
	"builtin printf '%s\\0%s\\0%s\\0' \"$_rk_n\" \"$_rk_i\" \"$_rk_v\"; "      \
	"done; done\n"

/* dkms's read_conf/safe_source: each file is sourced in a subshell whose
 * positional parameters are the whitelist; the subshell prints every
 * whitelisted element through an unquoted `eval echo` (blanks and newlines
 * collapse, words are pathname-expanded), one trailing CR removed as dkms 3.x
 * does, plus the DKMS_DIRECTIVE* lines; this shell then evaluates that output
 * (the second expansion). The subshell's status comes from the command
 * substitution itself, never from `wait $!`. */
static const char script_head[] =
	"shopt -s extglob\n"
	"kernelver=$1 arch=$2 kernel_source_dir=$3 kernel_config=$4 dkms_tree=$5\n"
	"source_tree=$6 install_tree=$7 module=$8 module_version=$9 parallel_jobs=${10}\n"
	"current_kernel=${11} running_distribution=${12} tmp_location=${13}\n"
	"shift 13\n"
	"_rk_files=(\"$@\")\n"
	"set -- WL\n"
	"for _rk_f in \"${_rk_files[@]}\"; do\n"
	"[[ -e $_rk_f ]] || continue\n"
	"printf '\\001rekmod-file %s\\n' \"$_rk_f\" >&2\n"
	"if ! \"$BASH\" --norc --noprofile -O extglob -n \"$_rk_f\"; then\n"
	"  printf '\\001rekmod-syntax\\n' >&2; exit 65\n"
	"fi\n"
	"_rk_out=$(\n"
	"  . \"$_rk_f\" >/dev/null\n"
	"  _rk_cr=$'\\r'\n"
	"  for _export_env in WL; do\n"
	"    eval \"_rk_ix=(\\${!$_export_env[@]})\"\n"
	"    for _i in \"${_rk_ix[@]}\"; do\n"
	"      eval echo '$_export_env[$_i]=\\\"${'$_export_env'[$_i]%$_rk_cr}\\\"'\n"
	"    done\n"
	"  done\n"
	"  if compgen -v DKMS_DIRECTIVE >/dev/null; then\n"
	"    for directive in $(set | grep ^DKMS_DIRECTIVE | cut -d = -f 2-3); do\n"
	"      directive_name=${directive%%=*}\n"
	"      directive_value=${directive#*=}\n"
	"      echo \"$directive_name=\\\"$directive_value\\\"\"\n"
	"    done\n"
	"  fi\n"
	")\n"
	"_rk_st=$?\n"
	"if ((_rk_st)); then printf '\\001rekmod-exit %d\\n' \"$_rk_st\" >&2; exit 66; fi\n"
	"eval \"$_rk_out\"\n"
	"done\n" PRINT_VARS;

static char *build_script(void)
{
	struct strbuf wl = { 0 }, out = { 0 };
	for (const char *const *p = conf_whitelist; *p; p++)
		sb_printf(&wl, "%s%s", p == conf_whitelist ? "" : " ", *p);
	for (const char *s = script_head; *s;) {
		if (startswith(s, "WL")) {
			sb_puts(&out, wl.s);
			s += 2;
		} else {
			sb_putc(&out, *s++);
		}
	}
	sb_free(&wl);
	return sb_steal(&out);
}

static int parse_records(const char *out, size_t len, struct conf_vars *v)
{
	const char *p = out, *end = out + len;
	while (p < end) {
		const char *f[3];
		for (int k = 0; k < 3; k++) {
			const char *z = memchr(p, '\0', (size_t)(end - p));
			if (!z)
				return -EBADMSG;
			f[k] = p;
			p = z + 1;
		}
		char *e;
		errno = 0;
		unsigned long idx = strtoul(f[1], &e, 10); /* ERANGE: ULONG_MAX, beyond CONF_INDEX_MAX */
		if (*e || e == f[1] || !is_whitelisted(f[0]))
			return -EBADMSG;
		var_set(vars_add(v, f[0]), idx, xstrdup(f[2]));
	}
	return 0;
}

struct stderr_state {
	const struct rk_log *log;
	char *file;
	bool syntax;
	int exit_status;
};

static void stderr_line(struct stderr_state *s, const char *line)
{
	if (startswith(line, "\001rekmod-file ")) {
		free(s->file);
		s->file = xstrdup(line + strlen("\001rekmod-file "));
	} else if (streq(line, "\001rekmod-syntax")) {
		s->syntax = true;
	} else if (startswith(line, "\001rekmod-exit ")) {
		s->exit_status = atoi(line + strlen("\001rekmod-exit "));
	} else if (s->file && startswith(line, s->file)) {
		rk_warn(s->log, "%s", line);
	} else {
		rk_warn(s->log, "%s: %s", s->file ? s->file : "bash", line);
	}
}

static char *read_fd_all(int fd)
{
	struct strbuf b = { 0 };
	char buf[4096];
	if (lseek(fd, 0, SEEK_SET) < 0)
		return sb_steal(&b);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		sb_putn(&b, buf, (size_t)n);
	}
	return sb_steal(&b);
}

static void process_stderr(int fd, struct stderr_state *s)
{
	_cleanup_free_ char *text = read_fd_all(fd);
	for (char *line = text; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		stderr_line(s, line);
		line = nl ? nl + 1 : NULL;
	}
}

/* dkms.conf sees dkms's environment, which is its caller's: our caller's,
 * without the names dkms sets or unsets itself (the whitelist, the variables
 * of conf_env), without bash's startup files (BASH_ENV, ENV), and with
 * /usr/lib/dkms appended to PATH as dkms does. */
static char **bash_envp(void)
{
	char **envp = NULL;
	const char *path = getenv("PATH");
	strv_push(&envp, xasprintf("PATH=%s:/usr/lib/dkms",
				   path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
	for (char **e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq)
			continue;
		_cleanup_free_ char *name = xstrndup(*e, (size_t)(eq - *e));
		bool own = false;
		for (size_t i = 0; i < N_ENV; i++)
			own = own || streq(env_names[i], name);
		if (own || is_whitelisted(name) || streq(name, "PATH") || streq(name, "BASH_ENV") ||
		    streq(name, "ENV") || startswith(name, "_rk_"))
			continue;
		strv_push(&envp, xstrdup(*e));
	}
	return envp;
}

static int run_bash(const char *const *files, size_t n_files, const struct conf_env *env, int err_fd,
		    char **ret_out, size_t *ret_len, int *ret_status)
{
	_cleanup_free_ char *script = build_script();
	const char *ev[N_ENV];
	env_values(env, ev);
	size_t argc = 6 + N_ENV + n_files + 1;
	_cleanup_free_ const char **argv = xcalloc(argc, sizeof(char *));
	size_t k = 0;
	argv[k++] = "bash";
	argv[k++] = "--norc";
	argv[k++] = "--noprofile";
	argv[k++] = "-c";
	argv[k++] = script;
	argv[k++] = "bash";
	for (size_t i = 0; i < N_ENV; i++)
		argv[k++] = ev[i];
	_cleanup_strv_free_ char **abs = NULL;
	_cleanup_free_ char *here = getcwd(NULL, 0);
	for (size_t i = 0; i < n_files; i++) {
		/* ". name" would search $PATH, and cwd changes */
		if (files[i][0] == '/' || !here)
			strv_push(&abs, xstrdup(files[i]));
		else
			strv_push(&abs, xasprintf("%s/%s", here, files[i]));
		argv[k++] = abs[i];
	}
	argv[k] = NULL;

	_cleanup_strv_free_ char **envp = bash_envp();
	_cleanup_free_ char *cwd = eval_dir((const char *const *)abs, n_files);
	struct rk_spawn sp = {
		.argv = argv, .envp = (const char *const *)envp, .cwd = cwd,
		.stdout_fd = -1, .stderr_fd = err_fd, .stdin_fd = -1, .timeout_seconds = env ? env->timeout_seconds : 0,
	};
	return rk_run_capture(&sp, ret_out, ret_len, ret_status);
}

int conf_eval_bash(const char *const *files, size_t n_files, const struct conf_env *env,
		   const struct rk_log *log, struct conf_vars **ret)
{
	if (env_check(env, log) < 0)
		return -EINVAL;
	_cleanup_close_ int err_fd = memfd_create("rekmod-conf-stderr", MFD_CLOEXEC);
	if (err_fd < 0)
		return -errno;
	_cleanup_free_ char *out = NULL;
	size_t len = 0;
	int status = 0;
	int r = run_bash(files, n_files, env, err_fd, &out, &len, &status);
	if (r == -ETIME) {
		rk_err(log, "%s: still running after %ds of evaluation, killed; remove the endless loop or the command "
		       "that waits, or raise conf_timeout_seconds in framework.conf", n_files ? files[0] : "dkms.conf",
		       env->timeout_seconds);
		return r;
	}
	if (r < 0) {
		rk_err(log, "cannot run bash to evaluate %s: %s", n_files ? files[0] : "dkms.conf",
		       strerror(-r));
		return r;
	}
	struct stderr_state st = { .log = log };
	process_stderr(err_fd, &st);
	_cleanup_free_ char *file = TAKE_PTR(st.file);
	const char *what = file ? file : (n_files ? files[0] : "dkms.conf");
	if (st.syntax) {
		rk_err(log, "%s: bash syntax error (see the messages above); fix the shell syntax", what);
		return -EINVAL;
	}
	if (st.exit_status) {
		rk_err(log, "%s: exited with status %d while being sourced; remove the exit/failing command",
		       what, st.exit_status);
		return -EINVAL;
	}
	if (status != 0) {
		rk_err(log, "%s: bash failed with status %d while evaluating it; check the shell code", what,
		       status);
		return -EINVAL;
	}
	_cleanup_vars_ struct conf_vars *v = xcalloc(1, sizeof(*v));
	if (parse_records(out, len, v) < 0) {
		rk_err(log, "%s: unexpected output from the bash evaluator; check the shell code", what);
		return -EINVAL;
	}
	*ret = TAKE_PTR(v);
	return 0;
}

int conf_eval(const char *const *files, size_t n_files, const struct conf_env *env,
	      const struct rk_log *log, struct conf_vars **ret, bool *ret_used_bash)
{
	int r = conf_eval_native(files, n_files, env, log, ret);
	if (r != -ENOTSUP) {
		if (ret_used_bash)
			*ret_used_bash = false;
		return r;
	}
	if (ret_used_bash)
		*ret_used_bash = true;
	return conf_eval_bash(files, n_files, env, log, ret);
}

/* ---- typos: an assignment to a name that is almost a directive ---- */

static bool is_upper_name(const char *s)
{
	bool letter = false;
	for (; *s; s++) {
		if (!isupper((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
			return false;
		letter |= isupper((unsigned char)*s) != 0;
	}
	return letter;
}

const char *conf_directive_typo(const char *name)
{
	size_t len = strlen(name);
	if (len < 5 || !is_upper_name(name) || is_whitelisted(name))
		return NULL;
	/* one edit, two from nine letters on: a package's own variables (KVER,
	 * NAME, KSRC, MAKEARGS, PATCHLEVEL) are further from every directive */
	size_t best_d = (len >= 9 ? 2 : 1) + 1;
	const char *best = NULL;
	for (size_t i = 0; conf_whitelist[i]; i++) {
		if (!is_upper_name(conf_whitelist[i]))
			continue;
		size_t d = edit_distance(name, conf_whitelist[i]);
		if (d < best_d) {
			best_d = d;
			best = conf_whitelist[i];
		}
	}
	return best;
}

/* The name NAME of a line "  NAME=", "NAME+=", "NAME[i]=" (copied), or NULL. */
static char *assigned_name(const char *line)
{
	while (*line == ' ' || *line == '\t')
		line++;
	size_t n = 0;
	while (is_name_char(line[n]) && (n || is_name_start(line[n])))
		n++;
	const char *p = line + n;
	if (!n)
		return NULL;
	if (*p == '[')
		p = strchr(p, ']') ? strchr(p, ']') + 1 : p;
	p += *p == '+';
	return *p == '=' ? xstrndup(line, n) : NULL;
}

void conf_warn_typos(const char *path, const char *text, const struct rk_log *log)
{
	unsigned line = 0;
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		line++;
		_cleanup_free_ char *line_copy = xstrndup(l, strcspn(l, "\n"));
		_cleanup_free_ char *name = assigned_name(line_copy);
		const char *near = name ? conf_directive_typo(name) : NULL;
		if (near)
			rk_warn(log, "Warning: %s:%u: %s is no dkms.conf directive and is ignored; did you mean %s?", path,
				line, name, near);
	}
}

void conf_check_typos(const char *const *files, size_t n_files, const struct rk_log *log)
{
	for (size_t i = 0; i < n_files; i++) {
		_cleanup_free_ char *text = NULL;
		if (read_file(files[i], &text, NULL) == 0)
			conf_warn_typos(files[i], text, log);
	}
}

/* ---- distro ---- */

/* value of KEY=VALUE from os-release text, unquoted, blanks collapsed like an
 * unquoted `echo $VALUE`; NULL when the key is absent */
static char *os_release_get(const char *text, const char *key)
{
	char *found = NULL;
	size_t kl = strlen(key);
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t ll = nl ? (size_t)(nl - line) : strlen(line);
		const char *p = line + strspn(line, " \t");
		if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
			struct strbuf b = { 0 };
			char q = 0;
			bool space = false;
			for (p += kl + 1; p < line + ll; p++) {
				char c = *p;
				if (q && c == q) {
					q = 0;
				} else if (!q && (c == '"' || c == '\'')) {
					q = c;
				} else if (q == '"' && c == '\\' && p + 1 < line + ll && strchr("$`\"\\", p[1])) {
					/* in double quotes, as in sh, only $ ` " \ are escaped */
					sb_putc(&b, *++p);
				} else if (!q && c == '#' && (p == line || isspace((unsigned char)p[-1]))) {
					break;
				} else if (isspace((unsigned char)c)) {
					space = b.len > 0;
				} else {
					if (space)
						sb_putc(&b, ' ');
					space = false;
					sb_putc(&b, c);
				}
			}
			free(found);
			found = sb_steal(&b);
		}
		line = nl ? nl + 1 : NULL;
	}
	return found;
}

char *os_release_distro(const char *os_release_text)
{
	if (!os_release_text)
		return NULL;
	char *id = os_release_get(os_release_text, "ID");
	char *like = os_release_get(os_release_text, "ID_LIKE");
	char *r;
	if ((id && streq(id, "ubuntu")) || !like) {
		r = id;
		free(like);
	} else {
		r = like;
		free(id);
	}
	if (r && !*r) {
		free(r);
		r = NULL;
	}
	return r;
}

const char *dest_location_override(const char *distro, const char *addon_dir, const char *conf_location)
{
	static __thread char buf[PATH_MAX];
	if (addon_dir && *addon_dir) {
		snprintf(buf, sizeof(buf), "/%s", addon_dir);
		return buf;
	}
	const char *d = distro ? distro : "";
	if (startswith(d, "fedora") || startswith(d, "rhel") || startswith(d, "ovm"))
		return "/extra";
	if (startswith(d, "sles") || startswith(d, "suse") || startswith(d, "opensuse"))
		return "/updates";
	if (startswith(d, "debian") || startswith(d, "ubuntu") || startswith(d, "arch"))
		return "/updates/dkms";
	return conf_location ? conf_location : "";
}

/* ---- dkms_conf_finish ---- */

struct fin {
	const struct conf_vars *v;
	const char *path;
	char *text; /* the dkms.conf text, NULL when unreadable */
	const struct conf_finish_opts *o;
	const struct rk_log *log;
	int errors;
	char *kconfig; /* kernel .config text, loaded on demand */
	bool kconfig_loaded;
};

/* Line of the last "NAME=" / "NAME[idx]=" assignment (idx < 0: any index), 0 if none. */
static unsigned find_line(const char *text, const char *name, long idx)
{
	unsigned found = 0, no = 0;
	size_t nl = strlen(name);
	for (const char *line = text; line && *line;) {
		const char *p = line + strspn(line, " \t");
		no++;
		if (strncmp(p, name, nl) == 0) {
			p += nl;
			unsigned long i = 0;
			bool ok = true;
			if (*p == '[') {
				char *e;
				i = strtoul(p + 1, &e, 10);
				ok = e != p + 1 && *e == ']';
				p = e + 1;
			}
			if (*p == '+')
				p++;
			if (ok && *p == '=' && (idx < 0 || (unsigned long)idx == i || p[1] == '('))
				found = no;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return found;
}

static void fin_err(struct fin *f, int prio, unsigned line, const char *fmt, ...) _printf_(4, 5);
static void fin_err(struct fin *f, int prio, unsigned line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (line)
		rk_logf(f->log, prio, "%s:%u: %s", f->path, line, msg);
	else
		rk_logf(f->log, prio, "%s: %s", f->path, msg);
	if (prio <= LOG_ERR)
		f->errors++;
}

/* dkms 3.x's own line for an invalid dkms.conf ("dkms.conf: Error! ..."),
 * as dkms says it (scripts parse it); rekmod's line naming the file, the
 * line and the fix follows at FIN_DETAIL (--verbose). */
#define FIN_DETAIL LOG_INFO
static void fin_dkms(struct fin *f, const char *fmt, ...) _printf_(2, 3);
static void fin_dkms(struct fin *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	rk_logf(f->log, LOG_ERR, "dkms.conf: Error! %s", msg);
	f->errors++;
}

static unsigned fin_line(const struct fin *f, const char *name, long idx)
{
	return f->text ? find_line(f->text, name, idx) : 0;
}

/* element or "" */
static const char *el(const struct fin *f, const char *name, unsigned long idx)
{
	const char *s = conf_vars_elem(f->v, name, idx);
	return s ? s : "";
}

static char *el_dup_or_null(const struct fin *f, const char *name)
{
	const char *s = el(f, name, 0);
	return *s ? xstrdup(s) : NULL;
}

/* bash [[ s =~ re ]]: 1 match, 0 no match or bad regex (warned about) */
static int ere_match(struct fin *f, const char *name, unsigned long idx, const char *re, const char *s)
{
	regex_t rx;
	if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) != 0) {
		fin_err(f, LOG_WARNING, fin_line(f, name, (long)idx),
			"%s[%lu]=\"%s\" is not a valid extended regular expression, it never matches; fix the expression",
			name, idx, re);
		return 0;
	}
	int r = regexec(&rx, s ? s : "", 0, NULL, 0) == 0;
	regfree(&rx);
	return r;
}

static bool ends_in_object(const char *s)
{
	return endswith(s, ".o") || endswith(s, ".ko");
}

static char *without_object_suffix(const char *s)
{
	size_t l = strlen(s);
	return xstrndup(s, endswith(s, ".ko") ? l - 3 : l - 2);
}

static void check_object_name(struct fin *f, const char *name, unsigned long i, const char *val)
{
	if (!ends_in_object(val))
		return;
	_cleanup_free_ char *fixed = without_object_suffix(val);
	fin_dkms(f, "'%s' directive ends in '.o' or '.ko' in record #%lu.", name, i);
	fin_err(f, FIN_DETAIL, fin_line(f, name, (long)i),
		"%s[%lu]=\"%s\" must not end in .o or .ko; set it to \"%s\"", name, i, val, fixed);
}

static bool strip_value(const struct fin *f, unsigned long i)
{
	const char *s = el(f, "STRIP", i);
	if (*s == 'n' || *s == 'N')
		return false;
	if (*s == 'y' || *s == 'Y')
		return true;
	if (*s == '\0' && i > 0) {
		const char *s0 = el(f, "STRIP", 0);
		return !(*s0 == 'n' || *s0 == 'N');
	}
	return true; /* dkms: unset strip[i] != "no" */
}

static void fin_dest_location(struct fin *f, unsigned long i, struct dkms_module *m)
{
	const char *loc = el(f, "DEST_MODULE_LOCATION", i);
	m->dest_location_conf = xstrdup(loc);
	m->dest_location = xstrdup(dest_location_override(f->o->distro, f->o->addon_modules_dir, loc));
	if (conf_vars_count(f->v, "DEST_MODULE_LOCATION") == 0) { /* rekmod's line: once, globally */
		fin_dkms(f, "No 'DEST_MODULE_LOCATION' directive specified for record #%lu.", i);
		return;
	}
	unsigned line = fin_line(f, "DEST_MODULE_LOCATION", (long)i);
	if (!*loc) {
		fin_dkms(f, "No 'DEST_MODULE_LOCATION' directive specified for record #%lu.", i);
		if (line)
			fin_err(f, FIN_DETAIL, line, "DEST_MODULE_LOCATION[%lu] is empty; set it to \"/updates\"", i);
		else
			fin_err(f, FIN_DETAIL, 0,
				"no DEST_MODULE_LOCATION[%lu] directive for module #%lu; add DEST_MODULE_LOCATION[%lu]=\"/updates\"",
				i, i, i);
	} else if (!startswith(loc, "/kernel") && !startswith(loc, "/updates") && !startswith(loc, "/extra")) {
		/* dkms 3.x's message is two lines: two messages, each one line */
		fin_dkms(f, "Directive 'DEST_MODULE_LOCATION' does not begin with");
		rk_logf(f->log, LOG_ERR, "'/kernel', '/updates', or '/extra' in record #%lu.", i);
		fin_err(f, FIN_DETAIL, line,
			"DEST_MODULE_LOCATION[%lu]=\"%s\" must begin with /kernel, /updates or /extra; set it to \"/updates\"",
			i, loc);
	}
}

/* dkms 3.x: only the one module of a package defaults BUILT_MODULE_NAME to
 * PACKAGE_NAME (3.0.10: when DEST_MODULE_LOCATION has one element) */
static void fin_module(struct fin *f, unsigned long i, unsigned long n, struct dkms_module *m)
{
	const char *built = el(f, "BUILT_MODULE_NAME", i);
	if (!*built && n == 1)
		built = el(f, "PACKAGE_NAME", 0);
	m->built_name = xstrdup(built);
	const char *dest = el(f, "DEST_MODULE_NAME", i);
	m->dest_name = xstrdup(*dest ? dest : built);
	const char *bl = el(f, "BUILT_MODULE_LOCATION", i);
	m->built_location = *bl && !endswith(bl, "/") ? xasprintf("%s/", bl) : xstrdup(bl);
	m->strip = strip_value(f, i);

	if (!*built) {
		fin_dkms(f, "No 'BUILT_MODULE_NAME' directive specified for record #%lu.", i);
		fin_err(f, FIN_DETAIL, 0,
			"no BUILT_MODULE_NAME[%lu] directive for module #%lu (only a single module defaults to PACKAGE_NAME); add BUILT_MODULE_NAME[%lu]=\"<module name without .ko>\"",
			i, i, i);
	} else
		check_object_name(f, "BUILT_MODULE_NAME", i, built);
	check_object_name(f, "DEST_MODULE_NAME", i, dest);
	fin_dest_location(f, i, m);
}

/* DEST_MODULE_NAME[i], or the BUILT_MODULE_NAME[i] it defaults to */
static unsigned dest_name_line(const struct fin *f, size_t i)
{
	unsigned line = fin_line(f, "DEST_MODULE_NAME", (long)i);
	return line ? line : fin_line(f, "BUILT_MODULE_NAME", (long)i);
}

/* Modules sorted by (key, index); dup[i] = the lowest index with module i's
 * key when that is not i, else SIZE_MAX. O(n log n), whatever n is. */
struct dup_sort {
	const struct dkms_module *m;
	bool by_dest; /* key: dest_name, else (built_location, built_name) */
};

static int dup_key_cmp(const struct dup_sort *d, size_t i, size_t j)
{
	const struct dkms_module *x = &d->m[i], *y = &d->m[j];
	if (d->by_dest)
		return strcmp(x->dest_name, y->dest_name);
	int c = strcmp(x->built_location, y->built_location);
	return c ? c : strcmp(x->built_name, y->built_name);
}

static int dup_cmp(const void *a, const void *b, void *arg)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int c = dup_key_cmp(arg, i, j);
	return c ? c : (i > j) - (i < j);
}

static size_t *first_duplicates(const struct dkms_conf *c, bool by_dest)
{
	struct dup_sort d = { .m = c->modules, .by_dest = by_dest };
	size_t n = c->n_modules;
	_cleanup_free_ size_t *ord = xcalloc(n + 1, sizeof(*ord));
	size_t *dup = xcalloc(n + 1, sizeof(*dup));
	for (size_t i = 0; i < n; i++)
		ord[i] = i;
	qsort_r(ord, n, sizeof(*ord), dup_cmp, &d);
	for (size_t k = 0, first = 0; k < n; k++) {
		if (dup_key_cmp(&d, ord[first], ord[k]) != 0)
			first = k;
		dup[ord[k]] = first == k ? SIZE_MAX : ord[first];
	}
	return dup;
}

static void fin_strict(struct fin *f, struct dkms_conf *c)
{
	if (c->n_modules == 0)
		rk_logf(f->log, LOG_WARNING, "dkms.conf: Warning! Zero modules specified."); /* dkms 3.x's line */
	_cleanup_free_ size_t *built = first_duplicates(c, false);
	_cleanup_free_ size_t *dest = first_duplicates(c, true);
	for (size_t i = 0; i < c->n_modules; i++) {
		const struct dkms_module *b = &c->modules[i];
		if (*b->built_name && built[i] != SIZE_MAX) {
			fin_dkms(f, "Duplicate module '%s' in 'BUILT_MODULE_NAME[%zu]'.", b->built_name, i);
			fin_err(f, FIN_DETAIL, fin_line(f, "BUILT_MODULE_NAME", (long)i),
				"module #%zu (BUILT_MODULE_LOCATION[%zu]=\"%s\" BUILT_MODULE_NAME[%zu]=\"%s\") duplicates module #%zu; give each module a distinct name or location",
				i, i, b->built_location, i, b->built_name, built[i]);
		}
		if (*b->dest_name && dest[i] != SIZE_MAX) {
			fin_dkms(f, "Duplicate module '%s' in 'DEST_MODULE_NAME[%zu]'.", b->dest_name, i);
			fin_err(f, FIN_DETAIL, dest_name_line(f, i),
				"DEST_MODULE_NAME[%zu]=\"%s\" duplicates module #%zu; give each module a distinct DEST_MODULE_NAME",
				i, b->dest_name, dest[i]);
		}
	}
}

/* Every index of every array is at most CONF_INDEX_MAX: false (and one error
 * per array) when one is higher. */
static bool fin_bounds(struct fin *f)
{
	bool ok = true;
	for (size_t k = 0; k < f->v->n_vars; k++) {
		const struct conf_var *var = &f->v->vars[k];
		if (var->n_elems == 0 || var->elems[var->n_elems - 1].index <= CONF_INDEX_MAX)
			continue;
		unsigned long idx = var->elems[var->n_elems - 1].index;
		fin_err(f, LOG_ERR, fin_line(f, var->name, idx > LONG_MAX ? -1 : (long)idx),
			"%s[%lu]: the index is above rekmod's limit of %lu; number the entries from 0 (%s[0], %s[1], ...)",
			var->name, idx, CONF_INDEX_MAX, var->name, var->name);
		ok = false;
	}
	return ok;
}

static void fin_modules(struct fin *f, struct dkms_conf *c)
{
	static const char *const arrays[] = { "BUILT_MODULE_NAME", "BUILT_MODULE_LOCATION",
					      "DEST_MODULE_NAME", "DEST_MODULE_LOCATION" };
	unsigned long n = 0;
	if (!fin_bounds(f))
		return; /* no module list from an unbounded index */
	for (size_t k = 0; k < ARRAY_SIZE(arrays); k++) {
		unsigned long cnt = conf_vars_count(f->v, arrays[k]);
		if (cnt > n)
			n = cnt;
	}
	c->modules = xcalloc(n, sizeof(*c->modules));
	c->n_modules = n;
	for (unsigned long i = 0; i < n; i++)
		fin_module(f, i, n, &c->modules[i]);
	if (n > 0 && conf_vars_count(f->v, "DEST_MODULE_LOCATION") == 0) /* zero modules: an empty build */
		fin_err(f, FIN_DETAIL, 0, "no DEST_MODULE_LOCATION directive; add DEST_MODULE_LOCATION[0]=\"/updates\"");
	if (f->o->strict)
		fin_strict(f, c);
}

static void fin_make(struct fin *f, struct dkms_conf *c)
{
	const char *make = NULL;
	if (!*el(f, "MAKE_MATCH", 0))
		make = el(f, "MAKE", 0);
	const struct conf_var *mk = conf_vars_get(f->v, "MAKE");
	for (size_t k = 0; mk && k < mk->n_elems; k++) {
		unsigned long i = mk->elems[k].index;
		const char *match = el(f, "MAKE_MATCH", i);
		if (*mk->elems[k].value && *match && ere_match(f, "MAKE_MATCH", i, match, f->o->kernelver))
			make = mk->elems[k].value;
	}
	if (make && *make) {
		c->make_command = xstrdup(make);
	} else {
		const struct conf_finish_opts *o = f->o;
		c->make_command = xasprintf("make -C %s M=%s/%s/%s/build", o->kernel_source_dir ?: "",
					    o->dkms_tree ?: "", o->module ?: "", o->module_version ?: "");
		c->make_is_default = true;
	}
	const char *clean = el(f, "CLEAN", 0);
	c->clean = xstrdup(*clean ? clean : "make clean");
}

static void fin_patches(struct fin *f, struct dkms_conf *c)
{
	c->patches = xcalloc(1, sizeof(char *));
	const struct conf_var *p = conf_vars_get(f->v, "PATCH");
	for (size_t k = 0; p && k < p->n_elems; k++) {
		unsigned long i = p->elems[k].index;
		const char *match = el(f, "PATCH_MATCH", i);
		if (*p->elems[k].value && (!*match || ere_match(f, "PATCH_MATCH", i, match, f->o->kernelver)))
			strv_push(&c->patches, xstrdup(p->elems[k].value));
	}
}

static bool yes_no(struct fin *f, const char *name, bool *ret)
{
	const char *s = el(f, name, 0);
	if (strcasecmp(s, "yes") == 0)
		*ret = true;
	else if (strcasecmp(s, "no") == 0 || !*s)
		*ret = false;
	else
		return false;
	return true;
}

static void fin_flags(struct fin *f, struct dkms_conf *c)
{
	if (!yes_no(f, "AUTOINSTALL", &c->autoinstall)) {
		fin_dkms(f, "Unsupported AUTOINSTALL value '%s'", el(f, "AUTOINSTALL", 0));
		fin_err(f, FIN_DETAIL, fin_line(f, "AUTOINSTALL", 0),
			"AUTOINSTALL=\"%s\" must be yes, no or empty; set AUTOINSTALL=\"yes\"",
			el(f, "AUTOINSTALL", 0));
	}
	const char *s = el(f, "BUILD_DEPENDS_REBUILD", 0);
	c->build_depends_rebuild = *s == 'y' || *s == 'Y';
	c->no_weak_modules = strcasecmp(el(f, "NO_WEAK_MODULES", 0), "yes") == 0;
	c->no_reuse = strcasecmp(el(f, "NO_REUSE", 0), "yes") == 0;

	c->build_depends = xcalloc(1, sizeof(char *));
	const struct conf_var *d = conf_vars_get(f->v, "BUILD_DEPENDS");
	for (size_t k = 0; d && k < d->n_elems; k++) {
		const char *p = d->elems[k].value;
		for (;;) {
			p += strspn(p, " \t\n");
			size_t l = strcspn(p, " \t\n");
			if (!l)
				break;
			strv_push(&c->build_depends, xstrndup(p, l));
			p += l;
		}
	}
	c->deprecated = xcalloc(1, sizeof(char *));
	for (const char *const *n = deprecated_names; *n; n++)
		if (conf_vars_count(f->v, *n) > 0)
			strv_push(&c->deprecated, xstrdup(*n));
}

/* kernel config has a line ^word=[ym]; -1 when there is no config file */
static int kconfig_has(struct fin *f, const char *word)
{
	if (!f->kconfig_loaded) {
		f->kconfig_loaded = true;
		if (f->o->kernel_config && read_file(f->o->kernel_config, &f->kconfig, NULL) < 0)
			f->kconfig = NULL;
	}
	if (!f->kconfig)
		return -1;
	_cleanup_free_ char *re = xasprintf("^%s=[ym]", word);
	regex_t rx;
	if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB | REG_NEWLINE) != 0)
		return 0;
	int r = regexec(&rx, f->kconfig, 0, NULL, 0) == 0;
	regfree(&rx);
	return r;
}

static bool config_excludes(struct fin *f, const char *list)
{
	for (const char *p = list;;) {
		p += strspn(p, " \t\n");
		size_t l = strcspn(p, " \t\n");
		if (!l)
			return false;
		_cleanup_free_ char *w = xstrndup(p, l);
		p += l;
		bool neg = w[0] == '!';
		int has = kconfig_has(f, w + neg);
		if (has < 0)
			return false; /* no config file: ignored */
		if (has == neg)
			return true;
	}
}

/* The BUILD_EXCLUSIVE_* values that apply at one scope ("" when none). */
struct excl {
	const char *kernel, *arch, *config, *min, *max;
};

static bool excl_excludes(struct fin *f, const struct excl *e, unsigned long idx)
{
	const struct conf_finish_opts *o = f->o;
	bool ex = false;
	if (*e->kernel && !ere_match(f, "BUILD_EXCLUSIVE_KERNEL", idx, e->kernel, o->kernelver))
		ex = true;
	if (*e->arch && !ere_match(f, "BUILD_EXCLUSIVE_ARCH", idx, e->arch, o->arch))
		ex = true;
	if (*e->config && config_excludes(f, e->config))
		ex = true;
	if (*e->min && version_compare(o->kernelver ?: "", e->min) < 0)
		ex = true;
	if (*e->max && version_compare(o->kernelver ?: "", e->max) > 0)
		ex = true;
	return ex;
}

static void excl_get(const struct fin *f, unsigned long i, struct excl *e)
{
	e->kernel = el(f, "BUILD_EXCLUSIVE_KERNEL", i);
	e->arch = el(f, "BUILD_EXCLUSIVE_ARCH", i);
	e->config = el(f, "BUILD_EXCLUSIVE_CONFIG", i);
	e->min = el(f, "BUILD_EXCLUSIVE_KERNEL_MIN", i);
	e->max = el(f, "BUILD_EXCLUSIVE_KERNEL_MAX", i);
}

static bool excl_any(const struct excl *e)
{
	return *e->kernel || *e->arch || *e->config || *e->min || *e->max;
}

/* dkms 3.x: BUILD_EXCLUSIVE_*[0] (the plain scalar, as bash reads $NAME)
 * applies to every module, [i] to module i too; the build is excluded when
 * there are such directives and no module is left to build. */
static void fin_exclusive(struct fin *f, struct dkms_conf *c)
{
	struct excl g, e;
	excl_get(f, 0, &g);
	bool global = excl_excludes(f, &g, 0);
	c->has_exclusive = excl_any(&g);
	size_t buildable = 0;
	for (size_t i = 0; i < c->n_modules; i++) {
		excl_get(f, i, &e);
		c->has_exclusive |= excl_any(&e);
		c->modules[i].excluded = global || (i > 0 && excl_excludes(f, &e, i));
		buildable += !c->modules[i].excluded;
	}
	c->build_exclude = c->n_modules ? buildable == 0 && c->has_exclusive : global;
}

static void fin_package(struct fin *f, struct dkms_conf *c)
{
	static const char *const req[][2] = { { "PACKAGE_NAME", "<name>" },
					      { "PACKAGE_VERSION", "<version>" } };
	for (size_t k = 0; k < ARRAY_SIZE(req); k++) {
		if (*el(f, req[k][0], 0))
			continue;
		unsigned line = fin_line(f, req[k][0], 0);
		fin_dkms(f, "No '%s' directive specified.", req[k][0]);
		if (line)
			fin_err(f, FIN_DETAIL, line, "%s is empty; set %s=\"%s\"", req[k][0], req[k][0], req[k][1]);
		else
			fin_err(f, FIN_DETAIL, 0, "no %s directive; add %s=\"%s\"", req[k][0], req[k][0], req[k][1]);
	}
	c->package_name = xstrdup(el(f, "PACKAGE_NAME", 0));
	c->package_version = xstrdup(el(f, "PACKAGE_VERSION", 0));
	c->pre_build = el_dup_or_null(f, "PRE_BUILD");
	c->post_build = el_dup_or_null(f, "POST_BUILD");
	c->post_add = el_dup_or_null(f, "POST_ADD");
	c->pre_install = el_dup_or_null(f, "PRE_INSTALL");
	c->post_install = el_dup_or_null(f, "POST_INSTALL");
	c->post_remove = el_dup_or_null(f, "POST_REMOVE");
	c->obsolete_by = el_dup_or_null(f, "OBSOLETE_BY");
}

int dkms_conf_finish(const struct conf_vars *vars, const char *path, const struct conf_finish_opts *o,
		     const struct rk_log *log, struct dkms_conf **ret)
{
	static const struct conf_finish_opts none;
	struct fin f = { .v = vars, .path = path ? path : "dkms.conf", .o = o ? o : &none, .log = log };
	if (path && read_file(path, &f.text, NULL) < 0)
		f.text = NULL;
	struct dkms_conf *c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(f.path);
	fin_package(&f, c);
	fin_modules(&f, c);
	fin_make(&f, c);
	fin_patches(&f, c);
	fin_flags(&f, c);
	fin_exclusive(&f, c);
	free(f.text);
	free(f.kconfig);
	if (f.errors) {
		dkms_conf_free(c);
		return -EINVAL;
	}
	*ret = c;
	return 0;
}

void dkms_conf_free(struct dkms_conf *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_modules; i++) {
		struct dkms_module *m = &c->modules[i];
		free(m->built_name);
		free(m->built_location);
		free(m->dest_name);
		free(m->dest_location);
		free(m->dest_location_conf);
	}
	free(c->modules);
	free(c->path);
	free(c->package_name);
	free(c->package_version);
	free(c->make_command);
	free(c->clean);
	free(c->pre_build);
	free(c->post_build);
	free(c->post_add);
	free(c->pre_install);
	free(c->post_install);
	free(c->post_remove);
	free(c->obsolete_by);
	strv_free(c->build_depends);
	strv_free(c->patches);
	strv_free(c->deprecated);
	free(c);
}
