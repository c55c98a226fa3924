/*
 * fuzz_config: the configuration file parser (daemon/config.c) over
 * arbitrary file contents.
 *
 * Checked: a failed parse names a reason and leaves the caller's struct
 * alone (SIGHUP with a broken file keeps the running settings); a
 * successful one yields values that config_format prints and that read
 * back, key by key through config_set and as a whole file through
 * config_parse, to the same settings; config_load of the same bytes from
 * a file (a memfd) agrees with config_parse, and so does config_check
 * (evd --check-config: the first error it reports is config_load's);
 * merging with the defaults and diffing never misbehave.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_config: %s:%d: %s\n", __FILE__,  \
			        __LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

/* Every set key's value printed and read back gives the same value. */
static void
fuzz_round_trip(const struct config *c)
{
	char val[PATH_MAX + 64], again[PATH_MAX + 64], err[512];
	char *text = NULL;
	size_t text_len = 0;
	struct config one, whole;
	FILE *f;
	int k;

	if ((f = open_memstream(&text, &text_len)) == NULL)
		return;
	for (k = 0; k < CONFIG_NKEYS; k++) {
		if (!(c->set & CONFIG_BIT(k)))
			continue;
		config_format(c, k, val, sizeof val);
		config_init(&one);
		FUZZ_CHECK(config_set(&one, k, val, err, sizeof err) == 0);
		FUZZ_CHECK(one.set == CONFIG_BIT(k));
		config_format(&one, k, again, sizeof again);
		FUZZ_CHECK(strcmp(val, again) == 0);
		FUZZ_CHECK(config_diff(c, &one) == 0);
		fprintf(f, "%s = %s\n", config_key_name(k), val);
	}
	if (fclose(f) != 0) {
		free(text);
		return;
	}
	config_init(&whole);
	FUZZ_CHECK(config_parse("round-trip", text, text_len, &whole, err,
	                        sizeof err) == 0);
	FUZZ_CHECK(whole.set == c->set);
	FUZZ_CHECK(config_diff(c, &whole) == 0);
	free(text);
}

/* What config_check reported: how many, and the first. */
struct reports {
	int n;
	char first[512];
};

static void
report_cb(void *arg, const char *msg)
{
	struct reports *rep = arg;

	if (rep->n++ == 0)
		snprintf(rep->first, sizeof rep->first, "%s", msg);
}

/* config_load over the same bytes agrees with config_parse. */
static void
fuzz_load(const uint8_t *data, size_t size, int parsed,
          const struct config *c)
{
	char path[64], err[512];
	struct config loaded;
	size_t off = 0;
	ssize_t n;
	int fd, r;

	if ((fd = memfd_create("fuzz_config", MFD_CLOEXEC)) < 0)
		return;
	while (off < size) {
		if ((n = write(fd, data + off, size - off)) <= 0)
			goto out;
		off += (size_t)n;
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	memset(&loaded, 0xa5, sizeof loaded);
	err[0] = '\0';
	r = config_load(path, &loaded, err, sizeof err);
	if (size > CONFIG_FILE_MAX) {
		FUZZ_CHECK(r == -EFBIG && err[0] != '\0');
		goto out;
	}
	if (r == -EMFILE || r == -ENFILE || r == -ENOMEM)
		goto out;
	FUZZ_CHECK(r == parsed);
	if (r < 0)
		FUZZ_CHECK(err[0] != '\0');
	else
		FUZZ_CHECK(loaded.set == c->set &&
		           config_diff(c, &loaded) == 0);
	/* evd --check-config: every bad line, the first as config_load's. */
	{
		struct reports rep = { 0, "" };
		char why[512];
		struct config checked;

		r = config_check(path, &checked, why, sizeof why, report_cb,
		                 &rep);
		if (r == -EMFILE || r == -ENFILE || r == -ENOMEM)
			goto out;
		if (parsed == 0) {
			FUZZ_CHECK(r == 0 && rep.n == 0);
			FUZZ_CHECK(checked.set == c->set &&
			           config_diff(c, &checked) == 0);
		} else if (r > 0) {
			FUZZ_CHECK(rep.n == r);
			FUZZ_CHECK(strcmp(rep.first, err) == 0);
		} else {
			/* No configuration at all (a NUL byte). */
			FUZZ_CHECK(r == parsed && rep.n == 0);
		}
	}
out:
	close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c, untouched, merged;
	char err[512];
	int r;

	/* Bytes a failed parse must not change. */
	memset(&c, 0x5a, sizeof c);
	memcpy(&untouched, &c, sizeof c);
	memset(err, 'x', sizeof err);
	r = config_parse("fuzz.conf", (const char *)data, size, &c, err,
	                 sizeof err);
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL || r == -ENOMEM);
		FUZZ_CHECK(memcmp(&c, &untouched, sizeof c) == 0);
		FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL &&
		           err[0] != '\0');
	} else {
		FUZZ_CHECK(r == 0);
		FUZZ_CHECK((c.set & ~((1u << CONFIG_NKEYS) - 1)) == 0);
		fuzz_round_trip(&c);
		config_init(&merged);
		config_merge(&merged, &c);
		config_fill_defaults(&merged);
		FUZZ_CHECK(config_diff(&merged, &c) == 0);
	}
	fuzz_load(data, size, r, &c);
	return 0;
}
