/*
 * live.h - the events of the live streams (GET .../chats/{number}/
 * messages/live, the contract's "Live updates"), from the programs that
 * make the changes to every API host's nginx.
 *
 * A change, once durable, is appended as one entry to the Redis stream of
 * live events of its application's shard (job.h: "chat:{sK}:live", in the
 * slot of the shard's other keys), trimmed to about CHAT_LIVE_MAXLEN
 * entries.  A chat's events are all in one stream, in the order they were
 * appended; a Redis Cluster master that is down holds back the events of
 * its own shards only, and the events spread over the masters as the
 * jobs do.  Each API host runs one relay (jobs/live-relay) that reads
 * every shard's stream from where it left off, without a consumer group
 * (every host reads everything), and hands each event to its own nginx's
 * nchan publisher (nchan.h).
 *
 * Entry fields: c the internal channel "<application id>/<chat number>"
 * (never shown to clients: the messages program redirects an authorised
 * subscriber to it, see cgi-bin/messages.c), e the event name
 * ("message.created", "message.updated", "message.deleted",
 * "chat.deleted", or "close": end the chat's streams), n the number the
 * event names (the message's or, for chat.deleted, the chat's; none for
 * "close"), and for message.created and message.updated the message: b
 * its body as it is, t and u its creation and last change (Unix
 * seconds).  The relay writes the event's JSON (chat_live_entry_write):
 * a body of control characters takes six times its bytes as JSON, and
 * the streams hold at most the bodies' own.
 *
 * Publishing never holds up or fails the change it reports: a failure is
 * returned for the caller to log, and the stream then misses the event.
 */
#ifndef CHAT_LIVE_H
#define CHAT_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "buf.h"
#include "job.h"
#include "queue.h"

struct chat_job;
struct chat_message;
struct chat_redis;

/*
 * Entries kept in each shard's stream (XADD MAXLEN ~): the relays'
 * backlog while they catch up.  A relay that starts begins at the newest
 * entries, so this only has to cover a lag, such as one worker batch
 * (CHAT_WORKER_BATCH, 1000 by default) of one chat appended at once; and
 * it bounds the streams' memory in Redis (which holds the queue too, with
 * noeviction) at CHAT_SHARDS times this many events of at most one
 * message body (65,535 bytes) each.
 */
#define CHAT_LIVE_MAXLEN "1000"
/* The event that ends a chat's streams. */
#define CHAT_LIVE_CLOSE "close"
/* The fields of an entry of the live stream. */
#define CHAT_LIVE_F_CHANNEL "c"	/* "<app id>/<chat number>" */
#define CHAT_LIVE_F_EVENT "e"	/* the event's name */
#define CHAT_LIVE_F_NUMBER "n"	/* the message's, or the chat's */
#define CHAT_LIVE_F_BODY "b"	/* the message's body */
#define CHAT_LIVE_F_CREATED "t"	/* its created_at, Unix seconds */
#define CHAT_LIVE_F_UPDATED "u"	/* its updated_at */

/*
 * Append the event object of the contract as JSON text to `out`:
 * {"event": event, "message": message} when `message` is not NULL, else
 * {"event": event, "number": number}.
 */
void chat_live_event_write(struct chat_buf *out, const char *event,
			   const struct chat_message *message,
			   uint64_t number);

/*
 * Append (pipeline) the XADD of one event of chat `chat` of application
 * `app`: with `message` (message.created, message.updated), else an
 * event with `number` (message.deleted, chat.deleted), or neither for
 * CHAT_LIVE_CLOSE.  Returns 0, or -1 when the command could not be
 * queued.  Read its reply with chat_redis_replies(r, n,
 * REDIS_REPLY_STRING).
 */
int chat_live_append(struct chat_redis *r, uint64_t app, uint64_t chat,
		     const char *event, const struct chat_message *message,
		     uint64_t number);

/*
 * Publish `event` of chat `chat` now (one round trip): with `message`
 * (not taken) message.created or message.updated, else an event with
 * `number` (message.deleted, chat.deleted).  Returns 0 or -1 (r->errstr).
 */
int chat_live_publish(struct chat_redis *r, uint64_t app, uint64_t chat,
		      const char *event, const struct chat_message *message,
		      uint64_t number);

/*
 * chat.deleted, then the end of the chat's streams: two entries, one
 * round trip.  Returns 0 or -1 (r->errstr).
 */
int chat_live_chat_deleted(struct chat_redis *r, uint64_t app,
			   uint64_t chat);

/*
 * message.created for the persisted message jobs jobs[order[0..count)],
 * which the caller sorted by application, chat and number (a job listed
 * twice in a row is published once): the entries of one batch in one
 * round trip, or one per MiB of message bodies.  With `unread` not NULL
 * the last part's XADDs are only appended: *unread says how many replies
 * the caller reads (chat_redis_replies, REDIS_REPLY_STRING).  Returns 0
 * or -1 (r->errstr).
 */
int chat_live_created(struct chat_redis *r, const struct chat_job *jobs,
		      const size_t *order, size_t count, size_t *unread);

/* The headers of a GET of .../messages/live that choose a stream. */
struct chat_live_ask {
	const char *accept, *upgrade, *connection;
	const char *ws_version, *ws_key;	/* Sec-WebSocket-* */
};

/*
 * NULL when nchan takes the request as a stream, as it tells them
 * (nginx/chat-live.conf): a WebSocket handshake (Upgrade starting with
 * websocket, Connection naming upgrade, Sec-WebSocket-Version 13, a
 * Sec-WebSocket-Key), else Server-Sent Events (Accept holding
 * text/event-stream, in lowercase: nchan compares bytes).  Otherwise the
 * sentence of the 400 that says what is missing, where nchan would answer
 * an empty 403 or a text/plain 400.  Any header may be NULL.
 */
const char *chat_live_refusal(const struct chat_live_ask *ask);

/*
 * The internal location nginx hands an authorised subscriber to, into
 * `to`: CHAT_LIVE_LOCATION "<app>/<chat>", followed by the query's
 * last_event_id when `query` (the raw query string) has a well-formed one
 * (nginx drops the client's query on the redirect).
 */
#define CHAT_LIVE_LOCATION "/applications/.live/"
void chat_live_redirect(struct chat_buf *to, uint64_t app, uint64_t chat,
			const char *query);

/* One event as a relay reads it; strings point into the reply. */
struct chat_live_entry {
	unsigned shard;			/* of the stream it was read from */
	const char *id;			/* stream entry id (NULL: none) */
	const char *channel;		/* "<app>/<chat>", checked */
	const char *event;
	uint64_t number;		/* none for CHAT_LIVE_CLOSE */
	bool has_message;		/* the message's fields below */
	const char *body;		/* UTF-8, checked; not NUL-terminated */
	size_t body_len;
	int64_t created_at, updated_at;
	bool malformed;			/* skip it (its id may be set) */
};

/*
 * Append the event object of the contract for entry `e` (not malformed,
 * not CHAT_LIVE_CLOSE) to `out` (chat_live_event_write).
 */
void chat_live_entry_write(const struct chat_live_entry *e,
			   struct chat_buf *out);

/* A stream entry id, "<ms>-<seq>" (two 64-bit numbers), and its NUL. */
#define CHAT_LIVE_ID_MAX 48
/* Where a relay is in each shard's stream. */
struct chat_live_cursor {
	/* The last entry read; "" until the shard's newest is known. */
	char id[CHAT_SHARDS][CHAT_LIVE_ID_MAX];
};

/* Entries of each shard's stream in one read. */
#define CHAT_LIVE_READ_COUNT 32

/* One read of the shards' streams. */
struct chat_live_read {
	/* Each shard's entries in order; the shards one after another. */
	struct chat_live_entry e[CHAT_SHARDS * CHAT_LIVE_READ_COUNT];
	size_t n;
	unsigned failed;		/* shards whose read failed */
	redisReply *reply[CHAT_SHARDS];	/* what e[] points into */
	size_t nreply;
};

/*
 * Read what follows cursor `c` in the streams of the shards in mask
 * `shards` (1 << shard each), up to CHAT_LIVE_READ_COUNT entries of each,
 * into `rd` (filled from empty; chat_live_read_release frees what it
 * holds), and move `c` past them.  A shard whose place is not known yet
 * is asked for its newest entry instead, and read from there the next
 * time: where a relay starts (when that fails, from the wall clock's
 * now, so that nothing its stream gets once its server answers again is
 * missed).  On one Redis server: one XREAD of the
 * streams, waiting up to `block_ms` (keep it below the store timeout)
 * when every place is known.  On a Redis Cluster: one command per shard
 * in one pipeline, never waiting (BLOCK on one shard would hold up the
 * others): the caller paces its reads.
 * Returns 0, or -1 when the commands of some shards failed: their shards
 * are in rd->failed (r->errstr says why), their places unchanged; what
 * the others gave is in `rd` either way.
 */
int chat_live_read(struct chat_redis *r, struct chat_live_cursor *c,
		   unsigned shards, unsigned block_ms,
		   struct chat_live_read *rd);
void chat_live_read_release(struct chat_live_read *rd);

/*
 * Append the entries of XREAD reply `reply` (the streams it names are
 * shards' live streams; any other is skipped) to rd->e, as many as fit,
 * and move `c` past each.  `reply` stays the caller's and must outlive
 * the entries.  Never fails: any reply is safe.
 */
void chat_live_collect(struct chat_live_read *rd, struct chat_live_cursor *c,
		       const redisReply *reply);

#endif
