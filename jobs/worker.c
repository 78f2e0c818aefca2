/*
 * worker - the queue worker.  Reads the job streams through the consumer
 * group "persist", writes each batch to MariaDB in one transaction
 * (idempotent on parent and number), indexes the new messages with one
 * _bulk request, and only then acknowledges the jobs.  Jobs left pending
 * by a dead worker are claimed; a MariaDB outage keeps the jobs and
 * retries with backoff; a job that fails for good goes to the dead-letter
 * stream.  Index work that failed is kept in the reindex streams and
 * retried from MariaDB's rows until the search engine takes it.
 *
 * Settings: CHAT_WORKER_BATCH, CHAT_WORKER_WAIT_MS, CHAT_WORKER_TRIES,
 * CHAT_WORKER_NAME (consumer name, default worker-<host>),
 * CHAT_WORKER_CLAIM_MS (idle time after which another consumer's pending
 * jobs are taken over, default 30000).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chats.h"
#include "ctx.h"
#include "db.h"
#include "log.h"
#include "messages.h"
#include "queue.h"
#include "redis.h"
#include "search.h"
#include "text.h"
#include "xalloc.h"

#define DELETE_BATCH 1000
#define BACKOFF_MAX_MS 5000

static volatile sig_atomic_t stop_requested;

static void on_term(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct job {
	unsigned shard;
	const char *id;		/* stream entry id, points into the reply */
	char type;		/* 'c', 'm', 'd'; 0 when malformed */
	uint64_t app, chat, number, chat_id;
	int64_t ts;
	const char *body;
	size_t body_len;
	bool skip;		/* nothing to write (deleted chat) */
	const char *dead;	/* why it is dead-lettered, or NULL */
};

struct worker {
	struct chat_ctx ctx;
	const char *name;
	unsigned claim_ms;
	bool index_ready;	/* the index and its alias exist */
	double es_retry_at;	/* monotonic ms; search is backed off till */
	unsigned es_backoff_ms;
	double next_claim_at;
	double next_reindex_at;
	struct chat_buf dead_reason;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void shard_key(struct chat_buf *b, unsigned shard, const char *name)
{
	chat_buf_reset(b);
	chat_queue_key(b, shard, "%s", name);
}

static bool field_u64(const redisReply *v, uint64_t *out)
{
	return v->type == REDIS_REPLY_STRING &&
	       chat_parse_u64(v->str, v->len, 0, UINT64_MAX, out) == 0;
}

/* Fill `j` from one stream entry [id, [field, value, ...]]. */
static void parse_job(struct job *j, unsigned shard, const redisReply *entry)
{
	const redisReply *f;
	uint64_t ts = 0;
	bool ok = true;

	memset(j, 0, sizeof(*j));
	j->shard = shard;
	j->dead = "malformed job";
	if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
	    entry->element[0]->type != REDIS_REPLY_STRING)
		return;
	j->id = entry->element[0]->str;
	f = entry->element[1];
	if (f->type != REDIS_REPLY_ARRAY)	/* deleted while pending */
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
	if (!ok || !j->app || !j->chat || chat_queue_shard(j->app) != shard)
		return;
	if ((j->type == 'c') ||
	    (j->type == 'm' && j->number && j->body) ||
	    (j->type == 'd' && j->chat_id))
		j->dead = NULL;
}

/* Append the jobs of an XREADGROUP/XAUTOCLAIM stream reply. */
static void collect(struct job **jobs, size_t *n, size_t *cap, unsigned shard,
		    const redisReply *entries)
{
	for (size_t i = 0; i < entries->elements; i++) {
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			*jobs = xrealloc(*jobs, *cap * sizeof(**jobs));
		}
		parse_job(&(*jobs)[(*n)++], shard, entries->element[i]);
	}
}

/* True for the jobs that write into a chat: chat and message jobs. */
static bool writes_chat(const struct job *j)
{
	return !j->dead && (j->type == 'm' || j->type == 'c');
}

/*
 * Messages into chats deleted since they were queued are dropped; so is
 * a chat job of a deleted chat, which can only be one delivered again
 * (a chat is deleted only once persisted) and would bring it back.
 */
static int mark_deleted_chats(struct worker *w, struct job *jobs, size_t n)
{
	struct chat_buf key;
	size_t sent = 0;
	int rc = 0;

	chat_buf_init(&key);
	for (size_t i = 0; i < n; i++) {
		char num[24];
		const char *argv[3];

		if (!writes_chat(&jobs[i]))
			continue;
		chat_buf_reset(&key);
		chat_queue_key(&key, jobs[i].shard, "a%llu:del",
			       (unsigned long long)jobs[i].app);
		snprintf(num, sizeof(num), "%llu",
			 (unsigned long long)jobs[i].chat);
		argv[0] = "ZSCORE";
		argv[1] = key.data;
		argv[2] = num;
		if (chat_redis_append(w->ctx.redis, 3, argv, NULL)) {
			rc = -1;
			goto out;
		}
		sent++;
	}
	for (size_t i = 0; i < n && sent; i++) {
		redisReply *r;

		if (!writes_chat(&jobs[i]))
			continue;
		r = chat_redis_reply(w->ctx.redis);
		sent--;
		if (!r) {
			rc = -1;
			goto out;
		}
		jobs[i].skip = r->type != REDIS_REPLY_NIL;
		freeReplyObject(r);
	}
out:
	chat_buf_release(&key);
	return rc;
}

static bool live(const struct job *j, char type)
{
	return !j->dead && !j->skip && j->type == type;
}

/* Write the chats and messages of jobs[0..n) in one transaction. */
static int persist(struct worker *w, struct job *jobs, size_t n)
{
	struct chat_db *db = w->ctx.db;
	struct chat_chat *chats = xcalloc(n + 1, sizeof(*chats));
	struct chat_message_row *rows = xcalloc(n + 1, sizeof(*rows));
	size_t *chat_of = xcalloc(n + 1, sizeof(*chat_of));
	size_t nchats = 0, nrows = 0;
	int rc = -1;

	/* One chat row per (app, number), for chat jobs and message parents. */
	for (size_t i = 0; i < n; i++) {
		struct job *j = &jobs[i];
		size_t k;

		if (!live(j, 'c') && !live(j, 'm'))
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
		chat_of[i] = k;
	}
	if (chat_db_simple(db, "START TRANSACTION"))
		goto out;
	if (nchats && chat_chats_upsert(db, chats, nchats))
		goto rollback;
	for (size_t i = 0; i < n; i++) {
		if (!live(&jobs[i], 'm'))
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
	rc = 0;
	goto out;
rollback:
	chat_db_simple(db, "ROLLBACK");
out:
	free(chats);
	free(rows);
	free(chat_of);
	return rc;
}

static bool search_backed_off(struct worker *w)
{
	if (now_ms() < w->es_retry_at)
		return true;
	/* Bulk writes require the alias: create the index first. */
	if (!w->index_ready)
		w->index_ready = chat_search_ensure_index(w->ctx.es) == 0;
	return !w->index_ready;
}

static void search_failed(struct worker *w)
{
	w->index_ready = false;
	w->es_backoff_ms = w->es_backoff_ms ? w->es_backoff_ms * 2 : 250;
	if (w->es_backoff_ms > BACKOFF_MAX_MS)
		w->es_backoff_ms = BACKOFF_MAX_MS;
	w->es_retry_at = now_ms() + w->es_backoff_ms;
	chat_log_warn("search engine unavailable (%s); retrying in %u ms",
		      w->ctx.es->errstr, w->es_backoff_ms);
}

static void search_ok(struct worker *w)
{
	w->es_backoff_ms = 0;
	w->es_retry_at = 0;
}

/*
 * Index the messages just persisted.  What the engine does not take goes
 * to the reindex stream.  Returns -1 only when even that failed (then the
 * jobs stay pending and are redone).
 */
static int index_new(struct worker *w, struct job *jobs, size_t n)
{
	struct chat_search_doc *docs = xcalloc(n + 1, sizeof(*docs));
	bool *failed = xcalloc(n + 1, sizeof(*failed));
	size_t *of = xcalloc(n + 1, sizeof(*of));
	size_t nd = 0;
	bool skipped;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		if (!live(&jobs[i], 'm'))
			continue;
		docs[nd] = (struct chat_search_doc){
			.app = jobs[i].app, .chat = jobs[i].chat,
			.number = jobs[i].number, .body = jobs[i].body,
			.body_len = jobs[i].body_len,
			.created_at = jobs[i].ts, .updated_at = jobs[i].ts,
		};
		of[nd++] = i;
	}
	if (!nd)
		goto out;
	skipped = search_backed_off(w);
	if (skipped || chat_search_bulk(w->ctx.es, docs, nd, true, failed)) {
		if (!skipped)
			search_failed(w);
		for (size_t k = 0; k < nd; k++)
			failed[k] = true;
	} else {
		search_ok(w);
	}
	for (size_t k = 0; k < nd; k++) {
		const struct job *j = &jobs[of[k]];

		if (failed[k] && chat_queue_reindex(&w->ctx, j->app, j->chat,
						  j->number))
			rc = -1;
	}
out:
	free(docs);
	free(failed);
	free(of);
	return rc;
}

/* Delete chat row `chat_id` and its messages, in short batches. */
static int delete_chat_row(struct worker *w, uint64_t chat_id)
{
	long n;

	do {
		n = chat_messages_delete_some(w->ctx.db, chat_id, DELETE_BATCH);
		if (n < 0)
			return -1;
	} while (n == DELETE_BATCH && !stop_requested);
	if (n == DELETE_BATCH)
		return -1;
	return chat_chats_delete_row(w->ctx.db, chat_id);
}

/* A deleted chat: its messages in short batches, its row, its index. */
static int delete_chat(struct worker *w, const struct job *j)
{
	struct chat_chat again;
	bool skipped;
	int found;

	if (delete_chat_row(w, j->chat_id))
		return -1;
	/*
	 * A message job whose batch checked the deleted set just before the
	 * delete may have created the chat row again, under a new id.
	 */
	found = chat_chats_get(w->ctx.db, j->app, j->chat, &again);
	if (found < 0 || (found && delete_chat_row(w, again.id)))
		return -1;
	skipped = search_backed_off(w);
	if (skipped || chat_search_delete_chat(w->ctx.es, j->app, j->chat)) {
		if (!skipped)
			search_failed(w);
		return chat_queue_reindex(&w->ctx, j->app, j->chat, 0);
	}
	return 0;
}

static int dead_letter(struct worker *w, const struct job *j,
		       const char *reason)
{
	struct chat_buf key;
	redisReply *r;
	int rc;

	chat_buf_init(&key);
	shard_key(&key, j->shard, "dead");
	r = chat_redis_cmd(w->ctx.redis, "XADD %s * job %s reason %s",
			   key.data, j->id ? j->id : "-", reason);
	rc = r && r->type == REDIS_REPLY_STRING ? 0 : -1;
	freeReplyObject(r);
	chat_buf_release(&key);
	chat_log_error("job %s dead-lettered: %s", j->id ? j->id : "-", reason);
	return rc;
}

/* XACK and XDEL the jobs: the stream keeps only work still to do. */
static int finish(struct worker *w, const struct job *jobs, size_t n)
{
	struct chat_buf key;
	size_t sent = 0;
	int rc = 0;

	chat_buf_init(&key);
	for (size_t i = 0; i < n; i++) {
		const char *ack[4], *del[3];

		if (!jobs[i].id)
			continue;
		shard_key(&key, jobs[i].shard, "jobs");
		ack[0] = "XACK"; ack[1] = key.data; ack[2] = CHAT_GROUP;
		ack[3] = jobs[i].id;
		del[0] = "XDEL"; del[1] = key.data; del[2] = jobs[i].id;
		if (chat_redis_append(w->ctx.redis, 4, ack, NULL) ||
		    chat_redis_append(w->ctx.redis, 3, del, NULL)) {
			rc = -1;
			goto out;
		}
		sent += 2;
	}
	while (sent--) {
		redisReply *r = chat_redis_reply(w->ctx.redis);

		if (!r) {
			rc = -1;
			break;
		}
		freeReplyObject(r);
	}
out:
	chat_buf_release(&key);
	return rc;
}

/* Record the counters the sync program must redo: one pipeline a batch. */
static void mark_dirty(struct worker *w, const struct job *jobs, size_t n)
{
	struct chat_buf key, app, chat;
	size_t sent = 0;
	bool ok = true;

	chat_buf_init(&key);
	chat_buf_init(&app);
	chat_buf_init(&chat);
	for (size_t i = 0; i < n; i++) {
		const struct job *j = &jobs[i];
		const char *argv[4];

		if (j->dead || j->skip)
			continue;
		chat_buf_reset(&key);
		chat_buf_reset(&app);
		chat_buf_reset(&chat);
		chat_queue_key(&key, j->shard, "dirty");
		chat_buf_addf(&app, "%llu", (unsigned long long)j->app);
		chat_buf_addf(&chat, "%llu:%llu", (unsigned long long)j->app,
			      (unsigned long long)j->chat);
		argv[0] = "SADD";
		argv[1] = key.data;
		argv[2] = app.data;
		argv[3] = chat.data;
		if (chat_redis_append(w->ctx.redis, j->type == 'm' ? 4 : 3,
				      argv, NULL)) {
			ok = false;
			break;
		}
		sent++;
	}
	while (ok && sent--) {
		redisReply *r = chat_redis_reply(w->ctx.redis);

		ok = r != NULL;
		freeReplyObject(r);
	}
	if (!ok)
		chat_log_warn("could not record counters to sync: %s",
			      w->ctx.redis->errstr);
	chat_buf_release(&key);
	chat_buf_release(&app);
	chat_buf_release(&chat);
}

/*
 * When a batch fails for a reason other than a lost connection, persist
 * its jobs one by one, so that one bad job cannot hold back the others;
 * the one that keeps failing is dead-lettered.
 */
static int persist_one_by_one(struct worker *w, struct job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned tries = 0;

		if (!live(&jobs[i], 'c') && !live(&jobs[i], 'm'))
			continue;
		while (persist(w, &jobs[i], 1)) {
			if (stop_requested)
				return -1;
			if (chat_db_down(w->ctx.db)) {
				sleep_ms(BACKOFF_MAX_MS / 10);
				continue;
			}
			if (++tries >= w->ctx.cfg.worker_tries) {
				chat_buf_reset(&w->dead_reason);
				chat_buf_addf(&w->dead_reason, "database: %s",
					      w->ctx.db->errstr);
				if (dead_letter(w, &jobs[i],
						w->dead_reason.data))
					return -1;
				jobs[i].dead = "dead-lettered";
				break;
			}
			sleep_ms(50U << tries);
		}
	}
	return 0;
}

/*
 * Persist, delete, index, acknowledge.  A stop request only cuts short the
 * waits for a store to come back: a batch that is persisted is finished.
 * Jobs not acknowledged stay pending and are redone (idempotently).
 */
static void process(struct worker *w, struct job *jobs, size_t n)
{
	unsigned backoff = 100;
	bool persisted = false;

	for (size_t i = 0; i < n; i++)
		if (jobs[i].dead && jobs[i].id &&
		    dead_letter(w, &jobs[i], jobs[i].dead))
			return;
	/* Redis or MariaDB down: keep the jobs and retry with backoff. */
	while (!persisted && !stop_requested) {
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
		sleep_ms(backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
							 backoff * 2;
	}
	if (!persisted)
		return;
	for (size_t i = 0; i < n; i++) {
		if (!live(&jobs[i], 'd'))
			continue;
		while (delete_chat(w, &jobs[i])) {
			if (stop_requested)
				return;
			sleep_ms(backoff);
		}
	}
	if (index_new(w, jobs, n))
		return;
	mark_dirty(w, jobs, n);
	finish(w, jobs, n);
}

/* Redo index entries listed in the reindex streams, from MariaDB's rows. */
static void reindex_pending(struct worker *w)
{
	struct chat_buf key;
	struct chat_message m;

	if (search_backed_off(w))
		return;
	chat_buf_init(&key);
	chat_message_init(&m);
	for (unsigned s = 0; s < CHAT_SHARDS && !stop_requested; s++) {
		redisReply *r;

		shard_key(&key, s, "reindex");
		r = chat_redis_cmd(w->ctx.redis, "XRANGE %s - + COUNT 200",
				   key.data);
		for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY &&
				   i < r->elements; i++) {
			struct job j;
			struct chat_chat chat;
			int rc = 0, found;

			parse_job(&j, s, r->element[i]);
			if (j.number == 0) {
				rc = chat_search_delete_chat(w->ctx.es, j.app,
							     j.chat);
			} else if ((found = chat_chats_get(w->ctx.db, j.app,
							    j.chat, &chat)) < 0 ||
				   (found && (found = chat_messages_get_by_chat_id(
						      w->ctx.db, chat.id,
						      j.number, &m)) < 0)) {
				break;	/* database down: later */
			} else if (found) {
				struct chat_search_doc d = {
					.app = j.app, .chat = j.chat,
					.number = j.number,
					.body = m.body.data,
					.body_len = m.body.len,
					.created_at = m.created_at,
					.updated_at = m.updated_at,
				};
				bool failed = false;

				rc = chat_search_bulk(w->ctx.es, &d, 1, false,
						      &failed);
				/*
				 * The engine answers but refuses this one
				 * document: retrying cannot help, and must
				 * not hold back the others.
				 */
				if (rc == 0 && failed) {
					chat_buf_reset(&w->dead_reason);
					chat_buf_addf(&w->dead_reason,
						      "index: %s",
						      w->ctx.es->errstr);
					if (dead_letter(w, &j,
							w->dead_reason.data))
						break;
				}
			} else {
				rc = chat_search_delete_message(
					w->ctx.es, j.app, j.chat, j.number);
			}
			if (rc) {
				search_failed(w);
				break;
			}
			freeReplyObject(chat_redis_cmd(w->ctx.redis,
						       "XDEL %s %s", key.data,
						       j.id));
		}
		freeReplyObject(r);
		if (search_backed_off(w))
			break;
	}
	chat_message_release(&m);
	chat_buf_release(&key);
}

static void create_groups(struct worker *w)
{
	struct chat_buf key;

	chat_buf_init(&key);
	for (unsigned s = 0; s < CHAT_SHARDS; s++) {
		shard_key(&key, s, "jobs");
		freeReplyObject(chat_redis_cmd(w->ctx.redis,
					       "XGROUP CREATE %s %s 0 MKSTREAM",
					       key.data, CHAT_GROUP));
	}
	chat_buf_release(&key);
}

/*
 * Read one batch: with `id` ">" new jobs, with "0" this consumer's own
 * pending jobs (after a restart).  Returns the reply (caller frees) and
 * fills jobs, or NULL.
 */
static redisReply *read_batch(struct worker *w, const char *id,
			      struct job **jobs, size_t *n, size_t *cap)
{
	const char *argv[10 + 2 * CHAT_SHARDS];
	struct chat_buf keys[CHAT_SHARDS];
	char count[16], block[16];
	redisReply *r;
	int argc = 0;

	snprintf(count, sizeof(count), "%u", w->ctx.cfg.worker_batch);
	snprintf(block, sizeof(block), "%u", w->ctx.cfg.worker_wait_ms);
	argv[argc++] = "XREADGROUP";
	argv[argc++] = "GROUP";
	argv[argc++] = CHAT_GROUP;
	argv[argc++] = w->name;
	argv[argc++] = "COUNT";
	argv[argc++] = count;
	if (strcmp(id, ">") == 0) {
		argv[argc++] = "BLOCK";
		argv[argc++] = block;
	}
	argv[argc++] = "STREAMS";
	for (unsigned s = 0; s < CHAT_SHARDS; s++) {
		chat_buf_init(&keys[s]);
		shard_key(&keys[s], s, "jobs");
		argv[argc++] = keys[s].data;
	}
	for (unsigned s = 0; s < CHAT_SHARDS; s++)
		argv[argc++] = id;
	r = chat_redis_argv(w->ctx.redis, argc, argv, NULL);
	for (unsigned s = 0; s < CHAT_SHARDS; s++)
		chat_buf_release(&keys[s]);
	*n = 0;
	if (!r || r->type != REDIS_REPLY_ARRAY) {
		if (r && r->type == REDIS_REPLY_ERROR) {
			chat_log_warn("XREADGROUP: %s", r->str);
			if (strncmp(r->str, "NOGROUP", 7) == 0)
				create_groups(w);
		}
		return r;
	}
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *st = r->element[i];
		unsigned shard;

		if (st->type != REDIS_REPLY_ARRAY || st->elements != 2 ||
		    sscanf(st->element[0]->str, "chat:{s%u}", &shard) != 1)
			continue;
		collect(jobs, n, cap, shard, st->element[1]);
	}
	return r;
}

/* Take over jobs another consumer left pending for too long. */
static void claim_stale(struct worker *w, struct job **jobs, size_t *cap)
{
	struct chat_buf key;
	char idle[16], count[16];

	chat_buf_init(&key);
	snprintf(idle, sizeof(idle), "%u", w->claim_ms);
	snprintf(count, sizeof(count), "%u", w->ctx.cfg.worker_batch);
	for (unsigned s = 0; s < CHAT_SHARDS && !stop_requested; s++) {
		size_t n = 0;
		redisReply *r;

		shard_key(&key, s, "jobs");
		r = chat_redis_cmd(w->ctx.redis,
				   "XAUTOCLAIM %s %s %s %s 0 COUNT %s",
				   key.data, CHAT_GROUP, w->name, idle, count);
		if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
		    r->element[1]->type == REDIS_REPLY_ARRAY) {
			collect(jobs, &n, cap, s, r->element[1]);
			if (n) {
				chat_log_info("claimed %zu stale jobs", n);
				process(w, *jobs, n);
			}
		}
		freeReplyObject(r);
	}
	chat_buf_release(&key);
}

static void run(struct worker *w)
{
	struct job *jobs = NULL;
	size_t cap = 0, n = 0;
	bool own_pending = true;

	create_groups(w);
	while (!stop_requested) {
		double now = now_ms();
		redisReply *r;

		if (now >= w->next_claim_at) {
			claim_stale(w, &jobs, &cap);
			w->next_claim_at = now + w->claim_ms / 2.0;
		}
		/* After a restart, first what this consumer left unfinished. */
		r = read_batch(w, own_pending ? "0" : ">", &jobs, &n, &cap);
		if (!r) {
			chat_log_warn("redis unavailable: %s",
				      w->ctx.redis->errstr);
			sleep_ms(500);
			continue;
		}
		if (n)
			process(w, jobs, n);
		else if (own_pending)
			own_pending = false;
		freeReplyObject(r);
		if (now_ms() >= w->next_reindex_at) {
			reindex_pending(w);
			w->next_reindex_at = now_ms() + 200;
		}
	}
	free(jobs);
}

int main(void)
{
	struct worker w;
	struct sigaction sa;
	char host[64] = "localhost";
	struct chat_buf name;
	const char *env;

	memset(&w, 0, sizeof(w));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	chat_ctx_init(&w.ctx, "worker");
	chat_buf_init(&name);
	chat_buf_init(&w.dead_reason);
	env = getenv("CHAT_WORKER_NAME");
	if (env && *env) {
		chat_buf_adds(&name, env);
	} else {
		gethostname(host, sizeof(host) - 1);
		chat_buf_addf(&name, "worker-%s", host);
	}
	w.name = name.data;
	env = getenv("CHAT_WORKER_CLAIM_MS");
	w.claim_ms = 30000;
	if (env && *env) {
		uint64_t v;

		if (chat_parse_u64(env, strlen(env), 100, 3600000, &v) == 0)
			w.claim_ms = (unsigned)v;
	}
	chat_log_info("worker %s started", w.name);
	run(&w);
	chat_log_info("worker %s stopped", w.name);
	chat_buf_release(&name);
	chat_buf_release(&w.dead_reason);
	chat_ctx_release(&w.ctx);
	return 0;
}
