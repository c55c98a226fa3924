/*
 * owners: one uid space across the nodes of a cluster (issue 19's rule
 * for owners across machines).
 *
 * A timer's owner is a uid, and a uid is a number of one machine. Cluster
 * nodes on several machines must therefore share one user database
 * (LDAP or sssd, or passwd files kept the same), as NFS asks of the
 * machines that share it: then a uid is the same person on every node,
 * and isolation, quotas and grants, all by uid, hold across nodes
 * unchanged. This module checks the rule rather than trusting it: the
 * first node that sees a uid records its user name in evd.owners, and a
 * node that knows that uid by another name (or by none, where the table
 * has one) refuses its requests, naming both, instead of letting one
 * person reach another's timers.
 *
 * Root (uid 0) is root everywhere and never checked; nor are the uids of
 * a user instance (it serves one user). A uid that cannot be checked
 * (the database or the user lookup failed) is refused with UNAVAILABLE
 * until it can (peer.h, PEER_UNCHECKED): never let through unchecked.
 *
 * Thread-safety: owners_check runs on peer.c's resolver thread only (it
 * blocks on the database as NSS may); owners_open and owners_close at
 * start and stop, before and after that thread. Boundary module: logs.
 */
#ifndef EVD_OWNERS_H
#define EVD_OWNERS_H

#include <stddef.h>
#include <sys/types.h>

/* Remembers conninfo and this node's id (copied) for owners_check; the
 * connection is made when first needed. Returns 0 or -ENOMEM. */
int owners_open(const char *conninfo, const char *node);

/*
 * uid resolved here to name (NULL: it has no user here). Returns 0 when
 * the cluster agrees (or has not seen uid and name is NULL); -EPERM when
 * the cluster records another name for uid, that name in other (NUL
 * terminated, truncated to othersize); -EIO when the database could not
 * answer (logged; asked again next time).
 */
int owners_check(uid_t uid, const char *name, char *other, size_t othersize);

/* Closes the connection. */
void owners_close(void);

#endif
