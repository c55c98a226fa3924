/*
 * exec_sdprops: parsed job properties as D-Bus unit properties (see
 * exec_sdprops.h). Only converts: jobprop already read the value with
 * systemd's syntax, into the same units systemd-run sends (bytes, usec,
 * CPU usec per second, permyriad), so each case here picks the name and
 * type and, for percentages, systemd's 32-bit scale.
 */
#include "exec_sdprops.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* systemd's UINT32_SCALE_FROM_PERMYRIAD: 100% is UINT32_MAX, rounded to
 * the closest. jobprop bounds scale to 1..10000. */
static uint64_t
exec_sdprops_scale32(uint32_t permyriad)
{
	return ((uint64_t)permyriad * UINT32_MAX + 5000) / 10000;
}

static void
exec_sdprops_t(struct exec_sdprop *p, const char *name, uint64_t v)
{
	p->name = name;
	p->type = 't';
	p->t = v;
}

/* MemoryMax=, MemoryHigh=, TasksMax=: infinity and counts as name 't',
 * percentages as nameScale 'u' (systemd resolves them server-side). */
static void
exec_sdprops_limit(const struct jobprop *jp, const char *name,
		   const char *scale_name, struct exec_sdprop *p)
{
	if (jp->infinity) {
		exec_sdprops_t(p, name, UINT64_MAX);
	} else if (jp->scale != 0) {
		p->name = scale_name;
		p->type = 'u';
		p->t = exec_sdprops_scale32(jp->scale);
	} else {
		exec_sdprops_t(p, name, jp->value);
	}
}

/* Limit*=: the hard limit under the key's name, then the soft one under
 * name + "Soft", as systemd-run does; infinity is RLIM_INFINITY, which
 * is UINT64_MAX for systemd's 't'. jobprop gives UINT64_MAX for an
 * "infinity" half already. */
static int
exec_sdprops_rlimit(const struct jobprop *jp, const char *name,
		    const char *soft_name, struct exec_sdprop *p)
{
	exec_sdprops_t(&p[0], name, jp->value_hard);
	exec_sdprops_t(&p[1], soft_name, jp->value);
	return 2;
}

/* *Paths=: jobprop checked the list (absolute, maybe '-'-prefixed,
 * separated by single or repeated spaces, no quoting); systemd-run splits
 * it on whitespace and sends each word as is, '-' included. */
static int
exec_sdprops_paths(const struct jobprop *jp, const char *name,
		   struct exec_sdprop *p)
{
	const char *s = jp->str;
	size_t n = 0, k = 0;
	char **paths;

	for (const char *q = s; *q != '\0'; q++)
		if (*q != ' ' && (q == s || q[-1] == ' '))
			n++;
	if ((paths = calloc(n + 1, sizeof *paths)) == NULL)
		return -ENOMEM;
	while (*s != '\0') {
		size_t len;

		if (*s == ' ') {
			s++;
			continue;
		}
		len = strcspn(s, " ");
		if ((paths[k] = strndup(s, len)) == NULL) {
			p->paths = paths;
			exec_sdprops_clear(p);
			return -ENOMEM;
		}
		k++;
		s += len;
	}
	p->name = name;
	p->type = 'a';
	p->paths = paths;
	p->npaths = k;
	return 1;
}

int
exec_sdprops_convert(const struct jobprop *jp,
		     struct exec_sdprop ret[EXEC_SDPROPS_PER_KEY])
{
	struct exec_sdprop p[EXEC_SDPROPS_PER_KEY];
	int n = 1;

	memset(p, 0, sizeof p);
	/* No default: a key added to jobprop fails the build (-Wswitch)
	 * until it is converted here. */
	switch (jp->key) {
	case JOBPROP_MEMORY_MAX:
		exec_sdprops_limit(jp, "MemoryMax", "MemoryMaxScale", &p[0]);
		/* On a legacy or hybrid cgroup hierarchy (cgroup v1 memory
		 * controller) systemd ignores MemoryMax= and applies only
		 * MemoryLimit=; on v2 it takes MemoryMax= and ignores
		 * MemoryLimit=. */
		if (p[0].type == 't') {
			exec_sdprops_t(&p[1], "MemoryLimit", p[0].t);
			n = 2;
		}
		break;
	case JOBPROP_MEMORY_HIGH:
		exec_sdprops_limit(jp, "MemoryHigh", "MemoryHighScale", &p[0]);
		break;
	case JOBPROP_CPU_QUOTA:
		/* jobprop's value is already CPU usec per second. */
		exec_sdprops_t(&p[0], "CPUQuotaPerSecUSec", jp->value);
		break;
	case JOBPROP_TASKS_MAX:
		exec_sdprops_limit(jp, "TasksMax", "TasksMaxScale", &p[0]);
		break;
	case JOBPROP_IO_WEIGHT:
		exec_sdprops_t(&p[0], "IOWeight", jp->value);
		break;
	case JOBPROP_NICE:
		p[0].name = "Nice";
		p[0].type = 'i';
		p[0].i = jp->nice;
		break;
	case JOBPROP_RUNTIME_MAX_SEC:
		exec_sdprops_t(&p[0], "RuntimeMaxUSec",
			       jp->infinity ? UINT64_MAX : jp->value);
		break;
	case JOBPROP_PROTECT_SYSTEM:
	case JOBPROP_PROTECT_HOME:
		/* jobprop's canonical spelling ("yes" for "true"): systemd
		 * reads both the same way (a boolean first, then the
		 * modes), and every version takes "yes"/"no". */
		p[0].name = jp->key == JOBPROP_PROTECT_SYSTEM ? "ProtectSystem"
							      : "ProtectHome";
		p[0].type = 's';
		p[0].s = jp->str;
		break;
	case JOBPROP_PRIVATE_TMP:
	case JOBPROP_PRIVATE_NETWORK:
	case JOBPROP_NO_NEW_PRIVILEGES:
		p[0].name = jp->key == JOBPROP_PRIVATE_TMP ? "PrivateTmp"
			    : jp->key == JOBPROP_PRIVATE_NETWORK
				? "PrivateNetwork"
				: "NoNewPrivileges";
		p[0].type = 'b';
		p[0].b = jp->flag;
		break;
	case JOBPROP_READ_WRITE_PATHS:
		n = exec_sdprops_paths(jp, "ReadWritePaths", &p[0]);
		break;
	case JOBPROP_READ_ONLY_PATHS:
		n = exec_sdprops_paths(jp, "ReadOnlyPaths", &p[0]);
		break;
	case JOBPROP_INACCESSIBLE_PATHS:
		n = exec_sdprops_paths(jp, "InaccessiblePaths", &p[0]);
		break;
	case JOBPROP_LIMIT_NOFILE:
		n = exec_sdprops_rlimit(jp, "LimitNOFILE", "LimitNOFILESoft",
					p);
		break;
	case JOBPROP_LIMIT_CORE:
		n = exec_sdprops_rlimit(jp, "LimitCORE", "LimitCORESoft", p);
		break;
	case JOBPROP_LIMIT_NPROC:
		n = exec_sdprops_rlimit(jp, "LimitNPROC", "LimitNPROCSoft", p);
		break;
	case JOBPROP_KEY_COUNT:
		return -EINVAL;
	}
	if (n < 0 || p[0].name == NULL)
		return n < 0 ? n : -EINVAL;
	memcpy(ret, p, sizeof p);
	return n;
}

void
exec_sdprops_clear(struct exec_sdprop *p)
{
	if (p == NULL)
		return;
	if (p->paths != NULL)
		for (char **q = p->paths; *q != NULL; q++)
			free(*q);
	free(p->paths);
	p->paths = NULL;
	p->npaths = 0;
}
