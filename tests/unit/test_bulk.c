/*
 * test_bulk.c - unit tests of lib/bulk.c: documents gathered for one
 * _bulk request, their bodies copied, the refused ones kept for a retry.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "bulk.h"

static struct chat_search_doc doc(uint64_t number, const char *body)
{
	return (struct chat_search_doc){
		.app = 7, .chat = 3, .number = number, .body = body,
		.body_len = body ? strlen(body) : 0, .created_at = 100,
		.updated_at = 200 + (int64_t)number,
	};
}

Test(bulk, copies_bodies_and_counts_their_bytes)
{
	struct chat_bulk b;
	char body[] = "hello";
	const struct chat_search_doc *d;

	chat_bulk_init(&b, true);
	cr_assert(b.create_only);
	cr_assert_eq(chat_bulk_bytes(&b), 0);
	for (uint64_t i = 1; i <= 1000; i++) {
		struct chat_search_doc x = doc(i, body);

		chat_bulk_add(&b, &x, (size_t)i * 10);
	}
	memcpy(body, "XXXXX", 5);	/* the batch holds its own copy */
	cr_assert_eq(b.n, 1000);
	cr_assert_eq(chat_bulk_bytes(&b), 5000);
	d = chat_bulk_docs(&b);
	for (size_t i = 0; i < b.n; i++) {
		cr_assert_eq(d[i].number, i + 1);
		cr_assert_eq(d[i].app, 7);
		cr_assert_eq(d[i].updated_at, 200 + (int64_t)i + 1);
		cr_assert_eq(d[i].body_len, 5);
		cr_assert_arr_eq(d[i].body, "hello", 5);
		cr_assert_eq(b.tag[i], (i + 1) * 10);
	}
	chat_bulk_release(&b);
}

Test(bulk, a_doc_without_body_stays_a_delete)
{
	struct chat_bulk b;
	struct chat_search_doc x = doc(1, "one"), gone = doc(2, NULL),
			       y = doc(3, "three");
	const struct chat_search_doc *d;

	chat_bulk_init(&b, false);
	chat_bulk_add(&b, &x, 0);
	chat_bulk_add(&b, &gone, 1);
	chat_bulk_add(&b, &y, 2);
	cr_assert_eq(chat_bulk_bytes(&b), strlen("one") + strlen("three"));
	d = chat_bulk_docs(&b);
	cr_assert_arr_eq(d[0].body, "one", 3);
	cr_assert_null(d[1].body);
	cr_assert_arr_eq(d[2].body, "three", 5);
	chat_bulk_release(&b);
}

Test(bulk, keep_failed_keeps_the_refused_in_order)
{
	struct chat_bulk b;
	static const char *bodies[] = { "a", "bb", NULL, "dddd", "eeeee" };
	const struct chat_search_doc *d;

	chat_bulk_init(&b, true);
	for (size_t i = 0; i < 5; i++) {
		struct chat_search_doc x = doc(i + 1, bodies[i]);

		chat_bulk_add(&b, &x, 100 + i);
	}
	for (size_t i = 0; i < 5; i++)
		b.failed[i] = i != 0 && i != 3;	/* refused: 2, 3, 5 */
	cr_assert_eq(chat_bulk_keep_failed(&b), 3);
	cr_assert_eq(b.n, 3);
	d = chat_bulk_docs(&b);
	cr_assert_eq(d[0].number, 2);
	cr_assert_arr_eq(d[0].body, "bb", 2);
	cr_assert_eq(b.tag[0], 101);
	cr_assert_eq(d[1].number, 3);
	cr_assert_null(d[1].body);
	cr_assert_eq(b.tag[1], 102);
	cr_assert_eq(d[2].number, 5);
	cr_assert_arr_eq(d[2].body, "eeeee", 5);
	cr_assert_eq(b.tag[2], 104);
	for (size_t i = 0; i < b.n; i++)
		cr_assert_not(b.failed[i]);
	b.failed[1] = true;
	cr_assert_eq(chat_bulk_keep_failed(&b), 1);
	cr_assert_eq(chat_bulk_docs(&b)[0].number, 3);
	b.failed[0] = false;
	cr_assert_eq(chat_bulk_keep_failed(&b), 0);
	chat_bulk_release(&b);
}

Test(bulk, reset_empties_and_keeps_working)
{
	struct chat_bulk b;
	struct chat_search_doc x = doc(1, "first"), y = doc(2, "second");

	chat_bulk_init(&b, false);
	chat_bulk_add(&b, &x, 0);
	chat_bulk_reset(&b);
	cr_assert_eq(b.n, 0);
	cr_assert_eq(chat_bulk_bytes(&b), 0);
	/* An empty batch sends nothing: no engine needed. */
	cr_assert_eq(chat_bulk_send(&b, NULL), 0);
	chat_bulk_add(&b, &y, 5);
	cr_assert_eq(b.n, 1);
	cr_assert_arr_eq(chat_bulk_docs(&b)[0].body, "second", 6);
	chat_bulk_release(&b);
}
