/*
 * redis.h - Redis with reconnect, argv-form commands and Lua scripts run
 * by EVALSHA (loaded on NOSCRIPT).  The numbering and queue scripts of
 * the service live in queue.h, on top of this.
 *
 * With CHAT_REDIS_NODES set the handle talks to a Redis Cluster instead
 * of one server (cluster.h): every function below keeps its contract,
 * each command going to the node serving its key's slot; a pipeline is
 * split per node and its replies come back in the order of the appends.
 */
#ifndef CHAT_REDIS_H
#define CHAT_REDIS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "rconn.h"

struct chat_config;
struct chat_cluster;

struct chat_redis {
	struct chat_rconn conn;		/* one server: rconn.h */
	struct chat_cluster *cluster;	/* NULL: one server */
	const struct chat_config *cfg;
	int err;			/* hiredis REDIS_ERR_* or 0 */
	char errstr[128];
};

/* A Lua script with its SHA1, computed on first load. */
struct chat_script {
	const char *name;
	const char *body;
	char sha[41];
};

struct chat_redis *chat_redis_new(const struct chat_config *cfg);
/*
 * The one helper that fills r->err (a hiredis REDIS_ERR_*) and r->errstr,
 * for this module and those that read replies for it (stream.c).
 */
__attribute__((format(printf, 3, 4)))
void chat_redis_set_err(struct chat_redis *r, int err, const char *fmt, ...);
/* Disconnect and free; accepts NULL. */
void chat_redis_free(struct chat_redis *r);
int chat_redis_connect(struct chat_redis *r);

/*
 * Run one command given as argv (binary-safe through `lens`; NULL lens
 * means NUL-terminated strings).  Reconnects and retries once when the
 * connection was lost.  Returns the reply (caller frees it with
 * freeReplyObject; it may be an error reply) or NULL when Redis cannot be
 * reached (err/errstr set).
 */
redisReply *chat_redis_argv(struct chat_redis *r, int argc, const char **argv,
			    const size_t *lens);
/* printf-style command (use %b or %s for data).  Same contract. */
redisReply *chat_redis_cmd(struct chat_redis *r, const char *fmt, ...);
redisReply *chat_redis_vcmd(struct chat_redis *r, const char *fmt,
			    va_list ap);

/*
 * Run `s` with `nkeys` keys followed by arguments: keys and args are in
 * argv[0..argc).  EVALSHA first, SCRIPT LOAD on NOSCRIPT.  Same contract
 * as chat_redis_argv.
 */
redisReply *chat_redis_eval(struct chat_redis *r, struct chat_script *s,
			    int nkeys, int argc, const char **argv,
			    const size_t *lens);

/* Pipelining: append commands, then read their replies in order. */
int chat_redis_append(struct chat_redis *r, int argc, const char **argv,
		      const size_t *lens);
redisReply *chat_redis_reply(struct chat_redis *r);
/*
 * Read and free `n` pipelined replies (on a cluster all of them, past a
 * missing one: chat_cluster_reply).  Returns -1 when one is missing, an
 * error, or (want_type not 0) of another type; errstr says which (the
 * first).
 */
int chat_redis_replies(struct chat_redis *r, size_t n, int want_type);
/*
 * Send the commands appended so far now, without waiting for a reply:
 * Redis runs them while the caller does other work, and their replies
 * are read later with chat_redis_reply.  No other command may run on the
 * handle in between.  Returns 0, or -1 when the connection was lost
 * (then reading the replies fails too).
 */
int chat_redis_send(struct chat_redis *r);

/* True when the handle talks to a Redis Cluster. */
bool chat_redis_is_cluster(const struct chat_redis *r);

/*
 * WAIT until `replicas` replicas hold every write made so far on the
 * connection of the last command, or `timeout_ms` passed.  Returns how
 * many acknowledged, or -1 (connection lost; errstr says why).
 */
long long chat_redis_wait(struct chat_redis *r, unsigned replicas,
			  unsigned timeout_ms);

/* True when PING answers PONG. */
bool chat_redis_ping(struct chat_redis *r);

#endif
