/*
 * messages.c - SQL of the messages table.
 */
#include "messages.h"

#include <string.h>

#include "db.h"
#include "json.h"
#include "xalloc.h"

void chat_message_init(struct chat_message *m)
{
	memset(m, 0, sizeof(*m));
	chat_buf_init(&m->body);
}

void chat_message_release(struct chat_message *m)
{
	chat_buf_release(&m->body);
}

static const char max_sql[] =
	"SELECT COALESCE(MAX(m.number), 0) FROM messages m "
	"JOIN chats c ON c.id = m.chat_id "
	"WHERE c.application_id = ? AND c.number = ?";

int chat_messages_max_number(struct chat_db *db, uint64_t app, uint64_t chat,
			     uint64_t *max)
{
	MYSQL_BIND p[2], r[1];
	MYSQL_STMT *st;
	int rc;

	*max = 0;
	chat_bind_u64(&p[0], &app);
	chat_bind_u64(&p[1], &chat);
	chat_bind_u64(&r[0], max);
	st = chat_db_exec(db, max_sql, p, r);
	if (!st)
		return -1;
	rc = mysql_stmt_fetch(st);
	chat_db_done(st);
	return rc == 0 ? 0 : -1;
}

/* Result columns of a message; the body buffer holds the largest body. */
struct row {
	struct chat_message *m;
	unsigned long body_len;
	MYSQL_BIND r[5];
};

static void bind_row(struct row *row, struct chat_message *m)
{
	row->m = m;
	chat_buf_reset(&m->body);
	chat_buf_grow(&m->body, CHAT_BODY_MAX_BYTES + 1);
	chat_bind_u64(&row->r[0], &m->chat_id);
	chat_bind_u64(&row->r[1], &m->number);
	chat_bind_out(&row->r[2], m->body.data, CHAT_BODY_MAX_BYTES + 1,
		      &row->body_len);
	chat_bind_i64(&row->r[3], &m->created_at);
	chat_bind_i64(&row->r[4], &m->updated_at);
}

/* After a fetch: make the body buffer's length right. */
static void fetched(struct row *row)
{
	size_t len = row->body_len <= CHAT_BODY_MAX_BYTES ? row->body_len :
			     CHAT_BODY_MAX_BYTES;

	row->m->body.len = len;
	row->m->body.data[len] = '\0';
}

#define MESSAGE_COLUMNS "m.chat_id, m.number, m.body, " \
	"UNIX_TIMESTAMP(m.created_at), UNIX_TIMESTAMP(m.updated_at)"

static int get_one(struct chat_db *db, const char *sql, MYSQL_BIND *p,
		   struct chat_message *m)
{
	struct row row;
	MYSQL_STMT *st;
	int rc;

	bind_row(&row, m);
	st = chat_db_exec(db, sql, p, row.r);
	if (!st)
		return -1;
	rc = mysql_stmt_fetch(st);
	chat_db_done(st);
	if (rc == MYSQL_NO_DATA)
		return 0;
	if (rc != 0)
		return -1;
	fetched(&row);
	return 1;
}

static const char get_sql[] =
	"SELECT " MESSAGE_COLUMNS " FROM messages m "
	"JOIN chats c ON c.id = m.chat_id "
	"WHERE c.application_id = ? AND c.number = ? AND m.number = ?";

int chat_messages_get(struct chat_db *db, uint64_t app, uint64_t chat,
		      uint64_t number, struct chat_message *m)
{
	MYSQL_BIND p[3];

	chat_bind_u64(&p[0], &app);
	chat_bind_u64(&p[1], &chat);
	chat_bind_u64(&p[2], &number);
	return get_one(db, get_sql, p, m);
}

static const char get_by_chat_id_sql[] =
	"SELECT " MESSAGE_COLUMNS " FROM messages m "
	"WHERE m.chat_id = ? AND m.number = ?";

int chat_messages_get_by_chat_id(struct chat_db *db, uint64_t chat_id,
				 uint64_t number, struct chat_message *m)
{
	MYSQL_BIND p[2];

	chat_bind_u64(&p[0], &chat_id);
	chat_bind_u64(&p[1], &number);
	return get_one(db, get_by_chat_id_sql, p, m);
}

static const char list_sql[] =
	"SELECT " MESSAGE_COLUMNS " FROM messages m "
	/* Else MariaDB looks up chat_id alone and filters every row before
	 * `after` (rows examined grew with the page). */
	"FORCE INDEX (uq_messages_chat_number) "
	"WHERE m.chat_id = ? AND m.number > ? ORDER BY m.number LIMIT ?";

int chat_messages_list(struct chat_db *db, uint64_t chat_id, uint64_t after,
		       unsigned limit, struct chat_buf *out, uint64_t *last,
		       bool *more)
{
	uint64_t lim = (uint64_t)limit + 1;
	struct chat_message m;
	struct row row;
	MYSQL_BIND p[3];
	MYSQL_STMT *st;
	unsigned n = 0;
	int rc = -1;

	*last = 0;
	*more = false;
	chat_message_init(&m);
	chat_bind_u64(&p[0], &chat_id);
	chat_bind_u64(&p[1], &after);
	chat_bind_u64(&p[2], &lim);
	bind_row(&row, &m);
	st = chat_db_exec(db, list_sql, p, row.r);
	if (!st)
		goto out;
	while ((rc = mysql_stmt_fetch(st)) == 0 || rc == MYSQL_DATA_TRUNCATED) {
		if (n++ == limit) {
			*more = true;
			break;
		}
		fetched(&row);
		chat_json_array_add(out, chat_message_json(&m));
		*last = m.number;
	}
	chat_db_done(st);
	if (rc == MYSQL_NO_DATA || *more) {
		chat_json_array_end(out);
		rc = 0;
	} else {
		rc = -1;
	}
out:
	chat_message_release(&m);
	return rc;
}

static const char find_head[] =
	"SELECT " MESSAGE_COLUMNS " FROM messages m "
	"WHERE (m.chat_id, m.number) IN (";
static const char find_row[] = "(?, ?)";

int chat_messages_find(struct chat_db *db, const struct chat_message_key *keys,
		       size_t n,
		       int (*fn)(const struct chat_message *m, void *arg),
		       void *arg)
{
	size_t chunk = chat_db_chunk(n);
	MYSQL_BIND *p = xcalloc(chunk * 2 + 1, sizeof(*p));
	uint64_t *v = xcalloc(chunk * 2 + 1, sizeof(*v));
	struct chat_message m;
	struct chat_buf sql;
	struct row row;
	int rc = 0, stop = 0;

	chat_message_init(&m);
	chat_buf_init(&sql);
	for (size_t done = 0, k; !stop && done < n; done += k) {
		MYSQL_STMT *st;
		int frc;

		k = chat_db_chunk(n - done);
		for (size_t i = 0; i < k; i++) {
			v[i * 2] = keys[done + i].chat_id;
			v[i * 2 + 1] = keys[done + i].number;
			chat_bind_u64(&p[i * 2], &v[i * 2]);
			chat_bind_u64(&p[i * 2 + 1], &v[i * 2 + 1]);
		}
		chat_db_rows_sql(&sql, find_head, find_row, k, ")");
		bind_row(&row, &m);
		st = chat_db_exec(db, sql.data, p, row.r);
		if (!st) {
			rc = -1;
			break;
		}
		while ((frc = mysql_stmt_fetch(st)) == 0 ||
		       frc == MYSQL_DATA_TRUNCATED) {
			fetched(&row);
			if ((stop = fn(&m, arg)))
				break;
		}
		chat_db_done(st);
		if (!stop && frc != MYSQL_NO_DATA) {
			rc = -1;
			break;
		}
	}
	chat_buf_release(&sql);
	chat_message_release(&m);
	free(p);
	free(v);
	return rc;
}

static const char set_body_sql[] =
	"UPDATE messages SET body = ?, updated_at = UTC_TIMESTAMP() "
	"WHERE chat_id = ? AND number = ?";

int chat_messages_set_body(struct chat_db *db, uint64_t chat_id,
			   uint64_t number, const char *body, size_t len)
{
	unsigned long blen = len;
	MYSQL_BIND p[3];
	MYSQL_STMT *st;

	chat_bind_str(&p[0], body, &blen);
	chat_bind_u64(&p[1], &chat_id);
	chat_bind_u64(&p[2], &number);
	st = chat_db_exec(db, set_body_sql, p, NULL);
	if (!st)
		return -1;
	/* The connection reports found rows, so an unchanged body counts. */
	return mysql_stmt_affected_rows(st) > 0 ? 1 : 0;
}

static const char delete_sql[] =
	"DELETE FROM messages WHERE chat_id = ? AND number = ?";

int chat_messages_delete(struct chat_db *db, uint64_t chat_id,
			 uint64_t number)
{
	MYSQL_BIND p[2];
	MYSQL_STMT *st;

	chat_bind_u64(&p[0], &chat_id);
	chat_bind_u64(&p[1], &number);
	st = chat_db_exec(db, delete_sql, p, NULL);
	if (!st)
		return -1;
	return mysql_stmt_affected_rows(st) > 0 ? 1 : 0;
}

static const char delete_some_sql[] =
	"DELETE FROM messages WHERE chat_id = ? LIMIT ?";

long chat_messages_delete_some(struct chat_db *db, uint64_t chat_id,
			       unsigned batch)
{
	uint64_t lim = batch;
	MYSQL_BIND p[2];
	MYSQL_STMT *st;

	chat_bind_u64(&p[0], &chat_id);
	chat_bind_u64(&p[1], &lim);
	st = chat_db_exec(db, delete_some_sql, p, NULL);
	if (!st)
		return -1;
	return (long)mysql_stmt_affected_rows(st);
}

struct json_object *chat_message_json(const struct chat_message *m)
{
	struct json_object *obj = json_object_new_object();

	json_object_object_add(obj, "number",
			       json_object_new_int64((int64_t)m->number));
	json_object_object_add(obj, "body",
			       json_object_new_string_len(m->body.data,
							  (int)m->body.len));
	chat_json_add_time(obj, "created_at", m->created_at);
	chat_json_add_time(obj, "updated_at", m->updated_at);
	return obj;
}

static const char insert_head[] =
	"INSERT INTO messages (chat_id, number, body, created_at, updated_at) "
	"VALUES";
static const char insert_row[] =
	"(?, ?, ?, FROM_UNIXTIME(?), FROM_UNIXTIME(?))";
/* A job seen twice must not undo an edit made since: keep the row. */
static const char insert_tail[] = "ON DUPLICATE KEY UPDATE number = number";

int chat_messages_insert(struct chat_db *db, struct chat_message_row *rows,
			 size_t n)
{
	MYSQL_BIND *p = xcalloc(chat_db_chunk(n) * 5 + 1, sizeof(*p));
	struct chat_buf sql;
	int rc = -1;

	chat_buf_init(&sql);
	for (size_t done = 0, k; done < n; done += k) {
		k = chat_db_chunk(n - done);
		for (size_t i = 0; i < k; i++) {
			struct chat_message_row *r = &rows[done + i];

			chat_bind_u64(&p[i * 5], &r->chat_id);
			chat_bind_u64(&p[i * 5 + 1], &r->number);
			chat_bind_str(&p[i * 5 + 2], r->body, &r->body_len);
			chat_bind_i64(&p[i * 5 + 3], &r->created_at);
			chat_bind_i64(&p[i * 5 + 4], &r->created_at);
		}
		chat_db_rows_sql(&sql, insert_head, insert_row, k, insert_tail);
		if (!chat_db_exec(db, sql.data, p, NULL))
			goto out;
	}
	rc = 0;
out:
	free(p);
	chat_buf_release(&sql);
	return rc;
}
