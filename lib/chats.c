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
	MYSQL_STMT *st;
	int rc;

	*max = 0;
	chat_bind_u64(&p[0], &app);
	chat_bind_u64(&r[0], max);
	st = chat_db_exec(db, max_sql, p, r);
	if (!st)
		return -1;
	rc = mysql_stmt_fetch(st);
	chat_db_done(st);
	return rc == 0 ? 0 : -1;
}

#define CHAT_COLUMNS "id, application_id, number, messages_count, " \
	"UNIX_TIMESTAMP(created_at), UNIX_TIMESTAMP(updated_at)"

static void bind_chat(MYSQL_BIND r[6], struct chat_chat *c)
{
	chat_bind_u64(&r[0], &c->id);
	chat_bind_u64(&r[1], &c->app);
	chat_bind_u64(&r[2], &c->number);
	chat_bind_u64(&r[3], &c->messages_count);
	chat_bind_i64(&r[4], &c->created_at);
	chat_bind_i64(&r[5], &c->updated_at);
}

static const char get_sql[] =
	"SELECT " CHAT_COLUMNS " FROM chats "
	"WHERE application_id = ? AND number = ?";

int chat_chats_get(struct chat_db *db, uint64_t app, uint64_t number,
		   struct chat_chat *chat)
{
	MYSQL_BIND p[2], r[6];
	MYSQL_STMT *st;
	int rc;

	memset(chat, 0, sizeof(*chat));
	chat_bind_u64(&p[0], &app);
	chat_bind_u64(&p[1], &number);
	bind_chat(r, chat);
	st = chat_db_exec(db, get_sql, p, r);
	if (!st)
		return -1;
	rc = mysql_stmt_fetch(st);
	chat_db_done(st);
	if (rc == MYSQL_NO_DATA)
		return 0;
	return rc == 0 ? 1 : -1;
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
	MYSQL_BIND p[3], r[6];
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
		if (n++ == limit) {
			*more = true;
			break;
		}
		chat_json_array_add(out, chat_chat_json(&c));
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

struct json_object *chat_chat_json(const struct chat_chat *chat)
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
static const char upsert_tail[] =
	"ON DUPLICATE KEY UPDATE created_at = LEAST(created_at, "
	"VALUES(created_at)), updated_at = LEAST(updated_at, "
	"VALUES(updated_at))";

static const char ids_head[] =
	"SELECT id, application_id, number FROM chats WHERE "
	"(application_id, number) IN (";
static const char ids_row[] = "(?, ?)";

/* Fill rows[i].id for a chunk of rows. */
static int fetch_ids(struct chat_db *db, struct chat_buf *sql,
		     struct chat_chat *rows, size_t n)
{
	MYSQL_BIND *p = xcalloc(n * 2, sizeof(*p)), r[3];
	uint64_t id, app, number;
	MYSQL_STMT *st;
	int rc = -1;

	for (size_t i = 0; i < n; i++) {
		chat_bind_u64(&p[i * 2], &rows[i].app);
		chat_bind_u64(&p[i * 2 + 1], &rows[i].number);
	}
	chat_db_rows_sql(sql, ids_head, ids_row, n, ")");
	chat_bind_u64(&r[0], &id);
	chat_bind_u64(&r[1], &app);
	chat_bind_u64(&r[2], &number);
	st = chat_db_exec(db, sql->data, p, r);
	if (!st)
		goto out;
	while ((rc = mysql_stmt_fetch(st)) == 0)
		for (size_t i = 0; i < n; i++)
			if (rows[i].app == app && rows[i].number == number)
				rows[i].id = id;
	chat_db_done(st);
	rc = rc == MYSQL_NO_DATA ? 0 : -1;
out:
	free(p);
	return rc;
}

int chat_chats_find_ids(struct chat_db *db, struct chat_chat *rows, size_t n)
{
	struct chat_buf sql;
	int rc = 0;

	chat_buf_init(&sql);
	for (size_t i = 0; i < n; i++)
		rows[i].id = 0;
	for (size_t done = 0, k; rc == 0 && done < n; done += k) {
		k = chat_db_chunk(n - done);
		rc = fetch_ids(db, &sql, rows + done, k);
	}
	chat_buf_release(&sql);
	return rc;
}

int chat_chats_upsert(struct chat_db *db, struct chat_chat *rows, size_t n)
{
	struct chat_buf sql;
	MYSQL_BIND *p = xcalloc(chat_db_chunk(n) * 4 + 1, sizeof(*p));
	int rc = -1;

	chat_buf_init(&sql);
	for (size_t done = 0, k; done < n; done += k) {
		k = chat_db_chunk(n - done);
		for (size_t i = 0; i < k; i++) {
			struct chat_chat *c = &rows[done + i];

			chat_bind_u64(&p[i * 4], &c->app);
			chat_bind_u64(&p[i * 4 + 1], &c->number);
			chat_bind_i64(&p[i * 4 + 2], &c->created_at);
			chat_bind_i64(&p[i * 4 + 3], &c->created_at);
		}
		chat_db_rows_sql(&sql, upsert_head, upsert_row, k, upsert_tail);
		if (!chat_db_exec(db, sql.data, p, NULL) ||
		    fetch_ids(db, &sql, rows + done, k))
			goto out;
	}
	rc = 0;
out:
	free(p);
	chat_buf_release(&sql);
	return rc;
}
