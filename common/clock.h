/* The monotonic clock, for deadlines and durations that a change of the wall clock must not
 * bend. */
#ifndef LBOX_COMMON_CLOCK_H
#define LBOX_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t lbox_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
