/*
 * core/cpu_linux.c - wv_cpu_count from the affinity mask (Linux).
 */
#include "internal.h"

#include <sched.h>
#include <unistd.h>

int wv_cpu_count(void)
{
    cpu_set_t set;

    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    /* More CPUs than cpu_set_t holds (> 1024), or a sandbox that hides the
     * mask: the configured count is the best remaining answer. */
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
