/*
 * support_parallel.c - one request sent by many threads at once, each
 * with its own libcurl handle (client.c's handle is per process).
 */
#include "support_parallel.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <json-c/json.h>

#include "buf.h"
#include "client.h"
#include "xalloc.h"

#define PAR_MAX 256

struct par {
	const char *method, *url, *body;
	const char *const *headers;
	pthread_barrier_t start;
};

struct par_thread {
	struct par *par;
	struct par_result *out;
	pthread_t id;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	chat_buf_add(arg, data, size * n);
	return size * n;
}

static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
	struct par_result *r = arg;
	size_t len = size * n, start = 9, end = len;

	if (len > 9 && strncasecmp(line, "Location:", 9) == 0) {
		while (start < end && line[start] == ' ')
			start++;
		while (end > start && (line[end - 1] == '\r' ||
				       line[end - 1] == '\n'))
			end--;
		free(r->location);
		r->location = xstrndup(line + start, end - start);
	}
	return len;
}

static void *run(void *arg)
{
	struct par_thread *t = arg;
	struct par *p = t->par;
	struct par_result *r = t->out;
	CURL *curl = curl_easy_init();
	struct curl_slist *hl = NULL;
	struct json_object *obj, *num;
	struct chat_buf b;

	chat_buf_init(&b);
	r->number = -1;
	hl = curl_slist_append(hl, "Expect:");
	hl = curl_slist_append(hl, "Content-Type:");
	for (size_t i = 0; p->headers && p->headers[i]; i++)
		hl = curl_slist_append(hl, p->headers[i]);
	curl_easy_setopt(curl, CURLOPT_URL, p->url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, p->method);
	if (p->body || strcmp(p->method, "GET") != 0) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, p->body ? p->body : "");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(p->body ? strlen(p->body) : 0));
	}
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
	pthread_barrier_wait(&p->start);
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
	r->body = chat_buf_detach(&b, NULL);
	obj = json_tokener_parse(r->body);
	if (obj && json_object_object_get_ex(obj, "number", &num) &&
	    json_object_is_type(num, json_type_int))
		r->number = json_object_get_int64(num);
	json_object_put(obj);
	curl_slist_free_all(hl);
	curl_easy_cleanup(curl);
	return NULL;
}

void par_send(const char *method, const char *path, const char *body,
	      const char *const *headers, unsigned n, struct par_result *out)
{
	const char *port = getenv("CHAT_HTTP_PORT");
	struct par_thread *t;
	struct par p = {
		.method = method, .body = body, .headers = headers,
	};
	char *url;

	cr_assert(port && *port, "CHAT_HTTP_PORT is not set");
	cr_assert(n > 0 && n <= PAR_MAX, "par_send: n = %u", n);
	url = http_path("http://127.0.0.1:%s%s", port, path);
	p.url = url;
	memset(out, 0, n * sizeof(*out));
	t = xcalloc(n, sizeof(*t));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pthread_barrier_init(&p.start, NULL, n);
	for (unsigned i = 0; i < n; i++) {
		t[i].par = &p;
		t[i].out = &out[i];
		cr_assert_eq(pthread_create(&t[i].id, NULL, run, &t[i]), 0,
			     "pthread_create");
	}
	for (unsigned i = 0; i < n; i++)
		pthread_join(t[i].id, NULL);
	pthread_barrier_destroy(&p.start);
	free(t);
	free(url);
}

void par_results_release(struct par_result *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		free(r[i].body);
		free(r[i].location);
		r[i].body = r[i].location = NULL;
	}
}
