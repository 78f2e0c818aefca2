/*
 * fuzz_utf8.c - libFuzzer target for UTF-8 validation: chat_utf8_valid
 * (which guards every name and body) compared with a decoder written
 * from the Unicode standard's table of well-formed byte sequences
 * (Table 3-7: no overlong forms, no surrogates, nothing past U+10FFFF),
 * and chat_utf8_chars compared with its count of code points.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "text.h"


/* Table 3-7: the lead byte, then the range of each following byte. */
static const struct {
	uint8_t lead_lo, lead_hi;
	int n;
	uint8_t lo[3], hi[3];
} table[] = {
	{ 0x00, 0x7f, 0, { 0 }, { 0 } },
	{ 0xc2, 0xdf, 1, { 0x80 }, { 0xbf } },
	{ 0xe0, 0xe0, 2, { 0xa0, 0x80 }, { 0xbf, 0xbf } },
	{ 0xe1, 0xec, 2, { 0x80, 0x80 }, { 0xbf, 0xbf } },
	{ 0xed, 0xed, 2, { 0x80, 0x80 }, { 0x9f, 0xbf } },
	{ 0xee, 0xef, 2, { 0x80, 0x80 }, { 0xbf, 0xbf } },
	{ 0xf0, 0xf0, 3, { 0x90, 0x80, 0x80 }, { 0xbf, 0xbf, 0xbf } },
	{ 0xf1, 0xf3, 3, { 0x80, 0x80, 0x80 }, { 0xbf, 0xbf, 0xbf } },
	{ 0xf4, 0xf4, 3, { 0x80, 0x80, 0x80 }, { 0x8f, 0xbf, 0xbf } },
};

/* Code points in s[0..len), or -1 when it is not well-formed. */
static long reference(const uint8_t *s, size_t len)
{
	long cps = 0;

	for (size_t i = 0; i < len; cps++) {
		size_t t;

		for (t = 0; t < sizeof(table) / sizeof(table[0]); t++)
			if (s[i] >= table[t].lead_lo && s[i] <= table[t].lead_hi)
				break;
		if (t == sizeof(table) / sizeof(table[0]))
			return -1;
		if (len - i - 1 < (size_t)table[t].n)
			return -1;
		for (int k = 0; k < table[t].n; k++)
			if (s[i + 1 + k] < table[t].lo[k] ||
			    s[i + 1 + k] > table[t].hi[k])
				return -1;
		i += 1 + (size_t)table[t].n;
	}
	return cps;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	long want = reference(data, size);
	bool valid = chat_utf8_valid((const char *)data, size);

	CHECK(valid == (want >= 0));
	if (valid)
		CHECK(chat_utf8_chars((const char *)data, size) ==
		      (size_t)want);
	return 0;
}
