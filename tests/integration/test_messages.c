/*
 * test_messages.c - the messages routes of the HTTP contract
 * (nginx/api-docs/openapi.json) except search, end to end through nginx against
 * the private stack: queued creation and the body rule, show, list and
 * its paging, PATCH and PUT, delete, path numbers, wrong methods; with a
 * look at MariaDB and Redis where the contract is about what lies behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "buf.h"
#include "client.h"
#include "support_faults.h"
#include "xalloc.h"

/* How long the worker may take to persist a job under test load. */
#define PERSIST_MS 20000
#define BODY_MAX 65535

TestSuite(messages, .timeout = 180);

#define UNKNOWN_TOKEN "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"

static const char *const message_keys[] = {
	"number", "body", "created_at", "updated_at",
};

static char *msgs_path(const char *token, int64_t chat)
{
	return http_path("/applications/%s/chats/%lld/messages", token,
			 (long long)chat);
}

static char *msg_path(const char *token, int64_t chat, int64_t n)
{
	return http_path("/applications/%s/chats/%lld/messages/%lld", token,
			 (long long)chat, (long long)n);
}

/* {"body": body[0..len)} with json-c's escaping. */
static char *body_json(const char *body, size_t len)
{
	struct json_object *obj = json_object_new_object();
	char *s;

	json_object_object_add(obj, "body",
			       json_object_new_string_len(body, (int)len));
	s = xstrdup(json_object_to_json_string_ext(obj,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(obj);
	return s;
}

/* A string of `rep` repeated n times. */
static char *repeat(const char *rep, size_t n)
{
	struct chat_buf b;

	chat_buf_init(&b);
	for (size_t i = 0; i < n; i++)
		chat_buf_adds(&b, rep);
	return chat_buf_detach(&b, NULL);
}

/* POST …/chats and return the number. */
static int64_t create_chat(const char *token)
{
	char *path = http_path("/applications/%s/chats", token);
	struct http_res *res = http_do("POST", path, NULL, 0);
	int64_t n = assert_accepted(res, path);

	http_res_free(res);
	free(path);
	return n;
}

/* An application with one persisted chat; *chat gets its number. */
static char *app_with_chat(const char *name, int64_t *chat)
{
	char *token = app_create(name);
	char *path;

	*chat = create_chat(token);
	path = http_path("/applications/%s/chats/%lld", token,
			 (long long)*chat);
	cr_assert(wait_status(path, 200, PERSIST_MS), "chat not persisted");
	free(path);
	return token;
}

/* POST a message with the raw JSON `json`; the 202's number. */
static int64_t create_msg_json(const char *token, int64_t chat,
			       const char *json)
{
	char *path = msgs_path(token, chat);
	struct http_res *res = http_send("POST", path, json);
	int64_t n = assert_accepted(res, path);

	http_res_free(res);
	free(path);
	return n;
}

static int64_t create_msg(const char *token, int64_t chat, const char *body)
{
	char *json = body_json(body, strlen(body));
	int64_t n = create_msg_json(token, chat, json);

	free(json);
	return n;
}

static void wait_msg(const char *token, int64_t chat, int64_t n)
{
	char *path = msg_path(token, chat, n);

	cr_assert(wait_status(path, 200, PERSIST_MS),
		  "GET %s not 200 within %d ms of its 202", path, PERSIST_MS);
	free(path);
}

/* Wait until chat `chat` of the application holds n persisted messages. */
static void wait_msgs(const char *token, int64_t chat, int64_t n)
{
	char *c = http_path("%lld", (long long)chat);
	int64_t got = wait_db_count(PERSIST_MS, n,
				    "SELECT COUNT(*) FROM messages m JOIN chats "
				    "c ON c.id = m.chat_id JOIN applications a "
				    "ON a.id = c.application_id WHERE "
				    "a." TDB_TOKEN_IS " AND c.number = ?", token, c,
				    NULL);

	cr_assert_eq(got, n, "%lld of %lld messages persisted within %d ms",
		     (long long)got, (long long)n, PERSIST_MS);
	free(c);
}

/*
 * Assert one Message object: exactly the contract's keys, `number`, and
 * body[0..len) when body is not NULL.
 */
static void assert_msg_obj(struct json_object *obj, const char *what,
			   int64_t number, const char *body, size_t len)
{
	const char *created, *updated;
	struct json_object *b;
	int64_t n = -1;

	cr_assert(json_object_is_type(obj, json_type_object),
		  "%s: not an object", what);
	cr_assert_eq(json_object_object_length(obj),
		     sizeof(message_keys) / sizeof(message_keys[0]),
		     "%s: keys other than the Message's: %.300s", what,
		     json_object_to_json_string(obj));
	cr_assert(json_int(obj, "number", &n) && n == number,
		  "%s: number is not %lld: %.300s", what, (long long)number,
		  json_object_to_json_string(obj));
	cr_assert(json_object_object_get_ex(obj, "body", &b) &&
			  json_object_is_type(b, json_type_string),
		  "%s: body is not a string", what);
	if (body) {
		cr_assert_eq((size_t)json_object_get_string_len(b), len,
			     "%s: body of %d bytes, sent %zu", what,
			     json_object_get_string_len(b), len);
		cr_assert(memcmp(json_object_get_string(b), body, len) == 0,
			  "%s: body not echoed exactly", what);
	}
	created = json_str(obj, "created_at");
	updated = json_str(obj, "updated_at");
	cr_assert(is_timestamp(created), "%s: created_at: %.300s", what,
		  json_object_to_json_string(obj));
	cr_assert(is_timestamp(updated), "%s: updated_at: %.300s", what,
		  json_object_to_json_string(obj));
	cr_assert_leq(strcmp(created, updated), 0,
		      "%s: updated before created", what);
}

static void assert_msg(const struct http_res *res, int64_t number,
		       const char *body)
{
	cr_assert_eq(res->status, 200, "%s: expected 200, got %ld: %.300s",
		     res->what, res->status, res->body);
	http_assert_contract(res);
	assert_msg_obj(res->json, res->what, number, body,
		       body ? strlen(body) : 0);
}

/* GET message n and assert its body. */
static void assert_body(const char *token, int64_t chat, int64_t n,
			const char *body)
{
	char *path = msg_path(token, chat, n);
	struct http_res *res = http_get(path);

	assert_msg(res, n, body);
	http_res_free(res);
	free(path);
}

static void assert_status_n(const char *method, const char *path,
			    const char *body, size_t len, long status,
			    const char *code)
{
	struct http_res *res = http_do(method, path, body, len);

	cr_assert_eq(res->status, status, "%s %s (%.60s): expected %ld, got "
		     "%ld: %.300s", method, path, body ? body : "no body",
		     status, res->status, res->body);
	http_assert_error(res, status, code);
	cr_assert_null(res->location, "%s %s: Location on a failure", method,
		       path);
	http_res_free(res);
}

static void assert_status(const char *method, const char *path,
			  const char *body, long status, const char *code)
{
	assert_status_n(method, path, body, body ? strlen(body) : 0, status,
			code);
}

Test(messages, create_and_show)
{
	static const char *const bodies[] = {
		"hello",
		"x",
		"quotes \" backslash \\ slash / tab \t newline \n",
		"unicode: \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \xe4\xb8\xad",
		"  leading and trailing spaces  ",
	};
	int64_t chat;
	char *token = app_with_chat("messages create", &chat);
	size_t n = sizeof(bodies) / sizeof(bodies[0]);

	for (size_t i = 0; i < n; i++)
		cr_assert_eq(create_msg(token, chat, bodies[i]),
			     (int64_t)i + 1, "numbers 1, 2, 3... in order");
	/* Unknown fields are ignored; a number sent is not taken. */
	cr_assert_eq(create_msg_json(token, chat, "{\"number\":99,\"body\":"
				     "\"extra\",\"x\":[1,{}]}"),
		     (int64_t)n + 1);
	/* JSON escapes are decoded: a surrogate pair is one character. */
	cr_assert_eq(create_msg_json(token, chat, "{\"body\":\"\\ud83d\\ude00"
				     " \\u00e9\\n\"}"), (int64_t)n + 2);
	wait_msgs(token, chat, (int64_t)n + 2);
	for (size_t i = 0; i < n; i++)
		assert_body(token, chat, (int64_t)i + 1, bodies[i]);
	assert_body(token, chat, (int64_t)n + 1, "extra");
	assert_body(token, chat, (int64_t)n + 2, "\xf0\x9f\x98\x80 \xc3\xa9\n");
	free(token);
}

Test(messages, body_size_in_bytes)
{
	int64_t chat;
	char *token = app_with_chat("messages size", &chat);
	char *path = msgs_path(token, chat);
	char *max_a = repeat("a", BODY_MAX);
	/* 21845 three-byte characters: 65535 bytes. */
	char *max_euro = repeat("\xe2\x82\xac", BODY_MAX / 3);
	char *over_a = repeat("a", BODY_MAX + 1);
	char *over_euro = http_path("%sa", max_euro);
	char *json;

	json = body_json(max_a, BODY_MAX);
	cr_assert_eq(create_msg_json(token, chat, json), 1);
	free(json);
	json = body_json(max_euro, BODY_MAX);
	cr_assert_eq(create_msg_json(token, chat, json), 2);
	free(json);
	json = body_json(over_a, BODY_MAX + 1);
	assert_status("POST", path, json, 422, "validation_failed");
	free(json);
	json = body_json(over_euro, BODY_MAX + 1);
	assert_status("POST", path, json, 422, "validation_failed");
	free(json);
	/* Rejected bodies used up no number. */
	cr_assert_eq(create_msg(token, chat, "x"), 3);
	wait_msgs(token, chat, 3);
	assert_body(token, chat, 1, max_a);
	assert_body(token, chat, 2, max_euro);
	assert_body(token, chat, 3, "x");
	free(over_euro);
	free(over_a);
	free(max_euro);
	free(max_a);
	free(path);
	free(token);
}

Test(messages, body_rules)
{
	static const char *const invalid[] = {
		/* missing */
		"{}", "{\"other\":\"x\"}", "{\"Body\":\"x\"}", "{\"body \":\"x\"}",
		/* empty */
		"{\"body\":\"\"}",
		/* wrong type */
		"{\"body\":5}", "{\"body\":null}", "{\"body\":[]}",
		"{\"body\":[\"x\"]}", "{\"body\":{}}", "{\"body\":true}",
		"{\"body\":1.5}",
		/* not valid UTF-8 */
		"{\"body\":\"\xff\"}", "{\"body\":\"a\xc3\"}",
		"{\"body\":\"\xc3\x28\"}", "{\"body\":\"\xc0\xaf\"}",
		"{\"body\":\"\xed\xa0\x80\"}", "{\"body\":\"\xf4\x90\x80\x80\"}",
		"{\"body\":\"\xe2\x82\"}",
		/* a lone surrogate, escaped */
		"{\"body\":\"\\ud800\"}",
	};
	static const char *const not_objects[] = {
		"null", "[]", "42", "\"body\"", "[{\"body\":\"x\"}]",
	};
	static const char *const malformed[] = {
		"{", "{\"body\":\"x\"", "{\"body\":x}", "{'body':'x'}",
		"{\"body\":\"x\"} junk", "{\"body\":\"x\",}",
	};
	int64_t chat;
	char *token = app_with_chat("messages rules", &chat);
	char *path = msgs_path(token, chat);

	/* No body at all: body is missing. */
	assert_status("POST", path, NULL, 422, "validation_failed");
	for (size_t i = 0; i < sizeof(invalid) / sizeof(*invalid); i++)
		assert_status("POST", path, invalid[i], 422,
			      "validation_failed");
	for (size_t i = 0; i < sizeof(not_objects) / sizeof(*not_objects); i++)
		assert_status("POST", path, not_objects[i], 400, "bad_request");
	for (size_t i = 0; i < sizeof(malformed) / sizeof(*malformed); i++)
		assert_status("POST", path, malformed[i], 400, "bad_request");
	/* None of that used up a number. */
	cr_assert_eq(create_msg(token, chat, "first"), 1);
	free(path);
	free(token);
}

/*
 * A message may be created in a chat that is still queued, and both are
 * 404 until the worker persists them.  The worker is held (SIGSTOP) so
 * that the jobs really are queued.
 */
Test(messages, into_queued_chat, .fini = worker_resume)
{
	char *token = app_create("messages queued chat");
	char *path, *chat_p;
	struct http_res *res;
	int64_t chat;

	worker_pause();
	chat = create_chat(token);
	cr_assert_eq(create_msg(token, chat, "early bird"), 1);
	cr_assert_eq(create_msg(token, chat, "second"), 2);
	chat_p = http_path("/applications/%s/chats/%lld", token,
			   (long long)chat);
	path = msg_path(token, chat, 1);
	res = http_get(path);
	http_assert_error(res, 404, "not_found");
	http_res_free(res);
	res = http_get(chat_p);
	http_assert_error(res, 404, "not_found");
	http_res_free(res);
	worker_resume();

	wait_msgs(token, chat, 2);
	assert_body(token, chat, 1, "early bird");
	assert_body(token, chat, 2, "second");
	res = http_get(chat_p);
	cr_assert_eq(res->status, 200, "%s: %ld", res->what, res->status);
	http_assert_contract(res);
	http_res_free(res);
	free(chat_p);
	free(path);
	free(token);
}

Test(messages, into_unknown_chat)
{
	int64_t chat;
	char *token = app_with_chat("messages unknown chat", &chat);
	char *path;

	/* Chat 2 was never handed out; nor was 4294967295. */
	path = msgs_path(token, chat + 1);
	assert_status("POST", path, "{\"body\":\"x\"}", 404, "not_found");
	assert_status("GET", path, NULL, 404, "not_found");
	free(path);
	path = msgs_path(token, 4294967295LL);
	assert_status("POST", path, "{\"body\":\"x\"}", 404, "not_found");
	free(path);
	path = msg_path(token, chat + 1, 1);
	assert_status("GET", path, NULL, 404, "not_found");
	assert_status("PATCH", path, "{\"body\":\"x\"}", 404, "not_found");
	assert_status("DELETE", path, NULL, 404, "not_found");
	free(path);
	/* An unknown token. */
	path = msgs_path(UNKNOWN_TOKEN, 1);
	assert_status("POST", path, "{\"body\":\"x\"}", 404, "not_found");
	assert_status("GET", path, NULL, 404, "not_found");
	free(path);
	path = msg_path(UNKNOWN_TOKEN, 1, 1);
	assert_status("GET", path, NULL, 404, "not_found");
	assert_status("PUT", path, "{\"body\":\"x\"}", 404, "not_found");
	assert_status("DELETE", path, NULL, 404, "not_found");
	free(path);
	/* The refused creates took no number in the chat made afterwards. */
	cr_assert_eq(create_chat(token), chat + 1);
	cr_assert_eq(create_msg(token, chat + 1, "x"), 1);
	/* A message not yet created in an existing chat. */
	path = msg_path(token, chat, 1);
	assert_status("GET", path, NULL, 404, "not_found");
	free(path);
	free(token);
}

/* GET path and assert a page of messages first..last and its Link. */
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
		     "%s: %zu messages, expected %lld..%lld", res->what, n,
		     (long long)first, (long long)last);
	for (size_t i = 0; i < n; i++) {
		char body[32];
		int64_t num = first + (int64_t)i;

		snprintf(body, sizeof(body), "m%lld", (long long)num);
		assert_msg_obj(json_object_array_get_idx(res->json, i),
			       res->what, num, body, strlen(body));
	}
	if (link) {
		cr_assert_not_null(res->link, "%s: no Link header", res->what);
		cr_assert_str_eq(res->link, link, "%s: Link", res->what);
	} else {
		cr_assert_null(res->link, "%s: Link on the last page: %s",
			       res->what, res->link);
	}
	http_res_free(res);
}

static char *next_link(const char *path, int a, int l)
{
	return http_path("<%s?after=%d&limit=%d>; rel=\"next\"", path, a, l);
}

Test(messages, list_and_paging)
{
	int64_t chat;
	char *token = app_with_chat("messages paging", &chat);
	char *path = msgs_path(token, chat);
	char *q, *link;

	assert_page(path, 1, 0, NULL);
	for (int i = 1; i <= 120; i++) {
		char body[32];

		snprintf(body, sizeof(body), "m%d", i);
		cr_assert_eq(create_msg(token, chat, body), i);
	}
	wait_msgs(token, chat, 120);

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
	/* Full last pages: no Link. */
	q = http_path("%s?after=100&limit=20", path);
	assert_page(q, 101, 120, NULL);
	free(q);
	q = http_path("%s?limit=1000", path);
	assert_page(q, 1, 120, NULL);
	free(q);
	q = http_path("%s?limit=3&after=117", path);
	assert_page(q, 118, 120, NULL);
	free(q);
	q = http_path("%s?after=116&limit=3", path);
	link = next_link(path, 119, 3);
	assert_page(q, 117, 119, link);
	free(link);
	free(q);
	q = http_path("%s?after=0", path);
	link = next_link(path, 50, 50);
	assert_page(q, 1, 50, link);
	free(link);
	free(q);
	q = http_path("%s?after=120", path);
	assert_page(q, 1, 0, NULL);
	free(q);
	free(path);
	free(token);
}

Test(messages, list_bad_parameters)
{
	static const char *const bad[] = {
		"limit=0", "limit=1001", "limit=-1", "limit=abc", "limit=1.5",
		"limit=", "after=-1", "after=abc", "after=", "after=2.0",
	};
	int64_t chat;
	char *token = app_with_chat("messages bad query", &chat);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *path = http_path("/applications/%s/chats/%lld/messages?%s",
				       token, (long long)chat, bad[i]);

		assert_status("GET", path, NULL, 400, "bad_request");
		free(path);
	}
	free(token);
}

Test(messages, patch_and_put)
{
	int64_t chat;
	char *token = app_with_chat("messages update", &chat);
	char *path, *before, *too_long, *json;
	struct http_res *res;

	cr_assert_eq(create_msg(token, chat, "original"), 1);
	wait_msg(token, chat, 1);
	path = msg_path(token, chat, 1);
	res = http_get(path);
	assert_msg(res, 1, "original");
	before = xstrdup(res->body);
	http_res_free(res);

	/* PATCH {} changes nothing; no body at all neither. */
	res = http_send("PATCH", path, "{}");
	assert_msg(res, 1, "original");
	cr_assert_str_eq(res->body, before, "PATCH {} changed the message");
	http_res_free(res);
	res = http_do("PATCH", path, NULL, 0);
	assert_msg(res, 1, "original");
	cr_assert_str_eq(res->body, before, "PATCH without a body changed it");
	http_res_free(res);

	/* PATCH with a body changes it, and only it. */
	res = http_send("PATCH", path, "{\"body\":\"x\",\"number\":5}");
	assert_msg(res, 1, "x");
	{
		struct json_object *old = json_tokener_parse(before);

		cr_assert_str_eq(http_json_str(res, "created_at"),
				 json_str(old, "created_at"),
				 "created_at changed");
		json_object_put(old);
	}
	http_res_free(res);
	assert_body(token, chat, 1, "x");

	/* PUT replaces: body is required. */
	assert_status("PUT", path, NULL, 422, "validation_failed");
	assert_status("PUT", path, "{}", 422, "validation_failed");
	assert_status("PUT", path, "{\"other\":\"y\"}", 422,
		      "validation_failed");
	assert_body(token, chat, 1, "x");
	res = http_send("PUT", path, "{\"body\":\"y \xe2\x82\xac\"}");
	assert_msg(res, 1, "y \xe2\x82\xac");
	http_res_free(res);
	assert_body(token, chat, 1, "y \xe2\x82\xac");

	/* Bad bodies change nothing. */
	too_long = repeat("a", BODY_MAX + 1);
	json = body_json(too_long, BODY_MAX + 1);
	static const char *const bad[] = { "PATCH", "PUT" };
	for (size_t i = 0; i < 2; i++) {
		assert_status(bad[i], path, "{\"body\":\"\"}", 422,
			      "validation_failed");
		assert_status(bad[i], path, "{\"body\":7}", 422,
			      "validation_failed");
		assert_status(bad[i], path, "{\"body\":null}", 422,
			      "validation_failed");
		assert_status(bad[i], path, "{\"body\":\"\xff\"}", 422,
			      "validation_failed");
		assert_status(bad[i], path, json, 422, "validation_failed");
		assert_status(bad[i], path, "null", 400, "bad_request");
		assert_status(bad[i], path, "[]", 400, "bad_request");
		assert_status(bad[i], path, "{\"body\":", 400, "bad_request");
	}
	assert_body(token, chat, 1, "y \xe2\x82\xac");

	/* The largest body is fine as an update too. */
	free(json);
	too_long[BODY_MAX] = '\0';
	json = body_json(too_long, BODY_MAX);
	res = http_send("PATCH", path, json);
	assert_msg(res, 1, too_long);
	http_res_free(res);

	/* No such message. */
	free(path);
	path = msg_path(token, chat, 2);
	assert_status("PATCH", path, "{\"body\":\"z\"}", 404, "not_found");
	assert_status("PATCH", path, "{}", 404, "not_found");
	assert_status("PUT", path, "{\"body\":\"z\"}", 404, "not_found");
	/* And message 2 is still free to be created. */
	cr_assert_eq(create_msg(token, chat, "two"), 2);
	free(json);
	free(too_long);
	free(before);
	free(path);
	free(token);
}

Test(messages, delete)
{
	int64_t chat;
	char *token = app_with_chat("messages delete", &chat);
	char *two, *three, *list;
	struct http_res *res;

	for (int i = 1; i <= 3; i++) {
		char body[8];

		snprintf(body, sizeof(body), "m%d", i);
		cr_assert_eq(create_msg(token, chat, body), i);
	}
	wait_msgs(token, chat, 3);
	two = msg_path(token, chat, 2);
	three = msg_path(token, chat, 3);
	list = msgs_path(token, chat);

	res = http_do("DELETE", two, NULL, 0);
	cr_assert_eq(res->status, 204, "%s: %ld %.300s", res->what,
		     res->status, res->body);
	http_assert_contract(res);
	http_res_free(res);
	assert_status("GET", two, NULL, 404, "not_found");
	assert_status("DELETE", two, NULL, 404, "not_found");
	assert_status("PATCH", two, "{\"body\":\"back\"}", 404, "not_found");
	assert_status("PUT", two, "{\"body\":\"back\"}", 404, "not_found");
	res = http_get(list);
	cr_assert_eq(res->status, 200);
	http_assert_contract(res);
	cr_assert_eq(json_object_array_length(res->json), 2, "%s", res->body);
	assert_msg_obj(json_object_array_get_idx(res->json, 0), res->what, 1,
		       "m1", 2);
	assert_msg_obj(json_object_array_get_idx(res->json, 1), res->what, 3,
		       "m3", 2);
	http_res_free(res);

	/* The highest one too; numbers are never handed out again. */
	res = http_do("DELETE", three, NULL, 0);
	cr_assert_eq(res->status, 204, "%s: %ld", res->what, res->status);
	http_res_free(res);
	cr_assert_eq(create_msg(token, chat, "m4"), 4,
		     "a deleted message number is reused");
	wait_msg(token, chat, 4);
	assert_status("GET", two, NULL, 404, "not_found");
	assert_status("GET", three, NULL, 404, "not_found");
	assert_body(token, chat, 1, "m1");
	free(list);
	free(three);
	free(two);
	free(token);
}

Test(messages, path_numbers)
{
	static const char *const bad[] = {
		"abc", "0", "-1", "1.5", "0x1", "01", "+1", "1e0",
		"4294967296",
		"18446744073709551615",
		"99999999999999999999",
		"1000000000000000000000000",
	};
	int64_t chat;
	char *token = app_with_chat("messages path numbers", &chat);

	cr_assert_eq(chat, 1);
	cr_assert_eq(create_msg(token, chat, "one"), 1);
	wait_msg(token, chat, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *m = http_path("/applications/%s/chats/1/messages/%s",
				    token, bad[i]);
		char *c = http_path("/applications/%s/chats/%s/messages/1",
				    token, bad[i]);
		char *l = http_path("/applications/%s/chats/%s/messages",
				    token, bad[i]);

		assert_status("GET", m, NULL, 404, "not_found");
		assert_status("PATCH", m, "{\"body\":\"z\"}", 404, "not_found");
		assert_status("PUT", m, "{\"body\":\"z\"}", 404, "not_found");
		assert_status("DELETE", m, NULL, 404, "not_found");
		assert_status("GET", c, NULL, 404, "not_found");
		assert_status("DELETE", c, NULL, 404, "not_found");
		assert_status("POST", l, "{\"body\":\"z\"}", 404, "not_found");
		assert_status("GET", l, NULL, 404, "not_found");
		free(l);
		free(c);
		free(m);
	}
	/* Nothing was created or changed by any of that. */
	assert_body(token, chat, 1, "one");
	cr_assert_eq(create_msg(token, chat, "two"), 2);
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

Test(messages, wrong_methods)
{
	int64_t chat;
	char *token = app_with_chat("messages methods", &chat);
	char *list = msgs_path(token, chat), *one = msg_path(token, chat, 1);

	cr_assert_eq(create_msg(token, chat, "stay"), 1);
	wait_msg(token, chat, 1);
	assert_405("POST", one, "GET, PATCH, PUT, DELETE");
	assert_405("PUT", list, "GET, POST");
	assert_405("PATCH", list, "GET, POST");
	assert_405("DELETE", list, "GET, POST");
	assert_body(token, chat, 1, "stay");
	cr_assert_eq(create_msg(token, chat, "next"), 2);
	free(one);
	free(list);
	free(token);
}

Test(messages, stored_behind_the_api)
{
	int64_t chat;
	char *token = app_with_chat("messages behind", &chat);
	char *c = http_path("%lld", (long long)chat), *key, *body;
	uint64_t app;
	redisReply *r;

	cr_assert_eq(create_msg(token, chat, "in the table"), 1);
	cr_assert_eq(create_msg(token, chat, "and this"), 2);
	wait_msgs(token, chat, 2);
	body = tdb_str("SELECT m.body FROM messages m JOIN chats c ON c.id = "
		       "m.chat_id JOIN applications a ON a.id = "
		       "c.application_id WHERE a." TDB_TOKEN_IS " AND c.number = ? "
		       "AND m.number = 1", token, c, NULL);
	cr_assert_not_null(body);
	cr_assert_str_eq(body, "in the table");
	free(body);
	app = app_id_of(token);
	key = queue_key(app, "a%llu:c%lld:n", (unsigned long long)app,
			(long long)chat);
	r = tredis("GET %s", key);
	cr_assert(r->type == REDIS_REPLY_STRING && strcmp(r->str, "2") == 0,
		  "%s is not 2", key);
	freeReplyObject(r);
	free(key);
	free(c);
	free(token);
}
