/*
 * indexer.c - the search index kept in line with MariaDB through the
 * index streams (see indexer.h).
 */
#include "indexer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulk.h"
#include "bulk_sender.h"
#include "chats.h"
#include "clock.h"
#include "ctx.h"
#include "db.h"
#include "job.h"
#include "log.h"
#include "messages.h"
#include "proc.h"
#include "queue.h"
#include "redis.h"
#include "search.h"
#include "stream.h"
#include "text.h"
#include "xalloc.h"

/* Entries read per step (one can stand for a whole worker batch). */
#define ENTRIES 64
/* Messages looked up in MariaDB together. */
#define WANTS_MAX 4096
/* A _bulk request goes out at this many documents (or CHAT_BULK_MAX_BYTES). */
#define FLUSH_DOCS 1000
/*
 * _bulk requests of new documents in flight at once, each on a sender
 * thread with its own connection (README "Indexing, round 3").
 */
#define IN_FLIGHT 2
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000
/* Waiting for a redo, the longest sleep between looks at a stop request. */
#define WAIT_SLICE_MS 50

/* ---------------------------------------------------------- the format */

void chat_index_format_numbers(struct chat_buf *b, const uint64_t *numbers,
			       size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j + 1 < n && numbers[j + 1] == numbers[j] + 1)
			j++;
		if (i)
			chat_buf_addch(b, ',');
		chat_buf_addf(b, "%llu", (unsigned long long)numbers[i]);
		if (j > i)
			chat_buf_addf(b, "-%llu",
				      (unsigned long long)numbers[j]);
		i = j + 1;
	}
}

/* Parse one number of the list at s[*pos..len); advances *pos. */
static int parse_one(const char *s, size_t len, size_t *pos, uint64_t *v)
{
	size_t start = *pos;

	while (*pos < len && s[*pos] >= '0' && s[*pos] <= '9')
		(*pos)++;
	return chat_parse_u64(s + start, *pos - start, 0, UINT64_MAX, v);
}

long chat_index_parse_numbers(const char *s, size_t len, size_t max,
			      uint64_t **numbers)
{
	uint64_t *v = NULL, lo, hi;
	size_t n = 0, cap = 0, pos = 0;

	*numbers = NULL;
	if (len == 1 && s[0] == '0') {
		*numbers = xcalloc(1, sizeof(**numbers));
		return 1;
	}
	while (pos < len) {
		if (n && s[pos++] != ',')
			goto bad;
		if (parse_one(s, len, &pos, &lo) || lo == 0)
			goto bad;
		hi = lo;
		if (pos < len && s[pos] == '-') {
			pos++;
			if (parse_one(s, len, &pos, &hi) || hi < lo)
				goto bad;
		}
		/* Ascending, no repeats, and no more than `max` in all. */
		if ((n && lo <= v[n - 1]) || hi - lo >= max - n)
			goto bad;
		for (uint64_t x = lo;; x++) {
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				v = xrealloc(v, cap * sizeof(*v));
			}
			v[n++] = x;
			if (x == hi)
				break;
		}
	}
	if (n == 0)
		goto bad;
	*numbers = v;
	return (long)n;
bad:
	free(v);
	return -1;
}

/* Parse "<app>/<chat>/" at s[*pos..len); advances *pos. */
static int parse_chat(const char *s, size_t len, size_t *pos, uint64_t *app,
		      uint64_t *chat)
{
	uint64_t *out[2] = { app, chat };

	for (int i = 0; i < 2; i++) {
		size_t start = *pos;

		while (*pos < len && s[*pos] != '/')
			(*pos)++;
		if (*pos == len ||
		    chat_parse_u64(s + start, *pos - start, 1, UINT64_MAX,
				   out[i]))
			return -1;
		(*pos)++;
	}
	return 0;
}

long chat_index_parse_group(const char *s, size_t len, size_t *pos,
			    size_t max, uint64_t *app, uint64_t *chat,
			    uint64_t **numbers)
{
	size_t at = *pos, end;
	long n;

	*numbers = NULL;
	if (at && (at >= len || s[at++] != ' '))
		return -1;
	if (parse_chat(s, len, &at, app, chat))
		return -1;
	end = at;
	while (end < len && s[end] != ' ')
		end++;
	n = chat_index_parse_numbers(s + at, end - at, max, numbers);
	if (n < 0)
		return -1;
	*pos = end;
	return n;
}

void chat_index_add_group(struct chat_buf *m, uint64_t app, uint64_t chat,
			  const uint64_t *numbers, size_t n)
{
	if (m->len)
		chat_buf_addch(m, ' ');
	chat_buf_addf(m, "%llu/%llu/", (unsigned long long)app,
		      (unsigned long long)chat);
	if (n)
		chat_index_format_numbers(m, numbers, n);
	else
		chat_buf_addch(m, '0');
}

int chat_index_append(struct chat_redis *r, unsigned shard,
		      const struct chat_buf *m, bool created)
{
	struct chat_buf key;
	const char *argv[7] = { "XADD", NULL, "*", CHAT_INDEX_F_MESSAGES,
				m->data, CHAT_INDEX_F_NEW, "1" };
	int rc;

	chat_buf_init(&key);
	chat_job_key(&key, shard, CHAT_STREAM_INDEX);
	argv[1] = key.data;
	rc = chat_redis_append(r, created ? 7 : 5, argv, NULL);
	chat_buf_release(&key);
	return rc;
}

int chat_index_queue(struct chat_redis *r, uint64_t app, uint64_t chat,
		     uint64_t number)
{
	struct chat_buf m;
	int rc;

	chat_buf_init(&m);
	chat_index_add_group(&m, app, chat, &number, number ? 1 : 0);
	rc = chat_index_append(r, chat_queue_shard(app), &m, false) ||
	     chat_redis_replies(r, 1, REDIS_REPLY_STRING) ? -1 : 0;
	chat_buf_release(&m);
	return rc;
}

/* --------------------------------------------------------- the indexer */

/* A message whose document is to be brought in line with its row. */
struct want {
	uint64_t app, chat, number;
	uint64_t chat_id;	/* 0: the chat has no row */
	size_t entry;		/* the batch entry that asked */
	bool create;		/* only index it if it is not indexed yet */
	bool found;
};

/* A request in flight: the sender and the documents it holds. */
struct slot {
	struct chat_bulk_sender *sender;	/* NULL: send on ctx->es */
	struct chat_bulk bulk;
};

struct chat_indexer {
	struct chat_ctx *ctx;
	char *consumer;
	unsigned claim_ms;
	/* Shards whose pending entries are read first (stream.h). */
	struct chat_stream_redo redo;
	bool index_ready;	/* the index and its alias exist */
	unsigned backoff_ms;
	double next_claim_at;
	struct chat_stream_batch batch;
	struct want *wants;
	size_t nwants, capwants;
	/* New messages; edits and deletes.  Tags: the batch entry. */
	struct chat_bulk create, replace;
	struct slot slots[IN_FLIGHT];
	unsigned next_slot;	/* the one the next create batch goes to */
	bool busy;		/* entries applied since the last trim */
	double next_trim_at;	/* chat_proc_trim_due */
	struct chat_buf why;
	struct chat_log_limit redis_warn;	/* redis_failed's */
};

struct chat_indexer *chat_indexer_new(struct chat_ctx *ctx,
				      const char *consumer, unsigned claim_ms)
{
	struct chat_indexer *ix = xcalloc(1, sizeof(*ix));

	ix->ctx = ctx;
	ix->consumer = xstrdup(consumer);
	ix->claim_ms = claim_ms;
	ix->redo = (struct chat_stream_redo)CHAT_STREAM_REDO_START;
	chat_stream_batch_init(&ix->batch);
	chat_bulk_init(&ix->create, true);
	chat_bulk_init(&ix->replace, false);
	for (unsigned i = 0; i < IN_FLIGHT; i++) {
		chat_bulk_init(&ix->slots[i].bulk, true);
		ix->slots[i].sender = chat_bulk_sender_new(&ctx->cfg);
		if (!ix->slots[i].sender)
			chat_log_warn("indexer: no sender thread; sending "
				      "on the indexer's own");
	}
	chat_buf_init(&ix->why);
	return ix;
}

void chat_indexer_free(struct chat_indexer *ix)
{
	if (!ix)
		return;
	chat_stream_batch_release(&ix->batch);
	free(ix->wants);
	chat_bulk_release(&ix->create);
	chat_bulk_release(&ix->replace);
	for (unsigned i = 0; i < IN_FLIGHT; i++) {
		chat_bulk_sender_free(ix->slots[i].sender);
		chat_bulk_release(&ix->slots[i].bulk);
	}
	chat_buf_release(&ix->why);
	free(ix->consumer);
	free(ix);
}

unsigned chat_indexer_wait_ms(const struct chat_indexer *ix)
{
	return ix->backoff_ms;
}

/*
 * After a store failed: the log says why, the batch's entries are redone,
 * and the next try waits longer.  Returns -1, for `return back_off(...)`.
 */
static int back_off(struct chat_indexer *ix, const char *what,
		    const char *errstr)
{
	ix->backoff_ms = chat_backoff_next(ix->backoff_ms, BACKOFF_MIN_MS,
					   BACKOFF_MAX_MS);
	ix->redo.shards |= chat_stream_shards(ix->batch.v, ix->batch.n);
	chat_log_warn("indexer: %s unavailable (%s); retrying in %u ms", what,
		      errstr, ix->backoff_ms);
	return -1;
}

static int back_off_engine(struct chat_indexer *ix)
{
	ix->index_ready = false;
	return back_off(ix, "search engine", ix->ctx->es->errstr);
}

static void add_doc(struct chat_indexer *ix, size_t entry,
		    const struct chat_search_doc *doc, bool create)
{
	chat_bulk_add(create ? &ix->create : &ix->replace, doc, entry);
}

/*
 * After the engine answered for `d`: dead-letter the documents it refused
 * for good (it answers, so the document is wrong), then empty `d`.
 */
static int dead_letter_refused(struct chat_indexer *ix, struct chat_bulk *d)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct chat_stream_entry *e = &ix->batch.v[d->tag[i]];

		if (!d->failed[i])
			continue;
		chat_buf_reset(&ix->why);
		chat_buf_addf(&ix->why, "index: message %llu: %s",
			      (unsigned long long)d->docs[i].number,
			      ix->ctx->es->errstr);
		if (chat_stream_dead_letter(ix->ctx->redis, CHAT_STREAM_INDEX,
					    e, ix->why.data))
			return back_off(ix, "Redis", ix->ctx->redis->errstr);
	}
	chat_bulk_reset(d);
	return 0;
}

/* Send one group of documents and wait.  0, or -1 when the engine cannot. */
static int send_docs(struct chat_indexer *ix, struct chat_bulk *d)
{
	if (chat_bulk_send(d, ix->ctx->es))
		return back_off_engine(ix);
	return dead_letter_refused(ix, d);
}

/*
 * Wait for the request in flight in `sl`, if any, and deal with its
 * answer; with `quiet`, only wait (a failure is being handled already).
 */
static int collect(struct chat_indexer *ix, struct slot *sl, bool quiet)
{
	int rc;

	if (!sl->sender || !chat_bulk_sender_busy(sl->sender))
		return 0;
	rc = chat_bulk_sender_wait(sl->sender, quiet ? NULL : ix->ctx->es);
	if (quiet) {
		chat_bulk_reset(&sl->bulk);
		return 0;
	}
	if (rc) {
		chat_bulk_reset(&sl->bulk);
		return back_off_engine(ix);
	}
	return dead_letter_refused(ix, &sl->bulk);
}

/* Wait for every request in flight.  0, or -1 when one failed. */
static int drain(struct chat_indexer *ix, bool quiet)
{
	int rc = 0;

	for (unsigned i = 0; i < IN_FLIGHT; i++)
		if (collect(ix, &ix->slots[i], quiet || rc))
			rc = -1;
	return rc;
}

/*
 * Send the new documents gathered so far without waiting for the answer:
 * the next slot takes them once its request before is answered.  New
 * documents are created only where none is (create_only), so requests of
 * them may be taken by the engine in any order; edits and deletes are
 * sent only when none is in flight (flush).
 */
static int send_creates(struct chat_indexer *ix)
{
	struct slot *sl = &ix->slots[ix->next_slot];
	struct chat_bulk t;

	if (ix->create.n == 0)
		return 0;
	if (!sl->sender)
		return send_docs(ix, &ix->create);
	if (collect(ix, sl, false))
		return -1;
	/* The slot's emptied batch is the one to fill next. */
	t = sl->bulk;
	sl->bulk = ix->create;
	ix->create = t;
	chat_bulk_sender_start(sl->sender, &sl->bulk);
	ix->next_slot = (ix->next_slot + 1) % IN_FLIGHT;
	return 0;
}

/*
 * Send everything gathered and wait until the engine took it: the new
 * documents first, then the edits and deletes (a row read after a
 * create's may be the newer, so it goes after it).
 */
static int flush(struct chat_indexer *ix)
{
	if (send_creates(ix) || drain(ix, false) ||
	    send_docs(ix, &ix->replace))
		return -1;
	return 0;
}

static int flush_if_full(struct chat_indexer *ix)
{
	if (ix->create.n + ix->replace.n < FLUSH_DOCS &&
	    chat_bulk_bytes(&ix->create) + chat_bulk_bytes(&ix->replace) <
	    CHAT_BULK_MAX_BYTES)
		return 0;
	return ix->replace.n ? flush(ix) : send_creates(ix);
}

/* Give back the memory of the batches (the queue ran dry). */
static void shrink(struct chat_indexer *ix)
{
	chat_bulk_release(&ix->create);
	chat_bulk_init(&ix->create, true);
	chat_bulk_release(&ix->replace);
	chat_bulk_init(&ix->replace, false);
	for (unsigned i = 0; i < IN_FLIGHT; i++) {
		chat_bulk_release(&ix->slots[i].bulk);
		chat_bulk_init(&ix->slots[i].bulk, true);
	}
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static int by_message(const void *a, const void *b)
{
	const struct want *x = a, *y = b;
	int c = cmp_u64(x->app, y->app);

	if (!c)
		c = cmp_u64(x->chat, y->chat);
	return c ? c : cmp_u64(x->number, y->number);
}

static int by_row(const void *a, const void *b)
{
	const struct want *x = a, *y = b;
	int c = cmp_u64(x->chat_id, y->chat_id);

	return c ? c : cmp_u64(x->number, y->number);
}

/* Sort the wants by message and merge the ones for the same message. */
static void merge_wants(struct chat_indexer *ix)
{
	size_t k = 0;

	qsort(ix->wants, ix->nwants, sizeof(*ix->wants), by_message);
	for (size_t i = 0; i < ix->nwants; i++) {
		struct want *w = &ix->wants[i];

		if (k && by_message(&ix->wants[k - 1], w) == 0) {
			/* An edit as well as a create: replace. */
			ix->wants[k - 1].create &= w->create;
			continue;
		}
		ix->wants[k++] = *w;
	}
	ix->nwants = k;
}

/* Set each want's chat_id (wants sorted by message). */
static int find_chats(struct chat_indexer *ix)
{
	struct chat_chat *chats = xcalloc(ix->nwants + 1, sizeof(*chats));
	size_t n = 0, c = 0;
	int rc;

	for (size_t i = 0; i < ix->nwants; i++) {
		const struct want *w = &ix->wants[i];

		if (n && chats[n - 1].app == w->app &&
		    chats[n - 1].number == w->chat)
			continue;
		chats[n].app = w->app;
		chats[n].number = w->chat;
		n++;
	}
	rc = chat_chats_find_ids(ix->ctx->db, chats, n);
	for (size_t i = 0; rc == 0 && i < ix->nwants; i++) {
		struct want *w = &ix->wants[i];

		while (chats[c].app != w->app || chats[c].number != w->chat)
			c++;
		w->chat_id = chats[c].id;
	}
	free(chats);
	return rc;
}

struct rows_seen {
	struct chat_indexer *ix;
	struct want *wants;	/* the ones with a chat row, by row */
	size_t n;
	int rc;
};

static int on_row(const struct chat_message *m, void *arg)
{
	struct rows_seen *rs = arg;
	struct want key = { .chat_id = m->chat_id, .number = m->number };
	struct want *w = bsearch(&key, rs->wants, rs->n, sizeof(*w), by_row);
	struct chat_search_doc doc;

	if (!w || w->found)
		return 0;
	w->found = true;
	doc = (struct chat_search_doc){
		.app = w->app, .chat = w->chat, .number = w->number,
		.body = m->body.data, .body_len = m->body.len,
		.created_at = m->created_at, .updated_at = m->updated_at,
	};
	add_doc(rs->ix, w->entry, &doc, w->create);
	rs->rc = flush_if_full(rs->ix);
	return rs->rc;
}

/*
 * Bring the documents of the wanted messages in line with their rows:
 * index the rows there are, delete the documents of the rest.
 */
static int apply_wants(struct chat_indexer *ix)
{
	struct rows_seen rs = { .ix = ix };
	struct chat_message_key *keys;
	size_t first = 0;
	int rc;

	if (!ix->nwants)
		return 0;
	merge_wants(ix);
	if (find_chats(ix))
		return back_off(ix, "MariaDB", ix->ctx->db->errstr);
	qsort(ix->wants, ix->nwants, sizeof(*ix->wants), by_row);
	while (first < ix->nwants && ix->wants[first].chat_id == 0)
		first++;
	rs.wants = ix->wants + first;
	rs.n = ix->nwants - first;
	keys = xcalloc(rs.n + 1, sizeof(*keys));
	for (size_t i = 0; i < rs.n; i++) {
		keys[i].chat_id = rs.wants[i].chat_id;
		keys[i].number = rs.wants[i].number;
	}
	rc = chat_messages_find(ix->ctx->db, keys, rs.n, on_row, &rs);
	free(keys);
	if (rc)
		return back_off(ix, "MariaDB", ix->ctx->db->errstr);
	if (rs.rc)
		return -1;
	/* What has no row any more has no document either. */
	for (size_t i = 0; i < ix->nwants; i++) {
		const struct want *w = &ix->wants[i];
		struct chat_search_doc gone = { .app = w->app, .chat = w->chat,
						.number = w->number };

		if (w->found)
			continue;
		add_doc(ix, w->entry, &gone, false);
		if (flush_if_full(ix))
			return -1;
	}
	ix->nwants = 0;
	return 0;
}

static void add_want(struct chat_indexer *ix, size_t entry, uint64_t app,
		     uint64_t chat, uint64_t number, bool create)
{
	if (ix->nwants == ix->capwants) {
		ix->capwants = ix->capwants ? ix->capwants * 2 : 1024;
		ix->wants = xrealloc(ix->wants,
				     ix->capwants * sizeof(*ix->wants));
	}
	ix->wants[ix->nwants++] = (struct want){
		.app = app, .chat = chat, .number = number, .entry = entry,
		.create = create,
	};
}

/*
 * Apply one entry: its messages join the wants; a whole chat is deleted
 * at once, after the wants before it (they may be of that chat).  A
 * malformed entry is dead-lettered.
 */
static int apply_entry(struct chat_indexer *ix, size_t entry)
{
	const struct chat_stream_entry *e = &ix->batch.v[entry];
	const redisReply *m = chat_stream_field(e, CHAT_INDEX_F_MESSAGES);
	const redisReply *nf = chat_stream_field(e, CHAT_INDEX_F_NEW);
	bool create = nf && nf->type == REDIS_REPLY_STRING &&
		      strcmp(nf->str, "1") == 0;
	size_t pos = 0, total = 0, undo = ix->nwants;

	if (!m || m->type != REDIS_REPLY_STRING || m->len == 0)
		goto bad;
	while (pos < m->len) {
		uint64_t app, chat, *numbers;
		long n = chat_index_parse_group(m->str, m->len, &pos,
						CHAT_INDEX_ENTRY_MAX - total,
						&app, &chat, &numbers);

		if (n < 0)
			goto bad;
		if (chat_queue_shard(app) != e->shard) {
			free(numbers);
			goto bad;
		}
		total += (size_t)n;
		if (numbers[0] == 0) {
			free(numbers);
			if (apply_wants(ix) || flush(ix))
				return -1;
			undo = 0;
			if (chat_search_delete_chat(ix->ctx->es, app, chat))
				return back_off_engine(ix);
			continue;
		}
		for (long i = 0; i < n; i++)
			add_want(ix, entry, app, chat, numbers[i], create);
		free(numbers);
	}
	return ix->nwants >= WANTS_MAX ? apply_wants(ix) : 0;
bad:
	ix->nwants = undo;	/* none of a malformed entry is applied */
	if (chat_stream_dead_letter(ix->ctx->redis, CHAT_STREAM_INDEX, e,
				    "malformed index entry"))
		return back_off(ix, "Redis", ix->ctx->redis->errstr);
	return 0;
}

/* Take over what other consumers left pending too long. */
static void claim(struct chat_indexer *ix)
{
	double now = chat_now_ms();

	if (now < ix->next_claim_at)
		return;
	ix->next_claim_at = now + ix->claim_ms / 2.0;
	for (unsigned s = 0; s < CHAT_SHARDS; s++) {
		long n = chat_stream_claim(ix->ctx->redis, CHAT_STREAM_INDEX,
					   CHAT_GROUP_INDEX, ix->consumer, s,
					   ix->claim_ms, ENTRIES, &ix->batch);

		if (n > 0)
			chat_log_info("indexer: claimed %ld stale entries", n);
	}
}

/*
 * Shards whose Redis node failed `what` (a mask): their entries stay
 * pending, read again after CHAT_STREAM_REDO_MS; the others go on.
 */
static void redis_failed(struct chat_indexer *ix, unsigned shards,
			 const char *what)
{
	if (!shards)
		return;
	chat_log_warn_limited(&ix->redis_warn, "indexer: %s failed for shards "
			      "%#x (%s); retrying in %u ms", what, shards,
			      ix->ctx->redis->errstr, CHAT_STREAM_REDO_MS);
	chat_stream_redo_later(&ix->redo, shards);
}

/*
 * Read the next entries into the batch: this consumer's pending ones of
 * the shards that have some, once their redo is due, else the new ones
 * of the other shards.  Returns how many were read.
 */
static size_t read_entries(struct chat_indexer *ix, unsigned block_ms)
{
	struct chat_stream_batch *b = &ix->batch;
	double now = chat_now_ms();
	bool redo = chat_stream_redo_due(&ix->redo, now);
	unsigned shards = redo ? ix->redo.shards :
				 CHAT_ALL_SHARDS & ~ix->redo.shards;
	unsigned failed = 0;

	if (!shards) {
		/* Every shard waits for its redo: in slices, for a stop. */
		chat_sleep_ms(ix->redo.at - now < WAIT_SLICE_MS ?
				      (unsigned)(ix->redo.at - now) + 1 :
				      WAIT_SLICE_MS);
		return 0;
	}
	chat_stream_read_shards(ix->ctx->redis, CHAT_STREAM_INDEX,
				CHAT_GROUP_INDEX, ix->consumer,
				redo ? "0" : ">", shards, ENTRIES,
				redo ? 0 : block_ms, b, &failed);
	/* A shard that answered with none of ours pending is done. */
	if (redo)
		chat_stream_redo_read(&ix->redo, shards,
				      chat_stream_shards(b->v, b->n));
	redis_failed(ix, failed, "reading");
	return b->n;
}

static long step(struct chat_indexer *ix, unsigned block_ms)
{
	struct chat_stream_batch *b = &ix->batch;
	unsigned failed = 0;
	int rc = 0;

	chat_stream_batch_reset(b);
	ix->nwants = 0;
	chat_bulk_reset(&ix->create);
	chat_bulk_reset(&ix->replace);
	/* Writes require the alias: create the index first. */
	if (!ix->index_ready) {
		if (chat_search_ensure_index(ix->ctx->es))
			return back_off_engine(ix);
		ix->index_ready = true;
	}
	claim(ix);
	if (b->n == 0 && read_entries(ix, block_ms) == 0)
		return 0;
	for (size_t i = 0; rc == 0 && i < b->n; i++)
		if (b->v[i].fields)	/* else deleted while pending */
			rc = apply_entry(ix, i);
	if (rc || apply_wants(ix) || flush(ix))
		return -1;
	chat_stream_finish(ix->ctx->redis, CHAT_STREAM_INDEX,
			   CHAT_GROUP_INDEX, b->v, b->n, &failed);
	redis_failed(ix, failed, "acknowledging");
	ix->backoff_ms = 0;
	return (long)b->n;
}

long chat_indexer_step(struct chat_indexer *ix, unsigned block_ms)
{
	double started = chat_now_ms();
	long n = step(ix, block_ms);

	/* Nothing is left in flight: a failed step's entries stay pending. */
	if (n < 0)
		drain(ix, true);
	/*
	 * A burst is over (the read came back short of a full one): give
	 * back the batches' memory and the pages the sender threads' heaps
	 * kept, which the worker's own trim does not see when it ran before
	 * the indexer caught up.
	 */
	if (n > 0)
		ix->busy = true;
	if (n >= 0 && n < ENTRIES && ix->busy &&
	    chat_proc_trim_due(&ix->next_trim_at)) {
		shrink(ix);
		chat_proc_trim();
		ix->busy = false;
	}
	if (n > 0 && n < ENTRIES)
		chat_sleep_rest_ms(started, ix->ctx->cfg.index_wait_ms);
	return n;
}
