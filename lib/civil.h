/*
 * civil: the proleptic Gregorian calendar without time zones, shared by
 * timefmt (evctl's times), calendar (calendar expressions) and tz (the
 * zone database reader). Pure: no I/O, no state; every year (negative
 * ones too).
 */
#ifndef EVD_CIVIL_H
#define EVD_CIVIL_H

#include <stdbool.h>
#include <stdint.h>

bool civil_is_leap(int64_t y);
/* Days in month m (1..12) of year y. */
int civil_days_in_month(int64_t y, int m);
/* Days from 1970-01-01 to y-m-d (H. Hinnant's days_from_civil: exact for
 * every year, no tables). m is 1..12, d 1..31. */
int64_t civil_days_from_civil(int64_t y, int m, int d);
/* The inverse (civil_from_days): the date days after 1970-01-01, into
 * *ret_y, *ret_m (1..12) and *ret_d (1..31). Exact for |days| < 2^60. */
void civil_from_days(int64_t days, int64_t *ret_y, int *ret_m, int *ret_d);
/* The weekday of the day days after 1970-01-01: 0 Sunday .. 6 Saturday. */
int civil_weekday(int64_t days);

#endif
