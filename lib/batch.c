/*
 * batch.c - the worker's decisions over a batch of jobs (batch.h).
 */
#include "batch.h"

#include <stdlib.h>

#include "chats.h"
#include "indexer.h"
#include "messages.h"
#include "queue.h"
#include "xalloc.h"

bool chat_batch_live(const struct chat_job *j, enum chat_job_type type)
{
	return !j->dead && !j->skip && j->type == type;
}

bool chat_batch_writes_chat(const struct chat_job *j)
{
	return !j->dead &&
	       (j->type == CHAT_JOB_MESSAGE || j->type == CHAT_JOB_CHAT);
}

bool chat_batch_is_message(const struct chat_job *j)
{
	return chat_batch_live(j, CHAT_JOB_MESSAGE);
}

bool chat_batch_counts_change(const struct chat_job *j)
{
	return !j->dead && !j->skip;
}

bool chat_batch_same_chat(const struct chat_job *a, const struct chat_job *b)
{
	return a->app == b->app && a->chat == b->chat;
}

/* Order of job indexes by application, chat, then message number. */
static int by_chat(const void *a, const void *b, void *jobs)
{
	const struct chat_job *x =
		(const struct chat_job *)jobs + *(const size_t *)a;
	const struct chat_job *y =
		(const struct chat_job *)jobs + *(const size_t *)b;

	if (x->app != y->app)
		return x->app < y->app ? -1 : 1;
	if (x->chat != y->chat)
		return x->chat < y->chat ? -1 : 1;
	if (x->number != y->number)
		return x->number < y->number ? -1 : 1;
	return 0;
}

size_t *chat_batch_order(const struct chat_job *jobs, size_t n,
			 bool (*keep)(const struct chat_job *), size_t *count)
{
	size_t *order = xcalloc(n + 1, sizeof(*order));

	*count = 0;
	for (size_t i = 0; i < n; i++)
		if (keep(&jobs[i]))
			order[(*count)++] = i;
	qsort_r(order, *count, sizeof(*order), by_chat, (void *)jobs);
	return order;
}

size_t chat_batch_chat_rows(const struct chat_job *jobs, size_t n,
			    struct chat_chat *chats, size_t *chat_of,
			    bool *chat_job)
{
	size_t nchats = 0;

	for (size_t i = 0; i < n; i++) {
		const struct chat_job *j = &jobs[i];
		size_t k;

		if (!chat_batch_live(j, CHAT_JOB_CHAT) &&
		    !chat_batch_live(j, CHAT_JOB_MESSAGE))
			continue;
		for (k = 0; k < nchats; k++)
			if (chats[k].app == j->app &&
			    chats[k].number == j->chat)
				break;
		if (k == nchats) {
			chats[k].app = j->app;
			chats[k].number = j->chat;
			chats[k].created_at = j->ts;
			chat_job[k] = false;
			nchats++;
		} else if (j->ts < chats[k].created_at) {
			chats[k].created_at = j->ts;
		}
		if (j->type == CHAT_JOB_CHAT)
			chat_job[k] = true;
		chat_of[i] = k;
	}
	return nchats;
}

size_t chat_batch_message_rows(const struct chat_job *jobs, size_t n,
			       const struct chat_chat *chats,
			       const size_t *chat_of,
			       struct chat_message_row *rows)
{
	size_t nrows = 0;

	for (size_t i = 0; i < n; i++) {
		if (!chat_batch_is_message(&jobs[i]))
			continue;
		rows[nrows].chat_id = chats[chat_of[i]].id;
		rows[nrows].number = jobs[i].number;
		rows[nrows].body = jobs[i].body;
		rows[nrows].body_len = jobs[i].body_len;
		rows[nrows].created_at = jobs[i].ts;
		nrows++;
	}
	return nrows;
}

void chat_batch_index_entries(const struct chat_job *jobs, size_t n,
			      const size_t *order, size_t count,
			      unsigned shard, uint64_t *numbers,
			      struct chat_buf *created,
			      struct chat_buf *deleted)
{
	for (size_t i = 0; i < count;) {
		const struct chat_job *first = &jobs[order[i]];
		size_t k = 0;

		if (chat_queue_shard(first->app) != shard) {
			i++;
			continue;
		}
		/* Sorted; a job delivered twice is listed once. */
		for (; i < count &&
		       chat_batch_same_chat(&jobs[order[i]], first);
		     i++)
			if (!k || numbers[k - 1] != jobs[order[i]].number)
				numbers[k++] = jobs[order[i]].number;
		chat_index_add_group(created, first->app, first->chat, numbers,
				     k);
	}
	for (size_t i = 0; i < n; i++)
		if (chat_batch_live(&jobs[i], CHAT_JOB_DELETE_CHAT) &&
		    chat_queue_shard(jobs[i].app) == shard)
			chat_index_add_group(deleted, jobs[i].app, jobs[i].chat,
					     NULL, 0);
}

size_t chat_batch_dirty_markers(const struct chat_job *jobs,
				const size_t *order, size_t count,
				unsigned shard, struct chat_buf *out)
{
	const struct chat_job *prev = NULL;
	size_t markers = 0;

	for (size_t i = 0; i < count; i++) {
		const struct chat_job *j = &jobs[order[i]];

		if (chat_queue_shard(j->app) != shard)
			continue;
		if (!prev || prev->app != j->app) {
			chat_buf_addf(out, "%llu", (unsigned long long)j->app);
			chat_buf_addch(out, '\0');
			markers++;
		}
		if (j->type == CHAT_JOB_MESSAGE &&
		    (!prev || !chat_batch_same_chat(prev, j) ||
		     prev->type != CHAT_JOB_MESSAGE)) {
			chat_buf_addf(out, "%llu:%llu",
				      (unsigned long long)j->app,
				      (unsigned long long)j->chat);
			chat_buf_addch(out, '\0');
			markers++;
		}
		prev = j;
	}
	return markers;
}

void chat_batch_quotas(unsigned count, const unsigned *asked,
		       const unsigned *got, unsigned *quota)
{
	unsigned share = count / CHAT_SHARDS ? count / CHAT_SHARDS : 1;
	unsigned full = 0, low = 1, high;

	for (unsigned s = 0; s < CHAT_SHARDS; s++) {
		if (asked[s] && got[s] >= asked[s])
			full++;
		else if (got[s] > low)
			low = got[s];
	}
	/* The busy shards never get less than the others. */
	if (!full || full == CHAT_SHARDS || low * CHAT_SHARDS > count) {
		for (unsigned s = 0; s < CHAT_SHARDS; s++)
			quota[s] = share;
		return;
	}
	high = (count - low * (CHAT_SHARDS - full)) / full;
	for (unsigned s = 0; s < CHAT_SHARDS; s++)
		quota[s] = asked[s] && got[s] >= asked[s] ? high : low;
}

enum chat_batch_retry chat_batch_after_failure(bool db_down, unsigned *tries,
					       unsigned max_tries,
					       unsigned *wait_ms)
{
	if (db_down) {
		*wait_ms = CHAT_BATCH_DB_DOWN_WAIT_MS;
		return CHAT_BATCH_WAIT_DB;
	}
	if (++*tries >= max_tries) {
		*wait_ms = 0;
		return CHAT_BATCH_DEAD;
	}
	*wait_ms = CHAT_BATCH_RETRY_BASE_MS << (*tries < 6 ? *tries : 6);
	return CHAT_BATCH_RETRY;
}
