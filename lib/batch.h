/*
 * batch.h - the worker's decisions over a batch of jobs, with no I/O:
 * which jobs count for what, the chat and message rows a batch writes,
 * its index entries grouped by chat into ranges, the counters it makes
 * dirty, and what to do after a failed write (wait, retry, dead-letter).
 * lib/worker.c does the I/O around them; tests/unit/test_batch.c tests
 * them without services.
 */
#ifndef CHAT_BATCH_H
#define CHAT_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "job.h"

struct chat_chat;
struct chat_message_row;

/* A well-formed job of `type` that is not skipped (deleted chat). */
bool chat_batch_live(const struct chat_job *j, enum chat_job_type type);
/* A well-formed chat or message job (skipped or not): it writes a chat. */
bool chat_batch_writes_chat(const struct chat_job *j);
/* A live message job. */
bool chat_batch_is_message(const struct chat_job *j);
/* A job that changes counters: well-formed and not skipped. */
bool chat_batch_counts_change(const struct chat_job *j);
/* Same application and chat number. */
bool chat_batch_same_chat(const struct chat_job *a, const struct chat_job *b);

/*
 * The indexes of the jobs[0..n) that `keep` selects, sorted by
 * application, chat, then message number; *count of them.  Caller frees.
 */
size_t *chat_batch_order(const struct chat_job *jobs, size_t n,
			 bool (*keep)(const struct chat_job *), size_t *count);

/*
 * The chat rows that live chat and message jobs of jobs[0..n) write: one
 * per (application, number), created at the earliest of its jobs' times.
 * chats[] and chat_job[] have room for n; chat_job[k] tells that row k
 * has a chat job (its row is written even when it exists), chat_of[i]
 * the row of job i (for live chat and message jobs only).  Returns how
 * many rows.
 */
size_t chat_batch_chat_rows(const struct chat_job *jobs, size_t n,
			    struct chat_chat *chats, size_t *chat_of,
			    bool *chat_job);
/*
 * The message rows of the live message jobs of jobs[0..n), in their
 * chat's row (chats[chat_of[i]].id, as chat_batch_chat_rows made them
 * and the database numbered them).  rows[] has room for n; the bodies
 * point into the jobs.  Returns how many.
 */
size_t chat_batch_message_rows(const struct chat_job *jobs, size_t n,
			       const struct chat_chat *chats,
			       const size_t *chat_of,
			       struct chat_message_row *rows);

/*
 * The index entry texts (indexer.h) of shard `shard` for a persisted
 * batch: into `created` one group per chat of its live messages (a
 * number delivered twice listed once), into `deleted` one whole-chat
 * group per live delete.  `order`/`count` are chat_batch_order(...,
 * chat_batch_is_message, ...); `numbers` has room for `count`.  Appends.
 */
void chat_batch_index_entries(const struct chat_job *jobs, size_t n,
			      const size_t *order, size_t count,
			      unsigned shard, uint64_t *numbers,
			      struct chat_buf *created,
			      struct chat_buf *deleted);

/*
 * The dirty markers (job.h, CHAT_KEY_DIRTY) of shard `shard`: "<app>"
 * for the application of every job that changes counters, "<app>:<chat>"
 * for the chat of every such message job, each once.  `order`/`count`
 * are chat_batch_order(..., chat_batch_counts_change, ...).  Appends each
 * marker NUL-terminated to `out`; returns how many.
 */
size_t chat_batch_dirty_markers(const struct chat_job *jobs,
				const size_t *order, size_t count,
				unsigned shard, struct chat_buf *out);

/*
 * The counts of the next read of new entries per shard (quota[0..
 * CHAT_SHARDS)), from the last read, which asked[s] entries of shard s
 * and got[s].  A shard that gave all it was asked may have more: those
 * shards share what the batch of `count` entries leaves after the
 * others, which are each asked for the most any of them gave (1 at
 * least), so that one busy shard fills a batch in one read.  When no
 * shard gave all, each is asked for an equal share.  The quotas sum to
 * `count` at most (CHAT_SHARDS when `count` is smaller), and take two
 * values at most (one XREADGROUP each).
 */
void chat_batch_quotas(unsigned count, const unsigned *asked,
		       const unsigned *got, unsigned *quota);

/* What to do after a write of a job failed. */
enum chat_batch_retry {
	CHAT_BATCH_WAIT_DB,	/* MariaDB is down: wait, do not count */
	CHAT_BATCH_RETRY,	/* wait *wait_ms, then try again */
	CHAT_BATCH_DEAD,	/* failed max_tries times: dead-letter it */
};

/* MariaDB down while jobs are retried one by one. */
#define CHAT_BATCH_DB_DOWN_WAIT_MS 500
/* A job MariaDB refused is retried after RETRY_BASE_MS << tries (6 at most). */
#define CHAT_BATCH_RETRY_BASE_MS 50U

/*
 * Decide after a failure of a job tried *tries times before (counted
 * here when it is not for MariaDB being down); *wait_ms is the pause
 * before the next try (0 for CHAT_BATCH_DEAD).
 */
enum chat_batch_retry chat_batch_after_failure(bool db_down, unsigned *tries,
					       unsigned max_tries,
					       unsigned *wait_ms);

#endif
