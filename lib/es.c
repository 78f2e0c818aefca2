/*
 * es.c - the search engine's HTTP API through libcurl, and the choice of
 * a node among those of CHAT_ES_URL.
 */
#include "es.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "clock.h"
#include "config.h"
#include "ctx.h"
#include "xalloc.h"

/* Where a reply goes, and how much of it may. */
struct sink {
	struct chat_buf *buf;
	size_t max;
	bool over;
};

static size_t on_data(char *ptr, size_t size, size_t n, void *userdata)
{
	struct sink *sink = userdata;
	size_t len = size * n;	/* size is always 1 */

	/* A count other than len makes curl stop with CURLE_WRITE_ERROR. */
	if (len > sink->max - sink->buf->len) {
		sink->over = true;
		return 0;
	}
	chat_buf_add(sink->buf, ptr, len);
	return len;
}

/* Split cfg->es_url into es->nodes: trimmed, empty items left out. */
static void parse_nodes(struct chat_es *es)
{
	const char *p = es->cfg->es_url;

	es->nodes = xcalloc(CHAT_ES_NODES_MAX, sizeof(*es->nodes));
	while (p && *p && es->n_nodes < CHAT_ES_NODES_MAX) {
		size_t len = strcspn(p, ",");
		const char *next = p + len + (p[len] == ',');
		struct chat_es_node *node;
		struct chat_buf b;

		while (len > 0 && strchr(" \t", *p)) {
			p++;
			len--;
		}
		while (len > 0 && strchr(" \t/", p[len - 1]))
			len--;
		if (len > 0) {
			node = &es->nodes[es->n_nodes++];
			node->url = xstrndup(p, len);
			chat_buf_init(&b);
			chat_config_url_shown(node->url, &b);
			node->shown = chat_buf_detach(&b, NULL);
		}
		p = next;
	}
	/* chat_config_load allows no empty list; a hand-made config might. */
	if (es->n_nodes == 0) {
		es->nodes[0].url = xstrdup("http://127.0.0.1:9250");
		es->nodes[0].shown = xstrdup(es->nodes[0].url);
		es->n_nodes = 1;
	}
}

struct chat_es *chat_es_new(const struct chat_config *cfg)
{
	static bool global_done;
	struct chat_es *es = xcalloc(1, sizeof(*es));

	if (!global_done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		global_done = true;
	}
	es->cfg = cfg;
	es->reply_max = CHAT_ES_REPLY_MAX;
	parse_nodes(es);
	es->curl = curl_easy_init();
	if (!es->curl)
		xdie("curl_easy_init failed");
	es->headers = curl_slist_append(NULL,
					"Content-Type: application/json");
	/* No "Expect: 100-continue" round trip for large bulk bodies. */
	es->headers = curl_slist_append(es->headers, "Expect:");
	return es;
}

void chat_es_free(struct chat_es *es)
{
	if (!es)
		return;
	curl_slist_free_all(es->headers);
	curl_easy_cleanup(es->curl);
	for (unsigned i = 0; i < es->n_nodes; i++) {
		free(es->nodes[i].url);
		free(es->nodes[i].shown);
	}
	free(es->nodes);
	free(es);
}

void chat_ctx_use_search(struct chat_ctx *ctx)
{
	ctx->es = chat_es_new(&ctx->cfg);
	ctx->es_free = chat_es_free;
}

/* The last segment of `path` before any query: "_search" of /a/_search. */
static bool last_segment_is(const char *path, const char *name)
{
	size_t len = strcspn(path, "?");
	size_t n = strlen(name);

	return len > n && path[len - n - 1] == '/' &&
	       memcmp(path + len - n, name, n) == 0;
}

bool chat_es_retry_safe(const char *method, const char *path)
{
	static const char *const reads[] = {
		"_search", "_mget", "_count", "_bulk", "_refresh",
	};
	size_t len = strcspn(path, "?");

	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
	    strcmp(method, "DELETE") == 0)
		return true;
	/* PUT /<index>: one segment, an index creation. */
	if (strcmp(method, "PUT") == 0 && len > 1 && path[0] == '/' &&
	    !memchr(path + 1, '/', len - 1))
		return true;
	if (strcmp(method, "POST") != 0)
		return false;
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
		if (last_segment_is(path, reads[i]))
			return true;
	return false;
}

int chat_es_node_pick(struct chat_es *es, double now, unsigned tried)
{
	int best = -1;

	for (unsigned k = 0; k < es->n_nodes; k++) {
		unsigned i = (es->next + k) % es->n_nodes;

		if ((tried & (1u << i)) || es->nodes[i].down_until > now)
			continue;
		es->next = (i + 1) % es->n_nodes;
		return (int)i;
	}
	/*
	 * Every node left is being skipped.  Probing one that refused costs
	 * nothing, and beats failing without a try; one that hung would cost
	 * the whole timeout again.
	 */
	for (unsigned i = 0; i < es->n_nodes; i++) {
		const struct chat_es_node *n = &es->nodes[i];

		if ((tried & (1u << i)) || n->slow)
			continue;
		if (best < 0 || n->down_until < es->nodes[best].down_until)
			best = (int)i;
	}
	return best;
}

void chat_es_node_failed(struct chat_es *es, unsigned i, double now,
			 bool slow)
{
	struct chat_es_node *n = &es->nodes[i];

	n->slow = slow;
	n->down_until = now + (slow ? es->cfg->es_timeout_ms : CHAT_ES_SKIP_MS);
}

void chat_es_node_ok(struct chat_es *es, unsigned i)
{
	es->nodes[i].slow = false;
	es->nodes[i].down_until = 0;
}

/* One try on one node: a curl code, or CURLE_OK with *status set. */
static CURLcode perform(struct chat_es *es, const struct chat_es_node *node,
			const char *method, const char *path, const char *body,
			size_t len, long *status, struct sink *sink)
{
	CURL *c = es->curl;
	struct chat_buf url;
	CURLcode rc;

	chat_buf_init(&url);
	chat_buf_addf(&url, "%s%s", node->url, path);
	chat_buf_reset(sink->buf);
	sink->over = false;
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url.data);
	/* Nothing but HTTP(S): libcurl's other protocols (LDAP, RTMP) are
	 * the only users of GnuTLS, which the launchers leave uninitialised
	 * (GNUTLS_NO_IMPLICIT_INIT, tests/harness/env.sh). */
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, es->headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)es->cfg->timeout_ms);
	/* The whole request: a hung engine costs a search 503, not a process. */
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)es->cfg->es_timeout_ms);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)len);
	}
	rc = curl_easy_perform(c);
	chat_buf_release(&url);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	return rc;
}

int chat_es_request(struct chat_es *es, const char *method, const char *path,
		    const char *body, size_t len, long *status,
		    struct chat_buf *resp)
{
	struct sink sink = { .buf = resp, .max = es->reply_max };
	bool safe = chat_es_retry_safe(method, path);
	unsigned tried = 0;
	bool was_sent = false;
	int i;

	es->resent = false;
	chat_buf_reset(resp);
	chat_es_set_err(es, CHAT_ES_ERR_IO, "search engine did not answer "
			"lately; not tried");
	while ((i = chat_es_node_pick(es, chat_now_ms(), tried)) >= 0) {
		const struct chat_es_node *node = &es->nodes[i];
		CURLcode rc;
		bool sent;

		es->resent = es->resent || was_sent;
		tried |= 1u << i;
		rc = perform(es, node, method, path, body, len, status, &sink);
		if (sink.over) {
			chat_es_set_err(es, CHAT_ES_ERR_LONG, "search engine "
					"reply longer than %zu bytes; not "
					"read", sink.max);
			chat_buf_reset(resp);
			return -1;
		}
		if (rc == CURLE_OK) {
			chat_es_node_ok(es, (unsigned)i);
			return 0;
		}
		chat_es_set_err(es, CHAT_ES_ERR_IO, "search engine %s: %s",
				node->shown, curl_easy_strerror(rc));
		switch (rc) {
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_CONNECT:
			sent = false;
			break;
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_OPERATION_TIMEDOUT:
			sent = true;
			break;
		default:
			/* Not the node's fault (e.g. a bad URL): no other try. */
			return -1;
		}
		chat_es_node_failed(es, (unsigned)i, chat_now_ms(),
				    rc == CURLE_OPERATION_TIMEDOUT);
		if (sent && !safe)
			return -1;
		was_sent = was_sent || sent;
	}
	chat_buf_reset(resp);
	return -1;
}

bool chat_es_healthy(struct chat_es *es)
{
	struct chat_buf resp;
	long status = 0;
	bool ok = false;

	chat_buf_init(&resp);
	if (chat_es_request(es, "GET", "/_cluster/health", NULL, 0, &status,
			    &resp) || status != 200)
		goto out;
	ok = chat_es_health_ok(resp.data);
out:
	chat_buf_release(&resp);
	return ok;
}

bool chat_es_health_ok(const char *body)
{
	struct json_object *obj = json_tokener_parse(body), *st = NULL;
	bool ok = false;

	if (obj && json_object_object_get_ex(obj, "status", &st)) {
		const char *s = json_object_get_string(st);

		ok = s && (strcmp(s, "green") == 0 || strcmp(s, "yellow") == 0);
	}
	json_object_put(obj);
	return ok;
}
