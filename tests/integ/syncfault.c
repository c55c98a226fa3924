/*
 * syncfault: an LD_PRELOAD shim for test_sync. fsync and fdatasync of a
 * file named *evd.db-wal consult the file named by EVD_SYNCFAULT at each
 * call: "delay MS" sleeps MS milliseconds first, "fail" fails with EIO;
 * no such file (or no variable) changes nothing. Everything else passes
 * straight to libc.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char wal_suffix[] = "evd.db-wal";

static int
is_wal(int fd)
{
	char link[64], target[PATH_MAX];
	size_t n = sizeof wal_suffix - 1;
	ssize_t len;

	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	len = readlink(link, target, sizeof target - 1);
	if (len < (ssize_t)n)
		return 0;
	target[len] = '\0';
	return strcmp(target + len - n, wal_suffix) == 0;
}

/* -1 (errno EIO) when the control file says fail. */
static int
fault(int fd)
{
	const char *ctl = getenv("EVD_SYNCFAULT");
	int saved = errno, ms = 0, n;
	char what[16];
	FILE *f;

	if (ctl == NULL || !is_wal(fd) || (f = fopen(ctl, "r")) == NULL) {
		errno = saved;
		return 0;
	}
	n = fscanf(f, "%15s %d", what, &ms);
	fclose(f);
	errno = saved;
	if (n >= 1 && strcmp(what, "fail") == 0) {
		errno = EIO;
		return -1;
	}
	if (n == 2 && strcmp(what, "delay") == 0 && ms > 0)
		usleep((useconds_t)ms * 1000);
	return 0;
}

int
fdatasync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");

	if (fault(fd) < 0)
		return -1;
	return real(fd);
}

int
fsync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");

	if (fault(fd) < 0)
		return -1;
	return real(fd);
}
