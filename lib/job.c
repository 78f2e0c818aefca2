/*
 * job.c - the queue's key names and the parser of a job entry (job.h).
 */
#include <string.h>

#include "job.h"
#include "queue.h"
#include "stream.h"
#include "text.h"

void chat_job_key(struct chat_buf *key, unsigned shard, const char *name)
{
	chat_buf_addf(key, CHAT_KEY_PREFIX "{s%u}:%s", shard, name);
}

unsigned chat_job_keys(struct chat_buf *keys, unsigned shards,
		       const char *name, const char **argv, int *argc)
{
	unsigned n = 0;

	for (unsigned s = 0; s < CHAT_SHARDS; s++) {
		if (!(shards & 1u << s))
			continue;
		chat_buf_init(&keys[n]);
		chat_job_key(&keys[n], s, name);
		argv[(*argc)++] = keys[n++].data;
	}
	return n;
}

/* "chat:{sK}:a<app>", the start of every key of an application. */
static void app_key(struct chat_buf *key, uint64_t app)
{
	chat_buf_addf(key, CHAT_KEY_PREFIX "{s%u}:a%llu", chat_queue_shard(app),
		      (unsigned long long)app);
}

void chat_job_key_chats(struct chat_buf *key, uint64_t app)
{
	app_key(key, app);
	chat_buf_adds(key, CHAT_KEY_COUNTER);
}

void chat_job_key_messages(struct chat_buf *key, uint64_t app, uint64_t chat)
{
	app_key(key, app);
	chat_buf_addf(key, CHAT_KEY_CHAT "%llu" CHAT_KEY_COUNTER,
		      (unsigned long long)chat);
}

void chat_job_key_deleted_chats(struct chat_buf *key, uint64_t app)
{
	app_key(key, app);
	chat_buf_adds(key, CHAT_KEY_DELETED_CHATS);
}

void chat_job_key_deleted_max(struct chat_buf *key, uint64_t app,
			      uint64_t chat)
{
	app_key(key, app);
	chat_buf_addf(key, CHAT_KEY_CHAT "%llu" CHAT_KEY_DELETED_MAX,
		      (unsigned long long)chat);
}

void chat_job_key_idempotency(struct chat_buf *key, uint64_t app,
			      const char *idem, size_t len)
{
	app_key(key, app);
	chat_buf_adds(key, CHAT_KEY_IDEMPOTENCY);
	chat_buf_add(key, idem, len);
}

void chat_job_key_token(struct chat_buf *key, const char *hex)
{
	chat_buf_adds(key, CHAT_KEY_TOKEN);
	chat_buf_adds(key, hex);
}

int chat_job_key_shard(const char *key, size_t len, unsigned *shard)
{
	static const char start[] = CHAT_KEY_PREFIX "{s";
	size_t digits = 0, at = sizeof(start) - 1;
	uint64_t v;

	if (len < at || memcmp(key, start, at) != 0)
		return -1;
	while (at + digits < len && key[at + digits] >= '0' &&
	       key[at + digits] <= '9')
		digits++;
	if (at + digits + 2 > len || key[at + digits] != '}' ||
	    key[at + digits + 1] != ':' ||
	    chat_parse_u64(key + at, digits, 0, CHAT_SHARDS - 1, &v))
		return -1;
	*shard = (unsigned)v;
	return 0;
}

static bool field_u64(const redisReply *v, uint64_t *out)
{
	return v->type == REDIS_REPLY_STRING &&
	       chat_parse_u64(v->str, v->len, 0, UINT64_MAX, out) == 0;
}

static enum chat_job_type job_type(const redisReply *v)
{
	if (v->type != REDIS_REPLY_STRING || v->len != 1)
		return CHAT_JOB_NONE;
	switch (v->str[0]) {
	case CHAT_JOB_CHAT:
		return CHAT_JOB_CHAT;
	case CHAT_JOB_MESSAGE:
		return CHAT_JOB_MESSAGE;
	case CHAT_JOB_DELETE_CHAT:
		return CHAT_JOB_DELETE_CHAT;
	default:
		return CHAT_JOB_NONE;
	}
}

static bool is(const redisReply *k, const char *name)
{
	return strcmp(k->str, name) == 0;
}

void chat_job_parse(struct chat_job *j, const struct chat_stream_entry *e)
{
	const redisReply *f = e->fields;
	uint64_t ts = 0;
	bool ok = true;

	memset(j, 0, sizeof(*j));
	j->dead = "malformed job";
	if (!f)		/* deleted while pending */
		return;
	for (size_t i = 0; ok && i + 1 < f->elements; i += 2) {
		const redisReply *k = f->element[i], *v = f->element[i + 1];

		if (k->type != REDIS_REPLY_STRING || k->len > 2)
			continue;
		if (is(k, CHAT_JOB_F_TYPE))
			j->type = job_type(v);
		else if (is(k, CHAT_JOB_F_APP))
			ok = field_u64(v, &j->app);
		else if (is(k, CHAT_JOB_F_CHAT))
			ok = field_u64(v, &j->chat);
		else if (is(k, CHAT_JOB_F_NUMBER))
			ok = field_u64(v, &j->number);
		else if (is(k, CHAT_JOB_F_CHAT_ID))
			ok = field_u64(v, &j->chat_id);
		else if (is(k, CHAT_JOB_F_TS))
			ok = field_u64(v, &ts);
		else if (is(k, CHAT_JOB_F_BODY) && v->type == REDIS_REPLY_STRING) {
			j->body = v->str;
			j->body_len = v->len;
		}
	}
	j->ts = (int64_t)ts;
	if (!ok || !j->app || !j->chat || chat_queue_shard(j->app) != e->shard)
		return;
	if ((j->type == CHAT_JOB_CHAT) ||
	    (j->type == CHAT_JOB_MESSAGE && j->number && j->body) ||
	    (j->type == CHAT_JOB_DELETE_CHAT && j->chat_id))
		j->dead = NULL;
}
