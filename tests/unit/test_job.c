/*
 * test_job.c - unit tests of the job parser (lib/job.c): the fields of a
 * job stream entry as the worker reads them.
 */
#include <stdarg.h>
#include <string.h>

#include <criterion/criterion.h>

#include "job.h"
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
	cr_assert_eq(j.type, 'm');
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
	cr_assert_eq(j.type, 'c');
	entry(&en, 1, "t", "d", "a", "17", "c", "2", "i", "99", NULL);
	chat_job_parse(&j, &en.e);
	cr_assert_null(j.dead);
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
