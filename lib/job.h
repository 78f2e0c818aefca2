/*
 * job.h - the queue's format in Redis, in one place: the name of every
 * key the project keeps there, the job streams' entry fields and job
 * types, and the parser of a job as the worker reads it.  lib/queue.c
 * writes jobs (its Lua text takes the names below), jobs/worker persists
 * them, jobs/sync, jobs/replay and lib/indexer.c use the same keys.
 *
 * Keys of one application share a hash tag, its shard (queue.h), so that
 * each script touches one slot and the same code runs on Redis Cluster:
 *
 *   chat:{sK}:a<app>:n          chats handed out in the application
 *   chat:{sK}:a<app>:c<n>:n     messages handed out in chat n
 *   chat:{sK}:a<app>:del        sorted set of deleted chat numbers
 *   chat:{sK}:a<app>:c<n>:dmax  highest deleted message number in chat n
 *   chat:{sK}:a<app>:ik:<key>   an Idempotency-Key of the application:
 *                               "<sha1 of the request>:<number>", kept
 *                               CHAT_IDEMPOTENCY_TTL seconds
 *   chat:{sK}:jobs              the job stream of shard K (group "persist")
 *   chat:{sK}:index             index entries to apply (indexer.h; group
 *                               "index")
 *   chat:{sK}:dead              jobs (and index entries) given up on
 *   chat:{sK}:dirty             set of "<app>" and "<app>:<chat>" (ids and
 *                               numbers) whose counters the sync program
 *                               must recompute
 *   chat:{sK}:dirty:taken       the markers a sync run took (jobs/sync.c)
 *   chat:{sK}:live              the live streams' events of the shard's
 *                               chats (live.h), read by every API host's
 *                               live relay
 *   chat:token-sha256:<hex>     application id of a token, by the hex
 *                               SHA-256 of the token (applications.h)
 *   chat:sync:lock              held by the running sync program
 *
 * Job entry fields (strings): t the type (enum chat_job_type), a the
 * application id, c the chat number, n the message number, i the chat's
 * row id (deletes), ts the Unix time of the create, b the message body.
 * Index entry fields: m the messages, new (indexer.h).
 */
#ifndef CHAT_JOB_H
#define CHAT_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct chat_stream_entry;

/* Key names ------------------------------------------------------------ */

#define CHAT_KEY_PREFIX "chat:"
/* Of an application's key, after "chat:{sK}:a<app>". */
#define CHAT_KEY_COUNTER ":n"		/* a counter of numbers handed out */
#define CHAT_KEY_CHAT ":c"		/* then the chat number */
#define CHAT_KEY_DELETED_CHATS ":del"
#define CHAT_KEY_DELETED_MAX ":dmax"
#define CHAT_KEY_IDEMPOTENCY ":ik:"
/* Of a shard's key, after "chat:{sK}:". */
#define CHAT_STREAM_JOBS "jobs"
#define CHAT_STREAM_INDEX "index"
#define CHAT_STREAM_DEAD "dead"
#define CHAT_KEY_DIRTY "dirty"
#define CHAT_KEY_DIRTY_TAKEN "dirty:taken"
#define CHAT_STREAM_LIVE "live"	/* the shard's live events (live.h) */
/* Keys of no shard. */
#define CHAT_KEY_TOKEN CHAT_KEY_PREFIX "token-sha256:"
#define CHAT_KEY_SYNC_LOCK CHAT_KEY_PREFIX "sync:lock"

/* The consumer groups of the job and index streams. */
#define CHAT_GROUP_PERSIST "persist"
#define CHAT_GROUP_INDEX "index"

/*
 * The key builders append to `key` (they do not reset it).  A shard's key
 * "chat:{s<shard>}:<name>" (a stream, CHAT_KEY_DIRTY...).
 */
void chat_job_key(struct chat_buf *key, unsigned shard, const char *name);
/*
 * The keys "chat:{s<shard>}:<name>" of the shards in mask `shards` (1 <<
 * shard each), in shard order, built into keys[] (initialised here; the
 * caller releases each) and appended to argv from argv[*argc] on, as the
 * STREAMS part of an XREAD or XREADGROUP.  Returns how many.
 */
unsigned chat_job_keys(struct chat_buf *keys, unsigned shards,
		       const char *name, const char **argv, int *argc);
/* chat:{sK}:a<app>:n */
void chat_job_key_chats(struct chat_buf *key, uint64_t app);
/* chat:{sK}:a<app>:c<chat>:n */
void chat_job_key_messages(struct chat_buf *key, uint64_t app, uint64_t chat);
/* chat:{sK}:a<app>:del */
void chat_job_key_deleted_chats(struct chat_buf *key, uint64_t app);
/* chat:{sK}:a<app>:c<chat>:dmax */
void chat_job_key_deleted_max(struct chat_buf *key, uint64_t app,
			      uint64_t chat);
/* chat:{sK}:a<app>:ik:<idem> (the key's bytes as they are) */
void chat_job_key_idempotency(struct chat_buf *key, uint64_t app,
			      const char *idem, size_t len);
/* chat:token-sha256:<hex> (`hex` the token's SHA-256, in hex) */
void chat_job_key_token(struct chat_buf *key, const char *hex);
/*
 * The shard of a shard's key ("chat:{s<K>}:..." with K < CHAT_SHARDS),
 * such as a stream's name in an XREADGROUP reply.  Returns 0, or -1 for
 * any other string.
 */
int chat_job_key_shard(const char *key, size_t len, unsigned *shard);

/* Job entries ---------------------------------------------------------- */

/* Field names of a job entry. */
#define CHAT_JOB_F_TYPE "t"
#define CHAT_JOB_F_APP "a"
#define CHAT_JOB_F_CHAT "c"
#define CHAT_JOB_F_NUMBER "n"
#define CHAT_JOB_F_CHAT_ID "i"
#define CHAT_JOB_F_TS "ts"
#define CHAT_JOB_F_BODY "b"

/* Field names of an index stream entry (indexer.h says what they hold). */
#define CHAT_INDEX_F_MESSAGES "m"
#define CHAT_INDEX_F_NEW "new"		/* "1" when present */

/* The value of field t; each is one character on the stream. */
enum chat_job_type {
	CHAT_JOB_NONE = 0,		/* malformed: no known type */
	CHAT_JOB_CHAT = 'c',		/* a chat created */
	CHAT_JOB_MESSAGE = 'm',		/* a message created */
	CHAT_JOB_DELETE_CHAT = 'd',	/* a chat deleted (and its messages) */
};
/* The same types as text, for the Lua scripts that write them. */
#define CHAT_JOB_CHAT_TEXT "c"
#define CHAT_JOB_MESSAGE_TEXT "m"
#define CHAT_JOB_DELETE_CHAT_TEXT "d"

struct chat_job {
	enum chat_job_type type;	/* CHAT_JOB_NONE when malformed */
	uint64_t app, chat, number, chat_id;
	int64_t ts;
	const char *body;	/* points into the entry; not NUL-terminated */
	size_t body_len;
	bool skip;		/* the worker's: nothing to write (deleted chat) */
	const char *dead;	/* why it is dead-lettered, or NULL */
};

/*
 * Fill `j` from stream entry `e` (whose reply must outlive it).  A job
 * that lacks a field its type needs, has a field that is not a number
 * where one is due, has an unknown type or an application of another
 * shard than the entry's, or whose entry was deleted while pending, has
 * `dead` set ("malformed job"); the others have it NULL.  Never fails
 * otherwise: any bytes are safe.
 */
void chat_job_parse(struct chat_job *j, const struct chat_stream_entry *e);

#endif
