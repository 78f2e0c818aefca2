/*
 * test_sync.c - the hourly counter sync (jobs/sync) against the private
 * MariaDB and Redis: counters exact after creates and deletes, markers
 * added during a run kept for the next one, the work of a run that died
 * completed, --all repairing counters, and runs that never overlap.
 *
 * The tests play the worker's part themselves: they write rows straight
 * into MariaDB and add the markers to Redis (chat:{sK}:dirty), each in an
 * application of its own with a fresh random token.  Other tests may run
 * jobs/sync at the same time; a run that finds the lock taken is retried.
 * The program is run as $CHAT_JOBS_DIR/sync (default jobs/sync, relative
 * to the repository root the tests run from).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "buf.h"
#include "client.h"
#include "config.h"
#include "db.h"
#include "job.h"
#include "queue.h"
#include "token.h"
#include "xalloc.h"

extern char **environ;

#define LOCK_KEY "chat:sync:lock"
#define OLD_TIME "2020-01-01 00:00:00"
#define BUSY "another run is in progress"
/*
 * Held by a test while it holds a chat row locked in MariaDB, and by the
 * test of --all while --all runs: a run of --all, which updates every
 * row, would wait on that row while holding the sync lock, and the test
 * holding the row waits for a run to take its markers.
 */
#define ROW_TEST_KEY "test:sync:row-lock"

TestSuite(sync, .timeout = 240);

/* Running the program ------------------------------------------------ */

struct run {
	int status;		/* exit status, or 128 + signal */
	char *out, *err;	/* everything it wrote (caller frees) */
};

static char *slurp(int fd)
{
	struct chat_buf b;
	char chunk[4096];
	ssize_t n;

	chat_buf_init(&b);
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		chat_buf_add(&b, chunk, (size_t)n);
	close(fd);
	return chat_buf_detach(&b, NULL);
}

static int temp_fd(void)
{
	char path[] = "/tmp/test_sync.XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	unlink(path);
	return fd;
}

static const char *sync_path(void)
{
	static char path[512];
	const char *dir = getenv("CHAT_JOBS_DIR");

	snprintf(path, sizeof(path), "%s/sync", dir && *dir ? dir : "jobs");
	cr_assert_eq(access(path, X_OK), 0,
		     "%s: %s (build it with make, run from the repo root)",
		     path, strerror(errno));
	return path;
}

/* Start the program with `arg` (or none); returns its pid. */
static pid_t sync_start(const char *arg, int *out_fd, int *err_fd)
{
	posix_spawn_file_actions_t fa;
	const char *path = sync_path();
	char *argv[] = { (char *)path, (char *)arg, NULL };
	pid_t pid;
	int rc;

	*out_fd = temp_fd();
	*err_fd = temp_fd();
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, *out_fd, 1);
	posix_spawn_file_actions_adddup2(&fa, *err_fd, 2);
	rc = posix_spawn(&pid, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	cr_assert_eq(rc, 0, "posix_spawn %s: %s", path, strerror(rc));
	return pid;
}

static struct run sync_wait(pid_t pid, int out_fd, int err_fd)
{
	struct run r;
	int st;

	while (waitpid(pid, &st, 0) < 0)
		cr_assert_eq(errno, EINTR, "waitpid: %s", strerror(errno));
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r.out = slurp(out_fd);
	r.err = slurp(err_fd);
	return r;
}

static struct run sync_once(const char *arg)
{
	int out_fd, err_fd;
	pid_t pid = sync_start(arg, &out_fd, &err_fd);

	return sync_wait(pid, out_fd, err_fd);
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Assert the one summary line and nothing else on stdout. */
static void assert_summary(const struct run *r)
{
	unsigned long long apps, chats;
	double secs;
	int used = -1;

	cr_assert_eq(r->status, 0, "sync exited %d: %s%s", r->status,
		     r->out, r->err);
	cr_assert_eq(sscanf(r->out, "sync: %llu applications and %llu chats "
			    "updated in %lfs\n%n", &apps, &chats, &secs,
			    &used), 3, "summary: '%s'", r->out);
	cr_assert(used > 0 && r->out[used] == '\0',
		  "more than the summary line on stdout: '%s'", r->out);
}

/*
 * One complete run: retried while another run (of a test running in
 * parallel, or the stack's timer) holds the lock.
 */
static void sync_ok(const char *arg)
{
	uint64_t deadline = now_ms() + 120000;

	for (;;) {
		struct run r = sync_once(arg);
		bool busy = r.status == 0 && strstr(r.out, BUSY);

		if (!busy || now_ms() > deadline) {
			assert_summary(&r);
			run_free(&r);
			return;
		}
		run_free(&r);
		sleep_ms(50);
	}
}

/* Rows and markers --------------------------------------------------- */

struct app {
	char token[CHAT_TOKEN_LEN + 1];
	char id[24];		/* decimal, for the SQL helpers */
	uint64_t nid;
};

static void app_new(struct app *a)
{
	int64_t id;

	cr_assert_eq(chat_token_new(a->token), 0);
	tdb_exec("INSERT INTO applications (token_sha256, name, chats_count, "
		 "created_at, updated_at) VALUES (UNHEX(SHA2(?, 256)), "
		 "'sync test', 0, '"
		 OLD_TIME "', '" OLD_TIME "')", a->token, NULL);
	id = tdb_int("SELECT id FROM applications WHERE " TDB_TOKEN_IS, a->token,
		     NULL);
	cr_assert_gt(id, 0);
	a->nid = (uint64_t)id;
	snprintf(a->id, sizeof(a->id), "%lld", (long long)id);
}

/* Chat `number` of `a` with messages 1..msgs; returns the chat's id. */
static int64_t chat_add(const struct app *a, unsigned number, unsigned msgs)
{
	char n[16], m[16], cid[24];
	int64_t id;

	snprintf(n, sizeof(n), "%u", number);
	tdb_exec("INSERT INTO chats (application_id, number, messages_count, "
		 "created_at, updated_at) VALUES (?, ?, 0, '" OLD_TIME "', '"
		 OLD_TIME "')", a->id, n, NULL);
	id = tdb_int("SELECT id FROM chats WHERE application_id = ? AND "
		     "number = ?", a->id, n, NULL);
	cr_assert_gt(id, 0);
	snprintf(cid, sizeof(cid), "%lld", (long long)id);
	for (unsigned i = 1; i <= msgs; i++) {
		snprintf(m, sizeof(m), "%u", i);
		tdb_exec("INSERT INTO messages (chat_id, number, body, "
			 "created_at, updated_at) VALUES (?, ?, 'hello', '"
			 OLD_TIME "', '" OLD_TIME "')", cid, m, NULL);
	}
	return id;
}

static void msg_add(int64_t chat_id, unsigned number)
{
	char cid[24], m[16];

	snprintf(cid, sizeof(cid), "%lld", (long long)chat_id);
	snprintf(m, sizeof(m), "%u", number);
	tdb_exec("INSERT INTO messages (chat_id, number, body, created_at, "
		 "updated_at) VALUES (?, ?, 'more', NOW(), NOW())", cid, m,
		 NULL);
}

static void msg_del(int64_t chat_id, unsigned number)
{
	char cid[24], m[16];

	snprintf(cid, sizeof(cid), "%lld", (long long)chat_id);
	snprintf(m, sizeof(m), "%u", number);
	cr_assert_eq(tdb_exec("DELETE FROM messages WHERE chat_id = ? AND "
			      "number = ?", cid, m, NULL), 1);
}

/* What the worker does for a deleted chat: its messages, then its row. */
static void chat_del(int64_t chat_id)
{
	char cid[24];

	snprintf(cid, sizeof(cid), "%lld", (long long)chat_id);
	tdb_exec("DELETE FROM messages WHERE chat_id = ?", cid, NULL);
	cr_assert_eq(tdb_exec("DELETE FROM chats WHERE id = ?", cid, NULL), 1);
}

static int64_t messages_count(const struct app *a, unsigned number)
{
	char n[16];

	snprintf(n, sizeof(n), "%u", number);
	return tdb_int("SELECT messages_count FROM chats WHERE "
		       "application_id = ? AND number = ?", a->id, n, NULL);
}

static int64_t chats_count(const struct app *a)
{
	return tdb_int("SELECT chats_count FROM applications WHERE id = ?",
		       a->id, NULL);
}

static void set_counts(const struct app *a, const char *chats,
		       const char *messages)
{
	tdb_exec("UPDATE applications SET chats_count = ? WHERE id = ?",
		 chats, a->id, NULL);
	tdb_exec("UPDATE chats SET messages_count = ? WHERE application_id = ?",
		 messages, a->id, NULL);
}

/* No counter update may touch updated_at. */
static void assert_untouched(const struct app *a)
{
	cr_assert_eq(tdb_int("SELECT COUNT(*) FROM applications WHERE id = ? "
			     "AND updated_at <> '" OLD_TIME "'", a->id, NULL),
		     0, "applications.updated_at changed");
	cr_assert_eq(tdb_int("SELECT COUNT(*) FROM chats WHERE "
			     "application_id = ? AND updated_at <> '"
			     OLD_TIME "'", a->id, NULL),
		     0, "chats.updated_at changed");
}

/* "chat:{sK}:dirty" or "chat:{sK}:dirty:taken" of the app's shard. */
static char *set_key(const struct app *a, bool taken)
{
	struct chat_buf key;

	chat_buf_init(&key);
	chat_job_key(&key, chat_queue_shard(a->nid),
		     taken ? CHAT_KEY_DIRTY_TAKEN : CHAT_KEY_DIRTY);
	return chat_buf_detach(&key, NULL);
}

/* SADD the marker of `a` (chat 0) or of its chat `number`. */
static void mark(const struct app *a, unsigned number, bool taken)
{
	char *key = set_key(a, taken), member[48];

	if (number)
		snprintf(member, sizeof(member), "%s:%u", a->id, number);
	else
		snprintf(member, sizeof(member), "%s", a->id);
	freeReplyObject(tredis("SADD %s %s", key, member));
	free(key);
}

static bool is_marked(const struct app *a, unsigned number, bool taken)
{
	char *key = set_key(a, taken), member[48];
	redisReply *r;
	bool yes;

	if (number)
		snprintf(member, sizeof(member), "%s:%u", a->id, number);
	else
		snprintf(member, sizeof(member), "%s", a->id);
	r = tredis("SISMEMBER %s %s", key, member);
	yes = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
	freeReplyObject(r);
	free(key);
	return yes;
}

/*
 * Hold the lock `key` (LOCK_KEY: as another run would), briefly, and with
 * a short TTL so that a failed test does not hold up the others.
 */
static void hold(const char *key, char value[CHAT_TOKEN_LEN + 1])
{
	uint64_t deadline = now_ms() + 120000;

	cr_assert_eq(chat_token_new(value), 0);
	for (;;) {
		redisReply *r = tredis("SET %s %s NX PX 10000", key, value);
		bool got = r->type == REDIS_REPLY_STATUS;

		freeReplyObject(r);
		if (got)
			return;
		cr_assert_lt(now_ms(), deadline, "%s stays taken", key);
		sleep_ms(20);
	}
}

static void drop(const char *key, const char *value)
{
	redisReply *r = tredis("EVAL %s 1 %s %s",
			       "if redis.call('GET', KEYS[1]) == ARGV[1] then "
			       "return redis.call('DEL', KEYS[1]) end return 0",
			       key, value);

	cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
	cr_assert_eq(r->integer, 1, "%s was not the test's any more", key);
	freeReplyObject(r);
}

/* Tests --------------------------------------------------------------- */

Test(sync, counters_exact_after_creates_and_deletes)
{
	struct app a;
	int64_t c1, c4;

	app_new(&a);
	c1 = chat_add(&a, 1, 3);
	chat_add(&a, 2, 0);
	chat_add(&a, 3, 5);
	c4 = chat_add(&a, 4, 2);
	msg_del(c1, 2);
	chat_del(c4);
	/* Wrong on purpose: a chat with no message must come back to 0. */
	set_counts(&a, "9", "7");
	for (unsigned n = 0; n <= 4; n++)
		mark(&a, n, false);
	/* A chat number that never reached MariaDB: nothing to update. */
	mark(&a, 99, false);

	sync_ok(NULL);

	cr_assert_eq(messages_count(&a, 1), 2);
	cr_assert_eq(messages_count(&a, 2), 0);
	cr_assert_eq(messages_count(&a, 3), 5);
	cr_assert_eq(messages_count(&a, 4), -1, "chat 4 is deleted");
	cr_assert_eq(chats_count(&a), 3);
	assert_untouched(&a);
	for (unsigned n = 0; n <= 4; n++) {
		cr_assert_not(is_marked(&a, n, false), "marker %u left", n);
		cr_assert_not(is_marked(&a, n, true), "taken marker %u left", n);
	}
}

/* Chat 1 of `a` locked by a transaction, so that a sync waits on it. */
struct row_lock {
	struct chat_config cfg;
	struct chat_db *db;
};

static const char lock_row_sql[] = "SELECT id FROM chats WHERE id = ? "
				   "FOR UPDATE";

static void row_lock(struct row_lock *l, int64_t chat_id)
{
	uint64_t id = (uint64_t)chat_id, got = 0;
	MYSQL_BIND p[1], r[1];
	MYSQL_STMT *st;

	chat_config_load(&l->cfg);
	l->db = chat_db_new(&l->cfg);
	cr_assert_eq(chat_db_simple(l->db, "START TRANSACTION"), 0, "%s",
		     l->db->errstr);
	chat_bind_u64(&p[0], &id);
	chat_bind_u64(&r[0], &got);
	st = chat_db_exec(l->db, lock_row_sql, p, r);
	cr_assert_not_null(st, "%s", l->db->errstr);
	cr_assert_eq(mysql_stmt_fetch(st), 0);
	chat_db_done(st);
	cr_assert_eq(got, id);
}

static void row_unlock(struct row_lock *l)
{
	cr_assert_eq(chat_db_simple(l->db, "ROLLBACK"), 0, "%s",
		     l->db->errstr);
	chat_db_free(l->db);
}

/*
 * Start runs until one of them (ours, or one of a test running in
 * parallel) has taken chat `number`'s marker; returns our running pid.
 */
static pid_t start_until_taken(const struct app *a, unsigned number,
			       int *out_fd, int *err_fd)
{
	uint64_t deadline = now_ms() + 120000;
	pid_t pid = sync_start(NULL, out_fd, err_fd);

	while (!is_marked(a, number, true)) {
		int st;

		cr_assert_lt(now_ms(), deadline, "no run took the markers");
		if (waitpid(pid, &st, WNOHANG) == pid) {
			struct run r = { .status = WEXITSTATUS(st),
					 .out = slurp(*out_fd),
					 .err = slurp(*err_fd) };

			/* Busy; the run that was busy may be past this shard. */
			cr_assert(r.status == 0 && strstr(r.out, BUSY),
				  "sync exited %d: %s%s", r.status, r.out,
				  r.err);
			run_free(&r);
			pid = sync_start(NULL, out_fd, err_fd);
		}
		sleep_ms(20);
	}
	return pid;
}

Test(sync, marker_added_during_a_run_is_applied_by_the_next_run)
{
	char mutex[CHAT_TOKEN_LEN + 1];
	struct app a;
	struct row_lock l;
	struct run r;
	int64_t c1;
	int out_fd, err_fd;
	pid_t pid;

	app_new(&a);
	c1 = chat_add(&a, 1, 2);
	hold(ROW_TEST_KEY, mutex);
	/*
	 * Hold chat 1's row, then mark it: the run that takes the marker
	 * waits on the row between taking the markers and dropping them.
	 */
	row_lock(&l, c1);
	mark(&a, 0, false);
	mark(&a, 1, false);
	pid = start_until_taken(&a, 1, &out_fd, &err_fd);
	/* The run is under way: what the worker does now. */
	chat_add(&a, 2, 4);
	msg_add(c1, 3);
	mark(&a, 0, false);
	mark(&a, 1, false);
	mark(&a, 2, false);
	cr_assert(is_marked(&a, 2, false));
	row_unlock(&l);
	drop(ROW_TEST_KEY, mutex);
	r = sync_wait(pid, out_fd, err_fd);
	cr_assert_eq(r.status, 0, "sync exited %d: %s%s", r.status, r.out,
		     r.err);
	run_free(&r);

	sync_ok(NULL);
	cr_assert_eq(messages_count(&a, 1), 3);
	cr_assert_eq(messages_count(&a, 2), 4);
	cr_assert_eq(chats_count(&a), 2);

	/* And once more, a plain run after a run. */
	chat_add(&a, 3, 1);
	mark(&a, 0, false);
	mark(&a, 3, false);
	sync_ok(NULL);
	cr_assert_eq(messages_count(&a, 3), 1);
	cr_assert_eq(chats_count(&a), 3);
	assert_untouched(&a);
}

Test(sync, work_of_a_run_killed_half_way_is_completed)
{
	char lock[CHAT_TOKEN_LEN + 1];
	struct app a;

	app_new(&a);
	chat_add(&a, 1, 4);
	chat_add(&a, 2, 1);
	set_counts(&a, "0", "0");
	/*
	 * What a run that died after taking the markers leaves behind: the
	 * taken set.  Hold the lock while setting it up, as that run did,
	 * so that no live run sees half of it.  A marker that arrived after
	 * it died waits in the dirty set.
	 */
	hold(LOCK_KEY, lock);
	mark(&a, 0, true);
	mark(&a, 1, true);
	mark(&a, 2, false);
	drop(LOCK_KEY, lock);

	sync_ok(NULL);

	cr_assert_eq(messages_count(&a, 1), 4);
	cr_assert_eq(messages_count(&a, 2), 1);
	cr_assert_eq(chats_count(&a), 2);
	cr_assert_not(is_marked(&a, 0, true));
	cr_assert_not(is_marked(&a, 1, true));
	cr_assert_not(is_marked(&a, 2, false));
	assert_untouched(&a);
}

Test(sync, all_fixes_counters_set_wrong_by_hand)
{
	char mutex[CHAT_TOKEN_LEN + 1];
	struct app a, b;

	app_new(&a);
	app_new(&b);
	chat_add(&a, 1, 3);
	chat_add(&a, 2, 0);
	chat_add(&b, 1, 1);
	set_counts(&a, "77", "999");
	set_counts(&b, "5", "12");
	/* No markers at all: --all does not need them. */

	hold(ROW_TEST_KEY, mutex);
	sync_ok("--all");
	drop(ROW_TEST_KEY, mutex);

	cr_assert_eq(messages_count(&a, 1), 3);
	cr_assert_eq(messages_count(&a, 2), 0);
	cr_assert_eq(chats_count(&a), 2);
	cr_assert_eq(messages_count(&b, 1), 1);
	cr_assert_eq(chats_count(&b), 1);
	assert_untouched(&a);
	assert_untouched(&b);
}

Test(sync, second_run_while_one_runs_says_so_and_exits_0)
{
	char lock[CHAT_TOKEN_LEN + 1];
	struct app a;
	struct run r;
	redisReply *v;

	/* Rows and markers while no run (not even --all) can see them. */
	hold(LOCK_KEY, lock);
	app_new(&a);
	chat_add(&a, 1, 2);
	mark(&a, 0, false);
	mark(&a, 1, false);
	r = sync_once(NULL);
	cr_assert_eq(r.status, 0, "sync exited %d: %s%s", r.status, r.out,
		     r.err);
	cr_assert(strstr(r.out, BUSY) || strstr(r.err, BUSY),
		  "no word of the other run: '%s' '%s'", r.out, r.err);
	cr_assert_eq(strchr(r.out, '\n'), r.out + strlen(r.out) - 1,
		     "not one line: '%s'", r.out);
	run_free(&r);
	/* It did nothing: not the counters, not the lock. */
	cr_assert_eq(messages_count(&a, 1), 0);
	cr_assert(is_marked(&a, 1, false));
	v = tredis("GET %s", LOCK_KEY);
	cr_assert(v->type == REDIS_REPLY_STRING && strcmp(v->str, lock) == 0,
		  "the lock of the other run was touched");
	freeReplyObject(v);
	drop(LOCK_KEY, lock);

	sync_ok(NULL);
	cr_assert_eq(messages_count(&a, 1), 2);
	cr_assert_eq(chats_count(&a), 1);
}

Test(sync, unreachable_store_is_a_clear_failure)
{
	struct run r;

	/* Criterion runs each test in a process of its own. */
	setenv("CHAT_REDIS_PORT", "1", 1);
	if (getenv("CHAT_REDIS_NODES"))
		setenv("CHAT_REDIS_NODES", "127.0.0.1:1", 1);
	setenv("CHAT_TIMEOUT_MS", "500", 1);
	r = sync_once(NULL);
	cr_assert_eq(r.status, 1, "exit %d: %s%s", r.status, r.out, r.err);
	cr_assert_str_empty(r.out);
	cr_assert(strstr(r.err, "Redis"), "stderr: '%s'", r.err);
	run_free(&r);
}

Test(sync, unreachable_mariadb_is_a_clear_failure)
{
	struct run r;
	uint64_t deadline = now_ms() + 120000;

	setenv("CHAT_MYSQL_PORT", "1", 1);
	setenv("CHAT_TIMEOUT_MS", "500", 1);
	for (;;) {
		r = sync_once(NULL);
		if (!strstr(r.out, BUSY) || now_ms() > deadline)
			break;
		run_free(&r);
		sleep_ms(50);
	}
	cr_assert_eq(r.status, 1, "exit %d: %s%s", r.status, r.out, r.err);
	cr_assert_str_empty(r.out);
	cr_assert(strstr(r.err, "MariaDB"), "stderr: '%s'", r.err);
	run_free(&r);
}

Test(sync, help_and_bad_arguments)
{
	struct run r = sync_once("--help");

	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "usage: sync"), "'%s'", r.out);
	run_free(&r);
	r = sync_once("--bogus");
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "usage: sync"), "'%s'", r.err);
	run_free(&r);
}
