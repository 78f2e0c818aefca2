/*
 * json.h - request bodies checked and cut to the field a handler reads,
 * the declared string fields read from them, and response text.
 */
#ifndef CHAT_JSON_H
#define CHAT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "buf.h"

/* How every response body is written. */
#define CHAT_JSON_TO_STRING \
	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

enum chat_json_result {
	CHAT_JSON_OK,		/* *out is a JSON object (caller puts it) */
	CHAT_JSON_EMPTY,	/* no body, or only whitespace: *out is NULL */
	CHAT_JSON_INVALID,	/* not JSON (or trailing junk) */
	CHAT_JSON_NOT_OBJECT,	/* valid JSON, but not an object */
};

/*
 * Parse a request body s[0..len) of which a handler reads the member
 * `keep` (ASCII, with nothing JSON escapes; NULL: none).  Strict RFC 8259 syntax, checked by a scan
 * of the text of any depth (no recursion, memory within len); never
 * aborts.  *out is an object of that member alone (the last one of the
 * name), a container there written empty, so json-c builds no more than
 * one value: the contract ignores unknown fields, whatever their size.
 */
enum chat_json_result chat_json_parse(const char *s, size_t len,
				      const char *keep,
				      struct json_object **out);

/* A string field of a request body and the rule it must follow. */
struct chat_field {
	const char *name;
	size_t max;		/* longest accepted length */
	bool max_in_chars;	/* max counts code points, not bytes */
};

/*
 * Read field `f` of `obj` (which may be NULL for "no body").  On success
 * returns 1 and points *s and *len into `obj` when the field is present, or
 * returns 0 when it is absent and not `required`.  Returns -1 when the
 * field is missing but required, not a string, empty, too long, not valid
 * UTF-8 or holds a NUL; `msg` then says why, in a sentence.
 */
int chat_json_string(struct json_object *obj, const struct chat_field *f,
		     bool required, const char **s, size_t *len,
		     struct chat_buf *msg);

/* Add `key`: the contract's timestamp of Unix time `t`. */
void chat_json_add_time(struct json_object *obj, const char *key, int64_t t);

/*
 * A JSON array written as text one element at a time, so that a page of
 * rows is never a tree in memory (a json-c object with its hash table
 * takes ~1 KB; a page of 1000 rows, a megabyte).  `arr` starts empty;
 * chat_json_array_add appends `obj` written with CHAT_JSON_TO_STRING and
 * puts it; chat_json_array_end closes the array, an empty one too.
 */
void chat_json_array_add(struct chat_buf *arr, struct json_object *obj);
void chat_json_array_end(struct chat_buf *arr);

/*
 * JSON written straight as text, byte for byte what json-c writes with
 * CHAT_JSON_TO_STRING (tests/unit/test_json_write.c holds them to it), for
 * the objects of the hot paths, which then build no json-c tree:
 * a string s[0..len) (valid UTF-8) quoted and escaped; an integer; the
 * contract's timestamp of `t`, quoted.
 */
void chat_json_write_string(struct chat_buf *out, const char *s, size_t len);
void chat_json_write_u64(struct chat_buf *out, uint64_t v);
void chat_json_write_time(struct chat_buf *out, int64_t t);

/*
 * The most JSON a list or search page holds (../shared/API.md: "at most
 * about 1 MiB of JSON per page"; a page then holds fewer objects than its
 * limit and links to the rest).  One object larger than this still goes
 * out, alone: a message is at most ~384 KiB written.
 */
#define CHAT_PAGE_BYTES_MAX (1024 * 1024)

/*
 * chat_json_array_add when `arr` is empty or stays within
 * CHAT_PAGE_BYTES_MAX with `obj` (and the closing bracket): returns
 * true.  Otherwise leaves `arr` as it was and returns false: the page is
 * full.  Puts `obj` either way.
 */
bool chat_json_page_add(struct chat_buf *arr, struct json_object *obj);
/*
 * The same for an element written as text: chat_json_page_next starts it
 * (the '[' or ','), the caller writes it into `arr`, and
 * chat_json_page_fits keeps it (true) or takes it back out (false) as
 * chat_json_page_add would have.
 */
size_t chat_json_page_next(struct chat_buf *arr);
bool chat_json_page_fits(struct chat_buf *arr, size_t mark);

/*
 * The length of s[0..len) as a JSON string written with
 * CHAT_JSON_TO_STRING, without its two quotes: two bytes for each of
 * \" \\ \b \t \n \f \r, six (\u00XX) for any other control character,
 * one for every other byte.  For valid UTF-8 that is what json-c and
 * chat_json_write_string write (the search index stores it with each
 * message, lib/search.c).
 */
uint64_t chat_json_string_len(const char *s, size_t len);

#endif
