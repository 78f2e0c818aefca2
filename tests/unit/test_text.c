/*
 * test_text.c - unit tests of lib/text.c: the checked integer parser,
 * UTF-8 validation and counting, timestamps and query strings.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "text.h"

/* chat_parse_u64 over a NUL-terminated string; -1 or 0. */
static int parse(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	return chat_parse_u64(s, strlen(s), min, max, out);
}

Test(parse_u64, accepts_plain_decimals)
{
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = {
		{ "0", 0 },
		{ "1", 1 },
		{ "9", 9 },
		{ "10", 10 },
		{ "4294967295", 4294967295ULL },
		{ "18446744073709551615", UINT64_MAX },
		{ "18446744073709551609", 18446744073709551609ULL },
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t v = 12345;

		cr_assert_eq(parse(ok[i].s, 0, UINT64_MAX, &v), 0, "%s",
			     ok[i].s);
		cr_assert_eq(v, ok[i].v, "%s", ok[i].s);
	}
}

Test(parse_u64, rejects_anything_else)
{
	static const char *const bad[] = {
		"", "00", "01", "007", "-1", "+1", "-0", " 1", "1 ", "1\n",
		"1.5", "1.", ".5", "1e3", "0x1", "0x", "abc", "1a", "a1", "١",
		"１", "18446744073709551616", "18446744073709551620",
		"99999999999999999999", "100000000000000000000",
		"1000000000000000000000000", "0000000000000000000001",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 777;

		cr_assert_eq(parse(bad[i], 0, UINT64_MAX, &v), -1, "'%s'",
			     bad[i]);
		cr_assert_eq(v, 777, "'%s' wrote *out on failure", bad[i]);
	}
}

Test(parse_u64, uses_the_length_not_the_nul)
{
	uint64_t v = 0;

	cr_assert_eq(chat_parse_u64("123", 2, 0, 1000, &v), 0);
	cr_assert_eq(v, 12);
	cr_assert_eq(chat_parse_u64("1\0" "2", 3, 0, 1000, &v), -1);
	cr_assert_eq(chat_parse_u64("5", 0, 0, 1000, &v), -1);
	cr_assert_eq(chat_parse_u64(NULL, 0, 0, 1000, &v), -1);
}

Test(parse_u64, enforces_bounds)
{
	uint64_t v = 0;

	cr_assert_eq(parse("0", 1, 10, &v), -1);
	cr_assert_eq(parse("1", 1, 10, &v), 0);
	cr_assert_eq(v, 1);
	cr_assert_eq(parse("10", 1, 10, &v), 0);
	cr_assert_eq(v, 10);
	cr_assert_eq(parse("11", 1, 10, &v), -1);
	cr_assert_eq(parse("4294967296", 1, UINT32_MAX, &v), -1);
	cr_assert_eq(parse("4294967295", 1, UINT32_MAX, &v), 0);
	cr_assert_eq(parse("1000", 1, 1000, &v), 0);
	cr_assert_eq(parse("1001", 1, 1000, &v), -1);
	cr_assert_eq(parse("5", 5, 5, &v), 0);
	cr_assert_eq(parse("4", 5, 5, &v), -1);
	cr_assert_eq(parse("6", 5, 5, &v), -1);
}

static bool valid(const char *s)
{
	return chat_utf8_valid(s, strlen(s));
}

Test(utf8, accepts_well_formed_text)
{
	static const char *const ok[] = {
		"",
		"plain ascii",
		"\x7f",
		"\xc2\x80",		/* U+0080, smallest 2-byte */
		"caf\xc3\xa9",		/* é */
		"\xdf\xbf",		/* U+07FF */
		"\xe0\xa0\x80",		/* U+0800, smallest 3-byte */
		"\xe2\x82\xac",		/* € */
		"\xed\x9f\xbf",		/* U+D7FF, just below surrogates */
		"\xee\x80\x80",		/* U+E000, just above them */
		"\xef\xbf\xbd",		/* U+FFFD */
		"\xef\xbf\xbf",		/* U+FFFF */
		"\xf0\x90\x80\x80",	/* U+10000, smallest 4-byte */
		"\xf0\x9f\x98\x80",	/* 😀 */
		"\xf4\x8f\xbf\xbf",	/* U+10FFFF, the last code point */
		"mixed \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 end",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		cr_assert(valid(ok[i]), "case %zu", i);
	/* NUL is a character like any other for the validator. */
	cr_assert(chat_utf8_valid("a\0b", 3));
}

Test(utf8, rejects_malformed_text)
{
	static const char *const bad[] = {
		"\x80",			/* lone continuation byte */
		"\xbf",
		"a\x80z",
		"\xc0\x80",		/* overlong NUL */
		"\xc0\xaf",		/* overlong '/' */
		"\xc1\xbf",		/* overlong 2-byte */
		"\xe0\x80\xaf",		/* overlong 3-byte */
		"\xe0\x9f\xbf",		/* overlong U+07FF */
		"\xf0\x80\x80\xaf",	/* overlong 4-byte */
		"\xf0\x8f\xbf\xbf",	/* overlong U+FFFF */
		"\xed\xa0\x80",		/* U+D800, a surrogate */
		"\xed\xaf\xbf",		/* U+DBFF */
		"\xed\xb0\x80",		/* U+DC00 */
		"\xed\xbf\xbf",		/* U+DFFF */
		"\xed\xa0\xbd\xed\xb8\x80", /* CESU-8 pair */
		"\xf4\x90\x80\x80",	/* U+110000 */
		"\xf5\x80\x80\x80",
		"\xf7\xbf\xbf\xbf",
		"\xf8\x88\x80\x80\x80",	/* 5-byte form */
		"\xfc\x84\x80\x80\x80\x80", /* 6-byte form */
		"\xfe",
		"\xff",
		"\xc3",			/* truncated sequences */
		"\xe2\x82",
		"\xe2",
		"\xf0\x9f\x98",
		"\xf0\x9f",
		"\xf0",
		"\xc3\x28",		/* bad continuation */
		"\xe2\x28\xa1",
		"\xe2\x82\x28",
		"\xf0\x28\x8c\xbc",
		"\xf0\x90\x28\xbc",
		"\xf0\x9f\x98\x28",
		"ok\xc3",		/* truncated at the end */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert(!valid(bad[i]), "case %zu accepted", i);
}

Test(utf8, respects_the_length)
{
	/* "é" cut after its first byte. */
	cr_assert(!chat_utf8_valid("\xc3\xa9", 1));
	cr_assert(chat_utf8_valid("\xc3\xa9", 2));
	cr_assert(chat_utf8_valid("\xc3\xa9", 0));
	cr_assert(!chat_utf8_valid("\xf0\x9f\x98\x80", 3));
}

Test(utf8, decodes_one_code_point)
{
	static const struct {
		const char *s;
		size_t len, step;
		uint32_t cp;
	} cases[] = {
		{ "a", 1, 1, 'a' },
		{ "\x7f", 1, 1, 0x7f },
		{ "\xc3\xa9x", 3, 2, 0xe9 },
		{ "\xe2\x82\xac", 3, 3, 0x20ac },
		{ "\xf0\x9f\x98\x80", 4, 4, 0x1f600 },
		{ "\xf4\x8f\xbf\xbf", 4, 4, 0x10ffff },
		/* Malformed: one byte, CHAT_UTF8_BAD. */
		{ "\x80", 1, 1, CHAT_UTF8_BAD },
		{ "\xc0\xaf", 2, 1, CHAT_UTF8_BAD },		/* overlong */
		{ "\xe0\x80\xaf", 3, 1, CHAT_UTF8_BAD },	/* overlong */
		{ "\xed\xa0\x80", 3, 1, CHAT_UTF8_BAD },	/* surrogate */
		{ "\xf4\x90\x80\x80", 4, 1, CHAT_UTF8_BAD },	/* > U+10FFFF */
		{ "\xc3\xa9", 1, 1, CHAT_UTF8_BAD },		/* cut short */
		{ "\xe2\x82x", 3, 1, CHAT_UTF8_BAD },		/* no continuation */
		{ "\xff", 1, 1, CHAT_UTF8_BAD },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t cp = 0;

		cr_assert_eq(chat_utf8_next(cases[i].s, cases[i].len, &cp),
			     cases[i].step, "case %zu", i);
		cr_assert_eq(cp, cases[i].cp, "case %zu", i);
	}
}

Test(utf8, counts_code_points)
{
	char big[255 * 2 + 1];

	cr_assert_eq(chat_utf8_chars("", 0), 0);
	cr_assert_eq(chat_utf8_chars("abc", 3), 3);
	cr_assert_eq(chat_utf8_chars("caf\xc3\xa9", 5), 4);
	cr_assert_eq(chat_utf8_chars("\xe2\x82\xac", 3), 1);
	cr_assert_eq(chat_utf8_chars("\xf0\x9f\x98\x80x", 5), 2);
	cr_assert_eq(chat_utf8_chars("a\0b", 3), 3);
	for (size_t i = 0; i < 255; i++)
		memcpy(big + 2 * i, "\xc3\xa9", 2);
	cr_assert_eq(chat_utf8_chars(big, 510), 255);
}

Test(time, formats_rfc3339_utc_seconds)
{
	char out[CHAT_TIME_LEN + 1];

	chat_time_format(0, out);
	cr_assert_str_eq(out, "1970-01-01T00:00:00Z");
	chat_time_format(1795807241, out);
	cr_assert_str_eq(out, "2026-11-27T19:20:41Z");
	chat_time_format(951782400, out);	/* a leap day */
	cr_assert_str_eq(out, "2000-02-29T00:00:00Z");
	chat_time_format(4102444799, out);
	cr_assert_str_eq(out, "2099-12-31T23:59:59Z");
	cr_assert_eq(strlen(out), CHAT_TIME_LEN);
}

Test(time, ignores_the_local_zone)
{
	char out[CHAT_TIME_LEN + 1];

	setenv("TZ", "Asia/Kolkata", 1);
	chat_time_format(0, out);
	cr_assert_str_eq(out, "1970-01-01T00:00:00Z");
}

/* chat_query_get, asserting the result code; returns the value. */
static char *query(const char *qs, const char *name, int want)
{
	char *out = (char *)"untouched";
	int rc = chat_query_get(qs, name, &out);

	cr_assert_eq(rc, want, "'%s' in '%s': %d", name, qs, rc);
	if (rc != 1)
		cr_assert_null(out, "'%s' in '%s' left *out set", name, qs);
	return out;
}

static void query_is(const char *qs, const char *name, const char *want)
{
	char *v = query(qs, name, 1);

	cr_assert_str_eq(v, want, "'%s' in '%s'", name, qs);
	free(v);
}

Test(query, finds_parameters)
{
	query_is("q=hello", "q", "hello");
	query_is("limit=5&after=10", "limit", "5");
	query_is("limit=5&after=10", "after", "10");
	query_is("a=1&q=x&b=2", "q", "x");
	query_is("q=first&q=second", "q", "first");
	query_is("qq=1&q=2", "q", "2");
	query_is("xq=1&q=2", "q", "2");
	query_is("q==", "q", "=");
	query_is("q=a=b", "q", "a=b");
}

Test(query, decodes_plus_and_escapes)
{
	query_is("q=hello+world", "q", "hello world");
	query_is("q=hello%20world", "q", "hello world");
	query_is("q=%2B", "q", "+");
	query_is("q=a%26b", "q", "a&b");
	query_is("q=%c3%A9", "q", "\xc3\xa9");
	query_is("q=100%25", "q", "100%");
	query_is("q=%3D", "q", "=");
}

Test(query, empty_values)
{
	query_is("q=", "q", "");
	query_is("q", "q", "");
	query_is("a=1&q=&b=2", "q", "");
	query_is("a=1&q&b=2", "q", "");
}

Test(query, missing_parameters)
{
	query("", "q", 0);
	query("a=1&b=2", "q", 0);
	query("qq=1", "q", 0);
	query("Q=1", "q", 0);
	query("&&", "q", 0);
	query("=q", "q", 0);
	query(NULL, "q", 0);
}

Test(query, bad_escapes)
{
	query("q=%", "q", -1);
	query("q=%4", "q", -1);
	query("q=abc%", "q", -1);
	query("q=%zz", "q", -1);
	query("q=%4g", "q", -1);
	query("q=%g4", "q", -1);
	query("q=%00", "q", -1);
	query("q=a%00b", "q", -1);
	/* A bad escape in another parameter does not matter. */
	query_is("a=%zz&q=ok", "q", "ok");
}
