/*
 * rconn.h - one connection to one Redis server, opened with AUTH, and held
 * silent after a timeout: the connection of redis.c (one server) and of
 * each node of cluster.c.
 *
 * A server that let a connect or a reply time out (its host cut off, its
 * process hung: the kernel may still take connections, or drop them, and
 * nothing answers) is silent for CHAT_RCONN_HOLD_MS: chat_rconn_open
 * fails at once meanwhile.  A process serves one request at a time, so
 * without the hold every command for that server would wait out the
 * timeout, and soon every process of the host would be waiting, also
 * from the requests that need another server or none.  After the hold,
 * one probe (connect, AUTH, PING within CHAT_RCONN_PROBE_MS) says whether
 * it is back, or holds it again.
 */
#ifndef CHAT_RCONN_H
#define CHAT_RCONN_H

#include <stdbool.h>

#include <hiredis/hiredis.h>

#define CHAT_RCONN_HOLD_MS 1000
#define CHAT_RCONN_PROBE_MS 100

struct chat_rconn {
	redisContext *c;		/* NULL while closed */
	double silent_until;		/* chat_now_ms(); 0: not silent */
	int err;			/* REDIS_ERR_* of the last failure */
	char errstr[128];		/* "host:port: why" */
};

/*
 * Open `rc` unless it is open: connect to host:port within `timeout_ms`
 * (CHAT_RCONN_PROBE_MS for a probe), the same for each reply after, then
 * AUTH [user] password when `password` is not NULL (both borrowed).
 * Returns 0, or -1 with the reason in rc->err and rc->errstr (naming the
 * settings, never their values), rc closed.
 */
int chat_rconn_open(struct chat_rconn *rc, const char *host, int port,
		    unsigned timeout_ms, const char *user,
		    const char *password);
/*
 * A command on rc->c failed without a reply, `saved_errno` being errno
 * right after: keep the reason, close; a timeout makes the server silent.
 */
void chat_rconn_failed(struct chat_rconn *rc, const char *host, int port,
		       int saved_errno);
/* True when the last failure was a connection found closed or reset. */
bool chat_rconn_was_reset(int err, int saved_errno);
/* Close; accepts a closed connection. */
void chat_rconn_close(struct chat_rconn *rc);

#endif
