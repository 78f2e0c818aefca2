/*
 * worker - the queue worker.  Reads the job streams through the consumer
 * group "persist", writes each batch to MariaDB in one transaction
 * (idempotent on parent and number), queues the index entries of what it
 * wrote (lib/indexer.h), and only then acknowledges the jobs.  Jobs left
 * pending by a dead worker are claimed; a MariaDB outage keeps the jobs
 * and retries with backoff; a job that fails for good goes to the
 * dead-letter stream.
 *
 * A second thread, with its own connections, is the indexer: it brings
 * the search index in line with the rows through the index streams, so
 * that persisting never waits for the search engine.
 *
 * Settings: CHAT_WORKER_BATCH, CHAT_WORKER_WAIT_MS, CHAT_WORKER_TRIES,
 * CHAT_WORKER_NAME (consumer name, default worker-<host>),
 * CHAT_WORKER_CLAIM_MS (idle time after which another consumer's pending
 * entries are taken over, default 30000).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chats.h"
#include "clock.h"
#include "ctx.h"
#include "db.h"
#include "indexer.h"
#include "job.h"
#include "log.h"
#include "proc.h"
#include "messages.h"
#include "queue.h"
#include "redis.h"
#include "stream.h"
#include "text.h"
#include "xalloc.h"

#define DELETE_BATCH 1000
/* A store down: waits from BACKOFF_MIN_MS, doubling up to BACKOFF_MAX_MS. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* MariaDB down while jobs are retried one by one. */
#define DB_DOWN_WAIT_MS (BACKOFF_MAX_MS / 10)
/* A job MariaDB refused is retried after RETRY_BASE_MS << tries (6 at most). */
#define RETRY_BASE_MS 50U
/* Redis down while reading jobs. */
#define REDIS_DOWN_WAIT_MS 500
/* A pause is slept in slices this long, to notice a stop request. */
#define STOP_CHECK_MS 50
/* How long the indexer waits for entries before it looks at the stop flag. */
#define INDEX_WAIT_MS 250

/*
 * Row ids of chats seen lately, direct-mapped by (application, number).
 * A chat's row keeps its id until the chat is deleted, and the messages
 * of a deleted chat are dropped before they reach MariaDB (see
 * mark_deleted_chats), so an id found here is one to use.
 */
#define CHAT_IDS 65536

struct chat_id_slot {
	uint64_t app, number, id;	/* id 0: empty */
};

struct worker {
	struct chat_ctx ctx;		/* the persisting thread's */
	struct chat_id_slot *chat_ids;	/* CHAT_IDS slots */
	struct chat_ctx index_ctx;	/* the indexer's */
	const char *name;
	unsigned claim_ms;
	double next_claim_at;
	struct chat_stream_batch batch;
	struct chat_job *jobs;		/* one per batch entry */
	size_t cap;
	struct chat_buf why;
};

static bool live(const struct chat_job *j, enum chat_job_type type)
{
	return !j->dead && !j->skip && j->type == type;
}

/* True for the jobs that write into a chat: chat and message jobs. */
static bool writes_chat(const struct chat_job *j)
{
	return !j->dead && (j->type == CHAT_JOB_MESSAGE || j->type == CHAT_JOB_CHAT);
}

/* Order of job indexes by application, chat, then message number. */
static int by_chat(const void *a, const void *b, void *jobs)
{
	const struct chat_job *x = (const struct chat_job *)jobs + *(const size_t *)a;
	const struct chat_job *y = (const struct chat_job *)jobs + *(const size_t *)b;

	if (x->app != y->app)
		return x->app < y->app ? -1 : 1;
	if (x->chat != y->chat)
		return x->chat < y->chat ? -1 : 1;
	if (x->number != y->number)
		return x->number < y->number ? -1 : 1;
	return 0;
}

/* The indexes of the jobs that `keep` selects, sorted by chat (caller frees). */
static size_t *by_chat_order(const struct chat_job *jobs, size_t n,
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

static bool same_chat(const struct chat_job *a, const struct chat_job *b)
{
	return a->app == b->app && a->chat == b->chat;
}

/*
 * Messages into chats deleted since they were queued are dropped; so is
 * a chat job of a deleted chat, which can only be one delivered again
 * (a chat is deleted only once persisted) and would bring it back.  One
 * ZSCORE per chat of the batch, in one round trip.
 */
static int mark_deleted_chats(struct worker *w, struct chat_job *jobs, size_t n)
{
	struct chat_buf key, num;
	size_t count, sent = 0;
	size_t *order = by_chat_order(jobs, n, writes_chat, &count);
	int rc = 0;

	chat_buf_init(&key);
	chat_buf_init(&num);
	for (size_t i = 0; i < count && rc == 0; i++) {
		const struct chat_job *j = &jobs[order[i]];
		const char *argv[3];

		if (i && same_chat(j, &jobs[order[i - 1]]))
			continue;
		chat_buf_reset(&key);
		chat_buf_reset(&num);
		chat_job_key_deleted_chats(&key, j->app);
		chat_buf_addf(&num, "%llu", (unsigned long long)j->chat);
		argv[0] = "ZSCORE";
		argv[1] = key.data;
		argv[2] = num.data;
		if (chat_redis_append(w->ctx.redis, 3, argv, NULL))
			rc = -1;
		else
			sent++;
	}
	for (size_t i = 0; i < count && sent; i++) {
		redisReply *r;

		if (i && same_chat(&jobs[order[i]], &jobs[order[i - 1]])) {
			jobs[order[i]].skip = jobs[order[i - 1]].skip;
			continue;
		}
		r = chat_redis_reply(w->ctx.redis);
		sent--;
		if (!r) {
			rc = -1;
			break;
		}
		jobs[order[i]].skip = r->type != REDIS_REPLY_NIL;
		freeReplyObject(r);
	}
	free(order);
	chat_buf_release(&key);
	chat_buf_release(&num);
	return rc;
}

static struct chat_id_slot *chat_id_slot(struct worker *w, uint64_t app,
					 uint64_t number)
{
	uint64_t h = (app * 0x9E3779B97F4A7C15ULL) ^ (number * 0xC2B2AE3D27D4EB4FULL);

	return &w->chat_ids[(h >> 32) & (CHAT_IDS - 1)];
}

static uint64_t cached_chat_id(struct worker *w, uint64_t app, uint64_t number)
{
	const struct chat_id_slot *s = chat_id_slot(w, app, number);

	return s->app == app && s->number == number ? s->id : 0;
}

static void cache_chat_id(struct worker *w, uint64_t app, uint64_t number,
			  uint64_t id)
{
	*chat_id_slot(w, app, number) =
		(struct chat_id_slot){ .app = app, .number = number, .id = id };
}

/*
 * Give chats[0..n) their row ids.  The row of a chat job (chat_job[i]) is
 * written, or its creation time moved earlier; the parent of message
 * jobs only when it has no row yet.  Most have one, known from an
 * earlier batch or else read: that writes nothing.
 */
static int upsert_chats(struct worker *w, struct chat_chat *chats,
			const bool *chat_job, size_t n)
{
	struct chat_chat *todo = xcalloc(n + 1, sizeof(*todo));
	size_t *of = xcalloc(n + 1, sizeof(*of));
	size_t k = 0, write = 0;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		chats[i].id = chat_job[i] ? 0 :
			cached_chat_id(w, chats[i].app, chats[i].number);
		if (!chats[i].id && !chat_job[i]) {
			todo[k] = chats[i];
			of[k++] = i;
		}
	}
	if (k)
		rc = chat_chats_find_ids(w->ctx.db, todo, k);
	for (size_t i = 0; rc == 0 && i < k; i++)
		chats[of[i]].id = todo[i].id;
	/* What has no row yet, and the chat jobs: written. */
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (!chats[i].id) {
			todo[write] = chats[i];
			of[write++] = i;
		}
	if (rc == 0 && write)
		rc = chat_chats_upsert(w->ctx.db, todo, write);
	for (size_t i = 0; rc == 0 && i < write; i++)
		chats[of[i]].id = todo[i].id;
	free(todo);
	free(of);
	return rc;
}

/* Write the chats and messages of jobs[0..n) in one transaction. */
static int persist(struct worker *w, struct chat_job *jobs, size_t n)
{
	struct chat_db *db = w->ctx.db;
	struct chat_chat *chats = xcalloc(n + 1, sizeof(*chats));
	struct chat_message_row *rows = xcalloc(n + 1, sizeof(*rows));
	size_t *chat_of = xcalloc(n + 1, sizeof(*chat_of));
	bool *chat_job = xcalloc(n + 1, sizeof(*chat_job));
	size_t nchats = 0, nrows = 0;
	int rc = -1;

	/* One chat row per (app, number), for chat jobs and message parents. */
	for (size_t i = 0; i < n; i++) {
		struct chat_job *j = &jobs[i];
		size_t k;

		if (!live(j, CHAT_JOB_CHAT) && !live(j, CHAT_JOB_MESSAGE))
			continue;
		for (k = 0; k < nchats; k++)
			if (chats[k].app == j->app && chats[k].number == j->chat)
				break;
		if (k == nchats) {
			chats[k].app = j->app;
			chats[k].number = j->chat;
			chats[k].created_at = j->ts;
			nchats++;
		} else if (j->ts < chats[k].created_at) {
			chats[k].created_at = j->ts;
		}
		if (j->type == CHAT_JOB_CHAT)
			chat_job[k] = true;
		chat_of[i] = k;
	}
	if (chat_db_simple(db, "START TRANSACTION"))
		goto out;
	if (nchats && upsert_chats(w, chats, chat_job, nchats))
		goto rollback;
	for (size_t i = 0; i < n; i++) {
		if (!live(&jobs[i], CHAT_JOB_MESSAGE))
			continue;
		rows[nrows].chat_id = chats[chat_of[i]].id;
		rows[nrows].number = jobs[i].number;
		rows[nrows].body = jobs[i].body;
		rows[nrows].body_len = jobs[i].body_len;
		rows[nrows].created_at = jobs[i].ts;
		nrows++;
	}
	if (nrows && chat_messages_insert(db, rows, nrows))
		goto rollback;
	if (chat_db_simple(db, "COMMIT"))
		goto rollback;
	for (size_t k = 0; k < nchats; k++)
		cache_chat_id(w, chats[k].app, chats[k].number, chats[k].id);
	rc = 0;
	goto out;
rollback:
	chat_db_simple(db, "ROLLBACK");
out:
	free(chats);
	free(rows);
	free(chat_of);
	free(chat_job);
	return rc;
}

/* Delete chat row `chat_id` and its messages, in short batches. */
static int delete_chat_and_messages(struct worker *w, uint64_t chat_id)
{
	long n;

	do {
		n = chat_messages_delete_some(w->ctx.db, chat_id, DELETE_BATCH);
		if (n < 0)
			return -1;
	} while (n == DELETE_BATCH && !chat_proc_stopping());
	if (n == DELETE_BATCH)
		return -1;
	return chat_chats_delete_row(w->ctx.db, chat_id);
}

/* A deleted chat: its messages in short batches, then its row. */
static int delete_chat(struct worker *w, const struct chat_job *j)
{
	struct chat_chat again;
	int found;

	cache_chat_id(w, j->app, j->chat, 0);
	if (delete_chat_and_messages(w, j->chat_id))
		return -1;
	/*
	 * A message job whose batch checked the deleted set just before the
	 * delete may have created the chat row again, under a new id.
	 */
	found = chat_chats_get(w->ctx.db, j->app, j->chat, &again);
	if (found < 0 || (found && delete_chat_and_messages(w, again.id)))
		return -1;
	return 0;
}

static bool is_message(const struct chat_job *j)
{
	return live(j, CHAT_JOB_MESSAGE);
}

/*
 * The index entries of a persisted batch, per shard: one for its new
 * messages, then one for its deleted chats (after it: the indexer applies
 * a shard's entries in order).  One round trip.
 */
static int queue_index(struct worker *w, const struct chat_job *jobs, size_t n)
{
	size_t count, sent = 0;
	size_t *order = by_chat_order(jobs, n, is_message, &count);
	uint64_t *numbers = xcalloc(count + 1, sizeof(*numbers));
	struct chat_buf created, deleted;
	int rc = 0;

	chat_buf_init(&created);
	chat_buf_init(&deleted);
	for (unsigned s = 0; s < CHAT_SHARDS && rc == 0; s++) {
		chat_buf_reset(&created);
		chat_buf_reset(&deleted);
		for (size_t i = 0; i < count;) {
			const struct chat_job *first = &jobs[order[i]];
			size_t k = 0;

			if (chat_queue_shard(first->app) != s) {
				i++;
				continue;
			}
			/* Sorted; a job delivered twice is listed once. */
			for (; i < count && same_chat(&jobs[order[i]], first);
			     i++)
				if (!k || numbers[k - 1] != jobs[order[i]].number)
					numbers[k++] = jobs[order[i]].number;
			chat_index_add_group(&created, first->app, first->chat,
					     numbers, k);
		}
		for (size_t i = 0; i < n; i++)
			if (live(&jobs[i], CHAT_JOB_DELETE_CHAT) &&
			    chat_queue_shard(jobs[i].app) == s)
				chat_index_add_group(&deleted, jobs[i].app,
						     jobs[i].chat, NULL, 0);
		if (created.len) {
			rc = chat_index_append(w->ctx.redis, s, &created, true);
			sent += rc == 0;
		}
		if (deleted.len && rc == 0) {
			rc = chat_index_append(w->ctx.redis, s, &deleted, false);
			sent += rc == 0;
		}
	}
	if (chat_redis_replies(w->ctx.redis, sent, REDIS_REPLY_STRING))
		rc = -1;
	chat_buf_release(&created);
	chat_buf_release(&deleted);
	free(order);
	free(numbers);
	return rc;
}

static bool counts_change(const struct chat_job *j)
{
	return !j->dead && !j->skip;
}

/*
 * Record the counters the sync program must redo: the application of
 * every job, and the chat of every message; each once, in one SADD per
 * shard.
 */
static void mark_dirty(struct worker *w, const struct chat_job *jobs, size_t n)
{
	size_t count, sent = 0;
	size_t *order = by_chat_order(jobs, n, counts_change, &count);
	const char **argv = xcalloc(2 * count + 3, sizeof(*argv));
	size_t *offs = xcalloc(2 * count + 3, sizeof(*offs));
	struct chat_buf text;

	chat_buf_init(&text);
	for (unsigned s = 0; s < CHAT_SHARDS; s++) {
		size_t argc = 0;
		const struct chat_job *prev = NULL;

		chat_buf_reset(&text);
		offs[argc++] = text.len;
		chat_buf_adds(&text, "SADD");
		chat_buf_addch(&text, '\0');
		offs[argc++] = text.len;
		chat_job_key(&text, s, CHAT_KEY_DIRTY);
		chat_buf_addch(&text, '\0');
		for (size_t i = 0; i < count; i++) {
			const struct chat_job *j = &jobs[order[i]];

			if (chat_queue_shard(j->app) != s)
				continue;
			if (!prev || prev->app != j->app) {
				offs[argc++] = text.len;
				chat_buf_addf(&text, "%llu",
					      (unsigned long long)j->app);
				chat_buf_addch(&text, '\0');
			}
			if (j->type == CHAT_JOB_MESSAGE && (!prev || !same_chat(prev, j) ||
					       prev->type != CHAT_JOB_MESSAGE)) {
				offs[argc++] = text.len;
				chat_buf_addf(&text, "%llu:%llu",
					      (unsigned long long)j->app,
					      (unsigned long long)j->chat);
				chat_buf_addch(&text, '\0');
			}
			prev = j;
		}
		if (argc == 2)
			continue;
		for (size_t i = 0; i < argc; i++)
			argv[i] = text.data + offs[i];
		if (chat_redis_append(w->ctx.redis, (int)argc, argv, NULL))
			break;
		sent++;
	}
	if (chat_redis_replies(w->ctx.redis, sent, REDIS_REPLY_INTEGER))
		chat_log_warn("could not record counters to sync: %s",
			      w->ctx.redis->errstr);
	chat_buf_release(&text);
	free(argv);
	free(offs);
	free(order);
}

static int dead_letter(struct worker *w, size_t i, const char *reason)
{
	const struct chat_stream_entry *e = &w->batch.v[i];

	return chat_stream_dead_letter(w->ctx.redis, CHAT_STREAM_JOBS, e, reason);
}

/*
 * After a failed MariaDB step of job i: wait while MariaDB is down, or
 * back off; after CHAT_WORKER_TRIES failures for another reason the job is
 * dead-lettered.  Returns 0 to try again, 1 when the job was dead-lettered,
 * -1 when stopped or when the dead letter could not be written.
 */
static int after_failure(struct worker *w, struct chat_job *jobs, size_t i,
			 unsigned *tries)
{
	if (chat_proc_stopping())
		return -1;
	if (chat_db_down(w->ctx.db)) {
		chat_sleep_ms(DB_DOWN_WAIT_MS);
		return 0;
	}
	if (++*tries >= w->ctx.cfg.worker_tries) {
		chat_buf_reset(&w->why);
		chat_buf_addf(&w->why, "database: %s", w->ctx.db->errstr);
		if (dead_letter(w, i, w->why.data))
			return -1;
		jobs[i].dead = "dead-lettered";
		return 1;
	}
	chat_sleep_ms(RETRY_BASE_MS << (*tries < 6 ? *tries : 6));
	return 0;
}

/*
 * When a batch fails for a reason other than a lost connection, persist
 * its jobs one by one, so that one bad job cannot hold back the others;
 * the one that keeps failing is dead-lettered.
 */
static int persist_one_by_one(struct worker *w, struct chat_job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned tries = 0;

		if (!live(&jobs[i], CHAT_JOB_CHAT) && !live(&jobs[i], CHAT_JOB_MESSAGE))
			continue;
		while (persist(w, &jobs[i], 1)) {
			int rc = after_failure(w, jobs, i, &tries);

			if (rc < 0)
				return -1;
			if (rc > 0)
				break;
		}
	}
	return 0;
}

/*
 * Delete the chat of job i, waiting while MariaDB is down; after
 * CHAT_WORKER_TRIES failures for another reason the job is dead-lettered
 * (its index entry is then not queued either).  Returns 0, or -1 when
 * stopped or when the dead letter could not be written (the batch is then
 * redone).
 */
static int delete_chat_tries(struct worker *w, struct chat_job *jobs, size_t i)
{
	unsigned tries = 0;

	while (delete_chat(w, &jobs[i])) {
		int rc = after_failure(w, jobs, i, &tries);

		if (rc < 0)
			return -1;
		if (rc > 0)
			break;
	}
	return 0;
}

/*
 * Persist, delete, queue the index entries, acknowledge.  A stop request
 * only cuts short the waits for a store to come back: a batch that is
 * persisted is finished.  Jobs not acknowledged stay pending and are
 * redone (idempotently).
 */
static void process(struct worker *w)
{
	struct chat_job *jobs = w->jobs;
	size_t n = w->batch.n;
	unsigned backoff = BACKOFF_MIN_MS;
	bool persisted = false;

	for (size_t i = 0; i < n; i++)
		if (jobs[i].dead && w->batch.v[i].fields &&
		    dead_letter(w, i, jobs[i].dead))
			return;
	/* Redis or MariaDB down: keep the jobs and retry with backoff. */
	while (!persisted && !chat_proc_stopping()) {
		if (mark_deleted_chats(w, jobs, n) == 0) {
			if (persist(w, jobs, n) == 0) {
				persisted = true;
				break;
			}
			if (!chat_db_down(w->ctx.db)) {
				chat_log_warn("batch failed (%s); persisting "
					      "jobs one by one",
					      w->ctx.db->errstr);
				persisted = persist_one_by_one(w, jobs, n) == 0;
				break;
			}
		}
		chat_log_warn("store unavailable (db: %s, redis: %s); retrying "
			      "in %u ms", w->ctx.db->errstr,
			      w->ctx.redis->errstr, backoff);
		chat_sleep_ms(backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
							 backoff * 2;
	}
	if (!persisted)
		return;
	for (size_t i = 0; i < n; i++)
		if (live(&jobs[i], CHAT_JOB_DELETE_CHAT) && delete_chat_tries(w, jobs, i))
			return;
	if (queue_index(w, jobs, n)) {
		chat_log_warn("index entries not queued (%s); the batch will "
			      "be redone", w->ctx.redis->errstr);
		return;
	}
	mark_dirty(w, jobs, n);
	if (chat_stream_finish(w->ctx.redis, CHAT_STREAM_JOBS, CHAT_GROUP_PERSIST, w->batch.v, n))
		chat_log_warn("jobs not acknowledged (%s); they will be "
			      "redone", w->ctx.redis->errstr);
}

/* Parse the batch read into w->jobs and process it. */
static void process_batch(struct worker *w)
{
	if (w->batch.n > w->cap) {
		w->cap = w->batch.n;
		w->jobs = xrealloc(w->jobs, w->cap * sizeof(*w->jobs));
	}
	for (size_t i = 0; i < w->batch.n; i++)
		chat_job_parse(&w->jobs[i], &w->batch.v[i]);
	process(w);
}

/* Take over jobs another consumer left pending for too long. */
static void claim_stale(struct worker *w)
{
	for (unsigned s = 0; s < CHAT_SHARDS && !chat_proc_stopping(); s++) {
		long n;

		chat_stream_batch_reset(&w->batch);
		n = chat_stream_claim(w->ctx.redis, CHAT_STREAM_JOBS, CHAT_GROUP_PERSIST, w->name,
				      s, w->claim_ms, w->ctx.cfg.worker_batch,
				      &w->batch);
		if (n > 0) {
			chat_log_info("claimed %ld stale jobs", n);
			process_batch(w);
		}
	}
}

static void persist_loop(struct worker *w)
{
	bool own_pending = true;

	chat_stream_create_groups(w->ctx.redis, CHAT_STREAM_JOBS, CHAT_GROUP_PERSIST);
	while (!chat_proc_stopping()) {
		double now = chat_now_ms();

		if (now >= w->next_claim_at) {
			claim_stale(w);
			w->next_claim_at = now + w->claim_ms / 2.0;
		}
		/* After a restart, first what this consumer left unfinished. */
		chat_stream_batch_reset(&w->batch);
		if (chat_stream_read(w->ctx.redis, CHAT_STREAM_JOBS, CHAT_GROUP_PERSIST, w->name,
				     own_pending ? "0" : ">",
				     w->ctx.cfg.worker_batch,
				     w->ctx.cfg.worker_wait_ms, &w->batch)) {
			chat_log_warn("redis unavailable: %s",
				      w->ctx.redis->errstr);
			chat_sleep_ms(REDIS_DOWN_WAIT_MS);
			continue;
		}
		if (w->batch.n)
			process_batch(w);
		else if (own_pending)
			own_pending = false;
	}
}

static void *index_loop(void *arg)
{
	struct worker *w = arg;
	struct chat_indexer *ix =
		chat_indexer_new(&w->index_ctx, w->name, w->claim_ms);

	chat_stream_create_groups(w->index_ctx.redis, CHAT_STREAM_INDEX,
				  CHAT_GROUP_INDEX);
	while (!chat_proc_stopping()) {
		if (chat_indexer_step(ix, INDEX_WAIT_MS) >= 0)
			continue;
		/* A store is down: pause, in slices, to notice a stop. */
		for (double until = chat_now_ms() + chat_indexer_wait_ms(ix);
		     !chat_proc_stopping() && chat_now_ms() < until;)
			chat_sleep_ms(STOP_CHECK_MS);
	}
	chat_indexer_free(ix);
	return NULL;
}

int main(void)
{
	struct worker w;
	char host[64] = "localhost";
	struct chat_buf name;
	sigset_t old;
	pthread_t indexer;
	int err;

	memset(&w, 0, sizeof(w));
	chat_proc_init(0);

	chat_ctx_init(&w.ctx, "worker");
	chat_ctx_init(&w.index_ctx, "worker");
	chat_config_for_jobs(&w.ctx.cfg);
	chat_config_for_jobs(&w.index_ctx.cfg);
	chat_ctx_use_search(&w.index_ctx);
	chat_stream_batch_init(&w.batch);
	w.chat_ids = xcalloc(CHAT_IDS, sizeof(*w.chat_ids));
	chat_buf_init(&name);
	chat_buf_init(&w.why);
	if (w.ctx.cfg.worker_name) {
		chat_buf_adds(&name, w.ctx.cfg.worker_name);
	} else {
		gethostname(host, sizeof(host) - 1);
		chat_buf_addf(&name, "worker-%s", host);
	}
	w.name = name.data;
	w.claim_ms = w.ctx.cfg.worker_claim_ms;
	chat_log_info("worker %s started", w.name);
	/* Signals go to the persisting thread, which waits least long. */
	chat_proc_block_stop(&old);
	err = pthread_create(&indexer, NULL, index_loop, &w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		chat_log_error("cannot start the indexer thread: %s",
			       strerror(err));
		return 1;
	}
	persist_loop(&w);
	pthread_join(indexer, NULL);
	chat_log_info("worker %s stopped", w.name);
	chat_stream_batch_release(&w.batch);
	free(w.jobs);
	free(w.chat_ids);
	chat_buf_release(&name);
	chat_buf_release(&w.why);
	chat_ctx_release(&w.index_ctx);
	chat_ctx_release(&w.ctx);
	return 0;
}
