/*
 * support_faults.h - what the chat, message and queue tests need beyond
 * client.h: checks of queued creates, many creates at once over their own
 * connections, and the
 * faults of the reliability tests (a paused or killed worker, a stopped
 * MariaDB) on the private stack that tests/harness/stack.sh started.
 *
 * The processes are found by the pid files stack.sh keeps under
 * $CHAT_VAR (run/worker.1.pid, mysql/mysqld.pid); what was stopped comes
 * back with `tests/harness/stack.sh start`, which starts only the parts
 * that are down.  Like client.h, a broken environment fails the running
 * Criterion test.
 */
#ifndef CHAT_TEST_SUPPORT_FAULTS_H
#define CHAT_TEST_SUPPORT_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct http_res;

/*
 * Assert a 202 of a queued create POSTed to `path` and return its number:
 * the contract's content type, a body of exactly {"number": n} with n > 0
 * and Location path + "/n".
 */
int64_t assert_accepted(const struct http_res *res, const char *path);

/* GET `path` until it answers `status`; false after `timeout_ms`. */
bool wait_status(const char *path, long status, unsigned timeout_ms);

/* One create as a client saw it. */
struct create_result {
	long status;		/* 0: the connection failed */
	int64_t number;		/* from the 202 body, or -1 */
	bool location_ok;	/* Location is the path + "/<number>" */
	uint64_t at_ms;		/* when it was answered (now_ms); streams */
};

/*
 * POST body[0..len) (none when NULL) to `path` `total` times, spread over
 * `conns` threads, each with its own libcurl handle and connection.
 * results[0..total) gets each request's outcome (in no particular order).
 */
void burst_create(const char *path, const char *body, size_t len,
		  unsigned total, unsigned conns,
		  struct create_result *results);

/*
 * A background stream of creates: one thread POSTs body to `path` one
 * request after another (pausing `gap_ms` between them) until stopped.
 */
struct create_stream;
struct create_stream *stream_start(const char *path, const char *body,
				   unsigned gap_ms);
/* How many requests the stream has answered so far. */
size_t stream_count(struct create_stream *s);
/*
 * Stop the stream and hand back its results (caller frees *results) and
 * their count; frees the stream.
 */
void stream_stop(struct create_stream *s, struct create_result **results,
		 size_t *n);

/* $CHAT_VAR/rel (caller frees); fails the test without CHAT_VAR. */
char *var_path(const char *rel);
/* The first pid in a pid file, or -1 when there is none. */
pid_t pidfile_pid(const char *path);
/* How many pids of a pid file (one a line) run `what`. */
unsigned pidfile_count(const char *path, const char *what);
/* True while `pid` runs a program whose command line contains `what`. */
bool pid_is(pid_t pid, const char *what);

/* The pid of worker 1 (run/worker.1.pid); fails the test if not alive. */
pid_t worker_pid(void);
/* True when worker 1 of run/worker.1.pid is running. */
bool worker_alive(void);
/* SIGSTOP / SIGCONT worker 1. */
void worker_pause(void);
void worker_resume(void);
/* SIGKILL worker 1 and wait until it is gone. */
void worker_kill9(void);

/* SIGTERM the mariadbd of mysql/mysqld.pid and wait until it is gone. */
void mysql_stop(void);

/*
 * Run `tests/harness/stack.sh start` (output to $CHAT_VAR/log/
 * test-restarts.log) and assert it brought the stack up: exit status 0
 * and GET /health 200.
 */
void stack_start(void);
/* GET /health answers 200, over a fresh connection. */
bool health_ok(void);

/*
 * One Redis command as argv (binary-safe through `lens`, or NUL-ended
 * strings when NULL), on a connection of its own.  Fails the test when
 * Redis does not answer; the caller frees the reply.
 */
struct redisReply *redis_argv(int argc, const char **argv,
			      const size_t *lens);

/* The internal id of the application with `token`; fails if none. */
uint64_t app_id_of(const char *token);
/* The Redis key "chat:{s<app % 16>}:<suffix>" (caller frees). */
char *queue_key(uint64_t app, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Wait until the SQL count (one `?` per string argument, at most three,
 * NULL-ended) equals `want`, for up to `timeout_ms`.  Returns the last
 * count seen.
 */
int64_t wait_db_count(unsigned timeout_ms, int64_t want, const char *sql,
		      ...);

#endif
