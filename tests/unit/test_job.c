/*
 * test_job.c - unit tests of lib/job.c: every Redis key name built as
 * job.h lists it, the shard read back from a key, the job types as the
 * Lua scripts write them, and the parser of a job stream entry as the
 * worker reads it.  No service needed.
 */
#include <stdarg.h>
#include <string.h>

#include <criterion/criterion.h>

#include "job.h"
#include "queue.h"
#include "stream.h"

#define MAX_FIELDS 16

struct entry {
	redisReply items[MAX_FIELDS], *ptrs[MAX_FIELDS], list;
	struct chat_stream_entry e;
};

/* An entry of shard `shard` with the NULL-terminated string fields. */
static void entry(struct entry *en, unsigned shard, ...)
{
	va_list ap;
	const char *s;
	size_t n = 0;

	memset(en, 0, sizeof(*en));
	va_start(ap, shard);
	while ((s = va_arg(ap, const char *)) && n < MAX_FIELDS) {
		en->items[n].type = REDIS_REPLY_STRING;
		en->items[n].str = (char *)s;
		en->items[n].len = strlen(s);
		en->ptrs[n] = &en->items[n];
		n++;
	}
	va_end(ap);
	en->list.type = REDIS_REPLY_ARRAY;
	en->list.element = en->ptrs;
	en->list.elements = n;
	en->e.shard = shard;
	en->e.id = "1-0";
	en->e.fields = &en->list;
}

Test(job, message)
{
	struct entry en;
	struct chat_job j;

	entry(&en, 5, "t", "m", "a", "5", "c", "7", "n", "3", "ts",
	      "1700000000", "b", "hello", NULL);
	chat_job_parse(&j, &en.e);
	cr_assert_null(j.dead);
	cr_assert_eq(j.type, CHAT_JOB_MESSAGE);
	cr_assert_eq(j.app, 5);
	cr_assert_eq(j.chat, 7);
	cr_assert_eq(j.number, 3);
	cr_assert_eq(j.ts, 1700000000);
	cr_assert_eq(j.body_len, 5);
	cr_assert_eq(memcmp(j.body, "hello", 5), 0);
	cr_assert(!j.skip);
}

Test(job, chat_and_delete)
{
	struct entry en;
	struct chat_job j;

	entry(&en, 1, "t", "c", "a", "17", "c", "2", NULL);
	chat_job_parse(&j, &en.e);
	cr_assert_null(j.dead);
	cr_assert_eq(j.type, CHAT_JOB_CHAT);
	entry(&en, 1, "t", "d", "a", "17", "c", "2", "i", "99", NULL);
	chat_job_parse(&j, &en.e);
	cr_assert_null(j.dead);
	cr_assert_eq(j.type, CHAT_JOB_DELETE_CHAT);
	cr_assert_eq(j.chat_id, 99);
}

Test(job, malformed)
{
	static const char *const bad[][12] = {
		{ "t", "m", "a", "5", "c", "7", "n", "3", NULL },	/* no body */
		{ "t", "m", "a", "5", "c", "7", "b", "x", NULL },	/* no number */
		{ "t", "d", "a", "5", "c", "7", NULL },			/* no chat id */
		{ "t", "x", "a", "5", "c", "7", NULL },			/* type */
		{ "t", "c", "a", "5x", "c", "7", NULL },		/* not a number */
		{ "t", "c", "a", "-5", "c", "7", NULL },
		{ "t", "c", "a", "18446744073709551616", "c", "7", NULL },
		{ "t", "c", "a", "0", "c", "7", NULL },			/* app 0 */
		{ "t", "c", "a", "5", NULL },				/* no chat */
		{ "t", "c", "a", "6", "c", "7", NULL },			/* other shard */
		{ "t", "cc", "a", "5", "c", "7", NULL },		/* type of 2 */
	};
	struct entry en;
	struct chat_job j;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *const *f = bad[i];

		entry(&en, 5, f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7],
		      f[8], f[9], f[10], NULL);
		chat_job_parse(&j, &en.e);
		cr_expect_str_eq(j.dead ? j.dead : "(none)", "malformed job",
				 "case %zu", i);
		if (i == 3 || i == 10)
			cr_expect_eq(j.type, CHAT_JOB_NONE, "case %zu", i);
	}
}

Test(job, deleted_while_pending)
{
	struct chat_stream_entry e = { .shard = 0, .id = "1-0", .fields = NULL };
	struct chat_job j;

	chat_job_parse(&j, &e);
	cr_assert_str_eq(j.dead, "malformed job");
}

Test(job, non_string_values_are_not_read_as_text)
{
	struct entry en;
	struct chat_job j;

	entry(&en, 5, "t", "m", "a", "5", "c", "7", "n", "3", "b", "x", NULL);
	/* A body that is a nil reply (no text) is no body. */
	en.items[9].type = REDIS_REPLY_NIL;
	en.items[9].str = NULL;
	en.items[9].len = 0;
	chat_job_parse(&j, &en.e);
	cr_assert_not_null(j.dead);
	cr_assert_null(j.body);
	/* An integer reply where a number is due is not taken as one. */
	entry(&en, 5, "t", "c", "a", "5", "c", "7", NULL);
	en.items[5].type = REDIS_REPLY_INTEGER;
	en.items[5].str = NULL;
	en.items[5].len = 0;
	en.items[5].integer = 7;
	chat_job_parse(&j, &en.e);
	cr_assert_not_null(j.dead);
}

/* Build one key with `build` into a fresh buffer and compare. */
#define KEY_EQ(want, ...)                                                    \
	do {                                                                 \
		struct chat_buf k_;                                          \
		chat_buf_init(&k_);                                          \
		chat_buf_adds(&k_, "x");	/* builders append */        \
		__VA_ARGS__;                                                 \
		cr_expect_str_eq(k_.data, "x" want);                         \
		cr_expect_eq(k_.len, strlen("x" want));                      \
		chat_buf_release(&k_);                                       \
	} while (0)

Test(job_key, shard_keys)
{
	KEY_EQ("chat:{s0}:jobs", chat_job_key(&k_, 0, CHAT_STREAM_JOBS));
	KEY_EQ("chat:{s15}:index", chat_job_key(&k_, 15, CHAT_STREAM_INDEX));
	KEY_EQ("chat:{s3}:dead", chat_job_key(&k_, 3, CHAT_STREAM_DEAD));
	KEY_EQ("chat:{s7}:dirty", chat_job_key(&k_, 7, CHAT_KEY_DIRTY));
	KEY_EQ("chat:{s7}:dirty:taken",
	       chat_job_key(&k_, 7, CHAT_KEY_DIRTY_TAKEN));
	KEY_EQ("chat:{s2}:live", chat_job_key(&k_, 2, CHAT_STREAM_LIVE));
}

Test(job_key, keys_of_a_set_of_shards)
{
	struct chat_buf keys[CHAT_SHARDS];
	const char *argv[5 + CHAT_SHARDS] = { "XREAD", "STREAMS" };
	int argc = 2;
	unsigned n = chat_job_keys(keys, 1u << 15 | 1u << 3 | 1u, "live",
				   argv, &argc);

	cr_assert_eq(n, 3);
	cr_assert_eq(argc, 5);
	cr_assert_str_eq(argv[1], "STREAMS");
	cr_assert_str_eq(argv[2], "chat:{s0}:live");
	cr_assert_str_eq(argv[3], "chat:{s3}:live");
	cr_assert_str_eq(argv[4], "chat:{s15}:live");
	for (unsigned k = 0; k < n; k++)
		chat_buf_release(&keys[k]);
	cr_assert_eq(chat_job_keys(keys, 0, "live", argv, &argc), 0);
	cr_assert_eq(argc, 5);
	cr_assert_eq(chat_job_keys(keys, CHAT_ALL_SHARDS, "jobs", argv,
				   &argc), CHAT_SHARDS);
	cr_assert_str_eq(argv[5 + 9], "chat:{s9}:jobs");
	for (unsigned k = 0; k < CHAT_SHARDS; k++)
		chat_buf_release(&keys[k]);
}

Test(job_key, application_keys)
{
	/* Application 37 is in shard 37 % 16 = 5. */
	cr_assert_eq(chat_queue_shard(37), 5);
	KEY_EQ("chat:{s5}:a37:n", chat_job_key_chats(&k_, 37));
	KEY_EQ("chat:{s5}:a37:c9:n", chat_job_key_messages(&k_, 37, 9));
	KEY_EQ("chat:{s5}:a37:del", chat_job_key_deleted_chats(&k_, 37));
	KEY_EQ("chat:{s5}:a37:c9:dmax", chat_job_key_deleted_max(&k_, 37, 9));
	KEY_EQ("chat:{s5}:a37:ik:k-1", chat_job_key_idempotency(&k_, 37,
							       "k-1", 3));
	KEY_EQ("chat:{s15}:a18446744073709551615:c18446744073709551615:n",
	       chat_job_key_messages(&k_, UINT64_MAX, UINT64_MAX));
}

Test(job_key, idempotency_key_bytes_as_they_are)
{
	struct chat_buf k;

	chat_buf_init(&k);
	chat_job_key_idempotency(&k, 1, "a\0b", 3);
	cr_assert_eq(k.len, strlen("chat:{s1}:a1:ik:") + 3);
	cr_assert_eq(memcmp(k.data + k.len - 3, "a\0b", 3), 0);
	chat_buf_release(&k);
}

Test(job_key, keys_of_no_shard)
{
	KEY_EQ("chat:token-sha256:00ff", chat_job_key_token(&k_, "00ff"));
	cr_assert_str_eq(CHAT_KEY_SYNC_LOCK, "chat:sync:lock");
}

Test(job_key, shard_read_back)
{
	static const char *const bad[] = {
		"", "chat:", "chat:{s}:jobs", "chat:{s16}:jobs", "chat:{s1}",
		"chat:{s1}jobs", "chat:{s-1}:jobs", "chat:{s 1}:jobs",
		"chat:{x1}:jobs", "chat:token-sha256:ab",
		"chat:{s99999999999999999999}:jobs",
	};
	struct chat_buf k;
	unsigned shard = 99;

	chat_buf_init(&k);
	for (unsigned s = 0; s < CHAT_SHARDS; s++) {
		chat_buf_reset(&k);
		chat_job_key(&k, s, CHAT_STREAM_JOBS);
		cr_assert_eq(chat_job_key_shard(k.data, k.len, &shard), 0);
		cr_assert_eq(shard, s);
	}
	chat_buf_reset(&k);
	chat_job_key_messages(&k, 37, 1);
	cr_assert_eq(chat_job_key_shard(k.data, k.len, &shard), 0);
	cr_assert_eq(shard, 5);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		shard = 99;
		cr_expect_eq(chat_job_key_shard(bad[i], strlen(bad[i]), &shard),
			     -1, "%s", bad[i]);
		cr_expect_eq(shard, 99, "%s", bad[i]);
	}
	/* Only `len` bytes are read. */
	cr_assert_eq(chat_job_key_shard("chat:{s1}:jobs", 8, &shard), -1);
	chat_buf_release(&k);
}

Test(job, types_as_the_scripts_write_them)
{
	cr_assert_eq(strlen(CHAT_JOB_CHAT_TEXT), 1);
	cr_assert_eq(CHAT_JOB_CHAT_TEXT[0], CHAT_JOB_CHAT);
	cr_assert_eq(strlen(CHAT_JOB_MESSAGE_TEXT), 1);
	cr_assert_eq(CHAT_JOB_MESSAGE_TEXT[0], CHAT_JOB_MESSAGE);
	cr_assert_eq(strlen(CHAT_JOB_DELETE_CHAT_TEXT), 1);
	cr_assert_eq(CHAT_JOB_DELETE_CHAT_TEXT[0], CHAT_JOB_DELETE_CHAT);
}

Test(job, fields_by_name)
{
	struct entry en;
	struct chat_job j;

	entry(&en, 5, CHAT_JOB_F_TYPE, CHAT_JOB_MESSAGE_TEXT, CHAT_JOB_F_APP,
	      "5", CHAT_JOB_F_CHAT, "7", CHAT_JOB_F_NUMBER, "3", CHAT_JOB_F_TS,
	      "12", CHAT_JOB_F_BODY, "b", CHAT_JOB_F_CHAT_ID, "4", NULL);
	chat_job_parse(&j, &en.e);
	cr_assert_null(j.dead);
	cr_assert_eq(j.number, 3);
	cr_assert_eq(j.ts, 12);
	cr_assert_eq(j.chat_id, 4);
}
