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

#include "result.h"

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
/*
 * chat_db_exec without storing the result set: rows come from the server
 * one fetch at a time, so a result of many large rows never sits in
 * memory at once.  Nothing else may run on the handle until chat_db_done
 * (which reads and drops the rows not fetched).
 */
MYSQL_STMT *chat_db_exec_rows(struct chat_db *db, const char *sql,
			      MYSQL_BIND *params, MYSQL_BIND *results);
/* Release the result set of a statement from chat_db_exec(_rows). */
void chat_db_done(MYSQL_STMT *stmt);

/*
 * Execute a write guarded by its WHERE clause (an UPDATE or DELETE of one
 * row, with an optional version check) as chat_db_exec does.  Returns
 * CHAT_FOUND when it matched a row (the connection reports found rows:
 * an UPDATE that leaves the row as it was counts), CHAT_ABSENT when it
 * matched none, CHAT_FAILED on error (err/errstr set).
 */
enum chat_found chat_db_write_matched(struct chat_db *db, const char *sql,
				      MYSQL_BIND *params);

/* Run a statement without parameters or results (BEGIN, COMMIT...). */
int chat_db_simple(struct chat_db *db, const char *sql);

/*
 * Execute `sql` as chat_db_exec does and read the first row of its result
 * into `results` (a value longer than its buffer is cut: the bound length
 * tells).  Returns CHAT_FOUND when there was a row, CHAT_ABSENT when there
 * was none, CHAT_FAILED on error (err/errstr set).  The result set is released.
 */
enum chat_found chat_db_get_row(struct chat_db *db, const char *sql,
				MYSQL_BIND *params, MYSQL_BIND *results);

/*
 * A multi-row statement "<head> <row>,<row>,... <tail>", run by
 * chat_db_rows_exec over n rows in chunks of a few fixed sizes (256, 64,
 * 16, 4, 1: only a few statements get prepared).  The SQL texts stay with
 * the caller, beside the function that runs them.
 */
#define CHAT_DB_ROWS_MAX 256	/* rows in one statement at most */
struct chat_db_rows {
	const char *head, *row, *tail;
	size_t per_row;		/* placeholders in `row` */
	/*
	 * Bind the parameters of rows [first, first + k), per_row each, into
	 * p[0..k * per_row).  0 to run the statement; anything else stops.
	 */
	int (*bind)(MYSQL_BIND *p, size_t first, size_t k, void *arg);
	/* When not NULL, the statement's result set is bound to it. */
	MYSQL_BIND *results;
	/*
	 * Optional: called after each chunk's statement ran, with its result
	 * set stored (fetch with mysql_stmt_fetch; it is released after).
	 * 0 to go on; anything else stops.
	 */
	int (*ran)(MYSQL_STMT *st, size_t first, size_t k, void *arg);
	/*
	 * With `stream`, the result set is not stored: `ran` fetches the
	 * rows from the server one at a time (chat_db_exec_rows) and must
	 * not use the handle meanwhile.
	 */
	bool stream;
	/*
	 * Optional: the bytes row i sends.  A chunk then holds no more than
	 * max_bytes of them (a single larger row still goes, alone), so that
	 * no statement nears the server's max_allowed_packet.
	 */
	size_t (*row_bytes)(size_t i, void *arg);
	size_t max_bytes;
};

/*
 * Run `q` over rows [0, n), passing `arg` to its callbacks.  Returns 0
 * when every chunk ran, -1 when a statement failed (err/errstr set), or
 * the value of a callback that stopped.
 */
int chat_db_rows_exec(struct chat_db *db, const struct chat_db_rows *q,
		      size_t n, void *arg);

/* Binding helpers: they fill one MYSQL_BIND, zeroed first. */
void chat_bind_u64(MYSQL_BIND *b, uint64_t *v);
void chat_bind_i64(MYSQL_BIND *b, int64_t *v);
/* Input string of *len bytes. */
void chat_bind_str(MYSQL_BIND *b, const char *s, unsigned long *len);
/* Output string into buf[cap]; *len gets the full length of the value. */
void chat_bind_out(MYSQL_BIND *b, char *buf, size_t cap, unsigned long *len);

#endif
