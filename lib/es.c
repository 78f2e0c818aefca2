/*
 * es.c - the search engine's HTTP API through libcurl.
 */
#include "es.h"

#include <stdio.h>
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
	free(es);
}

void chat_ctx_use_search(struct chat_ctx *ctx)
{
	ctx->es = chat_es_new(&ctx->cfg);
	ctx->es_free = chat_es_free;
}

int chat_es_request(struct chat_es *es, const char *method, const char *path,
		    const char *body, size_t len, long *status,
		    struct chat_buf *resp)
{
	CURL *c = es->curl;
	struct sink sink = { .buf = resp, .max = es->reply_max };
	struct chat_buf url;
	CURLcode rc;

	if (chat_now_ms() < es->quiet_until) {
		chat_es_set_err(es, CHAT_ES_ERR_IO, "search engine did not "
				"answer lately; not tried");
		return -1;
	}
	chat_buf_init(&url);
	chat_buf_addf(&url, "%s%s", es->cfg->es_url, path);
	chat_buf_reset(resp);
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url.data);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, es->headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
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
	if (sink.over) {
		chat_es_set_err(es, CHAT_ES_ERR_IO, "search engine reply "
				"longer than %zu bytes; not read", sink.max);
		chat_buf_reset(resp);
		return -1;
	}
	if (rc != CURLE_OK) {
		chat_es_set_err(es, CHAT_ES_ERR_IO, "%s",
				curl_easy_strerror(rc));
		if (rc == CURLE_OPERATION_TIMEDOUT)
			es->quiet_until = chat_now_ms() + es->cfg->es_timeout_ms;
		return -1;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	return 0;
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
