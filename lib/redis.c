/*
 * redis.c - Redis connection with reconnect and script loading.
 */
#include "redis.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cluster.h"
#include "config.h"
#include "xalloc.h"

void chat_redis_set_err(struct chat_redis *r, int err, const char *fmt, ...)
{
	char msg[sizeof(r->errstr)];
	va_list ap;

	/* Through a copy: the arguments may be the old errstr. */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->err = err;
	memcpy(r->errstr, msg, sizeof(msg));
}

static void set_err(struct chat_redis *r, int err, const char *msg)
{
	chat_redis_set_err(r, err, "%s", msg);
}

struct chat_redis *chat_redis_new(const struct chat_config *cfg)
{
	struct chat_redis *r = xcalloc(1, sizeof(*r));

	r->cfg = cfg;
	if (cfg->redis_nodes) {
		r->cluster = chat_cluster_new(cfg->redis_nodes, cfg->timeout_ms);
		if (!r->cluster)
			xdie("CHAT_REDIS_NODES=%s: expected host:port[,host:port...]",
			     cfg->redis_nodes);
		chat_cluster_set_auth(r->cluster, cfg->redis_user,
				      cfg->redis_password);
	}
	return r;
}

bool chat_redis_is_cluster(const struct chat_redis *r)
{
	return r->cluster != NULL;
}

/* Cluster mode ---------------------------------------------------------- */

/* Take the cluster's error after a failed call; NULL passes through. */
static redisReply *cluster_done(struct chat_redis *r, redisReply *reply)
{
	if (!reply)
		set_err(r, chat_cluster_err(r->cluster),
			chat_cluster_errstr(r->cluster));
	else
		r->err = 0;
	return reply;
}

static redisReply *cluster_argv(struct chat_redis *r, int argc,
				const char **argv, const size_t *lens)
{
	char *cmd = NULL;
	int len = redisFormatCommandArgv(&cmd, argc, argv, lens);
	redisReply *reply;

	if (len < 0)
		xdie("redisFormatCommandArgv: out of memory");
	reply = chat_cluster_command(r->cluster, cmd, (size_t)len);
	redisFreeCommand(cmd);
	return cluster_done(r, reply);
}

static redisReply *cluster_vcmd(struct chat_redis *r, const char *fmt,
				va_list ap)
{
	char *cmd = NULL;
	int len = redisvFormatCommand(&cmd, fmt, ap);
	redisReply *reply;

	if (len < 0) {
		set_err(r, REDIS_ERR_OTHER, "bad command format");
		return NULL;
	}
	reply = chat_cluster_command(r->cluster, cmd, (size_t)len);
	redisFreeCommand(cmd);
	return cluster_done(r, reply);
}

/* SCRIPT LOAD on the node serving `key` (any node when NULL). */
static redisReply *cluster_script_load(struct chat_redis *r, const char *body,
				       const char *key, size_t key_len)
{
	const char *argv[] = { "SCRIPT", "LOAD", body };
	char *cmd = NULL;
	int len = redisFormatCommandArgv(&cmd, 3, argv, NULL);
	redisReply *reply;

	if (len < 0)
		xdie("redisFormatCommandArgv: out of memory");
	reply = key ? chat_cluster_command_at(r->cluster,
					      chat_cluster_key_slot(key,
								    key_len),
					      cmd, (size_t)len) :
		      chat_cluster_command(r->cluster, cmd, (size_t)len);
	redisFreeCommand(cmd);
	return cluster_done(r, reply);
}

static void disconnect(struct chat_redis *r)
{
	chat_rconn_close(&r->conn);
}

void chat_redis_free(struct chat_redis *r)
{
	if (!r)
		return;
	disconnect(r);
	chat_cluster_free(r->cluster);
	free(r);
}

/*
 * A command on the connection failed without a reply (errno `saved`
 * right after): take its reason and close (a timeout makes the server
 * silent: rconn.h).
 */
static void conn_failed(struct chat_redis *r, int saved)
{
	chat_rconn_failed(&r->conn, r->cfg->redis_host,
			  (int)r->cfg->redis_port, saved);
	set_err(r, r->conn.err, r->conn.errstr);
}

int chat_redis_connect(struct chat_redis *r)
{
	if (r->cluster) {
		if (chat_cluster_refresh(r->cluster) == 0)
			return 0;
		set_err(r, chat_cluster_err(r->cluster),
			chat_cluster_errstr(r->cluster));
		return -1;
	}
	if (chat_rconn_open(&r->conn, r->cfg->redis_host,
			    (int)r->cfg->redis_port, r->cfg->timeout_ms,
			    r->cfg->redis_user, r->cfg->redis_password)) {
		set_err(r, r->conn.err, r->conn.errstr);
		return -1;
	}
	r->err = 0;
	return 0;
}

/*
 * A failed command is retried only when the connection was found closed
 * (the server restarted since the last use): then the command never ran.
 * After a timeout it may have run, and running a create twice is worse
 * than a 503.
 */
static void command_failed(struct chat_redis *r, bool *retry)
{
	int e = errno;

	*retry = chat_rconn_was_reset(r->conn.c->err, e);
	conn_failed(r, e);
}

redisReply *chat_redis_argv(struct chat_redis *r, int argc, const char **argv,
			    const size_t *lens)
{
	redisReply *reply = NULL;
	bool retry = true;

	if (r->cluster)
		return cluster_argv(r, argc, argv, lens);
	for (int attempt = 0; attempt < 2 && retry; attempt++) {
		bool was_connected = r->conn.c != NULL;

		if (chat_redis_connect(r))
			return NULL;
		reply = redisCommandArgv(r->conn.c, argc, argv, lens);
		if (reply)
			break;
		command_failed(r, &retry);
		retry = retry && was_connected;
	}
	return reply;
}

redisReply *chat_redis_vcmd(struct chat_redis *r, const char *fmt,
			    va_list ap)
{
	redisReply *reply = NULL;
	bool retry = true;

	if (r->cluster)
		return cluster_vcmd(r, fmt, ap);
	for (int attempt = 0; attempt < 2 && retry; attempt++) {
		bool was_connected = r->conn.c != NULL;
		va_list aq;

		if (chat_redis_connect(r))
			return NULL;
		va_copy(aq, ap);
		reply = redisvCommand(r->conn.c, fmt, aq);
		va_end(aq);
		if (reply)
			break;
		command_failed(r, &retry);
		retry = retry && was_connected;
	}
	return reply;
}

redisReply *chat_redis_cmd(struct chat_redis *r, const char *fmt, ...)
{
	redisReply *reply;
	va_list ap;

	va_start(ap, fmt);
	reply = chat_redis_vcmd(r, fmt, ap);
	va_end(ap);
	return reply;
}

static bool is_noscript(const redisReply *reply)
{
	return reply->type == REDIS_REPLY_ERROR &&
	       strncmp(reply->str, "NOSCRIPT", 8) == 0;
}

/*
 * Load `s` on the server, or on a Cluster on the node serving `key` (the
 * script's first key; any node when NULL): each node has its own cache.
 */
static int load_script(struct chat_redis *r, struct chat_script *s,
		       const char *key, size_t key_len)
{
	redisReply *reply = r->cluster ?
		cluster_script_load(r, s->body, key, key_len) :
		chat_redis_cmd(r, "SCRIPT LOAD %s", s->body);

	if (!reply)
		return -1;
	if (reply->type != REDIS_REPLY_STRING || reply->len != 40) {
		set_err(r, REDIS_ERR_OTHER, reply->type == REDIS_REPLY_ERROR ?
			reply->str : "SCRIPT LOAD: unexpected reply");
		freeReplyObject(reply);
		return -1;
	}
	memcpy(s->sha, reply->str, 41);
	freeReplyObject(reply);
	return 0;
}

redisReply *chat_redis_eval(struct chat_redis *r, struct chat_script *s,
			    int nkeys, int argc, const char **argv,
			    const size_t *lens)
{
	const char **av = xmalloc(sizeof(*av) * ((size_t)argc + 3));
	size_t *al = xmalloc(sizeof(*al) * ((size_t)argc + 3));
	const char *key = nkeys > 0 && argc > 0 ? argv[0] : NULL;
	size_t key_len = key ? (lens ? lens[0] : strlen(key)) : 0;
	char nk[16];
	redisReply *reply = NULL;

	if (!s->sha[0] && load_script(r, s, key, key_len))
		goto out;
	snprintf(nk, sizeof(nk), "%d", nkeys);
	av[0] = "EVALSHA";
	al[0] = 7;
	av[1] = s->sha;
	al[1] = 40;
	av[2] = nk;
	al[2] = strlen(nk);
	for (int i = 0; i < argc; i++) {
		av[i + 3] = argv[i];
		al[i + 3] = lens ? lens[i] : strlen(argv[i]);
	}
	reply = chat_redis_argv(r, argc + 3, av, al);
	/* The server forgot the script (restart, SCRIPT FLUSH). */
	if (reply && is_noscript(reply)) {
		freeReplyObject(reply);
		reply = NULL;
		if (load_script(r, s, key, key_len) == 0)
			reply = chat_redis_argv(r, argc + 3, av, al);
	}
out:
	free(av);
	free(al);
	return reply;
}

int chat_redis_append(struct chat_redis *r, int argc, const char **argv,
		      const size_t *lens)
{
	if (r->cluster) {
		char *cmd = NULL;
		int len = redisFormatCommandArgv(&cmd, argc, argv, lens);

		if (len < 0)
			xdie("redisFormatCommandArgv: out of memory");
		chat_cluster_append(r->cluster, cmd, (size_t)len);
		return 0;
	}
	if (chat_redis_connect(r))
		return -1;
	if (redisAppendCommandArgv(r->conn.c, argc, argv, lens) != REDIS_OK)
		xdie("redisAppend: out of memory");
	return 0;
}

redisReply *chat_redis_reply(struct chat_redis *r)
{
	void *reply = NULL;

	if (r->cluster)
		return cluster_done(r, chat_cluster_reply(r->cluster));
	if (!r->conn.c) {
		set_err(r, REDIS_ERR_IO, "not connected");
		return NULL;
	}
	if (redisGetReply(r->conn.c, &reply) != REDIS_OK) {
		conn_failed(r, errno);
		return NULL;
	}
	return reply;
}

int chat_redis_send(struct chat_redis *r)
{
	int done = 0;

	if (r->cluster) {
		chat_cluster_send(r->cluster);
		return 0;
	}
	if (!r->conn.c) {
		set_err(r, REDIS_ERR_IO, "not connected");
		return -1;
	}
	while (!done)
		if (redisBufferWrite(r->conn.c, &done) != REDIS_OK) {
			conn_failed(r, errno);
			return -1;
		}
	return 0;
}

int chat_redis_replies(struct chat_redis *r, size_t n, int want_type)
{
	char first[sizeof(r->errstr)] = "";
	int rc = 0;

	while (n--) {
		redisReply *reply = chat_redis_reply(r);

		if (reply && (reply->type == REDIS_REPLY_ERROR ||
			      (want_type && reply->type != want_type)))
			snprintf(r->errstr, sizeof(r->errstr), "%s",
				 reply->type == REDIS_REPLY_ERROR ?
					 reply->str : "unexpected reply");
		else if (reply) {
			freeReplyObject(reply);
			continue;
		}
		freeReplyObject(reply);
		if (!first[0])
			memcpy(first, r->errstr, sizeof(first));
		rc = -1;
		/*
		 * One server's lost connection takes the rest with it; a
		 * cluster's other nodes' replies are still to be read.
		 */
		if (!reply && !r->cluster)
			break;
	}
	if (rc)
		memcpy(r->errstr, first, sizeof(first));
	return rc;
}

long long chat_redis_wait(struct chat_redis *r, unsigned replicas,
			  unsigned timeout_ms)
{
	redisReply *reply;
	long long n = -1;

	if (r->cluster) {
		char *cmd = NULL;
		int len = redisFormatCommand(&cmd, "WAIT %u %u", replicas,
					     timeout_ms);

		if (len < 0)
			xdie("redisFormatCommand: out of memory");
		reply = cluster_done(r, chat_cluster_command_last(r->cluster,
								  cmd,
								  (size_t)len));
		redisFreeCommand(cmd);
	} else {
		/* No reconnect: WAIT counts this connection's writes. */
		if (!r->conn.c) {
			set_err(r, REDIS_ERR_IO, "not connected");
			return -1;
		}
		reply = redisCommand(r->conn.c, "WAIT %u %u", replicas,
				     timeout_ms);
		if (!reply) {
			bool retry;

			command_failed(r, &retry);
			return -1;
		}
	}
	if (reply && reply->type == REDIS_REPLY_INTEGER)
		n = reply->integer;
	else if (reply)
		set_err(r, REDIS_ERR_OTHER, reply->type == REDIS_REPLY_ERROR ?
			reply->str : "WAIT: unexpected reply");
	freeReplyObject(reply);
	return n;
}

bool chat_redis_ping(struct chat_redis *r)
{
	redisReply *reply = chat_redis_cmd(r, "PING");
	bool ok = reply && reply->type == REDIS_REPLY_STATUS &&
		  strcmp(reply->str, "PONG") == 0;

	freeReplyObject(reply);
	return ok;
}
