/*
 * applications.c - SQL of the applications table and the token cache.
 *
 * A token is a credential, so no store holds it: MariaDB has its SHA-256
 * (applications.token_sha256), Redis caches "chat:token-sha256:<hex of it>"
 * -> application id, and this process's cache is keyed by the digest too.
 * A token reaches the client twice only: in the answer to its creation,
 * and echoed back in the answers to requests that carry it in the path.
 */
#include "applications.h"

#include <stdio.h>
#include <string.h>

#include "ctx.h"
#include "db.h"
#include "job.h"
#include "json.h"
#include "redis.h"
#include "sha256.h"
#include "text.h"
#include "xalloc.h"

/* Direct-mapped per-process cache: a collision simply evicts. */
#define APP_CACHE_SLOTS 1024

struct app_cache_slot {
	unsigned char sha[CHAT_SHA256_LEN];
	uint64_t id;			/* 0: empty slot */
};

struct chat_app_cache {
	struct app_cache_slot slots[APP_CACHE_SLOTS];
};

/* Bind a digest as bytes (a BLOB parameter has the binary character set,
 * so no conversion from the connection's utf8mb4 can touch it). */
static void bind_sha(MYSQL_BIND *b, const unsigned char *sha,
		     unsigned long *len)
{
	*len = CHAT_SHA256_LEN;
	chat_bind_str(b, (const char *)sha, len);
	b->buffer_type = MYSQL_TYPE_BLOB;
}

static const char insert_sql[] =
	"INSERT INTO applications (token_sha256, name, chats_count, created_at, "
	"updated_at) VALUES (?, ?, 0, FROM_UNIXTIME(?), FROM_UNIXTIME(?))";

int chat_app_create(struct chat_db *db, const char *name, size_t len,
		    struct chat_app *app)
{
	unsigned char sha[CHAT_SHA256_LEN];
	unsigned long slen, nlen = len;
	int64_t now = (int64_t)time(NULL);
	MYSQL_BIND p[4];

	memset(app, 0, sizeof(*app));
	/* A duplicate of 192 random bits will not happen; still, retry. */
	for (int attempt = 0; attempt < 3; attempt++) {
		if (chat_token_new(app->token))
			return -1;
		chat_sha256(app->token, CHAT_TOKEN_LEN, sha);
		bind_sha(&p[0], sha, &slen);
		chat_bind_str(&p[1], name, &nlen);
		chat_bind_i64(&p[2], &now);
		chat_bind_i64(&p[3], &now);
		MYSQL_STMT *st = chat_db_exec(db, insert_sql, p, NULL);

		if (st) {
			app->id = mysql_stmt_insert_id(st);
			memcpy(app->name, name, len);
			app->name[len] = '\0';
			app->created_at = app->updated_at = now;
			app->version = 1;
			return 0;
		}
		if (!chat_db_duplicate(db))
			return -1;
	}
	return -1;
}

static const char get_sql[] =
	"SELECT id, name, chats_count, UNIX_TIMESTAMP(created_at), "
	"UNIX_TIMESTAMP(updated_at), version FROM applications "
	"WHERE token_sha256 = ?";

enum chat_found chat_app_get(struct chat_db *db, const char *token, size_t len,
			     struct chat_app *app)
{
	unsigned char sha[CHAT_SHA256_LEN];
	unsigned long slen, nlen = 0;
	MYSQL_BIND p[1], r[6];
	enum chat_found rc;

	memset(app, 0, sizeof(*app));
	if (len >= sizeof(app->token))
		return CHAT_ABSENT;	/* longer than any token */
	chat_sha256(token, len, sha);
	bind_sha(&p[0], sha, &slen);
	chat_bind_u64(&r[0], &app->id);
	chat_bind_out(&r[1], app->name, sizeof(app->name) - 1, &nlen);
	chat_bind_u64(&r[2], &app->chats_count);
	chat_bind_i64(&r[3], &app->created_at);
	chat_bind_i64(&r[4], &app->updated_at);
	chat_bind_u64(&r[5], &app->version);
	rc = chat_db_get_row(db, get_sql, p, r);
	if (rc != CHAT_FOUND)
		return rc;
	/* The row matched its digest: this is the application's token. */
	memcpy(app->token, token, len);
	app->token[len] = '\0';
	app->name[nlen < sizeof(app->name) ? nlen : 0] = '\0';
	return CHAT_FOUND;
}

static const char rename_sql[] =
	"UPDATE applications SET name = ?, updated_at = UTC_TIMESTAMP(), "
	"version = version + 1 "
	"WHERE id = ? AND (? = 0 OR (version = ? AND chats_count = ?))";

enum chat_found chat_app_rename(struct chat_db *db, const struct chat_app *app,
				const char *name, size_t len,
				bool if_unchanged)
{
	uint64_t id = app->id, version = app->version,
		 count = app->chats_count, cond = if_unchanged;
	unsigned long nlen = len;
	MYSQL_BIND p[5];

	chat_bind_str(&p[0], name, &nlen);
	chat_bind_u64(&p[1], &id);
	chat_bind_u64(&p[2], &cond);
	chat_bind_u64(&p[3], &version);
	chat_bind_u64(&p[4], &count);
	return chat_db_write_matched(db, rename_sql, p);
}

void chat_app_etag(const struct chat_app *app, struct chat_buf *out)
{
	chat_buf_addf(out, "\"a%llu.%llu\"", (unsigned long long)app->version,
		      (unsigned long long)app->chats_count);
}

struct json_object *chat_app_json(const struct chat_app *app)
{
	struct json_object *obj = json_object_new_object();

	json_object_object_add(obj, "token",
			       json_object_new_string(app->token));
	json_object_object_add(obj, "name", json_object_new_string(app->name));
	json_object_object_add(obj, "chats_count",
			       json_object_new_int64((int64_t)app->chats_count));
	chat_json_add_time(obj, "created_at", app->created_at);
	chat_json_add_time(obj, "updated_at", app->updated_at);
	return obj;
}

static struct app_cache_slot *cache_slot(struct chat_ctx *ctx,
					 const unsigned char *sha)
{
	uint64_t h;

	if (!ctx->apps)
		ctx->apps = xcalloc(1, sizeof(*ctx->apps));
	/* A digest's bytes are already uniformly spread. */
	memcpy(&h, sha, sizeof(h));
	return &ctx->apps->slots[h % APP_CACHE_SLOTS];
}

enum chat_found chat_app_lookup_and_cache(struct chat_ctx *ctx,
					  const char *token, size_t len,
					  uint64_t *id)
{
	unsigned char sha[CHAT_SHA256_LEN];
	char hex[CHAT_SHA256_HEX_LEN + 1];
	struct chat_buf key;
	struct app_cache_slot *slot;
	struct chat_app app;
	redisReply *reply;
	enum chat_found rc;

	chat_sha256(token, len, sha);
	slot = cache_slot(ctx, sha);
	if (slot->id && memcmp(slot->sha, sha, sizeof(sha)) == 0) {
		*id = slot->id;
		return CHAT_FOUND;
	}
	chat_sha256_hex(sha, hex);
	chat_buf_init(&key);
	chat_job_key_token(&key, hex);
	reply = chat_redis_cmd(ctx->redis, "GET %s", key.data);
	if (reply && reply->type == REDIS_REPLY_STRING &&
	    chat_parse_u64(reply->str, reply->len, 1, UINT64_MAX, id) == 0) {
		freeReplyObject(reply);
		rc = CHAT_FOUND;
		goto found;
	}
	freeReplyObject(reply);
	rc = chat_app_get(ctx->db, token, len, &app);
	if (rc != CHAT_FOUND)
		goto out;
	*id = app.id;
	reply = chat_redis_cmd(ctx->redis, "SET %s %llu", key.data,
			       (unsigned long long)app.id);
	freeReplyObject(reply);
found:
	memcpy(slot->sha, sha, sizeof(sha));
	slot->id = *id;
out:
	chat_buf_release(&key);
	return rc;
}
