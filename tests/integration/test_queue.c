/*
 * test_queue.c - the reliability of queued creation (../shared/API.md,
 * "Creation is queued" and "Numbers"; nginx/api-docs/openapi.json), against the real private stack:
 * creates racing over many connections and FastCGI processes, a counter
 * lost from Redis, the worker killed, MariaDB stopped, jobs that can
 * never be persisted, a deleted-chat look-up answered with an error, and
 * jobs delivered twice.
 *
 * These tests break the stack on purpose (kill -9 of the worker, MariaDB
 * down for 20 s), which would disturb any test running beside them, so
 * this binary runs its tests one at a time (see main at the end), and
 * each test that breaks something brings the stack back before it ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "buf.h"
#include "client.h"
#include "job.h"
#include "support_faults.h"
#include "xalloc.h"

#define PERSIST_MS 30000
#define OUTAGE_S 20

TestSuite(queue, .timeout = 240);

/* Paths and creates ------------------------------------------------- */

static void sleep_ms(unsigned ms)
{
	usleep(ms * 1000);
}

static char *chats_path(const char *token)
{
	return http_path("/applications/%s/chats", token);
}

static char *msgs_path(const char *token, int64_t chat)
{
	return http_path("/applications/%s/chats/%lld/messages", token,
			 (long long)chat);
}

static int64_t post_created(const char *path, const char *body)
{
	struct http_res *res = http_send("POST", path, body);
	int64_t n = assert_accepted(res, path);

	http_res_free(res);
	return n;
}

static int64_t create_chat(const char *token)
{
	char *path = chats_path(token);
	int64_t n = post_created(path, NULL);

	free(path);
	return n;
}

static int64_t create_msg(const char *token, int64_t chat, const char *body)
{
	char *path = msgs_path(token, chat);
	char *json = http_path("{\"body\":\"%s\"}", body);
	int64_t n = post_created(path, json);

	free(json);
	free(path);
	return n;
}

static void wait_get(const char *path, long status)
{
	cr_assert(wait_status(path, status, PERSIST_MS),
		  "GET %s did not answer %ld within %d ms", path, status,
		  PERSIST_MS);
}

static void wait_chat(const char *token, int64_t chat)
{
	char *path = http_path("/applications/%s/chats/%lld", token,
			       (long long)chat);

	wait_get(path, 200);
	free(path);
}

static void wait_msg(const char *token, int64_t chat, int64_t n)
{
	char *path = http_path("/applications/%s/chats/%lld/messages/%lld",
			       token, (long long)chat, (long long)n);

	wait_get(path, 200);
	free(path);
}

/* An application with one persisted chat, number 1. */
static char *app_with_chat(const char *name)
{
	char *token = app_create(name);

	cr_assert_eq(create_chat(token), 1);
	wait_chat(token, 1);
	return token;
}

/* Numbers handed out ------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/*
 * Assert that every create of results[0..n) was a 202 with its Location,
 * and that their numbers are exactly first, first+1, ... first+n-1.
 */
static void assert_numbers(const struct create_result *results, size_t n,
			   int64_t first, const char *what)
{
	int64_t *nums = xcalloc(n + 1, sizeof(*nums));
	size_t other = 0;
	long sample = 0;

	for (size_t i = 0; i < n; i++) {
		if (results[i].status != 202 || !results[i].location_ok) {
			other++;
			sample = results[i].status;
		}
		nums[i] = results[i].number;
	}
	cr_assert_eq(other, 0, "%s: %zu of %zu creates were not a 202 with "
		     "its Location (e.g. status %ld)", what, other, n, sample);
	qsort(nums, n, sizeof(*nums), cmp_i64);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(nums[i], first + (int64_t)i,
			     "%s: numbers are not exactly %lld..%lld: #%zu is "
			     "%lld", what, (long long)first,
			     (long long)(first + (int64_t)n - 1), i,
			     (long long)nums[i]);
	free(nums);
}

/* Rows behind the API ------------------------------------------------ */

#define CHATS_OF \
	"FROM chats c JOIN applications a ON a.id = c.application_id " \
	"WHERE a." TDB_TOKEN_IS
#define MSGS_OF \
	"FROM messages m JOIN chats c ON c.id = m.chat_id JOIN " \
	"applications a ON a.id = c.application_id WHERE a." TDB_TOKEN_IS " " \
	"AND c.number = ?"

/*
 * Wait until the application's chats in MariaDB are exactly 1..n, each
 * once (and, with `first` > 1, first..n).
 */
static void assert_chat_rows(const char *token, int64_t first, int64_t n)
{
	int64_t want = n - first + 1;
	int64_t got = wait_db_count(PERSIST_MS, want,
				    "SELECT COUNT(*) " CHATS_OF, token, NULL);

	cr_assert_eq(got, want, "%lld chat rows, expected %lld",
		     (long long)got, (long long)want);
	cr_assert_eq(tdb_int("SELECT COUNT(DISTINCT c.number) " CHATS_OF,
			     token, NULL), want, "chat numbers repeat");
	cr_assert_eq(tdb_int("SELECT MIN(c.number) " CHATS_OF, token, NULL),
		     first);
	cr_assert_eq(tdb_int("SELECT MAX(c.number) " CHATS_OF, token, NULL),
		     n);
}

/* The same for the messages of chat `chat`: exactly 1..n, each once. */
static void assert_msg_rows(const char *token, int64_t chat, int64_t n)
{
	char *c = http_path("%lld", (long long)chat);
	int64_t got = wait_db_count(PERSIST_MS, n,
				    "SELECT COUNT(*) " MSGS_OF, token, c, NULL);

	cr_assert_eq(got, n, "%lld message rows, expected %lld",
		     (long long)got, (long long)n);
	cr_assert_eq(tdb_int("SELECT COUNT(DISTINCT m.number) " MSGS_OF,
			     token, c, NULL), n, "message numbers repeat");
	cr_assert_eq(tdb_int("SELECT MIN(m.number) " MSGS_OF, token, c, NULL),
		     n ? 1 : 0);
	cr_assert_eq(tdb_int("SELECT MAX(m.number) " MSGS_OF, token, c, NULL),
		     n ? n : 0);
	free(c);
}

/* Racing creates ----------------------------------------------------- */

#define RACE_N 500
#define RACE_CONNS 32

/* Every create program runs as a pool of at least 4 processes. */
static void assert_fcgi_pool(const char *name)
{
	char *rel = http_path("run/%s.pid", name);
	char *pidf = var_path(rel);
	char *prog = http_path("cgi-bin/%s", name);
	unsigned n = pidfile_count(pidf, prog);

	cr_assert_geq(n, 4, "%u %s processes alive (pid file %s)", n, name,
		      pidf);
	free(prog);
	free(pidf);
	free(rel);
}

Test(queue, parallel_messages_numbered_once)
{
	struct create_result *res = xcalloc(RACE_N, sizeof(*res));
	char *token = app_with_chat("race messages");
	char *path = msgs_path(token, 1);
	static const char body[] = "{\"body\":\"race\"}";

	assert_fcgi_pool("messages");
	burst_create(path, body, strlen(body), RACE_N, RACE_CONNS, res);
	assert_numbers(res, RACE_N, 1, path);
	assert_msg_rows(token, 1, RACE_N);
	/* And the next one follows on. */
	cr_assert_eq(create_msg(token, 1, "after"), RACE_N + 1);
	free(path);
	free(token);
	free(res);
}

Test(queue, parallel_chats_numbered_once)
{
	struct create_result *res = xcalloc(RACE_N, sizeof(*res));
	char *token = app_create("race chats");
	char *path = chats_path(token);

	assert_fcgi_pool("chats");
	burst_create(path, NULL, 0, RACE_N, RACE_CONNS, res);
	assert_numbers(res, RACE_N, 1, path);
	assert_chat_rows(token, 1, RACE_N);
	cr_assert_eq(create_chat(token), RACE_N + 1);
	free(path);
	free(token);
	free(res);
}

/* A counter lost from Redis ------------------------------------------ */

static void del_key(const char *key)
{
	cr_assert_eq(tredis_del(key), 1, "%s was not there to delete", key);
}

Test(queue, chat_counter_lost)
{
	char *token = app_create("lost chat counter");
	uint64_t app = app_id_of(token);
	char *key = queue_key(app, "a%llu:n", (unsigned long long)app);
	char *path;
	struct http_res *res;

	for (int i = 1; i <= 3; i++)
		cr_assert_eq(create_chat(token), i);
	wait_chat(token, 3);
	del_key(key);
	cr_assert_eq(create_chat(token), 4, "after the counter was lost");
	wait_chat(token, 4);

	/* The highest chat deleted: its number is not handed out again. */
	cr_assert_eq(create_chat(token), 5);
	wait_chat(token, 5);
	path = http_path("/applications/%s/chats/5", token);
	res = http_do("DELETE", path, NULL, 0);
	cr_assert_eq(res->status, 204, "%s: %ld", res->what, res->status);
	http_res_free(res);
	del_key(key);
	cr_assert_eq(create_chat(token), 6, "chat 5 (deleted) was reused");
	wait_chat(token, 6);
	res = http_get(path);
	cr_assert_eq(res->status, 404, "%s: %ld", res->what, res->status);
	http_res_free(res);

	/* A message into a chat, with the chat counter gone, is numbered
	 * and persisted as usual. */
	del_key(key);
	cr_assert_eq(create_msg(token, 6, "seeded"), 1);
	wait_msg(token, 6, 1);
	cr_assert_eq(create_chat(token), 7);
	free(path);
	free(key);
	free(token);
}

Test(queue, message_counter_lost)
{
	char *token = app_with_chat("lost message counter");
	uint64_t app = app_id_of(token);
	char *key = queue_key(app, "a%llu:c1:n", (unsigned long long)app);
	char *path;
	struct http_res *res;

	for (int i = 1; i <= 3; i++)
		cr_assert_eq(create_msg(token, 1, "m"), i);
	wait_msg(token, 1, 3);
	del_key(key);
	cr_assert_eq(create_msg(token, 1, "m"), 4, "after the counter was lost");
	wait_msg(token, 1, 4);
	assert_msg_rows(token, 1, 4);

	/*
	 * The highest message deleted, then the counter lost: the contract
	 * says numbers are never reused, not even after a delete.
	 */
	path = http_path("/applications/%s/chats/1/messages/4", token);
	res = http_do("DELETE", path, NULL, 0);
	cr_assert_eq(res->status, 204, "%s: %ld", res->what, res->status);
	http_res_free(res);
	del_key(key);
	cr_assert_eq(create_msg(token, 1, "m"), 5,
		     "message 4 (deleted) was handed out again");
	free(path);
	free(key);
	free(token);
}

/* The worker killed -------------------------------------------------- */

/* Both streams of creates into one application, running together. */
struct streams {
	struct create_stream *chats, *msgs;
	struct create_result *chat_res, *msg_res;
	size_t nchats, nmsgs;
};

static void streams_start(struct streams *s, const char *token, int64_t chat,
			  unsigned gap_ms)
{
	char *c = chats_path(token), *m = msgs_path(token, chat);

	memset(s, 0, sizeof(*s));
	s->chats = stream_start(c, NULL, gap_ms * 2);
	s->msgs = stream_start(m, "{\"body\":\"streamed\"}", gap_ms);
	free(m);
	free(c);
}

static void streams_stop(struct streams *s)
{
	stream_stop(s->chats, &s->chat_res, &s->nchats);
	stream_stop(s->msgs, &s->msg_res, &s->nmsgs);
}

/* Whatever a test broke, the stack is whole again after it. */
static void restore_stack(void)
{
	worker_resume();
	if (!health_ok() || !worker_alive())
		stack_start();
}

Test(queue, worker_killed_mid_stream, .fini = restore_stack)
{
	char *token = app_with_chat("worker killed");
	char *msgs = msgs_path(token, 1), *chats = chats_path(token);
	char *mysql_pidf = var_path("mysql/mysqld.pid");
	pid_t mysql_pid = pidfile_pid(mysql_pidf), killed;
	struct streams s;

	streams_start(&s, token, 1, 2);
	sleep_ms(1000);
	killed = worker_pid();
	worker_kill9();
	sleep_ms(1000);
	/* stack.sh start brings back what is down, and only that. */
	stack_start();
	cr_assert_neq(worker_pid(), killed);
	cr_assert_eq(pidfile_pid(mysql_pidf), mysql_pid,
		     "stack.sh start restarted MariaDB too");
	sleep_ms(500);
	streams_stop(&s);

	cr_assert_gt(s.nmsgs, 50, "only %zu messages streamed", s.nmsgs);
	assert_numbers(s.msg_res, s.nmsgs, 1, msgs);
	assert_numbers(s.chat_res, s.nchats, 2, chats);
	assert_msg_rows(token, 1, (int64_t)s.nmsgs);
	assert_chat_rows(token, 1, 1 + (int64_t)s.nchats);
	free(s.chat_res);
	free(s.msg_res);
	free(mysql_pidf);
	free(chats);
	free(msgs);
	free(token);
}

/* MariaDB down ------------------------------------------------------- */

Test(queue, mysql_down_creates_go_on, .fini = restore_stack)
{
	char *token = app_with_chat("mysql down");
	char *msgs = msgs_path(token, 1), *chats = chats_path(token);
	char *chat1 = http_path("/applications/%s/chats/1", token);
	struct create_result *res;
	struct http_res *r;
	struct streams s;
	int64_t late_chat, late_msg = -1;
	long late_status;
	size_t before;

	/* The API has seen the application and its chat's counter. */
	cr_assert_eq(create_msg(token, 1, "before"), 1);
	wait_msg(token, 1, 1);

	streams_start(&s, token, 1, 10);
	sleep_ms(500);
	mysql_stop();
	before = stream_count(s.msgs);
	sleep_ms(1000);

	/* Reads need MariaDB: 503, the contract's JSON. */
	r = http_get(chat1);
	http_assert_error(r, 503, "service_unavailable");
	http_res_free(r);
	r = http_get("/health");
	cr_assert_eq(r->status, 503, "GET /health with MariaDB down: %ld",
		     r->status);
	http_assert_contract(r);
	cr_assert_str_eq(http_json_str(r, "mysql"), "down", "%s", r->body);
	http_res_free(r);

	/* A chat created now takes messages at once. */
	late_chat = create_chat(token);
	{
		char *p = msgs_path(token, late_chat);

		r = http_send("POST", p, "{\"body\":\"into a new chat\"}");
		late_status = r->status;
		if (r->status == 202)
			late_msg = assert_accepted(r, p);
		http_res_free(r);
		free(p);
	}

	sleep_ms(OUTAGE_S * 1000 - 1000);
	cr_assert_gt(stream_count(s.msgs), before + 50,
		     "the creates stalled while MariaDB was down");
	stack_start();
	sleep_ms(500);
	streams_stop(&s);

	/* Every create kept answering 202, numbered without a gap... */
	assert_numbers(s.msg_res, s.nmsgs, 2, msgs);
	/* (the late chat's number sits among the streamed chats) */
	res = xcalloc(s.nchats + 2, sizeof(*res));
	memcpy(res, s.chat_res, s.nchats * sizeof(*res));
	res[s.nchats] = (struct create_result){
		.status = 202, .number = late_chat, .location_ok = true,
	};
	assert_numbers(res, s.nchats + 1, 2, chats);
	free(res);
	/* ...and all of it is persisted once MariaDB is back. */
	assert_msg_rows(token, 1, 1 + (int64_t)s.nmsgs);
	assert_chat_rows(token, 1, 2 + (int64_t)s.nchats);
	cr_assert_eq(late_msg, 1, "POST of the first message into a chat "
		     "created while MariaDB was down: %ld, not a 202 with "
		     "number 1", late_status);
	wait_msg(token, late_chat, 1);
	cr_assert(health_ok(), "GET /health is not 200 at the end");
	free(s.chat_res);
	free(s.msg_res);
	free(chat1);
	free(chats);
	free(msgs);
	free(token);
}

/* Jobs that can never be persisted ------------------------------------ */

/* XADD the job given as field/value pairs; returns the entry id. */
static char *add_job(uint64_t app, int argc, const char **argv,
		     const size_t *lens)
{
	char *key = queue_key(app, "jobs");
	const char **av = xcalloc((size_t)argc + 3, sizeof(*av));
	size_t *al = xcalloc((size_t)argc + 3, sizeof(*al));
	redisReply *r;
	char *id;

	av[0] = "XADD";
	av[1] = key;
	av[2] = "*";
	for (int i = 0; i < 3; i++)
		al[i] = strlen(av[i]);
	for (int i = 0; i < argc; i++) {
		av[i + 3] = argv[i];
		al[i + 3] = lens ? lens[i] : strlen(argv[i]);
	}
	r = redis_argv(argc + 3, av, al);
	cr_assert(r->type == REDIS_REPLY_STRING, "XADD %s failed", key);
	id = xstrdup(r->str);
	freeReplyObject(r);
	free(al);
	free(av);
	free(key);
	return id;
}

struct job_wait {
	char *key, *id;
};

static bool job_gone(void *arg)
{
	struct job_wait *w = arg;
	redisReply *r = tredis("XRANGE %s %s %s", w->key, w->id, w->id);
	bool gone = r->type == REDIS_REPLY_ARRAY && r->elements == 0;

	freeReplyObject(r);
	return gone;
}

/* Wait until the worker has finished job `id` (it is deleted from the
 * stream once done, whether persisted or dead-lettered). */
static void wait_job_done(uint64_t app, const char *id)
{
	struct job_wait w = { queue_key(app, "jobs"), (char *)id };

	cr_assert(wait_until(job_gone, &w, PERSIST_MS),
		  "job %s still in %s after %d ms", id, w.key, PERSIST_MS);
	free(w.key);
}

/* The reason the dead-letter stream gives for job `id`, or NULL. */
static char *dead_reason(uint64_t app, const char *id)
{
	char *key = queue_key(app, "dead");
	redisReply *r = tredis("XRANGE %s - +", key);
	char *reason = NULL;

	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements;
	     i++) {
		redisReply *f = r->element[i]->element[1];
		bool mine = false;
		const char *why = NULL;

		for (size_t k = 0; k + 1 < f->elements; k += 2) {
			if (strcmp(f->element[k]->str, "job") == 0)
				mine = strcmp(f->element[k + 1]->str, id) == 0;
			if (strcmp(f->element[k]->str, "reason") == 0)
				why = f->element[k + 1]->str;
		}
		if (mine) {
			reason = xstrdup(why ? why : "");
			break;
		}
	}
	freeReplyObject(r);
	free(key);
	return reason;
}

static void assert_dead(uint64_t app, const char *id)
{
	char *reason;

	wait_job_done(app, id);
	reason = dead_reason(app, id);
	cr_assert_not_null(reason, "job %s is not in the dead-letter stream",
			   id);
	cr_assert(*reason, "job %s dead-lettered without a reason", id);
	free(reason);
}

static char *num(int64_t n)
{
	return http_path("%lld", (long long)n);
}

Test(queue, dead_letter_body_too_long)
{
	char *token = app_with_chat("dead letter long");
	uint64_t app = app_id_of(token);
	char *a = num((int64_t)app), *ts = num((int64_t)time(NULL));
	char *big = xmalloc(70000);
	const char *argv[] = { "t", "m", "a", a, "c", "1", "n", "1000",
			       "ts", ts, "b", big };
	size_t lens[12];
	char *id, *reason;

	memset(big, 'x', 70000);
	for (int i = 0; i < 12; i++)
		lens[i] = i == 11 ? 70000 : strlen(argv[i]);
	id = add_job(app, 12, argv, lens);
	/* A good job right behind it, likely in the same batch. */
	cr_assert_eq(create_msg(token, 1, "good"), 1);

	assert_dead(app, id);
	reason = dead_reason(app, id);
	cr_assert(strstr(reason, "database") != NULL,
		  "dead-letter reason: %s", reason);
	free(reason);
	wait_msg(token, 1, 1);
	/* Nothing of the bad job reached MariaDB; the chat is intact. */
	assert_msg_rows(token, 1, 1);
	/* And the worker goes on with later jobs. */
	cr_assert_eq(create_msg(token, 1, "later"), 2);
	wait_msg(token, 1, 2);
	free(id);
	free(big);
	free(ts);
	free(a);
	free(token);
}

Test(queue, dead_letter_malformed_jobs)
{
	char *token = app_with_chat("dead letter malformed");
	uint64_t app = app_id_of(token);
	char *a = num((int64_t)app), *other = num((int64_t)app + 1);
	char *ts = num((int64_t)time(NULL));
	const char *no_number[] = { "t", "m", "a", a, "c", "1", "ts", ts };
	const char *no_body[] = { "t", "m", "a", a, "c", "1", "n", "77",
				  "ts", ts };
	const char *bad_type[] = { "t", "x", "a", a, "c", "1", "ts", ts };
	const char *bad_app[] = { "t", "c", "a", "abc", "c", "1", "ts", ts };
	const char *no_app[] = { "t", "c", "c", "9", "ts", ts };
	const char *no_chat[] = { "t", "c", "a", a, "ts", ts };
	/* Another shard's application in this shard's stream. */
	const char *wrong_shard[] = { "t", "c", "a", other, "c", "9",
				      "ts", ts };
	const char *no_chat_id[] = { "t", "d", "a", a, "c", "1", "ts", ts };
	struct {
		const char **argv;
		int argc;
	} jobs[] = {
		{ no_number, 8 }, { no_body, 10 }, { bad_type, 8 },
		{ bad_app, 8 }, { no_app, 6 }, { no_chat, 6 },
		{ wrong_shard, 8 }, { no_chat_id, 8 },
	};
	size_t njobs = sizeof(jobs) / sizeof(jobs[0]);
	char *ids[sizeof(jobs) / sizeof(jobs[0])];
	char *chat1 = http_path("/applications/%s/chats/1", token);
	struct http_res *res;

	for (size_t i = 0; i < njobs; i++)
		ids[i] = add_job(app, jobs[i].argc, jobs[i].argv, NULL);
	cr_assert_eq(create_msg(token, 1, "good"), 1);
	for (size_t i = 0; i < njobs; i++) {
		assert_dead(app, ids[i]);
		free(ids[i]);
	}
	wait_msg(token, 1, 1);
	/* None of them did anything: no message 77, chat 1 not deleted. */
	assert_msg_rows(token, 1, 1);
	res = http_get(chat1);
	cr_assert_eq(res->status, 200, "%s: %ld", res->what, res->status);
	http_res_free(res);
	cr_assert_eq(create_chat(token), 2);
	wait_chat(token, 2);
	free(chat1);
	free(ts);
	free(other);
	free(a);
	free(token);
}

/*
 * A deleted-chat look-up that Redis answers with an error (here the
 * application's set of deleted chats is a string: WRONGTYPE) tells
 * nothing: the job is neither dropped as of a deleted chat nor
 * acknowledged, but kept pending and redone until the look-up answers.
 */
static char broken_set[128];

static void repair_set(void)
{
	if (broken_set[0])
		tredis_del(broken_set);
	broken_set[0] = '\0';
}

Test(queue, lookup_error_loses_nothing, .fini = repair_set)
{
	char *token = app_with_chat("look-up error");
	uint64_t app = app_id_of(token);
	char *a = num((int64_t)app), *ts = num((int64_t)time(NULL));
	const char *m[] = { "t", "m", "a", a, "c", "1", "n", "1", "ts", ts,
			    "b", "looked up in a broken set" };
	char *msg1 = http_path("/applications/%s/chats/1/messages/1", token);
	struct job_wait w = { queue_key(app, "jobs"), NULL };
	struct chat_buf key;
	struct http_res *res;

	chat_buf_init(&key);
	chat_job_key_deleted_chats(&key, app);
	cr_assert_lt(key.len, sizeof(broken_set));
	memcpy(broken_set, key.data, key.len + 1);
	freeReplyObject(tredis("SET %s %s", key.data, "not a sorted set"));
	w.id = add_job(app, 12, m, NULL);
	sleep_ms(3000);
	res = http_get(msg1);
	cr_assert_eq(res->status, 404, "%s: %ld", res->what, res->status);
	http_res_free(res);
	cr_assert(!job_gone(&w), "job %s left the stream unpersisted", w.id);
	/* The set repaired, the job is persisted. */
	repair_set();
	wait_msg(token, 1, 1);
	assert_msg_rows(token, 1, 1);
	wait_job_done(app, w.id);
	chat_buf_release(&key);
	free(w.key);
	free(w.id);
	free(msg1);
	free(ts);
	free(a);
	free(token);
}

/* Jobs delivered twice ------------------------------------------------ */

Test(queue, redelivered_jobs_change_nothing)
{
	char *token = app_with_chat("redelivered");
	uint64_t app = app_id_of(token);
	char *a = num((int64_t)app), *now = num((int64_t)time(NULL));
	char *chat1 = http_path("/applications/%s/chats/1", token);
	char *chat2 = http_path("/applications/%s/chats/2", token);
	char *msg1 = http_path("%s/messages/1", chat1);
	char *created, *id;
	struct http_res *res;

	cr_assert_eq(create_msg(token, 1, "kept"), 1);
	wait_msg(token, 1, 1);
	res = http_send("PATCH", msg1, "{\"body\":\"edited\"}");
	cr_assert_eq(res->status, 200, "%s: %ld", res->what, res->status);
	http_res_free(res);
	res = http_get(chat1);
	created = xstrdup(http_json_str(res, "created_at"));
	http_res_free(res);

	/* The chat's job and the message's job, again (a later ts). */
	{
		const char *c[] = { "t", "c", "a", a, "c", "1", "ts", now };
		const char *m[] = { "t", "m", "a", a, "c", "1", "n", "1",
				    "ts", now, "b", "replayed" };

		sleep(1);
		id = add_job(app, 8, c, NULL);
		wait_job_done(app, id);
		free(id);
		id = add_job(app, 12, m, NULL);
		wait_job_done(app, id);
		free(id);
	}
	assert_msg_rows(token, 1, 1);
	res = http_get(msg1);
	cr_assert_eq(res->status, 200);
	cr_assert_str_eq(http_json_str(res, "body"), "edited",
			 "a replayed job undid an edit");
	http_res_free(res);
	res = http_get(chat1);
	cr_assert_str_eq(http_json_str(res, "created_at"), created,
			 "a replayed job moved created_at");
	http_res_free(res);
	assert_chat_rows(token, 1, 1);

	/* A deleted chat stays deleted when its jobs come again. */
	cr_assert_eq(create_chat(token), 2);
	wait_chat(token, 2);
	res = http_do("DELETE", chat2, NULL, 0);
	cr_assert_eq(res->status, 204, "%s: %ld", res->what, res->status);
	http_res_free(res);
	{
		const char *c[] = { "t", "c", "a", a, "c", "2", "ts", now };
		const char *m[] = { "t", "m", "a", a, "c", "2", "n", "1",
				    "ts", now, "b", "ghost" };

		id = add_job(app, 12, m, NULL);
		wait_job_done(app, id);
		free(id);
		id = add_job(app, 8, c, NULL);
		wait_job_done(app, id);
		free(id);
	}
	res = http_get(chat2);
	cr_assert_eq(res->status, 404, "a deleted chat came back when its job "
		     "was delivered again: %ld %.300s", res->status,
		     res->body);
	http_res_free(res);
	assert_chat_rows(token, 1, 1);
	free(created);
	free(msg1);
	free(chat2);
	free(chat1);
	free(now);
	free(a);
	free(token);
}

/*
 * The faults above would disturb tests running beside them: whatever the
 * command line or CRITERION_JOBS says, one test at a time.
 */
int main(int argc, char *argv[])
{
	return trun_one_at_a_time(argc, argv);
}
