/*
 * civil: the proleptic Gregorian calendar without time zones, shared by
 * timefmt (evctl's times) and calendar (calendar expressions, also built
 * into evd). Pure: no I/O, no state; every year (negative ones too).
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

#endif
