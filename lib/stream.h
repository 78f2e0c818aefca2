/*
 * stream.h - consumer groups over the shard streams of the queue.
 *
 * Each kind of work has one Redis Stream per shard, "chat:{sK}:<name>"
 * (job.h): "jobs" (creates and deletes for the worker to persist) and
 * "index" (messages whose index entry must be brought in line with
 * MariaDB).  A consumer reads all shards at once through its group,
 * handles the entries, then acknowledges and deletes them, so a stream
 * holds only work still to do.  Entries a dead consumer left pending are
 * claimed by another after an idle time.
 */
#ifndef CHAT_STREAM_H
#define CHAT_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "queue.h"

struct chat_redis;

/* One entry; its strings point into a reply the batch keeps. */
struct chat_stream_entry {
	unsigned shard;
	const char *id;			/* stream entry id */
	const redisReply *fields;	/* [field, value, ...]; NULL when the
					   entry was deleted while pending */
};

/* Entries read so far, and the replies they point into. */
struct chat_stream_batch {
	struct chat_stream_entry *v;
	size_t n, cap;
	redisReply **replies;
	size_t nreplies, capreplies;
};

void chat_stream_batch_init(struct chat_stream_batch *b);
/* Forget the entries and free the replies. */
void chat_stream_batch_reset(struct chat_stream_batch *b);
void chat_stream_batch_release(struct chat_stream_batch *b);

/*
 * A consumer whose read or acknowledgement failed for some shards (their
 * Redis node is down) goes on with the others, and reads those shards'
 * pending entries again after this long.
 */
#define CHAT_STREAM_REDO_MS 500

/*
 * The shards (a mask) whose pending entries of a consumer are read
 * again before their new ones: every shard after a start
 * (CHAT_STREAM_REDO_START); a shard whose entries were left unfinished
 * because a command for its node failed, from CHAT_STREAM_REDO_MS after
 * that failure (chat_stream_redo_later).  The other shards go on.
 */
struct chat_stream_redo {
	unsigned shards;
	double at;		/* chat_now_ms() from which they are read */
};
#define CHAT_STREAM_REDO_START { .shards = CHAT_ALL_SHARDS, .at = 0 }

/* `shards` are to be read again, CHAT_STREAM_REDO_MS from now. */
void chat_stream_redo_later(struct chat_stream_redo *redo, unsigned shards);
/* Whether shards wait and their time has come. */
bool chat_stream_redo_due(const struct chat_stream_redo *redo, double now);
/*
 * After a read of the pending entries of `asked`: the shards that gave
 * some (`gave`) are read again, the others of `asked` are done.
 */
void chat_stream_redo_read(struct chat_stream_redo *redo, unsigned asked,
			   unsigned gave);

/* Create group `group` on every shard's stream `name` (where missing). */
void chat_stream_create_groups(struct chat_redis *r, const char *name,
			       const char *group);

/*
 * XREADGROUP up to `count` entries in all from the streams `name` of
 * the shards in mask `shards` (1 << shard each) into `b` (appended): with
 * `id` ">" new entries, waiting up to `block_ms` for one; with "0" this
 * consumer's own pending entries.  Creates the groups when Redis says
 * they are missing.  Returns 0, or -1 when a read failed (Redis
 * unreachable or an error reply; r->errstr says which): *failed is then
 * the shards it failed for, and `b` holds what the others gave, whole
 * (on a Redis Cluster a node that is down costs only its own shards).
 */
int chat_stream_read_shards(struct chat_redis *r, const char *name,
			    const char *group, const char *consumer,
			    const char *id, unsigned shards, unsigned count,
			    unsigned block_ms, struct chat_stream_batch *b,
			    unsigned *failed);
/* The same of every shard (CHAT_SHARDS entries when `count` is smaller). */
int chat_stream_read(struct chat_redis *r, const char *name,
		     const char *group, const char *consumer, const char *id,
		     unsigned count, unsigned block_ms,
		     struct chat_stream_batch *b);

/* The replies a pipelined read awaits: reply i covers shards[i] (a mask). */
struct chat_stream_reads {
	size_t n;
	unsigned shards[CHAT_SHARDS];
};

/*
 * The same read of new entries (id ">") in two halves, so that Redis
 * works on it while the caller does something else: _append queues one
 * XREADGROUP per distinct quota (per shard on a Redis Cluster) for up to
 * quota[s] entries of shard s (0: none), blocking up to `block_ms` for
 * one entry when a single command covers every shard, and says in
 * `reads` which replies to collect.  The caller sends them
 * (chat_redis_send) and then, once the replies of anything appended
 * before are read, _collect reads them into `b` (appended) and counts
 * in got[s] what shard s gave.  On a Redis Cluster nothing blocks: when
 * nothing came, _collect waits `block_ms`.  Returns 0 or -1 (r->errstr;
 * the groups are created when Redis says they are missing); *failed
 * gains the shards whose read failed, and `b` holds the others' entries.
 */
void chat_stream_read_append(struct chat_redis *r, const char *name,
			     const char *group, const char *consumer,
			     const unsigned *quota, unsigned block_ms,
			     struct chat_stream_reads *reads);
int chat_stream_read_collect(struct chat_redis *r, const char *name,
			     const char *group,
			     const struct chat_stream_reads *reads,
			     unsigned block_ms, struct chat_stream_batch *b,
			     unsigned *got, unsigned *failed);

/*
 * Claim for `consumer` up to `count` entries of shard `shard`'s stream
 * that other consumers have left pending for `idle_ms` or more (appended
 * to `b`).  Returns how many, or -1.
 */
long chat_stream_claim(struct chat_redis *r, const char *name,
		       const char *group, const char *consumer,
		       unsigned shard, unsigned idle_ms, unsigned count,
		       struct chat_stream_batch *b);

/*
 * XACK and XDEL entries e[0..n): one XACK and one XDEL per shard, in one
 * round trip.  Returns 0, or -1 when a shard's failed (its entries stay
 * pending and are redone): *failed (unless NULL) gains those shards.
 */
int chat_stream_finish(struct chat_redis *r, const char *name,
		       const char *group, const struct chat_stream_entry *e,
		       size_t n, unsigned *failed);
/*
 * The same commands only appended (pipelined): *sent says how many
 * replies chat_stream_finish_read then reads, given the shards of the
 * same entries (chat_stream_shards).  Returns 0, or -1 when not all
 * could be appended.
 */
int chat_stream_finish_append(struct chat_redis *r, const char *name,
			      const char *group,
			      const struct chat_stream_entry *e, size_t n,
			      size_t *sent);
int chat_stream_finish_read(struct chat_redis *r, unsigned shards,
			    size_t sent, unsigned *failed);
/* The shards of entries e[0..n), a mask of 1 << shard. */
unsigned chat_stream_shards(const struct chat_stream_entry *e, size_t n);

/* The value of field `field` of an entry, or NULL. */
const redisReply *chat_stream_field(const struct chat_stream_entry *e,
				    const char *field);

/*
 * Append to the dead-letter stream "chat:{sK}:dead" of the entry's shard
 * a record of entry `e` of stream `name` and why it was given up: the
 * fields "stream" (name), "job" (the entry id), "reason", then every
 * field of the entry as it was (the body of a create included), so that
 * chat_stream_replay can put it back.  The dead stream is capped at
 * about cfg->dead_max entries (XADD MAXLEN ~).  Returns 0 or -1.
 */
int chat_stream_dead_letter(struct chat_redis *r, const char *name,
			    const struct chat_stream_entry *e,
			    const char *reason);

/*
 * Move up to `max` dead-lettered entries of shard `shard` whose stream is
 * `name` (any stream when NULL), oldest first, back onto their stream:
 * each is appended to "chat:{sK}:<stream>" with its original fields and
 * removed from the dead stream in one MULTI/EXEC.  Records without
 * original fields (written before they were kept) are left alone.
 * Returns how many were moved, or -1 (r->errstr).
 */
long chat_stream_replay(struct chat_redis *r, unsigned shard,
			const char *name, unsigned max);

#endif
