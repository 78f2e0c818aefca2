/*
 * test_reads.c - what the read statements of lib/messages.c cost MariaDB,
 * counted by the server itself: a list page reads its own rows and no
 * others, in key order without a sort, however deep into a large chat it
 * starts; a message is read by key, not by a scan.
 *
 * The counters are the session's Handler_read_* and Sort_rows status
 * variables, read on the same connection before and after one call of
 * the library (as a FastCGI program makes it).  A page of 50 that began
 * with a read of every earlier row of the chat, as the page did when
 * MariaDB chose to look up chat_id alone, reads thousands of rows here.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "buf.h"
#include "client.h"
#include "config.h"
#include "db.h"
#include "messages.h"
#include "token.h"

#define ROWS 3000u		/* a multiple of 1000 */
#define PAGE 50u

TestSuite(reads, .timeout = 120);

/* An application with chat 1 of ROWS messages, written straight in SQL. */
struct chat_rows {
	uint64_t app;
	struct chat_config cfg;
	struct chat_db *db;
};

static void chat_rows_make(struct chat_rows *c)
{
	char token[CHAT_TOKEN_LEN + 1], app[24], chat[24], thousands[16];
	int64_t id;

	cr_assert_eq(chat_token_new(token), 0);
	tdb_exec("INSERT INTO applications (token_sha256, name, created_at, "
		 "updated_at) VALUES (UNHEX(SHA2(?, 256)), 'reads test', "
		 "NOW(), NOW())", token, NULL);
	id = tdb_int("SELECT id FROM applications WHERE " TDB_TOKEN_IS, token,
		     NULL);
	cr_assert_gt(id, 0);
	c->app = (uint64_t)id;
	snprintf(app, sizeof(app), "%lld", (long long)id);
	tdb_exec("INSERT INTO chats (application_id, number, created_at, "
		 "updated_at) VALUES (?, 1, NOW(), NOW())", app, NULL);
	id = tdb_int("SELECT id FROM chats WHERE application_id = ? AND "
		     "number = 1", app, NULL);
	cr_assert_gt(id, 0);
	snprintf(chat, sizeof(chat), "%lld", (long long)id);
	/* Thousands, since a recursive CTE stops at max_recursive_iterations
	 * (1000 on MariaDB 11). */
	snprintf(thousands, sizeof(thousands), "%u", ROWS / 1000);
	cr_assert_eq(tdb_exec("INSERT INTO messages (chat_id, number, body, "
			      "created_at, updated_at) "
			      "WITH RECURSIVE s (n) AS (SELECT 1 UNION ALL "
			      "SELECT n + 1 FROM s WHERE n < 1000) "
			      "SELECT ?, (t.n - 1) * 1000 + s.n, "
			      "CONCAT('row ', s.n), NOW(), NOW() "
			      "FROM s t JOIN s WHERE t.n <= ?", chat, thousands,
			      NULL),
		     ROWS);
	chat_config_load(&c->cfg);
	c->db = chat_db_new(&c->cfg);
	cr_assert_not_null(c->db);
}

static void chat_rows_free(struct chat_rows *c)
{
	chat_db_free(c->db);
}

/* The session's counters that a read moves. */
struct reads {
	uint64_t key, next, rnd_next, sort_rows;
};

static uint64_t status(struct chat_db *db, const char *name)
{
	static const char sql[] =
		"SELECT CAST(VARIABLE_VALUE AS UNSIGNED) FROM "
		"information_schema.SESSION_STATUS WHERE VARIABLE_NAME = ?";
	unsigned long len = strlen(name);
	uint64_t v = 0;
	MYSQL_BIND p[1], r[1];

	chat_bind_str(&p[0], name, &len);
	chat_bind_u64(&r[0], &v);
	cr_assert_eq(chat_db_get_row(db, sql, p, r), CHAT_FOUND, "%s: %s",
		     name, db->errstr);
	return v;
}

static struct reads reads_now(struct chat_db *db)
{
	return (struct reads){
		.key = status(db, "HANDLER_READ_KEY"),
		.next = status(db, "HANDLER_READ_NEXT"),
		.rnd_next = status(db, "HANDLER_READ_RND_NEXT"),
		.sort_rows = status(db, "SORT_ROWS"),
	};
}

/* later - earlier, less what reading the counters alone costs. */
static struct reads reads_since(struct chat_db *db, struct reads earlier,
				struct reads itself)
{
	struct reads now = reads_now(db);

	return (struct reads){
		.key = now.key - earlier.key - itself.key,
		.next = now.next - earlier.next - itself.next,
		.rnd_next = now.rnd_next - earlier.rnd_next - itself.rnd_next,
		.sort_rows = now.sort_rows - earlier.sort_rows -
			     itself.sort_rows,
	};
}

/* What reading the counters adds to them, measured with nothing between. */
static struct reads reads_overhead(struct chat_db *db)
{
	struct reads zero = {0};
	struct reads before = reads_now(db);

	return reads_since(db, before, zero);
}

static void assert_page(struct chat_rows *c, uint64_t after)
{
	struct reads itself = reads_overhead(c->db);
	struct reads before = reads_now(c->db);
	struct chat_buf out;
	uint64_t last = 0;
	bool more = false;
	struct reads used;

	chat_buf_init(&out);
	cr_assert_eq(chat_messages_list(c->db, c->app, 1, after, PAGE, &out,
					&last, &more), 0, "%s", c->db->errstr);
	used = reads_since(c->db, before, itself);
	cr_assert_eq(last, after + PAGE, "page after %llu ends at %llu",
		     (unsigned long long)after, (unsigned long long)last);
	cr_assert(more);
	/* The chat's row, the page's first row, then the next PAGE (one
	 * more than the page, to know whether another follows). */
	cr_assert_leq(used.key, 3, "after %llu: %llu key reads",
		      (unsigned long long)after, (unsigned long long)used.key);
	cr_assert_leq(used.next, PAGE + 2, "after %llu: %llu rows read in "
		      "order for a page of %u", (unsigned long long)after,
		      (unsigned long long)used.next, PAGE);
	cr_assert_eq(used.rnd_next, 0, "after %llu: %llu rows scanned",
		     (unsigned long long)after,
		     (unsigned long long)used.rnd_next);
	cr_assert_eq(used.sort_rows, 0, "after %llu: %llu rows sorted",
		     (unsigned long long)after,
		     (unsigned long long)used.sort_rows);
	chat_buf_release(&out);
}

Test(reads, a_list_page_reads_its_own_rows_at_any_depth)
{
	struct chat_rows c;

	chat_rows_make(&c);
	assert_page(&c, 0);
	assert_page(&c, ROWS / 2);
	assert_page(&c, ROWS - PAGE - 10);
	chat_rows_free(&c);
}

Test(reads, a_message_is_read_by_key)
{
	struct chat_rows c;
	struct chat_message m;
	struct reads itself, before, used;

	chat_rows_make(&c);
	chat_message_init(&m);
	itself = reads_overhead(c.db);
	before = reads_now(c.db);
	cr_assert_eq(chat_messages_get(c.db, c.app, 1, ROWS - 1, &m),
		     CHAT_FOUND, "%s", c.db->errstr);
	used = reads_since(c.db, before, itself);
	cr_assert_eq(m.number, ROWS - 1);
	cr_assert_leq(used.key, 2, "%llu key reads",
		      (unsigned long long)used.key);
	cr_assert_eq(used.next + used.rnd_next, 0, "%llu rows read in order, "
		     "%llu scanned", (unsigned long long)used.next,
		     (unsigned long long)used.rnd_next);
	chat_message_release(&m);
	chat_rows_free(&c);
}
