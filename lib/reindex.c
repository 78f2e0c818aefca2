/*
 * reindex.c - the rebuild of the search index (reindex.h).
 */
#include "reindex.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "buf.h"
#include "bulk.h"
#include "chats.h"
#include "clock.h"
#include "ctx.h"
#include "db.h"
#include "es.h"
#include "log.h"
#include "messages.h"
#include "proc.h"
#include "search.h"
#include "text.h"
#include "xalloc.h"

#define BULK_TRIES 5
/* updated_at is the UPDATE statement's start, in whole seconds. */
#define EDIT_SLACK_S 2
#define STAGE_SUFFIX "-rebuild"

/* The key of a copied row, as stored in the temporary files. */
struct rec {
	uint64_t id, app, chat, number;
};

/* A row read from MariaDB; the body (when read) is in the batch arena. */
struct row {
	struct rec k;
	uint64_t chat_id;
	int64_t created_at, updated_at;
	bool has_body;
	size_t off, len;
};

struct chat_reindex {
	struct chat_ctx ctx;
	struct chat_config stage_cfg;	/* es_index = the staging alias */
	struct chat_es *stage;		/* writes into the new index */
	struct chat_buf stage_alias;
	struct chat_buf es_url;		/* CHAT_ES_URL without credentials */
	char *old, *new;
	bool swapped;			/* the alias is on the new index */
	bool unsure;			/* it may be: keep the new index */
	bool caught_up;			/* and holds all changes */
	unsigned batch, pause_ms;
	struct row *rows;
	struct chat_buf arena;		/* bodies of the batch */
	struct chat_bulk put, add;	/* replace; create only */
	struct chat_message msg;
	uint64_t (*wiped)[2];		/* chats deleted whole, (app, number) */
	size_t nwiped;
	uint64_t copied, added, updated, removed, refused;
	struct chat_buf refused_why;	/* the engine's word on the first */
	/* progress */
	bool tty;
	const char *phase;
	uint64_t done, total;
	double phase_start, shown_at;
	struct chat_buf err;
};

/* Record the first error; later ones are consequences. */
__attribute__((format(printf, 2, 3)))
static int fail(struct chat_reindex *r, const char *fmt, ...)
{
	va_list ap;

	if (r->err.len == 0) {
		va_start(ap, fmt);
		chat_buf_vaddf(&r->err, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int db_fail(struct chat_reindex *r, const char *what)
{
	return fail(r, "MariaDB (%s:%u), %s: %s", r->ctx.cfg.mysql_host,
		    r->ctx.cfg.mysql_port, what, r->ctx.db->errstr);
}

static int es_fail(struct chat_reindex *r, struct chat_es *es, const char *what)
{
	return fail(r, "search engine (%s), %s: %s", r->es_url.data, what,
		    es->errstr);
}

static bool interrupted(struct chat_reindex *r)
{
	if (chat_proc_stopping())
		fail(r, "interrupted");
	return chat_proc_stopping();
}

/* Progress ------------------------------------------------------------ */

static void clock_text(char *out, size_t cap, double s)
{
	unsigned long t = s > 0 && s < 1e8 ? (unsigned long)(s + 0.5) : 0;

	snprintf(out, cap, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
}

static void phase_begin(struct chat_reindex *r, const char *phase,
			uint64_t total)
{
	r->phase = phase;
	r->done = 0;
	r->total = total;
	r->phase_start = chat_now_ms();
	r->shown_at = 0;
}

/* The \r-updated line, at most five times a second, on a terminal only. */
static void progress(struct chat_reindex *r, bool last)
{
	double now = chat_now_ms(), secs = (now - r->phase_start) / 1e3;
	double rate = secs > 0 ? (double)r->done / secs : 0;
	uint64_t total = r->done > r->total ? r->done : r->total;
	char left[32];

	if (!r->tty || (!last && now - r->shown_at < 200))
		return;
	r->shown_at = now;
	clock_text(left, sizeof(left),
		   rate > 0 ? (double)(total - r->done) / rate : 0);
	fprintf(stderr, "\r\033[Kreindex: %s %llu/%llu (%.0f%%), %.0f/s, "
		"%s left%s", r->phase, (unsigned long long)r->done,
		(unsigned long long)total,
		total ? 100.0 * (double)r->done / (double)total : 100.0, rate,
		left, last ? "\n" : "");
	fflush(stderr);
}

/* Key files ----------------------------------------------------------- */

static int put_rec(struct chat_reindex *r, FILE *f, const struct rec *k)
{
	if (fwrite(k, sizeof(*k), 1, f) != 1)
		return fail(r, "temporary file: write failed (disk full?)");
	return 0;
}

/* 1 with *k read, 0 at the end, -1 on error. */
static int get_rec(struct chat_reindex *r, FILE *f, struct rec *k)
{
	if (fread(k, sizeof(*k), 1, f) == 1)
		return 1;
	return ferror(f) ? fail(r, "temporary file: read failed") : 0;
}

/* Writing documents --------------------------------------------------- */

/*
 * Send what waits.  A request that fails is retried, and so are the
 * documents the engine did not take; those it still refuses after
 * BULK_TRIES are skipped and counted, as the worker dead-letters them:
 * one bad document must not stop the rebuild.
 */
static int sink_flush(struct chat_reindex *r, struct chat_bulk *s)
{
	int rc = -1;

	if (s->n == 0)
		return 0;
	for (unsigned t = 0; t < BULK_TRIES && !interrupted(r); t++) {
		size_t k;

		if (t)
			chat_sleep_ms(500U << t);
		if (chat_bulk_send(s, r->stage))
			continue;
		k = chat_bulk_keep_failed(s);
		if (k > 0 && t + 1 == BULK_TRIES) {
			if (r->refused == 0)
				chat_buf_adds(&r->refused_why,
					      r->stage->errstr);
			r->refused += k;
			k = 0;
		}
		if (k == 0) {
			rc = 0;
			break;
		}
	}
	if (rc && !chat_proc_stopping())
		es_fail(r, r->stage, "indexing");
	chat_bulk_reset(s);
	return rc;
}

/* Queue one document; body[0..len) is copied. */
static int sink_add(struct chat_reindex *r, struct chat_bulk *s,
		    const struct rec *k, const char *body, size_t len,
		    int64_t created, int64_t updated)
{
	struct chat_search_doc doc = {
		.app = k->app, .chat = k->chat, .number = k->number,
		.body = body, .body_len = len, .created_at = created,
		.updated_at = updated,
	};

	chat_bulk_add(s, &doc, 0);
	if (chat_bulk_bytes(s) >= CHAT_BULK_MAX_BYTES || s->n >= CHAT_REINDEX_BATCH_MAX)
		return sink_flush(r, s);
	return 0;
}

static int row_to(struct chat_reindex *r, struct chat_bulk *s, const struct row *d)
{
	return sink_add(r, s, &d->k, r->arena.data + d->off, d->len,
			d->created_at, d->updated_at);
}

/* Was chat (app, number) deleted whole during this run? */
static bool wiped(const struct chat_reindex *r, uint64_t app, uint64_t chat)
{
	for (size_t i = 0; i < r->nwiped; i++)
		if (r->wiped[i][0] == app && r->wiped[i][1] == chat)
			return true;
	return false;
}

/*
 * The row of key `k` is gone.  When its chat is gone too (a chat delete
 * removes its messages in batches), one delete-by-query takes all of its
 * documents instead of one request each.
 */
static int gone(struct chat_reindex *r, const struct rec *k)
{
	struct chat_chat chat;
	int found;

	r->removed++;
	if (wiped(r, k->app, k->chat))
		return 0;
	found = chat_chats_get(r->ctx.db, k->app, k->chat, &chat);
	if (found < 0)
		return db_fail(r, "reading a chat");
	if (found) {
		if (chat_search_delete_message(r->stage, k->app, k->chat,
					       k->number))
			return es_fail(r, r->stage, "deleting a message");
		return 0;
	}
	if (chat_search_delete_chat(r->stage, k->app, k->chat))
		return es_fail(r, r->stage, "deleting a chat's messages");
	r->wiped = xrealloc(r->wiped, (r->nwiped + 1) * sizeof(*r->wiped));
	r->wiped[r->nwiped][0] = k->app;
	r->wiped[r->nwiped][1] = k->chat;
	r->nwiped++;
	return 0;
}

/* Reading MariaDB ----------------------------------------------------- */

#define ROW_COLUMNS "m.id, c.application_id, c.number, m.number, m.chat_id, " \
	"UNIX_TIMESTAMP(m.created_at), UNIX_TIMESTAMP(m.updated_at), "
/*
 * STRAIGHT_JOIN: walk messages in id order, never sort the whole join.
 * The rows are stored by (chat_id, number) (sql/006): id order is its
 * unique key's, forced so that a batch never becomes a scan and sort.
 */
#define ROW_FROM " FROM messages m FORCE INDEX (uq_messages_id) " \
	"STRAIGHT_JOIN chats c ON c.id = m.chat_id "

/* Params: after id, up to id, limit. */
static const char copy_sql[] =
	"SELECT " ROW_COLUMNS "m.body" ROW_FROM
	"WHERE m.id > ? AND m.id <= ? ORDER BY m.id LIMIT ?";

/*
 * Params: bodies of ids above, bodies of rows updated since, after id,
 * limit.  Other rows come without their body (NULL).
 */
static const char check_sql[] =
	"SELECT " ROW_COLUMNS
	"IF(m.id > ? OR m.updated_at >= FROM_UNIXTIME(?), m.body, NULL)"
	ROW_FROM "WHERE m.id > ? ORDER BY m.id LIMIT ?";

/*
 * Run `sql` with `params` and read the rows into r->rows (bodies into
 * r->arena).  Returns how many, or -1.
 */
static long fetch(struct chat_reindex *r, const char *sql, MYSQL_BIND *params)
{
	struct row d;
	char *body = xmalloc(CHAT_BODY_MAX_BYTES + 1);
	unsigned long body_len = 0;
	my_bool body_null = 0;
	MYSQL_BIND res[8];
	MYSQL_STMT *st;
	long n = 0;
	int rc;

	chat_buf_reset(&r->arena);
	chat_bind_u64(&res[0], &d.k.id);
	chat_bind_u64(&res[1], &d.k.app);
	chat_bind_u64(&res[2], &d.k.chat);
	chat_bind_u64(&res[3], &d.k.number);
	chat_bind_u64(&res[4], &d.chat_id);
	chat_bind_i64(&res[5], &d.created_at);
	chat_bind_i64(&res[6], &d.updated_at);
	chat_bind_out(&res[7], body, CHAT_BODY_MAX_BYTES + 1, &body_len);
	res[7].is_null = &body_null;
	st = chat_db_exec(r->ctx.db, sql, params, res);
	if (!st) {
		free(body);
		return db_fail(r, "reading messages");
	}
	while ((rc = mysql_stmt_fetch(st)) == 0) {
		d.has_body = !body_null;
		d.off = r->arena.len;
		d.len = d.has_body ? body_len : 0;
		if (d.len > CHAT_BODY_MAX_BYTES)
			break;	/* cannot be: the column is a TEXT */
		chat_buf_add(&r->arena, body, d.len);
		r->rows[n++] = d;
	}
	chat_db_done(st);
	free(body);
	if (rc != MYSQL_NO_DATA)
		return fail(r, "MariaDB: reading messages: %s",
			    rc == MYSQL_DATA_TRUNCATED
				    ? "a body over 65535 bytes"
				    : mysql_stmt_error(st));
	return n;
}

static int db_snapshot(struct chat_reindex *r, int64_t *now, uint64_t *max_id,
		       uint64_t *count)
{
	static const char sql[] =
		"SELECT UNIX_TIMESTAMP(), COALESCE(MAX(id), 0), COUNT(*) "
		"FROM messages";
	MYSQL_BIND res[3];

	chat_bind_i64(&res[0], now);
	chat_bind_u64(&res[1], max_id);
	chat_bind_u64(&res[2], count);
	if (chat_db_get_row(r->ctx.db, sql, NULL, res) != 1)
		return db_fail(r, "reading the messages table");
	return 0;
}

/* The passes ---------------------------------------------------------- */

/* Step 3: every row up to max_id into the new index; keys to `out`. */
static int copy_all(struct chat_reindex *r, uint64_t max_id, uint64_t total,
		    FILE *out)
{
	uint64_t last = 0, lim = r->batch;
	MYSQL_BIND p[3];
	long n;

	phase_begin(r, "copy", total);
	chat_bind_u64(&p[0], &last);
	chat_bind_u64(&p[1], &max_id);
	chat_bind_u64(&p[2], &lim);
	while ((n = fetch(r, copy_sql, p)) > 0) {
		for (long i = 0; i < n; i++)
			if (row_to(r, &r->put, &r->rows[i]) ||
			    put_rec(r, out, &r->rows[i].k))
				return -1;
		if (sink_flush(r, &r->put) || interrupted(r))
			return -1;
		last = r->rows[n - 1].k.id;
		r->copied += (uint64_t)n;
		r->done += (uint64_t)n;
		progress(r, false);
		if (r->pause_ms)
			chat_sleep_ms(r->pause_ms);
	}
	progress(r, true);
	return n < 0 ? -1 : 0;
}

/* A row missing from the key file: index it (its body read if needed). */
static int add_row(struct chat_reindex *r, const struct row *d, FILE *out)
{
	int found;

	if (d->has_body) {
		if (row_to(r, &r->add, d))
			return -1;
	} else {
		/* Committed late, below the ids whose bodies were read. */
		found = chat_messages_get_by_chat_id(r->ctx.db, d->chat_id,
						     d->k.number, &r->msg);
		if (found < 0)
			return db_fail(r, "reading a message");
		if (found == 0)
			return 0;	/* deleted since */
		if (sink_add(r, &r->add, &d->k, r->msg.body.data,
			     r->msg.body.len, r->msg.created_at,
			     r->msg.updated_at))
			return -1;
	}
	r->added++;
	return put_rec(r, out, &d->k);
}

static bool same_doc(const struct rec *a, const struct rec *b)
{
	return a->app == b->app && a->chat == b->chat &&
	       a->number == b->number;
}

/*
 * Steps 4 and 6: bring the new index in line with MariaDB, given `in`,
 * the keys indexed so far (ids up to *covered, in order), and `since`,
 * the time from which edits are to be redone.  Writes the keys indexed
 * afterwards to `out`; *covered becomes the highest id seen.
 */
static int reconcile(struct chat_reindex *r, const char *phase, FILE *in,
		     FILE *out, uint64_t *covered, int64_t since)
{
	uint64_t last = 0, lim = r->batch, above = *covered;
	int64_t from = since - EDIT_SLACK_S;
	MYSQL_BIND p[4];
	struct rec f;
	int have;
	long n;

	phase_begin(r, phase, r->copied + r->added - r->removed);
	chat_bind_u64(&p[0], &above);
	chat_bind_i64(&p[1], &from);
	chat_bind_u64(&p[2], &last);
	chat_bind_u64(&p[3], &lim);
	if ((have = get_rec(r, in, &f)) < 0)
		return -1;
	while ((n = fetch(r, check_sql, p)) > 0) {
		for (long i = 0; i < n; i++) {
			const struct row *d = &r->rows[i];

			for (; have > 0 && f.id < d->k.id;
			     have = get_rec(r, in, &f))
				if (gone(r, &f))
					return -1;
			if (have > 0 && f.id == d->k.id &&
			    same_doc(&f, &d->k)) {
				/* Indexed already; its body read: edited. */
				if (d->has_body) {
					if (row_to(r, &r->put, d))
						return -1;
					r->updated++;
				}
				if (put_rec(r, out, &d->k))
					return -1;
			} else {
				/* f.id == id: an id reused for another key. */
				if (have > 0 && f.id == d->k.id &&
				    gone(r, &f))
					return -1;
				if (add_row(r, d, out))
					return -1;
			}
			if (have > 0 && f.id == d->k.id)
				have = get_rec(r, in, &f);
			if (have < 0)
				return -1;
		}
		if (sink_flush(r, &r->put) || sink_flush(r, &r->add) ||
		    interrupted(r))
			return -1;
		last = r->rows[n - 1].k.id;
		r->done += (uint64_t)n;
		progress(r, false);
	}
	if (n < 0)
		return -1;
	for (; have > 0; have = get_rec(r, in, &f))
		if (gone(r, &f))
			return -1;
	if (have < 0)
		return -1;
	progress(r, true);
	if (last > *covered)
		*covered = last;
	return 0;
}

/* The engine, beyond lib/search ---------------------------------------- */

/* `method` /<index><suffix>; 404 counts as done when `gone_ok`. */
static int es_call(struct chat_reindex *r, const char *method, const char *index,
		   const char *suffix, bool gone_ok)
{
	if (chat_search_index_call(r->ctx.es, method, index, suffix, gone_ok))
		return es_fail(r, r->ctx.es, method);
	return 0;
}

/* The one index holding `alias` in *index (NULL when none).  0 or -1. */
static int alias_index(struct chat_reindex *r, const char *alias, char **index)
{
	if (chat_search_alias_index(r->ctx.es, alias, index))
		return es_fail(r, r->ctx.es, "looking up the alias");
	return 0;
}

/* Step 2, with a clear word when another rebuild holds the lock. */
static int create_new(struct chat_reindex *r)
{
	char *holder = NULL;

	/*
	 * No replicas while copying: every document would be indexed once
	 * per copy.  They are made once, from the finished primaries, before
	 * the swap (swap()).
	 */
	if (chat_search_create_index(r->ctx.es, r->stage_alias.data, 0,
				     &r->new) == 0)
		return 0;
	es_fail(r, r->ctx.es, "creating the new index");
	if (alias_index(r, r->stage_alias.data, &holder) != 0 || !holder) {
		free(holder);
		return -1;
	}
	chat_buf_reset(&r->err);
	/* The serving index itself: a rebuild died after its swap. */
	if (r->old && strcmp(holder, r->old) == 0)
		fail(r, "the serving index %s still holds the alias %s: a "
		     "rebuild is finishing, or one died after its swap; if "
		     "none runs, remove that alias only (curl -X DELETE "
		     "%s/%s/_alias/%s) and try again", holder,
		     r->stage_alias.data, r->es_url.data, holder,
		     r->stage_alias.data);
	else
		fail(r, "index %s holds the alias %s: another rebuild is "
		     "running, or one died; if none runs, delete that index "
		     "(curl -X DELETE %s/%s) and try again", holder,
		     r->stage_alias.data, r->es_url.data, holder);
	free(holder);
	return -1;
}

/*
 * Step 5.  A swap whose answer was lost may have happened: ask where the
 * alias is before deciding that it failed (and deleting the new index).
 */
static int swap(struct chat_reindex *r)
{
	const char *alias = r->ctx.cfg.es_index;
	unsigned replicas = r->ctx.cfg.es_replicas;
	unsigned wait_s = r->ctx.cfg.batch_timeout_ms / 1000;
	char *now = NULL;
	int green;

	/*
	 * CHAT_ES_REPLICAS, as the index being replaced has them, and time
	 * to copy them, so that the new index serves with every copy.  Copies
	 * that a cluster cannot place (fewer nodes than copies) are left to
	 * it: the index serves from its primaries meanwhile.
	 */
	if (replicas) {
		green = chat_search_set_replicas(r->ctx.es, r->new, replicas,
						 wait_s);
		if (green < 0)
			return es_fail(r, r->ctx.es, "adding the replicas");
		if (green > 0)
			chat_log_warn("reindex: %s: %u replicas not all "
				      "allocated after %u s; swapping anyway",
				      r->new, replicas, wait_s);
	}
	if (es_call(r, "POST", r->new, "/_refresh", false))
		return -1;
	if (chat_search_swap_alias(r->ctx.es, r->new, r->old) == 0) {
		r->swapped = true;
		return 0;
	}
	es_fail(r, r->ctx.es, "moving the alias");
	if (alias_index(r, alias, &now)) {
		r->unsure = true;
		chat_buf_addf(&r->err, "; whether the alias moved to %s is "
			      "unknown: see %s/_alias/%s, then delete by hand "
			      "the one of %s and %s it is not on",
			      r->new, r->es_url.data, alias, r->new,
			      r->old ? r->old : "(no old index)");
	} else if (now && strcmp(now, r->new) == 0) {
		chat_buf_reset(&r->err);	/* the answer was lost */
		r->swapped = true;
	} else if (r->old && (!now || strcmp(now, r->old) != 0)) {
		chat_buf_reset(&r->err);
		fail(r, "the alias %s left %s during the rebuild (now on %s): "
		     "another rebuild?", alias, r->old, now ? now : "none");
	}
	free(now);
	return r->swapped ? 0 : -1;
}

/* Steps 1 to 7 (reindex.h).  Returns 0, or -1 with r->err saying why. */
static int rebuild(struct chat_reindex *r)
{
	const char *alias = r->ctx.cfg.es_index;
	FILE *keys = NULL, *next = NULL;
	int64_t t0, t1;
	uint64_t max_id, total, covered, ignored;
	int rc = -1;

	if (alias_index(r, alias, &r->old) ||
	    db_snapshot(r, &t0, &max_id, &total) || create_new(r))
		goto out;
	keys = tmpfile();
	next = tmpfile();
	if (!keys || !next) {
		fail(r, "cannot create a temporary file in /tmp");
		goto out;
	}
	covered = max_id;
	/*
	 * t1: MariaDB's clock before the check; the catch-up redoes the
	 * edits made since.
	 */
	if (copy_all(r, max_id, total, keys) ||
	    db_snapshot(r, &t1, &ignored, &ignored))
		goto out;
	rewind(keys);
	if (reconcile(r, "check", keys, next, &covered, t0) || swap(r))
		goto out;
	rewind(next);
	fclose(keys);
	if ((keys = tmpfile()) == NULL) {
		fail(r, "cannot create a temporary file in /tmp");
		goto out;
	}
	if (reconcile(r, "catch-up", next, keys, &covered, t1) ||
	    es_call(r, "POST", r->new, "/_refresh", false))
		goto out;
	r->caught_up = true;
	if (chat_search_swap_alias(r->stage, NULL, r->new)) {
		es_fail(r, r->stage, "dropping the staging alias");
		goto out;
	}
	if (r->old && es_call(r, "DELETE", r->old, "", true)) {
		fail(r, "the new index %s serves; deleting the old index %s "
		     "failed, delete it by hand", r->new, r->old);
		goto out;
	}
	rc = 0;
out:
	if (keys)
		fclose(keys);
	if (next)
		fclose(next);
	/* Before the swap nothing reads the new index: drop it and the lock. */
	if (rc && r->new && !r->swapped && !r->unsure)
		es_call(r, "DELETE", r->new, "", true);
	else if (rc && r->swapped)
		chat_search_swap_alias(r->stage, NULL, r->new);
	return rc;
}

/* The program ---------------------------------------------------------- */

struct chat_reindex *chat_reindex_new(unsigned batch, unsigned pause_ms)
{
	struct chat_reindex *r = xcalloc(1, sizeof(*r));

	r->batch = batch;
	r->pause_ms = pause_ms;
	chat_ctx_init(&r->ctx, "reindex");
	chat_config_for_jobs(&r->ctx.cfg);
	chat_ctx_use_search(&r->ctx);
	chat_buf_init(&r->stage_alias);
	chat_buf_init(&r->es_url);
	chat_config_url_shown(r->ctx.cfg.es_url, &r->es_url);
	chat_buf_init(&r->arena);
	chat_buf_init(&r->err);
	chat_buf_init(&r->refused_why);
	chat_message_init(&r->msg);
	chat_bulk_init(&r->put, false);
	chat_bulk_init(&r->add, true);
	r->tty = isatty(STDERR_FILENO);
	r->rows = xcalloc(r->batch, sizeof(*r->rows));
	chat_buf_addf(&r->stage_alias, "%s" STAGE_SUFFIX,
		      r->ctx.cfg.es_index ? r->ctx.cfg.es_index : "");
	r->stage_cfg = r->ctx.cfg;
	r->stage_cfg.es_index = r->stage_alias.data;
	r->stage = chat_es_new(&r->stage_cfg);
	return r;
}

int chat_reindex_run(struct chat_reindex *r)
{
	double start = chat_now_ms(), secs;
	int rc;

	rc = rebuild(r);
	secs = (chat_now_ms() - start) / 1e3;
	if (rc == 0) {
		printf("reindex: %llu messages copied into %s in %.1fs "
		       "(%.0f/s); %llu added, %llu updated, %llu removed "
		       "meanwhile; %llu writes refused; alias %s moved from "
		       "%s\n",
		       (unsigned long long)r->copied, r->new, secs,
		       secs > 0 ? (double)r->copied / secs : 0.0,
		       (unsigned long long)r->added,
		       (unsigned long long)r->updated,
		       (unsigned long long)r->removed,
		       (unsigned long long)r->refused, r->ctx.cfg.es_index,
		       r->old ? r->old : "(none)");
		if (r->refused)
			fprintf(stderr, "reindex: warning: the search engine "
				"refused %llu writes, whose messages are left "
				"out of the index (first: %s)\n",
				(unsigned long long)r->refused,
				r->refused_why.data);
		if (fflush(stdout) != 0) {
			fprintf(stderr, "reindex: cannot write the summary\n");
			rc = -1;
		}
	} else {
		if (r->tty && r->phase)
			fputc('\n', stderr);
		fprintf(stderr, "reindex: %s\n",
			r->err.len ? r->err.data : "failed");
		if (r->swapped && !r->caught_up)
			fprintf(stderr, "reindex: the alias %s is on the new "
				"index %s, which may miss changes made during "
				"the rebuild: run reindex again%s%s%s\n",
				r->ctx.cfg.es_index, r->new,
				r->old ? "; then delete the old index " : "",
				r->old ? r->old : "", r->old ? " by hand" : "");
		else if (r->new && !r->unsure)
			fprintf(stderr, "reindex: nothing changed; %s still "
				"serves\n", r->old ? r->old : "no index");
	}
	return rc;
}

void chat_reindex_free(struct chat_reindex *r)
{
	if (!r)
		return;
	free(r->old);
	free(r->new);
	free(r->rows);
	free(r->wiped);
	chat_bulk_release(&r->put);
	chat_bulk_release(&r->add);
	chat_message_release(&r->msg);
	chat_buf_release(&r->arena);
	chat_buf_release(&r->stage_alias);
	chat_buf_release(&r->es_url);
	chat_buf_release(&r->err);
	chat_buf_release(&r->refused_why);
	chat_es_free(r->stage);
	chat_ctx_release(&r->ctx);
	free(r);
}
