/*
 * store: the table of store backends (see store.h). Adding a backend is
 * one more file and one more row here.
 */
#include "store.h"

#include <stddef.h>
#include <string.h>

static const struct store_backend *const store_backends[] = {
    &store_sqlite_backend,
    &store_memory_backend,
    &store_pg_backend,
};

const struct store_backend *
store_backend_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(store_backends) / sizeof(store_backends[0]);
	     i++) {
		if (strcmp(store_backends[i]->name, name) == 0)
			return store_backends[i];
	}
	return NULL;
}
