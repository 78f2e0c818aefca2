/*
 * test_search_lib.c - lib/search.c against a real Elasticsearch or
 * OpenSearch at $CHAT_ES_URL (default http://127.0.0.1:19250, the test
 * stack's port), without the rest of the stack.
 *
 * main() picks an alias of its own for the run (CHAT_ES_INDEX, inherited
 * by the test processes), creates the index, indexes the fixture messages
 * below and refreshes; every test then reads that fixture, or writes to a
 * chat of its own.  If the engine cannot be reached the run fails and
 * says so.  The run's indices are deleted at the end.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "config.h"
#include "es.h"
#include "json.h"
#include "search.h"
#include "search_index.h"	/* lib/search-index.json, compiled in */

#define DEFAULT_URL "http://127.0.0.1:19250"

/* Application 7, chat 1 is searched; the rest are decoys. */
#define APP 7
#define DECOY_APP 8
#define T0 1795807241		/* 2026-11-27T19:20:41Z */

static char long_word[5001];	/* "abcdefghij" x 500 */

struct fixture {
	uint64_t app, chat, number;
	const char *body;
};

static const struct fixture fixtures[] = {
	{APP, 1, 1, "Hello world"},
	{APP, 1, 2, "The quick brown fox"},
	{APP, 1, 3, "data tables"},
	{APP, 1, 4, "Cr\xc3\xa8me br\xc3\xbbl\xc3\xa9" "e"},	/* Crème brûlée */
	{APP, 1, 5, "same same"},
	{APP, 1, 6, "same same"},
	{APP, 1, 7, "same same"},
	{APP, 1, 8, "AND OR NOT * ? : \" \\ {} [] title:x"},
	{APP, 1, 9, NULL},	/* long_word */
	{APP, 1, 10, "orange juice"},
	{APP, 1, 11, "hel lox"},
	{APP, 1, 12, "I \xe2\x9d\xa4\xef\xb8\x8f pizza \xf0\x9f\x8d\x95"},
	{APP, 1, 13, "same"},
	{APP, 2, 1, "Hello world"},
	{APP, 2, 2, "hello again"},
	{DECOY_APP, 1, 1, "Hello world"},
	{DECOY_APP, 1, 2, "same same"},
};
#define NFIX (sizeof(fixtures) / sizeof(fixtures[0]))

static struct chat_config cfg;
static struct chat_es *es;

/* Each test runs in a fresh process: build the state here. */
static void open_es(void)
{
	for (size_t i = 0; i < 500; i++)
		memcpy(long_word + i * 10, "abcdefghij", 10);
	chat_config_load(&cfg);
	/*
	 * The worker's timeouts: these calls stand for the indexer's (index
	 * creation takes seconds), and a loaded test machine is no reason
	 * for a query to fail here; the request timeout is test_limits'.
	 */
	chat_config_for_jobs(&cfg);
	es = chat_es_new(&cfg);
}

static void close_es(void)
{
	chat_es_free(es);
	es = NULL;
}

/* The handle reads its nodes from cfg.es_url when it is made: a new one. */
static void use_url(const char *url)
{
	chat_es_free(es);
	cfg.es_url = url;
	es = chat_es_new(&cfg);
}

static struct chat_search_doc doc(uint64_t app, uint64_t chat, uint64_t n,
				  const char *body)
{
	struct chat_search_doc d = {
		.app = app, .chat = chat, .number = n, .body = body,
		.body_len = strlen(body), .created_at = T0 + (int64_t)n,
		.updated_at = T0 + 3600 + (int64_t)n,
	};
	return d;
}

/* Send a request that must answer 2xx; the body is returned (free it). */
static char *must_request(const char *method, const char *path)
{
	struct chat_buf resp;
	long status = 0;

	chat_buf_init(&resp);
	cr_assert_eq(chat_es_request(es, method, path, NULL, 0, &status,
				     &resp), 0, "%s %s: %s", method, path,
		     es->errstr);
	cr_assert(status >= 200 && status < 300, "%s %s: HTTP %ld %s",
		  method, path, status, resp.data);
	return chat_buf_detach(&resp, NULL);
}

static void refresh(void)
{
	char path[300];

	snprintf(path, sizeof(path), "/%s/_refresh", cfg.es_index);
	free(must_request("POST", path));
}

static void index_docs(const struct chat_search_doc *docs, size_t n,
		       bool create_only)
{
	bool failed[32];

	cr_assert(n <= 32);
	cr_assert_eq(chat_search_bulk(es, docs, n, create_only, failed), 0,
		     "bulk: %s", es->errstr);
	for (size_t i = 0; i < n; i++)
		cr_assert(!failed[i], "bulk item %zu failed: %s", i,
			  es->errstr);
}

/* Search chat `chat` of APP; the numbers found, as "1,2,3". */
static void search_in(uint64_t app, uint64_t chat, const char *q, size_t qlen,
		      unsigned limit, char *out, size_t outsz)
{
	struct json_object *res = NULL;
	size_t used = 0;

	cr_assert_eq(chat_search_query(es, app, chat, q, qlen, limit, &res), 0,
		     "query \"%.40s\": %s", q, es->errstr);
	cr_assert(json_object_is_type(res, json_type_array));
	out[0] = '\0';
	for (size_t i = 0; i < json_object_array_length(res); i++) {
		struct json_object *m = json_object_array_get_idx(res, i), *v;

		cr_assert(json_object_object_get_ex(m, "number", &v));
		used += (size_t)snprintf(out + used, outsz - used, "%s%" PRId64,
					 i ? "," : "",
					 json_object_get_int64(v));
		cr_assert(used < outsz);
		cr_assert_eq(json_object_object_length(m), 4);
	}
	json_object_put(res);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* "3,1,2" -> "1,2,3": for checks of what is found, not of its order. */
static void sort_list(char *s, size_t sz)
{
	uint64_t v[64];
	size_t n = 0, used = 0;

	for (char *p = s; *p && n < 64; n++) {
		v[n] = strtoull(p, &p, 10);
		if (*p == ',')
			p++;
	}
	qsort(v, n, sizeof(v[0]), cmp_u64);
	s[0] = '\0';
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(s + used, sz - used, "%s%" PRIu64,
					 i ? "," : "", v[i]);
}

/* The numbers found in chat `chat` of APP, in any order. */
static void expect_in(uint64_t chat, const char *q, const char *want)
{
	char got[512];

	search_in(APP, chat, q, strlen(q), 20, got, sizeof(got));
	sort_list(got, sizeof(got));
	cr_assert_str_eq(got, want, "query \"%.60s\"", q);
}

/* The same, in the order given: best match first. */
static void expect_order(const char *q, const char *want)
{
	char got[512];

	search_in(APP, 1, q, strlen(q), 20, got, sizeof(got));
	cr_assert_str_eq(got, want, "query \"%.60s\": %s", q, got);
}

static void expect(const char *q, const char *want)
{
	expect_in(1, q, want);
}

TestSuite(search, .init = open_es, .fini = close_es);

Test(search, infix_from_three_characters)
{
	expect("ell", "1");
	expect("hello", "1");
	expect("orl", "1");
	expect("ello", "1");
	expect("uic", "2,10");
	expect("ata", "3");
	expect("ables", "3");
}

Test(search, case_insensitive)
{
	expect("HELLO", "1");
	expect("hElLo WoRlD", "1");
	expect("QUICK", "2");
	/* non-ASCII letters fold too: BRÛ, CRÈME */
	expect("BR\xc3\x9b", "4");
	expect("CR\xc3\x88ME", "4");
	expect("r\xc3\xbbl", "4");
}

Test(search, short_words_match_word_starts_only)
{
	expect("lo", "11");		/* "hel lox", not "Hello" */
	expect("he", "1,11");
	expect("h", "1,11");
	expect("wo", "1");
	expect("rl", "");
	expect("o", "8,10");		/* "OR", "orange"; not "Hello world" */
	expect("x", "8");		/* "x" of title:x, not "lox" */
}

Test(search, every_word_must_match)
{
	expect("wor hel", "1");
	expect("hello world", "1");
	expect("hello planet", "");
	expect("quick fox brown", "2");
	expect("quick cat", "");
}

Test(search, no_match_across_words)
{
	/* "data tables": dat ata | tab must not make "datab" */
	expect("datab", "");
	expect("atata", "");
	/* "hel lox": "hello" is not in one word */
	expect("hello", "1");
	/* "hel" inside a word, and a word that starts with "lo" */
	expect("hel lo", "11");
	expect("ello", "1");
	/* two short words, neither starting a word of "Hello world" */
	expect("o w", "");
}

Test(search, only_this_chat)
{
	expect_in(1, "hello", "1");
	expect_in(2, "hello", "1,2");
	expect_in(3, "hello", "");
	{
		char got[64];

		search_in(DECOY_APP, 1, "same", 4, 20, got, sizeof(got));
		cr_assert_str_eq(got, "2");
	}
}

Test(search, best_first_ties_by_number_and_limit)
{
	char all[64], got[64];

	/* 5, 6 and 7 are the same text: equal scores, by number */
	search_in(APP, 1, "same", 4, 20, all, sizeof(all));
	cr_assert(strstr(all, "5,6,7"), "same: %s", all);
	sort_list(strcpy(got, all), sizeof(got));
	cr_assert_str_eq(got, "5,6,7,13");
	/* the limit cuts that order */
	for (unsigned k = 1; k <= 4; k++) {
		const char *p = all;
		size_t len;

		for (unsigned i = 0; i < k && p; i++)
			p = strchr(p + (i > 0), ',');
		len = p ? (size_t)(p - all) : strlen(all);
		search_in(APP, 1, "same", 4, k, got, sizeof(got));
		cr_assert(strlen(got) == len && strncmp(all, got, len) == 0,
			  "limit %u: %s of %s", k, got, all);
	}
	/* a limit past the engine's result window is clamped */
	search_in(APP, 1, "sam", 3, 1000000, got, sizeof(got));
	sort_list(got, sizeof(got));
	cr_assert_str_eq(got, "5,6,7,13");
	/* a whole word ranks above a word that only contains it */
	expect_order("hel", "11,1");
}

Test(search, message_objects)
{
	struct json_object *res = NULL, *m, *v;

	cr_assert_eq(chat_search_query(es, APP, 1, "world", 5, 20, &res), 0,
		     "%s", es->errstr);
	cr_assert_eq(json_object_array_length(res), 1);
	m = json_object_array_get_idx(res, 0);
	cr_assert(json_object_object_get_ex(m, "number", &v));
	cr_assert(json_object_is_type(v, json_type_int));
	cr_assert_eq(json_object_get_int64(v), 1);
	cr_assert(json_object_object_get_ex(m, "body", &v));
	cr_assert_str_eq(json_object_get_string(v), "Hello world");
	cr_assert(json_object_object_get_ex(m, "created_at", &v));
	cr_assert_str_eq(json_object_get_string(v), "2026-11-27T19:20:42Z");
	cr_assert(json_object_object_get_ex(m, "updated_at", &v));
	cr_assert_str_eq(json_object_get_string(v), "2026-11-27T20:20:42Z");
	json_object_put(res);

	/* the body comes back byte for byte, emoji and all */
	cr_assert_eq(chat_search_query(es, APP, 1, "pizza", 5, 20, &res), 0);
	cr_assert_eq(json_object_array_length(res), 1);
	cr_assert(json_object_object_get_ex(json_object_array_get_idx(res, 0),
					    "body", &v));
	cr_assert_str_eq(json_object_get_string(v), fixtures[11].body);
	json_object_put(res);
}

/*
 * A page is at most about 1 MiB of JSON (../shared/API.md).  Four
 * messages of 65,535 bytes, all U+0001 but for one word, are ~384 KiB
 * each as JSON, in the engine's reply too: the reply of a first page of
 * 20 is longer than a page and is not read, so that page is asked for
 * again in two steps (sizes, then the two bodies that fit); the second
 * page's reply, two bodies, is read in one.  Both give the messages in
 * order, each once, with a next page only after the first.
 */
Test(search, pages_of_large_bodies_in_one_or_two_steps)
{
	enum { N = 4, CHAT = 60, LEN = 65535 };
	struct chat_search_doc docs[N];
	struct json_object *res = NULL, *v;
	static char body[LEN];
	unsigned offset = 0, next = 0;
	uint64_t want = 1;

	memset(body, 0x01, sizeof(body));
	memcpy(body, "bulky", 5);
	for (uint64_t i = 0; i < N; i++) {
		docs[i] = doc(APP, CHAT, i + 1, "");
		docs[i].body = body;
		docs[i].body_len = sizeof(body);
	}
	index_docs(docs, N, false);
	refresh();
	for (unsigned page = 0; page < 2; page++, offset = next) {
		cr_assert_eq(chat_search_page(es, APP, CHAT, "bulky", 5, offset,
					      20, &res, &next), 0,
			     "page %u: %s", page, es->errstr);
		cr_assert_eq(json_object_array_length(res), 2,
			     "page %u: %zu messages", page,
			     json_object_array_length(res));
		cr_assert_leq(strlen(json_object_to_json_string_ext(res,
					CHAT_JSON_TO_STRING)),
			      CHAT_PAGE_BYTES_MAX);
		for (size_t i = 0; i < 2; i++, want++) {
			struct json_object *m = json_object_array_get_idx(res, i);

			cr_assert(json_object_object_get_ex(m, "number", &v));
			cr_assert_eq(json_object_get_uint64(v), want);
			cr_assert(json_object_object_get_ex(m, "body", &v));
			cr_assert_eq(json_object_get_string_len(v), LEN);
		}
		json_object_put(res);
		cr_assert_eq(next, page == 0 ? 2u : 0u, "page %u: next %u",
			     page, next);
	}
}

Test(search, operators_and_syntax_are_plain_text)
{
	expect("AND", "8");
	expect("NOT", "8");
	expect("OR", "8,10");		/* "OR" and "orange" */
	expect("title:x", "8");
	expect("a:b", "");
	expect("hello OR planet", "");
	expect("hello AND", "");
	expect("NOT hello", "");
	expect("hel*", "1,11");
	expect("h?llo", "1");		/* "h" and "llo" */
	expect("\"hello world\"", "1");
	expect("(hello)", "1");
	expect("{\"match_all\":{}}", "");
	expect("hello\\", "1");
	expect("[hello]", "1");
	expect("/hello/", "1");
	expect("hello~2", "");
	expect("hel\"lo", "11");		/* "hel" and "lo" */
}

Test(search, no_letter_or_digit_finds_nothing)
{
	static const char *const none[] = {
		"\"", "\\", "*", "?", "{}", "((", "/", "[]", ":", "!", " ",
		"*:*", "\\\\\\\"", "-+&|!(){}[]^\"~*?:\\/",
		"\xf0\x9f\x98\x80",		/* 😀 */
		"\xe2\x9d\xa4\xef\xb8\x8f",	/* ❤️ */
		"\xf0\x9f\x8d\x95",		/* 🍕 */
		"\xe2\x80\x94\xc2\xbb",		/* —» */
	};

	/* unreachable URL: the answer must not need the engine */
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
		expect(none[i], "");
	use_url("http://127.0.0.1:1");
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
		expect(none[i], "");
}

Test(search, emoji_and_long_words)
{
	static char q[6001];
	char got[64];

	expect("pizza\xf0\x9f\x8d\x95", "12");
	expect("\xe2\x9d\xa4\xef\xb8\x8fpizza", "12");
	/* a 4000-character part of a 5000-character word: one phrase */
	search_in(APP, 1, long_word + 500, 4000, 20, got, sizeof(got));
	cr_assert_str_eq(got, "9");
	search_in(APP, 1, long_word, 5000, 20, got, sizeof(got));
	cr_assert_str_eq(got, "9");
	/* 6000 characters: longer than any word there */
	memcpy(q, long_word, 5000);
	memcpy(q + 5000, long_word, 1000);
	search_in(APP, 1, q, 6000, 20, got, sizeof(got));
	cr_assert_str_eq(got, "");
	memset(q, 'z', 6000);
	search_in(APP, 1, q, 6000, 20, got, sizeof(got));
	cr_assert_str_eq(got, "");
}

Test(search, many_words)
{
	char q[4096];
	size_t used = 0;
	char got[64];

	/* 300 distinct words: only the first CHAT_SEARCH_MAX_WORDS count */
	for (int i = 0; i < 300; i++)
		used += (size_t)snprintf(q + used, sizeof(q) - used, "hel%d ",
					 i);
	search_in(APP, 1, q, used, 20, got, sizeof(got));
	cr_assert_str_eq(got, "");
	used = 0;
	for (int i = 0; i < 500; i++)
		used += (size_t)snprintf(q + used, sizeof(q) - used, "%s ",
					 i % 2 ? "HELLO" : "world");
	search_in(APP, 1, q, used, 20, got, sizeof(got));
	cr_assert_str_eq(got, "1");
}

Test(search, create_only_keeps_the_indexed_document)
{
	struct chat_search_doc d[2] = {
		doc(APP, 30, 1, "first version"),
		doc(APP, 30, 2, "other"),
	};
	bool failed[2] = {true, true};

	index_docs(d, 2, true);
	d[0] = doc(APP, 30, 1, "second version");
	/* already there: counts as success, and is not replaced */
	cr_assert_eq(chat_search_bulk(es, d, 2, true, failed), 0, "%s",
		     es->errstr);
	cr_assert(!failed[0] && !failed[1]);
	refresh();
	expect_in(30, "first", "1");
	expect_in(30, "second", "");
	/* index replaces */
	d[0] = doc(APP, 30, 1, "third version");
	index_docs(d, 1, false);
	refresh();
	expect_in(30, "first", "");
	expect_in(30, "third", "1");
	expect_in(30, "version", "1");
}

Test(search, delete_message)
{
	struct chat_search_doc d[3] = {
		doc(APP, 31, 1, "keep me"),
		doc(APP, 31, 2, "delete me"),
		doc(APP, 31, 3, "keep me too"),
	};

	index_docs(d, 3, false);
	refresh();
	expect_in(31, "me", "1,2,3");
	cr_assert_eq(chat_search_delete_message(es, APP, 31, 2), 0, "%s",
		     es->errstr);
	refresh();
	expect_in(31, "me", "1,3");
	/* already gone, never there: still success */
	cr_assert_eq(chat_search_delete_message(es, APP, 31, 2), 0, "%s",
		     es->errstr);
	cr_assert_eq(chat_search_delete_message(es, APP, 31, 99), 0, "%s",
		     es->errstr);
}

Test(search, delete_chat)
{
	struct chat_search_doc d[4] = {
		doc(APP, 32, 1, "gone soon"),
		doc(APP, 32, 2, "gone soon too"),
		doc(APP, 33, 1, "gone soon? no, stays"),
		doc(DECOY_APP, 32, 1, "gone soon? no, other app"),
	};

	index_docs(d, 4, false);
	refresh();
	expect_in(32, "soon", "1,2");
	/* indexed, not yet refreshed: goes too */
	d[0] = doc(APP, 32, 3, "gone soon as well");
	index_docs(d, 1, false);
	cr_assert_eq(chat_search_delete_chat(es, APP, 32), 0, "%s",
		     es->errstr);
	/* no refresh needed: delete_chat refreshes */
	expect_in(32, "soon", "");
	expect_in(33, "soon", "1");
	{
		char got[64];

		search_in(DECOY_APP, 32, "soon", 4, 20, got, sizeof(got));
		cr_assert_str_eq(got, "1");
	}
	/* an empty chat */
	cr_assert_eq(chat_search_delete_chat(es, APP, 34), 0, "%s",
		     es->errstr);
}

/* The names of the indices behind `alias` (JSON object keys). */
static struct json_object *indices_of(const char *alias)
{
	char path[300];
	char *body;
	struct json_object *obj;

	snprintf(path, sizeof(path), "/_alias/%s", alias);
	body = must_request("GET", path);
	obj = json_tokener_parse(body);
	free(body);
	cr_assert(json_object_is_type(obj, json_type_object));
	return obj;
}

/* Delete the indices behind `alias`; usable outside a test.  0 or -1. */
static int drop_alias(struct chat_es *h, const char *alias)
{
	struct json_object *obj = NULL;
	struct chat_buf path, resp;
	long status = 0;
	int rc = -1;

	chat_buf_init(&path);
	chat_buf_init(&resp);
	chat_buf_addf(&path, "/_alias/%s", alias);
	if (chat_es_request(h, "GET", path.data, NULL, 0, &status, &resp) ||
	    status != 200)
		goto out;
	obj = json_tokener_parse(resp.data);
	if (!json_object_is_type(obj, json_type_object))
		goto out;
	json_object_object_foreach(obj, name, val) {
		(void)val;
		chat_buf_reset(&path);
		chat_buf_addf(&path, "/%s", name);
		if (chat_es_request(h, "DELETE", path.data, NULL, 0, &status,
				    &resp) || status != 200)
			goto out;
	}
	rc = 0;
out:
	json_object_put(obj);
	chat_buf_release(&path);
	chat_buf_release(&resp);
	return rc;
}

Test(search, ensure_index_is_idempotent_and_configured)
{
	struct json_object *obj, *idx = NULL, *v;
	char path[300];
	char *body;

	cr_assert_eq(chat_search_ensure_index(es), 0, "%s", es->errstr);
	cr_assert_eq(chat_search_ensure_index(es), 0, "%s", es->errstr);
	obj = indices_of(cfg.es_index);
	cr_assert_eq(json_object_object_length(obj), 1);
	json_object_object_foreach(obj, name, val) {
		(void)val;
		cr_assert(strncmp(name, cfg.es_index, strlen(cfg.es_index))
			  == 0 && strstr(name, "-v1-"), "index %s", name);
		snprintf(path, sizeof(path), "/%s/_settings", name);
	}
	json_object_put(obj);
	body = must_request("GET", path);
	obj = json_tokener_parse(body);
	free(body);
	json_object_object_foreach(obj, n2, val2) {
		(void)n2;
		idx = val2;
	}
	cr_assert(json_object_object_get_ex(idx, "settings", &idx));
	cr_assert(json_object_object_get_ex(idx, "index", &idx));
	cr_assert(json_object_object_get_ex(idx, "refresh_interval", &v));
	cr_assert_str_eq(json_object_get_string(v), "500ms");
	/* CHAT_ES_SHARDS and CHAT_ES_REPLICAS (1 and 0 for one node). */
	cr_assert(json_object_object_get_ex(idx, "number_of_shards", &v));
	cr_assert_eq(atoi(json_object_get_string(v)), (int)cfg.es_shards);
	cr_assert(json_object_object_get_ex(idx, "number_of_replicas", &v));
	cr_assert_eq(atoi(json_object_get_string(v)), (int)cfg.es_replicas,
		     "%s replicas for CHAT_ES_URL=%s", json_object_get_string(v),
		     cfg.es_url);
	json_object_put(obj);
}

Test(search, ensure_index_race)
{
	char alias[200];
	pid_t pids[6];
	struct json_object *obj;

	snprintf(alias, sizeof(alias), "%s-race", cfg.es_index);
	cfg.es_index = alias;
	for (int i = 0; i < 6; i++) {
		pids[i] = fork();
		cr_assert(pids[i] >= 0);
		if (pids[i] == 0) {
			struct chat_es *mine = chat_es_new(&cfg);
			int rc = chat_search_ensure_index(mine);

			if (rc)
				fprintf(stderr, "race %d: %s\n", i,
					mine->errstr);
			_exit(rc ? 1 : 0);
		}
	}
	for (int i = 0; i < 6; i++) {
		int st = 0;

		cr_assert_eq(waitpid(pids[i], &st, 0), pids[i]);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			  "process %d failed to ensure the index", i);
	}
	obj = indices_of(alias);
	cr_assert_eq(json_object_object_length(obj), 1, "%s",
		     json_object_to_json_string(obj));
	json_object_put(obj);
	cr_assert_eq(drop_alias(es, alias), 0);
}

/* `method` `path` with a JSON body, answered 2xx: the answer (caller frees). */
static char *must_send_read(const char *method, const char *path,
			    struct json_object *body)
{
	size_t len = 0;
	const char *s = json_object_to_json_string_length(
		body, JSON_C_TO_STRING_PLAIN, &len);
	struct chat_buf resp;
	long status = 0;

	chat_buf_init(&resp);
	cr_assert_eq(chat_es_request(es, method, path, s, len, &status, &resp),
		     0, "%s %s: %s", method, path, es->errstr);
	cr_assert(status >= 200 && status < 300, "%s %s: HTTP %ld %s",
		  method, path, status, resp.data);
	return chat_buf_detach(&resp, NULL);
}

static void must_send(const char *method, const char *path,
		      struct json_object *body)
{
	free(must_send_read(method, path, body));
}

/*
 * An index that an earlier version made, whose strict mapping lacks
 * json_len (the length of a body as a page counts it, now sent with every
 * document): once chat_search_ensure_index ran, it takes documents with
 * the field, and documents written without it (by a program not upgraded
 * yet) are still found, their length computed from the body.
 */
Test(search, older_index_takes_the_added_fields)
{
	struct json_object *def = json_tokener_parse(chat_search_index_json);
	struct json_object *props, *aliases, *a, *old;
	struct chat_search_doc d[1] = {
		doc(APP, 1, 2, "newer \"message\"\n"),
	};
	bool failed[1] = {true};
	char alias[200], path[300], got[64];

	snprintf(alias, sizeof(alias), "%s-older", cfg.es_index);
	cfg.es_index = alias;
	cr_assert(json_object_object_get_ex(def, "mappings", &props));
	cr_assert(json_object_object_get_ex(props, "properties", &props));
	json_object_object_del(props, "json_len");
	aliases = json_object_new_object();
	a = json_object_new_object();
	json_object_object_add(a, "is_write_index",
			       json_object_new_boolean(1));
	json_object_object_add(aliases, alias, a);
	json_object_object_add(def, "aliases", aliases);
	snprintf(path, sizeof(path), "/%s-v1-1", alias);
	must_send("PUT", path, def);
	json_object_put(def);

	/* As an earlier version indexed a message. */
	old = json_tokener_parse("{\"app\": 7, \"chat\": 1, \"number\": 1,"
				 " \"body\": \"older \\\"message\\\"\","
				 " \"created_at\": 1795807241,"
				 " \"updated_at\": 1795807241}");
	cr_assert_not_null(old);
	snprintf(path, sizeof(path), "/%s/_doc/7-1-1", alias);
	must_send("PUT", path, old);
	json_object_put(old);

	cr_assert_eq(chat_search_ensure_index(es), 0, "%s", es->errstr);
	cr_assert_eq(chat_search_bulk(es, d, 1, false, failed), 0, "%s",
		     es->errstr);
	cr_assert_not(failed[0], "%s", es->errstr);
	refresh();
	search_in(APP, 1, "message", 7, 20, got, sizeof(got));
	sort_list(got, sizeof(got));
	cr_assert_str_eq(got, "1,2");
	cr_assert_eq(drop_alias(es, alias), 0);
}

Test(search, writes_never_create_an_index)
{
	char alias[200], path[300];
	struct chat_search_doc d[2] = {
		doc(APP, 1, 1, "x"), doc(APP, 1, 2, "y"),
	};
	bool failed[2] = {false, false};
	struct chat_buf resp;
	long status = 0;

	snprintf(alias, sizeof(alias), "%s-missing", cfg.es_index);
	cfg.es_index = alias;
	cr_assert_eq(chat_search_bulk(es, d, 2, false, failed), 0, "%s",
		     es->errstr);
	cr_assert(failed[0] && failed[1]);
	cr_assert(strstr(es->errstr, "404"), "%s", es->errstr);
	cr_assert_eq(chat_search_delete_message(es, APP, 1, 1), 0);
	cr_assert_eq(chat_search_delete_chat(es, APP, 1), 0);
	chat_buf_init(&resp);
	snprintf(path, sizeof(path), "/%s", alias);
	cr_assert_eq(chat_es_request(es, "GET", path, NULL, 0, &status, &resp),
		     0);
	cr_assert_eq(status, 404, "%s exists: %s", alias, resp.data);
	chat_buf_release(&resp);
}

Test(search, engine_down_is_an_error)
{
	struct chat_search_doc d[1] = {doc(APP, 1, 1, "x")};
	bool failed[1] = {false};
	struct json_object *res = (struct json_object *)&res;

	use_url("http://127.0.0.1:1");
	cr_assert_eq(chat_search_ensure_index(es), -1);
	cr_assert(es->errstr[0]);
	cr_assert_eq(chat_search_bulk(es, d, 1, false, failed), -1);
	cr_assert(failed[0]);
	cr_assert_eq(chat_search_delete_message(es, APP, 1, 1), -1);
	cr_assert_eq(chat_search_delete_chat(es, APP, 1), -1);
	cr_assert_eq(chat_search_query(es, APP, 1, "hello", 5, 20, &res), -1);
	cr_assert_null(res);
}

Test(search, bad_alias_is_refused)
{
	static const char *const bad[] = {
		"Messages", "_x", "-x", ".x", "a/b", "a b", "a?b", "a#b", "",
	};
	struct json_object *res = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg.es_index = bad[i];
		cr_assert_eq(chat_search_ensure_index(es), -1, "%s", bad[i]);
		cr_assert_eq(chat_search_query(es, APP, 1, "x", 1, 5, &res),
			     -1, "%s", bad[i]);
	}
}

/*
 * The tokens of `text` by `/{index}/_analyze` with `how` (a field, or an
 * analysis chain) as "token@position " for each.
 */
static void analyze(const char *how, const char *text, struct chat_buf *out)
{
	struct json_object *req = json_tokener_parse(how);
	struct json_object *ans, *tokens;
	char path[300], *resp;

	cr_assert_not_null(req, "%s", how);
	json_object_object_add(req, "text", json_object_new_string(text));
	snprintf(path, sizeof(path), "/%s/_analyze", cfg.es_index);
	resp = must_send_read("POST", path, req);
	ans = json_tokener_parse(resp);
	cr_assert(json_object_object_get_ex(ans, "tokens", &tokens), "%s",
		  resp);
	chat_buf_reset(out);
	for (size_t i = 0; i < json_object_array_length(tokens); i++) {
		struct json_object *t = json_object_array_get_idx(tokens, i);
		struct json_object *tok, *pos;

		cr_assert(json_object_object_get_ex(t, "token", &tok));
		cr_assert(json_object_object_get_ex(t, "position", &pos));
		chat_buf_addf(out, "%s@%d ", json_object_get_string(tok),
			      json_object_get_int(pos));
	}
	json_object_put(ans);
	json_object_put(req);
	free(resp);
}

/*
 * The word fields (body, body.prefix) find their words with one pattern
 * (the chat_words tokenizer) where the 3-grams need the text rewritten by
 * the chat_word_breaks and chat_connectors char filters; both must say
 * the same words.  Each is compared, token by token and position by
 * position, with the char filters followed by a whitespace split, on
 * bodies made to hit the rules' edges: connectors at either end of a
 * word, alone, in runs, beside separators; combining marks, variation
 * selectors, emoji, other scripts' letters and digits; and random strings
 * of those pieces.
 */
Test(search, word_fields_split_as_the_char_filters_do)
{
	static const char *const fixed[] = {
		"hello_ world", "_ab", "ab_", "a _ b", "a__b", "h_llo",
		"__", "_", "x_,_y", "\xe2\x80\xbf" "a\xe2\x80\xbf" "b\xe2\x80\xbf",
		"e\xcc\x81t\xc3\xa9_", "\xf0\x9f\x98\x80_a_\xf0\x9f\x98\x80",
		"a\xef\xb8\x8f" "b", "\xd9\xa3_\xd0\x96", "AND OR\tNOT\n*?:",
		"r\xc3\xa9sum\xc3\xa9 \xef\xbc\xbf" "x\xef\xbc\xbf",
	};
	/* UTF-8 pieces: letters, digits, marks, connectors, separators. */
	static const char *const pieces[] = {
		"a", "B", "\xc3\xa9", "_", "\xe2\x80\xbf", "\xef\xb8\xb3", " ",
		",", "\n", "-", "\xcc\x81", "\xef\xb8\x8f", "\xf0\x9f\x98\x80",
		"\xd0\x96", "1", "\xd9\xa3", "\xe2\x80\x8d", "\t",
		"\xc2\xa0", "\xf3\xa0\x84\x80", "\xc3\x9f", "\xc4\xb0",
		"\xce\xa3", "\xcf\x82", "\xce\xac",	/* Σ ς ά */
	};
	/* The char filters and a whitespace split, then the field's filter. */
#define FILTERED(filter)						\
	"{\"char_filter\": [\"chat_word_breaks\", \"chat_connectors\"],"	\
	" \"tokenizer\": {\"type\": \"whitespace\","			\
	" \"max_token_length\": 65536},"				\
	" \"filter\": [\"chat_lowercase\", \"" filter "\"]}"
	static const char *const pairs[][2] = {
		{"{\"field\": \"body\"}", FILTERED("chat_word_cap")},
		{"{\"field\": \"body.prefix\"}", FILTERED("chat_prefix")},
	};
#undef FILTERED
	enum { NFIXED = sizeof(fixed) / sizeof(fixed[0]), NRANDOM = 150 };
	unsigned seed = 7;
	struct chat_buf text, a, b;
	size_t nonempty = 0;

	chat_buf_init(&text);
	chat_buf_init(&a);
	chat_buf_init(&b);
	for (int i = 0; i < NFIXED + NRANDOM + 1; i++) {
		chat_buf_reset(&text);
		if (i < NFIXED) {
			chat_buf_addf(&text, "%s", fixed[i]);
		} else if (i < NFIXED + NRANDOM) {
			int n = 1 + rand_r(&seed) % 14;

			while (n--)
				chat_buf_addf(&text, "%s", pieces[rand_r(&seed)
					% (sizeof(pieces) / sizeof(pieces[0]))]);
		} else {
			/* A word over chat_word_cap's 1,000 characters. */
			chat_buf_addf(&text, "_%s_ x", long_word);
		}
		for (size_t k = 0; k < 2; k++) {
			analyze(pairs[k][0], text.data, &a);
			analyze(pairs[k][1], text.data, &b);
			cr_assert_str_eq(a.data, b.data, "%s of \"%s\"",
					 pairs[k][0], text.data);
			nonempty += a.len > 0;
		}
	}
	/* Most of them have words: the comparison is not of empty lists. */
	cr_assert_gt(nonempty, NFIXED + NRANDOM);
	chat_buf_release(&text);
	chat_buf_release(&a);
	chat_buf_release(&b);
}

/* Create the run's index and fixture; 0 or -1 with the reason printed. */
static int setup(void)
{
	struct chat_search_doc docs[NFIX];
	bool failed[NFIX];
	char path[300];
	struct chat_buf resp;
	long status = 0;
	int rc = -1;

	open_es();
	chat_buf_init(&resp);
	if (chat_search_ensure_index(es)) {
		fprintf(stderr, "test_search_lib: the search engine at %s: "
			"%s\n", cfg.es_url, es->errstr);
		goto out;
	}
	for (size_t i = 0; i < NFIX; i++)
		docs[i] = doc(fixtures[i].app, fixtures[i].chat,
			      fixtures[i].number,
			      fixtures[i].body ? fixtures[i].body : long_word);
	if (chat_search_bulk(es, docs, NFIX, false, failed)) {
		fprintf(stderr, "test_search_lib: bulk: %s\n", es->errstr);
		goto out;
	}
	for (size_t i = 0; i < NFIX; i++)
		if (failed[i]) {
			fprintf(stderr, "test_search_lib: fixture %zu: %s\n",
				i, es->errstr);
			goto out;
		}
	snprintf(path, sizeof(path), "/%s/_refresh", cfg.es_index);
	if (chat_es_request(es, "POST", path, NULL, 0, &status, &resp) ||
	    status != 200) {
		fprintf(stderr, "test_search_lib: refresh failed\n");
		goto out;
	}
	rc = 0;
out:
	chat_buf_release(&resp);
	close_es();
	return rc;
}

int main(int argc, char *argv[])
{
	struct criterion_test_set *tests = criterion_initialize();
	char alias[100];
	const char *url = getenv("CHAT_ES_URL");
	int result = 1;

	if (!url || !*url)
		setenv("CHAT_ES_URL", DEFAULT_URL, 1);
	snprintf(alias, sizeof(alias), "chat-test-search-%ld-%ld",
		 (long)getpid(), (long)time(NULL));
	setenv("CHAT_ES_INDEX", alias, 1);
	if (criterion_handle_args(argc, argv, true)) {
		bool ready = setup() == 0;

		if (ready)
			result = !criterion_run_all_tests(tests);
		open_es();
		if (drop_alias(es, alias) && ready)
			fprintf(stderr, "test_search_lib: could not delete the "
				"indices of %s\n", alias);
		close_es();
	} else {
		result = 0;
	}
	criterion_finalize(tests);
	return result;
}
