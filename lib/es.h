/*
 * es.h - Elasticsearch (or OpenSearch) over HTTP on one reused libcurl
 * handle.  Bodies are built by callers with json-c, never pasted.
 */
#ifndef CHAT_ES_H
#define CHAT_ES_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct chat_config;

/*
 * The longest reply read from the engine, in bytes.  The largest a
 * program asks for is a search's second step, about one page
 * (CHAT_PAGE_BYTES_MAX, json.h) and the metadata of its documents, or a
 * _bulk answer of a thousand items; anything longer is refused, not
 * buffered.
 */
#define CHAT_ES_REPLY_MAX (4 * 1024 * 1024)

struct chat_es {
	void *curl;			/* CURL * */
	void *headers;			/* struct curl_slist * */
	const struct chat_config *cfg;
	size_t reply_max;		/* CHAT_ES_REPLY_MAX unless changed */
	char errstr[128];
};

struct chat_es *chat_es_new(const struct chat_config *cfg);
/* Accepts NULL. */
void chat_es_free(struct chat_es *es);

/*
 * Send `method` to the server's `path` (starting with '/') with an
 * optional JSON (or NDJSON for _bulk) body.  On a response of any status
 * returns 0 with *status set and the body in `resp` (reset first).
 * Returns -1 when the server could not be reached or its reply is longer
 * than es->reply_max (errstr set; the transfer is cut there).
 */
int chat_es_request(struct chat_es *es, const char *method, const char *path,
		    const char *body, size_t len, long *status,
		    struct chat_buf *resp);

/* True when the cluster answers and its health is green or yellow. */
bool chat_es_healthy(struct chat_es *es);
/* True when `body` (NUL-terminated, any bytes) is a _cluster/health answer
 * whose status is green or yellow; its reader, for tests and fuzzing. */
bool chat_es_health_ok(const char *body);

#endif
