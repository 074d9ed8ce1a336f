/* now.h -- the two clocks every program, benchmark and test reads, in
 * nanoseconds: monotonic for durations, real time for stamps that other
 * processes compare with their own clocks. Both go through the vDSO, so
 * they cost no system call. */
#ifndef COMMON_NOW_H
#define COMMON_NOW_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC: for intervals and deadlines; never jumps. */
static inline int64_t now_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CLOCK_REALTIME: for times written into shared memory and shown to
 * people (a start time, the last update). */
static inline int64_t now_real_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
