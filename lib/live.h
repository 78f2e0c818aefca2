/*
 * live.h - the events of the live streams (GET .../chats/{number}/
 * messages/live, the contract's "Live updates"), from the programs that
 * make the changes to every API host's nginx.
 *
 * A change, once durable, is appended as one entry to ONE Redis stream of
 * live events, CHAT_LIVE_KEY (hash-tagged: one slot, so it works on Redis
 * Cluster too), trimmed to about CHAT_LIVE_MAXLEN entries.  Each API host
 * runs one relay (jobs/live-relay) that reads that stream from where it
 * left off, without a consumer group (every host reads everything), and
 * hands each event to its own nginx's nchan publisher (nchan.h).
 *
 * Entry fields: c the internal channel "<application id>/<chat number>"
 * (never shown to clients: the messages program redirects an authorised
 * subscriber to it, see cgi-bin/messages.c), e the event name
 * ("message.created", "message.updated", "message.deleted",
 * "chat.deleted", or "close": end the chat's streams), d the event's JSON
 * (absent for "close").
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

struct chat_job;
struct chat_message;
struct chat_redis;

#define CHAT_LIVE_KEY CHAT_KEY_LIVE_EVENTS
/*
 * Entries kept (XADD MAXLEN ~): the relays' backlog while they catch up.
 * A relay that starts begins at the newest entry, so this only has to
 * cover a lag; and it bounds the stream's memory in Redis (which holds the
 * queue too, with noeviction) at this many events of at most one message
 * each.
 */
#define CHAT_LIVE_MAXLEN "5000"
/* The event that ends a chat's streams. */
#define CHAT_LIVE_CLOSE "close"
/* The fields of an entry of the live stream. */
#define CHAT_LIVE_F_CHANNEL "c"	/* "<app id>/<chat number>" */
#define CHAT_LIVE_F_EVENT "e"	/* the event's name */
#define CHAT_LIVE_F_DATA "d"	/* its JSON object; none for CHAT_LIVE_CLOSE */

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
 * `app`; `data`, the event's JSON (chat_live_event_write), is NULL for
 * CHAT_LIVE_CLOSE.  Returns 0, or -1
 * when the command could not be queued.  Read its reply with
 * chat_redis_replies(r, n, REDIS_REPLY_STRING).
 */
int chat_live_append(struct chat_redis *r, uint64_t app, uint64_t chat,
		     const char *event, const struct chat_buf *data);

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

/*
 * True when a GET of .../messages/live asks for a stream: a WebSocket
 * upgrade (`upgrade`, the Upgrade header, names websocket) or Server-Sent
 * Events (`accept`, the Accept header, names text/event-stream).  Either
 * may be NULL.
 */
bool chat_live_wants_stream(const char *accept, const char *upgrade);

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
	const char *id;			/* stream entry id */
	const char *channel;		/* "<app>/<chat>", checked */
	const char *event;
	const char *data;		/* NULL for CHAT_LIVE_CLOSE */
	size_t data_len;
};

/*
 * The id of the stream's newest entry into `id` ("0-0" when it is empty):
 * where a relay that just started begins.  Returns 0 or -1 (r->errstr).
 */
int chat_live_last_id(struct chat_redis *r, struct chat_buf *id);

/*
 * XREAD up to `count` entries after `after`, waiting up to `block_ms`
 * (keep it below the store timeout).  Returns the reply (caller frees;
 * REDIS_REPLY_NIL when none came) or NULL (r->errstr).
 */
redisReply *chat_live_read(struct chat_redis *r, const char *after,
			   unsigned count, unsigned block_ms);

/*
 * The entries of an XREAD reply: how many, and entry i of them.  Returns
 * 1 with `e` filled, 0 when the entry is malformed (skip it; its id is
 * still set when it has one), -1 past the end.
 */
size_t chat_live_count(const redisReply *reply);
int chat_live_entry_at(const redisReply *reply, size_t i,
		       struct chat_live_entry *e);

#endif
