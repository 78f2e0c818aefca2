/*
 * db.h - MariaDB through prepared statements only.
 *
 * The handle connects on first use, keeps each statement it prepared
 * (keyed by SQL text), and on a lost connection reconnects and retries the
 * statement once.  Session time zone is UTC and the charset utf8mb4.
 */
#ifndef CHAT_DB_H
#define CHAT_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mysql.h>

struct chat_buf;
struct chat_config;

struct chat_db {
	MYSQL *conn;			/* NULL while disconnected */
	const struct chat_config *cfg;
	struct chat_db_stmt *stmts;	/* prepared statement cache */
	size_t nstmts;
	uint64_t tick;			/* statement uses, for eviction */
	unsigned err;			/* MariaDB error number, 0 if none */
	char errstr[128];
};

struct chat_db *chat_db_new(const struct chat_config *cfg);
/* Close the connection and free the handle; accepts NULL. */
void chat_db_free(struct chat_db *db);
/* Connect when not connected.  Returns 0 or -1 (err/errstr set). */
int chat_db_connect(struct chat_db *db);
/* Round trip to the server.  Returns 0 or -1. */
int chat_db_ping(struct chat_db *db);
/* True when the last error was the server being unreachable. */
bool chat_db_down(const struct chat_db *db);
/* True when the last error was a duplicate key. */
bool chat_db_duplicate(const struct chat_db *db);

/*
 * Execute `sql` (a constant or a string the caller keeps stable for the
 * call) with `params` bound, one per `?`.  When `results` is not NULL the
 * result set is stored and bound to it; fetch rows with mysql_stmt_fetch
 * and then call chat_db_done.  Returns the statement (owned by the
 * handle) or NULL on error.
 */
MYSQL_STMT *chat_db_exec(struct chat_db *db, const char *sql,
			 MYSQL_BIND *params, MYSQL_BIND *results);
/* Release the result set of a statement from chat_db_exec. */
void chat_db_done(MYSQL_STMT *stmt);

/* Run a statement without parameters or results (BEGIN, COMMIT...). */
int chat_db_simple(struct chat_db *db, const char *sql);

/*
 * Multi-row statements: chat_db_chunk(n) is how many of n remaining rows
 * to send in the next statement (one of a few fixed sizes, so that only a
 * few statements get prepared), and chat_db_rows_sql writes
 * "<head> <row>,<row>,... <tail>" with `rows` copies of `row` into `sql`.
 */
size_t chat_db_chunk(size_t n);
void chat_db_rows_sql(struct chat_buf *sql, const char *head, const char *row,
		      size_t rows, const char *tail);

/* Binding helpers: they fill one MYSQL_BIND, zeroed first. */
void chat_bind_u64(MYSQL_BIND *b, uint64_t *v);
void chat_bind_i64(MYSQL_BIND *b, int64_t *v);
/* Input string of *len bytes. */
void chat_bind_str(MYSQL_BIND *b, const char *s, unsigned long *len);
/* Output string into buf[cap]; *len gets the full length of the value. */
void chat_bind_out(MYSQL_BIND *b, char *buf, size_t cap, unsigned long *len);

#endif
