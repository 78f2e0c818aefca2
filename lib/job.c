/*
 * job.c - reading a job stream entry into a struct chat_job (job.h).
 */
#include <string.h>

#include "job.h"
#include "queue.h"
#include "stream.h"
#include "text.h"

static bool field_u64(const redisReply *v, uint64_t *out)
{
	return v->type == REDIS_REPLY_STRING &&
	       chat_parse_u64(v->str, v->len, 0, UINT64_MAX, out) == 0;
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
		if (strcmp(k->str, "t") == 0 && v->len == 1)
			j->type = v->str[0];
		else if (strcmp(k->str, "a") == 0)
			ok = field_u64(v, &j->app);
		else if (strcmp(k->str, "c") == 0)
			ok = field_u64(v, &j->chat);
		else if (strcmp(k->str, "n") == 0)
			ok = field_u64(v, &j->number);
		else if (strcmp(k->str, "i") == 0)
			ok = field_u64(v, &j->chat_id);
		else if (strcmp(k->str, "ts") == 0)
			ok = field_u64(v, &ts);
		else if (strcmp(k->str, "b") == 0 && v->type == REDIS_REPLY_STRING) {
			j->body = v->str;
			j->body_len = v->len;
		}
	}
	j->ts = (int64_t)ts;
	if (!ok || !j->app || !j->chat || chat_queue_shard(j->app) != e->shard)
		return;
	if ((j->type == 'c') ||
	    (j->type == 'm' && j->number && j->body) ||
	    (j->type == 'd' && j->chat_id))
		j->dead = NULL;
}
