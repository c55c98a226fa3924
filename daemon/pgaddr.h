/*
 * pgaddr: the servers a PostgreSQL conninfo names, as connection targets
 * of one server each, their host names resolved off the loop.
 *
 * libpq resolves a host name inside PQconnectStartParams and
 * PQconnectPoll with a blocking getaddrinfo(), and applies
 * connect_timeout per host only when it does the waiting itself
 * (PQconnectdb). A reconnect on evd's loop must never wait, and a host
 * that swallows the SYN must not keep the next one from being tried, so
 * the store connects to one target at a time (a host, one of its
 * addresses, a port), hands libpq the address as a numeric hostaddr
 * (host stays, for TLS and .pgpass), bounds each attempt itself and goes
 * on to the next target.
 *
 * Names are resolved at pgaddr_new (start-up, which may wait) and again
 * by a thread of their own at pgaddr_refresh; an attempt uses the
 * newest complete answer, and a name that fails to resolve keeps the
 * addresses it had. A conninfo that names a service (a service file may
 * set hosts and ports) is passed through as one target libpq resolves
 * itself, on the loop.
 *
 * Thread-safety: an object belongs to one thread (its owner), which
 * makes every call; the resolver thread shares only the answer it
 * hands over, under the object's lock.
 */
#ifndef EVD_PGADDR_H
#define EVD_PGADDR_H

#include <stddef.h>

struct addrinfo;
struct pgaddr;

/* Targets in a list, at most (a name's addresses beyond it are left). */
#define PGADDR_MAX 64

/*
 * The targets of the connection keywords kw/val (NULL-terminated, as
 * PQconnectStartParams takes them without expand_dbname: a later
 * keyword wins over an earlier one). host, hostaddr and port lists
 * follow libpq's rules; PGHOST, PGHOSTADDR and PGPORT stand in for
 * keywords absent. Resolves the names now (blocking). 0 and *ret (the
 * caller's, pgaddr_free), or -ENOMEM, or -EINVAL with err set (a port
 * or hostaddr list that matches no host list).
 */
int pgaddr_new(const char *const *kw, const char *const *val,
               struct pgaddr **ret, char *err, size_t errsize);

/* Frees a; a resolve under way finishes on its own and is discarded.
 * NULL is ignored. */
void pgaddr_free(struct pgaddr *a);

/* How many targets there are (at least 1), taking the resolver's newer
 * answer first if it has one: an index is valid until the next call. */
size_t pgaddr_count(struct pgaddr *a);

/*
 * The keywords of an attempt at target i: kw/val without their host,
 * hostaddr and port, then the target's, into okw/oval (cap entries, the
 * NULL included; the strings stay a's or the caller's: valid until the
 * next pgaddr_count or pgaddr_free). 0; -ENOENT when i is a name that
 * never resolved (err says why: libpq would resolve it, waiting);
 * -ENOSPC when cap is too small.
 */
int pgaddr_params(struct pgaddr *a, size_t i, const char *const *kw,
                  const char *const *val, const char **okw,
                  const char **oval, size_t cap, char *err,
                  size_t errsize);

/* The target a connection libpq made by itself went to (PQhost,
 * PQhostaddr, PQport of it), or 0 when none matches. */
size_t pgaddr_find(struct pgaddr *a, const char *host, const char *hostaddr,
                   const char *port);

/* "host (address):port" of target i for messages, into buf. */
const char *pgaddr_name(struct pgaddr *a, size_t i, char *buf, size_t size);

/* The bound of one attempt from connect_timeout, in milliseconds, as
 * libpq reads it (at least 2 s); 0: none. */
long pgaddr_timeout_ms(const struct pgaddr *a);

/* Starts resolving the names again in the background, unless a resolve
 * is under way or there are no names. Never waits. 0, or -errno (the
 * thread could not start; the old answer stays). */
int pgaddr_refresh(struct pgaddr *a);

/* For tests: how many resolver threads have not ended yet. */
int pgaddr_resolvers(void);

/* For tests: the resolver's getaddrinfo (NULL: the libc's), whose
 * answers are freed with freeaddrinfo. Set it before any pgaddr exists. */
void pgaddr_set_resolver(int (*fn)(const char *node, const char *service,
                                   const struct addrinfo *hints,
                                   struct addrinfo **res));

#endif
