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
 * Where it is. Next to the running evctl first (a build tree, where
 * evctl depends on it), then in evd's libexec directory (EVCTL_UI_DIR,
 * fixed at build time: an installed evctl). Both are as trusted as evctl
 * itself: whoever can write there can replace evctl too. EVCTL_UI_EXEC,
 * set across the exec, stops a loop if what was found is this program
 * again. evctl does not connect to evd first (ui is a local verb in its
 * table); evctl-ui does.
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

/* Runs dir/evctl-ui; returns only if it could not, with errno, and the
 * path it tried in path. */
static void
ui_exec_in(const char *dir, size_t dirlen, char **argv, char *path,
	   size_t size)
{
	int n;

	n = snprintf(path, size, "%.*s/%s", (int)dirlen, dir, UI_PROGRAM);
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return;
	}
	execv(path, argv);
}

int
verb_ui(struct ctl *x)
{
	char self[PATH_MAX], near[PATH_MAX], there[PATH_MAX], *slash;
	ssize_t n;
	int e_near = ENOENT, e;

	if (getenv(UI_LOOP_ENV) != NULL) {
		ctl_warnx("ui: %s is not built with the dashboard "
			  "(it handed it back to itself)", UI_PROGRAM);
		return EXIT_UNREACHABLE;
	}
	if (setenv(UI_LOOP_ENV, "1", 1) < 0) {
		ctl_warnx("ui: %s", strerror(errno));
		return EXIT_UNREACHABLE;
	}
	near[0] = '\0';
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			ui_exec_in(self, (size_t)(slash - self), x->argv, near,
				   sizeof(near));
			e_near = errno;
		}
	}
	/* Whatever kept the one beside evctl from running, the installed
	 * one may. */
	ui_exec_in(EVCTL_UI_DIR, strlen(EVCTL_UI_DIR), x->argv, there,
		   sizeof(there));
	e = errno;
	if (near[0] != '\0' && e_near != ENOENT)
		ctl_warnx("ui: cannot run %s: %s", near, strerror(e_near));
	ctl_warnx("ui: cannot run %s: %s", there, strerror(e));
	return EXIT_UNREACHABLE;
}
