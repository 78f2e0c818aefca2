/*
 * clock.c - monotonic time for timeouts and backoff.
 */
#include "clock.h"

#include <time.h>

double chat_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void chat_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

void chat_sleep_rest_ms(double started, unsigned ms)
{
	double left = started + ms - chat_now_ms();

	if (left >= 1)
		chat_sleep_ms((unsigned)left);
}

unsigned chat_backoff_next(unsigned cur, unsigned min, unsigned max)
{
	if (!cur)
		return min;
	return cur > max / 2 ? max : cur * 2;
}
