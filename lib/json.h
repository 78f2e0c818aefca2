/*
 * json.h - request bodies through json-c under size and depth limits, the
 * declared string fields that handlers read from them, and response text.
 */
#ifndef CHAT_JSON_H
#define CHAT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "buf.h"

#define CHAT_JSON_MAX_DEPTH 32
/* How every response body is written. */
#define CHAT_JSON_TO_STRING \
	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

enum chat_json_result {
	CHAT_JSON_OK,		/* *out is a JSON object (caller puts it) */
	CHAT_JSON_EMPTY,	/* no body, or only whitespace: *out is NULL */
	CHAT_JSON_INVALID,	/* not JSON (or too deep, or trailing junk) */
	CHAT_JSON_NOT_OBJECT,	/* valid JSON, but not an object */
};

/* Parse a request body.  Strict RFC 8259 syntax; never aborts. */
enum chat_json_result chat_json_parse(const char *s, size_t len,
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

#endif
