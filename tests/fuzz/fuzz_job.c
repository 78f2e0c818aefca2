/*
 * fuzz_job.c - libFuzzer target for the job parser, chat_job_parse
 * (lib/job.h), which reads the worker's job stream entries: fields any
 * client's create put there (the body) beside the API's own.
 *
 * Input: the first byte is the entry's shard (low 4 bits; bit 4 set: the
 * entry was deleted while pending, no fields); the rest is the entry's
 * field list, items separated by NUL bytes.  An item starting with \x01
 * is an integer reply, \x02 a nil, \x03 a status (the rest its text), any
 * other a string, as hiredis would hand them over (strings NUL-terminated,
 * integers and nils without text).
 *
 * Checked against job.h: a job that is not dead has an application of
 * the entry's shard, a chat, and what its type needs (a message its
 * number and body, a delete its chat id); its body lies inside the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "job.h"
#include "queue.h"
#include "stream.h"
#include "xalloc.h"


#define MAX_ITEMS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	redisReply items[MAX_ITEMS], *ptrs[MAX_ITEMS], list;
	struct chat_stream_entry e = { .id = "1-0" };
	struct chat_job j;
	size_t n = 0, pos = 1;

	if (size < 1)
		return 0;
	e.shard = data[0] & 0x0f;
	memset(&list, 0, sizeof(list));
	list.type = REDIS_REPLY_ARRAY;
	list.element = ptrs;
	while (pos <= size && n < MAX_ITEMS) {
		const uint8_t *start = data + pos;
		const uint8_t *end = memchr(start, 0, size - pos);
		size_t len = end ? (size_t)(end - start) : size - pos;
		redisReply *r = &items[n];

		memset(r, 0, sizeof(*r));
		r->type = REDIS_REPLY_STRING;
		if (len > 0 && start[0] >= 1 && start[0] <= 3) {
			r->type = start[0] == 1 ? REDIS_REPLY_INTEGER
				: start[0] == 2 ? REDIS_REPLY_NIL
						: REDIS_REPLY_STATUS;
			start++;
			len--;
		}
		if (r->type == REDIS_REPLY_INTEGER) {
			r->integer = (long long)len;
		} else if (r->type != REDIS_REPLY_NIL) {
			r->str = xmalloc(len + 1);
			memcpy(r->str, start, len);
			r->str[len] = '\0';
			r->len = len;
		}
		ptrs[n++] = r;
		pos += len + (r->type == REDIS_REPLY_STRING ? 0 : 1) + 1;
		if (!end)
			break;
	}
	list.elements = n;
	e.fields = (data[0] & 0x10) ? NULL : &list;

	chat_job_parse(&j, &e);

	if (!j.dead) {
		CHECK(e.fields != NULL);
		CHECK(j.app != 0 && j.chat != 0);
		CHECK(chat_queue_shard(j.app) == e.shard);
		CHECK(j.type == 'c' || j.type == 'm' || j.type == 'd');
		if (j.type == 'm')
			CHECK(j.number != 0 && j.body != NULL);
		if (j.type == 'd')
			CHECK(j.chat_id != 0);
	} else {
		CHECK(strcmp(j.dead, "malformed job") == 0);
	}
	CHECK(!j.skip);
	if (j.body) {
		/* It points into one of the string items. */
		bool inside = false;

		for (size_t i = 0; i < n; i++)
			if (items[i].str && j.body == items[i].str &&
			    j.body_len == items[i].len)
				inside = true;
		CHECK(inside);
	}
	for (size_t i = 0; i < n; i++)
		free(items[i].str);
	return 0;
}
