/*
 * config.h - settings from the environment (CHAT_* variables), with
 * defaults that match the local stack started by `make start`.
 */
#ifndef CHAT_CONFIG_H
#define CHAT_CONFIG_H

#include <stdbool.h>

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
	const char *es_url;		/* e.g. http://127.0.0.1:9250 */
	const char *es_index;		/* the alias searched and written */
	unsigned timeout_ms;		/* connecting to a store; Redis
					   commands */
	unsigned mysql_timeout_ms;	/* one SQL statement's reply */
	unsigned es_timeout_ms;		/* one search engine request */
	unsigned batch_timeout_ms;	/* the jobs' statements and bulk
					   requests (chat_config_for_jobs) */
	unsigned worker_batch;		/* jobs per worker batch */
	unsigned worker_wait_ms;	/* longest wait to fill a batch */
	unsigned worker_tries;		/* before a job is dead-lettered */
	const char *worker_name;	/* the worker's consumer name; NULL:
					   worker-<host name> */
	unsigned worker_claim_ms;	/* idle time after which another
					   consumer's pending entries are
					   taken over */
	unsigned idempotency_ttl;	/* seconds an Idempotency-Key is kept */
	unsigned dead_max;		/* dead-letter entries kept per shard */
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
 * search engine's credentials).
 */
struct chat_buf;
void chat_config_url_shown(const char *url, struct chat_buf *out);

/*
 * For the programs that work in batches (worker, sync, reindex): their
 * statements and bulk requests carry thousands of rows, and nobody waits
 * on them, so the SQL and search timeouts become batch_timeout_ms.
 */
void chat_config_for_jobs(struct chat_config *cfg);

#endif
