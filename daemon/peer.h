/*
 * peer: who a connecting uid is, by name, looked up off the loop.
 *
 * A system instance runs hooks as their owners, and an owner is a name
 * as much as a uid: at fire time the name must still map to the uid
 * (exec.c), and a uid without a passwd entry gets no hooks at all (at(1):
 * "Userid not found - aborting job"). So the daemon learns the peer's
 * name when it connects, from NSS, which may be LDAP or sssd and may
 * hang: the lookups run in one resolver thread of their own, never on a
 * loop thread.
 *
 * A connection from a uid not looked up lately goes to the resolver
 * before it reaches its loop (conn_new), and is posted to that loop (as
 * SHARD_MSG_CONN) once its uid is known; until then the client's bytes
 * wait in the socket. Answers are cached per uid for PEER_TTL_S (a
 * missing entry for PEER_NEGATIVE_TTL_S), so a client that connects
 * often costs one lookup a minute.
 *
 * Only a system instance (evd running as root) resolves, and never root
 * itself; a user instance runs hooks for its own uid alone.
 *
 * Thread-safety: every function may be called from any loop thread.
 */
#ifndef EVD_PEER_H
#define EVD_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PEER_NAME_MAX 33 /* a login name (req_common.c) and its NUL */
#define PEER_TTL_S 60
#define PEER_NEGATIVE_TTL_S 5
/* Connections waiting for the resolver; past it, a connection goes on
 * unresolved (and may not schedule hooks) rather than wait. */
#define PEER_QUEUE_MAX 1024

enum peer_state {
	PEER_UNRESOLVED = 0, /* not asked: root, a user instance, or the
	                        resolver was full, failed or stopped */
	PEER_NAMED,          /* name is the uid's passwd entry */
	PEER_NO_ENTRY,       /* the uid has no passwd entry */
	PEER_REFUSED,        /* the check (peer_set_check) refused it: name
	                        is its name here ("" for none), other the
	                        one the check knows */
	PEER_UNCHECKED,      /* a check is set and could not run (its
	                        database, or the lookup, failed): refused
	                        until it can, never let through unchecked */
};

/* What the daemon knows of a peer; copied into each conn (and proxy). */
struct peer_id {
	enum peer_state state;
	char name[PEER_NAME_MAX];
	char other[PEER_NAME_MAX]; /* PEER_REFUSED */
};

/*
 * A check of each uid the resolver looked up, on the resolver thread:
 * fn(uid, its name or NULL for no entry, other, othersize) returns 0 to
 * accept, -EPERM to refuse (other: the name it knows), another -errno
 * when it cannot tell (PEER_UNCHECKED, asked again at the next
 * connection). With a check set, a uid the resolver has no checked
 * answer for (a lookup failed, the queue was full) is PEER_UNCHECKED
 * too: nobody reaches the loops unchecked. Set before connections are
 * accepted; cluster mode's owners_check (owners.h).
 */
typedef int (*peer_check_fn)(uid_t uid, const char *name, char *other,
                             size_t othersize);
void peer_set_check(peer_check_fn fn);

/* Starts the resolver thread, on a system instance only (else a no-op).
 * Call after the spawner's fork and before any connection is accepted.
 * Returns 0 or -errno. */
int peer_init(void);
/* Stops the resolver and closes the connections still waiting for it. A
 * lookup hung in NSS is abandoned, not waited for: returns false then
 * (its check function may still be running), else true. */
bool peer_shutdown(void);

/*
 * For conn_new on loop `loop`: if uid wants a lookup not yet cached,
 * takes fd (a fresh connection) and returns true; the resolver posts it
 * to loop as SHARD_MSG_CONN with `resolved` set once it knows the uid
 * (or closes it at shutdown). Returns false, fd untouched, when the
 * caller should go on now.
 */
bool peer_defer(int fd, uid_t uid, unsigned loop);

/* What is cached for uid (PEER_UNRESOLVED when nothing is, or the uid
 * is not looked up at all), into *ret. */
void peer_lookup(uid_t uid, struct peer_id *ret);

#endif
