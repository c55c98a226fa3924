/*
 * pgaddr: PostgreSQL connection targets resolved off the loop (see
 * pgaddr.h).
 */
#include "pgaddr.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* One server: host as the conninfo names it (NULL: libpq's default
 * socket), its numeric address (NULL: a socket path, or a name that
 * never resolved: then why says what the resolver said), a port (NULL:
 * libpq's default). */
struct target {
	char *host, *addr, *port, *why;
};

struct list {
	struct target v[PGADDR_MAX];
	size_t n;
};

/* What the conninfo said, split at its commas: host[i] with hostaddr[i]
 * (if given) and port[i] (one port serves every host). Immutable once
 * made, so the resolver thread reads it without a lock. */
struct spec {
	char **host, **hostaddr, **port;
	size_t nhost, nhostaddr, nport;
	bool passthrough; /* a service file names the host: libpq's */
	int refs;         /* under the pgaddr's lock */
};

struct shared {
	pthread_mutex_t lock;
	int refs;            /* the owner, and a running resolver */
	bool busy;           /* a resolver runs */
	struct list *answer; /* a newer list, not yet taken */
};

struct pgaddr {
	struct shared *sh;
	struct spec *spec;
	struct list *cur;
	long timeout_ms;
};

static int (*resolver)(const char *, const char *, const struct addrinfo *,
                       struct addrinfo **) = getaddrinfo;
static int running; /* resolver threads not yet ended (__atomic) */

int
pgaddr_resolvers(void)
{
	return __atomic_load_n(&running, __ATOMIC_ACQUIRE);
}

void
pgaddr_set_resolver(int (*fn)(const char *, const char *,
                              const struct addrinfo *, struct addrinfo **))
{
	resolver = fn != NULL ? fn : getaddrinfo;
}

static void
list_free(struct list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].host);
		free(l->v[i].addr);
		free(l->v[i].port);
		free(l->v[i].why);
	}
	free(l);
}

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
spec_free(struct spec *sp)
{
	if (sp == NULL)
		return;
	strv_free(sp->host, sp->nhost);
	strv_free(sp->hostaddr, sp->nhostaddr);
	strv_free(sp->port, sp->nport);
	free(sp);
}

/* s split at its commas, as libpq splits host, hostaddr and port. NULL
 * or "" is no list (n = 0). -ENOMEM. */
static int
split(const char *s, char ***ret, size_t *ret_n)
{
	size_t n = 1, k = 0;
	char **v;

	*ret = NULL;
	*ret_n = 0;
	if (s == NULL || *s == '\0')
		return 0;
	for (const char *p = s; *p != '\0'; p++)
		n += *p == ',';
	if ((v = calloc(n, sizeof(*v))) == NULL)
		return -ENOMEM;
	for (const char *p = s;; k++) {
		const char *e = strchr(p, ',');
		size_t len = e != NULL ? (size_t)(e - p) : strlen(p);

		if ((v[k] = strndup(p, len)) == NULL) {
			strv_free(v, k);
			return -ENOMEM;
		}
		if (e == NULL)
			break;
		p = e + 1;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* The last value of keyword name in kw/val, else the environment's. */
static const char *
kw_get(const char *const *kw, const char *const *val, const char *name,
       const char *env)
{
	const char *v = NULL;

	for (size_t i = 0; kw[i] != NULL; i++)
		if (strcmp(kw[i], name) == 0 && val[i] != NULL &&
		    val[i][0] != '\0')
			v = val[i];
	if (v == NULL && env != NULL && (v = getenv(env)) != NULL &&
	    v[0] == '\0')
		v = NULL;
	return v;
}

static bool
is_socket(const char *host)
{
	return host == NULL || host[0] == '\0' || host[0] == '/' ||
	       host[0] == '@';
}

static int
add(struct list *l, const char *host, const char *addr, const char *port,
    const char *why)
{
	struct target *t;

	if (l->n == PGADDR_MAX)
		return 0;
	t = &l->v[l->n];
	memset(t, 0, sizeof(*t));
	/* An empty list entry is libpq's default (socket, port). */
	if (host != NULL && host[0] == '\0')
		host = NULL;
	if (port != NULL && port[0] == '\0')
		port = NULL;
	if ((host != NULL && (t->host = strdup(host)) == NULL) ||
	    (addr != NULL && (t->addr = strdup(addr)) == NULL) ||
	    (port != NULL && (t->port = strdup(port)) == NULL) ||
	    (why != NULL && (t->why = strdup(why)) == NULL)) {
		free(t->host);
		free(t->addr);
		free(t->port);
		return -ENOMEM;
	}
	l->n++;
	return 0;
}

/* Whether l has address addr on port from index from on (a name may
 * resolve to one address twice). */
static bool
has(const struct list *l, size_t from, const char *addr, const char *port)
{
	for (size_t i = from; i < l->n; i++)
		if (l->v[i].addr != NULL && strcmp(l->v[i].addr, addr) == 0 &&
		    (l->v[i].port == NULL) == (port == NULL) &&
		    (port == NULL || strcmp(l->v[i].port, port) == 0))
			return true;
	return false;
}

/* Host i's addresses into l; a name that does not resolve gets one
 * target without an address, and its reason. */
static int
resolve_one(const struct spec *sp, size_t i, struct list *l)
{
	const char *host = sp->nhost > 0 ? sp->host[i] : NULL;
	const char *port = sp->nport == 0 ? NULL
	                   : sp->nport == 1 ? sp->port[0]
	                                    : sp->port[i];
	struct addrinfo hints = {0}, *res = NULL, *ai;
	char num[NI_MAXHOST];
	size_t first = l->n;
	int r, g;

	/* An empty hostaddr entry leaves its host to be resolved. */
	if (sp->nhostaddr > 0 && sp->hostaddr[i][0] != '\0')
		return add(l, host, sp->hostaddr[i], port, NULL);
	if (is_socket(host))
		return add(l, host, NULL, port, NULL);
	/* As libpq asks. */
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((g = resolver(host, NULL, &hints, &res)) != 0) {
		char why[256];

		snprintf(why, sizeof(why), "could not translate host name "
		         "\"%s\" to address: %s", host, gai_strerror(g));
		return add(l, host, NULL, port, why);
	}
	r = 0;
	for (ai = res; ai != NULL && r == 0; ai = ai->ai_next) {
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, num, sizeof(num),
		                NULL, 0, NI_NUMERICHOST) != 0 ||
		    has(l, first, num, port))
			continue;
		r = add(l, host, num, port, NULL);
	}
	freeaddrinfo(res);
	if (r == 0 && l->n == first)
		r = add(l, host, NULL, port, "no usable address");
	return r;
}

/* Every host of sp, in order; NULL: out of memory. */
static struct list *
resolve_all(const struct spec *sp)
{
	struct list *l = calloc(1, sizeof(*l));
	size_t n = sp->nhost > sp->nhostaddr ? sp->nhost : sp->nhostaddr;

	if (l == NULL)
		return NULL;
	if (n == 0 || sp->passthrough) {
		if (add(l, NULL, NULL, sp->passthrough || sp->nport == 0
		                           ? NULL : sp->port[0], NULL) < 0) {
			list_free(l);
			return NULL;
		}
		return l;
	}
	for (size_t i = 0; i < n; i++)
		if (resolve_one(sp, i, l) < 0) {
			list_free(l);
			return NULL;
		}
	return l;
}

static void
shared_unref(struct shared *sh, struct spec *sp)
{
	bool last_sh, last_sp;

	pthread_mutex_lock(&sh->lock);
	last_sh = --sh->refs == 0;
	last_sp = --sp->refs == 0;
	pthread_mutex_unlock(&sh->lock);
	if (last_sp)
		spec_free(sp);
	if (last_sh) {
		list_free(sh->answer);
		pthread_mutex_destroy(&sh->lock);
		free(sh);
	}
}

struct job {
	struct shared *sh;
	struct spec *spec;
};

static void *
resolve_thread(void *arg)
{
	struct job j = *(struct job *)arg;
	struct list *l;

	free(arg);
	l = resolve_all(j.spec);
	pthread_mutex_lock(&j.sh->lock);
	if (l != NULL) {
		list_free(j.sh->answer);
		j.sh->answer = l;
	}
	j.sh->busy = false;
	pthread_mutex_unlock(&j.sh->lock);
	shared_unref(j.sh, j.spec);
	__atomic_sub_fetch(&running, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* A name the new answer could not resolve keeps the addresses the
 * current list has for it: a resolver down for a moment must not take
 * away a server that still answers. */
static struct list *
merge_old(struct list *nl, const struct list *old)
{
	struct list *m;

	if (old == NULL)
		return nl;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return nl;
	for (size_t i = 0; i < nl->n; i++) {
		const struct target *t = &nl->v[i];
		bool kept = false;
		int r = 0;

		if (t->why != NULL && t->host != NULL)
			for (size_t k = 0; k < old->n && r == 0; k++) {
				const struct target *o = &old->v[k];

				if (o->addr == NULL || o->host == NULL ||
				    strcmp(o->host, t->host) != 0 ||
				    (o->port == NULL) != (t->port == NULL) ||
				    (o->port != NULL &&
				     strcmp(o->port, t->port) != 0))
					continue;
				kept = true;
				if (!has(m, 0, o->addr, t->port))
					r = add(m, t->host, o->addr, t->port,
					        NULL);
			}
		if (r == 0 && !kept)
			r = add(m, t->host, t->addr, t->port, t->why);
		if (r < 0) {
			list_free(m);
			return nl;
		}
	}
	list_free(nl);
	return m;
}

size_t
pgaddr_count(struct pgaddr *a)
{
	struct list *l;

	pthread_mutex_lock(&a->sh->lock);
	l = a->sh->answer;
	a->sh->answer = NULL;
	pthread_mutex_unlock(&a->sh->lock);
	if (l != NULL) {
		l = merge_old(l, a->cur);
		list_free(a->cur);
		a->cur = l;
	}
	return a->cur->n;
}

int
pgaddr_refresh(struct pgaddr *a)
{
	struct job *j;
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t t;
	bool names = false;
	int r;

	for (size_t i = 0; i < a->spec->nhost && !a->spec->passthrough; i++)
		names |= !is_socket(a->spec->host[i]) &&
		         (a->spec->nhostaddr == 0 ||
		          a->spec->hostaddr[i][0] == '\0');
	if (!names)
		return 0;
	pthread_mutex_lock(&a->sh->lock);
	if (a->sh->busy) {
		pthread_mutex_unlock(&a->sh->lock);
		return 0;
	}
	a->sh->busy = true;
	a->sh->refs++;
	a->spec->refs++;
	pthread_mutex_unlock(&a->sh->lock);
	if ((j = malloc(sizeof(*j))) == NULL) {
		r = ENOMEM;
		goto undo;
	}
	j->sh = a->sh;
	j->spec = a->spec;
	if ((r = pthread_attr_init(&attr)) != 0) {
		free(j);
		goto undo;
	}
	(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* Signals are the loop's: the thread inherits a full mask. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	__atomic_add_fetch(&running, 1, __ATOMIC_ACQ_REL);
	r = pthread_create(&t, &attr, resolve_thread, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r == 0)
		return 0;
	__atomic_sub_fetch(&running, 1, __ATOMIC_RELEASE);
	free(j);
undo:
	pthread_mutex_lock(&a->sh->lock);
	a->sh->busy = false;
	pthread_mutex_unlock(&a->sh->lock);
	shared_unref(a->sh, a->spec);
	return -r;
}

int
pgaddr_new(const char *const *kw, const char *const *val, struct pgaddr **ret,
           char *err, size_t errsize)
{
	const char *host = kw_get(kw, val, "host", "PGHOST");
	const char *hostaddr = kw_get(kw, val, "hostaddr", "PGHOSTADDR");
	const char *port = kw_get(kw, val, "port", "PGPORT");
	struct pgaddr *a;
	struct spec *sp;
	size_t n;

	*ret = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL ||
	    (a->sh = calloc(1, sizeof(*a->sh))) == NULL ||
	    (a->spec = sp = calloc(1, sizeof(*sp))) == NULL) {
		if (a != NULL)
			free(a->sh);
		free(a);
		snprintf(err, errsize, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&a->sh->lock, NULL);
	a->sh->refs = 1;
	sp->refs = 1;
	if (split(host, &sp->host, &sp->nhost) < 0 ||
	    split(hostaddr, &sp->hostaddr, &sp->nhostaddr) < 0 ||
	    split(port, &sp->port, &sp->nport) < 0) {
		pgaddr_free(a);
		snprintf(err, errsize, "out of memory");
		return -ENOMEM;
	}
	/* libpq's rules: hostaddr, if given, counts the servers; a host
	 * list beside it has as many entries; one port serves them all. */
	n = sp->nhostaddr > 0 ? sp->nhostaddr : sp->nhost;
	if ((sp->nhostaddr > 0 && sp->nhost > 0 && sp->nhost != n) ||
	    (sp->nport > 1 && sp->nport != (n > 0 ? n : 1))) {
		snprintf(err, errsize, "could not match %zu port numbers "
		         "and %zu host addresses to %zu hosts", sp->nport,
		         sp->nhostaddr, sp->nhost);
		pgaddr_free(a);
		return -EINVAL;
	}
	/* A service file may name hosts and ports that combine with
	 * these in ways only libpq knows: all of it is libpq's then. */
	sp->passthrough = kw_get(kw, val, "service", "PGSERVICE") != NULL;
	{
		const char *t = kw_get(kw, val, "connect_timeout",
		                       "PGCONNECT_TIMEOUT");
		long s = t != NULL ? strtol(t, NULL, 10) : 0;

		/* libpq: non-positive is none, and 1 would be too short. */
		a->timeout_ms = s <= 0 ? 0 : s < 2 ? 2000 : s * 1000;
	}
	if ((a->cur = resolve_all(sp)) == NULL) {
		pgaddr_free(a);
		snprintf(err, errsize, "out of memory");
		return -ENOMEM;
	}
	*ret = a;
	return 0;
}

void
pgaddr_free(struct pgaddr *a)
{
	if (a == NULL)
		return;
	list_free(a->cur);
	if (a->sh != NULL)
		shared_unref(a->sh, a->spec);
	else
		spec_free(a->spec);
	free(a);
}

int
pgaddr_params(struct pgaddr *a, size_t i, const char *const *kw,
              const char *const *val, const char **okw, const char **oval,
              size_t cap, char *err, size_t errsize)
{
	static const char *const ours[] = { "host", "hostaddr", "port" };
	const struct target *t;
	size_t n = 0;

	if (i >= a->cur->n)
		i = 0;
	t = &a->cur->v[i];
	if (t->addr == NULL && !is_socket(t->host)) {
		snprintf(err, errsize, "%s", t->why != NULL ? t->why
		                                            : "not resolved");
		return -ENOENT;
	}
	for (size_t k = 0; kw[k] != NULL; k++) {
		bool skip = !a->spec->passthrough;

		for (size_t o = 0; skip && o < 3; o++)
			if (strcmp(kw[k], ours[o]) == 0)
				goto next;
		if (n + 1 >= cap) {
			snprintf(err, errsize, "too many connection keywords");
			return -ENOSPC;
		}
		okw[n] = kw[k];
		oval[n++] = val[k];
next:;
	}
	if (n + 4 > cap) {
		snprintf(err, errsize, "too many connection keywords");
		return -ENOSPC;
	}
	if (t->host != NULL) {
		okw[n] = "host";
		oval[n++] = t->host;
	}
	if (t->addr != NULL) {
		okw[n] = "hostaddr";
		oval[n++] = t->addr;
	}
	if (t->port != NULL) {
		okw[n] = "port";
		oval[n++] = t->port;
	}
	okw[n] = NULL;
	oval[n] = NULL;
	return 0;
}

const char *
pgaddr_name(struct pgaddr *a, size_t i, char *buf, size_t size)
{
	const struct target *t;

	if (i >= a->cur->n)
		i = 0;
	t = &a->cur->v[i];
	if (t->addr != NULL && t->host != NULL &&
	    strcmp(t->addr, t->host) != 0)
		snprintf(buf, size, "%s (%s):%s", t->host, t->addr,
		         t->port != NULL ? t->port : "default port");
	else
		snprintf(buf, size, "%s:%s",
		         t->addr != NULL ? t->addr
		         : t->host != NULL ? t->host : "default socket",
		         t->port != NULL ? t->port : "default port");
	return buf;
}

size_t
pgaddr_find(struct pgaddr *a, const char *host, const char *hostaddr,
            const char *port)
{
	for (size_t i = 0; i < a->cur->n; i++) {
		const struct target *t = &a->cur->v[i];
		bool same = t->addr != NULL
		                ? hostaddr != NULL &&
		                          strcmp(t->addr, hostaddr) == 0
		                : t->host != NULL && host != NULL &&
		                          strcmp(t->host, host) == 0;

		if (same && (t->port == NULL || (port != NULL &&
		                                 strcmp(t->port, port) == 0)))
			return i;
	}
	return 0;
}

long
pgaddr_timeout_ms(const struct pgaddr *a)
{
	return a->timeout_ms;
}
