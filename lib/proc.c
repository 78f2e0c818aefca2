/*
 * proc.c - the stop flag and the signal set-up of every program (proc.h).
 */
#include "proc.h"

#include <pthread.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "clock.h"

/* Shortest time between two trims of one caller. */
#define TRIM_EVERY_MS 1000

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

void chat_proc_init(unsigned flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (flags & CHAT_PROC_HUP)
		sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

bool chat_proc_stopping(void)
{
	return stop_requested != 0;
}

void chat_proc_block_stop(sigset_t *old)
{
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, old);
}

bool chat_proc_trim_due(double *next_at)
{
	double now = chat_now_ms();

	if (now < *next_at)
		return false;
	*next_at = now + TRIM_EVERY_MS;
	return true;
}

/*
 * Under AddressSanitizer every allocation is the sanitizer's: glibc's heap
 * holds nothing to give back, and glibc's malloc_trim, which the
 * sanitizer does not intercept, walks glibc's own arenas anyway (a worker
 * restarted by test_faults crashed in it, reading near address 0).
 */
#if defined(__SANITIZE_ADDRESS__)		/* gcc */
#define UNDER_ASAN 1
#elif defined(__has_feature)			/* clang */
#define UNDER_ASAN __has_feature(address_sanitizer)
#else
#define UNDER_ASAN 0
#endif

void chat_proc_trim(void)
{
#if defined(__GLIBC__) && !UNDER_ASAN
	malloc_trim(0);
#endif
}
