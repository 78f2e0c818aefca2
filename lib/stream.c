/*
 * stream.c - consumer groups over the shard streams of the queue.
 */
#include "stream.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "config.h"
#include "job.h"
#include "log.h"
#include "queue.h"
#include "redis.h"
#include "xalloc.h"

void chat_stream_batch_init(struct chat_stream_batch *b)
{
	memset(b, 0, sizeof(*b));
}

void chat_stream_batch_reset(struct chat_stream_batch *b)
{
	for (size_t i = 0; i < b->nreplies; i++)
		freeReplyObject(b->replies[i]);
	b->n = 0;
	b->nreplies = 0;
}

void chat_stream_batch_release(struct chat_stream_batch *b)
{
	chat_stream_batch_reset(b);
	free(b->v);
	free(b->replies);
	chat_stream_batch_init(b);
}

static void keep_reply(struct chat_stream_batch *b, redisReply *r)
{
	if (b->nreplies == b->capreplies) {
		b->capreplies = b->capreplies ? b->capreplies * 2 : 4;
		b->replies = xrealloc(b->replies,
				      b->capreplies * sizeof(*b->replies));
	}
	b->replies[b->nreplies++] = r;
}

/* Append the entries [[id, [field, value, ...]], ...] of one shard. */
static void collect(struct chat_stream_batch *b, unsigned shard,
		    const redisReply *entries)
{
	for (size_t i = 0; i < entries->elements; i++) {
		const redisReply *e = entries->element[i];

		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
		    e->element[0]->type != REDIS_REPLY_STRING)
			continue;
		if (b->n == b->cap) {
			b->cap = b->cap ? b->cap * 2 : 64;
			b->v = xrealloc(b->v, b->cap * sizeof(*b->v));
		}
		b->v[b->n++] = (struct chat_stream_entry){
			.shard = shard,
			.id = e->element[0]->str,
			.fields = e->element[1]->type == REDIS_REPLY_ARRAY ?
					  e->element[1] : NULL,
		};
	}
}

static void shard_key(struct chat_buf *key, unsigned shard, const char *name)
{
	chat_buf_reset(key);
	chat_job_key(key, shard, name);
}

void chat_stream_redo_later(struct chat_stream_redo *redo, unsigned shards)
{
	if (!shards)
		return;
	redo->shards |= shards;
	redo->at = chat_now_ms() + CHAT_STREAM_REDO_MS;
}

bool chat_stream_redo_due(const struct chat_stream_redo *redo, double now)
{
	return redo->shards && now >= redo->at;
}

void chat_stream_redo_read(struct chat_stream_redo *redo, unsigned asked,
			   unsigned gave)
{
	redo->shards = (redo->shards & ~asked) | gave;
}

void chat_stream_create_groups(struct chat_redis *r, const char *name,
			       const char *group)
{
	struct chat_buf key;

	chat_buf_init(&key);
	for (unsigned s = 0; s < CHAT_SHARDS; s++) {
		shard_key(&key, s, name);
		/* BUSYGROUP when it exists: fine. */
		freeReplyObject(chat_redis_cmd(r,
					       "XGROUP CREATE %s %s 0 MKSTREAM",
					       key.data, group));
	}
	chat_buf_release(&key);
}

/* Record an error reply as the handle's error. */
static int reply_error(struct chat_redis *r, const char *what,
		       const redisReply *reply)
{
	if (!reply)
		return -1;
	chat_redis_set_err(r, REDIS_ERR_OTHER, "%s: %s", what,
			   reply->type == REDIS_REPLY_ERROR ? reply->str :
							      "unexpected reply");
	return -1;
}

/*
 * Collect the entries of an XREADGROUP reply [[stream, entries], ...];
 * got[s] counts what shard s gave.
 */
static void collect_streams(struct chat_stream_batch *b,
			    const redisReply *reply, unsigned *got)
{
	for (size_t i = 0; i < reply->elements; i++) {
		const redisReply *st = reply->element[i];
		unsigned shard;
		size_t before = b->n;

		if (st->type == REDIS_REPLY_ARRAY && st->elements == 2 &&
		    st->element[0]->type == REDIS_REPLY_STRING &&
		    st->element[1]->type == REDIS_REPLY_ARRAY &&
		    chat_job_key_shard(st->element[0]->str,
				       st->element[0]->len, &shard) == 0) {
			collect(b, shard, st->element[1]);
			got[shard] += (unsigned)(b->n - before);
		}
	}
}

/* The number of shards in `shards` (a mask of 1 << shard). */
static unsigned shard_count(unsigned shards)
{
	unsigned n = 0;

	for (; shards; shards &= shards - 1)
		n++;
	return n;
}

/*
 * Append one XREADGROUP of up to `count` entries of shard `shard`'s
 * stream from `id`, the reply noted in `reads`.
 */
static void append_shard(struct chat_redis *r, const char *name,
			 const char *group, const char *consumer,
			 unsigned shard, unsigned count, const char *id,
			 struct chat_stream_reads *reads)
{
	struct chat_buf key;
	char scount[16];
	const char *argv[] = { "XREADGROUP", "GROUP", group, consumer,
			       "COUNT", scount, "STREAMS", NULL, id };

	snprintf(scount, sizeof(scount), "%u", count);
	chat_buf_init(&key);
	shard_key(&key, shard, name);
	argv[7] = key.data;
	chat_redis_append(r, 9, argv, NULL);
	chat_buf_release(&key);
	reads->shards[reads->n++] = 1u << shard;
}

/*
 * On a Redis Cluster each shard's stream is in a slot of its own, and a
 * command with keys of several slots is refused (CROSSSLOT): one
 * XREADGROUP per shard of `shards`, all in one pipeline, which the
 * cluster layer splits per node, so that each node is read in one round
 * trip, its own shards only, wherever the slots are now; a node that
 * fails costs its own shards' reads.  BLOCK would hold up the shards
 * queued behind it on the same node: when nothing came, wait `block_ms`
 * and return.
 */
static int read_cluster(struct chat_redis *r, const char *name,
			const char *group, const char *consumer,
			const char *id, unsigned shards, unsigned count,
			unsigned block_ms, struct chat_stream_batch *b,
			unsigned *got, unsigned *failed)
{
	struct chat_stream_reads reads = { .n = 0 };

	for (unsigned s = 0; s < CHAT_SHARDS; s++)
		if (shards & 1u << s)
			append_shard(r, name, group, consumer, s, count, id,
				     &reads);
	/* Pending entries (an id other than ">") are never waited for. */
	return chat_stream_read_collect(r, name, group, &reads,
					strcmp(id, ">") == 0 ? block_ms : 0,
					b, got, failed);
}

/*
 * One XREADGROUP of up to `count` entries from each shard of `shards`
 * of stream `name`; got[s] counts what shard s gave, *failed gains the
 * shards whose read failed.
 */
static int read_shards(struct chat_redis *r, const char *name,
		       const char *group, const char *consumer, const char *id,
		       unsigned shards, unsigned count, unsigned block_ms,
		       struct chat_stream_batch *b, unsigned *got,
		       unsigned *failed)
{
	const char *argv[10 + 2 * CHAT_SHARDS];
	struct chat_buf keys[CHAT_SHARDS];
	char scount[16], sblock[16];
	redisReply *reply;
	int argc = 0;
	unsigned n = 0;

	if (chat_redis_is_cluster(r))
		return read_cluster(r, name, group, consumer, id, shards,
				    count, block_ms, b, got, failed);
	snprintf(scount, sizeof(scount), "%u", count);
	snprintf(sblock, sizeof(sblock), "%u", block_ms);
	argv[argc++] = "XREADGROUP";
	argv[argc++] = "GROUP";
	argv[argc++] = group;
	argv[argc++] = consumer;
	argv[argc++] = "COUNT";
	argv[argc++] = scount;
	if (strcmp(id, ">") == 0 && block_ms) {
		argv[argc++] = "BLOCK";
		argv[argc++] = sblock;
	}
	argv[argc++] = "STREAMS";
	n = chat_job_keys(keys, shards, name, argv, &argc);
	for (unsigned k = 0; k < n; k++)
		argv[argc++] = id;
	reply = chat_redis_argv(r, argc, argv, NULL);
	for (unsigned k = 0; k < n; k++)
		chat_buf_release(&keys[k]);
	if (reply && reply->type == REDIS_REPLY_NIL) {	/* nothing in BLOCK */
		freeReplyObject(reply);
		return 0;
	}
	if (!reply || reply->type != REDIS_REPLY_ARRAY) {
		reply_error(r, "XREADGROUP", reply);
		if (reply && reply->type == REDIS_REPLY_ERROR &&
		    strncmp(reply->str, "NOGROUP", 7) == 0)
			chat_stream_create_groups(r, name, group);
		freeReplyObject(reply);
		*failed |= shards;
		return -1;
	}
	keep_reply(b, reply);
	collect_streams(b, reply, got);
	return 0;
}

/*
 * COUNT bounds each stream of an XREADGROUP, not the read: asking every
 * shard for `count` could bring CHAT_SHARDS times as many entries (16
 * × 1000 jobs of 64 KiB, a gigabyte).  So every shard is asked for its
 * share first (one blocking read), then the shards that gave their whole
 * share, one at a time and without blocking, for what the batch has left.
 */
int chat_stream_read_shards(struct chat_redis *r, const char *name,
			    const char *group, const char *consumer,
			    const char *id, unsigned shards, unsigned count,
			    unsigned block_ms, struct chat_stream_batch *b,
			    unsigned *failed)
{
	unsigned got[CHAT_SHARDS] = { 0 };
	unsigned k = shard_count(shards);
	unsigned share = k && count / k ? count / k : 1;
	size_t before = b->n;
	int rc;

	*failed = 0;
	if (!shards)
		return 0;
	rc = read_shards(r, name, group, consumer, id, shards, share,
			 block_ms, b, got, failed);
	for (unsigned s = 0; s < CHAT_SHARDS; s++) {
		size_t taken = b->n - before;
		const char *from = id;

		if (taken >= count)
			break;
		if (!(shards & 1u << s) || got[s] < share)
			continue;	/* not asked, failed or no more */
		/*
		 * Pending entries are listed from an id on: go on after the
		 * last one read, or the same ones come again.
		 */
		if (strcmp(id, ">") != 0)
			for (size_t i = before; i < b->n; i++)
				if (b->v[i].shard == s)
					from = b->v[i].id;
		if (read_shards(r, name, group, consumer, from, 1u << s,
				(unsigned)(count - taken), 0, b, got, failed))
			rc = -1;
	}
	return rc;
}

int chat_stream_read(struct chat_redis *r, const char *name,
		     const char *group, const char *consumer, const char *id,
		     unsigned count, unsigned block_ms,
		     struct chat_stream_batch *b)
{
	unsigned failed;

	return chat_stream_read_shards(r, name, group, consumer, id,
				       CHAT_ALL_SHARDS, count, block_ms, b,
				       &failed);
}

/* Append one XREADGROUP ... STREAMS of the shards s with quota[s] == q. */
static void append_quota(struct chat_redis *r, const char *name,
			 const char *group, const char *consumer,
			 const unsigned *quota, unsigned q, unsigned block_ms,
			 struct chat_stream_reads *reads)
{
	const char *argv[10 + 2 * CHAT_SHARDS];
	struct chat_buf keys[CHAT_SHARDS];
	char scount[16], sblock[16];
	int argc = 0;
	unsigned n = 0, shards = 0;

	snprintf(scount, sizeof(scount), "%u", q);
	snprintf(sblock, sizeof(sblock), "%u", block_ms);
	argv[argc++] = "XREADGROUP";
	argv[argc++] = "GROUP";
	argv[argc++] = group;
	argv[argc++] = consumer;
	argv[argc++] = "COUNT";
	argv[argc++] = scount;
	if (block_ms) {
		argv[argc++] = "BLOCK";
		argv[argc++] = sblock;
	}
	argv[argc++] = "STREAMS";
	for (unsigned s = 0; s < CHAT_SHARDS; s++)
		if (quota[s] == q)
			shards |= 1u << s;
	n = chat_job_keys(keys, shards, name, argv, &argc);
	for (unsigned s = 0; s < n; s++)
		argv[argc++] = ">";
	chat_redis_append(r, argc, argv, NULL);
	reads->shards[reads->n++] = shards;
	for (unsigned s = 0; s < n; s++)
		chat_buf_release(&keys[s]);
}

void chat_stream_read_append(struct chat_redis *r, const char *name,
			     const char *group, const char *consumer,
			     const unsigned *quota, unsigned block_ms,
			     struct chat_stream_reads *reads)
{
	unsigned distinct[CHAT_SHARDS];
	size_t nd = 0;

	reads->n = 0;
	if (chat_redis_is_cluster(r)) {
		for (unsigned s = 0; s < CHAT_SHARDS; s++)
			if (quota[s])
				append_shard(r, name, group, consumer, s,
					     quota[s], ">", reads);
		return;
	}
	for (unsigned s = 0; s < CHAT_SHARDS; s++) {
		size_t k = 0;

		while (k < nd && distinct[k] != quota[s])
			k++;
		if (k == nd && quota[s])
			distinct[nd++] = quota[s];
	}
	/* A blocked command would hold up the ones behind it. */
	for (size_t k = 0; k < nd; k++)
		append_quota(r, name, group, consumer, quota, distinct[k],
			     nd == 1 ? block_ms : 0, reads);
}

int chat_stream_read_collect(struct chat_redis *r, const char *name,
			     const char *group,
			     const struct chat_stream_reads *reads,
			     unsigned block_ms, struct chat_stream_batch *b,
			     unsigned *got, unsigned *failed)
{
	char first[sizeof(r->errstr)] = "";
	size_t before = b->n;
	bool nogroup = false;
	int rc = 0;

	for (size_t i = 0; i < reads->n; i++) {
		redisReply *reply = chat_redis_reply(r);

		if (reply && reply->type == REDIS_REPLY_ARRAY) {
			keep_reply(b, reply);
			collect_streams(b, reply, got);
			continue;
		}
		/* NIL: nothing within BLOCK, or nothing on that shard. */
		if (reply && reply->type == REDIS_REPLY_NIL) {
			freeReplyObject(reply);
			continue;
		}
		reply_error(r, "XREADGROUP", reply);
		nogroup |= reply && reply->type == REDIS_REPLY_ERROR &&
			   strncmp(reply->str, "NOGROUP", 7) == 0;
		freeReplyObject(reply);
		if (!first[0])
			memcpy(first, r->errstr, sizeof(first));
		*failed |= reads->shards[i];
		rc = -1;
	}
	if (nogroup)
		chat_stream_create_groups(r, name, group);
	if (rc)
		memcpy(r->errstr, first, sizeof(first));
	else if (b->n == before && block_ms && chat_redis_is_cluster(r))
		chat_sleep_ms(block_ms);
	return rc;
}

long chat_stream_claim(struct chat_redis *r, const char *name,
		       const char *group, const char *consumer,
		       unsigned shard, unsigned idle_ms, unsigned count,
		       struct chat_stream_batch *b)
{
	struct chat_buf key;
	redisReply *reply;
	size_t before = b->n;

	chat_buf_init(&key);
	shard_key(&key, shard, name);
	reply = chat_redis_cmd(r, "XAUTOCLAIM %s %s %s %u 0 COUNT %u",
			       key.data, group, consumer, idle_ms, count);
	chat_buf_release(&key);
	if (!reply || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements < 2 ||
	    reply->element[1]->type != REDIS_REPLY_ARRAY) {
		reply_error(r, "XAUTOCLAIM", reply);
		freeReplyObject(reply);
		return -1;
	}
	keep_reply(b, reply);
	collect(b, shard, reply->element[1]);
	return (long)(b->n - before);
}

int chat_stream_finish(struct chat_redis *r, const char *name,
		       const char *group, const struct chat_stream_entry *e,
		       size_t n, unsigned *failed)
{
	size_t sent = 0;

	chat_stream_finish_append(r, name, group, e, n, &sent);
	return chat_stream_finish_read(r, chat_stream_shards(e, n), sent,
				       failed);
}

unsigned chat_stream_shards(const struct chat_stream_entry *e, size_t n)
{
	unsigned shards = 0;

	for (size_t i = 0; i < n; i++)
		shards |= 1u << e[i].shard;
	return shards;
}

int chat_stream_finish_read(struct chat_redis *r, unsigned shards,
			    size_t sent, unsigned *failed)
{
	unsigned bad = 0;

	/* Two replies a shard, in the order finish_append went. */
	for (unsigned s = 0; s < CHAT_SHARDS; s++) {
		if (!(shards & 1u << s))
			continue;
		if (sent < 2 || chat_redis_replies(r, 2, 0))
			bad |= 1u << s;
		sent = sent < 2 ? 0 : sent - 2;
	}
	if (failed)
		*failed |= bad;
	return bad ? -1 : 0;
}

int chat_stream_finish_append(struct chat_redis *r, const char *name,
			      const char *group,
			      const struct chat_stream_entry *e, size_t n,
			      size_t *sent)
{
	const char **argv = xcalloc(n + 3, sizeof(*argv));
	struct chat_buf key;
	int rc = 0;

	*sent = 0;
	chat_buf_init(&key);
	for (unsigned s = 0; s < CHAT_SHARDS && rc == 0; s++) {
		int ids = 0;

		for (size_t i = 0; i < n; i++)
			if (e[i].shard == s)
				argv[3 + ids++] = e[i].id;
		if (!ids)
			continue;
		shard_key(&key, s, name);
		argv[0] = "XACK";
		argv[1] = key.data;
		argv[2] = group;
		if (chat_redis_append(r, 3 + ids, argv, NULL))
			rc = -1;
		argv[0] = "XDEL";
		/* XDEL takes the ids right after the key. */
		memmove(&argv[2], &argv[3], (size_t)ids * sizeof(*argv));
		if (rc == 0 && chat_redis_append(r, 2 + ids, argv, NULL))
			rc = -1;
		*sent += rc == 0 ? 2 : 0;
	}
	chat_buf_release(&key);
	free(argv);
	return rc;
}

const redisReply *chat_stream_field(const struct chat_stream_entry *e,
				    const char *field)
{
	const redisReply *f = e->fields;

	for (size_t i = 0; f && i + 1 < f->elements; i += 2)
		if (f->element[i]->type == REDIS_REPLY_STRING &&
		    strcmp(f->element[i]->str, field) == 0)
			return f->element[i + 1];
	return NULL;
}

int chat_stream_dead_letter(struct chat_redis *r, const char *name,
			    const struct chat_stream_entry *e,
			    const char *reason)
{
	const redisReply *f = e->fields;
	size_t nf = f ? f->elements : 0;
	const char **argv = xcalloc(12 + nf, sizeof(*argv));
	size_t *lens = xcalloc(12 + nf, sizeof(*lens));
	struct chat_buf key, max;
	redisReply *reply;
	int argc = 0, rc;

	chat_buf_init(&key);
	chat_buf_init(&max);
	shard_key(&key, e->shard, CHAT_STREAM_DEAD);
	chat_buf_addf(&max, "%u", r->cfg->dead_max);
	argv[argc++] = "XADD";
	argv[argc++] = key.data;
	argv[argc++] = "MAXLEN";
	argv[argc++] = "~";
	argv[argc++] = max.data;
	argv[argc++] = "*";
	argv[argc++] = "stream";
	argv[argc++] = name;
	argv[argc++] = "job";
	argv[argc++] = e->id ? e->id : "-";
	argv[argc++] = "reason";
	argv[argc++] = reason;
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	/* XREADGROUP gives the fields as strings, in pairs. */
	for (size_t i = 0; i + 1 < nf; i++) {
		argv[argc] = f->element[i]->str;
		lens[argc++] = f->element[i]->len;
		argv[argc] = f->element[i + 1]->str;
		lens[argc++] = f->element[++i]->len;
	}
	reply = chat_redis_argv(r, argc, argv, lens);
	rc = reply && reply->type == REDIS_REPLY_STRING ? 0 : -1;
	freeReplyObject(reply);
	chat_buf_release(&key);
	chat_buf_release(&max);
	free(argv);
	free(lens);
	chat_log_error("%s entry %s dead-lettered: %s", name,
		       e->id ? e->id : "-", reason);
	return rc;
}

/* Move dead record `d` ([id, [field, value, ...]]) back; 1, 0 or -1. */
static int replay_one(struct chat_redis *r, unsigned shard,
		      const char *dead_key, const char *name,
		      const redisReply *d)
{
	const redisReply *f = d->element[1];
	const char *multi[] = { "MULTI" }, *exec[] = { "EXEC" };
	const char *del[] = { "XDEL", dead_key, d->element[0]->str };
	const char *stream = NULL, **argv = NULL;
	size_t *lens = NULL, skip = 0;
	struct chat_buf key;
	redisReply *reply = NULL;
	int argc = 0, rc = 0, sent = 0;

	chat_buf_init(&key);
	/* The record's own fields come first: stream, job, reason. */
	for (size_t i = 0; i + 1 < f->elements && i < 6; i += 2) {
		const redisReply *k = f->element[i], *v = f->element[i + 1];

		if (k->type != REDIS_REPLY_STRING ||
		    v->type != REDIS_REPLY_STRING)
			break;
		if (strcmp(k->str, "stream") == 0)
			stream = v->str;
		skip = i + 2;
	}
	if (!stream || skip != 6 || f->elements <= skip ||
	    (name && strcmp(stream, name) != 0))
		goto out;
	argv = xcalloc(f->elements + 3, sizeof(*argv));
	lens = xcalloc(f->elements + 3, sizeof(*lens));
	shard_key(&key, shard, stream);
	argv[argc] = "XADD";
	lens[argc++] = 4;
	argv[argc] = key.data;
	lens[argc++] = key.len;
	argv[argc] = "*";
	lens[argc++] = 1;
	for (size_t i = skip; i < f->elements; i++) {
		argv[argc] = f->element[i]->str;
		lens[argc++] = f->element[i]->len;
	}
	/* Both or neither: a crash cannot lose the job or replay it twice. */
	rc = -1;
	if (chat_redis_append(r, 1, multi, NULL))
		goto out;
	sent++;
	if (chat_redis_append(r, argc, argv, lens))
		goto out;
	sent++;
	if (chat_redis_append(r, 3, del, NULL))
		goto out;
	sent++;
	if (chat_redis_append(r, 1, exec, NULL))
		goto out;
	sent++;
	for (; sent > 0; sent--) {
		freeReplyObject(reply);
		reply = chat_redis_reply(r);
		if (!reply)
			goto out;
	}
	/* EXEC's reply: [stream id, 1]. */
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
	    reply->element[0]->type == REDIS_REPLY_STRING)
		rc = 1;
out:
	/* Replies of commands sent but not read yet. */
	for (; sent > 0; sent--)
		freeReplyObject(chat_redis_reply(r));
	freeReplyObject(reply);
	chat_buf_release(&key);
	free(argv);
	free(lens);
	return rc;
}

long chat_stream_replay(struct chat_redis *r, unsigned shard,
			const char *name, unsigned max)
{
	struct chat_buf key, start, count;
	redisReply *reply = NULL;
	long moved = 0;

	chat_buf_init(&key);
	chat_buf_init(&start);
	chat_buf_init(&count);
	shard_key(&key, shard, CHAT_STREAM_DEAD);
	chat_buf_adds(&start, "-");
	while (moved < (long)max) {
		const char *argv[] = { "XRANGE", key.data, start.data, "+",
				       "COUNT", NULL };
		size_t n;

		chat_buf_reset(&count);
		chat_buf_addf(&count, "%u", 100U);
		argv[5] = count.data;
		freeReplyObject(reply);
		reply = chat_redis_argv(r, 6, argv, NULL);
		if (!reply || reply->type != REDIS_REPLY_ARRAY) {
			moved = -1;
			break;
		}
		n = reply->elements;
		for (size_t i = 0; i < n && moved < (long)max; i++) {
			const redisReply *d = reply->element[i];
			int rc;

			if (d->type != REDIS_REPLY_ARRAY || d->elements != 2 ||
			    d->element[1]->type != REDIS_REPLY_ARRAY)
				continue;
			rc = replay_one(r, shard, key.data, name, d);
			if (rc < 0) {
				moved = -1;
				goto out;
			}
			moved += rc;
		}
		if (n < 100)
			break;
		/* Exclusive start after the last id seen. */
		chat_buf_reset(&start);
		chat_buf_addf(&start, "(%s",
			      reply->element[n - 1]->element[0]->str);
	}
out:
	freeReplyObject(reply);
	chat_buf_release(&key);
	chat_buf_release(&start);
	chat_buf_release(&count);
	return moved;
}
