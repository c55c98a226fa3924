/*
 * importparse: crontab lines, systemd unit files and time spans read for
 * `evctl import` (see importparse.h). Pure: no I/O, no printing.
 *
 * Compatibility notes, since these are other programs' formats:
 * - crontab(5) as Debian's cron and cronie read a user's crontab: an
 *   assignment is "NAME = value" (spaces allowed around '=', the value's
 *   quotes stripped) and is tried first; anything else with five time
 *   fields or an @word is an entry. The sixth column of /etc/crontab
 *   (the user) is not read here: callers refuse those files.
 * - systemd.syntax(7): settings may repeat; the caller decides what an
 *   empty value means (a reset of the list, for the keys where it does).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "importparse.h"

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

void
cron_line_clear(struct cron_line *l)
{
	free(l->name);
	free(l->value);
	free(l->expr);
	free(l->command);
	free(l->input);
	memset(l, 0, sizeof(*l));
}

static void __attribute__((format(printf, 2, 3)))
cron_bad(struct cron_line *l, const char *fmt, ...)
{
	va_list ap;

	l->kind = CRON_BAD;
	va_start(ap, fmt);
	vsnprintf(l->why, sizeof(l->why), fmt, ap);
	va_end(ap);
}

/* "NAME = value" (cron's load_env): 1 if it is one, 0 if not, -ENOMEM. */
static int
cron_env(const char *s, const char *end, struct cron_line *l)
{
	const char *n = s, *ne, *v, *ve;

	while (n < end && is_blank(*n))
		n++;
	for (ne = n; ne < end && *ne != '=' && !is_blank(*ne); ne++)
		;
	if (ne == n)
		return 0;
	for (v = ne; v < end && is_blank(*v); v++)
		;
	if (v == end || *v != '=')
		return 0;
	for (v++; v < end && is_blank(*v); v++)
		;
	for (ve = end; ve > v && is_blank(ve[-1]); ve--)
		;
	if (ve - v >= 2 && (*v == '\'' || *v == '"') && ve[-1] == *v) {
		v++;
		ve--;
	}
	l->name = strndup(n, (size_t)(ne - n));
	l->value = strndup(v, (size_t)(ve - v));
	if (l->name == NULL || l->value == NULL)
		return -ENOMEM;
	l->kind = CRON_ENV;
	return 1;
}

/*
 * The command and its stdin from the text after the time fields, as
 * Debian's cron (3.0pl1-162, do_command.c) splits them when it runs
 * the job:
 * - the command: a backslash before '%' or '\' is removed ("\%" is a
 *   '%', "\\" one '\'); one before anything else stays; the first '%'
 *   not so escaped ends it;
 * - its stdin, the rest: a backslash before '%' is removed and that '%'
 *   kept; one before anything else stays (so "\\%" is "\%"); every
 *   other '%' is a newline; a newline is added when the last character
 *   (not counting a backslash left at the very end) is not one.
 */
static int
cron_command(const char *s, const char *end, struct cron_line *l)
{
	size_t n = (size_t)(end - s);
	char *c, *in = NULL, *w;
	bool split = false, esc = false, need_nl = false;
	char ch;

	if ((c = malloc(n + 1)) == NULL || (in = malloc(n + 2)) == NULL) {
		free(c);
		return -ENOMEM;
	}
	w = c;
	for (; s < end; s++) {
		ch = *s;
		if (esc) {
			esc = false;
			if (ch == '%' || ch == '\\')
				w--; /* the backslash goes */
		} else if (ch == '\\') {
			esc = true;
		} else if (ch == '%') {
			split = true;
			s++;
			break;
		}
		*w++ = ch;
	}
	*w = '\0';
	w = in;
	for (esc = false; split && s < end; s++) {
		ch = *s;
		if (esc) {
			if (ch != '%')
				*w++ = '\\';
		} else if (ch == '%') {
			ch = '\n';
		}
		if (!(esc = ch == '\\')) {
			*w++ = ch;
			need_nl = ch != '\n';
		}
	}
	if (esc)
		*w++ = '\\';
	if (need_nl)
		*w++ = '\n';
	*w = '\0';
	l->command = c;
	if (split)
		l->input = in;
	else
		free(in);
	return 0;
}

int
cron_line_parse(const char *line, struct cron_line *l)
{
	const char *s = line, *end = line + strlen(line), *f, *cmd;
	char err[CALENDAR_ERROR_MAX], *e;
	struct calendar *cal;
	int i, r;

	memset(l, 0, sizeof(*l));
	if (end > s && end[-1] == '\r')
		end--;
	while (s < end && is_blank(*s))
		s++;
	if (s == end || *s == '#') {
		l->kind = CRON_SKIP;
		return 0;
	}
	if ((r = cron_env(s, end, l)) != 0)
		return r < 0 ? r : 0;
	if (*s == '@') {
		for (f = s; f < end && !is_blank(*f); f++)
			;
		cmd = f;
	} else {
		/* Five fields. */
		for (f = s, i = 0; i < 5; i++) {
			while (f < end && is_blank(*f))
				f++;
			if (f == end) {
				cron_bad(l, "%s",
					 i == 0 ? "not an entry"
						: "fewer than five time "
						  "fields");
				return 0;
			}
			while (f < end && !is_blank(*f))
				f++;
		}
		cmd = f;
	}
	if ((l->expr = malloc((size_t)(cmd - s) + 1)) == NULL)
		return -ENOMEM;
	/* The fields with single spaces between them. */
	for (e = l->expr, f = s; f < cmd; f++) {
		if (!is_blank(*f))
			*e++ = *f;
		else if (e > l->expr && e[-1] != ' ')
			*e++ = ' ';
	}
	*e = '\0';
	while (cmd < end && is_blank(*cmd))
		cmd++;
	if (cmd == end) {
		cron_bad(l, "no command after '%s'", l->expr);
		return 0;
	}
	if ((r = cron_command(cmd, end, l)) < 0)
		return r;
	if (strcmp(l->expr, "@reboot") == 0) {
		l->kind = CRON_REBOOT;
		return 0;
	}
	if ((r = calendar_parse(l->expr, &cal, err, sizeof(err))) < 0) {
		if (r == -ENOMEM)
			return r;
		cron_bad(l, "time fields '%s': %s", l->expr, err);
		return 0;
	}
	/* Five fields that are a systemd expression with spaces are not a
	 * cron line. */
	if (!calendar_is_cron(cal))
		cron_bad(l, "time fields '%s' are not cron syntax", l->expr);
	else
		l->kind = CRON_ENTRY;
	calendar_free(cal);
	return 0;
}

/* ---- unit files ---- */

void
unit_file_free(struct unit_file *u)
{
	size_t i;

	if (u == NULL)
		return;
	for (i = 0; i < u->n; i++) {
		free(u->settings[i].section);
		free(u->settings[i].key);
		free(u->settings[i].value);
	}
	free(u->settings);
	free(u);
}

static char *
trimmed(const char *s, const char *end)
{
	while (s < end && (is_blank(*s) || *s == '\r'))
		s++;
	while (end > s && (is_blank(end[-1]) || end[-1] == '\r'))
		end--;
	return strndup(s, (size_t)(end - s));
}

int
unit_file_parse(const char *text, struct unit_file **ret, char *err,
		size_t errsize)
{
	struct unit_file *u = calloc(1, sizeof(*u));
	char *section = NULL, *value = NULL, *key = NULL, *t;
	const char *p = text, *nl, *eq, *ls, *le;
	struct unit_setting *s;
	size_t cap = 0, vlen;
	unsigned lineno = 0, start;
	bool cont;
	int r = -ENOMEM;

	if (u == NULL)
		return -ENOMEM;
	while (*p != '\0') {
		nl = strchr(p, '\n');
		le = nl != NULL ? nl : p + strlen(p);
		ls = p;
		p = nl != NULL ? nl + 1 : le;
		lineno++;
		while (ls < le && (is_blank(*ls) || *ls == '\r'))
			ls++;
		if (ls == le || *ls == '#' || *ls == ';')
			continue;
		if (*ls == '[') {
			const char *rb = memchr(ls, ']', (size_t)(le - ls));

			if (rb == NULL) {
				snprintf(
				    err, errsize,
				    "line %u: a section header without ']'",
				    lineno);
				r = -EINVAL;
				goto fail;
			}
			free(section);
			if ((section = strndup(ls + 1,
					       (size_t)(rb - ls - 1))) == NULL)
				goto fail;
			continue;
		}
		eq = memchr(ls, '=', (size_t)(le - ls));
		if (eq == NULL || section == NULL) {
			snprintf(err, errsize, "line %u: %s", lineno,
				 eq == NULL ? "not KEY=VALUE"
					    : "a setting before any [Section]");
			r = -EINVAL;
			goto fail;
		}
		start = lineno;
		if ((key = trimmed(ls, eq)) == NULL ||
		    (value = trimmed(eq + 1, le)) == NULL)
			goto fail;
		/* Continuation lines: a trailing backslash becomes a space
		 * and the next line (comment lines inside are skipped). */
		for (;;) {
			vlen = strlen(value);
			cont = vlen > 0 && value[vlen - 1] == '\\';
			if (!cont || *p == '\0')
				break;
			value[vlen - 1] = ' ';
			nl = strchr(p, '\n');
			le = nl != NULL ? nl : p + strlen(p);
			ls = p;
			p = nl != NULL ? nl + 1 : le;
			lineno++;
			while (ls < le && is_blank(*ls))
				ls++;
			if (ls < le && (*ls == '#' || *ls == ';')) {
				value[vlen - 1] = '\\';
				continue;
			}
			t = trimmed(ls, le);
			if (t == NULL)
				goto fail;
			char *joined = malloc(vlen + strlen(t) + 1);

			if (joined == NULL) {
				free(t);
				goto fail;
			}
			memcpy(joined, value, vlen);
			strcpy(joined + vlen, t);
			free(t);
			free(value);
			value = joined;
		}
		vlen = strlen(value);
		while (vlen > 0 && is_blank(value[vlen - 1]))
			value[--vlen] = '\0';
		if (u->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;

			s = realloc(u->settings, ncap * sizeof(*s));
			if (s == NULL)
				goto fail;
			u->settings = s;
			cap = ncap;
		}
		s = &u->settings[u->n];
		if ((s->section = strdup(section)) == NULL)
			goto fail;
		s->key = key;
		s->value = value;
		s->line = start;
		key = value = NULL;
		u->n++;
	}
	free(section);
	*ret = u;
	return 0;
fail:
	free(section);
	free(key);
	free(value);
	unit_file_free(u);
	if (r == -ENOMEM && errsize > 0)
		snprintf(err, errsize, "out of memory");
	return r;
}

void
unit_words_free(char **words)
{
	char **w;

	if (words == NULL)
		return;
	for (w = words; *w != NULL; w++)
		free(*w);
	free(words);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One C escape after a backslash at *s; advances *s. -1: unknown. */
static int
unit_escape(const char **s)
{
	const char *p = *s;
	int v, h, l;

	switch (*p) {
	case 'a':
		v = '\a';
		break;
	case 'b':
		v = '\b';
		break;
	case 'f':
		v = '\f';
		break;
	case 'n':
		v = '\n';
		break;
	case 'r':
		v = '\r';
		break;
	case 't':
		v = '\t';
		break;
	case 'v':
		v = '\v';
		break;
	case 's':
		v = ' ';
		break;
	case '\\':
	case '"':
	case '\'':
		v = *p;
		break;
	case 'x':
		if ((h = hexval(p[1])) < 0 || (l = hexval(p[2])) < 0)
			return -1;
		v = h * 16 + l;
		p += 2;
		break;
	default:
		if (p[0] >= '0' && p[0] <= '3' && p[1] >= '0' && p[1] <= '7' &&
		    p[2] >= '0' && p[2] <= '7') {
			v = (p[0] - '0') * 64 + (p[1] - '0') * 8 + (p[2] - '0');
			p += 2;
			break;
		}
		return -1;
	}
	if (v == 0)
		return -1;
	*s = p + 1;
	return v;
}

int
unit_words(const char *value, char ***ret_words, size_t *ret_n,
	   const char **why)
{
	size_t n = 0, cap = 8, len = strlen(value);
	char **words = calloc(cap + 1, sizeof(*words)), **nw, *w, *o;
	const char *s = value;
	char q;
	int c;

	if (words == NULL)
		return -ENOMEM;
	for (;;) {
		while (is_blank(*s) || *s == '\n' || *s == '\r')
			s++;
		if (*s == '\0')
			break;
		if ((w = malloc(len + 1)) == NULL)
			goto nomem;
		o = w;
		q = 0;
		while (*s != '\0' && (q != 0 || !(is_blank(*s) || *s == '\n' ||
						  *s == '\r'))) {
			if (q == 0 && (*s == '"' || *s == '\'')) {
				q = *s++;
			} else if (q != 0 && *s == q) {
				q = 0;
				s++;
			} else if (*s == '\\') {
				s++;
				if ((c = unit_escape(&s)) < 0) {
					*why =
					    "an unknown escape (systemd.syntax"
					    "(7))";
					free(w);
					goto bad;
				}
				*o++ = (char)c;
			} else {
				*o++ = *s++;
			}
		}
		if (q != 0) {
			*why = q == '"' ? "an unterminated \" quote"
					: "an unterminated ' quote";
			free(w);
			goto bad;
		}
		*o = '\0';
		if (n == cap) {
			if ((nw = realloc(words, (cap * 2 + 1) *
						     sizeof(*words))) == NULL) {
				free(w);
				goto nomem;
			}
			words = nw;
			cap *= 2;
		}
		words[n++] = w;
		words[n] = NULL;
	}
	*ret_words = words;
	*ret_n = n;
	return 0;
bad:
	unit_words_free(words);
	return -EINVAL;
nomem:
	unit_words_free(words);
	return -ENOMEM;
}

int
unit_timespan(const char *text, int64_t *ret_ns)
{
	static const struct {
		const char *name;
		double ns;
	} units[] = {
	    {"usec", 1e3},
	    {"us", 1e3},
	    {"\xc2\xb5s", 1e3},
	    {"msec", 1e6},
	    {"ms", 1e6},
	    {"seconds", 1e9},
	    {"second", 1e9},
	    {"sec", 1e9},
	    {"s", 1e9},
	    {"minutes", 60e9},
	    {"minute", 60e9},
	    {"min", 60e9},
	    {"m", 60e9},
	    {"hours", 3600e9},
	    {"hour", 3600e9},
	    {"hr", 3600e9},
	    {"h", 3600e9},
	    {"days", 86400e9},
	    {"day", 86400e9},
	    {"d", 86400e9},
	    {"weeks", 604800e9},
	    {"week", 604800e9},
	    {"w", 604800e9},
	    /* systemd's month and year: 30.44 and 365.25 days. */
	    {"months", 2629800e9},
	    {"month", 2629800e9},
	    {"M", 2629800e9},
	    {"years", 31557600e9},
	    {"year", 31557600e9},
	    {"y", 31557600e9},
	};
	const char *s = text, *u;
	double total = 0, v;
	size_t i, ulen;
	bool any = false;
	char *end;

	for (;;) {
		while (is_blank(*s))
			s++;
		if (*s == '\0')
			break;
		if (!((*s >= '0' && *s <= '9') || *s == '.'))
			return -EINVAL;
		v = strtod(s, &end);
		if (end == s)
			return -EINVAL;
		s = end;
		while (is_blank(*s))
			s++;
		for (u = s;
		     (*u >= 'a' && *u <= 'z') || (*u >= 'A' && *u <= 'Z') ||
		     (unsigned char)*u >= 0x80;
		     u++)
			;
		ulen = (size_t)(u - s);
		if (ulen == 0) {
			/* A bare number: seconds, and only as the last
			 * part. */
			total += v * 1e9;
			any = true;
			while (is_blank(*s))
				s++;
			if (*s != '\0')
				return -EINVAL;
			break;
		}
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strlen(units[i].name) == ulen &&
			    strncmp(units[i].name, s, ulen) == 0)
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			return -EINVAL;
		total += v * units[i].ns;
		any = true;
		s = u;
	}
	if (!any || total < 0 || total > 9.2e18)
		return -EINVAL;
	*ret_ns = (int64_t)(total + 0.5);
	return 0;
}

uint64_t
import_hash(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}
