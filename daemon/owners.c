/*
 * owners: one uid space across the nodes of a cluster (see owners.h).
 */
#include "owners.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "log.h"

static struct {
	char *conninfo;
	char *node;
	PGconn *conn;
} O;

/*
 * Records name for uid unless a name is recorded, and returns the one
 * recorded. DO UPDATE (changing nothing), not DO NOTHING: it waits for
 * a node inserting the same uid at the same moment and returns that
 * node's row, where DO NOTHING would return nothing and a read in the
 * same statement would not see the row either (its snapshot is older):
 * both nodes would pass with two names.
 */
static const char owners_named_sql[] =
    "INSERT INTO evd.owners (uid, name, first_node)"
    " VALUES ($1::int8, $2::text, $3::text)"
    " ON CONFLICT (uid) DO UPDATE SET name = evd.owners.name"
    " RETURNING name";
/* A uid with no user here records nothing. */
static const char owners_none_sql[] =
    "SELECT name FROM evd.owners WHERE uid = $1::int8";

int
owners_open(const char *conninfo, const char *node)
{
	if ((O.conninfo = strdup(conninfo)) == NULL ||
	    (O.node = strdup(node)) == NULL) {
		owners_close();
		return -ENOMEM;
	}
	return 0;
}

static int
owners_connect(void)
{
	/* Bounded like the store's connections (a server gone silent is
	 * noticed in about 10 s) and each statement too: the user lookup
	 * thread waits for this, and every new uid waits for it. The
	 * conninfo's own values come after ours and win. */
	static const char *const kw[] = {
		"connect_timeout", "keepalives", "keepalives_idle",
		"keepalives_interval", "keepalives_count", "tcp_user_timeout",
		"options", "application_name", "client_encoding", "dbname",
		NULL };
	const char *val[] = { "2", "1", "5", "2", "3", "10000",
		              "-c statement_timeout=2000", "evd-owners", "UTF8",
		              O.conninfo, NULL };

	if (O.conn != NULL && PQstatus(O.conn) == CONNECTION_OK)
		return 0;
	PQfinish(O.conn);
	O.conn = PQconnectdbParams(kw, val, 1);
	if (O.conn == NULL || PQstatus(O.conn) != CONNECTION_OK) {
		log_warnx("cannot check owners in PostgreSQL: %s",
		          O.conn != NULL ? PQerrorMessage(O.conn)
		                         : "out of memory");
		PQfinish(O.conn);
		O.conn = NULL;
		return -EIO;
	}
	return 0;
}

/* The name recorded for uid (after recording name if there was none),
 * in a result to clear, or NULL. */
static PGresult *
owners_query(const char *uidbuf, const char *name)
{
	const char *params[3] = { uidbuf, name, O.node };

	return name != NULL
	           ? PQexecParams(O.conn, owners_named_sql, 3, NULL, params,
	                          NULL, NULL, 0)
	           : PQexecParams(O.conn, owners_none_sql, 1, NULL, params,
	                          NULL, NULL, 0);
}

int
owners_check(uid_t uid, const char *name, char *other, size_t othersize)
{
	char uidbuf[24];
	PGresult *res;
	const char *got;
	int r;

	if (O.conninfo == NULL || uid == 0)
		return 0;
	snprintf(uidbuf, sizeof uidbuf, "%u", (unsigned)uid);
	if ((r = owners_connect()) < 0)
		return r;
	res = owners_query(uidbuf, name);
	if (PQresultStatus(res) != PGRES_TUPLES_OK &&
	    PQstatus(O.conn) != CONNECTION_OK) {
		/* The connection went (a server restarted, a pooler's idle
		 * cut): once more on a new one. */
		PQclear(res);
		if ((r = owners_connect()) < 0)
			return r;
		res = owners_query(uidbuf, name);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_warnx("cannot check the owner of uid %u: %s", (unsigned)uid,
		          PQresultErrorMessage(res));
		PQclear(res);
		return -EIO;
	}
	if (PQntuples(res) == 0) {
		/* No user here, none recorded: nothing to disagree on. */
		PQclear(res);
		return 0;
	}
	got = PQgetvalue(res, 0, 0);
	if (name != NULL && strcmp(got, name) == 0) {
		PQclear(res);
		return 0;
	}
	/* Into error messages: printable ASCII only (a login name is). */
	snprintf(other, othersize, "%s", got);
	for (char *p = other; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	log_warnx("uid %u is %s here but %s to the cluster: its requests are "
	          "refused (cluster nodes must share one user database)",
	          (unsigned)uid, name != NULL ? name : "(no user)", got);
	PQclear(res);
	return -EPERM;
}

void
owners_close(void)
{
	PQfinish(O.conn);
	O.conn = NULL;
	free(O.conninfo);
	free(O.node);
	O.conninfo = NULL;
	O.node = NULL;
}
