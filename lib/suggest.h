/*
 * suggest: "did you mean ...?" for a mistyped name (an evctl verb or
 * option, an evd.conf key): the nearest of a list of names by
 * Damerau-Levenshtein distance (the optimal string alignment variant:
 * insertions, deletions, substitutions and transpositions of adjacent
 * characters each cost 1), ASCII letters compared without case.
 *
 * Pure: no I/O, no allocation, no global state; thread-safe. Shared by
 * evd (config) and evctl, so both suggest by the same rule.
 */
#ifndef EVD_SUGGEST_H
#define EVD_SUGGEST_H

#include <stddef.h>

/* Names longer than this are never suggested nor matched. */
#define SUGGEST_NAME_MAX 64

/*
 * The distance between a and b, or SIZE_MAX when either is longer than
 * SUGGEST_NAME_MAX.
 */
size_t suggest_distance(const char *a, const char *b);

/*
 * The name of names[0..n) nearest to word, or NULL when none is near
 * enough: at most 1 edit for a word of up to 5 characters, 2 up to 9, 3
 * up to 13 and so on ((length + 2) / 4, at least 1), and fewer edits
 * than the word has characters. Ties go to the earlier name. A name
 * equal to word is returned (distance 0); NULL entries are skipped.
 */
const char *suggest_nearest(const char *word, const char *const *names,
			    size_t n);

#endif
