/*
 * worker.c - the queue worker (worker.h): the persisting loop over the
 * job streams and, on a thread of its own, the indexer.  The decisions
 * over a batch are lib/batch.c's; this file does the I/O around them.
 */
#include "worker.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "chats.h"
#include "clock.h"
#include "ctx.h"
#include "db.h"
#include "indexer.h"
#include "job.h"
#include "live.h"
#include "log.h"
#include "messages.h"
#include "proc.h"
#include "queue.h"
#include "redis.h"
#include "stream.h"
#include "xalloc.h"

#define DELETE_BATCH 1000
/* A store down: waits from BACKOFF_MIN_MS, doubling up to BACKOFF_MAX_MS. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* A pause is slept in slices this long, to notice a stop request. */
#define STOP_CHECK_MS 50
/* How long the indexer waits for entries before it looks at the stop flag. */
#define INDEX_WAIT_MS 250
/* Bodies of a batch beyond which the next one is not read ahead of it. */
#define READ_AHEAD_BYTES (4u << 20)
/*
 * On a Redis Cluster a read for new jobs does not block (stream.c): an
 * idle worker polls, CHAT_WORKER_WAIT_MS after a read that found jobs,
 * twice as long after each that found none, up to this: about 25 reads
 * of the 16 shards a second when idle instead of 200, and the first job
 * after a quiet time waits 20 ms more on average.
 */
#define IDLE_POLL_MAX_MS 40

/*
 * Row ids of chats seen lately, direct-mapped by (application, number).
 * A chat's row keeps its id until the chat is deleted, and the messages
 * of a deleted chat are dropped before they reach MariaDB (see
 * mark_deleted_chats), so an id found here is one to use.  16384 slots,
 * 384 KiB: their pages become private memory as chats spread over the
 * table (65536 slots held 1.5 MiB once 1000 chats were seen).
 */
#define CHAT_IDS 16384

struct chat_id_slot {
	uint64_t app, number, id;	/* id 0: empty */
};

/*
 * A batch of jobs as read: the stream entries (and the replies they point
 * into) and the jobs parsed from them.
 */
struct batch {
	struct chat_stream_batch read;
	struct chat_job *jobs;		/* one per entry */
	size_t cap;
	size_t bytes;			/* of message bodies */
	bool checked;			/* deleted chats looked up */
};

struct chat_worker {
	struct chat_ctx ctx;		/* the persisting thread's */
	struct chat_id_slot *chat_ids;	/* CHAT_IDS slots */
	struct chat_ctx index_ctx;	/* the indexer's */
	struct chat_buf name;		/* consumer name */
	unsigned claim_ms;
	double next_claim_at;
	/*
	 * The pipelined loop (persist_loop) holds three batches: `done`,
	 * persisted and indexed, whose live events and acknowledgement go
	 * out with the read of `next` while MariaDB writes `cur`.
	 */
	struct batch slots[3];
	struct batch *done, *cur, *next;
	bool done_pending;		/* done's events and XACK not sent */
	/*
	 * The shards whose pending jobs of this consumer are read before
	 * their new ones (stream.h), so that jobs left unfinished because a
	 * command for their Redis node failed are redone as soon as it
	 * answers, not once a claim finds them idle for CHAT_WORKER_CLAIM_MS.
	 * The other shards go on meanwhile: on a Redis Cluster one master
	 * that is down holds back its own shards only.
	 */
	struct chat_stream_redo redo;
	unsigned idle_wait_ms;		/* the next read's, when idle */
	bool busy;			/* batches since the heap was trimmed */
	double next_trim_at;		/* chat_proc_trim_due */
	unsigned asked[CHAT_SHARDS], got[CHAT_SHARDS];
	struct chat_buf why;
	/* Warnings that repeat every turn while a Redis node is down. */
	struct chat_log_limit aside_warn, ack_warn, redo_warn, live_warn;
};

static void batch_reset(struct batch *b)
{
	chat_stream_batch_reset(&b->read);
	b->bytes = 0;
	b->checked = false;
}

/* Parse the entries read into b->jobs. */
static void batch_parse(struct batch *b)
{
	if (b->read.n > b->cap) {
		b->cap = b->read.n;
		b->jobs = xrealloc(b->jobs, b->cap * sizeof(*b->jobs));
	}
	b->bytes = 0;
	for (size_t i = 0; i < b->read.n; i++) {
		chat_job_parse(&b->jobs[i], &b->read.v[i]);
		b->bytes += b->jobs[i].body_len;
	}
}

/* The shards of the entries of b (a mask). */
static unsigned batch_shards(const struct batch *b)
{
	return chat_stream_shards(b->read.v, b->read.n);
}

/*
 * Take the jobs of `shards` out of parsed batch b and leave them pending,
 * for redo_pending once their Redis node answers (`what` failed for them:
 * logged, unless NULL); the rest of the batch goes on without them.
 */
static void set_aside(struct chat_worker *w, struct batch *b, unsigned shards,
		      const char *what)
{
	size_t k = 0;

	if (!shards)
		return;
	if (what)
		chat_log_warn_limited(&w->aside_warn, "%s failed for shards "
				      "%#x (%s); their jobs are redone once "
				      "Redis answers", what, shards,
				      w->ctx.redis->errstr);
	chat_stream_redo_later(&w->redo, shards);
	b->bytes = 0;
	for (size_t i = 0; i < b->read.n; i++) {
		if (shards & 1u << b->read.v[i].shard)
			continue;
		b->read.v[k] = b->read.v[i];
		b->jobs[k] = b->jobs[i];
		b->bytes += b->jobs[k++].body_len;
	}
	b->read.n = k;
}

/*
 * Messages into chats deleted since they were queued are dropped; so is
 * a chat job of a deleted chat, which can only be one delivered again
 * (a chat is deleted only once persisted) and would bring it back.  One
 * ZSCORE per chat of the batch, appended (pipelined): *sent of them, for
 * the jobs *order[0..*count) (caller passes them to deleted_read).
 * Returns 0, or -1 when one could not be appended.
 */
static int deleted_append(struct chat_worker *w, const struct chat_job *jobs,
			  size_t n, size_t **order, size_t *count,
			  size_t *sent)
{
	struct chat_buf key, num;
	int rc = 0;

	*order = chat_batch_order(jobs, n, chat_batch_writes_chat, count);
	*sent = 0;
	chat_buf_init(&key);
	chat_buf_init(&num);
	for (size_t i = 0; i < *count && rc == 0; i++) {
		const struct chat_job *j = &jobs[(*order)[i]];
		const char *argv[3];

		if (i && chat_batch_same_chat(j, &jobs[(*order)[i - 1]]))
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
			++*sent;
	}
	chat_buf_release(&key);
	chat_buf_release(&num);
	return rc;
}

/*
 * Read the `sent` replies of deleted_append into the jobs' skip flags,
 * and free `order`.  *failed gains the shards of the jobs whose chat
 * was not looked up (a reply missing, or never appended).
 */
static void deleted_read(struct chat_worker *w, struct chat_job *jobs,
			 size_t *order, size_t count, size_t sent,
			 unsigned *failed)
{
	for (size_t i = 0; i < count; i++) {
		struct chat_job *j = &jobs[order[i]];
		redisReply *r;

		if (i && chat_batch_same_chat(j, &jobs[order[i - 1]])) {
			j->skip = jobs[order[i - 1]].skip;
			continue;
		}
		r = sent ? chat_redis_reply(w->ctx.redis) : NULL;
		sent -= sent > 0;
		if (!r || r->type == REDIS_REPLY_ERROR)
			*failed |= 1u << chat_queue_shard(j->app);
		else
			j->skip = r->type != REDIS_REPLY_NIL;
		freeReplyObject(r);
	}
	free(order);
}

/*
 * The deleted chats of a batch, looked up in one round trip; the jobs
 * of the shards it failed for are set aside.
 */
static void mark_deleted_chats(struct chat_worker *w, struct batch *b)
{
	size_t count, sent, *order;
	unsigned failed = 0;

	deleted_append(w, b->jobs, b->read.n, &order, &count, &sent);
	deleted_read(w, b->jobs, order, count, sent, &failed);
	set_aside(w, b, failed, "deleted chats look-up");
}

static struct chat_id_slot *chat_id_slot(struct chat_worker *w, uint64_t app,
					 uint64_t number)
{
	uint64_t h = (app * 0x9E3779B97F4A7C15ULL) ^
		     (number * 0xC2B2AE3D27D4EB4FULL);

	return &w->chat_ids[(h >> 32) & (CHAT_IDS - 1)];
}

static uint64_t cached_chat_id(struct chat_worker *w, uint64_t app,
			       uint64_t number)
{
	const struct chat_id_slot *s = chat_id_slot(w, app, number);

	return s->app == app && s->number == number ? s->id : 0;
}

static void cache_chat_id(struct chat_worker *w, uint64_t app, uint64_t number,
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
static int upsert_chats(struct chat_worker *w, struct chat_chat *chats,
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
static int persist(struct chat_worker *w, const struct chat_job *jobs,
		   size_t n)
{
	struct chat_db *db = w->ctx.db;
	struct chat_chat *chats = xcalloc(n + 1, sizeof(*chats));
	struct chat_message_row *rows = xcalloc(n + 1, sizeof(*rows));
	size_t *chat_of = xcalloc(n + 1, sizeof(*chat_of));
	bool *chat_job = xcalloc(n + 1, sizeof(*chat_job));
	size_t nchats, nrows;
	int rc = -1;

	/* One chat row per (app, number), for chat jobs and message parents. */
	nchats = chat_batch_chat_rows(jobs, n, chats, chat_of, chat_job);
	if (chat_db_simple(db, "START TRANSACTION"))
		goto out;
	if (nchats && upsert_chats(w, chats, chat_job, nchats))
		goto rollback;
	nrows = chat_batch_message_rows(jobs, n, chats, chat_of, rows);
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
static int delete_chat_and_messages(struct chat_worker *w, uint64_t chat_id)
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
static int delete_chat(struct chat_worker *w, const struct chat_job *j)
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

/*
 * The index entries of a persisted batch, per shard: one for its new
 * messages, then one for its deleted chats (after it: the indexer applies
 * a shard's entries in order).  Appended (pipelined): each adds its shard
 * to shard_of[*sent++] (2 * CHAT_SHARDS at most), a reply to read, an
 * entry id.  Returns the shards whose entries could not be appended.
 */
static unsigned index_append(struct chat_worker *w, const struct chat_job *jobs,
			     size_t n, unsigned *shard_of, size_t *sent)
{
	size_t count;
	size_t *order = chat_batch_order(jobs, n, chat_batch_is_message,
					 &count);
	uint64_t *numbers = xcalloc(count + 1, sizeof(*numbers));
	struct chat_buf created, deleted;
	unsigned failed = 0;

	*sent = 0;
	chat_buf_init(&created);
	chat_buf_init(&deleted);
	for (unsigned s = 0; s < CHAT_SHARDS; s++) {
		chat_buf_reset(&created);
		chat_buf_reset(&deleted);
		chat_batch_index_entries(jobs, n, order, count, s, numbers,
					 &created, &deleted);
		if (created.len) {
			if (chat_index_append(w->ctx.redis, s, &created, true))
				failed |= 1u << s;
			else
				shard_of[(*sent)++] = s;
		}
		if (deleted.len && !(failed & 1u << s)) {
			if (chat_index_append(w->ctx.redis, s, &deleted,
					      false))
				failed |= 1u << s;
			else
				shard_of[(*sent)++] = s;
		}
	}
	chat_buf_release(&created);
	chat_buf_release(&deleted);
	free(order);
	free(numbers);
	return failed;
}

/*
 * Read the replies of `sent` commands appended for shards shard_of[]:
 * the shards of those that failed (missing, an error, or not of
 * `want_type`).
 */
static unsigned shard_replies(struct chat_worker *w, const unsigned *shard_of,
			      size_t sent, int want_type)
{
	unsigned failed = 0;

	for (size_t i = 0; i < sent; i++)
		if (chat_redis_replies(w->ctx.redis, 1, want_type))
			failed |= 1u << shard_of[i];
	return failed;
}

/*
 * message.created on the chats' live streams, in number order per chat,
 * once the batch is durable; a failure costs the streams the events, not
 * the batch.  With `unread` not NULL the last part is only appended, its
 * *unread replies for the caller to read.
 */
static void publish_created(struct chat_worker *w, const struct chat_job *jobs,
			    size_t n, size_t *unread)
{
	size_t count;
	size_t *order = chat_batch_order(jobs, n, chat_batch_is_message,
					 &count);

	if (unread)
		*unread = 0;
	if (count && chat_live_created(w->ctx.redis, jobs, order, count,
				       unread))
		chat_log_warn_limited(&w->live_warn, "live events not "
				      "published: %s", w->ctx.redis->errstr);
	free(order);
}

/*
 * Record the counters the sync program must redo: the application of
 * every job, and the chat of every message; each once, in one SADD per
 * shard, appended (pipelined), each adding its shard to shard_of[*sent++]
 * (CHAT_SHARDS at most).  Returns the shards that could not be appended.
 */
static unsigned dirty_append(struct chat_worker *w, const struct chat_job *jobs,
			     size_t n, unsigned *shard_of, size_t *sent)
{
	size_t count;
	size_t *order = chat_batch_order(jobs, n, chat_batch_counts_change,
					 &count);
	const char **argv = xcalloc(2 * count + 3, sizeof(*argv));
	struct chat_buf key, markers;
	unsigned failed = 0;

	*sent = 0;
	chat_buf_init(&key);
	chat_buf_init(&markers);
	for (unsigned s = 0; s < CHAT_SHARDS; s++) {
		size_t argc = 0, k;
		const char *m;

		chat_buf_reset(&markers);
		k = chat_batch_dirty_markers(jobs, order, count, s, &markers);
		if (!k)
			continue;
		chat_buf_reset(&key);
		chat_job_key(&key, s, CHAT_KEY_DIRTY);
		argv[argc++] = "SADD";
		argv[argc++] = key.data;
		for (m = markers.data; k--; m += strlen(m) + 1)
			argv[argc++] = m;
		if (chat_redis_append(w->ctx.redis, (int)argc, argv, NULL))
			failed |= 1u << s;
		else
			shard_of[(*sent)++] = s;
	}
	chat_buf_release(&key);
	chat_buf_release(&markers);
	free(argv);
	free(order);
	return failed;
}

static int dead_letter(struct chat_worker *w, struct batch *b, size_t i,
		       const char *reason)
{
	return chat_stream_dead_letter(w->ctx.redis, CHAT_STREAM_JOBS,
				       &b->read.v[i], reason);
}

/*
 * After a failed MariaDB step of job i: wait while MariaDB is down, or
 * back off; after CHAT_WORKER_TRIES failures for another reason the job is
 * dead-lettered (chat_batch_after_failure decides).  Returns 0 to try
 * again, 1 when the job was dead-lettered, -1 when stopped or when the
 * dead letter could not be written.
 */
static int after_failure(struct chat_worker *w, struct batch *b, size_t i,
			 unsigned *tries)
{
	unsigned wait_ms;

	if (chat_proc_stopping())
		return -1;
	switch (chat_batch_after_failure(chat_db_down(w->ctx.db), tries,
					 w->ctx.cfg.worker_tries, &wait_ms)) {
	case CHAT_BATCH_DEAD:
		chat_buf_reset(&w->why);
		chat_buf_addf(&w->why, "database: %s", w->ctx.db->errstr);
		if (dead_letter(w, b, i, w->why.data))
			return -1;
		b->jobs[i].dead = "dead-lettered";
		return 1;
	case CHAT_BATCH_WAIT_DB:
	case CHAT_BATCH_RETRY:
		break;
	}
	chat_sleep_ms(wait_ms);
	return 0;
}

/*
 * Do `step` for job i until it succeeds, waiting while MariaDB is down;
 * after CHAT_WORKER_TRIES failures for another reason the job is
 * dead-lettered (its index entry is then not queued either).  Returns 0,
 * or -1 when stopped or when the dead letter could not be written (the
 * batch is then redone).
 */
static int retry_job(struct chat_worker *w, struct batch *b, size_t i,
		     int (*step)(struct chat_worker *, const struct chat_job *))
{
	unsigned tries = 0;

	while (step(w, &b->jobs[i])) {
		int rc = after_failure(w, b, i, &tries);

		if (rc < 0)
			return -1;
		if (rc > 0)
			break;
	}
	return 0;
}

static int persist_job(struct chat_worker *w, const struct chat_job *j)
{
	return persist(w, j, 1);
}

/*
 * When a batch fails for a reason other than a lost connection, persist
 * its jobs one by one, so that one bad job cannot hold back the others;
 * the one that keeps failing is dead-lettered.
 */
static int persist_one_by_one(struct chat_worker *w, struct batch *b)
{
	for (size_t i = 0; i < b->read.n; i++)
		if ((chat_batch_live(&b->jobs[i], CHAT_JOB_CHAT) ||
		     chat_batch_live(&b->jobs[i], CHAT_JOB_MESSAGE)) &&
		    retry_job(w, b, i, persist_job))
			return -1;
	return 0;
}

/* The malformed jobs of a batch to the dead letters.  Returns 0 or -1. */
static int dead_letter_malformed(struct chat_worker *w, struct batch *b)
{
	for (size_t i = 0; i < b->read.n; i++)
		if (b->jobs[i].dead && b->read.v[i].fields &&
		    dead_letter(w, b, i, b->jobs[i].dead))
			return -1;
	return 0;
}

/*
 * Look up the deleted chats and persist the batch; the jobs of shards
 * whose look-up failed are set aside; while MariaDB is down, keep the
 * jobs and retry with backoff.  A stop request only cuts short the waits
 * for MariaDB to come back.  Returns true once what is left of b is
 * persisted, false when stopped (the jobs stay pending and are redone,
 * idempotently).
 */
static bool persist_batch(struct chat_worker *w, struct batch *b)
{
	unsigned backoff = chat_backoff_next(0, BACKOFF_MIN_MS, BACKOFF_MAX_MS);

	while (!chat_proc_stopping()) {
		mark_deleted_chats(w, b);
		if (b->read.n == 0 || persist(w, b->jobs, b->read.n) == 0)
			return true;
		if (!chat_db_down(w->ctx.db)) {
			chat_log_warn("batch failed (%s); persisting jobs one "
				      "by one", w->ctx.db->errstr);
			return persist_one_by_one(w, b) == 0;
		}
		chat_log_warn("database unavailable (%s); retrying in %u ms",
			      w->ctx.db->errstr, backoff);
		chat_sleep_ms(backoff);
		backoff = chat_backoff_next(backoff, BACKOFF_MIN_MS,
					    BACKOFF_MAX_MS);
	}
	return false;
}

/* The chats of the batch's delete jobs, rows and messages.  0 or -1. */
static int delete_chats(struct chat_worker *w, struct batch *b)
{
	for (size_t i = 0; i < b->read.n; i++)
		if (chat_batch_live(&b->jobs[i], CHAT_JOB_DELETE_CHAT) &&
		    retry_job(w, b, i, delete_chat))
			return -1;
	return 0;
}

/*
 * Queue the index entries of persisted batch `b` and record its dirty
 * counters, in one round trip with the deleted-chat look-ups of batch
 * `then` (either may be NULL).  The jobs of b whose entries or markers
 * were not recorded, and those of `then` not looked up, are set aside:
 * b's are persisted, and redone (idempotently) once their node answers.
 */
static void index_batch(struct chat_worker *w, struct batch *b,
			struct batch *then)
{
	unsigned index_of[2 * CHAT_SHARDS], dirty_of[CHAT_SHARDS];
	unsigned failed = 0, unchecked = 0;
	size_t nindex = 0, ndirty = 0, nlook = 0, count = 0, *order = NULL;

	if (b) {
		failed |= index_append(w, b->jobs, b->read.n, index_of,
				       &nindex);
		failed |= dirty_append(w, b->jobs, b->read.n, dirty_of,
				       &ndirty);
	}
	if (then && then->read.n)
		deleted_append(w, then->jobs, then->read.n, &order, &count,
			       &nlook);
	failed |= shard_replies(w, index_of, nindex, REDIS_REPLY_STRING);
	failed |= shard_replies(w, dirty_of, ndirty, REDIS_REPLY_INTEGER);
	if (order) {
		deleted_read(w, then->jobs, order, count, nlook, &unchecked);
		set_aside(w, then, unchecked, "deleted chats look-up");
		then->checked = true;
	}
	if (b)
		set_aside(w, b, failed, "index entries or counters to sync");
}

/*
 * Read the `acks` replies of chat_stream_finish_append for entries of
 * `shards`, whose jobs are finished; the jobs of a shard whose XACK
 * failed are redone.
 */
static void acknowledged(struct chat_worker *w, unsigned shards, size_t acks)
{
	unsigned failed = 0;

	chat_stream_finish_read(w->ctx.redis, shards, acks, &failed);
	if (failed) {
		chat_log_warn_limited(&w->ack_warn, "jobs of shards %#x not "
				      "acknowledged (%s); they will be redone",
				      failed, w->ctx.redis->errstr);
		chat_stream_redo_later(&w->redo, failed);
	}
}

/*
 * A whole batch in turn, waiting for each step (this consumer's pending
 * jobs, claimed jobs): persist, delete, queue the index entries, publish,
 * acknowledge.  Jobs not acknowledged stay pending and are redone
 * (idempotently), first thing.
 */
static void process(struct chat_worker *w, struct batch *b)
{
	size_t acks;

	if (!persist_batch(w, b) || delete_chats(w, b)) {
		set_aside(w, b, batch_shards(b), NULL);
		return;
	}
	index_batch(w, b, NULL);
	publish_created(w, b->jobs, b->read.n, NULL);
	chat_stream_finish_append(w->ctx.redis, CHAT_STREAM_JOBS,
				  CHAT_GROUP_PERSIST, b->read.v, b->read.n,
				  &acks);
	acknowledged(w, batch_shards(b), acks);
}

/*
 * Append the live events and XACK/XDEL of `done`, when pending; *shards
 * are done's, for finish_read (done is reset in between).
 */
static void finish_append(struct chat_worker *w, size_t *live, size_t *acks,
			  unsigned *shards)
{
	struct batch *d = w->done;

	*live = 0;
	*acks = 0;
	*shards = 0;
	if (!w->done_pending)
		return;
	*shards = batch_shards(d);
	publish_created(w, d->jobs, d->read.n, live);
	chat_stream_finish_append(w->ctx.redis, CHAT_STREAM_JOBS,
				  CHAT_GROUP_PERSIST, d->read.v, d->read.n,
				  acks);
}

/* Read the replies of finish_append; `done` is finished. */
static void finish_read(struct chat_worker *w, size_t live, size_t acks,
			unsigned shards)
{
	if (chat_redis_replies(w->ctx.redis, live, REDIS_REPLY_STRING))
		chat_log_warn_limited(&w->live_warn, "live events not "
				      "published: %s", w->ctx.redis->errstr);
	if (w->done_pending)
		acknowledged(w, shards, acks);
	w->done_pending = false;
	batch_reset(w->done);
}

/* Finish `done` now, waiting for it. */
static void finish_done(struct chat_worker *w)
{
	size_t live, acks;
	unsigned shards;

	finish_append(w, &live, &acks, &shards);
	finish_read(w, live, acks, shards);
}

/* Take over jobs another consumer left pending for too long. */
static void claim_stale(struct chat_worker *w, struct batch *b)
{
	for (unsigned s = 0; s < CHAT_SHARDS && !chat_proc_stopping(); s++) {
		long n;

		batch_reset(b);
		n = chat_stream_claim(w->ctx.redis, CHAT_STREAM_JOBS,
				      CHAT_GROUP_PERSIST, w->name.data,
				      s, w->claim_ms, w->ctx.cfg.worker_batch,
				      &b->read);
		if (n > 0) {
			chat_log_info("claimed %ld stale jobs", n);
			batch_parse(b);
			if (dead_letter_malformed(w, b) == 0)
				process(w, b);
		}
	}
	batch_reset(b);
}

/* After an idle read on a Redis Cluster: the next one's wait. */
static void pace_idle(struct chat_worker *w, bool found)
{
	unsigned min = w->ctx.cfg.worker_wait_ms;
	unsigned max = min > IDLE_POLL_MAX_MS ? min : IDLE_POLL_MAX_MS;

	w->idle_wait_ms = found ? min : chat_backoff_next(w->idle_wait_ms,
							  min, max);
}

/*
 * One turn of the pipelined loop.  The live events and acknowledgement
 * of `done` and the read of `next` are sent to Redis, which works on
 * them while MariaDB writes `cur` (looked up already); then, in one more
 * round trip, cur's index entries and dirty counters go out with the
 * deleted-chat look-ups of `next`, and the batches move on: cur is
 * acknowledged only after its COMMIT and its index entries.  A batch of
 * large bodies is not read ahead of (one such batch in memory at once);
 * with nothing to persist the read waits for jobs.  The shards with jobs
 * of ours to redo are not read (redo_pending reads them); a shard whose
 * command fails on the way is set aside, the others go on.
 */
static void turn(struct chat_worker *w)
{
	struct batch *cur = w->cur, *next = w->next;
	bool idle = cur->read.n == 0, ok = false;
	const struct chat_config *cfg = &w->ctx.cfg;
	unsigned wait_ms = idle ? chat_config_block_ms(cfg, w->idle_wait_ms) :
				  0;
	unsigned failed = 0, done_shards;
	struct chat_stream_reads reads = { .n = 0 };
	size_t live, acks;

	finish_append(w, &live, &acks, &done_shards);
	if (idle || cur->bytes <= READ_AHEAD_BYTES) {
		unsigned quota[CHAT_SHARDS];

		chat_batch_quotas(w->ctx.cfg.worker_batch, w->asked, w->got,
				  quota);
		for (unsigned s = 0; s < CHAT_SHARDS; s++)
			if (w->redo.shards & 1u << s)
				quota[s] = 0;
		memcpy(w->asked, quota, sizeof(quota));
		chat_stream_read_append(w->ctx.redis, CHAT_STREAM_JOBS,
					CHAT_GROUP_PERSIST, w->name.data,
					quota, wait_ms, &reads);
	}
	chat_redis_send(w->ctx.redis);
	batch_reset(w->done);	/* what it needed is sent */
	if (!idle && cur->checked)
		ok = persist(w, cur->jobs, cur->read.n) == 0;
	finish_read(w, live, acks, done_shards);
	memset(w->got, 0, sizeof(w->got));
	if (reads.n)
		chat_stream_read_collect(w->ctx.redis, CHAT_STREAM_JOBS,
					 CHAT_GROUP_PERSIST, &reads, wait_ms,
					 &next->read, w->got, &failed);
	if (idle && chat_redis_is_cluster(w->ctx.redis))
		pace_idle(w, next->read.n > 0);
	batch_parse(next);
	/* What a failed read took stays pending: redone. */
	set_aside(w, next, failed, "reading jobs");
	if (dead_letter_malformed(w, next))
		set_aside(w, next, batch_shards(next), "dead letters");
	if (!idle) {
		/* A failure or an outage: the whole batch, waiting. */
		if (!ok)
			ok = persist_batch(w, cur);
		ok = ok && delete_chats(w, cur) == 0;
		if (!ok)	/* stopped: left pending, redone */
			set_aside(w, cur, batch_shards(cur), NULL);
	}
	index_batch(w, ok ? cur : NULL, next);
	w->done_pending = ok;
	/*
	 * A burst is over: give the pages of its batches back, which the
	 * heap would otherwise keep (private memory of an idle worker).
	 */
	if (!idle || next->read.n) {
		w->busy = true;
	} else if (w->busy && !w->done_pending &&
		   chat_proc_trim_due(&w->next_trim_at)) {
		chat_proc_trim();
		w->busy = false;
	}
	w->next = w->done;
	w->done = cur;
	w->cur = next;
}

/*
 * After a turn that read jobs but not a full batch, wait out the rest of
 * CHAT_WORKER_WAIT_MS from the turn's start: jobs arriving at a steady
 * rate then gather into batches of several, instead of one turn (a
 * transaction, an index entry and a bulk request, their round trips) for
 * every job or two.  A full batch, or none, goes on at once.
 */
static void linger(const struct chat_worker *w, double started)
{
	size_t n = w->cur->read.n;

	if (n && n < w->ctx.cfg.worker_batch)
		chat_sleep_rest_ms(started, w->ctx.cfg.worker_wait_ms);
}

/*
 * One batch of the jobs this consumer has pending on the shards of
 * w->redo; a shard with none left goes back to new jobs.  A shard
 * whose read fails is tried again after CHAT_STREAM_REDO_MS.
 */
static void redo_pending(struct chat_worker *w)
{
	struct batch *b = w->cur;
	unsigned asked = w->redo.shards, failed = 0;

	batch_reset(b);
	if (chat_stream_read_shards(w->ctx.redis, CHAT_STREAM_JOBS,
				    CHAT_GROUP_PERSIST, w->name.data, "0",
				    asked, w->ctx.cfg.worker_batch, 0,
				    &b->read, &failed))
		chat_log_warn_limited(&w->redo_warn, "redis unavailable for "
				      "shards %#x: %s", failed,
				      w->ctx.redis->errstr);
	/* Entries of the shards that answered are whole: done now. */
	chat_stream_redo_read(&w->redo, asked, batch_shards(b));
	chat_stream_redo_later(&w->redo, failed);
	if (b->read.n) {
		batch_parse(b);
		if (dead_letter_malformed(w, b) == 0)
			process(w, b);
	}
	batch_reset(b);
}

static void persist_loop(struct chat_worker *w)
{
	chat_stream_create_groups(w->ctx.redis, CHAT_STREAM_JOBS,
				  CHAT_GROUP_PERSIST);
	/* What a consumer of this name left. */
	w->redo = (struct chat_stream_redo)CHAT_STREAM_REDO_START;
	while (!chat_proc_stopping()) {
		double now = chat_now_ms();
		bool claim = now >= w->next_claim_at;
		bool redo = chat_stream_redo_due(&w->redo, now);

		if (claim || redo) {
			/*
			 * Both read entries of ours (a claim may take any
			 * idle one): none may be in flight.
			 */
			finish_done(w);
			if (w->cur->read.n)
				process(w, w->cur);
			batch_reset(w->cur);
		}
		if (claim) {
			claim_stale(w, w->next);
			w->next_claim_at = now + w->claim_ms / 2.0;
		}
		if (redo) {
			redo_pending(w);
			continue;
		}
		if (w->redo.shards == CHAT_ALL_SHARDS) {
			/* No shard to read until the redo is due. */
			chat_sleep_ms(STOP_CHECK_MS);
			continue;
		}
		turn(w);
		linger(w, now);
	}
	finish_done(w);
}

static void *index_loop(void *arg)
{
	struct chat_worker *w = arg;
	struct chat_indexer *ix =
		chat_indexer_new(&w->index_ctx, w->name.data, w->claim_ms);
	unsigned wait_ms = chat_config_block_ms(&w->index_ctx.cfg,
						INDEX_WAIT_MS);

	chat_stream_create_groups(w->index_ctx.redis, CHAT_STREAM_INDEX,
				  CHAT_GROUP_INDEX);
	while (!chat_proc_stopping()) {
		if (chat_indexer_step(ix, wait_ms) >= 0)
			continue;
		/* A store is down: pause, in slices, to notice a stop. */
		for (double until = chat_now_ms() + chat_indexer_wait_ms(ix);
		     !chat_proc_stopping() && chat_now_ms() < until;)
			chat_sleep_ms(STOP_CHECK_MS);
	}
	chat_indexer_free(ix);
	return NULL;
}

struct chat_worker *chat_worker_new(void)
{
	struct chat_worker *w = xcalloc(1, sizeof(*w));
	char host[64] = "localhost";

	chat_ctx_init(&w->ctx, "worker");
	chat_ctx_init(&w->index_ctx, "worker");
	chat_config_for_jobs(&w->ctx.cfg);
	chat_config_for_jobs(&w->index_ctx.cfg);
	chat_ctx_use_search(&w->index_ctx);
	for (size_t i = 0; i < 3; i++)
		chat_stream_batch_init(&w->slots[i].read);
	w->done = &w->slots[0];
	w->cur = &w->slots[1];
	w->next = &w->slots[2];
	w->chat_ids = xcalloc(CHAT_IDS, sizeof(*w->chat_ids));
	chat_buf_init(&w->name);
	chat_buf_init(&w->why);
	if (w->ctx.cfg.worker_name) {
		chat_buf_adds(&w->name, w->ctx.cfg.worker_name);
	} else {
		gethostname(host, sizeof(host) - 1);
		chat_buf_addf(&w->name, "worker-%s", host);
	}
	w->claim_ms = w->ctx.cfg.worker_claim_ms;
	w->idle_wait_ms = w->ctx.cfg.worker_wait_ms;
	return w;
}

int chat_worker_run(struct chat_worker *w)
{
	sigset_t old;
	pthread_t indexer;
	int err;

	chat_log_info("worker %s started", w->name.data);
	/* Signals go to the persisting thread, which waits least long. */
	chat_proc_block_stop(&old);
	err = pthread_create(&indexer, NULL, index_loop, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		chat_log_error("cannot start the indexer thread: %s",
			       strerror(err));
		return -1;
	}
	persist_loop(w);
	pthread_join(indexer, NULL);
	chat_log_info("worker %s stopped", w->name.data);
	return 0;
}

void chat_worker_free(struct chat_worker *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < 3; i++) {
		chat_stream_batch_release(&w->slots[i].read);
		free(w->slots[i].jobs);
	}
	free(w->chat_ids);
	chat_buf_release(&w->name);
	chat_buf_release(&w->why);
	chat_ctx_release(&w->index_ctx);
	chat_ctx_release(&w->ctx);
	free(w);
}
