/*
 * test_es.c - unit tests of lib/es.c's choice among the nodes of
 * CHAT_ES_URL: the list read, nodes taken in turn, a failed node skipped
 * for a while and tried again later, which requests go on to the next
 * node, and the settings of a cluster (lib/config.c).  No search engine:
 * the only connections made go to loopback ports where nothing listens.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "buf.h"
#include "clock.h"
#include "config.h"
#include "es.h"

static struct chat_config cfg;

static struct chat_es *es_for(const char *urls)
{
	memset(&cfg, 0, sizeof(cfg));
	cfg.es_url = urls;
	cfg.timeout_ms = 500;
	cfg.es_timeout_ms = 2000;
	return chat_es_new(&cfg);
}

Test(es, nodes_read_from_the_list)
{
	struct chat_es *es = es_for(" http://a:1/ ,, http://u:p@b:2,"
				    "http://c:3//,");

	cr_assert_eq(es->n_nodes, 3);
	cr_assert_str_eq(es->nodes[0].url, "http://a:1");
	cr_assert_str_eq(es->nodes[1].url, "http://u:p@b:2");
	cr_assert_str_eq(es->nodes[1].shown, "http://***@b:2",
			 "credentials are never shown");
	cr_assert_str_eq(es->nodes[2].url, "http://c:3");
	chat_es_free(es);
	es = es_for("http://one:9250");
	cr_assert_eq(es->n_nodes, 1);
	cr_assert_str_eq(es->nodes[0].url, "http://one:9250");
	chat_es_free(es);
}

Test(es, nodes_in_turn)
{
	struct chat_es *es = es_for("http://a:1,http://b:2,http://c:3");
	int seen[3] = { 0 };

	for (int k = 0; k < 30; k++) {
		int i = chat_es_node_pick(es, 1000.0, 0);

		cr_assert(i >= 0 && i < 3);
		cr_assert_eq(i, k % 3, "request %d went to node %d", k, i);
		seen[i]++;
	}
	cr_assert(seen[0] == 10 && seen[1] == 10 && seen[2] == 10);
	chat_es_free(es);
}

Test(es, tried_nodes_are_not_tried_again)
{
	struct chat_es *es = es_for("http://a:1,http://b:2");
	int first = chat_es_node_pick(es, 0, 0);
	int second = chat_es_node_pick(es, 0, 1u << first);

	cr_assert_neq(first, second);
	cr_assert_eq(chat_es_node_pick(es, 0, 3u), -1,
		     "every node tried: none left");
	chat_es_free(es);
}

Test(es, refused_node_skipped_for_a_while)
{
	struct chat_es *es = es_for("http://a:1,http://b:2");
	double t = 10000.0;

	chat_es_node_failed(es, 0, t, false);
	for (int k = 0; k < 10; k++)
		cr_assert_eq(chat_es_node_pick(es, t + 10.0 * k, 0), 1,
			     "node 0 refused: skipped");
	/* Still skipped just before the end of the pause, tried after it. */
	cr_assert_eq(chat_es_node_pick(es, t + CHAT_ES_SKIP_MS - 1, 0), 1);
	{
		int a = chat_es_node_pick(es, t + CHAT_ES_SKIP_MS, 0);
		int b = chat_es_node_pick(es, t + CHAT_ES_SKIP_MS, 0);

		cr_assert(a != b, "after %d ms both nodes take requests "
			  "again (%d, %d)", CHAT_ES_SKIP_MS, a, b);
	}
	chat_es_free(es);
}

Test(es, hung_node_skipped_for_the_timeout)
{
	struct chat_es *es = es_for("http://a:1,http://b:2");
	double t = 5000.0;

	chat_es_node_failed(es, 1, t, true);
	cr_assert_eq(chat_es_node_pick(es, t + cfg.es_timeout_ms - 1, 0), 0);
	cr_assert_eq(chat_es_node_pick(es, t + cfg.es_timeout_ms - 1, 0), 0);
	/* The only node left hung too: nothing is tried. */
	chat_es_node_failed(es, 0, t, true);
	cr_assert_eq(chat_es_node_pick(es, t + 1, 0), -1);
	/* Until its pause is over. */
	cr_assert_geq(chat_es_node_pick(es, t + cfg.es_timeout_ms, 0), 0);
	chat_es_free(es);
}

Test(es, all_refused_probes_the_earliest)
{
	struct chat_es *es = es_for("http://a:1,http://b:2,http://c:3");
	double t = 1000.0;

	chat_es_node_failed(es, 2, t, false);
	chat_es_node_failed(es, 0, t + 5, false);
	chat_es_node_failed(es, 1, t + 9, true);
	/* Refusals cost nothing: the one that refused first is tried. */
	cr_assert_eq(chat_es_node_pick(es, t + 10, 0), 2);
	cr_assert_eq(chat_es_node_pick(es, t + 10, 1u << 2), 0);
	/* The hung one is not, even as the last. */
	cr_assert_eq(chat_es_node_pick(es, t + 10, (1u << 2) | 1u), -1);
	/* A success ends a node's pause at once. */
	chat_es_node_ok(es, 1);
	cr_assert_eq(chat_es_node_pick(es, t + 10, 0), 1);
	chat_es_free(es);
}

Test(es, which_requests_are_sent_again)
{
	static const struct {
		const char *method, *path;
		bool safe;
	} cases[] = {
		{ "POST", "/messages/_search", true },
		{ "POST", "/messages/_search?size=0", true },
		{ "GET", "/messages/_search", true },
		{ "POST", "/_mget", true },
		{ "POST", "/messages/_count", true },
		{ "POST", "/messages/_bulk?require_alias=true", true },
		{ "POST", "/messages/_refresh", true },
		{ "PUT", "/messages-v1-1700000000000", true },
		{ "GET", "/_cluster/health", true },
		{ "HEAD", "/messages", true },
		{ "DELETE", "/messages/_doc/1-2-3", true },
		{ "POST", "/_aliases", false },
		{ "POST", "/messages/_delete_by_query?conflicts=proceed",
		  false },
		{ "POST", "/messages/_update_by_query", false },
		{ "POST", "/messages/_doc", false },
		{ "PUT", "/messages/_mapping", false },
		{ "PUT", "/_cluster/settings", false },
		{ "POST", "/messages/my_search", false },
		{ "POST", "/_search_shards_x", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(chat_es_retry_safe(cases[i].method, cases[i].path),
			     cases[i].safe, "%s %s", cases[i].method,
			     cases[i].path);
}

/* Loopback ports where nothing listens: each refuses at once. */
Test(es, request_goes_on_after_a_refusal)
{
	struct chat_es *es = es_for("http://127.0.0.1:1,"
				    "http://user:secret@127.0.0.1:2");
	struct chat_buf resp;
	long status = 0;
	double t0 = chat_now_ms();

	chat_buf_init(&resp);
	/* Not safe to send twice, but a refusal means nothing was sent. */
	cr_assert_eq(chat_es_request(es, "POST", "/_aliases", "{}", 2,
				     &status, &resp), -1);
	cr_assert_gt(es->nodes[0].down_until, t0, "node 0 skipped");
	cr_assert_gt(es->nodes[1].down_until, t0, "node 1 tried too");
	cr_assert_not(es->nodes[0].slow);
	cr_assert_null(strstr(es->errstr, "secret"), "%s", es->errstr);
	cr_assert_not_null(strstr(es->errstr, "127.0.0.1:"), "%s", es->errstr);
	cr_assert_not(es->resent, "nothing was sent twice");
	/* Both refused: still tried (probed) on the next request. */
	cr_assert_eq(chat_es_request(es, "GET", "/", NULL, 0, &status, &resp),
		     -1);
	cr_assert_null(strstr(es->errstr, "not tried"), "%s", es->errstr);
	chat_buf_release(&resp);
	chat_es_free(es);
}

Test(es, cluster_settings)
{
	unsetenv("CHAT_ES_SHARDS");
	unsetenv("CHAT_ES_REPLICAS");
	setenv("CHAT_ES_URL", "http://127.0.0.1:9250", 1);
	chat_config_load(&cfg);
	cr_assert_eq(cfg.es_nodes, 1);
	cr_assert_eq(cfg.es_shards, 1);
	cr_assert_eq(cfg.es_replicas, 0, "one node: no replica");
	setenv("CHAT_ES_URL", "http://127.0.0.1:9250,http://127.0.0.1:9251",
	       1);
	chat_config_load(&cfg);
	cr_assert_eq(cfg.es_nodes, 2);
	cr_assert_eq(cfg.es_replicas, 1, "a cluster: one replica");
	setenv("CHAT_ES_REPLICAS", "0", 1);
	setenv("CHAT_ES_SHARDS", "3", 1);
	chat_config_load(&cfg);
	cr_assert_eq(cfg.es_replicas, 0);
	cr_assert_eq(cfg.es_shards, 3);
	/* Bad values: warned about, the default used. */
	setenv("CHAT_ES_REPLICAS", "-1", 1);
	setenv("CHAT_ES_SHARDS", "0", 1);
	chat_config_load(&cfg);
	cr_assert_eq(cfg.es_replicas, 1);
	cr_assert_eq(cfg.es_shards, 1);
	setenv("CHAT_ES_SHARDS", "2x", 1);
	chat_config_load(&cfg);
	cr_assert_eq(cfg.es_shards, 1);
	setenv("CHAT_ES_URL", " , ", 1);
	chat_config_load(&cfg);
	cr_assert_eq(cfg.es_nodes, 1, "no node listed: the default one");
	cr_assert_str_eq(cfg.es_url, "http://127.0.0.1:9250");
	unsetenv("CHAT_ES_URL");
	unsetenv("CHAT_ES_SHARDS");
	unsetenv("CHAT_ES_REPLICAS");
}
