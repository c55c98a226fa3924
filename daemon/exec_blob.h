/*
 * exec_blob: the packed Exec (evd.proto) an exec timer carries, for the
 * modules that keep it but must not know protobuf. The scheduler and the
 * store treat the blob as opaque bytes; the two edits they make to it
 * (Retry clears its attempt; the store's schema-6 migration repairs its
 * strings) go through here, the one file of theirs that includes
 * evd.pb-c.h. exec.c and hook.c, which run the command, unpack it
 * themselves.
 *
 * Pure: no I/O, no logging. Unpacked blobs use the default allocator.
 */
#ifndef EVD_EXEC_BLOB_H
#define EVD_EXEC_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* An unpacked Exec. Owner: the caller of exec_blob_unpack. */
struct exec_blob;

/* Unpacks buf; NULL if it does not decode (or out of memory). */
struct exec_blob *exec_blob_unpack(const uint8_t *buf, size_t len);
/* Frees x (NULL is fine). */
void exec_blob_free(struct exec_blob *x);
/* Exec.on_failure, borrowed; NULL or "" when it has none. */
const char *exec_blob_on_failure(const struct exec_blob *x);
/* Replaces Exec.on_failure with name (malloc'ed; x takes it). */
void exec_blob_set_on_failure(struct exec_blob *x, char *name);
/* The message itself, for a generic walk over its string fields
 * (protobuf-c's descriptors); what the walk changes, x packs. */
ProtobufCMessage *exec_blob_message(struct exec_blob *x);
/* x packed into a malloc'ed buffer (at least one byte), or NULL. */
uint8_t *exec_blob_pack(const struct exec_blob *x, size_t *ret_len);

/*
 * buf with its attempt cleared (a run asked for by a person starts its
 * retries anew), in *ret (malloc'ed) and *ret_len. Returns 0, -EINVAL
 * (buf does not decode) or -ENOMEM; *ret untouched on failure.
 */
int exec_blob_clear_attempt(const uint8_t *buf, size_t len, uint8_t **ret,
                            size_t *ret_len);

#endif
