/*
 * chats.c - SQL of the chats table.
 */
#include "chats.h"

#include <string.h>

#include "buf.h"
#include "db.h"
#include "json.h"
#include "xalloc.h"

static const char max_sql[] =
	"SELECT COALESCE(MAX(number), 0) FROM chats WHERE application_id = ?";

int chat_chats_max_number(struct chat_db *db, uint64_t app, uint64_t *max)
{
	MYSQL_BIND p[1], r[1];

	*max = 0;
	chat_bind_u64(&p[0], &app);
	chat_bind_u64(&r[0], max);
	return chat_db_get_row(db, max_sql, p, r) == 1 ? 0 : -1;
}

#define CHAT_COLUMNS "id, application_id, number, messages_count, " \
	"UNIX_TIMESTAMP(created_at), UNIX_TIMESTAMP(updated_at), version"

static void bind_chat(MYSQL_BIND r[7], struct chat_chat *c)
{
	chat_bind_u64(&r[0], &c->id);
	chat_bind_u64(&r[1], &c->app);
	chat_bind_u64(&r[2], &c->number);
	chat_bind_u64(&r[3], &c->messages_count);
	chat_bind_i64(&r[4], &c->created_at);
	chat_bind_i64(&r[5], &c->updated_at);
	chat_bind_u64(&r[6], &c->version);
}

static const char get_sql[] =
	"SELECT " CHAT_COLUMNS " FROM chats "
	"WHERE application_id = ? AND number = ?";

enum chat_found chat_chats_get(struct chat_db *db, uint64_t app,
			       uint64_t number, struct chat_chat *chat)
{
	MYSQL_BIND p[2], r[7];

	memset(chat, 0, sizeof(*chat));
	chat_bind_u64(&p[0], &app);
	chat_bind_u64(&p[1], &number);
	bind_chat(r, chat);
	return chat_db_get_row(db, get_sql, p, r);
}

static const char list_sql[] =
	"SELECT " CHAT_COLUMNS " FROM chats "
	/* A range scan of the page, not every chat before `after`. */
	"FORCE INDEX (uq_chats_app_number) "
	"WHERE application_id = ? AND number > ? ORDER BY number LIMIT ?";

int chat_chats_list(struct chat_db *db, uint64_t app, uint64_t after,
		    unsigned limit, struct chat_buf *out, uint64_t *last,
		    bool *more)
{
	uint64_t lim = (uint64_t)limit + 1;	/* one more tells of a next page */
	struct chat_chat c;
	MYSQL_BIND p[3], r[7];
	MYSQL_STMT *st;
	unsigned n = 0;
	int rc;

	*last = 0;
	*more = false;
	chat_bind_u64(&p[0], &app);
	chat_bind_u64(&p[1], &after);
	chat_bind_u64(&p[2], &lim);
	bind_chat(r, &c);
	st = chat_db_exec(db, list_sql, p, r);
	if (!st)
		return -1;
	while ((rc = mysql_stmt_fetch(st)) == 0) {
		/* The row past `limit`, or one the page has no room for. */
		if (n++ == limit ||
		    !chat_json_page_add(out, chat_chats_json(&c))) {
			*more = true;
			break;
		}
		*last = c.number;
	}
	chat_db_done(st);
	if (rc != 0 && rc != MYSQL_NO_DATA)
		return -1;
	chat_json_array_end(out);
	return 0;
}

static const char delete_sql[] = "DELETE FROM chats WHERE id = ?";

int chat_chats_delete_row(struct chat_db *db, uint64_t id)
{
	MYSQL_BIND p[1];

	chat_bind_u64(&p[0], &id);
	return chat_db_exec(db, delete_sql, p, NULL) ? 0 : -1;
}

static const char delete_if_sql[] =
	"DELETE FROM chats WHERE id = ? "
	"AND (? = 0 OR (version = ? AND messages_count = ?))";

enum chat_found chat_chats_delete_if(struct chat_db *db,
				     const struct chat_chat *chat,
				     bool if_unchanged)
{
	uint64_t id = chat->id, cond = if_unchanged, version = chat->version,
		 count = chat->messages_count;
	MYSQL_BIND p[4];

	chat_bind_u64(&p[0], &id);
	chat_bind_u64(&p[1], &cond);
	chat_bind_u64(&p[2], &version);
	chat_bind_u64(&p[3], &count);
	return chat_db_write_matched(db, delete_if_sql, p);
}

void chat_chats_etag(const struct chat_chat *chat, struct chat_buf *out)
{
	chat_buf_addf(out, "\"c%llu.%llu\"", (unsigned long long)chat->version,
		      (unsigned long long)chat->messages_count);
}

struct json_object *chat_chats_json(const struct chat_chat *chat)
{
	struct json_object *obj = json_object_new_object();

	json_object_object_add(obj, "number",
			       json_object_new_int64((int64_t)chat->number));
	json_object_object_add(obj, "messages_count",
			       json_object_new_int64(
				       (int64_t)chat->messages_count));
	chat_json_add_time(obj, "created_at", chat->created_at);
	chat_json_add_time(obj, "updated_at", chat->updated_at);
	return obj;
}

static const char upsert_head[] =
	"INSERT INTO chats (application_id, number, messages_count, "
	"created_at, updated_at) VALUES";
static const char upsert_row[] = "(?, ?, 0, FROM_UNIXTIME(?), FROM_UNIXTIME(?))";
/*
 * A chat row that a message created first gets the chat's own, earlier,
 * creation time when the chat job arrives: a change the API shows, so
 * the version moves too (assignments run left to right: version is
 * computed from the old created_at).  A job delivered again changes
 * nothing and keeps the version.
 */
static const char upsert_tail[] =
	"ON DUPLICATE KEY UPDATE "
	"version = version + (VALUES(created_at) < created_at), "
	"created_at = LEAST(created_at, VALUES(created_at)), "
	"updated_at = LEAST(updated_at, VALUES(updated_at))";

static const char ids_head[] =
	"SELECT id, application_id, number FROM chats WHERE "
	"(application_id, number) IN (";
static const char ids_row[] = "(?, ?)";

/* Rows whose ids are looked up, and the columns of one answer. */
struct ids {
	struct chat_db *db;
	struct chat_chat *rows;
	uint64_t id, app, number;
	MYSQL_BIND r[3];
};

static int bind_keys(MYSQL_BIND *p, size_t first, size_t k, void *arg)
{
	struct chat_chat *rows = ((struct ids *)arg)->rows + first;

	for (size_t i = 0; i < k; i++) {
		chat_bind_u64(&p[i * 2], &rows[i].app);
		chat_bind_u64(&p[i * 2 + 1], &rows[i].number);
	}
	return 0;
}

/* Fill rows[i].id of a chunk from the answer. */
static int read_ids(MYSQL_STMT *st, size_t first, size_t k, void *arg)
{
	struct ids *ids = arg;
	struct chat_chat *rows = ids->rows + first;
	int rc;

	while ((rc = mysql_stmt_fetch(st)) == 0)
		for (size_t i = 0; i < k; i++)
			if (rows[i].app == ids->app &&
			    rows[i].number == ids->number)
				rows[i].id = ids->id;
	return rc == MYSQL_NO_DATA ? 0 : -1;
}

/* Fill rows[i].id for rows[0..n) that have a row. */
static int fetch_ids(struct chat_db *db, struct chat_chat *rows, size_t n)
{
	struct ids ids = { .db = db, .rows = rows };
	const struct chat_db_rows q = {
		.head = ids_head, .row = ids_row, .tail = ")", .per_row = 2,
		.bind = bind_keys, .results = ids.r, .ran = read_ids,
	};

	chat_bind_u64(&ids.r[0], &ids.id);
	chat_bind_u64(&ids.r[1], &ids.app);
	chat_bind_u64(&ids.r[2], &ids.number);
	return chat_db_rows_exec(db, &q, n, &ids) ? -1 : 0;
}

int chat_chats_find_ids(struct chat_db *db, struct chat_chat *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rows[i].id = 0;
	return fetch_ids(db, rows, n);
}

static int bind_upsert(MYSQL_BIND *p, size_t first, size_t k, void *arg)
{
	struct chat_chat *rows = ((struct ids *)arg)->rows + first;

	for (size_t i = 0; i < k; i++) {
		chat_bind_u64(&p[i * 4], &rows[i].app);
		chat_bind_u64(&p[i * 4 + 1], &rows[i].number);
		chat_bind_i64(&p[i * 4 + 2], &rows[i].created_at);
		chat_bind_i64(&p[i * 4 + 3], &rows[i].created_at);
	}
	return 0;
}

/* After each chunk's insert: the ids of its rows. */
static int upserted(MYSQL_STMT *st, size_t first, size_t k, void *arg)
{
	struct ids *ids = arg;

	(void)st;
	return fetch_ids(ids->db, ids->rows + first, k);
}

int chat_chats_upsert(struct chat_db *db, struct chat_chat *rows, size_t n)
{
	struct ids ids = { .db = db, .rows = rows };
	const struct chat_db_rows q = {
		.head = upsert_head, .row = upsert_row, .tail = upsert_tail,
		.per_row = 4, .bind = bind_upsert, .ran = upserted,
	};

	return chat_db_rows_exec(db, &q, n, &ids) ? -1 : 0;
}
