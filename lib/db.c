/*
 * db.c - MariaDB connection, prepared statement cache and reconnect.
 */
#include "db.h"

#include <errmsg.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "xalloc.h"

#define STMT_CACHE_MAX 48

struct chat_db_stmt {
	char *sql;
	MYSQL_STMT *stmt;
	uint64_t used;		/* tick of last use, for eviction */
};

static void set_err(struct chat_db *db, unsigned err, const char *msg)
{
	db->err = err;
	snprintf(db->errstr, sizeof(db->errstr), "%s", msg ? msg : "");
}

static bool is_conn_error(unsigned err)
{
	return err == CR_SERVER_GONE_ERROR || err == CR_SERVER_LOST ||
	       err == CR_CONNECTION_ERROR || err == CR_CONN_HOST_ERROR ||
	       err == ER_CONNECTION_KILLED || err == CR_SERVER_LOST_EXTENDED ||
	       err == ER_SERVER_SHUTDOWN || err == CR_COMMANDS_OUT_OF_SYNC;
}

bool chat_db_down(const struct chat_db *db)
{
	return db->err && (is_conn_error(db->err) || !db->conn);
}

bool chat_db_duplicate(const struct chat_db *db)
{
	return db->err == ER_DUP_ENTRY;
}

struct chat_db *chat_db_new(const struct chat_config *cfg)
{
	struct chat_db *db = xcalloc(1, sizeof(*db));

	db->cfg = cfg;
	db->stmts = xcalloc(STMT_CACHE_MAX, sizeof(*db->stmts));
	return db;
}

static void disconnect(struct chat_db *db)
{
	for (size_t i = 0; i < db->nstmts; i++) {
		mysql_stmt_close(db->stmts[i].stmt);
		free(db->stmts[i].sql);
	}
	db->nstmts = 0;
	if (db->conn)
		mysql_close(db->conn);
	db->conn = NULL;
}

void chat_db_free(struct chat_db *db)
{
	if (!db)
		return;
	disconnect(db);
	free(db->stmts);
	free(db);
}

int chat_db_connect(struct chat_db *db)
{
	const struct chat_config *cfg = db->cfg;
	unsigned timeout = cfg->timeout_ms / 1000 ? cfg->timeout_ms / 1000 : 1;
	/* Whole seconds (the option's unit), rounded up. */
	unsigned rw = (cfg->mysql_timeout_ms + 999) / 1000;
	MYSQL *conn;

	if (db->conn)
		return 0;
	conn = mysql_init(NULL);
	if (!conn)
		xdie("mysql_init: out of memory");
	mysql_options(conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	/*
	 * A statement whose reply takes longer ends the connection (the next
	 * use reconnects): a request answers 503 instead of holding its
	 * process.  The jobs' long batches get batch_timeout_ms.
	 */
	mysql_options(conn, MYSQL_OPT_READ_TIMEOUT, &rw);
	mysql_options(conn, MYSQL_OPT_WRITE_TIMEOUT, &rw);
	mysql_options(conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(conn, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");
	/* The client library takes the socket only for the host
	 * "localhost": CHAT_MYSQL_SOCKET wins over CHAT_MYSQL_HOST. */
	if (!mysql_real_connect(conn, cfg->mysql_socket ? "localhost" :
				cfg->mysql_host, cfg->mysql_user,
				cfg->mysql_password, cfg->mysql_database,
				cfg->mysql_port, cfg->mysql_socket,
				CLIENT_FOUND_ROWS)) {
		set_err(db, mysql_errno(conn) ? mysql_errno(conn) :
			CR_CONNECTION_ERROR, mysql_error(conn));
		mysql_close(conn);
		return -1;
	}
	db->conn = conn;
	db->err = 0;
	return 0;
}

int chat_db_ping(struct chat_db *db)
{
	if (chat_db_connect(db))
		return -1;
	if (mysql_ping(db->conn) == 0)
		return 0;
	set_err(db, mysql_errno(db->conn), mysql_error(db->conn));
	disconnect(db);
	return chat_db_connect(db) ? -1 : 0;
}

static MYSQL_STMT *prepared(struct chat_db *db, const char *sql)
{
	struct chat_db_stmt *slot = NULL;
	MYSQL_STMT *stmt;

	for (size_t i = 0; i < db->nstmts; i++) {
		if (strcmp(db->stmts[i].sql, sql) == 0) {
			db->stmts[i].used = ++db->tick;
			return db->stmts[i].stmt;
		}
	}
	stmt = mysql_stmt_init(db->conn);
	if (!stmt)
		xdie("mysql_stmt_init: out of memory");
	if (mysql_stmt_prepare(stmt, sql, strlen(sql))) {
		set_err(db, mysql_stmt_errno(stmt), mysql_stmt_error(stmt));
		mysql_stmt_close(stmt);
		return NULL;
	}
	if (db->nstmts < STMT_CACHE_MAX) {
		slot = &db->stmts[db->nstmts++];
	} else {
		slot = &db->stmts[0];
		for (size_t i = 1; i < db->nstmts; i++)
			if (db->stmts[i].used < slot->used)
				slot = &db->stmts[i];
		mysql_stmt_close(slot->stmt);
		free(slot->sql);
	}
	slot->sql = xstrdup(sql);
	slot->stmt = stmt;
	slot->used = ++db->tick;
	return stmt;
}

static MYSQL_STMT *exec_once(struct chat_db *db, const char *sql,
			     MYSQL_BIND *params, MYSQL_BIND *results,
			     bool store)
{
	MYSQL_STMT *stmt;

	if (chat_db_connect(db))
		return NULL;
	stmt = prepared(db, sql);
	if (!stmt)
		return NULL;
	if ((params && mysql_stmt_bind_param(stmt, params)) ||
	    mysql_stmt_execute(stmt) ||
	    (results && ((store && mysql_stmt_store_result(stmt)) ||
			 mysql_stmt_bind_result(stmt, results)))) {
		set_err(db, mysql_stmt_errno(stmt), mysql_stmt_error(stmt));
		mysql_stmt_free_result(stmt);
		return NULL;
	}
	db->err = 0;
	return stmt;
}

static MYSQL_STMT *exec(struct chat_db *db, const char *sql,
			MYSQL_BIND *params, MYSQL_BIND *results, bool store)
{
	MYSQL_STMT *stmt = exec_once(db, sql, params, results, store);

	/* A connection that died since the last request: one more try. */
	if (!stmt && db->conn && is_conn_error(db->err)) {
		disconnect(db);
		stmt = exec_once(db, sql, params, results, store);
	}
	if (!stmt && is_conn_error(db->err))
		disconnect(db);
	return stmt;
}

MYSQL_STMT *chat_db_exec(struct chat_db *db, const char *sql,
			 MYSQL_BIND *params, MYSQL_BIND *results)
{
	return exec(db, sql, params, results, true);
}

MYSQL_STMT *chat_db_exec_rows(struct chat_db *db, const char *sql,
			      MYSQL_BIND *params, MYSQL_BIND *results)
{
	return exec(db, sql, params, results, false);
}

void chat_db_done(MYSQL_STMT *stmt)
{
	if (stmt)
		mysql_stmt_free_result(stmt);
}

int chat_db_simple(struct chat_db *db, const char *sql)
{
	if (chat_db_connect(db))
		return -1;
	if (mysql_real_query(db->conn, sql, strlen(sql)) == 0) {
		db->err = 0;
		return 0;
	}
	set_err(db, mysql_errno(db->conn), mysql_error(db->conn));
	if (is_conn_error(db->err))
		disconnect(db);
	return -1;
}

void chat_bind_u64(MYSQL_BIND *b, uint64_t *v)
{
	memset(b, 0, sizeof(*b));
	b->buffer_type = MYSQL_TYPE_LONGLONG;
	b->buffer = v;
	b->is_unsigned = 1;
}

void chat_bind_i64(MYSQL_BIND *b, int64_t *v)
{
	memset(b, 0, sizeof(*b));
	b->buffer_type = MYSQL_TYPE_LONGLONG;
	b->buffer = v;
}

void chat_bind_str(MYSQL_BIND *b, const char *s, unsigned long *len)
{
	memset(b, 0, sizeof(*b));
	b->buffer_type = MYSQL_TYPE_STRING;
	b->buffer = (void *)s;
	b->buffer_length = *len;
	b->length = len;
}

void chat_bind_out(MYSQL_BIND *b, char *buf, size_t cap, unsigned long *len)
{
	memset(b, 0, sizeof(*b));
	b->buffer_type = MYSQL_TYPE_STRING;
	b->buffer = buf;
	b->buffer_length = cap;
	b->length = len;
}

enum chat_found chat_db_write_matched(struct chat_db *db, const char *sql,
				      MYSQL_BIND *params)
{
	MYSQL_STMT *st = chat_db_exec(db, sql, params, NULL);

	if (!st)
		return CHAT_FAILED;
	return mysql_stmt_affected_rows(st) > 0 ? CHAT_FOUND : CHAT_ABSENT;
}

enum chat_found chat_db_get_row(struct chat_db *db, const char *sql,
				MYSQL_BIND *params, MYSQL_BIND *results)
{
	MYSQL_STMT *st = chat_db_exec(db, sql, params, results);
	int rc;

	if (!st)
		return CHAT_FAILED;
	rc = mysql_stmt_fetch(st);
	if (rc != 0 && rc != MYSQL_NO_DATA && rc != MYSQL_DATA_TRUNCATED)
		set_err(db, mysql_stmt_errno(st), mysql_stmt_error(st));
	chat_db_done(st);
	if (rc == MYSQL_NO_DATA)
		return CHAT_ABSENT;
	return rc == 0 || rc == MYSQL_DATA_TRUNCATED ? CHAT_FOUND : CHAT_FAILED;
}

/* How many of n remaining rows go into the next statement. */
static size_t chunk(size_t n)
{
	static const size_t sizes[] = { CHAT_DB_ROWS_MAX, 64, 16, 4, 1 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (n >= sizes[i])
			return sizes[i];
	return 0;
}

/* "<head> <row>,<row>,... <tail>" with `rows` copies of `row`. */
static void rows_sql(struct chat_buf *sql, const struct chat_db_rows *q,
		     size_t rows)
{
	chat_buf_reset(sql);
	chat_buf_adds(sql, q->head);
	for (size_t i = 0; i < rows; i++) {
		chat_buf_adds(sql, i ? "," : " ");
		chat_buf_adds(sql, q->row);
	}
	chat_buf_addch(sql, ' ');
	chat_buf_adds(sql, q->tail);
}

/* The bytes rows [first, first + k) send. */
static size_t rows_bytes(const struct chat_db_rows *q, size_t first, size_t k,
			 void *arg)
{
	size_t bytes = 0;

	for (size_t i = first; i < first + k; i++)
		bytes += q->row_bytes(i, arg);
	return bytes;
}

int chat_db_rows_exec(struct chat_db *db, const struct chat_db_rows *q,
		      size_t n, void *arg)
{
	MYSQL_BIND *p = xcalloc(chunk(n) * q->per_row + 1, sizeof(*p));
	struct chat_buf sql;
	int rc = 0;

	chat_buf_init(&sql);
	for (size_t done = 0, k; rc == 0 && done < n; done += k) {
		MYSQL_STMT *st;

		k = chunk(n - done);
		while (q->row_bytes && k > 1 &&
		       rows_bytes(q, done, k, arg) > q->max_bytes)
			k = chunk(k - 1);
		rc = q->bind(p, done, k, arg);
		if (rc)
			break;
		rows_sql(&sql, q, k);
		st = q->stream ? chat_db_exec_rows(db, sql.data, p, q->results)
			       : chat_db_exec(db, sql.data, p, q->results);
		if (!st) {
			rc = -1;
			break;
		}
		if (q->ran)
			rc = q->ran(st, done, k, arg);
		if (q->results)
			chat_db_done(st);
	}
	chat_buf_release(&sql);
	free(p);
	return rc;
}
