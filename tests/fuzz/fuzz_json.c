/*
 * fuzz_json.c - libFuzzer target for request bodies: chat_json_parse
 * (strict RFC 8259 text of any depth, cut to the member a handler reads,
 * then json-c) and chat_json_string (the declared string fields handlers
 * read).
 *
 * Besides the sanitizers, it checks the contracts of json.h: only
 * CHAT_JSON_OK hands out an object, and it is a JSON object holding at
 * most the member asked for; whether a body is accepted does not depend
 * on that member; a field read successfully is non-empty valid UTF-8
 * without NUL, within its limit; a failure always explains itself; and
 * an accepted body, written out again by json-c, is accepted again.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "buf.h"
#include "json.h"
#include "text.h"


/* The fields of cgi-bin/ (name: 255 characters, body: 65535 bytes). */
static const struct chat_field fields[] = {
	{ .name = "name", .max = 255, .max_in_chars = true },
	{ .name = "body", .max = 65535, .max_in_chars = false },
	{ .name = "name", .max = 2, .max_in_chars = true },
	{ .name = "body", .max = 3, .max_in_chars = false },
	{ .name = "", .max = 10, .max_in_chars = false },
};

static void check_field(struct json_object *obj, const struct chat_field *f,
			bool required)
{
	struct chat_buf msg;
	const char *s = (const char *)1;
	size_t len = 1;
	int rc;

	chat_buf_init(&msg);
	rc = chat_json_string(obj, f, required, &s, &len, &msg);
	if (rc == 1) {
		CHECK(s && len > 0);
		CHECK(chat_utf8_valid(s, len));
		CHECK(!memchr(s, '\0', len));
		CHECK((f->max_in_chars ? chat_utf8_chars(s, len) : len) <=
		      f->max);
		CHECK(msg.len == 0);
	} else if (rc == 0) {
		CHECK(!required && !s && len == 0 && msg.len == 0);
	} else {
		CHECK(rc == -1 && !s && len == 0 && msg.len > 0);
	}
	chat_buf_release(&msg);
}

/* Written out by json-c, an accepted body must parse again, the same. */
static void check_round_trip(struct json_object *obj, const char *keep)
{
	struct json_object *again = NULL;
	size_t len = 0;
	const char *text = json_object_to_json_string_length(
		obj, JSON_C_TO_STRING_PLAIN, &len);

	/* json-c writes out-of-range numbers as Infinity/NaN: not JSON. */
	if (!text || strstr(text, "Infinity") || strstr(text, "NaN") ||
	    strstr(text, "nan") || strstr(text, "inf"))
		return;
	CHECK(chat_json_parse(text, len, keep, &again) == CHAT_JSON_OK);
	CHECK(again && json_object_is_type(again, json_type_object));
	CHECK(json_object_object_length(again) ==
	      json_object_object_length(obj));
	json_object_put(again);
}

/* The members the handlers of cgi-bin/ read, and none. */
static const char *const keeps[] = { NULL, "name", "body" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum chat_json_result first = CHAT_JSON_OK;

	for (size_t k = 0; k < sizeof(keeps) / sizeof(keeps[0]); k++) {
		struct json_object *obj = (struct json_object *)1;
		enum chat_json_result r;

		r = chat_json_parse((const char *)data, size, keeps[k], &obj);
		if (k == 0)
			first = r;
		CHECK(r == first);
		switch (r) {
		case CHAT_JSON_OK:
			CHECK(obj && json_object_is_type(obj,
							 json_type_object));
			CHECK(json_object_object_length(obj) <=
			      (keeps[k] ? 1 : 0));
			if (keeps[k] && json_object_object_length(obj))
				CHECK(json_object_object_get_ex(obj, keeps[k],
								NULL));
			break;
		case CHAT_JSON_EMPTY:
		case CHAT_JSON_INVALID:
		case CHAT_JSON_NOT_OBJECT:
			CHECK(obj == NULL);
			break;
		default:
			CHECK(!"unknown result");
		}
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]);
		     i++) {
			check_field(obj, &fields[i], false);
			check_field(obj, &fields[i], true);
		}
		if (obj)
			check_round_trip(obj, keeps[k]);
		json_object_put(obj);
	}
	return 0;
}
