/*
 * sync - the hourly counter sync, run by cron (see jobs/crontab).
 *
 * chats_count and messages_count are not written on every create or
 * delete: the worker and the API add markers to chat:{sK}:dirty, the set
 * of the application's shard ("<app id>": recount the chats of the
 * application; "<app id>:<chat number>": recount the messages of the
 * chat).  This program recomputes what the markers name from MariaDB's
 * rows, so the counters lag by at most one run.
 *
 * Markers are taken atomically: the set is renamed chat:{sK}:dirty:taken,
 * markers added meanwhile go to a fresh dirty set for the next run, and
 * the taken set is deleted only once its counters are written.  A run that
 * dies leaves it behind and the next run does that work first.  Counts are
 * COUNT(*) over the unique keys, many rows per short statement.  --all
 * recomputes every chat, then every application, in primary-key ranges.
 *
 * Runs never overlap: chat:sync:lock holds a random value with a TTL that
 * the run keeps extending; the lock of a run that died expires.  Output:
 * one summary line on stdout; on failure a message on stderr and status 1.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "ctx.h"
#include "db.h"
#include "job.h"
#include "log.h"
#include "proc.h"
#include "queue.h"
#include "redis.h"
#include "text.h"
#include "token.h"
#include "xalloc.h"

#define LOCK_KEY CHAT_KEY_SYNC_LOCK
/* Long enough to outlast one slow statement (reads time out before). */
#define LOCK_TTL_MS 300000
#define LOCK_REFRESH_MS 10000
#define SCAN_COUNT "1000"
#define ALL_BATCH 1000
#define STR_(x) #x
#define STR(x) STR_(x)

/* Markers of one taken set: (app, chat number), or (app, 0) for apps. */
struct sync_ids {
	uint64_t (*v)[2];
	size_t n, cap;
};

struct sync {
	struct chat_ctx ctx;
	char lock_value[CHAT_TOKEN_LEN + 1];
	double lock_refreshed;	/* monotonic ms */
	uint64_t apps, chats;	/* rows recomputed */
	struct sync_ids app_ids, chat_ids;
	struct chat_buf err;	/* the first failure, for stderr */
};

/* Record the first failure; returns -1 for `return fail(...)`. */
__attribute__((format(printf, 2, 3)))
static int fail(struct sync *s, const char *fmt, ...)
{
	va_list ap;

	if (s->err.len)
		return -1;
	va_start(ap, fmt);
	chat_buf_vaddf(&s->err, fmt, ap);
	va_end(ap);
	return -1;
}

static int db_fail(struct sync *s, const char *doing)
{
	const struct chat_config *cfg = &s->ctx.cfg;

	if (chat_db_down(s->ctx.db))
		return fail(s, "cannot reach MariaDB at %s:%u while %s: %s",
			    cfg->mysql_socket ? cfg->mysql_socket :
			    cfg->mysql_host, cfg->mysql_port, doing,
			    s->ctx.db->errstr);
	return fail(s, "MariaDB error while %s: %s", doing, s->ctx.db->errstr);
}

/* Fails for a missing reply or an error reply; frees neither. */
static int redis_fail(struct sync *s, const char *doing,
		      const redisReply *reply)
{
	const struct chat_config *cfg = &s->ctx.cfg;

	if (!reply)
		return fail(s, "cannot reach Redis at %s:%u while %s: %s",
			    cfg->redis_host, cfg->redis_port, doing,
			    s->ctx.redis->errstr);
	return fail(s, "Redis error while %s: %s", doing,
		    reply->type == REDIS_REPLY_ERROR ? reply->str :
		    "unexpected reply");
}

/* Lock ---------------------------------------------------------------- */

/*
 * KEYS: lock.  ARGV: our value, TTL in ms or 0 to release.  Touches the
 * lock only while it is ours; returns 0 when it is not.
 */
static struct chat_script lock_script = {
	.name = "sync_lock",
	.body = "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
		"if ARGV[2] == '0' then return redis.call('DEL', KEYS[1]) end "
		"return redis.call('PEXPIRE', KEYS[1], ARGV[2])",
};

/*
 * KEYS: dirty, taken.  Returns 0 when there is nothing to do, 1 when
 * taken now holds the dirty markers, 2 when taken was left by a run that
 * died (dirty, if any, is still to be taken).
 */
static struct chat_script take_script = {
	.name = "sync_take",
	.body = "if redis.call('EXISTS', KEYS[2]) == 1 then return 2 end "
		"if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end "
		"redis.call('RENAME', KEYS[1], KEYS[2]) return 1",
};

/* The integer of `reply` (which is freed), or -1 after redis_fail. */
static long long redis_int(struct sync *s, redisReply *reply,
			   const char *doing)
{
	long long v = -1;

	if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer >= 0)
		v = reply->integer;
	else
		redis_fail(s, doing, reply);
	freeReplyObject(reply);
	return v;
}

/* 1 when the lock is ours now, 0 when another run holds it, -1. */
static int lock_acquire(struct sync *s)
{
	const char *argv[] = { "SET", LOCK_KEY, s->lock_value, "NX", "PX",
			       STR(LOCK_TTL_MS) };
	redisReply *reply;
	int rc;

	if (chat_token_new(s->lock_value))
		return fail(s, "cannot read random bytes for the lock");
	reply = chat_redis_argv(s->ctx.redis, 6, argv, NULL);
	if (reply && reply->type == REDIS_REPLY_STATUS)
		rc = 1;
	else if (reply && reply->type == REDIS_REPLY_NIL)
		rc = 0;
	else
		rc = redis_fail(s, "taking the lock", reply);
	freeReplyObject(reply);
	s->lock_refreshed = chat_now_ms();
	return rc;
}

/*
 * Extend the lock when it is due (or when `force`).  A run that lost it
 * must stop: another run may already be working on the same taken sets.
 */
static int lock_refresh(struct sync *s, bool force)
{
	const char *argv[] = { LOCK_KEY, s->lock_value, STR(LOCK_TTL_MS) };
	long long v;

	if (chat_proc_stopping())
		return fail(s, "interrupted by a signal");
	if (!force && chat_now_ms() - s->lock_refreshed < LOCK_REFRESH_MS)
		return 0;
	v = redis_int(s, chat_redis_eval(s->ctx.redis, &lock_script, 1, 3,
					 argv, NULL), "extending the lock");
	if (v == 0)
		return fail(s, "lost the lock " LOCK_KEY " (it expired); "
			    "stopping so that two runs do not overlap");
	s->lock_refreshed = chat_now_ms();
	return v < 0 ? -1 : 0;
}

/* Best effort: when Redis is gone the lock expires by itself. */
static void lock_release(struct sync *s)
{
	const char *argv[] = { LOCK_KEY, s->lock_value, "0" };

	freeReplyObject(chat_redis_eval(s->ctx.redis, &lock_script, 1, 3,
					argv, NULL));
}

/* Markers ------------------------------------------------------------- */

static void ids_add(struct sync_ids *ids, uint64_t app, uint64_t chat)
{
	if (ids->n == ids->cap) {
		ids->cap = ids->cap ? ids->cap * 2 : 1024;
		ids->v = xrealloc(ids->v, ids->cap * sizeof(*ids->v));
	}
	ids->v[ids->n][0] = app;
	ids->v[ids->n][1] = chat;
	ids->n++;
}

static int cmp_ids(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	if (x[0] != y[0])
		return (x[0] > y[0]) - (x[0] < y[0]);
	return (x[1] > y[1]) - (x[1] < y[1]);
}

/* Sort (statements then touch rows in key order) and drop duplicates. */
static void ids_unique(struct sync_ids *ids)
{
	size_t out = 0;

	if (!ids->n)
		return;
	qsort(ids->v, ids->n, sizeof(*ids->v), cmp_ids);
	for (size_t i = 1; i < ids->n; i++)
		if (cmp_ids(ids->v[i], ids->v[out]) != 0)
			memcpy(ids->v[++out], ids->v[i], sizeof(*ids->v));
	ids->n = out + 1;
}

/* "<app>" or "<app>:<chat>"; anything else is reported and skipped. */
static void add_marker(struct sync *s, const char *m, size_t len)
{
	const char *colon = memchr(m, ':', len);
	size_t alen = colon ? (size_t)(colon - m) : len;
	uint64_t app, chat;

	if (chat_parse_u64(m, alen, 1, UINT64_MAX, &app) == 0) {
		if (!colon) {
			ids_add(&s->app_ids, app, 0);
			return;
		}
		if (chat_parse_u64(colon + 1, len - alen - 1, 1, UINT64_MAX,
				   &chat) == 0) {
			ids_add(&s->chat_ids, app, chat);
			return;
		}
	}
	chat_log_warn("skipping a malformed marker of %zu bytes", len);
}

static int read_markers(struct sync *s, const char *key)
{
	char cursor[32] = "0";
	redisReply *reply = NULL;
	int rc = -1;

	s->app_ids.n = s->chat_ids.n = 0;
	do {
		const char *argv[] = { "SSCAN", key, cursor, "COUNT",
				       SCAN_COUNT };
		redisReply *members;

		if (lock_refresh(s, false))
			goto out;
		reply = chat_redis_argv(s->ctx.redis, 5, argv, NULL);
		if (!reply || reply->type != REDIS_REPLY_ARRAY ||
		    reply->elements != 2 ||
		    reply->element[0]->type != REDIS_REPLY_STRING ||
		    reply->element[0]->len >= sizeof(cursor) ||
		    reply->element[1]->type != REDIS_REPLY_ARRAY) {
			redis_fail(s, "reading markers", reply);
			goto out;
		}
		memcpy(cursor, reply->element[0]->str,
		       reply->element[0]->len + 1);
		members = reply->element[1];
		for (size_t i = 0; i < members->elements; i++)
			if (members->element[i]->type == REDIS_REPLY_STRING)
				add_marker(s, members->element[i]->str,
					   members->element[i]->len);
		freeReplyObject(reply);
		reply = NULL;
	} while (strcmp(cursor, "0") != 0);
	ids_unique(&s->app_ids);
	ids_unique(&s->chat_ids);
	rc = 0;
out:
	freeReplyObject(reply);
	return rc;
}

/* Updates ------------------------------------------------------------- */

struct update {
	struct sync *s;
	size_t w;
	struct sync_ids *ids;
	uint64_t *count;
};

/* Keep the lock while the chunks go; 1 when it is lost. */
static int bind_ids(MYSQL_BIND *b, size_t first, size_t n, void *arg)
{
	struct update *u = arg;

	if (lock_refresh(u->s, false))
		return 1;
	for (size_t i = 0; i < n * u->w; i++)
		chat_bind_u64(&b[i], &u->ids->v[first + i / u->w][i % u->w]);
	return 0;
}

static int updated(MYSQL_STMT *stmt, size_t first, size_t n, void *arg)
{
	struct update *u = arg;

	(void)first;
	(void)n;
	*u->count += mysql_stmt_affected_rows(stmt);
	return 0;
}

/*
 * Run "<head> <row>,<row>,... )" over all of `ids`, binding the first `w`
 * values of each (1 or 2) to the placeholders of its row, and add the
 * matched rows to *count (CLIENT_FOUND_ROWS: matched, not changed).
 */
static int update_rows(struct sync *s, const char *head, const char *row,
		       size_t w, struct sync_ids *ids, uint64_t *count,
		       const char *doing)
{
	struct update u = { .s = s, .w = w, .ids = ids, .count = count };
	const struct chat_db_rows q = {
		.head = head, .row = row, .tail = ")", .per_row = w,
		.bind = bind_ids, .ran = updated,
	};
	int rc = chat_db_rows_exec(s->ctx.db, &q, ids->n, &u);

	if (rc < 0)
		return db_fail(s, doing);
	return rc ? -1 : 0;
}

/*
 * Reads inside the UPDATEs below (COUNT(*) of messages and chats) are
 * consistent reads without locks at READ COMMITTED, so the worker's
 * inserts never wait for the sync.  Set again before each batch of work:
 * the handle reconnects by itself and a new session starts at the default.
 */
static const char isolation_sql[] =
	"SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";

static int set_isolation(struct sync *s)
{
	if (chat_db_simple(s->ctx.db, isolation_sql))
		return db_fail(s, "setting the isolation level");
	return 0;
}

static const char chats_head[] =
	"UPDATE chats c SET c.messages_count = "
	"(SELECT COUNT(*) FROM messages m WHERE m.chat_id = c.id) "
	"WHERE (c.application_id, c.number) IN (";
static const char apps_head[] =
	"UPDATE applications a SET a.chats_count = "
	"(SELECT COUNT(*) FROM chats c WHERE c.application_id = a.id) "
	"WHERE a.id IN (";

/* The counters named by the markers just read: chats first. */
static int update_marked(struct sync *s)
{
	if (set_isolation(s) ||
	    update_rows(s, chats_head, "(?,?)", 2, &s->chat_ids, &s->chats,
			"recomputing messages_count") ||
	    update_rows(s, apps_head, "?", 1, &s->app_ids, &s->apps,
			"recomputing chats_count"))
		return -1;
	return 0;
}

static int sync_markers(struct sync *s)
{
	struct chat_buf dirty, taken;
	long long state = 0;
	int rc = -1;

	chat_buf_init(&dirty);
	chat_buf_init(&taken);
	for (unsigned shard = 0; shard < CHAT_SHARDS; shard++) {
		chat_buf_reset(&dirty);
		chat_buf_reset(&taken);
		chat_job_key(&dirty, shard, CHAT_KEY_DIRTY);
		chat_job_key(&taken, shard, CHAT_KEY_DIRTY_TAKEN);
		/* A dead run's leftovers first, then what is dirty now. */
		do {
			const char *keys[] = { dirty.data, taken.data };
			const char *del[] = { "DEL", taken.data };

			if (lock_refresh(s, false))
				goto out;
			state = redis_int(s, chat_redis_eval(s->ctx.redis,
				&take_script, 2, 2, keys, NULL),
				"taking markers");
			if (state <= 0)
				break;
			/*
			 * A fresh TTL just before the DEL: no other run can
			 * have started on this taken set.
			 */
			if (read_markers(s, taken.data) || update_marked(s) ||
			    lock_refresh(s, true) ||
			    redis_int(s, chat_redis_argv(s->ctx.redis, 2, del,
							 NULL),
				      "deleting taken markers") < 0)
				goto out;
		} while (state == 2);
		if (state < 0)
			goto out;
	}
	rc = 0;
out:
	chat_buf_release(&dirty);
	chat_buf_release(&taken);
	return rc;
}

/* --all ---------------------------------------------------------------- */

static const char chats_next_sql[] =
	"SELECT COALESCE(MAX(id), 0) FROM (SELECT id FROM chats WHERE id > ? "
	"ORDER BY id LIMIT " STR(ALL_BATCH) ") t";
static const char chats_range_sql[] =
	"UPDATE chats c SET c.messages_count = "
	"(SELECT COUNT(*) FROM messages m WHERE m.chat_id = c.id) "
	"WHERE c.id > ? AND c.id <= ?";
static const char apps_next_sql[] =
	"SELECT COALESCE(MAX(id), 0) FROM (SELECT id FROM applications "
	"WHERE id > ? ORDER BY id LIMIT " STR(ALL_BATCH) ") t";
static const char apps_range_sql[] =
	"UPDATE applications a SET a.chats_count = "
	"(SELECT COUNT(*) FROM chats c WHERE c.application_id = a.id) "
	"WHERE a.id > ? AND a.id <= ?";

/*
 * Walk a table by primary key: find the id ALL_BATCH rows further on,
 * recompute the rows up to it in one short statement, repeat.
 */
static int walk(struct sync *s, const char *next_sql, const char *range_sql,
		uint64_t *count, const char *doing)
{
	uint64_t lo = 0, hi;
	MYSQL_BIND p[2], r[1];
	MYSQL_STMT *stmt;
	int rc;

	for (;;) {
		if (lock_refresh(s, false) || set_isolation(s))
			return -1;
		chat_bind_u64(&p[0], &lo);
		chat_bind_u64(&r[0], &hi);
		hi = 0;
		rc = chat_db_get_row(s->ctx.db, next_sql, p, r);
		if (rc < 0)
			return db_fail(s, doing);
		if (rc == 0 || hi == 0)
			return 0;
		chat_bind_u64(&p[0], &lo);
		chat_bind_u64(&p[1], &hi);
		stmt = chat_db_exec(s->ctx.db, range_sql, p, NULL);
		if (!stmt)
			return db_fail(s, doing);
		*count += mysql_stmt_affected_rows(stmt);
		lo = hi;
	}
}

/* Chats, then applications; the markers are left for the next run. */
static int sync_all(struct sync *s)
{
	if (walk(s, chats_next_sql, chats_range_sql, &s->chats,
		 "recomputing messages_count") ||
	    walk(s, apps_next_sql, apps_range_sql, &s->apps,
		 "recomputing chats_count"))
		return -1;
	return 0;
}

/* main ----------------------------------------------------------------- */

static const char usage[] =
	"usage: sync [--all]\n"
	"Recompute chats_count and messages_count of what is marked dirty in\n"
	"Redis (hourly, from cron); --all recomputes every chat and application\n"
	"(markers are left for the next run).  Settings: the CHAT_MYSQL_* and\n"
	"CHAT_REDIS_* variables.  Exit 0 also when another run holds the lock;\n"
	"1 on failure.\n";

int main(int argc, char **argv)
{
	struct sync s;
	bool all = false;
	double start = chat_now_ms();
	int locked, rc = 1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return fputs(usage, stdout) < 0;
		if (strcmp(argv[i], "--all") != 0) {
			fprintf(stderr, "sync: unknown argument '%s'\n%s",
				argv[i], usage);
			return 2;
		}
		all = true;
	}
	memset(&s, 0, sizeof(s));
	chat_proc_init(CHAT_PROC_HUP);

	chat_ctx_init(&s.ctx, "sync");
	chat_config_for_jobs(&s.ctx.cfg);
	chat_buf_init(&s.err);

	locked = lock_acquire(&s);
	if (locked == 0) {
		printf("sync: another run is in progress; nothing done\n");
		rc = 0;
		goto out;
	}
	if (locked < 0)
		goto out;
	/* Fail here, not later, when MariaDB is down and no marker waits. */
	if (set_isolation(&s) == 0 &&
	    (all ? sync_all(&s) : sync_markers(&s)) == 0) {
		printf("sync: %llu applications and %llu chats updated "
		       "in %.2fs\n", (unsigned long long)s.apps,
		       (unsigned long long)s.chats,
		       (chat_now_ms() - start) / 1e3);
		rc = 0;
	}
	lock_release(&s);
out:
	if (rc)
		fprintf(stderr, "sync: %s\n",
			s.err.len ? s.err.data : "failed");
	if (fflush(stdout) != 0 && rc == 0) {
		fprintf(stderr, "sync: cannot write the summary\n");
		rc = 1;
	}
	free(s.app_ids.v);
	free(s.chat_ids.v);
	chat_buf_release(&s.err);
	chat_ctx_release(&s.ctx);
	return rc;
}
