/*
 * fuzz_importparse: the parsers of `evctl import`
 * (client/evctl/importparse.c), which read files other programs wrote.
 *
 * The input, as a C string (up to its first NUL), goes whole to the
 * unit file parser, the word splitter and the time span parser, and
 * line by line to the crontab line parser. Beyond not crashing: a
 * crontab entry has its expression and command, the parsed unit's
 * settings have a section, key and value and lines in order, and the
 * word list ends with NULL after its count.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "importparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_importparse: %s:%d: %s\n",       \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

static void
lines(char *text)
{
	struct cron_line l;
	char *nl;

	for (;;) {
		nl = strchr(text, '\n');
		if (nl != NULL)
			*nl = '\0';
		if (cron_line_parse(text, &l) == 0) {
			if (l.kind == CRON_ENTRY || l.kind == CRON_REBOOT)
				FUZZ_CHECK(l.expr != NULL && l.command != NULL);
			if (l.kind == CRON_ENV)
				FUZZ_CHECK(l.name != NULL && l.value != NULL &&
					   l.name[0] != '\0');
			if (l.kind == CRON_BAD)
				FUZZ_CHECK(l.why[0] != '\0');
		}
		cron_line_clear(&l);
		if (nl == NULL)
			return;
		text = nl + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct unit_file *u = NULL;
	char *text = malloc(size + 1), err[256];
	const char *why = NULL;
	char **w = NULL;
	size_t n = 0, i;
	int64_t ns;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (unit_file_parse(text, &u, err, sizeof(err)) == 0) {
		for (i = 0; i < u->n; i++) {
			FUZZ_CHECK(u->settings[i].section != NULL &&
				   u->settings[i].key != NULL &&
				   u->settings[i].value != NULL);
			FUZZ_CHECK(i == 0 || u->settings[i].line >
						 u->settings[i - 1].line);
		}
		unit_file_free(u);
	} else {
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	}
	if (unit_words(text, &w, &n, &why) == 0) {
		FUZZ_CHECK(w[n] == NULL);
		for (i = 0; i < n; i++)
			FUZZ_CHECK(w[i] != NULL);
		unit_words_free(w);
	} else {
		FUZZ_CHECK(why != NULL);
	}
	if (unit_timespan(text, &ns) == 0)
		FUZZ_CHECK(ns >= 0);
	lines(text);
	free(text);
	return 0;
}
