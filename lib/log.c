/*
 * log.c - timestamped log lines on stderr.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

static const char *log_name = "chat";
static pid_t log_pid;		/* getpid() is a system call each time */

void chat_log_init(const char *name)
{
	log_name = name;
	log_pid = getpid();
}

static void vlog(const char *level, const char *fmt, va_list ap)
{
	struct timeval tv;
	struct tm tm;
	char ts[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	/* One fprintf per line keeps lines whole when processes share a file. */
	char line[2048];
	int n = vsnprintf(line, sizeof(line), fmt, ap);

	if (n < 0)
		return;
	fprintf(stderr, "%s.%03dZ %s[%d] %s %s\n", ts, (int)(tv.tv_usec / 1000),
		log_name, (int)(log_pid ? log_pid : getpid()), level, line);
}

void chat_log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("info", fmt, ap);
	va_end(ap);
}

void chat_log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("warn", fmt, ap);
	va_end(ap);
}

void chat_log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("error", fmt, ap);
	va_end(ap);
}

bool chat_log_warn_limited(struct chat_log_limit *lim, const char *fmt, ...)
{
	double now = chat_now_ms();
	char line[2048];
	va_list ap;

	if (now < lim->next_at) {
		lim->left_out++;
		return false;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (lim->left_out)
		chat_log_warn("%s (and %lu more like it left out of the log "
			      "since the last)", line, lim->left_out);
	else
		chat_log_warn("%s", line);
	lim->left_out = 0;
	lim->next_at = now + CHAT_LOG_LIMIT_MS;
	return true;
}
