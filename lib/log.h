/*
 * log.h - one-line log records on stderr (spawn-fcgi and the stack send
 * stderr to a log file).  Never log database ids or tokens.
 */
#ifndef CHAT_LOG_H
#define CHAT_LOG_H

/* Name printed in every line; set once from main(). */
void chat_log_init(const char *name);
__attribute__((format(printf, 1, 2))) void chat_log_info(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void chat_log_warn(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void chat_log_error(const char *fmt, ...);

#endif
