/*
 * applications.h - the applications table, its JSON shape, and the
 * token -> application id lookup used by every route below a token.
 */
#ifndef CHAT_APPLICATIONS_H
#define CHAT_APPLICATIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>

#include "buf.h"
#include "token.h"
#include "result.h"

struct chat_ctx;
struct chat_db;

#define CHAT_NAME_MAX_CHARS 255
#define CHAT_NAME_MAX_BYTES (CHAT_NAME_MAX_CHARS * 4)

struct chat_app {
	uint64_t id;			/* internal; never shown */
	char token[CHAT_TOKEN_MAX_LEN + 1];
	char name[CHAT_NAME_MAX_BYTES + 1];
	uint64_t chats_count;
	int64_t created_at;
	int64_t updated_at;
	uint64_t version;		/* bumped by every rename */
};

/*
 * Insert an application named name[0..len) with a fresh token and fill
 * *app.  Returns 0, or -1 on a database error (see db->err).
 */
int chat_app_create(struct chat_db *db, const char *name, size_t len,
		    struct chat_app *app);
/*
 * Look up by token (through its SHA-256, which is what the table holds);
 * app->token is then a copy of token.  Returns CHAT_FOUND, CHAT_ABSENT
 * (unknown token) or CHAT_FAILED (database error).
 */
enum chat_found chat_app_get(struct chat_db *db, const char *token, size_t len,
			     struct chat_app *app);
/*
 * Rename `app` (as read by chat_app_get).  With `if_unchanged`, only if
 * its version and chats_count are still those of `app`, checked by the
 * UPDATE itself.  Returns CHAT_FOUND renamed, CHAT_ABSENT changed since
 * (not renamed), CHAT_FAILED on a database error.
 */
enum chat_found chat_app_rename(struct chat_db *db, const struct chat_app *app,
				const char *name, size_t len,
				bool if_unchanged);
/* The contract's Application object; the caller puts it. */
struct json_object *chat_app_json(const struct chat_app *app);
/*
 * Append the application's ETag (quoted) to `out`: its version and its
 * chats_count, which the sync program changes without a new version.
 */
void chat_app_etag(const struct chat_app *app, struct chat_buf *out);

/*
 * Resolve a token to its application id: this process's cache, then
 * Redis, then MariaDB (which fills both caches; tokens never change).
 * Every store is keyed by SHA-256(token).
 * Returns CHAT_FOUND, CHAT_ABSENT (unknown token), or CHAT_FAILED when no
 * store could answer.
 */
enum chat_found chat_app_lookup_and_cache(struct chat_ctx *ctx,
					  const char *token, size_t len,
					  uint64_t *id);

#endif
