/*
 * test_faults.c - the stack under a steady stream of creates while its
 * parts fail, one after the other:
 *
 *   - the worker killed with SIGKILL five times in a row (each time
 *     restarted by `tests/harness/stack.sh start`, which starts only what
 *     is down);
 *   - one process of the messages FastCGI program killed with SIGKILL
 *     (the others go on; stack.sh start brings the count back);
 *   - the search engine stopped for 20 s;
 *   - MariaDB stopped for 15 s: the routes that read it answer 503 with
 *     the contract's body within 100 ms, no process dies, and service
 *     resumes by itself when it is back;
 *   - Redis stopped (TERM: it writes its AOF) and started again: creates
 *     answer 503 within 100 ms meanwhile, no process dies, the numbering
 *     goes on where it was, and creates work again by themselves.
 *
 * A load thread POSTs messages (and every eighth time a chat) to one
 * application all along, each message with a word of its own, and records
 * every number that got a 202.  Afterwards every one of them is in
 * MariaDB exactly once, with its own body, and searchable by its word;
 * no number was handed out twice.  The stack is left healthy (the test's
 * fini runs stack.sh start whatever happened).  About two minutes.
 *
 * Everything runs in one test: the faults hit the whole stack, so nothing
 * may run beside them.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "buf.h"
#include "client.h"
#include "support_barrage.h"
#include "support_search.h"
#include "xalloc.h"

#define FCGI_MAX 64
#define LOAD_PAUSE_MS 40
#define OUTAGE_REPLY_MS 100.0
#define STACK_LOG "faults-stack.log"
/*
 * How long the search engine and MariaDB stay down, in seconds: past the
 * point where the indexer and the worker retry at their longest backoff
 * (5 s, reached after about 8 and 6 s of failures), so that the outage
 * sees those retries fail; a longer one tests nothing more.
 */
#define SEARCH_OUTAGE_S 20
#define MARIADB_OUTAGE_S 15

static const char *const fcgi_names[] = { "applications", "chats", "messages",
					  "search", "health" };
#define NFCGI (sizeof(fcgi_names) / sizeof(fcgi_names[0]))

/* ------------------------------------------------------------ the load */

struct accepted {
	char kind;		/* 'c' chat, 'm' message */
	int64_t number;
	unsigned seq;		/* the message's word is made from it */
};

struct load {
	pthread_t thread;
	bool running;
	atomic_int stop;
	char *chats, *messages;	/* paths POSTed to */
	char run[8];		/* this run's part of every word */
	pthread_mutex_t lock;
	struct accepted *acc;
	size_t nacc, cap;
	unsigned seq, n503, nbad;
	struct chat_buf bad;	/* the first unexpected answers */
	int64_t max_message;	/* highest message number accepted so far */
};

static struct load load = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void word_of(char out[32], const char *run, unsigned seq)
{
	snprintf(out, 32, "zq%sx%07u", run, seq);
}

static void *load_main(void *arg)
{
	struct load *l = arg;

	while (!atomic_load(&l->stop)) {
		unsigned seq;
		bool chat;
		char word[32], body[96];
		struct raw_res res;
		int64_t n = 0;

		pthread_mutex_lock(&l->lock);
		seq = l->seq++;
		pthread_mutex_unlock(&l->lock);
		chat = seq % 8 == 7;
		word_of(word, l->run, seq);
		snprintf(body, sizeof(body), "{\"body\":\"fault %s load\"}", word);
		raw_request("POST", chat ? l->chats : l->messages,
			    chat ? NULL : body, chat ? 0 : strlen(body), &res);
		pthread_mutex_lock(&l->lock);
		if (res.status == 202 && json_int(res.json, "number", &n) &&
		    n > 0) {
			if (l->nacc == l->cap) {
				l->cap = l->cap ? l->cap * 2 : 1024;
				l->acc = xrealloc(l->acc,
						  l->cap * sizeof(*l->acc));
			}
			l->acc[l->nacc++] = (struct accepted){
				.kind = chat ? 'c' : 'm', .number = n,
				.seq = seq };
			if (!chat && n > l->max_message)
				l->max_message = n;
		} else if (res.status == 503) {
			l->n503++;
		} else if (l->nbad++ < 20) {
			chat_buf_addf(&l->bad, "\n  POST %s: %d%s%s %.100s",
				      chat ? "chat" : "message", res.status,
				      res.timed_out ? " (timed out)" : "",
				      res.closed_silently ? " (closed)" : "",
				      res.body ? res.body : "");
		}
		pthread_mutex_unlock(&l->lock);
		raw_res_release(&res);
		msleep(LOAD_PAUSE_MS);
	}
	return NULL;
}

static size_t accepted_now(void)
{
	size_t n;

	pthread_mutex_lock(&load.lock);
	n = load.nacc;
	pthread_mutex_unlock(&load.lock);
	return n;
}

static int64_t max_message_now(void)
{
	int64_t n;

	pthread_mutex_lock(&load.lock);
	n = load.max_message;
	pthread_mutex_unlock(&load.lock);
	return n;
}

static void load_stop(void)
{
	if (!load.running)
		return;
	atomic_store(&load.stop, 1);
	pthread_join(load.thread, NULL);
	load.running = false;
}

/* ------------------------------------------------------------ the stack */

static void stack_start(const char *why)
{
	double t = mono_ms();
	int rc = harness_run(NULL, "stack.sh", "start", STACK_LOG);

	cr_assert_eq(rc, 0, "stack.sh start (%s) failed with %d; see "
		     "$CHAT_VAR/log/" STACK_LOG, why, rc);
	cr_log_info("faults: stack.sh start (%s) took %.1f s", why,
		    (mono_ms() - t) / 1000);
}

/* Called by Criterion after the test, whether it passed or not. */
static void leave_healthy(void)
{
	load_stop();
	harness_run(NULL, "stack.sh", "start", STACK_LOG);
}

TestSuite(faults, .timeout = 480);

static pid_t one_pid(const char *pidfile)
{
	pid_t pid = 0;

	cr_assert_eq(stack_pids(pidfile, &pid, 1), 1, "no pid in %s", pidfile);
	cr_assert(pid_alive(pid), "%s: pid %d is not running", pidfile,
		  (int)pid);
	return pid;
}

/* The pids of every FastCGI program, in one list. */
static int fcgi_pids(pid_t *pids, int max)
{
	int n = 0;

	for (size_t i = 0; i < NFCGI; i++) {
		char rel[64];
		int k;

		snprintf(rel, sizeof(rel), "run/%s.pid", fcgi_names[i]);
		k = stack_pids(rel, pids + n, max - n);
		cr_assert_gt(k, 0, "no pids in %s", rel);
		n += k;
	}
	return n;
}

/* Every process of `before` is still there, and the pid files agree. */
static void assert_no_crash(const pid_t *before, int n, pid_t worker,
			    const char *when)
{
	pid_t now[FCGI_MAX];
	int m = fcgi_pids(now, FCGI_MAX);

	cr_assert_eq(m, n, "%s: the FastCGI pid files changed", when);
	for (int i = 0; i < n; i++) {
		cr_assert_eq(now[i], before[i], "%s: a FastCGI process was "
			     "replaced", when);
		cr_assert(pid_alive(before[i]), "%s: FastCGI pid %d died",
			  when, (int)before[i]);
	}
	cr_assert(pid_alive(worker), "%s: the worker (pid %d) died", when,
		  (int)worker);
}

static int procs_per_program(void)
{
	const char *v = getenv("CHAT_FCGI_PROCS");

	return v && atoi(v) > 0 ? atoi(v) : 4;
}

/* ------------------------------------------------------------ answers */

/*
 * Send one request and assert the contract's 503 within 100 ms:
 * {"error": "service_unavailable", "message": ...} as JSON.
 */
static void assert_quick_503(const char *method, const char *path,
			     const char *body, const char *when)
{
	struct raw_res res;
	struct json_object *v;
	char *ct;

	raw_request(method, path, body, body ? strlen(body) : 0, &res);
	cr_assert_eq(res.status, 503, "%s: %s %s answered %d: %.200s", when,
		     method, path, res.status, res.body ? res.body : "");
	cr_assert_leq(res.ms, OUTAGE_REPLY_MS, "%s: %s %s took %.1f ms", when,
		      method, path, res.ms);
	ct = raw_header(&res, "Content-Type");
	cr_assert(ct && strcmp(ct, "application/json; charset=utf-8") == 0,
		  "%s: %s %s: Content-Type %s", when, method, path,
		  ct ? ct : "(none)");
	free(ct);
	cr_assert(res.json && json_object_object_length(res.json) == 2 &&
		  json_object_object_get_ex(res.json, "error", &v) &&
		  strcmp(json_object_get_string(v), "service_unavailable") == 0 &&
		  json_object_object_get_ex(res.json, "message", &v) &&
		  json_object_get_string_len(v) > 0,
		  "%s: %s %s: not the contract's 503 body: %.200s", when,
		  method, path, res.body);
	raw_res_release(&res);
}

/* Poll `method path` until it answers `status`; false after `ms`. */
static bool wait_for_status(const char *method, const char *path,
			    const char *body, int status, unsigned ms)
{
	double deadline = mono_ms() + ms;

	for (;;) {
		struct raw_res res;
		int got;

		raw_request(method, path, body, body ? strlen(body) : 0, &res);
		got = res.status;
		raw_res_release(&res);
		if (got == status)
			return true;
		if (mono_ms() >= deadline)
			return false;
		msleep(200);
	}
}

/* Sleep until `seconds` have passed since `since` (mono_ms). */
static void sleep_until(double since, unsigned seconds)
{
	double left = since + seconds * 1000.0 - mono_ms();

	if (left > 0)
		msleep((unsigned)left);
}

/* Creates go on: more 202s within `ms` than there were. */
static void assert_progress(const char *when, unsigned ms)
{
	size_t before = accepted_now();
	double deadline = mono_ms() + ms;

	while (accepted_now() <= before && mono_ms() < deadline)
		msleep(50);
	cr_assert_gt(accepted_now(), before, "%s: no create was accepted "
		     "for %u ms", when, ms);
}

/* ------------------------------------------------------------ faults */

static void kill_worker_five_times(void)
{
	for (int i = 1; i <= 5; i++) {
		pid_t pid = one_pid("run/worker.1.pid"), again;

		cr_assert_eq(kill(pid, SIGKILL), 0);
		cr_assert(pid_wait_gone(pid, 10000), "worker %d survived "
			  "SIGKILL", (int)pid);
		/* Jobs pile up (and some are pending in the dead consumer). */
		msleep(700);
		stack_start("worker killed");
		again = one_pid("run/worker.1.pid");
		cr_assert_neq(again, pid, "the worker was not restarted");
		msleep(800);
		cr_log_info("faults: worker kill %d/5 done, %zu accepted", i,
			    accepted_now());
	}
}

static void kill_one_fcgi_process(void)
{
	pid_t pids[FCGI_MAX];
	int n = stack_pids("run/messages.pid", pids, FCGI_MAX);

	cr_assert_geq(n, 2, "the messages program runs %d processes", n);
	cr_assert_eq(kill(pids[0], SIGKILL), 0);
	cr_assert(pid_wait_gone(pids[0], 10000));
	/* The others go on serving. */
	assert_progress("one messages process killed", 5000);
	for (int i = 1; i < n; i++)
		cr_assert(pid_alive(pids[i]), "messages pid %d died too",
			  (int)pids[i]);
	stack_start("a FastCGI process killed");
	n = stack_pids("run/messages.pid", pids, FCGI_MAX);
	cr_assert_eq(n, procs_per_program(), "messages runs %d processes "
		     "after stack.sh start", n);
	for (int i = 0; i < n; i++)
		cr_assert(pid_alive(pids[i]));
	cr_log_info("faults: FastCGI kill done, %zu accepted", accepted_now());
}

static void stop_search(const char *search_path)
{
	double t = mono_ms();

	/* Every node, when the stack runs a search cluster. */
	tes_stop();
	/* Creates do not need the search engine; search does. */
	assert_progress("search engine down", 5000);
	assert_quick_503("GET", search_path, NULL, "search engine down");
	/* A health process answers from its last pings for up to 1 s
	 * (cgi-bin/health.c), and the check may reach the one that
	 * answered stack.sh's own just before (always, with connections
	 * kept). */
	cr_assert(wait_for_status("GET", "/health", NULL, 503, 3000),
		  "/health did not say 503 within 3 s of the search engine "
		  "going down");
	sleep_until(t, SEARCH_OUTAGE_S);
	stack_start("search engine back");
	cr_log_info("faults: search engine outage done, %zu accepted",
		    accepted_now());
}

static void stop_mariadb(const char *app, const char *chats,
			 const char *messages, const char *search_path)
{
	pid_t fcgi[FCGI_MAX], worker = one_pid("run/worker.1.pid");
	int nf = fcgi_pids(fcgi, FCGI_MAX);
	pid_t pid = one_pid("mysql/mysqld.pid");
	char *chat = http_path("%s/1", chats);
	/* A chat that does not exist: a DELETE must not touch chat 1. */
	char *no_chat = http_path("%s/999999", chats);
	char *message = http_path("%s/1", messages);
	double t = mono_ms();

	cr_assert_eq(kill(pid, SIGTERM), 0);
	cr_assert(pid_wait_gone(pid, 60000), "mariadbd still there 60 s "
		  "after SIGTERM");
	/* Every route that reads MariaDB: a quick 503, nothing dies. */
	for (int round = 0; round < 3; round++) {
		assert_quick_503("GET", app, NULL, "MariaDB down");
		assert_quick_503("GET", chats, NULL, "MariaDB down");
		assert_quick_503("GET", chat, NULL, "MariaDB down");
		assert_quick_503("GET", messages, NULL, "MariaDB down");
		assert_quick_503("GET", message, NULL, "MariaDB down");
		assert_quick_503("GET", search_path, NULL, "MariaDB down");
		assert_quick_503("PATCH", app, "{\"name\":\"renamed\"}",
				 "MariaDB down");
		assert_quick_503("DELETE", no_chat, NULL, "MariaDB down");
	}
	assert_quick_503("POST", "/applications", "{\"name\":\"x\"}",
			 "MariaDB down");
	/* Creates only need Redis. */
	assert_progress("MariaDB down", 5000);
	assert_no_crash(fcgi, nf, worker, "MariaDB down");
	sleep_until(t, MARIADB_OUTAGE_S);
	stack_start("MariaDB back");
	cr_assert(wait_for_status("GET", app, NULL, 200, 10000),
		  "GET of the application does not work again after "
		  "MariaDB came back");
	cr_assert(wait_for_status("GET", message, NULL, 200, 10000),
		  "GET of a message does not work again after MariaDB came "
		  "back");
	assert_no_crash(fcgi, nf, worker, "after MariaDB came back");
	cr_log_info("faults: MariaDB outage done, %zu accepted",
		    accepted_now());
	free(chat);
	free(no_chat);
	free(message);
}

/* The pids of Redis: the one server, or every node of the cluster. */
static int redis_pids(pid_t *pids, int max)
{
	const char *nodes = getenv("CHAT_REDIS_NODES");
	int n = 0;

	if (!nodes || !*nodes) {
		pids[0] = one_pid("run/redis.pid");
		return 1;
	}
	while (*nodes && n < max) {
		size_t len = strcspn(nodes, ",");
		const char *colon = memchr(nodes, ':', len);
		char rel[64];

		cr_assert_not_null(colon, "CHAT_REDIS_NODES: %s", nodes);
		snprintf(rel, sizeof(rel), "run/redis-%.*s.pid",
			 (int)(nodes + len - colon - 1), colon + 1);
		pids[n++] = one_pid(rel);
		nodes += len + (nodes[len] == ',');
	}
	return n;
}

static void restart_redis(const char *chats, const char *messages)
{
	pid_t fcgi[FCGI_MAX], worker = one_pid("run/worker.1.pid");
	int nf = fcgi_pids(fcgi, FCGI_MAX);
	pid_t pids[16];
	int np = redis_pids(pids, 16);
	int64_t before;
	double t;

	for (int i = 0; i < np; i++)
		cr_assert_eq(kill(pids[i], SIGTERM), 0);
	for (int i = 0; i < np; i++)
		cr_assert(pid_wait_gone(pids[i], 60000), "redis-server still "
			  "there 60 s after SIGTERM");
	before = max_message_now();
	t = mono_ms();
	for (int round = 0; round < 3; round++) {
		assert_quick_503("POST", chats, NULL, "Redis down");
		assert_quick_503("POST", messages, "{\"body\":\"not accepted\"}",
				 "Redis down");
	}
	assert_no_crash(fcgi, nf, worker, "Redis down");
	sleep_until(t, 3);
	stack_start("Redis back");
	/* Creates work again by themselves, and numbering goes on. */
	cr_assert(wait_for_status("POST", messages,
				  "{\"body\":\"redis is back\"}", 202, 10000),
		  "creates do not work again after Redis came back");
	assert_progress("after Redis came back", 5000);
	msleep(500);
	cr_assert_gt(max_message_now(), before, "no message accepted since "
		     "Redis came back");
	assert_no_crash(fcgi, nf, worker, "after Redis came back");
	cr_log_info("faults: Redis restart done, %zu accepted",
		    accepted_now());
}

/* ------------------------------------------------------------ checks */

/* Search each word of the accepted messages; found[i] when it is there. */
struct search_job {
	const char *messages;
	const struct accepted *acc;
	size_t n;
	bool *found;
	atomic_size_t next;
	pthread_mutex_t lock;
	struct chat_buf errors;	/* a word found twice or as another number */
	int nerrors;
};

static void *search_main(void *arg)
{
	struct search_job *j = arg;

	for (;;) {
		size_t i = atomic_fetch_add(&j->next, 1);
		char word[32], *path;
		struct raw_res res;
		size_t hits;

		if (i >= j->n)
			break;
		if (j->found[i] || j->acc[i].kind != 'm')
			continue;
		word_of(word, load.run, j->acc[i].seq);
		path = http_path("%s/search?q=%s&limit=10", j->messages, word);
		raw_request("GET", path, NULL, 0, &res);
		free(path);
		hits = res.status == 200 && res.json &&
		       json_object_is_type(res.json, json_type_array) ?
		       json_object_array_length(res.json) : 0;
		if (hits == 1) {
			int64_t n = 0;

			json_int(json_object_array_get_idx(res.json, 0),
				 "number", &n);
			if (n == j->acc[i].number) {
				j->found[i] = true;
			} else {
				pthread_mutex_lock(&j->lock);
				if (j->nerrors++ < 10)
					chat_buf_addf(&j->errors, "\n  %s is "
						      "message %lld, search "
						      "says %lld", word,
						      (long long)j->acc[i].number,
						      (long long)n);
				pthread_mutex_unlock(&j->lock);
			}
		} else if (hits > 1) {
			pthread_mutex_lock(&j->lock);
			if (j->nerrors++ < 10)
				chat_buf_addf(&j->errors, "\n  %s found %zu "
					      "times: %.200s", word, hits,
					      res.body);
			pthread_mutex_unlock(&j->lock);
		}
		raw_res_release(&res);
	}
	return NULL;
}

static size_t search_all(struct search_job *j)
{
	pthread_t th[4];
	size_t missing = 0;

	atomic_store(&j->next, 0);
	for (int t = 0; t < 4; t++)
		cr_assert_eq(pthread_create(&th[t], NULL, search_main, j), 0);
	for (int t = 0; t < 4; t++)
		pthread_join(th[t], NULL);
	for (size_t i = 0; i < j->n; i++)
		missing += j->acc[i].kind == 'm' && !j->found[i];
	return missing;
}

/* "n:body\n..." of the messages of chat 1, or the chat numbers. */
static char *stored(int64_t app_id, bool messages)
{
	char id[24];

	snprintf(id, sizeof(id), "%lld", (long long)app_id);
	if (messages)
		return tdb_str("SELECT GROUP_CONCAT(CONCAT(m.number, ':', "
			       "m.body) ORDER BY m.number SEPARATOR '\\n') "
			       "FROM messages m JOIN chats c ON c.id = "
			       "m.chat_id WHERE c.application_id = ? AND "
			       "c.number = 1", id, NULL);
	return tdb_str("SELECT GROUP_CONCAT(number ORDER BY number "
		       "SEPARATOR '\\n') FROM chats WHERE application_id = ?",
		       id, NULL);
}

/* The body stored under number n in "n:body\n..." text, or NULL. */
static const char *body_of(char **index, size_t nindex, int64_t n)
{
	return n >= 1 && (size_t)n <= nindex ? index[n - 1] : NULL;
}

/* Index "n:body" lines by number; bodies point into `text`. */
static char **index_lines(char *text, size_t *max, bool with_body)
{
	char **idx = NULL;
	size_t cap = 0;

	*max = 0;
	for (char *line = text, *next; line && *line; line = next) {
		char *colon;
		long long n;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		n = strtoll(line, &colon, 10);
		cr_assert(n > 0 && (with_body ? *colon == ':' : !*colon),
			  "odd row '%.80s'", line);
		if ((size_t)n > cap) {
			size_t old = cap;

			cap = (size_t)n * 2;
			idx = xrealloc(idx, cap * sizeof(*idx));
			memset(idx + old, 0, (cap - old) * sizeof(*idx));
		}
		cr_assert_null(idx[n - 1], "number %lld stored twice", n);
		idx[n - 1] = with_body ? colon + 1 : line;
		if ((size_t)n > *max)
			*max = (size_t)n;
	}
	return idx;
}

static int strcmp_ptr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_acc(const void *a, const void *b)
{
	const struct accepted *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind - y->kind;
	return x->number < y->number ? -1 : x->number > y->number;
}

static void verify(const char *token, const char *messages)
{
	struct search_job job = { .messages = messages,
				  .lock = PTHREAD_MUTEX_INITIALIZER };
	int64_t app_id;
	size_t nmsg = 0, nchat = 0, missing = 0, nmi = 0, nci = 0;
	char *mtext = NULL, *ctext = NULL, **midx = NULL, **cidx = NULL;
	double deadline;

	/* No number got two 202s. */
	qsort(load.acc, load.nacc, sizeof(*load.acc), cmp_acc);
	for (size_t i = 0; i < load.nacc; i++) {
		nmsg += load.acc[i].kind == 'm';
		nchat += load.acc[i].kind == 'c';
		if (i)
			cr_assert(load.acc[i].kind != load.acc[i - 1].kind ||
				  load.acc[i].number != load.acc[i - 1].number,
				  "%s number %lld was accepted twice",
				  load.acc[i].kind == 'c' ? "chat" : "message",
				  (long long)load.acc[i].number);
	}
	cr_log_info("faults: %zu messages and %zu chats accepted, %u answers "
		    "503", nmsg, nchat, load.n503);
	cr_assert_gt(nmsg, 100, "too few creates accepted to mean anything");

	/* Every accepted number persisted, once, with its own body. */
	app_id = tdb_int("SELECT id FROM applications WHERE " TDB_TOKEN_IS, token,
			 NULL);
	cr_assert_gt(app_id, 0);
	deadline = mono_ms() + 90000;
	for (;;) {
		free(mtext);
		free(ctext);
		free(midx);
		free(cidx);
		mtext = stored(app_id, true);
		ctext = stored(app_id, false);
		cr_assert_not_null(mtext);
		cr_assert_not_null(ctext);
		midx = index_lines(mtext, &nmi, true);
		cidx = index_lines(ctext, &nci, false);
		missing = 0;
		for (size_t i = 0; i < load.nacc; i++)
			missing += !body_of(load.acc[i].kind == 'm' ? midx : cidx,
					    load.acc[i].kind == 'm' ? nmi : nci,
					    load.acc[i].number);
		if (!missing || mono_ms() >= deadline)
			break;
		msleep(1000);
	}
	cr_assert_eq(missing, 0, "%zu accepted creates are not in MariaDB 90 s "
		     "after the last fault", missing);
	cr_log_info("faults: all in MariaDB after %.1f s",
		    (mono_ms() - deadline + 90000) / 1000);
	for (size_t i = 0; i < load.nacc; i++) {
		char word[32];

		if (load.acc[i].kind != 'm')
			continue;
		word_of(word, load.run, load.acc[i].seq);
		cr_assert(strstr(body_of(midx, nmi, load.acc[i].number), word),
			  "message %lld holds '%s', not %s",
			  (long long)load.acc[i].number,
			  body_of(midx, nmi, load.acc[i].number), word);
	}
	/* A body stored under two numbers: a create that ran twice. */
	{
		char **bodies = xcalloc(nmi + 1, sizeof(*bodies));
		size_t nb = 0;

		for (size_t n = 0; n < nmi; n++)
			if (midx[n])
				bodies[nb++] = midx[n];
		qsort(bodies, nb, sizeof(*bodies), strcmp_ptr);
		for (size_t i = 1; i < nb; i++)
			cr_assert(strcmp(bodies[i - 1], bodies[i]) != 0 ||
				  strstr(bodies[i], " load") == NULL,
				  "'%s' is stored under two numbers",
				  bodies[i]);
		free(bodies);
	}

	/* Every accepted message searchable by its word, exactly once. */
	job.acc = load.acc;
	job.n = load.nacc;
	job.found = xcalloc(load.nacc + 1, sizeof(*job.found));
	chat_buf_init(&job.errors);
	deadline = mono_ms() + 90000;
	while ((missing = search_all(&job)) > 0 && job.nerrors == 0 &&
	       mono_ms() < deadline) {
		cr_log_info("faults: %zu messages not searchable yet",
			    missing);
		msleep(2000);
	}
	cr_log_info("faults: all searchable after %.1f s",
		    (mono_ms() - deadline + 90000) / 1000);
	cr_assert_eq(job.nerrors, 0, "search is wrong:%s", job.errors.data);
	cr_assert_eq(missing, 0, "%zu accepted messages are not searchable "
		     "90 s after the last fault", missing);
	chat_buf_release(&job.errors);
	free(job.found);
	free(mtext);
	free(ctext);
	free(midx);
	free(cidx);
}

/* ------------------------------------------------------------ the test */

Test(faults, creates_survive_every_fault, .fini = leave_healthy)
{
	char *token = app_create("faults");
	char *app = http_path("/applications/%s", token);
	char *chats = http_path("%s/chats", app);
	char *chat1 = http_path("%s/1", chats);
	char *messages = http_path("%s/messages", chat1);
	char *search = http_path("%s/search?q=load", messages);
	double start = mono_ms();
	struct raw_res res;
	unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	pid_t pids[FCGI_MAX];

	raw_request("POST", chats, NULL, 0, &res);
	cr_assert_eq(res.status, 202, "POST chat: %d %s", res.status,
		     res.body ? res.body : "");
	raw_res_release(&res);
	cr_assert(wait_for_status("GET", chat1, NULL, 200, 20000),
		  "chat 1 was not persisted");
	for (int i = 0; i < 6; i++)
		load.run[i] = (char)('a' + (seed >> (i * 4)) % 26);
	load.chats = chats;
	load.messages = messages;
	chat_buf_init(&load.bad);
	cr_assert_eq(pthread_create(&load.thread, NULL, load_main, &load), 0);
	load.running = true;
	assert_progress("start", 5000);

	kill_worker_five_times();
	kill_one_fcgi_process();
	stop_search(search);
	stop_mariadb(app, chats, messages, search);
	restart_redis(chats, messages);
	msleep(1000);
	load_stop();
	cr_log_info("faults: faults done after %.0f s",
		    (mono_ms() - start) / 1000);
	cr_assert_eq(load.nbad, 0, "%u creates got an answer other than 202 "
		     "or 503:%s", load.nbad, load.bad.data);

	verify(token, messages);

	/* Healthy again: every part up, every program at full strength. */
	stack_start("final check");
	cr_assert(wait_for_status("GET", "/health", NULL, 200, 30000),
		  "/health is not 200 at the end");
	for (size_t i = 0; i < NFCGI; i++) {
		char rel[64];
		int n;

		snprintf(rel, sizeof(rel), "run/%s.pid", fcgi_names[i]);
		n = stack_pids(rel, pids, FCGI_MAX);
		cr_assert_eq(n, procs_per_program(), "%s runs %d processes",
			     fcgi_names[i], n);
		for (int k = 0; k < n; k++)
			cr_assert(pid_alive(pids[k]));
	}
	one_pid("run/worker.1.pid");
	cr_log_info("faults: done in %.0f s", (mono_ms() - start) / 1000);

	chat_buf_release(&load.bad);
	free(load.acc);
	free(search);
	free(messages);
	free(chat1);
	free(chats);
	free(app);
	free(token);
}
