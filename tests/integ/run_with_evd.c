/*
 * run_with_evd: runs a program against a harness-started evd, for the
 * examples' ctest entries:
 *
 *   run_with_evd PROGRAM [ARGS...]
 *
 * Starts evd in a temporary directory, exports EVD_SOCKET, replaces
 * every "@SOCK@" in ARGS by evd's socket and "@DIR@" by the directory,
 * runs PROGRAM, stops evd and exits with PROGRAM's status (1 if it did
 * not exit normally, 77 if evd could not start here).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char *
subst(const char *arg, const struct evd_proc *p)
{
	char buf[PATH_MAX * 2];
	const char *s = arg;
	size_t n = 0;

	while (*s != '\0' && n < sizeof(buf) - PATH_MAX) {
		if (strncmp(s, "@SOCK@", 6) == 0) {
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s",
					      p->sock);
			s += 6;
		} else if (strncmp(s, "@DIR@", 5) == 0) {
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s",
					      p->dir);
			s += 5;
		} else {
			buf[n++] = *s++;
		}
	}
	buf[n] = '\0';
	return strdup(buf);
}

int
main(int argc, char **argv)
{
	struct evd_proc p;
	char **args;
	int i, status;
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: run_with_evd PROGRAM [ARGS...]\n");
		return 2;
	}
	if (evd_start(&p, NULL) < 0) {
		fprintf(stderr, "run_with_evd: evd did not start\n");
		return 77;
	}
	setenv("EVD_SOCKET", p.sock, 1);
	args = calloc((size_t)argc, sizeof(*args));
	for (i = 1; i < argc; i++)
		args[i - 1] = subst(argv[i], &p);
	pid = fork();
	if (pid == 0) {
		execv(args[0], args);
		perror("run_with_evd: exec");
		_exit(127);
	}
	status = 1;
	if (pid > 0 && waitpid(pid, &status, 0) == pid)
		status = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	if (evd_stop(&p) != 0)
		status = status == 0 ? 1 : status;
	for (i = 0; i < argc - 1; i++)
		free(args[i]);
	free(args);
	return status;
}
