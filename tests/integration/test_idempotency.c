/*
 * test_idempotency.c - safe retries (the contract's "Safe retries:
 * Idempotency-Key") end to end through nginx: racing requests with one
 * key get one number and make one row, a retry after the worker
 * persisted the create answers the same, another body with the key is a
 * 409, keys belong to one application, they expire after
 * CHAT_IDEMPOTENCY_TTL seconds, and bad keys are a 400 that uses up no
 * number.  Redis and MariaDB are looked at to see that nothing was
 * created twice: the counters (a number and its job are born together)
 * and the rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "buf.h"
#include "client.h"
#include "queue.h"
#include "support_faults.h"
#include "support_parallel.h"
#include "xalloc.h"

/* How long the worker may take to persist a job under test load. */
#define PERSIST_MS 20000
#define RACERS 50

TestSuite(idempotency, .timeout = 180);

/* A key no other test (or run) uses. */
static char *fresh_key(const char *what)
{
	static unsigned seq;

	return http_path("%s-%ld-%u-%d", what, (long)getpid(), ++seq,
			 rand());
}

static char *key_header(const char *key)
{
	return http_path("Idempotency-Key: %s", key);
}

static int64_t app_id(const char *token)
{
	int64_t id = tdb_int("SELECT id FROM applications WHERE " TDB_TOKEN_IS,
			     token, NULL);

	cr_assert_gt(id, 0, "no application row for the token");
	return id;
}

/* A Redis counter of the application (suffix ":n" or ":c<n>:n"), or -1. */
static int64_t counter(const char *token, const char *suffix)
{
	int64_t app = app_id(token);
	redisReply *r = tredis("GET chat:{s%u}:a%lld%s",
			       chat_queue_shard((uint64_t)app),
			       (long long)app, suffix);
	int64_t v = r->type == REDIS_REPLY_STRING ? atoll(r->str) : -1;

	freeReplyObject(r);
	return v;
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

/* POST with an optional Idempotency-Key; asserts a 202, returns n. */
static int64_t post_keyed(const char *path, const char *body, const char *key)
{
	char *h = key ? key_header(key) : NULL;
	const char *headers[] = { h, NULL };
	struct http_res *res = http_do_h("POST", path, body,
					 body ? strlen(body) : 0, headers);
	int64_t n = assert_accepted(res, path);

	http_res_free(res);
	free(h);
	return n;
}

/* POST with a key and expect the contract's error. */
static void post_keyed_error(const char *path, const char *body,
			     const char *header, long status,
			     const char *code)
{
	const char *headers[] = { header, NULL };
	struct http_res *res = http_do_h("POST", path, body,
					 body ? strlen(body) : 0, headers);

	http_assert_error(res, status, code);
	http_res_free(res);
}

/* An application with one persisted chat. */
static char *app_with_chat(const char *name, int64_t *chat)
{
	char *token = app_create(name);
	char *path = chats_path(token), *one;

	*chat = post_keyed(path, NULL, NULL);
	one = http_path("%s/%lld", path, (long long)*chat);
	cr_assert(wait_status(one, 200, PERSIST_MS), "chat not persisted");
	free(one);
	free(path);
	return token;
}

static int64_t message_rows(const char *token, int64_t chat)
{
	char *c = http_path("%lld", (long long)chat);
	int64_t n = tdb_int("SELECT COUNT(*) FROM messages m JOIN chats c ON "
			    "c.id = m.chat_id JOIN applications a ON a.id = "
			    "c.application_id WHERE a." TDB_TOKEN_IS
			    " AND c.number = ?", token, c, NULL);

	free(c);
	return n;
}

/* Every racer got the same 202: one number, the same body and Location. */
static int64_t assert_one_answer(const struct par_result *r, unsigned n,
				 const char *path)
{
	char *loc = NULL;

	for (unsigned i = 0; i < n; i++) {
		cr_assert_eq(r[i].status, 202, "racer %u: %ld %.200s", i,
			     r[i].status, r[i].body ? r[i].body : "");
		cr_assert_gt(r[i].number, 0, "racer %u: %.200s", i, r[i].body);
		cr_assert_eq(r[i].number, r[0].number, "racer %u got number "
			     "%lld, racer 0 got %lld", i,
			     (long long)r[i].number, (long long)r[0].number);
		cr_assert_str_eq(r[i].body, r[0].body);
	}
	loc = http_path("%s/%lld", path, (long long)r[0].number);
	for (unsigned i = 0; i < n; i++)
		cr_assert(r[i].location && strcmp(r[i].location, loc) == 0,
			  "racer %u: Location %s, want %s", i,
			  r[i].location ? r[i].location : "(none)", loc);
	free(loc);
	return r[0].number;
}

Test(idempotency, racing_messages_with_one_key_get_one_number_one_row)
{
	int64_t chat;
	char *token = app_with_chat("idem race", &chat);
	char *path = msgs_path(token, chat), *key = fresh_key("race");
	char *h = key_header(key), *c = http_path(":c%lld:n", (long long)chat);
	const char *headers[] = { h, NULL };
	struct par_result r[RACERS];
	int64_t n;

	par_send("POST", path, "{\"body\":\"only once\"}", headers, RACERS, r);
	n = assert_one_answer(r, RACERS, path);
	cr_assert_eq(n, 1);
	/* One number handed out, hence one job. */
	cr_assert_eq(counter(token, c), 1, "message counter %lld after %d "
		     "racers with one key", (long long)counter(token, c),
		     RACERS);
	{
		char *m = http_path("%s/%lld", path, (long long)n);

		cr_assert(wait_status(m, 200, PERSIST_MS));
		free(m);
	}
	cr_assert_eq(message_rows(token, chat), 1);
	/* The next create without a key is number 2: nothing was used up. */
	cr_assert_eq(post_keyed(path, "{\"body\":\"next\"}", NULL), 2);
	par_results_release(r, RACERS);
	free(c);
	free(h);
	free(key);
	free(path);
	free(token);
}

Test(idempotency, racing_chats_with_one_key_get_one_number)
{
	char *token = app_create("idem chat race");
	char *path = chats_path(token), *key = fresh_key("chats");
	char *h = key_header(key), *one;
	const char *headers[] = { h, NULL };
	struct par_result r[RACERS];
	int64_t n;

	par_send("POST", path, NULL, headers, RACERS, r);
	n = assert_one_answer(r, RACERS, path);
	cr_assert_eq(n, 1);
	cr_assert_eq(counter(token, ":n"), 1);
	one = http_path("%s/%lld", path, (long long)n);
	cr_assert(wait_status(one, 200, PERSIST_MS));
	cr_assert_eq(tdb_int("SELECT COUNT(*) FROM chats c JOIN applications "
			     "a ON a.id = c.application_id WHERE a." TDB_TOKEN_IS,
			     token, NULL), 1);
	par_results_release(r, RACERS);
	free(one);
	free(h);
	free(key);
	free(path);
	free(token);
}

Test(idempotency, retry_after_the_worker_persisted_answers_the_same)
{
	int64_t chat;
	char *token = app_with_chat("idem retry", &chat);
	char *path = msgs_path(token, chat), *key = fresh_key("retry");
	char *h = key_header(key), *m, *c = http_path(":c%lld:n",
						       (long long)chat);
	const char *headers[] = { h, NULL };
	const char *body = "{\"body\":\"sent twice\"}";
	struct http_res *first, *again;

	first = http_do_h("POST", path, body, strlen(body), headers);
	cr_assert_eq(assert_accepted(first, path), 1);
	m = http_path("%s/1", path);
	cr_assert(wait_status(m, 200, PERSIST_MS));
	for (int i = 0; i < 3; i++) {
		again = http_do_h("POST", path, body, strlen(body), headers);
		cr_assert_eq(again->status, first->status);
		cr_assert_str_eq(again->body, first->body);
		cr_assert_str_eq(again->location, first->location);
		cr_assert_str_eq(again->content_type, first->content_type);
		http_res_free(again);
	}
	cr_assert_eq(counter(token, c), 1);
	cr_assert_eq(message_rows(token, chat), 1);
	/* A retry of a create whose chat was deleted since: the same answer. */
	{
		char *chat_path = http_path("/applications/%s/chats/%lld",
					    token, (long long)chat);
		struct http_res *del = http_send("DELETE", chat_path, NULL);

		cr_assert_eq(del->status, 204, "%.200s", del->body);
		http_res_free(del);
		again = http_do_h("POST", path, body, strlen(body), headers);
		cr_assert_eq(again->status, 202, "%ld %.200s", again->status,
			     again->body);
		cr_assert_str_eq(again->body, first->body);
		http_res_free(again);
		/* Without the key it is the contract's 404. */
		again = http_send("POST", path, body);
		http_assert_error(again, 404, "not_found");
		http_res_free(again);
		free(chat_path);
	}
	http_res_free(first);
	free(c);
	free(m);
	free(h);
	free(key);
	free(path);
	free(token);
}

Test(idempotency, another_body_with_the_key_is_409)
{
	int64_t chat, other_chat;
	char *token = app_with_chat("idem conflict", &chat);
	char *path = msgs_path(token, chat), *key = fresh_key("conflict");
	char *h = key_header(key), *c = http_path(":c%lld:n", (long long)chat);
	char *chats = chats_path(token), *other;

	cr_assert_eq(post_keyed(path, "{\"body\":\"first\"}", key), 1);
	post_keyed_error(path, "{\"body\":\"second\"}", h, 409, "conflict");
	/* The bytes count: the same body spelt differently is another. */
	post_keyed_error(path, "{ \"body\":\"first\"}", h, 409, "conflict");
	/* The same key on another route of the application. */
	post_keyed_error(chats, NULL, h, 409, "conflict");
	other_chat = post_keyed(chats, NULL, NULL);
	other = msgs_path(token, other_chat);
	post_keyed_error(other, "{\"body\":\"first\"}", h, 409, "conflict");
	/* Nothing was handed out by the conflicts. */
	cr_assert_eq(counter(token, c), 1);
	cr_assert_eq(counter(token, ":n"), other_chat);
	/* And the first request still answers as it did. */
	cr_assert_eq(post_keyed(path, "{\"body\":\"first\"}", key), 1);
	free(other);
	free(chats);
	free(c);
	free(h);
	free(key);
	free(path);
	free(token);
}

Test(idempotency, keys_belong_to_one_application)
{
	int64_t chat_a, chat_b;
	char *a = app_with_chat("idem app a", &chat_a);
	char *b = app_with_chat("idem app b", &chat_b);
	char *pa = msgs_path(a, chat_a), *pb = msgs_path(b, chat_b);
	char *key = fresh_key("shared");
	const char *body = "{\"body\":\"same key, two applications\"}";

	cr_assert_eq(post_keyed(pa, body, key), 1);
	cr_assert_eq(post_keyed(pb, body, key), 1);
	{
		char *ma = http_path("%s/1", pa), *mb = http_path("%s/1", pb);

		cr_assert(wait_status(ma, 200, PERSIST_MS));
		cr_assert(wait_status(mb, 200, PERSIST_MS));
		free(ma);
		free(mb);
	}
	cr_assert_eq(message_rows(a, chat_a), 1);
	cr_assert_eq(message_rows(b, chat_b), 1);
	free(key);
	free(pa);
	free(pb);
	free(a);
	free(b);
}

struct key_gone {
	char *redis_key;
};

static bool key_expired(void *arg)
{
	const struct key_gone *k = arg;

	return !tredis_exists(k->redis_key);
}

Test(idempotency, keys_expire_after_the_configured_ttl, .timeout = 240)
{
	const char *ttl_env = getenv("CHAT_IDEMPOTENCY_TTL");
	long ttl = ttl_env && *ttl_env ? atol(ttl_env) : 86400;
	int64_t chat;
	char *token = app_with_chat("idem expiry", &chat);
	char *path = msgs_path(token, chat), *key = fresh_key("expiry");
	const char *body = "{\"body\":\"expires\"}";
	struct key_gone k;
	redisReply *r;
	int64_t app = app_id(token);

	cr_assert(ttl > 0 && ttl <= 60, "CHAT_IDEMPOTENCY_TTL=%ld: this test "
		  "needs the stack started with a TTL of at most 60 s (as "
		  "tests/harness/run-tests.sh does)", ttl);
	cr_assert_eq(post_keyed(path, body, key), 1);
	k.redis_key = http_path("chat:{s%u}:a%lld:ik:%s",
				chat_queue_shard((uint64_t)app),
				(long long)app, key);
	r = tredis("TTL %s", k.redis_key);
	cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
	cr_assert(r->integer > 0 && r->integer <= ttl, "TTL of the key: %lld, "
		  "configured %ld", r->integer, ttl);
	freeReplyObject(r);
	/* Still there: the same answer. */
	cr_assert_eq(post_keyed(path, body, key), 1);
	cr_assert(wait_until(key_expired, &k, (unsigned)(ttl + 5) * 1000),
		  "the key outlived its TTL of %ld s", ttl);
	/* Expired: the same request is a new create... */
	cr_assert_eq(post_keyed(path, body, key), 2);
	cr_assert(wait_until(key_expired, &k, (unsigned)(ttl + 5) * 1000),
		  "the key outlived its TTL of %ld s", ttl);
	/* ...and so is another body: no conflict with what expired. */
	cr_assert_eq(post_keyed(path, "{\"body\":\"other\"}", key), 3);
	free(k.redis_key);
	free(key);
	free(path);
	free(token);
}

Test(idempotency, bad_keys_are_400_and_use_no_number)
{
	char *token = app_create("idem bad keys");
	char *path = chats_path(token);
	char *long_key = xmalloc(257), *h256, *h255;
	/* curl sends "Name:" with an empty value when given "Name;". */
	const char *bad[] = {
		"Idempotency-Key;", "Idempotency-Key: a b",
		"Idempotency-Key: caf\xc3\xa9", "Idempotency-Key: a\x7f",
		NULL, NULL,
	};

	memset(long_key, 'k', 256);
	long_key[256] = '\0';
	h256 = http_path("Idempotency-Key: %s", long_key);
	h255 = http_path("Idempotency-Key: %s", long_key + 1);
	bad[4] = h256;
	for (size_t i = 0; bad[i]; i++) {
		post_keyed_error(path, NULL, bad[i], 400, "bad_request");
		post_keyed_error(path, "{\"body\":\"x\"}", bad[i], 400,
				 "bad_request");
	}
	/* No number was used up: the first create is chat 1. */
	{
		const char *headers[] = { h255, NULL };
		struct http_res *res = http_do_h("POST", path, NULL, 0,
						 headers);

		cr_assert_eq(assert_accepted(res, path), 1,
			     "a 255-character key is valid");
		http_res_free(res);
	}
	/* Visible ASCII of every kind is fine. */
	cr_assert_eq(post_keyed(path, NULL, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
		     2);
	free(h255);
	free(h256);
	free(long_key);
	free(path);
	free(token);
}
