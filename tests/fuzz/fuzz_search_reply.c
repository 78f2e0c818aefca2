/*
 * fuzz_search_reply.c - libFuzzer target for the readers of the search
 * engine's answers (lib/search.h, lib/es.h): a search's hits (ids and
 * sizes), an _mget's documents, a _bulk's items, an alias lookup, an error
 * answer and the cluster health.  The
 * engine is trusted to be the engine, but a proxy, a different version or
 * a broken node may answer anything.
 *
 * Input: the first byte picks the reader (mod 7: hits, bulk, alias,
 * error, health, documents, a page of hits with their documents); for
 * bulk the second byte is the number of documents (low 4 bits), with
 * create_only in bit 4, and the third says which documents have a body
 * (bit i for document i, i < 8); for a page the second byte is its
 * limit; the rest is the answer's body.
 *
 * Checked against search.h: a success gives what it promises (hits with
 * an id; Message objects with a number and a string body, a page no more
 * than its limit and its hits; one index name),
 * a failure says why in errstr; a bulk whose items do not match the
 * documents fails every document.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "buf.h"
#include "es.h"
#include "search.h"


static void check_ids(struct chat_es *es, const struct chat_buf *resp)
{
	struct json_object *answer = (struct json_object *)1;
	struct chat_search_hit *hits = (struct chat_search_hit *)1;
	size_t n = 1;
	int rc = chat_search_read_ids(es, resp, &answer, &hits, &n);

	if (rc != 0) {
		CHECK(rc == -1 && answer == NULL && hits == NULL && n == 0 &&
		      es->errstr[0]);
		return;
	}
	CHECK(hits != NULL);
	/* What a page does with them next: ids and sizes are read. */
	for (size_t i = 0; i < n; i++)
		CHECK(hits[i].id != NULL);
	free(hits);
	json_object_put(answer);
}

/* Message objects in `res`, as a handler writes them next. */
static void check_messages(struct json_object *res)
{
	for (size_t i = 0; i < json_object_array_length(res); i++) {
		struct json_object *m = json_object_array_get_idx(res, i), *v;

		CHECK(json_object_is_type(m, json_type_object));
		CHECK(json_object_object_get_ex(m, "number", &v));
		CHECK(json_object_object_get_ex(m, "body", &v) &&
		      json_object_is_type(v, json_type_string));
		CHECK(json_object_object_get_ex(m, "created_at", &v));
		CHECK(json_object_object_get_ex(m, "updated_at", &v));
	}
	/* What a handler does with it next. */
	CHECK(json_object_to_json_string(res) != NULL);
}

static void check_docs(struct chat_es *es, const struct chat_buf *resp)
{
	struct json_object *res = json_object_new_array();
	int rc = chat_search_read_docs(es, resp, res);

	CHECK(rc == 0 || (rc == -1 && es->errstr[0]));
	check_messages(res);
	json_object_put(res);
}

static void check_page(struct chat_es *es, const struct chat_buf *resp,
		       unsigned limit)
{
	struct json_object *res = json_object_new_array();
	size_t nhits = 1;
	int rc = chat_search_read_page(es, resp, limit, res, &nhits);

	if (rc == 0) {
		CHECK(json_object_array_length(res) <= limit);
		CHECK(json_object_array_length(res) <= nhits);
		CHECK(nhits == 0 || limit == 0 ||
		      json_object_array_length(res) > 0);
	} else {
		CHECK(rc == -1 && nhits == 0 && es->errstr[0]);
	}
	check_messages(res);
	json_object_put(res);
}

static void check_bulk(struct chat_es *es, const struct chat_buf *resp,
		       uint8_t shape, uint8_t bodies)
{
	struct chat_search_doc docs[16];
	bool failed[16];
	size_t n = shape & 0x0f;
	bool create_only = shape & 0x10;
	struct json_object *obj, *items = NULL;
	int rc;

	memset(docs, 0, sizeof(docs));
	for (size_t i = 0; i < n; i++) {
		docs[i].app = 1;
		docs[i].chat = 1;
		docs[i].number = i + 1;
		if (i < 8 && (bodies >> i & 1)) {
			docs[i].body = "x";
			docs[i].body_len = 1;
		}
	}
	rc = chat_search_read_bulk(es, resp, docs, n, create_only, failed);
	CHECK(rc == 0 || rc == -1);
	obj = json_tokener_parse(resp->data);
	if (!json_object_object_get_ex(obj, "items", &items) ||
	    !json_object_is_type(items, json_type_array) ||
	    json_object_array_length(items) != n) {
		/* (A body with a NUL byte parses differently here: only the
		 * failures that must happen are checked.) */
		if (resp->len == strlen(resp->data)) {
			CHECK(rc == -1 && es->errstr[0]);
			for (size_t i = 0; i < n; i++)
				CHECK(failed[i]);
		}
	}
	json_object_put(obj);
}

static void check_alias(struct chat_es *es, const struct chat_buf *resp)
{
	char *index = (char *)1;
	int rc = chat_search_read_alias(es, "messages", resp, &index);

	if (rc == 0) {
		CHECK(index != NULL);
		free(index);
	} else {
		CHECK(rc == -1 && index == NULL && es->errstr[0]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chat_es es;
	struct chat_buf resp;
	uint8_t which, shape = 0, bodies = 0;

	if (size < 3)
		return 0;
	which = data[0] % 7;
	shape = data[1];
	bodies = data[2];
	memset(&es, 0, sizeof(es));
	chat_buf_init(&resp);
	chat_buf_add(&resp, data + 3, size - 3);
	switch (which) {
	case 0:
		check_ids(&es, &resp);
		break;
	case 5:
		check_docs(&es, &resp);
		break;
	case 6:
		check_page(&es, &resp, shape);
		break;
	case 1:
		check_bulk(&es, &resp, shape, bodies);
		break;
	case 2:
		check_alias(&es, &resp);
		break;
	case 3:
		chat_search_read_error(&es, "search", 500, &resp);
		CHECK(es.errstr[0]);
		CHECK(memchr(es.errstr, 0, sizeof(es.errstr)) != NULL);
		break;
	default:
		(void)chat_es_health_ok(resp.data);
		break;
	}
	chat_buf_release(&resp);
	return 0;
}
