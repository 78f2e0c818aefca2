/*
 * test_batch.c - unit tests of lib/batch.c, the worker's decisions over a
 * batch of jobs (rows to write, index entries, dirty markers, retries),
 * and of chat_backoff_next (lib/clock.c).  No service needed.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "batch.h"
#include "chats.h"
#include "clock.h"
#include "messages.h"
#include "queue.h"

static struct chat_job job(enum chat_job_type type, uint64_t app,
			   uint64_t chat, uint64_t number, int64_t ts)
{
	return (struct chat_job){ .type = type, .app = app, .chat = chat,
				  .number = number, .ts = ts,
				  .body = "b", .body_len = 1,
				  .chat_id = type == CHAT_JOB_DELETE_CHAT ? 9 : 0 };
}

Test(batch, what_each_job_counts_for)
{
	struct chat_job m = job(CHAT_JOB_MESSAGE, 1, 2, 3, 0);
	struct chat_job c = job(CHAT_JOB_CHAT, 1, 2, 0, 0);
	struct chat_job d = job(CHAT_JOB_DELETE_CHAT, 1, 2, 0, 0);

	cr_assert(chat_batch_live(&m, CHAT_JOB_MESSAGE));
	cr_assert(!chat_batch_live(&m, CHAT_JOB_CHAT));
	cr_assert(chat_batch_writes_chat(&m) && chat_batch_writes_chat(&c));
	cr_assert(!chat_batch_writes_chat(&d));
	cr_assert(chat_batch_counts_change(&d));
	m.skip = true;		/* into a deleted chat */
	cr_assert(!chat_batch_is_message(&m));
	cr_assert(chat_batch_writes_chat(&m), "its chat is still checked");
	cr_assert(!chat_batch_counts_change(&m));
	c.dead = "malformed job";
	cr_assert(!chat_batch_writes_chat(&c));
	cr_assert(!chat_batch_counts_change(&c));
}

Test(batch, order_by_app_chat_number)
{
	struct chat_job jobs[] = {
		job(CHAT_JOB_MESSAGE, 2, 1, 5, 0),
		job(CHAT_JOB_MESSAGE, 1, 7, 2, 0),
		job(CHAT_JOB_DELETE_CHAT, 1, 1, 0, 0),
		job(CHAT_JOB_MESSAGE, 1, 7, 1, 0),
		job(CHAT_JOB_MESSAGE, 1, 3, 9, 0),
	};
	size_t count, *order = chat_batch_order(jobs, 5, chat_batch_is_message,
						&count);

	cr_assert_eq(count, 4);
	cr_assert_eq(order[0], 4);
	cr_assert_eq(order[1], 3);
	cr_assert_eq(order[2], 1);
	cr_assert_eq(order[3], 0);
	free(order);
}

Test(batch, one_chat_row_per_chat_at_its_earliest_time)
{
	struct chat_job jobs[] = {
		job(CHAT_JOB_MESSAGE, 1, 2, 1, 50),
		job(CHAT_JOB_CHAT, 1, 2, 0, 40),
		job(CHAT_JOB_MESSAGE, 1, 3, 1, 70),
		job(CHAT_JOB_MESSAGE, 1, 2, 2, 30),
		job(CHAT_JOB_DELETE_CHAT, 1, 4, 0, 10),
		job(CHAT_JOB_MESSAGE, 5, 2, 1, 20),
	};
	struct chat_chat chats[6];
	struct chat_message_row rows[6];
	size_t chat_of[6];
	bool chat_job[6];
	size_t n, nrows;

	jobs[5].skip = true;	/* a deleted chat: no row */
	memset(chats, 0, sizeof(chats));
	n = chat_batch_chat_rows(jobs, 6, chats, chat_of, chat_job);
	cr_assert_eq(n, 2);
	cr_assert_eq(chats[0].app, 1);
	cr_assert_eq(chats[0].number, 2);
	cr_assert_eq(chats[0].created_at, 30);
	cr_assert(chat_job[0]);
	cr_assert_eq(chats[1].number, 3);
	cr_assert_eq(chats[1].created_at, 70);
	cr_assert(!chat_job[1]);
	cr_assert_eq(chat_of[0], 0);
	cr_assert_eq(chat_of[1], 0);
	cr_assert_eq(chat_of[2], 1);
	cr_assert_eq(chat_of[3], 0);
	chats[0].id = 100;
	chats[1].id = 200;
	nrows = chat_batch_message_rows(jobs, 6, chats, chat_of, rows);
	cr_assert_eq(nrows, 3);
	cr_assert_eq(rows[0].chat_id, 100);
	cr_assert_eq(rows[0].number, 1);
	cr_assert_eq(rows[0].created_at, 50);
	cr_assert_eq(rows[1].chat_id, 200);
	cr_assert_eq(rows[2].chat_id, 100);
	cr_assert_eq(rows[2].number, 2);
	cr_assert_eq(rows[2].body_len, 1);
}

Test(batch, index_entries_grouped_into_ranges_per_shard)
{
	/* Applications 1 and 17 share shard 1; application 2 is shard 2. */
	struct chat_job jobs[] = {
		job(CHAT_JOB_MESSAGE, 1, 4, 3, 0),
		job(CHAT_JOB_MESSAGE, 1, 4, 1, 0),
		job(CHAT_JOB_MESSAGE, 1, 4, 2, 0),
		job(CHAT_JOB_MESSAGE, 1, 4, 2, 0),	/* delivered twice */
		job(CHAT_JOB_MESSAGE, 1, 4, 7, 0),
		job(CHAT_JOB_MESSAGE, 17, 1, 1, 0),
		job(CHAT_JOB_MESSAGE, 2, 1, 1, 0),
		job(CHAT_JOB_DELETE_CHAT, 17, 9, 0, 0),
		job(CHAT_JOB_DELETE_CHAT, 2, 8, 0, 0),
	};
	uint64_t numbers[9];
	struct chat_buf created, deleted;
	size_t count, *order = chat_batch_order(jobs, 9, chat_batch_is_message,
						&count);

	chat_buf_init(&created);
	chat_buf_init(&deleted);
	chat_batch_index_entries(jobs, 9, order, count, 1, numbers, &created,
				 &deleted);
	cr_assert_str_eq(created.data, "1/4/1-3,7 17/1/1");
	cr_assert_str_eq(deleted.data, "17/9/0");
	chat_buf_reset(&created);
	chat_buf_reset(&deleted);
	chat_batch_index_entries(jobs, 9, order, count, 2, numbers, &created,
				 &deleted);
	cr_assert_str_eq(created.data, "2/1/1");
	cr_assert_str_eq(deleted.data, "2/8/0");
	chat_buf_reset(&created);
	chat_buf_reset(&deleted);
	chat_batch_index_entries(jobs, 9, order, count, 3, numbers, &created,
				 &deleted);
	cr_assert_eq(created.len + deleted.len, 0);
	chat_buf_release(&created);
	chat_buf_release(&deleted);
	free(order);
}

Test(batch, dirty_markers_once_each)
{
	struct chat_job jobs[] = {
		job(CHAT_JOB_MESSAGE, 1, 4, 1, 0),
		job(CHAT_JOB_CHAT, 1, 5, 0, 0),
		job(CHAT_JOB_MESSAGE, 1, 4, 2, 0),
		job(CHAT_JOB_MESSAGE, 17, 2, 1, 0),
		job(CHAT_JOB_MESSAGE, 1, 6, 1, 0),
		job(CHAT_JOB_MESSAGE, 2, 1, 1, 0),
	};
	/* Chat 5 has no message: its application's marker is enough. */
	static const char *const want[] = { "1", "1:4", "17", "17:2" };
	struct chat_buf out;
	size_t count, k, *order;
	const char *m;

	jobs[4].skip = true;	/* a deleted chat changes no counter */
	order = chat_batch_order(jobs, 6, chat_batch_counts_change, &count);
	chat_buf_init(&out);
	k = chat_batch_dirty_markers(jobs, order, count, 1, &out);
	cr_assert_eq(k, 4);
	m = out.data;
	for (size_t i = 0; i < k; i++, m += strlen(m) + 1)
		cr_assert_str_eq(m, want[i], "marker %zu", i);
	chat_buf_reset(&out);
	cr_assert_eq(chat_batch_dirty_markers(jobs, order, count, 2, &out), 2);
	cr_assert_str_eq(out.data, "2");
	cr_assert_str_eq(out.data + 2, "2:1");
	chat_buf_release(&out);
	free(order);
}

Test(batch, retry_wait_or_dead_letter)
{
	unsigned tries = 0, wait = 1;

	/* MariaDB down: wait, and the try does not count. */
	cr_assert_eq(chat_batch_after_failure(true, &tries, 3, &wait),
		     CHAT_BATCH_WAIT_DB);
	cr_assert_eq(tries, 0);
	cr_assert_eq(wait, CHAT_BATCH_DB_DOWN_WAIT_MS);
	cr_assert_eq(chat_batch_after_failure(false, &tries, 3, &wait),
		     CHAT_BATCH_RETRY);
	cr_assert_eq(wait, CHAT_BATCH_RETRY_BASE_MS << 1);
	cr_assert_eq(chat_batch_after_failure(false, &tries, 3, &wait),
		     CHAT_BATCH_RETRY);
	cr_assert_eq(wait, CHAT_BATCH_RETRY_BASE_MS << 2);
	cr_assert_eq(chat_batch_after_failure(false, &tries, 3, &wait),
		     CHAT_BATCH_DEAD);
	cr_assert_eq(tries, 3);
	/* The pause stops growing after the sixth try. */
	tries = 10;
	cr_assert_eq(chat_batch_after_failure(false, &tries, 100, &wait),
		     CHAT_BATCH_RETRY);
	cr_assert_eq(wait, CHAT_BATCH_RETRY_BASE_MS << 6);
}

static unsigned quota_sum(const unsigned *q)
{
	unsigned sum = 0;

	for (unsigned s = 0; s < CHAT_SHARDS; s++)
		sum += q[s];
	return sum;
}

Test(batch, quotas_follow_the_shards_that_have_more)
{
	unsigned asked[CHAT_SHARDS], got[CHAT_SHARDS] = { 0 };
	unsigned q[CHAT_SHARDS];

	/* Nothing read yet: an equal share each. */
	memset(asked, 0, sizeof(asked));
	chat_batch_quotas(1000, asked, got, q);
	for (unsigned s = 0; s < CHAT_SHARDS; s++)
		cr_assert_eq(q[s], 1000 / CHAT_SHARDS);
	/* One shard gave its whole share: it gets what the others leave. */
	memcpy(asked, q, sizeof(q));
	got[3] = asked[3];
	chat_batch_quotas(1000, asked, got, q);
	cr_assert_eq(q[3], 1000 - (CHAT_SHARDS - 1));
	for (unsigned s = 0; s < CHAT_SHARDS; s++)
		if (s != 3)
			cr_assert_eq(q[s], 1);
	cr_assert_leq(quota_sum(q), 1000);
	/* Another shard gave all of its 1: the two share the rest. */
	memcpy(asked, q, sizeof(q));
	got[3] = asked[3];
	got[7] = 1;
	got[9] = 0;
	chat_batch_quotas(1000, asked, got, q);
	cr_assert_eq(q[3], q[7]);
	cr_assert_eq(q[3], (1000 - (CHAT_SHARDS - 2)) / 2);
	cr_assert_leq(quota_sum(q), 1000);
	/* The others are asked for the most any of them gave. */
	memcpy(asked, q, sizeof(q));
	memset(got, 0, sizeof(got));
	got[3] = asked[3];
	got[7] = 5;
	chat_batch_quotas(1000, asked, got, q);
	cr_assert_eq(q[3], 1000 - 5 * (CHAT_SHARDS - 1));
	cr_assert_eq(q[7], 5);
	cr_assert_eq(q[0], 5);
	cr_assert_leq(quota_sum(q), 1000);
	/* Every shard gave all, or none did: equal shares again. */
	memcpy(asked, q, sizeof(q));
	memcpy(got, q, sizeof(q));
	chat_batch_quotas(1000, asked, got, q);
	for (unsigned s = 0; s < CHAT_SHARDS; s++)
		cr_assert_eq(q[s], 1000 / CHAT_SHARDS);
	memset(got, 0, sizeof(got));
	chat_batch_quotas(1000, asked, got, q);
	for (unsigned s = 0; s < CHAT_SHARDS; s++)
		cr_assert_eq(q[s], 1000 / CHAT_SHARDS);
}

Test(batch, quotas_stay_within_a_small_batch)
{
	unsigned asked[CHAT_SHARDS], got[CHAT_SHARDS] = { 0 };
	unsigned q[CHAT_SHARDS];

	for (unsigned s = 0; s < CHAT_SHARDS; s++)
		asked[s] = 10;
	/*
	 * Half the shards gave 9 of 10, the other half all, in a batch of
	 * 40: too small to favour any.
	 */
	for (unsigned s = 0; s < CHAT_SHARDS; s++)
		got[s] = s % 2 ? 10 : 9;
	chat_batch_quotas(40, asked, got, q);
	cr_assert_leq(quota_sum(q), 40);
	for (unsigned s = 0; s < CHAT_SHARDS; s++)
		cr_assert_geq(q[s], 1);
	cr_assert_geq(q[1], q[0]);
	/* A batch smaller than the shard count: one each. */
	chat_batch_quotas(4, asked, got, q);
	for (unsigned s = 0; s < CHAT_SHARDS; s++)
		cr_assert_eq(q[s], 1);
}

Test(backoff, doubles_up_to_the_ceiling)
{
	unsigned b = chat_backoff_next(0, 100, 5000);
	static const unsigned want[] = { 100, 200, 400, 800, 1600, 3200,
					 5000, 5000 };

	for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++) {
		cr_assert_eq(b, want[i], "step %zu", i);
		b = chat_backoff_next(b, 100, 5000);
	}
	cr_assert_eq(chat_backoff_next(3000, 250, 5001), 5001);
	cr_assert_eq(chat_backoff_next(2500, 250, 5000), 5000);
	cr_assert_eq(chat_backoff_next(UINT32_MAX, 1, 7), 7);
}
