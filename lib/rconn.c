/*
 * rconn.c - one connection to one Redis server, with the silent hold
 * (see rconn.h).
 */
#include "rconn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "clock.h"
#include "xalloc.h"

__attribute__((format(printf, 2, 3)))
static void set_err(struct chat_rconn *rc, const char *fmt, ...)
{
	char msg[sizeof(rc->errstr)];
	va_list ap;

	/* Through a copy: the arguments may be the old errstr. */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	memcpy(rc->errstr, msg, sizeof(msg));
}

static struct timeval ms_tv(unsigned ms)
{
	struct timeval tv = {
		.tv_sec = ms / 1000,
		.tv_usec = (ms % 1000) * 1000,
	};

	return tv;
}

/* A failure of a connect, a write or a read that was its timeout. */
static bool timed_out(int err, int saved_errno)
{
	return err == REDIS_ERR_IO &&
	       (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK ||
		saved_errno == ETIMEDOUT || saved_errno == EINPROGRESS);
}

bool chat_rconn_was_reset(int err, int saved_errno)
{
	return err == REDIS_ERR_EOF ||
	       (err == REDIS_ERR_IO &&
		(saved_errno == ECONNRESET || saved_errno == EPIPE));
}

void chat_rconn_close(struct chat_rconn *rc)
{
	if (rc->c)
		redisFree(rc->c);
	rc->c = NULL;
}

void chat_rconn_failed(struct chat_rconn *rc, const char *host, int port,
		       int saved_errno)
{
	if (!rc->c)
		return;
	rc->err = rc->c->err;
	set_err(rc, "%s:%d: %s", host, port, rc->c->errstr);
	if (timed_out(rc->c->err, saved_errno))
		rc->silent_until = chat_now_ms() + CHAT_RCONN_HOLD_MS;
	chat_rconn_close(rc);
}

/*
 * One command on the fresh connection, checked: 0, or -1 and errno kept;
 * an error reply is told as "`what`: reply".
 */
static int hello(struct chat_rconn *rc, const char *host, int port, int argc,
		 const char **argv, const char *what)
{
	redisReply *reply = redisCommandArgv(rc->c, argc, argv, NULL);
	int saved = errno;

	if (reply && reply->type != REDIS_REPLY_ERROR) {
		freeReplyObject(reply);
		return 0;
	}
	if (!reply) {
		chat_rconn_failed(rc, host, port, saved);
	} else {
		rc->err = REDIS_ERR_OTHER;
		set_err(rc, "%s:%d: %s: %s", host, port, what, reply->str);
		freeReplyObject(reply);
		chat_rconn_close(rc);
	}
	return -1;
}

int chat_rconn_open(struct chat_rconn *rc, const char *host, int port,
		    unsigned timeout_ms, const char *user, const char *password)
{
	const char *auth[3] = { "AUTH" }, *ping[] = { "PING" };
	int nauth = 1, saved;
	bool probe = rc->silent_until > 0;
	unsigned ms = probe && timeout_ms > CHAT_RCONN_PROBE_MS ?
			      CHAT_RCONN_PROBE_MS : timeout_ms;

	if (rc->c)
		return 0;
	if (probe && chat_now_ms() < rc->silent_until) {
		rc->err = REDIS_ERR_IO;
		set_err(rc, "%s:%d: timed out less than %d ms ago, not asked "
			"again yet", host, port, CHAT_RCONN_HOLD_MS);
		return -1;
	}
	rc->c = redisConnectWithTimeout(host, port, ms_tv(ms));
	saved = errno;
	if (!rc->c)
		xdie("redisConnect: out of memory");
	if (rc->c->err) {
		chat_rconn_failed(rc, host, port, saved);
		return -1;
	}
	redisSetTimeout(rc->c, ms_tv(ms));
	redisEnableKeepAlive(rc->c);
	if (user)
		auth[nauth++] = user;
	auth[nauth++] = password;
	/* The error names the settings, never their values. */
	if ((password && hello(rc, host, port, nauth, auth, user ?
			       "AUTH refused (CHAT_REDIS_USER, "
			       "CHAT_REDIS_PASSWORD)" :
			       "AUTH refused (CHAT_REDIS_PASSWORD)")) ||
	    (probe && hello(rc, host, port, 1, ping, "PING")))
		return -1;
	if (probe) {
		redisSetTimeout(rc->c, ms_tv(timeout_ms));
		rc->silent_until = 0;
	}
	return 0;
}
