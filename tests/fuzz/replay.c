/*
 * replay: the main() of a fuzz target built without libFuzzer.
 *
 * Runs LLVMFuzzerTestOneInput once over every regular file of each
 * directory (sorted by name, not recursing) or file named on the command
 * line, so the corpus and every crash input added to it replay as an
 * ordinary test under any compiler and sanitizer. Each input sits in a
 * heap block of exactly its size, as under libFuzzer, so that ASan sees a
 * read one byte past it. Exits 0, or 1 when an input or path cannot be
 * read or no input was found (an empty corpus is a packaging mistake,
 * not a pass); a crash in the target is its own exit.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Reads path whole into a block of exactly its size. Returns 0 or -errno. */
static int
replay_read(const char *path, uint8_t **ret, size_t *ret_len)
{
	uint8_t *buf = NULL, *p;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd, r = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	for (;;) {
		if (len == cap) {
			cap = cap == 0 ? 4096 : 2 * cap;
			if ((p = realloc(buf, cap)) == NULL) {
				r = -ENOMEM;
				goto out;
			}
			buf = p;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	/* Exactly len bytes (one for an empty input, which is not read). */
	if ((p = realloc(buf, len == 0 ? 1 : len)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	*ret = p;
	*ret_len = len;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return r;
}

static int
replay_file(const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int r;

	if ((r = replay_read(path, &data, &len)) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(-r));
		return r;
	}
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	return 0;
}

static int
replay_filter(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Returns the number of inputs run, or -errno. */
static long
replay_path(const char *path)
{
	char file[PATH_MAX];
	struct dirent **names;
	struct stat st;
	long count = 0;
	int i, n, r = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path) < 0 ? -EIO : 1;
	if ((n = scandir(path, &names, replay_filter, alphasort)) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	for (i = 0; i < n; i++) {
		if (r == 0 &&
		    snprintf(file, sizeof file, "%s/%s", path,
		             names[i]->d_name) < (int)sizeof file &&
		    stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(file) < 0)
				r = -EIO;
			else
				count++;
		}
		free(names[i]);
	}
	free(names);
	return r < 0 ? r : count;
}

int
main(int argc, char **argv)
{
	long total = 0, n;
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		if ((n = replay_path(argv[i])) < 0)
			return 1;
		total += n;
	}
	if (total == 0) {
		fprintf(stderr, "replay: no input found\n");
		return 1;
	}
	printf("replay: %ld inputs, no crash\n", total);
	return 0;
}
