/*
 * bulk.h - documents gathered for one _bulk request of the search engine.
 *
 * The indexer (lib/indexer.c) and the index rebuild (lib/reindex.c) both
 * collect documents, copying their bodies, until a request is full, then
 * send them with chat_search_bulk (search.h).  A batch keeps, beside each
 * document, a tag for the caller (where the document came from) and
 * whether the engine refused it.
 */
#ifndef CHAT_BULK_H
#define CHAT_BULK_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "search.h"

/*
 * Body bytes at which a request goes out: far below the engine's
 * http.max_content_length even when JSON escaping makes every byte six,
 * and a request of at most 12 MiB in the worker's memory (the indexer
 * keeps two in flight while it gathers a third).
 */
#define CHAT_BULK_MAX_BYTES (2u << 20)

struct chat_bulk {
	struct chat_search_doc *docs;	/* see chat_bulk_docs for bodies */
	size_t *tag;			/* the caller's, one per document */
	bool *failed;			/* after chat_bulk_send */
	size_t n;
	bool create_only;		/* keep a document already indexed */
	/* private */
	size_t *off;			/* body offsets; SIZE_MAX: no body */
	size_t cap;
	struct chat_buf bodies;
};

/* An empty batch in caller storage; see chat_search_bulk for create_only. */
void chat_bulk_init(struct chat_bulk *b, bool create_only);
void chat_bulk_release(struct chat_bulk *b);
/* Empty it, keeping the memory. */
void chat_bulk_reset(struct chat_bulk *b);

/*
 * Add a copy of *doc (its body copied too; a doc without a body is a
 * delete) with the caller's tag.
 */
void chat_bulk_add(struct chat_bulk *b, const struct chat_search_doc *doc,
		   size_t tag);

/*
 * The documents b->docs[0..n), each body pointing at its copy in the
 * batch: valid until the next chat_bulk_add or reset.  (Until then,
 * b->docs[i].body is NULL.)
 */
const struct chat_search_doc *chat_bulk_docs(struct chat_bulk *b);

/* Body bytes held. */
size_t chat_bulk_bytes(const struct chat_bulk *b);

/*
 * Send the documents in one request through chat_search_bulk, which sets
 * b->failed[0..n); its result.  The batch is left as it is: reset it, or
 * keep the refused ones with chat_bulk_keep_failed to try them again.
 * An empty batch sends nothing and returns 0.
 */
int chat_bulk_send(struct chat_bulk *b, struct chat_es *es);

/* Keep only the documents that failed, in order; their count. */
size_t chat_bulk_keep_failed(struct chat_bulk *b);

#endif
