/*
 * config.c - read CHAT_* environment variables.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "text.h"

static const char *str_env(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

static unsigned uint_env(const char *name, unsigned def, unsigned min,
			 unsigned max)
{
	const char *v = getenv(name);
	uint64_t n;

	if (!v || !*v)
		return def;
	if (chat_parse_u64(v, strlen(v), min, max, &n)) {
		chat_log_warn("%s=%s is not a number in %u..%u; using %u",
			      name, v, min, max, def);
		return def;
	}
	return (unsigned)n;
}

void chat_config_load(struct chat_config *cfg)
{
	cfg->mysql_host = str_env("CHAT_MYSQL_HOST", "127.0.0.1");
	cfg->mysql_port = uint_env("CHAT_MYSQL_PORT", 3307, 1, 65535);
	cfg->mysql_socket = str_env("CHAT_MYSQL_SOCKET", NULL);
	cfg->mysql_user = str_env("CHAT_MYSQL_USER", "chat");
	cfg->mysql_password = str_env("CHAT_MYSQL_PASSWORD", "chat");
	cfg->mysql_database = str_env("CHAT_MYSQL_DATABASE", "chat");
	cfg->redis_host = str_env("CHAT_REDIS_HOST", "127.0.0.1");
	cfg->redis_port = uint_env("CHAT_REDIS_PORT", 6380, 1, 65535);
	cfg->redis_nodes = str_env("CHAT_REDIS_NODES", NULL);
	cfg->redis_durable_replica =
		strcmp(str_env("CHAT_REDIS_DURABLE", "none"), "replica") == 0;
	cfg->redis_wait_ms = uint_env("CHAT_REDIS_WAIT_MS", 100, 1, 60000);
	cfg->redis_user = str_env("CHAT_REDIS_USER", NULL);
	cfg->redis_password = str_env("CHAT_REDIS_PASSWORD", NULL);
	cfg->es_url = str_env("CHAT_ES_URL", "http://127.0.0.1:9250");
	cfg->es_index = str_env("CHAT_ES_INDEX", "messages");
	cfg->es_nodes = chat_config_url_count(cfg->es_url);
	if (cfg->es_nodes == 0 || cfg->es_nodes > CHAT_ES_NODES_MAX) {
		chat_log_warn("CHAT_ES_URL lists %u search engine nodes, not "
			      "1..%d; using http://127.0.0.1:9250",
			      cfg->es_nodes, CHAT_ES_NODES_MAX);
		cfg->es_url = "http://127.0.0.1:9250";
		cfg->es_nodes = 1;
	}
	cfg->es_shards = uint_env("CHAT_ES_SHARDS", 1, 1, 1024);
	/* A copy of every shard on another node: one node may fail. */
	cfg->es_replicas = uint_env("CHAT_ES_REPLICAS",
				    cfg->es_nodes > 1 ? 1 : 0, 0, 15);
	cfg->timeout_ms = uint_env("CHAT_TIMEOUT_MS", 2000, 10, 600000);
	cfg->mysql_timeout_ms = uint_env("CHAT_MYSQL_TIMEOUT_MS", 5000, 1000,
					 600000);
	cfg->es_timeout_ms = uint_env("CHAT_ES_TIMEOUT_MS", 2000, 10, 600000);
	cfg->batch_timeout_ms = uint_env("CHAT_BATCH_TIMEOUT_MS", 30000, 1000,
					 3600000);
	cfg->worker_batch = uint_env("CHAT_WORKER_BATCH", 1000, 1, 10000);
	cfg->worker_wait_ms = uint_env("CHAT_WORKER_WAIT_MS", 5, 1, 10000);
	/* Capped well inside the contract's second for an edit to show. */
	cfg->index_wait_ms = uint_env("CHAT_INDEX_WAIT_MS", 50, 0, 250);
	cfg->worker_tries = uint_env("CHAT_WORKER_TRIES", 5, 1, 1000);
	cfg->worker_name = str_env("CHAT_WORKER_NAME", NULL);
	cfg->worker_claim_ms = uint_env("CHAT_WORKER_CLAIM_MS", 30000, 100,
					3600000);
	cfg->idempotency_ttl = uint_env("CHAT_IDEMPOTENCY_TTL", 86400, 1,
					30 * 86400);
	cfg->dead_max = uint_env("CHAT_DEAD_MAX", 100000, 100, 100000000);
	cfg->log_slow_ms = uint_env("CHAT_LOG_SLOW_MS", 100, 0, 3600000);
}

static void one_url_shown(const char *url, size_t len, struct chat_buf *out)
{
	const char *end = url + len, *host = url, *at = NULL;
	size_t authority;

	for (const char *p = url; p + 3 <= end; p++)
		if (memcmp(p, "://", 3) == 0) {
			host = p + 3;
			break;
		}
	authority = 0;
	while (host + authority < end && !strchr("/?#", host[authority]))
		authority++;
	/* The userinfo ends at the authority's last '@' (RFC 3986, 3.2). */
	for (size_t i = 0; i < authority; i++)
		if (host[i] == '@')
			at = host + i;
	if (!at) {
		chat_buf_add(out, url, len);
		return;
	}
	chat_buf_add(out, url, (size_t)(host - url));
	chat_buf_adds(out, "***");
	chat_buf_add(out, at, (size_t)(end - at));
}

void chat_config_url_shown(const char *url, struct chat_buf *out)
{
	/* Each node of a list on its own: a password may hold '@'. */
	for (;;) {
		size_t len = strcspn(url, ",");

		one_url_shown(url, len, out);
		if (url[len] != ',')
			break;
		chat_buf_addch(out, ',');
		url += len + 1;
	}
}

unsigned chat_config_url_count(const char *urls)
{
	unsigned n = 0;

	while (urls && *urls) {
		size_t len = strcspn(urls, ",");
		size_t blank = strspn(urls, " \t");

		if (blank < len)
			n++;
		urls += len + (urls[len] == ',');
	}
	return n;
}

void chat_config_for_jobs(struct chat_config *cfg)
{
	cfg->mysql_timeout_ms = cfg->batch_timeout_ms;
	cfg->es_timeout_ms = cfg->batch_timeout_ms;
}

unsigned chat_config_block_ms(const struct chat_config *cfg, unsigned ms)
{
	return ms < cfg->timeout_ms / 2 ? ms : cfg->timeout_ms / 2;
}
