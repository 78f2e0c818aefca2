/*
 * messages.h - the messages table: reads and writes for the API, the
 * worker's batch insert and batch delete, and the JSON shape of a Message.
 */
#ifndef CHAT_MESSAGES_H
#define CHAT_MESSAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "buf.h"
#include "result.h"

struct chat_db;

#define CHAT_BODY_MAX_BYTES 65535

struct chat_message {
	uint64_t chat_id;		/* internal; never shown */
	uint64_t number;
	struct chat_buf body;
	int64_t created_at;
	int64_t updated_at;
	uint64_t version;		/* bumped by every edit */
};

void chat_message_init(struct chat_message *m);
void chat_message_release(struct chat_message *m);

/* Highest persisted message number in chat `chat` of `app`.  0 or -1. */
int chat_messages_max_number(struct chat_db *db, uint64_t app, uint64_t chat,
			     uint64_t *max);
/* Message `number` of chat `chat` of `app`: CHAT_FOUND, CHAT_ABSENT or
 * CHAT_FAILED (result.h). */
enum chat_found chat_messages_get(struct chat_db *db, uint64_t app,
				  uint64_t chat, uint64_t number,
				  struct chat_message *m);
/* Same, by internal chat id (the worker's re-index). */
enum chat_found chat_messages_get_by_chat_id(struct chat_db *db,
					     uint64_t chat_id, uint64_t number,
					     struct chat_message *m);
/*
 * Page of messages of chat `chat` of `app`, as for chat_chats_list, in
 * one statement.  A page without a row (*last 0, *more false) is also
 * what a chat that does not exist gives: the caller tells them apart.
 */
int chat_messages_list(struct chat_db *db, uint64_t app, uint64_t chat,
		       uint64_t after, unsigned limit, struct chat_buf *out,
		       uint64_t *last, bool *more);

/* A message by internal chat id and number. */
struct chat_message_key {
	uint64_t chat_id;
	uint64_t number;
};

/*
 * Call fn for each of the messages keys[0..n) that exists, in no
 * particular order (`m` is valid during the call only); stops early when
 * fn returns nonzero.  Rows come from the server one at a time, so fn
 * must not use `db`.  Returns 0 or -1.
 */
int chat_messages_find(struct chat_db *db, const struct chat_message_key *keys,
		       size_t n,
		       int (*fn)(const struct chat_message *m, void *arg),
		       void *arg);

/*
 * Replace the body (and add 1 to the version).  With `if_version` not
 * NULL, only if the version is still *if_version, checked by the UPDATE
 * itself.  Returns CHAT_FOUND updated, CHAT_ABSENT not found (or changed
 * since), CHAT_FAILED on a database error.
 */
enum chat_found chat_messages_set_body(struct chat_db *db, uint64_t chat_id,
				       uint64_t number, const char *body,
				       size_t len, const uint64_t *if_version);
/*
 * Delete one message; with `if_version`, only if the version is still
 * *if_version.  Returns CHAT_FOUND deleted, CHAT_ABSENT not found (or
 * changed), CHAT_FAILED on a database error.
 */
enum chat_found chat_messages_delete(struct chat_db *db, uint64_t chat_id,
				     uint64_t number,
				     const uint64_t *if_version);
/*
 * Delete up to `batch` messages of chat row `chat_id` (short locks:
 * call until it reports fewer than `batch`).  Returns the count or -1.
 */
long chat_messages_delete_some(struct chat_db *db, uint64_t chat_id,
			       unsigned batch);
/* Append the contract's Message object, as JSON text, to `out`. */
void chat_messages_json_write(const struct chat_message *m,
			      struct chat_buf *out);
/* Append the message's ETag (quoted) to `out`. */
void chat_messages_etag(const struct chat_message *m, struct chat_buf *out);

/* A message job for the worker's batch insert. */
struct chat_message_row {
	uint64_t chat_id;
	uint64_t number;
	const char *body;
	unsigned long body_len;
	int64_t created_at;
};

/* Worker: insert rows, keeping any existing row as it is.  0 or -1. */
int chat_messages_insert(struct chat_db *db, struct chat_message_row *rows,
			 size_t n);

#endif
