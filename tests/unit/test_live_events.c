/*
 * test_live_events.c - unit tests of the pure parts of lib/live.c: which
 * requests ask for a stream, the internal redirect (and the last_event_id
 * it carries over), the event objects, and the entries of an XREAD reply
 * of the shards' streams as the relay reads them.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "buf.h"
#include "config.h"
#include "live.h"
#include "messages.h"
#include "redis.h"

static const char *refusal(const char *accept, const char *upgrade,
			   const char *connection, const char *version,
			   const char *key)
{
	struct chat_live_ask ask = {
		.accept = accept, .upgrade = upgrade, .connection = connection,
		.ws_version = version, .ws_key = key,
	};

	return chat_live_refusal(&ask);
}

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

/* What nchan takes goes to it; the rest is refused, saying why. */
Test(live, refusal)
{
	cr_assert_null(refusal("text/event-stream", NULL, NULL, NULL, NULL));
	cr_assert_null(refusal("text/html, text/event-stream;q=0.9", NULL,
			       NULL, NULL, NULL));
	cr_assert_null(refusal(NULL, "websocket", "Upgrade", "13", KEY));
	cr_assert_null(refusal("*/*", "WebSocket", "keep-alive, UPGRADE",
			       "13", KEY));
	/* An upgrade nchan would not see as one: SSE when it asks so. */
	cr_assert_null(refusal("text/event-stream", "websocket", NULL, NULL,
			       NULL));
	cr_assert_str_eq(refusal(NULL, "websocket", NULL, "13", KEY),
			 "A WebSocket upgrade needs Connection: Upgrade.");
	cr_assert_str_eq(refusal(NULL, "websocket", "upgrades", "13", KEY),
			 "A WebSocket upgrade needs Connection: Upgrade.");
	cr_assert_str_eq(refusal(NULL, "h2c, websocket", "Upgrade", "13", KEY),
			 "This route is a live stream: ask with "
			 "'Accept: text/event-stream' or a WebSocket upgrade.");
	cr_assert_str_eq(refusal(NULL, "websocket", "Upgrade", NULL, KEY),
			 "A WebSocket upgrade needs Sec-WebSocket-Version: 13.");
	cr_assert_str_eq(refusal(NULL, "websocket", "Upgrade", "8", KEY),
			 "A WebSocket upgrade needs Sec-WebSocket-Version: 13.");
	cr_assert_str_eq(refusal(NULL, "websocket", "Upgrade", "13", ""),
			 "A WebSocket upgrade needs a Sec-WebSocket-Key.");
	cr_assert_str_eq(refusal("TEXT/EVENT-STREAM", NULL, NULL, NULL, NULL),
			 "Ask for Server-Sent Events with the media type in "
			 "lowercase: Accept: text/event-stream.");
	cr_assert_not_null(refusal(NULL, NULL, NULL, NULL, NULL));
	cr_assert_not_null(refusal("application/json", NULL, NULL, NULL,
				   NULL));
	cr_assert_not_null(refusal("*/*", "h2c", "Upgrade", NULL, NULL));
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

/* Replies built as hiredis builds them, freed by freeReplyObject. */
static redisReply *str(const char *s)
{
	redisReply *r = calloc(1, sizeof(*r));

	r->type = REDIS_REPLY_STRING;
	r->str = strdup(s);
	r->len = strlen(s);
	return r;
}

static redisReply *arr(size_t n, ...)
{
	redisReply *r = calloc(1, sizeof(*r));
	va_list ap;

	r->type = REDIS_REPLY_ARRAY;
	r->elements = n;
	r->element = calloc(n ? n : 1, sizeof(*r->element));
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		r->element[i] = va_arg(ap, redisReply *);
	va_end(ap);
	return r;
}

/* An entry of a stream: its id, then field names and values, NULL. */
static redisReply *entry(const char *id, ...)
{
	redisReply *fields = arr(0);
	const char *f;
	va_list ap;

	va_start(ap, id);
	while ((f = va_arg(ap, const char *))) {
		fields->element = realloc(fields->element,
					  (fields->elements + 1) *
						  sizeof(*fields->element));
		fields->element[fields->elements++] = str(f);
	}
	va_end(ap);
	return arr(2, str(id), fields);
}

/* The relay's state is large: off the test's stack. */
static struct chat_live_read rd;

/*
 * Collect the XREAD reply of stream `name` with the one entry `e`:
 * read from shard `shard` (or not at all: -1), malformed or not, and the
 * place of that shard only moved past `id`; the event's JSON as the
 * relay writes it is `json` (NULL: none, a close or a malformed entry).
 */
static void expect(const char *name, redisReply *e, int shard,
		   bool malformed, const char *id, const char *json)
{
	redisReply *reply = arr(1, arr(2, str(name), arr(1, e)));
	struct chat_live_cursor c;
	struct chat_buf out;

	memset(&c, 0, sizeof(c));
	rd.n = 0;
	chat_live_collect(&rd, &c, reply);
	if (shard < 0) {
		cr_assert_eq(rd.n, 0, "%s was read", name);
		for (unsigned s = 0; s < CHAT_SHARDS; s++)
			cr_assert_eq(c.id[s][0], '\0');
		freeReplyObject(reply);
		return;
	}
	cr_assert_eq(rd.n, 1);
	cr_assert_eq(rd.e[0].shard, (unsigned)shard);
	cr_assert_eq(rd.e[0].malformed, malformed, "%s", id);
	cr_assert_str_eq(rd.e[0].id, id);
	cr_assert_str_eq(c.id[shard], id, "not moved past it");
	for (int o = 0; o < CHAT_SHARDS; o++)
		cr_assert(o == shard || c.id[o][0] == '\0', "shard %d moved",
			  o);
	if (!malformed)
		cr_assert_str_eq(rd.e[0].channel, "12/345");
	if (json) {
		chat_buf_init(&out);
		chat_live_entry_write(&rd.e[0], &out);
		cr_assert_str_eq(out.data, json);
		chat_buf_release(&out);
	}
	freeReplyObject(reply);
}

/* A message.created entry of chat 12/345 with these fields' values. */
static redisReply *created(const char *id, const char *n, const char *t,
			   const char *u, const char *b)
{
	return entry(id, "c", "12/345", "e", "message.created", "n", n, "t", t,
		     "u", u, "b", b, NULL);
}

Test(live, entries_and_their_shards)
{
	expect("chat:{s0}:live", created("5-1", "3", "0", "86400", "a\"/b"),
	       0, false, "5-1",
	       "{\"event\":\"message.created\",\"message\":"
	       "{\"number\":3,\"body\":\"a\\\"/b\","
	       "\"created_at\":\"1970-01-01T00:00:00Z\","
	       "\"updated_at\":\"1970-01-02T00:00:00Z\"}}");
	expect("chat:{s2}:live", entry("5-9", "c", "12/345", "e",
				       "message.updated", "b", "", "n", "4",
				       "t", "1", "u", "2", NULL),
	       2, false, "5-9",
	       "{\"event\":\"message.updated\",\"message\":"
	       "{\"number\":4,\"body\":\"\","
	       "\"created_at\":\"1970-01-01T00:00:01Z\","
	       "\"updated_at\":\"1970-01-01T00:00:02Z\"}}");
	expect("chat:{s7}:live", entry("5-2", "c", "12/345", "e",
				       "message.deleted", "n", "7", NULL),
	       7, false, "5-2",
	       "{\"event\":\"message.deleted\",\"number\":7}");
	expect("chat:{s15}:live", entry("5-3", "c", "12/345", "e",
					CHAT_LIVE_CLOSE, NULL),
	       15, false, "5-3", NULL);
}

/* Malformed: skipped, the place still moved past it. */
Test(live, malformed_entries)
{
	static const char *bad_numbers[] = { "", "x", "-1", "01", "1.5",
					     "18446744073709551616" };
	static const char *bad_times[] = { "", "-1", "9223372036854775808" };

	for (size_t i = 0; i < sizeof(bad_numbers) / sizeof(*bad_numbers);
	     i++)
		expect("chat:{s1}:live", created("6-1", bad_numbers[i], "1",
						 "1", "b"),
		       1, true, "6-1", NULL);
	for (size_t i = 0; i < sizeof(bad_times) / sizeof(*bad_times); i++) {
		expect("chat:{s1}:live", created("6-2", "1", bad_times[i], "1",
						 "b"),
		       1, true, "6-2", NULL);
		expect("chat:{s1}:live", created("6-3", "1", "1", bad_times[i],
						 "b"),
		       1, true, "6-3", NULL);
	}
	/* Not UTF-8. */
	expect("chat:{s1}:live", created("6-4", "1", "1", "1", "\xff"), 1,
	       true, "6-4", NULL);
	/* A message without all of its fields, or where none is due. */
	expect("chat:{s1}:live", entry("6-5", "c", "12/345", "e",
				       "message.created", "n", "1", "t", "1",
				       "u", "1", NULL),
	       1, true, "6-5", NULL);
	expect("chat:{s1}:live", entry("6-6", "c", "12/345", "e",
				       "message.updated", "n", "1", "b", "x",
				       "u", "1", NULL),
	       1, true, "6-6", NULL);
	expect("chat:{s1}:live", entry("6-7", "c", "12/345", "e",
				       "message.deleted", "n", "1", "b", "x",
				       "t", "1", "u", "1", NULL),
	       1, true, "6-7", NULL);
	expect("chat:{s1}:live", entry("6-8", "c", "12/345", "e",
				       "chat.deleted", NULL),
	       1, true, "6-8", NULL);
	expect("chat:{s1}:live", entry("6-9", "c", "12/345", "e",
				       "chat.deleted", "n", "1", "t", "1",
				       NULL),
	       1, true, "6-9", NULL);
	/* Channels and names. */
	expect("chat:{s1}:live", entry("7-1", "c", "12/../345", "e", "close",
				       NULL),
	       1, true, "7-1", NULL);
	expect("chat:{s1}:live", entry("7-2", "c", "12/", "e", "close", NULL),
	       1, true, "7-2", NULL);
	expect("chat:{s1}:live", entry("7-3", "c", "123456789012345678901/1",
				       "e", "close", NULL),
	       1, true, "7-3", NULL);
	expect("chat:{s1}:live", entry("7-4", "e", "close", NULL), 1, true,
	       "7-4", NULL);
	expect("chat:{s1}:live", entry("7-5", "c", "12/345", NULL), 1, true,
	       "7-5", NULL);
}

/* Streams that are not a shard's live events: not read. */
Test(live, other_streams_are_not_read)
{
	const char *others[] = { "chat:{s16}:live", "chat:{s3}:jobs",
				 "chat:{live}:events", "chat:{s3}:live:x",
				 "chat:{s3}live", "" };

	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		expect(others[i], entry("5-8", "c", "12/345", "e", "close",
					NULL),
		       -1, false, NULL, NULL);
}

Test(live, several_streams_in_order)
{
	redisReply *reply = arr(2,
		arr(2, str("chat:{s5}:live"),
		    arr(2, entry("7-1", "c", "1/1", "e", "close", NULL),
			entry("7-2", "c", "1/2", "e", "close", NULL))),
		arr(2, str("chat:{s2}:live"),
		    arr(1, entry("6-9", "c", "2/1", "e", "close", NULL))));
	struct chat_live_cursor c;

	memset(&c, 0, sizeof(c));
	rd.n = 0;
	chat_live_collect(&rd, &c, reply);
	cr_assert_eq(rd.n, 3);
	cr_assert_str_eq(rd.e[0].id, "7-1");
	cr_assert_str_eq(rd.e[1].id, "7-2");
	cr_assert_str_eq(rd.e[2].id, "6-9");
	cr_assert_str_eq(rd.e[2].channel, "2/1");
	cr_assert_str_eq(c.id[5], "7-2");
	cr_assert_str_eq(c.id[2], "6-9");

	/* Full: what does not fit stays unread, the place before it. */
	memset(&c, 0, sizeof(c));
	rd.n = sizeof(rd.e) / sizeof(rd.e[0]) - 1;
	chat_live_collect(&rd, &c, reply);
	cr_assert_eq(rd.n, sizeof(rd.e) / sizeof(rd.e[0]));
	cr_assert_str_eq(c.id[5], "7-1");
	cr_assert_eq(c.id[2][0], '\0');
	freeReplyObject(reply);
}

Test(live, not_an_xread_reply)
{
	redisReply nil = { .type = REDIS_REPLY_NIL };
	redisReply *odd = arr(3, str("chat:{s1}:live"), arr(0), str("x"));
	redisReply *flat = arr(1, arr(2, str("chat:{s1}:live"), str("x")));
	struct chat_live_cursor c;

	memset(&c, 0, sizeof(c));
	rd.n = 0;
	chat_live_collect(&rd, &c, NULL);
	chat_live_collect(&rd, &c, &nil);
	chat_live_collect(&rd, &c, odd);
	chat_live_collect(&rd, &c, flat);
	cr_assert_eq(rd.n, 0);
	cr_assert_eq(c.id[1][0], '\0');
	freeReplyObject(odd);
	freeReplyObject(flat);
}

/* A loopback port nothing listens on: connections are refused. */
static unsigned refused_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static unsigned long long wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A relay that starts while Redis is down cannot ask where each stream
 * ends: it reads from the moment it asked, so that what the streams get
 * once Redis answers is relayed, and a failed read keeps that place.
 */
Test(live, a_relay_started_while_redis_is_down_reads_from_then)
{
	struct chat_config cfg;
	struct chat_redis *r;
	struct chat_live_cursor c;
	unsigned long long before, after, ms;

	memset(&cfg, 0, sizeof(cfg));
	cfg.redis_host = "127.0.0.1";
	cfg.redis_port = refused_port();
	cfg.timeout_ms = 500;
	r = chat_redis_new(&cfg);
	memset(&c, 0, sizeof(c));
	before = wall_ms();
	cr_assert_eq(chat_live_read(r, &c, CHAT_ALL_SHARDS, 0, &rd), -1);
	after = wall_ms();
	cr_assert_eq(rd.failed, CHAT_ALL_SHARDS);
	cr_assert_eq(rd.n, 0);
	cr_assert(strstr(r->errstr, "refused"), "%s", r->errstr);
	for (unsigned s = 0; s < CHAT_SHARDS; s++) {
		char tail[8] = "";

		cr_assert_eq(sscanf(c.id[s], "%llu%7s", &ms, tail), 2,
			     "shard %u: %s", s, c.id[s]);
		cr_assert_str_eq(tail, "-0");
		cr_assert(ms >= before && ms <= after, "shard %u: %s", s,
			  c.id[s]);
	}
	chat_live_read_release(&rd);

	/* Still down: the place stays. */
	snprintf(c.id[4], sizeof(c.id[4]), "%s", "12-3");
	cr_assert_eq(chat_live_read(r, &c, 1u << 4 | 1u << 5, 0, &rd), -1);
	cr_assert_eq(rd.failed, 1u << 4 | 1u << 5);
	cr_assert_str_eq(c.id[4], "12-3");
	chat_live_read_release(&rd);
	chat_redis_free(r);
}
