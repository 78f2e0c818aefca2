/*
 * search.h - the message search index in Elasticsearch or OpenSearch:
 * creating it behind an alias, indexing and deleting messages, and the
 * contract's search.  Works with Elasticsearch 7.10+ and 8.x and with
 * OpenSearch 2.x.  Every request goes through chat_es_request (es.h); every
 * body is built with json-c.
 *
 * The index definition (settings and mapping) is lib/search-index.json,
 * compiled in.  Clients read and write through the alias cfg->es_index
 * only, so the concrete index ("<alias>-v1-<unix ms>") can be rebuilt
 * and swapped without downtime (jobs/reindex).  Documents have the id
 * "<application id>-<chat number>-<message number>", so indexing a message
 * twice is harmless.
 *
 * Matching (see lib/search-index.json for the analyzers): a query is split
 * into words at every character that is not a letter, digit or combining
 * mark; case does not matter; every word must match.  A word of three or
 * more characters matches a body word that contains it (a phrase of its
 * 3-grams on body.tri); a word of one or two characters matches a body
 * word that starts with it (a term of body.prefix, which indexes each
 * word's first one and two characters).
 *
 * Functions that talk to the engine return 0 on success and -1 when it
 * cannot be reached or answers with an error; es->errstr then says why.
 */
#ifndef CHAT_SEARCH_H
#define CHAT_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "es.h"
#include "search_words.h"

/* The engine's default index.max_result_window: hits beyond are not seen. */
#define CHAT_SEARCH_WINDOW 10000

/*
 * Create the index and the alias cfg->es_index when the alias does not
 * exist yet; when it does, add to its index's mapping the fields that
 * lib/search-index.json gained since (an index made by an earlier version
 * would refuse documents that carry them).  Idempotent, and safe when
 * several processes call it at once: the loser of a creation race finds
 * the winner's alias.  Fails
 * (-1) when the engine is down, the alias name is not a valid index name,
 * or a concrete index already has the alias's name.
 */
int chat_search_ensure_index(struct chat_es *es);

/*
 * Create a new concrete index "<cfg->es_index>-v1-<unix ms>" from the
 * definition, with cfg->es_shards shards and `replicas` replicas, holding
 * `alias` (not NULL; any valid alias name, not necessarily cfg->es_index)
 * as its write alias, in one step.  On success *name is the new index's
 * name (caller frees); on failure NULL.  Fails when the engine is down or
 * refuses, e.g. because another index already holds `alias` as its write
 * alias.
 */
int chat_search_create_index(struct chat_es *es, const char *alias,
			     unsigned replicas, char **name);

/*
 * Give `index` `replicas` replicas per shard, then wait up to `wait_s`
 * seconds for every copy to be allocated (status green).  Returns 0 when
 * it is green, 1 when the setting took but the copies are still being
 * made after wait_s (they are made in the background), -1 on failure.
 */
int chat_search_set_replicas(struct chat_es *es, const char *index,
			     unsigned replicas, unsigned wait_s);

/*
 * The one index that holds `alias`, in *index (caller frees; NULL when no
 * index holds it).  Fails (-1) when the engine is down, when the name is
 * not a plain index name, or when several indices hold it.
 */
int chat_search_alias_index(struct chat_es *es, const char *alias,
			    char **index);

/*
 * `method` /<index><suffix> without a body (a refresh, a delete...);
 * with `gone_ok` a 404 counts as done.  Only plain index names are
 * touched.  Returns 0 or -1.
 */
int chat_search_index_call(struct chat_es *es, const char *method,
			   const char *index, const char *suffix, bool gone_ok);

/*
 * Move the alias cfg->es_index from index `old` to index `new`, as its
 * write index, in one atomic POST /_aliases: searches see one or the
 * other, never both or neither.  `old` NULL: only add (there was no
 * alias); `new` NULL: only remove.  When `old` no longer holds the alias
 * (another rebuild moved it), nothing changes and it fails.  Needs
 * Elasticsearch 7.11+ or OpenSearch 2.x (the remove's "must_exist").
 */
int chat_search_swap_alias(struct chat_es *es, const char *new,
			   const char *old);

/*
 * A message as indexed.  `body` need not be NUL-terminated; NULL in
 * chat_search_bulk means the message is to be deleted.
 */
struct chat_search_doc {
	uint64_t app;		/* the application's internal id */
	uint64_t chat;		/* chat number in the application */
	uint64_t number;	/* message number in the chat */
	const char *body;	/* UTF-8 */
	size_t body_len;
	int64_t created_at;	/* Unix seconds */
	int64_t updated_at;
};

/*
 * Index docs[0..n) in one _bulk request.  With `create_only` a document
 * that is already indexed is left alone (and counts as a success: it may
 * be newer than this one); otherwise it is replaced.  A doc without a
 * body is deleted (one that is not indexed counts as deleted).  Sets item_failed[i]
 * (n entries, caller's storage) to whether docs[i] failed; returns 0 when
 * the request was answered, even when some items were refused, and -1
 * when it was not or when an item failed for want of the engine (429,
 * a write block, a 5xx): worth retrying later.  Writes require the
 * alias to exist (no index is ever auto-created): call
 * chat_search_ensure_index first.
 * n == 0 sends nothing and returns 0.
 */
int chat_search_bulk(struct chat_es *es, const struct chat_search_doc *docs,
		     size_t n, bool create_only, bool *item_failed);

/* Delete one message; one that is not indexed counts as deleted. */
int chat_search_delete_message(struct chat_es *es, uint64_t app,
			       uint64_t chat, uint64_t number);

/*
 * Delete every message of a chat (_delete_by_query, proceeding over
 * version conflicts) and refresh, so that a search right after finds none
 * of them.  A missing index counts as success.
 */
int chat_search_delete_chat(struct chat_es *es, uint64_t app, uint64_t chat);

/*
 * Search the messages of one chat for q[0..qlen) (UTF-8), best match
 * first, ties by message number ascending: the hits from `offset` on, at
 * most `limit` of them and no more than fit in CHAT_PAGE_BYTES_MAX
 * bytes of JSON (json.h; the first one always), within the engine's
 * result window of 10000.  On success *results is a new JSON array of the contract's
 * Message objects {"number", "body", "created_at", "updated_at"} that the
 * caller puts, and *next the offset of the next page, or 0 when there is
 * none.  A query without a letter or digit gives [] without asking the
 * engine.  Only the first CHAT_SEARCH_MAX_WORDS distinct words count (the
 * engine limits the clauses of a query).  On failure *results is NULL.
 *
 * One request, the hits with their documents, read only up to about a
 * page; when the reply is longer (large bodies), two instead: the ids of
 * the hits with the written length of each body (json_len, stored with
 * each document; computed from the body for one indexed before that
 * field existed), then the documents of the ones that fit (_mget).  No
 * reply is ever much larger than a page (es.h: CHAT_ES_REPLY_MAX).
 */
int chat_search_page(struct chat_es *es, uint64_t app, uint64_t chat,
		     const char *q, size_t qlen, unsigned offset,
		     unsigned limit, struct json_object **results,
		     unsigned *next);
/* chat_search_page from offset 0, without the next page's offset. */
int chat_search_query(struct chat_es *es, uint64_t app, uint64_t chat,
		      const char *q, size_t qlen, unsigned limit,
		      struct json_object **results);

/*
 * The readers of the engine's answers, apart from the requests so that
 * tests and fuzz targets can feed them any bytes (tests/fuzz/
 * fuzz_search_reply.c).  None trusts the answer: a body that is not JSON,
 * or JSON of another shape, is a failure (-1, es->errstr set), never a
 * crash.  Only es->errstr is used: `es` may be a zeroed struct.
 */
/*
 * A one-step search's 200 answer (hits with their documents): the Message
 * objects of the hits from the first, at most `limit` and as many as fit
 * in a page (chat_search_page), appended to `arr`; *nhits is the number
 * of hits in the answer.  A hit without its number or string body
 * among those read is a failure; `arr` may then hold some (the caller
 * drops it).
 */
int chat_search_read_page(struct chat_es *es, const struct chat_buf *resp,
			  unsigned limit, struct json_object *arr,
			  size_t *nhits);
/* A hit of a search's first step: its id and the size of its body as
 * JSON, best first. */
struct chat_search_hit {
	const char *id;		/* points into the parsed answer */
	uint64_t size;
};
/*
 * A search's 200 answer (ids and sizes): *hits (caller frees) point into
 * *answer (caller puts); both NULL and 0 hits on -1.
 */
int chat_search_read_ids(struct chat_es *es, const struct chat_buf *resp,
			 struct json_object **answer,
			 struct chat_search_hit **hits, size_t *nhits);
/*
 * An _mget's 200 answer: a Message object appended to `arr` for each
 * document found (documents without a number or a string body left out).
 */
int chat_search_read_docs(struct chat_es *es, const struct chat_buf *resp,
			  struct json_object *arr);
/* A _bulk's 200 answer for docs[0..n): as chat_search_bulk. */
int chat_search_read_bulk(struct chat_es *es, const struct chat_buf *resp,
			  const struct chat_search_doc *docs, size_t n,
			  bool create_only, bool *item_failed);
/* A GET /_alias/<alias> 200 answer: as chat_search_alias_index. */
int chat_search_read_alias(struct chat_es *es, const char *alias,
			   const struct chat_buf *resp, char **index);
/* An error answer of `status` to `what`: its type and reason into
 * es->errstr. */
void chat_search_read_error(struct chat_es *es, const char *what,
			    long status, const struct chat_buf *resp);

#endif
