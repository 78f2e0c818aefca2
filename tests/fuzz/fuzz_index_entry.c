/*
 * fuzz_index_entry.c - libFuzzer target for the index entry parser: the
 * "m" field of an index stream entry, read group by group with
 * chat_index_parse_group (lib/indexer.h) as the indexer does, each
 * group's numbers with chat_index_parse_numbers.
 *
 * Input: the first two bytes give `max` (big-endian, up to 65535: the
 * numbers the whole entry may stand for); the rest is the entry text.
 *
 * Checked against indexer.h: parsing goes forward and stops inside the
 * text; each group has a positive application and chat and 1..max
 * numbers in all, ascending without repeats, "0" alone standing for the
 * whole chat; a group written back with chat_index_add_group parses to
 * the same application, chat and numbers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "buf.h"
#include "indexer.h"


/* The group written back parses to the same thing. */
static void round_trip(uint64_t app, uint64_t chat, const uint64_t *v,
		       long n)
{
	struct chat_buf b;
	uint64_t app2, chat2, *v2;
	size_t pos = 0;
	bool whole = n == 1 && v[0] == 0;
	long n2;

	chat_buf_init(&b);
	chat_index_add_group(&b, app, chat, whole ? NULL : v,
			     whole ? 0 : (size_t)n);
	n2 = chat_index_parse_group(b.data, b.len, &pos, (size_t)n, &app2,
				    &chat2, &v2);
	CHECK(n2 == n);
	CHECK(pos == b.len);
	CHECK(app2 == app && chat2 == chat);
	CHECK(memcmp(v2, v, (size_t)n * sizeof(*v)) == 0);
	free(v2);
	chat_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data + 2;
	size_t len, max, pos = 0, total = 0;

	if (size < 2)
		return 0;
	max = (size_t)data[0] << 8 | data[1];
	len = size - 2;
	while (pos < len) {
		uint64_t app, chat, *v;
		size_t before = pos;
		long n = chat_index_parse_group(s, len, &pos, max - total,
						&app, &chat, &v);

		if (n < 0) {
			CHECK(pos == before);
			CHECK(v == NULL);
			break;
		}
		CHECK(pos > before && pos <= len);
		CHECK(pos == len || s[pos] == ' ');
		CHECK(app > 0 && chat > 0);
		CHECK(n >= 1);
		if (v[0] == 0) {
			CHECK(n == 1);
		} else {
			CHECK((size_t)n <= max - total);
			for (long i = 1; i < n; i++)
				CHECK(v[i] > v[i - 1]);
			total += (size_t)n;
		}
		round_trip(app, chat, v, n);
		free(v);
	}
	return 0;
}
