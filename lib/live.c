/*
 * live.c - the live streams' events in the shards' Redis streams that
 * every API host's relay reads (live.h).
 */
#include "live.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "job.h"
#include "json.h"
#include "messages.h"
#include "queue.h"
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
		     const char *event, const struct chat_message *message,
		     uint64_t number)
{
	const char *argv[18];
	size_t lens[18];
	struct chat_buf key;
	char channel[48], n[24], created[24], updated[24];
	int argc = 0, rc;

	chat_buf_init(&key);
	chat_job_key(&key, chat_queue_shard(app), CHAT_STREAM_LIVE);
	snprintf(channel, sizeof(channel), "%llu/%llu",
		 (unsigned long long)app, (unsigned long long)chat);
	argv[argc++] = "XADD";
	argv[argc++] = key.data;
	argv[argc++] = "MAXLEN";
	argv[argc++] = "~";
	argv[argc++] = CHAT_LIVE_MAXLEN;
	argv[argc++] = "*";
	argv[argc++] = CHAT_LIVE_F_CHANNEL;
	argv[argc++] = channel;
	argv[argc++] = CHAT_LIVE_F_EVENT;
	argv[argc++] = event;
	if (message || strcmp(event, CHAT_LIVE_CLOSE) != 0) {
		snprintf(n, sizeof(n), "%llu", (unsigned long long)(message ?
			 message->number : number));
		argv[argc++] = CHAT_LIVE_F_NUMBER;
		argv[argc++] = n;
	}
	if (message) {
		snprintf(created, sizeof(created), "%lld",
			 (long long)message->created_at);
		snprintf(updated, sizeof(updated), "%lld",
			 (long long)message->updated_at);
		argv[argc++] = CHAT_LIVE_F_CREATED;
		argv[argc++] = created;
		argv[argc++] = CHAT_LIVE_F_UPDATED;
		argv[argc++] = updated;
	}
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	if (message) {
		argv[argc] = CHAT_LIVE_F_BODY;
		lens[argc++] = strlen(CHAT_LIVE_F_BODY);
		argv[argc] = message->body.data;
		lens[argc++] = message->body.len;
	}
	rc = chat_redis_append(r, argc, argv, lens);
	chat_buf_release(&key);
	return rc;
}

int chat_live_publish(struct chat_redis *r, uint64_t app, uint64_t chat,
		      const char *event, const struct chat_message *message,
		      uint64_t number)
{
	if (chat_live_append(r, app, chat, event, message, number))
		return -1;
	return chat_redis_replies(r, 1, REDIS_REPLY_STRING);
}

int chat_live_chat_deleted(struct chat_redis *r, uint64_t app, uint64_t chat)
{
	size_t sent = 0;
	int rc;

	rc = chat_live_append(r, app, chat, "chat.deleted", NULL, chat);
	sent += rc == 0;
	if (rc == 0) {
		rc = chat_live_append(r, app, chat, CHAT_LIVE_CLOSE, NULL, 0);
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
	size_t sent = 0, bytes = 0;
	int rc = 0;

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
		rc = chat_live_append(r, j->app, j->chat, "message.created",
				      &m, 0);
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

/* A field's value as a number in [0, max]: false when it is not one. */
static bool field_number(const redisReply *v, uint64_t max, uint64_t *out)
{
	return chat_parse_u64(v->str, v->len, 0, max, out) == 0;
}

/* Fill `e` from stream entry `x`: false when it is malformed. */
static bool parse_entry(const redisReply *x, struct chat_live_entry *e)
{
	const redisReply *f;
	uint64_t created = 0, updated = 0;
	bool has_number = false, has_created = false, has_updated = false;
	bool ok = true;

	if (x->type != REDIS_REPLY_ARRAY || x->elements != 2 ||
	    x->element[0]->type != REDIS_REPLY_STRING)
		return false;
	e->id = x->element[0]->str;
	f = x->element[1];
	if (f->type != REDIS_REPLY_ARRAY)
		return false;
	for (size_t k = 0; ok && k + 1 < f->elements; k += 2) {
		const redisReply *name = f->element[k], *val = f->element[k + 1];

		if (name->type != REDIS_REPLY_STRING ||
		    val->type != REDIS_REPLY_STRING)
			continue;
		if (field_is(name, CHAT_LIVE_F_CHANNEL)) {
			if (channel_ok(val->str, val->len))
				e->channel = val->str;
		} else if (field_is(name, CHAT_LIVE_F_EVENT)) {
			if (val->len && strlen(val->str) == val->len)
				e->event = val->str;
		} else if (field_is(name, CHAT_LIVE_F_NUMBER)) {
			ok = has_number = field_number(val, UINT64_MAX,
						       &e->number);
		} else if (field_is(name, CHAT_LIVE_F_CREATED)) {
			ok = has_created = field_number(val, INT64_MAX,
							&created);
		} else if (field_is(name, CHAT_LIVE_F_UPDATED)) {
			ok = has_updated = field_number(val, INT64_MAX,
							&updated);
		} else if (field_is(name, CHAT_LIVE_F_BODY)) {
			ok = chat_utf8_valid(val->str, val->len);
			e->body = val->str;
			e->body_len = val->len;
		}
	}
	if (!ok || !e->channel || !e->event)
		return false;
	if (strcmp(e->event, CHAT_LIVE_CLOSE) == 0)
		return true;
	e->has_message = e->body != NULL;
	e->created_at = (int64_t)created;
	e->updated_at = (int64_t)updated;
	/* A message's events carry all of its fields; the others, none. */
	if (e->has_message != (strcmp(e->event, "message.created") == 0 ||
			       strcmp(e->event, "message.updated") == 0))
		return false;
	return has_number && (e->has_message ? has_created && has_updated :
					       !has_created && !has_updated);
}

void chat_live_entry_write(const struct chat_live_entry *e,
			   struct chat_buf *out)
{
	/* The entry's body as the message's, borrowed, not copied. */
	const struct chat_message m = {
		.number = e->number,
		.body = { .data = (char *)e->body, .len = e->body_len },
		.created_at = e->created_at,
		.updated_at = e->updated_at,
	};

	chat_live_event_write(out, e->event, e->has_message ? &m : NULL,
			      e->number);
}

/* The shard of live stream `name`, or -1 for any other string. */
static int live_shard(const redisReply *name)
{
	struct chat_buf want;
	unsigned shard;
	bool ok;

	if (name->type != REDIS_REPLY_STRING ||
	    chat_job_key_shard(name->str, name->len, &shard))
		return -1;
	chat_buf_init(&want);
	chat_job_key(&want, shard, CHAT_STREAM_LIVE);
	ok = want.len == name->len && memcmp(want.data, name->str,
					     name->len) == 0;
	chat_buf_release(&want);
	return ok ? (int)shard : -1;
}

/*
 * Make stream entry id `id` (a reply string) a shard's place: false when
 * it is not a string or too long for one (never so from Redis).
 */
static bool place_set(char *place, const redisReply *id)
{
	if (id->type != REDIS_REPLY_STRING || id->len >= CHAT_LIVE_ID_MAX)
		return false;
	memcpy(place, id->str, id->len + 1);
	return true;
}

void chat_live_collect(struct chat_live_read *rd, struct chat_live_cursor *c,
		       const redisReply *reply)
{
	const size_t max = sizeof(rd->e) / sizeof(rd->e[0]);

	if (!reply || reply->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < reply->elements; i++) {
		const redisReply *s = reply->element[i], *v;
		int shard;

		if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 ||
		    (shard = live_shard(s->element[0])) < 0 ||
		    s->element[1]->type != REDIS_REPLY_ARRAY)
			continue;
		v = s->element[1];
		for (size_t k = 0; k < v->elements && rd->n < max; k++) {
			struct chat_live_entry *e = &rd->e[rd->n++];

			memset(e, 0, sizeof(*e));
			e->shard = (unsigned)shard;
			e->malformed = !parse_entry(v->element[k], e);
			/* Past it, malformed or not: it is never read again. */
			if (e->id)
				place_set(c->id[shard],
					  v->element[k]->element[0]);
		}
	}
}

/*
 * Append "XREVRANGE <shard's stream> + - COUNT 1": its newest entry.
 * Returns what chat_redis_append does.
 */
static int append_newest(struct chat_redis *r, unsigned shard)
{
	struct chat_buf key;
	const char *argv[] = { "XREVRANGE", NULL, "+", "-", "COUNT", "1" };
	int rc;

	chat_buf_init(&key);
	chat_job_key(&key, shard, CHAT_STREAM_LIVE);
	argv[1] = key.data;
	rc = chat_redis_append(r, 6, argv, NULL);
	chat_buf_release(&key);
	return rc;
}

/* The newest entry's id from XREVRANGE's reply into `id`; -1: not one. */
static int take_newest(const redisReply *reply, char *id)
{
	const redisReply *e;

	if (reply->type != REDIS_REPLY_ARRAY)
		return -1;
	if (reply->elements == 0) {
		snprintf(id, CHAT_LIVE_ID_MAX, "0-0");
		return 0;
	}
	e = reply->element[0];
	if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 ||
	    !place_set(id, e->element[0]))
		return -1;
	return 0;
}

/*
 * A place from now on, for a shard whose newest entry could not be asked
 * for: its server is down, so whatever its stream gets once it (or the
 * replica that takes over) answers comes after now, and is relayed.  A
 * stream entry id is the server's wall clock in ms: the hosts' clocks
 * are taken to agree.
 */
static void start_now(char *id)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(id, CHAT_LIVE_ID_MAX, "%lld-0",
		 (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/*
 * Append "XREAD COUNT n [BLOCK ms] STREAMS <keys> <ids>" of the shards in
 * `shards`, which all have a place in `c`.  Returns what
 * chat_redis_append does.
 */
static int append_read(struct chat_redis *r, const struct chat_live_cursor *c,
			unsigned shards, unsigned block_ms)
{
	const char *argv[6 + 2 * CHAT_SHARDS];
	struct chat_buf keys[CHAT_SHARDS];
	char count[16], ms[16];
	int argc = 0, rc;
	unsigned n;

	snprintf(count, sizeof(count), "%u", CHAT_LIVE_READ_COUNT);
	snprintf(ms, sizeof(ms), "%u", block_ms);
	argv[argc++] = "XREAD";
	argv[argc++] = "COUNT";
	argv[argc++] = count;
	if (block_ms) {
		argv[argc++] = "BLOCK";
		argv[argc++] = ms;
	}
	argv[argc++] = "STREAMS";
	n = chat_job_keys(keys, shards, CHAT_STREAM_LIVE, argv, &argc);
	for (unsigned s = 0; s < CHAT_SHARDS; s++)
		if (shards & 1u << s)
			argv[argc++] = c->id[s];
	rc = chat_redis_append(r, argc, argv, NULL);
	for (unsigned k = 0; k < n; k++)
		chat_buf_release(&keys[k]);
	return rc;
}

int chat_live_read(struct chat_redis *r, struct chat_live_cursor *c,
		   unsigned shards, unsigned block_ms,
		   struct chat_live_read *rd)
{
	/*
	 * The commands queued: the shards each reads, or the one whose
	 * newest entry it asks for (newest >= 0).
	 */
	struct {
		unsigned shards;
		int newest;
	} cmd[CHAT_SHARDS + 1];
	bool cluster = chat_redis_is_cluster(r);
	char first[sizeof(r->errstr)] = "";
	unsigned known = 0;
	size_t n = 0;

	rd->n = 0;
	rd->failed = 0;
	rd->nreply = 0;
	for (unsigned s = 0; s < CHAT_SHARDS; s++) {
		if (!(shards & 1u << s))
			continue;
		if (c->id[s][0]) {
			known |= 1u << s;
			continue;
		}
		/*
		 * On one server a command is not queued when there is no
		 * connection; nothing after it is queued either: it could
		 * connect again, and its reply be taken for an earlier one's.
		 */
		if (rd->failed || append_newest(r, s)) {
			start_now(c->id[s]);
			rd->failed |= 1u << s;
			continue;
		}
		cmd[n].shards = 1u << s;
		cmd[n++].newest = (int)s;
	}
	if (cluster) {
		/* A command with keys of several slots is refused. */
		for (unsigned s = 0; s < CHAT_SHARDS; s++) {
			if (!(known & 1u << s))
				continue;
			append_read(r, c, 1u << s, 0);	/* never fails */
			cmd[n].shards = 1u << s;
			cmd[n++].newest = -1;
		}
	} else if (known) {
		/* Blocked, it would hold up the places asked for with it. */
		if (rd->failed || append_read(r, c, known, n ? 0 : block_ms)) {
			rd->failed |= known;
		} else {
			cmd[n].shards = known;
			cmd[n++].newest = -1;
		}
	}
	if (rd->failed)
		memcpy(first, r->errstr, sizeof(first));
	for (size_t i = 0; i < n; i++) {
		redisReply *reply = chat_redis_reply(r);
		bool ok;

		if (cmd[i].newest >= 0)
			ok = reply && take_newest(reply,
						  c->id[cmd[i].newest]) == 0;
		else
			ok = reply && (reply->type == REDIS_REPLY_ARRAY ||
				       reply->type == REDIS_REPLY_NIL);
		if (!ok && cmd[i].newest >= 0)
			start_now(c->id[cmd[i].newest]);
		if (!ok) {
			if (reply)
				snprintf(r->errstr, sizeof(r->errstr), "%s: %s",
					 cmd[i].newest >= 0 ? "XREVRANGE" :
							      "XREAD",
					 reply->type == REDIS_REPLY_ERROR ?
						 reply->str :
						 "unexpected reply");
			if (!first[0])
				memcpy(first, r->errstr, sizeof(first));
			rd->failed |= cmd[i].shards;
		} else if (reply->type == REDIS_REPLY_ARRAY &&
			   cmd[i].newest < 0) {
			chat_live_collect(rd, c, reply);
			rd->reply[rd->nreply++] = reply;
			continue;
		}
		freeReplyObject(reply);
	}
	if (!rd->failed)
		return 0;
	memcpy(r->errstr, first, sizeof(first));
	return -1;
}

void chat_live_read_release(struct chat_live_read *rd)
{
	for (size_t i = 0; i < rd->nreply; i++)
		freeReplyObject(rd->reply[i]);
	rd->nreply = 0;
	rd->n = 0;
}

/* Whether comma-separated list `list` holds `token` (any case). */
static bool list_has(const char *list, const char *token)
{
	size_t n = strlen(token);

	while (list && *list) {
		list += strspn(list, " \t,");
		if (strncasecmp(list, token, n) == 0 &&
		    strchr(" \t,", list[n]) != NULL)
			return true;
		list += strcspn(list, ",");
	}
	return false;
}

const char *chat_live_refusal(const struct chat_live_ask *ask)
{
	bool ws = ask->upgrade && strncasecmp(ask->upgrade, "websocket", 9) == 0;

	if (ws && list_has(ask->connection, "upgrade")) {
		/* nginx hands header values over trimmed. */
		if (!ask->ws_version || strcmp(ask->ws_version, "13") != 0)
			return "A WebSocket upgrade needs "
			       "Sec-WebSocket-Version: 13.";
		if (!ask->ws_key || !*ask->ws_key)
			return "A WebSocket upgrade needs a Sec-WebSocket-Key.";
		return NULL;
	}
	if (ask->accept && strstr(ask->accept, "text/event-stream"))
		return NULL;
	if (ws)
		return "A WebSocket upgrade needs Connection: Upgrade.";
	if (ask->accept && strcasestr(ask->accept, "text/event-stream"))
		return "Ask for Server-Sent Events with the media type in "
		       "lowercase: Accept: text/event-stream.";
	return "This route is a live stream: ask with "
	       "'Accept: text/event-stream' or a WebSocket upgrade.";
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
