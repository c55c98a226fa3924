/*
 * evctl_ui_exec: `evctl ui` as evctl itself runs it, by handing the
 * whole command line to evctl-ui.
 *
 * Why a second program. The dashboard's HTTP server is libevent's evhttp,
 * and Debian's libevent is linked with BIND_NOW: linked into evctl, its
 * 460 symbol relocations were resolved at the start of every evctl call,
 * for the one verb that serves HTTP (a call went from 262k instructions
 * to 587k, 70% of them in the dynamic linker). evctl-ui is evctl built
 * with the real verb_ui (evctl_ui.c) and libevent; evctl is built with
 * this one and without libevent. The options were parsed here already,
 * and are parsed again there from the same argv, so errors, output and
 * exit statuses are evctl's own.
 *
 * Where it is. Next to the running evctl first (a build tree, or a
 * relocated install), then in evd's libexec directory (EVCTL_UI_DIR,
 * fixed at build time). Both are as trusted as evctl itself: whoever can
 * write there can replace evctl too. EVCTL_UI_EXEC, set across the exec,
 * stops a loop if what was found is this program again.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evctl.h"

#ifndef EVCTL_UI_DIR
#error "EVCTL_UI_DIR: the directory evctl-ui is installed in"
#endif

#define UI_PROGRAM "evctl-ui"
#define UI_LOOP_ENV "EVCTL_UI_EXEC"

/* Tries dir/evctl-ui; returns only if it could not be run, with errno. */
static void
ui_exec_in(const char *dir, size_t dirlen, char **argv)
{
	char path[PATH_MAX];
	int n;

	n = snprintf(path, sizeof(path), "%.*s/%s", (int)dirlen, dir,
		     UI_PROGRAM);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return;
	}
	execv(path, argv);
}

int
verb_ui(struct ctl *x)
{
	char self[PATH_MAX], *slash;
	ssize_t n;
	int e = ENOENT;

	if (getenv(UI_LOOP_ENV) != NULL) {
		ctl_warnx("ui: %s is not built with the dashboard "
			  "(it handed it back to itself)", UI_PROGRAM);
		return EXIT_UNREACHABLE;
	}
	if (setenv(UI_LOOP_ENV, "1", 1) < 0) {
		ctl_warnx("ui: %s", strerror(errno));
		return EXIT_UNREACHABLE;
	}
	/* Its own connection: ours is close-on-exec (libevclient). */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			ui_exec_in(self, (size_t)(slash - self), x->argv);
			e = errno;
		}
	}
	if (e == ENOENT) {
		ui_exec_in(EVCTL_UI_DIR, strlen(EVCTL_UI_DIR), x->argv);
		e = errno;
	}
	ctl_warnx("ui: cannot run %s (next to evctl, or in %s): %s",
		  UI_PROGRAM, EVCTL_UI_DIR, strerror(e));
	return EXIT_UNREACHABLE;
}
