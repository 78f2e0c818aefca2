/*
 * test_json.c - unit tests of lib/json.c: strict parsing of request
 * bodies cut to the member a handler reads, the checks of declared string
 * fields, and arrays written as text.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "buf.h"
#include "json.h"
#include "xalloc.h"

static enum chat_json_result parse_len(const char *s, size_t len)
{
	struct json_object *obj = (struct json_object *)&obj;
	enum chat_json_result r = chat_json_parse(s, len, NULL, &obj);

	if (r == CHAT_JSON_OK)
		cr_assert(json_object_is_type(obj, json_type_object));
	else
		cr_assert_null(obj, "*out set on result %d", r);
	json_object_put(obj);
	return r;
}

static enum chat_json_result parse(const char *s)
{
	return parse_len(s, strlen(s));
}

static void expect(const char *const *cases, size_t n,
		   enum chat_json_result want)
{
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(parse(cases[i]), want, "'%s' is not %d",
			     cases[i], want);
}

#define EXPECT(cases, want) expect(cases, sizeof(cases) / sizeof(cases[0]), want)

Test(json_parse, objects)
{
	static const char *const ok[] = {
		"{}", " {} ", "\n\t{ }\r\n", "{\"name\":\"x\"}",
		"{\"a\":1,\"b\":[1,2,{\"c\":null}],\"d\":true,\"e\":false}",
		"{\"n\":-0.5e+10}", "{\"n\":0}", "{\"n\":-0}", "{\"n\":1E5}",
		"{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"}",
		"{\"emoji\":\"\\ud83d\\ude00\"}", "{\"raw\":\"\xc3\xa9\"}",
		"{\"a\":\"x\",\"a\":\"y\"}", "{\"\":1}",
	};

	EXPECT(ok, CHAT_JSON_OK);
}

Test(json_parse, empty)
{
	static const char *const empty[] = { "", " ", "\n", "\r\n\t  " };

	EXPECT(empty, CHAT_JSON_EMPTY);
	cr_assert_eq(parse_len("{}", 0), CHAT_JSON_EMPTY);
}

Test(json_parse, not_objects)
{
	static const char *const other[] = {
		"null", "[]", "[1,2]", "42", "-1", "1.5", "1e5", "0",
		"\"s\"", "\"\"", "true", "false", " null ", "[{}]",
	};

	EXPECT(other, CHAT_JSON_NOT_OBJECT);
}

Test(json_parse, malformed)
{
	static const char *const bad[] = {
		"{", "}", "{\"a\":1", "{\"a\"}", "{\"a\" 1}", "{a:1}",
		"{'a':1}", "{\"a\":'x'}", "{\"a\":1,}", "[1,]", "{,}",
		"{\"a\":1} x", "{} {}", "{}}", "{}]", "nul", "tru",
		"{\"a\":tru}", "{\"a\":nul}", "{\"a\":TRUE}", "{\"a\":True}",
		"{\"a\":NaN}", "{\"a\":nan}", "{\"a\":Infinity}",
		"{\"a\":-Infinity}", "{\"a\":01}", "{\"a\":-01}", "{\"a\":1.}",
		"{\"a\":.5}", "{\"a\":+1}", "{\"a\":0x1}", "{\"a\":-}",
		"{\"a\":1e}", "{\"a\":1e+}", "{\"a\":\"\\x41\"}",
		"{\"a\":\"\\u12\"}", "{\"a\":\"\\u12g4\"}", "{\"a\":\"\\'\"}",
		"{\"a\":\"unterminated}", "{\"a\":\"tab\there\"}",
		"{\"a\":\"nl\nhere\"}", "/*c*/{}", "{}//c", "{\"a\":[1 2]}",
		"{\"a\":1 \"b\":2}", "\xef\xbb\xbf{}", "{\"a\":\"\\",
		"\"\\ud800", "42 43", "- 1", "{\"a\":undefined}",
	};

	EXPECT(bad, CHAT_JSON_INVALID);
}

Test(json_parse, nul_bytes)
{
	cr_assert_eq(parse_len("{}\0", 3), CHAT_JSON_INVALID);
	cr_assert_eq(parse_len("{\"a\":\"x\0y\"}", 11), CHAT_JSON_INVALID);
	cr_assert_eq(parse_len("\0", 1), CHAT_JSON_INVALID);
}

/* An object holding `depth` nested containers in all. */
static char *nested(int depth)
{
	struct chat_buf b;

	chat_buf_init(&b);
	chat_buf_adds(&b, "{\"a\":");
	for (int i = 1; i < depth; i++)
		chat_buf_adds(&b, i % 2 ? "[" : "{\"b\":");
	chat_buf_adds(&b, "1");
	for (int i = depth - 1; i >= 1; i--)
		chat_buf_adds(&b, i % 2 ? "]" : "}");
	chat_buf_adds(&b, "}");
	return chat_buf_detach(&b, NULL);
}

/* "{" head, then `n` copies of `item` separated by commas, then tail. */
static char *list_of(const char *head, const char *item, size_t n,
		     const char *tail)
{
	struct chat_buf b;

	chat_buf_init(&b);
	chat_buf_adds(&b, head);
	for (size_t i = 0; i < n; i++) {
		if (i)
			chat_buf_addch(&b, ',');
		chat_buf_adds(&b, item);
	}
	chat_buf_adds(&b, tail);
	return chat_buf_detach(&b, NULL);
}

/*
 * Parse `s` keeping member `keep` and return the object json-c built
 * written out as text (caller frees), or NULL when it was not CHAT_JSON_OK.
 */
static char *kept(const char *s, const char *keep)
{
	struct json_object *obj = NULL;
	char *text = NULL;

	if (chat_json_parse(s, strlen(s), keep, &obj) == CHAT_JSON_OK) {
		text = xstrdup(json_object_to_json_string_ext(
			obj, JSON_C_TO_STRING_PLAIN));
		json_object_put(obj);
	}
	return text;
}

static void expect_kept(const char *s, const char *keep, const char *want)
{
	char *got = kept(s, keep);

	cr_assert_str_eq(got ? got : "(not OK)", want, "'%.80s' keeping %s",
			 s, keep ? keep : "nothing");
	free(got);
}

/* The contract ignores unknown fields, whatever their depth. */
Test(json_parse, unknown_fields_of_any_depth)
{
	char *s = nested(10000);

	cr_assert_eq(parse(s), CHAT_JSON_OK);
	expect_kept(s, "name", "{}");
	/* The member read, nested: its type is what the handler checks. */
	expect_kept(s, "a", "{\"a\":[]}");
	s[strlen(s) - 2] = '}';		/* a ']' closed by '}' */
	cr_assert_eq(parse(s), CHAT_JSON_INVALID);
	free(s);
	{
		/* 100,000 arrays deep at the top: not an object. */
		struct chat_buf b;

		chat_buf_init(&b);
		for (int i = 0; i < 100000; i++)
			chat_buf_addch(&b, '[');
		cr_assert_eq(parse_len(b.data, b.len), CHAT_JSON_INVALID);
		for (int i = 0; i < 100000; i++)
			chat_buf_addch(&b, ']');
		cr_assert_eq(parse_len(b.data, b.len), CHAT_JSON_NOT_OBJECT);
		chat_buf_release(&b);
	}
}

/*
 * {"a":[{},{},...]} of 400 KiB, which would cost json-c ~266 MB as a
 * tree, is checked and left out: the object built is empty.  Broken at
 * its very end, it is not JSON.
 */
Test(json_parse, wide_unknown_field)
{
	char *s = list_of("{\"name\":\"x\",\"a\":[", "{}", 400 * 1024 / 3,
			  "]}");
	size_t len = strlen(s);

	expect_kept(s, "name", "{\"name\":\"x\"}");
	expect_kept(s, NULL, "{}");
	s[len - 1] = 'x';
	cr_assert_eq(parse_len(s, len), CHAT_JSON_INVALID);
	free(s);
	s = list_of("{\"a\":[", "{", 10, "]}");
	cr_assert_eq(parse(s), CHAT_JSON_INVALID);
	free(s);
}

Test(json_parse, the_member_read)
{
	static const struct {
		const char *body, *keep, *want;
	} cases[] = {
		/* The last of the name, as json-c itself takes it. */
		{ "{\"name\":\"a\",\"x\":1,\"name\":\"b\"}", "name",
		  "{\"name\":\"b\"}" },
		{ "{\"name\":\"a\",\"body\":\"b\"}", "body", "{\"body\":\"b\"}" },
		/* Its name written with escapes. */
		{ "{\"n\\u0061me\":\"a\"}", "name", "{\"name\":\"a\"}" },
		{ "{\"n\\u00e1me\":\"a\"}", "name", "{}" },
		{ "{\"name\\u0000\":\"a\"}", "name", "{}" },
		{ "{\"nam\":\"a\",\"names\":\"b\",\"Name\":\"c\"}", "name", "{}" },
		{ "{\"a:b\":1,\"name\" : \"x\" }", "name", "{\"name\":\"x\"}" },
		/* Scalars as they are; containers empty, of their kind. */
		{ "{\"name\":1.5}", "name", "{\"name\":1.5}" },
		{ "{\"name\":null}", "name", "{\"name\":null}" },
		{ "{\"name\":{\"x\":[1,2]}}", "name", "{\"name\":{}}" },
		{ "{\"name\":[\"x\"]}", "name", "{\"name\":[]}" },
		/* Nothing read: only the syntax counts. */
		{ "{\"name\":\"x\"}", NULL, "{}" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_kept(cases[i].body, cases[i].keep, cases[i].want);
	cr_assert_null(kept("{\"name\":\"x\",\"a\":[1,]}", "name"));
	cr_assert_null(kept("[{\"name\":\"x\"}]", "name"));
}

/* A lone surrogate in the member read is marked for a 422 as before. */
Test(json_parse, lone_surrogate_in_the_member_read)
{
	struct json_object *obj = NULL;
	const char *s = "{\"x\":\"\\ud800\",\"name\":\"a\\udc00b\"}";
	const char *name;

	cr_assert_eq(chat_json_parse(s, strlen(s), "name", &obj),
		     CHAT_JSON_OK);
	name = json_object_get_string(json_object_object_get(obj, "name"));
	cr_assert_str_eq(name, "a\xed\xb0\x80" "b");
	json_object_put(obj);
}

/* The largest valid request: 65,535 bytes, each one a six-byte escape. */
Test(json_parse, largest_valid_request)
{
	struct json_object *obj = NULL;
	struct chat_buf b;

	chat_buf_init(&b);
	chat_buf_adds(&b, "{\"body\":\"");
	for (int i = 0; i < 65535; i++)
		chat_buf_adds(&b, "\\u0001");
	chat_buf_adds(&b, "\"}");
	cr_assert_eq(b.len, 393221);
	cr_assert_eq(chat_json_parse(b.data, b.len, "body", &obj),
		     CHAT_JSON_OK);
	cr_assert_eq(json_object_get_string_len(
			     json_object_object_get(obj, "body")), 65535);
	json_object_put(obj);
	chat_buf_release(&b);
}

/* A page takes objects while they fit in the byte cap; the first always. */
Test(json_page, capped_by_bytes)
{
	struct chat_buf page;
	char *big = xmalloc(CHAT_PAGE_BYTES_MAX / 3);
	size_t n = 0;

	memset(big, 'a', CHAT_PAGE_BYTES_MAX / 3 - 1);
	big[CHAT_PAGE_BYTES_MAX / 3 - 1] = '\0';
	chat_buf_init(&page);
	while (chat_json_page_add(&page, json_object_new_string(big)))
		n++;
	cr_assert_eq(n, 2, "%zu strings of a third of the cap", n);
	chat_json_array_end(&page);
	cr_assert_leq(page.len, CHAT_PAGE_BYTES_MAX);
	chat_buf_release(&page);

	/* One object over the cap still goes out, alone. */
	chat_buf_init(&page);
	free(big);
	big = xmalloc(CHAT_PAGE_BYTES_MAX + 10);
	memset(big, 'b', CHAT_PAGE_BYTES_MAX + 9);
	big[CHAT_PAGE_BYTES_MAX + 9] = '\0';
	cr_assert(chat_json_page_add(&page, json_object_new_string(big)));
	cr_assert_not(chat_json_page_add(&page, json_object_new_string("x")));
	chat_json_array_end(&page);
	cr_assert_eq(page.len, CHAT_PAGE_BYTES_MAX + 9 + 4);
	chat_buf_release(&page);
	free(big);
}

Test(json_parse, large_flat_body)
{
	struct chat_buf b;

	chat_buf_init(&b);
	chat_buf_adds(&b, "{\"name\":\"");
	for (int i = 0; i < 500000; i++)
		chat_buf_adds(&b, "ab");
	chat_buf_adds(&b, "\"}");
	cr_assert_eq(parse_len(b.data, b.len), CHAT_JSON_OK);
	chat_buf_release(&b);
}

static const struct chat_field name_field = { "name", 255, true };
static const struct chat_field body_field = { "body", 65535, false };

struct field_result {
	int rc;
	char *value;
	size_t len;
	char *msg;
};

/* Parse `json` (must be an object) and read `f` from it. */
static struct field_result field(const char *json, size_t jlen,
				 const struct chat_field *f, bool required)
{
	struct json_object *obj = NULL;
	struct field_result r = { 0 };
	struct chat_buf msg;
	const char *s = (const char *)&r;
	size_t len = 99;

	if (json)
		cr_assert_eq(chat_json_parse(json, jlen, f->name, &obj),
			     CHAT_JSON_OK,
			     "%s", json);
	chat_buf_init(&msg);
	r.rc = chat_json_string(obj, f, required, &s, &len, &msg);
	if (r.rc == 1) {
		r.value = xstrndup(s, len);
		r.len = len;
	} else {
		cr_assert_null(s, "*s set on result %d", r.rc);
		cr_assert_eq(len, 0, "*len set on result %d", r.rc);
	}
	if (r.rc < 0)
		cr_assert_gt(msg.len, 0, "no message for %s", json);
	else
		cr_assert_eq(msg.len, 0, "message on success: %s", msg.data);
	r.msg = chat_buf_detach(&msg, NULL);
	json_object_put(obj);
	return r;
}

static struct field_result name_of(const char *json)
{
	return field(json, strlen(json), &name_field, true);
}

static void release(struct field_result *r)
{
	free(r->value);
	free(r->msg);
}

Test(json_string, present_and_valid)
{
	struct field_result r = name_of("{\"name\":\"My app\",\"extra\":1}");

	cr_assert_eq(r.rc, 1);
	cr_assert_str_eq(r.value, "My app");
	cr_assert_eq(r.len, 6);
	release(&r);
	r = name_of("{\"name\":\"\\u00e9t\\u00e9\"}");
	cr_assert_eq(r.rc, 1);
	cr_assert_str_eq(r.value, "\xc3\xa9t\xc3\xa9");
	release(&r);
	r = name_of("{\"name\":\" \"}");
	cr_assert_eq(r.rc, 1, "a space is a name");
	release(&r);
}

Test(json_string, required_and_missing)
{
	struct field_result r = name_of("{}");

	cr_assert_eq(r.rc, -1);
	cr_assert(strstr(r.msg, "name"), "message names the field: %s", r.msg);
	release(&r);
	r = field(NULL, 0, &name_field, true);
	cr_assert_eq(r.rc, -1, "no body at all");
	release(&r);
	r = field("{\"Name\":\"x\"}", 12, &name_field, true);
	cr_assert_eq(r.rc, -1, "field names are case-sensitive");
	release(&r);
}

Test(json_string, optional_and_missing)
{
	struct field_result r = field("{}", 2, &name_field, false);

	cr_assert_eq(r.rc, 0);
	release(&r);
	r = field(NULL, 0, &name_field, false);
	cr_assert_eq(r.rc, 0);
	release(&r);
	/* Present but bad is an error even when optional. */
	r = field("{\"name\":\"\"}", 11, &name_field, false);
	cr_assert_eq(r.rc, -1);
	release(&r);
	r = field("{\"name\":null}", 13, &name_field, false);
	cr_assert_eq(r.rc, -1, "null is not absent");
	release(&r);
}

Test(json_string, wrong_types)
{
	static const char *const bad[] = {
		"{\"name\":1}", "{\"name\":1.5}", "{\"name\":null}",
		"{\"name\":true}", "{\"name\":false}", "{\"name\":[]}",
		"{\"name\":[\"x\"]}", "{\"name\":{}}", "{\"name\":{\"a\":\"b\"}}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct field_result r = name_of(bad[i]);

		cr_expect_eq(r.rc, -1, "%s", bad[i]);
		release(&r);
	}
}

Test(json_string, empty)
{
	struct field_result r = name_of("{\"name\":\"\"}");

	cr_assert_eq(r.rc, -1);
	release(&r);
}

/* {"<key>":"<rep × n>"} */
static char *repeated(const char *key, const char *rep, size_t n)
{
	struct chat_buf b;

	chat_buf_init(&b);
	chat_buf_addf(&b, "{\"%s\":\"", key);
	for (size_t i = 0; i < n; i++)
		chat_buf_adds(&b, rep);
	chat_buf_adds(&b, "\"}");
	return chat_buf_detach(&b, NULL);
}

Test(json_string, length_in_characters)
{
	char *s;
	struct field_result r;

	s = repeated("name", "a", 255);
	r = name_of(s);
	cr_assert_eq(r.rc, 1, "255 ASCII characters");
	release(&r);
	free(s);
	s = repeated("name", "a", 256);
	r = name_of(s);
	cr_assert_eq(r.rc, -1, "256 ASCII characters");
	release(&r);
	free(s);
	s = repeated("name", "\xc3\xa9", 255);
	r = name_of(s);
	cr_assert_eq(r.rc, 1, "255 x e-acute is 510 bytes but 255 characters");
	cr_assert_eq(r.len, 510);
	release(&r);
	free(s);
	s = repeated("name", "\xc3\xa9", 256);
	r = name_of(s);
	cr_assert_eq(r.rc, -1, "256 x e-acute");
	release(&r);
	free(s);
	s = repeated("name", "\xf0\x9f\x98\x80", 255);
	r = name_of(s);
	cr_assert_eq(r.rc, 1, "255 emoji, 1020 bytes");
	release(&r);
	free(s);
	s = repeated("name", "\\u00e9", 256);
	r = name_of(s);
	cr_assert_eq(r.rc, -1, "256 escaped e-acute");
	release(&r);
	free(s);
}

Test(json_string, length_in_bytes)
{
	char *s;
	struct field_result r;

	s = repeated("body", "a", 65535);
	r = field(s, strlen(s), &body_field, true);
	cr_assert_eq(r.rc, 1, "65535 bytes");
	release(&r);
	free(s);
	s = repeated("body", "a", 65536);
	r = field(s, strlen(s), &body_field, true);
	cr_assert_eq(r.rc, -1, "65536 bytes");
	release(&r);
	free(s);
	/* 32768 x e-acute: 32768 characters but 65536 bytes. */
	s = repeated("body", "\xc3\xa9", 32768);
	r = field(s, strlen(s), &body_field, true);
	cr_assert_eq(r.rc, -1, "65536 bytes of 2-byte characters");
	release(&r);
	free(s);
	s = repeated("body", "\xc3\xa9", 32767);
	r = field(s, strlen(s), &body_field, true);
	cr_assert_eq(r.rc, 1, "65534 bytes");
	release(&r);
	free(s);
}

Test(json_string, invalid_utf8)
{
	static const char *const bad[] = {
		"{\"name\":\"\xff\"}",
		"{\"name\":\"a\xc0\xaf\"}",
		"{\"name\":\"\xed\xa0\x80\"}",
		"{\"name\":\"\xc3\"}",
		"{\"name\":\"\xf4\x90\x80\x80\"}",
		/* Lone surrogate escapes are JSON, but no characters. */
		"{\"name\":\"\\ud800\"}",
		"{\"name\":\"\\uDBFF\"}",
		"{\"name\":\"\\udc00\"}",
		"{\"name\":\"a\\ud800b\"}",
		"{\"name\":\"\\ud800\\u0041\"}",
		"{\"name\":\"\\ude00\\ud83d\"}",
		"{\"name\":\"\\ud83d\\ude00\\ud800\"}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct field_result r = name_of(bad[i]);

		cr_expect_eq(r.rc, -1, "%s", bad[i]);
		if (r.rc < 0)
			cr_expect(strstr(r.msg, "UTF-8"), "%s: %s", bad[i],
				  r.msg);
		release(&r);
	}
}

Test(json_string, surrogate_pairs_are_characters)
{
	struct field_result r = name_of("{\"name\":\"\\ud83d\\ude00!\"}");

	cr_assert_eq(r.rc, 1);
	cr_assert_str_eq(r.value, "\xf0\x9f\x98\x80!");
	release(&r);
	/* Other fields with lone surrogates are ignored. */
	r = name_of("{\"\\ud800\":\"\\udfff\",\"name\":\"ok\"}");
	cr_assert_eq(r.rc, 1);
	cr_assert_str_eq(r.value, "ok");
	release(&r);
}

Test(json_string, nul_character)
{
	struct field_result r = name_of("{\"name\":\"a\\u0000b\"}");

	cr_assert_eq(r.rc, -1);
	release(&r);
	r = name_of("{\"name\":\"\\u0000\"}");
	cr_assert_eq(r.rc, -1);
	release(&r);
}

static struct json_object *element(int i)
{
	static const char *const bodies[] = {
		"plain", "a/b \"quoted\" \\ back", "caf\xc3\xa9 \xf0\x9f\x98\x80",
		"tab\tnewline\ncontrol\x01",
	};
	struct json_object *obj = json_object_new_object();

	json_object_object_add(obj, "number", json_object_new_int64(i + 1));
	json_object_object_add(obj, "body",
			       json_object_new_string(bodies[i % 4]));
	return obj;
}

/* The text is what json-c writes for the same array as a tree. */
Test(json_array, same_text_as_a_tree)
{
	for (int n = 0; n <= 5; n++) {
		struct json_object *tree = json_object_new_array();
		struct chat_buf text;

		chat_buf_init(&text);
		for (int i = 0; i < n; i++) {
			json_object_array_add(tree, element(i));
			chat_json_array_add(&text, element(i));
		}
		chat_json_array_end(&text);
		cr_expect_str_eq(text.data,
				 json_object_to_json_string_ext(
					 tree, CHAT_JSON_TO_STRING),
				 "%d elements", n);
		cr_expect_eq(text.len, strlen(text.data));
		json_object_put(tree);
		chat_buf_release(&text);
	}
}

/* What json-c writes for s[0..len) as a string, less the two quotes. */
static uint64_t written_len(const char *s, size_t len)
{
	struct json_object *str = json_object_new_string_len(s, (int)len);
	size_t n = 0;

	json_object_to_json_string_length(str, CHAT_JSON_TO_STRING, &n);
	json_object_put(str);
	return n - 2;
}

/* What chat_json_write_string writes for it, less the two quotes. */
static uint64_t text_len(const char *s, size_t len)
{
	struct chat_buf b;
	uint64_t n;

	chat_buf_init(&b);
	chat_json_write_string(&b, s, len);
	n = b.len - 2;
	chat_buf_release(&b);
	return n;
}

/*
 * The rule the search index used to apply to a body at search time (the
 * painless script of lib/search.c before the length was stored): per
 * UTF-16 unit of the text as Java holds it.  For valid UTF-8 only.
 */
static uint64_t utf16_rule_len(const unsigned char *s, size_t len)
{
	uint64_t n = 0;

	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];

		if (c >= 0xf0) {		/* a surrogate pair: 2 + 2 */
			n += 4;
			i += 4;
		} else if (c >= 0xe0) {
			n += 3;
			i += 3;
		} else if (c >= 0xc0) {
			n += 2;
			i += 2;
		} else {
			n += c == '"' || c == '\\' || c == '\b' || c == '\t' ||
			     c == '\n' || c == '\f' || c == '\r' ? 2
			     : c < 0x20 ? 6 : 1;
			i++;
		}
	}
	return n;
}

Test(json_string_len, same_as_json_c_writes)
{
	static const char *const bodies[] = {
		"",
		"hello world",
		"\"quoted\" \\ back\\slash / slash",
		"\b\t\n\f\r",
		"\x01\x02\x1f\x7f end",
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf",
		"\xef\xbf\xbd\xef\xbb\xbf\xe2\x80\xa8\xe2\x80\xa9",
		"<script>\"</script>&amp;'",
	};

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		size_t len = strlen(bodies[i]);

		cr_expect_eq(chat_json_string_len(bodies[i], len),
			     written_len(bodies[i], len), "body %zu", i);
		cr_expect_eq(chat_json_string_len(bodies[i], len),
			     text_len(bodies[i], len), "body %zu", i);
		cr_expect_eq(chat_json_string_len(bodies[i], len),
			     utf16_rule_len((const unsigned char *)bodies[i],
					    len), "body %zu", i);
	}
}

/* Every byte value, the NUL included, alone and between others. */
Test(json_string_len, every_byte)
{
	char s[3] = { 'a', 0, 'b' };

	for (int c = 0; c < 256; c++) {
		s[1] = (char)c;
		cr_expect_eq(chat_json_string_len(s + 1, 1),
			     written_len(s + 1, 1), "byte %d", c);
		cr_expect_eq(chat_json_string_len(s, 3), written_len(s, 3),
			     "byte %d", c);
	}
}

/* Pseudo-random ASCII and UTF-8 mixes, controls included. */
Test(json_string_len, random_texts)
{
	static const char *const parts[] = {
		"a", " ", "\"", "\\", "/", "\n", "\x01", "\x1b", "\x7f",
		"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "_", "\t",
	};
	const size_t nparts = sizeof(parts) / sizeof(parts[0]);
	unsigned seed = 12345;

	for (int t = 0; t < 500; t++) {
		struct chat_buf b;

		chat_buf_init(&b);
		for (int k = 0; k < t % 64; k++) {
			seed = seed * 1103515245u + 12345u;
			chat_buf_adds(&b, parts[(seed >> 16) % nparts]);
		}
		cr_expect_eq(chat_json_string_len(b.data, b.len),
			     written_len(b.data, b.len), "text %d", t);
		cr_expect_eq(chat_json_string_len(b.data, b.len),
			     text_len(b.data, b.len), "text %d", t);
		cr_expect_eq(chat_json_string_len(b.data, b.len),
			     utf16_rule_len((const unsigned char *)b.data,
					    b.len), "text %d", t);
		chat_buf_release(&b);
	}
}
