/*
 * nchan.c - requests to nchan's publisher endpoint over a Unix socket
 * (libcurl's CURLOPT_UNIX_SOCKET_PATH).
 */
#include "nchan.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "buf.h"
#include "xalloc.h"

struct chat_nchan {
	const char *socket;
	unsigned timeout_ms;
	CURL *curl;
	char curl_err[CURL_ERROR_SIZE];
	char errstr[256];
};

struct chat_nchan *chat_nchan_new(const char *socket, unsigned timeout_ms)
{
	struct chat_nchan *n = xcalloc(1, sizeof(*n));

	curl_global_init(CURL_GLOBAL_DEFAULT);
	n->socket = socket;
	n->timeout_ms = timeout_ms;
	n->curl = curl_easy_init();
	if (!n->curl)
		xdie("curl_easy_init failed");
	return n;
}

void chat_nchan_free(struct chat_nchan *n)
{
	if (!n)
		return;
	curl_easy_cleanup(n->curl);
	free(n);
}

const char *chat_nchan_errstr(const struct chat_nchan *n)
{
	return n->errstr;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	(void)ptr;
	(void)userdata;
	return size * nmemb;
}

static bool name_ok(const char *s, const char *allowed)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!strchr(allowed, *s))
			return false;
	return true;
}

/*
 * One request: POST with `event` and data, or DELETE when event is NULL.
 * Success is 201/202 for a POST, 200/404 (no such channel) for a DELETE.
 */
static int request(struct chat_nchan *n, const char *channel,
		   const char *event, const char *data, size_t len)
{
	static const char digits[] = "0123456789/";
	static const char letters[] = "abcdefghijklmnopqrstuvwxyz.";
	CURL *c = n->curl;
	struct curl_slist *headers = NULL;
	struct chat_buf url, ev;
	long status = 0;
	CURLcode rc;
	int ret = -1;

	n->errstr[0] = '\0';
	if (!name_ok(channel, digits) || (event && !name_ok(event, letters))) {
		snprintf(n->errstr, sizeof(n->errstr), "bad channel or event");
		return -1;
	}
	chat_buf_init(&url);
	chat_buf_init(&ev);
	chat_buf_addf(&url, "http://localhost/pub/%s", channel);
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, n->socket);
	curl_easy_setopt(c, CURLOPT_URL, url.data);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)n->timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)n->timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, n->curl_err);
	n->curl_err[0] = '\0';
	if (event) {
		chat_buf_addf(&ev, "X-EventSource-Event: %s", event);
		headers = curl_slist_append(headers,
					    "Content-Type: application/json");
		if (headers)
			headers = curl_slist_append(headers, "Expect:");
		if (headers)
			headers = curl_slist_append(headers, ev.data);
		if (!headers)
			xdie("out of memory");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	} else {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		snprintf(n->errstr, sizeof(n->errstr), "%s",
			 n->curl_err[0] ? n->curl_err : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (event ? status == 201 || status == 202 :
		    status == 200 || status == 404) {
		ret = 0;
		goto out;
	}
	snprintf(n->errstr, sizeof(n->errstr), "nchan answered %ld", status);
out:
	curl_slist_free_all(headers);
	chat_buf_release(&url);
	chat_buf_release(&ev);
	return ret;
}

int chat_nchan_publish(struct chat_nchan *n, const char *channel,
		       const char *event, const char *data, size_t len)
{
	return request(n, channel, event, data, len);
}

int chat_nchan_close(struct chat_nchan *n, const char *channel)
{
	return request(n, channel, NULL, NULL, 0);
}
