/*
 * es.h - Elasticsearch (or OpenSearch) over HTTP on one reused libcurl
 * handle.  Bodies are built by callers with json-c, never pasted.
 *
 * CHAT_ES_URL may list several nodes of one cluster, separated by commas.
 * This is the one place that chooses among them: requests go to the nodes
 * in turn; a node that refuses a connection, resets it or does not answer
 * in time is skipped for a while (CHAT_ES_SKIP_MS, or es_timeout_ms after
 * a timeout) and a request that failed there is sent to the next node
 * when that is safe (chat_es_retry_safe).
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
 * _bulk answer of a few thousand items (each its status and error type);
 * anything longer is refused, not buffered.
 */
#define CHAT_ES_REPLY_MAX (4 * 1024 * 1024)

/* How long a node that refused or reset a connection is skipped, in ms. */
#define CHAT_ES_SKIP_MS 3000

/* One node of CHAT_ES_URL. */
struct chat_es_node {
	char *url;			/* base URL, no trailing '/'; may
					   carry credentials: never shown */
	char *shown;			/* url without credentials */
	double down_until;		/* chat_now_ms(): skipped before */
	bool slow;			/* the failure was a timeout */
};

struct chat_es {
	void *curl;			/* CURL * */
	void *headers;			/* struct curl_slist * */
	const struct chat_config *cfg;
	size_t reply_max;		/* CHAT_ES_REPLY_MAX unless changed */
	struct chat_es_node *nodes;	/* cfg->es_url, one per node */
	unsigned n_nodes;
	unsigned next;			/* where the next request starts */
	bool resent;			/* the last request went to a second
					   node after a reset or timeout */
	int err;			/* enum chat_es_err of the last failure */
	char errstr[160];
};

/* What kind of failure the last one was (es->err). */
enum chat_es_err {
	CHAT_ES_OK = 0,
	CHAT_ES_ERR_IO,		/* not reached, no answer in time: the
				   request may be tried again */
	CHAT_ES_ERR_ANSWER,	/* an answer other than the expected one */
	CHAT_ES_ERR_LONG,	/* a reply longer than es->reply_max, not
				   read (the node is not at fault) */
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
 * Returns -1 when no node could be reached, none answered within
 * cfg->es_timeout_ms, or the reply is longer than es->reply_max (errstr
 * set, naming the node without its credentials; the transfer is cut
 * there).
 *
 * A node that refused the connection was sent nothing, so any request
 * goes on to the next node; after a reset or a timeout only a request
 * that chat_es_retry_safe accepts does.  Each node is tried at most once
 * per request.  A node that did not answer in time is not tried again
 * for es_timeout_ms: requests queued behind a hung engine fail at once
 * instead of each waiting out the timeout.  One that refused or reset is
 * skipped for CHAT_ES_SKIP_MS while another node is there to try; when
 * every node is skipped, the one that refused earliest is tried anyway
 * (refusals cost nothing), so a lone node that comes back is used at once.
 */
int chat_es_request(struct chat_es *es, const char *method, const char *path,
		    const char *body, size_t len, long *status,
		    struct chat_buf *resp);

/*
 * True when `method` on `path` may be sent again to another node after
 * the first may or may not have carried it out: reads (GET, HEAD,
 * searches, _mget, _count), _bulk (every document has its id: indexing
 * one twice leaves one), _refresh, index creation (PUT /<index>; a
 * second one is refused as existing, which callers check) and DELETE.
 */
bool chat_es_retry_safe(const char *method, const char *path);

/*
 * The node choice itself, exposed for tests: the index of the node the
 * next try of a request goes to, given the nodes it has tried (bit i:
 * node i) and the time `now` (chat_now_ms); -1 when none may be tried.
 * chat_es_node_failed records a failure of node i at `now` (`slow`: it
 * timed out), chat_es_node_ok a success.
 */
int chat_es_node_pick(struct chat_es *es, double now, unsigned tried);
void chat_es_node_failed(struct chat_es *es, unsigned i, double now,
			 bool slow);
void chat_es_node_ok(struct chat_es *es, unsigned i);

/* True when the cluster answers and its health is green or yellow. */
bool chat_es_healthy(struct chat_es *es);
/* True when `body` (NUL-terminated, any bytes) is a _cluster/health answer
 * whose status is green or yellow; its reader, for tests and fuzzing. */
bool chat_es_health_ok(const char *body);

#endif
