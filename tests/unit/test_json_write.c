/*
 * test_json_write.c - the JSON written as text (lib/json.h
 * chat_json_write_*, chat_messages_json_write, chat_time_format) is byte
 * for byte what json-c and gmtime_r/strftime write: they stay the
 * reference, the writers only skip their trees and time zone state.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "buf.h"
#include "json.h"
#include "messages.h"
#include "text.h"

/* What json-c writes for the string s[0..len). */
static const char *json_c_string(const char *s, size_t len,
				 struct json_object **keep)
{
	*keep = json_object_new_string_len(s, (int)len);
	return json_object_to_json_string_ext(*keep, CHAT_JSON_TO_STRING);
}

static void same_string(const char *s, size_t len)
{
	struct json_object *obj;
	const char *want = json_c_string(s, len, &obj);
	struct chat_buf got;

	chat_buf_init(&got);
	chat_buf_adds(&got, "x");	/* appends, after what is there */
	chat_json_write_string(&got, s, len);
	cr_assert_eq(got.len, 1 + strlen(want), "length of %s", want);
	cr_assert_str_eq(got.data + 1, want);
	chat_buf_release(&got);
	json_object_put(obj);
}

Test(json_write, every_byte_alone_and_in_text)
{
	char s[8];

	for (int c = 1; c < 256; c++) {
		s[0] = (char)c;
		same_string(s, 1);
		memcpy(s, "ab", 2);
		s[2] = (char)c;
		memcpy(s + 3, "cd", 2);
		same_string(s, 5);
	}
	same_string("", 0);
}

Test(json_write, chat_bodies)
{
	static const char *const bodies[] = {
		"Hello, world!",
		"quotes \"inside\" and \\backslashes\\ and /slashes/",
		"tab\there\nnew line\r\n\f\b",
		"\x01\x02\x1f\x7f control",
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad\xe6\x96\x87",
		"</script><!-- \\u0000 -->",
		"\"\"\"\\\\\\",
	};

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		same_string(bodies[i], strlen(bodies[i]));
}

Test(json_write, random_text)
{
	char s[300];

	srand(7);
	for (int round = 0; round < 2000; round++) {
		size_t len = (size_t)(rand() % (int)sizeof(s));

		for (size_t i = 0; i < len; i++) {
			/* Mostly the bytes that are escaped. */
			int r = rand() % 4;

			s[i] = (char)(r == 0 ? rand() % 32 + 1 :
				      r == 1 ? "\"\\/"[rand() % 3] :
				      rand() % 95 + 32);
		}
		same_string(s, len);
	}
}

Test(json_write, integers)
{
	static const uint64_t v[] = { 0, 1, 9, 10, 99, 4294967295u,
				      4294967296u, UINT64_MAX };
	struct chat_buf got;
	char want[32];

	chat_buf_init(&got);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		chat_buf_reset(&got);
		chat_json_write_u64(&got, v[i]);
		snprintf(want, sizeof(want), "%llu", (unsigned long long)v[i]);
		cr_assert_str_eq(got.data, want);
	}
	chat_buf_release(&got);
}

static void same_time(int64_t t)
{
	char want[64], got[CHAT_TIME_LEN + 1];
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm);
	chat_time_format(tt, got);
	cr_assert_str_eq(got, want, "t = %lld", (long long)t);
}

Test(json_write, times_as_strftime)
{
	/* Epoch, leap days, century rules, year ends, the last second. */
	static const int64_t t[] = {
		0, 59, 86399, 86400, 951782400 /* 2000-02-29 */,
		951868800, 4107542400 /* 2100-03-01 */, 1709164800,
		1735689599, 1735689600, 2147483647, 2147483648,
		CHAT_TIME_MAX,
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		same_time(t[i]);
	srand(11);
	for (int i = 0; i < 200000; i++)
		same_time((int64_t)(((uint64_t)rand() << 31 | (uint64_t)rand()) %
				    (uint64_t)(CHAT_TIME_MAX + 1)));
	/* Every day of a few centuries, at its last second. */
	for (int64_t d = 0; d < 160000; d++)
		same_time(d * 86400 + 86399);
}

Test(json_write, times_out_of_range_are_the_epoch)
{
	char got[CHAT_TIME_LEN + 1];

	chat_time_format((time_t)-1, got);
	cr_assert_str_eq(got, "1970-01-01T00:00:00Z");
	chat_time_format((time_t)(CHAT_TIME_MAX + 1), got);
	cr_assert_str_eq(got, "1970-01-01T00:00:00Z");
}

/* The Message object, as json-c would build and write it. */
static char *json_c_message(const struct chat_message *m)
{
	struct json_object *obj = json_object_new_object();
	char *s;

	json_object_object_add(obj, "number",
			       json_object_new_int64((int64_t)m->number));
	json_object_object_add(obj, "body",
			       json_object_new_string_len(m->body.data,
							  (int)m->body.len));
	chat_json_add_time(obj, "created_at", m->created_at);
	chat_json_add_time(obj, "updated_at", m->updated_at);
	s = strdup(json_object_to_json_string_ext(obj, CHAT_JSON_TO_STRING));
	json_object_put(obj);
	return s;
}

Test(json_write, message_object)
{
	struct chat_message m;
	struct chat_buf got;
	char *want;

	chat_message_init(&m);
	chat_buf_init(&got);
	m.number = 4294967295u;
	m.created_at = 1733313600;
	m.updated_at = 1733317200;
	chat_buf_adds(&m.body, "hi \"there\"\n\xe2\x82\xac");
	chat_messages_json_write(&m, &got);
	want = json_c_message(&m);
	cr_assert_str_eq(got.data, want);
	free(want);
	chat_buf_release(&got);
	chat_message_release(&m);
}

Test(json_write, page_takes_back_what_does_not_fit)
{
	struct chat_buf page;
	size_t mark, big = CHAT_PAGE_BYTES_MAX / 2;
	char *s = malloc(big);

	cr_assert_not_null(s);
	memset(s, 'a', big);
	chat_buf_init(&page);
	/* The first element goes in whatever its size. */
	mark = chat_json_page_next(&page);
	chat_json_write_string(&page, s, big);
	cr_assert(chat_json_page_fits(&page, mark));
	mark = chat_json_page_next(&page);
	chat_json_write_string(&page, s, 10);
	cr_assert(chat_json_page_fits(&page, mark));
	size_t before = page.len;
	mark = chat_json_page_next(&page);
	chat_json_write_string(&page, s, big);
	cr_assert_not(chat_json_page_fits(&page, mark));
	cr_assert_eq(page.len, before);
	cr_assert_eq(page.data[page.len], '\0');
	chat_json_array_end(&page);
	cr_assert_eq(page.data[0], '[');
	cr_assert_eq(page.data[page.len - 1], ']');
	cr_assert_leq(page.len, CHAT_PAGE_BYTES_MAX);
	chat_buf_release(&page);
	free(s);
}
