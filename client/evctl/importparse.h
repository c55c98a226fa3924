/*
 * importparse: the pure parts of `evctl import`: one crontab(5) line,
 * systemd unit files (systemd.syntax(7): sections, continuation lines,
 * quoting of a setting's words), systemd time spans (systemd.time(7))
 * and the hash that makes an imported timer's idempotency key.
 *
 * Pure: no I/O, no printing, no global state; strings returned are the
 * caller's (malloc'ed). Errors: negative errno (-ENOMEM, -EINVAL with a
 * reason where the struct has room for one). Reentrant.
 */
#ifndef EVD_IMPORTPARSE_H
#define EVD_IMPORTPARSE_H

#include <stddef.h>
#include <stdint.h>

/* What a crontab line is. */
enum cron_kind {
	CRON_SKIP,   /* blank or a comment */
	CRON_ENV,    /* NAME=value: name, value */
	CRON_ENTRY,  /* a timed command: expr, command, input */
	CRON_REBOOT, /* @reboot: command, input (evd has no such event) */
	CRON_BAD,    /* neither: why */
};

#define CRON_WHY_MAX 200

/*
 * One line, as cron reads it. expr: the five time fields joined by
 * single spaces, or the @word; checked by evd's calendar parser (a
 * field it refuses makes the line CRON_BAD). command: the text up to
 * the first '%' that no backslash escapes, "\%" read as '%' and "\\"
 * as '\'. input: the rest, what cron feeds the command's stdin, "\%"
 * read as '%', each further unescaped '%' a newline and a final newline
 * added; NULL without '%'. Both exactly as Debian's cron does it (see
 * cron_command). value: quotes
 * around the whole value removed, as cron does. Release with
 * cron_line_clear (also after a failure).
 */
struct cron_line {
	enum cron_kind kind;
	char *name, *value;
	char *expr;
	char *command;
	char *input;
	char why[CRON_WHY_MAX];
};

/* Reads line (no newline; a trailing '\r' is ignored) into *ret.
 * Returns 0 (the kind says what it was) or -ENOMEM. */
int cron_line_parse(const char *line, struct cron_line *ret);
void cron_line_clear(struct cron_line *l);

/* One setting of a unit file. section, key and value are owned by the
 * struct unit_file; line: where the setting starts (1-based). */
struct unit_setting {
	char *section; /* without brackets: "Timer", "Service" */
	char *key;
	char *value; /* continuation lines joined by a space; may be "" */
	unsigned line;
};

struct unit_file {
	struct unit_setting *settings; /* in file order */
	size_t n;
};

/*
 * Parses a unit file's text (NUL-terminated). Comments ('#', ';'),
 * blank lines and continuation lines (a trailing backslash) as
 * systemd.syntax(7) says. Returns 0, -ENOMEM, or -EINVAL with the line
 * and why in err (a setting outside a section, a line that is neither).
 * Release with unit_file_free (NULL is fine).
 */
int unit_file_parse(const char *text, struct unit_file **ret, char *err,
		    size_t errsize);
void unit_file_free(struct unit_file *u);

/*
 * Splits a setting's value into words as systemd does for ExecStart=,
 * Environment= and the like: whitespace separates words; "..." and '...'
 * quote; C escapes (\n \t \\ \" \' \s \xNN ...) are read. *ret_words is
 * a malloc'ed array of *ret_n malloc'ed words plus a NULL (free with
 * unit_words_free). Returns 0, -ENOMEM, or -EINVAL with *why set.
 */
int unit_words(const char *value, char ***ret_words, size_t *ret_n,
	       const char **why);
void unit_words_free(char **words);

/*
 * A systemd time span: "90", "5min", "1h 30min", "2 days", "1.5h",
 * "100ms" (units usec us µs msec ms seconds second sec s minutes minute
 * min m hours hour hr h days day d weeks week w months month M years
 * year y; a bare number is seconds; "infinity" is refused). Returns 0
 * or -EINVAL (also on overflow).
 */
int unit_timespan(const char *text, int64_t *ret_ns);

/* 64-bit FNV-1a over len bytes, continuing from h (start with
 * IMPORT_HASH_INIT): the stable hash in imported timers' keys. */
#define IMPORT_HASH_INIT UINT64_C(0xcbf29ce484222325)
uint64_t import_hash(uint64_t h, const void *data, size_t len);

#endif
