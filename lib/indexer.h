/*
 * indexer.h - the search index as a projection of MariaDB, kept in line
 * through the index streams.
 *
 * Every change to messages in MariaDB is followed by an entry in the
 * index stream of the application's shard, "chat:{sK}:index" (job.h):
 * the worker adds one per chat for the messages of a batch it persisted
 * and one per deleted chat; the API adds one per edited or deleted
 * message.  The indexer (run by the worker on a thread of its own) reads
 * them through the consumer group "index", reads the rows as they are
 * now, and indexes them, or deletes the documents of rows that are gone,
 * in _bulk requests; only then are the entries acknowledged.  Since each
 * entry is applied from the rows as they are when it is read, entries
 * may be applied twice or out of order: the last one read after a change
 * brings its document in line.  While the engine or MariaDB is down the
 * entries wait, so nothing written is ever left out of the index.
 *
 * Entry fields (named in job.h, CHAT_INDEX_F_*):
 *   m    the messages, as space-separated groups "<app>/<chat>/<numbers>"
 *        (application id, chat number, message numbers ascending: "5",
 *        "5,9", "1-500,502"); numbers "0" stand for the whole chat,
 *        deleted
 *   new  "1": the messages were just persisted; index each one that is
 *        not indexed yet (one that is may be a newer edit)
 */
#ifndef CHAT_INDEXER_H
#define CHAT_INDEXER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct chat_ctx;
struct chat_redis;
struct chat_indexer;

/* Most message numbers one entry may stand for. */
#define CHAT_INDEX_ENTRY_MAX 20000

/*
 * Append numbers[0..n) (ascending) to `b` in the entry format, with runs
 * of consecutive numbers as ranges.
 */
void chat_index_format_numbers(struct chat_buf *b, const uint64_t *numbers,
			       size_t n);
/*
 * Parse s[0..len) in the entry format into *numbers (malloc'ed, caller
 * frees), ascending and without repeats, at most `max` of them.  Returns
 * the count, or -1 for text that is not a number list ("0" alone gives
 * one number, 0).
 */
long chat_index_parse_numbers(const char *s, size_t len, size_t max,
			      uint64_t **numbers);

/*
 * Parse the group of entry text s[0..len) that starts at *pos:
 * "<app>/<chat>/<numbers>", after the space that separates it from the
 * group before when *pos > 0.  On success advances *pos past it, sets
 * *app and *chat (both positive) and *numbers (malloc'ed, caller frees;
 * as chat_index_parse_numbers: ascending, at most `max`) and returns how
 * many numbers; -1 (nothing to free, *pos unchanged) when the text there
 * is not a group.
 */
long chat_index_parse_group(const char *s, size_t len, size_t *pos,
			    size_t max, uint64_t *app, uint64_t *chat,
			    uint64_t **numbers);
/*
 * Add to entry text `m` the group of messages numbers[0..n) (ascending)
 * of chat `chat` of application `app`; n == 0 stands for the whole chat.
 */
void chat_index_add_group(struct chat_buf *m, uint64_t app, uint64_t chat,
			  const uint64_t *numbers, size_t n);
/*
 * Pipeline (chat_redis_append: the caller reads one reply) the entry `m`
 * into shard `shard`'s index stream, with `created` when its messages
 * were just persisted ("new").  All its groups must be of applications
 * of that shard.  Returns 0 or -1.
 */
int chat_index_append(struct chat_redis *r, unsigned shard,
		      const struct chat_buf *m, bool created);
/*
 * Add the entry for one message (number 0: the whole chat), in one round
 * trip.  Returns 0 or -1.
 */
int chat_index_queue(struct chat_redis *r, uint64_t app, uint64_t chat,
		     uint64_t number);

/*
 * An indexer reading as consumer `consumer` of the group, with the
 * handles of `ctx` (which must outlive it).  Entries other consumers
 * left pending for `claim_ms` are taken over.
 */
struct chat_indexer *chat_indexer_new(struct chat_ctx *ctx,
				      const char *consumer, unsigned claim_ms);
void chat_indexer_free(struct chat_indexer *ix);

/*
 * Read entries (this consumer's own pending ones first), waiting up to
 * `block_ms` for new ones, and apply them.  Returns how many entries were
 * applied, or -1 when the engine, MariaDB or Redis is unavailable: the
 * entries not applied stay pending, and chat_indexer_wait_ms says how
 * long to pause before the next call.  After a step that applied entries
 * but read fewer than it could, it first waits out the rest of
 * CHAT_INDEX_WAIT_MS from the step's start, so that at a steady rate the
 * documents of several worker batches go to the engine in one _bulk
 * request.
 */
long chat_indexer_step(struct chat_indexer *ix, unsigned block_ms);
/* Milliseconds until the indexer wants to be called again after a -1. */
unsigned chat_indexer_wait_ms(const struct chat_indexer *ix);

#endif
