/*
 * live.c - the live streams' events in the one Redis stream that every
 * API host's relay reads (live.h).
 */
#include "live.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "json.h"
#include "messages.h"
#include "redis.h"
#include "text.h"

void chat_live_event_write(struct chat_buf *out, const char *event,
			   const struct chat_message *message,
			   uint64_t number)
{
	chat_buf_adds(out, "{\"event\":");
	chat_json_write_string(out, event, strlen(event));
	if (message) {
		chat_buf_adds(out, ",\"message\":");
		chat_messages_json_write(message, out);
	} else {
		chat_buf_adds(out, ",\"number\":");
		chat_json_write_u64(out, number);
	}
	chat_buf_addch(out, '}');
}

int chat_live_append(struct chat_redis *r, uint64_t app, uint64_t chat,
		     const char *event, const struct chat_buf *data)
{
	const char *argv[12];
	size_t lens[12];
	char channel[48];
	int argc = 0, n;

	n = snprintf(channel, sizeof(channel), "%llu/%llu",
		     (unsigned long long)app, (unsigned long long)chat);
	argv[argc++] = "XADD";
	argv[argc++] = CHAT_LIVE_KEY;
	argv[argc++] = "MAXLEN";
	argv[argc++] = "~";
	argv[argc++] = CHAT_LIVE_MAXLEN;
	argv[argc++] = "*";
	argv[argc++] = CHAT_LIVE_F_CHANNEL;
	argv[argc++] = channel;
	argv[argc++] = CHAT_LIVE_F_EVENT;
	argv[argc++] = event;
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	lens[7] = (size_t)n;
	if (data) {
		argv[argc] = CHAT_LIVE_F_DATA;
		lens[argc++] = strlen(CHAT_LIVE_F_DATA);
		argv[argc] = data->data;
		lens[argc++] = data->len;
	}
	return chat_redis_append(r, argc, argv, lens);
}

int chat_live_publish(struct chat_redis *r, uint64_t app, uint64_t chat,
		      const char *event, const struct chat_message *message,
		      uint64_t number)
{
	struct chat_buf data;
	int rc;

	chat_buf_init(&data);
	chat_live_event_write(&data, event, message, number);
	rc = chat_live_append(r, app, chat, event, &data);
	chat_buf_release(&data);
	if (rc == 0)
		rc = chat_redis_replies(r, 1, REDIS_REPLY_STRING);
	return rc;
}

int chat_live_chat_deleted(struct chat_redis *r, uint64_t app, uint64_t chat)
{
	struct chat_buf data;
	size_t sent = 0;
	int rc;

	chat_buf_init(&data);
	chat_live_event_write(&data, "chat.deleted", NULL, chat);
	rc = chat_live_append(r, app, chat, "chat.deleted", &data);
	chat_buf_release(&data);
	sent += rc == 0;
	if (rc == 0) {
		rc = chat_live_append(r, app, chat, CHAT_LIVE_CLOSE, NULL);
		sent += rc == 0;
	}
	if (chat_redis_replies(r, sent, REDIS_REPLY_STRING))
		rc = -1;
	return rc;
}

/* Pipelined bytes after which the replies are read before going on. */
#define PIPELINE_BYTES (1024 * 1024)

int chat_live_created(struct chat_redis *r, const struct chat_job *jobs,
		      const size_t *order, size_t count, size_t *unread)
{
	struct chat_buf data;
	size_t sent = 0, bytes = 0;
	int rc = 0;

	chat_buf_init(&data);
	for (size_t i = 0; i < count && rc == 0; i++) {
		const struct chat_job *j = &jobs[order[i]];
		const struct chat_job *prev = i ? &jobs[order[i - 1]] : NULL;
		/* The job's body as the message's, borrowed, not copied. */
		const struct chat_message m = {
			.number = j->number,
			.body = { .data = (char *)j->body, .len = j->body_len },
			.created_at = j->ts,
			.updated_at = j->ts,
		};

		if (prev && prev->app == j->app && prev->chat == j->chat &&
		    prev->number == j->number)
			continue;
		chat_buf_reset(&data);
		chat_live_event_write(&data, "message.created", &m, 0);
		rc = chat_live_append(r, j->app, j->chat, "message.created",
				      &data);
		sent += rc == 0;
		bytes += j->body_len + 128;
		/*
		 * A batch of large messages is sent in parts, so that the
		 * pipeline never holds a whole batch's bodies at once.
		 */
		if (rc == 0 && bytes >= PIPELINE_BYTES) {
			rc = chat_redis_replies(r, sent, REDIS_REPLY_STRING);
			sent = 0;
			bytes = 0;
		}
	}
	chat_buf_release(&data);
	if (unread && rc == 0) {
		*unread = sent;
		return 0;
	}
	if (unread)
		*unread = 0;
	if (chat_redis_replies(r, sent, REDIS_REPLY_STRING))
		rc = -1;
	return rc;
}

int chat_live_last_id(struct chat_redis *r, struct chat_buf *id)
{
	const char *argv[] = { "XREVRANGE", CHAT_LIVE_KEY, "+", "-", "COUNT",
			       "1" };
	redisReply *reply = chat_redis_argv(r, 6, argv, NULL);
	int rc = -1;

	if (!reply)
		return -1;
	if (reply->type != REDIS_REPLY_ARRAY) {
		snprintf(r->errstr, sizeof(r->errstr), "XREVRANGE: %s",
			 reply->type == REDIS_REPLY_ERROR ? reply->str :
							   "unexpected reply");
		goto out;
	}
	chat_buf_reset(id);
	if (reply->elements == 0) {
		chat_buf_adds(id, "0-0");
	} else {
		const redisReply *e = reply->element[0];

		if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 ||
		    e->element[0]->type != REDIS_REPLY_STRING) {
			snprintf(r->errstr, sizeof(r->errstr),
				 "XREVRANGE: unexpected reply");
			goto out;
		}
		chat_buf_add(id, e->element[0]->str, e->element[0]->len);
	}
	rc = 0;
out:
	freeReplyObject(reply);
	return rc;
}

redisReply *chat_live_read(struct chat_redis *r, const char *after,
			   unsigned count, unsigned block_ms)
{
	char n[16], ms[16];
	const char *argv[] = { "XREAD", "COUNT", n, "BLOCK", ms, "STREAMS",
			       CHAT_LIVE_KEY, after };
	redisReply *reply;

	snprintf(n, sizeof(n), "%u", count);
	snprintf(ms, sizeof(ms), "%u", block_ms);
	reply = chat_redis_argv(r, 8, argv, NULL);
	if (reply && reply->type == REDIS_REPLY_ERROR) {
		snprintf(r->errstr, sizeof(r->errstr), "XREAD: %s",
			 reply->str);
		freeReplyObject(reply);
		return NULL;
	}
	return reply;
}

/* The entries array of an XREAD reply of one stream, or NULL. */
static const redisReply *entries(const redisReply *reply)
{
	const redisReply *s;

	if (!reply || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements < 1)
		return NULL;
	s = reply->element[0];
	if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 ||
	    s->element[1]->type != REDIS_REPLY_ARRAY)
		return NULL;
	return s->element[1];
}

size_t chat_live_count(const redisReply *reply)
{
	const redisReply *v = entries(reply);

	return v ? v->elements : 0;
}

/* Whether reply string `name` is the field name `field`. */
static bool field_is(const redisReply *name, const char *field)
{
	return name->len == strlen(field) &&
	       memcmp(name->str, field, name->len) == 0;
}

/* "<digits>/<digits>": a channel the relay may name in a URL. */
static bool channel_ok(const char *s, size_t len)
{
	size_t i = 0, digits;

	for (int part = 0; part < 2; part++) {
		digits = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 20) {
			i++;
			digits++;
		}
		if (!digits)
			return false;
		if (part == 0) {
			if (i >= len || s[i] != '/')
				return false;
			i++;
		}
	}
	return i == len;
}

int chat_live_entry_at(const redisReply *reply, size_t i,
		       struct chat_live_entry *e)
{
	const redisReply *v = entries(reply), *x, *f;

	memset(e, 0, sizeof(*e));
	if (!v || i >= v->elements)
		return -1;
	x = v->element[i];
	if (x->type != REDIS_REPLY_ARRAY || x->elements != 2 ||
	    x->element[0]->type != REDIS_REPLY_STRING)
		return 0;
	e->id = x->element[0]->str;
	f = x->element[1];
	if (f->type != REDIS_REPLY_ARRAY)
		return 0;
	for (size_t k = 0; k + 1 < f->elements; k += 2) {
		const redisReply *name = f->element[k], *val = f->element[k + 1];

		if (name->type != REDIS_REPLY_STRING ||
		    val->type != REDIS_REPLY_STRING)
			continue;
		if (field_is(name, CHAT_LIVE_F_CHANNEL)) {
			if (channel_ok(val->str, val->len))
				e->channel = val->str;
		} else if (field_is(name, CHAT_LIVE_F_EVENT)) {
			if (strlen(val->str) == val->len)
				e->event = val->str;
		} else if (field_is(name, CHAT_LIVE_F_DATA)) {
			e->data = val->str;
			e->data_len = val->len;
		}
	}
	if (!e->channel || !e->event)
		return 0;
	if (strcmp(e->event, CHAT_LIVE_CLOSE) == 0) {
		e->data = NULL;
		e->data_len = 0;
		return 1;
	}
	return e->data ? 1 : 0;
}

bool chat_live_wants_stream(const char *accept, const char *upgrade)
{
	if (upgrade && strcasestr(upgrade, "websocket"))
		return true;
	return accept && strcasestr(accept, "text/event-stream");
}

/* nchan's message ids: "<time>:<tag>", or several in brackets. */
static bool event_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 200)
		return false;
	return strspn(s, "0123456789:,[]-") == n;
}

void chat_live_redirect(struct chat_buf *to, uint64_t app, uint64_t chat,
			const char *query)
{
	char *id = NULL;

	chat_buf_addf(to, CHAT_LIVE_LOCATION "%llu/%llu",
		      (unsigned long long)app, (unsigned long long)chat);
	if (query && chat_query_get(query, "last_event_id", &id) == 1 &&
	    event_id_ok(id)) {
		chat_buf_adds(to, "?last_event_id=");
		for (const char *p = id; *p; p++) {
			if (*p == '[' || *p == ']' || *p == ',' || *p == ':')
				chat_buf_addf(to, "%%%02X", (unsigned char)*p);
			else
				chat_buf_addch(to, *p);
		}
	}
	free(id);
}
