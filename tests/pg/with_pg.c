/*
 * with_pg: runs a test command beside a throwaway PostgreSQL server, for
 * the shell tests that need one (pgfixture.h).
 *
 * usage: with_pg COMMAND [ARGS...]
 *
 * Starts the fixture, creates the database evdtest, and runs COMMAND
 * with EVD_TEST_PG set to a conninfo for it; stops the server by its pid
 * when COMMAND ends (or this runner is told to stop), and exits with
 * COMMAND's status. Without PostgreSQL it exits 77, as the fixture says
 * (EVD_REQUIRE_PG=1: a failure instead).
 *
 * Faults for COMMAND to inject, by signal to this runner (its pid in
 * EVD_TEST_PG_RUNNER): SIGUSR1 crashes the server (pg_ctl stop -m
 * immediate), SIGUSR2 starts it again on the same data and port. Both
 * are done in order, one at a time; COMMAND sees the result by polling
 * the server (a failure is reported on stderr).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pgfixture.h"

static volatile sig_atomic_t stop_signal, crash_asked, restart_asked;

static void
on_signal(int sig)
{
	stop_signal = sig;
}

static void
on_fault(int sig)
{
	if (sig == SIGUSR1)
		crash_asked = 1;
	else
		restart_asked = 1;
}

/* The faults COMMAND asked for, in order. */
static void
faults(struct pgfx *fx)
{
	char why[512];

	if (crash_asked) {
		crash_asked = 0;
		if (pgfx_crash(fx, why, sizeof(why)) < 0)
			fprintf(stderr, "with_pg: crash: %s\n", why);
	}
	if (restart_asked) {
		restart_asked = 0;
		if (pgfx_restart(fx, why, sizeof(why)) < 0)
			fprintf(stderr, "with_pg: restart: %s\n", why);
	}
}

int
main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct sigaction sf = { .sa_handler = on_fault };
	char why[512], ci[256], me[32];
	struct pgfx fx;
	pid_t pid;
	int r, status;

	if (argc < 2) {
		fprintf(stderr, "usage: with_pg COMMAND [ARGS...]\n");
		return 2;
	}
	r = pgfx_start(&fx, why, sizeof(why));
	if (r != 0) {
		fprintf(stderr, "with_pg: %s\n", why);
		return r == 77 ? 77 : 1;
	}
	if (pgfx_sql_quiet(&fx, "postgres", "CREATE DATABASE evdtest",
	                   "42P04") < 0) {
		pgfx_stop(&fx);
		return 1;
	}
	pgfx_conninfo(&fx, "evdtest", ci, sizeof(ci));
	snprintf(me, sizeof(me), "%ld", (long)getpid());
	if (setenv("EVD_TEST_PG", ci, 1) < 0 ||
	    setenv("EVD_TEST_PG_RUNNER", me, 1) < 0) {
		perror("with_pg: setenv");
		pgfx_stop(&fx);
		return 1;
	}
	/* ctest's timeout sends SIGTERM: stop the server on the way out. */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sf, NULL);
	sigaction(SIGUSR2, &sf, NULL);
	if ((pid = fork()) < 0) {
		perror("with_pg: fork");
		pgfx_stop(&fx);
		return 1;
	}
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGUSR1, SIG_DFL);
		signal(SIGUSR2, SIG_DFL);
		execvp(argv[1], argv + 1);
		fprintf(stderr, "with_pg: %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	/* Polled, so that no fault asked between a check and a blocking
	 * wait is left waiting for the next signal. */
	for (;;) {
		struct timespec ts = { 0, 20000000 };

		r = waitpid(pid, &status, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			break;
		if (stop_signal != 0) {
			kill(pid, stop_signal);
			stop_signal = 0;
		}
		faults(&fx);
		nanosleep(&ts, NULL);
	}
	pgfx_stop(&fx);
	if (r < 0) {
		perror("with_pg: waitpid");
		return 1;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	fprintf(stderr, "with_pg: %s killed by signal %d\n", argv[1],
	        WTERMSIG(status));
	return 1;
}
