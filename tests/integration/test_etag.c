/*
 * test_etag.c - optimistic concurrency (the contract's "Optimistic
 * concurrency: ETag, If-Match, If-None-Match") end to end through nginx:
 * every response carrying one application, chat or message has an ETag;
 * GET with a matching If-None-Match is a 304 without a body; PATCH, PUT
 * and DELETE with a stale If-Match are a 412 and change nothing; two
 * racing updates with the same If-Match give one 200 and one 412; the
 * ETag changes with every change of the object, including the counters
 * that jobs/sync recomputes, and not when the worker sees a job again.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "buf.h"
#include "client.h"
#include "queue.h"
#include "support_faults.h"
#include "support_parallel.h"
#include "xalloc.h"

#define PERSIST_MS 20000
#define RACE_ROUNDS 10

extern char **environ;

TestSuite(etag, .timeout = 180);

/* A request with one extra header line (or none); the caller frees. */
static struct http_res *req_h(const char *method, const char *path,
			      const char *body, const char *header)
{
	const char *headers[] = { header, NULL };

	return http_do_h(method, path, body, body ? strlen(body) : 0,
			 headers);
}

static char *hdr(const char *name, const char *value)
{
	return http_path("%s: %s", name, value);
}

/* Assert a strong, quoted entity tag and return a copy. */
static char *assert_etag(const struct http_res *res)
{
	size_t len;

	cr_assert_not_null(res->etag, "%s: %ld without an ETag", res->what,
			   res->status);
	len = strlen(res->etag);
	cr_assert(len >= 3 && res->etag[0] == '"' && res->etag[len - 1] == '"'
		  && strchr(res->etag + 1, '"') == res->etag + len - 1,
		  "%s: ETag %s is not a strong quoted tag", res->what,
		  res->etag);
	return xstrdup(res->etag);
}

/* GET: 200 with an ETag; returns it. */
static char *get_etag(const char *path)
{
	struct http_res *res = http_get(path);
	char *etag;

	cr_assert_eq(res->status, 200, "GET %s: %ld %.200s", path, res->status,
		     res->body);
	http_assert_contract(res);
	etag = assert_etag(res);
	http_res_free(res);
	return etag;
}

/* GET with If-None-Match: `value` gives 304 (no body, the ETag) or 200. */
static void expect_inm(const char *path, const char *value, long status,
		       const char *etag)
{
	char *h = hdr("If-None-Match", value);
	struct http_res *res = req_h("GET", path, NULL, h);

	cr_assert_eq(res->status, status, "GET %s with If-None-Match %s: %ld",
		     path, value, res->status);
	http_assert_contract(res);
	cr_assert_str_eq(res->etag ? res->etag : "(none)", etag,
			 "GET %s with If-None-Match %s", path, value);
	http_res_free(res);
	free(h);
}

/* Every way to name (or not) `etag` in If-None-Match. */
static void check_not_modified(const char *path, const char *etag)
{
	char *weak = http_path("W/%s", etag);
	char *list = http_path("\"nope\", %s", etag);
	/* RFC 9110 5.6.1.2: empty list elements are skipped. */
	char *gaps = http_path(", \"nope\",, %s ,", etag);

	expect_inm(path, etag, 304, etag);
	expect_inm(path, weak, 304, etag);	/* weak comparison */
	expect_inm(path, list, 304, etag);
	expect_inm(path, gaps, 304, etag);
	expect_inm(path, ", ,", 200, etag);
	expect_inm(path, "*", 304, etag);
	expect_inm(path, "\"nope\"", 200, etag);
	expect_inm(path, "\"nope\", W/\"other\"", 200, etag);
	expect_inm(path, "garbage", 200, etag);
	free(weak);
	free(list);
	free(gaps);
}

/* A write with If-Match `value` must be a 412 with the contract's body. */
static void expect_412(const char *method, const char *path, const char *body,
		       const char *value)
{
	char *h = hdr("If-Match", value);
	struct http_res *res = req_h(method, path, body, h);

	http_assert_error(res, 412, "precondition_failed");
	http_res_free(res);
	free(h);
}

/* A write with If-Match `value` (NULL: none) must answer `status`. */
static struct http_res *write_if(const char *method, const char *path,
				 const char *body, const char *value,
				 long status)
{
	char *h = value ? hdr("If-Match", value) : NULL;
	struct http_res *res = req_h(method, path, body, h);

	cr_assert_eq(res->status, status, "%s %s with If-Match %s: %ld %.200s",
		     method, path, value ? value : "(none)", res->status,
		     res->body);
	http_assert_contract(res);
	free(h);
	return res;
}

static char *app_path(const char *token)
{
	return http_path("/applications/%s", token);
}

/* POST /applications; the 201's ETag into *etag. */
static char *app_new(const char *name, char **etag)
{
	char *body = http_path("{\"name\":\"%s\"}", name);
	struct http_res *res = http_send("POST", "/applications", body);
	char *token;

	cr_assert_eq(res->status, 201, "%.200s", res->body);
	*etag = assert_etag(res);
	token = xstrdup(http_json_str(res, "token"));
	http_res_free(res);
	free(body);
	return token;
}

/* POST …/chats and wait until it is persisted; its path. */
static char *chat_new(const char *token)
{
	char *chats = http_path("/applications/%s/chats", token), *path;
	struct http_res *res = http_send("POST", chats, NULL);
	int64_t n = assert_accepted(res, chats);

	path = http_path("%s/%lld", chats, (long long)n);
	cr_assert(wait_status(path, 200, PERSIST_MS), "%s not persisted",
		  path);
	http_res_free(res);
	free(chats);
	return path;
}

/* POST a message into chat `chat` (a path) and wait; its path. */
static char *message_new(const char *chat, const char *text)
{
	char *msgs = http_path("%s/messages", chat), *path;
	char *body = http_path("{\"body\":\"%s\"}", text);
	struct http_res *res = http_send("POST", msgs, body);
	int64_t n = assert_accepted(res, msgs);

	path = http_path("%s/%lld", msgs, (long long)n);
	cr_assert(wait_status(path, 200, PERSIST_MS), "%s not persisted",
		  path);
	http_res_free(res);
	free(body);
	free(msgs);
	return path;
}

static char *field(const char *path, const char *key)
{
	struct http_res *res = http_get(path);
	char *v;

	cr_assert_eq(res->status, 200, "GET %s: %ld", path, res->status);
	v = xstrdup(http_json_str(res, key));
	http_res_free(res);
	return v;
}

Test(etag, application)
{
	char *created, *etag, *etag2, *path, *token, *name;
	struct http_res *res;

	token = app_new("etag app", &created);
	path = app_path(token);
	etag = get_etag(path);
	cr_assert_str_eq(etag, created, "GET after the 201: another ETag");
	check_not_modified(path, etag);

	/* Stale, weak or unknown If-Match: 412 and the name stays. */
	expect_412("PATCH", path, "{\"name\":\"stale\"}", "\"nope\"");
	{
		char *weak = http_path("W/%s", etag);

		expect_412("PUT", path, "{\"name\":\"weak\"}", weak);
		free(weak);
	}
	name = field(path, "name");
	cr_assert_str_eq(name, "etag app");
	free(name);
	free(get_etag(path));

	/* The current ETag: 200, and the ETag of the new version. */
	res = write_if("PATCH", path, "{\"name\":\"renamed\"}", etag, 200);
	etag2 = assert_etag(res);
	http_res_free(res);
	cr_assert_str_neq(etag2, etag, "a rename kept the ETag");
	{
		char *now = get_etag(path);

		cr_assert_str_eq(now, etag2);
		free(now);
	}
	/* The old one is stale now, also for a PATCH that changes nothing. */
	expect_412("PATCH", path, "{\"name\":\"again\"}", etag);
	expect_412("PATCH", path, "{}", etag);
	expect_inm(path, etag, 200, etag2);
	/* A list that names it (empty elements skipped), and *, match. */
	expect_412("PATCH", path, "{}", ", ,");
	{
		char *list = http_path("\"x\", , %s", etag2);

		res = write_if("PUT", path, "{\"name\":\"by list\"}", list, 200);
		free(etag2);
		etag2 = assert_etag(res);
		http_res_free(res);
		free(list);
	}
	res = write_if("PUT", path, "{\"name\":\"by star\"}", "*", 200);
	free(etag);
	etag = assert_etag(res);
	http_res_free(res);
	cr_assert_str_neq(etag, etag2);
	/* PATCH {} changes nothing: 200 with the same ETag. */
	res = write_if("PATCH", path, "{}", etag, 200);
	cr_assert_str_eq(res->etag, etag);
	http_res_free(res);
	/* Without If-Match, as before. */
	res = write_if("PATCH", path, "{\"name\":\"plain\"}", NULL, 200);
	cr_assert_str_neq(res->etag, etag);
	http_res_free(res);
	free(etag);
	free(etag2);
	free(created);
	free(path);
	free(token);
}

Test(etag, message)
{
	char *ecreated, *token = app_new("etag message", &ecreated);
	char *chat = chat_new(token), *path = message_new(chat, "original");
	char *etag = get_etag(path), *etag2, *body;
	struct http_res *res;

	check_not_modified(path, etag);
	expect_412("PATCH", path, "{\"body\":\"stale\"}", "\"nope\"");
	expect_412("PUT", path, "{\"body\":\"stale\"}", "\"nope\"");
	expect_412("DELETE", path, NULL, "\"nope\"");
	body = field(path, "body");
	cr_assert_str_eq(body, "original", "a 412 changed the body");
	free(body);

	res = write_if("PUT", path, "{\"body\":\"edited\"}", etag, 200);
	etag2 = assert_etag(res);
	cr_assert_str_eq(http_json_str(res, "body"), "edited");
	http_res_free(res);
	cr_assert_str_neq(etag2, etag);
	{
		char *now = get_etag(path);

		cr_assert_str_eq(now, etag2);
		free(now);
	}
	/* The same body again is still an update (updated_at): new ETag. */
	res = write_if("PATCH", path, "{\"body\":\"edited\"}", etag2, 200);
	cr_assert_str_neq(res->etag, etag2);
	free(etag);
	etag = xstrdup(res->etag);
	http_res_free(res);
	/* Delete with the old ETag: 412, still there; with the current: 204. */
	expect_412("DELETE", path, NULL, etag2);
	free(get_etag(path));
	res = write_if("DELETE", path, NULL, etag, 204);
	http_res_free(res);
	res = http_get(path);
	http_assert_error(res, 404, "not_found");
	http_res_free(res);
	/* Gone: If-Match * does not make it exist. */
	res = write_if("PATCH", path, "{\"body\":\"x\"}", "*", 404);
	http_res_free(res);
	free(etag);
	free(etag2);
	free(path);
	free(chat);
	free(ecreated);
	free(token);
}

Test(etag, chat)
{
	char *ecreated, *token = app_new("etag chat", &ecreated);
	char *chat = chat_new(token), *etag = get_etag(chat);
	struct http_res *res;

	check_not_modified(chat, etag);
	expect_412("DELETE", chat, NULL, "\"nope\"");
	{
		char *weak = http_path("W/%s", etag);

		expect_412("DELETE", chat, NULL, weak);
		free(weak);
	}
	/* Still there, and it still takes messages. */
	free(get_etag(chat));
	free(message_new(chat, "after the 412"));
	/* The chat's ETag moved with messages_count only after a sync. */
	res = write_if("DELETE", chat, NULL, "*", 204);
	http_res_free(res);
	res = http_get(chat);
	http_assert_error(res, 404, "not_found");
	http_res_free(res);
	free(etag);

	/* A second chat deleted with its current ETag. */
	free(chat);
	chat = chat_new(token);
	etag = get_etag(chat);
	res = write_if("DELETE", chat, NULL, etag, 204);
	http_res_free(res);
	res = write_if("DELETE", chat, NULL, etag, 404);
	http_res_free(res);
	free(etag);
	free(chat);
	free(ecreated);
	free(token);
}

/* Run jobs/sync once (again while another run holds the lock). */
static void run_sync(void)
{
	const char *dir = getenv("CHAT_JOBS_DIR");
	char *prog = http_path("%s/sync", dir && *dir ? dir : "jobs");

	cr_assert_eq(access(prog, X_OK), 0, "%s: %s", prog, strerror(errno));
	for (int attempt = 0; attempt < 120; attempt++) {
		char tmp[] = "/tmp/test_etag.XXXXXX";
		int fd = mkstemp(tmp), st;
		char *argv[] = { prog, NULL };
		posix_spawn_file_actions_t fa;
		char out[4096];
		ssize_t n;
		pid_t pid;

		cr_assert_geq(fd, 0);
		unlink(tmp);
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, fd, 1);
		posix_spawn_file_actions_adddup2(&fa, fd, 2);
		cr_assert_eq(posix_spawn(&pid, prog, &fa, NULL, argv, environ),
			     0);
		posix_spawn_file_actions_destroy(&fa);
		while (waitpid(pid, &st, 0) < 0)
			cr_assert_eq(errno, EINTR);
		n = pread(fd, out, sizeof(out) - 1, 0);
		close(fd);
		out[n > 0 ? n : 0] = '\0';
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "sync: %s",
			  out);
		if (!strstr(out, "another run is in progress"))
			break;
		sleep(1);
	}
	free(prog);
}

/* `method` with the given header lines (NULL-ended) must answer `status`. */
static void expect_h(const char *method, const char *path, const char *body,
		     const char *const *headers, long status)
{
	struct http_res *res = http_do_h(method, path, body,
					 body ? strlen(body) : 0, headers);

	cr_assert_eq(res->status, status, "%s %s with %s%s%s: %ld %.200s",
		     method, path, headers[0], headers[1] ? ", " : "",
		     headers[1] ? headers[1] : "", res->status, res->body);
	if (status == 412)
		http_assert_error(res, 412, "precondition_failed");
	http_res_free(res);
}

/*
 * RFC 9110 13.2.2: If-Match holds for a GET too, and If-None-Match for
 * a write (on an object that exists, "*" always names it); If-Match is
 * evaluated first.
 */
Test(etag, every_precondition_on_every_method)
{
	char *created, *token = app_new("etag every", &created);
	char *chat = chat_new(token);
	/* A message: no counter of the sync's changes its version. */
	char *msg = message_new(chat, "every"), *etag = get_etag(msg);
	char *im = hdr("If-Match", etag), *inm = hdr("If-None-Match", etag);
	char *weak_tag = http_path("W/%s", etag);
	char *inm_weak = hdr("If-None-Match", weak_tag), *body;
	const char *const im_stale[] = { "If-Match: \"nope\"", NULL };
	const char *const im_now[] = { im, NULL };
	const char *const inm_star[] = { "If-None-Match: *", NULL };
	const char *const inm_now[] = { inm, NULL };
	const char *const inm_weak_now[] = { inm_weak, NULL };
	const char *const inm_stale[] = { "If-None-Match: \"nope\"", NULL };
	const char *const both[] = { "If-Match: \"nope\"", inm, NULL };

	/* GET: a stale If-Match is a 412, before If-None-Match's 304. */
	expect_h("GET", msg, NULL, im_stale, 412);
	expect_h("GET", msg, NULL, both, 412);
	expect_h("GET", msg, NULL, im_now, 200);
	expect_h("GET", chat, NULL, im_stale, 412);
	/* Writes: If-None-Match naming the object is a 412, nothing done. */
	expect_h("PATCH", msg, "{\"body\":\"star\"}", inm_star, 412);
	expect_h("PUT", msg, "{\"body\":\"now\"}", inm_now, 412);
	expect_h("PATCH", msg, "{\"body\":\"weak\"}", inm_weak_now, 412);
	expect_h("DELETE", msg, NULL, inm_star, 412);
	expect_h("DELETE", chat, NULL, inm_star, 412);
	body = field(msg, "body");
	cr_assert_str_eq(body, "every", "changed by a failed write");
	free(body);
	/* Another version named: the writes go ahead. */
	expect_h("PATCH", msg, "{\"body\":\"changed\"}", inm_stale, 200);
	body = field(msg, "body");
	cr_assert_str_eq(body, "changed");
	free(body);
	expect_h("DELETE", msg, NULL, inm_stale, 204);
	free(inm_weak);
	free(weak_tag);
	free(inm);
	free(im);
	free(etag);
	free(msg);
	free(chat);
	free(created);
	free(token);
}

Test(etag, counters_recomputed_by_sync_change_the_etag)
{
	char *ecreated, *token = app_new("etag sync", &ecreated);
	char *app = app_path(token), *chat = chat_new(token);
	char *app_etag = get_etag(app), *chat_etag = get_etag(chat);
	char *now;
	int64_t count = 0;

	free(message_new(chat, "one"));
	free(message_new(chat, "two"));
	run_sync();
	{
		struct http_res *res = http_get(chat);

		cr_assert(http_json_int(res, "messages_count", &count));
		http_res_free(res);
	}
	cr_assert_eq(count, 2, "messages_count after the sync");
	now = get_etag(chat);
	cr_assert_str_neq(now, chat_etag, "messages_count changed, the chat's "
			  "ETag did not");
	/* The old ETag is stale for a DELETE now. */
	expect_412("DELETE", chat, NULL, chat_etag);
	expect_inm(chat, chat_etag, 200, now);
	free(now);
	now = get_etag(app);
	cr_assert_str_neq(now, app_etag, "chats_count changed, the "
			  "application's ETag did not");
	expect_412("PATCH", app, "{\"name\":\"x\"}", app_etag);
	free(now);
	free(app_etag);
	free(chat_etag);
	free(chat);
	free(app);
	free(ecreated);
	free(token);
}

/* Two updates with the same If-Match at once: one 200, one 412. */
static void race(const char *method, const char *path, const char *body,
		 const char *etag, long ok)
{
	char *h = hdr("If-Match", etag);
	const char *headers[] = { h, NULL };
	struct par_result r[2];
	int oks = 0, fails = 0;

	par_send(method, path, body, headers, 2, r);
	for (int i = 0; i < 2; i++) {
		if (r[i].status == ok)
			oks++;
		else if (r[i].status == 412)
			fails++;
		else
			cr_assert_fail("%s %s: %ld %.200s", method, path,
				       r[i].status, r[i].body);
	}
	cr_assert(oks == 1 && fails == 1, "%s %s with one If-Match twice at "
		  "once: %d x %ld and %d x 412", method, path, oks, ok, fails);
	par_results_release(r, 2);
	free(h);
}

Test(etag, racing_updates_with_one_if_match, .timeout = 240)
{
	/*
	 * The application has no chats: its ETag holds chats_count, which
	 * a sync run by another test could change in the middle of a round.
	 */
	char *ecreated, *token = app_new("etag race", &ecreated);
	char *e2, *token2 = app_new("etag race messages", &e2);
	char *app = app_path(token), *chat = chat_new(token2);
	char *msg = message_new(chat, "race");

	for (int round = 0; round < RACE_ROUNDS; round++) {
		char *etag = get_etag(app);

		race(round % 2 ? "PUT" : "PATCH", app, "{\"name\":\"racer\"}",
		     etag, 200);
		free(etag);
		etag = get_etag(msg);
		race(round % 2 ? "PATCH" : "PUT", msg, "{\"body\":\"racer\"}",
		     etag, 200);
		free(etag);
	}
	/* Each round made exactly one change. */
	cr_assert_eq(tdb_int("SELECT version FROM applications WHERE "
			     TDB_TOKEN_IS, token, NULL), 1 + RACE_ROUNDS);
	free(e2);
	free(token2);
	free(msg);
	free(chat);
	free(app);
	free(ecreated);
	free(token);
}

static int64_t app_id(const char *token)
{
	return tdb_int("SELECT id FROM applications WHERE " TDB_TOKEN_IS, token,
		       NULL);
}

struct job_taken {
	const char *stream;
	char id[64];
};

/* The worker deletes a job once it persisted it. */
static bool job_gone(void *arg)
{
	const struct job_taken *j = arg;
	redisReply *r = tredis("XRANGE %s %s %s", j->stream, j->id, j->id);
	bool gone = r->type == REDIS_REPLY_ARRAY && r->elements == 0;

	freeReplyObject(r);
	return gone;
}

/* XADD a job by hand, as if delivered again, and wait until it is taken. */
static void job_again(const char *stream, int64_t app, const char *fields,
		      int64_t ts)
{
	struct job_taken j = { .stream = stream };
	redisReply *r = tredis("XADD %s * t %s a %lld c 1 ts %lld", stream,
			       fields, (long long)app, (long long)ts);

	cr_assert_eq(r->type, REDIS_REPLY_STRING, "XADD %s", stream);
	snprintf(j.id, sizeof(j.id), "%s", r->str);
	freeReplyObject(r);
	cr_assert(wait_until(job_gone, &j, PERSIST_MS),
		  "the worker did not take the job %s within %d ms", j.id,
		  PERSIST_MS);
}

Test(etag, jobs_delivered_again_keep_the_version, .timeout = 240)
{
	char *ecreated, *token = app_new("etag redelivery", &ecreated);
	char *chat = chat_new(token), *msg = message_new(chat, "first");
	int64_t app = app_id(token), created;
	char *app_s = http_path("%lld", (long long)app);
	char *stream = http_path("chat:{s%u}:jobs",
				 chat_queue_shard((uint64_t)app));
	char *msg_etag, *chat_etag, *now;
	struct http_res *res;

	/* An edit first: a job seen again must not bring the old body back. */
	res = write_if("PATCH", msg, "{\"body\":\"edited\"}", NULL, 200);
	http_res_free(res);
	msg_etag = get_etag(msg);
	chat_etag = get_etag(chat);
	created = tdb_int("SELECT UNIX_TIMESTAMP(created_at) FROM chats WHERE "
			  "application_id = ?", app_s, NULL);
	cr_assert_gt(created, 0);
	job_again(stream, app, "m n 1 b first", created);
	job_again(stream, app, "c", created);
	now = get_etag(msg);
	cr_assert_str_eq(now, msg_etag, "a job delivered again changed the "
			 "message's ETag");
	free(now);
	now = field(msg, "body");
	cr_assert_str_eq(now, "edited");
	free(now);
	/*
	 * The chat's version (its ETag also holds messages_count, which a
	 * sync run by another test may recompute meanwhile).
	 */
	cr_assert_eq(tdb_int("SELECT version FROM chats WHERE application_id "
			     "= ?", app_s, NULL), 1, "a job delivered again "
		     "changed the chat's version");
	/*
	 * A chat job older than the row (as when a message job made the row
	 * first) moves created_at, which the API shows: a new version, and
	 * a new ETag.
	 */
	job_again(stream, app, "c", created - 100);
	cr_assert_eq(tdb_int("SELECT version FROM chats WHERE application_id "
			     "= ?", app_s, NULL), 2);
	cr_assert_eq(tdb_int("SELECT UNIX_TIMESTAMP(created_at) FROM chats "
			     "WHERE application_id = ?", app_s, NULL),
		     created - 100);
	now = get_etag(chat);
	cr_assert_str_neq(now, chat_etag, "created_at moved, the chat's ETag "
			  "did not");
	free(now);
	free(chat_etag);
	free(msg_etag);
	free(stream);
	free(app_s);
	free(msg);
	free(chat);
	free(ecreated);
	free(token);
}
