/*
 * log.h - one-line log records on stderr (spawn-fcgi and the stack send
 * stderr to a log file).  Never log database ids or tokens.
 */
#ifndef CHAT_LOG_H
#define CHAT_LOG_H

#include <stdbool.h>

/* Name printed in every line; set once from main(). */
void chat_log_init(const char *name);
__attribute__((format(printf, 1, 2))) void chat_log_info(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void chat_log_warn(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void chat_log_error(const char *fmt, ...);

/* A warning logged at most once per CHAT_LOG_LIMIT_MS: chat_log_warn_limited. */
#define CHAT_LOG_LIMIT_MS 1000

struct chat_log_limit {
	double next_at;		/* chat_now_ms() from which one is logged */
	unsigned long left_out;	/* since the last one logged */
};

/*
 * A warning that repeats for as long as a store is down (every turn of a
 * loop, every event): logged when CHAT_LOG_LIMIT_MS passed since the last
 * one `lim` logged, else only counted; a line logged after some were left
 * out says how many.  `lim` starts zeroed; one per kind of warning and
 * thread.  Returns true when logged.
 */
__attribute__((format(printf, 2, 3)))
bool chat_log_warn_limited(struct chat_log_limit *lim, const char *fmt, ...);

#endif
