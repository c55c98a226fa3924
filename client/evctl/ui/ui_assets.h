/*
 * ui_assets: the dashboard's files (client/evctl/ui/index.html, ui.js,
 * ui.css), compiled into evctl by embed.cmake so that `evctl ui` needs
 * nothing from an install path. Read-only, static storage; the table
 * ends with a row whose path is NULL.
 */
#ifndef EVD_UI_ASSETS_H
#define EVD_UI_ASSETS_H

#include <stddef.h>

struct ui_asset {
	const char *path; /* as requested: "/index.html", "/ui.js" */
	const char *type; /* its Content-Type */
	const unsigned char *data;
	size_t size;
};

extern const struct ui_asset ui_assets[];

#endif
