/*
 * exec_blob: the packed Exec, for its keepers (see exec_blob.h).
 */
#include "exec_blob.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "evd.pb-c.h"

struct exec_blob {
	Evd__Exec *x;
};

struct exec_blob *
exec_blob_unpack(const uint8_t *buf, size_t len)
{
	struct exec_blob *b;

	if ((b = malloc(sizeof *b)) == NULL)
		return NULL;
	if ((b->x = evd__exec__unpack(NULL, len, buf)) == NULL) {
		free(b);
		return NULL;
	}
	return b;
}

void
exec_blob_free(struct exec_blob *b)
{
	if (b == NULL)
		return;
	evd__exec__free_unpacked(b->x, NULL);
	free(b);
}

const char *
exec_blob_on_failure(const struct exec_blob *b)
{
	return b->x->on_failure;
}

void
exec_blob_set_on_failure(struct exec_blob *b, char *name)
{
	/* The default allocator is malloc: free_unpacked frees it. */
	free(b->x->on_failure);
	b->x->on_failure = name;
}

ProtobufCMessage *
exec_blob_message(struct exec_blob *b)
{
	return &b->x->base;
}

uint8_t *
exec_blob_pack(const struct exec_blob *b, size_t *ret_len)
{
	size_t len = evd__exec__get_packed_size(b->x);
	uint8_t *out;

	if ((out = malloc(len > 0 ? len : 1)) == NULL)
		return NULL;
	evd__exec__pack(b->x, out);
	*ret_len = len;
	return out;
}

int
exec_blob_clear_attempt(const uint8_t *buf, size_t len, uint8_t **ret,
                        size_t *ret_len)
{
	struct exec_blob *b;
	uint8_t *out;
	size_t n;

	if ((b = exec_blob_unpack(buf, len)) == NULL)
		return -EINVAL;
	b->x->has_attempt = false;
	b->x->attempt = 0;
	out = exec_blob_pack(b, &n);
	exec_blob_free(b);
	if (out == NULL)
		return -ENOMEM;
	*ret = out;
	*ret_len = n;
	return 0;
}
