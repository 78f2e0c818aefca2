/*
 * fuzz_u64.c - libFuzzer target for chat_parse_u64, the one parser of
 * integers from untrusted text (path numbers, limit, after,
 * Content-Length, stream fields), compared with a reference written
 * from its contract: digits only, no sign or space, no leading zero
 * except "0" itself, no overflow, within [min, max].
 *
 * The first byte picks the bounds; the rest (NULs included: the parser
 * takes a length) is the text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "text.h"


static const uint64_t bounds[][2] = {
	{ 0, UINT64_MAX }, { 1, UINT32_MAX }, { 1, 1000 }, { 0, UINT32_MAX },
	{ 1, UINT64_MAX }, { 10, 20 }, { UINT64_MAX, UINT64_MAX }, { 5, 4 },
};

static int reference(const char *s, size_t len, uint64_t min, uint64_t max,
		     uint64_t *out)
{
	unsigned __int128 v = 0;

	if (len == 0 || (len > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
		if (v > UINT64_MAX)
			return -1;
	}
	if (v < min || v > max)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint64_t *b;
	uint64_t got = 12345, want = 0;
	int rc, ref;

	if (size == 0)
		return 0;
	b = bounds[data[0] % (sizeof(bounds) / sizeof(bounds[0]))];
	rc = chat_parse_u64((const char *)data + 1, size - 1, b[0], b[1], &got);
	ref = reference((const char *)data + 1, size - 1, b[0], b[1], &want);
	CHECK(rc == ref);
	if (rc == 0)
		CHECK(got == want);
	else
		CHECK(got == 12345);	/* *out untouched on failure */
	return 0;
}
