/*
 * json.c - strict, bounded parsing of request bodies and field checks.
 */
#include "json.h"

#include <string.h>

#include "text.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

enum chat_json_result chat_json_parse(const char *s, size_t len,
				      struct json_object **out)
{
	struct json_tokener *tok = NULL;
	struct json_object *obj = NULL;
	enum chat_json_result res = CHAT_JSON_INVALID;
	size_t start = 0, end = len;

	*out = NULL;
	while (start < end && is_space(s[start]))
		start++;
	while (end > start && is_space(s[end - 1]))
		end--;
	if (start == end)
		return CHAT_JSON_EMPTY;
	/* json-c stops at a NUL byte; a body holding one is never JSON. */
	if (memchr(s + start, '\0', end - start))
		return CHAT_JSON_INVALID;
	if (end - start > (size_t)INT32_MAX)
		return CHAT_JSON_INVALID;

	tok = json_tokener_new_ex(CHAT_JSON_MAX_DEPTH);
	if (!tok)
		return CHAT_JSON_INVALID;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, s + start, (int)(end - start));
	if (!obj && json_tokener_get_error(tok) == json_tokener_continue) {
		/* A top-level number may go on; a space ends it. */
		obj = json_tokener_parse_ex(tok, " ", 1);
	} else if (json_tokener_get_error(tok) == json_tokener_success &&
		   (size_t)json_tokener_get_parse_end(tok) != end - start) {
		goto out;	/* trailing junk after the value */
	}
	if (json_tokener_get_error(tok) != json_tokener_success)
		goto out;
	if (!obj) {
		/* `null` parses to NULL with success. */
		res = CHAT_JSON_NOT_OBJECT;
		goto out;
	}
	if (!json_object_is_type(obj, json_type_object)) {
		res = CHAT_JSON_NOT_OBJECT;
		goto out;
	}
	*out = obj;
	obj = NULL;
	res = CHAT_JSON_OK;
out:
	json_object_put(obj);
	json_tokener_free(tok);
	return res;
}

int chat_json_string(struct json_object *obj, const struct chat_field *f,
		     bool required, const char **s, size_t *len,
		     struct chat_buf *msg)
{
	struct json_object *v = NULL;
	const char *str;
	size_t n;

	*s = NULL;
	*len = 0;
	if (!obj || !json_object_object_get_ex(obj, f->name, &v)) {
		if (!required)
			return 0;
		chat_buf_addf(msg, "'%s' is required.", f->name);
		return -1;
	}
	if (!json_object_is_type(v, json_type_string)) {
		chat_buf_addf(msg, "'%s' must be a string.", f->name);
		return -1;
	}
	str = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (n == 0) {
		chat_buf_addf(msg, "'%s' must not be empty.", f->name);
		return -1;
	}
	if (!chat_utf8_valid(str, n)) {
		chat_buf_addf(msg, "'%s' must be valid UTF-8.", f->name);
		return -1;
	}
	if (memchr(str, '\0', n)) {
		chat_buf_addf(msg, "'%s' must not contain NUL characters.",
			      f->name);
		return -1;
	}
	if ((f->max_in_chars ? chat_utf8_chars(str, n) : n) > f->max) {
		chat_buf_addf(msg, "'%s' must be at most %zu %s.", f->name,
			      f->max, f->max_in_chars ? "characters" : "bytes");
		return -1;
	}
	*s = str;
	*len = n;
	return 1;
}
