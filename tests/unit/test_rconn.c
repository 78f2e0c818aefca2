/*
 * test_rconn.c - unit tests of a Redis server that never answers
 * (lib/rconn.c, under lib/redis.c and lib/cluster.c): a loopback port
 * that takes connections and never answers, as a hung server's, costs
 * the timeout once; then the server is silent and commands fail at once
 * for a second, after which one short probe finds it still silent.
 *
 * The time bounds are wide: what they tell apart is the timeout (2 s)
 * from the probe (0.1 s) and from no wait.  The error text says which
 * path a failure took.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "clock.h"
#include "cluster.h"
#include "config.h"
#include "rconn.h"
#include "redis.h"

#define TIMEOUT_MS 2000
/* What a failure during the hold says. */
#define HELD "not asked again yet"

/*
 * A loopback port that takes connections and never answers: the kernel
 * completes them into the backlog of a socket nobody accepts on.
 * Returns the socket (close it after) and its port.
 */
static int silent_peer(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, 64), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* A command that fails: how long it took, and why (from errstr). */
typedef const char *(*fail_fn)(void *arg);

static double failing_ms(fail_fn f, void *arg, const char **why)
{
	double t0 = chat_now_ms();

	*why = f(arg);
	return chat_now_ms() - t0;
}

/*
 * The sequence every client of a silent server goes through: the
 * timeout, the hold, the probe after it, the hold again.
 */
static void silent_sequence(fail_fn f, void *arg)
{
	const char *why;
	double ms;

	ms = failing_ms(f, arg, &why);
	cr_assert_geq(ms, TIMEOUT_MS - 100, "the first command failed after "
		      "%.0f ms, not the timeout (%s)", ms, why);
	cr_assert_null(strstr(why, HELD), "%s", why);
	ms = failing_ms(f, arg, &why);
	cr_assert_lt(ms, 500, "a command during the hold took %.0f ms", ms);
	cr_assert_not_null(strstr(why, HELD), "%s", why);
	usleep((CHAT_RCONN_HOLD_MS + 100) * 1000);
	ms = failing_ms(f, arg, &why);
	cr_assert_lt(ms, 1000, "after the hold a command took %.0f ms, not "
		     "a probe's", ms);
	cr_assert_null(strstr(why, HELD), "no probe after the hold: %s", why);
	ms = failing_ms(f, arg, &why);
	cr_assert_lt(ms, 500, "a command after the probe took %.0f ms", ms);
	cr_assert_not_null(strstr(why, HELD), "the probe did not hold the "
			   "server again: %s", why);
}

struct one_conn {
	struct chat_rconn rc;
	int port;
};

/* The connection alone: open and PING, as a caller does. */
static const char *conn_ping(void *arg)
{
	struct one_conn *o = arg;
	redisReply *reply;

	if (chat_rconn_open(&o->rc, "127.0.0.1", o->port, TIMEOUT_MS, NULL,
			    NULL))
		return o->rc.errstr;
	reply = redisCommand(o->rc.c, "PING");
	cr_assert_null(reply, "a silent peer answered");
	chat_rconn_failed(&o->rc, "127.0.0.1", o->port, errno);
	return o->rc.errstr;
}

Test(rconn, silent_connection)
{
	struct one_conn o = { .rc = { .c = NULL } };
	int fd = silent_peer(&o.port);

	silent_sequence(conn_ping, &o);
	chat_rconn_close(&o.rc);
	close(fd);
}

/* One server (CHAT_REDIS_HOST): chat_redis_cmd. */
static const char *redis_get(void *arg)
{
	struct chat_redis *r = arg;

	cr_assert_null(chat_redis_cmd(r, "GET %s", "k"));
	return r->errstr;
}

Test(rconn, silent_server)
{
	struct chat_config cfg;
	struct chat_redis *r;
	int port, fd = silent_peer(&port);

	memset(&cfg, 0, sizeof(cfg));
	cfg.redis_host = "127.0.0.1";
	cfg.redis_port = (unsigned)port;
	cfg.timeout_ms = TIMEOUT_MS;
	r = chat_redis_new(&cfg);
	silent_sequence(redis_get, r);
	chat_redis_free(r);
	close(fd);
}

/* A cluster whose one seed never answers: chat_cluster_command. */
static const char *cluster_get(void *arg)
{
	struct chat_cluster *cl = arg;
	char *cmd = NULL;
	int len = redisFormatCommand(&cmd, "GET %s", "k");

	cr_assert_null(chat_cluster_command(cl, cmd, (size_t)len));
	redisFreeCommand(cmd);
	return chat_cluster_errstr(cl);
}

Test(rconn, silent_cluster_node)
{
	int port, fd = silent_peer(&port);
	char seed[32];
	struct chat_cluster *cl;

	snprintf(seed, sizeof(seed), "127.0.0.1:%d", port);
	cl = chat_cluster_new(seed, TIMEOUT_MS);
	silent_sequence(cluster_get, cl);
	chat_cluster_free(cl);
	close(fd);
}
