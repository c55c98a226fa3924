/*
 * evctl_complete: the shell completions, made by evctl from its own
 * tables so they cannot drift from it: `evctl completion bash|zsh|fish`
 * prints a script that completes the verbs of the verb table (with their
 * summaries from evctl_help.c), each verb's options from the option
 * table and the verb's row, the fixed values of options (clocks,
 * policies: the arrays set_option checks against), and operands read
 * from the verbs' synopses (ID: timer ids, CHANNEL: channels, a|b:
 * those words, FILE: files). Timer ids, channels and time zones come at
 * completion time from the hidden verb `evctl __complete ids|channels|
 * zones`: one per line, a tab and a description after it, nothing at
 * all (and quickly) when evd cannot be reached.
 *
 * The scripts use nothing but the shell itself (bash: plain compgen, no
 * bash-completion helpers), and call the evctl the user typed, so a
 * build tree's evctl completes with its own daemon's socket (--socket on
 * the line is passed on).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evctl.h"

#ifndef EVD_VERSION
#define EVD_VERSION "unknown"
#endif

/* __complete ids|channels: bound on connecting and on each page. */
#define COMPLETE_TIMEOUT_MS 2000
/* Operand rules: at most this many. */
#define RULES_MAX 128

/* ---- what the tables say ---- */

enum operand_kind {
	OPERAND_IDS,
	OPERAND_CHANNELS,
	OPERAND_WORDS,
	OPERAND_FILES,
	OPERAND_VERBS, /* help VERB */
};

/* How the operand at pos (and with repeat every one after it) of verb
 * completes; lit: for pos > 0, the first operand must be one of these
 * ('|'-separated; "" any). */
struct rule {
	const char *verb;
	int pos;
	bool repeat;
	char lit[160];
	enum operand_kind kind;
	char words[160]; /* OPERAND_WORDS: space-separated */
};

static struct rule rules[RULES_MAX];
static size_t nrules;

static bool
listed(const struct verb *v)
{
	return !(v->flags & VERB_HIDDEN);
}

static void
add_rule(const char *verb, int pos, bool repeat, const char *lit,
	 enum operand_kind kind, const char *words)
{
	struct rule *r;
	size_t i, len;

	/* Words for the same operand from several synopsis lines (channel
	 * list / show / grant|revoke) merge into one rule. */
	for (i = 0; i < nrules; i++) {
		r = &rules[i];
		if (kind == OPERAND_WORDS && r->kind == kind &&
		    strcmp(r->verb, verb) == 0 && r->pos == pos &&
		    strcmp(r->lit, lit) == 0) {
			len = strlen(r->words);
			snprintf(r->words + len, sizeof(r->words) - len, " %s",
				 words);
			return;
		}
	}
	if (nrules == RULES_MAX)
		return;
	r = &rules[nrules++];
	r->verb = verb;
	r->pos = pos;
	r->repeat = repeat;
	snprintf(r->lit, sizeof(r->lit), "%s", lit);
	r->kind = kind;
	snprintf(r->words, sizeof(r->words), "%s", words != NULL ? words : "");
}

/* Whether s is a choice of literal words ("list", "grant|revoke"). */
static bool
is_words(const char *s)
{
	if (*s == '\0' || *s == '|')
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '|'))
			return false;
	return true;
}

/*
 * One line of a synopsis, "VERB OPERAND [OPTION VALUE] ...", into rules:
 * the words outside brackets and parentheses that are not options nor
 * an option's VALUE are the operands, in order.
 */
static void
rules_of_line(const struct verb *v, const char *line)
{
	char buf[512], lit[160] = "", word[160];
	char *tok, *save = NULL, *p;
	bool after_option = false, repeat;
	int depth = 0, pos = 0;
	enum operand_kind kind;

	snprintf(buf, sizeof(buf), "%s", line);
	tok = strtok_r(buf, " ", &save);
	if (tok == NULL || strcmp(tok, v->name) != 0)
		return;
	while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
		if (depth > 0 || tok[0] == '[' || tok[0] == '(') {
			for (p = tok; *p != '\0'; p++)
				depth += (*p == '[' || *p == '(')   ? 1
					 : (*p == ']' || *p == ')') ? -1
								    : 0;
			continue;
		}
		if (tok[0] == '<')
			break;
		if (strcmp(tok, "|") == 0)
			continue;
		if (tok[0] == '-') {
			after_option = true;
			continue;
		}
		if (after_option && tok[0] >= 'A' && tok[0] <= 'Z') {
			after_option = false;
			continue;
		}
		after_option = false;
		snprintf(word, sizeof(word), "%s", tok);
		repeat = false;
		if ((p = strstr(word, "...")) != NULL) {
			*p = '\0';
			repeat = true;
		}
		if (strcmp(word, "ID") == 0)
			kind = OPERAND_IDS;
		else if (strcmp(word, "CHANNEL") == 0)
			kind = OPERAND_CHANNELS;
		else if (strcmp(word, "FILE") == 0)
			kind = OPERAND_FILES;
		else if (is_words(word))
			kind = OPERAND_WORDS;
		else {
			pos++;
			continue;
		}
		if (kind == OPERAND_WORDS) {
			if (pos == 0)
				snprintf(lit, sizeof(lit), "%s", word);
			for (p = word; *p != '\0'; p++)
				if (*p == '|')
					*p = ' ';
		}
		add_rule(v->name, pos, repeat, pos > 0 ? lit : "", kind,
			 kind == OPERAND_WORDS ? word : NULL);
		pos++;
	}
}

static void
rules_build(void)
{
	char line[512];
	const char *s, *nl;
	size_t i, len;

	nrules = 0;
	for (i = 0; i < nverbs; i++) {
		if (!listed(&verbs[i]))
			continue;
		/* help's operand is a verb (or a topic). */
		if (strcmp(verbs[i].name, "help") == 0) {
			add_rule("help", 0, false, "", OPERAND_VERBS, NULL);
			continue;
		}
		for (s = verbs[i].synopsis; *s != '\0'; s = *nl ? nl + 1 : nl) {
			nl = strchr(s, '\n');
			if (nl == NULL)
				nl = s + strlen(s);
			len = (size_t)(nl - s);
			if (len >= sizeof(line))
				len = sizeof(line) - 1;
			memcpy(line, s, len);
			line[len] = '\0';
			rules_of_line(&verbs[i], line + strspn(line, " "));
		}
	}
}

/* What o's value is (VAL_NONE when option_values has no row). */
static const struct option_value *
value_of(const struct option_def *o)
{
	static const struct option_value none = {NULL, VAL_NONE, NULL, 0};
	size_t i;

	for (i = 0; i < noption_values; i++)
		if (strcmp(option_values[i].name, o->name) == 0)
			return &option_values[i];
	return &none;
}

/* Every row of option_values names an option that takes a value. */
static int
check_values(void)
{
	size_t i, k;

	for (i = 0; i < noption_values; i++) {
		for (k = 0; k < noptions; k++)
			if (strcmp(options[k].name, option_values[i].name) ==
				0 &&
			    options[k].has_arg)
				break;
		if (k == noptions) {
			ctl_warnx("option_values names '%s', which is no "
				  "option with a value",
				  option_values[i].name);
			return EXIT_REFUSED;
		}
	}
	return 0;
}

/* An option's fixed values, space-separated, or "" for none. */
static const char *
option_words(const struct option_def *opt, char *buf, size_t size)
{
	const struct option_value *o = value_of(opt);
	const char *name;
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < 16; i++) {
		if (o->value == VAL_WORDS)
			name = i < o->nvalues ? o->values[i] : NULL;
		else if (o->value == VAL_DST_GAP)
			name = calendar_gap_name((enum calendar_gap)i);
		else if (o->value == VAL_DST_OVERLAP)
			name = calendar_overlap_name((enum calendar_overlap)i);
		else
			name = NULL;
		if (name == NULL || strcmp(name, "?") == 0)
			break;
		used += (size_t)snprintf(buf + used, size - used, "%s%s",
					 used > 0 ? " " : "", name);
		if (used >= size)
			break;
	}
	return buf;
}

static bool
option_applies(const struct option_def *o, const struct verb *v)
{
	return o->bit == 0 || (v != NULL && (o->bit & v->opts));
}

/* The option names, separated by sep, of v (NULL: the global ones);
 * with_arg: only those that take a value. */
static void
print_options(const struct verb *v, bool with_arg, const char *sep)
{
	bool first = true;
	size_t i;

	for (i = 0; i < noptions; i++) {
		if (!option_applies(&options[i], v) ||
		    (with_arg && !options[i].has_arg))
			continue;
		printf("%s%s", first ? "" : sep, options[i].name);
		first = false;
	}
}

static void
print_verbs(const char *sep)
{
	bool first = true;
	size_t i;

	for (i = 0; i < nverbs; i++) {
		if (!listed(&verbs[i]))
			continue;
		printf("%s%s", first ? "" : sep, verbs[i].name);
		first = false;
	}
}

static const char *
summary_of(const char *name)
{
	const char *s = verb_summary(name);

	return s != NULL ? s : "";
}

/* s in single quotes for sh and zsh ('\'' for a quote) or fish (\'). */
static void
print_quoted(const char *s, bool fish)
{
	putchar('\'');
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			fputs(fish ? "\\'" : "'\\''", stdout);
		else if (fish && *s == '\\')
			fputs("\\\\", stdout);
		else
			putchar(*s);
	}
	putchar('\'');
}

/*
 * The case arms of the verbs that have operand rules, one shell's way:
 * head is the arm's opening (a printf format for the verb's name), rule
 * prints one rule, and ";;" closes each arm (bash and zsh alike).
 */
static void
verb_cases(const char *head, void (*rule)(const struct rule *))
{
	size_t i, k;

	for (i = 0; i < nverbs; i++) {
		bool any = false;

		for (k = 0; k < nrules; k++) {
			if (strcmp(rules[k].verb, verbs[i].name) != 0)
				continue;
			if (!any)
				printf(head, verbs[i].name);
			any = true;
			rule(&rules[k]);
		}
		if (any)
			printf("\t\t;;\n");
	}
}

/* ---- bash ---- */

static void
bash_rule(const struct rule *r)
{
	const char *ind = r->lit[0] != '\0' ? "\t\t\t\t" : "\t\t\t";

	printf("\t\tif ((pos %s %d)); then\n", r->repeat ? ">=" : "==", r->pos);
	if (r->lit[0] != '\0')
		printf("\t\t\tcase $arg0 in\n\t\t\t%s)\n", r->lit);
	switch (r->kind) {
	case OPERAND_IDS:
		printf("%s_evctl_lines ids\n", ind);
		break;
	case OPERAND_CHANNELS:
		printf("%s_evctl_lines channels\n", ind);
		break;
	case OPERAND_WORDS:
		printf("%s_evctl_words %s\n", ind, r->words);
		break;
	case OPERAND_FILES:
		printf("%sCOMPREPLY+=($(compgen -f -- \"$cur\"))\n", ind);
		break;
	case OPERAND_VERBS:
		printf("%s_evctl_words \"${_evctl_verbs[@]}\" calendar "
		       "duration\n",
		       ind);
		break;
	}
	if (r->lit[0] != '\0')
		printf("\t\t\t\t;;\n\t\t\tesac\n");
	printf("\t\tfi\n");
}

static void
bash_value(const struct option_def *o)
{
	char words[256];

	switch (value_of(o)->value) {
	case VAL_WORDS:
	case VAL_DST_GAP:
	case VAL_DST_OVERLAP:
		printf("\t\t%s) _evctl_words %s ;;\n", o->name,
		       option_words(o, words, sizeof(words)));
		break;
	case VAL_FILE:
		printf("\t\t%s) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n",
		       o->name);
		break;
	case VAL_DIR:
		printf("\t\t%s) COMPREPLY=($(compgen -d -- \"$cur\")) ;;\n",
		       o->name);
		break;
	case VAL_CHANNEL:
		printf("\t\t%s) _evctl_lines channels ;;\n", o->name);
		break;
	case VAL_ZONE:
		printf("\t\t%s) _evctl_lines zones ;;\n", o->name);
		break;
	case VAL_ENV:
		printf("\t\t%s) COMPREPLY=($(compgen -e -- \"$cur\")) ;;\n",
		       o->name);
		break;
	case VAL_NONE:
		break;
	}
}

static void
completion_bash(void)
{
	size_t i, k;

	printf("# bash completion for evctl(1), generated by 'evctl "
	       "completion bash'\n"
	       "# (evctl %s) from its own verb and option tables: do not "
	       "edit.\n"
	       "# Plain bash (compgen); bash-completion is not needed.\n\n",
	       EVD_VERSION);
	printf("_evctl_verbs=(");
	print_verbs(" ");
	printf(")\n\n");
	printf(
	    "# One value a line (a tab and a description may follow) from\n"
	    "# 'evctl __complete KIND': nothing when evd cannot be reached.\n"
	    "# The values are other users' (channel names): never through\n"
	    "# compgen -W, which expands $(...) in them, nor unquoted; each\n"
	    "# is compared as a string and inserted quoted (printf %%q).\n"
	    "_evctl_lines() {\n"
	    "\tlocal line\n"
	    "\twhile IFS= read -r line; do\n"
	    "\t\tline=${line%%%%$'\\t'*}\n"
	    "\t\t[[ $line == \"$cur\"* ]] || continue\n"
	    "\t\tprintf -v line %%q \"$line\"\n"
	    "\t\tCOMPREPLY+=(\"$line\")\n"
	    "\tdone < <(\"$_evctl_cmd\" \"${_evctl_sock[@]}\" __complete "
	    "\"$1\" 2>/dev/null)\n"
	    "}\n\n"
	    "_evctl_words() {\n"
	    "\tlocal IFS=$' \\t\\n'\n"
	    "\tCOMPREPLY+=($(compgen -W \"$*\" -- \"$cur\"))\n"
	    "}\n\n"
	    "# Readline replaces only what follows the last '=' or ':' of\n"
	    "# COMP_WORDBREAKS in the word: drop that prefix from the "
	    "replies.\n"
	    "_evctl_trim() {\n"
	    "\tlocal pre=${1%%\"${1##*[=:]}\"} i\n"
	    "\t[[ -n $pre && $COMP_WORDBREAKS == *\"${pre: -1}\"* ]] || "
	    "return 0\n"
	    "\tfor i in \"${!COMPREPLY[@]}\"; do\n"
	    "\t\tCOMPREPLY[i]=${COMPREPLY[i]#\"$pre\"}\n"
	    "\tdone\n"
	    "}\n\n");
	printf(
	    "_evctl() {\n"
	    "\tlocal -a words=() _evctl_sock=()\n"
	    "\tlocal _evctl_cmd=${COMP_WORDS[0]:-evctl}\n"
	    "\tlocal cur prev w raw= opt= full i j=-1 cword=-1\n"
	    "\tlocal verb= pos=0 arg0= dashdash=-1\n"
	    "\tCOMPREPLY=()\n"
	    "\t# The words as the shell will pass them: join what\n"
	    "\t# COMP_WORDBREAKS split at '=' and ':' (--clock=boottime,\n"
	    "\t# alice:jobs).\n"
	    "\tfor ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do\n"
	    "\t\tw=${COMP_WORDS[i]}\n"
	    "\t\tif ((j >= 1)) && [[ $w == [=:] || $raw == [=:] ]]; then\n"
	    "\t\t\twords[j]+=$w\n"
	    "\t\telse\n"
	    "\t\t\twords[++j]=$w\n"
	    "\t\tfi\n"
	    "\t\traw=$w\n"
	    "\t\t((i == COMP_CWORD)) && cword=$j\n"
	    "\tdone\n"
	    "\tif ((cword < 0)); then\n"
	    "\t\twords[++j]=\n"
	    "\t\tcword=$j\n"
	    "\tfi\n"
	    "\tcur=${words[cword]}\n"
	    "\tprev=\n"
	    "\t((cword > 0)) && prev=${words[cword - 1]}\n"
	    "\t# The verb, the operands before the word, --socket and '--'.\n"
	    "\tfor ((i = 1; i < cword; i++)); do\n"
	    "\t\tw=${words[i]}\n"
	    "\t\t((dashdash >= 0)) && break\n"
	    "\t\tcase $w in\n"
	    "\t\t--) dashdash=$i ;;\n"
	    "\t\t--socket) _evctl_sock=(--socket \"${words[i + 1]}\"); "
	    "((i++)) ;;\n"
	    "\t\t--socket=*) _evctl_sock=(\"$w\") ;;\n"
	    "\t\t-*=*) ;;\n"
	    "\t\t");
	for (i = 0, k = 0; i < noptions; i++)
		if (options[i].has_arg)
			printf("%s%s", k++ > 0 ? "|" : "", options[i].name);
	printf(") ((i++)) ;;\n"
	       "\t\t-*) ;;\n"
	       "\t\t*)\n"
	       "\t\t\tif [[ -z $verb ]]; then\n"
	       "\t\t\t\tverb=$w\n"
	       "\t\t\telse\n"
	       "\t\t\t\t((pos == 0)) && arg0=$w\n"
	       "\t\t\t\t((pos++))\n"
	       "\t\t\tfi\n"
	       "\t\t\t;;\n"
	       "\t\tesac\n"
	       "\tdone\n");
	printf("\t# After '--': a command, then its arguments.\n"
	       "\tif ((dashdash >= 0)); then\n"
	       "\t\tif ((cword == dashdash + 1)); then\n"
	       "\t\t\tCOMPREPLY=($(compgen -c -- \"$cur\"))\n"
	       "\t\telse\n"
	       "\t\t\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n"
	       "\t\tfi\n"
	       "\t\treturn 0\n"
	       "\tfi\n");
	printf("\t# An option's value: --opt VALUE or --opt=VALUE.\n"
	       "\tif [[ $cur == -*=* ]]; then\n"
	       "\t\topt=${cur%%%%=*}\n"
	       "\t\tcur=${cur#*=}\n"
	       "\telse\n"
	       "\t\tcase $prev in\n"
	       "\t\t");
	for (i = 0, k = 0; i < noptions; i++)
		if (options[i].has_arg)
			printf("%s%s", k++ > 0 ? "|" : "", options[i].name);
	printf(") opt=$prev ;;\n"
	       "\t\tesac\n"
	       "\tfi\n"
	       "\tif [[ -n $opt ]]; then\n"
	       "\t\tcase $opt in\n");
	for (i = 0; i < noptions; i++)
		if (options[i].has_arg)
			bash_value(&options[i]);
	printf("\t\tesac\n"
	       "\t\tif [[ ${words[cword]} == -*=* ]]; then\n"
	       "\t\t\tfor i in \"${!COMPREPLY[@]}\"; do\n"
	       "\t\t\t\tCOMPREPLY[i]=$opt=${COMPREPLY[i]}\n"
	       "\t\t\tdone\n"
	       "\t\t\t_evctl_trim \"${words[cword]}\"\n"
	       "\t\telse\n"
	       "\t\t\t_evctl_trim \"$cur\"\n"
	       "\t\tfi\n"
	       "\t\treturn 0\n"
	       "\tfi\n");
	printf("\t# Options: the global ones, and the verb's.\n"
	       "\tif [[ $cur == -* ]]; then\n"
	       "\t\tcase $verb in\n");
	for (i = 0; i < nverbs; i++) {
		if (!listed(&verbs[i]))
			continue;
		printf("\t\t%s) _evctl_words ", verbs[i].name);
		print_options(&verbs[i], false, " ");
		printf(" ;;\n");
	}
	printf("\t\t*) _evctl_words ");
	print_options(NULL, false, " ");
	printf(" ;;\n"
	       "\t\tesac\n"
	       "\t\treturn 0\n"
	       "\tfi\n");
	printf("\tif [[ -z $verb ]]; then\n"
	       "\t\t_evctl_words \"${_evctl_verbs[@]}\"\n"
	       "\t\treturn 0\n"
	       "\tfi\n"
	       "\t# The verb's operands, as its synopsis names them.\n"
	       "\tcase $verb in\n");
	verb_cases("\t%s)\n", bash_rule);
	printf("\tesac\n"
	       "\t_evctl_trim \"$cur\"\n"
	       "\treturn 0\n"
	       "}\n\n"
	       "complete -F _evctl evctl\n");
}

/* ---- zsh ---- */

static void
zsh_value(const struct option_def *o)
{
	char words[256];

	switch (value_of(o)->value) {
	case VAL_WORDS:
	case VAL_DST_GAP:
	case VAL_DST_OVERLAP:
		printf("\t\t(%s) compadd -- %s ;;\n", o->name,
		       option_words(o, words, sizeof(words)));
		break;
	case VAL_FILE:
		printf("\t\t(%s) _files ;;\n", o->name);
		break;
	case VAL_DIR:
		printf("\t\t(%s) _files -/ ;;\n", o->name);
		break;
	case VAL_CHANNEL:
		printf("\t\t(%s) _evctl_described channels channel ;;\n",
		       o->name);
		break;
	case VAL_ZONE:
		printf("\t\t(%s) compadd -- ${(f)\"$(_evctl_call zones)\"} "
		       ";;\n",
		       o->name);
		break;
	case VAL_ENV:
		printf("\t\t(%s) _parameters -g '*export*' ;;\n", o->name);
		break;
	case VAL_NONE:
		break;
	}
}

static void
zsh_rule(const struct rule *r)
{
	printf("\t\tif ((pos %s %d))", r->repeat ? ">=" : "==", r->pos);
	if (r->lit[0] != '\0')
		printf(" && [[ $arg0 == (%s) ]]", r->lit);
	printf("; then\n");
	switch (r->kind) {
	case OPERAND_IDS:
		printf("\t\t\t_evctl_described ids 'timer id'\n");
		break;
	case OPERAND_CHANNELS:
		printf("\t\t\t_evctl_described channels channel\n");
		break;
	case OPERAND_WORDS:
		printf("\t\t\tcompadd -- %s\n", r->words);
		break;
	case OPERAND_FILES:
		printf("\t\t\t_files\n");
		break;
	case OPERAND_VERBS:
		printf("\t\t\tcompadd -- ${_evctl_verbs%%%%:*} calendar "
		       "duration\n");
		break;
	}
	printf("\t\tfi\n");
}

static void
completion_zsh(void)
{
	size_t i, k;

	printf("#compdef evctl\n"
	       "# zsh completion for evctl(1), generated by 'evctl "
	       "completion zsh'\n"
	       "# (evctl %s) from its own verb and option tables: do not "
	       "edit.\n\n",
	       EVD_VERSION);
	printf("_evctl_verbs=(\n");
	for (i = 0; i < nverbs; i++)
		if (listed(&verbs[i])) {
			char item[256];

			snprintf(item, sizeof(item), "%s:%s", verbs[i].name,
				 summary_of(verbs[i].name));
			putchar('\t');
			print_quoted(item, false);
			putchar('\n');
		}
	printf(")\n\n");
	printf("# 'evctl __complete KIND': one value a line, a tab and a\n"
	       "# description after it; nothing when evd cannot be "
	       "reached.\n"
	       "_evctl_call() {\n"
	       "\t\"${_evctl_cmd:-evctl}\" \"${_evctl_sock[@]}\" __complete "
	       "\"$1\" 2>/dev/null\n"
	       "}\n\n"
	       "_evctl_described() {\n"
	       "\tlocal -a items\n"
	       "\tlocal l\n"
	       "\tfor l in ${(f)\"$(_evctl_call $1)\"}; do\n"
	       "\t\titems+=(\"${${l%%%%$'\\t'*}//:/\\\\:}:${l#*$'\\t'}\")\n"
	       "\tdone\n"
	       "\t_describe -t $1 $2 items\n"
	       "}\n\n");
	printf("_evctl() {\n"
	       "\tlocal -a _evctl_sock\n"
	       "\tlocal _evctl_cmd=${words[1]}\n"
	       "\tlocal i w verb= pos=0 arg0= dashdash=0 opt=\n"
	       "\tlocal cur=${words[CURRENT]} prev=${words[CURRENT-1]}\n"
	       "\tfor ((i = 2; i < CURRENT; i++)); do\n"
	       "\t\tw=${words[i]}\n"
	       "\t\tcase $w in\n"
	       "\t\t(--) dashdash=$i; break ;;\n"
	       "\t\t(--socket) _evctl_sock=(--socket \"${words[i+1]}\"); "
	       "((i++)) ;;\n"
	       "\t\t(--socket=*) _evctl_sock=(\"$w\") ;;\n"
	       "\t\t(-*=*) ;;\n"
	       "\t\t(");
	for (i = 0, k = 0; i < noptions; i++)
		if (options[i].has_arg)
			printf("%s%s", k++ > 0 ? "|" : "", options[i].name);
	printf(") ((i++)) ;;\n"
	       "\t\t(-*) ;;\n"
	       "\t\t(*)\n"
	       "\t\t\tif [[ -z $verb ]]; then\n"
	       "\t\t\t\tverb=$w\n"
	       "\t\t\telse\n"
	       "\t\t\t\t((pos == 0)) && arg0=$w\n"
	       "\t\t\t\t((pos++))\n"
	       "\t\t\tfi\n"
	       "\t\t\t;;\n"
	       "\t\tesac\n"
	       "\tdone\n"
	       "\tif ((dashdash)); then\n"
	       "\t\tif ((CURRENT == dashdash + 1)); then\n"
	       "\t\t\t_command_names -e\n"
	       "\t\telse\n"
	       "\t\t\t_files\n"
	       "\t\tfi\n"
	       "\t\treturn\n"
	       "\tfi\n"
	       "\tif [[ $cur == -*=* ]]; then\n"
	       "\t\topt=${cur%%%%=*}\n"
	       "\t\tcompset -P '*='\n"
	       "\telse\n"
	       "\t\tcase $prev in\n"
	       "\t\t(");
	for (i = 0, k = 0; i < noptions; i++)
		if (options[i].has_arg)
			printf("%s%s", k++ > 0 ? "|" : "", options[i].name);
	printf(") opt=$prev ;;\n"
	       "\t\tesac\n"
	       "\tfi\n"
	       "\tif [[ -n $opt ]]; then\n"
	       "\t\tcase $opt in\n");
	for (i = 0; i < noptions; i++)
		if (options[i].has_arg)
			zsh_value(&options[i]);
	printf("\t\tesac\n"
	       "\t\treturn\n"
	       "\tfi\n"
	       "\tif [[ $cur == -* ]]; then\n"
	       "\t\tcase $verb in\n");
	for (i = 0; i < nverbs; i++) {
		if (!listed(&verbs[i]))
			continue;
		printf("\t\t(%s) compadd -- ", verbs[i].name);
		print_options(&verbs[i], false, " ");
		printf(" ;;\n");
	}
	printf("\t\t(*) compadd -- ");
	print_options(NULL, false, " ");
	printf(" ;;\n"
	       "\t\tesac\n"
	       "\t\treturn\n"
	       "\tfi\n"
	       "\tif [[ -z $verb ]]; then\n"
	       "\t\t_describe -t verbs 'evctl verb' _evctl_verbs\n"
	       "\t\treturn\n"
	       "\tfi\n"
	       "\tcase $verb in\n");
	verb_cases("\t(%s)\n", zsh_rule);
	printf("\tesac\n"
	       "}\n\n"
	       "if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then\n"
	       "\t_evctl \"$@\"\n"
	       "else\n"
	       "\tcompdef _evctl evctl\n"
	       "fi\n");
}

/* ---- fish ---- */

/* fish's -s/-l/-o for an option name. */
static void
fish_name(const char *name)
{
	if (name[1] == '-')
		printf("-l %s", name + 2);
	else if (name[2] == '\0')
		printf("-s %s", name + 1);
	else
		printf("-o %s", name + 1);
}

static void
fish_option(const struct option_def *o)
{
	char words[256];
	bool first = true;
	size_t i;

	printf("complete -c evctl");
	if (o->bit != 0) {
		printf(" -n '__evctl_verb_in");
		for (i = 0; i < nverbs; i++)
			if (listed(&verbs[i]) && (o->bit & verbs[i].opts)) {
				printf(" %s", verbs[i].name);
				first = false;
			}
		printf("'");
		if (first)
			return (void)printf(" -l __never\n");
	}
	printf(" ");
	fish_name(o->name);
	if (!o->has_arg) {
		printf("\n");
		return;
	}
	switch (value_of(o)->value) {
	case VAL_WORDS:
	case VAL_DST_GAP:
	case VAL_DST_OVERLAP:
		printf(" -x -a '%s'\n", option_words(o, words, sizeof(words)));
		break;
	case VAL_FILE:
		printf(" -r -F\n");
		break;
	case VAL_DIR:
		printf(" -x -a '(__fish_complete_directories "
		       "(commandline -ct))'\n");
		break;
	case VAL_CHANNEL:
		printf(" -x -a '(__evctl_call channels)'\n");
		break;
	case VAL_ZONE:
		printf(" -x -a '(__evctl_call zones)'\n");
		break;
	case VAL_ENV:
		printf(" -x -a '(set -xn)'\n");
		break;
	case VAL_NONE:
		printf(" -x\n");
		break;
	}
}

static void
completion_fish(void)
{
	size_t i, k;

	printf("# fish completion for evctl(1), generated by 'evctl "
	       "completion fish'\n"
	       "# (evctl %s) from its own verb and option tables: do not "
	       "edit.\n\n",
	       EVD_VERSION);
	printf("# The verb, how many operands precede the token, the first "
	       "one,\n"
	       "# and 'dashdash' after '--'.\n"
	       "function __evctl_state\n"
	       "    set -l tokens (commandline -opc)\n"
	       "    set -e tokens[1]\n"
	       "    set -l verb ''\n"
	       "    set -l pos 0\n"
	       "    set -l arg0 ''\n"
	       "    set -l skip 0\n"
	       "    for t in $tokens\n"
	       "        if test $skip = 1\n"
	       "            set skip 0\n"
	       "            continue\n"
	       "        end\n"
	       "        switch $t\n"
	       "            case --\n"
	       "                printf '%%s\\n' \"$verb\" $pos \"$arg0\" "
	       "dashdash\n"
	       "                return\n"
	       "            case '-*=*'\n"
	       "            case");
	for (i = 0; i < noptions; i++)
		if (options[i].has_arg)
			printf(" '%s'", options[i].name);
	printf("\n"
	       "                set skip 1\n"
	       "            case '-*'\n"
	       "            case '*'\n"
	       "                if test -z \"$verb\"\n"
	       "                    set verb $t\n"
	       "                else\n"
	       "                    test $pos = 0; and set arg0 $t\n"
	       "                    set pos (math $pos + 1)\n"
	       "                end\n"
	       "        end\n"
	       "    end\n"
	       "    printf '%%s\\n' \"$verb\" $pos \"$arg0\"\n"
	       "end\n\n"
	       "function __evctl_no_verb\n"
	       "    set -l s (__evctl_state)\n"
	       "    test -z \"$s[1]\"\n"
	       "end\n\n"
	       "function __evctl_verb_in\n"
	       "    set -l s (__evctl_state)\n"
	       "    test (count $s) -lt 4; and contains -- \"$s[1]\" $argv\n"
	       "end\n\n"
	       "# __evctl_operand VERB POS[+] [WORD|WORD]: the token is that "
	       "operand.\n"
	       "function __evctl_operand\n"
	       "    set -l s (__evctl_state)\n"
	       "    test (count $s) -lt 4; and test \"$s[1]\" = $argv[1]; or "
	       "return 1\n"
	       "    set -l want (string trim -r -c + -- $argv[2])\n"
	       "    if string match -q -- '*+' $argv[2]\n"
	       "        test $s[2] -ge $want; or return 1\n"
	       "    else\n"
	       "        test $s[2] -eq $want; or return 1\n"
	       "    end\n"
	       "    test -z \"$argv[3]\"; or contains -- \"$s[3]\" (string "
	       "split '|' -- $argv[3])\n"
	       "end\n\n"
	       "function __evctl_dashdash\n"
	       "    set -l s (__evctl_state)\n"
	       "    test (count $s) -ge 4\n"
	       "end\n\n"
	       "# 'evctl __complete KIND': one value a line, a tab and a\n"
	       "# description after it; nothing when evd cannot be "
	       "reached.\n"
	       "function __evctl_call\n"
	       "    set -l tokens (commandline -opc)\n"
	       "    set -l sock\n"
	       "    for i in (seq 2 (count $tokens))\n"
	       "        switch $tokens[$i]\n"
	       "            case --socket\n"
	       "                set sock --socket $tokens[(math $i + 1)]\n"
	       "            case '--socket=*'\n"
	       "                set sock $tokens[$i]\n"
	       "        end\n"
	       "    end\n"
	       "    $tokens[1] $sock __complete $argv 2>/dev/null\n"
	       "end\n\n"
	       "complete -c evctl -f\n"
	       "complete -c evctl -n __evctl_dashdash -F -a "
	       "'(__fish_complete_command)'\n\n"
	       "# Verbs\n");
	for (i = 0; i < nverbs; i++)
		if (listed(&verbs[i])) {
			printf("complete -c evctl -n __evctl_no_verb -a %s -d ",
			       verbs[i].name);
			print_quoted(summary_of(verbs[i].name), true);
			putchar('\n');
		}
	printf("\n# Options: global, then by verb\n");
	for (i = 0; i < noptions; i++)
		fish_option(&options[i]);
	printf("\n# Operands, as each verb's synopsis names them\n");
	for (k = 0; k < nrules; k++) {
		const struct rule *r = &rules[k];

		printf("complete -c evctl -n \"__evctl_operand %s %d%s '%s'\"",
		       r->verb, r->pos, r->repeat ? "+" : "", r->lit);
		switch (r->kind) {
		case OPERAND_IDS:
			printf(" -a '(__evctl_call ids)'\n");
			break;
		case OPERAND_CHANNELS:
			printf(" -a '(__evctl_call channels)'\n");
			break;
		case OPERAND_WORDS:
			printf(" -a '%s'\n", r->words);
			break;
		case OPERAND_FILES:
			printf(" -F\n");
			break;
		case OPERAND_VERBS:
			printf(" -a '");
			print_verbs(" ");
			printf(" calendar duration'\n");
			break;
		}
	}
}

int
verb_completion(struct ctl *x)
{
	const char *shell = x->args[0];
	int r;

	if ((r = check_values()) != 0)
		return r;
	rules_build();
	if (strcmp(shell, "bash") == 0)
		completion_bash();
	else if (strcmp(shell, "zsh") == 0)
		completion_zsh();
	else if (strcmp(shell, "fish") == 0)
		completion_fish();
	else
		return usage_error("no completion for '%s' (bash, zsh or "
				   "fish)",
				   shell);
	return check_stdout();
}

/* ---- __complete: values the scripts ask for ---- */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The zones of the system's database: tzdata.zi's zones ("Z NAME") and
 * links ("L TARGET NAME") whose files exist, sorted; else zone1970.tab's
 * (and zone.tab's) third column.
 */
static int
complete_zones(void)
{
	const char *dir = getenv("TZDIR");
	char path[PATH_MAX], line[512], name[256];
	char **names = NULL, **grown;
	size_t n = 0, cap = 0, i;
	FILE *f;

	if (dir == NULL || dir[0] == '\0')
		dir = "/usr/share/zoneinfo";
	snprintf(path, sizeof(path), "%s/tzdata.zi", dir);
	if ((f = fopen(path, "re")) == NULL) {
		snprintf(path, sizeof(path), "%s/zone1970.tab", dir);
		if ((f = fopen(path, "re")) == NULL) {
			snprintf(path, sizeof(path), "%s/zone.tab", dir);
			f = fopen(path, "re");
		}
	}
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "Z %255s", name) != 1 &&
		    sscanf(line, "L %*s %255s", name) != 1 &&
		    (line[0] == '#' ||
		     sscanf(line, "%*s %*s %255s", name) != 1))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (access(path, R_OK) < 0)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 512;
			if ((grown = realloc(names, cap * sizeof(*names))) ==
			    NULL)
				break;
			names = grown;
		}
		if ((names[n] = strdup(name)) == NULL)
			break;
		n++;
	}
	fclose(f);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n; i++)
		if (i == 0 || strcmp(names[i], names[i - 1]) != 0)
			puts(names[i]);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return 0;
}

/* A description is one line: control characters become spaces. */
static void
put_line(const char *s)
{
	for (; *s != '\0'; s++)
		putchar((unsigned char)*s < ' ' ? ' ' : *s);
}

static void
print_id_line(const struct evc_timer_info *ti)
{
	char *w = NULL;

	printf("%" PRIu64 "\t", ti->timer_id);
	if (ti->exec_argv != NULL && ti->exec_shell)
		put_line(ti->exec_argv[0]);
	else if (ti->exec_argv != NULL &&
		 (w = shell_words((const char *const *)ti->exec_argv,
				  ti->exec_argc)) != NULL)
		put_line(w);
	else if (ti->channel != NULL)
		printf("channel %s", ti->channel);
	else
		printf("(caller)");
	putchar('\n');
	free(w);
}

static int
complete_ids(struct evc *c)
{
	struct evc_timer_list tl;
	uint64_t after = 0;
	size_t i;

	do {
		if (evc_list(c, NULL, after, 0, COMPLETE_TIMEOUT_MS, &tl) < 0)
			return EXIT_UNREACHABLE;
		for (i = 0; i < tl.count; i++)
			print_id_line(&tl.timers[i]);
		after = tl.next_after_id;
		evc_timer_list_free(&tl);
	} while (after != 0);
	return 0;
}

static int
complete_channels(struct evc *c)
{
	struct evc_channel_list cl;
	char *after = NULL;
	size_t i;
	int r = 0;

	for (;;) {
		if (evc_list_channels(c, after, 0, COMPLETE_TIMEOUT_MS, &cl) <
		    0) {
			r = EXIT_UNREACHABLE;
			break;
		}
		free(after);
		after = NULL;
		for (i = 0; i < cl.count; i++)
			printf("%s\towner %" PRIu32 ", %" PRIu64 " queued\n",
			       cl.channels[i].channel, cl.channels[i].owner_uid,
			       cl.channels[i].queued_messages);
		if (cl.next_after != NULL && cl.count > 0)
			after = strdup(cl.next_after);
		evc_channel_list_free(&cl);
		if (after == NULL)
			break;
	}
	free(after);
	return r;
}

/*
 * __complete ids|channels|zones: one value a line for the completion
 * scripts. Silent: a completion must not print errors into the user's
 * command line, so every failure is an empty answer (exit 3, or 2 for an
 * unknown KIND, without a word).
 */
int
verb_complete(struct ctl *x)
{
	const char *kind = x->args[0];
	char path[256], err[256];
	struct evc *c = NULL;
	int r;

	if (strcmp(kind, "zones") == 0)
		return complete_zones();
	if (strcmp(kind, "ids") != 0 && strcmp(kind, "channels") != 0)
		return EXIT_USAGE;
	if (x->socket != NULL)
		snprintf(path, sizeof(path), "%s", x->socket);
	else if (evc_default_socket(path, sizeof(path)) < 0)
		return EXIT_UNREACHABLE;
	if (evc_connect(path, "evctl", COMPLETE_TIMEOUT_MS, &c, err,
			sizeof(err)) < 0)
		return EXIT_UNREACHABLE;
	r = strcmp(kind, "ids") == 0 ? complete_ids(c) : complete_channels(c);
	evc_close(c);
	if (r == 0 && (fflush(stdout) != 0 || ferror(stdout)))
		r = EXIT_UNREACHABLE;
	return r;
}
