/*
 * chats.h - the chats table: reads for the API, the worker's batch
 * upsert, and the JSON shape of a Chat.
 */
#ifndef CHAT_CHATS_H
#define CHAT_CHATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "buf.h"
#include "result.h"

struct chat_db;

struct chat_chat {
	uint64_t id;			/* internal; never shown */
	uint64_t app;			/* internal application id */
	uint64_t number;
	uint64_t messages_count;
	int64_t created_at;
	int64_t updated_at;
	uint64_t version;		/* bumped when created_at moves */
};

/* Highest persisted chat number of `app` (0 if none).  0 or -1. */
int chat_chats_max_number(struct chat_db *db, uint64_t app, uint64_t *max);
/* Chat `number` of `app`: CHAT_FOUND, CHAT_ABSENT or CHAT_FAILED. */
enum chat_found chat_chats_get(struct chat_db *db, uint64_t app,
			       uint64_t number, struct chat_chat *chat);
/*
 * Up to `limit` chats of `app` numbered above `after`, ascending, written
 * as a JSON array into `out` (which must be empty), no more of them than
 * fit in CHAT_PAGE_BYTES_MAX bytes (json.h).  *last is the number
 * of the last one, *more tells whether another page follows.  Returns 0,
 * or -1 with `out` holding nothing of use.
 */
int chat_chats_list(struct chat_db *db, uint64_t app, uint64_t after,
		    unsigned limit, struct chat_buf *out, uint64_t *last,
		    bool *more);
/* Delete the chat row with internal id `id`.  Returns 0 or -1. */
int chat_chats_delete_row(struct chat_db *db, uint64_t id);
/*
 * Delete the row of `chat` (as read by chat_chats_get); with
 * `if_unchanged`, only if its version and messages_count are still those
 * of `chat`, checked by the DELETE itself.  Returns CHAT_FOUND deleted,
 * CHAT_ABSENT gone or changed since, CHAT_FAILED on a database error.
 */
enum chat_found chat_chats_delete_if(struct chat_db *db,
				     const struct chat_chat *chat,
				     bool if_unchanged);
/* The contract's Chat object; caller puts it. */
struct json_object *chat_chats_json(const struct chat_chat *chat);
/* Append the chat's ETag (quoted): version and messages_count. */
void chat_chats_etag(const struct chat_chat *chat, struct chat_buf *out);

/*
 * Worker: set rows[i].id to the id of chat rows[i].number of
 * application rows[i].app, or 0 where there is no such chat.  0 or -1.
 */
int chat_chats_find_ids(struct chat_db *db, struct chat_chat *rows, size_t n);
/*
 * Worker: insert chats (app, number, created_at) idempotently; an existing
 * row keeps its id and takes the earlier creation time.  Fills each
 * row's id afterwards.  Runs inside the caller's transaction.
 */
int chat_chats_upsert(struct chat_db *db, struct chat_chat *rows, size_t n);

#endif
