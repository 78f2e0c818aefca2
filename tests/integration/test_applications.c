/*
 * test_applications.c - every applications route of the HTTP contract
 * (nginx/api-docs/openapi.json), end to end through nginx; and GET /health.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "applications.h"
#include "buf.h"
#include "client.h"
#include "config.h"
#include "job.h"
#include "redis.h"
#include "sha256.h"
#include "xalloc.h"

#define MIB (1024 * 1024)
/* The body limit (../shared/API.md, 413): 400 KiB here. */
#define LIMIT (400 * 1024)

TestSuite(applications, .timeout = 180);
TestSuite(health, .timeout = 60);

static const char *const app_keys[] = {
	"token", "name", "chats_count", "created_at", "updated_at",
};

/* {"name": name} with json-c's escaping. */
static char *name_body(const char *name)
{
	struct json_object *obj = json_object_new_object();
	char *s;

	json_object_object_add(obj, "name", json_object_new_string(name));
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

static char *app_path(const char *token)
{
	return http_path("/applications/%s", token);
}

/*
 * Assert `res` is an Application object named `name` (if not NULL) with
 * `token` (if not NULL), exactly the contract's keys, and sane values.
 */
static void assert_app(const struct http_res *res, long status,
		       const char *token, const char *name)
{
	const char *created, *updated;
	int64_t count;

	cr_assert_eq(res->status, status, "%s: expected %ld, got %ld: %.300s",
		     res->what, status, res->status, res->body);
	http_assert_contract(res);
	cr_assert(json_object_is_type(res->json, json_type_object),
		  "not an object: %.300s", res->body);
	cr_assert_eq(json_object_object_length(res->json),
		     sizeof(app_keys) / sizeof(app_keys[0]),
		     "keys other than the Application's: %.300s", res->body);
	for (size_t i = 0; i < sizeof(app_keys) / sizeof(app_keys[0]); i++)
		cr_assert(json_object_object_get_ex(res->json, app_keys[i],
						    NULL),
			  "no \"%s\" in %.300s", app_keys[i], res->body);
	cr_assert(is_token(http_json_str(res, "token")), "token: %.300s",
		  res->body);
	if (token)
		cr_assert_str_eq(http_json_str(res, "token"), token);
	/* The token is a credential: no cache may keep the answer. */
	cr_assert(res->cache_control &&
		  strcmp(res->cache_control, "no-store") == 0,
		  "%s: Cache-Control is %s, not no-store", res->what,
		  res->cache_control ? res->cache_control : "absent");
	cr_assert_not_null(http_json_str(res, "name"), "name: %.300s",
			   res->body);
	if (name)
		cr_assert_str_eq(http_json_str(res, "name"), name,
				 "name not echoed exactly");
	cr_assert(http_json_int(res, "chats_count", &count),
		  "chats_count is not an integer: %.300s", res->body);
	cr_assert_geq(count, 0);
	created = http_json_str(res, "created_at");
	updated = http_json_str(res, "updated_at");
	cr_assert(is_timestamp(created), "created_at: %s", res->body);
	cr_assert(is_timestamp(updated), "updated_at: %s", res->body);
	/* Same format, so string order is time order. */
	cr_assert_leq(strcmp(created, updated), 0, "updated before created");
}

/* POST /applications with body[0..len) and assert an error. */
static void post_fails(const char *body, size_t len, long status,
		       const char *code)
{
	struct http_res *res = http_do("POST", "/applications", body, len);

	http_assert_error(res, status, code);
	cr_assert_null(res->location, "Location on a failed create");
	http_res_free(res);
}

static void post_fails_s(const char *body, long status, const char *code)
{
	post_fails(body, strlen(body), status, code);
}

/* PATCH and PUT of `token` with body[0..len) both fail the same way. */
static void update_fails(const char *token, const char *body, size_t len,
			 long status, const char *code)
{
	static const char *const methods[] = { "PATCH", "PUT" };
	char *path = app_path(token);

	for (size_t i = 0; i < 2; i++) {
		struct http_res *res = http_do(methods[i], path, body, len);

		cr_assert_eq(res->status, status, "%s %s: %ld %.300s",
			     methods[i], body, res->status, res->body);
		http_assert_error(res, status, code);
		http_res_free(res);
	}
	free(path);
}

/* GET the application and assert it still has `name`. */
static void assert_name(const char *token, const char *name)
{
	char *path = app_path(token);
	struct http_res *res = http_get(path);

	assert_app(res, 200, token, name);
	http_res_free(res);
	free(path);
}

Test(health, all_parts_ok)
{
	static const char *const keys[] = { "status", "mysql", "redis",
					    "elasticsearch" };
	struct http_res *res = http_get("/health");

	cr_assert_eq(res->status, 200, "GET /health: %ld %.300s", res->status,
		     res->body);
	http_assert_contract(res);
	for (size_t i = 0; i < 4; i++) {
		const char *v = http_json_str(res, keys[i]);

		cr_assert(v && strcmp(v, "ok") == 0, "%s is not \"ok\": %s",
			  keys[i], res->body);
	}
	http_res_free(res);
}

Test(applications, create)
{
	time_t before = time(NULL);
	char *body = name_body("My app");
	struct http_res *res = http_send("POST", "/applications", body);
	char *location, stamp[32];
	struct tm tm;
	int64_t count = -1;

	assert_app(res, 201, NULL, "My app");
	cr_assert(http_json_int(res, "chats_count", &count) && count == 0,
		  "chats_count of a new application: %s", res->body);
	cr_assert_str_eq(http_json_str(res, "created_at"),
			 http_json_str(res, "updated_at"));
	/* Within a minute of the client's clock (same host). */
	gmtime_r(&(time_t){ before - 60 }, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cr_assert_gt(strcmp(http_json_str(res, "created_at"), stamp), 0,
		     "created_at %s is long before %s",
		     http_json_str(res, "created_at"), stamp);
	gmtime_r(&(time_t){ time(NULL) + 60 }, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cr_assert_lt(strcmp(http_json_str(res, "created_at"), stamp), 0,
		     "created_at %s is in the future",
		     http_json_str(res, "created_at"));

	location = app_path(http_json_str(res, "token"));
	cr_assert_not_null(res->location, "no Location header");
	cr_assert_str_eq(res->location, location);
	free(location);
	free(body);
	http_res_free(res);
}

Test(applications, tokens_differ)
{
	char *a = app_create("same name");
	char *b = app_create("same name");

	cr_assert_str_neq(a, b);
	cr_assert(is_token(a) && is_token(b));
	free(a);
	free(b);
}

Test(applications, stored_behind_the_api)
{
	char *token = app_create("stored \xc3\xa9");
	char *name = tdb_str("SELECT name FROM applications WHERE " TDB_TOKEN_IS,
			     token, NULL);

	cr_assert_eq(tdb_int("SELECT COUNT(*) FROM applications "
			     "WHERE " TDB_TOKEN_IS, token, NULL), 1);
	cr_assert_str_eq(name, "stored \xc3\xa9");
	free(name);
	free(token);
}

/*
 * Neither MariaDB nor Redis holds a token: the table has SHA-256 of it
 * (the same digest as lib/sha256.c and MariaDB's SHA2 compute), the Redis
 * cache is keyed by its hex form, and no Redis key or value contains the
 * token itself.
 */
Test(applications, token_stored_as_sha256)
{
	char *token = app_create("hashed");
	char *path = app_path(token);
	unsigned char sha[CHAT_SHA256_LEN];
	char hex[CHAT_SHA256_HEX_LEN + 1], *stored, *key, *pattern, *chats;
	struct http_res *res;
	redisReply *r;
	int64_t id;

	chat_sha256(token, strlen(token), sha);
	chat_sha256_hex(sha, hex);
	stored = tdb_str("SELECT LOWER(HEX(token_sha256)) FROM applications "
			 "WHERE " TDB_TOKEN_IS, token, NULL);
	cr_assert_not_null(stored);
	cr_assert_str_eq(stored, hex);
	cr_assert_eq(tdb_int("SELECT COUNT(*) FROM information_schema.columns "
			     "WHERE table_schema = DATABASE() AND "
			     "table_name = 'applications' AND "
			     "column_name = 'token'", NULL), 0,
		     "the applications table still has a token column");
	id = tdb_int("SELECT id FROM applications WHERE " TDB_TOKEN_IS, token,
		     NULL);

	/* A route below the token fills the Redis cache. */
	chats = http_path("%s/chats", path);
	res = http_get(chats);
	cr_assert_eq(res->status, 200, "%s: %ld", res->what, res->status);
	http_res_free(res);
	free(chats);
	key = http_path(CHAT_KEY_TOKEN "%s", hex);
	r = tredis("GET %s", key);
	cr_assert_eq(r->type, REDIS_REPLY_STRING, "no %s in Redis", key);
	cr_assert_eq(strtoll(r->str, NULL, 10), id);
	freeReplyObject(r);
	pattern = http_path("*%s*", token);
	r = tredis("KEYS %s", pattern);
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	cr_assert_eq(r->elements, 0, "a Redis key holds the token");
	freeReplyObject(r);
	r = tredis("GET %s", key);
	cr_assert(r->type == REDIS_REPLY_STRING && !strstr(r->str, token));
	freeReplyObject(r);

	free(pattern);
	free(key);
	free(stored);
	free(path);
	free(token);
}

Test(applications, name_echoed_exactly)
{
	static const char *const names[] = {
		"x",
		"  leading and trailing spaces  ",
		"quotes \" backslash \\ slash / <tag> & 'single'",
		"tab\tnewline\ncr\r",
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad\xe6\x96\x87",
		"id",
		"{\"json\": [1, 2]}",
		"%20%00+",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *body = name_body(names[i]);
		struct http_res *res = http_send("POST", "/applications", body);
		char *token;

		assert_app(res, 201, NULL, names[i]);
		token = xstrdup(http_json_str(res, "token"));
		assert_name(token, names[i]);
		free(token);
		http_res_free(res);
		free(body);
	}
}

Test(applications, escaped_name)
{
	static const char body[] =
		"{\"name\":\"\\u00e9t\\u00E9 \\ud83d\\ude00 \\\"q\\\" \\/\"}";
	struct http_res *res = http_send("POST", "/applications", body);

	assert_app(res, 201, NULL, "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80 \"q\" /");
	http_res_free(res);
}

Test(applications, name_length_in_characters)
{
	static const struct {
		const char *rep;
		size_t n;
		long status;
	} cases[] = {
		{ "a", 255, 201 },
		{ "a", 256, 422 },
		{ "\xc3\xa9", 255, 201 },		/* 510 bytes */
		{ "\xc3\xa9", 256, 422 },
		{ "\xf0\x9f\x98\x80", 255, 201 },	/* 1020 bytes */
		{ "\xf0\x9f\x98\x80", 256, 422 },
		{ "a", 10000, 422 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *name = repeat(cases[i].rep, cases[i].n);
		char *body = name_body(name);

		if (cases[i].status == 201) {
			struct http_res *res =
				http_send("POST", "/applications", body);
			char *token;

			assert_app(res, 201, NULL, name);
			token = xstrdup(http_json_str(res, "token"));
			http_res_free(res);
			assert_name(token, name);
			free(token);
		} else {
			post_fails_s(body, 422, "validation_failed");
		}
		free(body);
		free(name);
	}
}

Test(applications, show)
{
	char *token = app_create("shown");
	char *path = app_path(token);
	struct http_res *res = http_get(path);
	int64_t count = -1;

	assert_app(res, 200, token, "shown");
	cr_assert(http_json_int(res, "chats_count", &count) && count == 0);
	cr_assert_null(res->location);
	http_res_free(res);
	free(path);
	free(token);
}

Test(applications, show_unknown_tokens)
{
	static const char *const unknown[] = {
		"/applications/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"/applications/abcdefghijklmnopqrstuvwxyz0123456789",
	};
	char *token = app_create("case");
	char *other = xstrdup(token);
	char *path;
	struct http_res *res;
	size_t i;

	/* Flip the case of the first letter. */
	for (i = 0; other[i]; i++) {
		if (other[i] >= 'a' && other[i] <= 'z') {
			other[i] = (char)(other[i] - 'a' + 'A');
			break;
		}
		if (other[i] >= 'A' && other[i] <= 'Z') {
			other[i] = (char)(other[i] - 'A' + 'a');
			break;
		}
	}
	cr_assert(other[i], "token without letters: %s", token);
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		res = http_get(unknown[i]);
		http_assert_error(res, 404, "not_found");
		http_res_free(res);
	}
	path = http_path("/applications/%s", other);
	res = http_get(path);
	http_assert_error(res, 404, "not_found");
	http_res_free(res);
	free(path);
	/* A binary collation, without trailing-space folding. */
	path = http_path("/applications/%s%%20", token);
	res = http_get(path);
	http_assert_error(res, 404, "not_found");
	http_res_free(res);
	free(path);
	/* Longer and shorter by one. */
	path = http_path("/applications/%sA", token);
	res = http_get(path);
	http_assert_error(res, 404, "not_found");
	http_res_free(res);
	free(path);
	path = http_path("/applications/%.*s", (int)strlen(token) - 1, token);
	res = http_get(path);
	http_assert_error(res, 404, "not_found");
	http_res_free(res);
	free(path);
	/* The real one still answers. */
	assert_name(token, "case");
	free(other);
	free(token);
}

Test(applications, patch_empty_changes_nothing)
{
	char *token = app_create("unchanged");
	char *path = app_path(token);
	struct http_res *before = http_get(path);
	struct http_res *res;

	assert_app(before, 200, token, "unchanged");
	res = http_send("PATCH", path, "{}");
	assert_app(res, 200, token, "unchanged");
	cr_assert_str_eq(http_json_str(res, "updated_at"),
			 http_json_str(before, "updated_at"));
	cr_assert_str_eq(http_json_str(res, "created_at"),
			 http_json_str(before, "created_at"));
	http_res_free(res);
	/* No body at all, and unknown fields only, are the same. */
	res = http_do("PATCH", path, NULL, 0);
	assert_app(res, 200, token, "unchanged");
	http_res_free(res);
	res = http_send("PATCH", path, "{\"other\":1}");
	assert_app(res, 200, token, "unchanged");
	http_res_free(res);
	assert_name(token, "unchanged");
	http_res_free(before);
	free(path);
	free(token);
}

Test(applications, patch_renames)
{
	char *token = app_create("old name");
	char *path = app_path(token);
	struct http_res *before = http_get(path);
	struct http_res *res;

	assert_app(before, 200, token, "old name");
	res = http_send("PATCH", path, "{\"name\":\"x\"}");
	assert_app(res, 200, token, "x");
	cr_assert_str_eq(http_json_str(res, "created_at"),
			 http_json_str(before, "created_at"));
	cr_assert_leq(strcmp(http_json_str(before, "updated_at"),
			     http_json_str(res, "updated_at")), 0);
	http_res_free(res);
	assert_name(token, "x");
	res = http_send("PATCH", path,
			"{\"name\":\"caf\xc3\xa9 \\u00e9\",\"ignored\":[1]}");
	assert_app(res, 200, token, "caf\xc3\xa9 \xc3\xa9");
	http_res_free(res);
	assert_name(token, "caf\xc3\xa9 \xc3\xa9");
	http_res_free(before);
	free(path);
	free(token);
}

Test(applications, put_requires_name)
{
	char *token = app_create("put me");
	char *path = app_path(token);
	static const char *const bad[] = { "{}", "{\"other\":\"x\"}", "" };
	struct http_res *res;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		res = http_send("PUT", path, bad[i]);
		http_assert_error(res, 422, "validation_failed");
		http_res_free(res);
	}
	res = http_do("PUT", path, NULL, 0);
	http_assert_error(res, 422, "validation_failed");
	http_res_free(res);
	assert_name(token, "put me");
	res = http_send("PUT", path, "{\"name\":\"replaced\"}");
	assert_app(res, 200, token, "replaced");
	http_res_free(res);
	assert_name(token, "replaced");
	free(path);
	free(token);
}

Test(applications, update_unknown_token)
{
	static const char *const methods[] = { "PATCH", "PUT" };
	const char *path = "/applications/ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ";

	for (size_t i = 0; i < 2; i++) {
		struct http_res *res = http_send(methods[i], path,
						 "{\"name\":\"n\"}");

		http_assert_error(res, 404, "not_found");
		http_res_free(res);
	}
}

Test(applications, update_bad_names)
{
	char *token = app_create("keep me");
	char *long_name = repeat("\xc3\xa9", 256);
	char *long_body = name_body(long_name);
	static const char *const bad[] = {
		"{\"name\":\"\"}", "{\"name\":1}", "{\"name\":null}",
		"{\"name\":[\"x\"]}", "{\"name\":{}}", "{\"name\":true}",
		"{\"name\":\"\xff\"}", "{\"name\":\"\xc0\xaf\"}",
		"{\"name\":\"\\ud800\"}", "{\"name\":\"a\\u0000b\"}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		update_fails(token, bad[i], strlen(bad[i]), 422,
			     "validation_failed");
	update_fails(token, long_body, strlen(long_body), 422,
		     "validation_failed");
	assert_name(token, "keep me");
	free(long_body);
	free(long_name);
	free(token);
}

Test(applications, update_bad_json)
{
	char *token = app_create("keep json");
	static const char *const bad[] = {
		"{", "{\"name\":\"x\"", "{\"name\":\"x\",}", "{'name':'x'}",
		"not json", "{\"name\":\"x\"} trailing", "null", "[]", "42",
		"\"s\"", "true", "[{\"name\":\"x\"}]",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		update_fails(token, bad[i], strlen(bad[i]), 400, "bad_request");
	assert_name(token, "keep json");
	free(token);
}

Test(applications, malformed_json)
{
	static const char *const bad[] = {
		"{", "}", "{\"name\":", "{\"name\":\"x\"", "{\"name\" \"x\"}",
		"{name:\"x\"}", "{'name':'x'}", "{\"name\":'x'}",
		"{\"name\":\"x\",}", "{\"name\":\"x\"}}", "{\"name\":\"x\"} {}",
		"{\"name\":\"x\"} x", "not json", "name=x", "<name>x</name>",
		"{\"name\":\"x\",\"n\":NaN}", "{\"name\":\"x\",\"n\":01}",
		"{\"name\":\"tab\there\"}", "{\"name\":\"\\x41\"}",
		"\xef\xbb\xbf{\"name\":\"bom\"}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		post_fails_s(bad[i], 400, "bad_request");
}

Test(applications, json_but_not_an_object)
{
	static const char *const bad[] = {
		"null", "[]", "42", "\"s\"", "true", "false", "-1.5",
		"[{\"name\":\"x\"}]", " null ", "\"{\\\"name\\\":\\\"x\\\"}\"",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		post_fails_s(bad[i], 400, "bad_request");
}

/* An unknown field is ignored however deep; broken, it is not JSON. */
Test(applications, deep_json)
{
	struct http_res *res;
	struct chat_buf b;

	chat_buf_init(&b);
	chat_buf_adds(&b, "{\"name\":\"deep\",\"x\":");
	for (int i = 0; i < 1000; i++)
		chat_buf_adds(&b, "[{\"y\":");
	chat_buf_adds(&b, "1");
	for (int i = 0; i < 1000; i++)
		chat_buf_adds(&b, "}]");
	chat_buf_adds(&b, "}");
	res = http_do("POST", "/applications", b.data, b.len);
	assert_app(res, 201, NULL, "deep");
	http_res_free(res);
	b.data[b.len - 3] = ']';	/* a '}' swapped for a ']' */
	post_fails(b.data, b.len, 400, "bad_request");
	chat_buf_release(&b);
}

Test(applications, empty_body_is_no_name)
{
	post_fails(NULL, 0, 422, "validation_failed");
	post_fails("", 0, 422, "validation_failed");
	post_fails_s(" \r\n\t ", 422, "validation_failed");
}

Test(applications, missing_or_wrong_name)
{
	static const char *const bad[] = {
		"{}", "{\"Name\":\"x\"}", "{\"nam\":\"x\"}", "{\"name \":\"x\"}",
		"{\"name\":1}", "{\"name\":0}", "{\"name\":1.5}",
		"{\"name\":null}", "{\"name\":true}", "{\"name\":false}",
		"{\"name\":[]}", "{\"name\":[\"x\"]}", "{\"name\":{}}",
		"{\"name\":{\"name\":\"x\"}}", "{\"name\":\"\"}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		post_fails_s(bad[i], 422, "validation_failed");
}

Test(applications, invalid_utf8_name)
{
	static const char *const bad[] = {
		"{\"name\":\"\xff\"}",
		"{\"name\":\"ok\xff\"}",
		"{\"name\":\"\xc0\xaf\"}",		/* overlong '/' */
		"{\"name\":\"\xe0\x80\xaf\"}",	/* overlong, 3 bytes */
		"{\"name\":\"\xed\xa0\x80\"}",	/* raw surrogate */
		"{\"name\":\"\xc3\"}",		/* truncated */
		"{\"name\":\"\xf4\x90\x80\x80\"}",	/* past U+10FFFF */
		"{\"name\":\"\\ud800\"}",		/* lone surrogate escapes */
		"{\"name\":\"\\udc00\"}",
		"{\"name\":\"x\\ud800y\"}",
		"{\"name\":\"\\ude00\\ud83d\"}",
		"{\"name\":\"a\\u0000b\"}",		/* NUL */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		post_fails_s(bad[i], 422, "validation_failed");
}

Test(applications, unknown_fields_ignored)
{
	static const char body[] =
		"{\"id\":7,\"name\":\"fields\",\"token\":\"mine\","
		"\"chats_count\":99,\"created_at\":\"2000-01-01T00:00:00Z\","
		"\"extra\":{\"deep\":[1,2,null]}}";
	struct http_res *res = http_send("POST", "/applications", body);
	int64_t count = -1;

	assert_app(res, 201, NULL, "fields");
	cr_assert_str_neq(http_json_str(res, "token"), "mine");
	cr_assert(http_json_int(res, "chats_count", &count) && count == 0);
	cr_assert_str_neq(http_json_str(res, "created_at"),
			  "2000-01-01T00:00:00Z");
	http_res_free(res);
}

Test(applications, content_type_not_needed_nor_trusted)
{
	static const char *const plain[] = { "Content-Type: text/plain",
					     NULL };
	static const char *const form[] = {
		"Content-Type: application/x-www-form-urlencoded", NULL
	};
	static const char body[] = "{\"name\":\"typed\"}";
	struct http_res *res;

	res = http_do_h("POST", "/applications", body, strlen(body), plain);
	assert_app(res, 201, NULL, "typed");
	http_res_free(res);
	res = http_do_h("POST", "/applications", body, strlen(body), form);
	assert_app(res, 201, NULL, "typed");
	http_res_free(res);
}

/* A JSON object of exactly `size` bytes: {"name":"aaa..."}. */
static char *sized_body(size_t size)
{
	char *s = xmalloc(size + 1);

	memcpy(s, "{\"name\":\"", 9);
	memset(s + 9, 'a', size - 11);
	memcpy(s + size - 2, "\"}", 3);
	return s;
}

Test(applications, payload_limit)
{
	char *token = app_create("big");
	char *path = app_path(token);
	char *body = sized_body(LIMIT);
	struct http_res *res;

	/* Exactly the limit is read and judged: the name is too long. */
	post_fails(body, LIMIT, 422, "validation_failed");
	free(body);
	body = sized_body(LIMIT + 1);
	post_fails(body, LIMIT + 1, 413, "payload_too_large");
	res = http_do("PATCH", path, body, LIMIT + 1);
	http_assert_error(res, 413, "payload_too_large");
	http_res_free(res);
	free(body);
	body = sized_body(3 * MIB);
	post_fails(body, 3 * MIB, 413, "payload_too_large");
	res = http_do("PUT", path, body, 3 * MIB);
	http_assert_error(res, 413, "payload_too_large");
	http_res_free(res);
	free(body);
	assert_name(token, "big");
	free(path);
	free(token);
}

/* `method path` answers 405 with exactly `allow`. */
static void assert_405(const char *method, const char *path,
		       const char *allow)
{
	struct http_res *res = http_do(method, path, NULL, 0);

	http_assert_error(res, 405, "method_not_allowed");
	cr_assert_not_null(res->allow, "%s %s: no Allow header", method, path);
	cr_assert_str_eq(res->allow, allow, "%s %s", method, path);
	http_res_free(res);
}

Test(applications, wrong_methods)
{
	char *token = app_create("methods");
	char *path = app_path(token);

	assert_405("GET", "/applications", "POST");
	assert_405("PUT", "/applications", "POST");
	assert_405("PATCH", "/applications", "POST");
	assert_405("DELETE", "/applications", "POST");
	assert_405("DELETE", path, "GET, PATCH, PUT");
	assert_405("POST", path, "GET, PATCH, PUT");
	/* Known route shape, unknown token: still the route's methods. */
	assert_405("DELETE", "/applications/QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ",
		   "GET, PATCH, PUT");
	/* And the application is still there. */
	assert_name(token, "methods");
	free(path);
	free(token);
}

Test(applications, unknown_routes)
{
	static const char *const paths[] = {
		"/",
		"/nope",
		"/applications/",
		"/applicationsX",
		"/application",
		"/Applications",
		"/applications/short",
		"/applications/has.dot.in.it.but.long.enough",
		"/applications/0",
		"/applications/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/",
		"/applications/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/nothing",
		"/applications/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/chats/1/x/y/z",
		"/health/x",
		"/api",
	};
	static const char *const methods[] = { "GET", "POST", "DELETE" };

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		for (size_t m = 0; m < 3; m++) {
			struct http_res *res = http_do(methods[m], paths[i],
						       NULL, 0);

			cr_assert_eq(res->status, 404, "%s %s: %ld %.300s",
				     methods[m], paths[i], res->status,
				     res->body);
			http_assert_error(res, 404, "not_found");
			http_res_free(res);
		}
	}
}

Test(applications, query_string_ignored)
{
	char *token = app_create("query");
	char *path = http_path("/applications/%s?token=x&id=1", token);
	struct http_res *res = http_get(path);

	assert_app(res, 200, token, "query");
	http_res_free(res);
	free(path);
	free(token);
}

Test(applications, chunked_request_body)
{
	static const char *const chunked[] = { "Transfer-Encoding: chunked",
					       NULL };
	static const char body[] = "{\"name\":\"chunky\"}";
	char *big = sized_body(LIMIT + 1);
	struct http_res *res;

	res = http_do_h("POST", "/applications", body, strlen(body), chunked);
	assert_app(res, 201, NULL, "chunky");
	http_res_free(res);
	res = http_do_h("POST", "/applications", big, LIMIT + 1, chunked);
	http_assert_error(res, 413, "payload_too_large");
	http_res_free(res);
	free(big);
}

/*
 * POST /applications is limited per client address.  Invalid bodies are
 * enough (the limit comes first) and create nothing.
 */
Test(applications, rate_limited)
{
	struct http_res *res = NULL;
	uint64_t deadline = now_ms() + 10000;
	int n = 0;

	while (now_ms() < deadline) {
		http_res_free(res);
		res = http_do_once("POST", "/applications", "{}", 2, NULL);
		n++;
		if (res->status == 429)
			break;
		http_assert_error(res, 422, "validation_failed");
	}
	cr_assert_eq(res->status, 429, "no 429 after %d requests in 10 s", n);
	http_assert_error(res, 429, "too_many_requests");
	cr_assert_not_null(res->retry_after, "a 429 without Retry-After");
	cr_assert(atoi(res->retry_after) >= 1 &&
		  strspn(res->retry_after, "0123456789") ==
			  strlen(res->retry_after),
		  "Retry-After: %s", res->retry_after);
	http_res_free(res);
	/* Reading is not limited. */
	res = http_get("/applications/RRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRR");
	http_assert_error(res, 404, "not_found");
	http_res_free(res);
}

/*
 * Errors nginx makes before any location is chosen (a malformed request
 * line, a URI or header over its buffers) follow the contract too.
 */
Test(applications, nginx_errors_are_json)
{
	static const char *const malformed[] = {
		"/applications/%zz",
		"/applications/%00AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"/%zz",
	};
	char *long_path = repeat("A", 20000);
	char *header = http_path("X-Big: %s", long_path);
	const char *const big_header[] = { header, NULL };
	char *path;
	struct http_res *res;

	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		res = http_get(malformed[i]);
		cr_assert_eq(res->status, 400, "%s: %ld", malformed[i],
			     res->status);
		http_assert_error(res, 400, "bad_request");
		http_res_free(res);
	}
	path = http_path("/applications/%s", long_path);
	res = http_get(path);
	cr_assert_geq(res->status, 400, "a 20000-byte URI: %ld", res->status);
	http_assert_contract(res);
	http_res_free(res);
	free(path);
	res = http_do_h("GET", "/health", NULL, 0, big_header);
	cr_assert_geq(res->status, 400, "a 20000-byte header: %ld",
		      res->status);
	http_assert_contract(res);
	http_res_free(res);
	free(header);
	free(long_path);
}

/*
 * The stack's Redis requires a password (tests/harness/stack.sh): a client
 * without it is refused, and the programs' client with a wrong one reports
 * the setting to check (never its value) and finds Redis down, as
 * /health would.
 */
Test(health, redis_requires_the_password)
{
	struct chat_config cfg;
	struct chat_redis *r;
	redisContext *c;
	redisReply *reply;
	const char *argv[] = { "AUTH", "not-the-password-3f9a" };

	chat_config_load(&cfg);
	cr_assert_not_null(cfg.redis_password,
			   "CHAT_REDIS_PASSWORD is not set for the test stack");
	c = redisConnect(cfg.redis_host, (int)cfg.redis_port);
	cr_assert(c && !c->err, "Redis: %s", c ? c->errstr : "no memory");
	reply = redisCommand(c, "PING");
	cr_assert(reply && reply->type == REDIS_REPLY_ERROR &&
		  strncmp(reply->str, "NOAUTH", 6) == 0,
		  "PING without AUTH: %s", reply ? reply->str : c->errstr);
	freeReplyObject(reply);
	reply = redisCommandArgv(c, 2, argv, NULL);
	cr_assert(reply && reply->type == REDIS_REPLY_ERROR,
		  "a wrong password was accepted");
	freeReplyObject(reply);
	redisFree(c);

	r = chat_redis_new(&cfg);
	cr_assert(chat_redis_ping(r), "the right password: %s", r->errstr);
	chat_redis_free(r);

	cfg.redis_password = argv[1];
	r = chat_redis_new(&cfg);
	cr_assert_not(chat_redis_ping(r));
	cr_assert(strstr(r->errstr, "AUTH refused (CHAT_REDIS_PASSWORD)"),
		  "%s", r->errstr);
	cr_assert_null(strstr(r->errstr, argv[1]), "%s", r->errstr);
	chat_redis_free(r);
}

/* The line of nginx's access log whose user agent is `agent`, waiting for
 * the buffered log to be flushed (each second); NULL if none in 10 s. */
static char *access_log_line(const char *agent)
{
	const char *var = getenv("CHAT_VAR");
	char *path, *found = NULL;
	uint64_t deadline = now_ms() + 10000;

	cr_assert(var && *var, "CHAT_VAR is not set");
	path = http_path("%s/log/nginx-access.log", var);
	while (!found && now_ms() < deadline) {
		FILE *f = fopen(path, "r");
		char line[8192];

		cr_assert_not_null(f, "cannot read %s", path);
		while (!found && fgets(line, sizeof(line), f))
			if (strstr(line, agent))
				found = xstrdup(line);
		fclose(f);
		if (!found) {
			struct timespec ts = { .tv_nsec = 200000000 };

			nanosleep(&ts, NULL);
		}
	}
	free(path);
	return found;
}

/*
 * nginx's access log (format chat_masked) writes the token of a path, of
 * a query string and of the Referer as "*", and the rest as it was.
 */
Test(applications, access_log_masks_tokens)
{
	char *token = app_create("logged");
	char *agent = http_path("log-test-%d-%llu", (int)getpid(),
				(unsigned long long)now_ms());
	char *path = http_path("/applications/%s/chats?after=0&x=%s", token,
			       token);
	char *ua = http_path("User-Agent: %s", agent);
	char *referer = http_path("Referer: http://a.example/applications/%s/"
				  "chats/1?t=%s", token, token);
	const char *headers[] = { ua, referer, NULL };
	struct http_res *res = http_do_h("GET", path, NULL, 0, headers);
	char *line;

	cr_assert_eq(res->status, 200, "%s: %ld", res->what, res->status);
	http_res_free(res);
	line = access_log_line(agent);
	cr_assert_not_null(line, "no access log line with %s", agent);
	cr_assert_null(strstr(line, token), "token in the log: %s", line);
	cr_assert(strstr(line, "\"GET /applications/*/chats?after=0&x=* "),
		  "%s", line);
	cr_assert(strstr(line, "\"http://a.example/applications/*/chats/1?t=*\""),
		  "%s", line);
	free(line);
	free(referer);
	free(ua);
	free(path);
	free(agent);
	free(token);
}
