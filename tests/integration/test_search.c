/*
 * test_search.c - GET .../messages/search end to end through nginx, as in
 * the contract (../shared/API.md, Search and "Details that follow";
 * nginx/api-docs/openapi.json),
 * against the private stack with its worker and search engine:
 *
 *   search          matching (infix, prefix-only short words, case, AND),
 *                   scope (that chat only), ranking, limit, bad and hostile
 *                   queries, and freshness: searchable within 2 s of the
 *                   202, edits within 1 s, deletes of messages and chats
 *   search_faults   the engine stopped for 15 s during creates, then
 *                   restarted with tests/harness/stack.sh start
 *   reindex         jobs/reindex: same results before and after the swap,
 *                   nothing lost when the API writes during the rebuild,
 *                   and its failures
 *
 * The tests of search_faults and reindex hold an exclusive lock (see
 * tlock), the others a shared one: no search test runs while the engine
 * is down or the alias moves.  Every test works in applications of its
 * own.  Measured times are printed on stderr ("test_search: ...").
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "buf.h"
#include "client.h"
#include "support_search.h"
#include "xalloc.h"

static void shared_lock(void)
{
	tlock(false);
}

static void exclusive_lock(void)
{
	tlock(true);
}

/* After a fault test, whatever happened: the engine is up again. */
static void heal(void)
{
	char *out = NULL;

	if (tes_pid() && tes_healthy())
		return;
	if (tstack_start(&out) != 0)
		fprintf(stderr, "test_search: stack.sh start failed:\n%s\n",
			out);
	free(out);
}

/*
 * A reindex that a failed test left running (or stopped): end it, so that
 * it cannot hold the staging alias when the next test runs one.
 */
static pid_t running_reindex;

static void reindex_fini(void)
{
	if (running_reindex > 0) {
		kill(running_reindex, SIGCONT);
		kill(running_reindex, SIGTERM);
		waitpid(running_reindex, NULL, 0);
	}
	running_reindex = 0;
}

TestSuite(search, .init = shared_lock, .timeout = 180);
TestSuite(search_faults, .init = exclusive_lock, .fini = heal,
	  .timeout = 400);
TestSuite(reindex, .init = exclusive_lock, .fini = reindex_fini,
	  .timeout = 400);

#define NUMS(...) ((const uint64_t[]){ __VA_ARGS__ })
#define COUNT(...) (sizeof(NUMS(__VA_ARGS__)) / sizeof(uint64_t))

/* Poll until q finds exactly these messages (set): the first check. */
#define WAIT_FOR(c, q, ...) \
	wait_for(c, q, NUMS(__VA_ARGS__), COUNT(__VA_ARGS__), 5000)
/* q finds exactly these messages (set), now. */
#define EXPECT(c, q, ...) \
	expect(c, q, NUMS(__VA_ARGS__), COUNT(__VA_ARGS__))
#define EXPECT_NONE(c, q) expect(c, q, NULL, 0)

static char *list_text(const uint64_t *v, size_t n)
{
	struct chat_buf b;

	chat_buf_init(&b);
	chat_buf_addch(&b, '[');
	for (size_t i = 0; i < n; i++)
		chat_buf_addf(&b, "%s%llu", i ? "," : "",
			      (unsigned long long)v[i]);
	chat_buf_addch(&b, ']');
	return chat_buf_detach(&b, NULL);
}

static long wait_for(const struct tchat *c, const char *q,
		     const uint64_t *want, size_t n, unsigned timeout_ms)
{
	long ms = tsearch_wait(c, q, want, n, timeout_ms);

	if (ms < 0) {
		uint64_t got[1000];
		size_t k = tsearch_q(c, q, got, 1000);
		char *w = list_text(want, n), *g = list_text(got, k);

		cr_assert_fail("search '%s' in %s: want %s, still %s after "
			       "%u ms", q, c->messages, w, g, timeout_ms);
	}
	return ms;
}

static void expect(const struct tchat *c, const char *q,
		   const uint64_t *want, size_t n)
{
	uint64_t got[1000];
	size_t k = tsearch_q(c, q, got, 1000);
	bool ok = k == n;

	for (size_t i = 0; ok && i < n; i++) {
		size_t j = 0;

		while (j < k && got[j] != want[i])
			j++;
		ok = j < k;
	}
	if (!ok) {
		char *w = list_text(want, n), *g = list_text(got, k);

		cr_assert_fail("search '%s': want %s, got %s", q, w, g);
	}
}

/* The contract's 400 for a search with this raw query string. */
static void bad_request(const struct tchat *c, const char *q_raw,
			const char *extra)
{
	struct http_res *res = tsearch_raw(c, q_raw, extra);

	http_assert_error(res, 400, "bad_request");
	http_res_free(res);
}

static void patch_body(const struct tchat *c, const char *method,
		       uint64_t number, const char *body)
{
	struct json_object *obj = json_object_new_object();
	char *path = tchat_message_path(c, number);
	struct http_res *res;

	json_object_object_add(obj, "body", json_object_new_string(body));
	res = http_send(method, path,
			json_object_to_json_string_ext(obj,
						       JSON_C_TO_STRING_PLAIN));
	json_object_put(obj);
	cr_assert_eq(res->status, 200, "%s %s: %ld %.300s", method, path,
		     res->status, res->body);
	http_assert_contract(res);
	cr_assert_str_eq(http_json_str(res, "body"), body);
	http_res_free(res);
	free(path);
}

static void delete_path(const char *path)
{
	struct http_res *res = http_send("DELETE", path, NULL);

	cr_assert_eq(res->status, 204, "DELETE %s: %ld %.300s", path,
		     res->status, res->body);
	http_assert_contract(res);
	http_res_free(res);
}

static void delete_message(const struct tchat *c, uint64_t number)
{
	char *path = tchat_message_path(c, number);

	delete_path(path);
	free(path);
}

/* Matching ------------------------------------------------------------- */

Test(search, infix_for_three_or_more_characters)
{
	static const char *const bodies[] = {
		"Hello world", "yellow submarine", "nothing here", NULL,
	};
	uint64_t n[3];
	struct tchat c;

	tchat_new(&c, NULL, "search infix");
	tchat_post_all(&c, bodies, n);
	/* All three indexed (they may go in different batches). */
	WAIT_FOR(&c, "ell", n[0], n[1]);
	WAIT_FOR(&c, "ing", n[2]);
	EXPECT(&c, "hello", n[0]);
	EXPECT(&c, "orl", n[0]);
	EXPECT(&c, "ubmarin", n[1]);
	EXPECT(&c, "ello orl", n[0]);
	EXPECT_NONE(&c, "xyz");
	EXPECT_NONE(&c, "helloworld");	/* no match across words */
	EXPECT_NONE(&c, "lowor");
	tchat_free(&c);
}

/*
 * Unicode's word rules for `_`: it joins the characters around it, in the
 * query and in the bodies alike.
 */
Test(search, underscore_joins_a_word)
{
	static const char *const bodies[] = {
		"hello world", "h_llo there", "snake_case_name here",
		"tail_ end", "h llo apart", NULL,
	};
	uint64_t n[5];
	struct tchat c;

	tchat_new(&c, NULL, "search underscore");
	tchat_post_all(&c, bodies, n);
	/* Every message indexed first. */
	WAIT_FOR(&c, "llo", n[0], n[1], n[4]);
	WAIT_FOR(&c, "case", n[2]);
	WAIT_FOR(&c, "tail", n[3]);
	EXPECT(&c, "h_llo", n[1]);	/* not hello, not "h llo" */
	EXPECT(&c, "hello", n[0]);	/* not h_llo */
	EXPECT(&c, "H_LLO", n[1]);
	EXPECT(&c, "h_l", n[1]);
	EXPECT(&c, "_llo", n[0], n[1], n[4]);	/* leading _ separates */
	EXPECT(&c, "case_name", n[2]);
	EXPECT(&c, "e_c", n[2]);	/* inside snake_case_name */
	EXPECT(&c, "snake_case_name", n[2]);
	EXPECT(&c, "sn", n[2]);
	EXPECT(&c, "tail_", n[3]);	/* a trailing _ separates: tail */
	EXPECT_NONE(&c, "o_w");		/* hello world has no o_w */
	EXPECT_NONE(&c, "l_e");		/* tail_ end: _ was a separator */
	EXPECT_NONE(&c, "h_llo_there");
	tchat_free(&c);
}

Test(search, short_words_match_only_at_the_start)
{
	static const char *const bodies[] = {
		"Hello world", "lotus flower", "x marks the spot", NULL,
	};
	uint64_t n[3];
	struct tchat c;

	tchat_new(&c, NULL, "search prefix");
	tchat_post_all(&c, bodies, n);
	/* All three indexed (they may go in different batches). */
	WAIT_FOR(&c, "he", n[0]);	/* not "the" */
	WAIT_FOR(&c, "th", n[2]);
	WAIT_FOR(&c, "lo", n[1]);	/* not hello, not flower */
	EXPECT(&c, "h", n[0]);
	EXPECT(&c, "wo", n[0]);
	EXPECT(&c, "fl", n[1]);
	EXPECT(&c, "l", n[1]);
	EXPECT(&c, "x", n[2]);
	EXPECT(&c, "sp", n[2]);
	EXPECT_NONE(&c, "ow");		/* inside flower */
	EXPECT_NONE(&c, "rk");
	EXPECT_NONE(&c, "o");
	tchat_free(&c);
}

Test(search, case_does_not_matter)
{
	static const char *const bodies[] = {
		"MiXeD CaSe WoRdS", "Cr\xc3\xa8me Br\xc3\xbbl\xc3\xa9" "e",
		"\xc3\x89" "COLE normale", NULL,
	};
	uint64_t n[3];
	struct tchat c;

	tchat_new(&c, NULL, "search case");
	tchat_post_all(&c, bodies, n);
	WAIT_FOR(&c, "mixed", n[0]);
	WAIT_FOR(&c, "normale", n[2]);
	WAIT_FOR(&c, "cr\xc3\xa8me", n[1]);			/* crème */
	EXPECT(&c, "CASE", n[0]);
	EXPECT(&c, "wOrDs", n[0]);
	EXPECT(&c, "IXE", n[0]);
	EXPECT(&c, "Mi", n[0]);
	EXPECT(&c, "CR\xc3\x88ME", n[1]);			/* CRÈME */
	EXPECT(&c, "BR\xc3\x9bL", n[1]);			/* BRÛL */
	EXPECT(&c, "\xc3\xa9" "cole", n[2]);			/* école */
	EXPECT(&c, "\xc3\xa9" "c", n[2]);			/* éc */
	EXPECT(&c, "NORMALE", n[2]);
	tchat_free(&c);
}

/*
 * Greek has two small sigmas, σ and the final ς, and one capital, Σ:
 * either way round, in any case, the same letter.
 */
Test(search, case_does_not_matter_in_greek)
{
	static const char *const bodies[] = {
		"\xce\x9a\xce\x9f\xce\xa3\xce\x9c\xce\x9f\xce\xa3",	/* ΚΟΣΜΟΣ */
		"\xce\xbf\xce\xb4\xce\xbf\xcf\x82 \xce\xbd\xce\xb5\xce\xb1",	/* οδος νεα */
		NULL,
	};
	uint64_t n[2];
	struct tchat c;

	tchat_new(&c, NULL, "search greek");
	tchat_post_all(&c, bodies, n);
	WAIT_FOR(&c, "\xce\xbd\xce\xb5\xce\xb1", n[1]);		/* νεα */
	WAIT_FOR(&c, "\xce\x9a\xce\x9f\xce\xa3", n[0]);		/* ΚΟΣ */
	/* κοσμος, κοσμοσ, μος */
	EXPECT(&c, "\xce\xba\xce\xbf\xcf\x83\xce\xbc\xce\xbf\xcf\x82", n[0]);
	EXPECT(&c, "\xce\xba\xce\xbf\xcf\x83\xce\xbc\xce\xbf\xcf\x83", n[0]);
	EXPECT(&c, "\xce\xbc\xce\xbf\xcf\x82", n[0]);
	/* ΟΔΟΣ, οδοσ, ΔΟΣ */
	EXPECT(&c, "\xce\x9f\xce\x94\xce\x9f\xce\xa3", n[1]);
	EXPECT(&c, "\xce\xbf\xce\xb4\xce\xbf\xcf\x83", n[1]);
	EXPECT(&c, "\xce\x94\xce\x9f\xce\xa3", n[1]);
	tchat_free(&c);
}

Test(search, every_word_must_match)
{
	static const char *const bodies[] = {
		"quick brown fox", "quick red fox", "lazy brown dog", NULL,
	};
	uint64_t n[3];
	struct tchat c;

	tchat_new(&c, NULL, "search and");
	tchat_post_all(&c, bodies, n);
	WAIT_FOR(&c, "quick fox", n[0], n[1]);
	WAIT_FOR(&c, "lazy", n[2]);
	EXPECT(&c, "brown quick", n[0]);
	EXPECT(&c, "qui bro", n[0]);
	EXPECT(&c, "br do", n[2]);
	EXPECT(&c, "quick quick", n[0], n[1]);
	EXPECT(&c, "  fox\t\tquick  ", n[0], n[1]);
	EXPECT_NONE(&c, "quick dog");
	EXPECT_NONE(&c, "fox brown lazy");
	tchat_free(&c);
}

/* A search of raw query string `q_raw` answers 200 with message `n`. */
static void finds_raw(const struct tchat *c, const char *q_raw, uint64_t n)
{
	struct http_res *res = tsearch_raw(c, q_raw, NULL);
	char want[32];

	snprintf(want, sizeof(want), "\"number\":%llu,", (unsigned long long)n);
	cr_assert_eq(res->status, 200, "%.80s...: %ld %.200s", q_raw,
		     res->status, res->body);
	http_assert_contract(res);
	cr_assert(strstr(res->body, want), "%.80s...: %.200s", q_raw,
		  res->body);
	http_res_free(res);
}

/*
 * A query of more distinct words than a search uses is refused, not
 * searched for part of them (every word must match).
 */
Test(search, at_most_128_words)
{
	struct chat_buf body, q;
	uint64_t n;
	struct tchat c;

	chat_buf_init(&body);
	chat_buf_init(&q);
	for (int i = 1; i <= 128; i++) {
		chat_buf_addf(&body, "%sw%03d", i > 1 ? " " : "", i);
		chat_buf_addf(&q, "%sw%03d", i > 1 ? "%20" : "", i);
	}
	tchat_new(&c, NULL, "search words");
	n = tchat_post(&c, body.data);
	WAIT_FOR(&c, "w001", n);
	finds_raw(&c, q.data, n);
	/* Repeated words count once (ASCII case aside). */
	chat_buf_adds(&q, "%20w001%20W128");
	finds_raw(&c, q.data, n);
	/* One more, last or first: a 400 either way. */
	chat_buf_adds(&q, "%20zzzz");
	bad_request(&c, q.data, NULL);
	chat_buf_reset(&q);
	chat_buf_adds(&q, "zzzz");
	for (int i = 1; i <= 128; i++)
		chat_buf_addf(&q, "%%20w%03d", i);
	bad_request(&c, q.data, NULL);
	chat_buf_release(&q);
	chat_buf_release(&body);
	tchat_free(&c);
}

Test(search, only_messages_of_that_chat)
{
	struct tchat c, other_chat, other_app;
	uint64_t a[2], b[3], d[4];

	tchat_new(&c, NULL, "search scope");
	tchat_new(&other_chat, c.token, NULL);
	tchat_new(&other_app, NULL, "search scope decoy");
	for (int i = 0; i < 2; i++)
		a[i] = tchat_post(&c, "zebra mango kiwi");
	for (int i = 0; i < 3; i++)
		b[i] = tchat_post(&other_chat, "zebra mango kiwi");
	for (int i = 0; i < 4; i++)
		d[i] = tchat_post(&other_app, "zebra mango kiwi");
	/* Numbers repeat across chats: the counts tell them apart. */
	WAIT_FOR(&c, "zebra", a[0], a[1]);
	WAIT_FOR(&other_chat, "zebra", b[0], b[1], b[2]);
	WAIT_FOR(&other_app, "zebra", d[0], d[1], d[2], d[3]);
	EXPECT(&c, "mango kiwi", a[0], a[1]);
	EXPECT(&c, "ze", a[0], a[1]);
	tchat_free(&c);
	tchat_free(&other_chat);
	tchat_free(&other_app);
}

Test(search, best_match_first)
{
	static const char *const bodies[] = {
		"concatenate strings", "my cat sleeps", "category list", "cat",
		NULL,
	};
	uint64_t n[4], got[10];
	struct tchat c;
	size_t k;

	tchat_new(&c, NULL, "search ranking");
	tchat_post_all(&c, bodies, n);
	WAIT_FOR(&c, "cat", n[0], n[1], n[2], n[3]);
	/* Whole-word hits before words that only contain "cat". */
	k = tsearch_q(&c, "cat", got, 10);
	cr_assert_eq(k, 4);
	cr_assert((got[0] == n[3] && got[1] == n[1]) ||
		  (got[0] == n[1] && got[1] == n[3]),
		  "whole-word matches not first: %s", list_text(got, k));
	EXPECT(&c, "cat sleeps", n[1]);
	tchat_free(&c);
}

Test(search, limit)
{
	static const char *const bad[] = {
		"limit=0", "limit=-1", "limit=1001", "limit=abc", "limit=1.5",
		"limit=", "limit=%201", "limit=0x10", "limit=+5", "limit=05",
		"limit=99999999999999999999",
	};
	uint64_t all[30], got[30];
	struct http_res *res;
	struct tchat c;
	char body[64];
	size_t k;

	tchat_new(&c, NULL, "search limit");
	for (int i = 0; i < 25; i++) {
		snprintf(body, sizeof(body), "repeat item %d", i + 1);
		all[i] = tchat_post(&c, body);
	}
	cr_assert_geq(wait_for(&c, "repeat", all, 25, 5000), 0);
	k = tsearch_q(&c, "repeat", all, 30);	/* ranked, limit 1000 */
	cr_assert_eq(k, 25);

	res = tsearch(&c, "repeat", NULL);
	cr_assert_eq(tsearch_numbers(res, got, 30), 20, "default limit 20");
	cr_assert_arr_eq(got, all, 20 * sizeof(uint64_t),
			 "the default page is not the top 20");
	http_res_free(res);
	res = tsearch(&c, "repeat", "limit=5");
	cr_assert_eq(tsearch_numbers(res, got, 30), 5);
	cr_assert_arr_eq(got, all, 5 * sizeof(uint64_t),
			 "limit=5 is not the top 5");
	http_res_free(res);
	res = tsearch(&c, "repeat", "limit=1");
	cr_assert_eq(tsearch_numbers(res, NULL, 0), 1);
	http_res_free(res);
	res = tsearch(&c, "repeat", "limit=1000");
	cr_assert_eq(tsearch_numbers(res, NULL, 0), 25);
	http_res_free(res);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bad_request(&c, "repeat", bad[i]);
		bad_request(&c, "nomatchatall", bad[i]);
	}
	tchat_free(&c);
}

Test(search, q_missing_or_blank)
{
	struct tchat c;

	tchat_new(&c, NULL, "search q");
	tchat_post(&c, "anything at all");
	bad_request(&c, NULL, NULL);
	bad_request(&c, NULL, "limit=5");
	bad_request(&c, "", NULL);
	bad_request(&c, "%20", NULL);
	bad_request(&c, "%20%20%09%0A", NULL);
	/* Unicode's white space: no-break, ideographic, line separator. */
	bad_request(&c, "%C2%A0", NULL);
	bad_request(&c, "%E3%80%80%E2%80%A8%20", NULL);
	bad_request(&c, "", "limit=5");
	tchat_free(&c);
}

Test(search, unknown_chat_or_application)
{
	struct tchat c, fake;
	struct http_res *res;

	tchat_new(&c, NULL, "search unknown");
	fake.token = c.token;
	fake.messages = http_path("/applications/%s/chats/999999/messages",
				  c.token);
	res = tsearch(&fake, "anything", NULL);
	http_assert_error(res, 404, "not_found");
	http_res_free(res);
	free(fake.messages);
	fake.messages = xstrdup("/applications/AAAAAAAAAAAAAAAAAAAAAAAAAAAA"
				"/chats/1/messages");
	res = tsearch(&fake, "anything", NULL);
	http_assert_error(res, 404, "not_found");
	http_res_free(res);
	free(fake.messages);
	tchat_free(&c);
}

/* Hostile input ---------------------------------------------------------- */

/* One query and what it must find: NULL `find` means "anything sane". */
struct hostile {
	const char *q;		/* raw, percent-encoded here unless `raw` */
	bool raw;
	const int *find;	/* indexes into the bodies, -1 ends */
	bool exact;		/* exactly `find`, else at least */
};

#define FIND(...) ((const int[]){ __VA_ARGS__, -1 })
static const int none[] = { -1 };

Test(search, hostile_queries_are_plain_text)
{
	static const char *const bodies[] = {
		/* 0 */ "Tom and Jerry",
		/* 1 */ "cats or dogs",
		/* 2 */ "this is not it",
		/* 3 */ "title x marks the spot",
		/* 4 */ "I \xe2\x9d\xa4\xef\xb8\x8f pizza \xf0\x9f\x8d\x95",
		/* 5 */ "back\\slash and \"quotes\"",
		/* 6 */ "path/to/file",
		/* 7 */ "a*b?c",
		/* 8 */ "price: (100) {json} [array]",
		NULL,
	};
	const struct hostile cases[] = {
		{ "\"", false, none, true },
		{ "'", false, none, true },
		{ "\\", false, none, true },
		{ "\\\\", false, none, true },
		{ "*", false, none, true },
		{ "?", false, none, true },
		{ "*:*", false, none, true },
		{ ".*", false, none, true },
		{ "{}", false, none, true },
		{ "{\"query\":{\"match_all\":{}}}", false, none, true },
		{ "(", false, none, true },
		{ ")", false, none, true },
		{ "/", false, none, true },
		{ ":", false, none, true },
		{ "~", false, none, true },
		{ "^", false, none, true },
		{ "!", false, none, true },
		{ "&&", false, none, true },
		{ "||", false, none, true },
		{ "-", false, none, true },
		{ "+", false, none, true },
		{ "OR", false, FIND(1), true },
		{ "AND", false, FIND(0, 5), true },
		{ "NOT", false, FIND(2), true },
		{ "cats OR dogs", false, FIND(1), true },
		{ "Tom AND Jerry", false, FIND(0), true },
		{ "NOT Tom", false, none, true },
		{ "title:x", false, FIND(3), true },
		{ "(100)", false, FIND(8), true },
		{ "{json}", false, FIND(8), true },
		{ "[array]", false, FIND(8), true },
		{ "path/to/file", false, FIND(6), true },
		{ "a*b?c", false, FIND(7), false },
		{ "\"quotes\"", false, FIND(5), true },
		{ "back\\slash", false, FIND(5), true },
		{ "-cats", false, FIND(1), true },
		{ "+cats", false, FIND(1), true },
		{ "cat*", false, FIND(1), true },
		{ "cats~2", false, none, true },
		{ "cats^10", false, none, true },
		{ "pizza \xf0\x9f\x8d\x95", false, FIND(4), true },
		{ "\xe2\x9d\xa4\xef\xb8\x8f", false, none, true },
		{ "\xf0\x9f\x8d\x95", false, none, true },
		{ "<script>alert(1)</script>", false, none, true },
		{ "'; DROP TABLE messages; --", false, none, true },
		{ "/../../etc/passwd", false, none, true },
		{ "%FF%FE", true, NULL, false },
		{ "%C3%28", true, NULL, false },
		{ "%ZZ", true, NULL, false },
		{ "%", true, NULL, false },
		{ "tom%E2%80%8Bjerry", true, NULL, false },
	};
	struct tchat c;
	uint64_t n[9];
	struct chat_buf q;

	tchat_new(&c, NULL, "search hostile");
	tchat_post_all(&c, bodies, n);
	for (size_t i = 0; bodies[i]; i++)
		WAIT_FOR(&c, bodies[i][0] == 'I' ? "pizza" :
			     bodies[i][0] == 'a' ? "a b c" : bodies[i], n[i]);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct hostile *h = &cases[i];
		char *enc = h->raw ? xstrdup(h->q)
				   : turl_encode(h->q, strlen(h->q));
		struct http_res *res = tsearch_raw(&c, enc, "limit=1000");
		uint64_t got[20];
		size_t k;

		cr_assert(res->status == 200 || res->status == 400,
			  "q=%s: %ld %.300s", enc, res->status, res->body);
		if (res->status == 400) {
			cr_assert(h->raw, "q=%s: a plain query refused: %.300s",
				  enc, res->body);
			http_assert_error(res, 400, "bad_request");
		} else {
			k = tsearch_numbers(res, got, 20);
			for (size_t j = 0; h->find && h->find[j] >= 0; j++) {
				size_t m = 0;

				while (m < k && got[m] != n[h->find[j]])
					m++;
				cr_assert_lt(m, k, "q=%s: message %llu "
					     "missing from %s", h->q,
					     (unsigned long long)n[h->find[j]],
					     list_text(got, k));
			}
			if (h->find && h->exact) {
				size_t want = 0;

				while (h->find[want] >= 0)
					want++;
				cr_assert_eq(k, want, "q=%s: %s", h->q,
					     list_text(got, k));
			}
		}
		http_res_free(res);
		free(enc);
	}

	/* A NUL byte, anywhere: refused. */
	bad_request(&c, "%00", NULL);
	bad_request(&c, "tom%00", NULL);

	/*
	 * Very long: one 6000-letter word; 300 distinct words, more than a
	 * search uses (at_most_128_words); 300 of the same.
	 */
	chat_buf_init(&q);
	for (int i = 0; i < 6000; i++)
		chat_buf_addch(&q, 'a');
	EXPECT_NONE(&c, q.data);
	chat_buf_reset(&q);
	for (int i = 0; i < 300; i++)
		chat_buf_addf(&q, "w%d%%20", i);
	bad_request(&c, q.data, NULL);
	chat_buf_reset(&q);
	for (int i = 0; i < 300; i++)
		chat_buf_adds(&q, "tom ");
	EXPECT(&c, q.data, n[0]);
	/* Longer than nginx takes in a request line: a 4xx, never a 5xx. */
	chat_buf_reset(&q);
	for (int i = 0; i < 20000; i++)
		chat_buf_addch(&q, 'b');
	{
		struct http_res *res = tsearch(&c, q.data, NULL);

		cr_assert(res->status >= 400 && res->status < 500,
			  "a 20000-byte q: %ld", res->status);
		http_res_free(res);
	}
	chat_buf_release(&q);
	cr_assert_geq(tdb_int("SELECT COUNT(*) FROM messages", NULL), 9,
		      "the messages table is still there");
	tchat_free(&c);
}

Test(search, no_letter_or_digit_finds_nothing)
{
	static const char *const queries[] = {
		"!!!", "---", "...", "\xf0\x9f\x98\x80\xf0\x9f\x98\x80",
		"\xc2\xbf?", "\xe2\x80\x9c\xe2\x80\x9d",
		"\xe2\x80\x94 \xe2\x80\x93",
		"@#$%^&*()", "\xe2\x9d\xa4\xef\xb8\x8f", "_",
	};
	uint64_t n;
	struct tchat c;

	tchat_new(&c, NULL, "search punctuation");
	n = tchat_post(&c, "!!! --- ... \xf0\x9f\x98\x80\xf0\x9f\x98\x80 "
		       "\xc2\xbf? \xe2\x80\x9c\xe2\x80\x9d @#$%^&*() _ word");
	WAIT_FOR(&c, "word", n);
	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++)
		EXPECT_NONE(&c, queries[i]);
	tchat_free(&c);
}

/*
 * A body that is mostly one long run of punctuation once overflowed the
 * engine's regex stack in the mapping's char filter, which killed its
 * write threads: indexing hung for every message after it.
 */
Test(search, long_run_of_punctuation_is_indexed)
{
	struct chat_buf body;
	struct tchat c;
	uint64_t a, b;

	tchat_new(&c, NULL, "search punctuation run");
	chat_buf_init(&body);
	for (int i = 0; i < 30000; i++)
		chat_buf_addch(&body, '!');
	chat_buf_adds(&body, " needle ");
	for (int i = 0; i < 30000; i++)
		chat_buf_addch(&body, '?');
	a = tchat_post(&c, body.data);
	b = tchat_post(&c, "needle after it");
	WAIT_FOR(&c, "needle", a, b);
	EXPECT(&c, "after", b);
	chat_buf_release(&body);
	tchat_free(&c);
}

/* Freshness ------------------------------------------------------------ */

Test(search, searchable_within_2s_of_the_202)
{
	struct tchat c;
	long worst = 0, total = 0;
	char word[64], body[128];

	tchat_new(&c, NULL, "search fresh");
	for (int i = 0; i < 5; i++) {
		uint64_t n;
		long ms;

		snprintf(word, sizeof(word), "fresh%dz%ld", i, (long)getpid());
		snprintf(body, sizeof(body), "just now: %s arrived", word);
		n = tchat_post(&c, body);
		ms = tsearch_wait(&c, word, &n, 1, 2000);
		cr_assert_geq(ms, 0, "message %llu not searchable within "
			      "2 s of its 202", (unsigned long long)n);
		worst = ms > worst ? ms : worst;
		total += ms;
	}
	fprintf(stderr, "test_search: searchable after the 202: mean %ld ms, "
		"worst %ld ms (5 messages)\n", total / 5, worst);
	tchat_free(&c);
}

/* The edit is seen within 1 s of the update's answer. */
static long edit_visible(const struct tchat *c, const char *method,
			 uint64_t n, const char *body, const char *now_word,
			 const char *gone_word)
{
	uint64_t start;
	long ms;

	patch_body(c, method, n, body);
	start = now_ms();
	cr_assert_geq(tsearch_wait(c, now_word, &n, 1, 1000), 0,
		      "%s: new words not found within 1 s", method);
	cr_assert_geq(tsearch_wait(c, gone_word, NULL, 0, 1000), 0,
		      "%s: old words still found after 1 s", method);
	ms = (long)(now_ms() - start);
	cr_assert_leq(ms, 1100, "%s: %ld ms", method, ms);
	return ms;
}

Test(search, edits_seen_within_1s)
{
	struct tchat c;
	uint64_t n, other;
	long patch_ms, put_ms;

	tchat_new(&c, NULL, "search edit");
	n = tchat_post(&c, "oldalpha bravo");
	other = tchat_post(&c, "unrelated bravo");
	WAIT_FOR(&c, "bravo", n, other);
	patch_ms = edit_visible(&c, "PATCH", n, "newcharlie delta",
				"newcharlie", "oldalpha");
	EXPECT_NONE(&c, "bravo newcharlie");
	EXPECT(&c, "bravo", other);
	put_ms = edit_visible(&c, "PUT", n, "putecho foxtrot", "putecho",
			      "newcharlie");
	EXPECT(&c, "foxtrot", n);
	fprintf(stderr, "test_search: edit visible after PATCH %ld ms, "
		"PUT %ld ms\n", patch_ms, put_ms);
	tchat_free(&c);
}

Test(search, deleted_message_is_gone)
{
	struct tchat c;
	uint64_t a, b;
	struct http_res *res;
	char *path;
	long ms;

	tchat_new(&c, NULL, "search delete message");
	a = tchat_post(&c, "gonefish alpha");
	b = tchat_post(&c, "gonefish bravo");
	WAIT_FOR(&c, "gonefish", a, b);
	delete_message(&c, a);
	ms = wait_for(&c, "gonefish", &b, 1, 1000);
	EXPECT_NONE(&c, "alpha");
	path = tchat_message_path(&c, a);
	res = http_get(path);
	http_assert_error(res, 404, "not_found");
	http_res_free(res);
	free(path);
	fprintf(stderr, "test_search: deleted message gone after %ld ms\n",
		ms);
	tchat_free(&c);
}

static bool chat_docs_gone(void *arg)
{
	const uint64_t *key = arg;

	return tes_count(NULL, key[0], key[1]) == 0;
}

Test(search, deleted_chat_answers_404_at_once)
{
	struct tchat c, sibling;
	uint64_t n[3], s, key[2];
	struct http_res *res;
	char *path;

	tchat_new(&c, NULL, "search delete chat");
	tchat_new(&sibling, c.token, NULL);
	for (int i = 0; i < 3; i++)
		n[i] = tchat_post(&c, "chatgone word");
	s = tchat_post(&sibling, "chatgone word");
	WAIT_FOR(&c, "chatgone", n[0], n[1], n[2]);
	WAIT_FOR(&sibling, "chatgone", s);
	key[0] = tapp_id(c.token);
	key[1] = c.number;
	path = http_path("/applications/%s/chats/%llu", c.token,
			 (unsigned long long)c.number);
	delete_path(path);
	free(path);
	res = tsearch(&c, "chatgone", NULL);
	http_assert_error(res, 404, "not_found");
	http_res_free(res);
	res = tsearch(&c, "word", "limit=5");
	http_assert_error(res, 404, "not_found");
	http_res_free(res);
	/* The sibling keeps its message; the index drops the chat's. */
	EXPECT(&sibling, "chatgone", s);
	cr_assert(wait_until(chat_docs_gone, key, 10000),
		  "the deleted chat's messages are still indexed after 10 s");
	tchat_free(&c);
	tchat_free(&sibling);
}

/* The search engine down for 15 s -------------------------------------- */

/*
 * Long enough for the indexer to retry at its longest backoff (5 s, after
 * about 8 s of failures) while creates, an edit and a delete wait for it.
 */
#define OUTAGE_MS 15000

static const char *const stack_parts[] = {
	"mysql/mysqld.pid", "run/redis.pid", "run/worker.1.pid",
	"run/nginx.pid", "run/messages.pid", "run/chats.pid",
	"run/applications.pid", "run/health.pid", "run/sync-timer.pid",
};
#define NPARTS (sizeof(stack_parts) / sizeof(stack_parts[0]))

/*
 * Milliseconds until a search of `c` answers 200 again after the engine
 * came back: it answers before its shards are ready, and until then a
 * search is the contract's 503 (retry later), never anything else.
 */
static long wait_search_answers(const struct tchat *c, unsigned timeout_ms)
{
	uint64_t start = now_ms();

	for (;;) {
		struct http_res *res = tsearch(c, "outage", NULL);
		long status = res->status;

		if (status != 200)
			http_assert_error(res, 503, "service_unavailable");
		http_res_free(res);
		if (status == 200)
			return (long)(now_ms() - start);
		cr_assert_lt(now_ms() - start, timeout_ms,
			     "searches still 503 %u ms after the engine is back",
			     timeout_ms);
		usleep(100000);
	}
}

/*
 * Part i's pid file; on a Redis Cluster stack (CHAT_REDIS_NODES), Redis's
 * is its first node's.  The caller frees.
 */
static char *part_pidfile(size_t i)
{
	const char *nodes = getenv("CHAT_REDIS_NODES");
	const char *colon = nodes ? strchr(nodes, ':') : NULL;
	char rel[64];

	if (strcmp(stack_parts[i], "run/redis.pid") || !colon)
		return tstack_pidfile(stack_parts[i]);
	snprintf(rel, sizeof(rel), "run/redis-%.*s.pid",
		 (int)strcspn(colon + 1, ","), colon + 1);
	return tstack_pidfile(rel);
}

static void assert_health(long status, const char *es_state)
{
	struct http_res *res = http_get("/health");

	cr_assert_eq(res->status, status, "GET /health: %ld %.300s",
		     res->status, res->body);
	http_assert_contract(res);
	cr_assert_str_eq(http_json_str(res, "mysql"), "ok", "%.300s",
			 res->body);
	cr_assert_str_eq(http_json_str(res, "redis"), "ok", "%.300s",
			 res->body);
	cr_assert_str_eq(http_json_str(res, "elasticsearch"), es_state,
			 "%.300s", res->body);
	http_res_free(res);
}

Test(search_faults, engine_down_during_creates)
{
	struct tchat c;
	uint64_t made[200], patched, doomed, t_down, t_back;
	char *before[NPARTS], *out = NULL, body[64];
	size_t nmade = 0, searches = 0;
	pid_t old_pid;
	long ms, ms_up;

	tchat_new(&c, NULL, "search outage");
	made[nmade++] = tchat_post(&c, "outage baseline");
	made[nmade++] = patched = tchat_post(&c, "outage patchme oldword");
	doomed = tchat_post(&c, "outage deleteme");
	WAIT_FOR(&c, "outage", made[0], made[1], doomed);
	for (size_t i = 0; i < NPARTS; i++)
		before[i] = part_pidfile(i);
	old_pid = tes_pid();

	tes_stop();
	t_down = now_ms();
	for (int i = 0; now_ms() - t_down < OUTAGE_MS; i++) {
		snprintf(body, sizeof(body), "outage during %d", i);
		cr_assert_lt(nmade, 200);
		made[nmade++] = tchat_post(&c, body);
		if (i == 3)
			patch_body(&c, "PATCH", patched,
				   "outage patched newword");
		if (i == 4)
			delete_message(&c, doomed);
		if (i == 5)
			assert_health(503, "down");
		if (i % 5 == 0) {
			struct http_res *res = tsearch(&c, "outage", NULL);

			http_assert_error(res, 503, "service_unavailable");
			http_res_free(res);
			searches++;
		}
		usleep(400000);
	}

	/* Only the engine is down: start must start it and nothing else. */
	cr_assert_eq(tstack_start(&out), 0, "stack.sh start:\n%s", out);
	t_back = now_ms();
	cr_assert(strstr(out, "starting search engine"), "%s", out);
	cr_assert_null(strstr(out, "starting mysql"), "%s", out);
	cr_assert_null(strstr(out, "starting redis"), "%s", out);
	cr_assert_null(strstr(out, "starting fcgi"), "%s", out);
	cr_assert_null(strstr(out, "starting worker"), "%s", out);
	cr_assert_null(strstr(out, "starting nginx"), "%s", out);
	for (size_t i = 0; i < NPARTS; i++) {
		char *now = part_pidfile(i);

		cr_assert(before[i] && now && strcmp(before[i], now) == 0,
			  "%s changed: %s -> %s", stack_parts[i],
			  before[i] ? before[i] : "(none)",
			  now ? now : "(none)");
		free(now);
		free(before[i]);
	}
	cr_assert(tes_pid() > 0 && tes_pid() != old_pid,
		  "the engine did not come back under a new pid");

	ms_up = wait_search_answers(&c, 30000);
	ms = wait_for(&c, "outage", made, nmade, 30000);
	EXPECT(&c, "newword", patched);
	EXPECT_NONE(&c, "oldword");
	EXPECT_NONE(&c, "deleteme");
	assert_health(200, "ok");
	fprintf(stderr, "test_search: engine down %.1f s: %zu creates "
		"answered 202, %zu searches 503; searches answered 200 %ld ms "
		"after stack.sh start returned, all found %ld ms later\n",
		(double)(t_back - t_down) / 1e3, nmade - 2, searches, ms_up,
		ms);
	free(out);
	tchat_free(&c);
}

/* jobs/reindex ---------------------------------------------------------- */

static void start_reindex(struct tproc *p, const char *const *args)
{
	treindex_start(p, args);
	running_reindex = p->pid;
}

static void wait_reindex(struct tproc *p)
{
	tproc_wait(p);
	running_reindex = 0;
}

static void run_reindex(struct tproc *p, const char *const *args)
{
	start_reindex(p, args);
	wait_reindex(p);
}

static char *stage_alias(void)
{
	const char *a = getenv("CHAT_ES_INDEX");

	return http_path("%s-rebuild", a && *a ? a : "messages");
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A search's numbers, in its order, and sorted. */
struct hits {
	uint64_t order[16], sorted[16];
	size_t n;
	char *body;
};

static void hits_of(const struct tchat *c, const char *q, struct hits *h)
{
	struct http_res *res = tsearch(c, q, NULL);

	h->n = tsearch_numbers(res, h->order, 16);
	cr_assert_leq(h->n, 16, "q=%s: %zu hits", q, h->n);
	memcpy(h->sorted, h->order, h->n * sizeof(h->order[0]));
	qsort(h->sorted, h->n, sizeof(h->sorted[0]), cmp_u64);
	h->body = xstrdup(res->body);
	http_res_free(res);
}

Test(reindex, same_results_before_and_after_the_swap)
{
	static const char *const bodies[] = {
		"alpha beta", "alpha beta", "alphabet soup",
		"gamma alpha delta epsilon zeta", "Hello world",
		"yellow fellow",
		NULL,
	};
	static const char *const queries[] = {
		"alpha", "alp", "al", "ell", "he", "alpha beta", "soup", "zzz",
		"ALPHA bet",
	};
	enum { NQ = sizeof(queries) / sizeof(queries[0]) };
	struct hits before[NQ];
	char *old, *new, *stage = stage_alias();
	struct tproc p;
	struct tchat c;
	uint64_t n[6];

	tchat_new(&c, NULL, "search reindex");
	tchat_post_all(&c, bodies, n);
	WAIT_FOR(&c, "alpha", n[0], n[1], n[2], n[3]);
	WAIT_FOR(&c, "ell", n[4], n[5]);
	for (size_t i = 0; i < NQ; i++)
		hits_of(&c, queries[i], &before[i]);
	old = tes_alias_index(NULL);
	cr_assert_not_null(old, "no index behind the alias");

	run_reindex(&p, NULL);
	cr_assert_eq(p.status, 0, "reindex: %d\n%s%s", p.status, p.out,
		     p.err);
	cr_assert(strncmp(p.out, "reindex: ", 9) == 0 &&
		  strstr(p.out, " copied into ") && !strchr(p.out, '\r'),
		  "summary: %s", p.out);
	cr_assert_str_empty(p.err, "stderr not a terminal, yet: %s", p.err);
	new = tes_alias_index(NULL);
	cr_assert(new && strcmp(new, old) != 0, "alias still on %s", old);
	cr_assert(strstr(p.out, new), "summary does not name %s: %s", new,
		  p.out);
	cr_assert(!tes_index_exists(old), "old index %s not deleted", old);
	cr_assert_null(tes_alias_index(stage), "staging alias left behind");
	/*
	 * The same messages are found, and the same one first.  Hits of
	 * close scores may change places: the rebuilt index holds none of
	 * the deleted documents the old one still counted in its length
	 * and term statistics, which every score uses.
	 */
	for (size_t i = 0; i < NQ; i++) {
		struct hits after;

		hits_of(&c, queries[i], &after);
		cr_assert(after.n == before[i].n &&
			  memcmp(after.sorted, before[i].sorted,
				 after.n * sizeof(after.sorted[0])) == 0 &&
			  (after.n == 0 || after.order[0] == before[i].order[0]),
			  "q=%s differs after the swap:\nbefore %s\n"
			  "after  %s", queries[i], before[i].body, after.body);
		free(after.body);
		free(before[i].body);
	}
	assert_health(200, "ok");
	tproc_release(&p);
	free(old);
	free(new);
	free(stage);
	tchat_free(&c);
}

/* "... 3 added, 2 updated, 6 removed meanwhile ...": one of the counts. */
static unsigned long summary_count(const char *out, const char *word)
{
	const char *p = strstr(out, word);

	cr_assert_not_null(p, "no '%s' in %s", word, out);
	while (p > out && p[-1] >= '0' && p[-1] <= '9')
		p--;
	return strtoul(p, NULL, 10);
}

static bool persisted(void *arg)
{
	struct http_res *res = http_get(arg);
	bool ok = res->status == 200;

	http_res_free(res);
	return ok;
}

Test(reindex, writes_during_the_rebuild_are_kept)
{
	static const char *const args[] = { "--batch", "10", NULL };
	struct tchat c, doomed, filler;
	uint64_t base[40], fresh[3], dn[5], app, rest[37], deadline;
	char *old, *new, *stage = stage_alias(), body[64], *app_s, *chat_s;
	bool mid_copy;
	struct tproc p;
	long count;

	tchat_new(&c, NULL, "search reindex writes");
	tchat_new(&doomed, c.token, NULL);
	tchat_new(&filler, c.token, NULL);
	app = tapp_id(c.token);
	for (int i = 0; i < 5; i++)
		dn[i] = tchat_post(&doomed, "rxtest doomed");
	for (int i = 0; i < 40; i++) {
		snprintf(body, sizeof(body), "rxtest base %d", i + 1);
		base[i] = tchat_post(&c, body);
	}
	cr_assert_geq(wait_for(&c, "base", base, 40, 10000), 0);
	WAIT_FOR(&doomed, "doomed", dn[0], dn[1], dn[2], dn[3], dn[4]);
	/*
	 * Rows after ours (higher ids: ours are persisted by now), so that
	 * the copy goes on after ours.
	 */
	app_s = http_path("%llu", (unsigned long long)app);
	chat_s = http_path("%llu", (unsigned long long)filler.number);
	cr_assert_eq(tdb_exec("INSERT INTO messages (chat_id, number, body, "
			      "created_at, updated_at) SELECT c.id, s.seq, "
			      "CONCAT('rxfill ', s.seq), UTC_TIMESTAMP(), "
			      "UTC_TIMESTAMP() FROM chats c "
			      "JOIN seq_1_to_400 s "
			      "WHERE c.application_id = ? AND c.number = ?",
			      app_s, chat_s, NULL), 400);
	free(app_s);
	free(chat_s);
	old = tes_alias_index(NULL);

	/* Stop the rebuild right after it copied our last message. */
	start_reindex(&p, args);
	deadline = now_ms() + 120000;
	while (!tes_has_doc(stage, app, c.number, base[39])) {
		if (tproc_exited(&p)) {
			running_reindex = 0;
			cr_assert_fail("reindex ended before copying our "
				       "messages: %d\n%s%s", p.status, p.out,
				       p.err);
		}
		cr_assert_lt(now_ms(), deadline, "reindex too slow");
		usleep(2000);
	}
	cr_assert_eq(kill(p.pid, SIGSTOP), 0);
	mid_copy = !tes_has_doc(stage, app, filler.number, 400);

	/* Writes the old index gets and the copy missed. */
	patch_body(&c, "PATCH", base[0], "rxtest edited one");
	patch_body(&c, "PUT", base[1], "rxtest edited two");
	delete_message(&c, base[2]);
	for (int i = 0; i < 3; i++) {
		char *path;

		fresh[i] = tchat_post(&c, "rxtest fresh");
		path = tchat_message_path(&c, fresh[i]);
		cr_assert(wait_until(persisted, path, 10000), "%s", path);
		free(path);
	}
	{
		char *path = http_path("/applications/%s/chats/%llu",
				       doomed.token,
				       (unsigned long long)doomed.number);

		delete_path(path);
		free(path);
	}
	/* The old index still serves, and has all of that. */
	WAIT_FOR(&c, "fresh", fresh[0], fresh[1], fresh[2]);
	WAIT_FOR(&c, "edited", base[0], base[1]);

	cr_assert_eq(kill(p.pid, SIGCONT), 0);
	wait_reindex(&p);
	cr_assert_eq(p.status, 0, "reindex: %d\n%s%s", p.status, p.out,
		     p.err);
	new = tes_alias_index(NULL);
	cr_assert(new && strcmp(new, old) != 0, "alias still on %s", old);
	cr_assert(!tes_index_exists(old), "old index %s not deleted", old);

	EXPECT(&c, "edited", base[0], base[1]);
	for (int i = 3; i < 40; i++)
		rest[i - 3] = base[i];
	expect(&c, "base", rest, 37);
	EXPECT(&c, "fresh", fresh[0], fresh[1], fresh[2]);
	count = tes_count(NULL, app, c.number);
	cr_assert_eq(count, 37 + 2 + 3, "documents of the chat: %ld", count);
	cr_assert_eq(tes_count(NULL, app, doomed.number), 0,
		     "the deleted chat's messages are back");
	cr_assert_eq(tes_count(NULL, app, filler.number), 400);
	if (mid_copy) {
		/* The copy missed them: the reconciliation did the work. */
		cr_assert_geq(summary_count(p.out, " added"), 3, "%s", p.out);
		cr_assert_geq(summary_count(p.out, " updated"), 2, "%s",
			      p.out);
		cr_assert_geq(summary_count(p.out, " removed"), 6, "%s",
			      p.out);
	} else {
		fprintf(stderr, "test_search: note: the copy had finished "
			"before the writes; the swap path was tested "
			"instead\n");
	}
	assert_health(200, "ok");
	fprintf(stderr, "test_search: reindex during writes: %s", p.out);
	tproc_release(&p);
	free(old);
	free(new);
	free(stage);
	tchat_free(&c);
	tchat_free(&doomed);
	tchat_free(&filler);
}

Test(reindex, usage_and_failures)
{
	static const char *const help[] = { "--help", NULL };
	static const char *const bad[][3] = {
		{ "--batch", "0", NULL }, { "--batch", "x", NULL },
		{ "--batch", NULL, NULL }, { "--pause", "-1", NULL },
		{ "--bogus", NULL, NULL },
	};
	char *old = tes_alias_index(NULL), *stage = stage_alias(), *body;
	const char *url = getenv("CHAT_ES_URL");
	char *saved_url = url ? xstrdup(url) : NULL;
	struct chat_buf name;
	char *path;
	struct tproc p;

	run_reindex(&p, help);
	cr_assert_eq(p.status, 0);
	cr_assert(strstr(p.out, "usage: reindex"), "%s", p.out);
	tproc_release(&p);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run_reindex(&p, bad[i]);
		cr_assert_eq(p.status, 2, "%s %s: %d", bad[i][0],
			     bad[i][1] ? bad[i][1] : "", p.status);
		cr_assert(strstr(p.err, "usage: reindex"), "%s", p.err);
		tproc_release(&p);
	}

	/* Another rebuild holds the staging alias: refused, nothing moves. */
	chat_buf_init(&name);
	chat_buf_addf(&name, "%s-leftover", stage);
	path = http_path("/%s", name.data);
	body = http_path("{\"aliases\":{\"%s\":{\"is_write_index\":true}}}",
			 stage);
	cr_assert_eq(tes_request("PUT", path, body), 200);
	run_reindex(&p, NULL);
	cr_assert_eq(p.status, 1, "%d\n%s%s", p.status, p.out, p.err);
	cr_assert(strstr(p.err, "another rebuild") && strstr(p.err, name.data),
		  "%s", p.err);
	cr_assert_str_empty(p.out);
	tproc_release(&p);
	cr_assert_eq(tes_request("DELETE", path, NULL), 200);
	{
		char *now = tes_alias_index(NULL);

		cr_assert_str_eq(now, old, "the alias moved");
		free(now);
	}

	/* Unreachable engine or database: exit 1 with a clear message. */
	setenv("CHAT_ES_URL", "http://127.0.0.1:1", 1);
	run_reindex(&p, NULL);
	cr_assert_eq(p.status, 1);
	cr_assert(strstr(p.err, "search engine (http://127.0.0.1:1)"), "%s",
		  p.err);
	tproc_release(&p);
	if (saved_url)
		setenv("CHAT_ES_URL", saved_url, 1);
	else
		unsetenv("CHAT_ES_URL");
	setenv("CHAT_MYSQL_PORT", "1", 1);
	run_reindex(&p, NULL);
	cr_assert_eq(p.status, 1);
	cr_assert(strstr(p.err, "MariaDB (127.0.0.1:1)"), "%s", p.err);
	tproc_release(&p);
	chat_buf_release(&name);
	free(path);
	free(body);
	free(saved_url);
	free(old);
	free(stage);
}
