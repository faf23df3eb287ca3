/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What a person sees: errors, the library's log, status lines and JSON, and
 * the live display of sync's builds on a terminal. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "output.h"

void err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "\nError! "); /* dkms 3.x: a blank line before every error */
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---- the live display of sync on a terminal: one line per running build ---- */
#define LIVE_MAX 64
struct live_job {
	char name[320];
	struct timespec start;
};
struct live_row { /* a finished build, for the final table */
	char mv[256], kernel[256], result[32];
	double seconds;
};
static struct {
	bool on;
	struct live_job run[LIVE_MAX];
	size_t n_run;
	unsigned drawn; /* lines on the screen below the cursor's line, to erase */
	struct live_row *rows;
	size_t n_rows;
} live;

/* $NAME if it is a positive number, else 0 */
static unsigned env_number(const char *name)
{
	const char *s = getenv(name);
	char *end;
	long n = s ? strtol(s, &end, 10) : 0;
	return s && *s && *end == '\0' && n > 0 && n < 100000 ? (unsigned)n : 0;
}

static struct winsize tty_size(void)
{
	struct winsize ws = { 0 };
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0)
		memset(&ws, 0, sizeof(ws));
	return ws;
}

unsigned term_columns(void)
{
	unsigned n = env_number("COLUMNS");
	if (!n)
		n = tty_size().ws_col;
	return n ? n : 80;
}

static unsigned term_rows(void)
{
	unsigned n = env_number("LINES");
	if (!n)
		n = tty_size().ws_row;
	return n ? n : 24;
}

size_t fit_line(char *line, unsigned cols)
{
	size_t chars = 0, i = 0;
	for (; line[i]; i++) {
		if (((unsigned char)line[i] & 0xc0) == 0x80) /* a UTF-8 continuation byte */
			continue;
		if (++chars > (cols > 1 ? cols - 1 : 1))
			break;
	}
	line[i] = '\0';
	return i;
}

static void live_erase(void)
{
	if (live.drawn)
		printf("\033[%uA\033[J", live.drawn);
	live.drawn = 0;
}

/* "  building NAME  12.3s": NAME padded to 60 and cut (with "...") to fit */
static void job_line(char *line, size_t size, const struct live_job *job, const struct timespec *now,
		     unsigned cols)
{
	double secs = (double)(now->tv_sec - job->start.tv_sec) + (double)(now->tv_nsec - job->start.tv_nsec) / 1e9;
	int room = (int)cols - 1 - (int)strlen("  building ") - (int)strlen(" 0000.0s");
	if (room < 8)
		room = 8;
	char name[sizeof(job->name)];
	snprintf(name, sizeof(name), "%s", job->name);
	if (strlen(name) > (size_t)room)
		memcpy(name + room - 3, "...", 4);
	snprintf(line, size, "  building %-*s %6.1fs", room < 60 ? room : 60, name, secs);
	fit_line(line, cols);
}

static void live_draw(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	unsigned cols = term_columns(), rows = term_rows();
	/* at most a screen, less the cursor's line and a "... more" line */
	size_t shown = live.n_run, max = rows > 3 ? rows - 2 : 1;
	if (shown > max)
		shown = max;
	char line[512];
	live_erase();
	for (size_t i = 0; i < shown; i++) {
		job_line(line, sizeof(line), &live.run[i], &now, cols);
		printf("%s\n", line);
		live.drawn++;
	}
	if (shown < live.n_run) {
		snprintf(line, sizeof(line), "  ... and %zu more", live.n_run - shown);
		fit_line(line, cols);
		printf("%s\n", line);
		live.drawn++;
	}
	fflush(stdout);
}

static void live_add_row(const struct rekmod_job_info *j)
{
	struct live_row *rows = realloc(live.rows, (live.n_rows + 1) * sizeof(*rows));
	if (!rows)
		return;
	live.rows = rows;
	struct live_row *r = &rows[live.n_rows++];
	snprintf(r->mv, sizeof(r->mv), "%s/%s", j->module, j->version);
	snprintf(r->kernel, sizeof(r->kernel), "%s", j->kernel);
	if (j->result == 0)
		snprintf(r->result, sizeof(r->result), "installed");
	else if (j->result == 77)
		snprintf(r->result, sizeof(r->result), "skipped");
	else
		snprintf(r->result, sizeof(r->result), "failed (%d)", j->result);
	r->seconds = j->seconds;
}

void live_progress(void *userdata, enum rekmod_job_event ev, const struct rekmod_job_info *j)
{
	char name[sizeof(live.run[0].name)];
	if (j)
		snprintf(name, sizeof(name), "%s/%s for %s (%s)", j->module, j->version, j->kernel, j->arch);
	if (ev == REKMOD_JOB_STARTED && live.n_run < LIVE_MAX) {
		snprintf(live.run[live.n_run].name, sizeof(live.run[0].name), "%s", name);
		clock_gettime(CLOCK_MONOTONIC, &live.run[live.n_run].start);
		live.n_run++;
	} else if (ev == REKMOD_JOB_FINISHED) {
		for (size_t i = 0; i < live.n_run; i++) {
			if (strcmp(live.run[i].name, name) != 0)
				continue;
			live.run[i] = live.run[--live.n_run];
			break;
		}
		live_add_row(j);
	}
	live_draw();
}

bool live_start(void)
{
	live.on = isatty(STDOUT_FILENO);
	return live.on;
}

static int widest(size_t offset, const char *header)
{
	size_t w = strlen(header);
	for (size_t i = 0; i < live.n_rows; i++) {
		size_t n = strlen((const char *)&live.rows[i] + offset);
		if (n > w)
			w = n;
	}
	return (int)w;
}

/* The finished builds, each column as wide as its longest entry. */
static void live_table(void)
{
	int wm = widest(offsetof(struct live_row, mv), "module/version");
	int wk = widest(offsetof(struct live_row, kernel), "kernel");
	int wr = widest(offsetof(struct live_row, result), "result");
	printf("%-*s %-*s %-*s %7s\n", wm, "module/version", wk, "kernel", wr, "result", "time");
	for (size_t i = 0; i < live.n_rows; i++) {
		const struct live_row *r = &live.rows[i];
		printf("%-*s %-*s %-*s %6.1fs\n", wm, r->mv, wk, r->kernel, wr, r->result, r->seconds);
	}
}

void live_finish(void)
{
	live_erase();
	if (live.n_rows)
		live_table();
	free(live.rows);
	live.rows = NULL;
	live.n_rows = 0;
	live.on = false;
}

static bool startswith_error(const char *msg)
{
	return strncmp(msg, "Error! ", 7) == 0;
}

void out_log(void *userdata, int priority, const char *msg)
{
	const struct out_log_filter *filter = userdata;
	if (priority > filter->max_priority)
		return;
	FILE *f = priority <= LOG_WARNING ? stderr : stdout;
	unsigned redraw = live.drawn;
	if (redraw)
		live_erase();
	if (priority <= LOG_WARNING)
		fflush(stdout);
	/* dkms 3.x: a blank line before every "Error! ..." */
	fprintf(f, "%s%s\n", startswith_error(msg) ? "\n" : "", msg);
	if (priority <= LOG_WARNING)
		fflush(stderr);
	if (redraw)
		live_draw();
}

void out_sync_result(FILE *f, const struct rekmod_sync_result *res)
{
	fprintf(f, "rekmod sync: %u built, %u installed, %u failed, %u skipped, %u removed, %u waiting for headers\n",
		res->built, res->installed, res->failed, res->skipped, res->removed, res->waiting);
}

/* ---- status ---- */
static void signature_line(struct rekmod_ctx *ctx, const struct rekmod_status *s)
{
	char *signer = NULL, *sig_key = NULL;
	if ((s->state == REKMOD_BUILT || s->state == REKMOD_INSTALLED) &&
	    rekmod_status_signature(ctx, s, &signer, &sig_key) == 0) {
		if (signer)
			printf("    signed by \"%s\", key %s\n", signer, sig_key ? sig_key : "?");
		else
			printf("    not signed\n");
	}
	free(signer);
	free(sig_key);
}

void out_status(struct rekmod_ctx *ctx, const struct rekmod_status *s, size_t n, bool quiet, bool verbose)
{
	for (size_t j = 0; j < n; j++) {
		if (s[j].state == REKMOD_OPTOUT && !verbose)
			continue; /* not dkms's: plain status stays dkms's */
		char *line = rekmod_status_format(&s[j]);
		if (!quiet) { /* no format to parse: status prints a line per entry, in loops */
			fputs(line, stdout);
			putchar('\n');
		}
		free(line);
		/* the dkms line stays byte-exact for parsers; --verbose adds the signature */
		if (verbose && !quiet)
			signature_line(ctx, &s[j]);
		if (s[j].state == REKMOD_BROKEN && !quiet) {
			fflush(stdout);
			fprintf(stderr,
				"\nError! %s/%s: Missing the module source directory or the symbolic link "
				"pointing to it.\nManual intervention is required!\n",
				s[j].module, s[j].version);
		}
	}
}

/* ---- the signing key and Secure Boot (status --verbose, doctor) ---- */
const char *key_source_text(enum rekmod_key_source s)
{
	static const char *const t[] = {
		[REKMOD_KEY_CONFIGURED] = "framework.conf mok_signing_key/mok_certificate",
		[REKMOD_KEY_SHIM] = "the distribution's shim-signed MOK",
		[REKMOD_KEY_GENERATED] = "generated by dkms/rekmod",
	};
	return t[s];
}

static const char *enrolment_text(enum rekmod_enrolment e)
{
	static const char *const t[] = {
		[REKMOD_ENROL_UNKNOWN] = "unknown (no mokutil, or no certificate yet)",
		[REKMOD_ENROL_NO] = "no",
		[REKMOD_ENROL_PENDING] = "pending (confirm in MokManager at the next boot)",
		[REKMOD_ENROL_YES] = "yes",
	};
	return t[e];
}

void out_signing(FILE *f, const struct rekmod_signing *s)
{
	fprintf(f, "Signing key: %s, certificate %s (%s)%s\n", s->key, s->cert, key_source_text(s->source),
		s->present ? "" : "; not created yet: the first signed build or rekmod generate_mok creates it");
	fprintf(f, "Secure Boot: %s; certificate enrolled: %s",
		s->secure_boot == 1 ? "enabled" : s->secure_boot == 0 ? "disabled" : "unknown",
		enrolment_text(s->enrolled));
	if (s->enrolled == REKMOD_ENROL_NO)
		fprintf(f, "; enroll it with: mokutil --import %s", s->cert);
	fputc('\n', f);
}

/* ---- status --json: one array; fields documented in the README ---- */
static void json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void json_str_or_null(const char *s)
{
	if (s)
		json_str(s);
	else
		printf("null");
}

static const char *state_name(enum rekmod_state st)
{
	static const char *const names[] = { "added", "built", "installed", "broken", "failed", "optout" };
	return names[st];
}

/* ", "signer": ..., "sig_key": ..." of a built or installed entry */
static void json_signature(struct rekmod_ctx *ctx, const struct rekmod_status *s)
{
	char *signer = NULL, *sig_key = NULL;
	rekmod_status_signature(ctx, s, &signer, &sig_key);
	printf(", \"signer\": ");
	json_str_or_null(signer);
	printf(", \"sig_key\": ");
	json_str_or_null(sig_key);
	free(signer);
	free(sig_key);
}

static const char *json_bool(bool b)
{
	return b ? "true" : "false";
}

void out_json_begin(bool *first)
{
	*first = true;
	printf("[");
}

void out_status_json(struct rekmod_ctx *ctx, const struct rekmod_status *s, size_t n, bool *first)
{
	for (size_t j = 0; j < n; j++) {
		printf("%s\n  {\"module\": ", *first ? "" : ",");
		*first = false;
		json_str(s[j].module);
		printf(", \"version\": ");
		json_str(s[j].version);
		printf(", \"kernel\": ");
		json_str_or_null(s[j].kernel);
		printf(", \"arch\": ");
		json_str_or_null(s[j].arch);
		printf(", \"state\": \"%s\", \"original_modules\": %s, \"differs\": %s, \"files_missing\": %s, "
		       "\"detail\": ",
		       state_name(s[j].state), json_bool(s[j].notes & REKMOD_NOTE_ORIGINAL),
		       json_bool(s[j].notes & REKMOD_NOTE_DIFFERS), json_bool(s[j].notes & REKMOD_NOTE_NOT_INSTALLED));
		json_str_or_null(s[j].detail);
		if (s[j].exit_code >= 0)
			printf(", \"exit_code\": %d, \"log\": ", s[j].exit_code);
		else
			printf(", \"exit_code\": null, \"log\": ");
		json_str_or_null(s[j].log);
		printf(", \"reused_from\": ");
		json_str_or_null(s[j].reused_from);
		json_signature(ctx, &s[j]);
		printf("}");
	}
}

void out_json_end(bool first)
{
	printf("%s]\n", first ? "" : "\n");
}

/* ---- doctor: one line per finding with its fix; --verbose: the facts ---- */
static void doctor_kernel_line(const struct rekmod_kernel_facts *k)
{
	printf("kernel %s: headers %s", k->kernel, k->headers ? "present" : "missing");
	if (!k->headers)
		printf(" (install %s)", k->headers_package);
	printf("; modules compressed: %s (from %s); signatures: %s", k->compression, k->compression_from,
	       k->requires_signatures	? "required"
	       : k->verifies_signatures ? "checked"
					: "not checked");
	if (k->verifies_signatures)
		printf(" (%s, %s)", k->sig_hash, k->sign_file ? k->sign_file : "no sign-file found");
	putchar('\n');
}

/* the problems; --verbose: the notes (class 0), each kernel's facts, the key */
void out_doctor(const struct rekmod_doctor_report *r, bool verbose)
{
	size_t problems = 0;
	for (size_t i = 0; i < r->n_findings; i++) {
		if (r->findings[i].cls == REKMOD_DOCTOR_NOTE)
			continue;
		problems++;
		printf("%s; fix: %s\n", r->findings[i].problem, r->findings[i].fix);
	}
	if (!verbose)
		return;
	for (size_t i = 0; i < r->n_findings; i++)
		if (r->findings[i].cls == REKMOD_DOCTOR_NOTE)
			printf("note: %s; %s\n", r->findings[i].problem, r->findings[i].fix);
	for (size_t i = 0; i < r->n_kernels; i++)
		doctor_kernel_line(&r->kernels[i]);
	out_signing(stdout, &r->signing);
	if (!problems)
		printf("Nothing needs action.\n");
}

static void json_field(const char *key, const char *value, bool comma)
{
	printf("%s\"%s\": ", comma ? ", " : "", key);
	json_str_or_null(value);
}

static void doctor_json_finding(const struct rekmod_finding *f)
{
	printf("    {\"class\": %u", f->cls);
	json_field("kind", f->kind, true);
	json_field("module", f->module, true);
	json_field("version", f->version, true);
	json_field("kernel", f->kernel, true);
	json_field("arch", f->arch, true);
	json_field("problem", f->problem, true);
	json_field("fix", f->fix, true);
	json_field("log", f->log, true);
	printf("}");
}

static void doctor_json_kernel(const struct rekmod_kernel_facts *k)
{
	printf("    {");
	json_field("kernel", k->kernel, false);
	printf(", \"headers\": %s, \"image\": %s", json_bool(k->headers), json_bool(k->image));
	json_field("headers_package", k->headers_package, true);
	json_field("compression", k->compression, true);
	json_field("compression_from", k->compression_from, true);
	printf(", \"verifies_signatures\": %s, \"requires_signatures\": %s", json_bool(k->verifies_signatures),
	       json_bool(k->requires_signatures));
	json_field("sig_hash", k->sig_hash, true);
	json_field("sign_file", k->sign_file, true);
	printf("}");
}

void out_doctor_json(const struct rekmod_doctor_report *r)
{
	static const char *const sources[] = { "configured", "shim", "generated" };
	static const char *const enrol[] = { "unknown", "no", "pending", "yes" };
	printf("{\"exit\": %u, \"findings\": [", r->classes);
	for (size_t i = 0; i < r->n_findings; i++) {
		printf("%s\n", i ? "," : "");
		doctor_json_finding(&r->findings[i]);
	}
	printf("%s], \"kernels\": [", r->n_findings ? "\n  " : "");
	for (size_t i = 0; i < r->n_kernels; i++) {
		printf("%s\n", i ? "," : "");
		doctor_json_kernel(&r->kernels[i]);
	}
	const struct rekmod_signing *sg = &r->signing;
	printf("%s], \"signing\": {\"source\": \"%s\"", r->n_kernels ? "\n  " : "", sources[sg->source]);
	json_field("key", sg->key, true);
	json_field("cert", sg->cert, true);
	printf(", \"present\": %s, \"secure_boot\": %s, \"enrolled\": \"%s\"}}\n", json_bool(sg->present),
	       sg->secure_boot == 1 ? "true" : sg->secure_boot == 0 ? "false" : "null", enrol[sg->enrolled]);
}

/* ---- log: the journal's last transactions (format: rekmod.h rekmod_journal_read) ---- */

/* the fields of one tab-separated line, in place; "-" is NULL */
static size_t tab_fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	for (char *save = NULL, *t = strtok_r(line, "\t", &save); t && n < max; t = strtok_r(NULL, "\t", &save))
		f[n++] = strcmp(t, "-") ? t : NULL;
	return n;
}

static void json_list(const char *csv)
{
	printf("[");
	char *copy = strdup(csv ? csv : "");
	size_t i = 0;
	for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save), i++) {
		printf("%s", i ? ", " : "");
		json_str(t);
	}
	free(copy);
	printf("]");
}

static void journal_head(char **f, size_t n, bool json, bool first)
{
	if (n < 7)
		return;
	if (!json) {
		printf("%s %s: %s %s; kernels %s; removed %s\n", f[1], f[2], f[3], f[4], f[5] ? f[5] : "-",
		       f[6] ? f[6] : "-");
		return;
	}
	printf("%s\n  {\"time\": ", first ? "" : "]},");
	json_str(f[1]);
	printf(", \"caller\": ");
	json_str(f[2]);
	printf(", \"verb\": ");
	json_str(f[3]);
	printf(", \"result\": ");
	json_str(f[4]);
	printf(", \"kernels\": ");
	json_list(f[5]);
	printf(", \"removed\": ");
	json_list(f[6]);
	printf(", \"jobs\": [");
}

static void journal_job(char **f, size_t n, bool json, bool first)
{
	if (n < 9)
		return;
	if (!json) {
		printf("  %s/%s %s %s: %s", f[1], f[2], f[3] ? f[3] : "-", f[4] ? f[4] : "-", f[5]);
		if (strcmp(f[6], "0"))
			printf(" (exit %s)", f[6]);
		printf(" in %ss%s%s%s%s\n", f[7], f[8] ? "; log: " : "", f[8] ? f[8] : "",
		       n > 9 && f[9] ? "; reused from " : "", n > 9 && f[9] ? f[9] : "");
		return;
	}
	static const char *const keys[] = { "module", "version", "kernel", "arch", "outcome" };
	printf("%s{", first ? "" : ", ");
	for (size_t i = 0; i < 5; i++) {
		printf("%s\"%s\": ", i ? ", " : "", keys[i]);
		json_str_or_null(f[i + 1]);
	}
	printf(", \"exit\": %d, \"seconds\": %s, \"log\": ", atoi(f[6]), f[7]);
	json_str_or_null(f[8]);
	printf(", \"reused_from\": ");
	json_str_or_null(n > 9 ? f[9] : NULL);
	printf("}");
}

void out_journal(char *text, long last, bool json)
{
	long records = 0, skip;
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : "")
		records += strncmp(l, "T\t", 2) == 0;
	skip = records > last ? records - last : 0;
	bool first_rec = true, first_job = true;
	if (json)
		printf("[");
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *f[10];
		bool head = strncmp(l, "T\t", 2) == 0;
		if (head && skip > 0) {
			skip--;
			continue;
		}
		if (!head && first_rec)
			continue; /* a job of a skipped record */
		size_t n = tab_fields(l, f, 10);
		if (head) {
			journal_head(f, n, json, first_rec);
			first_rec = false;
			first_job = true;
		} else {
			journal_job(f, n, json, first_job);
			first_job = false;
		}
	}
	if (json)
		printf("%s]\n", first_rec ? "" : "]}\n");
}
