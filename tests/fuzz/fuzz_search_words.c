/*
 * fuzz_search_words.c - libFuzzer target for the search query splitter,
 * chat_search_words, which reads the q parameter (any bytes once
 * percent-decoded).
 *
 * The first byte picks `max` (1..CHAT_SEARCH_MAX_WORDS); the rest is the
 * query.  Checked against search.h: at most `max` words, in order, not
 * overlapping, inside the query; each non-empty, valid UTF-8 with
 * `chars` code points, no ASCII byte in it other than letters and
 * digits, not next to an ASCII letter or digit (runs are maximal); no
 * two equal ignoring ASCII case.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "search.h"
#include "text.h"


static bool ascii_alnum(uint8_t c)
{
	return c < 0x80 && isalnum(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chat_search_word words[CHAT_SEARCH_MAX_WORDS + 1];
	const char *q;
	size_t len, max, n;

	if (size == 0)
		return 0;
	max = 1 + data[0] % CHAT_SEARCH_MAX_WORDS;
	q = (const char *)data + 1;
	len = size - 1;
	memset(words, 0xa5, sizeof(words));
	n = chat_search_words(q, len, words, max);
	CHECK(n <= max);
	for (size_t i = 0; i < n; i++) {
		const struct chat_search_word *w = &words[i];
		const uint8_t *s = (const uint8_t *)q + w->off;

		CHECK(w->len > 0 && w->off <= len && w->len <= len - w->off);
		CHECK(w->chars > 0 && w->chars <= w->len);
		CHECK(chat_utf8_valid((const char *)s, w->len));
		CHECK(chat_utf8_chars((const char *)s, w->len) == w->chars);
		/* `_` only inside a word, between two word characters. */
		for (size_t k = 0; k < w->len; k++)
			CHECK(s[k] >= 0x80 || ascii_alnum(s[k]) ||
			      (s[k] == '_' && k > 0 && k + 1 < w->len));
		CHECK(s[0] != '_' && s[w->len - 1] != '_');
		CHECK(w->off == 0 || !ascii_alnum(s[-1]));
		CHECK(w->off + w->len == len || !ascii_alnum(s[w->len]));
		if (i > 0)
			CHECK(words[i - 1].off + words[i - 1].len < w->off);
		for (size_t j = 0; j < i; j++)
			CHECK(words[j].len != w->len ||
			      strncasecmp(q + words[j].off, q + w->off,
					  w->len) != 0);
	}
	return 0;
}
