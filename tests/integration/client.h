/*
 * client.h - what the integration tests use to reach the stack that
 * tests/harness/run-tests.sh started: HTTP through nginx (libcurl), the
 * contract's checks on every response, and, for tests that must look
 * behind the API, the private MariaDB and Redis.
 *
 * Everything is configured from the same CHAT_* variables as the programs
 * (CHAT_HTTP_PORT, CHAT_MYSQL_*, CHAT_REDIS_*).  CHAT_HTTP_PORT has no
 * default: a test run by hand without it fails instead of poking at
 * whatever listens on the development port.
 *
 * The functions here are for Criterion tests: on a broken environment
 * (stack unreachable, bad SQL) they fail the current test with a message
 * rather than return an error.  Criterion runs each test in its own
 * process, so the connections are per process and opened lazily.
 */
#ifndef CHAT_TEST_CLIENT_H
#define CHAT_TEST_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>

/* One HTTP response.  Every pointer may be NULL when absent. */
struct http_res {
	long status;
	char *body;		/* NUL-terminated; len is authoritative */
	size_t len;
	struct json_object *json;	/* the body parsed, if it is JSON */
	char *content_type, *location, *allow, *link, *retry_after, *etag;
	char *cache_control;
	char *what;		/* "METHOD /path" of the request, for messages */
};

/*
 * Send `method` to `path` (which starts with '/' and may hold a query)
 * with body[0..len) exactly, or no body when `body` is NULL (POST, PUT
 * and PATCH then send "Content-Length: 0").  `headers` is NULL or a
 * NULL-terminated list of extra "Name: value" lines.  A 429 (POST
 * /applications is rate-limited and tests run in parallel) is retried
 * after its Retry-After for up to a minute.  Returns a response the
 * caller frees with http_res_free; a transport failure fails the test.
 */
struct http_res *http_do(const char *method, const char *path,
			 const char *body, size_t len);
struct http_res *http_do_h(const char *method, const char *path,
			   const char *body, size_t len,
			   const char *const *headers);
/* The same without the 429 retry, for tests of the rate limit itself. */
struct http_res *http_do_once(const char *method, const char *path,
			      const char *body, size_t len,
			      const char *const *headers);
/* http_do with a NUL-terminated body. */
struct http_res *http_send(const char *method, const char *path,
			   const char *body);
struct http_res *http_get(const char *path);
/* printf-style path (the result must fit in 8 KiB). */
__attribute__((format(printf, 1, 2)))
char *http_path(const char *fmt, ...);
void http_res_free(struct http_res *res);

/* Top-level string field of a JSON object body, or NULL. */
const char *http_json_str(const struct http_res *res, const char *key);
/* Top-level integer field: true and *out set when present and an int. */
bool http_json_int(const struct http_res *res, const char *key, int64_t *out);
/* The same on any object. */
const char *json_str(struct json_object *obj, const char *key);
bool json_int(struct json_object *obj, const char *key, int64_t *out);
/* True when `key` occurs in any object anywhere inside `v`. */
bool json_has_key_deep(struct json_object *v, const char *key);

/*
 * Assert what the contract says of every response: Content-Type exactly
 * "application/json; charset=utf-8" and a JSON body with no "id" key at
 * any depth; for a 204 or 304, no body at all.
 */
void http_assert_contract(const struct http_res *res);
/*
 * Assert `status` and the contract's error body: exactly the keys
 * "error" (equal to `code`) and "message" (a non-empty string).
 */
void http_assert_error(const struct http_res *res, long status,
		       const char *code);

/* True for "YYYY-MM-DDThh:mm:ssZ" naming a real UTC time. */
bool is_timestamp(const char *s);
/* True for 22..64 characters of [A-Za-z0-9_-]. */
bool is_token(const char *s);

/*
 * Add token[0..len) to the file CHAT_TEST_TOKENS names, if it looks like a
 * token (every request and answer through http_do does it already): the
 * test run checks that no log of the stack holds any recorded token.
 */
void tokens_record(const char *token, size_t len);

/*
 * POST /applications {"name": name} and assert a 201 that follows the
 * contract.  Returns the token (caller frees).
 */
char *app_create(const char *name);

/*
 * The private MariaDB, through prepared statements.  `sql` holds one `?`
 * per string argument that follows; the list ends with NULL.
 * tdb_int: the first column of the first row as an integer, -1 when there
 * is no row (a NULL value is 0).  tdb_str: the same as a string the caller
 * frees, or NULL.  tdb_exec: affected rows.  An error fails the test.
 */
int64_t tdb_int(const char *sql, ...);
/* The condition on applications that matches the token bound to its `?`
 * (the table holds SHA-256 of the token, see sql/004). */
#define TDB_TOKEN_IS "token_sha256 = UNHEX(SHA2(?, 256))"
char *tdb_str(const char *sql, ...);
int64_t tdb_exec(const char *sql, ...);
/*
 * Run `sql` (no arguments) as the migrations' account (CHAT_MIGRATE_USER),
 * for a test that changes the schema, such as a trigger: the programs'
 * account may only read and write rows.  An error fails the test.
 */
void tdb_schema_exec(const char *sql);

/* A new connection to the private Redis, authenticated with
 * CHAT_REDIS_USER/CHAT_REDIS_PASSWORD when set; fails the test if not. */
redisContext *tredis_connect(void);
/* The same to the Redis at host:port (one node of a cluster stack). */
redisContext *tredis_connect_to(const char *host, int port);
/* One Redis command (printf-style, as redisCommand); fails on no reply. */
redisReply *tredis(const char *fmt, ...);
/*
 * The same, argv form.  Both go to the test stack's Redis, or, when
 * CHAT_REDIS_NODES is set, through lib/cluster to its Redis Cluster.
 */
redisReply *tredis_argv(int argc, const char **argv, const size_t *lens);
/* True when the test stack runs a Redis Cluster. */
bool tredis_is_cluster(void);
/* DEL key; returns how many keys were removed. */
long long tredis_del(const char *key);
bool tredis_exists(const char *key);

/*
 * Call cond(arg) every 20 ms until it returns true or `timeout_ms` pass.
 * Returns whether it became true (the last call is made at the deadline).
 */
bool wait_until(bool (*cond)(void *arg), void *arg, unsigned timeout_ms);

/* Milliseconds on the monotonic clock. */
uint64_t now_ms(void);

/*
 * The main() of a test binary whose tests must not run beside each other
 * (faults, timings): Criterion's, but one test at a time whatever the
 * command line or CRITERION_JOBS says.
 */
int trun_one_at_a_time(int argc, char *argv[]);

#endif
