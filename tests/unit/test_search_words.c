/*
 * test_search_words.c - unit tests of chat_search_words (lib/search.c):
 * how a search query is split into words, which decides what is sent to
 * the engine and whether anything is sent at all.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "search.h"

#define MAXW CHAT_SEARCH_MAX_WORDS

/*
 * Split `q` and render the words as "word/chars|word/chars|...", so that
 * one string comparison checks words, order and character counts.
 */
static void split(const char *q, size_t len, char *out, size_t outsz)
{
	struct chat_search_word w[MAXW];
	size_t n = chat_search_words(q, len, w, MAXW), used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int k = snprintf(out + used, outsz - used, "%s%.*s/%zu",
				 i ? "|" : "", (int)w[i].len, q + w[i].off,
				 w[i].chars);

		cr_assert(k > 0 && (size_t)k < outsz - used, "output too long");
		used += (size_t)k;
	}
}

static void expect(const char *q, const char *want)
{
	char got[4096];

	split(q, strlen(q), got, sizeof(got));
	cr_assert_str_eq(got, want, "query \"%s\"", q);
}

Test(search_words, splits_on_anything_but_letters_and_digits)
{
	expect("hello", "hello/5");
	expect("Hello world", "Hello/5|world/5");
	expect("  ell  ", "ell/3");
	expect("wor hel", "wor/3|hel/3");
	expect("a:b", "a/1|b/1");
	expect("foo-bar.baz qux", "foo/3|bar/3|baz/3|qux/3");
	expect("x1 22 abc123", "x1/2|22/2|abc123/6");
	expect("don't", "don/3|t/1");
	expect("tab\there\nnow\r", "tab/3|here/4|now/3");
}

/* Unicode's word rules (UAX #29, ExtendNumLet): `_` joins its neighbours. */
Test(search_words, connectors_join_the_characters_around_them)
{
	expect("h_llo", "h_llo/5");
	expect("foo-bar_baz.qux", "foo/3|bar_baz/7|qux/3");
	expect("a__b", "a__b/4");
	expect("snake_case_name", "snake_case_name/15");
	expect("x_1 2_y", "x_1/3|2_y/3");
	/* Not between two word characters: a separator. */
	expect("_hello", "hello/5");
	expect("hello_", "hello/5");
	expect("__hello__ world_", "hello/5|world/5");
	expect("a_ _b", "a/1|b/1");
	expect("a_-b", "a/1|b/1");
	/* The other connectors: U+203F undertie, U+FF3F fullwidth low line. */
	expect("a\xe2\x80\xbf" "b", "a\xe2\x80\xbf" "b/3");
	expect("\xef\xbc\xbf" "ab\xef\xbc\xbf", "ab/2");
	expect("\xc3\xa9_\xc3\xa0", "\xc3\xa9_\xc3\xa0/3");
	/* h_llo is not hello: nothing splits it into h and llo. */
	expect("h_llo hello", "h_llo/5|hello/5");
}

Test(search_words, operators_are_plain_words)
{
	expect("cats AND dogs", "cats/4|AND/3|dogs/4");
	expect("NOT OR", "NOT/3|OR/2");
	expect("title:\"hello\"", "title/5|hello/5");
	expect("(a OR b) && !c || d~2 ^3", "a/1|OR/2|b/1|c/1|d/1|2/1|3/1");
	expect("he*lo?", "he/2|lo/2");
	expect("{x} [y] <z> \\w /v/", "x/1|y/1|z/1|w/1|v/1");
}

Test(search_words, nothing_without_letters_or_digits)
{
	static const char *const none[] = {
		"", " ", "\"", "\\", "*", "?", "{}", "((", "/", "[]", ":",
		"!@#$%^&*()_+-=[]{};':\",./<>?`~|\\", "\t\r\n",
		"\xe2\x80\x94",			/* em dash */
		"\xc2\xab\xc2\xbb",		/* guillemets */
		"\xe2\x82\xac",			/* euro sign */
		"\xf0\x9f\x98\x80",		/* grinning face */
		"\xe2\x9d\xa4\xef\xb8\x8f",	/* heart + VS16 */
		"\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",	/* thumbs up + tone */
		"\xe3\x80\x82",			/* ideographic full stop */
		"\xef\xbc\x81",			/* fullwidth ! */
		"\xc2\xa0",			/* no-break space */
		"\xe2\x80\x8b",			/* zero width space */
	};

	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
		expect(none[i], "");
}

Test(search_words, counts_characters_not_bytes)
{
	expect("caf\xc3\xa9", "caf\xc3\xa9/4");		/* café */
	expect("\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9/3");	/* été */
	expect("\xd0\xbf\xd1\x80", "\xd0\xbf\xd1\x80/2");	/* пр */
	/* 日本語 */
	expect("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
	       "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e/3");
	/* e + combining acute: a mark stays in its word */
	expect("e\xcc\x81t", "e\xcc\x81t/3");
	/* fullwidth digits are digits */
	expect("\xef\xbc\x91\xef\xbc\x92", "\xef\xbc\x91\xef\xbc\x92/2");
}

Test(search_words, unicode_separators_split)
{
	/* hi😀there, a—b, x«y», smile🙂 */
	expect("hi\xf0\x9f\x98\x80there", "hi/2|there/5");
	expect("a\xe2\x80\x94" "b", "a/1|b/1");
	expect("x\xc2\xaby\xc2\xbb", "x/1|y/1");
	expect("smile\xf0\x9f\x99\x82", "smile/5");
	/* a no-break space and an ideographic space */
	expect("ab\xc2\xa0" "cd\xe3\x80\x80" "ef", "ab/2|cd/2|ef/2");
}

Test(search_words, invalid_utf8_separates)
{
	char got[256];

	split("ab\xff" "cd", 5, got, sizeof(got));
	cr_assert_str_eq(got, "ab/2|cd/2");
	split("ab\xc3", 3, got, sizeof(got));		/* truncated */
	cr_assert_str_eq(got, "ab/2");
	split("\xc0\xafxyz", 5, got, sizeof(got));	/* overlong '/' */
	cr_assert_str_eq(got, "xyz/3");
	split("a\xed\xa0\x80" "b", 5, got, sizeof(got));	/* surrogate */
	cr_assert_str_eq(got, "a/1|b/1");
}

Test(search_words, length_is_authoritative)
{
	char got[256];

	split("abc\0def", 7, got, sizeof(got));
	cr_assert_str_eq(got, "abc/3|def/3");
	split("abcdef", 2, got, sizeof(got));
	cr_assert_str_eq(got, "ab/2");
}

Test(search_words, duplicates_dropped_ignoring_ascii_case)
{
	expect("hello HELLO Hello hell", "hello/5|hell/4");
	expect("a A b a", "a/1|b/1");
}

Test(search_words, at_most_max_words)
{
	struct chat_search_word w[4];
	char q[MAXW * 8 + 1];
	size_t used = 0, n;

	n = chat_search_words("a b c d e f", 11, w, 4);
	cr_assert_eq(n, 4);
	cr_assert_eq(w[3].off, 6);
	cr_assert_eq(chat_search_words("a b", 3, w, 0), 0);

	for (unsigned i = 0; i < MAXW + 10; i++)
		used += (size_t)snprintf(q + used, sizeof(q) - used, "w%u ", i);
	{
		struct chat_search_word many[MAXW];

		n = chat_search_words(q, used, many, MAXW);
		cr_assert_eq(n, MAXW);
		cr_assert_eq(many[MAXW - 1].len, 4); /* "w127" */
	}
}

Test(search_words, long_word)
{
	static char q[5000];
	struct chat_search_word w[MAXW];

	memset(q, 'x', sizeof(q));
	cr_assert_eq(chat_search_words(q, sizeof(q), w, MAXW), 1);
	cr_assert_eq(w[0].off, 0);
	cr_assert_eq(w[0].len, sizeof(q));
	cr_assert_eq(w[0].chars, sizeof(q));
}
