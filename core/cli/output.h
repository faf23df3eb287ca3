/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What a person sees: errors, the library's log, status lines and JSON, and
 * the live display of sync's builds on a terminal. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "rekmod.h"

/* "Error! ..." on stderr */
__attribute__((format(printf, 1, 2))) void err(const char *fmt, ...);

/* The library's log callback; userdata is a struct out_log_filter. Warnings
 * and errors go to stderr, the rest to stdout, around the live display. */
struct out_log_filter {
	int max_priority; /* lines of a higher (less urgent) priority are dropped */
};
void out_log(void *userdata, int priority, const char *msg);

/* status: dkms's lines (quiet: none; verbose: the signer of each build) */
void out_status(struct rekmod_ctx *ctx, const struct rekmod_status *s, size_t n, bool quiet, bool verbose);
/* status --verbose, doctor: which key signs, Secure Boot, enrolment (two lines) */
void out_signing(FILE *f, const struct rekmod_signing *s);
const char *key_source_text(enum rekmod_key_source s);
/* status --json: call out_json_begin, then out_status_json per list, then out_json_end */
void out_json_begin(bool *first);
void out_status_json(struct rekmod_ctx *ctx, const struct rekmod_status *s, size_t n, bool *first);
void out_json_end(bool first);

/* doctor: "<problem>; fix: <fix>" per finding (verbose: then each kernel's
 * facts and the signing key); --json: one object (README, "What is wrong?") */
void out_doctor(const struct rekmod_doctor_report *r, bool verbose);
void out_doctor_json(const struct rekmod_doctor_report *r);

/* sync's closing line "rekmod sync: N built, ..." */
void out_sync_result(FILE *f, const struct rekmod_sync_result *res);
/* rekmod log: the last `last` records of the journal's text (consumed), as lines or one JSON array */
void out_journal(char *text, long last, bool json);

/* The live display: one line per running build, cut to the terminal's
 * width; at the end a table of every finished build. live_start returns
 * false (and shows nothing) when stdout is no terminal. */
bool live_start(void);
void live_progress(void *userdata, enum rekmod_job_event ev, const struct rekmod_job_info *j);
void live_finish(void);

/* The terminal's width: $COLUMNS, else the tty's, else 80. */
unsigned term_columns(void);
/* Cuts line (no newline) to at most cols - 1 characters, so that it never
 * wraps; returns its length. */
size_t fit_line(char *line, unsigned cols);
