/*
 * test_chats.c - the chats routes of the HTTP contract
 * (nginx/api-docs/openapi.json), end to end through nginx against the
 * private stack: queued creation, show, list and its paging, delete, path
 * numbers, wrong methods; with a look at MariaDB and Redis where the
 * contract is about what lies behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "buf.h"
#include "client.h"
#include "support_faults.h"
#include "xalloc.h"

/* How long the worker may take to persist a job under test load. */
#define PERSIST_MS 20000

TestSuite(chats, .timeout = 180);

/* A token of the right shape that no application has. */
#define UNKNOWN_TOKEN "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"

static const char *const chat_keys[] = {
	"number", "messages_count", "created_at", "updated_at",
};

static char *chats_path(const char *token)
{
	return http_path("/applications/%s/chats", token);
}

static char *chat_path(const char *token, int64_t n)
{
	return http_path("/applications/%s/chats/%lld", token, (long long)n);
}

/* POST …/chats with body[0..len) (none when NULL); the 202's number. */
static int64_t create_chat_body(const char *token, const char *body,
				size_t len)
{
	char *path = chats_path(token);
	struct http_res *res = http_do("POST", path, body, len);
	int64_t n = assert_accepted(res, path);

	http_res_free(res);
	free(path);
	return n;
}

static int64_t create_chat(const char *token)
{
	return create_chat_body(token, NULL, 0);
}

/* Assert one Chat object: exactly the contract's keys, sane values. */
static void assert_chat_obj(struct json_object *obj, const char *what,
			    int64_t number)
{
	const char *created, *updated;
	int64_t n = -1, count = -1;

	cr_assert(json_object_is_type(obj, json_type_object),
		  "%s: not an object: %s", what,
		  json_object_to_json_string(obj));
	cr_assert_eq(json_object_object_length(obj),
		     sizeof(chat_keys) / sizeof(chat_keys[0]),
		     "%s: keys other than the Chat's: %s", what,
		     json_object_to_json_string(obj));
	cr_assert(json_int(obj, "number", &n) && n == number,
		  "%s: number is not %lld: %s", what, (long long)number,
		  json_object_to_json_string(obj));
	cr_assert(json_int(obj, "messages_count", &count) && count >= 0,
		  "%s: messages_count: %s", what,
		  json_object_to_json_string(obj));
	created = json_str(obj, "created_at");
	updated = json_str(obj, "updated_at");
	cr_assert(is_timestamp(created), "%s: created_at: %s", what,
		  json_object_to_json_string(obj));
	cr_assert(is_timestamp(updated), "%s: updated_at: %s", what,
		  json_object_to_json_string(obj));
	cr_assert_leq(strcmp(created, updated), 0,
		      "%s: updated before created", what);
}

static void assert_chat(const struct http_res *res, int64_t number)
{
	cr_assert_eq(res->status, 200, "%s: expected 200, got %ld: %.300s",
		     res->what, res->status, res->body);
	http_assert_contract(res);
	assert_chat_obj(res->json, res->what, number);
}

/* Wait until the worker has persisted chat n (GET answers 200). */
static void wait_chat(const char *token, int64_t n)
{
	char *path = chat_path(token, n);

	cr_assert(wait_status(path, 200, PERSIST_MS),
		  "GET %s not 200 within %d ms of its 202", path, PERSIST_MS);
	free(path);
}

/* Wait until every chat of the application is persisted. */
static void wait_chats(const char *token, int64_t n)
{
	int64_t got = wait_db_count(PERSIST_MS, n,
				    "SELECT COUNT(*) FROM chats c JOIN "
				    "applications a ON a.id = c.application_id "
				    "WHERE a." TDB_TOKEN_IS, token, NULL);

	cr_assert_eq(got, n, "%lld of %lld chats persisted within %d ms",
		     (long long)got, (long long)n, PERSIST_MS);
}

static void assert_status(const char *method, const char *path,
			  const char *body, long status, const char *code)
{
	struct http_res *res = http_send(method, path, body);

	cr_assert_eq(res->status, status, "%s %s: expected %ld, got %ld: "
		     "%.300s", method, path, status, res->status, res->body);
	http_assert_error(res, status, code);
	cr_assert_null(res->location, "%s %s: Location on a failure", method,
		       path);
	http_res_free(res);
}

Test(chats, create_numbers_in_order)
{
	static const char unknown[] =
		"{\"name\":\"x\",\"number\":7,\"nested\":{\"a\":[1,2]}}";
	char *token = app_create("chats in order");

	/* No body, an empty object, unknown fields: all create a chat. */
	cr_assert_eq(create_chat(token), 1);
	cr_assert_eq(create_chat_body(token, "{}", 2), 2);
	cr_assert_eq(create_chat_body(token, unknown, strlen(unknown)), 3,
		     "unknown fields are ignored, a number sent is not taken");
	cr_assert_eq(create_chat(token), 4);
	for (int64_t n = 1; n <= 4; n++)
		wait_chat(token, n);
	free(token);
}

Test(chats, create_rejects_non_objects)
{
	static const char *const not_objects[] = {
		"null", "[]", "[{}]", "42", "\"{}\"", "true",
	};
	static const char *const malformed[] = {
		"{", "}", "{\"a\":}", "nul", "{} x", "{'a':1}", "{\"a\":1,}",
		"\xff",
	};
	char *token = app_create("chats bad bodies");
	char *path = chats_path(token);

	for (size_t i = 0; i < sizeof(not_objects) / sizeof(*not_objects); i++)
		assert_status("POST", path, not_objects[i], 400, "bad_request");
	for (size_t i = 0; i < sizeof(malformed) / sizeof(*malformed); i++)
		assert_status("POST", path, malformed[i], 400, "bad_request");
	/* A rejected request uses up no number. */
	cr_assert_eq(create_chat(token), 1);
	free(path);
	free(token);
}

Test(chats, unknown_token)
{
	static const char *const tokens[] = {
		UNKNOWN_TOKEN,
		"short",
		"has.dots.but.long.enough.for.a.token",
	};

	for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
		char *list = chats_path(tokens[i]);
		char *one = chat_path(tokens[i], 1);

		assert_status("POST", list, NULL, 404, "not_found");
		assert_status("POST", list, "{}", 404, "not_found");
		assert_status("GET", list, NULL, 404, "not_found");
		assert_status("GET", one, NULL, 404, "not_found");
		assert_status("DELETE", one, NULL, 404, "not_found");
		free(list);
		free(one);
	}
}

Test(chats, token_is_case_sensitive)
{
	char *token = app_create("chats token case");
	char *other = xstrdup(token);
	char *path;

	/* Flip the case of the first letter. */
	for (char *p = other; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
			*p ^= 0x20;
			break;
		}
	}
	path = chats_path(other);
	assert_status("POST", path, NULL, 404, "not_found");
	cr_assert_eq(create_chat(token), 1);
	free(path);
	free(other);
	free(token);
}

/*
 * A queued chat answers 404 until the worker has persisted it.  The
 * worker is held (SIGSTOP) so that the job really is still queued.
 */
Test(chats, queued_chat_is_404_until_persisted, .fini = worker_resume)
{
	char *token = app_create("chats queued");
	time_t before = time(NULL);
	char *path, stamp[32];
	struct http_res *res;
	struct tm tm;
	int64_t n;

	worker_pause();
	n = create_chat(token);
	path = chat_path(token, n);
	res = http_get(path);
	http_assert_error(res, 404, "not_found");
	http_res_free(res);
	/* Nor is it listed yet. */
	free(path);
	path = chats_path(token);
	res = http_get(path);
	cr_assert_eq(res->status, 200, "%s: %ld", res->what, res->status);
	http_assert_contract(res);
	cr_assert_eq(json_object_array_length(res->json), 0,
		     "a queued chat is listed: %s", res->body);
	http_res_free(res);
	free(path);
	worker_resume();

	wait_chat(token, n);
	path = chat_path(token, n);
	res = http_get(path);
	assert_chat(res, n);
	/* Created at the 202, give or take a second; nothing in it yet. */
	gmtime_r(&(time_t){ before - 1 }, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cr_assert_geq(strcmp(http_json_str(res, "created_at"), stamp), 0,
		      "created_at %s before the request (%s)",
		      http_json_str(res, "created_at"), stamp);
	gmtime_r(&(time_t){ time(NULL) + 1 }, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cr_assert_leq(strcmp(http_json_str(res, "created_at"), stamp), 0,
		      "created_at %s in the future",
		      http_json_str(res, "created_at"));
	http_res_free(res);
	free(path);
	free(token);
}

Test(chats, stored_behind_the_api)
{
	char *token = app_create("chats behind");
	uint64_t app;
	char *key, *id;
	redisReply *r;

	for (int i = 0; i < 3; i++)
		create_chat(token);
	wait_chats(token, 3);
	app = app_id_of(token);
	id = http_path("%llu", (unsigned long long)app);
	cr_assert_eq(tdb_int("SELECT COUNT(DISTINCT number) FROM chats WHERE "
			     "application_id = ? AND number BETWEEN 1 AND 3 "
			     "AND messages_count = 0", id, NULL), 3);
	/* The counter in Redis is the last number handed out. */
	key = queue_key(app, "a%llu:n", (unsigned long long)app);
	r = tredis("GET %s", key);
	cr_assert(r->type == REDIS_REPLY_STRING && strcmp(r->str, "3") == 0,
		  "%s is not 3", key);
	freeReplyObject(r);
	free(key);
	free(id);
	free(token);
}

/* GET path and assert a page of chats first..last and its Link. */
static void assert_page(const char *path, int64_t first, int64_t last,
			const char *link)
{
	struct http_res *res = http_get(path);
	size_t n;

	cr_assert_eq(res->status, 200, "%s: %ld %.300s", res->what,
		     res->status, res->body);
	http_assert_contract(res);
	cr_assert(json_object_is_type(res->json, json_type_array),
		  "%s: not an array: %.300s", res->what, res->body);
	n = json_object_array_length(res->json);
	cr_assert_eq(n, (size_t)(last - first + 1),
		     "%s: %zu chats, expected %lld..%lld", res->what, n,
		     (long long)first, (long long)last);
	for (size_t i = 0; i < n; i++)
		assert_chat_obj(json_object_array_get_idx(res->json, i),
				res->what, first + (int64_t)i);
	if (link) {
		cr_assert_not_null(res->link, "%s: no Link header", res->what);
		cr_assert_str_eq(res->link, link, "%s: Link", res->what);
	} else {
		cr_assert_null(res->link, "%s: Link on the last page: %s",
			       res->what, res->link);
	}
	http_res_free(res);
}

/* Link: <path?after=a&limit=l>; rel="next" */
static char *next_link(const char *path, int a, int l)
{
	return http_path("<%s?after=%d&limit=%d>; rel=\"next\"", path, a, l);
}

Test(chats, list_and_paging)
{
	char *token = app_create("chats paging");
	char *path = chats_path(token);
	char *q, *link;

	/* No chats yet: an empty array, no Link. */
	assert_page(path, 1, 0, NULL);
	for (int i = 1; i <= 120; i++)
		cr_assert_eq(create_chat(token), i);
	wait_chats(token, 120);

	/* Default limit 50, and the Link chain to the end. */
	link = next_link(path, 50, 50);
	assert_page(path, 1, 50, link);
	free(link);
	q = http_path("%s?after=50&limit=50", path);
	link = next_link(path, 100, 50);
	assert_page(q, 51, 100, link);
	free(link);
	free(q);
	q = http_path("%s?after=100&limit=50", path);
	assert_page(q, 101, 120, NULL);
	free(q);

	/* A full page that happens to be the last: no Link. */
	q = http_path("%s?after=100&limit=20", path);
	assert_page(q, 101, 120, NULL);
	free(q);
	q = http_path("%s?limit=120", path);
	assert_page(q, 1, 120, NULL);
	free(q);
	q = http_path("%s?limit=1000", path);
	assert_page(q, 1, 120, NULL);
	free(q);
	/* One short of the end: a Link to a page of one. */
	q = http_path("%s?after=99&limit=20", path);
	link = next_link(path, 119, 20);
	assert_page(q, 100, 119, link);
	free(link);
	free(q);
	q = http_path("%s?after=119&limit=20", path);
	assert_page(q, 120, 120, NULL);
	free(q);

	/* limit alone, after alone, in either order. */
	q = http_path("%s?limit=7", path);
	link = next_link(path, 7, 7);
	assert_page(q, 1, 7, link);
	free(link);
	free(q);
	q = http_path("%s?limit=1&after=3", path);
	link = next_link(path, 4, 1);
	assert_page(q, 4, 4, link);
	free(link);
	free(q);
	q = http_path("%s?after=0", path);
	link = next_link(path, 50, 50);
	assert_page(q, 1, 50, link);
	free(link);
	free(q);
	q = http_path("%s?after=110", path);
	assert_page(q, 111, 120, NULL);
	free(q);
	q = http_path("%s?after=120", path);
	assert_page(q, 1, 0, NULL);
	free(q);
	{
		/* Any non-negative integer: past every number, nothing. */
		static const char *const past[] = {
			"4294967295", "4294967296", "18446744073709551616",
			"99999999999999999999999",
		};

		for (size_t i = 0; i < sizeof(past) / sizeof(past[0]); i++) {
			q = http_path("%s?after=%s", path, past[i]);
			assert_page(q, 1, 0, NULL);
			free(q);
		}
	}
	free(path);
	free(token);
}

Test(chats, list_bad_parameters)
{
	static const char *const bad[] = {
		"limit=0", "limit=1001", "limit=-1", "limit=abc", "limit=1.5",
		"limit=", "limit=1e2", "limit=%2B5", "limit=%205",
		"limit=99999999999999999999999",
		"after=-1", "after=abc", "after=", "after=1.5",
		"after=01", "after=+1", "limit=10&after=x",
	};
	char *token = app_create("chats bad query");
	char *path;

	create_chat(token);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		path = http_path("/applications/%s/chats?%s", token, bad[i]);
		assert_status("GET", path, NULL, 400, "bad_request");
		free(path);
	}
	free(token);
}

Test(chats, delete)
{
	char *token = app_create("chats delete");
	char *path = chat_path(token, 2), *msgs, *msg, *id;
	struct http_res *res;
	int64_t chat_id;

	cr_assert_eq(create_chat(token), 1);
	cr_assert_eq(create_chat(token), 2);
	msgs = http_path("%s/messages", path);
	msg = http_path("%s/messages/1", path);
	for (int i = 0; i < 2; i++) {
		res = http_send("POST", msgs, "{\"body\":\"doomed\"}");
		cr_assert_eq(res->status, 202, "%s: %ld", res->what,
			     res->status);
		http_res_free(res);
	}
	wait_chats(token, 2);
	cr_assert(wait_status(msg, 200, PERSIST_MS),
		  "message 1 not persisted");
	chat_id = tdb_int("SELECT c.id FROM chats c JOIN applications a ON "
			  "a.id = c.application_id WHERE a." TDB_TOKEN_IS " AND "
			  "c.number = 2", token, NULL);
	cr_assert_gt(chat_id, 0);
	id = http_path("%lld", (long long)chat_id);
	cr_assert_eq(wait_db_count(PERSIST_MS, 2, "SELECT COUNT(*) FROM "
				   "messages WHERE chat_id = ?", id, NULL), 2);

	res = http_do("DELETE", path, NULL, 0);
	cr_assert_eq(res->status, 204, "%s: %ld %.300s", res->what,
		     res->status, res->body);
	http_assert_contract(res);
	http_res_free(res);

	/* Gone at once, with everything under it. */
	assert_status("GET", path, NULL, 404, "not_found");
	assert_status("GET", msgs, NULL, 404, "not_found");
	assert_status("GET", msg, NULL, 404, "not_found");
	assert_status("POST", msgs, "{\"body\":\"late\"}", 404, "not_found");
	assert_status("PATCH", msg, "{\"body\":\"late\"}", 404, "not_found");
	assert_status("PUT", msg, "{\"body\":\"late\"}", 404, "not_found");
	assert_status("DELETE", msg, NULL, 404, "not_found");
	assert_status("DELETE", path, NULL, 404, "not_found");

	/* The other chat stays; the list no longer has the deleted one. */
	free(path);
	path = chat_path(token, 1);
	res = http_get(path);
	assert_chat(res, 1);
	http_res_free(res);
	free(path);
	path = chats_path(token);
	assert_page(path, 1, 1, NULL);

	/* Its number is never handed out again. */
	cr_assert_eq(create_chat(token), 3);
	wait_chat(token, 3);
	free(path);
	path = chat_path(token, 2);
	assert_status("GET", path, NULL, 404, "not_found");

	/* Behind the API the worker removes its messages and its row. */
	cr_assert_eq(wait_db_count(PERSIST_MS, 0, "SELECT COUNT(*) FROM "
				   "messages WHERE chat_id = ?", id, NULL), 0,
		     "the deleted chat's messages are still in MariaDB");
	cr_assert_eq(tdb_int("SELECT COUNT(*) FROM chats WHERE id = ?", id,
			     NULL), 0);
	free(id);
	free(msg);
	free(msgs);
	free(path);
	free(token);
}

Test(chats, delete_only_chat_then_create)
{
	char *token = app_create("chats delete only");
	char *path = chat_path(token, 1);
	struct http_res *res;

	cr_assert_eq(create_chat(token), 1);
	wait_chat(token, 1);
	res = http_do("DELETE", path, NULL, 0);
	cr_assert_eq(res->status, 204, "%s: %ld", res->what, res->status);
	http_assert_contract(res);
	http_res_free(res);
	cr_assert_eq(create_chat(token), 2, "a deleted chat number is reused");
	free(path);
	free(token);
}

Test(chats, path_numbers)
{
	static const char *const bad[] = {
		"abc", "0", "-1", "1.5", "0x1", "01", "+1", "1e0", "1%20",
		"4294967296",				/* 2^32 */
		"18446744073709551615",			/* 20 digits */
		"99999999999999999999",			/* 20 digits */
		"1000000000000000000000000",		/* 25 digits */
	};
	char *token = app_create("chats path numbers");

	/* Chat 1 exists, so "01" or "1.5" read loosely would find it. */
	cr_assert_eq(create_chat(token), 1);
	wait_chat(token, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *path = http_path("/applications/%s/chats/%s", token,
				       bad[i]);
		char *msgs = http_path("%s/messages", path);

		assert_status("GET", path, NULL, 404, "not_found");
		assert_status("DELETE", path, NULL, 404, "not_found");
		assert_status("GET", msgs, NULL, 404, "not_found");
		free(msgs);
		free(path);
	}
	/* And chat 1 is still there. */
	wait_chat(token, 1);
	free(token);
}

static void assert_405(const char *method, const char *path,
		       const char *allow)
{
	struct http_res *res = http_do(method, path, NULL, 0);

	http_assert_error(res, 405, "method_not_allowed");
	cr_assert_not_null(res->allow, "%s %s: no Allow header", method, path);
	cr_assert_str_eq(res->allow, allow, "%s %s: Allow", method, path);
	http_res_free(res);
}

Test(chats, wrong_methods)
{
	char *token = app_create("chats methods");
	char *list = chats_path(token), *one = chat_path(token, 1);
	char *unknown = http_path("/applications/%s/chats/1", UNKNOWN_TOKEN);

	cr_assert_eq(create_chat(token), 1);
	wait_chat(token, 1);
	assert_405("PUT", one, "GET, DELETE");
	assert_405("PATCH", one, "GET, DELETE");
	assert_405("POST", one, "GET, DELETE");
	assert_405("DELETE", list, "GET, POST");
	assert_405("PUT", list, "GET, POST");
	assert_405("PATCH", list, "GET, POST");
	assert_405("PUT", unknown, "GET, DELETE");
	/* Nothing changed: chat 1 is there and the next number is 2. */
	wait_chat(token, 1);
	cr_assert_eq(create_chat(token), 2);
	free(unknown);
	free(one);
	free(list);
	free(token);
}
