/*
 * test_es_cluster.c - the programs on a search-engine cluster of two
 * nodes (a stack started with CHAT_ES_NODES=2: CHAT_ES_URL lists both;
 * run-tests.sh runs this on its second stack).
 *
 *   node_killed  under a mixed load through nginx (one stream of creates,
 *                one of searches, each bounded in count and time), node 2
 *                is killed (-9, by the pid its search.pid records; node 1
 *                manages the cluster, see tests/harness/search-engine.sh):
 *                every create answers 202; searches answer 200, a 503
 *                only in a brief window after the kill (measured, logged,
 *                and asserted under SEARCH_503_MAX_MS, a margin for a
 *                loaded machine); a message created after the kill is
 *                searchable while the node is down.  Then the node is
 *                started again through the harness (stack.sh start waits
 *                for green), and every message persisted in MariaDB is in
 *                the index once: the count of documents is the count of
 *                rows, on each node's own copy, and each number is there.
 *
 * The figures (503 window, time to searchable, restart, recovery) are
 * printed on stderr ("es_cluster: ...").
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "buf.h"
#include "client.h"
#include "config.h"
#include "es.h"
#include "support_barrage.h"
#include "support_faults.h"
#include "support_search.h"
#include "xalloc.h"

/* The load: bounded in time and count whatever happens. */
#define LOAD_MAX_MS 150000
#define SEARCHES_MAX 20000
#define SEARCH_GAP_MS 20
#define CREATE_GAP_MS 20
/* Before the kill, and with the node down. */
#define BEFORE_KILL_MS 3000
#define DOWN_MS 10000
/* A brief window, with room for a loaded two-core machine. */
#define SEARCH_503_MAX_MS 5000

struct search_load {
	pthread_t thread;
	const char *path;
	volatile int stop;
	size_t n, ok, unavailable, other;
	long other_status;
	double first_503, last_503;	/* mono_ms; 0: none */
	double slowest_ms, slowest_at;	/* its length, and its end */
};

static void *search_loop(void *arg)
{
	struct search_load *l = arg;
	double end = mono_ms() + LOAD_MAX_MS;

	while (!l->stop && l->n < SEARCHES_MAX && mono_ms() < end) {
		struct raw_res res;
		double t = mono_ms();

		raw_request("GET", l->path, NULL, 0, &res);
		t = mono_ms() - t;
		if (t > l->slowest_ms) {
			l->slowest_ms = t;
			l->slowest_at = mono_ms();
		}
		l->n++;
		if (res.status == 200) {
			l->ok++;
		} else if (res.status == 503) {
			l->unavailable++;
			l->last_503 = mono_ms();
			if (!l->first_503)
				l->first_503 = l->last_503;
		} else {
			l->other++;
			l->other_status = res.status;
		}
		raw_res_release(&res);
		msleep(SEARCH_GAP_MS);
	}
	return NULL;
}

/* One node's answer, on its own copy of the shards (_only_local). */
static long node_count(const char *url, uint64_t app, uint64_t chat)
{
	struct chat_config cfg;
	struct chat_es *es;
	struct chat_buf path, resp;
	struct json_object *obj = NULL, *c;
	long status = 0, count = -1;
	char body[256];

	chat_config_load(&cfg);
	cfg.es_url = url;
	es = chat_es_new(&cfg);
	chat_buf_init(&path);
	chat_buf_init(&resp);
	chat_buf_addf(&path, "/%s/_refresh", getenv("CHAT_ES_INDEX"));
	if (chat_es_request(es, "POST", path.data, NULL, 0, &status, &resp))
		goto out;
	snprintf(body, sizeof(body),
		 "{\"query\":{\"bool\":{\"filter\":[{\"term\":{\"app\":%llu}},"
		 "{\"term\":{\"chat\":%llu}}]}}}", (unsigned long long)app,
		 (unsigned long long)chat);
	chat_buf_reset(&path);
	chat_buf_addf(&path, "/%s/_count?preference=_only_local",
		      getenv("CHAT_ES_INDEX"));
	if (chat_es_request(es, "POST", path.data, body, strlen(body), &status,
			    &resp) || status != 200)
		goto out;
	obj = json_tokener_parse(resp.data);
	if (json_object_object_get_ex(obj, "count", &c))
		count = (long)json_object_get_int64(c);
out:
	json_object_put(obj);
	chat_buf_release(&path);
	chat_buf_release(&resp);
	chat_es_free(es);
	return count;
}

/* Whatever happened, the stack is whole again for the tests after. */
static void leave_whole(void)
{
	harness_run(NULL, "stack.sh", "start", "test_es_cluster-stack.log");
}

TestSuite(es_cluster, .timeout = 420);

static pid_t node2_pid(void)
{
	char *s = tstack_pidfile("es2/search.pid");
	pid_t pid = s ? (pid_t)atoi(s) : 0;

	free(s);
	return pid;
}

Test(es_cluster, node_killed, .fini = leave_whole)
{
	const char *url = getenv("CHAT_ES_URL");
	const char *alias = getenv("CHAT_ES_INDEX");
	struct search_load load = { 0 };
	struct create_stream *creates;
	struct create_result *res = NULL;
	struct tchat chat;
	struct chat_buf node_url;
	uint64_t marker, app;
	size_t n = 0, accepted = 0;
	double t_kill, t, window = 0;
	int64_t rows;
	long count = -1;
	pid_t pid;
	char *search, *app_s, *chat_s;

	cr_assert(url && chat_config_url_count(url) >= 2, "CHAT_ES_URL=%s: "
		  "this test needs a search cluster of two nodes (a stack "
		  "started with CHAT_ES_NODES=2, as run-tests.sh's second "
		  "stack is)", url ? url : "(unset)");
	cr_assert_not_null(alias);
	pid = node2_pid();
	cr_assert_gt(pid, 0, "no pid in $CHAT_VAR/es2/search.pid");
	cr_assert(pid_alive(pid), "search node 2 (pid %d) is not running",
		  (int)pid);

	tchat_new(&chat, NULL, "es cluster");
	app = tapp_id(chat.token);
	search = http_path("%s/search?q=gamma", chat.messages);
	marker = tchat_post(&chat, "gamma before");
	cr_assert_geq(tsearch_wait(&chat, "before", &marker, 1, 30000), 0,
		      "a message is not searchable on the cluster");

	creates = stream_start(chat.messages, "{\"body\":\"gamma load\"}",
			       CREATE_GAP_MS);
	load.path = search;
	cr_assert_eq(pthread_create(&load.thread, NULL, search_loop, &load),
		     0);
	msleep(BEFORE_KILL_MS);

	t_kill = mono_ms();
	cr_assert_eq(kill(pid, SIGKILL), 0, "kill -9 %d: %s", (int)pid,
		     strerror(errno));
	cr_assert(pid_wait_gone(pid, 10000), "node 2 survived kill -9");
	fprintf(stderr, "es_cluster: node 2 (pid %d) killed after %zu searches\n",
		    (int)pid, load.n);

	/* Indexing goes on with one node. */
	marker = tchat_post(&chat, "gamma while-down");
	cr_assert_geq(tsearch_wait(&chat, "while-down", &marker, 1, 30000), 0,
		      "a message created with node 2 down is not searchable "
		      "within 30 s");
	t = mono_ms();
	fprintf(stderr, "es_cluster: a message created after the kill searchable "
		    "%.0f ms after it\n", t - t_kill);
	if (t - t_kill < DOWN_MS)
		msleep((unsigned)(DOWN_MS - (t - t_kill)));

	/* Node 2 back through the harness: stack.sh start waits for green. */
	t = mono_ms();
	stack_start();
	fprintf(stderr, "es_cluster: stack.sh start (node 2 back, cluster green) "
		    "took %.1f s\n", (mono_ms() - t) / 1000);
	cr_assert(pid_alive(node2_pid()), "node 2 did not start again");
	msleep(1000);

	load.stop = 1;
	pthread_join(load.thread, NULL);
	stream_stop(creates, &res, &n);

	for (size_t i = 0; i < n; i++) {
		cr_expect_eq(res[i].status, 202, "a create answered %ld with "
			     "a search node down", res[i].status);
		accepted += res[i].status == 202;
	}
	if (load.unavailable)
		window = load.last_503 - load.first_503;
	fprintf(stderr, "es_cluster: %zu creates (%zu accepted); %zu searches: "
		    "%zu 200, %zu 503 (first %.0f ms after the kill, window "
		    "%.0f ms), %zu other; slowest search %.0f ms, answered "
		    "%.0f ms after the kill\n",
		    n, accepted, load.n, load.ok, load.unavailable,
		    load.unavailable ? load.first_503 - t_kill : 0.0, window,
		    load.other, load.slowest_ms, load.slowest_at - t_kill);
	cr_assert_gt(accepted, 0);
	cr_assert_eq(load.other, 0, "a search answered %ld",
		     load.other_status);
	cr_assert_gt(load.ok, 0);
	cr_assert(load.unavailable == 0 || window <= SEARCH_503_MAX_MS,
		  "searches answered 503 for %.0f ms (first %.0f ms after the "
		  "kill)", window, load.first_503 - t_kill);

	/* Every persisted message searchable, once, on each node's copy. */
	app_s = http_path("%llu", (unsigned long long)app);
	chat_s = http_path("%llu", (unsigned long long)chat.number);
	rows = wait_db_count(60000, (int64_t)accepted + 2,
			     "SELECT COUNT(*) FROM messages m JOIN chats c ON "
			     "c.id = m.chat_id WHERE c.application_id = ? AND "
			     "c.number = ?", app_s, chat_s, NULL);
	free(app_s);
	free(chat_s);
	cr_assert_eq(rows, (int64_t)accepted + 2, "persisted %lld of %zu",
		     (long long)rows, accepted + 2);
	t = mono_ms();
	while (mono_ms() - t < 60000) {
		count = tes_count(alias, app, chat.number);
		if (count == rows)
			break;
		msleep(200);
	}
	fprintf(stderr, "es_cluster: all %lld persisted messages indexed %.0f ms "
		    "after the load stopped\n", (long long)rows, mono_ms() - t);
	cr_assert_eq(count, rows, "%ld documents for %lld persisted messages",
		     count, (long long)rows);
	for (int64_t i = 1; i <= rows; i++)
		cr_assert(tes_has_doc(alias, app, chat.number, (uint64_t)i),
			  "message %lld not in the index", (long long)i);
	chat_buf_init(&node_url);
	for (const char *p = url; *p;) {
		size_t len = strcspn(p, ",");

		chat_buf_reset(&node_url);
		chat_buf_add(&node_url, p, len);
		cr_assert_eq(node_count(node_url.data, app, chat.number), rows,
			     "node %s's own copy", node_url.data);
		p += len + (p[len] == ',');
	}
	chat_buf_release(&node_url);
	free(res);
	free(search);
	tchat_free(&chat);
}
