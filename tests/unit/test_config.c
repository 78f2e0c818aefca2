/*
 * test_config.c - unit tests of lib/config.c: URLs fit for log lines (no
 * credentials), the Redis credentials and the worker's settings read
 * from the environment.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "buf.h"
#include "config.h"

static void shown(const char *url, const char *want)
{
	struct chat_buf b;

	chat_buf_init(&b);
	chat_config_url_shown(url, &b);
	cr_assert_str_eq(b.data, want, "%s", url);
	chat_buf_release(&b);
}

Test(config, url_without_credentials)
{
	shown("http://127.0.0.1:9250", "http://127.0.0.1:9250");
	shown("https://es.example:9200/prefix", "https://es.example:9200/prefix");
	shown("http://elastic:s3cret@es:9200", "http://***@es:9200");
	shown("https://user@es:9200/a@b", "https://***@es:9200/a@b");
	/* The userinfo ends at the authority's last '@'. */
	shown("http://u:p@ss@w0rd@host:1/x?y=@", "http://***@host:1/x?y=@");
	shown("http://u:pw@host?q", "http://***@host?q");
	shown("u:pw@host", "***@host");
	shown("", "");
}

Test(config, redis_credentials)
{
	struct chat_config cfg;

	unsetenv("CHAT_REDIS_USER");
	unsetenv("CHAT_REDIS_PASSWORD");
	chat_config_load(&cfg);
	cr_assert_null(cfg.redis_user);
	cr_assert_null(cfg.redis_password);
	setenv("CHAT_REDIS_USER", "", 1);
	setenv("CHAT_REDIS_PASSWORD", "", 1);
	chat_config_load(&cfg);
	cr_assert_null(cfg.redis_user, "an empty setting is no setting");
	cr_assert_null(cfg.redis_password);
	setenv("CHAT_REDIS_USER", "app", 1);
	setenv("CHAT_REDIS_PASSWORD", "p w\"d", 1);
	chat_config_load(&cfg);
	cr_assert_str_eq(cfg.redis_user, "app");
	cr_assert_str_eq(cfg.redis_password, "p w\"d");
}

Test(config, worker_name_and_claim)
{
	struct chat_config cfg;

	unsetenv("CHAT_WORKER_NAME");
	unsetenv("CHAT_WORKER_CLAIM_MS");
	chat_config_load(&cfg);
	cr_assert_null(cfg.worker_name, "the worker then names itself");
	cr_assert_eq(cfg.worker_claim_ms, 30000);
	setenv("CHAT_WORKER_NAME", "w-7", 1);
	setenv("CHAT_WORKER_CLAIM_MS", "1500", 1);
	chat_config_load(&cfg);
	cr_assert_str_eq(cfg.worker_name, "w-7");
	cr_assert_eq(cfg.worker_claim_ms, 1500);
	/* Not a number, or out of range: the default, with a warning. */
	setenv("CHAT_WORKER_CLAIM_MS", "15s", 1);
	chat_config_load(&cfg);
	cr_assert_eq(cfg.worker_claim_ms, 30000);
	setenv("CHAT_WORKER_CLAIM_MS", "99", 1);
	chat_config_load(&cfg);
	cr_assert_eq(cfg.worker_claim_ms, 30000);
	unsetenv("CHAT_WORKER_NAME");
	unsetenv("CHAT_WORKER_CLAIM_MS");
}

/* CHAT_INDEX_WAIT_MS as read from `value` (NULL: unset). */
static unsigned index_wait(const char *value)
{
	struct chat_config cfg;

	if (value)
		setenv("CHAT_INDEX_WAIT_MS", value, 1);
	else
		unsetenv("CHAT_INDEX_WAIT_MS");
	chat_config_load(&cfg);
	unsetenv("CHAT_INDEX_WAIT_MS");
	return cfg.index_wait_ms;
}

Test(config, index_wait)
{
	cr_assert_eq(index_wait(NULL), 50);
	cr_assert_eq(index_wait("0"), 0, "0 turns the wait off");
	cr_assert_eq(index_wait("250"), 250);
	/* Longer would eat into the second an edit has to show. */
	cr_assert_eq(index_wait("251"), 50);
	cr_assert_eq(index_wait("5ms"), 50);
}

Test(config, url_list_without_credentials)
{
	shown("http://a:1,http://b:2", "http://a:1,http://b:2");
	shown("http://u:p@a:1,https://v:q@b:2/x", "http://***@a:1,https://***@b:2/x");
	shown("http://a:1,http://u:p@ss@b:2", "http://a:1,http://***@b:2");
	cr_assert_eq(chat_config_url_count("http://a:1"), 1);
	cr_assert_eq(chat_config_url_count("http://a:1, http://b:2,"), 2);
	cr_assert_eq(chat_config_url_count(" , "), 0);
	cr_assert_eq(chat_config_url_count(NULL), 0);
}

/* A blocking read's wait stays under half the Redis timeout. */
Test(config, block_under_the_timeout)
{
	struct chat_config cfg = { .timeout_ms = 2000 };

	cr_assert_eq(chat_config_block_ms(&cfg, 5), 5);
	cr_assert_eq(chat_config_block_ms(&cfg, 999), 999);
	cr_assert_eq(chat_config_block_ms(&cfg, 1000), 1000);
	cr_assert_eq(chat_config_block_ms(&cfg, 5000), 1000);
	cfg.timeout_ms = 100;
	cr_assert_eq(chat_config_block_ms(&cfg, 250), 50);
}
