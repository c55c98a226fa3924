/*
 * suggest: the nearest name by Damerau-Levenshtein distance (see
 * suggest.h). Three rows of the dynamic programme on the stack; names
 * are short (verbs, options, configuration keys), so quadratic is fine.
 */
#include "suggest.h"

#include <stdint.h>
#include <string.h>

static char
fold(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

static size_t
min3(size_t a, size_t b, size_t c)
{
	size_t m = a < b ? a : b;

	return m < c ? m : c;
}

size_t
suggest_distance(const char *a, const char *b)
{
	/* Rows i-2, i-1 and i of the (la+1) x (lb+1) table. */
	size_t rows[3][SUGGEST_NAME_MAX + 1];
	size_t la = strlen(a), lb = strlen(b), i, j, cost, d;
	size_t *pp, *prev, *cur;

	if (la > SUGGEST_NAME_MAX || lb > SUGGEST_NAME_MAX)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		rows[1][j] = j;
	for (i = 1; i <= la; i++) {
		/* Row r lives in rows[(r + 1) % 3]. */
		cur = rows[(i + 1) % 3];
		prev = rows[i % 3];
		pp = rows[(i + 2) % 3];
		cur[0] = i;
		for (j = 1; j <= lb; j++) {
			cost = fold(a[i - 1]) == fold(b[j - 1]) ? 0 : 1;
			d = min3(prev[j] + 1, cur[j - 1] + 1,
				 prev[j - 1] + cost);
			if (i > 1 && j > 1 &&
			    fold(a[i - 1]) == fold(b[j - 2]) &&
			    fold(a[i - 2]) == fold(b[j - 1]) &&
			    pp[j - 2] + 1 < d)
				d = pp[j - 2] + 1;
			cur[j] = d;
		}
	}
	return rows[(la + 1) % 3][lb];
}

const char *
suggest_nearest(const char *word, const char *const *names, size_t n)
{
	size_t len = strlen(word), limit, best_d = SIZE_MAX, d, i;
	const char *best = NULL;

	limit = (len + 2) / 4;
	if (limit < 1)
		limit = 1;
	for (i = 0; i < n; i++) {
		if (names[i] == NULL)
			continue;
		d = suggest_distance(word, names[i]);
		if (d <= limit && d < len && d < best_d) {
			best = names[i];
			best_d = d;
		}
	}
	return best;
}
