/*
 * config.h - settings from the environment (CHAT_* variables), with
 * defaults that match the local stack started by `make start`.
 */
#ifndef CHAT_CONFIG_H
#define CHAT_CONFIG_H

#include <stdbool.h>

/* The most search engine nodes CHAT_ES_URL may list. */
#define CHAT_ES_NODES_MAX 16

struct chat_config {
	const char *mysql_host;
	unsigned mysql_port;
	const char *mysql_socket;	/* NULL: use TCP */
	const char *mysql_user;
	const char *mysql_password;
	const char *mysql_database;
	const char *redis_host;
	unsigned redis_port;
	const char *redis_nodes;	/* cluster seeds host:port,...; NULL:
					   one server at redis_host:port */
	bool redis_durable_replica;	/* CHAT_REDIS_DURABLE=replica: WAIT
					   for a replica after a create */
	unsigned redis_wait_ms;		/* CHAT_REDIS_WAIT_MS, that WAIT's
					   timeout (default 100) */
	const char *redis_user;		/* NULL: AUTH with the password only */
	const char *redis_password;	/* NULL: no AUTH */
	const char *es_url;		/* one node, e.g. http://127.0.0.1:9250,
					   or several separated by commas */
	unsigned es_nodes;		/* how many es_url lists */
	unsigned es_shards;		/* CHAT_ES_SHARDS of a new index (1) */
	unsigned es_replicas;		/* CHAT_ES_REPLICAS of a new index (0
					   for one node, 1 for several) */
	const char *es_index;		/* the alias searched and written */
	unsigned timeout_ms;		/* connecting to a store; Redis
					   commands */
	unsigned mysql_timeout_ms;	/* one SQL statement's reply */
	unsigned es_timeout_ms;		/* one search engine request */
	unsigned batch_timeout_ms;	/* the jobs' statements and bulk
					   requests (chat_config_for_jobs) */
	unsigned worker_batch;		/* jobs per worker batch */
	unsigned worker_wait_ms;	/* longest wait to fill a batch */
	unsigned index_wait_ms;		/* shortest time between two index
					   steps that are not full */
	unsigned worker_tries;		/* before a job is dead-lettered */
	const char *worker_name;	/* the worker's consumer name; NULL:
					   worker-<host name> */
	unsigned worker_claim_ms;	/* idle time after which another
					   consumer's pending entries are
					   taken over */
	unsigned idempotency_ttl;	/* seconds an Idempotency-Key is kept */
	unsigned dead_max;		/* dead-letter entries kept per shard */
	unsigned log_slow_ms;		/* CHAT_LOG_SLOW_MS: a program logs a
					   request that took this long or
					   answered 5xx (0: every request) */
};

/*
 * Fill `cfg` from the environment.  Strings point into environ.  A
 * number that is not one, or out of its range, is logged as a warning
 * that names the variable, its range and the default used instead.
 */
void chat_config_load(struct chat_config *cfg);

/*
 * Append `url` to `out` fit for a log line or an error message: any
 * user:password@ before the host becomes ***@ (CHAT_ES_URL may carry the
 * search engine's credentials).  A comma-separated list (CHAT_ES_URL of a
 * cluster) is shown node by node, each without its credentials.
 */
struct chat_buf;
void chat_config_url_shown(const char *url, struct chat_buf *out);

/*
 * How many nodes the comma-separated list `urls` names (empty items, as
 * in "a,,b" or a trailing comma, are not nodes).  0 for NULL or "".
 */
unsigned chat_config_url_count(const char *urls);

/*
 * For the programs that work in batches (worker, sync, reindex): their
 * statements and bulk requests carry thousands of rows, and nobody waits
 * on them, so the SQL and search timeouts become batch_timeout_ms.
 */
void chat_config_for_jobs(struct chat_config *cfg);
/*
 * The wait `ms` of a blocking Redis read (XREAD... BLOCK), kept under
 * half of timeout_ms: a wait that finds nothing must end before the
 * connection's timeout, or it would count as a server that does not
 * answer (and hold it silent: rconn.h).
 */
unsigned chat_config_block_ms(const struct chat_config *cfg, unsigned ms);

#endif
