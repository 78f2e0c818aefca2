/*
 * test_indexer.c - unit tests of the index entry format (lib/indexer.c):
 * message number lists and their groups.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "buf.h"
#include "indexer.h"

static long parse(const char *s, size_t max, uint64_t **v)
{
	return chat_index_parse_numbers(s, strlen(s), max, v);
}

static char *format(const uint64_t *v, size_t n)
{
	struct chat_buf b;

	chat_buf_init(&b);
	chat_index_format_numbers(&b, v, n);
	return chat_buf_detach(&b, NULL);
}

Test(index_numbers, runs_become_ranges)
{
	static const uint64_t v[] = { 1, 2, 3, 5, 7, 8, 10 };
	char *s = format(v, 7);

	cr_assert_str_eq(s, "1-3,5,7-8,10");
	free(s);
	s = format(v + 3, 1);
	cr_assert_str_eq(s, "5");
	free(s);
}

Test(index_numbers, parse_expands_ranges)
{
	uint64_t *v;
	long n = parse("1-3,5,7-8,10", 100, &v);
	static const uint64_t want[] = { 1, 2, 3, 5, 7, 8, 10 };

	cr_assert_eq(n, 7);
	for (long i = 0; i < n; i++)
		cr_assert_eq(v[i], want[i], "number %ld", i);
	free(v);
}

Test(index_numbers, round_trip)
{
	uint64_t in[300], *out;
	size_t n = 0;
	char *s;
	long m;

	/* Runs and gaps of every length, from a fixed pseudo-random walk. */
	for (uint64_t x = 1, step = 7; n < 300; n++) {
		in[n] = x;
		step = step * 1103515245u + 12345u;
		x += (step >> 16) % 4 ? 1 : 2 + (step >> 20) % 50;
	}
	s = format(in, n);
	m = parse(s, 1000, &out);
	cr_assert_eq(m, (long)n, "%s", s);
	cr_assert_eq(memcmp(in, out, n * sizeof(*in)), 0, "%s", s);
	free(s);
	free(out);
}

Test(index_numbers, zero_alone_is_the_whole_chat)
{
	uint64_t *v;

	cr_assert_eq(parse("0", 10, &v), 1);
	cr_assert_eq(v[0], 0);
	free(v);
}

Test(index_numbers, rejects_malformed_lists)
{
	static const char *bad[] = {
		"", ",", "1,", ",1", "1,,2", "a", "1-", "-1", "3-2", "2,1",
		"1,1", "1-3,3", "0,1", "1,0", "00", "01", "1 2", "1--2",
		"18446744073709551616", "1-18446744073709551616",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t *v = (uint64_t *)1;

		cr_assert_eq(parse(bad[i], 100, &v), -1, "\"%s\"", bad[i]);
		cr_assert_null(v, "\"%s\"", bad[i]);
	}
}

Test(index_numbers, rejects_more_than_the_limit)
{
	uint64_t *v;

	cr_assert_eq(parse("1-10", 10, &v), 10);
	free(v);
	cr_assert_eq(parse("1-11", 10, &v), -1);
	cr_assert_eq(parse("1-5,7-12", 10, &v), -1);
	cr_assert_eq(parse("1-18446744073709551615", 1000, &v), -1);
}

Test(index_groups, entry_text)
{
	static const uint64_t v[] = { 4, 5, 6, 9 };
	struct chat_buf m;

	chat_buf_init(&m);
	chat_index_add_group(&m, 12, 3, v, 4);
	chat_index_add_group(&m, 12, 7, NULL, 0);
	chat_index_add_group(&m, 40, 1, v + 3, 1);
	cr_assert_str_eq(m.data, "12/3/4-6,9 12/7/0 40/1/9");
	chat_buf_release(&m);
}
