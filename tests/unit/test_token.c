/*
 * test_token.c - unit tests of lib/token.c: fresh tokens and the check
 * of strings that claim to be tokens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "buf.h"
#include "token.h"

#define MANY 20000

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

Test(token, length_and_alphabet)
{
	char t[CHAT_TOKEN_LEN + 1];

	cr_assert_geq(CHAT_TOKEN_LEN, 22);
	cr_assert_leq(CHAT_TOKEN_LEN, 64);
	for (int i = 0; i < 1000; i++) {
		memset(t, '!', sizeof(t));
		cr_assert_eq(chat_token_new(t), 0);
		cr_assert_eq(strlen(t), CHAT_TOKEN_LEN, "%s", t);
		cr_assert_eq(strspn(t, alphabet), CHAT_TOKEN_LEN, "%s", t);
		cr_assert(chat_token_valid(t, strlen(t)), "%s", t);
	}
}

Test(token, unique_over_many)
{
	char (*t)[CHAT_TOKEN_LEN + 1] = calloc(MANY, sizeof(*t));

	cr_assert_not_null(t);
	for (int i = 0; i < MANY; i++)
		cr_assert_eq(chat_token_new(t[i]), 0);
	qsort(t, MANY, sizeof(*t), cmp);
	for (int i = 1; i < MANY; i++)
		cr_assert_str_neq(t[i - 1], t[i], "duplicate token");
	free(t);
}

/* Every character of the alphabet shows up, at every position. */
Test(token, uses_the_whole_alphabet)
{
	static bool seen[CHAT_TOKEN_LEN][64];
	char t[CHAT_TOKEN_LEN + 1];

	for (int i = 0; i < MANY; i++) {
		cr_assert_eq(chat_token_new(t), 0);
		for (int k = 0; k < CHAT_TOKEN_LEN; k++)
			seen[k][strchr(alphabet, t[k]) - alphabet] = true;
	}
	for (int k = 0; k < CHAT_TOKEN_LEN; k++)
		for (int c = 0; c < 64; c++)
			cr_assert(seen[k][c], "'%c' never at position %d",
				  alphabet[c], k);
}

Test(token, valid_strings)
{
	char s[65];

	memset(s, 'a', 64);
	s[64] = '\0';
	cr_assert(chat_token_valid(s, 22));
	cr_assert(chat_token_valid(s, 32));
	cr_assert(chat_token_valid(s, 64));
	cr_assert(chat_token_valid("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 26));
	cr_assert(chat_token_valid("abcdefghijklmnopqrstuvwxyz", 26));
	cr_assert(chat_token_valid("0123456789-_0123456789-_", 24));
	cr_assert(chat_token_valid("______________________", 22));
	cr_assert(chat_token_valid("----------------------", 22));
}

Test(token, invalid_strings)
{
	static const char *const bad[] = {
		"abcdefghijklmnopqrstu+", "abcdefghijklmnopqrstu/",
		"abcdefghijklmnopqrstu=", "abcdefghijklmnopqrstu.",
		"abcdefghijklmnopqrstu ", " abcdefghijklmnopqrstu",
		"abcdefghijklmnopqrstu%", "abcdefghijklmnopqrstu~",
		"abcdefghijklmnopqrst\xc3\xa9", "abcdefghijklmnopqrstu\n",
		"abcdefghijklmnopqrstu*", "abcdefghijklmnopqrstu:",
	};
	char s[66];

	memset(s, 'a', 65);
	s[65] = '\0';
	cr_assert(!chat_token_valid(s, 0));
	cr_assert(!chat_token_valid(s, 21));
	cr_assert(!chat_token_valid(s, 65));
	cr_assert(!chat_token_valid("", 0));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert(!chat_token_valid(bad[i], strlen(bad[i])), "'%s'",
			  bad[i]);
	/* An embedded NUL is not part of the alphabet. */
	cr_assert(!chat_token_valid("abcdefghij\0lmnopqrstuv", 22));
}

static void masked(const char *in, const char *want)
{
	struct chat_buf b;

	chat_buf_init(&b);
	chat_token_mask(in, &b);
	cr_assert_str_eq(b.data, want, "%s", in);
	chat_buf_release(&b);
}

/* What the programs log of a path: no run long enough to be a token. */
Test(token, mask_for_logs)
{
	char t[CHAT_TOKEN_LEN + 1], in[256], want[256];

	cr_assert_eq(chat_token_new(t), 0);
	snprintf(in, sizeof(in), "/applications/%s/chats/1", t);
	masked(in, "/applications/*/chats/1");
	snprintf(in, sizeof(in), "//applications//%s", t);
	masked(in, "//applications//*");
	snprintf(in, sizeof(in), "/applications%%2F%s/x%s", t, t);
	masked(in, "/applications%*/*");
	masked("/applications", "/applications");
	masked("", "");
	/* 21 token characters are not a token; 22 may be. */
	masked("/aaaaaaaaaaaaaaaaaaaaa/", "/aaaaaaaaaaaaaaaaaaaaa/");
	masked("/aaaaaaaaaaaaaaaaaaaaaa/", "/*/");
	snprintf(want, sizeof(want), "%s", "GET");
	masked("GET", want);
}
