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

	*max = 0;
	chat_bind_u64(&p[0], &app);
	chat_bind_u64(&p[1], &chat);
	chat_bind_u64(&r[0], max);
	return chat_db_get_row(db, max_sql, p, r) == 1 ? 0 : -1;
}

/* Result columns of a message; the body buffer holds the largest body. */
struct row {
	struct chat_message *m;
	unsigned long body_len;
	MYSQL_BIND r[6];
};

static void bind_row(struct row *row, struct chat_message *m)
{
	row->m = m;
	chat_buf_reset(&m->body);
	/* 64 KiB exactly (the largest body and its NUL): one byte more and
	 * the buffer doubles to 128 KiB, which malloc maps and unmaps on
	 * every request (lib/http.c fixes its threshold there). */
	chat_buf_grow(&m->body, CHAT_BODY_MAX_BYTES);
	chat_bind_u64(&row->r[0], &m->chat_id);
	chat_bind_u64(&row->r[1], &m->number);
	chat_bind_out(&row->r[2], m->body.data, CHAT_BODY_MAX_BYTES + 1,
		      &row->body_len);
	chat_bind_i64(&row->r[3], &m->created_at);
	chat_bind_i64(&row->r[4], &m->updated_at);
	chat_bind_u64(&row->r[5], &m->version);
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
	"UNIX_TIMESTAMP(m.created_at), UNIX_TIMESTAMP(m.updated_at), " \
	"m.version"

static int get_one(struct chat_db *db, const char *sql, MYSQL_BIND *p,
		   struct chat_message *m)
{
	struct row row;
	int rc;

	bind_row(&row, m);
	rc = chat_db_get_row(db, sql, p, row.r);
	if (rc == 1)
		fetched(&row);
	return rc;
}

static const char get_sql[] =
	"SELECT " MESSAGE_COLUMNS " FROM messages m "
	"JOIN chats c ON c.id = m.chat_id "
	"WHERE c.application_id = ? AND c.number = ? AND m.number = ?";

enum chat_found chat_messages_get(struct chat_db *db, uint64_t app,
				  uint64_t chat, uint64_t number,
				  struct chat_message *m)
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

enum chat_found chat_messages_get_by_chat_id(struct chat_db *db,
					     uint64_t chat_id, uint64_t number,
					     struct chat_message *m)
{
	MYSQL_BIND p[2];

	chat_bind_u64(&p[0], &chat_id);
	chat_bind_u64(&p[1], &number);
	return get_one(db, get_by_chat_id_sql, p, m);
}

/*
 * The chat's row is a constant of the plan (its unique key is given whole),
 * then the page is a range of the messages' primary key (chat_id, number),
 * the rows themselves in their order (sql/006): no sort, no look-up by
 * row, whatever the chat's size (tests/integration/test_reads.c counts
 * the rows read).  A left join, to tell an empty page from a missing chat
 * in the same statement, made MariaDB sort every message after `after`
 * instead.
 */
static const char list_sql[] =
	"SELECT " MESSAGE_COLUMNS " FROM chats c JOIN messages m "
	/* With the old unique key, MariaDB sometimes looked up chat_id
	 * alone and filtered every row before `after`. */
	"FORCE INDEX (PRIMARY) ON m.chat_id = c.id "
	"WHERE c.application_id = ? AND c.number = ? AND m.number > ? "
	"ORDER BY m.number LIMIT ?";

int chat_messages_list(struct chat_db *db, uint64_t app, uint64_t chat,
		       uint64_t after, unsigned limit, struct chat_buf *out,
		       uint64_t *last, bool *more)
{
	uint64_t lim = (uint64_t)limit + 1;
	struct chat_message m;
	struct row row;
	MYSQL_BIND p[4];
	MYSQL_STMT *st;
	size_t mark;
	unsigned n = 0;
	int rc = -1;

	*last = 0;
	*more = false;
	chat_message_init(&m);
	chat_bind_u64(&p[0], &app);
	chat_bind_u64(&p[1], &chat);
	chat_bind_u64(&p[2], &after);
	chat_bind_u64(&p[3], &lim);
	bind_row(&row, &m);
	/*
	 * Rows one at a time, not the result stored: a page of 1000 bodies
	 * of 64 KiB would be 64 MiB before a byte of it is written.  The
	 * page stops at CHAT_PAGE_BYTES_MAX; chat_db_done drops the rows left.
	 */
	st = chat_db_exec_rows(db, list_sql, p, row.r);
	if (!st)
		goto out;
	while ((rc = mysql_stmt_fetch(st)) == 0 || rc == MYSQL_DATA_TRUNCATED) {
		if (n++ == limit) {
			*more = true;
			break;
		}
		fetched(&row);
		mark = chat_json_page_next(out);
		chat_messages_json_write(&m, out);
		if (!chat_json_page_fits(out, mark)) {
			*more = true;
			break;
		}
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

struct find {
	const struct chat_message_key *keys;
	uint64_t *v;			/* the keys' values, bound */
	struct chat_message m;
	struct row row;
	int (*fn)(const struct chat_message *m, void *arg);
	void *arg;
};

static int bind_find(MYSQL_BIND *p, size_t first, size_t k, void *arg)
{
	struct find *f = arg;

	for (size_t i = 0; i < k; i++) {
		f->v[i * 2] = f->keys[first + i].chat_id;
		f->v[i * 2 + 1] = f->keys[first + i].number;
		chat_bind_u64(&p[i * 2], &f->v[i * 2]);
		chat_bind_u64(&p[i * 2 + 1], &f->v[i * 2 + 1]);
	}
	bind_row(&f->row, &f->m);
	return 0;
}

/* Each row found to the caller's fn; 1 when it stops, -1 on error. */
static int found(MYSQL_STMT *st, size_t first, size_t k, void *arg)
{
	struct find *f = arg;
	int rc;

	(void)first;
	(void)k;
	while ((rc = mysql_stmt_fetch(st)) == 0 || rc == MYSQL_DATA_TRUNCATED) {
		fetched(&f->row);
		if (f->fn(&f->m, f->arg))
			return 1;
	}
	return rc == MYSQL_NO_DATA ? 0 : -1;
}

int chat_messages_find(struct chat_db *db, const struct chat_message_key *keys,
		       size_t n,
		       int (*fn)(const struct chat_message *m, void *arg),
		       void *arg)
{
	struct find f = { .keys = keys, .fn = fn, .arg = arg };
	const struct chat_db_rows q = {
		.head = find_head, .row = find_row, .tail = ")", .per_row = 2,
		.bind = bind_find, .results = f.row.r, .ran = found,
		/* Row by row: 256 stored bodies of 64 KiB would be 16 MiB. */
		.stream = true,
	};
	int rc;

	f.v = xcalloc(2 * CHAT_DB_ROWS_MAX, sizeof(*f.v));
	chat_message_init(&f.m);
	rc = chat_db_rows_exec(db, &q, n, &f);
	chat_message_release(&f.m);
	free(f.v);
	return rc < 0 ? -1 : 0;
}

static const char set_body_sql[] =
	"UPDATE messages SET body = ?, updated_at = UTC_TIMESTAMP(), "
	"version = version + 1 "
	"WHERE chat_id = ? AND number = ? AND (? = 0 OR version = ?)";

enum chat_found chat_messages_set_body(struct chat_db *db, uint64_t chat_id,
				       uint64_t number, const char *body,
				       size_t len, const uint64_t *if_version)
{
	uint64_t cond = if_version != NULL,
		 version = if_version ? *if_version : 0;
	unsigned long blen = len;
	MYSQL_BIND p[5];

	chat_bind_str(&p[0], body, &blen);
	chat_bind_u64(&p[1], &chat_id);
	chat_bind_u64(&p[2], &number);
	chat_bind_u64(&p[3], &cond);
	chat_bind_u64(&p[4], &version);
	return chat_db_write_matched(db, set_body_sql, p);
}

static const char delete_sql[] =
	"DELETE FROM messages WHERE chat_id = ? AND number = ? "
	"AND (? = 0 OR version = ?)";

enum chat_found chat_messages_delete(struct chat_db *db, uint64_t chat_id,
				     uint64_t number,
				     const uint64_t *if_version)
{
	uint64_t cond = if_version != NULL,
		 version = if_version ? *if_version : 0;
	MYSQL_BIND p[4];

	chat_bind_u64(&p[0], &chat_id);
	chat_bind_u64(&p[1], &number);
	chat_bind_u64(&p[2], &cond);
	chat_bind_u64(&p[3], &version);
	return chat_db_write_matched(db, delete_sql, p);
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

void chat_messages_json_write(const struct chat_message *m,
			      struct chat_buf *out)
{
	chat_buf_adds(out, "{\"number\":");
	chat_json_write_u64(out, m->number);
	chat_buf_adds(out, ",\"body\":");
	chat_json_write_string(out, m->body.data, m->body.len);
	chat_buf_adds(out, ",\"created_at\":");
	chat_json_write_time(out, m->created_at);
	chat_buf_adds(out, ",\"updated_at\":");
	chat_json_write_time(out, m->updated_at);
	chat_buf_addch(out, '}');
}

void chat_messages_etag(const struct chat_message *m, struct chat_buf *out)
{
	chat_buf_addf(out, "\"m%llu\"", (unsigned long long)m->version);
}

/* New rows take the column's default version, 1. */
static const char insert_head[] =
	"INSERT INTO messages (chat_id, number, body, created_at, updated_at) "
	"VALUES";
static const char insert_row[] =
	"(?, ?, ?, FROM_UNIXTIME(?), FROM_UNIXTIME(?))";
/* A job seen twice must not undo an edit made since: keep the row. */
static const char insert_tail[] = "ON DUPLICATE KEY UPDATE number = number";

static int bind_insert(MYSQL_BIND *p, size_t first, size_t k, void *arg)
{
	struct chat_message_row *rows = (struct chat_message_row *)arg + first;

	for (size_t i = 0; i < k; i++) {
		chat_bind_u64(&p[i * 5], &rows[i].chat_id);
		chat_bind_u64(&p[i * 5 + 1], &rows[i].number);
		chat_bind_str(&p[i * 5 + 2], rows[i].body, &rows[i].body_len);
		chat_bind_i64(&p[i * 5 + 3], &rows[i].created_at);
		chat_bind_i64(&p[i * 5 + 4], &rows[i].created_at);
	}
	return 0;
}

/*
 * Body bytes one INSERT carries at most.  The whole statement travels as
 * one packet, which the server refuses beyond max_allowed_packet (64 MiB
 * in the local stack and compose, 16 MiB by default): 256 rows of 64 KiB
 * would pass 16 MiB.
 */
#define INSERT_BYTES_MAX (4u << 20)

static size_t insert_bytes(size_t i, void *arg)
{
	return ((struct chat_message_row *)arg)[i].body_len;
}

int chat_messages_insert(struct chat_db *db, struct chat_message_row *rows,
			 size_t n)
{
	const struct chat_db_rows q = {
		.head = insert_head, .row = insert_row, .tail = insert_tail,
		.per_row = 5, .bind = bind_insert,
		.row_bytes = insert_bytes, .max_bytes = INSERT_BYTES_MAX,
	};

	return chat_db_rows_exec(db, &q, n, rows) ? -1 : 0;
}
