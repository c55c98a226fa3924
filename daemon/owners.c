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
 * Records name for uid unless a name is recorded, then says what is: one
 * statement, so two nodes that see a new uid at once agree on the first.
 * A uid with no user here ($2 NULL) records nothing.
 */
static const char owners_sql[] =
    "WITH ins AS (INSERT INTO evd.owners (uid, name, first_node)"
    " SELECT $1::int8, $2::text, $3::text WHERE $2::text IS NOT NULL"
    " ON CONFLICT (uid) DO NOTHING RETURNING name)"
    " SELECT name FROM ins UNION ALL"
    " SELECT name FROM evd.owners WHERE uid = $1::int8 LIMIT 1";

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
	static const char *const kw[] = { "connect_timeout", "application_name",
		                          "dbname", NULL };
	const char *val[] = { "2", "evd-owners", O.conninfo, NULL };

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

int
owners_check(uid_t uid, const char *name, char *other, size_t othersize)
{
	char uidbuf[24];
	const char *params[3] = { uidbuf, name, O.node };
	PGresult *res;
	const char *got;
	int r;

	if (O.conninfo == NULL || uid == 0)
		return 0;
	snprintf(uidbuf, sizeof uidbuf, "%u", (unsigned)uid);
	if ((r = owners_connect()) < 0)
		return r;
	res = PQexecParams(O.conn, owners_sql, 3, NULL, params, NULL, NULL, 0);
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
