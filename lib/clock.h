/*
 * clock.h - monotonic time for timeouts and backoff.
 */
#ifndef CHAT_CLOCK_H
#define CHAT_CLOCK_H

/* Milliseconds on the monotonic clock (not wall time). */
double chat_now_ms(void);
/* Sleep `ms` milliseconds (less when a signal arrives). */
void chat_sleep_ms(unsigned ms);
/*
 * Sleep until `ms` milliseconds after `started` (a chat_now_ms() value),
 * when a whole millisecond or more of that is left.
 */
void chat_sleep_rest_ms(double started, unsigned ms);
/*
 * The pause after `cur` ms (0: none yet): `min` first, then doubling up
 * to `max`.
 */
unsigned chat_backoff_next(unsigned cur, unsigned min, unsigned max);

#endif
