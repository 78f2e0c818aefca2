/*
 * test_live_events.c - unit tests of the pure parts of lib/live.c: which
 * requests ask for a stream, the internal redirect (and the last_event_id
 * it carries over), the event objects, and the entries of an XREAD reply
 * as the relay reads them.
 */
#include <stdarg.h>
#include <string.h>

#include <criterion/criterion.h>

#include "buf.h"
#include "live.h"
#include "messages.h"

Test(live, wants_stream)
{
	cr_assert(chat_live_wants_stream("text/event-stream", NULL));
	cr_assert(chat_live_wants_stream("text/html, Text/Event-Stream;q=0.9",
					 NULL));
	cr_assert(chat_live_wants_stream(NULL, "websocket"));
	cr_assert(chat_live_wants_stream("*/*", "WebSocket"));
	cr_assert_not(chat_live_wants_stream(NULL, NULL));
	cr_assert_not(chat_live_wants_stream("application/json", NULL));
	cr_assert_not(chat_live_wants_stream("*/*", "h2c"));
}

static void redirect_is(const char *query, const char *want)
{
	struct chat_buf to;

	chat_buf_init(&to);
	chat_live_redirect(&to, 12, 345, query);
	cr_assert_str_eq(to.data, want, "query %s", query ? query : "(null)");
	chat_buf_release(&to);
}

Test(live, redirect)
{
	redirect_is(NULL, "/applications/.live/12/345");
	redirect_is("", "/applications/.live/12/345");
	redirect_is("after=3", "/applications/.live/12/345");
	redirect_is("last_event_id=1796392486:0",
		    "/applications/.live/12/345?last_event_id=1796392486%3A0");
	redirect_is("x=1&last_event_id=1796392486%3A2",
		    "/applications/.live/12/345?last_event_id=1796392486%3A2");
	redirect_is("last_event_id=1796392486:%5B0%5D,1",
		    "/applications/.live/12/345?last_event_id="
		    "1796392486%3A%5B0%5D%2C1");
	/* Anything else a client might try is left out, never passed on. */
	redirect_is("last_event_id=1%26channel_id%3Dother",
		    "/applications/.live/12/345");
	redirect_is("last_event_id=..%2F..%2F1", "/applications/.live/12/345");
	redirect_is("last_event_id=1%0d%0aX:%20y", "/applications/.live/12/345");
	redirect_is("last_event_id=%zz", "/applications/.live/12/345");
	redirect_is("last_event_id=", "/applications/.live/12/345");
}

Test(live, event_json)
{
	struct chat_message m = {
		.number = 3,
		.body = { .data = (char *)"a/b", .len = 3 },
		.created_at = 0,
		.updated_at = 86400,
	};
	struct chat_buf out;

	chat_buf_init(&out);
	chat_live_event_write(&out, "message.updated", &m, 0);
	cr_assert_str_eq(out.data,
			 "{\"event\":\"message.updated\",\"message\":"
			 "{\"number\":3,\"body\":\"a/b\","
			 "\"created_at\":\"1970-01-01T00:00:00Z\","
			 "\"updated_at\":\"1970-01-02T00:00:00Z\"}}");
	chat_buf_reset(&out);
	chat_live_event_write(&out, "chat.deleted", NULL, 7);
	cr_assert_str_eq(out.data, "{\"event\":\"chat.deleted\",\"number\":7}");
	chat_buf_release(&out);
}

/* An XREAD reply of one stream with one entry of string fields. */
#define MAX_FIELDS 8

struct xread {
	redisReply root, stream, name, entries, entry, id, fields;
	redisReply *root_v[1], *stream_v[2], *entries_v[1], *entry_v[2];
	redisReply items[MAX_FIELDS], *items_v[MAX_FIELDS];
};

static void xread(struct xread *x, const char *id, ...)
{
	va_list ap;
	const char *s;
	size_t n = 0;

	memset(x, 0, sizeof(*x));
	va_start(ap, id);
	while ((s = va_arg(ap, const char *)) && n < MAX_FIELDS) {
		x->items[n].type = REDIS_REPLY_STRING;
		x->items[n].str = (char *)s;
		x->items[n].len = strlen(s);
		x->items_v[n] = &x->items[n];
		n++;
	}
	va_end(ap);
	x->fields = (redisReply){ .type = REDIS_REPLY_ARRAY, .elements = n,
				  .element = x->items_v };
	x->id = (redisReply){ .type = REDIS_REPLY_STRING, .str = (char *)id,
			      .len = strlen(id) };
	x->entry_v[0] = &x->id;
	x->entry_v[1] = &x->fields;
	x->entry = (redisReply){ .type = REDIS_REPLY_ARRAY, .elements = 2,
				 .element = x->entry_v };
	x->entries_v[0] = &x->entry;
	x->entries = (redisReply){ .type = REDIS_REPLY_ARRAY, .elements = 1,
				   .element = x->entries_v };
	x->name = (redisReply){ .type = REDIS_REPLY_STRING,
				.str = (char *)CHAT_LIVE_KEY,
				.len = strlen(CHAT_LIVE_KEY) };
	x->stream_v[0] = &x->name;
	x->stream_v[1] = &x->entries;
	x->stream = (redisReply){ .type = REDIS_REPLY_ARRAY, .elements = 2,
				  .element = x->stream_v };
	x->root_v[0] = &x->stream;
	x->root = (redisReply){ .type = REDIS_REPLY_ARRAY, .elements = 1,
				.element = x->root_v };
}

Test(live, entries)
{
	struct xread x;
	struct chat_live_entry e;

	xread(&x, "5-1", "c", "12/345", "e", "message.created", "d", "{}",
	      NULL);
	cr_assert_eq(chat_live_count(&x.root), 1);
	cr_assert_eq(chat_live_entry_at(&x.root, 0, &e), 1);
	cr_assert_str_eq(e.id, "5-1");
	cr_assert_str_eq(e.channel, "12/345");
	cr_assert_str_eq(e.event, "message.created");
	cr_assert_eq(e.data_len, 2);
	cr_assert_eq(chat_live_entry_at(&x.root, 1, &e), -1);

	xread(&x, "5-2", "c", "12/345", "e", CHAT_LIVE_CLOSE, NULL);
	cr_assert_eq(chat_live_entry_at(&x.root, 0, &e), 1);
	cr_assert_null(e.data);

	/* Malformed: skipped, its id still known. */
	xread(&x, "5-3", "c", "12/345", "e", "message.created", NULL);
	cr_assert_eq(chat_live_entry_at(&x.root, 0, &e), 0);
	cr_assert_str_eq(e.id, "5-3");
	xread(&x, "5-4", "c", "12/../345", "e", "close", NULL);
	cr_assert_eq(chat_live_entry_at(&x.root, 0, &e), 0);
	xread(&x, "5-5", "c", "12/", "e", "close", NULL);
	cr_assert_eq(chat_live_entry_at(&x.root, 0, &e), 0);
	xread(&x, "5-6", "c", "123456789012345678901/1", "e", "close", NULL);
	cr_assert_eq(chat_live_entry_at(&x.root, 0, &e), 0);
	xread(&x, "5-7", "e", "close", NULL);
	cr_assert_eq(chat_live_entry_at(&x.root, 0, &e), 0);

	/* Not an XREAD reply at all. */
	x.root.type = REDIS_REPLY_NIL;
	cr_assert_eq(chat_live_count(&x.root), 0);
	cr_assert_eq(chat_live_entry_at(&x.root, 0, &e), -1);
	cr_assert_eq(chat_live_count(NULL), 0);
}
