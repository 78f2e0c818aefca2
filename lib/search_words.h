/*
 * search_words.h - the words of a search query, split in C exactly where
 * the index's analyzers split a body (see lib/search-index.json), so that
 * no query syntax ever reaches the engine.
 */
#ifndef CHAT_SEARCH_WORDS_H
#define CHAT_SEARCH_WORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* At most this many distinct words of a query are used; see query. */
#define CHAT_SEARCH_MAX_WORDS 128

/* A word of a query: bytes q[off..off+len), `chars` code points. */
struct chat_search_word {
	size_t off;
	size_t len;
	size_t chars;
};

/*
 * Split the UTF-8 query q[0..len) into words: maximal runs of letters,
 * digits and combining marks, with connector punctuation (`_`, U+203F
 * and the like) between two of them belonging to the word as Unicode's
 * word rules have it (non-ASCII code points count as letters
 * unless they are in the table of punctuation, symbol, space, emoji and
 * control ranges in search_words.c; bytes that are not valid UTF-8 separate
 * words).  Words equal to an earlier one, ignoring ASCII case, are
 * dropped.  Stores at most `max` words in order of appearance and returns
 * how many it stored; 0 means the query has no letter or digit.  Never
 * fails.
 */
size_t chat_search_words(const char *q, size_t len,
			 struct chat_search_word *words, size_t max);

#endif
