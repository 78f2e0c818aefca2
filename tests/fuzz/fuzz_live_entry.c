/*
 * fuzz_live_entry.c - libFuzzer target for the live relay's reader of
 * the shards' live streams, chat_live_collect (lib/live.h), and the
 * event JSON it then writes, chat_live_entry_write: entries whose body
 * any client's create or edit put there, beside the programs' own fields.
 *
 * Input: items separated by NUL bytes.  The first is the stream's name
 * (as XREAD names it), the second the entry's id, the rest the entry's
 * field list.  An item starting with \x01 is an integer reply, \x02 a
 * nil, any other a string, as hiredis would hand them over.
 *
 * Checked against live.h: at most the one entry is read, from a shard's
 * live stream only, and the relay's place in that shard (and no other)
 * moves to its id; an entry that is not malformed has a channel of two
 * numbers and an event name, and unless it closes the chat its JSON
 * parses (json-c) to an object naming the same event with the same
 * number, and for a message its body byte for byte.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fuzz.h"
#include "buf.h"
#include "job.h"
#include "live.h"
#include "xalloc.h"


#define MAX_ITEMS 64

/* Items of the input: NUL-separated, typed by their first byte. */
static size_t split(const uint8_t *data, size_t size, redisReply *items)
{
	size_t n = 0, pos = 0;

	while (pos <= size && n < MAX_ITEMS) {
		const uint8_t *start = data + pos;
		const uint8_t *end = memchr(start, 0, size - pos);
		size_t len = end ? (size_t)(end - start) : size - pos;
		redisReply *r = &items[n++];

		memset(r, 0, sizeof(*r));
		r->type = REDIS_REPLY_STRING;
		pos += len + 1;
		if (len > 0 && (start[0] == 1 || start[0] == 2)) {
			r->type = start[0] == 1 ? REDIS_REPLY_INTEGER :
						  REDIS_REPLY_NIL;
			r->integer = (long long)len;
		} else {
			r->str = xmalloc(len + 1);
			memcpy(r->str, start, len);
			r->str[len] = '\0';
			r->len = len;
		}
		if (!end)
			break;
	}
	return n;
}

/* The JSON the relay writes for `e` says what `e` holds. */
static void check_json(const struct chat_live_entry *e)
{
	struct chat_buf out;
	struct json_object *obj, *v, *m;

	chat_buf_init(&out);
	chat_live_entry_write(e, &out);
	obj = json_tokener_parse(out.data);
	CHECK(obj && json_object_is_type(obj, json_type_object));
	CHECK(json_object_object_get_ex(obj, "event", &v));
	CHECK(strcmp(json_object_get_string(v), e->event) == 0);
	if (e->has_message) {
		CHECK(json_object_object_get_ex(obj, "message", &m));
		CHECK(json_object_object_get_ex(m, "number", &v));
		CHECK((uint64_t)json_object_get_uint64(v) == e->number);
		CHECK(json_object_object_get_ex(m, "body", &v));
		CHECK((size_t)json_object_get_string_len(v) == e->body_len);
		CHECK(memcmp(json_object_get_string(v), e->body,
			     e->body_len) == 0);
	} else {
		CHECK(json_object_object_get_ex(obj, "number", &v));
		CHECK((uint64_t)json_object_get_uint64(v) == e->number);
	}
	json_object_put(obj);
	chat_buf_release(&out);
}

/* An array reply of the n replies v points to. */
static redisReply array(redisReply **v, size_t n)
{
	return (redisReply){ .type = REDIS_REPLY_ARRAY, .elements = n,
			     .element = v };
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct chat_live_read rd;
	redisReply items[MAX_ITEMS], *fields_v[MAX_ITEMS];
	redisReply fields, entry, entries, stream, reply;
	redisReply *entry_v[2], *entries_v[1], *stream_v[2], *reply_v[1];
	struct chat_live_cursor c;
	size_t n = split(data, size, items);
	const struct chat_live_entry *e = &rd.e[0];

	if (n < 2)
		goto out;
	for (size_t i = 2; i < n; i++)
		fields_v[i - 2] = &items[i];
	fields = array(fields_v, n - 2);
	entry_v[0] = &items[1];
	entry_v[1] = &fields;
	entry = array(entry_v, 2);
	entries_v[0] = &entry;
	entries = array(entries_v, 1);
	stream_v[0] = &items[0];
	stream_v[1] = &entries;
	stream = array(stream_v, 2);
	reply_v[0] = &stream;
	reply = array(reply_v, 1);

	memset(&c, 0, sizeof(c));
	rd.n = 0;
	chat_live_collect(&rd, &c, &reply);
	CHECK(rd.n <= 1);
	for (unsigned s = 0; s < CHAT_SHARDS; s++)
		CHECK(c.id[s][0] == '\0' ||
		      (rd.n == 1 && s == e->shard && e->id &&
		       strcmp(c.id[s], e->id) == 0));
	if (rd.n == 0 || e->malformed)
		goto out;
	{
		struct chat_buf want;

		chat_buf_init(&want);
		chat_job_key(&want, e->shard, CHAT_STREAM_LIVE);
		CHECK(items[0].type == REDIS_REPLY_STRING &&
		      strcmp(items[0].str, want.data) == 0);
		chat_buf_release(&want);
	}
	CHECK(e->channel && strspn(e->channel, "0123456789/") ==
				    strlen(e->channel));
	CHECK(e->event && *e->event);
	if (strcmp(e->event, CHAT_LIVE_CLOSE) != 0)
		check_json(e);
out:
	for (size_t i = 0; i < n; i++)
		free(items[i].str);
	return 0;
}
