/*
 * The soft accelerator's time base: nanoseconds of CLOCK_MONOTONIC since the
 * VM started. The soft TSC, the LAPIC timers and the PIT all count from it.
 */
#include "vmm/accel/soft/chipset.h"
#include "common/util.h"

#include <stdatomic.h>

static _Atomic uint64_t clock_origin_ns;

/* Start guest time at zero now. */
void soft_clock_start(void)
{
	atomic_store(&clock_origin_ns, clock_ns());
}

/* Guest time: monotonic nanoseconds since soft_clock_start(). */
uint64_t soft_now_ns(void)
{
	uint64_t now = clock_ns(),
		 origin = atomic_load_explicit(&clock_origin_ns, memory_order_relaxed);

	return now > origin ? now - origin : 0;
}
