/*
 * test_indexer.c - the index streams (lib/indexer.h) end to end: entries
 * written into chat:{sK}:index by hand, against the private stack's
 * worker, MariaDB and search engine, checked through the API's search.
 *
 *   an entry brings documents in line with the rows as they are now
 *   (rows edited or deleted behind the API); a "new" entry never replaces
 *   a document that is already indexed, a plain one does; a whole-chat
 *   entry removes the chat's documents; malformed entries are
 *   dead-lettered without holding back the entries behind them; an entry
 *   whose documents take several _bulk requests is applied whole and only
 *   then acknowledged, and stays pending while the engine refuses the
 *   writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "buf.h"
#include "client.h"
#include "indexer.h"
#include "job.h"
#include "queue.h"
#include "support_search.h"
#include "xalloc.h"

static void shared_lock(void)
{
	tlock(false);
}

TestSuite(indexer, .init = shared_lock, .timeout = 120);

#define WAIT_MS 10000

/* XADD an index entry for application `app`: fields m (and new). */
static char *add_entry(uint64_t app, const char *m, bool created)
{
	struct chat_buf key;
	redisReply *r;
	char *id;

	chat_buf_init(&key);
	chat_job_key(&key, chat_queue_shard(app), CHAT_STREAM_INDEX);
	if (created)
		r = tredis("XADD %s * m %s new 1", key.data, m);
	else if (m)
		r = tredis("XADD %s * m %s", key.data, m);
	else
		r = tredis("XADD %s * junk 1", key.data);
	cr_assert_eq(r->type, REDIS_REPLY_STRING, "XADD %s", key.data);
	id = xstrdup(r->str);
	freeReplyObject(r);
	chat_buf_release(&key);
	return id;
}

/* The entry text for messages numbers[0..n) of chat c (n 0: all of it). */
static char *group(const struct tchat *c, const uint64_t *numbers, size_t n)
{
	struct chat_buf m;

	chat_buf_init(&m);
	chat_index_add_group(&m, tapp_id(c->token), c->number, numbers, n);
	return chat_buf_detach(&m, NULL);
}

static void wait_search(const struct tchat *c, const char *q,
			const uint64_t *want, size_t n)
{
	cr_assert_geq(tsearch_wait(c, q, want, n, WAIT_MS), 0,
		      "search '%s' in %s: not as expected after %d ms", q,
		      c->messages, WAIT_MS);
}

/* The message's document, replaced behind everyone's back. */
static void put_doc(const struct tchat *c, uint64_t number, const char *body)
{
	const char *alias = getenv("CHAT_ES_INDEX");
	uint64_t app = tapp_id(c->token);
	char *path = http_path("/%s/_doc/%llu-%llu-%llu?refresh=true",
			       alias && *alias ? alias : "messages",
			       (unsigned long long)app,
			       (unsigned long long)c->number,
			       (unsigned long long)number);
	char *doc = http_path("{\"app\":%llu,\"chat\":%llu,\"number\":%llu,"
			      "\"body\":\"%s\",\"created_at\":1,"
			      "\"updated_at\":1}",
			      (unsigned long long)app,
			      (unsigned long long)c->number,
			      (unsigned long long)number, body);
	long status = tes_request("PUT", path, doc);

	cr_assert(status == 200 || status == 201, "PUT %s: %ld", path,
		  status);
	free(path);
	free(doc);
}

/* Edit (body) or delete (NULL) a message in MariaDB only. */
static void sql_message(const struct tchat *c, uint64_t number,
			const char *body)
{
	char *app = http_path("%llu", (unsigned long long)tapp_id(c->token));
	char *chat = http_path("%llu", (unsigned long long)c->number);
	char *num = http_path("%llu", (unsigned long long)number);
	int64_t n;

	if (body)
		n = tdb_exec("UPDATE messages m JOIN chats c ON c.id = m.chat_id "
			     "SET m.body = ? WHERE c.application_id = ? "
			     "AND c.number = ? AND m.number = ?",
			     body, app, chat, num, NULL);
	else
		n = tdb_exec("DELETE m FROM messages m JOIN chats c "
			     "ON c.id = m.chat_id WHERE c.application_id = ? "
			     "AND c.number = ? AND m.number = ?",
			     app, chat, num, NULL);
	cr_assert_eq(n, 1, "message %s of %s not changed in MariaDB", num,
		     c->messages);
	free(app);
	free(chat);
	free(num);
}

/* A chat with messages "<word> one", "<word> two", ... all searchable. */
static void chat_with(struct tchat *c, const char *name, const char *word,
		      size_t n, uint64_t *numbers)
{
	char bodies[8][64];
	const char *list[9];

	cr_assert_leq(n, 8);
	tchat_new(c, NULL, name);
	for (size_t i = 0; i < n; i++) {
		snprintf(bodies[i], sizeof(bodies[i]), "%s number%zu", word,
			 i + 1);
		list[i] = bodies[i];
	}
	list[n] = NULL;
	tchat_post_all(c, list, numbers);
	wait_search(c, word, numbers, n);
}

Test(indexer, an_entry_applies_the_rows_as_they_are_now)
{
	struct tchat c;
	uint64_t nums[3];
	char *m, *id;

	chat_with(&c, "indexer rows", "quokka", 3, nums);
	/* Behind the API: an edit and a delete nobody told the index of. */
	sql_message(&c, nums[0], "wombat edited");
	sql_message(&c, nums[1], NULL);
	cr_assert(tsearch_is(&c, "quokka", nums, 3),
		  "the index changed before any entry said so");
	m = group(&c, nums, 2);
	id = add_entry(tapp_id(c.token), m, false);
	wait_search(&c, "wombat", nums, 1);
	wait_search(&c, "quokka", nums + 2, 1);
	free(m);
	free(id);
	tchat_free(&c);
}

/*
 * The indexer applies a shard's entries in order, so once an entry added
 * after it shows, a "new" entry was applied.  (The stack runs one worker,
 * hence one consumer of the index streams.)
 */
Test(indexer, a_new_entry_leaves_an_indexed_document_alone)
{
	struct tchat c, marker;
	uint64_t nums[1], mnums[1];
	char *m, *mm;

	chat_with(&c, "indexer create only", "capybara", 1, nums);
	tchat_new(&marker, c.token, "indexer create only marker");
	mnums[0] = tchat_post(&marker, "tapir first");
	wait_search(&marker, "tapir", mnums, 1);
	/* A newer version indexed meanwhile (as a PATCH does). */
	put_doc(&c, nums[0], "armadillo");
	sql_message(&marker, mnums[0], "okapi second");
	m = group(&c, nums, 1);
	mm = group(&marker, mnums, 1);
	free(add_entry(tapp_id(c.token), m, true));
	free(add_entry(tapp_id(c.token), mm, false));
	wait_search(&marker, "okapi", mnums, 1);
	cr_assert(tsearch_is(&c, "armadillo", nums, 1) &&
		  tsearch_is(&c, "capybara", NULL, 0),
		  "a new entry replaced a document already indexed");
	/* Without "new", the row wins. */
	free(add_entry(tapp_id(c.token), m, false));
	wait_search(&c, "capybara", nums, 1);
	cr_assert(tsearch_is(&c, "armadillo", NULL, 0));
	free(m);
	free(mm);
	tchat_free(&marker);
	tchat_free(&c);
}

Test(indexer, a_whole_chat_entry_removes_its_documents)
{
	struct tchat c;
	uint64_t nums[4];
	char *m, *id;

	chat_with(&c, "indexer whole chat", "narwhal", 4, nums);
	m = group(&c, NULL, 0);
	cr_assert(strstr(m, "/0") != NULL, "entry %s", m);
	id = add_entry(tapp_id(c.token), m, false);
	wait_search(&c, "narwhal", NULL, 0);
	cr_assert_eq(tes_count(NULL, tapp_id(c.token), c.number), 0);
	free(m);
	free(id);
	tchat_free(&c);
}

/* Whether the dead-letter stream of app's shard records index entry id. */
static bool dead_lettered(uint64_t app, const char *id)
{
	struct chat_buf key;
	redisReply *r;
	bool found = false;

	chat_buf_init(&key);
	chat_job_key(&key, chat_queue_shard(app), CHAT_STREAM_DEAD);
	r = tredis("XRANGE %s - +", key.data);
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements;
	     i++) {
		redisReply *f = r->element[i]->element[1];
		bool job = false, stream = false, reason = false;

		for (size_t k = 0; k + 1 < f->elements; k += 2) {
			const char *name = f->element[k]->str;
			const char *v = f->element[k + 1]->str;

			job |= strcmp(name, "job") == 0 && strcmp(v, id) == 0;
			stream |= strcmp(name, "stream") == 0 &&
				  strcmp(v, CHAT_STREAM_INDEX) == 0;
			reason |= strcmp(name, "reason") == 0 && *v;
		}
		found |= job && stream && reason;
	}
	freeReplyObject(r);
	chat_buf_release(&key);
	return found;
}

Test(indexer, malformed_entries_are_dead_lettered)
{
	struct tchat c;
	uint64_t nums[1], app;
	char *good, *bad[8], *text[8];
	size_t nbad = 0;

	chat_with(&c, "indexer malformed", "axolotl", 1, nums);
	app = tapp_id(c.token);
	text[nbad++] = NULL;				/* no m at all */
	text[nbad++] = http_path("%llu/%llu", (unsigned long long)app,
				 (unsigned long long)c.number);
	text[nbad++] = http_path("%llu/%llu/3-2", (unsigned long long)app,
				 (unsigned long long)c.number);
	text[nbad++] = http_path("%llu/%llu/1,,2", (unsigned long long)app,
				 (unsigned long long)c.number);
	text[nbad++] = http_path("%llu/x/1", (unsigned long long)app);
	/* An application of another shard: not this stream's. */
	text[nbad++] = http_path("%llu/%llu/1", (unsigned long long)app + 1,
				 (unsigned long long)c.number);
	text[nbad++] = http_path("%llu/%llu/1-99999999",
				 (unsigned long long)app,
				 (unsigned long long)c.number);
	for (size_t i = 0; i < nbad; i++)
		bad[i] = add_entry(app, text[i], false);
	/* A good entry behind them is applied all the same. */
	sql_message(&c, nums[0], "salamander");
	good = group(&c, nums, 1);
	free(add_entry(app, good, false));
	wait_search(&c, "salamander", nums, 1);
	for (size_t i = 0; i < nbad; i++) {
		cr_assert(dead_lettered(app, bad[i]),
			  "index entry %s (m=%s) is not in the dead-letter "
			  "stream", bad[i], text[i] ? text[i] : "(none)");
		free(bad[i]);
		free(text[i]);
	}
	free(good);
	tchat_free(&c);
}

/*
 * Rows 1..n of chat c written straight into MariaDB ("<word> <number>"),
 * as a worker batch would leave them: more than one _bulk request of the
 * indexer (FLUSH_DOCS in lib/indexer.c) once an entry names them all.
 */
static void rows_by_sql(const struct tchat *c, unsigned n, const char *word)
{
	char *app = http_path("%llu", (unsigned long long)tapp_id(c->token));
	char *chat = http_path("%llu", (unsigned long long)c->number);
	char *sql = http_path("INSERT INTO messages (chat_id, number, body, "
			      "created_at, updated_at) SELECT c.id, s.seq, "
			      "CONCAT(?, ' ', s.seq), NOW(), NOW() FROM chats c "
			      "JOIN seq_1_to_%u s WHERE c.application_id = ? "
			      "AND c.number = ?", n);

	cr_assert_eq(tdb_exec(sql, word, app, chat, NULL), (int64_t)n,
		     "rows of %s not written", c->messages);
	free(sql);
	free(app);
	free(chat);
}

/* Whether index entry `id` of app's shard is delivered and not acknowledged. */
static bool entry_pending(uint64_t app, const char *id)
{
	struct chat_buf key;
	redisReply *r;
	bool pending;

	chat_buf_init(&key);
	chat_job_key(&key, chat_queue_shard(app), CHAT_STREAM_INDEX);
	r = tredis("XPENDING %s %s %s %s 1", key.data, CHAT_GROUP_INDEX, id,
		   id);
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "XPENDING %s", key.data);
	pending = r->elements == 1;
	freeReplyObject(r);
	chat_buf_release(&key);
	return pending;
}

/* Poll until the chat has `want` documents; false after WAIT_MS * 6. */
static bool wait_count(const struct tchat *c, long want)
{
	for (int i = 0; i < WAIT_MS * 6 / 100; i++) {
		if (tes_count(NULL, tapp_id(c->token), c->number) == want)
			return true;
		usleep(100 * 1000);
	}
	return false;
}

/* Poll until the entry is acknowledged; false after WAIT_MS. */
static bool wait_acked(uint64_t app, const char *id)
{
	for (int i = 0; i < WAIT_MS / 50; i++) {
		if (!entry_pending(app, id))
			return true;
		usleep(50 * 1000);
	}
	return false;
}

static void exclusive_lock(void)
{
	tlock(true);
}

static char *blocked_index;

/* The index takes writes again, whatever the test did. */
static void unblock(void)
{
	char *path;

	if (!blocked_index)
		return;
	path = http_path("/%s/_settings", blocked_index);
	tes_request("PUT", path, "{\"index.blocks.write\":null}");
	free(path);
	free(blocked_index);
	blocked_index = NULL;
}

/*
 * Tests of entries with many messages, alone: they keep the indexer busy
 * for seconds, which the other tests' waits would have to allow for.
 */
TestSuite(indexer_many, .init = exclusive_lock, .fini = unblock,
	  .timeout = 180);

#define MANY 3000

/* One entry whose documents go out in several requests. */
Test(indexer_many, an_entry_of_several_requests_is_applied_whole)
{
	struct tchat c;
	uint64_t app;
	char *m, *id;

	tchat_new(&c, NULL, "indexer several requests");
	app = tapp_id(c.token);
	rows_by_sql(&c, MANY, "pangolin");
	m = http_path("%llu/%llu/1-%u", (unsigned long long)app,
		      (unsigned long long)c.number, MANY);
	id = add_entry(app, m, true);
	cr_assert(wait_count(&c, MANY), "%ld of %d documents indexed",
		  tes_count(NULL, app, c.number), MANY);
	cr_assert(wait_acked(app, id), "entry %s still pending", id);
	free(m);
	free(id);
	tchat_free(&c);
}


/*
 * While the engine refuses every write (a write block, as when its disk
 * is full), the requests fail and the entry stays pending, none of it
 * acknowledged; once writes are taken again, all of it is applied.
 */
Test(indexer_many, refused_requests_leave_the_entry_pending)
{
	struct tchat c;
	uint64_t app;
	char *m, *id, *path;
	long status;

	tchat_new(&c, NULL, "indexer blocked");
	app = tapp_id(c.token);
	rows_by_sql(&c, MANY, "echidna");
	blocked_index = tes_alias_index(NULL);
	cr_assert_not_null(blocked_index, "no index behind the alias");
	path = http_path("/%s/_settings", blocked_index);
	status = tes_request("PUT", path, "{\"index.blocks.write\":true}");
	cr_assert_eq(status, 200, "PUT %s: %ld", path, status);
	m = http_path("%llu/%llu/1-%u", (unsigned long long)app,
		      (unsigned long long)c.number, MANY);
	id = add_entry(app, m, true);
	/* Delivered to the indexer, refused, and still pending after a while. */
	for (int i = 0; i < WAIT_MS / 50 && !entry_pending(app, id); i++)
		usleep(50 * 1000);
	cr_assert(entry_pending(app, id), "entry %s never delivered", id);
	usleep(1500 * 1000);
	cr_assert(entry_pending(app, id),
		  "entry %s acknowledged while writes were refused", id);
	cr_assert_eq(tes_count(NULL, app, c.number), 0);
	unblock();
	cr_assert(wait_count(&c, MANY), "%ld of %d documents indexed",
		  tes_count(NULL, app, c.number), MANY);
	cr_assert(wait_acked(app, id), "entry %s still pending", id);
	free(path);
	free(m);
	free(id);
	tchat_free(&c);
}
