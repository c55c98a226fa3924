/*
 * store_out: the per-uid output tally of the durable stores (see
 * store_out.h). Shared by store_sqlite.c and store_pg.c, which each
 * kept a copy.
 */
#include "store_out.h"

#include <errno.h>
#include <stdlib.h>

int
store_out_add(struct store_out *o, uid_t uid, int64_t bytes)
{
	struct store_out_entry *e;
	size_t i, cap;

	if (bytes == 0)
		return 0;
	for (i = 0; i < o->n; i++)
		if (o->e[i].uid == uid) {
			o->e[i].bytes += bytes;
			return 0;
		}
	if (o->n == o->cap) {
		cap = o->cap != 0 ? 2 * o->cap : 8;
		if ((e = realloc(o->e, cap * sizeof(*e))) == NULL)
			return -ENOMEM;
		o->e = e;
		o->cap = cap;
	}
	o->e[o->n].uid = uid;
	o->e[o->n].bytes = bytes;
	o->n++;
	return 0;
}

void
store_out_settle(struct store_out *pending, struct store_out *done)
{
	size_t i, keep = 0;

	for (i = 0; i < pending->n; i++)
		if (store_out_add(done, pending->e[i].uid,
				  pending->e[i].bytes) < 0)
			pending->e[keep++] = pending->e[i];
	pending->n = keep;
}

int
store_out_report(struct store_out *done, store_output_cb cb, void *arg)
{
	struct store_out_entry o;
	int r = 0;

	while (done->n > 0) {
		o = done->e[done->n - 1];
		done->n--;
		if (o.bytes != 0 && (r = cb(o.uid, o.bytes, arg)) < 0)
			break;
	}
	return r;
}

void
store_out_free(struct store_out *o)
{
	free(o->e);
	o->e = NULL;
	o->n = o->cap = 0;
}
