/*
 * queue.h - numbering and the job queue in Redis.
 *
 * A create runs one Lua script that checks the parent, seeds a missing
 * counter (only ever raising it), increments it and appends the job to a
 * Redis Stream: number and job are born together.  The keys and the
 * job's fields are named in job.h.
 */
#ifndef CHAT_QUEUE_H
#define CHAT_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "result.h"

struct chat_ctx;

#define CHAT_SHARDS 16
/* Sets of shards are masks of 1 << shard; this one has every shard. */
#define CHAT_ALL_SHARDS ((1u << CHAT_SHARDS) - 1)

/* The shard of an application. */
unsigned chat_queue_shard(uint64_t app);

/*
 * Start the chat counter of a new application at 0, so that its first
 * chat needs no seed from MariaDB.  Returns 0 or -1 (harmless: the
 * counter is then seeded on first use).
 */
int chat_queue_init_app(struct chat_ctx *ctx, uint64_t app);

/*
 * The Idempotency-Key of a create, if any.  The script that numbers the
 * create first looks the key up: a key seen with the same request (the
 * route and the raw request body, digested with SHA-1) gives back the
 * number it got, and nothing is created; a key seen with another request
 * is a conflict.  Otherwise the key is stored with the new number, in
 * the same atomic step, for cfg.idempotency_ttl seconds.
 */
struct chat_idempotency {
	const char *key;		/* NULL: no key */
	size_t key_len;
	const char *request;		/* the raw request body */
	size_t request_len;
};

/* The key was used with another request (the contract's 409). */
#define CHAT_QUEUE_CONFLICT (-2)
/* The chat number was never handed out, or the chat is deleted (404). */
#define CHAT_QUEUE_NO_CHAT (-3)

/*
 * Hand out the next chat number of `app` and queue the chat (`idem` may
 * be NULL).  Returns 0, CHAT_QUEUE_CONFLICT, or -1 when Redis (or
 * MariaDB, for a seed) is unavailable.
 */
int chat_queue_create_chat(struct chat_ctx *ctx, uint64_t app,
			   const struct chat_idempotency *idem,
			   uint64_t *number);
/*
 * Hand out the next message number of chat `chat` and queue the message
 * (`idem` may be NULL).  Returns 0, CHAT_QUEUE_NO_CHAT,
 * CHAT_QUEUE_CONFLICT, or -1 when a store is unavailable.
 */
int chat_queue_create_message(struct chat_ctx *ctx, uint64_t app,
			      uint64_t chat, const char *body, size_t len,
			      const struct chat_idempotency *idem,
			      uint64_t *number);
/*
 * Remember chat `chat` as deleted (no more messages) and queue the job
 * that deletes its messages.  Returns 0 or -1.
 */
int chat_queue_delete_chat(struct chat_ctx *ctx, uint64_t app,
			   uint64_t chat, uint64_t chat_id);
/*
 * Remember that message `number` of chat `chat` was deleted, so that a
 * message counter lost from Redis is never seeded below it.  Returns 0
 * or -1 when Redis is unavailable.
 */
int chat_queue_message_deleted(struct chat_ctx *ctx, uint64_t app,
			       uint64_t chat, uint64_t number);
/*
 * Record that the counters of `app` (and of its chat `chat`, when not 0)
 * must be recomputed by the sync program.  Returns 0 or -1.
 */
int chat_queue_mark_dirty(struct chat_ctx *ctx, uint64_t app, uint64_t chat);

#endif
