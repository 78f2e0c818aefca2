/*
 * search_words.c - split a search query into words: runs of letters,
 * digits and combining marks, joined by connector punctuation such as
 * `_` (Unicode's word rules: `h_llo` is one word), UTF-8 aware,
 * duplicates dropped.  The index mapping (lib/search-index.json) splits
 * bodies the same way: its chat_word_breaks and chat_connectors char
 * filters for the 3-grams, its chat_words tokenizer for the words.
 */
#include "search_words.h"

#include <string.h>

#include "text.h"

/*
 * Non-ASCII code points that are not letters, digits or combining marks:
 * punctuation, symbols, spaces, format and private-use characters and
 * emoji, by the blocks where they cluster (checked against the Unicode
 * database: no letter, digit or mark is listed, except the variation
 * selectors, which chat_word_breaks also treats as separators).  Rare
 * punctuation of other scripts counts as a letter here; the engine then
 * still splits there, and the word is searched as a short phrase.
 */
static const uint32_t nonword[][2] = {
	{0x80, 0xa9}, {0xab, 0xb4}, {0xb6, 0xb9}, {0xbb, 0xbf}, {0xd7, 0xd7},
	{0xf7, 0xf7}, {0x2c2, 0x2c5}, {0x2d2, 0x2df}, {0x2e5, 0x2eb},
	{0x2ed, 0x2ed}, {0x2ef, 0x2ff}, {0x375, 0x375}, {0x37e, 0x37e},
	{0x384, 0x385}, {0x387, 0x387}, {0x3f6, 0x3f6}, {0x482, 0x482},
	{0x55a, 0x55f}, {0x589, 0x58a}, {0x58d, 0x58f}, {0x5be, 0x5be},
	{0x5c0, 0x5c0}, {0x5c3, 0x5c3}, {0x5c6, 0x5c6}, {0x5f3, 0x5f4},
	{0x600, 0x60f}, {0x61b, 0x61b}, {0x61d, 0x61f}, {0x66a, 0x66d},
	{0x6d4, 0x6d4}, {0x6dd, 0x6de}, {0x6e9, 0x6e9}, {0x6fd, 0x6fe},
	{0x700, 0x70f}, {0x964, 0x965}, {0x970, 0x970}, {0xe3f, 0xe3f},
	{0xe4f, 0xe4f}, {0xe5a, 0xe5b}, {0x10fb, 0x10fb}, {0x1360, 0x1368},
	{0x1680, 0x1680}, {0x169b, 0x169c}, {0x16eb, 0x16ed}, {0x1800, 0x180a},
	{0x180e, 0x180e}, {0x2000, 0x2070}, {0x2074, 0x207e}, {0x2080, 0x208e},
	{0x20a0, 0x20cf}, {0x2100, 0x2101}, {0x2103, 0x2106}, {0x2108, 0x2109},
	{0x2114, 0x2114}, {0x2116, 0x2118}, {0x211e, 0x2123}, {0x2125, 0x2125},
	{0x2127, 0x2127}, {0x2129, 0x2129}, {0x212e, 0x212e}, {0x213a, 0x213b},
	{0x2140, 0x2144}, {0x214a, 0x214d}, {0x214f, 0x2182}, {0x2185, 0x218b},
	{0x2190, 0x2bff}, {0x2ce5, 0x2cea}, {0x2cf9, 0x2cfc}, {0x2cfe, 0x2cff},
	{0x2e00, 0x2e2e}, {0x2e30, 0x2e7f}, {0x2e80, 0x2fff}, {0x3000, 0x3004},
	{0x3007, 0x3029}, {0x3030, 0x3030}, {0x3036, 0x303a}, {0x303d, 0x303f},
	{0x309b, 0x309c}, {0x30a0, 0x30a0}, {0x30fb, 0x30fb}, {0x3190, 0x319f},
	{0x31c0, 0x31ef}, {0x3200, 0x33ff}, {0x4dc0, 0x4dff}, {0xa490, 0xa4cf},
	{0xa4fe, 0xa4ff}, {0xa60d, 0xa60f}, {0xa700, 0xa716}, {0xa720, 0xa721},
	{0xa789, 0xa78a}, {0xd800, 0xf8ff}, {0xfd3e, 0xfd3f}, {0xfdfc, 0xfdff},
	{0xfe00, 0xfe1f}, {0xfe30, 0xfe6f}, {0xfeff, 0xfeff}, {0xff00, 0xff0f},
	{0xff1a, 0xff20}, {0xff3b, 0xff40}, {0xff5b, 0xff65}, {0xffe0, 0xffff},
	{0x1f000, 0x1fbef}, {0xe0000, 0xe01ef}, {0xf0000, 0x10ffff},
};

static bool is_word_char(uint32_t cp)
{
	size_t lo = 0, hi = sizeof(nonword) / sizeof(nonword[0]);

	if (cp < 0x80)
		return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') ||
		       (cp >= 'A' && cp <= 'Z');
	if (cp > 0x10ffff)
		return false;	/* CHAT_UTF8_BAD: not UTF-8 */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cp < nonword[mid][0])
			hi = mid;
		else if (cp > nonword[mid][1])
			lo = mid + 1;
		else
			return false;
	}
	return true;
}

/*
 * Connector punctuation (general category Pc, Unicode's ExtendNumLet
 * apart from the Katakana middle dot): `_` and its look-alikes.  Between
 * two word characters they belong to the word; elsewhere they separate.
 */
static bool is_connector(uint32_t cp)
{
	return cp == '_' || cp == 0x203f || cp == 0x2040 || cp == 0x2054 ||
	       cp == 0xfe33 || cp == 0xfe34 || (cp >= 0xfe4d && cp <= 0xfe4f) ||
	       cp == 0xff3f;
}

static unsigned char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 'a' - 'A')
				    : (unsigned char)c;
}

/* Is q[off..off+len) equal to a stored word, ignoring ASCII case? */
static bool seen(const char *q, const struct chat_search_word *words,
		 size_t n, size_t off, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;

		if (words[i].len != len)
			continue;
		while (k < len && ascii_lower(q[words[i].off + k]) ==
				  ascii_lower(q[off + k]))
			k++;
		if (k == len)
			return true;
	}
	return false;
}

size_t chat_search_words(const char *q, size_t len,
			 struct chat_search_word *words, size_t max)
{
	size_t n = 0, i = 0, start = 0, chars = 0, end = 0, end_chars = 0;

	/*
	 * chars counts the word so far, connectors included; end and
	 * end_chars say where it stops if the connectors seen since its
	 * last letter or digit are not followed by another.  i == len is
	 * one more step: the end of input ends a word.
	 */
	while (i <= len && n < max) {
		uint32_t cp = CHAT_UTF8_BAD;
		size_t step = i < len ? chat_utf8_next(q + i, len - i, &cp) : 1;

		if (is_word_char(cp)) {
			if (chars++ == 0)
				start = i;
			end = i + step;
			end_chars = chars;
		} else if (chars > 0 && is_connector(cp)) {
			chars++;
		} else if (chars > 0) {
			if (!seen(q, words, n, start, end - start)) {
				words[n].off = start;
				words[n].len = end - start;
				words[n].chars = end_chars;
				n++;
			}
			chars = 0;
		}
		i += step;
	}
	return n;
}
