/*
 * bulk.c - documents gathered for one _bulk request (see bulk.h).
 */
#include "bulk.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void chat_bulk_init(struct chat_bulk *b, bool create_only)
{
	memset(b, 0, sizeof(*b));
	chat_buf_init(&b->bodies);
	b->create_only = create_only;
}

void chat_bulk_release(struct chat_bulk *b)
{
	free(b->docs);
	free(b->tag);
	free(b->failed);
	free(b->off);
	chat_buf_release(&b->bodies);
}

void chat_bulk_reset(struct chat_bulk *b)
{
	b->n = 0;
	chat_buf_reset(&b->bodies);
}

void chat_bulk_add(struct chat_bulk *b, const struct chat_search_doc *doc,
		   size_t tag)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 256;
		b->docs = xrealloc(b->docs, b->cap * sizeof(*b->docs));
		b->tag = xrealloc(b->tag, b->cap * sizeof(*b->tag));
		b->failed = xrealloc(b->failed, b->cap * sizeof(*b->failed));
		b->off = xrealloc(b->off, b->cap * sizeof(*b->off));
	}
	b->docs[b->n] = *doc;
	b->docs[b->n].body = NULL;	/* the copy's place may move */
	b->tag[b->n] = tag;
	b->failed[b->n] = false;
	b->off[b->n] = SIZE_MAX;
	if (doc->body) {
		b->off[b->n] = b->bodies.len;
		chat_buf_add(&b->bodies, doc->body, doc->body_len);
	}
	b->n++;
}

size_t chat_bulk_bytes(const struct chat_bulk *b)
{
	return b->bodies.len;
}

const struct chat_search_doc *chat_bulk_docs(struct chat_bulk *b)
{
	for (size_t i = 0; i < b->n; i++)
		b->docs[i].body = b->off[i] == SIZE_MAX
				  ? NULL : b->bodies.data + b->off[i];
	return b->docs;
}

int chat_bulk_send(struct chat_bulk *b, struct chat_es *es)
{
	if (b->n == 0)
		return 0;
	return chat_search_bulk(es, chat_bulk_docs(b), b->n, b->create_only,
				b->failed);
}

size_t chat_bulk_keep_failed(struct chat_bulk *b)
{
	size_t k = 0;

	for (size_t i = 0; i < b->n; i++) {
		if (!b->failed[i])
			continue;
		b->docs[k] = b->docs[i];
		b->tag[k] = b->tag[i];
		b->off[k] = b->off[i];
		b->failed[k] = false;
		k++;
	}
	b->n = k;
	return k;
}
