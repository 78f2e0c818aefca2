/*
 * es.h - Elasticsearch (or OpenSearch) over HTTP on one reused libcurl
 * handle.  Bodies are built by callers with json-c, never pasted.
 */
#ifndef CHAT_ES_H
#define CHAT_ES_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

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
	double quiet_until;		/* chat_now_ms(): no request before */
	int err;			/* enum chat_es_err of the last failure */
	char errstr[128];
};

/* What kind of failure the last one was (es->err). */
enum chat_es_err {
	CHAT_ES_OK = 0,
	CHAT_ES_ERR_IO,		/* not reached, no answer in time, reply too
				   long: the request may be tried again */
	CHAT_ES_ERR_ANSWER,	/* an answer other than the expected one */
};

/*
 * The one helper that fills es->err and es->errstr (lib/es.c and
 * lib/search.c).  Inline, so that the parsers of lib/search.c, which work
 * on a zeroed struct too, do not bring es.o and libcurl into a program.
 */
__attribute__((format(printf, 3, 4)))
static inline void chat_es_set_err(struct chat_es *es, int err,
				   const char *fmt, ...)
{
	char msg[sizeof(es->errstr)];
	va_list ap;

	/* Through a copy: the arguments may be the old errstr. */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	es->err = err;
	memcpy(es->errstr, msg, sizeof(msg));
}

struct chat_es *chat_es_new(const struct chat_config *cfg);
/* Accepts NULL. */
void chat_es_free(struct chat_es *es);

/*
 * Send `method` to the server's `path` (starting with '/') with an
 * optional JSON (or NDJSON for _bulk) body.  On a response of any status
 * returns 0 with *status set and the body in `resp` (reset first).
 * Returns -1 when the server could not be reached, did not answer within
 * cfg->es_timeout_ms, or its reply is longer than es->reply_max (errstr
 * set; the transfer is cut there).  After a server that did not answer in
 * time, the handle sends nothing for the next es_timeout_ms and fails at
 * once: requests queued behind a hung engine are answered quickly instead
 * of each waiting out the timeout.
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
